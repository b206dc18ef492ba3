/**
 * ESCROW SECRET FORMATS (one Secrets Manager secret per KMS key)
 *
 * Which secret: the value of the key's tag `kms-reimport:escrow` (a secret name or ARN); without
 * that tag, `kms-reimport/<key-id>` (prefix configurable, KMS_REIMPORT_ESCROW_PREFIX). A secret
 * named by the tag (anything but `<prefix><key-id>`) must be bound to the key: it carries the tag
 * `kms-reimport:key-id` = the key's ID (checked with DescribeSecret before it is read; onboarding
 * writes that tag), else EscrowInvalid and nothing is imported. The default name binds by itself. The secret
 * must not be encrypted under the KMS key whose material it holds (it would be unreadable exactly
 * when it is needed). kms-reimport only reads it; it never deletes or overwrites it.
 *
 * (a) Raw, for a key with one material: SecretBinary = the plaintext material, exactly the bytes
 *     that were imported (what you have if you followed the AWS guide):
 *       aws secretsmanager create-secret --name kms-reimport/<key-id> \
 *         --secret-binary fileb://PlaintextKeyMaterial.bin
 *     32 bytes for SYMMETRIC_DEFAULT; 28/32/48/64 bytes for HMAC_224/256/384/512; for RSA and
 *     ECC keys the private key as unencrypted PKCS#8 DER
 *     (openssl pkcs8 -topk8 -outform der -nocrypt -in key.pem -out PlaintextKeyMaterial.bin).
 *
 * (b) JSON, for keys with several materials (rotated imported material) or to keep metadata:
 *     SecretString =
 *       {
 *         "format": "kms-reimport/v1",
 *         "materials": [
 *           { "keyMaterialId": "<64 hex chars, as ListKeyRotations reports it>" | null,
 *             "material": "<standard base64 of the plaintext material, same bytes as (a)>",
 *             "description": "optional text",
 *             "importedAt": "optional ISO 8601 date" }
 *         ]
 *       }
 *     Rules: "format" is exactly "kms-reimport/v1"; "materials" is a non-empty array; each
 *     "keyMaterialId" is unique and 64 hex characters (or null/absent for at most one entry,
 *     meaning "the key's current material"); "material" is strict standard base64. Unknown fields
 *     are ignored (and kept when kms-reimport writes a new version). To add a material after a
 *     rotation, PutSecretValue a new version holding all materials (old versions stay, nothing is
 *     overwritten).
 *
 *     Rotation (lib/escrow/write.ts) escrows new material BEFORE importing it, when KMS has not yet
 *     given it a KeyMaterialId. Such an entry is marked
 *         { "material": "...", "state": "pending-import", "rotation": "<rotation id>", "description": "..." }
 *     and has no keyMaterialId; it does not count as the unlabelled "current material" entry, and it
 *     is never served as any material of the key (recovery and renewal skip it). Once KMS has
 *     imported it, a later version records the KeyMaterialId KMS returned and drops "state":
 *         { "keyMaterialId": "<64 hex>", "material": "...", "rotation": "<rotation id>", "importedAt": "..." }
 *     "rotation" is a free label (1 to 128 of A-Z a-z 0-9 . _ : -) naming the rotation that made the
 *     material; at most one entry carries a given rotation id.
 *
 * Which material is used: the one whose keyMaterialId KMS names as missing (a key missing several
 * gets every one back); otherwise the entry matching the key's CurrentKeyMaterialId, or the only
 * entry. The entry without keyMaterialId serves the current material (named or not) when no entry
 * is labelled with its ID, even beside labelled entries for older materials. Every material is
 * checked against the key spec before anything is imported.
 */
import { EscrowInvalid } from '../errors.js';
import type { EscrowedMaterial } from './material.js';
import { wipeEscrowed } from './material.js';

export const ESCROW_FORMAT_V1 = 'kms-reimport/v1';

