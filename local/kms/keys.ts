// Key management: CreateKey, DescribeKey, ListKeys, aliases, tags, enable/disable, deletion, replicas.
import { randomBytes, randomUUID } from 'node:crypto';
import { globalArnFor, isRegion, partitionOf } from '../partitions.js';
import type { OperationContext } from '../service.js';
import type { KmsContext } from './context.js';
import { kmsError, validationError } from './errors.js';
import {
  type Input,
  optionalBoolean,
  optionalEnum,
  optionalInteger,
  optionalString,
  optionalTags,
  requiredString,
  type TagInput,
} from './input.js';
import { generateMaterial, materialId } from './material.js';
import { KEY_SPECS, KEY_USAGES, type KeySpec, type KeyUsage, SPECS } from './specs.js';
import {
  aliasArn,
  isPermanent,
  keyArn,
  keyMetadata,
  keyState,
  type KeyRecord,
  paginate,
  regionState,
  resolveKey,
} from './state.js';

const DEFAULT_POLICY = (region: string, account: string) =>
  JSON.stringify({
    Version: '2012-10-17',
    Id: 'key-default-1',
    Statement: [
      { Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: globalArnFor('iam', region, account, 'root') }, Action: 'kms:*', Resource: '*' },
    ],
  });

export function checkTags(tags: TagInput[], arn: string): void {
  for (const t of tags) {
    if (t.TagKey.startsWith('aws:')) {
      throw kmsError('TagException', `Tag key ${t.TagKey} on ${arn} uses the reserved prefix 'aws:'; choose another tag key`);
    }
  }
}

function mergeTags(key: KeyRecord, tags: TagInput[]): void {
  for (const t of tags) {
    const existing = key.tags.find((e) => e.TagKey === t.TagKey);
    if (existing) existing.TagValue = t.TagValue;
    else key.tags.push({ TagKey: t.TagKey, TagValue: t.TagValue });
  }
  if (key.tags.length > 50) {
    throw kmsError('LimitExceededException', `Key ${key.arn} would have ${key.tags.length} tags; a KMS key can have at most 50. Remove tags first.`);
  }
}

export async function createKey(kms: KmsContext, input: Input, ctx: OperationContext) {
  const now = ctx.clock.now();
  const { account, region } = ctx.scope;
  const specInput = optionalEnum(input, 'KeySpec', KEY_SPECS);
  const cmkSpec = optionalEnum(input, 'CustomerMasterKeySpec', KEY_SPECS);
  if (specInput && cmkSpec) {
    throw kmsError('ValidationException', 'You cannot specify KeySpec and CustomerMasterKeySpec in the same request; use KeySpec (CustomerMasterKeySpec is deprecated).');
  }
  const keySpec: KeySpec = specInput ?? cmkSpec ?? 'SYMMETRIC_DEFAULT';
  const usageInput = optionalEnum(input, 'KeyUsage', [...KEY_USAGES, 'KEY_AGREEMENT', 'ENCAPSULATE_DECAPSULATE'] as const);
  const keyUsage = (usageInput ?? 'ENCRYPT_DECRYPT') as KeyUsage | 'KEY_AGREEMENT' | 'ENCAPSULATE_DECAPSULATE';
  const info = SPECS[keySpec];
  if (!(info.usages as string[]).includes(keyUsage)) {
    throw kmsError(
      'ValidationException',
      `KeyUsage ${keyUsage} is not compatible with KeySpec ${keySpec}${usageInput ? '' : ' (KeyUsage defaults to ENCRYPT_DECRYPT)'}; use ${info.usages.join(' or ')}.`,
    );
  }
  const origin = optionalEnum(input, 'Origin', ['AWS_KMS', 'EXTERNAL', 'AWS_CLOUDHSM', 'EXTERNAL_KEY_STORE'] as const) ?? 'AWS_KMS';
  if (origin !== 'AWS_KMS' && origin !== 'EXTERNAL') {
    throw kmsError('UnsupportedOperationException', `Origin ${origin} (custom key stores) is not supported by the local endpoint; use AWS_KMS or EXTERNAL.`);
  }
  if (optionalString(input, 'CustomKeyStoreId') !== undefined) {
    throw kmsError('UnsupportedOperationException', 'Custom key stores are not supported by the local endpoint.');
  }
  const policy = optionalString(input, 'Policy', { max: 32768 });
  optionalBoolean(input, 'BypassPolicyLockoutSafetyCheck');
  const description = optionalString(input, 'Description', { min: 0, max: 8192 }) ?? '';
  const tags = optionalTags(input, 'Tags') ?? [];
  const multiRegion = optionalBoolean(input, 'MultiRegion') ?? false;
  const keyId = multiRegion ? `mrk-${randomBytes(16).toString('hex')}` : randomUUID();
  const arn = keyArn(region, account, keyId);
  checkTags(tags, arn);
  const key: KeyRecord = {
    keyId,
    arn,
    account,
    region,
    creationDate: now,
    description,
    keySpec,
    keyUsage: keyUsage as KeyUsage,
    origin,
    enabled: true,
    tags: [],
    materials: [],
    onDemandRotations: 0,
    importParameters: [],
  };
  if (multiRegion) key.multiRegion = { type: 'PRIMARY', primaryRegion: region, replicaRegions: [] };
  if (policy !== undefined) key.policy = policy;
  mergeTags(key, tags);
  if (origin === 'AWS_KMS') {
    const bytes = await generateMaterial(keySpec);
    key.materials.push({ id: materialId(keyId, bytes), state: 'CURRENT', material: bytes.toString('base64') });
    bytes.fill(0);
  }
  regionState(kms.state, account, region).keys[keyId] = key;
  return { KeyMetadata: keyMetadata(kms.state, key) };
}

