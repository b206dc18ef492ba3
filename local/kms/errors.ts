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

export function kmsError(type: KmsErrorType, message: string): ServiceError {
  return new ServiceError(type, message, type === 'KMSInternalException' ? 500 : 400);
}

/** AWS's wording for a failed input constraint, e.g. a missing required member. */
export function validationError(member: string, value: string, constraint: string): ServiceError {
  return kmsError(
    'ValidationException',
    `1 validation error detected: Value ${value} at '${member}' failed to satisfy constraint: ${constraint}`,
  );
}
