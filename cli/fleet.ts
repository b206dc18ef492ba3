/**
 * status / sweep: every managed key in one account and Region at once, for on-call.
 *   status   what the scheduled sweep sees: each key's state, ValidTo, escrow health, rotation
 *            (mode and next due date, or off, or the problem; lineage) and what it would do; exits 1
 *            when a key could not be inspected, its escrow is not ok, or its rotate-every is malformed
 *   sweep    the same, then recovers (outages first) and renews (soonest expiry first), several at
 *            a time under one adaptive pace of KMS's import quotas (lib/fleet.ts), or with
 *            --interval-ms one key at a time with a fixed pause
 */
import { createClients, createTaggingClient } from '../lib/aws/clients.js';
import { loadConfig } from '../lib/config.js';
import { recoverKey } from '../lib/reimport.js';
import { summariseOutcome } from '../lib/outcome.js';
import { sweepManagedKeys, type SweepEntry } from '../lib/sweep.js';
import { toFleetError } from '../lib/errors.js';
import type { Outcome } from '../lib/types.js';
import { openLease } from './lease.js';
import { clientOptionsFrom, progress, progressLogger, type AwsCliOptions } from './options.js';

export interface FleetOptions extends AwsCliOptions {
  json?: boolean;
  /**
   * sweep only: a fixed pause between keys, in ms, one key at a time. Unset (the default): every
   * key under one adaptive pace of KMS's import quotas (lib/fleet.ts runPacedFleet).
   */
  intervalMs?: number;
  /** sweep only, with the adaptive pace: runs in flight at once (default 4). */
  concurrency?: number;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** sweep only: the per-key lease table (default KMS_REIMPORT_LEASE_TABLE). */
  leaseTable?: string;
}

export interface FleetResult {
  entries: SweepEntry[];
  outcomes: Outcome[];
}

/** The ROTATION cell: `in-place every 90d, due 2026-03-01T…` / `off` / the problem's name. */
export function rotationCell(entry: SweepEntry): string {
  const r = entry.rotation;
  if (r === undefined) return '-';
  if (r.problemName !== undefined) return r.problemName;
  if (r.mode === 'off') return 'off';
  return `${r.mode} every ${r.every}d (${r.source}), ${r.due ? 'DUE since' : 'due'} ${r.nextDueAt ?? '?'}`;
}

/** The LINEAGE cell: `from <key>`, `to <key>`, both, or `-`. */
export function lineageCell(entry: SweepEntry): string {
  const l = entry.rotation?.lineage;
  const parts = [...(l?.rotatedFrom ? [`from ${l.rotatedFrom}`] : []), ...(l?.rotatedTo ? [`to ${l.rotatedTo}`] : [])];
  return parts.length > 0 ? parts.join(', ') : '-';
}

function why(e: SweepEntry): string {
  let text = e.reason;
  if (e.escrowReason) text += ` ESCROW: ${e.escrowReason}`;
  if (e.rotation?.problem) text += ` ROTATION: ${e.rotation.problem}`;
  else if (e.rotation?.note) text += ` ROTATION: ${e.rotation.note}`;
  return text;
}

function table(entries: SweepEntry[]): string[] {
  if (entries.length === 0) return ['No key carries the managed tag in this account and Region.'];
  const rows = entries.map((e) => [
    e.keyId,
    e.keyState ?? '?',
    e.validTo ?? '-',
    e.escrow ?? '-',
    e.action,
    rotationCell(e),
    lineageCell(e),
    why(e),
  ]);
  const header = ['KEY', 'STATE', 'VALID TO', 'ESCROW', 'ACTION', 'ROTATION', 'LINEAGE', 'WHY'];
  const last = header.length - 1;
  const widths = header.slice(0, last).map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((cell, i) => (i < last ? cell.padEnd(widths[i]!) : cell)).join('  ');
  return [line(header), ...rows.map(line)];
}

/** True when a key's escrow secret is missing, unbound, mismatched, self-encrypted or unreadable. */
export function hasEscrowProblem(entry: SweepEntry): boolean {
  return entry.escrow !== undefined && entry.escrow !== 'ok';
}