export function describeKey(kms: KmsContext, input: Input, ctx: OperationContext) {
  const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), requiredString(input, 'KeyId', { max: 2048 }));
  return { KeyMetadata: keyMetadata(kms.state, key) };
}

export function listKeys(kms: KmsContext, input: Input, ctx: OperationContext) {
  const limit = optionalInteger(input, 'Limit', 1, 1000) ?? 100;
  const marker = optionalString(input, 'Marker', { max: 1024 });
  const space = regionState(kms.state, ctx.scope.account, ctx.scope.region);
  const { page, ...rest } = paginate(Object.values(space.keys), limit, marker);
  return { Keys: page.map((k) => ({ KeyId: k.keyId, KeyArn: k.arn })), ...rest };
}

export function updateKeyDescription(kms: KmsContext, input: Input, ctx: OperationContext) {
  const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), requiredString(input, 'KeyId'), { aliases: false });
  const description = requiredString(input, 'Description', { min: 0, max: 8192 });
  refuseWhenPendingDeletion(key);
  key.description = description;
  return {};
}

export function getKeyPolicy(kms: KmsContext, input: Input, ctx: OperationContext) {
  const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), requiredString(input, 'KeyId'), { aliases: false });
  return { Policy: key.policy ?? DEFAULT_POLICY(key.region, key.account), PolicyName: 'default' };
}

export function refuseWhenPendingDeletion(key: KeyRecord): void {
  if (keyState(key) === 'PendingDeletion') {
    throw kmsError('KMSInvalidStateException', `${key.arn} is pending deletion. Cancel the deletion with CancelKeyDeletion first.`);
  }
}

// ---- aliases ----

const ALIAS_NAME = /^alias\/[a-zA-Z0-9/_-]+$/;

function checkAliasName(name: string, forWrite: boolean): void {
  if (!ALIAS_NAME.test(name)) {
    throw kmsError('ValidationException', `Alias name ${name} is not valid: it must start with 'alias/' followed by letters, digits, '/', '_' or '-'.`);
  }
  if (forWrite && name.startsWith('alias/aws/')) {
    throw kmsError('InvalidAliasNameException', `Alias name ${name} begins with the reserved prefix alias/aws/ (AWS managed keys); choose another name.`);
  }
}

function targetKey(kms: KmsContext, ctx: OperationContext, target: string): KeyRecord {
  if (target.startsWith('alias/') || /:alias\//.test(target)) {
    throw kmsError('ValidationException', `TargetKeyId ${target} is an alias; an alias must point to a key ID or key ARN.`);
  }
  const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), target, { aliases: false });
  refuseWhenPendingDeletion(key);
  return key;
}

