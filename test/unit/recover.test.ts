import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, privateDecrypt, randomBytes } from 'node:crypto';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DecryptCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  KMSClient,
  ListKeyRotationsCommand,
  ListResourceTagsCommand,
  type KeyMetadata,
  type RotationsListEntry,
} from '@aws-sdk/client-kms';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { recoverKey, type RecoverLogger } from '../../lib/reimport.js';
import { MAX_TOKEN_REFRESHES } from '../../lib/recover.js';
import { DEFAULT_CONFIG, type ReimportConfig } from '../../lib/config.js';
import { summariseOutcome } from '../../lib/outcome.js';
import type { Outcome } from '../../lib/types.js';
import { assertNoMaterial, awsError, KEY_ARN, KEY_ID, MATERIAL_ID_A, MATERIAL_ID_B } from './lib-fixtures.js';
import { answerNextTurn, trackRoundTrips } from '../support/round-trips.js';

const kmsMock = mockClient(KMSClient);
const secretsMock = mockClient(SecretsManagerClient);
const kms = new KMSClient({ region: 'us-east-1' });
const secrets = new SecretsManagerClient({ region: 'us-east-1' });

const wrappingPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicKeyDer = wrappingPair.publicKey.export({ format: 'der', type: 'spki' });
const config: ReimportConfig = { ...DEFAULT_CONFIG, maxAttempts: 3, wrappingKeySpec: 'RSA_2048' };
const NOW = new Date('2027-03-04T05:06:07.891Z');
const now = () => new Date(NOW);

interface Captured {
  logs: Array<{ level: string; message: string; extra?: object }>;
  sleeps: number[];
  wrapped: Buffer[];
  /** The fake monotonic clock (ms) that paces GetParametersForImport; every injected sleep moves it. */
  clockMs: number;
  /** clockMs at each GetParametersForImport call. */
  parametersAt: number[];
}
let captured: Captured;
let material: Buffer;

function logger(): RecoverLogger {
  const push = (level: string) => (message: string, extra?: object) => void captured.logs.push({ level, message, ...(extra ? { extra } : {}) });
  return { info: push('info'), warn: push('warn'), error: push('error') };
}

function deps() {
  return {
    kms,
    secrets,
    logger: logger(),
    sleep: async (ms: number) => {
      captured.sleeps.push(ms);
      captured.clockMs += ms;
    },
    random: () => 0.5,
    monotonicNow: () => captured.clockMs,
  };
}

const baseMetadata: KeyMetadata = {
  KeyId: KEY_ID,
  Arn: KEY_ARN,
  KeyState: 'PendingImport',
  Origin: 'EXTERNAL',
  KeySpec: 'SYMMETRIC_DEFAULT',
  KeyUsage: 'ENCRYPT_DECRYPT',
  MultiRegion: false,
  ExpirationModel: 'KEY_MATERIAL_EXPIRES',
  CurrentKeyMaterialId: MATERIAL_ID_A,
};

/** Configures every command a run may send. */
function scenario(opts: {
  before?: Partial<KeyMetadata>;
  after?: Partial<KeyMetadata>;
  tags?: Record<string, string>;
  rotations?: RotationsListEntry[];
  secret?: { SecretBinary?: Uint8Array; SecretString?: string } | Error;
}) {
  kmsMock
    .on(DescribeKeyCommand)
    .resolvesOnce({ KeyMetadata: { ...baseMetadata, ...opts.before } })
    .resolves({ KeyMetadata: { ...baseMetadata, KeyState: 'Enabled', ...opts.after } });
  const tags = opts.tags ?? { 'kms-reimport:managed': 'true' };
  kmsMock.on(ListResourceTagsCommand).resolves({ Tags: Object.entries(tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })), Truncated: false });
  kmsMock.on(ListKeyRotationsCommand).resolves({
    Rotations: opts.rotations ?? [{ KeyId: KEY_ID, KeyMaterialId: MATERIAL_ID_A, KeyMaterialState: 'CURRENT', ImportState: 'PENDING_IMPORT', ExpirationModel: 'KEY_MATERIAL_EXPIRES' }],
    Truncated: false,
  });
  let n = 0;
  kmsMock.on(GetParametersForImportCommand).callsFake(() => {
    captured.parametersAt.push(captured.clockMs);
    return { KeyId: KEY_ARN, PublicKey: publicKeyDer, ImportToken: Buffer.from(`token-${++n}`), ParametersValidTo: new Date(NOW.getTime() + 86_400_000) };
  });
  kmsMock.on(ImportKeyMaterialCommand).callsFake((input) => {
    captured.wrapped.push(Buffer.from(input.EncryptedKeyMaterial));
    return { KeyId: KEY_ARN, KeyMaterialId: input.KeyMaterialId ?? MATERIAL_ID_A };
  });
  // KMS encrypts with an Enabled key only: DisabledException for a Disabled one, KMSInvalidStateException otherwise.
  const stateAfter = opts.after?.KeyState ?? 'Enabled';
  kmsMock.on(EncryptCommand).callsFake((input) => {
    if (stateAfter === 'Disabled') throw awsError('DisabledException');
    if (stateAfter !== 'Enabled') throw awsError('KMSInvalidStateException');
    return { CiphertextBlob: Buffer.concat([Buffer.from('ct:'), Buffer.from(input.Plaintext)]) };
  });
  kmsMock.on(DecryptCommand).callsFake((input) => ({ Plaintext: Buffer.from(input.CiphertextBlob).subarray(3) }));
  kmsMock.on(DeleteImportedKeyMaterialCommand).rejects(new Error('the engine must never delete material'));
  const secret = opts.secret ?? { SecretBinary: new Uint8Array(material) };
  if (secret instanceof Error) secretsMock.on(GetSecretValueCommand).rejects(secret);
  else secretsMock.on(GetSecretValueCommand).callsFake(() => ({ ...secret, ...(secret.SecretBinary ? { SecretBinary: new Uint8Array(secret.SecretBinary) } : {}) }));
}

