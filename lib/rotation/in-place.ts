/**
 * In-place rotation of a SYMMETRIC_DEFAULT key's imported material (KMS on-demand rotation of
 * imported material, 2025): new material from a CSPRNG, ESCROWED FIRST (a pending-import entry in
 * a new escrow version), imported with ImportType NEW_KEY_MATERIAL (it waits in PENDING_ROTATION),
 * its KeyMaterialId recorded in escrow (another version), then RotateKeyOnDemand makes it CURRENT
 * and the old material NON_CURRENT (still decrypting what it encrypted). Then verified:
 * CurrentKeyMaterialId is the new material, an Encrypt/Decrypt round trip works, and a ciphertext
 * made just before the rotation still decrypts.
 *
 * Crash-safe, never a second new material: every run first reads what KMS and the escrow show and
 * finishes what an earlier run left, in this order:
 *   - the current material was escrowed by this very rotation (same rotation id): only verify;
 *   - KMS holds a material in PENDING_ROTATION: it is escrowed (recorded, or proven to be the
 *     escrow's pending-import entry by reimporting that entry under its KeyMaterialId), then rotated;
 *     a recorded one whose ValidTo passed while it waited (ImportState PENDING_IMPORT) is first
 *     reimported from its escrow entry, or RotateKeyOnDemand would refuse it on every run;
 *   - the current material is not in escrow but a pending-import entry is (rotated, not recorded):
 *     proven the same way, recorded, verified;
 *   - a pending-import entry and nothing in KMS (escrowed, not imported): THAT material is imported,
 *     never a new one;
 *   - else a fresh rotation.
 * A proof reimport that KMS answers IncorrectKeyMaterialException stops the run (the waiting
 * material is not the escrowed one: a person decides); nothing is ever deleted. For a material
 * still PENDING_ROTATION, whether KMS takes such a proof at all is unconfirmed: ANY refusal of it
 * (and a waiting material whose description does not name the escrow entry's rotation) is the
 * terminal PendingMaterialUnproven, whose message says to delete the pending material (it never
 * encrypted anything) and run again, which then imports the escrowed entry.
 *
 * A Multi-Region PRIMARY key (lib/rotation/multi-region.ts) takes the same steps, plus: its escrow
 * must be InSync in every replica Region before anything is imported (EscrowNotReplicated); after the
 * new material is imported into the primary (PENDING_MULTI_REGION_IMPORT_AND_ROTATION) and recorded,
 * the escrowed entry goes into every replica Region that lacks it (EXISTING_KEY_MATERIAL under the
 * KeyMaterialId, parameters from that Region); then RotateKeyOnDemand on the primary, and the
 * verification in the primary and in each replica. A re-run finds the primary's waiting material
 * and imports only into the replicas that lack it. If RotateKeyOnDemand refuses a Multi-Region key
 * (UnsupportedOperationException: one reading of the API reference), MultiRegionRotationRefused:
 * the material stays escrowed and imported, waiting, not current; nothing is lost.
 *
 * Plaintext material lives only in this module's buffers (generated, or read back from escrow),
 * wiped when the run ends; logs and errors carry IDs only.
 */
import {
  DecryptCommand,
  EncryptCommand,
  ImportKeyMaterialCommand,
  ListKeyRotationsCommand,
  RotateKeyOnDemandCommand,
  type ExpirationModelType,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ReimportConfig } from '../config.js';
import {
  awsErrorName,
  EscrowInvalid,
  EscrowMissing,
  ImportRequestInvalid,
  ImportTokenExpired,
  IncorrectKeyMaterial,
  isUnparsableResponse,
  KeyNotEligible,
  KmsUnavailable,
  MultiRegionRotationRefused,
  EscrowNotReplicated,
  PendingMaterialUnproven,
  ReimportError,
  ReplicaNotYetRotated,
  RotationConflict,
  RotationLimitReached,
  VerificationFailed,
  WrappingRejected,
} from '../errors.js';
import { isPendingImport, type EscrowEntry } from '../escrow/format.js';
import { wipe, wipeEscrowed } from '../escrow/material.js';
import { escrowSecretId, readEscrow } from '../escrow/read.js';
import { escrowRotationMaterial, recordImportedMaterial } from '../escrow/write.js';
import { getImportParameters } from '../kms/import-parameters.js';
import { chooseExpirationModel, computeValidTo, type ImportResult } from '../kms/import-material.js';
import { describeAliasTarget, describeKeyMetadata, inspectKey } from '../kms/inspect.js';
import { VERIFY_ENCRYPTION_CONTEXT, verifyKey } from '../kms/verify.js';
import { generateKeyMaterial } from '../material/generate.js';
import { callWithRetry, type RetryOptions } from '../retry.js';
import type { ParametersPacer, RunLogger } from '../run.js';
import type { KeyReport } from '../types.js';
import { chooseWrapping, wrapKeyMaterial } from '../wrap/index.js';
import { checkEscrowReplicated, checkReplicasManaged, multiRegionRefusal, regionOfKeyArn, replicaRegionsOf, type KmsFor, type SecretsFor } from './multi-region.js';

/** KMS's answers to a proof reimport that are a refusal (not transient, not a spent token). */
const PROOF_REFUSALS = new Set([
  'IncorrectKeyMaterialException',
  'KMSInvalidStateException',
  'UnsupportedOperationException',
  'ValidationException',
]);

/**
 * A material imported as NEW_KEY_MATERIAL and not yet rotated to: PENDING_ROTATION, or, on a
 * Multi-Region primary until every replica holds it, PENDING_MULTI_REGION_IMPORT_AND_ROTATION.
 */
export function isWaiting(state: string | undefined): boolean {
  return state === 'PENDING_ROTATION' || state === 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION';
}

