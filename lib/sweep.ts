/**
 * The sweep: finds every managed key in the account and Region and decides which need work.
 *
 * The fewest calls that can decide (each quota-bound: the sweep's time is theirs):
 * - ONE paginated Resource Groups Tagging API GetResources (TagFilters = the managed tag,
 *   ResourceTypeFilters = kms:key) lists the managed keys WITH their tags, instead of ListKeys + a
 *   ListResourceTags per key: the tags are taken from it, never read again.
 * - Each listed key is described (DescribeKey, 2000/s) and classified, `concurrency` keys at a time.
 *   DescribeKey decides most keys alone: its KeyState, and its ValidTo, the earliest over every
 *   permanently associated material. ListKeyRotations (100/s) is asked only where the list decides
 *   (needsMaterialList): a PendingImport key (which materials are missing, or none was ever held),
 *   an expiring one (which material a renewal pushes out, a NON_CURRENT one included), and one whose
 *   rotation schedule needs the current material's age.
 * - The Tagging API can lag behind tag changes: a work item carries an explicit action and the
 *   workflow's Inspect reads the key's own tags from KMS before anything is done, so a key whose tag
 *   was removed meanwhile is skipped there.
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
 * - Each managed EXTERNAL key's escrow secret is checked from ONE walk of ListSecrets pages under the
 *   escrow prefix (never a value): missing or scheduled for deletion, not bound to the key, encrypted
 *   under the key itself, or unreadable; DescribeSecret only for a secret the walk did not list.
 *   This does not change the work items (the workflow fails on a broken escrow with the named
 *   error and alerts), it tells on-call before the key's material expires.
 *
 * Read-only: the sweep changes nothing itself.
 */
import { GetResourcesCommand, type ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ReimportConfig } from './config.js';
import { awsErrorName, KmsUnavailable, toNamedError } from './errors.js';
import type { KeyMetadata } from '@aws-sdk/client-kms';
import { checkListedEscrowHealth, listEscrowSecrets, type EscrowHealth } from './escrow/health.js';
import { classifyKey, isManaged, planAction } from './kms/classify.js';
import { rotationStatus, type RotationStatus } from './rotation/schedule.js';
import { cachedAliasResolver, describeKeyMetadata, keyReport, listKeyMaterials } from './kms/inspect.js';
import { isTransientError, withRetry, type RetryOptions } from './retry.js';
import { paceCalls, sweepPaces, type AdaptivePace } from './pace.js';
import type { Classification, KeyReport } from './types.js';
import { parseKeyRef } from './events/key-ref.js';
import { SWEEP_DETAIL_TYPE, SWEEP_SOURCE, type WorkItem } from './events/work-item.js';

export const DEFAULT_SWEEP_CONCURRENCY = 8;
const RESOURCES_PER_PAGE = 100;

export interface SweepDeps {
  tagging: ResourceGroupsTaggingAPIClient;
  kms: KMSClient;
  /** ListSecrets and DescribeSecret only: the sweep never reads a secret's value. */
  secrets: SecretsManagerClient;
}

export interface SweepOptions {
  /** Keys inspected at the same time (1..50, default 8). */
  concurrency?: number;
  /** Retry settings for every AWS call (default from config; tests inject sleep). */
  retry?: RetryOptions;
  /**
   * Paces of the KMS reads by operation (default sweepPaces(): DescribeKey 2000/s, ListKeyRotations
   * 100/s, KMS's published quotas): a throttled read waits for a later slot instead of failing.
   */
  paces?: Partial<Record<string, AdaptivePace>>;
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

/** A key the Tagging API listed, with the tags it listed it with. */
export interface ListedKey {
  arn: string;
  tags: Record<string, string>;
}

/** Lists every resource of type kms:key carrying the managed tag, with its tags (all pages). */
export async function listManagedKeys(tagging: ResourceGroupsTaggingAPIClient, config: ReimportConfig, retry: RetryOptions): Promise<ListedKey[]> {
  const keys: ListedKey[] = [];
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
        const tags: Record<string, string> = {};
        for (const t of r.Tags ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
        keys.push({ arn: r.ResourceARN, tags });
      }
    }
    token = page?.PaginationToken || undefined;
  } while (token);
  return keys;
}

/** The ARNs of every resource of type kms:key carrying the managed tag (all pages). */
export async function listManagedKeyArns(tagging: ResourceGroupsTaggingAPIClient, config: ReimportConfig, retry: RetryOptions): Promise<string[]> {
  return (await listManagedKeys(tagging, config, retry)).map((k) => k.arn);
}