/** A rotated key whose two materials (A: the original, NON_CURRENT; B: CURRENT) are both missing, both escrowed. */
function bothMaterialsMissing(other: Buffer): void {
  scenario({
    before: { CurrentKeyMaterialId: MATERIAL_ID_B },
    after: { CurrentKeyMaterialId: MATERIAL_ID_B },
    rotations: [
      { KeyMaterialId: MATERIAL_ID_A, KeyMaterialState: 'NON_CURRENT', ImportState: 'PENDING_IMPORT', ExpirationModel: 'KEY_MATERIAL_EXPIRES' },
      { KeyMaterialId: MATERIAL_ID_B, KeyMaterialState: 'CURRENT', ImportState: 'PENDING_IMPORT', ExpirationModel: 'KEY_MATERIAL_EXPIRES' },
    ],
    secret: {
      SecretString: JSON.stringify({
        format: 'kms-reimport/v1',
        materials: [
          { keyMaterialId: MATERIAL_ID_B, material: other.toString('base64'), description: 'rotated in 2026' },
          { keyMaterialId: MATERIAL_ID_A, material: material.toString('base64'), description: 'original' },
        ],
      }),
    },
  });
}

function unwrap(wrapped: Buffer): Buffer {
  return privateDecrypt({ key: wrappingPair.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrapped);
}

const count = (command: Parameters<typeof kmsMock.commandCalls>[0]) => kmsMock.commandCalls(command).length;

/** No material anywhere a person or machine could see it. */
function assertNoLeak(outcome: Outcome, ...materials: Buffer[]) {
  for (const m of materials) {
    assertNoMaterial(JSON.stringify(outcome), m, 'outcome');
    assertNoMaterial(summariseOutcome(outcome), m, 'summary');
    assertNoMaterial(JSON.stringify(captured.logs), m, 'logs');
  }
}

beforeEach(() => {
  kmsMock.reset();
  secretsMock.reset();
  captured = { logs: [], sleeps: [], wrapped: [], clockMs: 1_000, parametersAt: [] };
  material = randomBytes(32);
});

test('recovered: PendingImport key gets its escrowed material back and is verified', async () => {
  scenario({});
  const outcome = await recoverKey(deps(), 'alias/payments', { action: 'auto', config, now });

  assert.equal(outcome.status, 'recovered', outcome.reason);
  assert.equal(outcome.keyId, KEY_ID);
  assert.equal(outcome.keyArn, KEY_ARN);
  assert.equal(outcome.requestedRef, 'alias/payments');
  assert.equal(outcome.keyStateBefore, 'PendingImport');
  assert.equal(outcome.keyStateAfter, 'Enabled');
  assert.equal(outcome.verified, true);
  assert.equal(outcome.errorName, undefined);
  const validTo = new Date(Math.floor((NOW.getTime() + 90 * 86_400_000) / 1000) * 1000).toISOString();
  assert.deepEqual(outcome.imported, [{ keyMaterialId: MATERIAL_ID_A, validTo, expirationModel: 'KEY_MATERIAL_EXPIRES' }]);
  assert.deepEqual(outcome.calls, {
    DescribeKey: 1,
    ListResourceTags: 1,
    ListKeyRotations: 1,
    GetParametersForImport: 1,
    GetSecretValue: 1,
    ImportKeyMaterial: 1,
    Encrypt: 1,
    Decrypt: 1,
  });
  assert.equal(outcome.startedAt, NOW.toISOString());
  assert.ok(outcome.reason?.includes(KEY_ID));

  assert.deepEqual(kmsMock.commandCalls(GetParametersForImportCommand)[0]!.args[0].input, { KeyId: KEY_ID, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' });
  const imp = kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input;
  assert.equal(Buffer.from(imp.ImportToken!).toString(), 'token-1');
  assert.equal(imp.ExpirationModel, 'KEY_MATERIAL_EXPIRES');
  assert.equal(imp.ImportType, 'EXISTING_KEY_MATERIAL');
  assert.equal(imp.ValidTo?.toISOString(), validTo);
  assert.equal(imp.KeyMaterialId, MATERIAL_ID_A, 'the missing material is named by KMS, so it is sent');
  assert.ok(unwrap(captured.wrapped[0]!).equals(material));
  assert.equal(count(DeleteImportedKeyMaterialCommand), 0);
  assertNoLeak(outcome, material);
  assert.ok(captured.logs.some((l) => l.message === 'key verified'));
});

test('token expired once: new parameters and one more try (exactly 2 GetParametersForImport)', async () => {
  scenario({});
  kmsMock
    .on(ImportKeyMaterialCommand)
    .rejectsOnce(awsError('ExpiredImportTokenException'))
    .callsFake((input) => {
      captured.wrapped.push(Buffer.from(input.EncryptedKeyMaterial));
      return { KeyMaterialId: MATERIAL_ID_A };
    });
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'recover', config, now });
  assert.equal(outcome.status, 'recovered', outcome.reason);
  assert.equal(count(GetParametersForImportCommand), 2);
  assert.equal(count(ImportKeyMaterialCommand), 2);
  const tokens = kmsMock.commandCalls(ImportKeyMaterialCommand).map((c) => Buffer.from(c.args[0].input.ImportToken!).toString());
  assert.deepEqual(tokens, ['token-1', 'token-2'], 'the second try uses the new token');
  assert.equal(outcome.calls.GetParametersForImport, 2);
  assert.ok(captured.logs.some((l) => l.level === 'warn' && /import token expired/.test(l.message)));
  assertNoLeak(outcome, material);
});

test('token refused every time: MAX_TOKEN_REFRESHES new parameters (the state machine\'s number), then failed ImportTokenExpired, no loop', async () => {
  scenario({});
  kmsMock.on(ImportKeyMaterialCommand).rejects(awsError('InvalidImportTokenException'));
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'recover', config, now });
  assert.equal(outcome.status, 'failed');
  assert.equal(outcome.errorName, 'ImportTokenExpired');
  assert.equal(MAX_TOKEN_REFRESHES, 3);
  assert.equal(count(GetParametersForImportCommand), MAX_TOKEN_REFRESHES + 1);
  assert.equal(count(ImportKeyMaterialCommand), MAX_TOKEN_REFRESHES + 1);
  assert.equal(count(EncryptCommand), 0, 'no verification after a failed import');
  assert.deepEqual(outcome.imported, []);
  assertNoLeak(outcome, material);
});

