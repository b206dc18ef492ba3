import { test, describe, beforeEach, before } from 'node:test';
import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, privateDecrypt, randomBytes, type KeyObject } from 'node:crypto';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  ExpiredImportTokenException,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  IncorrectKeyMaterialException,
  KMSClient,
  ListKeyRotationsCommand,
  ListResourceTagsCommand,
  NotFoundException,
} from '@aws-sdk/client-kms';
import { DescribeSecretCommand, GetSecretValueCommand, PutSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetResourcesCommand, ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { DEFAULT_CONFIG, type ReimportConfig } from '../../lib/config.js';
import {
  inspectStep,
  reportStep,
  rotateStep,
  verifyStep,
  wrapAndImportStep,
} from '../../lib/workflow/steps.js';
import { createCallCounter } from '../../lib/workflow/calls.js';
import type { WorkflowState } from '../../lib/workflow/state.js';
import type { WorkItem } from '../../lib/events/work-item.js';
import type { Outcome } from '../../lib/types.js';
import { answerNextTurn, trackRoundTrips } from '../support/round-trips.js';

const kmsMock = mockClient(KMSClient);
const secretsMock = mockClient(SecretsManagerClient);
const kms = new KMSClient({ region: 'us-east-1' });
const secrets = new SecretsManagerClient({ region: 'us-east-1' });
const KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';
const ARN = `arn:aws:kms:us-east-1:111122223333:key/${KEY}`;
const MID = '9f2b7c1e4d8a6b3f0e5c2a7d9b4f1e8c3a6d0b5e2f7c4a9d1b8e3f6a0c5d2b7e';
const MID2 = 'a'.repeat(64);
const NOW = new Date('2025-06-01T12:00:00Z');
const DAY = 86_400_000;
const config: ReimportConfig = { ...DEFAULT_CONFIG, wrappingKeySpec: 'RSA_2048' };
const retry = { maxAttempts: 3, baseDelayMs: 1, sleep: async () => {} };

let wrappingPrivate: KeyObject;
let wrappingPublicDer: Buffer;
const material = randomBytes(32);

before(() => {
  const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  wrappingPrivate = pair.privateKey;
  wrappingPublicDer = pair.publicKey.export({ format: 'der', type: 'spki' });
});

const workItem = (action: WorkItem['action'] = 'recover'): WorkItem => ({
  keyRef: KEY,
  action,
  trigger: { source: 'aws.kms', detailType: 'KMS Imported Key Material Expiration' },
  executionName: `${KEY}-${action}-20250601T1200Z`,
});

interface KeySetup {
  state?: string;
  tags?: Record<string, string>;
  materials?: Array<{ id: string; importState: 'IMPORTED' | 'PENDING_IMPORT'; validInDays?: number }>;
}

function serveKey({ state = 'PendingImport', tags = { 'kms-reimport:managed': 'true' }, materials = [{ id: MID, importState: 'PENDING_IMPORT' }] }: KeySetup = {}): void {
  kmsMock.on(DescribeKeyCommand).resolves({
    KeyMetadata: {
      KeyId: KEY,
      Arn: ARN,
      KeyState: state as 'Enabled',
      Origin: 'EXTERNAL',
      KeySpec: 'SYMMETRIC_DEFAULT',
      KeyUsage: 'ENCRYPT_DECRYPT',
      ExpirationModel: 'KEY_MATERIAL_EXPIRES',
      CurrentKeyMaterialId: materials[0]?.id,
      EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    },
  });
  kmsMock.on(ListResourceTagsCommand).resolves({ Tags: Object.entries(tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })), Truncated: false });
  kmsMock.on(ListKeyRotationsCommand).resolves({
    Rotations: materials.map((m, i) => ({
      KeyId: KEY,
      KeyMaterialId: m.id,
      KeyMaterialState: i === 0 ? 'CURRENT' : 'NON_CURRENT',
      ImportState: m.importState,
      ExpirationModel: 'KEY_MATERIAL_EXPIRES',
      ...(m.validInDays !== undefined ? { ValidTo: new Date(NOW.getTime() + m.validInDays * DAY) } : {}),
    })),
    Truncated: false,
  });
}

function serveParameters(): void {
  kmsMock.on(GetParametersForImportCommand).resolves({
    KeyId: ARN,
    PublicKey: wrappingPublicDer,
    ImportToken: Buffer.from('token-1'),
    ParametersValidTo: new Date(NOW.getTime() + DAY),
  });
}

