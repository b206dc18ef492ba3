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
import { callWithRetry, type RetryOptions } from '../retry.js';
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

async function readTags(kms: KMSClient, keyId: string, retry: RetryOptions): Promise<Record<string, string>> {
  const tags: Record<string, string> = {};
  let marker: string | undefined;
  do {
    let out;
    try {
      out = await callWithRetry(
        { operation: 'ListResourceTags', keyId },
        () => kms.send(new ListResourceTagsCommand({ KeyId: keyId, ...(marker ? { Marker: marker } : {}) })),
        retry,
      );
    } catch (e) {
      if (ACCESS_DENIED.has(awsErrorName(e) ?? '')) throw new KeyNotReadable(notReadableMessage(keyId, 'ListResourceTags'), { keyId, cause: e });
      throw e;
    }
    for (const tag of out?.Tags ?? []) {
      if (tag.TagKey !== undefined) tags[tag.TagKey] = tag.TagValue ?? '';
    }
    marker = out?.Truncated ? out.NextMarker : undefined;
  } while (marker);
  return tags;
}

async function listMaterials(kms: KMSClient, keyId: string, retry: RetryOptions, warn: InspectWarn): Promise<MaterialInfo[] | undefined> {
  const materials: MaterialInfo[] = [];
  let marker: string | undefined;
  try {
    do {
      const out = await callWithRetry(
        { operation: 'ListKeyRotations', keyId },
        () => kms.send(new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL', ...(marker ? { Marker: marker } : {}) })),
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
    if (name === 'KMSInvalidStateException') return undefined;
    // An endpoint that lacks ListKeyRotations (another KMS implementation), or answers it with
    // something that is not JSON: the list is optional, DescribeKey names the current material.
    if (ROTATIONS_UNAVAILABLE.has(name) || isUnparsableResponse(e)) {
      warn(
        `ListKeyRotations is not available for key ${keyId} (${isUnparsableResponse(e) ? 'the endpoint answered with something that is not JSON' : name}): ` +
          `using DescribeKey's current material only. A key with one material is recovered as usual; a key with several (after a rotation) may need a plan first.`,
        { keyId, operation: 'ListKeyRotations' },
      );
      return undefined;
    }
    throw e;
  }
  return materials;
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
 */
export async function inspectKey(kms: KMSClient, keyRef: KeyRef, retry: RetryOptions = DEFAULT_RETRY, warn: InspectWarn = () => {}): Promise<KeyReport> {
  const m = await describeKeyMetadata(kms, keyRef, retry);
  const keyId = m.KeyId as string;
  const tags = await readTags(kms, keyId, retry);
  const keySpec = m.KeySpec ?? m.CustomerMasterKeySpec ?? 'SYMMETRIC_DEFAULT';
  let materials: MaterialInfo[] | undefined;
  if (m.Origin === 'EXTERNAL' && keySpec === 'SYMMETRIC_DEFAULT' && m.KeyState !== 'PendingDeletion') {
    materials = await listMaterials(kms, keyId, retry, warn);
  }
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
