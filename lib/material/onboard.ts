/**
 * Onboarding a key: escrow its material FIRST (a new Secrets Manager secret, never an overwrite),
 * then the first import. This is the order PRODUCT.md demands (escrow before import): if the
 * import fails the material is already safe; if escrow fails nothing is imported.
 *
 * A Multi-Region primary key's escrow secret is created replicated (AddReplicaRegions) to every
 * Region that holds a replica of the key: KMS replicates keys, Secrets Manager does not follow,
 * and a replica Region reads escrow from its own Region.
 */
import { DescribeKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ReimportConfig } from '../config.js';
import { awsErrorName, EscrowExists, EscrowInvalid, EscrowWriteFailed, ImportTokenExpired, isTokenRefused, toNamedError } from '../errors.js';
import { validateMaterial } from '../escrow/index.js';
import { ESCROW_KEY_ID_TAG } from '../escrow/read.js';
import type { RetryOptions } from '../retry.js';
import { regionalKmsClients, type KmsFor } from '../rotation/multi-region.js';
import { chooseWrapping } from '../wrap/index.js';
import { importUnderFreshParameters, MAX_IMPORT_TOKEN_REFRESHES } from './import.js';

/** The escrow secret for this key already exists: onboarding never overwrites escrow (defined with the other named errors). */
export { EscrowExists };

export interface OnboardInput {
  keyId: string;
  keySpec: string;
  /** The material to escrow and import; the caller owns (and wipes) it. */
  material: Buffer;
  config: ReimportConfig;
  /** KEY_MATERIAL_EXPIRES needs validTo; KEY_MATERIAL_DOES_NOT_EXPIRE must not have it. */
  expirationModel: 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE';
  validTo?: Date;
  /**
   * The KMS key that encrypts the escrow secret (default: Secrets Manager's aws/secretsmanager).
   * Never the key being onboarded: its escrow would be unreadable exactly when it is needed.
   */
  escrowKmsKeyId?: string;
  /** Overrides the wrapping chosen from the key spec and config. */
  wrapping?: { wrappingAlgorithm: string; wrappingKeySpec: string };
  /**
   * For a Multi-Region key whose escrow is under `escrowKmsKeyId`: the KMS key in each replica
   * Region that encrypts the escrow's replica there (a KMS key is Regional). Required for every
   * replica Region when `escrowKmsKeyId` is set; without `escrowKmsKeyId` replicas use
   * aws/secretsmanager of their Region.
   */
  escrowReplicaKmsKeyIds?: Record<string, string>;
  /**
   * What KMS already said of the key (CreateKey's or DescribeKey's KeyMetadata), when the caller
   * has it: a Multi-Region primary and its replica Regions. Without it the key is described here.
   */
  multiRegion?: { primary: boolean; replicaRegions: string[] };
  /** Retries of each AWS call (default: the config's maxAttempts and baseDelayMs). */
  retry?: RetryOptions;
}

/** One Region the escrow secret was replicated to, as CreateSecret's ReplicationStatus reports it. */
export interface EscrowReplica {
  region: string;
  /** InSync or InProgress: readable there (or about to be); Failed: not replicated, see statusMessage. */
  status: string;
  statusMessage?: string;
}

export interface OnboardResult {
  secretArn: string;
  secretVersionId: string;
  keyMaterialId?: string;
  wrappingAlgorithm: string;
  wrappingKeySpec: string;
  validTo?: string;
  /**
   * For a Multi-Region primary key with replicas: the escrow secret's replica Regions. A Failed
   * Region does not stop the import (the material is escrowed in this Region); `status` reports it
   * as escrow `unreplicated` with the fix.
   */
  escrowReplicas?: EscrowReplica[];
}

