/**
 * The recovery critical path, and the seed's way beside it, in one run against one endpoint whose
 * every call waits L ms (controls latency '*'). Wrapping keys come from the endpoint's pool
 * (RSA_2048 for all three ways, as in the seed) so the emulator's RSA key generation is out.
 *
 * Each sample recovers a fresh PendingImport key (material deleted, escrowed, managed):
 * - library: lib's recoverKey in this process (median of the samples);
 * - cli: `kms-reimport recover <key>` (bin/kms-reimport.js) as a whole process;
 * - seed: bench/seed-recover.sh (AWS CLI get-parameters-for-import, openssl OAEP wrap,
 *   import-key-material), skipped with a message when no AWS CLI or openssl runs here;
 * - workflow (bench/workflow.ts): the state machine with each task its real handler.
 * The chain: 5 dependent round trips for a key ID (DescribeKey → GetParametersForImport ∥
 * GetSecretValue → ImportKeyMaterial → Encrypt → Decrypt), so the floor is 5 × L.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteImportedKeyMaterialCommand, DescribeKeyCommand } from '@aws-sdk/client-kms';
import { onboardKey, startLocalAws, type LocalAws, type OnboardedKey } from '../test/support/local-aws.js';
import { describeRoundTrips, roundTrips, watchCalls, type TimedCall } from './timeline.js';
import type { WorkflowTiming } from './workflow.js';
import { endpointEnv, firstWorking, median, progress, REGION, round, runProcess, sleep } from './measure.js';

export const CHAIN_ROUND_TRIPS = 5;
const WRAPPING = { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048' } as const;

export interface RecoveryFigures {
  latencyMs: number;
  samples: number;
  chainRoundTrips: number;
  chainMs: number;
  libraryMs: number;
  libraryCalls: number;
  /** The library's calls as the round trips it made one after another (last sample). */
  libraryRoundTrips: number;
  libraryCallSequence: string;
  /** The same library recovery with no added latency: this machine's own cost (SDK, emulation, wrapping). */
  libraryNoLatencyMs: number;
  ratioToChain: number;
  cliProcessMs: number;
  cliRatioToChain: number;
  /** Peak RSS of `kms-reimport recover` (the largest of the samples). */
  cliPeakRssMiB: number;
  seedScriptMs: number | null;
  seedSkipped?: string;
  awsCli?: string;
  /** library time / seed script time, and the CLI process's. */
  ratioToSeedScript: number | null;
  cliRatioToSeedScript: number | null;
  workflowMs?: number | null;
  workflowRatioToChain?: number | null;
  workflowSkipped?: string;
  workflowCalls?: number;
  /** Per task handler, per execution: times run, calls, ms inside. */
  workflowTasks?: Record<string, { runs: number; calls: number; ms: number }>;
}

/** A fresh managed key with escrowed material, made PendingImport by deleting its material (latency off meanwhile). */
async function pendingKey(aws: LocalAws): Promise<OnboardedKey> {
  aws.endpoint.controls.setLatency('*', 0);
  const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 3600, wrapping: WRAPPING });
  await aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.keyId }));
  // Let the pool refill what onboarding took, so no sample waits for a key generation.
  await sleep(250);
  return key;
}

/** Starts the endpoint the recovery samples share: a wrapping-key pool, no quotas. */
export function startRecoveryEndpoint(): Promise<LocalAws> {
  return startLocalAws({ kms: { wrappingKeyPoolSize: 4 } }, { wrappingKeySpec: 'RSA_2048' });
}

export async function timeOne<T>(aws: LocalAws, latencyMs: number, run: () => Promise<T>): Promise<{ ms: number; result: T; calls: number }> {
  aws.endpoint.controls.resetCounters();
  aws.endpoint.controls.setLatency('*', latencyMs);
  const started = performance.now();
  const result = await run();
  const ms = performance.now() - started;
  aws.endpoint.controls.setLatency('*', 0);
  const calls = Object.values(aws.endpoint.controls.getCounters()).reduce((s, c) => s + c.calls, 0);
  return { ms, result, calls };
}

