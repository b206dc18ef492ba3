/**
 * Escrow writes for rotation (lib/escrow/write.ts): a new version every time, every earlier entry
 * kept, a raw escrow carried over labelled with the key's current KeyMaterialId, deterministic
 * ClientRequestTokens, never an overwrite; and pending-import entries never served by selection.
 */
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretCommand,
} from '@aws-sdk/client-secrets-manager';
import {
  ESCROW_KEY_ID_TAG,
  escrowClientRequestToken,
  escrowRotationMaterial,
  labelKeyMaterial,
  parseEscrowSecret,
  recordImportedMaterial,
  selectEscrowedMaterial,
} from '../../lib/escrow/index.js';
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { describeAliasTarget } from '../../lib/kms/inspect.js';
import { EscrowInvalid, EscrowMissing, EscrowWriteFailed } from '../../lib/errors.js';
import { assertNoMaterial, awsError, KEY_ID, makeReport, MATERIAL_ID_A, MATERIAL_ID_B, noSleep } from './lib-fixtures.js';

const secretsMock = mockClient(SecretsManagerClient);
const secrets = new SecretsManagerClient({ region: 'us-east-1' });
const kmsMock = mockClient(KMSClient);
const kms = new KMSClient({ region: 'us-east-1' });
const config = { ...DEFAULT_CONFIG };
const retry = { maxAttempts: 2, baseDelayMs: 1, sleep: noSleep };
/** An alias on the secret is resolved as the rotation resolves it: DescribeKey on the alias. */
const resolveAlias = (alias: string) => describeAliasTarget(kms, alias, retry);
const SECRET = `kms-reimport/${KEY_ID}`;
const report = makeReport({ currentKeyMaterialId: MATERIAL_ID_A, materials: [{ keyMaterialId: MATERIAL_ID_A, state: 'CURRENT', importState: 'IMPORTED' }], materialsListed: true });

beforeEach(() => {
  secretsMock.reset();
  kmsMock.reset();
  // Every write first checks the secret is not encrypted under the key itself (DescribeSecret).
  secretsMock.on(DescribeSecretCommand).resolves({ Name: SECRET });
  secretsMock.on(PutSecretValueCommand).resolves({ ARN: `arn:${SECRET}`, VersionId: 'v-new' });
  // Any other write would be an overwrite or a deletion: answered, and asserted never sent.
  secretsMock.on(UpdateSecretCommand).resolves({});
  secretsMock.on(DeleteSecretCommand).resolves({});
  secretsMock.on(CreateSecretCommand).resolves({});
});

function written(): { doc: { format: string; materials: Array<Record<string, unknown>> }; token: string | undefined; secretId: string | undefined } {
  const calls = secretsMock.commandCalls(PutSecretValueCommand);
  assert.equal(calls.length, 1, 'one new version');
  const input = calls[0]!.args[0].input;
  assert.equal(input.SecretBinary, undefined);
  return { doc: JSON.parse(input.SecretString!), token: input.ClientRequestToken, secretId: input.SecretId };
}

function assertNeverOverwrites(): void {
  assert.equal(secretsMock.commandCalls(UpdateSecretCommand).length, 0);
  assert.equal(secretsMock.commandCalls(DeleteSecretCommand).length, 0);
  assert.equal(secretsMock.commandCalls(CreateSecretCommand).length, 0);
  for (const call of secretsMock.commandCalls(PutSecretValueCommand)) assert.equal(call.args[0].input.VersionStages, undefined, 'no staging label moved by hand');
}

const v1 = (materials: unknown[]) => ({ SecretString: JSON.stringify({ format: 'kms-reimport/v1', materials }) });

