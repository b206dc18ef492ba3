/**
 * Fleet renewal at a quota: N managed keys whose material expires within the renewal window, the
 * endpoint enforcing KMS's default quotas with GetParametersForImport set to Q per second (low, so
 * that the run is short). Ratio: elapsed / (N / Q), the least time the quota allows. Each way gets
 * its own endpoint and its own N keys (made through the API: a copied key cannot take a reimport,
 * its KeyMaterialId is its template's):
 * - paced: lib/fleet.ts runPacedFleet over the sweep's work items, its adaptive pace (lib/pace.ts)
 *   starting at the quota (KMS_REIMPORT_PARAMETERS_RATE set to the account's quota, as an operator would);
 * - paced from above: the same, starting at twice the quota (a quota lowered, or set wrong): the
 *   pace must back off on throttling and settle under the quota, no run failing;
 * - CLI sweep: `kms-reimport sweep` as it is (cli/fleet.ts runFleet, in process, the sweep
 *   included in the time), with the pause between keys an operator would set for Q (1/Q s) where
 *   it takes one.
 */
import { runFleet } from '../cli/fleet.js';
import { createTaggingClient } from '../lib/aws/clients.js';
import { DEFAULT_CONFIG, type ReimportConfig } from '../lib/config.js';
import { runPacedFleet } from '../lib/fleet.js';
import { importPaces } from '../lib/pace.js';
import { sweepManagedKeys } from '../lib/sweep.js';
import { onboardKey, startLocalAws, type LocalAws } from '../test/support/local-aws.js';
import { CREDENTIALS, progress, REGION, round, sleep } from './measure.js';

export interface RenewalRun {
  way: string;
  keys: number;
  quotaPerSecond: number;
  /** Where the pace started (paced ways), requests per second. */
  startRate?: number;
  /** The fixed pause between keys (CLI sweep), ms. */
  intervalMs?: number;
  seconds: number;
  quotaMinimumSeconds: number;
  ratioToQuota: number;
  renewed: number;
  failed: number;
  throttled: number;
  parametersCalls: number;
  /** The GetParametersForImport pace at the end (paced ways): its rate, how often it slowed down (and of those, jumped to the rate the quota accepted), how long runs waited for it. */
  pace?: { endRate: number; decreases: number; jumps: number; throttledSeen: number; waitedSeconds: number };
}

export interface RenewalFigures extends RenewalRun {
  /** Every way measured; the figure above is the first (paced, starting at the quota). */
  ways: RenewalRun[];
}

const DAY = 86_400;