/** ImportKeyMaterial that really unwraps with the wrapping private key and compares with the escrowed material. */
function serveImport(): void {
  kmsMock.on(ImportKeyMaterialCommand).callsFake(async (input: { EncryptedKeyMaterial: Uint8Array; KeyMaterialId?: string }) => {
    const unwrapped = privateDecrypt({ key: wrappingPrivate, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(input.EncryptedKeyMaterial));
    if (!unwrapped.equals(material)) throw new IncorrectKeyMaterialException({ message: 'not the same material', $metadata: {} });
    return { KeyId: ARN, KeyMaterialId: input.KeyMaterialId ?? MID };
  });
}

/** Each read gets its own copy, as over the wire (the engine wipes the buffers it was given). */
function serveEscrow(): void {
  secretsMock.on(GetSecretValueCommand).callsFake(async () => ({
    ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:kms-reimport/x',
    Name: `kms-reimport/${KEY}`,
    SecretBinary: new Uint8Array(material),
  }));
}

function leaks(value: unknown): boolean {
  const text = JSON.stringify(value);
  return [material.toString('hex'), material.toString('base64'), material.toString('latin1')].some((form) => text.includes(form));
}

beforeEach(() => {
  kmsMock.reset();
  secretsMock.reset();
});

describe('inspectStep', () => {
  test('PendingImport managed key → recover plan with the missing material pending', async () => {
    serveKey();
    const calls = createCallCounter();
    const state = await inspectStep({ kms: calls.wrap(kms), calls, retry }, workItem(), config, NOW);
    assert.deepEqual(state.workItem, workItem());
    assert.equal(state.startedAt, NOW.toISOString());
    assert.equal(state.report?.keyId, KEY);
    assert.equal(state.plan?.action, 'recover');
    assert.deepEqual(state.pending, [{ keyMaterialId: MID }]);
    assert.deepEqual(state.imported, []);
    assert.equal(state.tokenRefreshes, 0);
    assert.deepEqual(state.calls, { DescribeKey: 1, ListResourceTags: 1, ListKeyRotations: 1 });
    assert.equal(kmsMock.commandCalls(DescribeKeyCommand)[0]?.args[0].input.KeyId, KEY);
  });

  test('several missing materials are all pending, in order', async () => {
    serveKey({ materials: [{ id: MID, importState: 'PENDING_IMPORT' }, { id: MID2, importState: 'PENDING_IMPORT' }] });
    const state = await inspectStep({ kms, retry }, workItem(), config, NOW);
    assert.deepEqual(state.pending, [{ keyMaterialId: MID }, { keyMaterialId: MID2 }]);
  });

  test('a key without the managed tag is planned as skip and nothing is pending', async () => {
    serveKey({ tags: {} });
    const state = await inspectStep({ kms, retry }, workItem(), config, NOW);
    assert.equal(state.plan?.action, 'skip');
    assert.match(state.plan?.reason ?? '', /not managed/);
    assert.deepEqual(state.pending, []);
  });

  test('plan action never plans work: skip with "plan: would recover"', async () => {
    serveKey();
    const state = await inspectStep({ kms, retry }, workItem('plan'), config, NOW);
    assert.equal(state.plan?.action, 'skip');
    assert.match(state.plan?.reason ?? '', /^plan: would recover/);
    assert.deepEqual(state.pending, []);
  });

  test('renew on an expiring Enabled key: current material pending (no ID: the engine picks it)', async () => {
    serveKey({ state: 'Enabled', materials: [{ id: MID, importState: 'IMPORTED', validInDays: 3 }] });
    kmsMock.on(DescribeKeyCommand).resolves({
      KeyMetadata: { KeyId: KEY, Arn: ARN, KeyState: 'Enabled', Origin: 'EXTERNAL', KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT', ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: new Date(NOW.getTime() + 3 * DAY), CurrentKeyMaterialId: MID },
    });
    const state = await inspectStep({ kms, retry }, workItem('renew'), config, NOW);
    assert.equal(state.plan?.action, 'renew');
    assert.deepEqual(state.pending, [{}]);
  });

  test('renew with nothing to push out ends skipped with its reason (planImports), not a plan without materials', async () => {
    // ValidTo already beyond what a renewal would set now (90 days): renewing would shorten it.
    serveKey({ state: 'Enabled', materials: [{ id: MID, importState: 'IMPORTED', validInDays: 200 }] });
    kmsMock.on(DescribeKeyCommand).resolves({
      KeyMetadata: { KeyId: KEY, Arn: ARN, KeyState: 'Enabled', Origin: 'EXTERNAL', KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT', ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: new Date(NOW.getTime() + 200 * DAY), CurrentKeyMaterialId: MID },
    });
    const state = await inspectStep({ kms, retry }, workItem('renew'), config, NOW);
    assert.equal(state.plan?.action, 'skip');
    assert.match(state.plan?.reason ?? '', /nothing to renew/);
    assert.ok(state.plan?.reason.includes(KEY), 'names the key');
    assert.deepEqual(state.pending, []);
    const published: Outcome[] = [];
    const reported = await reportStep({ publish: async (o) => void published.push(o) }, state, config, NOW);
    assert.equal(reported.outcome?.status, 'skipped');
    assert.equal(reported.outcome?.errorName, undefined);
  });

  test('AccessDeniedException on an unmanaged key (the role reads managed keys only): skipped with the reason, no report, nothing failed', async () => {
    const taggingMock = mockClient(ResourceGroupsTaggingAPIClient);
    const tagging = new ResourceGroupsTaggingAPIClient({ region: 'us-east-1' });
    const scope = { region: 'us-east-1', account: '111122223333' };
    const denied = () => Object.assign(new Error('User: arn:aws:sts::111122223333:assumed-role/inspect is not authorized to perform: kms:DescribeKey'), {
      name: 'AccessDeniedException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
    try {
      kmsMock.on(DescribeKeyCommand).rejects(denied());
      // Untagged: GetResources lists nothing for it.
      taggingMock.on(GetResourcesCommand).resolves({ ResourceTagMappingList: [] });
      const skipped = await inspectStep({ kms, tagging, scope, retry }, workItem(), config, NOW);
      assert.equal(skipped.plan?.action, 'skip');
      assert.match(skipped.plan!.reason, /not managed by kms-reimport/);
      assert.equal(skipped.report, undefined);
      assert.deepEqual(skipped.pending, []);
      assert.deepEqual(taggingMock.commandCalls(GetResourcesCommand).map((c) => c.args[0].input), [{ ResourceARNList: [ARN] }], 'asked about this key by its ARN');
      const outcome = (await reportStep({ publish: async () => {} }, skipped, config, NOW)).outcome!;
      assert.equal(outcome.status, 'skipped');

      // Tagged with another value: still not managed.
      taggingMock.on(GetResourcesCommand).resolves({ ResourceTagMappingList: [{ ResourceARN: ARN, Tags: [{ Key: 'kms-reimport:managed', Value: 'false' }] }] });
      assert.equal((await inspectStep({ kms, tagging, scope, retry }, workItem(), config, NOW)).plan?.action, 'skip');

      // A MANAGED key the role may not read (a key policy problem) fails loudly, by name.
      taggingMock.on(GetResourcesCommand).resolves({ ResourceTagMappingList: [{ ResourceARN: ARN, Tags: [{ Key: 'kms-reimport:managed', Value: 'true' }] }] });
      await assert.rejects(inspectStep({ kms, tagging, scope, retry }, workItem(), config, NOW), (e: Error) => {
        assert.equal(e.name, 'KeyNotReadable');
        assert.match(e.message, /key policy/);
        return true;
      });
      // Denied on ListResourceTags (DescribeKey allowed) is the same question.
      serveKey();
      kmsMock.on(ListResourceTagsCommand).rejects(denied());
      await assert.rejects(inspectStep({ kms, tagging, scope, retry }, workItem(), config, NOW), { name: 'KeyNotReadable' });

      // Cannot tell (the Tagging API fails, or no scope to make an ARN): failed, never silently skipped.
      kmsMock.on(DescribeKeyCommand).rejects(denied());
      taggingMock.on(GetResourcesCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException', $fault: 'client', $metadata: {} }));
      await assert.rejects(inspectStep({ kms, tagging, scope, retry }, workItem(), config, NOW), { name: 'KeyNotReadable' });
      await assert.rejects(inspectStep({ kms, retry }, workItem(), config, NOW), { name: 'KeyNotReadable' });
    } finally {
      taggingMock.restore();
    }
  });

  test('a missing key throws KeyNotFound (the state machine routes on the name)', async () => {
    kmsMock.on(DescribeKeyCommand).rejects(new NotFoundException({ message: 'not found', $metadata: {} }));
    await assert.rejects(inspectStep({ kms, retry }, workItem(), config, NOW), { name: 'KeyNotFound' });
  });

  test('a malformed input is refused by name', async () => {
    await assert.rejects(inspectStep({ kms, retry }, { keyRef: KEY }, config, NOW), { name: 'WorkflowStateInvalid' });
    assert.equal(kmsMock.calls().length, 0);
  });
});

async function inspected(): Promise<WorkflowState> {
  serveKey();
  return inspectStep({ kms, retry }, workItem(), config, NOW);
}

/** An escrow secret in the JSON format: the only plaintext buffer is the one the engine decodes (and must wipe). */
function serveJsonEscrow(): void {
  secretsMock.on(GetSecretValueCommand).callsFake(async (input: { SecretId: string }) => ({
    Name: input.SecretId,
    SecretString: JSON.stringify({ format: 'kms-reimport/v1', materials: [{ keyMaterialId: MID, material: material.toString('base64') }] }),
  }));
}

/** What was zero-filled while `fn` ran (copies taken just before the fill). */
async function zeroFilledDuring(fn: () => Promise<unknown>): Promise<Buffer[]> {
  const original = Buffer.prototype.fill;
  const filled: Buffer[] = [];
  Buffer.prototype.fill = function (this: Buffer, ...args: Parameters<Buffer['fill']>) {
    if (args[0] === 0) filled.push(Buffer.from(this));
    return original.apply(this, args);
  } as typeof original;
  try {
    await fn();
  } finally {
    Buffer.prototype.fill = original;
  }
  return filled;
}

describe('wrapAndImportStep', () => {
  test('in ONE round trip the key re-read, GetParametersForImport and the escrow read; then imports pending[0], moves it to imported, never holds material or parameters', async () => {
    const state = await inspected();
    serveParameters();
    serveEscrow();
    serveImport();
    kmsMock.resetHistory();
    const calls = createCallCounter();
    const trips = trackRoundTrips();
    const next = await wrapAndImportStep(
      { kms: trips.watch(calls.wrap(answerNextTurn(kms))), secrets: trips.watch(calls.wrap(answerNextTurn(secrets))), calls, retry },
      state,
      config,
      NOW,
    );
    assert.deepEqual(next.pending, []);
    assert.equal(next.imported.length, 1);
    assert.equal(next.imported[0]?.expirationModel, 'KEY_MATERIAL_EXPIRES');
    assert.ok(next.imported[0]?.validTo && Date.parse(next.imported[0].validTo) > NOW.getTime());
    assert.equal('params' in next, false);
    assert.equal(leaks(next), false);
    assert.deepEqual(next.calls, { DescribeKey: 1, ListResourceTags: 1, ListKeyRotations: 1, GetParametersForImport: 1, GetSecretValue: 1, ImportKeyMaterial: 1 });
    assert.equal(trips.chain(), 2, `two dependent round trips: ${trips.longestChain().join(' → ')}`);
    assert.equal(trips.maxInFlight, 5, 'DescribeKey, ListResourceTags, ListKeyRotations, GetParametersForImport and GetSecretValue all in flight at once');
    assert.equal(trips.operations().at(-1), 'ImportKeyMaterial');
    assert.deepEqual(kmsMock.commandCalls(GetParametersForImportCommand)[0]?.args[0].input, { KeyId: KEY, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' });
    const input = kmsMock.commandCalls(ImportKeyMaterialCommand)[0]?.args[0].input;
    assert.equal(input?.KeyId, KEY);
    assert.equal(Buffer.from(input?.ImportToken ?? []).toString(), 'token-1');
    assert.equal(input?.ExpirationModel, 'KEY_MATERIAL_EXPIRES');
  });

  test('the key read again names another key, KeySpec or escrow secret than the state\'s report: TaskInputRejected, nothing imported, the material read wiped', async () => {
    const OTHER = '0987dcba-21ba-43dc-65fe-0987654321ba';
    const base = await inspected();
    const cases: Array<[string, WorkflowState, KeySetup]> = [
      ['another key', { ...base, report: { ...base.report!, keyId: OTHER, arn: `arn:aws:kms:us-east-1:111122223333:key/${OTHER}` } }, {}],
      ['another KeySpec', { ...base, report: { ...base.report!, keySpec: 'HMAC_256', keyUsage: 'GENERATE_VERIFY_MAC' } }, {}],
      // KMS now names another escrow secret (the tag changed since Inspect): the material read is the state's secret's.
      ['another escrow secret', base, { tags: { 'kms-reimport:managed': 'true', 'kms-reimport:escrow': 'payments/escrow-1234' } }],
    ];
    for (const [label, state, key] of cases) {
      kmsMock.reset();
      secretsMock.reset();
      serveKey(key);
      serveParameters();
      serveJsonEscrow();
      serveImport();
      let failure: Error | undefined;
      const filled = await zeroFilledDuring(() => wrapAndImportStep({ kms, secrets, retry }, state, config, NOW).catch((e: Error) => (failure = e)));
      assert.equal(failure?.name, 'TaskInputRejected', label);
      assert.ok(failure.message.includes(state.report!.keyId), `${label}: names the key`);
      assert.match(failure.message, /Nothing was imported and the material read was wiped/, label);
      assert.match(failure.message, label === 'another key' ? new RegExp(`it is key ${ARN}`) : label === 'another KeySpec' ? /its KeySpec is SYMMETRIC_DEFAULT, not HMAC_256/ : /its escrow secret is payments\/escrow-1234, not kms-reimport\//, label);
      assert.equal(leaks(failure.message), false, label);
      assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0, `${label}: nothing imported`);
      assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 1, `${label}: the escrow was read beside the re-read`);
      assert.ok(filled.some((b) => b.equals(material)), `${label}: the material read was zero-filled`);
    }
  });

  test("a forged report's CreationDate cannot pass a tag-named escrow secret older than the key (the escrow-clone check runs on what KMS says)", async () => {
    // The key names its escrow by tag; that secret carries the binding tag for this key but was created
    // in 2020, before the key (2025): a re-bound secret, which the escrow read refuses.
    const tags = { 'kms-reimport:managed': 'true', 'kms-reimport:escrow': 'payments/escrow-1234' };
    const keyCreated = new Date('2025-01-01T00:00:00Z');
    const serveThisKey = () => {
      serveKey({ tags });
      kmsMock.on(DescribeKeyCommand).callsFake(async () => ({
        KeyMetadata: {
          KeyId: KEY, Arn: ARN, KeyState: 'PendingImport', Origin: 'EXTERNAL', KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT',
          ExpirationModel: 'KEY_MATERIAL_EXPIRES', CurrentKeyMaterialId: MID, EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'], CreationDate: keyCreated,
        },
      }));
    };
    serveThisKey();
    const honest = await inspectStep({ kms, retry }, workItem(), config, NOW);
    assert.equal(honest.report?.creationDate, keyCreated.toISOString());
    const forged: WorkflowState = { ...honest, report: { ...honest.report!, creationDate: '2000-01-01T00:00:00.000Z' } };
    for (const [label, state, refusedAs] of [['the state as Inspect made it', honest, 'EscrowInvalid'], ['the same state with CreationDate forged', forged, 'TaskInputRejected']] as const) {
      kmsMock.reset();
      secretsMock.reset();
      serveThisKey();
      serveParameters();
      serveImport();
      secretsMock.on(DescribeSecretCommand).resolves({
        Name: 'payments/escrow-1234',
        CreatedDate: new Date('2020-01-01T00:00:00Z'),
        Tags: [{ Key: 'kms-reimport:key-id', Value: KEY }],
      });
      serveJsonEscrow();
      let failure: Error | undefined;
      await wrapAndImportStep({ kms, secrets, retry }, state, config, NOW).catch((e: Error) => (failure = e));
      assert.equal(failure?.name, refusedAs, `${label}: ${failure?.message}`);
      assert.ok(failure.message.includes(KEY), `${label}: names the key`);
      assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0, `${label}: nothing imported`);
    }
  });

  test('forged input: a renewal that would shorten ValidTo, a material the key does not miss, a Disabled key: TaskInputRejected, nothing read or imported', async () => {
    serveParameters();
    serveEscrow();
    serveImport();
    // The key as KMS shows it: Enabled, its material valid for 300 more days (beyond what a renewal would set: 90).
    const healthy = { state: 'Enabled', materials: [{ id: MID, importState: 'IMPORTED' as const, validInDays: 300 }] };
    const base = await inspected();
    const cases: Array<[string, KeySetup, WorkflowState]> = [
      ['a renew that would shorten ValidTo', healthy, { ...base, workItem: workItem('renew'), plan: { action: 'renew', reason: 'forged' }, pending: [{ keyMaterialId: MID }] }],
      ['a recover of an Enabled key', healthy, { ...base, workItem: workItem('recover'), plan: { action: 'recover', reason: 'forged' }, pending: [{}] }],
      [
        'a material the key does not miss',
        { materials: [{ id: MID, importState: 'PENDING_IMPORT' }, { id: MID2, importState: 'IMPORTED', validInDays: 30 }] },
        { ...base, pending: [{ keyMaterialId: MID2 }] },
      ],
      ['a Disabled key', { state: 'Disabled', materials: [{ id: MID, importState: 'IMPORTED', validInDays: 3 }] }, { ...base, workItem: workItem('renew'), pending: [{ keyMaterialId: MID }] }],
    ];
    serveJsonEscrow();
    for (const [label, key, forged] of cases) {
      kmsMock.resetHistory();
      secretsMock.resetHistory();
      serveKey(key);
      let failure: Error | undefined;
      const filled = await zeroFilledDuring(() => wrapAndImportStep({ kms, secrets, retry }, forged, config, NOW).catch((e: Error) => (failure = e)));
      assert.equal(failure?.name, 'TaskInputRejected', label);
      assert.ok(failure.message.includes(KEY), `${label}: names the key`);
      assert.match(failure.message, /Nothing was imported/, label);
      assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0, `${label}: nothing imported`);
      assert.ok(filled.some((b) => b.equals(material)), `${label}: the escrow read beside the re-check was wiped unused`);
    }
  });

  test('a key that is not managed (now) is refused KeyNotManaged: nothing imported, the material read beside the re-check wiped', async () => {
    const state = await inspected();
    serveParameters();
    serveJsonEscrow();
    serveImport();
    kmsMock.on(ListResourceTagsCommand).resolves({ Tags: [{ TagKey: 'team', TagValue: 'x' }], Truncated: false });
    let failure: Error | undefined;
    const filled = await zeroFilledDuring(() => wrapAndImportStep({ kms, secrets, retry }, state, config, NOW).catch((e: Error) => (failure = e)));
    assert.equal(failure?.name, 'KeyNotManaged');
    assert.ok(failure.message.includes(KEY), 'names the key');
    assert.match(failure.message, /nothing was imported/);
    assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
    assert.ok(filled.some((b) => b.equals(material)), 'the material read was wiped');
  });

  test('a key no longer managed whose GetParametersForImport the role is refused (IAM scoped by the tag): the refusal by name, KeyNotManaged, not the AccessDenied', async () => {
    const state = await inspected();
    kmsMock.on(GetParametersForImportCommand).rejects(Object.assign(new Error('not authorized to perform: kms:GetParametersForImport'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }));
    serveJsonEscrow();
    serveImport();
    kmsMock.on(ListResourceTagsCommand).resolves({ Tags: [], Truncated: false });
    await assert.rejects(wrapAndImportStep({ kms, secrets, retry }, state, config, NOW), (e: Error) => e.name === 'KeyNotManaged' && e.message.includes(KEY));
    assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
  });

  test('a key that is not EXTERNAL (now) is refused KeyNotEligible, nothing imported', async () => {
    const state = await inspected();
    serveParameters();
    serveEscrow();
    serveImport();
    kmsMock.on(DescribeKeyCommand).resolves({
      KeyMetadata: { KeyId: KEY, Arn: ARN, KeyState: 'Enabled', Origin: 'AWS_KMS', KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT' },
    });
    await assert.rejects(wrapAndImportStep({ kms, secrets, retry }, state, config, NOW), { name: 'KeyNotEligible' });
    assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
  });

  test('GetParametersForImport failing (throttled past the retries) fails the step with its named error; the material read is wiped, nothing imported', async () => {
    const state = await inspected();
    kmsMock.on(GetParametersForImportCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }));
    serveJsonEscrow();
    serveImport();
    let failure: Error | undefined;
    const filled = await zeroFilledDuring(() => wrapAndImportStep({ kms, secrets, retry }, state, config, NOW).catch((e: Error) => (failure = e)));
    assert.equal(failure?.name, 'KmsUnavailable', 'the name the state machine retries on');
    assert.ok(failure.message.includes(KEY));
    assert.equal(kmsMock.commandCalls(GetParametersForImportCommand).length, retry.maxAttempts, 'the library\'s own bounded retries first');
    assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
    assert.ok(filled.some((b) => b.equals(material)));
  });

  test("the engine's warnings reach the run's logger (an ExpirationModel that had to be assumed)", async () => {
    serveKey({ materials: [{ id: MID, importState: 'IMPORTED' }, { id: MID2, importState: 'PENDING_IMPORT' }] });
    // KMS does not report the missing material's own ExpirationModel: the engine assumes the key's.
    kmsMock.on(ListKeyRotationsCommand).resolves({
      Rotations: [
        { KeyId: KEY, KeyMaterialId: MID, KeyMaterialState: 'CURRENT', ImportState: 'IMPORTED' },
        { KeyId: KEY, KeyMaterialId: MID2, KeyMaterialState: 'NON_CURRENT', ImportState: 'PENDING_IMPORT' },
      ],
      Truncated: false,
    });
    let state = await inspectStep({ kms, retry }, workItem(), config, NOW);
    assert.deepEqual(state.pending, [{ keyMaterialId: MID2 }]);
    serveParameters();
    secretsMock.on(GetSecretValueCommand).callsFake(async () => ({
      Name: `kms-reimport/${KEY}`,
      SecretString: JSON.stringify({ format: 'kms-reimport/v1', materials: [{ keyMaterialId: MID2, material: material.toString('base64') }] }),
    }));
    serveImport();
    const warnings: Array<{ message: string; extra?: object }> = [];
    const logger = { warn: (message: string, extra?: object) => void warnings.push({ message, ...(extra ? { extra } : {}) }) };
    await wrapAndImportStep({ kms, secrets, retry, logger }, state, config, NOW);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.message, /ExpirationModel of the material .* is unknown/);
    assert.ok(warnings[0]!.message.includes(KEY));
    assert.equal(leaks(warnings), false);
  });

  test('an expired token throws ImportTokenExpired and imports nothing', async () => {
    const state = await inspected();
    serveParameters();
    serveEscrow();
    kmsMock.on(ImportKeyMaterialCommand).rejects(new ExpiredImportTokenException({ message: 'expired', $metadata: {} }));
    await assert.rejects(wrapAndImportStep({ kms, secrets, retry }, state, config, NOW), (e: Error) => {
      assert.equal(e.name, 'ImportTokenExpired');
      assert.equal(leaks(e.message), false);
      return true;
    });
  });

  test('wrong material throws IncorrectKeyMaterial, once, no retry', async () => {
    const state = await inspected();
    serveParameters();
    secretsMock.on(GetSecretValueCommand).resolves({ Name: `kms-reimport/${KEY}`, SecretBinary: new Uint8Array(randomBytes(32)) });
    serveImport();
    await assert.rejects(wrapAndImportStep({ kms, secrets, retry }, state, config, NOW), { name: 'IncorrectKeyMaterial' });
    assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 1);
  });

  test('missing escrow throws EscrowMissing before any import', async () => {
    const state = await inspected();
    serveParameters();
    secretsMock.on(GetSecretValueCommand).rejects(new ResourceNotFoundException({ message: 'no such secret', $metadata: {} }));
    serveImport();
    await assert.rejects(wrapAndImportStep({ kms, secrets, retry }, state, config, NOW), { name: 'EscrowMissing' });
    assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
  });

  test('without a pending material or a report the state is refused, before any call', async () => {
    const state = await inspected();
    kmsMock.resetHistory();
    await assert.rejects(wrapAndImportStep({ kms, secrets, retry }, { ...state, pending: [] }, config, NOW), { name: 'WorkflowStateInvalid' });
    await assert.rejects(wrapAndImportStep({ kms, secrets, retry }, { ...state, report: undefined } as unknown as WorkflowState, config, NOW), { name: 'WorkflowStateInvalid' });
    assert.equal(secretsMock.calls().length, 0);
    assert.equal(kmsMock.calls().length, 0);
  });
});

describe('verifyStep', () => {
  test('Enabled key with a working round trip → verified', async () => {
    const state = await inspected();
    kmsMock.reset();
    kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: KEY, Arn: ARN, KeyState: 'Enabled' } });
    kmsMock.on(EncryptCommand).callsFake(async ({ Plaintext }: { Plaintext: Uint8Array }) => ({ KeyId: ARN, CiphertextBlob: Buffer.concat([Buffer.from('ct:'), Plaintext]) }));
    kmsMock.on(DecryptCommand).callsFake(async ({ CiphertextBlob }: { CiphertextBlob: Uint8Array }) => ({ KeyId: ARN, Plaintext: Buffer.from(CiphertextBlob).subarray(3) }));
    const next = await verifyStep({ kms, retry }, { ...state, pending: [], imported: [{ expirationModel: 'KEY_MATERIAL_EXPIRES' }] }, config, NOW);
    assert.equal(next.verified, true);
    assert.equal(next.keyStateAfter, 'Enabled');
    assert.equal(kmsMock.commandCalls(EncryptCommand).length, 1);
    // After an import the probe goes first: no DescribeKey on the critical path.
    assert.equal(kmsMock.commandCalls(DescribeKeyCommand).length, 0);
  });

  test('without an import in this run, DescribeKey goes before the round trip', async () => {
    const state = await inspected();
    kmsMock.reset();
    kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: KEY, Arn: ARN, KeyState: 'Enabled' } });
    kmsMock.on(EncryptCommand).callsFake(async ({ Plaintext }: { Plaintext: Uint8Array }) => ({ KeyId: ARN, CiphertextBlob: Buffer.concat([Buffer.from('ct:'), Plaintext]) }));
    kmsMock.on(DecryptCommand).callsFake(async ({ CiphertextBlob }: { CiphertextBlob: Uint8Array }) => ({ KeyId: ARN, Plaintext: Buffer.from(CiphertextBlob).subarray(3) }));
    const next = await verifyStep({ kms, retry }, { ...state, pending: [], imported: [] }, config, NOW);
    assert.equal(next.verified, true);
    assert.equal(kmsMock.commandCalls(DescribeKeyCommand).length, 1);
    assert.ok(kmsMock.commandCalls(DescribeKeyCommand)[0]!.calledBefore(kmsMock.commandCalls(EncryptCommand)[0]!));
  });

  test('a key Disabled after the import is left Disabled as found: the probe refused, then DescribeKey; verified false, Report says recovered', async () => {
    const state = await inspected();
    kmsMock.reset();
    kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: KEY, Arn: ARN, KeyState: 'Disabled' } });
    // KMS refuses the probe on a Disabled key; only then is the key described.
    kmsMock.on(EncryptCommand).rejects(Object.assign(new Error(`${ARN} is disabled.`), { name: 'DisabledException', $fault: 'client', $metadata: { httpStatusCode: 400 } }));
    kmsMock.on(DecryptCommand).rejects(new Error('no decrypt after a refused encrypt'));
    const next = await verifyStep({ kms, retry }, { ...state, pending: [], imported: [{ keyMaterialId: MID, expirationModel: 'KEY_MATERIAL_EXPIRES' }] }, config, NOW);
    assert.equal(next.verified, false);
    assert.equal(next.keyStateAfter, 'Disabled');
    assert.equal(kmsMock.commandCalls(EncryptCommand).length, 1, 'one refused probe, no second round trip');
    assert.equal(kmsMock.commandCalls(DecryptCommand).length, 0);
    const reported = await reportStep({ publish: async () => {} }, next, config, NOW);
    assert.equal(reported.outcome?.status, 'recovered');
    assert.equal(reported.outcome?.verified, false);
    assert.equal(reported.outcome?.keyStateAfter, 'Disabled');
    assert.match(reported.outcome?.reason ?? '', /left Disabled as found/);
  });

  test('a key still PendingImport fails VerificationFailed', async () => {
    const state = await inspected();
    kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: KEY, Arn: ARN, KeyState: 'PendingImport' } });
    await assert.rejects(verifyStep({ kms, retry }, state, config, NOW), { name: 'VerificationFailed' });
  });
});