test('a raw SecretBinary escrow is carried over into v1 JSON, labelled with the current KeyMaterialId; the new entry is pending-import', async () => {
  const old = randomBytes(32);
  const fresh = randomBytes(32);
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(old) });

  const result = await escrowRotationMaterial(secrets, report, config, { rotationId: 'rotation-2026-12-01', material: fresh, description: 'kms-reimport rotation rotation-2026-12-01' }, resolveAlias, retry);

  assert.deepEqual(result, { secretId: SECRET, written: true, versionId: 'v-new' });
  const { doc, token, secretId } = written();
  assert.equal(secretId, SECRET);
  assert.equal(doc.format, 'kms-reimport/v1');
  assert.deepEqual(doc.materials, [
    { keyMaterialId: MATERIAL_ID_A, material: old.toString('base64') },
    { material: fresh.toString('base64'), description: 'kms-reimport rotation rotation-2026-12-01', rotation: 'rotation-2026-12-01', state: 'pending-import' },
  ]);
  assert.equal(token, escrowClientRequestToken(KEY_ID, 'rotation-2026-12-01', 'escrow'));
  assert.ok(fresh.some((b) => b !== 0), 'the caller\'s buffer is the caller\'s: not wiped by the write');
  assertNeverOverwrites();
});

test('every earlier v1 entry is kept, unknown fields included, and the new one appended', async () => {
  const a = randomBytes(32);
  const b = randomBytes(32);
  const fresh = randomBytes(32);
  const twoMaterials = makeReport({
    currentKeyMaterialId: MATERIAL_ID_B,
    materialsListed: true,
    materials: [
      { keyMaterialId: MATERIAL_ID_A, state: 'NON_CURRENT', importState: 'IMPORTED' },
      { keyMaterialId: MATERIAL_ID_B, state: 'CURRENT', importState: 'IMPORTED' },
    ],
  });
  secretsMock.on(GetSecretValueCommand).resolves(
    v1([
      { keyMaterialId: MATERIAL_ID_A, material: a.toString('base64'), importedAt: '2026-01-01T00:00:00Z', rotation: 'first', note: 'kept' },
      { keyMaterialId: MATERIAL_ID_B, material: b.toString('base64'), description: 'second' },
    ]),
  );

  await escrowRotationMaterial(secrets, twoMaterials, config, { rotationId: 'third', material: fresh }, resolveAlias, retry);

  const { doc } = written();
  assert.deepEqual(doc.materials, [
    { note: 'kept', keyMaterialId: MATERIAL_ID_A, material: a.toString('base64'), importedAt: '2026-01-01T00:00:00Z', rotation: 'first' },
    { keyMaterialId: MATERIAL_ID_B, material: b.toString('base64'), description: 'second' },
    { material: fresh.toString('base64'), rotation: 'third', state: 'pending-import' },
  ]);
  assertNeverOverwrites();
});

test('ClientRequestToken: sha256 hex of key, rotation and step: the same write retried is the same version', () => {
  const token = escrowClientRequestToken(KEY_ID, 'r1', 'escrow');
  assert.match(token, /^[0-9a-f]{64}$/);
  assert.equal(escrowClientRequestToken(KEY_ID, 'r1', 'escrow'), token);
  assert.notEqual(escrowClientRequestToken(KEY_ID, 'r2', 'escrow'), token);
  assert.notEqual(escrowClientRequestToken(KEY_ID, 'r1', 'record'), token);
  assert.notEqual(escrowClientRequestToken('5678abcd-12ab-34cd-56ef-1234567890ab', 'r1', 'escrow'), token);
});

test('a throttled PutSecretValue is retried with the same token and the same content', async () => {
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(randomBytes(32)) });
  secretsMock.on(PutSecretValueCommand).rejectsOnce(awsError('ThrottlingException')).resolves({ VersionId: 'v-new' });
  await escrowRotationMaterial(secrets, report, config, { rotationId: 'r1', material: randomBytes(32) }, resolveAlias, retry);
  const [first, second] = secretsMock.commandCalls(PutSecretValueCommand).map((c) => c.args[0].input);
  assert.ok(first && second);
  assert.equal(first.ClientRequestToken, second.ClientRequestToken);
  assert.equal(first.SecretString, second.SecretString);
});

