/**
 * Rotation by alias swap: a new EXTERNAL key that copies the old one (spec, usage, description,
 * key policy, tags), new material escrowed FIRST in the new key's own default secret, imported and
 * verified, then every alias of the old key moved to the new key. The old key stays Enabled and
 * managed: data and signatures made with it must stay usable, so it is still recovered and renewed.
 *
 * Used for keys that hold one material (HMAC, RSA, ECC) and for symmetric keys when the caller
 * decides (configured, or the 25-rotation cap reached). The caller has checked the key (Enabled,
 * managed, EXTERNAL) and holds its lease; this module re-checks what it creates and resumes.
 *
 * CRASH SAFETY: a run interrupted after any step is finished by the next run, never repeated into
 * a second new key or a second new material. Lineage lives in tags:
 *   old key  kms-reimport:rotating-to = pending      written BEFORE CreateKey (intent)
 *   new key  kms-reimport:rotated-from = <old id>    written BY CreateKey itself (atomic with the key)
 *   old key  kms-reimport:rotating-to = <new id>     written right after CreateKey
 *   old key  kms-reimport:rotated-to = <new id>      written last, after every alias moved
 * Finding an earlier run's new key: `rotating-to` naming a key is followed (and that key's
 * `rotated-from` must name the old key). `rotating-to = pending` means a run may have crashed
 * between CreateKey and the tag after it (or CreateKey's answer was lost): then, and only then,
 * every key of the account and Region is searched for `rotated-from = <old id>` (ListKeys +
 * ListResourceTags: strongly consistent, no extra client; the Tagging API's GetResources would be
 * one call but is eventually consistent, and a key missed there would become a second key). Two
 * or more found: RotationConflict, nothing more done. No `rotating-to` at all: no run ever
 * reached CreateKey, so no search. CreateKey is never retried after an answer that may come after
 * KMS acted (5xx, network): the search decides instead.
 * The escrow secret `<prefix><new id>` is bound to the new key by its name (KMS chose the ID) and
 * tagged `kms-reimport:key-id`; CreateSecret carries a ClientRequestToken derived from the new key
 * ID, so a retried write is the same version. A secret found for a new key still PendingImport is
 * imported from (escrow is the truth), never regenerated; a secret that appears between our check
 * and our write (another writer) wins the same way.
 *
 * LEAST PRIVILEGE (for template.yaml, next session): every action this module sends (itself or
 * through inspectKey, importEscrowedMaterial, verifyKey) and the condition it should carry.
 * <managed> is the managed tag (kms-reimport:managed = true by default), <prefix> the escrow prefix.
 *   KMS, on keys (Resource arn:<partition>:kms:<region>:<account>:key/*), all with aws:ResourceTag/<managed>:
 *     kms:DescribeKey, kms:ListResourceTags, kms:ListKeyRotations   read the old, the new and (search) other keys;
 *                                   AccessDenied on an unmanaged key during the search is read as "not ours"
 *     kms:GetKeyPolicy                  the old key only (PolicyName default)
 *     kms:TagResource                   + ForAllValues:StringEquals aws:TagKeys in
 *                                       [kms-reimport:rotating-to, kms-reimport:rotated-to] (lineage on the old key)
 *     kms:GetParametersForImport, kms:ImportKeyMaterial   the new key (it carries the managed tag from CreateKey)
 *     kms:GenerateMac, kms:VerifyMac, kms:Sign, kms:Verify, kms:GetPublicKey   verifyKey's round trip on the new key
 *     (kms:Encrypt, kms:Decrypt for symmetric swaps: + kms:EncryptionContext:kms-reimport:probe = verify)
 *     kms:UpdateAlias                   KMS authorises it on the alias AND on the old and the new key: the key
 *                                       statements carry aws:ResourceTag/<managed>; the alias resource
 *                                       (alias/*, or a naming prefix if the account has one) cannot be tied to
 *                                       "the key's own aliases" by a condition: only aliases of managed keys are
 *                                       listed (ListAliases KeyId = old key) and moved
 *   KMS, Resource * (no resource to scope):
 *     kms:CreateKey                     aws:RequestTag/<managed> = <value>, kms:KeyOrigin = EXTERNAL,
 *                                       kms:MultiRegion = false, ForAnyValue aws:TagKeys kms-reimport:rotated-from;
 *                                       CreateKey with Tags also needs kms:TagResource under the same RequestTag
 *                                       conditions (KMS authorises tagging on create so)
 *     kms:ListKeys, kms:ListAliases     none possible (the search and the alias listing)
 *   Secrets Manager, Resource arn:...:secretsmanager:<region>:<account>:secret:<prefix>*:
 *     secretsmanager:DescribeSecret     (is the new key's escrow written?)
 *     secretsmanager:GetSecretValue     (importEscrowedMaterial reads it back to import)
 *     secretsmanager:CreateSecret       + aws:RequestTag/kms-reimport:key-id present, and secretsmanager:TagResource
 *                                       for its Tags; never PutSecretValue, UpdateSecret or DeleteSecret here
 *   (kms:Decrypt/GenerateDataKey on the secrets' KMS key via kms:ViaService secretsmanager: default aws/secretsmanager.)
 */
