/**
 * Adding a material to a key's escrow, for rotation: never an overwrite, never a deletion. Each
 * write reads the secret's current value (raw SecretBinary or kms-reimport/v1 JSON, through
 * the same binding checks as recovery, readEscrow), and puts a NEW secret version holding every
 * earlier entry plus the change; earlier versions stay as they are.
 *
 * Two writes per rotation (lib/rotation/in-place.ts):
 *   1. escrowRotationMaterial: the new material, BEFORE it is imported, marked
 *      `"state": "pending-import"` with its rotation id (KMS has not given it a KeyMaterialId yet).
 *      A raw SecretBinary escrow (and a JSON entry without keyMaterialId, which stands for "the
 *      current material") is carried over labelled with the key's current KeyMaterialId, because
 *      after the rotation "current" means the new material.
 *   2. recordImportedMaterial: after ImportKeyMaterial, the KeyMaterialId KMS returned; the entry
 *      loses its "pending-import" state.
 * And one for the new key of an alias swap (lib/rotation/alias-swap.ts), whose material is escrowed
 * raw before KMS names it: labelKeyMaterial, after the import, labels it with its KeyMaterialId.
 * Each write carries a ClientRequestToken derived from the key ID, the rotation id and the step
 * (sha256 hex): a retried PutSecretValue is the same version, not a second one. A write already
 * done (the entry is there) is not repeated.
 *
 * Plaintext material lives in the parsed entries and the JSON string only; the buffers are wiped
 * when the write ends, and nothing here logs or puts material in an error.
 */
import { createHash } from 'node:crypto';
import { PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DEFAULT_CONFIG, type ReimportConfig } from '../config.js';
import { awsErrorName, EscrowInvalid, EscrowMissing, EscrowWriteFailed, isReimportError, KmsUnavailable } from '../errors.js';
import { callWithRetry, type RetryOptions } from '../retry.js';
import type { KeyReport } from '../types.js';
import { formatEscrowSecret, MATERIAL_ID, PENDING_IMPORT_STATE, ROTATION_ID, type EscrowEntry } from './format.js';
import { validateMaterial, wipeEscrowed } from './material.js';
import { describeEscrowSecret, escrowSecretId, readEscrow } from './read.js';
import { selfEncryption, type ResolveAlias } from './self-encryption.js';

export type EscrowWriteStep = 'escrow' | 'record' | 'label';

export interface EscrowWriteResult {
  secretId: string;
  /** The version written (or found again for a retried token); undefined when nothing had to be written. */
  versionId?: string;
  /** False when the escrow already held what this step writes (an earlier run wrote it). */
  written: boolean;
}

/**
 * The ClientRequestToken of one escrow write: sha256 hex (64 characters, within Secrets Manager's
 * 32 to 64) of the key ID, the rotation id and the step. The same write retried (by the SDK, by
 * callWithRetry or by a run started again) is the same secret version.
 */
export function escrowClientRequestToken(keyId: string, rotationId: string, step: EscrowWriteStep): string {
  return createHash('sha256').update(`kms-reimport/v1\0${keyId}\0${rotationId}\0${step}`).digest('hex');
}

const DEFAULT_RETRY: RetryOptions = { maxAttempts: DEFAULT_CONFIG.maxAttempts, baseDelayMs: DEFAULT_CONFIG.baseDelayMs };

function checkRotationId(rotationId: string, keyId: string): void {
  if (!ROTATION_ID.test(rotationId)) {
    throw new EscrowInvalid(`Rotation id "${rotationId}" for key ${keyId} is not 1 to 128 of A-Z a-z 0-9 . _ : -; nothing was written to escrow.`, { keyId });
  }
}

/**
 * Labels the entry standing for the key's current material (raw SecretBinary, or the JSON entry
 * without keyMaterialId) with the current KeyMaterialId, unless an entry already carries that ID.
 */
function labelCurrent(entries: EscrowEntry[], report: KeyReport, secretId: string): void {
  const unlabelled = entries.find((e) => !e.keyMaterialId && e.state !== PENDING_IMPORT_STATE);
  if (!unlabelled) return;
  const current = report.currentKeyMaterialId?.toLowerCase();
  if (!current) {
    throw new EscrowInvalid(
      `Escrow secret ${secretId} holds key ${report.keyId}'s material without a KeyMaterialId, and KMS does not name the key's current material, ` +
        `so it cannot be labelled before a rotation makes "current" mean another material. Label it in the kms-reimport/v1 JSON ` +
        `(aws kms describe-key --key-id ${report.keyId}: CurrentKeyMaterialId). Nothing was written or imported.`,
      { keyId: report.keyId },
    );
  }
  if (entries.some((e) => e.keyMaterialId === current)) return;
  unlabelled.keyMaterialId = current;
}

