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

/**
 * HTTP status per error; every other type is 400.
 *
 * KMS speaks the AWS JSON 1.1 protocol, where every client error (the caller's fault:
 * NotFoundException, KMSInvalidStateException, DisabledException, UnsupportedOperationException,
 * AlreadyExistsException, ConflictException, ...) is answered with 400 and named by `__type`, and
 * a server error (KMSInternalException) with 500. The 404/409 figures next to some errors in the
 * KMS API model are their awsQuery compatibility codes (`awsQueryError`), which KMS does not send:
 * an emulator that answered them would hide a client that branches on the status instead of on
 * the error name.
 */
export const KMS_ERROR_STATUS: Readonly<Partial<Record<KmsErrorType, number>>> = Object.freeze({
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
