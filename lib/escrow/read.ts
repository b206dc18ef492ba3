/** Finding and reading a key's escrow secret, and picking the material a reimport needs. */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DEFAULT_CONFIG, type ReimportConfig } from '../config.js';
import { awsErrorName, EscrowInvalid, EscrowMissing } from '../errors.js';
import { callWithRetry, type RetryOptions } from '../retry.js';
import type { KeyReport } from '../types.js';
import { parseEscrowSecret } from './format.js';
import { validateMaterial, wipeEscrowed, type EscrowedMaterial } from './material.js';

/** The escrow secret's name or ARN: the key's escrow tag, else `<prefix><key-id>`. */
export function escrowSecretId(report: Pick<KeyReport, 'keyId' | 'tags'>, config: Pick<ReimportConfig, 'escrowTagKey' | 'escrowPrefix'>): string {
  const tagged = report.tags[config.escrowTagKey]?.trim();
  return tagged ? tagged : `${config.escrowPrefix}${report.keyId}`;
}

function missingMessage(code: string | undefined, secretId: string, keyId: string): string {
  switch (code) {
    case 'ResourceNotFoundException':
      return (
        `No escrow secret ${secretId} for key ${keyId}. Create it with the key's ORIGINAL material ` +
        `(aws secretsmanager create-secret --name ${secretId} --secret-binary fileb://PlaintextKeyMaterial.bin), ` +
        `or point the key's escrow tag at the secret that holds it. Nothing was imported.`
      );
    case 'AccessDeniedException':
      return `Access denied reading escrow secret ${secretId} for key ${keyId}: grant secretsmanager:GetSecretValue on it (and kms:Decrypt on the KMS key that encrypts the secret). Nothing was imported.`;
    case 'DecryptionFailure':
      return (
        `Secrets Manager could not decrypt escrow secret ${secretId} for key ${keyId}: check the secret's KMS key and kms:Decrypt permission. ` +
        `If the secret is encrypted under key ${keyId} itself, it cannot be read while that key is down: re-create the escrow under another key from your offline copy.`
      );
    case 'InvalidRequestException':
      return `Escrow secret ${secretId} for key ${keyId} cannot be read (it may be scheduled for deletion): restore it (aws secretsmanager restore-secret --secret-id ${secretId}). Nothing was imported.`;
    default:
      return `Escrow secret ${secretId} for key ${keyId} could not be read (${code ?? 'unknown error'}). Check the secret and permissions. Nothing was imported.`;
  }
}

const MISSING_CODES = new Set(['ResourceNotFoundException', 'AccessDeniedException', 'DecryptionFailure', 'InvalidRequestException', 'InvalidParameterException']);

/**
 * Reads the key's escrow secret (current version), parses it and checks every material against
 * the key spec. The caller owns the returned buffers and must wipeEscrowed() them.
 */
export async function readEscrow(
  secrets: SecretsManagerClient,
  report: KeyReport,
  config: ReimportConfig,
  retry: RetryOptions = { maxAttempts: DEFAULT_CONFIG.maxAttempts, baseDelayMs: DEFAULT_CONFIG.baseDelayMs },
): Promise<EscrowedMaterial[]> {
  const secretId = escrowSecretId(report, config);
  let value: { SecretBinary?: Uint8Array; SecretString?: string } | undefined;
  try {
    value = await callWithRetry(
      { service: 'Secrets Manager', operation: 'GetSecretValue', keyId: report.keyId },
      () => secrets.send(new GetSecretValueCommand({ SecretId: secretId })),
      retry,
    );
  } catch (e) {
    const code = awsErrorName(e);
    if (code !== undefined && MISSING_CODES.has(code)) throw new EscrowMissing(missingMessage(code, secretId, report.keyId), { keyId: report.keyId, cause: e });
    throw e;
  }
  if (!value) throw new EscrowMissing(missingMessage(undefined, secretId, report.keyId), { keyId: report.keyId });
  let materials: EscrowedMaterial[] = [];
  try {
    materials = parseEscrowSecret(value, { keyId: report.keyId, secretId });
    for (const m of materials) validateMaterial(report.keySpec, m.material, report.keyId, secretId);
    return materials;
  } catch (e) {
    wipeEscrowed(materials);
    throw e;
  } finally {
    // The SDK's copy of the secret: zero it (a SecretString cannot be wiped in JavaScript).
    value.SecretBinary?.fill(0);
  }
}

/**
 * The escrowed material for `keyMaterialId` (when one is named) or for the key's current
 * material. The entry without keyMaterialId (at most one) stands for the key's current material:
 * it serves when the wanted ID is the key's CurrentKeyMaterialId or none is named, and on a key
 * with a single material, a raw (unlabelled) single material serves whatever ID is named.
 */
export function selectEscrowedMaterial(
  materials: EscrowedMaterial[],
  report: KeyReport,
  secretId: string,
  keyMaterialId?: string,
): EscrowedMaterial {
  const knownIds = new Set(report.materials.map((m) => m.keyMaterialId).filter((id): id is string => Boolean(id)));
  if (report.currentKeyMaterialId) knownIds.add(report.currentKeyMaterialId);
  const only = materials.length === 1 ? materials[0] : undefined;
  const unlabelled = materials.find((m) => !m.keyMaterialId);
  const current = report.currentKeyMaterialId?.toLowerCase();

  if (keyMaterialId) {
    const wanted = keyMaterialId.toLowerCase();
    const exact = materials.find((m) => m.keyMaterialId === wanted);
    if (exact) return exact;
    if (unlabelled && (wanted === current || (unlabelled === only && knownIds.size <= 1))) return unlabelled;
    throw new EscrowMissing(
      `Escrow secret ${secretId} holds no material with KeyMaterialId ${wanted}, which key ${report.keyId} needs` +
        `${unlabelled ? ` (its entry without keyMaterialId stands for the current material ${current ?? '(unknown)'} only)` : ''}. ` +
        `Add it to the ${'kms-reimport/v1'} JSON from your offline copy (PutSecretValue adds a version). Nothing was imported for it.`,
      { keyId: report.keyId },
    );
  }
  if (current) {
    const match = materials.find((m) => m.keyMaterialId === current);
    if (match) return match;
  }
  if (unlabelled) return unlabelled;
  if (only && !current) return only;
  if (only) {
    throw new EscrowMissing(
      `Escrow secret ${secretId} holds material ${only.keyMaterialId} only, but key ${report.keyId}'s current material is ${current}. ` +
        `Add the current material to the escrow from your offline copy. Nothing was imported.`,
      { keyId: report.keyId },
    );
  }
  throw new EscrowInvalid(
    `Escrow secret ${secretId} holds ${materials.length} materials and none is labelled with key ${report.keyId}'s current KeyMaterialId` +
      `${current ? ` ${current}` : ' (KMS did not report it)'}. Label each material with its keyMaterialId ` +
      `(aws kms list-key-rotations --key-id ${report.keyId} --include-key-material ALL_KEY_MATERIAL).`,
    { keyId: report.keyId },
  );
}