async function putVersion(
  secrets: SecretsManagerClient,
  report: KeyReport,
  secretId: string,
  entries: EscrowEntry[],
  token: string,
  retry: RetryOptions,
): Promise<string | undefined> {
  try {
    const out = await callWithRetry(
      { service: 'Secrets Manager', operation: 'PutSecretValue', keyId: report.keyId },
      () => secrets.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: formatEscrowSecret(entries), ClientRequestToken: token })),
      retry,
    );
    return out?.VersionId;
  } catch (e) {
    if (isReimportError(e) && !(e instanceof KmsUnavailable)) throw e;
    const code = e instanceof KmsUnavailable ? 'transient errors' : (awsErrorName(e) ?? 'an unknown error');
    const next =
      code === 'ResourceExistsException'
        ? `a version with this write's ClientRequestToken already exists with other content (another run wrote this step differently): run again, it reads the escrow first`
        : code === 'AccessDeniedException'
          ? `grant secretsmanager:PutSecretValue on ${secretId} (and kms:GenerateDataKey/kms:Encrypt on the secret's KMS key)`
          : `check the secret and Secrets Manager, then run again`;
    // No cause: an SDK error from a failed write may quote the request, which holds material.
    throw new EscrowWriteFailed(
      `Could not write a new version of escrow secret ${secretId} for key ${report.keyId} (PutSecretValue: ${code}): ${next}. ` +
        `Earlier versions are untouched and nothing was imported after this write.`,
      { keyId: report.keyId },
    );
  }
}

/**
 * Refuses (EscrowInvalid) an escrow secret encrypted under the key itself, by key ID, key ARN or an
 * alias naming it (lib/escrow/self-encryption.ts, the rule the escrow health check reports by), and
 * one whose alias cannot be resolved: whether new material would be readable is then unknown.
 */
async function refuseSelfEncryption(kmsKeyId: string | undefined, report: KeyReport, secretId: string, resolveAlias: ResolveAlias): Promise<void> {
  if (kmsKeyId === undefined) return;
  const self = await selfEncryption(kmsKeyId, report, resolveAlias);
  if (self === 'other') return;
  if (self === 'self') {
    throw new EscrowInvalid(
      `Escrow secret ${secretId} of key ${report.keyId} is encrypted under key ${report.keyId} itself (KmsKeyId ${kmsKeyId}): its material could not be read once the key is down. ` +
        `Re-encrypt the secret under another key (aws secretsmanager update-secret --secret-id ${secretId} --kms-key-id <other key>), then rotate. Nothing was written.`,
      { keyId: report.keyId },
    );
  }
  throw new EscrowInvalid(
    `Escrow secret ${secretId} of key ${report.keyId}: ${self.problem}. New material is escrowed only where it is known to be readable while the key is down: ` +
      `check the secret's KMS key (aws secretsmanager describe-secret --secret-id ${secretId}), then rotate again. Nothing was written.`,
    { keyId: report.keyId },
  );
}

export interface EscrowRotationInput {
  rotationId: string;
  /** The new material (the caller owns and wipes it; a copy is written). */
  material: Buffer;
  /** Free text kept with the entry, e.g. `kms-reimport rotation <id>`. */
  description?: string;
}

/**
 * Escrows new material for a rotation, before it is imported: a new secret version with every
 * earlier entry (a raw or unlabelled one labelled with the key's current KeyMaterialId) and the new
 * entry marked pending-import. An escrow that already has a pending-import entry for this rotation
 * is left as it is (written: false): the material is never replaced, never escrowed twice, and the
 * caller imports what escrow holds (read back), never its own buffer. A rotation ID whose entry was
 * already imported is refused (EscrowInvalid): one ID, one rotation.
 */
