// GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial.
import { type KeyObject, randomBytes } from 'node:crypto';
import { type OperationContext, ServiceError } from '../service.js';
import type { KmsContext } from './context.js';
import { kmsError } from './errors.js';
import { type Input, optionalEnum, optionalString, optionalTimestamp, requiredBlob, requiredEnum, requiredString } from './input.js';
import { checkMaterial, materialId } from './material.js';
import { SPECS, WRAPPING_ALGORITHMS, WRAPPING_KEY_SPECS } from './specs.js';
import {
  type ImportParametersRecord,
  isPermanent,
  keyState,
  type KeyRecord,
  type MaterialRecord,
  regionState,
  resolveKey,
} from './state.js';
import { type RsaWrappingKeySpec, unwrapKeyMaterial } from './wrapping.js';

const DAY_MS = 86_400_000;
const TOKEN_MAGIC = Buffer.from('LKIT');
/** How many earlier import parameters a key remembers (to tell "expired" from "unknown"). */
const KEPT_PARAMETERS = 32;

function requireExternal(key: KeyRecord, operation: string): void {
  if (key.origin !== 'EXTERNAL') {
    throw kmsError(
      'UnsupportedOperationException',
      `${key.arn} has origin ${key.origin}; ${operation} works only on keys created with Origin EXTERNAL (imported key material).`,
    );
  }
}

export async function getParametersForImport(kms: KmsContext, input: Input, ctx: OperationContext) {
  const now = ctx.clock.now();
  const key = resolveKey(kms.state, ctx.scope, now, requiredString(input, 'KeyId', { max: 2048 }), { aliases: false });
  const algorithm = requiredEnum(input, 'WrappingAlgorithm', WRAPPING_ALGORITHMS);
  const wrappingKeySpec = requiredEnum(input, 'WrappingKeySpec', WRAPPING_KEY_SPECS);
  requireExternal(key, 'GetParametersForImport');
  if (keyState(key) === 'PendingDeletion') {
    throw kmsError('KMSInvalidStateException', `${key.arn} is pending deletion; cancel the deletion (CancelKeyDeletion) before importing key material.`);
  }
  if (algorithm === 'RSAES_PKCS1_V1_5') {
    throw kmsError(
      'ValidationException',
      `Wrapping algorithm RSAES_PKCS1_V1_5 is no longer supported (since 2023-10-10); use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256 for ${key.arn}.`,
    );
  }
  if (algorithm === 'SM2PKE' || wrappingKeySpec === 'SM2') {
    throw kmsError('UnsupportedOperationException', `SM2 wrapping (${algorithm}, ${wrappingKeySpec}) is available only in China Regions; use an RSA wrapping key spec for ${key.arn}.`);
  }
  const family = SPECS[key.keySpec].family;
  if (algorithm.startsWith('RSAES_OAEP') && family === 'rsa') {
    throw kmsError(
      'ValidationException',
      `${key.arn} is an ${key.keySpec} key: RSA private key material is too large for ${algorithm}; use RSA_AES_KEY_WRAP_SHA_256 (or RSA_AES_KEY_WRAP_SHA_1).`,
    );
  }
  if (algorithm.startsWith('RSAES_OAEP') && key.keySpec === 'ECC_NIST_P521' && wrappingKeySpec === 'RSA_2048') {
    throw kmsError(
      'ValidationException',
      `${key.arn} is an ECC_NIST_P521 key: its material does not fit ${algorithm} with an RSA_2048 wrapping key; use RSA_3072/RSA_4096 or RSA_AES_KEY_WRAP_SHA_256.`,
    );
  }
  if (algorithm.startsWith('RSA_AES_KEY_WRAP') && (family === 'symmetric' || family === 'hmac') && kms.options.rsaAesForSymmetric === 'refuse-parameters') {
    throw kmsError(
      'ValidationException',
      `${key.arn} is a ${key.keySpec} key: ${algorithm} is for RSA and ECC key material only; wrap symmetric and HMAC material with RSAES_OAEP_SHA_256 (or RSAES_OAEP_SHA_1).`,
    );
  }
  const pair = await kms.wrappingKeys.take(wrappingKeySpec as RsaWrappingKeySpec);
  const tokenId = randomBytes(16).toString('hex');
  const record: ImportParametersRecord = {
    tokenId,
    wrappingAlgorithm: algorithm,
    wrappingKeySpec,
    privateKey: pair.privateKey.toString('base64'),
    issuedAt: now,
    validTo: now + DAY_MS,
    used: false,
  };
  parsedWrappingKeys.set(record, pair.privateKeyObject);
  key.importParameters.push(record);
  if (key.importParameters.length > KEPT_PARAMETERS) key.importParameters.splice(0, key.importParameters.length - KEPT_PARAMETERS);
  const token = Buffer.concat([TOKEN_MAGIC, Buffer.from(tokenId, 'hex'), Buffer.from(key.keyId, 'utf8'), randomBytes(32)]);
  return { KeyId: key.arn, ImportToken: token.toString('base64'), PublicKey: pair.publicKey.toString('base64'), ParametersValidTo: record.validTo / 1000 };
}

