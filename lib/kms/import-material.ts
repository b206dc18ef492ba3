/**
 * The one place that reads escrow and imports: escrow (read while the import parameters are still
 * coming, when the caller passes them as a promise) → pick → validate → wrap → ImportKeyMaterial.
 * Also a Step Functions task on its own, so it does NOT retry token errors (ImportTokenExpired goes
 * back to the caller/state machine, which fetches new parameters). Transient KMS errors are
 * retried (bounded) and then become KmsUnavailable.
 */
import { ImportKeyMaterialCommand, type ExpirationModelType, type KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ReimportConfig } from '../config.js';
import {
  awsErrorName,
  ImportRequestInvalid,
  ImportTokenExpired,
  isTokenRefused,
  IncorrectKeyMaterial,
  KeyNotEligible,
  KeyNotFound,
  isUnparsableResponse,
  KmsResponseInvalid,
  KmsUnavailable,
  RenewalRefused,
  TaskInputRejected,
  toNamedError,
  WrappingRejected,
} from '../errors.js';
import { inspectKey } from './inspect.js';
import { escrowSecretId, readEscrow, selectEscrowedMaterial } from '../escrow/read.js';
import { validateMaterial, wipe, wipeEscrowed, type EscrowedMaterial } from '../escrow/material.js';
import { callWithRetry, isThrottlingError, isTransientError, type RetryOptions } from '../retry.js';
import type { ImportParameters, KeyReport } from '../types.js';
import { wrapKeyMaterial } from '../wrap/wrap.js';

const DAY_MS = 86_400_000;
export const MAX_VALID_TO_DAYS = 365;
/**
 * ValidTo stays this far inside KMS's 365-day limit: KMS checks it against its own clock, and a
 * caller whose clock runs ahead would otherwise be refused (ValidationException).
 */
export const VALID_TO_MARGIN_MS = 3_600_000;

export interface ImportDeps {
  kms: KMSClient;
  secrets: SecretsManagerClient;
  /** Injected for tests (retry waits). */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  onRetry?: RetryOptions['onRetry'];
  /** The run's logger: warns when the ExpirationModel had to be assumed. */
  logger?: { warn(message: string, extra?: object): void };
}

export interface ImportInput {
  report: KeyReport;
  /**
   * The import parameters, or their GetParametersForImport still under way: the escrow is read
   * while they come (one round trip instead of two). If they fail, their error is the run's (as
   * when they were fetched first) and the escrow read, if it finished, is wiped unused.
   */
  params: ImportParameters | Promise<ImportParameters>;
  /** The material to reimport; without it, the key's current (or only) material. */
  keyMaterialId?: string;
  config: ReimportConfig;
  now: Date;
  /**
   * The key as KMS shows it now, still being read beside the escrow read and the parameters (the
   * workflow's re-check): `report` is then the one they went out for. Nothing is wrapped or
   * imported before it arrives; if it fails, its error is the run's; if it names another key,
   * KeySpec or escrow secret than `report`, TaskInputRejected. Either way the material read is
   * wiped unused. Otherwise the import follows it (expiration model, ImportType, ...).
   */
  current?: Promise<KeyReport>;
}

export interface ImportResult {
  keyMaterialId?: string;
  validTo?: string;
  expirationModel: string;
}

/** Where the ExpirationModel sent comes from; `assumed` when KMS did not report the material's own. */
export interface ExpirationModelChoice {
  model: ExpirationModelType;
  source: 'config' | 'material' | 'key' | 'default';
  /** True when the material's previous model is unknown and the model was inferred (the key's, or KMS's default). */
  assumed: boolean;
}

