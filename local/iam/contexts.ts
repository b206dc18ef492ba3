/**
 * What IAM authorises for each request of the emulated services: the resource ARN and the
 * condition keys KMS, Secrets Manager and the Tagging API set (see the services' "Condition keys"
 * pages in the Service Authorization Reference). Read-only: building a check changes nothing.
 *
 * Decisions (AWS leaves these to observation):
 * - A KMS key that does not exist (or an alias that points nowhere) is not authorised here: the
 *   operation answers NotFoundException, as KMS does for a key of the caller's own account (there
 *   is no key policy to evaluate).
 * - A secret that does not exist is authorised against its name's partial ARN
 *   (`arn:...:secret:NAME`): a caller the policies deny gets AccessDeniedException, one they
 *   allow gets ResourceNotFoundException.
 * - Decrypt (and ReEncrypt) without KeyId: the key is the one the ciphertext names.
 */
import type { AuthorizationCheck, OperationContext } from '../service.js';

type Input = Record<string, unknown>;
type Context = Record<string, string | string[]>;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/** Tags as condition keys: `aws:ResourceTag/<key>` (and `<service>:ResourceTag/<key>` where the service has its own). */
export function resourceTagContext(tags: Record<string, string>, servicePrefix?: string): Context {
  const out: Context = {};
  for (const [key, value] of Object.entries(tags)) {
    out[`aws:ResourceTag/${key}`] = value;
    if (servicePrefix) out[`${servicePrefix}:ResourceTag/${key}`] = value;
  }
  return out;
}

/** `aws:RequestTag/<key>` and `aws:TagKeys` of tags carried by a request. */
function requestTagContext(tags: Record<string, string> | undefined, keys?: string[]): Context {
  const out: Context = {};
  if (tags) for (const [key, value] of Object.entries(tags)) out[`aws:RequestTag/${key}`] = value;
  const tagKeys = keys ?? (tags ? Object.keys(tags) : undefined);
  if (tagKeys && tagKeys.length > 0) out['aws:TagKeys'] = tagKeys;
  return out;
}

/** Tags as a request sends them: `[{TagKey, TagValue}]` (KMS) or `[{Key, Value}]` (Secrets Manager). */
function tagList(value: unknown, keyField: string, valueField: string): Record<string, string> | undefined {
  if (!Array.isArray(value)) return undefined;
  const out: Record<string, string> = {};
  for (const tag of value) {
    if (tag && typeof tag === 'object' && typeof (tag as Input)[keyField] === 'string') {
      const v = (tag as Input)[valueField];
      out[(tag as Input)[keyField] as string] = typeof v === 'string' ? v : '';
    }
  }
  return out;
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;
}

// ------------------------------------------------------------------ KMS

/** What the KMS emulation tells about a key, for authorisation. */
export interface KmsKeyFacts {
  arn: string;
  tags: Record<string, string>;
  origin: string;
  keySpec: string;
  keyUsage: string;
  multiRegion: boolean;
}

export interface KmsLookups {
  /** The key a KeyId (ID, ARN, alias name or alias ARN) names; undefined when none does. */
  key(keyId: string, ctx: OperationContext): KmsKeyFacts | undefined;
  /** The alias ARN of an alias name, in the caller's account and Region. */
  aliasArn(aliasName: string, ctx: OperationContext): string;
  /** The key a ciphertext of this emulation was produced under (Decrypt without KeyId); undefined when unreadable. */
  keyOfCiphertext(input: Input, ctx: OperationContext): string | undefined;
}

/** Operations on no particular key: IAM authorises them on `*`. */
const KMS_UNSCOPED = new Set(['CreateKey', 'ListKeys', 'ListAliases', 'GenerateRandom', 'CreateCustomKeyStore', 'DescribeCustomKeyStores', 'ListRetirableGrants']);
const ENCRYPTION_OPERATIONS = new Set(['Encrypt', 'Decrypt', 'ReEncrypt', 'GenerateDataKey', 'GenerateDataKeyWithoutPlaintext', 'GenerateDataKeyPair', 'GenerateDataKeyPairWithoutPlaintext']);

function keyContext(key: KmsKeyFacts, ctx: OperationContext): Context {
  return {
    ...resourceTagContext(key.tags),
    'kms:CallerAccount': ctx.scope.account,
    'kms:KeyOrigin': key.origin,
    'kms:KeySpec': key.keySpec,
    'kms:KeyUsage': key.keyUsage,
    'kms:MultiRegion': String(key.multiRegion),
  };
}

function encryptionContext(value: unknown): Context {
  const out: Context = {};
  if (!value || typeof value !== 'object' || Array.isArray(value)) return out;
  const keys = Object.keys(value as Input);
  for (const key of keys) {
    const v = (value as Input)[key];
    if (typeof v === 'string') out[`kms:EncryptionContext:${key}`] = v;
  }
  if (keys.length > 0) out['kms:EncryptionContextKeys'] = keys;
  return out;
}

