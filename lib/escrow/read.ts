/** Finding and reading a key's escrow secret, and picking the material a reimport needs. */
import { DescribeSecretCommand, GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DEFAULT_CONFIG, type ReimportConfig } from '../config.js';
import { awsErrorName, EscrowInvalid, EscrowMissing, isReimportError, KmsUnavailable } from '../errors.js';
import { callWithRetry, type RetryOptions } from '../retry.js';
import type { KeyReport } from '../types.js';
import { isPendingImport, parseEscrowSecret, type EscrowEntry } from './format.js';
import { validateMaterial, wipeEscrowed, type EscrowedMaterial } from './material.js';

/** The escrow secret's name or ARN: the key's escrow tag, else `<prefix><key-id>`. */
export function escrowSecretId(report: Pick<KeyReport, 'keyId' | 'tags'>, config: Pick<ReimportConfig, 'escrowTagKey' | 'escrowPrefix'>): string {
  const tagged = report.tags[config.escrowTagKey]?.trim();
  return tagged ? tagged : `${config.escrowPrefix}${report.keyId}`;
}

/**
 * The tag that binds an escrow secret to its KMS key: its value is the key's ID. Onboarding writes
 * it; a secret named by a key's escrow tag (anything but `<prefix><key-id>`) must carry it.
 */
export const ESCROW_KEY_ID_TAG = 'kms-reimport:key-id';

/**
 * True when `secretId` is the key's default escrow secret `<prefix><key-id>`: its name binds it to
 * the key (KMS assigns key IDs, so nobody can make another key whose default secret it is).
 * Any other secret, named by the key's escrow tag, is bound only by the ESCROW_KEY_ID_TAG tag.
 */
export function isDefaultEscrowSecret(secretId: string, report: Pick<KeyReport, 'keyId'>, config: Pick<ReimportConfig, 'escrowPrefix'>): boolean {
  return secretId === `${config.escrowPrefix}${report.keyId}`;
}

const KEY_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;

/** The secret's name from a name or a Secrets Manager ARN (whose name ends in `-` and 6 random characters). */
function secretNameOf(secretId: string): { name: string; fromArn: boolean } {
  const marker = ':secret:';
  const at = secretId.startsWith('arn:') ? secretId.indexOf(marker) : -1;
  if (at < 0) return { name: secretId, fromArn: false };
  return { name: secretId.slice(at + marker.length), fromArn: true };
}

/**
 * The key whose DEFAULT escrow secret (`<prefix><key-id>`) this secret is, by its name or ARN;
 * undefined when the name is no key's default. A tag may name such a secret only for its own key:
 * another key's default secret is that key's material, whatever its tags say.
 */
export function defaultSecretOwner(secretId: string, config: Pick<ReimportConfig, 'escrowPrefix'>): string | undefined {
  const { name, fromArn } = secretNameOf(secretId);
  if (!name.startsWith(config.escrowPrefix)) return undefined;
  const rest = name.slice(config.escrowPrefix.length);
  if (KEY_ID.test(rest)) return rest;
  // An ARN's name carries Secrets Manager's 6-character suffix.
  const trimmed = fromArn ? rest.replace(/-[A-Za-z0-9]{6}$/, '') : rest;
  return fromArn && trimmed !== rest && KEY_ID.test(trimmed) ? trimmed : undefined;
}

/** Why a key's escrow tag may not name another key's default secret; `outcome` ends the sentence. */
export function foreignDefaultSecretMessage(secretId: string, owner: string, keyId: string, outcome: string): string {
  return (
    `Key ${keyId}'s escrow tag names ${secretId}, which is the default escrow secret of another key (${owner}): a key's material is never ` +
    `imported into a different key, whatever the secret's tags say (anyone able to tag a key could otherwise copy another key's material). ` +
    `Point the escrow tag at this key's own secret, or remove the tag to use the key's default secret. ${outcome}`
  );
}

/** Why a default secret whose binding tag names another key is suspicious; `outcome` ends the sentence. */
export function mismatchedBindingMessage(secretId: string, tagged: string, keyId: string, outcome: string): string {
  return (
    `Escrow secret ${secretId} is key ${keyId}'s default secret by its name, but its tag ${ESCROW_KEY_ID_TAG} names ${tagged}: someone re-bound ` +
    `this key's escrow to another key. kms-reimport never imports it into ${tagged}. Check who changed the tag (CloudTrail TagResource on the secret), ` +
    `then set it back: aws secretsmanager tag-resource --secret-id ${secretId} --tags Key=${ESCROW_KEY_ID_TAG},Value=${keyId} . ${outcome}`
  );
}