import { createHmac, createPrivateKey, createPublicKey, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  CreateKeyCommand,
  GenerateMacCommand,
  GetKeyPolicyCommand,
  GetPublicKeyCommand,
  ListAliasesCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  TagResourceCommand,
  UpdateAliasCommand,
  type KeySpec,
  type MacAlgorithmSpec,
  type KeyUsageType,
  type Tag,
} from '@aws-sdk/client-kms';
import { CreateSecretCommand, DescribeSecretCommand } from '@aws-sdk/client-secrets-manager';
import type { ReimportConfig } from '../config.js';
import {
  awsErrorName,
  EscrowInvalid,
  EscrowMissing,
  ImportTokenExpired,
  IncorrectKeyMaterial,
  isReimportError,
  isUnparsableResponse,
  KeyNotEligible,
  KmsUnavailable,
  RotationConflict,
  RotationKeyUnusable,
  toNamedError,
} from '../errors.js';
import { isPendingImport } from '../escrow/format.js';
import { ESCROW_KEY_ID_TAG, escrowSecretId, readEscrow } from '../escrow/read.js';
import { labelKeyMaterial } from '../escrow/write.js';
import { validateMaterial, wipe, wipeEscrowed } from '../escrow/material.js';
import { getImportParameters } from '../kms/import-parameters.js';
import { chooseExpirationModel, importEscrowedMaterial, type ImportResult } from '../kms/import-material.js';
import { describeKeyMetadata, inspectKey } from '../kms/inspect.js';
import { verifyKey } from '../kms/verify.js';
import { generateKeyMaterial } from '../material/generate.js';
import { MAX_TOKEN_REFRESHES, type RecoverDeps } from '../recover.js';
import { callWithRetry, isThrottlingError, isTransientError, type RetryOptions } from '../retry.js';
import type { KeyReport } from '../types.js';
import { chooseWrapping } from '../wrap/choose.js';
import { ROTATED_FROM_TAG, ROTATED_TO_TAG } from './schedule.js';

/** recoverKey's dependencies without the lease: the caller (rotateKey) holds the key's lease. */
export type AliasSwapDeps = Omit<RecoverDeps, 'lease' | 'leaseOwner'>;

export interface AliasSwapResult {
  oldKeyId: string;
  newKeyId: string;
  newKeyArn: string;
  /** Every alias that named the old key and now names the new one (moved by this run or an earlier one). */
  aliasesMoved: string[];
  keyMaterialId?: string;
  validTo?: string;
  /** Steps an earlier run had done, found and not repeated: see ALIAS_SWAP_STEPS. */
  resumed: string[];
}

/** The steps, in order, as `resumed` names them. */
export const ALIAS_SWAP_STEPS = ['create-key', 'escrow', 'import', 'verify', 'move-aliases', 'tag-rotated-to'] as const;

// ROTATED_FROM_TAG: on the new key, set by CreateKey: the key it replaces.
// ROTATED_TO_TAG: on the old key, after every alias moved: the key that replaced it.
// Both defined once, with the schedule that reads them for status.
export { ROTATED_FROM_TAG, ROTATED_TO_TAG };
/** On the old key while a swap is under way: `pending` before CreateKey, then the new key's ID. */
export const ROTATING_TO_TAG = 'kms-reimport:rotating-to';
export const ROTATING_PENDING = 'pending';
/** On the new key, set by CreateKey: the rotation that made it (a re-run of that rotation by alias finds it). */
export const ROTATION_ID_TAG = 'kms-reimport:rotation-id';
const LINEAGE_TAGS = new Set([ROTATED_FROM_TAG, ROTATED_TO_TAG, ROTATING_TO_TAG, ROTATION_ID_TAG]);

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Ctx {
  deps: AliasSwapDeps;
  report: KeyReport;
  config: ReimportConfig;
  retry: RetryOptions;
  rotationId?: string;
  old: string;
}

