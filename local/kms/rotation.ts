// On-demand rotation and the list of a key's materials.
import type { OperationContext } from '../service.js';
import type { KmsContext } from './context.js';
import { kmsError } from './errors.js';
import { type Input, optionalEnum, optionalInteger, optionalString, requiredString } from './input.js';
import { generateMaterial, materialId } from './material.js';
import { SPECS } from './specs.js';
import { keyState, type KeyRecord, type MaterialRecord, paginate, regionState, resolveKey } from './state.js';

export const MAX_ON_DEMAND_ROTATIONS = 25;

function requireSymmetric(key: KeyRecord, operation: string): void {
  if (SPECS[key.keySpec].family !== 'symmetric') {
    throw kmsError('UnsupportedOperationException', `${key.arn} is a ${key.keySpec} key; ${operation} works only on symmetric encryption keys.`);
  }
}

function rotateRecords(key: KeyRecord, next: MaterialRecord, now: number): void {
  for (const m of key.materials) if (m.state === 'CURRENT') m.state = 'NON_CURRENT';
  next.state = 'CURRENT';
  next.rotationDate = now;
  next.rotationType = 'ON_DEMAND';
  key.onDemandRotations += 1;
}

export async function rotateKeyOnDemand(kms: KmsContext, input: Input, ctx: OperationContext) {
  const now = ctx.clock.now();
  const key = resolveKey(kms.state, ctx.scope, now, requiredString(input, 'KeyId', { max: 2048 }), { aliases: false });
  requireSymmetric(key, 'RotateKeyOnDemand');
  if (key.multiRegion?.type === 'REPLICA') {
    throw kmsError('UnsupportedOperationException', `${key.arn} is a multi-Region replica key; rotate its primary key in ${key.multiRegion.primaryRegion}.`);
  }
  const state = keyState(key);
  if (state === 'Disabled') throw kmsError('DisabledException', `${key.arn} is disabled; enable it before RotateKeyOnDemand.`);
  if (state !== 'Enabled') {
    throw kmsError('KMSInvalidStateException', `${key.arn} is ${state}; RotateKeyOnDemand needs an Enabled key${state === 'PendingImport' ? ' (reimport its missing key material first)' : ''}.`);
  }
  if (key.onDemandRotations >= MAX_ON_DEMAND_ROTATIONS) {
    throw kmsError(
      'LimitExceededException',
      `${key.arn} has reached the limit of ${MAX_ON_DEMAND_ROTATIONS} on-demand rotations (not adjustable). Rotate by moving its alias to a new key instead.`,
    );
  }
  if (key.origin === 'AWS_KMS') {
    const bytes = await generateMaterial(key.keySpec);
    const next: MaterialRecord = { id: materialId(key.keyId, bytes), state: 'PENDING_ROTATION', material: bytes.toString('base64') };
    bytes.fill(0);
    key.materials.push(next);
    rotateRecords(key, next, now);
    return { KeyId: key.arn };
  }
  const waiting = key.materials.find((m) => m.state === 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION');
  if (waiting) {
    throw kmsError(
      'KMSInvalidStateException',
      `Key material ${waiting.id} of ${key.arn} is not yet imported into every replica (PENDING_MULTI_REGION_IMPORT_AND_ROTATION); import it with ImportType EXISTING_KEY_MATERIAL into each replica, then rotate.`,
    );
  }
  const pending = key.materials.find((m) => m.state === 'PENDING_ROTATION' && m.material !== undefined);
  if (!pending) {
    throw kmsError(
      'KMSInvalidStateException',
      `${key.arn} has no imported key material in PENDING_ROTATION; import new key material with ImportType NEW_KEY_MATERIAL first, then call RotateKeyOnDemand.`,
    );
  }
  rotateRecords(key, pending, now);
  for (const region of key.multiRegion?.replicaRegions ?? []) {
    const replica = regionState(kms.state, key.account, region).keys[key.keyId];
    const rm = replica?.materials.find((m) => m.id === pending.id);
    if (replica && rm) rotateRecords(replica, rm, now);
  }
  return { KeyId: key.arn };
}

export function listKeyRotations(kms: KmsContext, input: Input, ctx: OperationContext) {
  const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), requiredString(input, 'KeyId', { max: 2048 }), { aliases: false });
  const include = optionalEnum(input, 'IncludeKeyMaterial', ['ALL_KEY_MATERIAL', 'ROTATIONS_ONLY'] as const) ?? 'ROTATIONS_ONLY';
  const limit = optionalInteger(input, 'Limit', 1, 1000) ?? 100;
  const marker = optionalString(input, 'Marker', { max: 1024 });
  requireSymmetric(key, 'ListKeyRotations');
  const materials = include === 'ALL_KEY_MATERIAL' ? key.materials : key.materials.filter((m) => m.rotationDate !== undefined);
  const { page, ...rest } = paginate(materials, limit, marker);
  const external = key.origin === 'EXTERNAL';
  return {
    Rotations: page.map((m) => ({
      KeyId: key.keyId,
      KeyMaterialId: m.id,
      ...(external && m.description !== undefined ? { KeyMaterialDescription: m.description } : {}),
      ...(external ? { ImportState: m.material !== undefined ? 'IMPORTED' : 'PENDING_IMPORT' } : {}),
      KeyMaterialState: m.state,
      ...(external && m.expirationModel ? { ExpirationModel: m.expirationModel } : {}),
      ...(external && m.validTo !== undefined ? { ValidTo: m.validTo / 1000 } : {}),
      ...(m.rotationDate !== undefined ? { RotationDate: m.rotationDate / 1000, RotationType: m.rotationType } : {}),
    })),
    ...rest,
  };
}

export function getKeyRotationStatus(kms: KmsContext, input: Input, ctx: OperationContext) {
  const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), requiredString(input, 'KeyId', { max: 2048 }), { aliases: false });
  return { KeyId: key.arn, KeyRotationEnabled: false };
}
