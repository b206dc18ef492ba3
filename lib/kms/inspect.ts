/**
 * Inspection: what KMS says about a key (metadata, tags, every key material), never the material.
 * Read-only; safe on any key, managed or not.
 */
import {
  DescribeKeyCommand,
  ListKeyRotationsCommand,
  ListResourceTagsCommand,
  type KMSClient,
  type KeyMetadata,
} from '@aws-sdk/client-kms';
import { DEFAULT_CONFIG } from '../config.js';
import { awsErrorName, isUnparsableResponse, KeyNotFound, KeyNotReadable } from '../errors.js';
import { parseKeyRef } from '../events/key-ref.js';
import { callWithRetry, type RetryOptions } from '../retry.js';
import type { AliasTarget, ResolveAlias } from '../escrow/self-encryption.js';
import type { KeyRef, KeyReport, MaterialInfo } from '../types.js';

const DEFAULT_RETRY: RetryOptions = { maxAttempts: DEFAULT_CONFIG.maxAttempts, baseDelayMs: DEFAULT_CONFIG.baseDelayMs };

/**
 * Errors meaning "this endpoint/key cannot list key materials (now)": fall back to DescribeKey.
 * KMSInvalidStateException: KMS refuses ListKeyRotations for keys in some states (Creating,
 * Updating, Unavailable, PendingReplicaDeletion, ...); such a key is classified (and skipped) from
 * DescribeKey instead of failing the run.
 */
const ROTATIONS_UNAVAILABLE = new Set(['UnsupportedOperationException', 'UnknownOperationException', 'KMSInvalidStateException', 'InvalidAction']);

/** Warnings about what inspection had to assume; the run's logger gets them. */
export type InspectWarn = (message: string, extra?: object) => void;

const ACCESS_DENIED = new Set(['AccessDeniedException', 'AccessDenied']);

function notReadableMessage(keyRef: KeyRef, operation: string): string {
  return (
    `kms-reimport may not read key ${keyRef} (${operation}: AccessDeniedException). Its role may read only keys that carry the managed tag, ` +
    `so this is a key it does not manage, or a managed key whose key policy does not let the account's IAM policies work.`
  );
}

export function isAliasRef(keyRef: KeyRef): boolean {
  return keyRef.startsWith('alias/') || /^arn:[^:]+:kms:[^:]*:[^:]*:alias\//.test(keyRef);
}

function notFoundMessage(keyRef: KeyRef): string {
  if (isAliasRef(keyRef)) {
    return (
      `Alias ${keyRef} does not exist or points at no key in this account and Region. ` +
      `Check the alias name and Region (aws kms list-aliases), or pass the key ID or ARN instead.`
    );
  }
  return (
    `Key ${keyRef} does not exist in this account and Region. ` +
    `Check the key ID/ARN and the Region (aws kms describe-key --key-id ${keyRef}); a deleted key cannot be recovered.`
  );
}

function iso(date: Date | undefined): string | undefined {
  return date ? date.toISOString() : undefined;
}

export async function describeKeyMetadata(kms: KMSClient, keyRef: KeyRef, retry: RetryOptions = DEFAULT_RETRY): Promise<KeyMetadata> {
  let metadata: KeyMetadata | undefined;
  try {
    const out = await callWithRetry({ operation: 'DescribeKey', keyId: keyRef }, () => kms.send(new DescribeKeyCommand({ KeyId: keyRef })), retry);
    metadata = out?.KeyMetadata;
  } catch (e) {
    const name = awsErrorName(e);
    if (name === 'NotFoundException') throw new KeyNotFound(notFoundMessage(keyRef), { keyId: keyRef, cause: e });
    if (ACCESS_DENIED.has(name ?? '')) throw new KeyNotReadable(notReadableMessage(keyRef, 'DescribeKey'), { keyId: keyRef, cause: e });
    if (name === 'InvalidArnException') {
      throw new KeyNotFound(`${keyRef} is not a valid key ID, key ARN, alias name or alias ARN; check how the key was referenced.`, { keyId: keyRef, cause: e });
    }
    throw e;
  }
  if (!metadata?.KeyId) throw new KeyNotFound(notFoundMessage(keyRef), { keyId: keyRef });
  return metadata;
}