/** KMS's limit of on-demand rotations per key (not raisable). */
export const MAX_ON_DEMAND_ROTATIONS = 25;
/** New import parameters after an expired/invalid token, per import: at most this many. */
const MAX_TOKEN_REFRESHES = 3;

export interface InPlaceDeps {
  kms: KMSClient;
  secrets: SecretsManagerClient;
  log: RunLogger;
  retry: RetryOptions;
  paceParameters: ParametersPacer;
  /** A KMS client per Region, for a Multi-Region primary's replicas (same endpoint and credentials). */
  kmsFor?: KmsFor;
  /**
   * A Secrets Manager client per Region: a replica takes the new material from the escrow as its own
   * Region reads it (the replicated secret). Without it, from the primary Region's secret.
   */
  secretsFor?: SecretsFor;
}

export interface InPlaceInput {
  report: KeyReport;
  config: ReimportConfig;
  now: () => Date;
  /** Names this rotation in escrow and in its secret version tokens (see defaultRotationId). */
  rotationId: string;
}

export interface InPlaceResult {
  fromKeyMaterialId?: string;
  toKeyMaterialId: string;
  /** What this run imported (the new material, or a proof reimport of it). */
  imported: ImportResult[];
  /** Steps this run did, in order: escrowed, imported, proven, recorded, rotated, verified. */
  done: string[];
  /** Steps an earlier run had done and this one found: escrowed, imported, recorded, rotated. */
  resumed: string[];
  /** The round trip that proved the key, and whether a pre-rotation ciphertext was decrypted. */
  check: string;
  oldCiphertextDecrypted: boolean;
  keyState: string;
}

/** The rotation id a run uses when none is given: one per key per UTC day (`rotation-YYYY-MM-DD`). */
export function defaultRotationId(now: Date): string {
  return `rotation-${now.toISOString().slice(0, 10)}`;
}

/** Why a key cannot be rotated in place (undefined: it can), from inspection alone. */
export function inPlaceRefusal(report: KeyReport): string | undefined {
  if (report.keySpec !== 'SYMMETRIC_DEFAULT') {
    return `Key ${report.keyId} is ${report.keySpec}: KMS rotates imported material in place for SYMMETRIC_DEFAULT keys only; rotate it by alias swap (--mode alias-swap, or auto).`;
  }
  const multiRegion = multiRegionRefusal(report);
  if (multiRegion) return multiRegion;
  if (!report.materialsListed || !report.currentKeyMaterialId) {
    return (
      `Key ${report.keyId}: KMS does not list its materials (ListKeyRotations) or name its current one (CurrentKeyMaterialId), so an in-place ` +
      `rotation could neither label the escrow nor be checked. Nothing was done; check the endpoint (another KMS implementation?) and the permissions.`
    );
  }
  return undefined;
}