async function readTags(ctx: Ctx, keyId: string): Promise<Record<string, string>> {
  const tags: Record<string, string> = {};
  let marker: string | undefined;
  do {
    const page = await callWithRetry(
      { operation: 'ListResourceTags', keyId },
      () => ctx.deps.kms.send(new ListResourceTagsCommand({ KeyId: keyId, ...(marker ? { Marker: marker } : {}) })),
      ctx.retry,
    );
    for (const t of page?.Tags ?? []) if (t.TagKey !== undefined) tags[t.TagKey] = t.TagValue ?? '';
    marker = page?.Truncated ? page.NextMarker : undefined;
  } while (marker);
  return tags;
}

async function tagKey(ctx: Ctx, keyId: string, key: string, value: string): Promise<void> {
  await callWithRetry(
    { operation: 'TagResource', keyId },
    () => ctx.deps.kms.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: key, TagValue: value }] })),
    ctx.retry,
  );
}

async function aliasesOf(ctx: Ctx, keyId: string): Promise<string[]> {
  const names: string[] = [];
  let marker: string | undefined;
  do {
    const page = await callWithRetry(
      { operation: 'ListAliases', keyId },
      () => ctx.deps.kms.send(new ListAliasesCommand({ KeyId: keyId, ...(marker ? { Marker: marker } : {}) })),
      ctx.retry,
    );
    for (const a of page?.Aliases ?? []) if (a.AliasName && a.TargetKeyId === keyId) names.push(a.AliasName);
    marker = page?.Truncated ? page.NextMarker : undefined;
  } while (marker);
  return names.sort();
}

/**
 * Every key of the account and Region tagged rotated-from = the old key, not pending deletion.
 * Keys whose tags the role may not read (not managed) cannot be ours: CreateKey gives the managed tag.
 */
async function searchNewKeys(ctx: Ctx): Promise<string[]> {
  const found: string[] = [];
  let marker: string | undefined;
  do {
    const page = await callWithRetry(
      { operation: 'ListKeys', keyId: ctx.old },
      () => ctx.deps.kms.send(new ListKeysCommand({ Limit: 1000, ...(marker ? { Marker: marker } : {}) })),
      ctx.retry,
    );
    for (const k of page?.Keys ?? []) {
      if (!k.KeyId || k.KeyId === ctx.old) continue;
      let tags: Record<string, string>;
      try {
        tags = await readTags(ctx, k.KeyId);
      } catch (e) {
        const name = awsErrorName(e);
        if (name === 'AccessDeniedException' || name === 'NotFoundException') continue;
        throw e;
      }
      if (tags[ROTATED_FROM_TAG] !== ctx.old) continue;
      const m = await describeKeyMetadata(ctx.deps.kms, k.KeyId, ctx.retry);
      if (m.KeyState === 'PendingDeletion') {
        ctx.deps.logger?.warn(`Key ${k.KeyId} was made to replace key ${ctx.old} but is pending deletion: not used.`, { keyId: ctx.old, newKeyId: k.KeyId });
        continue;
      }
      found.push(k.KeyId);
    }
    marker = page?.Truncated ? page.NextMarker : undefined;
  } while (marker);
  return found;
}

function conflict(ctx: Ctx, keys: string[]): RotationConflict {
  return new RotationConflict(
    `Alias-swap rotation of key ${ctx.old} found ${keys.length} new keys made for it (${keys.join(', ')}; tag ${ROTATED_FROM_TAG}=${ctx.old} or the old key's ${ROTATING_TO_TAG}): ` +
      `nothing more was done and no alias was moved by this run. Keep one: check which one the old key's aliases name (aws kms list-aliases --key-id <key>), ` +
      `schedule deletion of the other(s) (their escrow secrets stay), set the old key's tag ${ROTATING_TO_TAG} to the one kept, then run again.`,
    { keyId: ctx.old },
  );
}

function unusable(ctx: Ctx, newKeyId: string, why: string): RotationKeyUnusable {
  return new RotationKeyUnusable(
    `Alias-swap rotation of key ${ctx.old}: the new key ${newKeyId} an earlier run made ${why}. Nothing more was done; key ${ctx.old} and its aliases are as they were. ` +
      `Fix that key (enable it, cancel its deletion), or, to start over, remove the old key's tag ${ROTATING_TO_TAG} ` +
      `(aws kms untag-resource --key-id ${ctx.old} --tag-keys ${ROTATING_TO_TAG}) after scheduling the new key's deletion, then run again.`,
    { keyId: ctx.old },
  );
}