describe('reportStep', () => {
  test('publishes the outcome, records its metric and returns the state with it', async () => {
    const state = await inspected();
    const published: Outcome[] = [];
    const recorded: string[] = [];
    const done = { ...state, pending: [], imported: [{ keyMaterialId: MID, expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: '2025-08-30T12:00:00.000Z' }], verified: true };
    const next = await reportStep(
      { publish: async (o) => void published.push(o), recordOutcome: (o) => void recorded.push(o.status) },
      done,
      config,
      new Date(NOW.getTime() + 30_000),
    );
    assert.equal(next.outcome?.status, 'recovered');
    assert.deepEqual(published, [next.outcome]);
    assert.deepEqual(recorded, ['recovered']);
    assert.equal(next.outcome?.durationMs, 30_000);
  });

  test('a publish failure fails the step (the state machine has a fallback notice)', async () => {
    const state = await inspected();
    await assert.rejects(
      reportStep({ publish: async () => { throw new Error('SNS down'); } }, { ...state, plan: { action: 'skip', reason: 'r' } }, config, NOW),
      /SNS down/,
    );
  });
});

describe('the whole runbook, step by step', () => {
  test('recover with a token expiring once: inspect → params+import (expired) → params+import → verify → report', async () => {
    serveKey();
    let state = await inspectStep({ kms, retry }, workItem(), config, NOW);
    serveParameters();
    serveEscrow();
    kmsMock.on(ImportKeyMaterialCommand).rejectsOnce(new ExpiredImportTokenException({ message: 'expired', $metadata: {} }));
    const failure = await wrapAndImportStep({ kms, secrets, retry }, state, config, NOW).catch((e: Error) => e);
    assert.ok(failure instanceof Error && failure.name === 'ImportTokenExpired');
    // What the state machine does: keep the state, count the refresh, run WrapAndImport again (it fetches new parameters).
    state = { ...state, tokenExpiry: { Error: failure.name, Cause: failure.message }, tokenRefreshes: state.tokenRefreshes + 1 };
    serveImport();
    state = await wrapAndImportStep({ kms, secrets, retry }, state, config, NOW);
    kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: KEY, Arn: ARN, KeyState: 'Enabled' } });
    kmsMock.on(EncryptCommand).callsFake(async ({ Plaintext }: { Plaintext: Uint8Array }) => ({ CiphertextBlob: Buffer.concat([Buffer.from('ct:'), Plaintext]) }));
    kmsMock.on(DecryptCommand).callsFake(async ({ CiphertextBlob }: { CiphertextBlob: Uint8Array }) => ({ Plaintext: Buffer.from(CiphertextBlob).subarray(3) }));
    state = await verifyStep({ kms, retry }, state, config, NOW);
    const published: Outcome[] = [];
    state = await reportStep({ publish: async (o) => void published.push(o) }, state, config, NOW);
    assert.equal(state.outcome?.status, 'recovered');
    assert.equal(state.tokenRefreshes, 1);
    assert.equal(kmsMock.commandCalls(GetParametersForImportCommand).length, 2);
    assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 2);
    assert.equal(leaks(state), false);
    assert.equal(leaks(published), false);
  });
});