test('IncorrectKeyMaterial: failed at once, no second ImportKeyMaterial, no other material', async () => {
  const other = randomBytes(32);
  scenario({
    rotations: [
      { KeyMaterialId: MATERIAL_ID_A, KeyMaterialState: 'NON_CURRENT', ImportState: 'PENDING_IMPORT' },
      { KeyMaterialId: MATERIAL_ID_B, KeyMaterialState: 'CURRENT', ImportState: 'PENDING_IMPORT' },
    ],
    before: { CurrentKeyMaterialId: MATERIAL_ID_B },
    secret: {
      SecretString: JSON.stringify({
        format: 'kms-reimport/v1',
        materials: [
          { keyMaterialId: MATERIAL_ID_A, material: material.toString('base64') },
          { keyMaterialId: MATERIAL_ID_B, material: other.toString('base64') },
        ],
      }),
    },
  });
  kmsMock.on(ImportKeyMaterialCommand).rejects(awsError('IncorrectKeyMaterialException'));
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'auto', config, now });
  assert.equal(outcome.status, 'failed');
  assert.equal(outcome.errorName, 'IncorrectKeyMaterial');
  assert.match(outcome.reason!, /no retry/);
  assert.equal(count(ImportKeyMaterialCommand), 1);
  assert.equal(count(GetParametersForImportCommand), 1);
  assert.equal(count(EncryptCommand), 0);
  assertNoLeak(outcome, material, other);
});

test('throttling then success: retried with backoff, counted, recovered', async () => {
  scenario({});
  kmsMock
    .on(GetParametersForImportCommand)
    .rejectsOnce(awsError('ThrottlingException', 400, { $retryable: { throttling: true } }))
    .resolves({ KeyId: KEY_ARN, PublicKey: publicKeyDer, ImportToken: Buffer.from('token-x'), ParametersValidTo: new Date(NOW.getTime() + 86_400_000) });
  kmsMock
    .on(ImportKeyMaterialCommand)
    .rejectsOnce(awsError('KMSInternalException', 500))
    .callsFake((input) => {
      captured.wrapped.push(Buffer.from(input.EncryptedKeyMaterial));
      return {};
    });
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'auto', config, now });
  assert.equal(outcome.status, 'recovered', outcome.reason);
  assert.equal(outcome.calls.GetParametersForImport, 2);
  assert.equal(outcome.calls.ImportKeyMaterial, 2);
  assert.deepEqual(captured.sleeps, [100, 100], 'full jitter: random 0.5 of the 200 ms cap, injected sleep');
  assert.equal(captured.logs.filter((l) => l.message === 'transient AWS error, retrying').length, 2);
  assert.ok(unwrap(captured.wrapped[0]!).equals(material));
});

test('throttling that does not stop: failed KmsUnavailable after bounded attempts', async () => {
  scenario({});
  kmsMock.on(ImportKeyMaterialCommand).rejects(awsError('ThrottlingException'));
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'auto', config, now });
  assert.equal(outcome.status, 'failed');
  assert.equal(outcome.errorName, 'KmsUnavailable');
  assert.equal(count(ImportKeyMaterialCommand), config.maxAttempts);
  assert.equal(count(GetParametersForImportCommand), 1, 'throttling is not a token problem');
});

test('not managed: skipped KeyNotManaged, no escrow read, no import parameters, no import', async () => {
  scenario({ tags: { team: 'payments' } });
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'recover', config, now });
  assert.equal(outcome.status, 'skipped');
  assert.equal(outcome.errorName, 'KeyNotManaged');
  assert.match(outcome.reason!, /not managed/);
  assert.equal(count(GetParametersForImportCommand), 0);
  assert.equal(count(ImportKeyMaterialCommand), 0);
  assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 0);
});

