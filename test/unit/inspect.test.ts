import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import { DescribeKeyCommand, KMSClient, ListKeyRotationsCommand, ListResourceTagsCommand } from '@aws-sdk/client-kms';
import { inspectKey } from '../../lib/kms/inspect.js';
import { KeyNotFound } from '../../lib/errors.js';
import { awsError, KEY_ARN, KEY_ID, MATERIAL_ID_A, MATERIAL_ID_B, noSleep } from './lib-fixtures.js';

const kmsMock = mockClient(KMSClient);
const kms = new KMSClient({ region: 'us-east-1' });
const retry = { maxAttempts: 3, baseDelayMs: 1, sleep: noSleep };

beforeEach(() => kmsMock.reset());

const metadata = {
  KeyId: KEY_ID,
  Arn: KEY_ARN,
  KeyState: 'PendingImport' as const,
  Origin: 'EXTERNAL' as const,
  KeySpec: 'SYMMETRIC_DEFAULT' as const,
  KeyUsage: 'ENCRYPT_DECRYPT' as const,
  MultiRegion: false,
  ExpirationModel: 'KEY_MATERIAL_EXPIRES' as const,
  ValidTo: new Date('2026-01-01T00:00:00Z'),
  CurrentKeyMaterialId: MATERIAL_ID_B,
  EncryptionAlgorithms: ['SYMMETRIC_DEFAULT' as const],
};

test('inspectKey resolves an alias, pages through tags and key materials', async () => {
  kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: metadata });
  kmsMock
    .on(ListResourceTagsCommand, { KeyId: KEY_ID })
    .resolvesOnce({ Tags: [{ TagKey: 'kms-reimport:managed', TagValue: 'true' }], Truncated: true, NextMarker: 'm1' })
    .resolvesOnce({ Tags: [{ TagKey: 'team', TagValue: 'payments' }], Truncated: false });
  kmsMock
    .on(ListKeyRotationsCommand)
    .resolvesOnce({
      Rotations: [{ KeyId: KEY_ID, KeyMaterialId: MATERIAL_ID_A, KeyMaterialState: 'NON_CURRENT', ImportState: 'PENDING_IMPORT', ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: new Date('2026-01-01T00:00:00Z'), KeyMaterialDescription: 'first' }],
      Truncated: true,
      NextMarker: 'r1',
    })
    .resolvesOnce({
      Rotations: [{ KeyId: KEY_ID, KeyMaterialId: MATERIAL_ID_B, KeyMaterialState: 'CURRENT', ImportState: 'IMPORTED', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }],
      Truncated: false,
    });

  const report = await inspectKey(kms, 'alias/payments', retry);

  assert.deepEqual(kmsMock.commandCalls(DescribeKeyCommand).map((c) => c.args[0].input), [{ KeyId: 'alias/payments' }]);
  assert.deepEqual(kmsMock.commandCalls(ListResourceTagsCommand).map((c) => c.args[0].input), [{ KeyId: KEY_ID }, { KeyId: KEY_ID, Marker: 'm1' }]);
  assert.deepEqual(kmsMock.commandCalls(ListKeyRotationsCommand).map((c) => c.args[0].input), [
    { KeyId: KEY_ID, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' },
    { KeyId: KEY_ID, IncludeKeyMaterial: 'ALL_KEY_MATERIAL', Marker: 'r1' },
  ]);
  assert.deepEqual(report, {
    keyId: KEY_ID,
    arn: KEY_ARN,
    requestedRef: 'alias/payments',
    keyState: 'PendingImport',
    origin: 'EXTERNAL',
    keySpec: 'SYMMETRIC_DEFAULT',
    keyUsage: 'ENCRYPT_DECRYPT',
    multiRegion: false,
    expirationModel: 'KEY_MATERIAL_EXPIRES',
    validTo: '2026-01-01T00:00:00.000Z',
    materialsListed: true,
    currentKeyMaterialId: MATERIAL_ID_B,
    encryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    tags: { 'kms-reimport:managed': 'true', team: 'payments' },
    materials: [
      { keyMaterialId: MATERIAL_ID_A, state: 'NON_CURRENT', importState: 'PENDING_IMPORT', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: '2026-01-01T00:00:00.000Z', description: 'first' },
      { keyMaterialId: MATERIAL_ID_B, state: 'CURRENT', importState: 'IMPORTED', expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' },
    ],
  });
});

test('inspectKey tolerates UnsupportedOperationException from ListKeyRotations (materials from DescribeKey)', async () => {
  kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: metadata });
  kmsMock.on(ListResourceTagsCommand).resolves({ Tags: [], Truncated: false });
  kmsMock.on(ListKeyRotationsCommand).rejects(awsError('UnsupportedOperationException'));
  const report = await inspectKey(kms, KEY_ID, retry);
  assert.deepEqual(report.materials, [
    { keyMaterialId: MATERIAL_ID_B, state: 'CURRENT', importState: 'PENDING_IMPORT', validTo: '2026-01-01T00:00:00.000Z', expirationModel: 'KEY_MATERIAL_EXPIRES' },
  ]);
  assert.equal(kmsMock.commandCalls(ListKeyRotationsCommand).length, 1);
});