/** Every tag of the key (all pages). AWS errors are thrown as they are: tagsError names them. */
async function readTags(kms: KMSClient, keyRef: KeyRef, retry: RetryOptions): Promise<Record<string, string>> {
  const tags: Record<string, string> = {};
  let marker: string | undefined;
  do {
    const out = await callWithRetry(
      { operation: 'ListResourceTags', keyId: keyRef },
      () => kms.send(new ListResourceTagsCommand({ KeyId: keyRef, ...(marker ? { Marker: marker } : {}) })),
      retry,
    );
    for (const tag of out?.Tags ?? []) {
      if (tag.TagKey !== undefined) tags[tag.TagKey] = tag.TagValue ?? '';
    }
    marker = out?.Truncated ? out.NextMarker : undefined;
  } while (marker);
  return tags;
}

/** A ListResourceTags failure for key `keyId`: AccessDenied is KeyNotReadable, anything else as it came. */
function tagsError(e: unknown, keyId: string): unknown {
  if (ACCESS_DENIED.has(awsErrorName(e) ?? '')) return new KeyNotReadable(notReadableMessage(keyId, 'ListResourceTags'), { keyId, cause: e });
  return e;
}

/**
 * What ListKeyRotations said: the materials, `unavailable` (this endpoint or this key's state cannot
 * list them: the caller falls back to DescribeKey, warning with `warning` when there is one), or the
 * error to throw. Never thrown itself, so it can be asked before the key is known to need it.
 */
type MaterialsAnswer = { materials: MaterialInfo[] } | { unavailable: true; warning?: string } | { error: unknown };

async function listMaterials(kms: KMSClient, keyRef: KeyRef, retry: RetryOptions): Promise<MaterialsAnswer> {
  const materials: MaterialInfo[] = [];
  let marker: string | undefined;
  try {
    do {
      const out = await callWithRetry(
        { operation: 'ListKeyRotations', keyId: keyRef },
        () => kms.send(new ListKeyRotationsCommand({ KeyId: keyRef, IncludeKeyMaterial: 'ALL_KEY_MATERIAL', ...(marker ? { Marker: marker } : {}) })),
        retry,
      );
      for (const r of out?.Rotations ?? []) {
        const info: MaterialInfo = {};
        if (r.KeyMaterialId !== undefined) info.keyMaterialId = r.KeyMaterialId;
        if (r.KeyMaterialState !== undefined) info.state = r.KeyMaterialState;
        if (r.ImportState !== undefined) info.importState = r.ImportState;
        const validTo = iso(r.ValidTo);
        if (validTo !== undefined) info.validTo = validTo;
        if (r.ExpirationModel !== undefined) info.expirationModel = r.ExpirationModel;
        if (r.KeyMaterialDescription !== undefined) info.description = r.KeyMaterialDescription;
        const rotationDate = iso(r.RotationDate);
        if (rotationDate !== undefined) info.rotationDate = rotationDate;
        materials.push(info);
      }
      marker = out?.Truncated ? out.NextMarker : undefined;
    } while (marker);
  } catch (e) {
    const name = awsErrorName(e) ?? '';
    if (name === 'KMSInvalidStateException') return { unavailable: true };
    // An endpoint that lacks ListKeyRotations (another KMS implementation), or answers it with
    // something that is not JSON: the list is optional, DescribeKey names the current material.
    if (ROTATIONS_UNAVAILABLE.has(name) || isUnparsableResponse(e)) {
      return { unavailable: true, warning: isUnparsableResponse(e) ? 'the endpoint answered with something that is not JSON' : name };
    }
    return { error: e };
  }
  return { materials };
}

/** The materials from ListKeyRotations' answer, undefined when it could not list them (warning why, when it should). */
function materialsFrom(answer: MaterialsAnswer, keyId: string, warn: InspectWarn): MaterialInfo[] | undefined {
  if ('error' in answer) throw answer.error;
  if ('materials' in answer) return answer.materials;
  if (answer.warning !== undefined) {
    warn(
      `ListKeyRotations is not available for key ${keyId} (${answer.warning}): ` +
        `using DescribeKey's current material only. A key with one material is recovered as usual; a key with several (after a rotation) may need a plan first.`,
      { keyId, operation: 'ListKeyRotations' },
    );
  }
  return undefined;
}

