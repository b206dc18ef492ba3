/**
 * The domain's named errors. Their `name` is an interface: the Step Functions definition routes
 * on it (Lambda reports `errorType` = error.name), and outcomes carry it as `errorName`. Names are
 * set as string literals so bundling/minification cannot change them.
 *
 * Every message says what happened, to which key, and what to do next. No message ever carries
 * key material (nor any secret value, nor the import token).
 */

export interface ReimportErrorOptions {
  /** The key the error is about: the ID, ARN or alias the caller gave, or the resolved key ID. */
  keyId?: string;
  cause?: unknown;
}

export class ReimportError extends Error {
  readonly keyId?: string;
  constructor(message: string, options: ReimportErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ReimportError';
    if (options.keyId !== undefined) this.keyId = options.keyId;
  }
}

/** DescribeKey found nothing: no such key ID/ARN, or an alias pointing at nothing. */
export class KeyNotFound extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'KeyNotFound';
  }
}

/** The key does not carry the opt-in tag: it is reported, never changed. */
export class KeyNotManaged extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'KeyNotManaged';
  }
}

/** Not EXTERNAL, PendingDeletion, disabled on purpose, unavailable, or a key spec KMS cannot import. */
export class KeyNotEligible extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'KeyNotEligible';
  }
}

/** The escrow secret (or the material for a needed KeyMaterialId) does not exist or cannot be read. */
export class EscrowMissing extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'EscrowMissing';
  }
}

/** The escrow secret exists but its shape, encoding, length or key type does not fit the key. */
export class EscrowInvalid extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'EscrowInvalid';
  }
}

/** ExpiredImportTokenException / InvalidImportTokenException: fetch new import parameters and try again. */
export class ImportTokenExpired extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'ImportTokenExpired';
  }
}

/** IncorrectKeyMaterialException: the escrowed material is not the key's. Stop, alert, never retry. */
export class IncorrectKeyMaterial extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'IncorrectKeyMaterial';
  }
}

/** InvalidCiphertextException: KMS could not unwrap what we sent. */
export class WrappingRejected extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'WrappingRejected';
  }
}

/**
 * An AWS dependency (KMS, or Secrets Manager while reading escrow) kept failing with a transient
 * error (throttling, internal error, dependency timeout, network) after the bounded retries.
 * Safe to retry later as a whole.
 */
export class KmsUnavailable extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'KmsUnavailable';
  }
}

/** After import, the key is not Enabled or the cryptographic round trip failed. */
export class VerificationFailed extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'VerificationFailed';
  }
}

/** A configuration value is missing or invalid. */
export class ConfigError extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

/** A wrapping algorithm / wrapping key spec that KMS (or this key spec) does not accept. */
export class UnsupportedWrapping extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'UnsupportedWrapping';
  }
}

/**
 * KMS refused to reimport the same material into an Enabled key (KMSInvalidStateException) during
 * renewal. Nothing was deleted; the current material stays valid until its ValidTo.
 */
export class RenewalRefused extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'RenewalRefused';
  }
}

/**
 * ImportKeyMaterial answered ValidationException: KMS found the request itself invalid, most
 * likely ValidTo (more than 365 days ahead by KMS's clock, or in the past) or an ExpirationModel /
 * ImportType / KeyMaterialId combination it does not accept. Nothing was imported; not transient.
 */
export class ImportRequestInvalid extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'ImportRequestInvalid';
  }
}

export const REIMPORT_ERROR_NAMES = [
  'KeyNotFound',
  'KeyNotManaged',
  'KeyNotEligible',
  'EscrowMissing',
  'EscrowInvalid',
  'ImportTokenExpired',
  'IncorrectKeyMaterial',
  'WrappingRejected',
  'KmsUnavailable',
  'VerificationFailed',
  'ConfigError',
  'UnsupportedWrapping',
  'RenewalRefused',
  'ImportRequestInvalid',
  'LeaseTaken',
  'LeaseUnavailable',
  'KeyNotReadable',
  'PermissionDenied',
  'KmsResponseInvalid',
  'KmsLimitExceeded',
  'KmsRequestInvalid',
  'UnexpectedError',
  'TaskInputRejected',
  'RotationConflict',
  'RotationKeyUnusable',
  'RotationLimitReached',
  'EscrowWriteFailed',
  'PendingMaterialUnproven',
  'EscrowNotReplicated',
  'ReplicaNotYetRotated',
  'MultiRegionRotationRefused',
  'EscrowExists',
  'MaterialNotProvable',
  'MaterialFileInvalid',
] as const;
export type ReimportErrorName = (typeof REIMPORT_ERROR_NAMES)[number];