/** The key's on-demand rotations so far (ListKeyRotations), or undefined when KMS does not say. */
export async function countOnDemandRotations(kms: KMSClient, keyId: string, retry: RetryOptions): Promise<number | undefined> {
  let count = 0;
  let marker: string | undefined;
  try {
    do {
      const out = await callWithRetry(
        { operation: 'ListKeyRotations', keyId },
        () => kms.send(new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ROTATIONS_ONLY', ...(marker ? { Marker: marker } : {}) })),
        retry,
      );
      for (const r of out?.Rotations ?? []) if (r.RotationType === 'ON_DEMAND') count++;
      marker = out?.Truncated ? out.NextMarker : undefined;
    } while (marker);
  } catch (e) {
    if (isUnparsableResponse(e) || ['UnsupportedOperationException', 'UnknownOperationException'].includes(awsErrorName(e) ?? '')) return undefined;
    throw e;
  }
  return count;
}

function limitReached(keyId: string, count: number | undefined, fromRotate: boolean): RotationLimitReached {
  return new RotationLimitReached(
    `Key ${keyId} has had ${count ?? 'the'} ${count === undefined ? '' : 'of the '}${MAX_ON_DEMAND_ROTATIONS} on-demand rotations KMS allows per key (not raisable)` +
      `${fromRotate ? ' (RotateKeyOnDemand answered LimitExceededException; the new material stays escrowed and PENDING_ROTATION, harmless)' : '; nothing was imported'}. ` +
      `Rotate it by alias swap instead: kms-reimport rotate ${keyId} --mode alias-swap, or set KMS_REIMPORT_ROTATION_CAP_FALLBACK=alias-swap.`,
    { keyId },
  );
}

/** What a rotation of this key in place would do now, from inspection alone (a plan: no escrow read, nothing changed). */
export function describeInPlacePlan(report: KeyReport, onDemandRotations: number | undefined): string {
  const pending = report.materials.find((m) => isWaiting(m.state));
  const cap =
    onDemandRotations === undefined
      ? 'KMS did not say how many on-demand rotations the key has had'
      : `this would be on-demand rotation ${onDemandRotations + 1} of ${MAX_ON_DEMAND_ROTATIONS}`;
  const replicas = replicaRegionsOf(report);
  const where = regionOfKeyArn(report.arn) ?? 'its Region';
  const multiRegion =
    replicas.length > 0
      ? `; a Multi-Region primary (${where}): its escrow must be readable (replicated, InSync) in ${replicas.join(', ')} or nothing is imported; ` +
        `the same material then goes into its replicas in ${replicas.join(', ')} as EXISTING_KEY_MATERIAL under its KeyMaterialId (import parameters from each Region), ` +
        `RotateKeyOnDemand on the primary rotates every Region, verified in every Region`
      : '';
  if (pending) {
    return (
      `would finish an interrupted rotation of key ${report.keyId}: material ${pending.keyMaterialId} is imported and ${pending.state}; ` +
      `check it is escrowed (record its KeyMaterialId)${replicas.length > 0 ? ', import it into the replicas that lack it' : ''}, RotateKeyOnDemand, verify (${cap})${multiRegion}.`
    );
  }
  return (
    `would rotate key ${report.keyId} in place from material ${report.currentKeyMaterialId}: new 32-byte material (or the escrow's not-yet-imported ` +
    `entry of an interrupted rotation), escrowed first, imported as NEW_KEY_MATERIAL, its KeyMaterialId recorded in escrow, RotateKeyOnDemand, ` +
    `verified (new CurrentKeyMaterialId, Encrypt/Decrypt, a ciphertext from before still decrypts)${multiRegion}; ${cap}. KMS charges for each rotation of imported material.`
  );
}

function importError(e: unknown, report: KeyReport, what: string): unknown {
  const key = report.keyId;
  switch (awsErrorName(e)) {
    case 'ExpiredImportTokenException':
    case 'InvalidImportTokenException':
      return new ImportTokenExpired(`The import token for key ${key} is expired or no longer valid; fetch new import parameters.`, { keyId: key, cause: e });
    case 'IncorrectKeyMaterialException':
      return new IncorrectKeyMaterial(
        `KMS refused ${what} for key ${key} (IncorrectKeyMaterialException): the escrowed material is not the one KMS holds under that ID, or it is ` +
          `already associated with the key. Stopped: nothing else was tried and nothing was rotated. Compare the escrow secret ${'(its versions)'} with ` +
          `aws kms list-key-rotations --key-id ${key} --include-key-material ALL_KEY_MATERIAL before doing anything else.`,
        { keyId: key, cause: e },
      );
    case 'InvalidCiphertextException':
      return new WrappingRejected(`KMS could not unwrap the material for key ${key} (${what}); check the wrapping configuration, then run again.`, { keyId: key, cause: e });
    case 'KMSInvalidStateException':
      return new RotationConflict(
        `KMS refused ${what} for key ${key} because of the key's state (KMSInvalidStateException: another new material waiting for rotation, or the key changed). ` +
          `Nothing was rotated; inspect the key (aws kms list-key-rotations --key-id ${key} --include-key-material ALL_KEY_MATERIAL) and run again later.`,
        { keyId: key, cause: e },
      );
    case 'ValidationException':
      return new ImportRequestInvalid(`KMS rejected ${what} for key ${key} as invalid (ValidationException); check ValidTo and ExpirationModel, then run again.`, {
        keyId: key,
        cause: e,
      });
    case 'UnsupportedOperationException':
      if (report.multiRegion && what.startsWith('the import of new material')) {
        return new MultiRegionRotationRefused(
          `KMS does not take new material into Multi-Region key ${key} (UnsupportedOperationException on ${what}): KMS's API reference says in one place that ` +
            `Multi-Region keys with imported material cannot rotate on demand. Nothing is lost: the new material stays escrowed (not imported) and the current ` +
            `material still works. Next: leave the key as it is (a later run imports that same escrowed material, never another), or move to a new Multi-Region key by hand.`,
          { keyId: key, cause: e },
        );
      }
      return new KeyNotEligible(`KMS does not support ${what} for key ${key} (UnsupportedOperationException); it cannot be rotated in place.`, { keyId: key, cause: e });
    default:
      return e;
  }
}

type ImportKind = { type: 'new'; description: string } | { type: 'existing'; keyMaterialId: string; expirationModel?: ExpirationModelType };

/**
 * Wraps and imports `material` (the caller owns and wipes it) with fresh, paced parameters; an
 * expired or spent token gets new ones, at most MAX_TOKEN_REFRESHES times. NEW_KEY_MATERIAL for a
 * rotation's material, EXISTING_KEY_MATERIAL + KeyMaterialId to prove escrowed material is the one
 * KMS holds under that ID.
 */
async function importMaterial(deps: InPlaceDeps, input: InPlaceInput, report: KeyReport, material: Buffer, kind: ImportKind): Promise<ImportResult> {
  const choice = chooseWrapping(report.keySpec, input.config, report.keyId);
  // The new material follows the key's current model (unless configured); a proof reimport, its own material's.
  const expirationModel: ExpirationModelType =
    kind.type === 'existing' && kind.expirationModel ? kind.expirationModel : chooseExpirationModel(input.config, report, kind.type === 'existing' ? kind.keyMaterialId : undefined).model;
  const what = kind.type === 'new' ? 'the import of new material (NEW_KEY_MATERIAL)' : `the reimport of material ${kind.keyMaterialId}`;
  for (let refreshes = 0; ; refreshes++) {
    const params = await deps.paceParameters(() => getImportParameters(deps.kms, report.keyId, choice, deps.retry));
    const validTo = expirationModel === 'KEY_MATERIAL_EXPIRES' ? computeValidTo(input.now(), input.config.materialLifetimeDays) : undefined;
    const wrapped = wrapKeyMaterial(material, Buffer.from(params.publicKey, 'base64'), params.wrappingAlgorithm, report.keyId);
    try {
      const out = await callWithRetry(
        { operation: 'ImportKeyMaterial', keyId: report.keyId },
        () =>
          deps.kms.send(
            new ImportKeyMaterialCommand({
              KeyId: report.keyId,
              ImportToken: Buffer.from(params.importToken, 'base64'),
              EncryptedKeyMaterial: wrapped,
              ExpirationModel: expirationModel,
              ...(validTo ? { ValidTo: validTo } : {}),
              ...(kind.type === 'new'
                ? { ImportType: 'NEW_KEY_MATERIAL' as const, KeyMaterialDescription: kind.description }
                : { ImportType: 'EXISTING_KEY_MATERIAL' as const, KeyMaterialId: kind.keyMaterialId }),
            }),
          ),
        deps.retry,
      );
      const keyMaterialId = out?.KeyMaterialId?.toLowerCase() ?? (kind.type === 'existing' ? kind.keyMaterialId : undefined);
      if (!keyMaterialId) {
        // An endpoint that does not return the ID: read it back (the one material waiting for rotation).
        const again = await inspectKey(deps.kms, report.keyId, deps.retry);
        const pending = again.materials.find((m) => isWaiting(m.state));
        if (!pending?.keyMaterialId) {
          throw new VerificationFailed(
            `KMS took new material for key ${report.keyId} but named no KeyMaterialId and lists none PENDING_ROTATION; nothing was rotated. Run again: the escrowed material is imported, never a new one.`,
            { keyId: report.keyId },
          );
        }
        return { keyMaterialId: pending.keyMaterialId, expirationModel, ...(validTo ? { validTo: validTo.toISOString() } : {}) };
      }
      return { keyMaterialId, expirationModel, ...(validTo ? { validTo: validTo.toISOString() } : {}) };
    } catch (e) {
      const mapped = importError(e, report, what);
      if (mapped instanceof ImportTokenExpired && refreshes < MAX_TOKEN_REFRESHES) {
        deps.log.warn('import token expired or replaced; fetching new import parameters', { keyId: report.keyId });
        continue;
      }
      throw mapped;
    } finally {
      wipe(wrapped);
    }
  }
}

/** RotateKeyOnDemand with its refusals named. An answer lost on the way is checked by reading the key again. */
async function rotateOnDemand(deps: InPlaceDeps, report: KeyReport, to: string, rotations: number | undefined): Promise<void> {
  try {
    await callWithRetry({ operation: 'RotateKeyOnDemand', keyId: report.keyId }, () => deps.kms.send(new RotateKeyOnDemandCommand({ KeyId: report.keyId })), deps.retry);
  } catch (e) {
    // A retried RotateKeyOnDemand whose first answer was lost finds nothing left to rotate: the key,
    // read again, tells whether the rotation took effect.
    if (awsErrorName(e) === 'KMSInvalidStateException' || isUnparsableResponse(e) || e instanceof KmsUnavailable) {
      const m = await describeKeyMetadata(deps.kms, report.keyId, deps.retry).catch(() => undefined);
      if (m?.CurrentKeyMaterialId?.toLowerCase() === to) {
        deps.log.warn('RotateKeyOnDemand did not answer as expected, but the key read again shows the rotation took effect', { keyId: report.keyId, errorName: awsErrorName(e) });
        return;
      }
    }
    if (awsErrorName(e) === 'UnsupportedOperationException' && report.multiRegion) {
      const replicas = replicaRegionsOf(report);
      throw new MultiRegionRotationRefused(
        `KMS refused RotateKeyOnDemand for Multi-Region key ${report.keyId} (UnsupportedOperationException): KMS's API reference says in one place that ` +
          `Multi-Region keys with imported material cannot rotate on demand, and this KMS applies that reading. Nothing is lost: the new material ${to} stays ` +
          `escrowed (with its KeyMaterialId) and imported into the primary${replicas.length > 0 ? ` and its replicas in ${replicas.join(', ')}` : ''}, waiting ` +
          `for rotation, not current; the current material still encrypts and decrypts everywhere. Next: leave it waiting (a later run of the rotation only ` +
          `retries RotateKeyOnDemand, never another material) and ask AWS Support whether on-demand rotation of this key is supported, or move to a new ` +
          `Multi-Region key by hand. To drop the waiting material instead: aws kms delete-imported-key-material --key-id ${report.keyId} --key-material-id ${to}` +
          `${regionOfKeyArn(report.arn) ? ` --region ${regionOfKeyArn(report.arn)}` : ''} (it never encrypted anything; KMS deletes it from the replicas too).`,
        { keyId: report.keyId, cause: e },
      );
    }
    switch (awsErrorName(e)) {
      case 'ConflictException':
        throw new RotationConflict(
          `KMS refused to rotate key ${report.keyId} now (ConflictException: a rotation is running or due within minutes). The new material ${to} stays ` +
            `escrowed and PENDING_ROTATION; run the rotation again later and it finishes this one (no other material is made).`,
          { keyId: report.keyId, cause: e },
        );
      case 'LimitExceededException':
        throw limitReached(report.keyId, rotations, true);
      case 'KMSInvalidStateException':
      case 'DisabledException':
      case 'UnsupportedOperationException':
        throw new KeyNotEligible(
          `KMS refused RotateKeyOnDemand for key ${report.keyId} (${awsErrorName(e)}): its state changed, or it cannot rotate on demand. The new material ${to} stays ` +
            `escrowed and PENDING_ROTATION; inspect the key, then run the rotation again.`,
          { keyId: report.keyId, cause: e },
        );
      default:
        throw e;
    }
  }
}

async function encryptProbe(deps: InPlaceDeps, keyId: string, probe: Buffer): Promise<Uint8Array> {
  const out = await callWithRetry(
    { operation: 'Encrypt', keyId },
    () => deps.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: probe, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT', EncryptionContext: { ...VERIFY_ENCRYPTION_CONTEXT } })),
    deps.retry,
  );
  if (!out?.CiphertextBlob) throw new VerificationFailed(`Encrypt with key ${keyId} returned no ciphertext before the rotation; nothing was rotated. Run again.`, { keyId });
  return out.CiphertextBlob;
}

/** After the rotation: the new material is current, the key does a round trip, and (when given) the ciphertext made before the rotation still decrypts. */
/** DescribeKey looks after RotateKeyOnDemand before the rotation is called not done (backoff from the retry base). */
const VERIFY_LOOKS = 6;
const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function verifyRotation(
  deps: InPlaceDeps,
  report: KeyReport,
  to: string,
  before?: { probe: Buffer; ciphertext: Uint8Array },
  replicaRegion?: string,
): Promise<{ check: string; keyState: string }> {
  // RotateKeyOnDemand starts the rotation: give KMS a few bounded looks before calling it failed.
  let current: string | undefined;
  for (let look = 0; ; look++) {
    const m = await describeKeyMetadata(deps.kms, report.keyId, deps.retry);
    current = m.CurrentKeyMaterialId?.toLowerCase();
    if (current === to || look >= VERIFY_LOOKS - 1) break;
    await (deps.retry.sleep ?? realSleep)(Math.min(10_000, deps.retry.baseDelayMs * 2 ** look));
  }
  if (current !== to && replicaRegion !== undefined) {
    // The primary is rotated (verified first); KMS brings the rotation to each replica on its own, and
    // may take longer than these looks. Not a failure of the rotation: a later run only verifies.
    throw new ReplicaNotYetRotated(
      `Multi-Region key ${report.keyId} was rotated to material ${to} in its primary Region, but its replica in ${replicaRegion} still names ` +
        `${current ?? '(no material)'} as current (KMS propagates the rotation to replicas on its own). Nothing is lost and nothing more is imported: ` +
        `run the rotation again later (the same rotation id: it only verifies), or check aws kms describe-key --key-id ${report.keyId} --region ${replicaRegion}.`,
      { keyId: report.keyId },
    );
  }
  if (current !== to) {
    throw new VerificationFailed(
      `After the rotation, key ${report.keyId}'s current material is ${current ?? '(not named)'}, not the new material ${to}. Inspect the key ` +
        `(aws kms describe-key --key-id ${report.keyId}); the escrow holds both materials, so run the rotation again to finish it.`,
      { keyId: report.keyId },
    );
  }
  const verified = await verifyKey(deps.kms, report, deps.retry);
  if (!before) return { check: verified.check, keyState: verified.keyState };
  let plain: Uint8Array | undefined;
  try {
    const out = await callWithRetry(
      { operation: 'Decrypt', keyId: report.keyId },
      () =>
        deps.kms.send(
          new DecryptCommand({ KeyId: report.keyId, CiphertextBlob: before.ciphertext, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT', EncryptionContext: { ...VERIFY_ENCRYPTION_CONTEXT } }),
        ),
      deps.retry,
    );
    plain = out?.Plaintext;
  } catch (e) {
    throw new VerificationFailed(
      `Key ${report.keyId} was rotated to ${to} but a ciphertext made just before the rotation does not decrypt (${awsErrorName(e) ?? 'error'}): data encrypted under the ` +
        `old material may be unreadable. Inspect the key's materials now (aws kms list-key-rotations --key-id ${report.keyId} --include-key-material ALL_KEY_MATERIAL).`,
      { keyId: report.keyId, cause: e },
    );
  }
  const same = plain !== undefined && plain.length === before.probe.length && timingSafeEqual(plain, before.probe);
  wipe(plain);
  if (!same) throw new VerificationFailed(`Key ${report.keyId}: a ciphertext made before the rotation decrypted to something else. Inspect the key now.`, { keyId: report.keyId });
  return { check: `${verified.check}; CurrentKeyMaterialId is the new material; a ciphertext from before the rotation decrypts`, keyState: verified.keyState };
}

/**
 * Rotates `input.report` (inspected under the run's lease: Enabled, managed, EXTERNAL,
 * SYMMETRIC_DEFAULT, single-Region; see inPlaceRefusal) in place, finishing whatever an earlier run
 * left. Throws named errors; the caller maps them to the outcome.
 */
/**
 * The KeyMaterialDescription sent with the new material. KMS allows only letters, digits, spaces
 * and `: / _ . -` (KeyMaterialDescriptionType, at most 256 characters): no parentheses.
 */
export function rotationDescription(rotationId: string, now: Date): string {
  return `kms-reimport rotation ${rotationId} ${now.toISOString().slice(0, 10)}`.replace(/[^a-zA-Z0-9:/_\s.-]/g, '-').slice(0, 256);
}

/** Whether a material's KeyMaterialDescription is the one rotationDescription wrote for `rotationId` (any date). */
export function describesRotation(description: string | undefined, rotationId: string): boolean {
  if (description === undefined) return false;
  const prefix = rotationDescription(rotationId, new Date(0)).replace(/ \d{4}-\d{2}-\d{2}$/, ' ');
  return description.startsWith(prefix) && /^\d{4}-\d{2}-\d{2}$/.test(description.slice(prefix.length));
}

/**
 * After a NEW_KEY_MATERIAL import failed in a way a lost answer explains (the retry met
 * IncorrectKeyMaterialException "already associated", KMSInvalidStateException because a material is
 * already PENDING_ROTATION, an unparsable answer, KMS unavailable): the key read again. Returns the ID
 * of a PENDING_ROTATION material whose description names `entryRotation` (this rotation's import
 * arrived), else undefined (the caller rethrows the error).
 */
async function importedByThisRotation(deps: InPlaceDeps, report: KeyReport, entryRotation: string, error: unknown): Promise<string | undefined> {
  const explained = error instanceof IncorrectKeyMaterial || error instanceof RotationConflict || error instanceof KmsUnavailable || isUnparsableResponse(error);
  if (!explained) return undefined;
  const again = await inspectKey(deps.kms, report.keyId, deps.retry).catch(() => undefined);
  const mine = again?.materials.find((m) => isWaiting(m.state) && m.keyMaterialId && describesRotation(m.description, entryRotation));
  if (!mine?.keyMaterialId) return undefined;
  deps.log.warn('the import of new material did not answer as expected, but the key read again holds it waiting for rotation; proving and recording it', {
    keyId: report.keyId,
    keyMaterialId: mine.keyMaterialId,
    errorName: error instanceof Error ? error.name : undefined,
  });
  return mine.keyMaterialId.toLowerCase();
}

/** The terminal error for a PENDING_ROTATION material that cannot be proven to be the escrowed entry, with the next step. */
function pendingUnproven(
  keyId: string,
  pendingId: string,
  why: string,
  cause?: unknown,
  then = 'then run the rotation again: it imports the escrowed entry',
): PendingMaterialUnproven {
  return new PendingMaterialUnproven(
    `Key ${keyId} has new material ${pendingId} waiting for rotation (PENDING_ROTATION) that cannot be proven to be the material escrowed for it: ${why}. ` +
      `Nothing was rotated and retrying will not change this. Next: aws kms delete-imported-key-material --key-id ${keyId} --key-material-id ${pendingId} ` +
      `(harmless: pending material never encrypted anything), ${then}.`,
    { keyId, ...(cause !== undefined ? { cause } : {}) },
  );
}

function kmsForReplicas(deps: InPlaceDeps, report: KeyReport): KmsFor {
  if (deps.kmsFor) return deps.kmsFor;
  throw new KeyNotEligible(
    `Key ${report.keyId} is a Multi-Region primary with replicas in ${replicaRegionsOf(report).join(', ')}, and this run was given no KMS client for those Regions; nothing was imported there. ` +
      `Run the rotation through rotateKey (it makes one per Region) or pass kmsFor.`,
    { keyId: report.keyId },
  );
}

/** Runs `work` for a replica Region; a named error it throws says which Region. */
async function inRegion<T>(region: string, report: KeyReport, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof ReimportError) e.message = `In ${region} (replica of Multi-Region key ${report.keyId}): ${e.message}`;
    throw e;
  }
}

/**
 * A Multi-Region primary's rotation, between recording the new material and RotateKeyOnDemand: the
 * same escrowed material (the escrow entry recorded under `to`, read back: escrow is the truth) into
 * every replica Region that does not hold it yet, as EXISTING_KEY_MATERIAL under the primary's
 * KeyMaterialId with import parameters from that Region, paced like the others. A replica that
 * already holds it (IMPORTED: an earlier run got that far) is left alone.
 */
async function importIntoReplicas(
  deps: InPlaceDeps,
  input: InPlaceInput,
  report: KeyReport,
  to: string,
  expirationModel: ExpirationModelType,
  done: { imported: ImportResult[]; step: (name: string, extra?: object) => void; resumed: string[] },
): Promise<void> {
  const regions = replicaRegionsOf(report);
  if (regions.length === 0) return;
  const kmsFor = kmsForReplicas(deps, report);
  const secretId = escrowSecretId(report, input.config);
  const already: string[] = [];
  for (const region of regions) {
    const kms = kmsFor(region);
    await inRegion(region, report, async () => {
      const replica = await inspectKey(kms, report.keyId, deps.retry);
      const held = replica.materials.find((m) => m.keyMaterialId?.toLowerCase() === to);
      if (held?.importState === 'IMPORTED') {
        already.push(region);
        deps.log.info('replica already holds the new material', { keyId: report.keyId, region, keyMaterialId: to });
        return;
      }
      // The material goes into the replica from the escrow as that Region reads it (its replica of the
      // secret): what recovery there would import. Not there yet → nothing imported there.
      let entries: EscrowEntry[] = [];
      try {
        entries = await readEscrow(deps.secretsFor ? deps.secretsFor(region) : deps.secrets, report, input.config, deps.retry);
        const entry = entries.find((e) => e.keyMaterialId === to);
        if (!entry) {
          if (deps.secretsFor) {
            throw new EscrowNotReplicated(
              `Escrow secret ${secretId} as ${region} reads it does not hold material ${to} of Multi-Region key ${report.keyId} yet (Secrets Manager replicates each ` +
                `new version within seconds to minutes): the replica there must not take material that recovery in ${region} could not read back. Nothing was imported ` +
                `into ${region} and nothing was rotated; the new material waits in the primary. Run the rotation again shortly: it continues from here.`,
              { keyId: report.keyId },
            );
          }
          throw new EscrowMissing(
            `Escrow secret ${secretId} holds no entry for material ${to} of key ${report.keyId}, which this rotation recorded: another writer changed the secret. ` +
              `Nothing was imported into ${region} and nothing was rotated; check the secret's versions, then run again.`,
            { keyId: report.keyId },
          );
        }
        const result = await importMaterial({ ...deps, kms }, input, report, entry.material, { type: 'existing', keyMaterialId: to, expirationModel });
        done.imported.push(result);
        done.step('imported into replica', { region, keyMaterialId: to });
      } finally {
        wipeEscrowed(entries);
      }
    });
  }
  if (already.length > 0) done.resumed.push(`imported into ${already.join(', ')}`);
}

/** verifyRotation in the primary, then in every replica Region (same probe ciphertext: a Multi-Region key's ciphertexts decrypt in any of its Regions). */
async function verifyEverywhere(
  deps: InPlaceDeps,
  report: KeyReport,
  to: string,
  before?: { probe: Buffer; ciphertext: Uint8Array },
): Promise<{ check: string; keyState: string }> {
  const primary = await verifyRotation(deps, report, to, before);
  const regions = replicaRegionsOf(report);
  if (regions.length === 0) return primary;
  const kmsFor = kmsForReplicas(deps, report);
  const checks: string[] = [];
  for (const region of regions) {
    await inRegion(region, report, () => verifyRotation({ ...deps, kms: kmsFor(region) }, report, to, before, region));
    checks.push(region);
  }
  return {
    check: `${primary.check}; the same in ${checks.join(', ')} (CurrentKeyMaterialId, Encrypt/Decrypt${before ? ', the ciphertext from before' : ''})`,
    keyState: primary.keyState,
  };
}

export async function rotateInPlace(deps: InPlaceDeps, input: InPlaceInput): Promise<InPlaceResult> {
  const { report, config, rotationId } = input;
  const refusal = inPlaceRefusal(report);
  if (refusal) throw new KeyNotEligible(refusal, { keyId: report.keyId });
  const secretId = escrowSecretId(report, config);
  const from = (report.currentKeyMaterialId as string).toLowerCase();
  const done: string[] = [];
  const resumed: string[] = [];
  const imported: ImportResult[] = [];
  const waiting = report.materials.find((m) => isWaiting(m.state));
  const step = (name: string, extra: object = {}) => {
    done.push(name);
    deps.log.info(`rotation step done: ${name}`, { keyId: report.keyId, rotationId, ...extra });
  };

  let entries: EscrowEntry[] = [];
  let fresh: Buffer | undefined;
  const probe = randomBytes(32);
  try {
    // A Multi-Region primary: every replica managed (the tag is not copied to replicas) and not pending
    // deletion, checked FIRST: a refused run changes nothing (no escrow replication started) ...
    if (replicaRegionsOf(report).length > 0) await checkReplicasManaged(kmsForReplicas(deps, report), report, config, deps.retry);
    // ... then escrow readable in every replica Region, or nothing is imported anywhere.
    await checkEscrowReplicated(deps.secrets, report, config, deps.retry, deps.log, deps.secretsFor);
    entries = await readEscrow(deps.secrets, report, config, deps.retry);
    const pendingEntries = entries.filter(isPendingImport);
    if (pendingEntries.length > 1) {
      throw new EscrowInvalid(
        `Escrow secret ${secretId} holds ${pendingEntries.length} materials escrowed for rotations and never recorded as imported; kms-reimport writes one at a time, so the secret was edited. ` +
          `Nothing was done: keep the one that belongs (see the secret's versions) in a new version, then run again.`,
        { keyId: report.keyId },
      );
    }
    const pendingEntry = pendingEntries[0];
    const labelled = (id: string | undefined) => id !== undefined && entries.some((e) => e.keyMaterialId === id.toLowerCase());
    const currentEntry = entries.find((e) => e.keyMaterialId === from);
    const unlabelledCurrent = entries.some((e) => !e.keyMaterialId && !isPendingImport(e));

    // Done already: the key's current material is this rotation's.
    if (!waiting && currentEntry?.rotation === rotationId) {
      resumed.push('escrowed', 'imported', 'recorded', 'rotated');
      const verified = await verifyEverywhere(deps, report, from);
      step('verified');
      return { toKeyMaterialId: from, imported, done, resumed, check: verified.check, oldCiphertextDecrypted: false, keyState: verified.keyState };
    }

    // Proves that the escrow's pending-import entry is the material KMS holds as `id`, and records it.
    // A material still PENDING_ROTATION (`pending`): any refusal of the proof is terminal (see pendingUnproven).
    const proveAndRecord = async (id: string, pending = false, entry: EscrowEntry = pendingEntry as EscrowEntry) => {
      let result: ImportResult;
      try {
        result = await importMaterial(deps, input, report, entry.material, { type: 'existing', keyMaterialId: id });
      } catch (e) {
        if (pending && PROOF_REFUSALS.has(awsErrorName((e as { cause?: unknown }).cause ?? e) ?? '')) {
          throw pendingUnproven(report.keyId, id, `KMS refused to take the escrowed entry again under its ID (${awsErrorName((e as { cause?: unknown }).cause ?? e)})`, e);
        }
        throw e;
      }
      imported.push(result);
      step('proven', { keyMaterialId: id });
      await recordImportedMaterial(deps.secrets, report, config, { rotationId: entry.rotation ?? rotationId, keyMaterialId: id, importedAt: input.now().toISOString() }, deps.retry);
      step('recorded', { keyMaterialId: id });
    };

    // Rotated by an earlier run that stopped before recording: prove, record, verify.
    if (!waiting && !currentEntry && !unlabelledCurrent && pendingEntry) {
      resumed.push('escrowed', 'imported', 'rotated');
      await proveAndRecord(from);
      const verified = await verifyEverywhere(deps, report, from);
      step('verified');
      return { toKeyMaterialId: from, imported, done, resumed, check: verified.check, oldCiphertextDecrypted: false, keyState: verified.keyState };
    }

    // Never rotate away from a material the escrow does not hold: it could not be recovered afterwards.
    const unescrowed = report.materials
      .filter((m) => m.keyMaterialId && (m.state === 'CURRENT' || m.state === 'NON_CURRENT'))
      .map((m) => (m.keyMaterialId as string).toLowerCase())
      .filter((id) => !labelled(id) && !(id === from && unlabelledCurrent));
    if (unescrowed.length > 0) {
      throw new EscrowMissing(
        `Escrow secret ${secretId} does not hold material(s) ${unescrowed.join(', ')} of key ${report.keyId}: rotating now could leave them unrecoverable. ` +
          `Add them to the escrow (kms-reimport/v1, each with its keyMaterialId) from your offline copy, then run again. Nothing was done.`,
        { keyId: report.keyId },
      );
    }

    const rotations = await countOnDemandRotations(deps.kms, report.keyId, deps.retry);
    if (rotations !== undefined && rotations >= MAX_ON_DEMAND_ROTATIONS) throw limitReached(report.keyId, rotations, false);

    let to: string;
    if (waiting) {
      to = (waiting.keyMaterialId as string).toLowerCase();
      if (labelled(to)) {
        resumed.push('escrowed', 'imported', 'recorded');
        if (waiting.importState === 'PENDING_IMPORT') {
          // Its ValidTo passed while the rotation was stuck: RotateKeyOnDemand would refuse it again and
          // again. Reimport it from its own escrow entry first (EXISTING_KEY_MATERIAL under its ID).
          const entry = entries.find((e) => e.keyMaterialId === to) as EscrowEntry;
          let result: ImportResult;
          try {
            result = await importMaterial(deps, input, report, entry.material, { type: 'existing', keyMaterialId: to });
          } catch (e) {
            if (PROOF_REFUSALS.has(awsErrorName((e as { cause?: unknown }).cause ?? e) ?? '')) {
              throw pendingUnproven(
                report.keyId,
                to,
                `its material expired while it waited (PENDING_IMPORT) and KMS refused to take the escrowed entry again under its ID (${awsErrorName((e as { cause?: unknown }).cause ?? e)})`,
                e,
                'then run the rotation again: it rotates to new material (the escrow keeps this entry; nothing encrypted under it)',
              );
            }
            throw e;
          }
          imported.push(result);
          step('reimported', { keyMaterialId: to });
        }
      } else if (pendingEntry) {
        resumed.push('escrowed', 'imported');
        const entryRotation = pendingEntry.rotation ?? rotationId;
        if (!describesRotation(waiting.description, entryRotation)) {
          throw pendingUnproven(
            report.keyId,
            to,
            `its description (${waiting.description === undefined ? 'none' : JSON.stringify(waiting.description)}) does not name rotation ${entryRotation}, for which escrow holds a not-yet-imported entry`,
          );
        }
        await proveAndRecord(to, true);
      } else {
        throw new EscrowMissing(
          `Key ${report.keyId} has material ${to} imported and waiting for rotation (PENDING_ROTATION), and escrow secret ${secretId} does not hold it: ` +
            `kms-reimport never rotates a key to material it has not escrowed. If it is yours, add it to the escrow (kms-reimport/v1, with its keyMaterialId) and run again; ` +
            `otherwise delete it (aws kms delete-imported-key-material --key-id ${report.keyId} --key-material-id ${to}). Nothing was rotated.`,
          { keyId: report.keyId },
        );
      }
    } else {
      let entry: EscrowEntry;
      let entryRotation = rotationId;
      if (pendingEntry) {
        // Escrowed by an earlier run and never imported: import THAT, never a new one.
        entry = pendingEntry;
        entryRotation = pendingEntry.rotation ?? rotationId;
        resumed.push('escrowed');
      } else {
        fresh = await generateKeyMaterial(report.keySpec);
        await escrowRotationMaterial(
          deps.secrets,
          report,
          config,
          { rotationId, material: fresh, description: `kms-reimport rotation ${rotationId}` },
          (alias) => describeAliasTarget(deps.kms, alias, deps.retry),
          deps.retry,
        );
        step('escrowed', { secretId });
        wipe(fresh);
        fresh = undefined;
        // Escrow is the truth: import exactly what it now holds for this rotation, never the buffer
        // in hand (a concurrent run may have escrowed its own material first under the same ID).
        wipeEscrowed(entries);
        entries = await readEscrow(deps.secrets, report, config, deps.retry);
        const mine = entries.find((e) => e.rotation === rotationId && isPendingImport(e));
        if (!mine) {
          throw new EscrowMissing(
            `Escrow secret ${secretId} shows no material escrowed by rotation ${rotationId} of key ${report.keyId} right after it was written: ` +
              `another writer changed the secret. Nothing was imported; check the secret's versions, then run again.`,
            { keyId: report.keyId },
          );
        }
        entry = mine;
      }
      let result: ImportResult | undefined;
      let lost: string | undefined;
      try {
        result = await importMaterial(deps, input, report, entry.material, {
          type: 'new',
          description: rotationDescription(entryRotation, input.now()),
        });
      } catch (e) {
        // A lost answer: the retry of the NEW import meets the material the first attempt left.
        lost = await importedByThisRotation(deps, report, entryRotation, e);
        if (lost === undefined) throw e;
      }
      if (result === undefined) {
        to = lost as string;
        step('imported', { keyMaterialId: to, answerLost: true });
        await proveAndRecord(to, true, entry);
      } else {
        to = result.keyMaterialId as string;
        imported.push(result);
        step('imported', { keyMaterialId: to });
        wipe(fresh);
        await recordImportedMaterial(deps.secrets, report, config, { rotationId: entryRotation, keyMaterialId: to, importedAt: input.now().toISOString() }, deps.retry);
        step('recorded', { keyMaterialId: to });
      }
    }

    wipeEscrowed(entries);
    if (replicaRegionsOf(report).length > 0) {
      // The model the new material went into the primary with (this run's import, else as KMS lists it).
      const model = (imported.find((i) => i.keyMaterialId === to)?.expirationModel ??
        chooseExpirationModel(config, report, report.materials.some((m) => m.keyMaterialId?.toLowerCase() === to) ? to : undefined).model) as ExpirationModelType;
      await importIntoReplicas(deps, input, report, to, model, { imported, step, resumed });
    }
    const ciphertext = await encryptProbe(deps, report.keyId, probe);
    await rotateOnDemand(deps, report, to, rotations);
    step('rotated', { fromKeyMaterialId: from, toKeyMaterialId: to });
    const verified = await verifyEverywhere(deps, report, to, { probe, ciphertext });
    step('verified');
    return { fromKeyMaterialId: from, toKeyMaterialId: to, imported, done, resumed, check: verified.check, oldCiphertextDecrypted: true, keyState: verified.keyState };
  } finally {
    wipeEscrowed(entries);
    wipe(fresh);
    probe.fill(0);
  }
}