test('an escrow that already holds this rotation is not written again; one holding another pending rotation is refused', async () => {
  const pending = { material: randomBytes(32).toString('base64'), rotation: 'earlier', state: 'pending-import' };
  secretsMock.on(GetSecretValueCommand).resolves(v1([{ keyMaterialId: MATERIAL_ID_A, material: randomBytes(32).toString('base64') }, pending]));
  assert.deepEqual(await escrowRotationMaterial(secrets, report, config, { rotationId: 'earlier', material: randomBytes(32) }, resolveAlias, retry), { secretId: SECRET, written: false });
  await assert.rejects(escrowRotationMaterial(secrets, report, config, { rotationId: 'later', material: randomBytes(32) }, resolveAlias, retry), (e: unknown) => {
    assert.ok(e instanceof EscrowInvalid);
    assert.match(e.message, /not yet imported.*finished/);
    return true;
  });
  assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length, 0);
});

test('a rotation ID whose material was already imported is refused: one ID, one rotation (never a second material under it)', async () => {
  secretsMock.on(GetSecretValueCommand).resolves(
    v1([
      { keyMaterialId: MATERIAL_ID_A, material: randomBytes(32).toString('base64'), rotation: 'x', importedAt: '2026-11-01T00:00:00.000Z' },
    ]),
  );
  await assert.rejects(escrowRotationMaterial(secrets, report, config, { rotationId: 'x', material: randomBytes(32) }, resolveAlias, retry), (e: unknown) => {
    assert.ok(e instanceof EscrowInvalid);
    assert.match(e.message, /Rotation ID x was already used/);
    assert.ok(e.message.includes(KEY_ID));
    return true;
  });
  assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length, 0);
});

test('an escrow secret encrypted under the key itself is refused before anything is written (the new material would be unreadable when needed)', async () => {
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(randomBytes(32)) });
  for (const kmsKeyId of [KEY_ID, report.arn]) {
    secretsMock.on(DescribeSecretCommand).resolves({ Name: SECRET, KmsKeyId: kmsKeyId });
    await assert.rejects(escrowRotationMaterial(secrets, report, config, { rotationId: 'r1', material: randomBytes(32) }, resolveAlias, retry), (e: unknown) => {
      assert.ok(e instanceof EscrowInvalid);
      assert.match(e.message, /encrypted under key .* itself/);
      return true;
    });
  }
  assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length, 0);
});

test('an escrow secret encrypted under an alias naming the key itself (name or ARN) is refused, nothing written; an alias of another key is written', async () => {
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(randomBytes(32)) });
  const OTHER_KEY = '99999999-8888-7777-6666-555555555555';
  kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/my-key' }).resolves({ KeyMetadata: { KeyId: KEY_ID, Arn: report.arn } });
  kmsMock.on(DescribeKeyCommand, { KeyId: 'arn:aws:kms:us-east-1:111122223333:alias/my-key' }).resolves({ KeyMetadata: { KeyId: KEY_ID, Arn: report.arn } });
  kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/escrow' }).resolves({ KeyMetadata: { KeyId: OTHER_KEY } });
  for (const kmsKeyId of ['alias/my-key', 'arn:aws:kms:us-east-1:111122223333:alias/my-key']) {
    secretsMock.on(DescribeSecretCommand).resolves({ Name: SECRET, KmsKeyId: kmsKeyId });
    await assert.rejects(escrowRotationMaterial(secrets, report, config, { rotationId: 'r1', material: randomBytes(32) }, resolveAlias, retry), (e: unknown) => {
      assert.ok(e instanceof EscrowInvalid);
      assert.match(e.message, new RegExp(`encrypted under key ${KEY_ID} itself \\(KmsKeyId ${kmsKeyId}\\)`));
      assert.match(e.message, /Nothing was written/);
      return true;
    });
  }
  assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length, 0);
  assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 0, 'refused before the value is read');
  assert.deepEqual(
    kmsMock.commandCalls(DescribeKeyCommand).map((c) => c.args[0].input.KeyId),
    ['alias/my-key', 'arn:aws:kms:us-east-1:111122223333:alias/my-key'],
  );

  secretsMock.on(DescribeSecretCommand).resolves({ Name: SECRET, KmsKeyId: 'alias/escrow' });
  const result = await escrowRotationMaterial(secrets, report, config, { rotationId: 'r1', material: randomBytes(32) }, resolveAlias, retry);
  assert.equal(result.written, true);
  assertNeverOverwrites();
});