/** The ExpirationModel sent (always explicitly): configured, else the material's, else the key's, else KMS's default. */
export function chooseExpirationModel(config: ReimportConfig, report: KeyReport, keyMaterialId?: string): ExpirationModelChoice {
  if (config.expirationModel !== 'follow-key') return { model: config.expirationModel, source: 'config', assumed: false };
  const id = keyMaterialId ?? report.currentKeyMaterialId;
  const material = id ? report.materials.find((m) => m.keyMaterialId === id) : undefined;
  const normalise = (model: string): ExpirationModelType => (model === 'KEY_MATERIAL_DOES_NOT_EXPIRE' ? 'KEY_MATERIAL_DOES_NOT_EXPIRE' : 'KEY_MATERIAL_EXPIRES');
  if (material?.expirationModel !== undefined) return { model: normalise(material.expirationModel), source: 'material', assumed: false };
  if (report.expirationModel !== undefined) {
    // DescribeKey's model speaks for the current material; for another one it is a guess.
    const forCurrent = id === undefined || id === report.currentKeyMaterialId;
    return { model: normalise(report.expirationModel), source: 'key', assumed: !forCurrent };
  }
  return { model: 'KEY_MATERIAL_EXPIRES', source: 'default', assumed: true };
}

/** The ExpirationModel sent (always explicitly): configured, else the material's, else the key's, else KMS's default. */
export function resolveExpirationModel(config: ReimportConfig, report: KeyReport, keyMaterialId?: string): ExpirationModelType {
  return chooseExpirationModel(config, report, keyMaterialId).model;
}

/** now + lifetime, never more than 365 days minus one hour ahead (VALID_TO_MARGIN_MS), truncated to a whole second. */
export function computeValidTo(now: Date, lifetimeDays: number): Date {
  const days = Math.max(1, lifetimeDays);
  const ahead = Math.min(days * DAY_MS, MAX_VALID_TO_DAYS * DAY_MS - VALID_TO_MARGIN_MS);
  return new Date(Math.floor((now.getTime() + ahead) / 1000) * 1000);
}

/** An attempt not sent again: the key, read before the retry, showed the import of the attempt whose answer was lost. */
const SHOWN_BEFORE_RETRY = Symbol('shown before retry');

interface SentRequest {
  keyMaterialId: string | undefined;
  expirationModel: string;
  validTo: Date | undefined;
}

function mapImportError(e: unknown, report: KeyReport, params: ImportParameters, secretId: string, sent: SentRequest): unknown {
  const sentMaterialId = sent.keyMaterialId;
  const key = report.keyId;
  const which = sentMaterialId ? ` (KeyMaterialId ${sentMaterialId})` : '';
  switch (awsErrorName(e)) {
    case 'ExpiredImportTokenException':
    case 'InvalidImportTokenException':
      return new ImportTokenExpired(
        `The import token for key ${key} is expired or no longer valid (${awsErrorName(e)}; a newer GetParametersForImport may have replaced it). Fetch new import parameters and import again.`,
        { keyId: key, cause: e },
      );
    case 'IncorrectKeyMaterialException':
      return new IncorrectKeyMaterial(
        `KMS says the material in escrow secret ${secretId} is not the material of key ${key}${which}, or different material is already associated with it. ` +
          `Stopped: no retry and no other material was tried. Find the key's original material; do not delete or rotate anything until then.`,
        { keyId: key, cause: e },
      );
    case 'InvalidCiphertextException':
      return new WrappingRejected(
        `KMS could not unwrap the material for key ${key} (wrapped with ${params.wrappingAlgorithm} under a ${params.wrappingKeySpec} key). ` +
          `Likely causes: the wrong OAEP hash (SHA-1 vs SHA-256), a PEM instead of DER public key, a different algorithm than the one the parameters were requested with, or parameters from another request. ` +
          `Fetch new parameters and retry; if it persists, check the wrapping configuration.`,
        { keyId: key, cause: e },
      );
    case 'KMSInvalidStateException':
      if (report.keyState === 'Enabled') {
        return new RenewalRefused(
          `KMS refused to reimport the same material into key ${key} while it is Enabled (KMSInvalidStateException). Nothing was deleted: the current material stays valid until ${report.validTo ?? 'its ValidTo'}. ` +
            `When it expires, the key goes to PendingImport and is recovered; to renew earlier, delete and reimport by hand in a maintenance window.`,
          { keyId: key, cause: e },
        );
      }
      return new KeyNotEligible(`KMS refused the import into key ${key} because of its state (it changed since inspection?). Inspect the key again; nothing was changed.`, {
        keyId: key,
        cause: e,
      });
    case 'NotFoundException':
    case 'InvalidArnException':
      return new KeyNotFound(`Key ${key} was not found when importing; check the key ID/ARN and Region.`, { keyId: key, cause: e });
    case 'ValidationException':
      return new ImportRequestInvalid(
        `KMS rejected the ImportKeyMaterial request for key ${key}${which} as invalid (ValidationException): nothing was imported. ` +
          `Check ValidTo (sent: ${sent.validTo?.toISOString() ?? 'none'}; KMS allows at most 365 days ahead by its own clock, so also check this host's clock; ` +
          `KMS_REIMPORT_MATERIAL_LIFETIME_DAYS) and ExpirationModel (sent: ${sent.expirationModel}; KMS_REIMPORT_EXPIRATION_MODEL), then run again.`,
        { keyId: key, cause: e },
      );
    case 'UnsupportedOperationException':
      return new KeyNotEligible(
        `KMS does not support this import into key ${key} (ImportType/KeyMaterialId/ExpirationModel for its key spec or store). Check the key's spec and origin; nothing was changed.`,
        { keyId: key, cause: e },
      );
    default:
      return e;
  }
}