/** Where and how a key's escrow secret is created: its name, its encryption, its replica Regions. */
export interface EscrowTarget {
  keyId: string;
  secretName: string;
  escrowKmsKeyId?: string;
  /** The Regions of the key's replicas (a Multi-Region primary's escrow is replicated there). */
  replicaRegions: string[];
  addReplicaRegions: Array<{ Region: string; KmsKeyId?: string }>;
}

export interface EscrowTargetInput {
  keyId: string;
  config: Pick<ReimportConfig, 'escrowPrefix'>;
  escrowKmsKeyId?: string;
  escrowReplicaKmsKeyIds?: Record<string, string>;
  /** What DescribeKey said of the key, when the caller has read it already (else it is read here). */
  multiRegion?: { primary: boolean; replicaRegions: string[] };
  /** A KMS client per Region, to read each replica Region's escrow key (default: made like `kms`, closed after). */
  kmsFor?: KmsFor;
}

/**
 * Everything about the key's escrow that can be refused before anything is written: the default
 * secret `<prefix><key-id>`, a Multi-Region primary's replica Regions (each with a KMS key of its own
 * when the escrow is under a customer managed key), and an escrow KMS key that is not the key itself.
 */
export async function escrowTarget(kms: KMSClient, input: EscrowTargetInput): Promise<EscrowTarget> {
  const { keyId } = input;
  const secretName = `${input.config.escrowPrefix}${keyId}`;
  let replicaRegions: string[];
  if (input.multiRegion) {
    replicaRegions = input.multiRegion.primary ? [...input.multiRegion.replicaRegions] : [];
  } else {
    // Which Regions hold replicas of the key (a Multi-Region primary's escrow goes there too).
    const described = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
    const multiRegion = described?.KeyMetadata?.MultiRegionConfiguration;
    replicaRegions =
      described?.KeyMetadata?.MultiRegion === true && multiRegion?.MultiRegionKeyType === 'PRIMARY'
        ? (multiRegion.ReplicaKeys ?? []).map((r) => r.Region).filter((r): r is string => r !== undefined)
        : [];
  }
  if (input.escrowKmsKeyId !== undefined) {
    const unkeyed = replicaRegions.filter((r) => input.escrowReplicaKmsKeyIds?.[r] === undefined);
    if (unkeyed.length > 0) {
      throw new EscrowInvalid(
        `Key ${keyId} is a Multi-Region key with replicas in ${replicaRegions.join(', ')}: its escrow is replicated there, and under ${input.escrowKmsKeyId} each replica needs a KMS key of its own Region. ` +
          `Name one for ${unkeyed.join(', ')} (escrowReplicaKmsKeyIds; on the command line --escrow-replica-kms-key-id REGION=KEY), or leave the escrow under aws/secretsmanager. Nothing was escrowed or imported.`,
        { keyId },
      );
    }
  }
  const addReplicaRegions = replicaRegions.map((region) => ({
    Region: region,
    ...(input.escrowKmsKeyId !== undefined ? { KmsKeyId: input.escrowReplicaKmsKeyIds?.[region] as string } : {}),
  }));

  if (input.escrowKmsKeyId !== undefined) {
    const escrowKey = await kms.send(new DescribeKeyCommand({ KeyId: input.escrowKmsKeyId }));
    if (escrowKey.KeyMetadata?.KeyId === keyId) {
      throw new EscrowInvalid(
        `Key ${keyId}: its escrow would be encrypted under ${input.escrowKmsKeyId}, which is key ${keyId} itself, so it could not be read while the key is PendingImport. Choose another KMS key for the escrow secret. Nothing was escrowed or imported.`,
        { keyId },
      );
    }
  }
  await refuseReplicaEscrowUnderKey(kms, keyId, addReplicaRegions, input.kmsFor);
  return { keyId, secretName, ...(input.escrowKmsKeyId !== undefined ? { escrowKmsKeyId: input.escrowKmsKeyId } : {}), replicaRegions, addReplicaRegions };
}