test('pending deletion, disabled, not EXTERNAL: skipped KeyNotEligible, nothing touched', async () => {
  const cases: Array<[Partial<KeyMetadata>, RegExp]> = [
    [{ KeyState: 'PendingDeletion' }, /PendingDeletion/],
    [{ KeyState: 'Disabled' }, /Disabled/],
    [{ Origin: 'AWS_KMS', KeyState: 'Enabled' }, /not EXTERNAL/],
  ];
  for (const [before, reason] of cases) {
    kmsMock.reset();
    secretsMock.reset();
    scenario({ before });
    const outcome = await recoverKey(deps(), KEY_ID, { action: 'recover', config, now });
    assert.equal(outcome.status, 'skipped', JSON.stringify(before));
    assert.equal(outcome.errorName, 'KeyNotEligible');
    assert.match(outcome.reason!, reason);
    assert.equal(count(GetParametersForImportCommand), 0);
    assert.equal(count(ImportKeyMaterialCommand), 0);
    assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 0);
  }
});

test('missing escrow: failed EscrowMissing with no import', async () => {
  scenario({ secret: awsError('ResourceNotFoundException') });
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'auto', config, now });
  assert.equal(outcome.status, 'failed');
  assert.equal(outcome.errorName, 'EscrowMissing');
  assert.match(outcome.reason!, new RegExp(`kms-reimport/${KEY_ID}`));
  assert.match(outcome.reason!, /create-secret/);
  assert.equal(count(ImportKeyMaterialCommand), 0);
});

test('escrow of the wrong length: failed EscrowInvalid with no import', async () => {
  scenario({ secret: { SecretBinary: new Uint8Array(randomBytes(16)) } });
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'auto', config, now });
  assert.equal(outcome.errorName, 'EscrowInvalid');
  assert.equal(count(ImportKeyMaterialCommand), 0);
});

test('several materials missing: one import each, with its KeyMaterialId and its own material', async () => {
  const other = randomBytes(32);
  bothMaterialsMissing(other);
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'auto', config, now });
  assert.equal(outcome.status, 'recovered', outcome.reason);
  const inputs = kmsMock.commandCalls(ImportKeyMaterialCommand).map((c) => c.args[0].input);
  assert.deepEqual(inputs.map((i) => i.KeyMaterialId), [MATERIAL_ID_A, MATERIAL_ID_B]);
  assert.deepEqual(inputs.map((i) => Buffer.from(i.ImportToken!).toString()), ['token-1', 'token-2'], 'fresh parameters per material');
  assert.ok(unwrap(captured.wrapped[0]!).equals(material));
  assert.ok(unwrap(captured.wrapped[1]!).equals(other));
  assert.deepEqual(outcome.imported.map((i) => i.keyMaterialId), [MATERIAL_ID_A, MATERIAL_ID_B]);
  assert.equal(outcome.calls.GetParametersForImport, 2);
  assertNoLeak(outcome, material, other);
});

test('renew on an Enabled key: the same material with a later ValidTo, nothing deleted', async () => {
  const soon = new Date(NOW.getTime() + 3 * 86_400_000);
  scenario({
    before: { KeyState: 'Enabled', ValidTo: soon },
    rotations: [{ KeyMaterialId: MATERIAL_ID_A, KeyMaterialState: 'CURRENT', ImportState: 'IMPORTED', ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: soon }],
  });
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'auto', config, now });
  assert.equal(outcome.status, 'renewed', outcome.reason);
  assert.equal(outcome.keyStateBefore, 'Enabled');
  const imp = kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input;
  assert.ok(imp.ValidTo!.getTime() > soon.getTime());
  assert.equal(imp.ImportType, 'EXISTING_KEY_MATERIAL');
  assert.ok(unwrap(captured.wrapped[0]!).equals(material));
  assert.equal(count(DeleteImportedKeyMaterialCommand), 0);

  kmsMock.reset();
  secretsMock.reset();
  scenario({ before: { KeyState: 'Enabled', ValidTo: new Date(NOW.getTime() + 60 * 86_400_000) }, rotations: [] });
  const explicit = await recoverKey(deps(), KEY_ID, { action: 'renew', config, now });
  assert.equal(explicit.status, 'renewed', 'explicit renew on a healthy managed key');
  assert.equal(count(ImportKeyMaterialCommand), 1);
});

test('renew refused by KMS on an Enabled key: failed RenewalRefused, material never deleted', async () => {
  scenario({ before: { KeyState: 'Enabled', ValidTo: new Date(NOW.getTime() + 86_400_000) }, rotations: [] });
  kmsMock.on(ImportKeyMaterialCommand).rejects(awsError('KMSInvalidStateException'));
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'renew', config, now });
  assert.equal(outcome.status, 'failed');
  assert.equal(outcome.errorName, 'RenewalRefused');
  assert.match(outcome.reason!, /Nothing was deleted/);
  assert.equal(count(ImportKeyMaterialCommand), 1);
  assert.equal(count(DeleteImportedKeyMaterialCommand), 0);
});