/**
 * After an ImportKeyMaterial whose answer was lost (not JSON, cut short, or transient failures up
 * to the last attempt, any of which may come after KMS acted): does the key, read again, show the
 * import took effect? Only a match on what was sent counts: the material (by KeyMaterialId where
 * one was sent) IMPORTED with exactly the ValidTo sent, or, for material that does not expire, a
 * key that was PendingImport and is not any more. Anything else is "not shown".
 */
async function importShown(kms: KMSClient, report: KeyReport, sent: SentRequest, retry: RetryOptions): Promise<boolean> {
  const now = await inspectKey(kms, report.keyId, retry);
  const id = sent.keyMaterialId ?? now.currentKeyMaterialId;
  const material = id !== undefined ? now.materials.find((m) => m.keyMaterialId === id) : now.materials.length === 1 ? now.materials[0] : undefined;
  if (sent.validTo !== undefined) {
    const want = sent.validTo.getTime();
    if (material) return material.importState !== 'PENDING_IMPORT' && material.validTo !== undefined && Date.parse(material.validTo) === want;
    return now.keyState !== 'PendingImport' && now.validTo !== undefined && Date.parse(now.validTo) === want;
  }
  if (report.keyState !== 'PendingImport') return false;
  if (material) return material.importState !== 'PENDING_IMPORT';
  return now.keyState !== 'PendingImport';
}

/**
 * The re-check's report must be about what the escrow read and the parameters went out for: the
 * same key (ID and ARN), the same KeySpec (the wrapping was chosen for it), the same escrow secret
 * (the material read is that secret's) and the same CreationDate (the escrow read's binding check,
 * lib/escrow/read.ts escrowSecretFacts, refuses a tag-named secret older than the key: a forged
 * date would pass a re-bound secret). Those are every field of the report the escrow read uses.
 */
function confirmSameKey(requested: KeyReport, current: KeyReport, config: ReimportConfig): void {
  const differences: string[] = [];
  if (current.keyId !== requested.keyId || current.arn !== requested.arn) differences.push(`it is key ${current.arn}, not ${requested.arn}`);
  if (current.keySpec !== requested.keySpec) differences.push(`its KeySpec is ${current.keySpec}, not ${requested.keySpec}`);
  const secretNow = escrowSecretId(current, config);
  const secretAsked = escrowSecretId(requested, config);
  if (secretNow !== secretAsked) differences.push(`its escrow secret is ${secretNow}, not ${secretAsked}`);
  const createdAt = (report: KeyReport) => (report.creationDate === undefined ? undefined : Date.parse(report.creationDate));
  if (createdAt(current) !== createdAt(requested)) differences.push(`it was created ${current.creationDate ?? '(no date)'}, not ${requested.creationDate ?? '(no date)'}`);
  if (differences.length === 0) return;
  throw new TaskInputRejected(
    `The import into key ${requested.keyId} was prepared from a report of the key that KMS no longer confirms: read again, ${differences.join('; ')}. ` +
      `The key or its escrow tag changed since it was inspected, or the task was invoked with input the workflow never produced. ` +
      `Nothing was imported and the material read was wiped. Start a new run (action "plan" first).`,
    { keyId: requested.keyId },
  );
}

