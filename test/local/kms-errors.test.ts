/**
 * The emulator answers KMS errors as KMS does over the AWS JSON 1.1 protocol: 400 for every client
 * error, 500 for a server error. Which errors are client errors is read from the SDK's own
 * exception classes (`$fault`), a third party to both the emulator and lib/; the 404/409 figures
 * the KMS model gives some errors are awsQuery compatibility codes that KMS does not send.
 */
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import * as sdk from '@aws-sdk/client-kms';
import {
  DescribeKeyCommand,
  DisableKeyCommand,
  DisabledException,
  EncryptCommand,
  GetPublicKeyCommand,
  KMSInvalidStateException,
  NotFoundException,
  ScheduleKeyDeletionCommand,
  UnsupportedOperationException,
} from '@aws-sdk/client-kms';
import { KMS_ERROR_STATUS, kmsError, type KmsErrorType } from '../../local/kms/errors.js';
import { startHarness, type Harness } from './kms-support.js';

const TYPES: KmsErrorType[] = [
  'AlreadyExistsException', 'ConflictException', 'DisabledException', 'ExpiredImportTokenException', 'IncorrectKeyException',
  'IncorrectKeyMaterialException', 'InvalidAliasNameException', 'InvalidArnException', 'InvalidCiphertextException',
  'InvalidImportTokenException', 'InvalidKeyUsageException', 'InvalidMarkerException', 'KMSInternalException',
  'KMSInvalidMacException', 'KMSInvalidSignatureException', 'KMSInvalidStateException', 'LimitExceededException',
  'NotFoundException', 'TagException', 'UnsupportedOperationException',
];

function faultOf(type: string): string {
  const cls = (sdk as unknown as Record<string, new (opts: { message: string; $metadata: object }) => { $fault: string }>)[type];
  assert.ok(cls, `${type} is an exception class of the SDK`);
  return new cls({ message: 'x', $metadata: {} }).$fault;
}

test('every KMS error the emulator raises has the JSON protocol status of its fault: client 400, server 500', () => {
  for (const type of TYPES) {
    const fault = faultOf(type);
    assert.equal(kmsError(type, 'x').status, fault === 'server' ? 500 : 400, `${type} (${fault} fault)`);
  }
  for (const type of ['NotFoundException', 'KMSInvalidStateException', 'DisabledException', 'UnsupportedOperationException', 'AlreadyExistsException', 'ConflictException'] as const) {
    assert.equal(kmsError(type, 'x').status, 400, type);
  }
  assert.deepEqual(Object.keys(KMS_ERROR_STATUS), ['KMSInternalException'], 'the table lists exactly the non-400 errors');
});

describe('over HTTP the SDK maps the 400 answers to its exception classes', () => {
  let h: Harness;
  before(async () => { h = await startHarness(); });
  after(async () => { await h.close(); });

  async function rejects(promise: Promise<unknown>, cls: new (...args: never[]) => Error) {
    const error = await promise.then(() => assert.fail('expected an error'), (e: unknown) => e as Error & { $metadata?: { httpStatusCode?: number } });
    assert.ok(error instanceof cls, `${error.name} is a ${cls.name}`);
    assert.equal(error.$metadata?.httpStatusCode, 400, error.name);
  }

  it('NotFoundException, DisabledException, KMSInvalidStateException, UnsupportedOperationException', async () => {
    const kms = h.kms();
    await rejects(kms.send(new DescribeKeyCommand({ KeyId: '00000000-0000-4000-8000-000000000000' })), NotFoundException);
    const disabled = (await kms.send(new sdk.CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await kms.send(new DisableKeyCommand({ KeyId: disabled }));
    await rejects(kms.send(new EncryptCommand({ KeyId: disabled, Plaintext: Buffer.from('x') })), DisabledException);
    const deleting = (await kms.send(new sdk.CreateKeyCommand({}))).KeyMetadata!.KeyId!;
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: deleting, PendingWindowInDays: 7 }));
    await rejects(kms.send(new EncryptCommand({ KeyId: deleting, Plaintext: Buffer.from('x') })), KMSInvalidStateException);
    await rejects(kms.send(new GetPublicKeyCommand({ KeyId: disabled })), UnsupportedOperationException);
  });
});