test('recover on an Enabled key, healthy auto, and plan: nothing changes', async () => {
  scenario({ before: { KeyState: 'Enabled', ValidTo: new Date(NOW.getTime() + 60 * 86_400_000) }, rotations: [] });
  const recover = await recoverKey(deps(), KEY_ID, { action: 'recover', config, now });
  assert.equal(recover.status, 'skipped');
  assert.match(recover.reason!, /Nothing to recover/);
  assert.equal(recover.errorName, undefined);

  kmsMock.reset();
  scenario({});
  const plan = await recoverKey(deps(), KEY_ID, { action: 'plan', config, now });
  assert.equal(plan.status, 'planned');
  assert.match(plan.reason!, /^plan: would recover/);
  assert.equal(count(GetParametersForImportCommand), 0);
  assert.equal(count(ImportKeyMaterialCommand), 0);
  assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 0);
});

test('a key that does not exist / an alias to nothing: failed KeyNotFound naming it', async () => {
  kmsMock.on(DescribeKeyCommand).rejects(awsError('NotFoundException'));
  const outcome = await recoverKey(deps(), 'alias/gone', { action: 'auto', config, now });
  assert.equal(outcome.status, 'failed');
  assert.equal(outcome.errorName, 'KeyNotFound');
  assert.equal(outcome.keyId, 'alias/gone');
  assert.match(outcome.reason!, /alias\/gone/);
  assert.deepEqual(outcome.calls, { DescribeKey: 1 });
  assert.match(summariseOutcome(outcome), /^FAILED key alias\/gone: KeyNotFound/);
});

test('verification that fails after import: failed VerificationFailed, imported materials still reported', async () => {
  scenario({ after: { KeyState: 'PendingImport' } });
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'auto', config, now });
  assert.equal(outcome.status, 'failed');
  assert.equal(outcome.errorName, 'VerificationFailed');
  assert.equal(outcome.verified, false);
  assert.equal(outcome.imported.length, 1);
  assert.match(outcome.reason!, /the key is PendingImport, not Enabled, after the import/, 'the state the verify found is named');
  assert.equal(count(EncryptCommand), 1, 'the probe went first and KMS refused it for the key state');
  assert.equal(count(DescribeKeyCommand), 1 + config.maxAttempts, 'then DescribeKey: a bounded wait for PendingImport to clear');
  assert.equal(count(DecryptCommand), 0);

  kmsMock.reset();
  secretsMock.reset();
  scenario({});
  kmsMock.on(DecryptCommand).resolves({ Plaintext: Buffer.from('not what was encrypted') });
  const roundTrip = await recoverKey(deps(), KEY_ID, { action: 'auto', config, now });
  assert.equal(roundTrip.errorName, 'VerificationFailed');
  assert.equal(roundTrip.verified, false);
});

test('a key that ends Disabled after the import (disabled before its material ran out): recovered, not verified, the refused probe named by DescribeKey, left Disabled', async () => {
  scenario({ after: { KeyState: 'Disabled' } });
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'auto', config, now });
  assert.equal(outcome.status, 'recovered', outcome.reason);
  assert.equal(outcome.errorName, undefined, 'not a failure that a trigger would repeat');
  assert.equal(outcome.verified, false);
  assert.equal(outcome.keyStateBefore, 'PendingImport');
  assert.equal(outcome.keyStateAfter, 'Disabled');
  assert.equal(outcome.imported.length, 1);
  assert.match(outcome.reason!, new RegExp(KEY_ID));
  assert.match(outcome.reason!, /left Disabled as found/);
  assert.match(outcome.reason!, /enable-key/);
  assert.equal(count(ImportKeyMaterialCommand), 1);
  assert.equal(count(EncryptCommand), 1, 'the probe went first; KMS refused it (DisabledException)');
  assert.equal(count(DecryptCommand), 0, 'no round trip on a disabled key');
  assert.equal(count(DescribeKeyCommand), 2, 'one DescribeKey after the refused probe names the state; no waiting for a Disabled key to change');
  assert.match(summariseOutcome(outcome), /^RECOVERED .*NOT verified/);
  assert.ok(captured.logs.some((l) => l.level === 'warn' && /left Disabled/.test(l.message)));
  assertNoLeak(outcome, material);
});

test('a managed PendingImport key with a key spec kms-reimport cannot import is skipped, not touched', async () => {
  scenario({ before: { KeySpec: 'SM2', KeyUsage: 'SIGN_VERIFY' } });
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'auto', config, now });
  assert.equal(outcome.status, 'skipped');
  assert.equal(outcome.errorName, 'KeyNotEligible');
  assert.match(outcome.reason!, /SM2/);
  assert.equal(count(GetParametersForImportCommand), 0);
  assert.equal(count(ImportKeyMaterialCommand), 0);
});

test('GetParametersForImport is paced within a run: parametersIntervalMs apart, for several materials and a token refresh', async () => {
  const other = randomBytes(32);
  bothMaterialsMissing(other);
  // The first import of the second material finds its token spent: a third GetParametersForImport.
  let imports = 0;
  kmsMock.on(ImportKeyMaterialCommand).callsFake((input) => {
    imports++;
    captured.clockMs += 300; // the import itself takes a while: it counts towards the interval
    if (imports === 2) throw awsError('ExpiredImportTokenException');
    return { KeyMaterialId: input.KeyMaterialId };
  });
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'auto', config: { ...config, parametersIntervalMs: 4000 }, now });

  assert.equal(outcome.status, 'recovered', outcome.reason);
  assert.equal(count(GetParametersForImportCommand), 3);
  const at = captured.parametersAt;
  assert.equal(at.length, 3);
  for (let i = 1; i < at.length; i++) assert.ok(at[i]! - at[i - 1]! >= 4000, `call ${i + 1} came ${at[i]! - at[i - 1]!} ms after the previous one`);
  assert.deepEqual(captured.sleeps, [3700, 3700], 'waits only what is left of the interval, through the injected sleep');
  assert.equal(captured.logs.filter((l) => /pacing GetParametersForImport/.test(l.message)).length, 2);
});