type EscrowOperation = 'GetSecretValue' | 'DescribeSecret';

function missingMessage(code: string | undefined, secretId: string, keyId: string, operation: EscrowOperation = 'GetSecretValue'): string {
  switch (code) {
    case 'ResourceNotFoundException':
      return (
        `No escrow secret ${secretId} for key ${keyId}. Create it with the key's ORIGINAL material ` +
        `(aws secretsmanager create-secret --name ${secretId} --secret-binary fileb://PlaintextKeyMaterial.bin), ` +
        `or point the key's escrow tag at the secret that holds it. Nothing was imported.`
      );
    case 'AccessDeniedException':
      return operation === 'DescribeSecret'
        ? `Access denied describing escrow secret ${secretId} for key ${keyId} (needed to check that the secret is bound to the key): grant secretsmanager:DescribeSecret on it. Nothing was imported.`
        : `Access denied reading escrow secret ${secretId} for key ${keyId}: grant secretsmanager:GetSecretValue on it (and kms:Decrypt on the KMS key that encrypts the secret). Nothing was imported.`;
    case 'DecryptionFailure':
      return (
        `Secrets Manager could not decrypt escrow secret ${secretId} for key ${keyId}: check the secret's KMS key and kms:Decrypt permission. ` +
        `If the secret is encrypted under key ${keyId} itself, it cannot be read while that key is down: re-create the escrow under another key from your offline copy.`
      );
    case 'InvalidRequestException':
      return `Escrow secret ${secretId} for key ${keyId} cannot be read (it may be scheduled for deletion): restore it (aws secretsmanager restore-secret --secret-id ${secretId}). Nothing was imported.`;
    default:
      return `Escrow secret ${secretId} for key ${keyId} could not be read (${operation} failed with ${code ?? 'an unknown error'}). Check the secret and permissions. Nothing was imported.`;
  }
}

/**
 * An error Secrets Manager itself answered (an SDK ServiceException: `$fault` client or server).
 * Anything else (a response the SDK could not parse, a bug) may quote the response body, which
 * can hold the secret value: such errors are never passed on, not even as a cause.
 */
function isServiceError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const fault = (e as { $fault?: unknown }).$fault;
  return fault === 'client' || fault === 'server';
}

/**
 * One Secrets Manager call about the escrow, with bounded retries. Every failure becomes a named
 * error with a fixed message: EscrowMissing for what Secrets Manager answered, KmsUnavailable for
 * transient failures that outlast the retries, EscrowMissing without a cause for anything else.
 */
async function escrowCall<T>(operation: EscrowOperation, secretId: string, keyId: string, fn: () => Promise<T>, retry: RetryOptions): Promise<T> {
  try {
    return await callWithRetry({ service: 'Secrets Manager', operation, keyId }, fn, retry);
  } catch (e) {
    if (e instanceof KmsUnavailable) {
      if (isServiceError(e.cause)) throw e;
      throw new KmsUnavailable(e.message, { keyId });
    }
    if (isReimportError(e)) throw e;
    if (isServiceError(e)) {
      const code = awsErrorName(e);
      throw new EscrowMissing(missingMessage(code, secretId, keyId, operation), { keyId, cause: e });
    }
    throw new EscrowMissing(
      `Escrow secret ${secretId} for key ${keyId} could not be read: Secrets Manager's ${operation} response could not be processed ` +
        `(details withheld: they may quote the secret). Check the Secrets Manager endpoint and the SDK version, then run again. Nothing was imported.`,
      { keyId },
    );
  }
}