/**
 * AccessDeniedException reading a key (DescribeKey, ListResourceTags): the service may only read
 * keys that carry the managed tag, so KMS answers this for every key that is not managed, and also
 * for a managed key whose key policy does not let the account's IAM policies work. Inspect tells
 * the two apart with the Tagging API: not managed → skipped; managed (or unknown) → failed loudly.
 */
export class KeyNotReadable extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'KeyNotReadable';
  }
}

/** Any other AccessDeniedException: a permission the service's role (or the caller) lacks. */
export class PermissionDenied extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'PermissionDenied';
  }
}

/**
 * The endpoint answered with something that is not an AWS answer (not JSON, truncated, an HTML
 * page): another KMS implementation that lacks the operation, a proxy, a cut connection. Whether a
 * mutating call took effect is unknown until the key is read again.
 */
export class KmsResponseInvalid extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'KmsResponseInvalid';
  }
}

/** LimitExceededException: an account or key limit (not a rate) was reached. */
export class KmsLimitExceeded extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'KmsLimitExceeded';
  }
}

/** ValidationException (or another request error) outside ImportKeyMaterial: the request itself was refused. */
export class KmsRequestInvalid extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'KmsRequestInvalid';
  }
}

/** Anything else: a bug or an answer nobody foresaw. The message names the key and the next step. */
export class UnexpectedError extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'UnexpectedError';
  }
}

/**
 * A workflow task re-checked what it was asked to do against the key as KMS shows it now, and the
 * key does not need it: the key changed since Inspect (another run, a person), or the task was
 * invoked with input the workflow never produced. Nothing was done.
 */
export class TaskInputRejected extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'TaskInputRejected';
  }
}

/**
 * The AWS call an error came from, recorded by callWithRetry (lib/retry.ts) on errors it passes on,
 * so that the edge can say which call failed.
 */
export interface FailedCall {
  service: string;
  operation: string;
  keyId: string;
}

const FAILED_CALL = Symbol.for('kms-reimport.failedCall');

export function recordFailedCall(e: unknown, call: FailedCall): void {
  if (typeof e === 'object' && e !== null && !Object.hasOwn(e, FAILED_CALL)) {
    Object.defineProperty(e, FAILED_CALL, { value: call, enumerable: false });
  }
}

export function failedCallOf(e: unknown): FailedCall | undefined {
  return typeof e === 'object' && e !== null ? ((e as Record<symbol, unknown>)[FAILED_CALL] as FailedCall | undefined) : undefined;
}

/** An SDK deserialisation failure: the answer was not JSON (its message quotes the body: never pass it on). */
export function isUnparsableResponse(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  return e.name === 'SyntaxError' || /Deserialization error/.test(e.message);
}

/**
 * Every failure as one of our named errors, with the key and the next step: named errors pass
 * unchanged; AWS and JavaScript errors are mapped by name. Messages are fixed text plus the AWS
 * error name and the call: never the raw message of an unparsable answer (it quotes the body).
 */
export function toNamedError(e: unknown, keyRef: string): ReimportError {
  if (isReimportError(e)) return e;
  const call = failedCallOf(e);
  const keyId = call?.keyId ?? keyRef;
  const which = call ? `${call.service} ${call.operation}` : 'an AWS call';
  const name = awsErrorName(e) ?? 'Error';
  if (isUnparsableResponse(e)) {
    const status = (e as { $metadata?: { httpStatusCode?: unknown } }).$metadata?.httpStatusCode;
    return new KmsResponseInvalid(
      `${which} for key ${keyId} got an answer that is not a valid ${call?.service ?? 'AWS'} response (HTTP ${typeof status === 'number' ? status : 'status unknown'}, not JSON or cut short): ` +
        `the endpoint may not implement ${call?.operation ?? 'the operation'} (another KMS implementation or a proxy), or the connection was cut. ` +
        `Check the endpoint (AWS_ENDPOINT_URL*, --endpoint-url) and run a plan for the key before running again.`,
      { keyId },
    );
  }
  switch (name) {
    case 'AccessDeniedException':
    case 'AccessDenied':
    case 'UnauthorizedOperation':
      return new PermissionDenied(
        `${which} for key ${keyId} was denied (${name}). Check that the key carries the managed tag, that its key policy lets the account's IAM policies ` +
          `work, and that the role running kms-reimport has the permission the template gives it; nothing more was attempted.`,
        { keyId, cause: e },
      );
    case 'LimitExceededException':
      return new KmsLimitExceeded(
        `${which} for key ${keyId} hit a KMS limit (${name}); nothing more was attempted. Check the key's and the account's limits (Service Quotas), then run again.`,
        { keyId, cause: e },
      );
    case 'ValidationException':
    case 'InvalidParameterException':
    case 'InvalidRequestException':
    case 'SerializationException':
      return new KmsRequestInvalid(
        `${which} for key ${keyId} was refused as invalid (${name}); nothing was changed by it. Run a plan for the key and check the configuration, then run again.`,
        { keyId, cause: e },
      );
    default:
      return new UnexpectedError(
        `${which} for key ${keyId} failed unexpectedly (${name}); nothing more was attempted. Check the key with a plan and the logs, then run again.`,
        { keyId, ...(e instanceof Error && !isUnparsableResponse(e) ? { cause: e } : {}) },
      );
  }
}

