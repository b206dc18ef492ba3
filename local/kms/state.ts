// The KMS key store: plain JSON records per account and region, lazily aged against the
// endpoint clock (material expiry at ValidTo, key deletion at DeletionDate): aging.ts queues the
// moments, resolveKey ages the one key it resolves.
import type { RequestScope } from '../service.js';
import { arnFor, PARTITION_SOURCE, PARTITIONS, partitionOf } from '../partitions.js';
import { kmsError } from './errors.js';
import { algorithmsFor, type KeySpec, type KeyUsage } from './specs.js';
import type { WrappingAlgorithm, WrappingKeySpec } from './specs.js';

export type Origin = 'AWS_KMS' | 'EXTERNAL';
export type MaterialState = 'CURRENT' | 'NON_CURRENT' | 'PENDING_ROTATION' | 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION';
export type ExpirationModel = 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE';
export type KeyState = 'Enabled' | 'Disabled' | 'PendingImport' | 'PendingDeletion';

/** One key material associated with a key. `material` is absent while it is not imported (expired, deleted, not yet imported). */
export interface MaterialRecord {
  id: string;
  state: MaterialState;
  /** Base64 of the raw material (symmetric/HMAC bytes, or PKCS#8 DER private key). */
  material?: string;
  expirationModel?: ExpirationModel;
  /** Epoch ms. */
  validTo?: number;
  description?: string;
  /** Epoch ms of the rotation that made this material current. */
  rotationDate?: number;
  rotationType?: 'ON_DEMAND' | 'AUTOMATIC';
}

/** One GetParametersForImport answer, kept so ImportKeyMaterial can check its token. */
export interface ImportParametersRecord {
  tokenId: string;
  wrappingAlgorithm: WrappingAlgorithm;
  wrappingKeySpec: WrappingKeySpec;
  /** Base64 PKCS#8 DER of the wrapping private key. */
  privateKey: string;
  issuedAt: number;
  validTo: number;
  used: boolean;
}

export interface KeyRecord {
  keyId: string;
  arn: string;
  account: string;
  region: string;
  creationDate: number;
  description: string;
  keySpec: KeySpec;
  keyUsage: KeyUsage;
  origin: Origin;
  /** What EnableKey/DisableKey last said; the visible state also depends on material and deletion. */
  enabled: boolean;
  deletionDate?: number;
  pendingWindowInDays?: number;
  multiRegion?: { type: 'PRIMARY' | 'REPLICA'; primaryRegion: string; replicaRegions: string[] };
  tags: { TagKey: string; TagValue: string }[];
  materials: MaterialRecord[];
  onDemandRotations: number;
  importParameters: ImportParametersRecord[];
  /** Set by the first successful ImportKeyMaterial into this key (in this Region). */
  everImported?: boolean;
  /** The key policy given to CreateKey; absent: the default key policy. */
  policy?: string;
}

export interface AliasRecord {
  name: string;
  targetKeyId: string;
  creationDate: number;
  lastUpdatedDate: number;
}

export interface RegionState {
  keys: Record<string, KeyRecord>;
  aliases: Record<string, AliasRecord>;
}

export interface KmsState {
  /** `${account}/${region}` → that key space. */
  regions: Record<string, RegionState>;
}

export function regionState(state: KmsState, account: string, region: string): RegionState {
  const id = `${account}/${region}`;
  let space = state.regions[id];
  if (!space) {
    space = { keys: {}, aliases: {} };
    state.regions[id] = space;
  }
  return space;
}

/** A key's ARN, in the partition of its Region (`arn:aws-eusc:kms:eusc-de-east-1:...`). */
export function keyArn(region: string, account: string, keyId: string): string {
  return arnFor('kms', region, account, `key/${keyId}`);
}

export function aliasArn(region: string, account: string, name: string): string {
  return arnFor('kms', region, account, name);
}

const KEY_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;
const ARN = new RegExp(`^arn:${PARTITION_SOURCE}:kms:([a-z0-9-]+):(\\d{12}):(key\\/.+|alias\\/.+)$`);

/** Material that permanently belongs to the key: it must be present for the key to be usable. */
export function isPermanent(m: MaterialRecord): boolean {
  return m.state === 'CURRENT' || m.state === 'NON_CURRENT';
}

/**
 * Ages a key to `now`: imported material past its ValidTo is deleted (pending-rotation material
 * is dropped, it was never permanently associated). Returns false when the key's deletion date
 * has passed (the caller removes it).
 */
export function ageKey(key: KeyRecord, now: number): boolean {
  if (key.deletionDate !== undefined && key.deletionDate <= now) return false;
  key.materials = key.materials.filter((m) => {
    if (m.material !== undefined && m.expirationModel === 'KEY_MATERIAL_EXPIRES' && m.validTo !== undefined && m.validTo <= now) {
      // Material waiting for rotation was never permanently associated: it goes away with its
      // ValidTo (a replica keeps the record, so the same material can be imported again).
      if (!isPermanent(m) && key.multiRegion?.type !== 'REPLICA') return false;
      delete m.material;
    }
    return true;
  });
  return true;
}

export function keyState(key: KeyRecord): KeyState {
  if (key.deletionDate !== undefined) return 'PendingDeletion';
  const permanent = key.materials.filter(isPermanent);
  if (permanent.length === 0 || permanent.some((m) => m.material === undefined)) return 'PendingImport';
  return key.enabled ? 'Enabled' : 'Disabled';
}

export function currentMaterial(key: KeyRecord): MaterialRecord | undefined {
  return key.materials.find((m) => m.state === 'CURRENT');
}

