/**
 * A key born managed (`onboard --new`): CreateKey with Origin EXTERNAL and the managed tag in the
 * request, material generated in memory (never on a disk), escrowed FIRST, then imported
 * (escrowAndImport), then the alias, then a round trip. The material buffer is wiped when the
 * import is done, whatever happened.
 *
 * A failure after CreateKey leaves a key the message names with what to do: its material is either
 * not made yet, or escrowed (and maybe imported); nothing is ever deleted by this code.
 */
import { CreateAliasCommand, CreateKeyCommand, type KeySpec, type KeyUsageType, type KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { countCalls } from '../aws/count-calls.js';
import type { ReimportConfig } from '../config.js';
import { KeyNotEligible, KmsRequestInvalid, ReimportError, toNamedError } from '../errors.js';
import { computeValidTo } from '../kms/import-material.js';
import { describeKeyMetadata, keyReport } from '../kms/inspect.js';
import { verifyKey } from '../kms/verify.js';
import { callWithRetry } from '../retry.js';
import { runRetry, silentLogger, type RunLogger, type RunTiming } from '../run.js';
import { GENERATABLE_KEY_SPECS, generateKeyMaterial } from './generate.js';
import { escrowAndImport, type EscrowReplica } from './onboard.js';

export interface CreateDeps extends RunTiming {
  kms: KMSClient;
  secrets: SecretsManagerClient;
  logger?: RunLogger;
}

export interface CreateManagedKeyInput {
  keySpec: string;
  /** Default: ENCRYPT_DECRYPT for SYMMETRIC_DEFAULT, GENERATE_VERIFY_MAC for HMAC, SIGN_VERIFY for RSA and ECC. */
  keyUsage?: string;
  /** alias/NAME, created once the material is imported. */
  alias?: string;
  description?: string;
  config: ReimportConfig;
  now?: () => Date;
  /** Default: KEY_MATERIAL_DOES_NOT_EXPIRE when configured so, else KEY_MATERIAL_EXPIRES at now + materialLifetimeDays. */
  expirationModel?: 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE';
  /** The KMS key that encrypts the escrow secret (default aws/secretsmanager). */
  escrowKmsKeyId?: string;
  progress?: (line: string) => void;
}

export interface CreatedKey {
  keyId: string;
  arn: string;
  keySpec: string;
  keyUsage: string;
  alias?: string;
  imported: { keyMaterialId?: string; expirationModel: string; validTo?: string };
  escrow: { secretId: string; secretArn: string; secretVersionId: string; replicas?: EscrowReplica[] };
  verified: string;
  calls: Record<string, number>;
}

/** The key usage a new key of this spec gets unless told otherwise. */
export function defaultKeyUsage(keySpec: string): KeyUsageType {
  if (keySpec === 'SYMMETRIC_DEFAULT') return 'ENCRYPT_DECRYPT';
  if (keySpec.startsWith('HMAC_')) return 'GENERATE_VERIFY_MAC';
  return 'SIGN_VERIFY';
}

/** Re-raises a named error with what was done before it (same class and name). */
function named(prefix: string, e: unknown, keyId: string): ReimportError {
  const error = toNamedError(e, keyId);
  const Named = error.constructor as new (message: string, options?: { keyId?: string }) => ReimportError;
  return new Named(`${prefix} ${error.message}`, { keyId });
}

export async function createManagedKey(deps: CreateDeps, input: CreateManagedKeyInput): Promise<CreatedKey> {
  const { config, keySpec } = input;
  const clock = input.now ?? (() => new Date());
  const log = deps.logger ?? silentLogger;
  const step = input.progress ?? (() => {});
  const calls: Record<string, number> = {};
  const kms = countCalls(deps.kms, calls);
  const secrets = countCalls(deps.secrets, calls);
  const { retry } = runRetry(config, deps, log, input.alias ?? 'new key');

  if (!(GENERATABLE_KEY_SPECS as readonly string[]).includes(keySpec)) {
    throw new KeyNotEligible(`Key spec ${keySpec} cannot be made with imported material by kms-reimport (supported: ${GENERATABLE_KEY_SPECS.join(', ')}). Nothing was created.`);
  }
  if (input.alias !== undefined) {
    // The alias must be free before a key is made for it.
    try {
      const taken = await describeKeyMetadata(kms, input.alias, retry);
      throw new KmsRequestInvalid(`Alias ${input.alias} already names key ${taken.KeyId}: choose another alias. Nothing was created.`, { keyId: input.alias });
    } catch (e) {
      if (!(e instanceof ReimportError) || e.name !== 'KeyNotFound') throw e;
    }
  }

  const keyUsage = (input.keyUsage ?? defaultKeyUsage(keySpec)) as KeyUsageType;
  step(`creating an EXTERNAL ${keySpec} key (${keyUsage}) tagged ${config.managedTagKey}=${config.managedTagValue}`);
  // Sent once, never retried: a retry after a lost answer could make a second key.
  // The managed tag goes in the CreateKey request itself, not in a TagResource after it. Decided so for
  // tag-conditioned IAM, the pattern template.yaml itself uses for the keys it creates
  // (CreateManagedExternalKeys: CreateKey only with aws:RequestTag/<managed tag>; TagResource on keys
  // only where aws:ResourceTag/<managed tag> is already there): an identity scoped like that can make a
  // managed key only with the tag in the request, and could never tag an untagged one afterwards.
  // The cost: for the seconds until its material is escrowed and imported, the managed key is
  // PendingImport with no escrow; a run in that window finds no escrow and imports nothing.
  let created;
  try {
    created = await kms.send(
      new CreateKeyCommand({
        Origin: 'EXTERNAL',
        KeySpec: keySpec as KeySpec,
        KeyUsage: keyUsage,
        Description: input.description ?? `Imported key material managed by kms-reimport${input.alias ? ` (${input.alias})` : ''}`,
        Tags: [{ TagKey: config.managedTagKey, TagValue: config.managedTagValue }],
      }),
    );
  } catch (e) {
    throw named('No key was created (CreateKey failed).', e, input.alias ?? 'new key');
  }
  const keyId = created?.KeyMetadata?.KeyId;
  const arn = created?.KeyMetadata?.Arn;
  if (!keyId || !arn) throw new KmsRequestInvalid('CreateKey answered without a key ID; check the endpoint. A key may have been created: list keys tagged for kms-reimport.');

  const expirationModel = input.expirationModel ?? (config.expirationModel === 'KEY_MATERIAL_DOES_NOT_EXPIRE' ? 'KEY_MATERIAL_DOES_NOT_EXPIRE' : 'KEY_MATERIAL_EXPIRES');
  const validTo = expirationModel === 'KEY_MATERIAL_EXPIRES' ? computeValidTo(clock(), config.materialLifetimeDays) : undefined;
  step(`${keyId}: generating ${keySpec} material in memory, escrowing it in ${config.escrowPrefix}${keyId}, then importing it`);
  const material = await generateKeyMaterial(keySpec);
  let onboarded;
  try {
    onboarded = await escrowAndImport(
      { kms, secrets },
      {
        keyId,
        keySpec,
        material,
        config,
        expirationModel,
        ...(validTo ? { validTo } : {}),
        ...(input.escrowKmsKeyId !== undefined ? { escrowKmsKeyId: input.escrowKmsKeyId } : {}),
        // CreateKey's answer says it already: a new key (made without MultiRegion) has no replicas, no DescribeKey needed.
        multiRegion: { primary: created.KeyMetadata?.MultiRegion === true && created.KeyMetadata.MultiRegionConfiguration?.MultiRegionKeyType === 'PRIMARY', replicaRegions: [] },
        retry,
      },
    );
  } catch (e) {
    // GetParametersForImport is asked only once the escrow secret exists.
    const escrowed = (calls['GetParametersForImport'] ?? 0) > 0;
    const secretId = `${config.escrowPrefix}${keyId}`;
    throw named(
      escrowed
        ? `Key ${keyId} was created (tagged ${config.managedTagKey}), but its import failed after its material was escrowed in ${secretId}: it may hold that material ` +
            `(an ImportKeyMaterial whose answer was lost may still have imported it). See its state (aws kms describe-key --key-id ${keyId}): Enabled, it holds the escrowed material ` +
            `(check it with kms-reimport status ${keyId}); PendingImport, it took no material` +
            (keySpec === 'SYMMETRIC_DEFAULT'
              ? ` and recovery never gives a key its first material (KMS lists none for it): schedule its deletion ` +
                `(aws kms schedule-key-deletion --key-id ${keyId} --pending-window-in-days 7) and run onboard --new again.`
              : `: kms-reimport recover ${keyId} imports it from the escrow (KMS shows no material history for a ${keySpec} key). Or, if the key is not wanted, ` +
                `schedule its deletion (aws kms schedule-key-deletion --key-id ${keyId} --pending-window-in-days 7) and run onboard --new again.`)
        : `Key ${keyId} was created (tagged ${config.managedTagKey}), but its material was not escrowed, so none was imported: it holds no material and nothing can use it. ` +
            `Schedule its deletion (aws kms schedule-key-deletion --key-id ${keyId} --pending-window-in-days 7) and run onboard --new again.`,
      e,
      keyId,
    );
  } finally {
    material.fill(0);
  }

  if (input.alias !== undefined) {
    step(`${keyId}: creating ${input.alias}`);
    try {
      await callWithRetry({ operation: 'CreateAlias', keyId }, () => kms.send(new CreateAliasCommand({ AliasName: input.alias, TargetKeyId: keyId })), retry);
    } catch (e) {
      throw named(`Key ${keyId} was created, escrowed and imported, but alias ${input.alias} was not created: create it (aws kms create-alias --alias-name ${input.alias} --target-key-id ${keyId}).`, e, keyId);
    }
  }

  step(`${keyId}: verifying`);
  // What the round trip needs of the key (spec, usage, algorithms) is CreateKey's answer and this
  // request's; verifyKey reads the key's state itself (DescribeKey) before the round trip.
  const report = { ...keyReport(created.KeyMetadata!, keyId, {}, undefined), keySpec, keyUsage };
  const verified = await verifyKey(kms, report, retry);
  return {
    keyId,
    arn,
    keySpec,
    keyUsage,
    ...(input.alias !== undefined ? { alias: input.alias } : {}),
    imported: {
      ...(onboarded.keyMaterialId ? { keyMaterialId: onboarded.keyMaterialId } : {}),
      expirationModel,
      ...(onboarded.validTo ? { validTo: onboarded.validTo } : {}),
    },
    escrow: {
      secretId: `${config.escrowPrefix}${keyId}`,
      secretArn: onboarded.secretArn,
      secretVersionId: onboarded.secretVersionId,
      ...(onboarded.escrowReplicas ? { replicas: onboarded.escrowReplicas } : {}),
    },
    verified: verified.check,
    calls,
  };
}