async function expiringFleet(keys: number): Promise<LocalAws> {
  const aws = await startLocalAws({ kms: { wrappingKeyPoolSize: 8 } }, { wrappingKeySpec: 'RSA_2048' });
  for (let i = 0; i < keys; i++) {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 5 * DAY, wrapping: { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048' } });
    key.material.fill(0);
  }
  await sleep(1000);
  return aws;
}

function enforce(aws: LocalAws, quotaPerSecond: number): void {
  aws.endpoint.controls.useQuotaPreset('kms-defaults');
  aws.endpoint.controls.setQuota('kms:GetParametersForImport', { rate: quotaPerSecond, burst: 1 });
  aws.endpoint.controls.resetCounters();
}

function figures(aws: LocalAws, run: Omit<RenewalRun, 'quotaMinimumSeconds' | 'ratioToQuota' | 'throttled' | 'parametersCalls'>): RenewalRun {
  const counters = aws.endpoint.controls.getCounters();
  const minimum = run.keys / run.quotaPerSecond;
  return {
    ...run,
    seconds: round(run.seconds, 2),
    quotaMinimumSeconds: round(minimum, 2),
    ratioToQuota: round(run.seconds / minimum),
    throttled: Object.values(counters).reduce((s, c) => s + c.throttled, 0),
    parametersCalls: counters['kms:GetParametersForImport']?.calls ?? 0,
  };
}

async function paced(keys: number, quotaPerSecond: number, startRate: number, way: string): Promise<RenewalRun> {
  progress(`renewal (${way}): onboarding ${keys} keys expiring in 5 days`);
  const aws = await expiringFleet(keys);
  const clientOptions = { endpointUrl: aws.endpoint.url, region: REGION, credentials: CREDENTIALS };
  const tagging = createTaggingClient(clientOptions);
  try {
    const config: ReimportConfig = { ...DEFAULT_CONFIG, wrappingKeySpec: 'RSA_2048', parametersRate: startRate };
    const { items } = await sweepManagedKeys({ tagging, kms: aws.kms, secrets: aws.secrets }, config, new Date());
    enforce(aws, quotaPerSecond);
    progress(`renewal (${way}): ${items.length} keys, pace from ${startRate}/s, GetParametersForImport quota ${quotaPerSecond}/s`);
    const paces = importPaces(config);
    const started = performance.now();
    const outcomes = await runPacedFleet({ kms: aws.kms, secrets: aws.secrets }, items, { config, paces });
    const seconds = (performance.now() - started) / 1000;
    const pace = paces.GetParametersForImport;
    return figures(aws, {
      way,
      keys,
      quotaPerSecond,
      startRate,
      pace: { endRate: round(pace.rate, 2), decreases: pace.stats.decreases, jumps: pace.stats.jumps, throttledSeen: pace.stats.throttled, waitedSeconds: round(pace.stats.waitedMs / 1000, 1) },
      seconds,
      renewed: outcomes.filter((o) => o.status === 'renewed').length,
      failed: outcomes.filter((o) => o.status !== 'renewed').length,
    });
  } finally {
    tagging.destroy();
    await aws.close();
  }
}

async function cliSweep(keys: number, quotaPerSecond: number): Promise<RenewalRun> {
  const way = 'CLI sweep';
  progress(`renewal (${way}): onboarding ${keys} keys expiring in 5 days`);
  const aws = await expiringFleet(keys);
  const saved = { spec: process.env.KMS_REIMPORT_WRAPPING_KEY_SPEC, region: process.env.AWS_REGION };
  try {
    enforce(aws, quotaPerSecond);
    // The CLI reads its settings from the environment: RSA_2048 wrapping keys, from the endpoint's
    // pool, so that key generation does not stand in for the quota.
    process.env.KMS_REIMPORT_WRAPPING_KEY_SPEC = 'RSA_2048';
    process.env.AWS_REGION = REGION;
    const intervalMs = Math.round(1000 / quotaPerSecond);
    progress(`renewal (${way}): pause ${intervalMs} ms between keys, GetParametersForImport quota ${quotaPerSecond}/s`);
    const options = { endpointUrl: aws.endpoint.url, region: REGION, credentials: CREDENTIALS, json: true, intervalMs };
    // The sweep's per-key progress goes to stderr; the bench keeps its own output readable.
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
    return figures(aws, {
      way,
      keys,
      quotaPerSecond,
      intervalMs,
      seconds,
      renewed: result.outcomes.filter((o) => o.status === 'renewed').length,
      failed: result.outcomes.filter((o) => o.status !== 'renewed').length,
    });
  } finally {
    for (const [name, value] of [['KMS_REIMPORT_WRAPPING_KEY_SPEC', saved.spec], ['AWS_REGION', saved.region]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await aws.close();
  }
}

/** `fromAbove` false (the quick run): the pace from twice the quota is left out (same code, another rate). */
export async function benchRenewal(keys: number, quotaPerSecond: number, fromAbove = true): Promise<RenewalFigures> {
  const ways = [await paced(keys, quotaPerSecond, quotaPerSecond, 'paced from the quota')];
  if (fromAbove) ways.push(await paced(keys, quotaPerSecond, 2 * quotaPerSecond, 'paced from twice the quota'));
  ways.push(await cliSweep(keys, quotaPerSecond));
  return { ...ways[0]!, ways };
}