test('pacing: no wait before the first call, none when the interval already passed, none when set to 0', async () => {
  scenario({});
  kmsMock.on(ImportKeyMaterialCommand).callsFake(() => {
    captured.clockMs += 5_000;
    throw awsError('ExpiredImportTokenException');
  });
  const slow = await recoverKey(deps(), KEY_ID, { action: 'auto', config, now });
  assert.equal(slow.errorName, 'ImportTokenExpired');
  assert.equal(count(GetParametersForImportCommand), MAX_TOKEN_REFRESHES + 1);
  assert.deepEqual(captured.sleeps, [], 'the slow import already spent the interval');

  kmsMock.reset();
  secretsMock.reset();
  captured.sleeps = [];
  scenario({});
  kmsMock.on(ImportKeyMaterialCommand).rejectsOnce(awsError('ExpiredImportTokenException')).resolves({ KeyMaterialId: MATERIAL_ID_A });
  const unpaced = await recoverKey(deps(), KEY_ID, { action: 'auto', config: { ...config, parametersIntervalMs: 0 }, now });
  assert.equal(unpaced.status, 'recovered', unpaced.reason);
  assert.equal(count(GetParametersForImportCommand), 2);
  assert.deepEqual(captured.sleeps, []);
});

test('renew on a key with several materials reimports the one that expires, by KeyMaterialId, not the current one', async () => {
  const current = randomBytes(32);
  const soon = new Date(NOW.getTime() + 2 * 86_400_000);
  scenario({
    before: { KeyState: 'Enabled', CurrentKeyMaterialId: MATERIAL_ID_B, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' },
    after: { CurrentKeyMaterialId: MATERIAL_ID_B },
    rotations: [
      { KeyMaterialId: MATERIAL_ID_A, KeyMaterialState: 'NON_CURRENT', ImportState: 'IMPORTED', ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: soon },
      { KeyMaterialId: MATERIAL_ID_B, KeyMaterialState: 'CURRENT', ImportState: 'IMPORTED', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' },
    ],
    secret: {
      SecretString: JSON.stringify({
        format: 'kms-reimport/v1',
        materials: [
          { keyMaterialId: MATERIAL_ID_A, material: material.toString('base64') },
          { keyMaterialId: MATERIAL_ID_B, material: current.toString('base64') },
        ],
      }),
    },
  });
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'auto', config, now });
  assert.equal(outcome.status, 'renewed', outcome.reason);
  const inputs = kmsMock.commandCalls(ImportKeyMaterialCommand).map((c) => c.args[0].input);
  assert.equal(inputs.length, 1);
  assert.equal(inputs[0]!.KeyMaterialId, MATERIAL_ID_A);
  assert.equal(inputs[0]!.ExpirationModel, 'KEY_MATERIAL_EXPIRES');
  assert.ok(inputs[0]!.ValidTo!.getTime() > soon.getTime());
  assert.ok(unwrap(captured.wrapped[0]!).equals(material));
  assertNoLeak(outcome, material, current);
});

test('renew never shortens ValidTo: a material valid beyond what a renewal would set is skipped, naming its ValidTo', async () => {
  const far = new Date(NOW.getTime() + 300 * 86_400_000); // lifetime is 90 days
  scenario({
    before: { KeyState: 'Enabled', ValidTo: far },
    rotations: [{ KeyMaterialId: MATERIAL_ID_A, KeyMaterialState: 'CURRENT', ImportState: 'IMPORTED', ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: far }],
  });
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'renew', config, now });
  assert.equal(outcome.status, 'skipped', outcome.reason);
  assert.equal(outcome.errorName, undefined);
  assert.match(outcome.reason!, new RegExp(far.toISOString().replace(/[.]/g, '\\.')), 'names the current ValidTo');
  assert.match(outcome.reason!, /never shortens/);
  assert.match(outcome.reason!, /KMS_REIMPORT_MATERIAL_LIFETIME_DAYS/);
  assert.equal(count(GetParametersForImportCommand), 0);
  assert.equal(count(ImportKeyMaterialCommand), 0);
  assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 0);

  // Exactly equal is not a renewal either; a longer lifetime is.
  const equal = new Date(Math.floor((NOW.getTime() + 90 * 86_400_000) / 1000) * 1000);
  kmsMock.reset();
  secretsMock.reset();
  scenario({ before: { KeyState: 'Enabled', ValidTo: equal }, rotations: [] });
  assert.equal((await recoverKey(deps(), KEY_ID, { action: 'renew', config, now })).status, 'skipped');
  kmsMock.reset();
  secretsMock.reset();
  scenario({ before: { KeyState: 'Enabled', ValidTo: far }, rotations: [] });
  const longer = await recoverKey(deps(), KEY_ID, { action: 'renew', config: { ...config, materialLifetimeDays: 365 }, now });
  assert.equal(longer.status, 'renewed', longer.reason);
  assert.ok(kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input.ValidTo!.getTime() > far.getTime());

  // A configured KEY_MATERIAL_DOES_NOT_EXPIRE lengthens any ValidTo.
  kmsMock.reset();
  secretsMock.reset();
  scenario({ before: { KeyState: 'Enabled', ValidTo: far }, rotations: [] });
  const forever = await recoverKey(deps(), KEY_ID, { action: 'renew', config: { ...config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }, now });
  assert.equal(forever.status, 'renewed', forever.reason);

  // plan says so too.
  kmsMock.reset();
  secretsMock.reset();
  const inWindow = new Date(NOW.getTime() + 5 * 86_400_000);
  scenario({ before: { KeyState: 'Enabled', ValidTo: inWindow }, rotations: [] });
  const plan = await recoverKey(deps(), KEY_ID, { action: 'plan', config: { ...config, materialLifetimeDays: 3 }, now });
  assert.equal(plan.status, 'planned');
  assert.match(plan.reason!, /^plan: would skip: .*nothing to renew/);
});