/**
 * The wrapping private key of each issued set of parameters, parsed once when it is issued (the
 * record keeps the DER, base64, for the state file). A record restored from a state file has no
 * entry: its DER is parsed at import, with the same result.
 */
const parsedWrappingKeys = new WeakMap<ImportParametersRecord, KeyObject>();

function parseToken(token: Buffer): { tokenId: string; keyId: string } | undefined {
  if (token.length < TOKEN_MAGIC.length + 16 + 32 + 1 || !token.subarray(0, 4).equals(TOKEN_MAGIC)) return undefined;
  return {
    tokenId: token.subarray(4, 20).toString('hex'),
    keyId: token.subarray(20, token.length - 32).toString('utf8'),
  };
}

function checkToken(kms: KmsContext, key: KeyRecord, token: Buffer, now: number): ImportParametersRecord {
  const parsed = parseToken(token);
  const fresh = `Call GetParametersForImport for ${key.arn} and wrap the material under the new public key.`;
  if (!parsed) throw kmsError('InvalidImportTokenException', `The import token is not an import token issued by this endpoint for ${key.arn}. ${fresh}`);
  const record = key.importParameters.find((p) => p.tokenId === parsed.tokenId);
  if (!record) {
    if (parsed.keyId !== key.keyId) {
      throw kmsError('InvalidImportTokenException', `The import token was issued for another KMS key (${parsed.keyId}), not for ${key.arn}. ${fresh}`);
    }
    throw kmsError('InvalidImportTokenException', `The import token is not known for ${key.arn} (it may be too old). ${fresh}`);
  }
  if (record.validTo <= now) {
    throw kmsError(
      'ExpiredImportTokenException',
      `The import token for ${key.arn} expired at ${new Date(record.validTo).toISOString()} (import parameters are valid for 24 hours). ${fresh}`,
    );
  }
  const newest = key.importParameters[key.importParameters.length - 1];
  if (kms.options.earlierTokens === 'invalid' && newest && newest.tokenId !== record.tokenId) {
    throw kmsError(
      'InvalidImportTokenException',
      `The import token for ${key.arn} was superseded by a newer GetParametersForImport request; only the newest import token of a key is valid. Use the newest parameters, or request new ones.`,
    );
  }
  if (record.used && kms.options.importTokenUse === 'single') {
    throw kmsError('InvalidImportTokenException', `The import token for ${key.arn} was already used for a successful import; an import token is good for one import. ${fresh}`);
  }
  return record;
}

