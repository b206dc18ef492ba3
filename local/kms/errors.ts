// KMS-shaped errors: the `type` is the `__type` the SDK maps to its exception class.
import { ServiceError } from '../service.js';

export type KmsErrorType =
  | 'AlreadyExistsException'
  | 'ConflictException'
  | 'DisabledException'
  | 'ExpiredImportTokenException'
  | 'IncorrectKeyException'
  | 'IncorrectKeyMaterialException'
  | 'InvalidAliasNameException'
  | 'InvalidArnException'
  | 'InvalidCiphertextException'
  | 'InvalidImportTokenException'
  | 'InvalidKeyUsageException'
  | 'InvalidMarkerException'
  | 'KMSInternalException'
  | 'KMSInvalidMacException'
  | 'KMSInvalidSignatureException'
  | 'KMSInvalidStateException'
  | 'LimitExceededException'
  | 'NotFoundException'
  | 'TagException'
  | 'UnsupportedOperationException'
  | 'ValidationException';

/** HTTP status per error, as the KMS API model gives it (httpError); every other type is 400. */
export const KMS_ERROR_STATUS: Readonly<Partial<Record<KmsErrorType, number>>> = Object.freeze({
  AlreadyExistsException: 409,
  ConflictException: 409,
  DisabledException: 409,
  KMSInvalidStateException: 409,
  NotFoundException: 404,
  KMSInternalException: 500,
});

export function kmsError(type: KmsErrorType, message: string): ServiceError {
  return new ServiceError(type, message, KMS_ERROR_STATUS[type] ?? 400);
}

/** AWS's wording for a failed input constraint, e.g. a missing required member. */
export function validationError(member: string, value: string, constraint: string): ServiceError {
  return kmsError(
    'ValidationException',
    `1 validation error detected: Value ${value} at '${member}' failed to satisfy constraint: ${constraint}`,
  );
}