test('multi-material renew imports only the materials a renewal lengthens; none left: skipped', async () => {
  const other = randomBytes(32);
  const soon = new Date(NOW.getTime() + 30 * 86_400_000);
  const far = new Date(NOW.getTime() + 200 * 86_400_000);
  const rotations = (a: Date, b: Date): RotationsListEntry[] => [
    { KeyMaterialId: MATERIAL_ID_A, KeyMaterialState: 'NON_CURRENT', ImportState: 'IMPORTED', ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: a },
    { KeyMaterialId: MATERIAL_ID_B, KeyMaterialState: 'CURRENT', ImportState: 'IMPORTED', ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: b },
  ];
  const secret = {
    SecretString: JSON.stringify({
      format: 'kms-reimport/v1',
      materials: [
        { keyMaterialId: MATERIAL_ID_A, material: material.toString('base64') },
        { keyMaterialId: MATERIAL_ID_B, material: other.toString('base64') },
      ],
    }),
  };
  scenario({ before: { KeyState: 'Enabled', CurrentKeyMaterialId: MATERIAL_ID_B, ValidTo: soon }, rotations: rotations(soon, far), secret });
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'renew', config, now });
  assert.equal(outcome.status, 'renewed', outcome.reason);
  assert.deepEqual(kmsMock.commandCalls(ImportKeyMaterialCommand).map((c) => c.args[0].input.KeyMaterialId), [MATERIAL_ID_A], 'B (valid 200 days) is not shortened to 90');

  kmsMock.reset();
  secretsMock.reset();
  scenario({ before: { KeyState: 'Enabled', CurrentKeyMaterialId: MATERIAL_ID_B, ValidTo: far }, rotations: rotations(far, far), secret });
  const none = await recoverKey(deps(), KEY_ID, { action: 'renew', config, now });
  assert.equal(none.status, 'skipped', none.reason);
  assert.match(none.reason!, new RegExp(far.toISOString().replace(/[.]/g, '\\.')));
  assert.equal(count(ImportKeyMaterialCommand), 0);
  assertNoLeak(outcome, material, other);
});

test('a key KMS will not list materials for (KMSInvalidStateException, e.g. Updating) is skipped, not failed', async () => {
  scenario({ before: { KeyState: 'Updating' } });
  kmsMock.on(ListKeyRotationsCommand).rejects(awsError('KMSInvalidStateException'));
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'auto', config, now });
  assert.equal(outcome.status, 'skipped', outcome.reason);
  assert.equal(outcome.errorName, 'KeyNotEligible');
  assert.match(outcome.reason!, /Updating/);
  assert.equal(count(GetParametersForImportCommand), 0);
});

test('follow-key with no ExpirationModel reported: KEY_MATERIAL_EXPIRES is sent and the run logs a warning saying so', async () => {
  scenario({
    before: { ExpirationModel: undefined },
    rotations: [{ KeyId: KEY_ID, KeyMaterialId: MATERIAL_ID_A, KeyMaterialState: 'CURRENT', ImportState: 'PENDING_IMPORT' }],
  });
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'auto', config, now });
  assert.equal(outcome.status, 'recovered', outcome.reason);
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input.ExpirationModel, 'KEY_MATERIAL_EXPIRES');
  const warning = captured.logs.find((l) => l.level === 'warn' && /ExpirationModel/.test(l.message));
  assert.ok(warning, 'a warning through the run logger');
  assert.match(warning.message, /assumed KEY_MATERIAL_EXPIRES/);
  assert.match(warning.message, /KMS_REIMPORT_EXPIRATION_MODEL/);
  assertNoLeak(outcome, material);
});

test('ValidationException from ImportKeyMaterial: failed ImportRequestInvalid saying what to check, one attempt', async () => {
  scenario({});
  kmsMock.on(ImportKeyMaterialCommand).rejects(awsError('ValidationException'));
  const outcome = await recoverKey(deps(), KEY_ID, { action: 'auto', config, now });
  assert.equal(outcome.status, 'failed');
  assert.equal(outcome.errorName, 'ImportRequestInvalid');
  assert.match(outcome.reason!, new RegExp(KEY_ID));
  assert.match(outcome.reason!, /ValidTo/);
  assert.match(outcome.reason!, /ExpirationModel/);
  assert.equal(count(ImportKeyMaterialCommand), 1, 'not transient: not retried');
  assertNoLeak(outcome, material);
});

/** deps() whose clients answer a turn later (as over a network) and record every call's start and end. */
function trackedDeps() {
  const trips = trackRoundTrips();
  return { trips, deps: { ...deps(), kms: trips.watch(answerNextTurn(kms)), secrets: trips.watch(answerNextTurn(secrets)) } };
}

