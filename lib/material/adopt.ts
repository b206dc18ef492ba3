/**
 * Adopting a key whose material was imported by hand (the seed's way): prove that the given
 * material is the key's own BEFORE anything is written, then escrow it, then tag the key as managed.
 *
 *   inspect → refuse what cannot be onboarded (not EXTERNAL, Disabled, pending deletion, a replica,
 *   several materials, an escrow tag naming another secret, a key that never held material) →
 *   check the file against the key spec (and, for an Enabled RSA/ECC key, its private key against
 *   GetPublicKey) → refuse an existing escrow secret → PROOF → escrow (CreateSecret, bound,
 *   replicated for a Multi-Region primary) → tag → verify.
 *
 * The proof is KMS's own: a key that held material takes back only that material
 * (IncorrectKeyMaterialException otherwise). So the file is imported under fresh parameters:
 *   - Enabled key: a reimport that changes nothing else: the same ExpirationModel, the same ValidTo
 *     (rounded up to a whole second, never earlier), ImportType EXISTING_KEY_MATERIAL with the
 *     current KeyMaterialId for a symmetric key;
 *   - PendingImport key that held material: the recovery of its missing material (a fresh ValidTo
 *     for KEY_MATERIAL_EXPIRES, never earlier than the one it had).
 * A key that never held material cannot prove anything (any first material is accepted):
 * MaterialNotProvable, and `onboard --new` is the way to a new managed key. This import is not a
 * first import and gives the key no material it did not have: escrow-before-import (PRODUCT.md) is
 * about new material, which only `onboard --new` (lib/material/create.ts) brings, escrow first.
 *
 * No per-key lease is taken: until this tags it, the key is not managed, so no run of the service
 * touches it; a key tagged managed beforehand has no escrow for a run to import (EscrowMissing), and
 * one with escrow is refused here (EscrowExists) before any import.
 *
 * Wrong material: IncorrectKeyMaterial, nothing written, nothing tagged. The material buffer is the
 * caller's (it wipes it); the wrapped copy is wiped here; nothing logs or returns material.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { DescribeSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetPublicKeyCommand, ListResourceTagsCommand, TagResourceCommand, type ExpirationModelType, type KMSClient } from '@aws-sdk/client-kms';
import { countCalls } from '../aws/count-calls.js';
import type { ReimportConfig } from '../config.js';
import {
  awsErrorName,
  EscrowExists,
  ImportRequestInvalid,
  ImportTokenExpired,
  IncorrectKeyMaterial,
  KeyNotEligible,
  KeyNotFound,
  MaterialNotProvable,
  ReimportError,
  toNamedError,
  WrappingRejected,
} from '../errors.js';
import { escrowSecretId } from '../escrow/read.js';
import { missingMaterialIds, neverHeldMaterial } from '../kms/classify.js';
import { chooseExpirationModel, computeValidTo, MAX_VALID_TO_DAYS } from '../kms/import-material.js';
import { inspectKey } from '../kms/inspect.js';
import { isImportableKeySpec, materialKindFor } from '../kms/key-specs.js';
import { verifyKey } from '../kms/verify.js';
import { callWithRetry, type RetryOptions } from '../retry.js';
import { regionalKmsClients, type KmsFor } from '../rotation/multi-region.js';
import { runParametersPacer, runRetry, silentLogger, type ParametersPacer, type RunLogger, type RunTiming } from '../run.js';
import type { KeyRef, KeyReport } from '../types.js';
import { chooseWrapping } from '../wrap/index.js';
import { checkMaterialFile } from './file.js';
import { importUnderFreshParameters, MAX_IMPORT_TOKEN_REFRESHES } from './import.js';
import { createEscrow, escrowTarget, type EscrowReplica } from './onboard.js';

const DAY_MS = 86_400_000;

export interface AdoptDeps extends RunTiming {
  kms: KMSClient;
  secrets: SecretsManagerClient;
  logger?: RunLogger;
  /** Paces GetParametersForImport across several keys (onboard --all-from-dir shares one); default: one per call. */
  paceParameters?: ParametersPacer;
  /** A KMS client per Region, to tag a Multi-Region primary's replicas (default: made like `kms`, closed after). */
  kmsFor?: KmsFor;
}