export async function escrowRotationMaterial(
  secrets: SecretsManagerClient,
  report: KeyReport,
  config: ReimportConfig,
  input: EscrowRotationInput,
  resolveAlias: ResolveAlias,
  retry: RetryOptions = DEFAULT_RETRY,
): Promise<EscrowWriteResult> {
  const secretId = escrowSecretId(report, config);
  checkRotationId(input.rotationId, report.keyId);
  validateMaterial(report.keySpec, input.material, report.keyId, secretId);
  // Never escrow a key's new material under the key itself: unreadable exactly when it is needed.
  // The secret is described once: the same facts serve this check and the read's binding check.
  const facts = await describeEscrowSecret(secrets, report, config, retry);
  await refuseSelfEncryption(facts.kmsKeyId, report, secretId, resolveAlias);
  const entries = await readEscrow(secrets, report, config, retry, facts);
  try {
    const same = entries.find((e) => e.rotation === input.rotationId);
    if (same !== undefined) {
      // Escrowed already by this rotation and not imported: the caller imports what escrow holds.
      if (same.state === PENDING_IMPORT_STATE) return { secretId, written: false };
      throw new EscrowInvalid(
        `Rotation ID ${input.rotationId} was already used for key ${report.keyId} (escrow secret ${secretId} holds its material` +
          `${same.keyMaterialId ? `, KeyMaterialId ${same.keyMaterialId}` : ''}): a rotation ID names one rotation. ` +
          `Give this rotation another ID (--rotation-id), or nothing needs doing. Nothing was written.`,
        { keyId: report.keyId },
      );
    }
    const pending = entries.find((e) => e.state === PENDING_IMPORT_STATE);
    if (pending) {
      throw new EscrowInvalid(
        `Escrow secret ${secretId} already holds material escrowed by rotation ${pending.rotation ?? '(unnamed)'} of key ${report.keyId} and not yet imported: ` +
          `that rotation is to be finished (it imports that material), not a second one started. Run the rotation again; nothing was written.`,
        { keyId: report.keyId },
      );
    }
    labelCurrent(entries, report, secretId);
    entries.push({
      material: Buffer.from(input.material),
      rotation: input.rotationId,
      state: PENDING_IMPORT_STATE,
      ...(input.description !== undefined ? { description: input.description } : {}),
    });
    const versionId = await putVersion(secrets, report, secretId, entries, escrowClientRequestToken(report.keyId, input.rotationId, 'escrow'), retry);
    return { secretId, written: true, ...(versionId ? { versionId } : {}) };
  } finally {
    wipeEscrowed(entries);
  }
}

export interface RecordImportInput {
  rotationId: string;
  /** What ImportKeyMaterial returned for the rotation's material. */
  keyMaterialId: string;
  /** ISO 8601. */
  importedAt: string;
}

/** A KeyMaterialId as KMS gives it (64 hex), lowercased; anything else is EscrowInvalid before any write. */
function checkedKeyMaterialId(keyMaterialId: string, keyId: string): string {
  const id = keyMaterialId.toLowerCase();
  if (!MATERIAL_ID.test(id)) {
    throw new EscrowInvalid(`KeyMaterialId ${keyMaterialId} of key ${keyId} is not 64 hex characters; nothing was written to escrow.`, { keyId });
  }
  return id;
}

/**
 * The two writes that name a material by its KeyMaterialId (record, label): the rotation ID and the
 * KeyMaterialId are checked, the escrow read, `change` applied to its entries (the checked, lowercased
 * ID given; false: already done, nothing written; it throws to refuse), then a new version under the
 * step's ClientRequestToken. The entries read are wiped whatever happens.
 */
async function writeKeyMaterialId(
  secrets: SecretsManagerClient,
  report: KeyReport,
  config: ReimportConfig,
  input: { rotationId: string; keyMaterialId: string },
  step: 'record' | 'label',
  retry: RetryOptions,
  change: (entries: EscrowEntry[], id: string, secretId: string) => boolean,
): Promise<EscrowWriteResult> {
  const secretId = escrowSecretId(report, config);
  checkRotationId(input.rotationId, report.keyId);
  const id = checkedKeyMaterialId(input.keyMaterialId, report.keyId);
  const entries = await readEscrow(secrets, report, config, retry);
  try {
    if (!change(entries, id, secretId)) return { secretId, written: false };
    const versionId = await putVersion(secrets, report, secretId, entries, escrowClientRequestToken(report.keyId, input.rotationId, step), retry);
    return { secretId, written: true, ...(versionId ? { versionId } : {}) };
  } finally {
    wipeEscrowed(entries);
  }
}