test('an alias on the escrow secret that names no key, or cannot be resolved, is refused: new material goes only where it is known to be readable', async () => {
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(randomBytes(32)) });
  kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/gone' }).rejects(awsError('NotFoundException'));
  kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/broken' }).rejects(awsError('KMSInternalException', 500));
  for (const [alias, why] of [
    ['alias/gone', /points at no key/],
    ['alias/broken', /could not be resolved/],
  ] as const) {
    secretsMock.on(DescribeSecretCommand).resolves({ Name: SECRET, KmsKeyId: alias });
    await assert.rejects(escrowRotationMaterial(secrets, report, config, { rotationId: 'r1', material: randomBytes(32) }, resolveAlias, retry), (e: unknown) => {
      assert.ok(e instanceof EscrowInvalid);
      assert.match(e.message, why);
      assert.match(e.message, /Nothing was written/);
      return true;
    });
  }
  assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length, 0);
  // aws/secretsmanager (by alias) never holds imported material: not resolved, written.
  secretsMock.on(DescribeSecretCommand).resolves({ Name: SECRET, KmsKeyId: 'alias/aws/secretsmanager' });
  kmsMock.resetHistory();
  assert.equal((await escrowRotationMaterial(secrets, report, config, { rotationId: 'r1', material: randomBytes(32) }, resolveAlias, retry)).written, true);
  assert.equal(kmsMock.commandCalls(DescribeKeyCommand).length, 0);
});

test('the escrow write describes the secret once: the self-encryption check and the binding check of a tag-named secret share one DescribeSecret', async () => {
  const TAGGED = 'team/escrow-for-my-key';
  const tagged = { ...report, tags: { ...report.tags, [config.escrowTagKey]: TAGGED } };
  secretsMock.on(DescribeSecretCommand, { SecretId: TAGGED }).resolves({ Name: TAGGED, Tags: [{ Key: ESCROW_KEY_ID_TAG, Value: KEY_ID }] });
  secretsMock.on(GetSecretValueCommand, { SecretId: TAGGED }).resolves({ SecretBinary: new Uint8Array(randomBytes(32)) });
  const result = await escrowRotationMaterial(secrets, tagged, config, { rotationId: 'r1', material: randomBytes(32) }, resolveAlias, retry);
  assert.deepEqual(result, { secretId: TAGGED, written: true, versionId: 'v-new' });
  assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 1, 'one DescribeSecret per write');
  assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 1);
  assert.equal(written().secretId, TAGGED);

  // The binding is still checked on those facts: a tag-named secret without the binding tag is never read nor written.
  secretsMock.resetHistory();
  secretsMock.on(DescribeSecretCommand, { SecretId: TAGGED }).resolves({ Name: TAGGED, Tags: [] });
  await assert.rejects(escrowRotationMaterial(secrets, tagged, config, { rotationId: 'r2', material: randomBytes(32) }, resolveAlias, retry), EscrowInvalid);
  assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 1);
  assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 0);
  assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length, 0);
});

test('a raw escrow cannot be labelled when KMS names no current material: refused, nothing written', async () => {
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(randomBytes(32)) });
  const unnamed = makeReport({ materials: [] });
  await assert.rejects(escrowRotationMaterial(secrets, unnamed, config, { rotationId: 'r1', material: randomBytes(32) }, resolveAlias, retry), EscrowInvalid);
  assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length, 0);
});

