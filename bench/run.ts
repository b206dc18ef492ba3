/**
 * Benchmarks that print figures (never assertions): how fast the engine wraps, how fast it brings
 * a fleet of expired keys back against the local endpoint, and what the endpoint itself sustains.
 *   npm run bench            (BENCH_KEYS=20 BENCH_CONCURRENCY=4 to change the fleet)
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { recoverKey } from '../lib/reimport.js';
import { wrapKeyMaterial } from '../lib/wrap/index.js';
import { WRAPPING_ALGORITHMS, WRAPPING_KEY_SPECS } from '../lib/config.js';
import { onboardKey, startLocalAws } from '../test/support/local-aws.js';

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function fmt(ms: number): string {
  return ms < 10 ? `${ms.toFixed(2)} ms` : `${Math.round(ms)} ms`;
}

async function benchWrapping(): Promise<void> {
  console.log('\n# wrapKeyMaterial: 32-byte material, ops per second (lib/wrap, node:crypto)');
  console.log('algorithm                   wrapping key   ops/s');
  for (const keySpec of WRAPPING_KEY_SPECS) {
    const bits = Number(keySpec.slice(4));
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
    const der = publicKey.export({ format: 'der', type: 'spki' });
    for (const algorithm of WRAPPING_ALGORITHMS) {
      const material = randomBytes(32);
      const iterations = 400;
      const started = performance.now();
      for (let i = 0; i < iterations; i++) wrapKeyMaterial(material, der, algorithm).fill(0);
      const seconds = (performance.now() - started) / 1000;
      console.log(`${algorithm.padEnd(27)} ${keySpec.padEnd(14)} ${Math.round(iterations / seconds)}`);
    }
  }
}

async function benchFleetRecovery(keys: number, concurrency: number): Promise<void> {
  console.log(`\n# Fleet recovery: ${keys} expired SYMMETRIC_DEFAULT keys, ${concurrency} at a time, local endpoint, no quotas`);
  const aws = await startLocalAws({}, { wrappingKeySpec: 'RSA_2048' });
  try {
    const fleet = [];
    for (let i = 0; i < keys; i++) fleet.push(await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60, wrapping: { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048' } }));
    aws.endpoint.clock.advance(61);
    aws.endpoint.controls.resetCounters();
    const latencies: number[] = [];
    const queue = [...fleet];
    const started = performance.now();
    let failed = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let key = queue.shift(); key; key = queue.shift()) {
          const outcome = await recoverKey(aws, key.keyId, { action: 'auto', config: aws.config, now: aws.now });
          if (outcome.status !== 'recovered') failed++;
          latencies.push(outcome.durationMs);
        }
      }),
    );
    const wall = performance.now() - started;
    latencies.sort((a, b) => a - b);
    const counters = aws.endpoint.controls.getCounters();
    const totalCalls = Object.values(counters).reduce((sum, c) => sum + c.calls, 0);
    console.log(`recovered ${keys - failed}/${keys} in ${fmt(wall)} wall: ${(keys / (wall / 1000)).toFixed(1)} keys/s`);
    console.log(`per key: p50 ${fmt(percentile(latencies, 50))}, p95 ${fmt(percentile(latencies, 95))}, max ${fmt(latencies.at(-1) ?? NaN)}; ${(totalCalls / keys).toFixed(1)} API calls per key`);
    const gpi = 4; // GetParametersForImport: 0.25/s per account and Region, KMS's published default
    console.log(`at KMS's published GetParametersForImport quota (1 every ${gpi} s) the same fleet needs at least ${keys * gpi} s: pace and order work (outages first).`);
  } finally {
    await aws.close();
  }
}

async function benchEndpoint(requests: number): Promise<void> {
  console.log(`\n# Local endpoint: ${requests} DescribeKey calls over HTTP, 8 in flight`);
  const aws = await startLocalAws();
  try {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { bare: true });
    let left = requests;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (left-- > 0) await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }));
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(`${Math.round(requests / seconds)} requests/s`);
  } finally {
    await aws.close();
  }
}

const keys = Number(process.env.BENCH_KEYS ?? 20);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4);
console.log(`kms-reimport benchmarks on node ${process.version}, ${new Date().toISOString()}`);
await benchWrapping();
await benchFleetRecovery(keys, 1);
await benchFleetRecovery(keys, concurrency);
await benchEndpoint(2000);