export async function benchRecovery(opts: { latencyMs: number; samples: number; workflow?: (aws: LocalAws, latencyMs: number, samples: number) => Promise<WorkflowTiming> }): Promise<RecoveryFigures> {
  const { latencyMs: L, samples } = opts;
  const aws = await startRecoveryEndpoint();
  const env = endpointEnv(aws.endpoint.url, { KMS_REIMPORT_WRAPPING_KEY_SPEC: 'RSA_2048', NODE_NO_WARNINGS: '1' });
  const work = mkdtempSync(join(tmpdir(), 'kms-reimport-bench-'));
  try {
    progress(`recovery: library, ${samples} samples at L = ${L} ms`);
    const library: number[] = [];
    let libraryCalls = 0;
    let trips: TimedCall[][] = [];
    const recorder = watchCalls([aws.kms, aws.secrets]);
    for (let i = 0; i < samples; i++) {
      const key = await pendingKey(aws);
      recorder.start();
      const { ms, result, calls } = await timeOne(aws, L, () => aws.recover(key.keyId, 'recover'));
      trips = roundTrips(recorder.stop());
      key.material.fill(0);
      if (result.status !== 'recovered') throw new Error(`library recovery of ${key.keyId} ended ${result.status}: ${result.reason ?? ''}`);
      library.push(ms);
      libraryCalls = calls;
    }
    const noLatency: number[] = [];
    for (let i = 0; i < samples; i++) {
      const key = await pendingKey(aws);
      const { ms, result } = await timeOne(aws, 0, () => aws.recover(key.keyId, 'recover'));
      key.material.fill(0);
      if (result.status !== 'recovered') throw new Error(`library recovery of ${key.keyId} ended ${result.status}: ${result.reason ?? ''}`);
      noLatency.push(ms);
    }

    progress(`recovery: kms-reimport recover as a process, ${samples} samples`);
    const cli: number[] = [];
    let cliPeak = 0;
    for (let i = 0; i < samples; i++) {
      const key = await pendingKey(aws);
      key.material.fill(0);
      const { ms, result } = await timeOne(aws, L, () =>
        runProcess(process.execPath, ['bin/kms-reimport.js', 'recover', key.keyId, '--endpoint-url', aws.endpoint.url, '--region', REGION], { env }),
      );
      if (result.status !== 0) throw new Error(`kms-reimport recover ${key.keyId} exited ${result.status}: ${result.stderr.trim().slice(-1500)}`);
      cli.push(ms);
      cliPeak = Math.max(cliPeak, result.peakRssMiB);
    }

    const awsCli = firstWorking(['aws', '/usr/bin/aws']);
    const openssl = firstWorking(['openssl'], ['version']);
    const seed: number[] = [];
    let seedSkipped: string | undefined;
    if (!awsCli || !openssl) {
      seedSkipped = `the seed's script needs ${!awsCli ? 'the AWS CLI (aws)' : 'openssl'}, which is not installed here; .ci/run installs both`;
      progress(`recovery: SKIPPED the seed's script: ${seedSkipped}`);
    } else {
      progress(`recovery: the seed's script (${awsCli.version}), ${samples} samples`);
      for (let i = 0; i < samples; i++) {
        const key = await pendingKey(aws);
        const materialFile = join(work, 'PlaintextKeyMaterial.bin');
        writeFileSync(materialFile, key.material, { mode: 0o600 });
        key.material.fill(0);
        const { ms, result } = await timeOne(aws, L, () => runProcess('bash', ['bench/seed-recover.sh', key.keyId, materialFile, work], { env: { ...env, AWS_CLI: awsCli.command } }));
        rmSync(materialFile, { force: true });
        if (result.status !== 0) throw new Error(`the seed's script failed for ${key.keyId} (exit ${result.status}): ${result.stderr.trim().slice(-1500)}`);
        const state = await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }));
        if (state.KeyMetadata?.KeyState !== 'Enabled') throw new Error(`the seed's script left ${key.keyId} ${state.KeyMetadata?.KeyState}`);
        seed.push(ms);
      }
    }

    let workflow: WorkflowTiming | undefined;
    if (opts.workflow) {
      progress(`recovery: the workflow (aws-local-stepfunctions, real handlers), ${samples} samples`);
      workflow = await opts.workflow(aws, L, samples);
    }

    const chainMs = CHAIN_ROUND_TRIPS * L;
    const libraryMs = median(library);
    const cliMs = median(cli);
    const seedMs = seed.length > 0 ? median(seed) : null;
    return {
      latencyMs: L,
      samples,
      chainRoundTrips: CHAIN_ROUND_TRIPS,
      chainMs,
      libraryMs: round(libraryMs, 1),
      libraryCalls,
      libraryRoundTrips: trips.length,
      libraryCallSequence: describeRoundTrips(trips),
      libraryNoLatencyMs: round(median(noLatency), 1),
      ratioToChain: round(libraryMs / chainMs),
      cliProcessMs: round(cliMs, 1),
      cliRatioToChain: round(cliMs / chainMs),
      cliPeakRssMiB: cliPeak,
      seedScriptMs: seedMs === null ? null : round(seedMs, 1),
      ...(seedSkipped ? { seedSkipped } : {}),
      ...(awsCli ? { awsCli: `${awsCli.command}: ${awsCli.version}` } : {}),
      ratioToSeedScript: seedMs ? round(libraryMs / seedMs) : null,
      cliRatioToSeedScript: seedMs ? round(cliMs / seedMs) : null,
      ...(workflow
        ? {
            workflowMs: workflow.ms === null ? null : round(workflow.ms, 1),
            workflowRatioToChain: workflow.ms === null ? null : round(workflow.ms / chainMs),
            ...(workflow.skipped ? { workflowSkipped: workflow.skipped } : {}),
            ...(workflow.calls !== undefined ? { workflowCalls: workflow.calls } : {}),
            ...(workflow.tasks ? { workflowTasks: workflow.tasks } : {}),
          }
        : {}),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
    await aws.close();
  }
}
