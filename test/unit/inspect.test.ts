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

test('inspectKey drops the materials it asked for beside DescribeKey when the key keeps no list (asymmetric, HMAC): no warning; by alias it does not ask', async () => {
  const warnings: string[] = [];
  kmsMock.on(DescribeKeyCommand).resolves({
    KeyMetadata: { ...metadata, KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY', KeyState: 'Enabled', CurrentKeyMaterialId: undefined, SigningAlgorithms: ['RSASSA_PSS_SHA_256'] },
  });
  kmsMock.on(ListResourceTagsCommand).resolves({ Tags: [], Truncated: false });
  kmsMock.on(ListKeyRotationsCommand).rejects(awsError('UnsupportedOperationException'));
  const report = await inspectKey(kms, KEY_ARN, retry, (m) => void warnings.push(m));
  assert.deepEqual(kmsMock.commandCalls(ListKeyRotationsCommand).map((c) => c.args[0].input), [{ KeyId: KEY_ARN, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }], 'asked beside DescribeKey');
  assert.deepEqual(report.materials, []);
  assert.equal(report.materialsListed, false, 'an answer for a key that keeps no list is not taken as the list');
  assert.deepEqual(warnings, [], 'no warning about a list the key never had');
  assert.deepEqual(report.signingAlgorithms, ['RSASSA_PSS_SHA_256']);
  assert.equal(report.keySpec, 'RSA_2048');

  kmsMock.resetHistory();
  await inspectKey(kms, 'alias/signing', retry);
  assert.equal(kmsMock.commandCalls(ListKeyRotationsCommand).length, 0, 'by alias, DescribeKey decides first');
});

/** Every command answers a turn of the event loop later (like a network), and the test sees how many were in flight. */
function inFlightTracker() {
  let now = 0;
  const seen = { max: 0, order: [] as string[] };
  const later = <T>(name: string, answer: () => T) => async () => {
    seen.order.push(name);
    seen.max = Math.max(seen.max, ++now);
    await new Promise((resolve) => setImmediate(resolve));
    now--;
    return answer();
  };
  return { seen, later };
}

test('inspectKey by key ID or key ARN sends DescribeKey, ListResourceTags and ListKeyRotations together (one round trip)', async () => {
  for (const ref of [KEY_ID, KEY_ARN]) {
    kmsMock.reset();
    const { seen, later } = inFlightTracker();
    kmsMock.on(DescribeKeyCommand).callsFake(later('DescribeKey', () => ({ KeyMetadata: metadata })));
    kmsMock.on(ListResourceTagsCommand).callsFake(later('ListResourceTags', () => ({ Tags: [{ TagKey: 'kms-reimport:managed', TagValue: 'true' }], Truncated: false })));
    kmsMock.on(ListKeyRotationsCommand).callsFake(later('ListKeyRotations', () => ({ Rotations: [{ KeyMaterialId: MATERIAL_ID_B, KeyMaterialState: 'CURRENT', ImportState: 'PENDING_IMPORT' }], Truncated: false })));
    const report = await inspectKey(kms, ref, retry);
    assert.equal(seen.max, 3, `${ref}: the three reads were in flight together`);
    assert.deepEqual(kmsMock.commandCalls(ListResourceTagsCommand).map((c) => c.args[0].input), [{ KeyId: ref }]);
    assert.deepEqual(kmsMock.commandCalls(ListKeyRotationsCommand).map((c) => c.args[0].input), [{ KeyId: ref, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }]);
    assert.equal(report.keyId, KEY_ID);
    assert.equal(report.tags['kms-reimport:managed'], 'true');
    assert.equal(report.materials[0]!.keyMaterialId, MATERIAL_ID_B);
    assert.equal(report.materialsListed, true);
  }
});

test('inspectKey by alias: DescribeKey first (an alias names no key before it answers), then tags and materials together by the key ID', async () => {
  const { seen, later } = inFlightTracker();
  let describedFirst = false;
  kmsMock.on(DescribeKeyCommand).callsFake(later('DescribeKey', () => {
    describedFirst = seen.order.length === 1;
    return { KeyMetadata: metadata };
  }));
  kmsMock.on(ListResourceTagsCommand).callsFake(later('ListResourceTags', () => ({ Tags: [], Truncated: false })));
  kmsMock.on(ListKeyRotationsCommand).callsFake(later('ListKeyRotations', () => ({ Rotations: [], Truncated: false })));
  await inspectKey(kms, 'alias/payments', retry);
  assert.ok(describedFirst, 'nothing else went out before DescribeKey answered');
  assert.deepEqual(seen.order, ['DescribeKey', 'ListResourceTags', 'ListKeyRotations']);
  assert.equal(seen.max, 2, 'tags and materials together after DescribeKey');
  assert.deepEqual(kmsMock.commandCalls(ListResourceTagsCommand).map((c) => c.args[0].input), [{ KeyId: KEY_ID }]);
});

test("inspectKey: DescribeKey's failure wins over the reads beside it, and every read has settled when it throws", async () => {
  kmsMock.on(DescribeKeyCommand).rejects(awsError('NotFoundException'));
  kmsMock.on(ListResourceTagsCommand).rejects(awsError('NotFoundException'));
  kmsMock.on(ListKeyRotationsCommand).rejects(awsError('NotFoundException'));
  await assert.rejects(inspectKey(kms, KEY_ID, retry), (e: unknown) => e instanceof KeyNotFound && e.message.includes(KEY_ID));
  assert.equal(kmsMock.commandCalls(ListResourceTagsCommand).length, 1);
  assert.equal(kmsMock.commandCalls(ListKeyRotationsCommand).length, 1);

  // DescribeKey AccessDenied (an untagged key, to a role that reads managed keys only): KeyNotReadable naming the DescribeKey.
  kmsMock.reset();
  kmsMock.on(DescribeKeyCommand).rejects(awsError('AccessDeniedException'));
  kmsMock.on(ListResourceTagsCommand).rejects(awsError('AccessDeniedException'));
  kmsMock.on(ListKeyRotationsCommand).rejects(awsError('AccessDeniedException'));
  await assert.rejects(inspectKey(kms, KEY_ARN, retry), (e: unknown) => (e as Error).name === 'KeyNotReadable' && /DescribeKey: AccessDeniedException/.test((e as Error).message));

  // DescribeKey answers, ListResourceTags is refused: KeyNotReadable naming the key ID and ListResourceTags.
  kmsMock.reset();
  kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: metadata });
  kmsMock.on(ListResourceTagsCommand).rejects(awsError('AccessDeniedException'));
  kmsMock.on(ListKeyRotationsCommand).resolves({ Rotations: [], Truncated: false });
  await assert.rejects(inspectKey(kms, KEY_ARN, retry), (e: unknown) => {
    assert.equal((e as Error).name, 'KeyNotReadable');
    assert.match((e as Error).message, new RegExp(`key ${KEY_ID} \\(ListResourceTags: AccessDeniedException\\)`));
    return true;
  });
});

test('inspectKey warns that ListKeyRotations is unavailable only for a key that keeps a list', async () => {
  const warnings: string[] = [];
  kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: metadata });
  kmsMock.on(ListResourceTagsCommand).resolves({ Tags: [], Truncated: false });
  kmsMock.on(ListKeyRotationsCommand).rejects(awsError('UnknownOperationException'));
  const report = await inspectKey(kms, KEY_ID, retry, (m) => void warnings.push(m));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, new RegExp(`ListKeyRotations is not available for key ${KEY_ID} \\(UnknownOperationException\\)`));
  assert.equal(report.materialsListed, false);
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