/** Condition keys KMS sets from the request's own parameters. */
function kmsRequestContext(operation: string, input: Input): Context {
  const out: Context = {};
  if (ENCRYPTION_OPERATIONS.has(operation)) {
    Object.assign(out, encryptionContext(operation === 'ReEncrypt' ? input.DestinationEncryptionContext : input.EncryptionContext));
    const algorithm = operation === 'ReEncrypt' ? input.DestinationEncryptionAlgorithm : input.EncryptionAlgorithm;
    out['kms:EncryptionAlgorithm'] = str(algorithm) ?? 'SYMMETRIC_DEFAULT';
    if (operation.startsWith('GenerateDataKeyPair') && str(input.KeyPairSpec)) out['kms:DataKeyPairSpec'] = input.KeyPairSpec as string;
  }
  if (operation === 'GetParametersForImport') {
    if (str(input.WrappingAlgorithm)) out['kms:WrappingAlgorithm'] = input.WrappingAlgorithm as string;
    if (str(input.WrappingKeySpec)) out['kms:WrappingKeySpec'] = input.WrappingKeySpec as string;
  }
  if (operation === 'ImportKeyMaterial') {
    const validTo = input.ValidTo;
    out['kms:ExpirationModel'] = str(input.ExpirationModel) ?? (validTo !== undefined ? 'KEY_MATERIAL_EXPIRES' : 'KEY_MATERIAL_DOES_NOT_EXPIRE');
    if (typeof validTo === 'number') out['kms:ValidTo'] = String(Math.floor(validTo));
  }
  if (operation === 'Sign' || operation === 'Verify') {
    if (str(input.SigningAlgorithm)) out['kms:SigningAlgorithm'] = input.SigningAlgorithm as string;
    out['kms:MessageType'] = str(input.MessageType) ?? 'RAW';
  }
  if ((operation === 'GenerateMac' || operation === 'VerifyMac') && str(input.MacAlgorithm)) out['kms:MacAlgorithm'] = input.MacAlgorithm as string;
  if (operation === 'TagResource') Object.assign(out, requestTagContext(tagList(input.Tags, 'TagKey', 'TagValue')));
  if (operation === 'UntagResource') Object.assign(out, requestTagContext(undefined, stringList(input.TagKeys)));
  if (operation === 'ScheduleKeyDeletion' && typeof input.PendingWindowInDays === 'number') out['kms:ScheduleKeyDeletionPendingWindowInDays'] = String(input.PendingWindowInDays);
  if (operation === 'ReplicateKey' && str(input.ReplicaRegion)) out['kms:ReplicaRegion'] = input.ReplicaRegion as string;
  return out;
}

export function kmsAuthorizationChecks(operation: string, input: Input, ctx: OperationContext, lookups: KmsLookups): AuthorizationCheck[] {
  if (KMS_UNSCOPED.has(operation)) {
    if (operation !== 'CreateKey') return [{ resource: '*' }];
    const keySpec = str(input.KeySpec) ?? str(input.CustomerMasterKeySpec) ?? 'SYMMETRIC_DEFAULT';
    return [
      {
        resource: '*',
        context: {
          'kms:CallerAccount': ctx.scope.account,
          'kms:KeyOrigin': str(input.Origin) ?? 'AWS_KMS',
          'kms:KeySpec': keySpec,
          'kms:KeyUsage': str(input.KeyUsage) ?? 'ENCRYPT_DECRYPT',
          'kms:MultiRegion': String(input.MultiRegion === true),
          ...requestTagContext(tagList(input.Tags, 'TagKey', 'TagValue')),
        },
      },
    ];
  }
  const onKey = (keyId: string | undefined, action?: string, extra: Context = kmsRequestContext(operation, input)): AuthorizationCheck[] => {
    const key = keyId === undefined ? undefined : lookups.key(keyId, ctx);
    if (!key) return [];
    return [{ ...(action ? { action } : {}), resource: key.arn, context: { ...keyContext(key, ctx), ...extra } }];
  };
  const onAlias = (aliasName: unknown): AuthorizationCheck[] => {
    const name = str(aliasName);
    return name?.startsWith('alias/') ? [{ resource: lookups.aliasArn(name, ctx), context: { 'kms:CallerAccount': ctx.scope.account } }] : [];
  };
  switch (operation) {
    case 'CreateAlias':
      return [...onAlias(input.AliasName), ...onKey(str(input.TargetKeyId))];
    case 'UpdateAlias':
      return [...onAlias(input.AliasName), ...onKey(str(input.AliasName)), ...onKey(str(input.TargetKeyId))];
    case 'DeleteAlias':
      return [...onAlias(input.AliasName), ...onKey(str(input.AliasName))];
    case 'Decrypt':
      return onKey(str(input.KeyId) ?? lookups.keyOfCiphertext(input, ctx));
    case 'ReEncrypt': {
      const source = str(input.SourceKeyId) ?? lookups.keyOfCiphertext({ CiphertextBlob: input.CiphertextBlob, EncryptionContext: input.SourceEncryptionContext, EncryptionAlgorithm: input.SourceEncryptionAlgorithm }, ctx);
      const from: Context = { ...encryptionContext(input.SourceEncryptionContext), 'kms:EncryptionAlgorithm': str(input.SourceEncryptionAlgorithm) ?? 'SYMMETRIC_DEFAULT', 'kms:ReEncryptOnSameKey': String(source !== undefined && lookups.key(source, ctx)?.arn === lookups.key(String(input.DestinationKeyId), ctx)?.arn) };
      return [...onKey(source, 'kms:ReEncryptFrom', from), ...onKey(str(input.DestinationKeyId), 'kms:ReEncryptTo')];
    }
    default:
      return onKey(str(input.KeyId));
  }
}