export interface AdoptOptions {
  config: ReimportConfig;
  now?: () => Date;
  /** How messages name the material, e.g. "Material file ./PlaintextKeyMaterial.bin" (default "The material"). */
  source?: string;
  /** The KMS key that encrypts the escrow secret (default aws/secretsmanager); never the key itself. */
  escrowKmsKeyId?: string;
  /** For a Multi-Region primary with escrowKmsKeyId: the KMS key of each replica Region for the escrow's replica there. */
  escrowReplicaKmsKeyIds?: Record<string, string>;
  /** Progress lines as each step starts (the CLI prints them on stderr). Never given material. */
  progress?: (line: string) => void;
}

/** How the file was proven to be the key's material. */
export type ProofKind = 'reimport' | 'recovery';

export interface AdoptResult {
  keyId: string;
  arn: string;
  keySpec: string;
  keyStateBefore: string;
  keyStateAfter: string;
  /** reimport: into the Enabled key, nothing else changed; recovery: the PendingImport key's missing material. */
  proof: ProofKind;
  /** RSA/ECC: the file's private key matched GetPublicKey before any import. */
  publicKeyMatched?: boolean;
  imported: { keyMaterialId?: string; expirationModel: string; validTo?: string };
  escrow: { secretId: string; secretArn: string; secretVersionId: string; replicas?: EscrowReplica[] };
  /** False when the key already carried the managed tag (no TagResource sent). */
  tagged: boolean;
  /** A Multi-Region primary's replica Regions whose replica was tagged managed (KMS does not copy tags to replicas). */
  replicasTagged?: string[];
  /**
   * Replica Regions NOT tagged managed because the escrow's replica there is not InSync/InProgress
   * (Failed, or missing from CreateSecret's answer): a managed replica there would have no escrow to
   * recover from. Each with why and the fix.
   */
  replicasNotTagged?: Array<{ region: string; reason: string; fix: string }>;
  /** The round trip that showed the key works after onboarding. */
  verified: string;
  /** AWS calls per operation. */
  calls: Record<string, number>;
}

function keyName(report: KeyReport): string {
  return report.requestedRef && report.requestedRef !== report.keyId ? `${report.keyId} (${report.requestedRef})` : report.keyId;
}

/** Distinct KeyMaterialIds KMS lists for the key (any state). */
function materialIds(report: KeyReport): string[] {
  return [...new Set(report.materials.map((m) => m.keyMaterialId).filter((id): id is string => Boolean(id)))];
}

/**
 * What onboarding refuses before reading the file: keys it may not touch, keys whose escrow it may
 * not choose, and keys for which no proof exists. Throws; returns nothing.
 */