/** The new key (an earlier run's, or made now), checked to be a copy of the old key. */
async function newKeyReport(ctx: Ctx, newKeyId: string): Promise<KeyReport> {
  let r: KeyReport;
  try {
    r = await inspectKey(ctx.deps.kms, newKeyId, ctx.retry);
  } catch (e) {
    if (isReimportError(e) && e.name === 'KeyNotFound') throw unusable(ctx, newKeyId, 'no longer exists');
    throw e;
  }
  if (r.tags[ROTATED_FROM_TAG] !== ctx.old) throw unusable(ctx, newKeyId, `does not carry ${ROTATED_FROM_TAG}=${ctx.old}`);
  if (r.origin !== 'EXTERNAL' || r.keySpec !== ctx.report.keySpec || r.keyUsage !== ctx.report.keyUsage) {
    throw unusable(ctx, newKeyId, `is ${r.origin} ${r.keySpec} ${r.keyUsage}, not EXTERNAL ${ctx.report.keySpec} ${ctx.report.keyUsage} like the old key`);
  }
  if (r.keyState !== 'Enabled' && r.keyState !== 'PendingImport') throw unusable(ctx, newKeyId, `is ${r.keyState}`);
  return r;
}

class MissingKeyId extends Error {}

/** CreateKey copying the old key; never retried after an answer KMS may have acted on (the search decides). */
async function createNewKey(ctx: Ctx): Promise<string> {
  const { kms } = ctx.deps;
  const meta = await describeKeyMetadata(kms, ctx.old, ctx.retry);
  const policy = await callWithRetry(
    { operation: 'GetKeyPolicy', keyId: ctx.old },
    () => kms.send(new GetKeyPolicyCommand({ KeyId: ctx.old, PolicyName: 'default' })),
    ctx.retry,
  );
  const oldTags = await readTags(ctx, ctx.old);
  const tags: Tag[] = Object.entries(oldTags)
    .filter(([k]) => k !== ctx.config.escrowTagKey && !LINEAGE_TAGS.has(k) && k !== ctx.config.managedTagKey)
    .map(([TagKey, TagValue]) => ({ TagKey, TagValue }));
  tags.push({ TagKey: ctx.config.managedTagKey, TagValue: ctx.config.managedTagValue });
  tags.push({ TagKey: ROTATED_FROM_TAG, TagValue: ctx.old });
  if (ctx.rotationId) tags.push({ TagKey: ROTATION_ID_TAG, TagValue: ctx.rotationId });
  const request = {
    Origin: 'EXTERNAL' as const,
    KeySpec: ctx.report.keySpec as KeySpec,
    KeyUsage: ctx.report.keyUsage as KeyUsageType,
    Description: meta.Description ?? '',
    ...(policy?.Policy ? { Policy: policy.Policy } : {}),
    Tags: tags,
    MultiRegion: false,
  };
  try {
    // Throttling is refused before KMS acts: the only error worth retrying blind.
    const out = await callWithRetry({ operation: 'CreateKey', keyId: ctx.old }, () => kms.send(new CreateKeyCommand(request)), {
      ...ctx.retry,
      isRetryable: isThrottlingError,
    });
    const id = out?.KeyMetadata?.KeyId;
    if (!id) throw new MissingKeyId();
    return id;
  } catch (e) {
    const name = awsErrorName(e);
    // Throttled to the end (KmsUnavailable) or refused (a 4xx): KMS made nothing.
    if (e instanceof KmsUnavailable) throw e;
    if (!isTransientError(e) && !isUnparsableResponse(e) && !(e instanceof MissingKeyId)) throw toNamedError(e, ctx.old);
    // Unknown whether KMS made the key: look for it rather than risk a second one.
    const found = await searchNewKeys(ctx).catch(() => undefined);
    if (found && found.length === 1) {
      ctx.deps.logger?.warn(`CreateKey for the rotation of key ${ctx.old} got no usable answer, but the key it made was found: ${found[0]}.`, { keyId: ctx.old, newKeyId: found[0] });
      return found[0]!;
    }
    if (found && found.length > 1) throw conflict(ctx, found);
    throw new KmsUnavailable(
      `CreateKey for the alias-swap rotation of key ${ctx.old} failed (${name ?? 'no usable answer'}) and whether KMS made the new key is unknown. ` +
        `Run again: key ${ctx.old} is tagged ${ROTATING_TO_TAG}=${ROTATING_PENDING}, so the next run looks for a key tagged ${ROTATED_FROM_TAG}=${ctx.old} before making one.`,
      { keyId: ctx.old },
    );
  }
}