// ------------------------------------------------------------------ Secrets Manager

export interface SecretFacts {
  arn: string;
  tags: Record<string, string>;
  /** The KMS key the secret names (KmsKeyId), if any. */
  kmsKeyId?: string;
}

export interface SecretsManagerLookups {
  /** The secret a SecretId (name, ARN or partial ARN) names; undefined when none does. */
  secret(secretId: string, ctx: OperationContext): SecretFacts | undefined;
  /** The partial ARN of a secret name in the caller's account and Region (`arn:...:secret:NAME`). */
  partialArn(name: string, ctx: OperationContext): string;
  /** KMS's own check of a key (as for DescribeKey: its ARN and condition keys), to authorise Secrets Manager's call to KMS on the caller's behalf. */
  kmsKey?(keyId: string, ctx: OperationContext): Promise<AuthorizationCheck | undefined>;
}

/** Secrets Manager's AWS managed key: its use through Secrets Manager needs no permission of the caller. */
const AWS_MANAGED_KEY = 'alias/aws/secretsmanager';
const SECRETS_UNSCOPED = new Set(['ListSecrets', 'GetRandomPassword', 'BatchGetSecretValue']);
/** Operations whose reading or writing of a value makes Secrets Manager call KMS as the caller. */
const KMS_CALLS: Record<string, string> = {
  GetSecretValue: 'kms:Decrypt',
  PutSecretValue: 'kms:GenerateDataKey',
  CreateSecret: 'kms:GenerateDataKey',
  UpdateSecret: 'kms:GenerateDataKey',
  // Replicating reads the primary's value (the replicas' own keys are used in their Regions).
  ReplicateSecretToRegions: 'kms:Decrypt',
};

/** The replication condition keys: `secretsmanager:AddReplicaRegions` (the Regions asked for) and `secretsmanager:ForceOverwriteReplicaSecret`. */
function replicationContext(input: Input): Context {
  const regions = Array.isArray(input.AddReplicaRegions)
    ? (input.AddReplicaRegions as unknown[]).map((item) => (item && typeof item === 'object' ? str((item as Input).Region) : undefined)).filter((r): r is string => r !== undefined)
    : undefined;
  return {
    ...(regions !== undefined ? { 'secretsmanager:AddReplicaRegions': regions } : {}),
    ...(typeof input.ForceOverwriteReplicaSecret === 'boolean' ? { 'secretsmanager:ForceOverwriteReplicaSecret': String(input.ForceOverwriteReplicaSecret) } : {}),
  };
}