export function checkAdoptable(report: KeyReport, config: ReimportConfig): void {
  const key = keyName(report);
  const keyId = report.keyId;
  if (report.origin !== 'EXTERNAL') {
    throw new KeyNotEligible(`Key ${key} has origin ${report.origin}, not EXTERNAL: KMS holds its material, there is nothing to escrow. Nothing was changed.`, { keyId });
  }
  if (report.keyState === 'PendingDeletion' || report.keyState === 'PendingReplicaDeletion') {
    throw new KeyNotEligible(`Key ${key} is ${report.keyState}: it is never touched. Cancel the deletion (aws kms cancel-key-deletion --key-id ${keyId}) first if it is still needed. Nothing was changed.`, { keyId });
  }
  if (report.keyState === 'Disabled') {
    throw new KeyNotEligible(
      `Key ${key} is Disabled, which is taken as deliberate: it is never touched. Enable it (aws kms enable-key --key-id ${keyId}) and onboard it again if it should be kept usable. Nothing was changed.`,
      { keyId },
    );
  }
  if (!isImportableKeySpec(report.keySpec)) {
    throw new KeyNotEligible(`Key ${key} has key spec ${report.keySpec}, whose material kms-reimport cannot import. Nothing was changed.`, { keyId });
  }
  if (report.multiRegionKeyType === 'REPLICA') {
    throw new KeyNotEligible(
      `Key ${key} is a Multi-Region replica: onboard its primary key${report.primaryRegion ? ` in ${report.primaryRegion}` : ''} (--region), whose escrow is replicated to this Region. Nothing was changed.`,
      { keyId },
    );
  }
  if (report.keyState !== 'Enabled' && report.keyState !== 'PendingImport') {
    throw new KeyNotEligible(`Key ${key} is ${report.keyState}: it cannot be onboarded now. Try again when it is Enabled or PendingImport. Nothing was changed.`, { keyId });
  }
  const tagged = report.tags[config.escrowTagKey]?.trim();
  const defaultSecret = `${config.escrowPrefix}${keyId}`;
  if (tagged && tagged !== defaultSecret) {
    throw new EscrowExists(
      `Key ${key} already names its escrow secret by its tag ${config.escrowTagKey}: ${tagged}. Onboarding escrows in the default secret ${defaultSecret} only and never ` +
        `replaces a key's escrow: if ${tagged} holds this key's material, the key is onboarded already (check it with kms-reimport status); otherwise remove the tag ` +
        `(aws kms untag-resource --key-id ${keyId} --tag-keys ${config.escrowTagKey}) and onboard again. Nothing was changed.`,
      { keyId },
    );
  }
  if (report.keySpec === 'SYMMETRIC_DEFAULT' && report.materialsListed !== true) {
    // Only ListKeyRotations shows a rotated symmetric key's several materials; without its list a
    // key with many would pass as a key with one, and its escrow would hold only one of them.
    throw new KeyNotEligible(
      `Key ${key}: KMS did not list its key materials (ListKeyRotations was unavailable), so onboarding cannot tell whether it holds several (a rotated key), ` +
        `and one file proves one material. Grant kms:ListKeyRotations to this identity (or use an endpoint that implements it), then onboard again. Nothing was changed.`,
      { keyId },
    );
  }
  const ids = materialIds(report);
  if (ids.length > 1) {
    throw new KeyNotEligible(
      `Key ${key} has ${ids.length} key materials (${ids.join(', ')}): one file proves one material, and escrow must hold every material a key ever had. ` +
        `Escrow them all in the kms-reimport/v1 JSON format (see the README's Escrow format), then tag the key ${config.managedTagKey}=${config.managedTagValue}. Nothing was changed.`,
      { keyId },
    );
  }
  if (report.keyState === 'PendingImport' && neverHeldMaterial(report)) {
    throw new MaterialNotProvable(
      `Key ${key} has never held key material (KMS lists none), so nothing can prove that a file is its material: KMS takes any first material. ` +
        `For a new managed key use kms-reimport onboard --new (its material is made, escrowed and imported for you); to keep this key, import your material into it once by hand ` +
        `(aws kms get-parameters-for-import / import-key-material), then onboard it. Nothing was changed.`,
      { keyId },
    );
  }
  if (report.keyState === 'PendingImport' && ids.length === 0 && !report.currentKeyMaterialId) {
    throw new MaterialNotProvable(
      `Key ${key} is PendingImport and KMS shows no material history for it (${report.keySpec === 'SYMMETRIC_DEFAULT' ? 'the endpoint does not list its materials' : `a ${report.keySpec} key has none to show`}), ` +
        `so an import could not tell "its own material" from "a first material": nothing proves the file. Import the file into it once by hand ` +
        `(aws kms get-parameters-for-import / import-key-material: a key that held material takes back only that one), then onboard the Enabled key. Nothing was changed.`,
      { keyId },
    );
  }
}