export async function importEscrowedMaterial(deps: ImportDeps, input: ImportInput): Promise<ImportResult> {
  const { config, now } = input;
  let report = input.report;
  const parameters = Promise.resolve(input.params);
  // Handled here whatever happens below (their failure is reported after the escrow read settles).
  parameters.catch(() => {});
  const current = input.current ? Promise.resolve(input.current) : undefined;
  current?.catch(() => {});
  const retry: RetryOptions = {
    maxAttempts: config.maxAttempts,
    baseDelayMs: config.baseDelayMs,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    ...(deps.random ? { random: deps.random } : {}),
    ...(deps.onRetry ? { onRetry: deps.onRetry } : {}),
  };
  const secretId = escrowSecretId(report, config);
  let materials: EscrowedMaterial[] = [];
  let wrapped: Buffer | undefined;
  try {
    // The escrow read goes out beside GetParametersForImport when the parameters are still coming.
    // The re-check (when given) goes out with them too; it decides before anything is wrapped.
    const [escrowRead, parametersRead, currentRead] = await Promise.allSettled([readEscrow(deps.secrets, report, config, retry), parameters, current ?? report]);
    if (escrowRead.status === 'fulfilled') materials = escrowRead.value;
    if (currentRead.status === 'rejected') throw currentRead.reason;
    confirmSameKey(report, currentRead.value, config);
    report = currentRead.value;
    if (parametersRead.status === 'rejected') throw parametersRead.reason;
    if (escrowRead.status === 'rejected') throw escrowRead.reason;
    const params = parametersRead.value;
    const selected = selectEscrowedMaterial(materials, report, secretId, input.keyMaterialId);
    validateMaterial(report.keySpec, selected.material, report.keyId, secretId);
    wrapped = wrapKeyMaterial(selected.material, Buffer.from(params.publicKey, 'base64'), params.wrappingAlgorithm, report.keyId);

    const choice = chooseExpirationModel(config, report, input.keyMaterialId);
    const expirationModel = choice.model;
    if (choice.assumed) {
      const which = input.keyMaterialId ?? report.currentKeyMaterialId;
      deps.logger?.warn(
        `ExpirationModel of the material${which ? ` ${which}` : ''} of key ${report.keyId} is unknown (KMS did not report it, as it may not for a deleted material): ` +
          `assumed ${expirationModel} (${choice.source === 'key' ? "the key's DescribeKey model" : "KMS's default"}). ` +
          `To force one, set KMS_REIMPORT_EXPIRATION_MODEL to KEY_MATERIAL_EXPIRES or KEY_MATERIAL_DOES_NOT_EXPIRE.`,
        { keyId: report.keyId, ...(which ? { keyMaterialId: which } : {}), assumedExpirationModel: expirationModel, source: choice.source },
      );
    }
    const validTo = expirationModel === 'KEY_MATERIAL_EXPIRES' ? computeValidTo(now, config.materialLifetimeDays) : undefined;

    // ImportType / KeyMaterialId exist for symmetric encryption keys only. A replica's material is
    // always its primary's (KMS never copies it between Regions): EXISTING_KEY_MATERIAL, even the first time.
    const symmetric = report.keySpec === 'SYMMETRIC_DEFAULT';
    const replica = report.multiRegionKeyType === 'REPLICA';
    const everImported = replica || Boolean(report.currentKeyMaterialId) || report.materials.some((m) => m.keyMaterialId);
    const severalMaterials = new Set(report.materials.map((m) => m.keyMaterialId).filter(Boolean)).size > 1;
    const sentMaterialId = symmetric && (input.keyMaterialId || severalMaterials) ? (input.keyMaterialId ?? selected.keyMaterialId ?? report.currentKeyMaterialId) : undefined;

    const request = {
      KeyId: report.keyId,
      ImportToken: Buffer.from(params.importToken, 'base64'),
      EncryptedKeyMaterial: wrapped,
      ExpirationModel: expirationModel,
      ...(validTo ? { ValidTo: validTo } : {}),
      ...(symmetric && everImported ? { ImportType: 'EXISTING_KEY_MATERIAL' as const } : {}),
      ...(sentMaterialId ? { KeyMaterialId: sentMaterialId } : {}),
    };
    const sent: SentRequest = { keyMaterialId: sentMaterialId, expirationModel, validTo };
    let out: { KeyMaterialId?: string } | undefined;
    // An attempt that failed transiently other than by throttling (a connection reset, a timeout, an
    // internal error) may have been acted on by KMS with its answer lost: before sending it again,
    // read the key; if it shows the import, it is not sent a second time (a token may be reusable,
    // or spent: either way, one import).
    let anAttemptMayHaveActed = false;
    let lastAttemptMayHaveActed = false;
    const attempt = async (): Promise<{ KeyMaterialId?: string } | typeof SHOWN_BEFORE_RETRY> => {
      if (lastAttemptMayHaveActed) {
        lastAttemptMayHaveActed = false;
        if ((await importShown(deps.kms, report, sent, retry).catch(() => undefined)) === true) return SHOWN_BEFORE_RETRY;
      }
      try {
        return await deps.kms.send(new ImportKeyMaterialCommand(request));
      } catch (e) {
        if (isTransientError(e) && !isThrottlingError(e)) anAttemptMayHaveActed = lastAttemptMayHaveActed = true;
        throw e;
      }
    };
    let answer: Awaited<ReturnType<typeof attempt>> | undefined;
    let lost: string | undefined;
    try {
      answer = await callWithRetry({ operation: 'ImportKeyMaterial', keyId: report.keyId }, attempt, retry);
      if (answer === SHOWN_BEFORE_RETRY) lost = 'a transient error; the key, read again before a retry, shows the import took effect: not sent again';
    } catch (e) {
      const answerLost = isUnparsableResponse(e) || e instanceof KmsUnavailable;
      // The retry of an attempt KMS may have acted on meets its token refused (spent by that attempt).
      const tokenSpentByLostAnswer = anAttemptMayHaveActed && isTokenRefused(e);
      if (!answerLost && !tokenSpentByLostAnswer) throw mapImportError(e, report, params, secretId, sent);
      // The answer was lost, not necessarily the import: read the key again before concluding.
      const shown = await importShown(deps.kms, report, sent, retry).catch(() => undefined);
      // Not shown after a refused token: new parameters and another try, as for any refused token.
      if (shown !== true && tokenSpentByLostAnswer) throw mapImportError(e, report, params, secretId, sent);
      if (shown !== true) {
        const named = toNamedError(e, report.keyId);
        const reread =
          shown === false
            ? 'Read again, the key does not show the import (nothing was imported that can be seen);'
            : 'Reading the key again failed too, so whether the import took effect is unknown;';
        const Named = named instanceof KmsUnavailable ? KmsUnavailable : KmsResponseInvalid;
        throw new Named(`${named.message} ${reread} the same material can safely be imported again: run again.`, { keyId: report.keyId });
      }
      lost = tokenSpentByLostAnswer
        ? `a transient error, then ${awsErrorName(e)} on the retry; the key read again shows the import took effect`
        : `${isUnparsableResponse(e) ? 'not JSON or cut short' : 'transient errors'}; the key read again shows the import took effect`;
    }
    if (lost !== undefined) {
      deps.logger?.warn(`ImportKeyMaterial for key ${report.keyId} got no usable answer (${lost}): counted as imported.`, {
        keyId: report.keyId,
        ...(sentMaterialId ? { keyMaterialId: sentMaterialId } : {}),
      });
    } else if (answer !== SHOWN_BEFORE_RETRY) {
      out = answer;
    }
    const result: ImportResult = { expirationModel };
    const importedId = out?.KeyMaterialId ?? sentMaterialId ?? selected.keyMaterialId;
    if (importedId) result.keyMaterialId = importedId;
    if (validTo) result.validTo = validTo.toISOString();
    return result;
  } finally {
    wipeEscrowed(materials);
    wipe(wrapped);
  }
}