/**
 * A Multi-Region replica has the key ID of its primary, so `REGION=<the key's own ID>` (or an alias
 * of its replica there) would encrypt that Region's escrow copy under the very key whose material it
 * holds: unreadable exactly when that replica is PendingImport. Each Region's escrow key is read
 * with a client of its own Region (a KMS key ID or alias is Regional) before anything is written.
 */
async function refuseReplicaEscrowUnderKey(kms: KMSClient, keyId: string, replicas: Array<{ Region: string; KmsKeyId?: string }>, kmsFor: KmsFor | undefined): Promise<void> {
  const keyed = replicas.filter((r): r is { Region: string; KmsKeyId: string } => r.KmsKeyId !== undefined);
  if (keyed.length === 0) return;
  const made = kmsFor ? undefined : regionalKmsClients(kms);
  const clientFor = kmsFor ?? made!.kmsFor;
  try {
    for (const { Region: region, KmsKeyId: escrowKey } of keyed) {
      let described;
      try {
        described = await clientFor(region).send(new DescribeKeyCommand({ KeyId: escrowKey }));
      } catch (e) {
        if (awsErrorName(e) === 'NotFoundException') {
          throw new EscrowInvalid(
            `Key ${keyId}: the escrow key ${escrowKey} named for Region ${region} does not exist there; name a KMS key of ${region} (--escrow-replica-kms-key-id ${region}=KEY). Nothing was escrowed or imported.`,
            { keyId, cause: e },
          );
        }
        throw toNamedError(e, keyId);
      }
      if (described?.KeyMetadata?.KeyId === keyId) {
        throw new EscrowInvalid(
          `Key ${keyId}: its escrow copy in ${region} would be encrypted under ${escrowKey}, which is the key's own replica in ${region} (a Multi-Region replica has the key's ID), so it could not be read while that replica is PendingImport. ` +
            `Choose another KMS key of ${region} for the escrow there (--escrow-replica-kms-key-id ${region}=KEY). Nothing was escrowed or imported.`,
          { keyId },
        );
      }
    }
  } finally {
    made?.destroy();
  }
}

export interface CreatedEscrow {
  secretArn: string;
  secretVersionId: string;
  escrowReplicas?: EscrowReplica[];
}

/**
 * Creates the key's escrow secret (CreateSecret: a new secret, never an overwrite) holding
 * `material` as SecretBinary, bound to the key by the ESCROW_KEY_ID_TAG tag, replicated to the
 * target's replica Regions. An existing secret is EscrowExists, and nothing is written.
 */
export async function createEscrow(secrets: SecretsManagerClient, target: EscrowTarget, material: Buffer, escrowTagKey: string): Promise<CreatedEscrow> {
  const { keyId, secretName } = target;
  let secret;
  try {
    secret = await secrets.send(
      new CreateSecretCommand({
        Name: secretName,
        SecretBinary: material,
        Description: `Escrowed imported key material of KMS key ${keyId} (kms-reimport)`,
        ...(target.escrowKmsKeyId !== undefined ? { KmsKeyId: target.escrowKmsKeyId } : {}),
        Tags: [{ Key: ESCROW_KEY_ID_TAG, Value: keyId }],
        ...(target.addReplicaRegions.length > 0 ? { AddReplicaRegions: target.addReplicaRegions } : {}),
      }),
    );
  } catch (error) {
    if (awsErrorName(error) === 'ResourceExistsException') {
      throw new EscrowExists(
        `Key ${keyId}: the escrow secret ${secretName} already exists; kms-reimport never overwrites escrow. If it holds this key's material, recover with it; otherwise tag the key with ${escrowTagKey} naming another secret.`,
        { keyId, cause: error },
      );
    }
    // No cause: an SDK error from CreateSecret may quote the request, which holds the material.
    throw new EscrowWriteFailed(
      `Key ${keyId}: the escrow secret ${secretName} could not be created (CreateSecret: ${awsErrorName(error) ?? 'an unknown error'}). ` +
        `Grant secretsmanager:CreateSecret and secretsmanager:TagResource (and ReplicateSecretToRegions for a Multi-Region key), then onboard again.`,
      { keyId },
    );
  }
  return {
    secretArn: secret.ARN!,
    secretVersionId: secret.VersionId!,
    ...(target.replicaRegions.length > 0
      ? {
          escrowReplicas: target.replicaRegions.map((region): EscrowReplica => {
            const status = secret.ReplicationStatus?.find((r) => r.Region === region);
            return { region, status: status?.Status ?? 'Failed', ...(status?.StatusMessage !== undefined ? { statusMessage: status.StatusMessage } : status ? {} : { statusMessage: 'not in CreateSecret\'s ReplicationStatus' }) };
          }),
        }
      : {}),
  };
}