/** The `state` of an entry escrowed by a rotation and not yet imported (no KeyMaterialId yet). */
export const PENDING_IMPORT_STATE = 'pending-import';

/** A rotation id: what `rotation` may hold, and what write.ts derives secret version tokens from. */
export const ROTATION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * One entry of the escrow as parsed: the material and what the format says about it. `material` is
 * plaintext (wipe it). `extra` holds the entry's fields this version does not know, carried over
 * verbatim when a new version is written.
 */
export interface EscrowEntry extends EscrowedMaterial {
  /** The rotation that escrowed this material (kms-reimport/v1 "rotation"). */
  rotation?: string;
  /** `pending-import`: escrowed by a rotation, not (known to be) imported; never served by recovery. */
  state?: typeof PENDING_IMPORT_STATE;
  extra?: Record<string, unknown>;
}

/** True for an entry escrowed by a rotation and not yet recorded as imported. */
export function isPendingImport(m: EscrowedMaterial): boolean {
  return (m as EscrowEntry).state === PENDING_IMPORT_STATE;
}

const KNOWN_ENTRY_FIELDS = new Set(['keyMaterialId', 'material', 'description', 'importedAt', 'rotation', 'state']);

export interface EscrowSecretValue {
  SecretBinary?: Uint8Array;
  SecretString?: string;
}