export async function secretsManagerAuthorizationChecks(operation: string, input: Input, ctx: OperationContext, lookups: SecretsManagerLookups): Promise<AuthorizationCheck[]> {
  if (SECRETS_UNSCOPED.has(operation)) return [{ resource: '*' }];
  if (operation === 'CreateSecret') {
    const name = str(input.Name);
    if (!name) return [];
    const checks: AuthorizationCheck[] = [
      {
        // The ARN is not known before the secret exists: its 6-character suffix stands as '??????'.
        resource: `${lookups.partialArn(name, ctx)}-??????`,
        context: {
          'secretsmanager:Name': name,
          ...(str(input.KmsKeyId) ? { 'secretsmanager:KmsKeyId': input.KmsKeyId as string } : {}),
          ...(str(input.Description) ? { 'secretsmanager:Description': input.Description as string } : {}),
          ...requestTagContext(tagList(input.Tags, 'Key', 'Value')),
          ...replicationContext(input),
        },
      },
    ];
    // CreateSecret with replicas also needs secretsmanager:ReplicateSecretToRegions (CreateSecret's "Required permissions").
    if (Array.isArray(input.AddReplicaRegions) && input.AddReplicaRegions.length > 0) {
      checks.push({ action: 'secretsmanager:ReplicateSecretToRegions', resource: `${lookups.partialArn(name, ctx)}-??????`, context: { 'secretsmanager:Name': name, ...replicationContext(input) } });
    }
    const hasValue = input.SecretString !== undefined || input.SecretBinary !== undefined;
    if (hasValue) checks.push(...await viaSecretsManager('kms:GenerateDataKey', str(input.KmsKeyId), `${lookups.partialArn(name, ctx)}-??????`, ctx, lookups));
    return checks;
  }
  const secretId = str(input.SecretId);
  if (!secretId) return [];
  const secret = lookups.secret(secretId, ctx);
  const resource = secret?.arn ?? (secretId.startsWith('arn:') ? secretId : lookups.partialArn(secretId, ctx));
  const context: Context = {
    'secretsmanager:SecretId': resource,
    ...(secret ? resourceTagContext(secret.tags, 'secretsmanager') : {}),
    ...(str(input.VersionId) ? { 'secretsmanager:VersionId': input.VersionId as string } : {}),
    ...(str(input.VersionStage) ? { 'secretsmanager:VersionStage': input.VersionStage as string } : {}),
    ...(operation === 'TagResource' ? requestTagContext(tagList(input.Tags, 'Key', 'Value')) : {}),
    ...(operation === 'UntagResource' ? requestTagContext(undefined, stringList(input.TagKeys)) : {}),
    ...(operation === 'UpdateSecret' && str(input.KmsKeyId) ? { 'secretsmanager:KmsKeyId': input.KmsKeyId as string } : {}),
    ...(operation === 'ReplicateSecretToRegions' ? replicationContext(input) : {}),
  };
  const checks: AuthorizationCheck[] = [{ resource, context }];
  const kmsAction = KMS_CALLS[operation];
  const writesValue = input.SecretString !== undefined || input.SecretBinary !== undefined;
  if (secret && kmsAction && (operation === 'GetSecretValue' || operation === 'ReplicateSecretToRegions' || writesValue)) {
    const keyId = (operation === 'UpdateSecret' ? str(input.KmsKeyId) : undefined) ?? secret.kmsKeyId;
    checks.push(...await viaSecretsManager(kmsAction, keyId, secret.arn, ctx, lookups));
  }
  return checks;
}

/**
 * Secrets Manager calls KMS with the caller's credentials (kms:ViaService
 * secretsmanager.<region>.amazonaws.com, encryption context SecretARN + SecretVersionId) for a
 * customer managed key; the AWS managed key needs nothing of the caller. A denial is Secrets
 * Manager's AccessDeniedException "Access to KMS is not allowed".
 */
async function viaSecretsManager(action: string, keyId: string | undefined, secretArn: string, ctx: OperationContext, lookups: SecretsManagerLookups): Promise<AuthorizationCheck[]> {
  if (!keyId || keyId === AWS_MANAGED_KEY || !lookups.kmsKey) return [];
  const key = await lookups.kmsKey(keyId, ctx);
  if (!key) return [];
  return [
    {
      action,
      resource: key.resource,
      context: {
        ...key.context,
        'kms:ViaService': `secretsmanager.${ctx.scope.region}.amazonaws.com`,
        'kms:EncryptionContext:SecretARN': secretArn,
        'kms:EncryptionContextKeys': ['SecretARN', 'SecretVersionId'],
        'kms:EncryptionAlgorithm': 'SYMMETRIC_DEFAULT',
      },
      deniedAs: { type: 'AccessDeniedException', message: 'Access to KMS is not allowed' },
    },
  ];
}

// ------------------------------------------------------------------ Resource Groups Tagging API

/** tag:GetResources, tag:GetTagKeys, tag:GetTagValues have no resource-level permissions: `*`. */
export function taggingAuthorizationChecks(): AuthorizationCheck[] {
  return [{ resource: '*' }];
}

/** Lookups for KMS from the key records of local/kms (kept here so the service index stays small). */
export function kmsKeyFacts(key: { arn: string; tags: { TagKey: string; TagValue: string }[]; origin: string; keySpec: string; keyUsage: string; multiRegion?: unknown }): KmsKeyFacts {
  return {
    arn: key.arn,
    tags: Object.fromEntries(key.tags.map((t) => [t.TagKey, t.TagValue])),
    origin: key.origin,
    keySpec: key.keySpec,
    keyUsage: key.keyUsage,
    multiRegion: key.multiRegion !== undefined,
  };
}
