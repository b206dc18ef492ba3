/**
 * The emulator answers each KMS error with the HTTP status the KMS API model gives it, read here
 * from the SDK's own error schema (a third party to both the emulator and lib/).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { KMS_ERROR_STATUS, kmsError, type KmsErrorType } from '../../local/kms/errors.js';

const TYPES: KmsErrorType[] = [
  'AlreadyExistsException', 'ConflictException', 'DisabledException', 'ExpiredImportTokenException', 'IncorrectKeyException',
  'IncorrectKeyMaterialException', 'InvalidAliasNameException', 'InvalidArnException', 'InvalidCiphertextException',
  'InvalidImportTokenException', 'InvalidKeyUsageException', 'InvalidMarkerException', 'KMSInternalException',
  'KMSInvalidMacException', 'KMSInvalidSignatureException', 'KMSInvalidStateException', 'LimitExceededException',
  'NotFoundException', 'TagException', 'UnsupportedOperationException',
];

function modelStatuses(): Map<string, number> {
  const entry = createRequire(import.meta.url).resolve('@aws-sdk/client-kms');
  const source = readFileSync(entry, 'utf8');
  const statuses = new Map<string, number>();
  for (const m of source.matchAll(/var (\w+)\$ = \[-3, n0, \w+,\s*\{[^}]*\[_hE\]: (\d+)/g)) statuses.set(m[1]!, Number(m[2]));
  return statuses;
}

test('every KMS error the emulator raises has the status code of the KMS API model', () => {
  const model = modelStatuses();
  assert.ok(model.size > 20, 'the SDK error schema could be read (if this fails, the SDK changed its bundle format)');
  for (const type of TYPES) {
    assert.equal(model.has(type), true, `${type} is in the KMS model`);
    assert.equal(kmsError(type, 'x').status, model.get(type), `${type}`);
  }
  assert.deepEqual(
    Object.keys(KMS_ERROR_STATUS).sort(),
    TYPES.filter((t) => model.get(t) !== 400).sort(),
    'the table lists exactly the non-400 errors',
  );
});