/** What DescribeSecret says about a key's escrow secret (never its value). */
export interface EscrowSecretFacts {
  secretId: string;
  /**
   * The default `<prefix><key-id>` secret, or a tag-named one carrying ESCROW_KEY_ID_TAG = the key ID
   * that is not another key's default secret.
   */
  bound: boolean;
  /** Another key's default secret named by this key's escrow tag: never bound, whatever its tags say. */
  foreignDefaultOf?: string;
  /** The default secret carries ESCROW_KEY_ID_TAG naming another key (bound by name, but re-bound by someone). */
  taggedFor?: string;
  /**
   * A tag-named secret created before the key itself (DescribeSecret CreatedDate < DescribeKey
   * CreationDate): it was not made for this key, whatever its tag says now. Never bound.
   */
  predatesKey?: { secretCreated: string; keyCreated: string };
  /** The secret is scheduled for deletion (DescribeSecret's DeletedDate). */
  deleted: boolean;
  /** The KMS key that encrypts the secret as Secrets Manager reports it (ID, ARN, alias or alias ARN); absent = aws/secretsmanager. */
  kmsKeyId?: string;
}

/**
 * DescribeSecret on the key's escrow secret and the binding rule: a secret named by the key's escrow
 * tag is bound to the key only if it carries the tag ESCROW_KEY_ID_TAG = the key's ID; the default
 * `<prefix><key-id>` is bound by its name. Never reads the value. Failures are escrowCall's named
 * errors (EscrowMissing with the service error as cause, KmsUnavailable when transient).
 * Used by readEscrow (before reading) and by the sweep's escrow health check.
 */
export async function describeEscrowSecret(
  secrets: SecretsManagerClient,
  report: Pick<KeyReport, 'keyId' | 'tags' | 'creationDate'>,
  config: Pick<ReimportConfig, 'escrowTagKey' | 'escrowPrefix'>,
  retry: RetryOptions,
): Promise<EscrowSecretFacts> {
  const secretId = escrowSecretId(report, config);
  const out = await escrowCall('DescribeSecret', secretId, report.keyId, () => secrets.send(new DescribeSecretCommand({ SecretId: secretId })), retry);
  return escrowSecretFacts(secretId, out, report, config);
}

/** What a secret's metadata (DescribeSecret, or its ListSecrets entry) says about it as `report`'s escrow: the binding rule. */
export function escrowSecretFacts(
  secretId: string,
  out: { Tags?: Array<{ Key?: string; Value?: string }>; CreatedDate?: Date; DeletedDate?: Date; KmsKeyId?: string } | undefined,
  report: Pick<KeyReport, 'keyId' | 'tags' | 'creationDate'>,
  config: Pick<ReimportConfig, 'escrowTagKey' | 'escrowPrefix'>,
): EscrowSecretFacts {
  const tagged = (out?.Tags ?? []).find((t) => t.Key === ESCROW_KEY_ID_TAG)?.Value;
  const isDefault = isDefaultEscrowSecret(secretId, report, config);
  const owner = isDefault ? undefined : defaultSecretOwner(secretId, config);
  const foreign = owner !== undefined && owner !== report.keyId ? owner : undefined;
  // The binding tag alone can be re-set by anyone allowed TagResource on the secret: a secret older
  // than the key cannot have been made for it (onboarding escrows after CreateKey), so a tag naming
  // this key on such a secret is a re-binding, the escrow-clone attack on keys whose material
  // history KMS does not show (HMAC, RSA, ECC).
  const secretCreated = out?.CreatedDate instanceof Date ? out.CreatedDate.getTime() : undefined;
  const keyCreated = report.creationDate !== undefined ? Date.parse(report.creationDate) : undefined;
  const predates =
    !isDefault && secretCreated !== undefined && keyCreated !== undefined && Number.isFinite(keyCreated) && secretCreated < keyCreated - 1000
      ? { secretCreated: new Date(secretCreated).toISOString(), keyCreated: new Date(keyCreated).toISOString() }
      : undefined;
  const bound = isDefault || (foreign === undefined && predates === undefined && tagged === report.keyId);
  return {
    secretId,
    bound,
    ...(foreign !== undefined ? { foreignDefaultOf: foreign } : {}),
    ...(isDefault && tagged !== undefined && tagged !== report.keyId ? { taggedFor: tagged } : {}),
    ...(predates !== undefined && tagged === report.keyId ? { predatesKey: predates } : {}),
    deleted: out?.DeletedDate !== undefined,
    ...(out?.KmsKeyId ? { kmsKeyId: out.KmsKeyId } : {}),
  };
}