/** Resolves a KeyId member (key id, key ARN, and, where allowed, alias name or alias ARN) in the caller's key space. */
export function resolveKey(
  state: KmsState,
  scope: RequestScope,
  now: number,
  keyIdInput: string,
  opts: { aliases: boolean } = { aliases: true },
): KeyRecord {
  const space = regionState(state, scope.account, scope.region);
  let ref = keyIdInput;
  if (ref.startsWith('arn:')) {
    const m = ARN.exec(ref);
    if (!m) {
      throw kmsError(
        'InvalidArnException',
        `Invalid arn ${ref}: a KMS ARN looks like arn:PARTITION:kms:REGION:ACCOUNT:key/KEY_ID or arn:PARTITION:kms:REGION:ACCOUNT:alias/NAME, PARTITION one of ${PARTITIONS.join(', ')}`,
      );
    }
    const partition = partitionOf(scope.region);
    if (m[1] !== partition || m[2] !== scope.region || m[3] !== scope.account) {
      throw kmsError(
        'NotFoundException',
        `Key '${ref}' does not exist in account ${scope.account} region ${scope.region} (partition ${partition}); call the partition, region and account the ARN names`,
      );
    }
    ref = m[4]!;
    if (ref.startsWith('key/')) ref = ref.slice(4);
  }
  if (ref.startsWith('alias/')) {
    if (!opts.aliases) {
      throw kmsError('NotFoundException', `Invalid keyId ${keyIdInput}: this operation takes a key ID or key ARN, not an alias`);
    }
    const alias = space.aliases[ref];
    const key = alias ? space.keys[alias.targetKeyId] : undefined;
    if (!key || !ageKey(key, now)) throw kmsError('NotFoundException', `Alias ${aliasArn(scope.region, scope.account, ref)} is not found.`);
    return key;
  }
  if (!KEY_ID.test(ref)) {
    throw kmsError('NotFoundException', `Invalid keyId '${keyIdInput}': use a key ID, key ARN, alias name or alias ARN`);
  }
  const key = space.keys[ref];
  // Past its DeletionDate a key is gone (the ageing queue removes it, with its aliases).
  if (!key || !ageKey(key, now)) throw kmsError('NotFoundException', `Key '${keyArn(scope.region, scope.account, ref)}' does not exist`);
  return key;
}

/** KeyMetadata exactly as DescribeKey returns it (timestamps in epoch seconds). */
export function keyMetadata(state: KmsState, key: KeyRecord): Record<string, unknown> {
  const status = keyState(key);
  const permanentImported = key.materials.filter((m) => isPermanent(m) && m.material !== undefined);
  const meta: Record<string, unknown> = {
    AWSAccountId: key.account,
    KeyId: key.keyId,
    Arn: key.arn,
    CreationDate: key.creationDate / 1000,
    Enabled: status === 'Enabled',
    Description: key.description,
    KeyUsage: key.keyUsage,
    KeyState: status,
    Origin: key.origin,
    KeyManager: 'CUSTOMER',
    CustomerMasterKeySpec: key.keySpec,
    KeySpec: key.keySpec,
    ...algorithmsFor(key.keySpec, key.keyUsage),
    MultiRegion: key.multiRegion !== undefined,
  };
  if (key.deletionDate !== undefined) {
    meta['DeletionDate'] = key.deletionDate / 1000;
    meta['PendingDeletionWindowInDays'] = key.pendingWindowInDays;
  }
  if (key.origin === 'EXTERNAL' && permanentImported.length > 0) {
    const expiring = permanentImported.filter((m) => m.expirationModel === 'KEY_MATERIAL_EXPIRES' && m.validTo !== undefined);
    if (expiring.length > 0) {
      meta['ExpirationModel'] = 'KEY_MATERIAL_EXPIRES';
      meta['ValidTo'] = Math.min(...expiring.map((m) => m.validTo!)) / 1000;
    } else {
      meta['ExpirationModel'] = 'KEY_MATERIAL_DOES_NOT_EXPIRE';
    }
  }
  const current = currentMaterial(key);
  if (current) meta['CurrentKeyMaterialId'] = current.id;
  if (key.multiRegion) meta['MultiRegionConfiguration'] = multiRegionConfiguration(state, key);
  return meta;
}

export function multiRegionConfiguration(state: KmsState, key: KeyRecord): Record<string, unknown> {
  const mr = key.multiRegion!;
  const primary = regionState(state, key.account, mr.primaryRegion).keys[key.keyId];
  const replicaRegions = primary?.multiRegion?.replicaRegions ?? [];
  return {
    MultiRegionKeyType: mr.type,
    PrimaryKey: { Arn: keyArn(mr.primaryRegion, key.account, key.keyId), Region: mr.primaryRegion },
    ReplicaKeys: replicaRegions.map((r) => ({ Arn: keyArn(r, key.account, key.keyId), Region: r })),
  };
}

/** Pagination over a list with KMS's Marker/NextMarker/Truncated (marker = opaque offset). */
export function paginate<T>(items: T[], limit: number, marker: string | undefined): { page: T[]; NextMarker?: string; Truncated: boolean } {
  let start = 0;
  if (marker !== undefined) {
    const decoded = /^o(\d+)$/.exec(Buffer.from(marker, 'base64url').toString('utf8'));
    if (!decoded) throw kmsError('InvalidMarkerException', `Invalid marker '${marker}': pass the NextMarker of the previous response unchanged`);
    start = Number(decoded[1]);
  }
  const page = items.slice(start, start + limit);
  const end = start + page.length;
  if (end < items.length) {
    return { page, NextMarker: Buffer.from(`o${end}`).toString('base64url'), Truncated: true };
  }
  return { page, Truncated: false };
}