/** Multi-Region: new material of a primary is PENDING_ROTATION only once every replica holds it. */
export function syncMultiRegionPending(kms: KmsContext, primary: KeyRecord): void {
  if (primary.multiRegion?.type !== 'PRIMARY' || primary.origin !== 'EXTERNAL') return;
  for (const m of primary.materials) {
    if (m.state !== 'PENDING_ROTATION' && m.state !== 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION') continue;
    const allReplicasHaveIt = primary.multiRegion.replicaRegions.every((r) => {
      const replica = regionState(kms.state, primary.account, r).keys[primary.keyId];
      const rm = replica?.materials.find((x) => x.id === m.id);
      return rm !== undefined && rm.material !== undefined;
    });
    m.state = allReplicasHaveIt ? 'PENDING_ROTATION' : 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION';
  }
}

function replicasOf(kms: KmsContext, primary: KeyRecord): KeyRecord[] {
  if (primary.multiRegion?.type !== 'PRIMARY') return [];
  return primary.multiRegion.replicaRegions
    .map((r) => regionState(kms.state, primary.account, r).keys[primary.keyId])
    .filter((k): k is KeyRecord => k !== undefined);
}

function primaryOf(kms: KmsContext, key: KeyRecord): KeyRecord | undefined {
  if (key.multiRegion?.type !== 'REPLICA') return undefined;
  return regionState(kms.state, key.account, key.multiRegion.primaryRegion).keys[key.keyId];
}

/**
 * NotFoundException on an import that names a KeyMaterialId has two causes, and the error name
 * alone does not say which: no such key (in this account and Region), or no such material
 * associated with the key. Both messages name both, so a client reading one does not conclude
 * more than KMS told it.
 */
function materialNotFound(keyRef: string, materialIdInput: string, found: 'no-key' | 'no-material'): never {
  const cause =
    found === 'no-key'
      ? `the key ${keyRef} does not exist in this account and Region`
      : `key material ${materialIdInput} is not associated with ${keyRef}`;
  throw kmsError(
    'NotFoundException',
    `Key ${keyRef} or its key material ${materialIdInput} was not found: NotFoundException on an import with a KeyMaterialId means either the key does not exist or that material is not associated with the key (here ${cause}). Check the key ID, Region and account, and list the key's materials with ListKeyRotations (IncludeKeyMaterial ALL_KEY_MATERIAL).`,
  );
}

export function importKeyMaterial(kms: KmsContext, input: Input, ctx: OperationContext) {
  const now = ctx.clock.now();
  const keyIdInput = requiredString(input, 'KeyId', { max: 2048 });
  let key: KeyRecord;
  try {
    key = resolveKey(kms.state, ctx.scope, now, keyIdInput, { aliases: false });
  } catch (e) {
    const named = input['KeyMaterialId'];
    if (e instanceof ServiceError && e.type === 'NotFoundException' && typeof named === 'string') materialNotFound(keyIdInput, named, 'no-key');
    throw e;
  }
  const token = requiredBlob(input, 'ImportToken', { max: 6144 });
  const encrypted = requiredBlob(input, 'EncryptedKeyMaterial', { max: 6144 });
  const expirationModel =
    optionalEnum(input, 'ExpirationModel', ['KEY_MATERIAL_EXPIRES', 'KEY_MATERIAL_DOES_NOT_EXPIRE'] as const) ?? 'KEY_MATERIAL_EXPIRES';
  const validTo = optionalTimestamp(input, 'ValidTo');
  const importTypeInput = optionalEnum(input, 'ImportType', ['NEW_KEY_MATERIAL', 'EXISTING_KEY_MATERIAL'] as const);
  const description = optionalString(input, 'KeyMaterialDescription', { min: 0, max: 256 });
  // The model's KeyMaterialDescriptionType pattern: letters, digits, whitespace and : / _ . - only.
  if (description !== undefined && description !== '' && !/^[a-zA-Z0-9:/_\s.-]+$/.test(description)) {
    throw kmsError(
      'ValidationException',
      "1 validation error detected: Value at 'keyMaterialDescription' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_\\s.-]+$",
    );
  }
  const idInput = optionalString(input, 'KeyMaterialId', { max: 64 });
  requireExternal(key, 'ImportKeyMaterial');
  if (keyState(key) === 'PendingDeletion') {
    throw kmsError('KMSInvalidStateException', `${key.arn} is pending deletion; cancel the deletion (CancelKeyDeletion) before importing key material.`);
  }
  if (keyState(key) === 'Disabled') {
    throw kmsError(
      'KMSInvalidStateException',
      `${key.arn} is Disabled; ImportKeyMaterial needs a key that is PendingImport or Enabled. Enable the key (EnableKey) first if you mean to change its material.`,
    );
  }
  if ((importTypeInput !== undefined || idInput !== undefined) && SPECS[key.keySpec].family !== 'symmetric') {
    throw kmsError(
      'ValidationException',
      `ImportType and KeyMaterialId apply only to symmetric encryption keys; ${key.arn} is ${key.keySpec}. Omit them to reimport its material.`,
    );
  }
  if (idInput !== undefined && !/^[0-9a-f]{64}$/.test(idInput)) {
    throw kmsError('ValidationException', `KeyMaterialId ${idInput} is not a key material ID (64 lowercase hexadecimal characters); list them with ListKeyRotations.`);
  }
  if (expirationModel === 'KEY_MATERIAL_EXPIRES') {
    if (validTo === undefined) {
      throw kmsError('ValidationException', `ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES (the default); send a ValidTo for ${key.arn} or use KEY_MATERIAL_DOES_NOT_EXPIRE.`);
    }
    if (validTo <= now) {
      throw kmsError('ValidationException', `ValidTo ${new Date(validTo).toISOString()} for ${key.arn} is not in the future; send a later ValidTo.`);
    }
    if (validTo > now + 365 * DAY_MS) {
      throw kmsError('ValidationException', `ValidTo ${new Date(validTo).toISOString()} for ${key.arn} is more than 365 days from now; send a ValidTo at most 365 days ahead.`);
    }
  } else if (validTo !== undefined) {
    throw kmsError('ValidationException', `ValidTo is not allowed when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE (${key.arn}); omit ValidTo.`);
  }
  const replicaFirst = key.multiRegion?.type === 'REPLICA' && !key.everImported && !key.materials.some((m) => m.material !== undefined);
  if (replicaFirst && SPECS[key.keySpec].family === 'symmetric') checkReplicaFirstImport(kms, key, importTypeInput);
  const importType =
    importTypeInput ??
    (replicaFirst && SPECS[key.keySpec].family === 'symmetric'
      ? kms.options.replicaFirstImport === 'new-required'
        ? 'NEW_KEY_MATERIAL'
        : 'EXISTING_KEY_MATERIAL'
      : key.materials.length === 0
        ? 'NEW_KEY_MATERIAL'
        : 'EXISTING_KEY_MATERIAL');
  if (importType === 'NEW_KEY_MATERIAL' && idInput !== undefined) {
    throw kmsError('ValidationException', `KeyMaterialId cannot be combined with ImportType NEW_KEY_MATERIAL (${key.arn}); KMS assigns the ID of new material.`);
  }
  const parameters = checkToken(kms, key, token, now);
  const family = SPECS[key.keySpec].family;
  if (parameters.wrappingAlgorithm.startsWith('RSA_AES_KEY_WRAP') && (family === 'symmetric' || family === 'hmac') && kms.options.rsaAesForSymmetric !== 'allow') {
    // Parameters issued under 'refuse-import' (or before the option changed): KMS does not take
    // RSA_AES-wrapped symmetric or HMAC material, whatever the token says.
    throw kmsError(
      'InvalidCiphertextException',
      `KMS cannot unwrap ${parameters.wrappingAlgorithm}-wrapped key material for ${key.arn}, a ${key.keySpec} key: RSA_AES_KEY_WRAP is for RSA and ECC key material only. ` +
        `Call GetParametersForImport with RSAES_OAEP_SHA_256 and wrap the material with RSA-OAEP.`,
    );
  }
  const unwrapped = unwrapKeyMaterial(parameters.wrappingAlgorithm, parsedWrappingKeys.get(parameters) ?? Buffer.from(parameters.privateKey, 'base64'), encrypted, key.arn);
  let canonical: Buffer;
  try {
    canonical = checkMaterial(key.keySpec, unwrapped, key.arn);
  } finally {
    unwrapped.fill(0);
  }
  try {
    const id = materialId(key.keyId, canonical);
    const expiry = expirationModel === 'KEY_MATERIAL_EXPIRES' ? { expirationModel, validTo } : { expirationModel };
    let target: MaterialRecord;
    if (importType === 'NEW_KEY_MATERIAL' && replicaFirst) {
      target = importReplicaFirstAsNew(key, id);
    } else if (importType === 'NEW_KEY_MATERIAL') {
      target = importNew(kms, key, id);
    } else {
      target = importExisting(kms, key, id, idInput);
    }
    target.material = canonical.toString('base64');
    target.expirationModel = expiry.expirationModel;
    if (expiry.validTo !== undefined) target.validTo = expiry.validTo;
    else delete target.validTo;
    if (description !== undefined) target.description = description;
    parameters.used = true;
    key.everImported = true;
    kms.aging.schedule(key);
    const primary = primaryOf(kms, key);
    if (primary) syncMultiRegionPending(kms, primary);
    syncMultiRegionPending(kms, key);
    return { KeyId: key.arn, KeyMaterialId: id };
  } finally {
    canonical.fill(0);
  }
}

/** The replicaFirstImport option: which explicit ImportType a replica's first import may carry. */
function checkReplicaFirstImport(kms: KmsContext, key: KeyRecord, importType: 'NEW_KEY_MATERIAL' | 'EXISTING_KEY_MATERIAL' | undefined): void {
  const rule = kms.options.replicaFirstImport;
  const primaryRegion = key.multiRegion?.primaryRegion;
  if (rule === 'existing-required' && importType === 'NEW_KEY_MATERIAL') {
    throw kmsError(
      'UnsupportedOperationException',
      `${key.arn} is a multi-Region replica key: its first import brings its primary's material (in ${primaryRegion}), so send ImportType EXISTING_KEY_MATERIAL (this endpoint: replicaFirstImport 'existing-required').`,
    );
  }
  if (rule === 'new-required' && importType === 'EXISTING_KEY_MATERIAL') {
    throw kmsError(
      'IncorrectKeyMaterialException',
      `${key.arn} is a multi-Region replica key that has never had key material in this Region, so there is no existing material to reimport; send ImportType NEW_KEY_MATERIAL (or omit it) for its first import (this endpoint: replicaFirstImport 'new-required').`,
    );
  }
}

/** A replica's first import sent (or defaulted) as NEW_KEY_MATERIAL: it must be material of its primary. */
function importReplicaFirstAsNew(key: KeyRecord, id: string): MaterialRecord {
  if (key.materials.length === 0) {
    const record: MaterialRecord = { id, state: 'CURRENT' };
    key.materials.push(record);
    return record;
  }
  const expected = key.materials.find((m) => m.id === id);
  if (!expected) {
    throw kmsError(
      'IncorrectKeyMaterialException',
      `The imported key material is not key material of ${key.arn}'s primary key in ${key.multiRegion?.primaryRegion}; import into a replica exactly the material imported into its primary.`,
    );
  }
  return expected;
}

function importNew(kms: KmsContext, key: KeyRecord, id: string): MaterialRecord {
  if (key.materials.length === 0) {
    const record: MaterialRecord = { id, state: 'CURRENT' };
    key.materials.push(record);
    return record;
  }
  if (SPECS[key.keySpec].family !== 'symmetric') {
    throw kmsError(
      'IncorrectKeyMaterialException',
      `${key.arn} is a ${key.keySpec} key and already has key material; only symmetric encryption keys take new key material. Reimport the same material with ImportType EXISTING_KEY_MATERIAL.`,
    );
  }
  if (key.multiRegion?.type === 'REPLICA') {
    throw kmsError(
      'UnsupportedOperationException',
      `${key.arn} is a multi-Region replica key: import new key material into the primary key in ${key.multiRegion.primaryRegion}, then the same material into this replica with ImportType EXISTING_KEY_MATERIAL.`,
    );
  }
  if (key.materials.some((m) => m.id === id)) {
    throw kmsError(
      'IncorrectKeyMaterialException',
      `The key material is already associated with ${key.arn} (KeyMaterialId ${id}); NEW_KEY_MATERIAL needs material the key has never had. To reimport it, use ImportType EXISTING_KEY_MATERIAL.`,
    );
  }
  const pending = key.materials.find((m) => !isPermanent(m));
  if (pending) {
    throw kmsError(
      'KMSInvalidStateException',
      `${key.arn} already has new key material ${pending.id} waiting for rotation (${pending.state}); call RotateKeyOnDemand, or delete that material, before importing other new material.`,
    );
  }
  const replicas = replicasOf(kms, key);
  const record: MaterialRecord = { id, state: replicas.length > 0 ? 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION' : 'PENDING_ROTATION' };
  key.materials.push(record);
  for (const replica of replicas) {
    replica.materials.push({ id, state: 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION' });
  }
  return record;
}

function importExisting(kms: KmsContext, key: KeyRecord, id: string, idInput: string | undefined): MaterialRecord {
  if (key.materials.length === 0) {
    if (key.multiRegion?.type === 'REPLICA') {
      // A replica of a primary that had no material yet: its first material, like NEW_KEY_MATERIAL.
      const record: MaterialRecord = { id, state: 'CURRENT' };
      key.materials.push(record);
      return record;
    }
    throw kmsError(
      'IncorrectKeyMaterialException',
      `${key.arn} has never had key material, so there is no existing material to reimport; use ImportType NEW_KEY_MATERIAL (or omit ImportType) for the first import.`,
    );
  }
  if (idInput !== undefined) {
    const named = key.materials.find((m) => m.id === idInput);
    if (!named) materialNotFound(key.arn, idInput, 'no-material');
    if (idInput !== id) {
      throw kmsError(
        'IncorrectKeyMaterialException',
        `The imported key material is not key material ${idInput} of ${key.arn}. Reimport exactly the material that was imported before under that ID.`,
      );
    }
    return checkReimport(kms, key, named);
  }
  if (key.materials.length > 1) {
    throw kmsError(
      'ValidationException',
      `${key.arn} has ${key.materials.length} key materials; send KeyMaterialId to say which one you are reimporting (list them with ListKeyRotations, IncludeKeyMaterial ALL_KEY_MATERIAL).`,
    );
  }
  const only = key.materials[0]!;
  if (only.id !== id) {
    throw kmsError(
      'IncorrectKeyMaterialException',
      `The imported key material is not the key material previously imported into ${key.arn} (KeyMaterialId ${only.id}). A key only takes back the same material; find the original material and reimport it.`,
    );
  }
  return checkReimport(kms, key, only);
}

function checkReimport(kms: KmsContext, key: KeyRecord, target: MaterialRecord): MaterialRecord {
  if (target.material !== undefined && isPermanent(target) && kms.options.reimportWhileEnabled === 'refuse') {
    throw kmsError(
      'KMSInvalidStateException',
      `Key material ${target.id} of ${key.arn} is already imported; this endpoint is set to refuse reimport over present material. Delete it with DeleteImportedKeyMaterial, then reimport.`,
    );
  }
  return target;
}

export function deleteImportedKeyMaterial(kms: KmsContext, input: Input, ctx: OperationContext) {
  const now = ctx.clock.now();
  const key = resolveKey(kms.state, ctx.scope, now, requiredString(input, 'KeyId', { max: 2048 }), { aliases: false });
  const idInput = optionalString(input, 'KeyMaterialId', { max: 64 });
  requireExternal(key, 'DeleteImportedKeyMaterial');
  if (key.materials.length === 0) {
    throw kmsError('KMSInvalidStateException', `${key.arn} has no imported key material to delete (it is pending its first import).`);
  }
  let target: MaterialRecord | undefined;
  if (idInput !== undefined) {
    target = key.materials.find((m) => m.id === idInput);
    if (!target) {
      throw kmsError('NotFoundException', `Key material ${idInput} is not associated with ${key.arn}; list its key materials with ListKeyRotations (IncludeKeyMaterial ALL_KEY_MATERIAL).`);
    }
  } else {
    target = key.materials.find((m) => m.state === 'CURRENT');
  }
  if (!target) throw kmsError('KMSInvalidStateException', `${key.arn} has no current key material to delete; send KeyMaterialId.`);
  if (isPermanent(target) || key.multiRegion?.type === 'REPLICA') {
    // A replica keeps the record of pending material: the primary still expects it imported here.
    delete target.material;
    const primary = primaryOf(kms, key);
    if (primary) syncMultiRegionPending(kms, primary);
  } else {
    // Material waiting for rotation is not permanently associated: deleting it dissociates it.
    key.materials = key.materials.filter((m) => m !== target);
    for (const replica of replicasOf(kms, key)) replica.materials = replica.materials.filter((m) => m.id !== target.id);
  }
  return { KeyId: key.arn, KeyMaterialId: target.id };
}