/**
 * An error of a fleet-wide step (listing the managed keys, reading the fleet's escrow), which names
 * no key: the same mapping as toNamedError, worded for the account and Region. Missing credentials
 * (an unknown --profile, no credentials at all) are a ConfigError: nothing was done.
 */
export function toFleetError(e: unknown, what = 'listing the managed keys'): ReimportError {
  if (isReimportError(e)) return e;
  const name = awsErrorName(e) ?? 'Error';
  if (name === 'CredentialsProviderError' || name === 'ProviderError') {
    return new ConfigError(
      `No AWS credentials for ${what} (${name}): check --profile / AWS_PROFILE, the environment's credentials or the instance role; nothing was done.`,
    );
  }
  const call = failedCallOf(e);
  const which = call ? `${call.service} ${call.operation}` : 'an AWS call';
  if (isUnparsableResponse(e)) {
    return new KmsResponseInvalid(
      `${which} while ${what} got an answer that is not a valid AWS response (not JSON or cut short): check the endpoint (AWS_ENDPOINT_URL*, --endpoint-url); nothing was changed.`,
    );
  }
  if (name === 'AccessDeniedException' || name === 'AccessDenied' || name === 'UnauthorizedOperation') {
    return new PermissionDenied(
      `${which} was denied while ${what} (${name}): the role needs tag:GetResources on "*", kms:DescribeKey and kms:ListKeyRotations on the managed keys, ` +
        `and secretsmanager:ListSecrets (as the template grants the sweep); nothing was changed.`,
      { cause: e },
    );
  }
  return new UnexpectedError(`${which} failed while ${what} (${name}); nothing was changed. Check the logs, then run again.`, {
    ...(e instanceof Error && !isUnparsableResponse(e) ? { cause: e } : {}),
  });
}

export function isReimportError(e: unknown): e is ReimportError {
  return e instanceof ReimportError;
}

/** ImportKeyMaterial's answers for a token it will not take (expired, spent, replaced, or another key's). */
const TOKEN_REFUSED = new Set(['ExpiredImportTokenException', 'InvalidImportTokenException']);

/** Whether ImportKeyMaterial refused the token itself: new import parameters are the way on (ImportTokenExpired). */
export function isTokenRefused(e: unknown): boolean {
  return TOKEN_REFUSED.has(awsErrorName(e) ?? '');
}

/** The AWS error code of an SDK exception (its name), or undefined for non-errors. */
export function awsErrorName(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const named = e as { name?: unknown; Code?: unknown; code?: unknown };
  if (typeof named.Code === 'string') return named.Code;
  if (typeof named.name === 'string' && named.name !== 'Error') return named.name;
  if (typeof named.code === 'string') return named.code;
  return typeof named.name === 'string' ? named.name : undefined;
}

/** A short, material-free description of an unexpected error, for reasons and logs. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return `${awsErrorName(e) ?? e.name}: ${e.message}`;
  return String(e);
}

/**
 * Another run holds this key's lease (lib/lease): this run does not import. Carries who holds it
 * and until when, so that the outcome can say whom to look at and when the lease lapses.
 */
export class LeaseTaken extends ReimportError {
  readonly holder: string;
  readonly expiresAt?: string;
  constructor(message: string, options: ReimportErrorOptions & { holder: string; expiresAt?: string }) {
    super(message, options);
    this.name = 'LeaseTaken';
    this.holder = options.holder;
    if (options.expiresAt !== undefined) this.expiresAt = options.expiresAt;
  }
}

/** The lease table could not be read or written (missing, no permission, unreachable): nothing was imported. */
export class LeaseUnavailable extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'LeaseUnavailable';
  }
}

/**
 * Alias-swap rotation found more than one new key for one old key (keys tagged
 * `kms-reimport:rotated-from=<old key>`, or the old key's `kms-reimport:rotating-to` naming a key
 * other than the one found): nothing more was done, so no third key is made.
 */
export class RotationConflict extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'RotationConflict';
  }
}