test('recordImportedMaterial: the pending entry gets the KeyMaterialId KMS returned, in another new version', async () => {
  const a = randomBytes(32);
  const fresh = randomBytes(32);
  secretsMock.on(GetSecretValueCommand).resolves(
    v1([
      { keyMaterialId: MATERIAL_ID_A, material: a.toString('base64') },
      { material: fresh.toString('base64'), rotation: 'r1', state: 'pending-import', description: 'd' },
    ]),
  );
  await recordImportedMaterial(secrets, report, config, { rotationId: 'r1', keyMaterialId: MATERIAL_ID_B.toUpperCase(), importedAt: '2026-12-01T00:00:00.000Z' }, retry);
  const { doc, token } = written();
  assert.deepEqual(doc.materials, [
    { keyMaterialId: MATERIAL_ID_A, material: a.toString('base64') },
    { keyMaterialId: MATERIAL_ID_B, material: fresh.toString('base64'), description: 'd', importedAt: '2026-12-01T00:00:00.000Z', rotation: 'r1' },
  ]);
  assert.equal(token, escrowClientRequestToken(KEY_ID, 'r1', 'record'));
  assertNeverOverwrites();
});

test('recordImportedMaterial: already recorded → nothing written; recorded with another ID or no such rotation → refused', async () => {
  const entries = [
    { keyMaterialId: MATERIAL_ID_A, material: randomBytes(32).toString('base64') },
    { keyMaterialId: MATERIAL_ID_B, material: randomBytes(32).toString('base64'), rotation: 'r1' },
  ];
  secretsMock.on(GetSecretValueCommand).resolves(v1(entries));
  const input = { rotationId: 'r1', keyMaterialId: MATERIAL_ID_B, importedAt: '2026-12-01T00:00:00Z' };
  assert.equal((await recordImportedMaterial(secrets, report, config, input, retry)).written, false);
  await assert.rejects(recordImportedMaterial(secrets, report, config, { ...input, keyMaterialId: 'c'.repeat(64) }, retry), EscrowInvalid);
  await assert.rejects(recordImportedMaterial(secrets, report, config, { ...input, rotationId: 'r9' }, retry), EscrowMissing);
  assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length, 0);
});

test('a failed PutSecretValue is EscrowWriteFailed with the next step, never the material', async () => {
  const fresh = randomBytes(32);
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(randomBytes(32)) });
  secretsMock.on(PutSecretValueCommand).rejects(awsError('AccessDeniedException'));
  await assert.rejects(escrowRotationMaterial(secrets, report, config, { rotationId: 'r1', material: fresh }, resolveAlias, retry), (e: unknown) => {
    assert.ok(e instanceof EscrowWriteFailed);
    assert.match(e.message, /secretsmanager:PutSecretValue/);
    assert.equal(e.cause, undefined, 'no SDK error (which may quote the request) kept as cause');
    assertNoMaterial(e.message, fresh, 'EscrowWriteFailed');
    return true;
  });
});