const DAY_MS = 86_400_000;

/**
 * Whether the sweep needs the key's materials (ListKeyRotations) to decide, beyond DescribeKey and
 * the listed tags. KMS keeps a list for symmetric EXTERNAL keys not being deleted only. Of those, a
 * managed key needs it when it is PendingImport (which materials are missing; whether it ever held
 * one), Enabled with its earliest ValidTo inside the renewal window (which material a renewal
 * pushes out), or when its rotation schedule needs the current material's age (the `provisional`
 * report, without the list, says RotationAgeUnknown). A healthy key without a schedule, a disabled
 * one and an unmanaged one are decided by DescribeKey alone.
 */
function needsMaterialList(m: KeyMetadata, provisional: KeyReport, config: ReimportConfig, now: Date): boolean {
  const keySpec = m.KeySpec ?? m.CustomerMasterKeySpec ?? 'SYMMETRIC_DEFAULT';
  if (m.Origin !== 'EXTERNAL' || keySpec !== 'SYMMETRIC_DEFAULT' || m.KeyState === 'PendingDeletion') return false;
  if (!isManaged(provisional, config)) return false;
  if (m.KeyState === 'PendingImport') return true;
  if (m.KeyState !== 'Enabled') return false;
  const expiring = m.ExpirationModel !== 'KEY_MATERIAL_DOES_NOT_EXPIRE' && m.ValidTo instanceof Date && m.ValidTo.getTime() - now.getTime() <= config.renewalWindowDays * DAY_MS;
  if (expiring) return true;
  return rotationStatus(provisional, config, now).problemName === 'RotationAgeUnknown';
}

/** DescribeKey, then ListKeyRotations only when needsMaterialList says so; tags as the Tagging API listed them. */
async function inspectListedKey(kms: KMSClient, listed: ListedKey, config: ReimportConfig, now: Date, retry: RetryOptions): Promise<KeyReport> {
  const m = await describeKeyMetadata(kms, listed.arn, retry);
  const provisional = keyReport(m, listed.arn, listed.tags, undefined);
  if (!needsMaterialList(m, provisional, config, now)) return provisional;
  const materials = await listKeyMaterials(kms, m.KeyId as string, retry);
  return materials === undefined ? provisional : keyReport(m, listed.arn, listed.tags, materials);
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
  // The key listing and the escrow listing do not depend on each other: both at once.
  const [listed, escrows] = await Promise.all([listManagedKeys(deps.tagging, config, retry), listEscrowSecrets(deps.secrets, config, retry)]);
  const resolveAlias = cachedAliasResolver(deps.kms, retry);

  // The KMS reads go out at no more than the quotas allow (the client is the caller's: detached after).
  const detach = paceCalls(deps.kms, opts.paces ?? sweepPaces());
  let entries: SweepEntry[];
  try {
    entries = await mapBounded(listed, concurrency, (key) => sweepKey(key));
  } finally {
    detach();
  }

  /** One listed key: described (and its materials listed where needed), classified, its escrow checked. */
  async function sweepKey(key: ListedKey): Promise<SweepEntry> {
    const arn = key.arn;
    const parsed = parseKeyRef(arn);
    if (parsed?.kind !== 'key-arn') {
      return { keyId: arn, arn, action: 'skip', reason: `${arn} is not a KMS key ARN; the Tagging API listed it as kms:key, ignored.` };
    }
    let report: KeyReport;
    try {
      report = await inspectListedKey(deps.kms, key, config, now, retry);
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
    const health = await checkListedEscrowHealth(escrows, deps.secrets, report, config, retry, resolveAlias);
    entry.escrow = health.escrow;
    if (health.escrowReason !== undefined) entry.escrowReason = health.escrowReason;
    return entry;
  }

  const ordered = [...entries].sort(byWorkOrder);
  const items = ordered
    .filter((e): e is SweepEntry & { action: 'recover' | 'renew' } => e.action === 'recover' || e.action === 'renew')
    .map((e) => ({ keyRef: e.keyId, action: e.action, trigger: { source: SWEEP_SOURCE, detailType: SWEEP_DETAIL_TYPE } }));
  const rotations = ordered
    .filter((e) => e.action === 'rotate')
    .map((e) => ({ keyRef: e.keyId, action: 'rotate' as const, trigger: { source: SWEEP_SOURCE, detailType: SWEEP_DETAIL_TYPE } }));
  return { items, rotations, report: ordered };
}
