/**
 * The sweep: finds every managed key in the account and Region and decides which need work.
 *
 * - ONE paginated Resource Groups Tagging API GetResources (TagFilters = the managed tag,
 *   ResourceTypeFilters = kms:key) lists the managed keys, instead of ListKeys + a
 *   ListResourceTags per key.
 * - Each listed key is inspected (DescribeKey, ListResourceTags, ListKeyRotations) and classified,
 *   a few keys at a time (bounded concurrency keeps us far below KMS's request quotas). The
 *   Tagging API can lag behind tag changes, so a key is only ever worked on when its own tags,
 *   read from KMS, say it is managed: a key reported but not managed is never in `items`.
 * - Work items come out ordered: outages first (PendingImport → recover), then keys whose
 *   material expires soonest (→ renew). Sweep items carry an explicit action, so the workflow's
 *   Inspect re-checks the key and skips it if it changed meanwhile.
 * - Every managed EXTERNAL key gets its rotation status (lib/rotation/schedule.ts: its
 *   `kms-reimport:rotate-every` tag or the config default, and the age of its current material).
 *   A healthy key whose rotation is due is reported with action `rotate`, after the renewals
 *   (most overdue first), and becomes a rotation work item (`rotations`, kept apart from `items`
 *   so that a caller starts them after every recovery and renewal; the workflow's rotation branch
 *   runs them). A key that needs recovery or renewal keeps that action (its rotation waits for the
 *   next sweep). A bad schedule is a named problem on the entry, and the key is left as it is.
 *
 * - Each managed EXTERNAL key's escrow secret is checked with DescribeSecret (never its value): missing or
 *   scheduled for deletion, not bound to the key, encrypted under the key itself, or unreadable.
 *   This does not change the work items (the workflow fails on a broken escrow with the named
 *   error and alerts), it tells on-call before the key's material expires.
 *
 * Read-only: the sweep changes nothing itself.
 */
import { GetResourcesCommand, type ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ReimportConfig } from './config.js';
import { awsErrorName, KeyNotFound, KeyNotReadable, KmsUnavailable, toNamedError } from './errors.js';
import { checkEscrowHealth, type AliasTarget, type EscrowHealth, type ResolveAlias } from './escrow/health.js';
import { classifyKey, planAction } from './kms/classify.js';
import { rotationStatus, type RotationStatus } from './rotation/schedule.js';
import { describeKeyMetadata, inspectKey } from './kms/inspect.js';
import { isTransientError, withRetry, type RetryOptions } from './retry.js';
import type { Classification, KeyReport } from './types.js';
import { parseKeyRef } from './events/key-ref.js';
import { SWEEP_DETAIL_TYPE, SWEEP_SOURCE, type WorkItem } from './events/work-item.js';

export const DEFAULT_SWEEP_CONCURRENCY = 8;
const RESOURCES_PER_PAGE = 100;

export interface SweepDeps {
  tagging: ResourceGroupsTaggingAPIClient;
  kms: KMSClient;
  /** DescribeSecret only: the sweep never reads a secret's value. */
  secrets: SecretsManagerClient;
}

export interface SweepOptions {
  /** Keys inspected at the same time (1..50, default 8). */
  concurrency?: number;
  /** Retry settings for every AWS call (default from config; tests inject sleep). */
  retry?: RetryOptions;
}

/** What the sweep learnt about one key. Never holds material. */
export interface SweepEntry {
  keyId: string;
  arn?: string;
  /** The classification kind, when the key could be inspected. */
  classification?: Classification['kind'];
  /**
   * What the sweep asks for; `error` when the key could not be inspected. `rotate`: the key's
   * scheduled rotation is due (a work item of `rotations`).
   */
  action: 'recover' | 'renew' | 'rotate' | 'skip' | 'error';
  reason: string;
  keyState?: string;
  validTo?: string;
  /** Named error when `action` is `error`. */
  errorName?: string;
  /** Health of the key's escrow secret (managed EXTERNAL keys that could be inspected only). */
  escrow?: EscrowHealth;
  /** Why the escrow is not ok: the key, the secret and the next step. Never a value. */
  escrowReason?: string;
  /** Rotation schedule, age and lineage (managed EXTERNAL keys that could be inspected only). */
  rotation?: RotationStatus;
}