/** KMS lists materials (ListKeyRotations with ALL_KEY_MATERIAL) for symmetric EXTERNAL keys that are not being deleted. */
function listsMaterials(m: KeyMetadata): boolean {
  const keySpec = m.KeySpec ?? m.CustomerMasterKeySpec ?? 'SYMMETRIC_DEFAULT';
  return m.Origin === 'EXTERNAL' && keySpec === 'SYMMETRIC_DEFAULT' && m.KeyState !== 'PendingDeletion';
}

/** The one material DescribeKey tells us about, when KMS cannot list them. */
function materialsFromMetadata(m: KeyMetadata): MaterialInfo[] {
  if (!m.CurrentKeyMaterialId) return [];
  const info: MaterialInfo = {
    keyMaterialId: m.CurrentKeyMaterialId,
    state: 'CURRENT',
    importState: m.KeyState === 'PendingImport' ? 'PENDING_IMPORT' : 'IMPORTED',
  };
  const validTo = iso(m.ValidTo);
  if (validTo !== undefined) info.validTo = validTo;
  if (m.ExpirationModel !== undefined) info.expirationModel = m.ExpirationModel;
  return [info];
}

/**
 * DescribeKey (ID, ARN, alias name or alias ARN), ListResourceTags (all pages) and, for symmetric
 * EXTERNAL keys, ListKeyRotations with ALL_KEY_MATERIAL (all pages; if KMS says the operation is
 * unsupported, or refuses it for the key's state, the current material from DescribeKey is used).
 *
 * One round trip when the reference is a key ID or key ARN: the three reads go out together (the
 * materials are asked for before DescribeKey says whether the key has a list; for a key that has
 * none, the answer is dropped unread). An alias (or anything that is not a key ID or ARN) names no
 * key until DescribeKey answers: then DescribeKey first, the other two together after it. (Bulk
 * work under request quotas, like the sweep, uses listKeyMaterials and keyReport instead, asking
 * only for what the key needs.)
 * DescribeKey's failure wins over the others' (it says why the key cannot be read); every call
 * has settled when this returns, so no request outlives the inspection.
 */
export async function inspectKey(kms: KMSClient, keyRef: KeyRef, retry: RetryOptions = DEFAULT_RETRY, warn: InspectWarn = () => {}): Promise<KeyReport> {
  const direct = parseKeyRef(keyRef);
  let m: KeyMetadata;
  let tagsRead: PromiseSettledResult<Record<string, string>>;
  let materialsRead: MaterialsAnswer | undefined;
  if (direct?.kind === 'key-id' || direct?.kind === 'key-arn') {
    const [described, tags, materials] = await Promise.allSettled([
      describeKeyMetadata(kms, keyRef, retry),
      readTags(kms, keyRef, retry),
      listMaterials(kms, keyRef, retry),
    ]);
    if (described.status === 'rejected') throw described.reason;
    m = described.value;
    tagsRead = tags;
    // listMaterials never rejects; a key KMS keeps no list for never needed the answer.
    materialsRead = materials.status === 'fulfilled' && listsMaterials(m) ? materials.value : undefined;
  } else {
    m = await describeKeyMetadata(kms, keyRef, retry);
    const id = m.KeyId as string;
    const [tags, materials] = await Promise.allSettled([readTags(kms, id, retry), listsMaterials(m) ? listMaterials(kms, id, retry) : Promise.resolve(undefined)]);
    tagsRead = tags;
    materialsRead = materials.status === 'fulfilled' ? materials.value : undefined;
  }
  const keyId = m.KeyId as string;
  if (tagsRead.status === 'rejected') throw tagsError(tagsRead.reason, keyId);
  const materials = materialsRead !== undefined ? materialsFrom(materialsRead, keyId, warn) : undefined;
  return keyReport(m, keyRef, tagsRead.value, materials);
}

/**
 * ListKeyRotations with ALL_KEY_MATERIAL (all pages) for a key the caller already described:
 * undefined when KMS cannot list them (unsupported, or refused for the key's state), warning why.
 */