export interface EscrowContext {
  keyId: string;
  secretId: string;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** A KeyMaterialId as KMS gives it: 64 hex characters. */
export const MATERIAL_ID = /^[0-9a-fA-F]{64}$/;

function invalid(ctx: EscrowContext, problem: string): EscrowInvalid {
  return new EscrowInvalid(
    `Escrow secret ${ctx.secretId} for key ${ctx.keyId} is not usable: ${problem}. ` +
      `Store the raw material as SecretBinary, or JSON {"format":"${ESCROW_FORMAT_V1}","materials":[{"keyMaterialId":...,"material":"<base64>"}]}, ` +
      `as a new secret version (PutSecretValue); nothing was imported.`,
    { keyId: ctx.keyId },
  );
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses one secret value into the materials it holds (copies; the caller wipes them with
 * wipeEscrowed). Shape errors → EscrowInvalid naming key and secret. Does not check the key spec
 * (validateMaterial does).
 */
export function parseEscrowSecret(secret: EscrowSecretValue, ctx: EscrowContext): EscrowEntry[] {
  if (secret.SecretBinary !== undefined && secret.SecretBinary !== null) {
    if (secret.SecretBinary.byteLength === 0) throw invalid(ctx, 'its SecretBinary is empty');
    return [{ material: Buffer.from(secret.SecretBinary) }];
  }
  const text = secret.SecretString;
  if (text === undefined || text === null || text.trim() === '') throw invalid(ctx, 'it holds no value (neither SecretBinary nor a SecretString)');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // Deliberately no cause: JSON.parse messages quote the input, which may be material.
    throw invalid(ctx, 'its SecretString is not JSON (raw material belongs in SecretBinary)');
  }
  if (!isPlainObject(doc)) throw invalid(ctx, 'its SecretString is JSON but not an object');
  if (doc.format !== ESCROW_FORMAT_V1) {
    throw invalid(ctx, `its "format" is ${doc.format === undefined ? 'missing' : 'not the expected one'}, expected "${ESCROW_FORMAT_V1}"`);
  }
  if (!Array.isArray(doc.materials) || doc.materials.length === 0) throw invalid(ctx, '"materials" must be a non-empty array');

  const out: EscrowEntry[] = [];
  try {
    const seen = new Set<string>();
    const rotations = new Set<string>();
    let unlabelled = 0;
    doc.materials.forEach((entry: unknown, i: number) => {
      const at = `materials[${i}]`;
      if (!isPlainObject(entry)) throw invalid(ctx, `${at} is not an object`);
      const { keyMaterialId, material, description, importedAt, rotation, state } = entry;
      if (state !== undefined && state !== null && state !== PENDING_IMPORT_STATE) {
        throw invalid(ctx, `${at}.state must be "${PENDING_IMPORT_STATE}" or absent`);
      }
      const pending = state === PENDING_IMPORT_STATE;
      if (rotation !== undefined && rotation !== null) {
        if (typeof rotation !== 'string' || !ROTATION_ID.test(rotation)) throw invalid(ctx, `${at}.rotation must be 1 to 128 of A-Z a-z 0-9 . _ : -`);
        if (rotations.has(rotation)) throw invalid(ctx, `${at}.rotation ${rotation} appears twice`);
        rotations.add(rotation);
      }
      let id: string | undefined;
      if (pending) {
        // KMS has not assigned it an ID yet: it is not the "current material" entry either.
        if (keyMaterialId !== null && keyMaterialId !== undefined) throw invalid(ctx, `${at} is "${PENDING_IMPORT_STATE}" and so cannot have a keyMaterialId yet`);
      } else if (keyMaterialId === null || keyMaterialId === undefined) {
        unlabelled++;
        if (unlabelled > 1) throw invalid(ctx, `${at} is a second entry without keyMaterialId (at most one may omit it)`);
      } else if (typeof keyMaterialId !== 'string' || !MATERIAL_ID.test(keyMaterialId)) {
        throw invalid(ctx, `${at}.keyMaterialId must be 64 hex characters or null`);
      } else {
        id = keyMaterialId.toLowerCase();
        if (seen.has(id)) throw invalid(ctx, `${at}.keyMaterialId ${id} appears twice`);
        seen.add(id);
      }
      if (typeof material !== 'string' || material.length === 0) throw invalid(ctx, `${at}.material must be a non-empty base64 string`);
      if (!BASE64.test(material)) throw invalid(ctx, `${at}.material is not valid standard base64`);
      if (description !== undefined && description !== null && typeof description !== 'string') throw invalid(ctx, `${at}.description must be a string`);
      if (importedAt !== undefined && importedAt !== null && (typeof importedAt !== 'string' || Number.isNaN(Date.parse(importedAt)))) {
        throw invalid(ctx, `${at}.importedAt must be an ISO 8601 date`);
      }
      const item: EscrowEntry = { material: Buffer.from(material, 'base64') };
      if (id !== undefined) item.keyMaterialId = id;
      if (typeof description === 'string') item.description = description;
      if (typeof importedAt === 'string') item.importedAt = importedAt;
      if (typeof rotation === 'string') item.rotation = rotation;
      if (pending) item.state = PENDING_IMPORT_STATE;
      const extra = Object.entries(entry).filter(([k]) => !KNOWN_ENTRY_FIELDS.has(k));
      if (extra.length > 0) item.extra = Object.fromEntries(extra);
      out.push(item);
    });
  } catch (e) {
    wipeEscrowed(out);
    throw e;
  }
  return out;
}

/**
 * The kms-reimport/v1 SecretString holding `entries` (in order), for a NEW secret version. Every
 * field of every entry is written back, unknown ones (`extra`) included. The string holds material
 * in base64 and cannot be wiped: it goes straight to PutSecretValue and is never logged.
 */
export function formatEscrowSecret(entries: readonly EscrowEntry[]): string {
  return JSON.stringify({
    format: ESCROW_FORMAT_V1,
    materials: entries.map((e) => ({
      ...(e.extra ?? {}),
      ...(e.keyMaterialId !== undefined ? { keyMaterialId: e.keyMaterialId } : {}),
      material: e.material.toString('base64'),
      ...(e.description !== undefined ? { description: e.description } : {}),
      ...(e.importedAt !== undefined ? { importedAt: e.importedAt } : {}),
      ...(e.rotation !== undefined ? { rotation: e.rotation } : {}),
      ...(e.state !== undefined ? { state: e.state } : {}),
    })),
  });
}