/** Why a tag-named secret older than the key is refused; `outcome` ends the sentence. */
export function predatesKeyMessage(secretId: string, keyId: string, dates: { secretCreated: string; keyCreated: string }, outcome: string): string {
  return (
    `The escrow secret ${secretId} named by key ${keyId}'s escrow tag was created ${dates.secretCreated}, before the key itself (${dates.keyCreated}): ` +
    `it was not made for this key, so its tag ${ESCROW_KEY_ID_TAG}=${keyId} does not bind it (anyone able to tag a secret could otherwise have ` +
    `another key's material imported into a key of their own). If it really holds this key's material, copy it to the key's default secret ` +
    `(aws secretsmanager create-secret --name <prefix>${keyId} ...) and remove the escrow tag. ${outcome}`
  );
}

/** Why a tag-named escrow secret is refused, and how to bind it; `outcome` ends the sentence (what was or was not done). */
export function unboundEscrowMessage(secretId: string, keyId: string, outcome: string): string {
  return (
    `The escrow secret ${secretId} named by key ${keyId}'s escrow tag is not bound to the key: it lacks the tag ${ESCROW_KEY_ID_TAG}=${keyId}. ` +
    `If the secret really holds this key's material, whoever owns the secret binds it with ` +
    `aws secretsmanager tag-resource --secret-id ${secretId} --tags Key=${ESCROW_KEY_ID_TAG},Value=${keyId} ; ` +
    `otherwise fix the key's escrow tag. ${outcome}`
  );
}

/**
 * Reads the key's escrow secret (current version), parses it and checks every material against
 * the key spec. A secret other than the default `<prefix><key-id>` must first prove it belongs to
 * the key (tag ESCROW_KEY_ID_TAG = key ID, via DescribeSecret). The caller owns the returned
 * buffers and must wipeEscrowed() them. A caller that has described the secret already passes
 * `described` (describeEscrowSecret's answer for this key, e.g. the escrow write's self-encryption
 * check): the binding is checked on those facts, so the secret is described once, not twice.
 */
export async function readEscrow(
  secrets: SecretsManagerClient,
  report: KeyReport,
  config: ReimportConfig,
  retry: RetryOptions = { maxAttempts: DEFAULT_CONFIG.maxAttempts, baseDelayMs: DEFAULT_CONFIG.baseDelayMs },
  described?: EscrowSecretFacts,
): Promise<EscrowEntry[]> {
  const secretId = escrowSecretId(report, config);
  // Refuses (EscrowInvalid) a tag-named secret not bound to the key: without this check, anyone who
  // can tag a managed key could point it at another key's escrow and have that material imported.
  if (!isDefaultEscrowSecret(secretId, report, config)) {
    // Another key's default secret is refused by its name alone, before any call.
    const owner = defaultSecretOwner(secretId, config);
    if (owner !== undefined && owner !== report.keyId) {
      throw new EscrowInvalid(foreignDefaultSecretMessage(secretId, owner, report.keyId, 'Nothing was imported.'), { keyId: report.keyId });
    }
    const facts = described?.secretId === secretId ? described : await describeEscrowSecret(secrets, report, config, retry);
    if (facts.predatesKey !== undefined) {
      throw new EscrowInvalid(predatesKeyMessage(secretId, report.keyId, facts.predatesKey, 'Nothing was imported.'), { keyId: report.keyId });
    }
    if (!facts.bound) throw new EscrowInvalid(unboundEscrowMessage(secretId, report.keyId, 'Nothing was imported.'), { keyId: report.keyId });
  }
  const value: { SecretBinary?: Uint8Array; SecretString?: string } | undefined = await escrowCall(
    'GetSecretValue',
    secretId,
    report.keyId,
    () => secrets.send(new GetSecretValueCommand({ SecretId: secretId })),
    retry,
  );
  if (!value) throw new EscrowMissing(missingMessage(undefined, secretId, report.keyId), { keyId: report.keyId });
  let materials: EscrowEntry[] = [];
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
 * An entry escrowed by a rotation and not yet imported (`"state": "pending-import"`) is never
 * served: it is not (yet) any material of the key.
 */
export function selectEscrowedMaterial(
  escrowed: EscrowedMaterial[],
  report: KeyReport,
  secretId: string,
  keyMaterialId?: string,
): EscrowedMaterial {
  const materials = escrowed.filter((m) => !isPendingImport(m));
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