describe('the rotation branch: inspectStep plans rotate, rotateStep only runs what Inspect planned', () => {
  const IMPORTED = [{ id: MID, importState: 'IMPORTED' as const, validInDays: 60 }];
  const sweepItem = (): WorkItem => ({ ...workItem('rotate'), trigger: { source: 'kms-reimport.sweep', detailType: 'Scheduled Sweep' } });

  test('an Enabled managed symmetric key → plan rotate (in place), nothing pending; the key report carries its ARN for the lease', async () => {
    serveKey({ state: 'Enabled', materials: IMPORTED });
    const state = await inspectStep({ kms, retry }, workItem('rotate'), config, NOW);
    assert.equal(state.plan?.action, 'rotate');
    assert.match(state.plan?.reason ?? '', /in place/);
    assert.deepEqual(state.pending, []);
    assert.equal(state.report?.arn, ARN);
  });

  const multiRegionKey = (type: 'PRIMARY' | 'REPLICA', keySpec = 'SYMMETRIC_DEFAULT') => {
    const arn = type === 'PRIMARY' ? ARN : ARN.replace('us-east-1', 'eu-west-1');
    kmsMock.on(DescribeKeyCommand).resolves({
      KeyMetadata: {
        KeyId: KEY,
        Arn: arn,
        KeyState: 'Enabled',
        Origin: 'EXTERNAL',
        KeySpec: keySpec as 'SYMMETRIC_DEFAULT',
        KeyUsage: keySpec === 'SYMMETRIC_DEFAULT' ? 'ENCRYPT_DECRYPT' : 'GENERATE_VERIFY_MAC',
        ExpirationModel: 'KEY_MATERIAL_EXPIRES',
        CurrentKeyMaterialId: MID,
        MultiRegion: true,
        MultiRegionConfiguration: {
          MultiRegionKeyType: type,
          PrimaryKey: { Arn: ARN, Region: 'us-east-1' },
          ReplicaKeys: [{ Arn: ARN.replace('us-east-1', 'eu-west-1'), Region: 'eu-west-1' }, { Arn: ARN.replace('us-east-1', 'ap-southeast-2'), Region: 'ap-southeast-2' }],
        },
      },
    });
  };

  test('a Multi-Region primary SYMMETRIC_DEFAULT key → plan rotate in place, naming its replica Regions', async () => {
    serveKey({ state: 'Enabled', materials: IMPORTED });
    multiRegionKey('PRIMARY');
    const state = await inspectStep({ kms, retry }, workItem('rotate'), config, NOW);
    assert.equal(state.plan?.action, 'rotate', state.plan?.reason);
    assert.match(state.plan?.reason ?? '', /in place \(a Multi-Region primary SYMMETRIC_DEFAULT key: its replicas in ap-southeast-2, eu-west-1 take the same material/);
    assert.equal(state.report?.arn, ARN);
  });

  test("a Multi-Region replica → skipped: rotate the primary <its ARN>; a Multi-Region HMAC key → skipped: in place only, never by alias swap", async () => {
    serveKey({ state: 'Enabled', materials: IMPORTED });
    multiRegionKey('REPLICA');
    const replica = await inspectStep({ kms, retry }, workItem('rotate'), config, NOW);
    assert.equal(replica.plan?.action, 'skip');
    assert.ok(replica.plan?.reason?.includes(`rotate the primary ${ARN}`), replica.plan?.reason);
    assert.match(replica.plan?.reason ?? '', /Nothing was done/);

    kmsMock.reset();
    serveKey({ state: 'Enabled', materials: IMPORTED });
    multiRegionKey('PRIMARY', 'HMAC_256');
    const hmac = await inspectStep({ kms, retry }, workItem('rotate'), config, NOW);
    assert.equal(hmac.plan?.action, 'skip');
    assert.match(hmac.plan?.reason ?? '', /Multi-Region HMAC_256 key: kms-reimport rotates Multi-Region keys in place only/);
  });

  test('skipped with the reason: PendingImport (recover first), not managed', async () => {
    serveKey({ state: 'PendingImport' });
    const pending = await inspectStep({ kms, retry }, workItem('rotate'), config, NOW);
    assert.equal(pending.plan?.action, 'skip');
    assert.match(pending.plan?.reason ?? '', /recover it first/);
    kmsMock.reset();
    serveKey({ state: 'Enabled', materials: IMPORTED, tags: {} });
    const unmanaged = await inspectStep({ kms, retry }, workItem('rotate'), config, NOW);
    assert.equal(unmanaged.plan?.action, 'skip');
  });

  test("a sweep's rotation that is no longer due (no schedule, or rotated since) is skipped; a manual one is not", async () => {
    serveKey({ state: 'Enabled', materials: IMPORTED });
    const swept = await inspectStep({ kms, retry }, sweepItem(), config, NOW);
    assert.equal(swept.plan?.action, 'skip');
    assert.match(swept.plan?.reason ?? '', /not due for rotation/);
    const manual = await inspectStep({ kms, retry }, workItem('rotate'), config, NOW);
    assert.equal(manual.plan?.action, 'rotate');
  });

  test('rotateStep refuses a state whose work item or plan is not a rotation (TaskInputRejected), calling nothing', async () => {
    serveKey({ state: 'Enabled', materials: IMPORTED });
    const recover = await inspectStep({ kms, retry }, workItem('recover'), config, NOW);
    kmsMock.reset();
    await assert.rejects(rotateStep({ kms, secrets }, recover, config, NOW), { name: 'TaskInputRejected' });
    const forged = { ...recover, workItem: workItem('rotate'), plan: { action: 'skip', reason: 'x' } };
    await assert.rejects(rotateStep({ kms, secrets }, forged, config, NOW), { name: 'TaskInputRejected' });
    assert.equal(kmsMock.calls().length, 0);
  });

  test('the rotation id comes from the execution (its startedAt, kept by Inspect under the lease), not the task\'s clock: a Rotate retried after midnight verifies the rotation it made, no second material', async () => {
    const started = new Date('2025-06-01T23:58:00Z');
    const afterMidnight = new Date('2025-06-02T00:03:00Z');
    serveKey({ state: 'Enabled', materials: [{ id: MID, importState: 'IMPORTED', validInDays: 60 }, { id: MID2, importState: 'IMPORTED', validInDays: 30 }] });
    // Re-inspected under the lease after midnight: the execution keeps its start.
    const first = await inspectStep({ kms, retry }, workItem('rotate'), config, started);
    const reinspected = await inspectStep({ kms, retry }, first, config, afterMidnight);
    assert.equal(reinspected.startedAt, started.toISOString());
    assert.equal(reinspected.plan?.action, 'rotate');
    // Escrow as the first attempt left it: MID made CURRENT by rotation-2025-06-01 and recorded, MID2 the material before.
    secretsMock.on(GetSecretValueCommand).callsFake(async () => ({
      ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:kms-reimport/x',
      Name: `kms-reimport/${KEY}`,
      SecretString: JSON.stringify({
        format: 'kms-reimport/v1',
        materials: [
          { keyMaterialId: MID2, material: randomBytes(32).toString('base64') },
          { keyMaterialId: MID, material: material.toString('base64'), rotation: 'rotation-2025-06-01', importedAt: started.toISOString() },
        ],
      }),
    }));
    kmsMock.on(EncryptCommand).callsFake(async ({ Plaintext }: { Plaintext: Uint8Array }) => ({ KeyId: ARN, CiphertextBlob: Buffer.concat([Buffer.from('ct:'), Plaintext]) }));
    kmsMock.on(DecryptCommand).callsFake(async ({ CiphertextBlob }: { CiphertextBlob: Uint8Array }) => ({ KeyId: ARN, Plaintext: Buffer.from(CiphertextBlob).subarray(3) }));
    kmsMock.on(GetParametersForImportCommand).rejects(new Error('a second rotation must not ask for import parameters'));
    kmsMock.on(ImportKeyMaterialCommand).rejects(new Error('a second rotation must not import'));
    secretsMock.on(PutSecretValueCommand).rejects(new Error('a second rotation must not write escrow'));
    const rotated = await rotateStep({ kms, secrets }, reinspected, config, afterMidnight);
    assert.equal(rotated.rotation?.toKeyMaterialId, MID);
    assert.match(rotated.rotationReason ?? '', /already rotated by rotation rotation-2025-06-01/);
    assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
    assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length, 0);
  });

  test('wrapAndImportStep refuses a rotate work item or plan before any call: a rotation imports only through Rotate', async () => {
    serveKey({ state: 'Enabled', materials: IMPORTED });
    serveParameters();
    serveEscrow();
    const state: WorkflowState = {
      workItem: workItem('rotate'),
      startedAt: NOW.toISOString(),
      plan: { action: 'rotate', reason: 'x' },
      pending: [{}],
      imported: [],
      tokenRefreshes: 0,
      report: (await inspectStep({ kms, retry }, workItem('rotate'), config, NOW)).report!,
    };
    kmsMock.resetHistory();
    // A rotate work item, a rotate plan, or both.
    for (const forged of [state, { ...state, workItem: workItem('recover') }, { ...state, plan: { action: 'recover' as const, reason: 'x' } }]) {
      await assert.rejects(wrapAndImportStep({ kms, secrets, retry }, forged, config, NOW), (e: Error) => e.name === 'TaskInputRejected' && e.message.includes(KEY) && /Nothing was imported/.test(e.message));
    }
    assert.equal(kmsMock.calls().length, 0, 'refused without asking KMS anything');
    assert.equal(secretsMock.calls().length, 0, 'nor reading escrow');
  });
});