export function createAlias(kms: KmsContext, input: Input, ctx: OperationContext) {
  const name = requiredString(input, 'AliasName', { max: 256 });
  const target = requiredString(input, 'TargetKeyId', { max: 2048 });
  checkAliasName(name, true);
  const key = targetKey(kms, ctx, target);
  const space = regionState(kms.state, ctx.scope.account, ctx.scope.region);
  if (space.aliases[name]) {
    throw kmsError('AlreadyExistsException', `An alias with the name ${aliasArn(ctx.scope.region, ctx.scope.account, name)} already exists. Use UpdateAlias to point it to another key.`);
  }
  const now = ctx.clock.now();
  space.aliases[name] = { name, targetKeyId: key.keyId, creationDate: now, lastUpdatedDate: now };
  return {};
}

export function updateAlias(kms: KmsContext, input: Input, ctx: OperationContext) {
  const name = requiredString(input, 'AliasName', { max: 256 });
  const target = requiredString(input, 'TargetKeyId', { max: 2048 });
  checkAliasName(name, true);
  const space = regionState(kms.state, ctx.scope.account, ctx.scope.region);
  const key = targetKey(kms, ctx, target);
  const alias = space.aliases[name];
  if (!alias) throw kmsError('NotFoundException', `Alias ${aliasArn(ctx.scope.region, ctx.scope.account, name)} is not found. Create it with CreateAlias.`);
  const previous = space.keys[alias.targetKeyId];
  if (previous && (previous.keyUsage !== key.keyUsage || SPECS[previous.keySpec].family !== SPECS[key.keySpec].family)) {
    throw kmsError(
      'ValidationException',
      `Alias ${name} points to ${previous.arn} (${previous.keySpec}, ${previous.keyUsage}) and cannot move to ${key.arn} (${key.keySpec}, ${key.keyUsage}): the new key must have the same key type and key usage.`,
    );
  }
  alias.targetKeyId = key.keyId;
  alias.lastUpdatedDate = ctx.clock.now();
  return {};
}

export function deleteAlias(kms: KmsContext, input: Input, ctx: OperationContext) {
  const name = requiredString(input, 'AliasName', { max: 256 });
  checkAliasName(name, true);
  const space = regionState(kms.state, ctx.scope.account, ctx.scope.region);
  if (!space.aliases[name]) throw kmsError('NotFoundException', `Alias ${aliasArn(ctx.scope.region, ctx.scope.account, name)} is not found.`);
  delete space.aliases[name];
  return {};
}

export function listAliases(kms: KmsContext, input: Input, ctx: OperationContext) {
  const keyIdInput = optionalString(input, 'KeyId', { max: 2048 });
  const limit = optionalInteger(input, 'Limit', 1, 100) ?? 50;
  const marker = optionalString(input, 'Marker', { max: 1024 });
  const space = regionState(kms.state, ctx.scope.account, ctx.scope.region);
  let aliases = Object.values(space.aliases);
  if (keyIdInput !== undefined) {
    const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), keyIdInput, { aliases: false });
    aliases = aliases.filter((a) => a.targetKeyId === key.keyId);
  }
  aliases.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const { page, ...rest } = paginate(aliases, limit, marker);
  return {
    Aliases: page.map((a) => ({
      AliasName: a.name,
      AliasArn: aliasArn(ctx.scope.region, ctx.scope.account, a.name),
      TargetKeyId: a.targetKeyId,
      CreationDate: a.creationDate / 1000,
      LastUpdatedDate: a.lastUpdatedDate / 1000,
    })),
    ...rest,
  };
}

// ---- tags ----

export function tagResource(kms: KmsContext, input: Input, ctx: OperationContext) {
  const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), requiredString(input, 'KeyId'), { aliases: false });
  const tags = optionalTags(input, 'Tags');
  if (tags === undefined) throw validationError('tags', 'null', 'Member must not be null');
  refuseWhenPendingDeletion(key);
  checkTags(tags, key.arn);
  const before = key.tags.map((t) => ({ ...t }));
  try {
    mergeTags(key, tags);
  } catch (err) {
    key.tags = before;
    throw err;
  }
  return {};
}