export interface SweepResult {
  /** Work to start, outages first, then by soonest ValidTo. Only managed keys; never a rotation. */
  items: Array<WorkItem & { action: 'recover' | 'renew' }>;
  /** Rotations due, most overdue first: to start after every item (outages and renewals first). */
  rotations: Array<WorkItem & { action: 'rotate' }>;
  /** One entry per key listed by the Tagging API, in the same order as `items` first, then the rest. */
  report: SweepEntry[];
}

/** Lists the ARNs of every resource of type kms:key carrying the managed tag (all pages). */
export async function listManagedKeyArns(
  tagging: ResourceGroupsTaggingAPIClient,
  config: ReimportConfig,
  retry: RetryOptions,
): Promise<string[]> {
  const arns: string[] = [];
  const seen = new Set<string>();
  let token: string | undefined;
  do {
    const page = await withRetry(
      () =>
        tagging.send(
          new GetResourcesCommand({
            TagFilters: [{ Key: config.managedTagKey, Values: [config.managedTagValue] }],
            ResourceTypeFilters: ['kms:key'],
            ResourcesPerPage: RESOURCES_PER_PAGE,
            ...(token ? { PaginationToken: token } : {}),
          }),
        ),
      retry,
    ).catch((e: unknown) => {
      if (!isTransientError(e)) throw e;
      throw new KmsUnavailable(
        `Resource Groups Tagging API GetResources kept failing with ${awsErrorName(e) ?? 'a transient error'}; ` +
          'no key was swept. The next scheduled sweep tries again; check the tagging API quota if this repeats.',
        { cause: e },
      );
    });
    for (const r of page?.ResourceTagMappingList ?? []) {
      if (r.ResourceARN && !seen.has(r.ResourceARN)) {
        seen.add(r.ResourceARN);
        arns.push(r.ResourceARN);
      }
    }
    token = page?.PaginationToken || undefined;
  } while (token);
  return arns;
}

/** Runs `fn` over `items` with at most `limit` in flight, keeping the results in input order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function entryFor(report: KeyReport, config: ReimportConfig, now: Date): SweepEntry {
  const classification = classifyKey(report, config, now);
  const plan = planAction(classification, 'auto');
  const entry: SweepEntry = {
    keyId: report.keyId,
    arn: report.arn,
    classification: classification.kind,
    action: plan.action,
    reason: plan.reason,
    keyState: report.keyState,
  };
  if (report.validTo !== undefined) entry.validTo = report.validTo;
  // Belt and braces: whatever planAction says, a key that is not managed is only reported.
  if (classification.kind === 'not-managed') {
    entry.action = 'skip';
    return entry;
  }
  if (classification.kind === 'not-external') return entry;
  const rotation = rotationStatus(report, config, now);
  entry.rotation = rotation;
  if (rotation.due && entry.action === 'skip' && classification.kind === 'healthy') {
    entry.action = 'rotate';
    entry.reason =
      `Rotation due: the current material dates from ${rotation.lastRotatedAt} (${rotation.ageFrom}), every ${rotation.every} day(s) (${rotation.source}), ` +
      `${rotation.mode}; the sweep starts its rotation after the recoveries and renewals.`;
  }
  return entry;
}

/**
 * Resolves the aliases that encrypt escrow secrets, once per alias per sweep (many secrets usually
 * share one escrow key). DescribeKey AccessDenied means the alias's key is not one the sweep may
 * describe, i.e. not a managed key, so not the key being checked.
 */
