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
 *     are ignored. To add a material after a rotation, PutSecretValue a new version holding all
 *     materials (old versions stay, nothing is overwritten).
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

export interface EscrowSecretValue {
  SecretBinary?: Uint8Array;
  SecretString?: string;
}

export interface EscrowContext {
  keyId: string;
  secretId: string;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const MATERIAL_ID = /^[0-9a-fA-F]{64}$/;

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
export function parseEscrowSecret(secret: EscrowSecretValue, ctx: EscrowContext): EscrowedMaterial[] {
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

  const out: EscrowedMaterial[] = [];
  try {
    const seen = new Set<string>();
    let unlabelled = 0;
    doc.materials.forEach((entry: unknown, i: number) => {
      const at = `materials[${i}]`;
      if (!isPlainObject(entry)) throw invalid(ctx, `${at} is not an object`);
      const { keyMaterialId, material, description, importedAt } = entry;
      let id: string | undefined;
      if (keyMaterialId === null || keyMaterialId === undefined) {
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
      const item: EscrowedMaterial = { material: Buffer.from(material, 'base64') };
      if (id !== undefined) item.keyMaterialId = id;
      if (typeof description === 'string') item.description = description;
      if (typeof importedAt === 'string') item.importedAt = importedAt;
      out.push(item);
    });
  } catch (e) {
    wipeEscrowed(out);
    throw e;
  }
  return out;
}