/**
 * True when a key's `kms-reimport:rotate-every` tag is malformed: a mistake someone must fix, or the
 * key silently never rotates. (Age unknown and Multi-Region are shown, but are not a failure of
 * `status`: nothing in the key's tags can fix them.)
 */
export function hasRotationScheduleProblem(entry: SweepEntry): boolean {
  return entry.rotation?.problemName === 'RotationScheduleInvalid';
}

export async function runFleet(
  mode: 'status' | 'sweep',
  options: FleetOptions,
  print: (line: string) => void = console.log,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<FleetResult> {
  const config = loadConfig(process.env);
  const credentials = options.credentials ? { credentials: options.credentials } : {};
  const clientOptions = { ...clientOptionsFrom(options), ...credentials };
  const clients = createClients(clientOptions);
  const tagging = createTaggingClient(clientOptions);
  const lease = mode === 'sweep' ? openLease(options.leaseTable, config, { ...(options.region ? { region: options.region } : {}), ...(options.profile ? { profile: options.profile } : {}), ...credentials }) : undefined;
  try {
    const { items, report } = await sweepManagedKeys({ tagging, kms: clients.kms, secrets: clients.secrets }, config, new Date()).catch((e: unknown) => {
      throw toFleetError(e);
    });
    const outcomes: Outcome[] = [];
    // --json prints the JSON only, so that it can be parsed.
    if (options.json !== true) for (const l of table(report)) print(l);
    if (mode === 'sweep') {
      // Progress (stderr): what the sweep is about to do, then each key's steps as they happen.
      progress(items.length === 0 ? 'Nothing to recover or renew.' : `${items.length} key(s) to act on, outages first:`);
      const due = report.filter((e) => e.action === 'rotate').length;
      if (due > 0) progress(`${due} key(s) due for rotation: not rotated by sweep yet; run \`kms-reimport rotate <key>\` for each.`);
      if (options.intervalMs === undefined) {
        // One adaptive pace for the whole fleet: runs start in the sweep's order (outages first),
        // `concurrency` at a time, and every import call waits for the shared pace.
        const { runPacedFleet } = await import('../lib/fleet.js');
        // Each run its own lease owner (lease.owner() makes a fresh one): runs in flight at once never share one.
        const deps = { ...clients, logger: progressLogger(), ...(lease?.lease ? { lease: lease.lease } : {}) };
        const paced = await runPacedFleet(deps, items, {
          config,
          concurrency: options.concurrency ?? 4,
          ...(lease?.lease ? { leaseOwner: lease.owner } : {}),
          onOutcome: (outcome) => {
            if (options.json !== true) print(summariseOutcome(outcome));
          },
        });
        outcomes.push(...paced);
      } else {
        for (const [i, item] of items.entries()) {
          if (i > 0 && options.intervalMs > 0) await sleep(options.intervalMs);
          progress(`${item.action} ${item.keyRef} (${i + 1}/${items.length})`);
          const outcome = await recoverKey(
            { ...clients, logger: progressLogger(), ...(lease?.lease ? { lease: lease.lease, leaseOwner: lease.owner() } : {}) },
            item.keyRef,
            { action: item.action, config },
          );
          outcomes.push(outcome);
          if (options.json !== true) print(summariseOutcome(outcome));
        }
      }
    }
    if (options.json === true) print(JSON.stringify(mode === 'status' ? report : { report, outcomes }, null, 2));
    return { entries: report, outcomes };
  } finally {
    lease?.close();
    tagging.destroy();
    clients.kms.destroy();
    clients.secrets.destroy();
  }
}

/**
 * The exit code: 1 when a key could not be inspected, a recovery failed (sweep) or, for `status`, a
 * key's escrow is not ok or its rotate-every tag is malformed (so `status` can run as a cron/CI
 * check before an outage or a missed rotation); else 0.
 */
export function fleetExitCode(mode: 'status' | 'sweep', result: FleetResult): 0 | 1 {
  if (result.entries.some((e) => e.action === 'error')) return 1;
  if (mode === 'status' && result.entries.some(hasEscrowProblem)) return 1;
  if (mode === 'status' && result.entries.some(hasRotationScheduleProblem)) return 1;
  if (mode === 'sweep' && result.outcomes.some((o) => o.status === 'failed')) return 1;
  return 0;
}