export function untagResource(kms: KmsContext, input: Input, ctx: OperationContext) {
  const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), requiredString(input, 'KeyId'), { aliases: false });
  const keys = input['TagKeys'];
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string')) {
    throw validationError('tagKeys', keys === undefined ? 'null' : `'${JSON.stringify(keys)}'`, 'Member must be a list of strings and must not be null');
  }
  refuseWhenPendingDeletion(key);
  key.tags = key.tags.filter((t) => !(keys as string[]).includes(t.TagKey));
  return {};
}

export function listResourceTags(kms: KmsContext, input: Input, ctx: OperationContext) {
  const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), requiredString(input, 'KeyId'), { aliases: false });
  const limit = optionalInteger(input, 'Limit', 1, 50) ?? 50;
  const marker = optionalString(input, 'Marker', { max: 1024 });
  const { page, ...rest } = paginate(key.tags, limit, marker);
  return { Tags: page.map((t) => ({ ...t })), ...rest };
}

// ---- enable, disable, deletion ----

export function enableKey(kms: KmsContext, input: Input, ctx: OperationContext) {
  const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), requiredString(input, 'KeyId'), { aliases: false });
  const state = keyState(key);
  if (state === 'PendingImport') {
    throw kmsError('KMSInvalidStateException', `${key.arn} is pending import: it has no usable key material. Import (or reimport) its key material; EnableKey cannot enable it.`);
  }
  refuseWhenPendingDeletion(key);
  key.enabled = true;
  return {};
}

export function disableKey(kms: KmsContext, input: Input, ctx: OperationContext) {
  const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), requiredString(input, 'KeyId'), { aliases: false });
  const state = keyState(key);
  if (state === 'PendingImport') {
    throw kmsError('KMSInvalidStateException', `${key.arn} is pending import; import its key material before disabling it.`);
  }
  refuseWhenPendingDeletion(key);
  key.enabled = false;
  return {};
}

export function scheduleKeyDeletion(kms: KmsContext, input: Input, ctx: OperationContext) {
  const now = ctx.clock.now();
  const key = resolveKey(kms.state, ctx.scope, now, requiredString(input, 'KeyId'), { aliases: false });
  const days = optionalInteger(input, 'PendingWindowInDays', 7, 30) ?? 30;
  refuseWhenPendingDeletion(key);
  if (key.multiRegion?.type === 'PRIMARY' && key.multiRegion.replicaRegions.length > 0) {
    throw kmsError(
      'UnsupportedOperationException',
      `${key.arn} is a multi-Region primary key with replicas in ${key.multiRegion.replicaRegions.join(', ')}; schedule the deletion of its replicas first.`,
    );
  }
  key.deletionDate = now + days * 86_400_000;
  key.pendingWindowInDays = days;
  key.enabled = false;
  kms.aging.schedule(key);
  return { KeyId: key.arn, DeletionDate: key.deletionDate / 1000, KeyState: 'PendingDeletion', PendingWindowInDays: days };
}

export function cancelKeyDeletion(kms: KmsContext, input: Input, ctx: OperationContext) {
  const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), requiredString(input, 'KeyId'), { aliases: false });
  if (keyState(key) !== 'PendingDeletion') {
    throw kmsError('KMSInvalidStateException', `${key.arn} is not pending deletion (it is ${keyState(key)}); there is no deletion to cancel.`);
  }
  delete key.deletionDate;
  delete key.pendingWindowInDays;
  key.enabled = false;
  return { KeyId: key.arn };
}

/** Called when a key's deletion date passes: a replica leaves its primary's replica list. */
export function forgetDeletedKey(kms: KmsContext, key: KeyRecord): void {
  if (key.multiRegion?.type === 'REPLICA') {
    const primary = regionState(kms.state, key.account, key.multiRegion.primaryRegion).keys[key.keyId];
    if (primary?.multiRegion) primary.multiRegion.replicaRegions = primary.multiRegion.replicaRegions.filter((r) => r !== key.region);
  }
}