/**
 * Records the KeyMaterialId KMS gave a rotation's material: a new version where that entry carries
 * it and is no longer pending-import. Already recorded with that ID: nothing written. Recorded with
 * another ID, or no entry for the rotation: EscrowInvalid / EscrowMissing, nothing written.
 */
export async function recordImportedMaterial(
  secrets: SecretsManagerClient,
  report: KeyReport,
  config: ReimportConfig,
  input: RecordImportInput,
  retry: RetryOptions = DEFAULT_RETRY,
): Promise<EscrowWriteResult> {
  return writeKeyMaterialId(secrets, report, config, input, 'record', retry, (entries, id, secretId) => {
    const entry = entries.find((e) => e.rotation === input.rotationId);
    if (!entry) {
      throw new EscrowMissing(
        `Escrow secret ${secretId} holds no material of rotation ${input.rotationId} of key ${report.keyId}, whose KeyMaterialId ${id} was to be recorded. ` +
          `Check the secret's versions (aws secretsmanager list-secret-version-ids --secret-id ${secretId}); nothing was written.`,
        { keyId: report.keyId },
      );
    }
    if (entry.keyMaterialId === id && entry.state === undefined) return false;
    if (entry.keyMaterialId !== undefined && entry.keyMaterialId !== id) {
      throw new EscrowInvalid(
        `Escrow secret ${secretId} records rotation ${input.rotationId} of key ${report.keyId} as material ${entry.keyMaterialId}, not ${id}: ` +
          `nothing was written. Check the key's materials (aws kms list-key-rotations --key-id ${report.keyId} --include-key-material ALL_KEY_MATERIAL).`,
        { keyId: report.keyId },
      );
    }
    const other = entries.find((e) => e !== entry && e.keyMaterialId === id);
    if (other) {
      throw new EscrowInvalid(
        `Escrow secret ${secretId} already labels another entry with KeyMaterialId ${id} of key ${report.keyId}; nothing was written. Check the secret's entries.`,
        { keyId: report.keyId },
      );
    }
    entry.keyMaterialId = id;
    entry.importedAt = input.importedAt;
    delete entry.state;
    return true;
  });
}

export interface LabelMaterialInput {
  /** The rotation that made the key (names the write's ClientRequestToken). */
  rotationId: string;
  /** What KMS calls the key's material (ImportKeyMaterial's answer, or DescribeKey's CurrentKeyMaterialId). */
  keyMaterialId: string;
  /** ISO 8601, when known. */
  importedAt?: string;
}

/**
 * Labels a key's one escrowed material with the KeyMaterialId KMS gave it: a new secret version in
 * the kms-reimport/v1 format (a raw SecretBinary escrow is carried over) whose entry carries the ID,
 * the rotation and the import time. Used for the new key of an alias swap, whose material is
 * escrowed raw before KMS has named it, so that its escrow, like every rotated key's, holds each
 * material by its KeyMaterialId. Already labelled with that ID: nothing written. An escrow holding
 * anything but one unlabelled material (or a material labelled with another ID) is left alone:
 * EscrowInvalid, nothing written.
 */
export async function labelKeyMaterial(
  secrets: SecretsManagerClient,
  report: KeyReport,
  config: ReimportConfig,
  input: LabelMaterialInput,
  retry: RetryOptions = DEFAULT_RETRY,
): Promise<EscrowWriteResult> {
  return writeKeyMaterialId(secrets, report, config, input, 'label', retry, (entries, id, secretId) => {
    if (entries.some((e) => e.keyMaterialId === id && e.state === undefined)) return false;
    const [only, ...more] = entries;
    if (!only || more.length > 0 || only.keyMaterialId !== undefined || only.state !== undefined) {
      throw new EscrowInvalid(
        `Escrow secret ${secretId} of key ${report.keyId} does not hold exactly one unlabelled material (it holds ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}` +
          `${entries.some((e) => e.keyMaterialId) ? `, labelled ${entries.map((e) => e.keyMaterialId ?? '(none)').join(', ')}` : ''}), so it cannot be labelled ${id}. ` +
          `Nothing was written; check the secret's versions (aws secretsmanager list-secret-version-ids --secret-id ${secretId}).`,
        { keyId: report.keyId },
      );
    }
    only.keyMaterialId = id;
    only.rotation = input.rotationId;
    if (input.importedAt !== undefined) only.importedAt = input.importedAt;
    return true;
  });
}