/** The ImportKeyMaterial fields of the proof: the expiration it keeps (or restores), and the material it names. */
export interface ProofRequest {
  kind: ProofKind;
  expirationModel: ExpirationModelType;
  validTo?: Date;
  importType?: 'EXISTING_KEY_MATERIAL';
  keyMaterialId?: string;
}

/** Up to the next whole second: a ValidTo never earlier than the one KMS reported. */
function ceilToSecond(iso: string): Date {
  return new Date(Math.ceil(Date.parse(iso) / 1000) * 1000);
}

/**
 * The proof import for a checked key. Enabled: the current material's ExpirationModel and ValidTo
 * unchanged (ListKeyRotations' entry, else DescribeKey's). PendingImport: the missing material
 * recovered with the model recovery would send and a fresh ValidTo, never before the one it had.
 */
export function proofRequest(report: KeyReport, config: ReimportConfig, now: Date): ProofRequest {
  const symmetric = report.keySpec === 'SYMMETRIC_DEFAULT';
  const ids = materialIds(report);
  if (report.keyState === 'Enabled') {
    const id = report.currentKeyMaterialId ?? ids[0];
    const material = id ? report.materials.find((m) => m.keyMaterialId === id) : report.materials[0];
    const validToIso = material?.validTo ?? report.validTo;
    const model = material?.expirationModel ?? report.expirationModel ?? (validToIso !== undefined ? 'KEY_MATERIAL_EXPIRES' : 'KEY_MATERIAL_DOES_NOT_EXPIRE');
    const expirationModel: ExpirationModelType = model === 'KEY_MATERIAL_DOES_NOT_EXPIRE' ? 'KEY_MATERIAL_DOES_NOT_EXPIRE' : 'KEY_MATERIAL_EXPIRES';
    if (expirationModel === 'KEY_MATERIAL_EXPIRES' && validToIso === undefined) {
      throw new MaterialNotProvable(
        `Key ${keyName(report)}'s material expires, but KMS reports no ValidTo for it, so a proof import could not keep it unchanged. Check the key (aws kms describe-key --key-id ${report.keyId}). Nothing was changed.`,
        { keyId: report.keyId },
      );
    }
    return {
      kind: 'reimport',
      expirationModel,
      ...(expirationModel === 'KEY_MATERIAL_EXPIRES' ? { validTo: ceilToSecond(validToIso as string) } : {}),
      ...(symmetric && id ? { importType: 'EXISTING_KEY_MATERIAL' as const, keyMaterialId: id } : {}),
    };
  }
  const id = missingMaterialIds(report)[0] ?? report.currentKeyMaterialId ?? ids[0];
  const expirationModel = chooseExpirationModel(config, report, id).model;
  let validTo: Date | undefined;
  if (expirationModel === 'KEY_MATERIAL_EXPIRES') {
    validTo = computeValidTo(now, config.materialLifetimeDays);
    // Material deleted before its ValidTo: restore it with at least the ValidTo it had.
    const had = (id ? report.materials.find((m) => m.keyMaterialId === id)?.validTo : undefined) ?? report.validTo;
    const limit = now.getTime() + MAX_VALID_TO_DAYS * DAY_MS - 3_600_000;
    if (had !== undefined && Date.parse(had) > validTo.getTime() && ceilToSecond(had).getTime() <= limit) validTo = ceilToSecond(had);
  }
  return {
    kind: 'recovery',
    expirationModel,
    ...(validTo ? { validTo } : {}),
    ...(symmetric && id ? { importType: 'EXISTING_KEY_MATERIAL' as const, keyMaterialId: id } : {}),
  };
}