function aliasResolver(kms: KMSClient, retry: RetryOptions): ResolveAlias {
  const cache = new Map<string, Promise<AliasTarget>>();
  return (alias) => {
    let target = cache.get(alias);
    if (!target) {
      target = describeKeyMetadata(kms, alias, retry).then(
        (m): AliasTarget => ({ keyId: m.KeyId as string }),
        (e: unknown): AliasTarget =>
          e instanceof KeyNotFound ? 'not-found' : e instanceof KeyNotReadable || awsErrorName(e) === 'AccessDeniedException' ? 'other-key' : 'unknown',
      );
      cache.set(alias, target);
    }
    return target;
  };
}

function byWorkOrder(a: SweepEntry, b: SweepEntry): number {
  const rank = (e: SweepEntry) => (e.action === 'recover' ? 0 : e.action === 'renew' ? 1 : e.action === 'rotate' ? 2 : 3);
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  if (a.action === 'renew') {
    const ta = a.validTo ? Date.parse(a.validTo) : Number.POSITIVE_INFINITY;
    const tb = b.validTo ? Date.parse(b.validTo) : Number.POSITIVE_INFINITY;
    if (ta !== tb) return ta - tb;
  }
  if (a.action === 'rotate') {
    // Most overdue first.
    const ta = a.rotation?.nextDueAt ? Date.parse(a.rotation.nextDueAt) : Number.POSITIVE_INFINITY;
    const tb = b.rotation?.nextDueAt ? Date.parse(b.rotation.nextDueAt) : Number.POSITIVE_INFINITY;
    if (ta !== tb) return ta - tb;
  }
  return a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0;
}

export async function sweepManagedKeys(
  deps: SweepDeps,
  config: ReimportConfig,
  now: Date,
  opts: SweepOptions = {},
): Promise<SweepResult> {
  const concurrency = opts.concurrency ?? DEFAULT_SWEEP_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 50) {
    throw new RangeError(`sweep concurrency must be an integer from 1 to 50, got ${concurrency}`);
  }
  const retry = opts.retry ?? { maxAttempts: config.maxAttempts, baseDelayMs: config.baseDelayMs };
  const arns = await listManagedKeyArns(deps.tagging, config, retry);

  const resolveAlias = aliasResolver(deps.kms, retry);

  const entries = await mapBounded(arns, concurrency, async (arn): Promise<SweepEntry> => {
    const parsed = parseKeyRef(arn);
    if (parsed?.kind !== 'key-arn') {
      return { keyId: arn, arn, action: 'skip', reason: `${arn} is not a KMS key ARN; the Tagging API listed it as kms:key, ignored.` };
    }
    let report: KeyReport;
    try {
      report = await inspectKey(deps.kms, arn, retry);
    } catch (e) {
      // One of our named errors (never a raw AWS or JavaScript one, nor an unparsable answer's text).
      const named = toNamedError(e, parsed.keyId);
      return {
        keyId: parsed.keyId,
        arn,
        action: 'error',
        errorName: named.name,
        reason: `Key ${parsed.keyId} could not be inspected (${named.name}: ${named.message}); it is left for the next sweep.`,
      };
    }
    const entry = entryFor(report, config, now);
    // Keys not managed, or whose material KMS generated (nothing to reimport), need no escrow.
    if (entry.classification === 'not-managed' || entry.classification === 'not-external') return entry;
    const health = await checkEscrowHealth(deps.secrets, report, config, retry, resolveAlias);
    entry.escrow = health.escrow;
    if (health.escrowReason !== undefined) entry.escrowReason = health.escrowReason;
    return entry;
  });

  const ordered = [...entries].sort(byWorkOrder);
  const items = ordered
    .filter((e): e is SweepEntry & { action: 'recover' | 'renew' } => e.action === 'recover' || e.action === 'renew')
    .map((e) => ({ keyRef: e.keyId, action: e.action, trigger: { source: SWEEP_SOURCE, detailType: SWEEP_DETAIL_TYPE } }));
  const rotations = ordered
    .filter((e) => e.action === 'rotate')
    .map((e) => ({ keyRef: e.keyId, action: 'rotate' as const, trigger: { source: SWEEP_SOURCE, detailType: SWEEP_DETAIL_TYPE } }));
  return { items, rotations, report: ordered };
}