type SecretState = 'absent' | 'present';

async function escrowState(ctx: Ctx, newKeyId: string, secretName: string): Promise<SecretState> {
  try {
    const out = await callWithRetry(
      { service: 'Secrets Manager', operation: 'DescribeSecret', keyId: newKeyId },
      () => ctx.deps.secrets.send(new DescribeSecretCommand({ SecretId: secretName })),
      ctx.retry,
    );
    if (out?.DeletedDate !== undefined) {
      throw new EscrowMissing(
        `The escrow secret ${secretName} of key ${newKeyId} (the new key of the rotation of ${ctx.old}) is scheduled for deletion: restore it ` +
          `(aws secretsmanager restore-secret --secret-id ${secretName}), then run again. Nothing was imported.`,
        { keyId: ctx.old },
      );
    }
    const bound = (out?.Tags ?? []).find((t) => t.Key === ESCROW_KEY_ID_TAG)?.Value;
    if (bound !== undefined && bound !== newKeyId) {
      throw new EscrowInvalid(
        `The escrow secret ${secretName} of key ${newKeyId} carries ${ESCROW_KEY_ID_TAG}=${bound}: someone re-bound it. Set the tag back to ${newKeyId}, then run again. Nothing was imported.`,
        { keyId: ctx.old },
      );
    }
    return 'present';
  } catch (e) {
    if (awsErrorName(e) === 'ResourceNotFoundException') return 'absent';
    throw e;
  }
}

/** New material, escrowed in a new secret; the generated buffer is wiped whatever happens. */
async function escrowNewMaterial(ctx: Ctx, newKeyId: string, secretName: string): Promise<'written' | 'found'> {
  const material = await generateKeyMaterial(ctx.report.keySpec);
  try {
    validateMaterial(ctx.report.keySpec, material, newKeyId, secretName);
    await callWithRetry(
      { service: 'Secrets Manager', operation: 'CreateSecret', keyId: newKeyId },
      () =>
        ctx.deps.secrets.send(
          new CreateSecretCommand({
            Name: secretName,
            SecretBinary: material,
            // The same token on a retry makes the same version, never a second material.
            ClientRequestToken: newKeyId.padEnd(32, '0'),
            Description: `Escrowed imported key material of KMS key ${newKeyId} (kms-reimport; alias-swap rotation of ${ctx.old})`,
            Tags: [{ Key: ESCROW_KEY_ID_TAG, Value: newKeyId }],
          }),
        ),
      ctx.retry,
    );
    return 'written';
  } catch (e) {
    // Written meanwhile (an earlier attempt whose answer was lost, another run): escrow is the truth.
    if (awsErrorName(e) === 'ResourceExistsException') return 'found';
    if (isReimportError(e)) throw e;
    throw new EscrowMissing(
      `Escrowing new material for key ${newKeyId} (rotation of ${ctx.old}) in ${secretName} failed (${awsErrorName(e) ?? 'unknown error'}); nothing was imported. ` +
        `Check secretsmanager:CreateSecret on the escrow prefix, then run again.`,
      // No cause: the failed request carried the plaintext material (as in lib/escrow/write.ts).
      { keyId: ctx.old },
    );
  } finally {
    wipe(material);
  }
}

/**
 * GetParametersForImport (paced) then import from the new key's escrow, refreshing a dead token a
 * bounded number of times. First import (default): as a key that never held material, with the old
 * key's expiration model. `again`: the escrowed material imported again into the Enabled new key as
 * EXISTING_KEY_MATERIAL under its KeyMaterialId (a proof: KMS refuses other material).
 */
async function importNew(ctx: Ctx, newReport: KeyReport, now: () => Date, again?: { keyMaterialId: string }): Promise<ImportResult> {
  const { deps, config } = ctx;
  const sleep = deps.sleep ?? realSleep;
  const clock = deps.monotonicNow ?? (() => performance.now());
  // The new material follows the old key's expiration model (or the configured one).
  const model = chooseExpirationModel(config, ctx.report).model;
  const importReport: KeyReport = again ? { ...newReport } : { ...newReport, expirationModel: model, materials: [] };
  if (!again) delete importReport.currentKeyMaterialId;
  const choice = chooseWrapping(newReport.keySpec, config, newReport.keyId);
  let last: number | undefined;
  for (let refresh = 0; ; refresh++) {
    if (last !== undefined && config.parametersIntervalMs > 0) {
      const wait = config.parametersIntervalMs - (clock() - last);
      if (wait > 0) await sleep(wait);
    }
    last = clock();
    const params = await getImportParameters(deps.kms, newReport.keyId, choice, ctx.retry);
    try {
      return await importEscrowedMaterial(
        {
          kms: deps.kms,
          secrets: deps.secrets,
          ...(deps.sleep ? { sleep: deps.sleep } : {}),
          ...(deps.random ? { random: deps.random } : {}),
          ...(deps.logger ? { logger: deps.logger } : {}),
        },
        { report: importReport, params, config, now: now(), ...(again ? { keyMaterialId: again.keyMaterialId } : {}) },
      );
    } catch (e) {
      if (e instanceof ImportTokenExpired && refresh < MAX_TOKEN_REFRESHES) continue;
      throw e;
    }
  }
}

