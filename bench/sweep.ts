/**
 * Sweep at scale: an account of N keys, 20% managed (healthy, expiring, PendingImport), under
 * KMS's per-operation request quotas enforced by the local endpoint (controls preset
 * 'kms-defaults'), the account built by test/support/fleet.ts. The sweep runs as its own process
 * (bench/sweep-child.ts); the endpoint counts the calls. Figures per size: time, calls per managed key by operation, the quota-bound minimum
 * (for each quota bucket, the calls it answered / its rate; the largest is the least time any
 * sweep making those calls could take) and the ratio to it, keys missed or misclassified, and
 * the sweep process's peak RSS.
 */
import { DEFAULT_SWEEP_CONCURRENCY } from '../lib/sweep.js';
import { startLocalAws } from '../test/support/local-aws.js';
import { buildBenchFleet, EXPECTED_ACTION, type Fleet } from '../test/support/fleet.js';
import { endpointEnv, progress, round, runProcess } from './measure.js';

export interface SweepFigures {
  keys: number;
  managed: number;
  buildSeconds: number;
  seconds: number;
  /** Answered calls (throttled ones apart) per managed key, by operation. */
  callsPerManagedKey: Record<string, number>;
  throttled: number;
  /** Least seconds the answered calls need under the enforced quotas, and the bucket that sets it. */
  quotaMinimumSeconds: number | null;
  quotaBoundBy: string | null;
  ratioToQuotaMinimum: number | null;
  /** Managed keys absent from the report or reported as `error`. */
  missed: number;
  /** The missed keys by why: the error name of the report entry, or `absent`. */
  missedBy: Record<string, number>;
  /** Managed keys reported with another action than their kind calls for. */
  misclassified: number;
  peakRssMiB: number;
  secondsPerThousandKeys: number;
  /** Operations the sweep called for which the endpoint enforced no quota. */
  unquotedOperations: string[];
  /** Keys the sweep inspects at a time (lib's default). */
  concurrency: number;
}

interface QuotaRule {
  rate: number;
  shared?: string;
}

/** For each quota bucket, answered calls / rate; the largest is the quota-bound minimum. */
export function quotaMinimum(counters: Record<string, { calls: number; throttled: number }>, quotas: Record<string, QuotaRule>): { seconds: number; bucket: string } | null {
  const buckets = new Map<string, number>();
  for (const [operation, counter] of Object.entries(counters)) {
    const bare = operation.split(':')[1] ?? operation;
    const rule = quotas[operation] ?? quotas[bare];
    if (!rule) continue;
    const bucket = rule.shared ?? operation;
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + (counter.calls - counter.throttled) / rule.rate);
  }
  let best: { seconds: number; bucket: string } | null = null;
  for (const [bucket, seconds] of buckets) if (!best || seconds > best.seconds) best = { seconds, bucket };
  return best;
}

/** One report entry as bench/sweep-child.ts prints it: key ID, classification, action, escrow health, error name. */
export type ChildEntry = [string, string, string, string, string?];

export function countMisses(fleet: Pick<Fleet, 'managedKinds'>, entries: ChildEntry[]): { missed: number; misclassified: number; missedBy: Record<string, number> } {
  const seen = new Map(entries.map(([keyId, , action, , errorName]) => [keyId, { action, errorName }]));
  let missed = 0;
  let misclassified = 0;
  const missedBy: Record<string, number> = {};
  for (const [keyId, kind] of fleet.managedKinds) {
    const entry = seen.get(keyId);
    if (entry === undefined || entry.action === 'error') {
      missed++;
      const why = entry === undefined ? 'absent' : entry.errorName || 'error';
      missedBy[why] = (missedBy[why] ?? 0) + 1;
    } else if (entry.action !== EXPECTED_ACTION[kind]) misclassified++;
  }
  return { missed, misclassified, missedBy };
}

export async function benchSweep(keys: number, managedShare = 0.2): Promise<SweepFigures & { builder: string }> {
  const aws = await startLocalAws({ kms: { wrappingKeyPoolSize: 2 } });
  try {
    progress(`sweep: building ${keys} keys`);
    const fleet = await buildBenchFleet(aws, { keys, managedShare });
    aws.endpoint.controls.useQuotaPreset('kms-defaults');
    aws.endpoint.controls.resetCounters();
    progress(`sweep: ${keys} keys (${fleet.managed} managed) built in ${(fleet.buildMs / 1000).toFixed(1)} s; sweeping`);
    const run = await runProcess(process.execPath, ['--import', 'tsx', 'bench/sweep-child.ts', aws.endpoint.url], { env: endpointEnv(aws.endpoint.url) });
    if (run.status !== 0) throw new Error(`the sweep process failed (exit ${run.status}): ${run.stderr.trim().slice(-2000)}`);
    const child = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { elapsedMs: number; peakRssKiB: number; entries: ChildEntry[] };
    const counters = aws.endpoint.controls.getCounters();
    const quotas = aws.endpoint.controls.getQuotas();
    const minimum = quotaMinimum(counters, quotas);
    const seconds = child.elapsedMs / 1000;
    const { missed, misclassified, missedBy } = countMisses(fleet, child.entries);
    const callsPerManagedKey = Object.fromEntries(
      Object.entries(counters)
        .filter(([, c]) => c.calls > 0)
        .map(([op, c]) => [op, round((c.calls - c.throttled) / fleet.managed, 3)]),
    );
    return {
      builder: 'test/support/fleet.ts',
      keys,
      managed: fleet.managed,
      buildSeconds: round(fleet.buildMs / 1000, 1),
      seconds: round(seconds, 2),
      callsPerManagedKey,
      throttled: Object.values(counters).reduce((s, c) => s + c.throttled, 0),
      quotaMinimumSeconds: minimum ? round(minimum.seconds, 2) : null,
      quotaBoundBy: minimum?.bucket ?? null,
      ratioToQuotaMinimum: minimum && minimum.seconds > 0 ? round(seconds / minimum.seconds, 2) : null,
      missed,
      missedBy,
      misclassified,
      peakRssMiB: round(child.peakRssKiB / 1024, 1),
      secondsPerThousandKeys: round((seconds * 1000) / keys, 3),
      unquotedOperations: Object.keys(counters).filter((o) => counters[o]!.calls > 0 && !quotas[o] && !quotas[o.split(':')[1] ?? o]),
      concurrency: DEFAULT_SWEEP_CONCURRENCY,
    };
  } finally {
    await aws.close();
  }
}