test('inspectKey treats KMSInvalidStateException from ListKeyRotations (Creating, Updating, Unavailable...) like unsupported', async () => {
  for (const KeyState of ['Creating', 'Updating', 'Unavailable', 'PendingImport'] as const) {
    kmsMock.reset();
    kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { ...metadata, KeyState } });
    kmsMock.on(ListResourceTagsCommand).resolves({ Tags: [], Truncated: false });
    kmsMock.on(ListKeyRotationsCommand).rejects(awsError('KMSInvalidStateException'));
    const report = await inspectKey(kms, KEY_ID, retry);
    assert.equal(report.keyState, KeyState);
    assert.equal(report.materials.length, 1, KeyState);
    assert.equal(report.materials[0]!.keyMaterialId, MATERIAL_ID_B);
    assert.equal(kmsMock.commandCalls(ListKeyRotationsCommand).length, 1, 'not retried: a state refusal is not transient');
  }
  // Other errors still fail the inspection.
  kmsMock.reset();
  kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: metadata });
  kmsMock.on(ListResourceTagsCommand).resolves({ Tags: [], Truncated: false });
  kmsMock.on(ListKeyRotationsCommand).rejects(awsError('AccessDeniedException'));
  await assert.rejects(inspectKey(kms, KEY_ID, retry), { name: 'AccessDeniedException' });
});

test('inspectKey records a Multi-Region key as PRIMARY or REPLICA; single-Region keys have no type', async () => {
  for (const type of ['PRIMARY', 'REPLICA'] as const) {
    kmsMock.reset();
    kmsMock.on(DescribeKeyCommand).resolves({
      KeyMetadata: {
        ...metadata,
        MultiRegion: true,
        MultiRegionConfiguration: {
          MultiRegionKeyType: type,
          PrimaryKey: { Arn: KEY_ARN, Region: 'us-east-1' },
          ReplicaKeys: [
            { Arn: KEY_ARN.replace('us-east-1', 'eu-west-1'), Region: 'eu-west-1' },
            { Arn: KEY_ARN.replace('us-east-1', 'ap-southeast-2'), Region: 'ap-southeast-2' },
          ],
        },
      },
    });
    kmsMock.on(ListResourceTagsCommand).resolves({ Tags: [], Truncated: false });
    kmsMock.on(ListKeyRotationsCommand).resolves({ Rotations: [], Truncated: false });
    const report = await inspectKey(kms, KEY_ID, retry);
    assert.equal(report.multiRegion, true);
    assert.equal(report.multiRegionKeyType, type);
    assert.equal(report.primaryRegion, 'us-east-1');
    assert.deepEqual(report.replicaRegions, ['eu-west-1', 'ap-southeast-2']);
  }
  kmsMock.reset();
  kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: metadata });
  kmsMock.on(ListResourceTagsCommand).resolves({ Tags: [], Truncated: false });
  kmsMock.on(ListKeyRotationsCommand).resolves({ Rotations: [], Truncated: false });
  const single = await inspectKey(kms, KEY_ID, retry);
  assert.equal('multiRegionKeyType' in single, false);
  assert.equal('replicaRegions' in single, false);
  assert.equal('primaryRegion' in single, false);
});

test('inspectKey does not list rotations for asymmetric or HMAC keys', async () => {
  kmsMock.on(DescribeKeyCommand).resolves({
    KeyMetadata: { ...metadata, KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY', KeyState: 'Enabled', CurrentKeyMaterialId: undefined, SigningAlgorithms: ['RSASSA_PSS_SHA_256'] },
  });
  kmsMock.on(ListResourceTagsCommand).resolves({ Tags: [], Truncated: false });
  kmsMock.on(ListKeyRotationsCommand).rejects(new Error('must not be called'));
  const report = await inspectKey(kms, KEY_ARN, retry);
  assert.equal(kmsMock.commandCalls(ListKeyRotationsCommand).length, 0);
  assert.deepEqual(report.materials, []);
  assert.deepEqual(report.signingAlgorithms, ['RSASSA_PSS_SHA_256']);
  assert.equal(report.keySpec, 'RSA_2048');
});

test('an alias to nothing is KeyNotFound with a message naming the alias and the next step', async () => {
  kmsMock.on(DescribeKeyCommand).rejects(awsError('NotFoundException'));
  await assert.rejects(inspectKey(kms, 'alias/nothing-here', retry), (e: unknown) => {
    assert.ok(e instanceof KeyNotFound);
    assert.equal(e.name, 'KeyNotFound');
    assert.match(e.message, /alias\/nothing-here/);
    assert.match(e.message, /list-aliases/);
    return true;
  });
  assert.equal(kmsMock.commandCalls(ListResourceTagsCommand).length, 0);
});

test('a key that does not exist is KeyNotFound naming the key', async () => {
  kmsMock.on(DescribeKeyCommand).rejects(awsError('NotFoundException'));
  await assert.rejects(inspectKey(kms, KEY_ID, retry), (e: unknown) => e instanceof KeyNotFound && e.message.includes(KEY_ID) && e.keyId === KEY_ID);
});

test('inspectKey retries throttled DescribeKey and gives KmsUnavailable when it persists', async () => {
  kmsMock.on(DescribeKeyCommand).rejects(awsError('ThrottlingException', 400, { $retryable: { throttling: true } }));
  await assert.rejects(inspectKey(kms, KEY_ID, retry), { name: 'KmsUnavailable' });
  assert.equal(kmsMock.commandCalls(DescribeKeyCommand).length, 3);
});