/**
 * A resumed run found the new key already Enabled: before any alias moves to it, prove it holds the
 * material escrowed for it. RSA/ECC: KMS's GetPublicKey against the public key derived here from the
 * escrowed PKCS#8 (SPKI DER bytes). HMAC: KMS's GenerateMac of a random message against a local HMAC
 * of the escrowed bytes, compared in constant time. SYMMETRIC_DEFAULT (a swap past the cap): nothing
 * KMS returns can be compared locally, so KMS compares: the escrowed material is imported again as
 * EXISTING_KEY_MATERIAL under the key's CurrentKeyMaterialId, which KMS refuses
 * (IncorrectKeyMaterialException) for any other material; as a side effect its ValidTo is pushed out,
 * like a renewal. A mismatch is RotationKeyUnusable, nothing moved. Other specs (SM2) have no
 * comparison: the round trip of verifyKey stands. Returns what was compared, or undefined when
 * nothing could be.
 */
async function proveNewKeyHoldsEscrow(ctx: Ctx, newReport: KeyReport, now: () => Date): Promise<string | undefined> {
  const spec = newReport.keySpec;
  const hmac = /^HMAC_(224|256|384|512)$/.exec(spec);
  const asymmetric = /^(RSA_(2048|3072|4096)|ECC_NIST_P(256|384|521)|ECC_SECG_P256K1)$/.test(spec);
  const newKeyId = newReport.keyId;
  const secretId = escrowSecretId(newReport, ctx.config);
  if (spec === 'SYMMETRIC_DEFAULT' && newReport.currentKeyMaterialId !== undefined) {
    try {
      await importNew(ctx, newReport, now, { keyMaterialId: newReport.currentKeyMaterialId });
    } catch (e) {
      if (e instanceof IncorrectKeyMaterial) {
        throw unusable(
          ctx,
          newKeyId,
          `does not hold the material escrowed for it in ${secretId} (KMS refused the escrowed material as its material ${newReport.currentKeyMaterialId}: ` +
            `IncorrectKeyMaterialException): no alias was moved to it`,
        );
      }
      throw e;
    }
    return `KMS took the escrowed material again as its material ${newReport.currentKeyMaterialId}`;
  }
  if (!hmac && !asymmetric) return undefined;
  const entries = await readEscrow(ctx.deps.secrets, newReport, ctx.config, ctx.retry);
  const buffers: Uint8Array[] = [];
  try {
    const usable = entries.filter((e) => !isPendingImport(e));
    const current = newReport.currentKeyMaterialId?.toLowerCase();
    const entry = usable.find((e) => current !== undefined && e.keyMaterialId === current) ?? (usable.length === 1 ? usable[0] : undefined);
    if (!entry) throw unusable(ctx, newKeyId, `cannot be compared with its escrow: secret ${secretId} holds no single material for it`);
    let same: boolean;
    if (hmac) {
      const bits = hmac[1] as string;
      const message = randomBytes(32);
      const out = await callWithRetry(
        { operation: 'GenerateMac', keyId: newKeyId },
        () => ctx.deps.kms.send(new GenerateMacCommand({ KeyId: newKeyId, Message: message, MacAlgorithm: `HMAC_SHA_${bits}` as MacAlgorithmSpec })),
        ctx.retry,
      );
      const local = createHmac(`sha${bits}`, entry.material).update(message).digest();
      buffers.push(local);
      const mac = out?.Mac;
      same = mac !== undefined && mac.length === local.length && timingSafeEqual(mac, local);
    } else {
      const out = await callWithRetry({ operation: 'GetPublicKey', keyId: newKeyId }, () => ctx.deps.kms.send(new GetPublicKeyCommand({ KeyId: newKeyId })), ctx.retry);
      const local = createPublicKey(createPrivateKey({ key: entry.material, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
      buffers.push(local);
      const kmsKey = out?.PublicKey;
      same = kmsKey !== undefined && kmsKey.length === local.length && timingSafeEqual(kmsKey, local);
    }
    if (!same) {
      throw unusable(
        ctx,
        newKeyId,
        `does not hold the material escrowed for it in ${secretId} (${hmac ? 'GenerateMac differs from the escrowed material\'s HMAC' : 'GetPublicKey differs from the escrowed private key\'s public key'}): ` +
          `no alias was moved to it`,
      );
    }
    return hmac ? 'GenerateMac matches the escrowed material' : 'GetPublicKey matches the escrowed private key';
  } finally {
    wipe(buffers);
    wipeEscrowed(entries);
  }
}

export async function rotateByAliasSwap(
  deps: AliasSwapDeps,
  report: KeyReport,
  config: ReimportConfig,
  now: () => Date,
  options: { rotationId?: string } = {},
): Promise<AliasSwapResult> {
  const retry: RetryOptions = {
    maxAttempts: config.maxAttempts,
    baseDelayMs: config.baseDelayMs,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    ...(deps.random ? { random: deps.random } : {}),
  };
  const old = report.keyId;
  const ctx: Ctx = { deps, report, config, retry, old, ...(options.rotationId ? { rotationId: options.rotationId } : {}) };
  const log = deps.logger;
  if (report.multiRegion) {
    throw new KeyNotEligible(
      `Key ${old} is a Multi-Region key: alias swap would need every replica made again; rotate it in place instead. Nothing was done.`,
      { keyId: old },
    );
  }
  const resumed: string[] = [];

  // 1. The new key: an earlier run's, found by the lineage tags, or a new one.
  const oldTags = await readTags(ctx, old);
  const finished = oldTags[ROTATED_TO_TAG];
  const rotating = oldTags[ROTATING_TO_TAG];
  let newKeyId: string | undefined;
  if (finished) {
    newKeyId = finished;
  } else if (rotating && rotating !== ROTATING_PENDING) {
    newKeyId = rotating;
  } else if (rotating === ROTATING_PENDING) {
    const found = await searchNewKeys(ctx);
    if (found.length > 1) throw conflict(ctx, found);
    newKeyId = found[0];
  }
  if (newKeyId !== undefined) {
    resumed.push('create-key');
  } else {
    await tagKey(ctx, old, ROTATING_TO_TAG, ROTATING_PENDING);
    newKeyId = await createNewKey(ctx);
    log?.info(`Alias-swap rotation of key ${old}: new key ${newKeyId} created.`, { keyId: old, newKeyId });
  }
  if (rotating !== newKeyId && !finished) {
    const now2 = (await readTags(ctx, old))[ROTATING_TO_TAG];
    if (now2 && now2 !== ROTATING_PENDING && now2 !== newKeyId) throw conflict(ctx, [now2, newKeyId]);
    await tagKey(ctx, old, ROTATING_TO_TAG, newKeyId);
  }
  if (finished) {
    const newReport = await inspectKey(deps.kms, newKeyId, retry);
    const aliases = await aliasesOf(ctx, newKeyId);
    resumed.push(...ALIAS_SWAP_STEPS.slice(1));
    log?.info(`Alias-swap rotation of key ${old} to ${newKeyId} was already finished; nothing done.`, { keyId: old, newKeyId });
    return {
      oldKeyId: old,
      newKeyId,
      newKeyArn: newReport.arn,
      aliasesMoved: aliases,
      ...(newReport.currentKeyMaterialId ? { keyMaterialId: newReport.currentKeyMaterialId } : {}),
      ...(newReport.validTo ? { validTo: newReport.validTo } : {}),
      resumed,
    };
  }

  let newReport = await newKeyReport(ctx, newKeyId);

  // 2. Escrow first, then import: only into a new key still waiting for its first material.
  let imported: ImportResult | undefined;
  if (newReport.keyState === 'Enabled') {
    resumed.push('escrow', 'import');
  } else {
    const secretName = `${config.escrowPrefix}${newKeyId}`;
    if ((await escrowState(ctx, newKeyId, secretName)) === 'present') {
      resumed.push('escrow');
      log?.info(`Alias-swap rotation of key ${old}: escrow ${secretName} of new key ${newKeyId} found; its material is imported, none is generated.`, {
        keyId: old,
        newKeyId,
      });
    } else {
      const how = await escrowNewMaterial(ctx, newKeyId, secretName);
      if (how === 'found') resumed.push('escrow');
      log?.info(`Alias-swap rotation of key ${old}: new material ${how === 'written' ? 'escrowed in' : 'found in'} ${secretName}.`, { keyId: old, newKeyId });
    }
    imported = await importNew(ctx, newReport, now);
    log?.info(`Alias-swap rotation of key ${old}: new material imported into ${newKeyId}.`, {
      keyId: old,
      newKeyId,
      ...(imported.keyMaterialId ? { keyMaterialId: imported.keyMaterialId } : {}),
      ...(imported.validTo ? { validTo: imported.validTo } : {}),
    });
    newReport = await newKeyReport(ctx, newKeyId);
  }

  // 3. Verify (again, if resumed: it is cheap and proves the key before any alias points at it).
  const aliasesDone = await aliasesOf(ctx, newKeyId);
  if (aliasesDone.length > 0) resumed.push('verify', 'move-aliases');
  const verified = await verifyKey(deps.kms, newReport, retry);
  log?.info(`Alias-swap rotation of key ${old}: new key ${newKeyId} verified (${verified.check}).`, { keyId: old, newKeyId });
  if (imported === undefined) {
    // Resumed with the new key already Enabled: prove it holds the escrowed material before moving any alias.
    const compared = await proveNewKeyHoldsEscrow(ctx, newReport, now);
    if (compared) log?.info(`Alias-swap rotation of key ${old}: new key ${newKeyId} holds its escrowed material (${compared}).`, { keyId: old, newKeyId });
    else log?.warn(`Alias-swap rotation of key ${old}: new key ${newKeyId} (${newReport.keySpec}) cannot be compared with its escrow locally; its round trip stands.`, { keyId: old, newKeyId });
  }

  // The new key's escrow holds its material by the KeyMaterialId KMS gave it, as every rotated key's escrow
  // does (it was escrowed raw, before KMS named it): a new version, labelled; done once, skipped on a resume.
  const materialId = imported?.keyMaterialId ?? newReport.currentKeyMaterialId;
  if (materialId) {
    const label = await labelKeyMaterial(
      deps.secrets,
      newReport,
      config,
      { rotationId: ctx.rotationId ?? 'alias-swap', keyMaterialId: materialId, ...(imported ? { importedAt: now().toISOString() } : {}) },
      retry,
    );
    if (label.written) log?.info(`Alias-swap rotation of key ${old}: escrow ${label.secretId} of new key ${newKeyId} labelled with its KeyMaterialId.`, { keyId: old, newKeyId, keyMaterialId: materialId });
  }

  // 4. Move every alias still naming the old key, then record the lineage on the old key.
  const toMove = await aliasesOf(ctx, old);
  const moved: string[] = [];
  for (const alias of toMove) {
    try {
      await callWithRetry({ operation: 'UpdateAlias', keyId: old }, () => deps.kms.send(new UpdateAliasCommand({ AliasName: alias, TargetKeyId: newKeyId })), retry);
    } catch (e) {
      const named = toNamedError(e, old);
      named.message +=
        ` (moving ${alias} from ${old} to the verified new key ${newKeyId}; ${aliasesDone.length + moved.length} of ${aliasesDone.length + toMove.length} alias(es) ` +
        `already name the new key: run again to move the rest; the old key stays usable meanwhile)`;
      throw named;
    }
    moved.push(alias);
    log?.info(`Alias-swap rotation of key ${old}: alias ${alias} moved to ${newKeyId}.`, { keyId: old, newKeyId, alias });
  }
  if (toMove.length === 0 && aliasesDone.length === 0) {
    log?.warn(`Alias-swap rotation of key ${old}: the key had no alias, so nothing now names the new key ${newKeyId}; callers that use the key ID must change it.`, {
      keyId: old,
      newKeyId,
    });
  }
  await tagKey(ctx, old, ROTATED_TO_TAG, newKeyId);
  log?.info(`Alias-swap rotation of key ${old} finished: aliases name ${newKeyId}; ${old} stays Enabled and managed for the data it protects.`, {
    keyId: old,
    newKeyId,
    resumed,
  });
  const keyMaterialId = imported?.keyMaterialId ?? newReport.currentKeyMaterialId;
  const validTo = imported?.validTo ?? newReport.validTo;
  return {
    oldKeyId: old,
    newKeyId,
    newKeyArn: newReport.arn,
    aliasesMoved: [...aliasesDone, ...toMove].sort(),
    ...(keyMaterialId ? { keyMaterialId } : {}),
    ...(validTo ? { validTo } : {}),
    resumed,
  };
}
