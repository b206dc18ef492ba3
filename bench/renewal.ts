/**
 * Fleet renewal at a quota: N managed keys whose material expires within the renewal window, the
 * endpoint enforcing KMS's default quotas with GetParametersForImport set to Q per second (low, so
 * that the run is short), and the CLI's `sweep` (cli/fleet.ts runFleet, in process) renewing them
 * all, with the pause between keys an operator would set for that quota (1/Q s) where the sweep
 * takes one. Ratio: elapsed / (N / Q), the least time the quota allows.
 */
import { runFleet } from '../cli/fleet.js';
import { onboardKey, startLocalAws } from '../test/support/local-aws.js';
import { CREDENTIALS, progress, REGION, round, sleep } from './measure.js';

export interface RenewalFigures {
  keys: number;
  quotaPerSecond: number;
  seconds: number;
  quotaMinimumSeconds: number;
  ratioToQuota: number;
  renewed: number;
  failed: number;
  throttled: number;
  parametersCalls: number;
  intervalMs: number;
}

const DAY = 86_400;

export async function benchRenewal(keys: number, quotaPerSecond: number): Promise<RenewalFigures> {
  const aws = await startLocalAws({ kms: { wrappingKeyPoolSize: 8 } });
  const saved = { spec: process.env.KMS_REIMPORT_WRAPPING_KEY_SPEC, region: process.env.AWS_REGION };
  try {
    progress(`renewal: onboarding ${keys} keys expiring in 5 days`);
    for (let i = 0; i < keys; i++) {
      const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 5 * DAY, wrapping: { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048' } });
      key.material.fill(0);
    }
    await sleep(500);
    aws.endpoint.controls.useQuotaPreset('kms-defaults');
    aws.endpoint.controls.setQuota('kms:GetParametersForImport', { rate: quotaPerSecond, burst: 1 });
    aws.endpoint.controls.resetCounters();
    // The sweep reads its settings from the environment, as the CLI does: RSA_2048 wrapping keys
    // (from the endpoint's pool) so that key generation does not stand in for the quota.
    process.env.KMS_REIMPORT_WRAPPING_KEY_SPEC = 'RSA_2048';
    process.env.AWS_REGION = REGION;
    const intervalMs = Math.round(1000 / quotaPerSecond);
    progress(`renewal: sweeping ${keys} keys, GetParametersForImport at ${quotaPerSecond}/s`);
    // The sweep's per-key progress goes to stderr; the bench keeps its own output readable.
    const options = { endpointUrl: aws.endpoint.url, region: REGION, credentials: CREDENTIALS, json: true, intervalMs };
    const stderrWrite = process.stderr.write;
    process.stderr.write = (() => true) as typeof process.stderr.write;
    const started = performance.now();
    let result: Awaited<ReturnType<typeof runFleet>>;
    try {
      result = await runFleet('sweep', options, () => {});
    } finally {
      process.stderr.write = stderrWrite;
    }
    const seconds = (performance.now() - started) / 1000;
    const counters = aws.endpoint.controls.getCounters();
    const minimum = keys / quotaPerSecond;
    return {
      keys,
      quotaPerSecond,
      seconds: round(seconds, 2),
      quotaMinimumSeconds: round(minimum, 2),
      ratioToQuota: round(seconds / minimum),
      renewed: result.outcomes.filter((o) => o.status === 'renewed').length,
      failed: result.outcomes.filter((o) => o.status === 'failed').length,
      throttled: Object.values(counters).reduce((s, c) => s + c.throttled, 0),
      parametersCalls: counters['kms:GetParametersForImport']?.calls ?? 0,
      intervalMs,
    };
  } finally {
    for (const [name, value] of [['KMS_REIMPORT_WRAPPING_KEY_SPEC', saved.spec], ['AWS_REGION', saved.region]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await aws.close();
  }
}