// ---- multi-Region ----

export function replicateKey(kms: KmsContext, input: Input, ctx: OperationContext) {
  const now = ctx.clock.now();
  const primary = resolveKey(kms.state, ctx.scope, now, requiredString(input, 'KeyId'), { aliases: false });
  const replicaRegion = requiredString(input, 'ReplicaRegion', { max: 32 });
  if (!isRegion(replicaRegion)) {
    throw kmsError('ValidationException', `ReplicaRegion ${replicaRegion} is not a Region name such as eu-west-1.`);
  }
  const description = optionalString(input, 'Description', { min: 0, max: 8192 });
  const tags = optionalTags(input, 'Tags') ?? [];
  optionalString(input, 'Policy', { max: 32768 });
  optionalBoolean(input, 'BypassPolicyLockoutSafetyCheck');
  if (!primary.multiRegion) {
    throw kmsError('UnsupportedOperationException', `${primary.arn} is not a multi-Region key; only keys created with MultiRegion true can be replicated.`);
  }
  if (primary.multiRegion.type !== 'PRIMARY') {
    throw kmsError('UnsupportedOperationException', `${primary.arn} is a replica key; replicate its primary key in ${primary.multiRegion.primaryRegion} instead.`);
  }
  refuseWhenPendingDeletion(primary);
  if (replicaRegion === primary.region) {
    throw kmsError('ValidationException', `ReplicaRegion ${replicaRegion} is the primary key's own Region; choose another Region.`);
  }
  if (partitionOf(replicaRegion) !== partitionOf(primary.region)) {
    throw kmsError(
      'ValidationException',
      `ReplicaRegion ${replicaRegion} is in partition ${partitionOf(replicaRegion)}, ${primary.arn} in ${partitionOf(primary.region)}; a replica must be in the primary key's partition.`,
    );
  }
  const space = regionState(kms.state, primary.account, replicaRegion);
  if (space.keys[primary.keyId]) {
    throw kmsError('AlreadyExistsException', `${keyArn(replicaRegion, primary.account, primary.keyId)} already exists: ${primary.arn} already has a replica in ${replicaRegion}.`);
  }
  const arn = keyArn(replicaRegion, primary.account, primary.keyId);
  checkTags(tags, arn);
  const replica: KeyRecord = {
    keyId: primary.keyId,
    arn,
    account: primary.account,
    region: replicaRegion,
    creationDate: now,
    description: description ?? primary.description,
    keySpec: primary.keySpec,
    keyUsage: primary.keyUsage,
    origin: primary.origin,
    enabled: primary.enabled,
    multiRegion: { type: 'REPLICA', primaryRegion: primary.region, replicaRegions: [] },
    tags: [],
    materials:
      primary.origin === 'AWS_KMS'
        ? primary.materials.map((m) => ({ ...m }))
        : // Imported material is never copied between Regions: the replica knows which materials it
          // needs (their IDs) and waits for each to be imported in its own Region.
          primary.materials
            .filter((m) => isPermanent(m) || m.state === 'PENDING_ROTATION' || m.state === 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION')
            .map((m) => ({
              id: m.id,
              state: isPermanent(m) ? m.state : 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION',
              ...(m.description !== undefined ? { description: m.description } : {}),
              ...(m.rotationDate !== undefined ? { rotationDate: m.rotationDate, rotationType: m.rotationType } : {}),
            })),
    onDemandRotations: primary.onDemandRotations,
    importParameters: [],
  };
  mergeTags(replica, tags);
  space.keys[replica.keyId] = replica;
  primary.multiRegion.replicaRegions.push(replicaRegion);
  for (const m of primary.materials) {
    if (m.state === 'PENDING_ROTATION' && primary.origin === 'EXTERNAL') m.state = 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION';
  }
  return { ReplicaKeyMetadata: keyMetadata(kms.state, replica), ReplicaPolicy: DEFAULT_POLICY(replicaRegion, primary.account), ReplicaTags: replica.tags.map((t) => ({ ...t })) };
}