test('critical path by key ID: 5 round trips (DescribeKey ∥ ListResourceTags ∥ ListKeyRotations → GetParametersForImport ∥ GetSecretValue → ImportKeyMaterial → Encrypt → Decrypt), no DescribeKey before the probe', async () => {
  scenario({});
  const { trips, deps: tracked } = trackedDeps();
  const outcome = await recoverKey(tracked, KEY_ID, { action: 'auto', config, now });
  assert.equal(outcome.status, 'recovered', outcome.reason);
  assert.equal(trips.chain(), 5, `longest chain: ${trips.longestChain().join(' → ')}`);
  const [first, second, ...rest] = trips.longestChain();
  assert.ok(['DescribeKey', 'ListResourceTags', 'ListKeyRotations'].includes(first!), first);
  assert.ok(['GetParametersForImport', 'GetSecretValue'].includes(second!), second);
  assert.deepEqual(rest, ['ImportKeyMaterial', 'Encrypt', 'Decrypt']);
  assert.ok(trips.overlapped('DescribeKey', 'ListResourceTags'));
  assert.ok(trips.overlapped('DescribeKey', 'ListKeyRotations'));
  assert.ok(trips.overlapped('GetParametersForImport', 'GetSecretValue'));
  assert.equal(trips.maxInFlight, 3);
  assert.deepEqual(trips.operations().filter((op) => op === 'DescribeKey'), ['DescribeKey'], 'one DescribeKey: none between the import and the probe');
  assert.equal(Object.values(outcome.calls).reduce((a, b) => a + b, 0), 8);
  assertNoLeak(outcome, material);
});

test('critical path by alias: 6 round trips (DescribeKey first), and renew by key ID: 5', async () => {
  scenario({});
  let { trips, deps: tracked } = trackedDeps();
  const byAlias = await recoverKey(tracked, 'alias/payments', { action: 'auto', config, now });
  assert.equal(byAlias.status, 'recovered', byAlias.reason);
  assert.equal(trips.chain(), 6, `longest chain: ${trips.longestChain().join(' → ')}`);
  assert.equal(trips.longestChain()[0], 'DescribeKey');
  assert.ok(!trips.overlapped('DescribeKey', 'ListResourceTags'), 'an alias names no key before DescribeKey answers');
  assert.ok(trips.overlapped('ListResourceTags', 'ListKeyRotations'));
  assert.ok(trips.overlapped('GetParametersForImport', 'GetSecretValue'));

  kmsMock.reset();
  secretsMock.reset();
  const soon = new Date(NOW.getTime() + 3 * 86_400_000);
  scenario({
    before: { KeyState: 'Enabled', ValidTo: soon },
    rotations: [{ KeyMaterialId: MATERIAL_ID_A, KeyMaterialState: 'CURRENT', ImportState: 'IMPORTED', ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: soon }],
  });
  ({ trips, deps: tracked } = trackedDeps());
  const renewed = await recoverKey(tracked, KEY_ARN, { action: 'renew', config, now });
  assert.equal(renewed.status, 'renewed', renewed.reason);
  assert.equal(trips.chain(), 5, `longest chain: ${trips.longestChain().join(' → ')}`);
  assert.ok(trips.overlapped('GetParametersForImport', 'GetSecretValue'));
});

test('reads go out together, but nothing is read from escrow and nothing imported for an unmanaged key', async () => {
  scenario({ tags: { team: 'payments' } });
  const { trips, deps: tracked } = trackedDeps();
  const outcome = await recoverKey(tracked, KEY_ID, { action: 'recover', config, now });
  assert.equal(outcome.status, 'skipped');
  assert.equal(outcome.errorName, 'KeyNotManaged');
  assert.deepEqual([...trips.operations()].sort(), ['DescribeKey', 'ListKeyRotations', 'ListResourceTags'], 'the inspection only: no escrow, no parameters, no import');
  assert.equal(trips.chain(), 1);
});

test('a later GetParametersForImport waits for the pacer with no material in memory: the escrow read starts only once the call is under way', async () => {
  const other = randomBytes(32);
  bothMaterialsMissing(other);
  const { trips, deps: tracked } = trackedDeps();
  const sleptAfterCalls: number[] = [];
  const paced = {
    ...tracked,
    sleep: async (ms: number) => {
      sleptAfterCalls.push(trips.calls.length);
      captured.clockMs += ms;
    },
  };
  const outcome = await recoverKey(paced, KEY_ID, { action: 'auto', config: { ...config, parametersIntervalMs: 4000 }, now });
  assert.equal(outcome.status, 'recovered', outcome.reason);
  assert.equal(sleptAfterCalls.length, 1, 'the second material waited for the pacer once');
  const ops = trips.operations();
  assert.equal(ops[sleptAfterCalls[0]!], 'GetParametersForImport', `after the wait, GetParametersForImport goes first, then the escrow read: ${ops.join(', ')}`);
  assert.ok(trips.calls.slice(0, sleptAfterCalls[0]!).every((c) => c.end !== undefined && c.end < trips.calls[sleptAfterCalls[0]!]!.start), 'nothing in flight during the wait');
  assert.equal(ops.filter((op) => op === 'GetSecretValue').length, 2);
  assert.ok(trips.overlapped('GetParametersForImport', 'GetSecretValue'));
});