test('a pending-import entry is never served as a material of the key', () => {
  const current = randomBytes(32);
  const pending = randomBytes(32);
  const ctx = { keyId: KEY_ID, secretId: SECRET };
  const entries = parseEscrowSecret(
    v1([
      { material: current.toString('base64') },
      { material: pending.toString('base64'), rotation: 'r1', state: 'pending-import' },
    ]),
    ctx,
  );
  assert.equal(entries.length, 2, 'a pending entry does not count as a second entry without keyMaterialId');
  assert.ok(selectEscrowedMaterial(entries, report, SECRET).material.equals(current));
  assert.ok(selectEscrowedMaterial(entries, report, SECRET, MATERIAL_ID_A).material.equals(current));
  // A material KMS names that escrow does not label: refused, never the pending entry.
  const rotated = makeReport({ currentKeyMaterialId: MATERIAL_ID_B, materials: [{ keyMaterialId: MATERIAL_ID_A }, { keyMaterialId: MATERIAL_ID_B }] });
  const onlyPendingAndOld = parseEscrowSecret(
    v1([
      { keyMaterialId: MATERIAL_ID_A, material: current.toString('base64') },
      { material: pending.toString('base64'), rotation: 'r1', state: 'pending-import' },
    ]),
    ctx,
  );
  assert.throws(() => selectEscrowedMaterial(onlyPendingAndOld, rotated, SECRET), EscrowMissing);
  assert.throws(() => selectEscrowedMaterial(onlyPendingAndOld, rotated, SECRET, MATERIAL_ID_B), EscrowMissing);
  assert.throws(() => parseEscrowSecret(v1([{ keyMaterialId: MATERIAL_ID_A, material: current.toString('base64'), state: 'pending-import' }]), ctx), EscrowInvalid);
  assert.throws(() => parseEscrowSecret(v1([{ material: current.toString('base64'), state: 'imported' }]), ctx), EscrowInvalid);
});

test('labelKeyMaterial: the one raw material of a new key (alias swap) carried over into v1 JSON with its KeyMaterialId, the rotation and the import time; once', async () => {
  const material = randomBytes(32);
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(material) });
  const result = await labelKeyMaterial(secrets, report, config, { rotationId: 'rotation-2026-12-01', keyMaterialId: MATERIAL_ID_B.toUpperCase(), importedAt: '2026-12-01T00:00:00.000Z' }, retry);
  assert.deepEqual(result, { secretId: SECRET, written: true, versionId: 'v-new' });
  const { doc, token } = written();
  assert.deepEqual(doc.materials, [{ keyMaterialId: MATERIAL_ID_B, material: material.toString('base64'), rotation: 'rotation-2026-12-01', importedAt: '2026-12-01T00:00:00.000Z' }]);
  assert.equal(token, escrowClientRequestToken(KEY_ID, 'rotation-2026-12-01', 'label'));
  assertNeverOverwrites();

  // Labelled already (a resumed run): nothing written.
  secretsMock.resetHistory();
  secretsMock.on(GetSecretValueCommand).resolves(v1([{ keyMaterialId: MATERIAL_ID_B, material: material.toString('base64') }]));
  assert.deepEqual(await labelKeyMaterial(secrets, report, config, { rotationId: 'rotation-2026-12-01', keyMaterialId: MATERIAL_ID_B }, retry), { secretId: SECRET, written: false });
  assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length, 0);
});

test('labelKeyMaterial refuses an escrow that is not exactly one unlabelled material (another label, two entries): EscrowInvalid, nothing written, no material in the message', async () => {
  const a = randomBytes(32);
  const b = randomBytes(32);
  for (const value of [
    v1([{ keyMaterialId: MATERIAL_ID_A, material: a.toString('base64') }]),
    v1([{ material: a.toString('base64') }, { keyMaterialId: MATERIAL_ID_A, material: b.toString('base64') }]),
  ]) {
    secretsMock.on(GetSecretValueCommand).resolves(value);
    const error = await labelKeyMaterial(secrets, report, config, { rotationId: 'r1', keyMaterialId: MATERIAL_ID_B }, retry).then(
      () => assert.fail('refuses'),
      (e: unknown) => e as EscrowInvalid,
    );
    assert.ok(error instanceof EscrowInvalid);
    assert.match(error.message, /does not hold exactly one unlabelled material/);
    for (const m of [a, b]) assertNoMaterial(error.message, m, 'EscrowInvalid');
  }
  assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length, 0);
  await assert.rejects(labelKeyMaterial(secrets, report, config, { rotationId: 'r1', keyMaterialId: 'not-hex' }, retry), { name: 'EscrowInvalid' });
});