export async function listKeyMaterials(kms: KMSClient, keyId: string, retry: RetryOptions = DEFAULT_RETRY, warn: InspectWarn = () => {}): Promise<MaterialInfo[] | undefined> {
  return materialsFrom(await listMaterials(kms, keyId, retry), keyId, warn);
}

/**
 * The KeyReport of what the caller already read: DescribeKey's metadata, the key's tags (from
 * ListResourceTags, or the Tagging API's GetResources) and its materials when listed (undefined:
 * the current one from DescribeKey, materialsListed false).
 */
export function keyReport(m: KeyMetadata, keyRef: KeyRef, tags: Record<string, string>, materials: MaterialInfo[] | undefined): KeyReport {
  const keyId = m.KeyId as string;
  const keySpec = m.KeySpec ?? m.CustomerMasterKeySpec ?? 'SYMMETRIC_DEFAULT';
  const report: KeyReport = {
    keyId,
    arn: m.Arn ?? keyId,
    requestedRef: keyRef,
    keyState: m.KeyState ?? 'Unknown',
    origin: m.Origin ?? 'Unknown',
    keySpec,
    keyUsage: m.KeyUsage ?? 'Unknown',
    multiRegion: m.MultiRegion === true,
    tags,
    materials: materials ?? materialsFromMetadata(m),
    materialsListed: materials !== undefined,
  };
  if (m.MultiRegionConfiguration?.MultiRegionKeyType !== undefined) report.multiRegionKeyType = m.MultiRegionConfiguration.MultiRegionKeyType;
  if (m.MultiRegionConfiguration?.PrimaryKey?.Region !== undefined) report.primaryRegion = m.MultiRegionConfiguration.PrimaryKey.Region;
  if (m.MultiRegionConfiguration?.ReplicaKeys !== undefined) {
    report.replicaRegions = m.MultiRegionConfiguration.ReplicaKeys.map((r) => r.Region).filter((r): r is string => r !== undefined);
  }
  if (m.ExpirationModel !== undefined) report.expirationModel = m.ExpirationModel;
  const created = iso(m.CreationDate);
  if (created !== undefined) report.creationDate = created;
  const validTo = iso(m.ValidTo);
  if (validTo !== undefined) report.validTo = validTo;
  if (m.CurrentKeyMaterialId !== undefined) report.currentKeyMaterialId = m.CurrentKeyMaterialId;
  if (m.SigningAlgorithms?.length) report.signingAlgorithms = [...m.SigningAlgorithms];
  if (m.MacAlgorithms?.length) report.macAlgorithms = [...m.MacAlgorithms];
  if (m.EncryptionAlgorithms?.length) report.encryptionAlgorithms = [...m.EncryptionAlgorithms];
  return report;
}

/**
 * What an alias that encrypts an escrow secret points at, for the escrow health check
 * (lib/escrow/self-encryption.ts ResolveAlias): the key's ID; `not-found` (no such alias); `other-key` when
 * the caller may not describe it (the service reads managed keys only, so it is not the key being
 * checked); `unknown` otherwise.
 */
export async function describeAliasTarget(kms: KMSClient, alias: string, retry: RetryOptions = DEFAULT_RETRY): Promise<AliasTarget> {
  try {
    return { keyId: (await describeKeyMetadata(kms, alias, retry)).KeyId as string };
  } catch (e) {
    if (e instanceof KeyNotFound) return 'not-found';
    if (e instanceof KeyNotReadable || ACCESS_DENIED.has(awsErrorName(e) ?? '')) return 'other-key';
    return 'unknown';
  }
}

/**
 * describeAliasTarget remembered per alias, for checking many escrow secrets at once (the sweep,
 * doctor): many secrets usually share one escrow key, so each alias is described once.
 */
export function cachedAliasResolver(kms: KMSClient, retry: RetryOptions = DEFAULT_RETRY): ResolveAlias {
  const cache = new Map<string, Promise<AliasTarget>>();
  return (alias) => {
    let target = cache.get(alias);
    if (!target) {
      target = describeAliasTarget(kms, alias, retry);
      cache.set(alias, target);
    }
    return target;
  };
}