/**
 * Escrow first (createEscrow), then the first import (importUnderFreshParameters: an expired or
 * spent import token gets new parameters, as in recovery). An import that still fails leaves the
 * material escrowed; its error is KMS's (ImportTokenExpired once the refreshes are spent).
 */
export async function escrowAndImport(deps: { kms: KMSClient; secrets: SecretsManagerClient }, input: OnboardInput): Promise<OnboardResult> {
  const { keyId, keySpec, material, config } = input;
  const secretName = `${config.escrowPrefix}${keyId}`;
  validateMaterial(keySpec, material, keyId, secretName);
  if ((input.expirationModel === 'KEY_MATERIAL_EXPIRES') !== (input.validTo !== undefined)) {
    throw new EscrowInvalid(
      `Key ${keyId}: ${input.expirationModel} ${input.validTo ? 'must not have' : 'needs'} a ValidTo. Nothing was escrowed or imported.`,
      { keyId },
    );
  }
  const target = await escrowTarget(deps.kms, {
    keyId,
    config,
    ...(input.multiRegion !== undefined ? { multiRegion: input.multiRegion } : {}),
    ...(input.escrowKmsKeyId !== undefined ? { escrowKmsKeyId: input.escrowKmsKeyId } : {}),
    ...(input.escrowReplicaKmsKeyIds !== undefined ? { escrowReplicaKmsKeyIds: input.escrowReplicaKmsKeyIds } : {}),
  });
  const escrow = await createEscrow(deps.secrets, target, material, config.escrowTagKey);

  const validTo = input.validTo ? new Date(Math.floor(input.validTo.getTime() / 1000) * 1000) : undefined;
  const imported = await importUnderFreshParameters(
    deps.kms,
    keyId,
    material,
    { expirationModel: input.expirationModel, ...(validTo ? { validTo } : {}) },
    {
      wrapping: input.wrapping ?? chooseWrapping(keySpec, config, keyId),
      retry: input.retry ?? { maxAttempts: config.maxAttempts, baseDelayMs: config.baseDelayMs },
      refused: (e) =>
        isTokenRefused(e)
          ? new ImportTokenExpired(
              `Key ${keyId}: its material is escrowed in ${secretName}, but KMS kept refusing the import token (${awsErrorName(e)}) after ${MAX_IMPORT_TOKEN_REFRESHES} fresh GetParametersForImport calls: ` +
                `another import for this key may be running. Nothing was imported by this run; see the key's state (aws kms describe-key --key-id ${keyId}).`,
              { keyId, cause: e },
            )
          : e,
    },
  );
  return {
    secretArn: escrow.secretArn,
    secretVersionId: escrow.secretVersionId,
    ...(imported.keyMaterialId ? { keyMaterialId: imported.keyMaterialId } : {}),
    wrappingAlgorithm: imported.wrappingAlgorithm,
    wrappingKeySpec: imported.wrappingKeySpec,
    ...(validTo ? { validTo: validTo.toISOString() } : {}),
    ...(escrow.escrowReplicas ? { escrowReplicas: escrow.escrowReplicas } : {}),
  };
}
