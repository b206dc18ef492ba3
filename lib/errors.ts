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
] as const;
export type ReimportErrorName = (typeof REIMPORT_ERROR_NAMES)[number];

export function isReimportError(e: unknown): e is ReimportError {
  return e instanceof ReimportError;
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