/**
 * Alias-swap rotation found an earlier run's new key but cannot finish with it: it is disabled,
 * pending deletion, gone, or not a copy of the old key (spec, usage, origin, lineage tag).
 * Nothing more was done; the old key and its aliases are as they were.
 */
export class RotationKeyUnusable extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'RotationKeyUnusable';
  }
}

/**
 * (RotationConflict above also names in-place rotation's refusal: RotateKeyOnDemand answered
 * ConflictException, a rotation is running or due; the new material stays escrowed and
 * PENDING_ROTATION and the next run finishes it.)
 *
 * The key has had the 25 on-demand rotations KMS allows (LimitExceededException, not raisable):
 * it cannot be rotated in place again. Rotate it by alias swap (KMS_REIMPORT_ROTATION_CAP_FALLBACK=alias-swap).
 */
export class RotationLimitReached extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'RotationLimitReached';
  }
}

/** A new escrow version could not be written (PutSecretValue failed): nothing was imported after it. */
export class EscrowWriteFailed extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'EscrowWriteFailed';
  }
}

/**
 * In-place rotation found new material waiting (PENDING_ROTATION) that escrow holds as a
 * not-yet-recorded entry, and could not prove the two are the same: KMS refused the proof reimport
 * (EXISTING_KEY_MATERIAL under the pending KeyMaterialId; whether KMS takes one for material not yet
 * permanently associated is unconfirmed), or the waiting material's description does not name the
 * escrow entry's rotation. Terminal: retrying changes nothing. The message names the next step:
 * delete the pending material (it never encrypted anything), then run the rotation again, which
 * imports the escrowed entry.
 */
export class PendingMaterialUnproven extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'PendingMaterialUnproven';
  }
}

/**
 * A Multi-Region primary key's escrow secret is not readable in every Region that holds a replica
 * of the key (no InSync replica of the secret there): a rotation would leave a replica Region with
 * material it cannot recover. Refused before anything is imported; the message names the missing
 * Regions and the `aws secretsmanager replicate-secret-to-regions` command that fixes it.
 */
export class EscrowNotReplicated extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'EscrowNotReplicated';
  }
}

/**
 * A Multi-Region primary was rotated (its CurrentKeyMaterialId is the new material) but a replica
 * Region does not show the new material as current yet: KMS propagates the rotation to replicas on
 * its own, possibly later than the run looked. Nothing is lost and nothing more is imported; a later
 * run of the same rotation only verifies (the state machine retries this error, boundedly).
 */
export class ReplicaNotYetRotated extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'ReplicaNotYetRotated';
  }
}

/**
 * RotateKeyOnDemand refused a Multi-Region key with imported material (UnsupportedOperationException:
 * one reading of the KMS API reference). The new material stays escrowed and imported into the
 * primary and every replica, waiting (not current): nothing is lost. The message names the next step.
 */
export class MultiRegionRotationRefused extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'MultiRegionRotationRefused';
  }
}

/** The escrow secret for this key already exists (or the key names one by its tag): onboarding never overwrites escrow. */
export class EscrowExists extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'EscrowExists';
  }
}

/**
 * Onboarding cannot prove that a material file is the key's own: the key never held material (KMS
 * lists none), or KMS shows nothing to compare with (a PendingImport HMAC/RSA/ECC key), or KMS
 * refuses the proof reimport into the Enabled key. Nothing was written; the message names the way on
 * (`onboard --new` for a key without material, or one import by hand first).
 */
export class MaterialNotProvable extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'MaterialNotProvable';
  }
}

/**
 * A material file given to onboarding is unreadable, empty, too large, or not material of the
 * key's spec (length, PEM instead of DER, wrong key type or size). Bad input: nothing was changed.
 */
export class MaterialFileInvalid extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'MaterialFileInvalid';
  }
}

/**
 * `kms-reimport drill` on an account refuses to change a key or secret it did not create in this
 * run: before every destructive call it checks the `kms-reimport:drill` tag against the drill's id.
 * Nothing was changed; the message names the resource and how to clean up by hand if it is the drill's.
 */
export class DrillRefused extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'DrillRefused';
  }
}

/**
 * A drill through the deployed service waited its whole timeout and the drill key is still not
 * Enabled: the service never heard of the deletion (most often: no CloudTrail trail logging
 * management events in the Region), or its run did not finish. The drill key is cleaned up anyway.
 */
export class DrillRecoveryTimedOut extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'DrillRecoveryTimedOut';
  }
}

/**
 * A drill through the deployed service saw the service's execution for the drill key end without
 * recovering it (FAILED, TIMED_OUT or ABORTED). The message names the execution to read.
 */
export class DrillRecoveryFailed extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'DrillRecoveryFailed';
  }
}