/** RSA/ECC keys that are Enabled: the file's private key must have the key's public key (no write needed to refuse). */
async function matchPublicKey(kms: KMSClient, report: KeyReport, material: Buffer, source: string, retry: RetryOptions, log: RunLogger): Promise<boolean | undefined> {
  const kind = materialKindFor(report.keySpec);
  if (report.keyState !== 'Enabled' || (kind?.type !== 'rsa' && kind?.type !== 'ec')) return undefined;
  let kmsPublic: Uint8Array | undefined;
  try {
    const out = await callWithRetry({ operation: 'GetPublicKey', keyId: report.keyId }, () => kms.send(new GetPublicKeyCommand({ KeyId: report.keyId })), retry);
    kmsPublic = out?.PublicKey;
  } catch (e) {
    log.warn('GetPublicKey failed; the proof import alone decides', { keyId: report.keyId, errorName: awsErrorName(e) });
    return undefined;
  }
  if (!kmsPublic) return undefined;
  const ours = createPublicKey(createPrivateKey({ key: material, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
  if (!ours.equals(Buffer.from(kmsPublic))) {
    throw new IncorrectKeyMaterial(
      `${source} is not the material of key ${keyName(report)}: its private key's public key differs from the key's (GetPublicKey). ` +
        `Nothing was imported, written or tagged. Find the file the key was imported with.`,
      { keyId: report.keyId },
    );
  }
  return true;
}

/** DescribeSecret on the default escrow secret: it must not exist (a secret scheduled for deletion exists too). */
async function assertNoEscrow(secrets: SecretsManagerClient, report: KeyReport, secretId: string, config: ReimportConfig, retry: RetryOptions): Promise<void> {
  let found: { DeletedDate?: Date } | undefined;
  try {
    found = await callWithRetry({ service: 'Secrets Manager', operation: 'DescribeSecret', keyId: report.keyId }, () => secrets.send(new DescribeSecretCommand({ SecretId: secretId })), retry);
  } catch (e) {
    if (awsErrorName(e) === 'ResourceNotFoundException') return;
    throw toNamedError(e, report.keyId);
  }
  throw new EscrowExists(
    `Key ${keyName(report)}: its escrow secret ${secretId} already exists${found?.DeletedDate ? ' (scheduled for deletion)' : ''}; kms-reimport never overwrites escrow, so nothing was imported, written or tagged. ` +
      (found?.DeletedDate
        ? `Restore it (aws secretsmanager restore-secret --secret-id ${secretId}) if it holds this key's material, then tag the key; otherwise wait for its deletion and onboard again.`
        : report.tags[config.managedTagKey] === config.managedTagValue
          ? `The key is tagged managed already: it is onboarded, check its escrow with kms-reimport status.`
          : `If it holds this key's material the key is escrowed already: tag it (aws kms tag-resource --key-id ${report.keyId} --tags TagKey=${config.managedTagKey},TagValue=${config.managedTagValue}) and check it with kms-reimport status.`),
    { keyId: report.keyId },
  );
}

/** The ImportKeyMaterial refusals of a proof, as named errors that speak of the file, not of escrow. */
function proofError(e: unknown, report: KeyReport, proof: ProofRequest, source: string, wrapping: { wrappingAlgorithm: string; wrappingKeySpec: string }): ReimportError {
  const key = keyName(report);
  const keyId = report.keyId;
  const which = proof.keyMaterialId ? ` (KeyMaterialId ${proof.keyMaterialId})` : '';
  switch (awsErrorName(e)) {
    case 'IncorrectKeyMaterialException':
      return new IncorrectKeyMaterial(
        `${source} is not the material of key ${key}${which}: KMS refused it (IncorrectKeyMaterialException). Nothing was written and the key was not tagged. ` +
          `Find the file the key was imported with${report.keyState === 'PendingImport' ? '; until then the key stays PendingImport' : ''}.`,
        { keyId, cause: e },
      );
    case 'ExpiredImportTokenException':
    case 'InvalidImportTokenException':
      return new ImportTokenExpired(
        `Key ${key}: the import token kept expiring or being replaced (${awsErrorName(e)}) after ${MAX_IMPORT_TOKEN_REFRESHES} fresh GetParametersForImport calls: another import for this key may be running. Nothing was written; run onboard again.`,
        { keyId, cause: e },
      );
    case 'InvalidCiphertextException':
      return new WrappingRejected(
        `KMS could not unwrap the material for key ${key} (${wrapping.wrappingAlgorithm} under a ${wrapping.wrappingKeySpec} wrapping key): check the wrapping settings (KMS_REIMPORT_WRAPPING_*). Nothing was written.`,
        { keyId, cause: e },
      );
    case 'KMSInvalidStateException':
      if (report.keyState === 'Enabled') {
        return new MaterialNotProvable(
          `KMS refused to reimport the material into key ${key} while it is Enabled (KMSInvalidStateException), so the file could not be proven without taking the key down. ` +
            `Nothing was written. In a maintenance window, delete its material (aws kms delete-imported-key-material --key-id ${keyId}) and onboard the PendingImport key: onboarding then restores it with this file.`,
          { keyId, cause: e },
        );
      }
      return new KeyNotEligible(`KMS refused the import into key ${key} because of its state (it changed since it was read?). Nothing was written; run onboard again.`, { keyId, cause: e });
    case 'ValidationException':
      return new ImportRequestInvalid(
        `KMS rejected the proof import for key ${key}${which} as invalid (ValidationException; sent ${proof.expirationModel}${proof.validTo ? `, ValidTo ${proof.validTo.toISOString()}` : ''}). Check this host's clock and the key. Nothing was written.`,
        { keyId, cause: e },
      );
    case 'NotFoundException':
    case 'InvalidArnException':
      return new KeyNotFound(`Key ${key}${which} was not found when importing; check the key and Region. Nothing was written.`, { keyId, cause: e });
    case 'UnsupportedOperationException':
      return new KeyNotEligible(`KMS does not support this import into key ${key} (${report.keySpec}). Nothing was written.`, { keyId, cause: e });
    default:
      return toNamedError(e, keyId);
  }
}

/** Imports the material under fresh parameters as the proof asks (importUnderFreshParameters: a spent or expired token gets new parameters). */
function proveByImport(
  kms: KMSClient,
  report: KeyReport,
  material: Buffer,
  proof: ProofRequest,
  context: { config: ReimportConfig; source: string; retry: RetryOptions; pace: ParametersPacer; log: RunLogger },
): Promise<{ keyMaterialId?: string }> {
  return importUnderFreshParameters(kms, report.keyId, material, proof, {
    wrapping: chooseWrapping(report.keySpec, context.config, report.keyId),
    retry: context.retry,
    pace: context.pace,
    refused: (e, params) => proofError(e, report, proof, context.source, params),
    onTokenRefused: (errorName, refresh) => context.log.warn('import token refused; fetching new import parameters', { keyId: report.keyId, errorName, refresh }),
  });
}

/** Re-raises a named error with a message that says what was already done (same class, same name). */
function after(done: string, e: unknown, keyId: string): ReimportError {
  const named = toNamedError(e, keyId);
  const Named = named.constructor as new (message: string, options?: { keyId?: string; cause?: unknown }) => ReimportError;
  return new Named(`${done} ${named.message}`, { keyId });
}

/** Tags every replica of a Multi-Region primary managed (those that lack the tag); the Regions tagged. */
async function tagReplicas(
  deps: AdoptDeps,
  calls: Record<string, number>,
  report: KeyReport,
  regions: string[],
  managedTag: Array<{ TagKey: string; TagValue: string }>,
  retry: RetryOptions,
  step: (line: string) => void,
): Promise<string[]> {
  if (regions.length === 0) return [];
  const made = deps.kmsFor ? undefined : regionalKmsClients(deps.kms);
  const kmsFor = deps.kmsFor ?? made!.kmsFor;
  const tagged: string[] = [];
  try {
    for (const region of regions) {
      const replica = countCalls(kmsFor(region), calls);
      const [tag] = managedTag;
      const existing = await callWithRetry({ operation: 'ListResourceTags', keyId: report.keyId }, () => replica.send(new ListResourceTagsCommand({ KeyId: report.keyId })), retry).catch(
        () => undefined,
      );
      if (existing?.Tags?.some((t) => t.TagKey === tag!.TagKey && t.TagValue === tag!.TagValue)) continue;
      step(`${report.keyId}: tagging its replica in ${region}`);
      try {
        await callWithRetry({ operation: 'TagResource', keyId: report.keyId }, () => replica.send(new TagResourceCommand({ KeyId: report.keyId, Tags: managedTag })), retry);
      } catch (e) {
        throw after(
          `Key ${report.keyId}: proven, escrowed (replicated) and tagged, but its replica in ${region} was not tagged: tag it yourself ` +
            `(aws kms tag-resource --key-id ${report.keyId} --tags TagKey=${tag!.TagKey},TagValue=${tag!.TagValue} --region ${region}).`,
          e,
          report.keyId,
        );
      }
      tagged.push(region);
    }
    return tagged;
  } finally {
    made?.destroy();
  }
}

export async function adoptKey(deps: AdoptDeps, keyRef: KeyRef, material: Buffer, options: AdoptOptions): Promise<AdoptResult> {
  const { config } = options;
  const clock = options.now ?? (() => new Date());
  const log = deps.logger ?? silentLogger;
  const step = options.progress ?? (() => {});
  const source = options.source ?? 'The material';
  const calls: Record<string, number> = {};
  const kms = countCalls(deps.kms, calls);
  const secrets = countCalls(deps.secrets, calls);
  const { retry } = runRetry(config, deps, log, keyRef);
  const pace = deps.paceParameters ?? runParametersPacer(config, deps, log, keyRef);

  step(`${keyRef}: reading the key`);
  const report = await inspectKey(kms, keyRef, retry, (message, extra) => log.warn(message, extra));
  checkAdoptable(report, config);
  checkMaterialFile(report.keySpec, material, report.keyId, source);
  const publicKeyMatched = await matchPublicKey(kms, report, material, source, retry, log);
  const target = await escrowTarget(kms, {
    keyId: report.keyId,
    config,
    multiRegion: { primary: report.multiRegionKeyType === 'PRIMARY', replicaRegions: report.replicaRegions ?? [] },
    ...(deps.kmsFor ? { kmsFor: deps.kmsFor } : {}),
    ...(options.escrowKmsKeyId !== undefined ? { escrowKmsKeyId: options.escrowKmsKeyId } : {}),
    ...(options.escrowReplicaKmsKeyIds !== undefined ? { escrowReplicaKmsKeyIds: options.escrowReplicaKmsKeyIds } : {}),
  });
  const secretId = escrowSecretId(report, config);
  await assertNoEscrow(secrets, report, secretId, config, retry);

  const proof = proofRequest(report, config, clock());
  step(
    `${report.keyId}: proving the material with KMS (${proof.kind === 'reimport' ? 'a reimport that keeps' : 'recovering the missing material,'} ${proof.expirationModel}` +
      `${proof.validTo ? ` ValidTo ${proof.validTo.toISOString()}` : ''})`,
  );
  const imported = await proveByImport(kms, report, material, proof, { config, source, retry, pace, log });

  step(`${report.keyId}: escrowing in ${target.secretName}${target.replicaRegions.length > 0 ? ` (replicated to ${target.replicaRegions.join(', ')})` : ''}`);
  let escrow;
  try {
    escrow = await createEscrow(secrets, target, material, config.escrowTagKey);
  } catch (e) {
    const proven = `Key ${report.keyId}: the material was proven (KMS took it back), but`;
    if (e instanceof EscrowExists) throw new EscrowExists(`${proven} ${e.message} The key was not tagged.`, { keyId: report.keyId });
    throw after(`${proven} the escrow failed; the key was not tagged.`, e, report.keyId);
  }

  const managedTag = [{ TagKey: config.managedTagKey, TagValue: config.managedTagValue }];
  const managed = report.tags[config.managedTagKey] === config.managedTagValue;
  if (!managed) {
    step(`${report.keyId}: tagging ${config.managedTagKey}=${config.managedTagValue}`);
    try {
      await callWithRetry({ operation: 'TagResource', keyId: report.keyId }, () => kms.send(new TagResourceCommand({ KeyId: report.keyId, Tags: managedTag })), retry);
    } catch (e) {
      throw after(
        `Key ${report.keyId}: proven and escrowed in ${target.secretName}, but not tagged: tag it yourself (aws kms tag-resource --key-id ${report.keyId} --tags TagKey=${config.managedTagKey},TagValue=${config.managedTagValue}).`,
        e,
        report.keyId,
      );
    }
  }
  // A Multi-Region primary's replicas hold the same material (KMS takes no other into a replica) and
  // read the escrow replicated to their Region: they are managed too. KMS does not copy tags to them.
  const readable = new Set((escrow.escrowReplicas ?? []).filter((r) => r.status === 'InSync' || r.status === 'InProgress').map((r) => r.region));
  const replicasNotTagged = target.replicaRegions
    .filter((region) => !readable.has(region))
    .map((region) => {
      const replica = escrow.escrowReplicas?.find((r) => r.region === region);
      const tag = `aws kms tag-resource --key-id ${report.keyId} --tags TagKey=${config.managedTagKey},TagValue=${config.managedTagValue} --region ${region}`;
      return {
        region,
        reason: `the escrow's replica in ${region} is ${replica?.status ?? 'missing'}${replica?.statusMessage ? ` (${replica.statusMessage})` : ''}: a managed replica there would have no escrow to recover from`,
        fix:
          `make the escrow readable in ${region} (aws secretsmanager describe-secret --secret-id ${target.secretName} shows why; remove what blocks it, then ` +
          `aws secretsmanager replicate-secret-to-regions --secret-id ${target.secretName} --add-replica-regions Region=${region}), and once it is InSync: ${tag}`,
      };
    });
  for (const n of replicasNotTagged) step(`${report.keyId}: its replica in ${n.region} is NOT tagged: ${n.reason}`);
  const replicasTagged = await tagReplicas(deps, calls, report, target.replicaRegions.filter((r) => readable.has(r)), managedTag, retry, step);

  step(`${report.keyId}: verifying`);
  const verified = await verifyKey(kms, report, retry);
  return {
    keyId: report.keyId,
    arn: report.arn,
    keySpec: report.keySpec,
    keyStateBefore: report.keyState,
    keyStateAfter: verified.keyState,
    proof: proof.kind,
    ...(publicKeyMatched ? { publicKeyMatched } : {}),
    imported: {
      ...(imported.keyMaterialId ? { keyMaterialId: imported.keyMaterialId } : {}),
      expirationModel: proof.expirationModel,
      ...(proof.validTo ? { validTo: proof.validTo.toISOString() } : {}),
    },
    escrow: {
      secretId: target.secretName,
      secretArn: escrow.secretArn,
      secretVersionId: escrow.secretVersionId,
      ...(escrow.escrowReplicas ? { replicas: escrow.escrowReplicas } : {}),
    },
    tagged: !managed,
    ...(replicasTagged.length > 0 ? { replicasTagged } : {}),
    ...(replicasNotTagged.length > 0 ? { replicasNotTagged } : {}),
    verified: verified.check,
    calls,
  };
}
