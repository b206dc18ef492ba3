import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, privateDecrypt, randomBytes } from 'node:crypto';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateMacCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  KMSClient,
  ListKeyRotationsCommand,
  ListResourceTagsCommand,
  SignCommand,
  VerifyCommand,
  VerifyMacCommand,
} from '@aws-sdk/client-kms';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { chooseExpirationModel, computeValidTo, importEscrowedMaterial, verifyAfterImport, verifyKey, verifyUnlessDisabled } from '../../lib/reimport.js';
import { VERIFY_ENCRYPTION_CONTEXT } from '../../lib/kms/verify.js';
import { getImportParameters } from '../../lib/kms/import-parameters.js';
import { DEFAULT_CONFIG, type ReimportConfig } from '../../lib/config.js';
import type { ImportParameters, KeyReport } from '../../lib/types.js';
import { assertNoMaterial, awsError, KEY_ARN, KEY_ID, makeReport, MATERIAL_ID_A, MATERIAL_ID_B, noSleep } from './lib-fixtures.js';

const kmsMock = mockClient(KMSClient);
const secretsMock = mockClient(SecretsManagerClient);
const kms = new KMSClient({ region: 'us-east-1' });
const secrets = new SecretsManagerClient({ region: 'us-east-1' });
const deps = { kms, secrets, sleep: noSleep };

const wrappingPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicKeyDer = wrappingPair.publicKey.export({ format: 'der', type: 'spki' });
const config: ReimportConfig = { ...DEFAULT_CONFIG, maxAttempts: 3, wrappingKeySpec: 'RSA_2048' };
const now = new Date('2027-03-04T05:06:07.891Z');

function params(overrides: Partial<ImportParameters> = {}): ImportParameters {
  return {
    keyId: KEY_ID,
    wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
    wrappingKeySpec: 'RSA_2048',
    publicKey: publicKeyDer.toString('base64'),
    importToken: Buffer.from('import-token-1').toString('base64'),
    parametersValidTo: '2027-03-05T05:06:07.000Z',
    ...overrides,
  };
}

function unwrapOaep(encrypted: Uint8Array): Buffer {
  return privateDecrypt({ key: wrappingPair.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, encrypted);
}

/** Copies of what ImportKeyMaterial was sent (the library wipes its own buffers once the call returns). */
function captureImports(result: { KeyMaterialId?: string } = {}): Buffer[] {
  const seen: Buffer[] = [];
  kmsMock.on(ImportKeyMaterialCommand).callsFake((input) => {
    seen.push(Buffer.from(input.EncryptedKeyMaterial));
    return result;
  });
  return seen;
}

let material: Buffer;
beforeEach(() => {
  kmsMock.reset();
  secretsMock.reset();
  material = randomBytes(32);
});

const pendingReport = (overrides: Partial<KeyReport> = {}) =>
  makeReport({ keyState: 'PendingImport', currentKeyMaterialId: MATERIAL_ID_A, materials: [{ keyMaterialId: MATERIAL_ID_A, state: 'CURRENT', importState: 'PENDING_IMPORT', expirationModel: 'KEY_MATERIAL_EXPIRES' }], ...overrides });

test('importEscrowedMaterial sends the escrowed material wrapped, ExpirationModel explicit, ValidTo on a whole second', async () => {
  const sdkCopy = new Uint8Array(material);
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: sdkCopy });
  const wrapped = captureImports({ KeyMaterialId: MATERIAL_ID_A });

  const result = await importEscrowedMaterial(deps, { report: pendingReport(), params: params(), config, now });

  const expectedValidTo = new Date(Math.floor((now.getTime() + 90 * 86_400_000) / 1000) * 1000);
  assert.deepEqual(result, { keyMaterialId: MATERIAL_ID_A, validTo: expectedValidTo.toISOString(), expirationModel: 'KEY_MATERIAL_EXPIRES' });
  assert.deepEqual(secretsMock.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input), [{ SecretId: `kms-reimport/${KEY_ID}` }]);
  const calls = kmsMock.commandCalls(ImportKeyMaterialCommand);
  assert.equal(calls.length, 1);
  const input = calls[0]!.args[0].input;
  assert.equal(input.KeyId, KEY_ID);
  assert.equal(Buffer.from(input.ImportToken!).toString(), 'import-token-1');
  assert.equal(input.ExpirationModel, 'KEY_MATERIAL_EXPIRES');
  assert.equal(input.ImportType, 'EXISTING_KEY_MATERIAL');
  assert.equal(input.KeyMaterialId, undefined, 'a single-material key needs no KeyMaterialId');
  assert.ok(input.ValidTo instanceof Date);
  assert.equal(input.ValidTo.getTime() % 1000, 0, 'ValidTo is on a whole second');
  assert.equal(input.ValidTo.getTime(), expectedValidTo.getTime());
  assert.ok(unwrapOaep(wrapped[0]!).equals(material), 'the escrowed material, wrapped under the given public key');
  assert.ok(Buffer.from(input.EncryptedKeyMaterial!).every((b) => b === 0), 'the library wiped its wrapped buffer after the call');
  assert.ok(sdkCopy.every((b) => b === 0), 'the SDK copy of the secret was wiped');
});

test('ValidTo is at most 365 days minus one hour ahead (room for a clock running ahead of KMS) and truncated', () => {
  const t = new Date('2027-01-01T00:00:00.999Z');
  assert.equal(computeValidTo(t, 365).toISOString(), '2027-12-31T23:00:00.000Z');
  assert.equal(computeValidTo(t, 1000).toISOString(), '2027-12-31T23:00:00.000Z');
  assert.equal(computeValidTo(t, 364).toISOString(), '2027-12-31T00:00:00.000Z', 'below the cap: exactly the lifetime');
  assert.equal(computeValidTo(t, 1).toISOString(), '2027-01-02T00:00:00.000Z');
});

test('365-day lifetime: ValidTo <= now + 365 days', async () => {
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(material) });
  kmsMock.on(ImportKeyMaterialCommand).resolves({});
  await importEscrowedMaterial(deps, { report: pendingReport(), params: params(), config: { ...config, materialLifetimeDays: 365 }, now });
  const validTo = kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input.ValidTo!;
  assert.ok(validTo.getTime() <= now.getTime() + 365 * 86_400_000 - 3_600_000, 'an hour inside the limit');
  assert.ok(validTo.getTime() > now.getTime() + 364 * 86_400_000);
});

test('ExpirationModel follows the material, the key, or the config; DOES_NOT_EXPIRE sends no ValidTo', async () => {
  const cases: Array<[string, KeyReport, ReimportConfig, string]> = [
    ['key does not expire', pendingReport({ expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', materials: [] }), config, 'KEY_MATERIAL_DOES_NOT_EXPIRE'],
    [
      'material model wins over key model',
      pendingReport({ expirationModel: 'KEY_MATERIAL_EXPIRES', materials: [{ keyMaterialId: MATERIAL_ID_A, importState: 'PENDING_IMPORT', expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }] }),
      config,
      'KEY_MATERIAL_DOES_NOT_EXPIRE',
    ],
    ['config wins', pendingReport({ expirationModel: 'KEY_MATERIAL_EXPIRES' }), { ...config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }, 'KEY_MATERIAL_DOES_NOT_EXPIRE'],
    ['unknown model: KMS default, explicit', pendingReport({ expirationModel: undefined, materials: [] }), config, 'KEY_MATERIAL_EXPIRES'],
  ];
  for (const [label, report, cfg, model] of cases) {
    kmsMock.reset();
    secretsMock.reset();
    secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(material) });
    kmsMock.on(ImportKeyMaterialCommand).resolves({});
    const result = await importEscrowedMaterial(deps, { report, params: params(), config: cfg, now });
    const input = kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input;
    assert.equal(input.ExpirationModel, model, label);
    assert.equal(result.expirationModel, model, label);
    assert.equal(input.ValidTo === undefined, model === 'KEY_MATERIAL_DOES_NOT_EXPIRE', `${label}: ValidTo only with KEY_MATERIAL_EXPIRES`);
    assert.equal(result.validTo === undefined, model === 'KEY_MATERIAL_DOES_NOT_EXPIRE', label);
  }
});

test('KeyMaterialId is sent when one is named or the key holds several; ImportType only for symmetric keys with material', async () => {
  const a = randomBytes(32);
  const b = randomBytes(32);
  const escrowJson = JSON.stringify({
    format: 'kms-reimport/v1',
    materials: [
      { keyMaterialId: MATERIAL_ID_A, material: a.toString('base64') },
      { keyMaterialId: MATERIAL_ID_B, material: b.toString('base64') },
    ],
  });
  const several = pendingReport({
    currentKeyMaterialId: MATERIAL_ID_B,
    materials: [
      { keyMaterialId: MATERIAL_ID_A, state: 'NON_CURRENT', importState: 'PENDING_IMPORT' },
      { keyMaterialId: MATERIAL_ID_B, state: 'CURRENT', importState: 'IMPORTED' },
    ],
  });
  secretsMock.on(GetSecretValueCommand).resolves({ SecretString: escrowJson });
  const wrapped = captureImports();

  const named = await importEscrowedMaterial(deps, { report: several, params: params(), keyMaterialId: MATERIAL_ID_A, config, now });
  const current = await importEscrowedMaterial(deps, { report: several, params: params(), config, now });
  const [first, second] = kmsMock.commandCalls(ImportKeyMaterialCommand).map((c) => c.args[0].input);
  assert.equal(first!.KeyMaterialId, MATERIAL_ID_A);
  assert.ok(unwrapOaep(wrapped[0]!).equals(a), 'material A for id A');
  assert.equal(named.keyMaterialId, MATERIAL_ID_A);
  assert.equal(second!.KeyMaterialId, MATERIAL_ID_B, 'several materials, none named: the current one, by id');
  assert.ok(unwrapOaep(wrapped[1]!).equals(b));
  assert.equal(current.keyMaterialId, MATERIAL_ID_B);

  kmsMock.reset();
  kmsMock.on(ImportKeyMaterialCommand).resolves({});
  secretsMock.reset();
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(randomBytes(64)) });
  await importEscrowedMaterial(deps, { report: makeReport({ keyState: 'PendingImport', keySpec: 'HMAC_512', keyUsage: 'GENERATE_VERIFY_MAC', currentKeyMaterialId: MATERIAL_ID_A }), params: params(), config, now });
  secretsMock.reset();
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(material) });
  await importEscrowedMaterial(deps, { report: makeReport({ keyState: 'PendingImport', materials: [], currentKeyMaterialId: undefined }), params: params(), config, now });
  const [hmac, neverImported] = kmsMock.commandCalls(ImportKeyMaterialCommand).map((c) => c.args[0].input);
  assert.equal(hmac!.ImportType, undefined, 'ImportType is for symmetric encryption keys only');
  assert.equal(hmac!.KeyMaterialId, undefined);
  assert.equal(neverImported!.ImportType, undefined, 'no sign of earlier material: let KMS choose');
});

test('importEscrowedMaterial maps KMS errors to named errors and never retries token or material errors', async () => {
  const cases: Array<[string, KeyReport, string, RegExp]> = [
    ['ExpiredImportTokenException', pendingReport(), 'ImportTokenExpired', /new import parameters/],
    ['InvalidImportTokenException', pendingReport(), 'ImportTokenExpired', /new import parameters/],
    ['IncorrectKeyMaterialException', pendingReport(), 'IncorrectKeyMaterial', /no retry and no other material/],
    ['InvalidCiphertextException', pendingReport(), 'WrappingRejected', /OAEP hash.*PEM instead of DER/],
    ['KMSInvalidStateException', makeReport({ keyState: 'Enabled' }), 'RenewalRefused', /Nothing was deleted/],
    ['KMSInvalidStateException', pendingReport(), 'KeyNotEligible', /state/],
    ['NotFoundException', pendingReport(), 'KeyNotFound', /not found/],
    ['UnsupportedOperationException', pendingReport(), 'KeyNotEligible', /does not support/],
    ['ValidationException', pendingReport(), 'ImportRequestInvalid', /ValidTo \(sent: \d{4}-.*ExpirationModel \(sent: KEY_MATERIAL_EXPIRES/],
  ];
  for (const [code, report, name, message] of cases) {
    kmsMock.reset();
    secretsMock.reset();
    secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(material) });
    kmsMock.on(ImportKeyMaterialCommand).rejects(awsError(code));
    await assert.rejects(importEscrowedMaterial(deps, { report, params: params(), config, now }), (e: unknown) => {
      assert.equal((e as Error).name, name, code);
      assert.match((e as Error).message, message, code);
      assert.ok((e as Error).message.includes(KEY_ID), `${code}: names the key`);
      assertNoMaterial((e as Error).message, material, code);
      return true;
    });
    assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 1, `${code}: exactly one ImportKeyMaterial`);
  }
});

test('importEscrowedMaterial retries throttling (bounded) and then reports KmsUnavailable', async () => {
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(material) });
  kmsMock.on(ImportKeyMaterialCommand).rejectsOnce(awsError('ThrottlingException')).resolves({ KeyMaterialId: MATERIAL_ID_A });
  const ok = await importEscrowedMaterial(deps, { report: pendingReport(), params: params(), config, now });
  assert.equal(ok.keyMaterialId, MATERIAL_ID_A);
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 2);

  kmsMock.reset();
  kmsMock.on(ImportKeyMaterialCommand).rejects(awsError('KMSInternalException', 500));
  await assert.rejects(importEscrowedMaterial(deps, { report: pendingReport(), params: params(), config, now }), { name: 'KmsUnavailable' });
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, config.maxAttempts);
});

test('importEscrowedMaterial: bad or missing escrow stops before any import', async () => {
  secretsMock.on(GetSecretValueCommand).rejects(awsError('ResourceNotFoundException'));
  kmsMock.on(ImportKeyMaterialCommand).resolves({});
  await assert.rejects(importEscrowedMaterial(deps, { report: pendingReport(), params: params(), config, now }), { name: 'EscrowMissing' });
  secretsMock.reset();
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(randomBytes(31)) });
  await assert.rejects(importEscrowedMaterial(deps, { report: pendingReport(), params: params(), config, now }), { name: 'EscrowInvalid' });
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
});

test('getImportParameters asks for the chosen wrapping and returns base64 fields', async () => {
  const token = randomBytes(64);
  kmsMock.on(GetParametersForImportCommand).resolves({ KeyId: KEY_ARN, PublicKey: publicKeyDer, ImportToken: token, ParametersValidTo: new Date('2027-03-05T00:00:00Z') });
  const out = await getImportParameters(kms, KEY_ID, { wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256', wrappingKeySpec: 'RSA_4096' }, { maxAttempts: 2, baseDelayMs: 1, sleep: noSleep });
  assert.deepEqual(kmsMock.commandCalls(GetParametersForImportCommand).map((c) => c.args[0].input), [
    { KeyId: KEY_ID, WrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256', WrappingKeySpec: 'RSA_4096' },
  ]);
  assert.deepEqual(out, {
    keyId: KEY_ID,
    wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256',
    wrappingKeySpec: 'RSA_4096',
    publicKey: publicKeyDer.toString('base64'),
    importToken: token.toString('base64'),
    parametersValidTo: '2027-03-05T00:00:00.000Z',
  });
});

test('getImportParameters maps errors and retries throttling', async () => {
  kmsMock.on(GetParametersForImportCommand).rejects(awsError('UnsupportedOperationException'));
  await assert.rejects(getImportParameters(kms, KEY_ID, { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_4096' }), { name: 'KeyNotEligible' });
  kmsMock.reset();
  kmsMock.on(GetParametersForImportCommand).rejects(awsError('ThrottlingException'));
  await assert.rejects(getImportParameters(kms, KEY_ID, { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_4096' }, { maxAttempts: 4, baseDelayMs: 1, sleep: noSleep }), { name: 'KmsUnavailable' });
  assert.equal(kmsMock.commandCalls(GetParametersForImportCommand).length, 4);
});

const enabled = { KeyMetadata: { KeyId: KEY_ID, KeyState: 'Enabled' as const } };
const retry = { maxAttempts: 3, baseDelayMs: 1, sleep: noSleep };

test('verifyKey: symmetric Encrypt/Decrypt round trip', async () => {
  kmsMock.on(DescribeKeyCommand).resolves(enabled);
  kmsMock.on(EncryptCommand).callsFake((input) => ({ CiphertextBlob: Buffer.concat([Buffer.from('ct'), Buffer.from(input.Plaintext)]) }));
  kmsMock.on(DecryptCommand).callsFake((input) => ({ Plaintext: Buffer.from(input.CiphertextBlob).subarray(2) }));
  const out = await verifyKey(kms, makeReport(), retry);
  assert.deepEqual(out, { verified: true, keyState: 'Enabled', check: 'Encrypt/Decrypt SYMMETRIC_DEFAULT' });
  assert.equal(kmsMock.commandCalls(EncryptCommand)[0]!.args[0].input.KeyId, KEY_ID);
  assert.equal(kmsMock.commandCalls(DecryptCommand)[0]!.args[0].input.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
  // The context the verify role's IAM condition requires (kms:EncryptionContext:kms-reimport:probe = verify).
  assert.deepEqual(kmsMock.commandCalls(EncryptCommand)[0]!.args[0].input.EncryptionContext, { 'kms-reimport:probe': 'verify' });
  assert.deepEqual(kmsMock.commandCalls(DecryptCommand)[0]!.args[0].input.EncryptionContext, { 'kms-reimport:probe': 'verify' });
  assert.deepEqual(VERIFY_ENCRYPTION_CONTEXT, { 'kms-reimport:probe': 'verify' });
});

test('verifyKey: RSA encryption keys use RSAES_OAEP_SHA_256', async () => {
  kmsMock.on(DescribeKeyCommand).resolves(enabled);
  kmsMock.on(EncryptCommand).callsFake((input) => ({ CiphertextBlob: Buffer.from(input.Plaintext) }));
  kmsMock.on(DecryptCommand).callsFake((input) => ({ Plaintext: Buffer.from(input.CiphertextBlob) }));
  const out = await verifyKey(kms, makeReport({ keySpec: 'RSA_3072' }), retry);
  assert.equal(out.check, 'Encrypt/Decrypt RSAES_OAEP_SHA_256');
  assert.equal(kmsMock.commandCalls(EncryptCommand)[0]!.args[0].input.EncryptionAlgorithm, 'RSAES_OAEP_SHA_256');
  // KMS accepts an encryption context with symmetric keys only.
  assert.equal(kmsMock.commandCalls(EncryptCommand)[0]!.args[0].input.EncryptionContext, undefined);
  assert.equal(kmsMock.commandCalls(DecryptCommand)[0]!.args[0].input.EncryptionContext, undefined);
});

test('verifyKey: Sign/Verify with the first signing algorithm, GenerateMac/VerifyMac for HMAC', async () => {
  kmsMock.on(DescribeKeyCommand).resolves(enabled);
  kmsMock.on(SignCommand).resolves({ Signature: Buffer.from('sig') });
  kmsMock.on(VerifyCommand).resolves({ SignatureValid: true });
  kmsMock.on(GenerateMacCommand).resolves({ Mac: Buffer.from('mac') });
  kmsMock.on(VerifyMacCommand).resolves({ MacValid: true });
  const signed = await verifyKey(kms, makeReport({ keySpec: 'ECC_NIST_P384', keyUsage: 'SIGN_VERIFY', signingAlgorithms: ['ECDSA_SHA_384'] }), retry);
  assert.equal(signed.check, 'Sign/Verify ECDSA_SHA_384');
  assert.equal(kmsMock.commandCalls(VerifyCommand)[0]!.args[0].input.SigningAlgorithm, 'ECDSA_SHA_384');
  assert.equal(Buffer.from(kmsMock.commandCalls(VerifyCommand)[0]!.args[0].input.Signature!).toString(), 'sig');
  const fallback = await verifyKey(kms, makeReport({ keySpec: 'RSA_2048', keyUsage: 'SIGN_VERIFY' }), retry);
  assert.equal(fallback.check, 'Sign/Verify RSASSA_PSS_SHA_256');
  const mac = await verifyKey(kms, makeReport({ keySpec: 'HMAC_384', keyUsage: 'GENERATE_VERIFY_MAC' }), retry);
  assert.equal(mac.check, 'GenerateMac/VerifyMac HMAC_SHA_384');
});

test('verifyKey fails with VerificationFailed when the key is not Enabled or the round trip does not hold', async () => {
  kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: KEY_ID, KeyState: 'Disabled' } });
  await assert.rejects(verifyKey(kms, makeReport(), retry), (e: unknown) => (e as Error).name === 'VerificationFailed' && /Disabled/.test((e as Error).message));

  kmsMock.reset();
  kmsMock.on(DescribeKeyCommand).resolves(enabled);
  kmsMock.on(EncryptCommand).resolves({ CiphertextBlob: Buffer.from('x') });
  kmsMock.on(DecryptCommand).resolves({ Plaintext: Buffer.from('something else entirely, 32 byt') });
  await assert.rejects(verifyKey(kms, makeReport(), retry), { name: 'VerificationFailed' });

  kmsMock.reset();
  kmsMock.on(DescribeKeyCommand).resolves(enabled);
  kmsMock.on(SignCommand).resolves({ Signature: Buffer.from('sig') });
  kmsMock.on(VerifyCommand).resolves({ SignatureValid: false });
  await assert.rejects(verifyKey(kms, makeReport({ keySpec: 'ECC_NIST_P256', keyUsage: 'SIGN_VERIFY' }), retry), { name: 'VerificationFailed' });

  kmsMock.reset();
  kmsMock.on(DescribeKeyCommand).resolves(enabled);
  kmsMock.on(EncryptCommand).rejects(awsError('KMSInvalidStateException'));
  await assert.rejects(verifyKey(kms, makeReport(), retry), (e: unknown) => (e as Error).name === 'VerificationFailed' && /KMSInvalidStateException/.test((e as Error).message));
});

test('verifyKey waits (bounded) while KMS still reports PendingImport right after the import', async () => {
  kmsMock.on(DescribeKeyCommand).resolvesOnce({ KeyMetadata: { KeyId: KEY_ID, KeyState: 'PendingImport' } }).resolves(enabled);
  kmsMock.on(EncryptCommand).callsFake((input) => ({ CiphertextBlob: Buffer.from(input.Plaintext) }));
  kmsMock.on(DecryptCommand).callsFake((input) => ({ Plaintext: Buffer.from(input.CiphertextBlob) }));
  assert.equal((await verifyKey(kms, makeReport(), retry)).verified, true);
  assert.equal(kmsMock.commandCalls(DescribeKeyCommand).length, 2);

  kmsMock.reset();
  kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: KEY_ID, KeyState: 'PendingImport' } });
  await assert.rejects(verifyKey(kms, makeReport(), retry), (e: unknown) => (e as Error).name === 'VerificationFailed' && /another material may still be missing/.test((e as Error).message));
  assert.equal(kmsMock.commandCalls(DescribeKeyCommand).length, 3);
});

test('importEscrowedMaterial zero-fills the plaintext buffers it decoded (JSON escrow), also when the import fails', async () => {
  const original = Buffer.prototype.fill;
  const wipedContents: Buffer[] = [];
  const spy = function (this: Buffer, ...args: Parameters<Buffer['fill']>) {
    if (args[0] === 0) wipedContents.push(Buffer.from(this));
    const result = original.apply(this, args);
    return result;
  };
  for (const outcome of ['ok', 'IncorrectKeyMaterialException'] as const) {
    kmsMock.reset();
    secretsMock.reset();
    wipedContents.length = 0;
    secretsMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ format: 'kms-reimport/v1', materials: [{ material: material.toString('base64') }] }) });
    if (outcome === 'ok') kmsMock.on(ImportKeyMaterialCommand).resolves({});
    else kmsMock.on(ImportKeyMaterialCommand).rejects(awsError(outcome));
    Buffer.prototype.fill = spy as typeof original;
    try {
      await importEscrowedMaterial(deps, { report: pendingReport(), params: params(), config, now }).catch(() => undefined);
    } finally {
      Buffer.prototype.fill = original;
    }
    assert.ok(wipedContents.some((b) => b.equals(material)), `${outcome}: the decoded material buffer was zero-filled`);
  }
});

test('verifyUnlessDisabled: a Disabled key is reported (verified false) with no round trip; other states as verifyKey', async () => {
  kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: KEY_ID, KeyState: 'Disabled' } });
  kmsMock.on(EncryptCommand).rejects(new Error('no round trip on a disabled key'));
  assert.deepEqual(await verifyUnlessDisabled(kms, makeReport(), retry), { verified: false, keyState: 'Disabled' });
  assert.equal(kmsMock.commandCalls(EncryptCommand).length, 0);
  assert.equal(kmsMock.commandCalls(DescribeKeyCommand).length, 1);

  kmsMock.reset();
  kmsMock.on(DescribeKeyCommand).resolves(enabled);
  kmsMock.on(EncryptCommand).callsFake((input) => ({ CiphertextBlob: Buffer.from(input.Plaintext) }));
  kmsMock.on(DecryptCommand).callsFake((input) => ({ Plaintext: Buffer.from(input.CiphertextBlob) }));
  assert.deepEqual(await verifyUnlessDisabled(kms, makeReport(), retry), { verified: true, keyState: 'Enabled', check: 'Encrypt/Decrypt SYMMETRIC_DEFAULT' });

  kmsMock.reset();
  kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: KEY_ID, KeyState: 'Unavailable' } });
  await assert.rejects(verifyUnlessDisabled(kms, makeReport(), retry), { name: 'VerificationFailed' });
});

test('a symmetric Multi-Region replica always gets ImportType EXISTING_KEY_MATERIAL (its material is the primary\'s), even with nothing imported yet', async () => {
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(material) });
  kmsMock.on(ImportKeyMaterialCommand).resolves({});
  const fresh = { keyState: 'PendingImport', materials: [], currentKeyMaterialId: undefined, multiRegion: true };
  await importEscrowedMaterial(deps, { report: makeReport({ ...fresh, multiRegionKeyType: 'REPLICA' }), params: params(), config, now });
  await importEscrowedMaterial(deps, { report: makeReport({ ...fresh, multiRegionKeyType: 'PRIMARY' }), params: params(), config, now });
  await importEscrowedMaterial(deps, {
    report: makeReport({ ...fresh, multiRegionKeyType: 'REPLICA', keySpec: 'HMAC_256', keyUsage: 'GENERATE_VERIFY_MAC' }),
    params: params(),
    config,
    now,
  });
  const [replica, primary, hmacReplica] = kmsMock.commandCalls(ImportKeyMaterialCommand).map((c) => c.args[0].input);
  assert.equal(replica!.ImportType, 'EXISTING_KEY_MATERIAL');
  assert.equal(primary!.ImportType, undefined, 'a primary with nothing imported: KMS chooses');
  assert.equal(hmacReplica!.ImportType, undefined, 'ImportType is for symmetric encryption keys only');
});

test('follow-key with an unknown previous ExpirationModel: the fallback stays, and the run\'s logger gets a warning naming the assumption and the setting', async () => {
  const warnings: Array<{ message: string; extra?: object }> = [];
  const logger = { warn: (message: string, extra?: object) => void warnings.push({ message, ...(extra ? { extra } : {}) }) };
  const run = async (report: KeyReport, keyMaterialId?: string, cfg: ReimportConfig = config) => {
    kmsMock.reset();
    secretsMock.reset();
    secretsMock.on(GetSecretValueCommand).resolves({
      SecretString: JSON.stringify({ format: 'kms-reimport/v1', materials: [{ keyMaterialId: MATERIAL_ID_A, material: material.toString('base64') }, { material: material.toString('base64') }] }),
    });
    kmsMock.on(ImportKeyMaterialCommand).resolves({});
    await importEscrowedMaterial({ ...deps, logger }, { report, params: params(), ...(keyMaterialId ? { keyMaterialId } : {}), config: cfg, now });
    return kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input.ExpirationModel;
  };

  // Nothing reported at all: KMS's default, with a warning.
  const unknown = pendingReport({ expirationModel: undefined, materials: [{ keyMaterialId: MATERIAL_ID_A, state: 'CURRENT', importState: 'PENDING_IMPORT' }], currentKeyMaterialId: MATERIAL_ID_A });
  assert.equal(await run(unknown), 'KEY_MATERIAL_EXPIRES');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!.message, new RegExp(KEY_ID));
  assert.match(warnings[0]!.message, /assumed KEY_MATERIAL_EXPIRES/);
  assert.match(warnings[0]!.message, /KMS_REIMPORT_EXPIRATION_MODEL/);
  assert.deepEqual(warnings[0]!.extra, { keyId: KEY_ID, keyMaterialId: MATERIAL_ID_A, assumedExpirationModel: 'KEY_MATERIAL_EXPIRES', source: 'default' });
  assertNoMaterial(JSON.stringify(warnings), material, 'warning');

  // A non-current material whose own model is unknown: the key's (current material's) model is a guess too.
  warnings.length = 0;
  const rotated = pendingReport({
    expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
    currentKeyMaterialId: MATERIAL_ID_B,
    materials: [
      { keyMaterialId: MATERIAL_ID_A, state: 'NON_CURRENT', importState: 'PENDING_IMPORT' },
      { keyMaterialId: MATERIAL_ID_B, state: 'CURRENT', importState: 'IMPORTED', expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' },
    ],
  });
  assert.equal(await run(rotated, MATERIAL_ID_A), 'KEY_MATERIAL_DOES_NOT_EXPIRE');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!.message, /the key's DescribeKey model/);
  assert.deepEqual(chooseExpirationModel(config, rotated, MATERIAL_ID_A), { model: 'KEY_MATERIAL_DOES_NOT_EXPIRE', source: 'key', assumed: true });

  // Known models, or a configured one: no warning.
  warnings.length = 0;
  assert.equal(await run(rotated, MATERIAL_ID_B), 'KEY_MATERIAL_DOES_NOT_EXPIRE');
  assert.equal(await run(pendingReport({ expirationModel: 'KEY_MATERIAL_EXPIRES', materials: [] })), 'KEY_MATERIAL_EXPIRES');
  assert.equal(await run(unknown, undefined, { ...config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }), 'KEY_MATERIAL_DOES_NOT_EXPIRE');
  assert.deepEqual(warnings, []);
});

test('verifyAfterImport: the round trip goes first, no DescribeKey when it holds', async () => {
  kmsMock.on(DescribeKeyCommand).rejects(new Error('no DescribeKey before the probe'));
  kmsMock.on(EncryptCommand).callsFake((input) => ({ CiphertextBlob: Buffer.concat([Buffer.from('ct:'), Buffer.from(input.Plaintext)]) }));
  kmsMock.on(DecryptCommand).callsFake((input) => ({ Plaintext: Buffer.from(input.CiphertextBlob).subarray(3) }));
  assert.deepEqual(await verifyAfterImport(kms, makeReport(), retry), { verified: true, keyState: 'Enabled', check: 'Encrypt/Decrypt SYMMETRIC_DEFAULT' });
  assert.equal(kmsMock.commandCalls(DescribeKeyCommand).length, 0);
  assert.deepEqual(kmsMock.commandCalls(EncryptCommand)[0]!.args[0].input.EncryptionContext, { ...VERIFY_ENCRYPTION_CONTEXT });

  // HMAC: GenerateMac/VerifyMac, also without DescribeKey.
  kmsMock.reset();
  kmsMock.on(DescribeKeyCommand).rejects(new Error('no DescribeKey before the probe'));
  kmsMock.on(GenerateMacCommand).resolves({ Mac: Buffer.from('mac') });
  kmsMock.on(VerifyMacCommand).resolves({ MacValid: true });
  const hmac = makeReport({ keySpec: 'HMAC_256', keyUsage: 'GENERATE_VERIFY_MAC', macAlgorithms: ['HMAC_SHA_256'] });
  assert.equal((await verifyAfterImport(kms, hmac, retry)).verified, true);
  assert.equal(kmsMock.commandCalls(DescribeKeyCommand).length, 0);
});

test('verifyAfterImport: a probe KMS refuses for the key state is followed by DescribeKey, which names the state', async () => {
  // Disabled: DisabledException, then DescribeKey says Disabled: left as found, no Decrypt.
  kmsMock.on(EncryptCommand).rejects(awsError('DisabledException'));
  kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: KEY_ID, KeyState: 'Disabled' } });
  assert.deepEqual(await verifyAfterImport(kms, makeReport(), retry), { verified: false, keyState: 'Disabled' });
  assert.equal(kmsMock.commandCalls(EncryptCommand).length, 1);
  assert.equal(kmsMock.commandCalls(DescribeKeyCommand).length, 1);
  assert.equal(kmsMock.commandCalls(DecryptCommand).length, 0);

  // Still PendingImport for a moment: waited for (bounded), then the round trip again.
  kmsMock.reset();
  kmsMock.on(EncryptCommand).rejectsOnce(awsError('KMSInvalidStateException')).callsFake((input) => ({ CiphertextBlob: Buffer.from(input.Plaintext) }));
  kmsMock.on(DecryptCommand).callsFake((input) => ({ Plaintext: Buffer.from(input.CiphertextBlob) }));
  kmsMock.on(DescribeKeyCommand).resolvesOnce({ KeyMetadata: { KeyId: KEY_ID, KeyState: 'PendingImport' } }).resolves(enabled);
  assert.deepEqual(await verifyAfterImport(kms, makeReport(), retry), { verified: true, keyState: 'Enabled', check: 'Encrypt/Decrypt SYMMETRIC_DEFAULT' });
  assert.equal(kmsMock.commandCalls(EncryptCommand).length, 2);
  assert.equal(kmsMock.commandCalls(DescribeKeyCommand).length, 2);

  // Any other state: VerificationFailed naming it.
  for (const KeyState of ['PendingImport', 'Unavailable', 'PendingDeletion'] as const) {
    kmsMock.reset();
    kmsMock.on(EncryptCommand).rejects(awsError('KMSInvalidStateException'));
    kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: KEY_ID, KeyState } });
    await assert.rejects(verifyAfterImport(kms, makeReport(), retry), (e: unknown) => {
      assert.equal((e as Error).name, 'VerificationFailed');
      assert.match((e as Error).message, new RegExp(`the key is ${KeyState}, not Enabled`));
      assert.match((e as Error).message, new RegExp(KEY_ID));
      return true;
    });
  }
});

test('verifyAfterImport: a round trip that fails for another reason fails at once, without a DescribeKey', async () => {
  kmsMock.on(DescribeKeyCommand).rejects(new Error('not asked'));
  kmsMock.on(EncryptCommand).callsFake((input) => ({ CiphertextBlob: Buffer.from(input.Plaintext) }));
  kmsMock.on(DecryptCommand).resolves({ Plaintext: Buffer.from('something else') });
  await assert.rejects(verifyAfterImport(kms, makeReport(), retry), { name: 'VerificationFailed' });

  kmsMock.reset();
  kmsMock.on(DescribeKeyCommand).rejects(new Error('not asked'));
  kmsMock.on(EncryptCommand).rejects(awsError('AccessDeniedException'));
  await assert.rejects(verifyAfterImport(kms, makeReport(), retry), (e: unknown) => (e as Error).name === 'VerificationFailed' && /AccessDeniedException/.test((e as Error).message));
  assert.equal(kmsMock.commandCalls(DescribeKeyCommand).length, 0);
});

/** A promise the test settles itself, to hold an answer back while it looks at what else went out. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

test('importEscrowedMaterial reads the escrow while the import parameters are still coming, then imports with them', async () => {
  const sdkCopy = new Uint8Array(material);
  const escrowAsked = deferred<void>();
  secretsMock.on(GetSecretValueCommand).callsFake(() => {
    escrowAsked.resolve();
    return { SecretBinary: sdkCopy };
  });
  const wrapped = captureImports({ KeyMaterialId: MATERIAL_ID_A });
  const parameters = deferred<ImportParameters>();
  const importing = importEscrowedMaterial(deps, { report: pendingReport(), params: parameters.promise, config, now });
  await escrowAsked.promise; // the escrow read went out before the parameters arrived
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0, 'nothing imported before the parameters');
  parameters.resolve(params());
  const result = await importing;
  assert.equal(result.keyMaterialId, MATERIAL_ID_A);
  assert.ok(unwrapOaep(wrapped[0]!).equals(material));
  assert.equal(Buffer.from(kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input.ImportToken!).toString(), 'import-token-1');
  assert.ok(sdkCopy.every((b) => b === 0), 'the SDK copy of the secret was wiped');
});

test('importEscrowedMaterial: parameters that fail are the error (as when fetched first); the escrow read is wiped unused; escrow failures with good parameters stay escrow failures', async () => {
  const original = Buffer.prototype.fill;
  const wipedContents: Buffer[] = [];
  const spy = function (this: Buffer, ...args: Parameters<Buffer['fill']>) {
    if (args[0] === 0) wipedContents.push(Buffer.from(this));
    return original.apply(this, args);
  };
  secretsMock.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ format: 'kms-reimport/v1', materials: [{ material: material.toString('base64') }] }) });
  kmsMock.on(ImportKeyMaterialCommand).rejects(new Error('must not import'));
  kmsMock.on(GetParametersForImportCommand).rejects(awsError('KMSInvalidStateException'));
  const failingParameters = getImportParameters(kms, KEY_ID, { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048' }, retry);
  Buffer.prototype.fill = spy as typeof original;
  try {
    await assert.rejects(importEscrowedMaterial(deps, { report: pendingReport(), params: failingParameters, config, now }), { name: 'KeyNotEligible' });
  } finally {
    Buffer.prototype.fill = original;
  }
  assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 1, 'the escrow was read beside the parameters');
  assert.ok(wipedContents.some((b) => b.equals(material)), 'the escrowed material read for nothing was zero-filled');
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);

  secretsMock.reset();
  secretsMock.on(GetSecretValueCommand).rejects(awsError('ResourceNotFoundException'));
  await assert.rejects(importEscrowedMaterial(deps, { report: pendingReport(), params: Promise.resolve(params()), config, now }), { name: 'EscrowMissing' });
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
});

test('an import attempt that failed in a way KMS may have acted on (connection reset, 5xx) is not sent again before the key is read: shown imported, it counts (one import)', async () => {
  secretsMock.on(GetSecretValueCommand).callsFake(() => ({ SecretBinary: new Uint8Array(material) }));
  const reset = () => Object.assign(new Error('socket hang up'), { name: 'Error', code: 'ECONNRESET' });
  const validTo = computeValidTo(now, config.materialLifetimeDays);
  /** What the key read again shows, one answer per read (the last one repeats). */
  const rereads = (...states: Array<'IMPORTED' | 'PENDING_IMPORT'>) => {
    const describe = kmsMock.on(DescribeKeyCommand);
    const rotations = kmsMock.on(ListKeyRotationsCommand);
    for (const importState of states) {
      describe.resolvesOnce({ KeyMetadata: { KeyId: KEY_ID, Arn: KEY_ARN, KeyState: importState === 'IMPORTED' ? 'Enabled' : 'PendingImport', Origin: 'EXTERNAL', KeySpec: 'SYMMETRIC_DEFAULT', CurrentKeyMaterialId: MATERIAL_ID_A } });
      rotations.resolvesOnce({ Rotations: [{ KeyMaterialId: MATERIAL_ID_A, KeyMaterialState: 'CURRENT', ImportState: importState, ExpirationModel: 'KEY_MATERIAL_EXPIRES', ...(importState === 'IMPORTED' ? { ValidTo: validTo } : {}) }], Truncated: false });
    }
    kmsMock.on(ListResourceTagsCommand).resolves({ Tags: [], Truncated: false });
  };
  const warnings: string[] = [];
  const logged = { ...deps, logger: { warn: (m: string) => void warnings.push(m) } };
  const run = () => importEscrowedMaterial(logged, { report: pendingReport(), params: params(), config, now });
  const imports = () => kmsMock.commandCalls(ImportKeyMaterialCommand).length;
  const reads = () => kmsMock.commandCalls(DescribeKeyCommand).length;
  /** Every KMS command sent is one this case configured (an unconfigured one would get undefined from the mock). */
  const sentOnly = (...configured: string[]) => {
    const sent = new Set(kmsMock.calls().map((c) => (c.args[0] as object).constructor.name));
    assert.deepEqual([...sent].filter((name) => !configured.includes(name)), [], `unconfigured KMS commands sent: ${[...sent].join(', ')}`);
  };
  const REREAD = ['ImportKeyMaterialCommand', 'DescribeKeyCommand', 'ListKeyRotationsCommand', 'ListResourceTagsCommand'];

  // KMS imported, the answer was lost: read before the retry, shown, not sent again.
  kmsMock.on(ImportKeyMaterialCommand).rejectsOnce(reset()).rejects(new Error('must not be sent again'));
  rereads('IMPORTED');
  assert.equal((await run()).validTo, validTo.toISOString());
  assert.deepEqual([imports(), reads()], [1, 1]);
  sentOnly(...REREAD);
  assert.match(warnings.join('\n'), /read again before a retry, shows the import took effect: not sent again.*counted as imported/);

  // Not shown: the retry goes out and succeeds.
  kmsMock.reset();
  kmsMock.on(ImportKeyMaterialCommand).rejectsOnce(awsError('KMSInternalException', 500)).resolves({ KeyMaterialId: MATERIAL_ID_A });
  rereads('PENDING_IMPORT');
  assert.equal((await run()).keyMaterialId, MATERIAL_ID_A);
  assert.deepEqual([imports(), reads()], [2, 1]);
  sentOnly(...REREAD);

  // Not shown yet, the retry meets the token the lost attempt spent, shown on the next read: counted (one import).
  kmsMock.reset();
  kmsMock.on(ImportKeyMaterialCommand).rejectsOnce(reset()).rejects(awsError('InvalidImportTokenException'));
  rereads('PENDING_IMPORT', 'IMPORTED');
  assert.equal((await run()).validTo, validTo.toISOString());
  assert.deepEqual([imports(), reads()], [2, 2]);
  sentOnly(...REREAD);
  assert.match(warnings.at(-1)!, /a transient error, then InvalidImportTokenException on the retry/);

  // Never shown: ImportTokenExpired (the caller fetches new parameters), as for any refused token.
  kmsMock.reset();
  kmsMock.on(ImportKeyMaterialCommand).rejectsOnce(reset()).rejects(awsError('InvalidImportTokenException'));
  rereads('PENDING_IMPORT');
  await assert.rejects(run(), { name: 'ImportTokenExpired' });
  sentOnly(...REREAD);

  // Throttling (KMS refused at the door) is retried at once, with no read; a refused token with no attempt before it: no read either.
  kmsMock.reset();
  kmsMock.on(DescribeKeyCommand).rejects(new Error('not read again'));
  kmsMock.on(ImportKeyMaterialCommand).rejectsOnce(awsError('ThrottlingException', 400, { $retryable: { throttling: true } })).resolves({});
  await run();
  assert.deepEqual([imports(), reads()], [2, 0]);
  sentOnly('ImportKeyMaterialCommand');
  kmsMock.reset();
  kmsMock.on(DescribeKeyCommand).rejects(new Error('not read again'));
  kmsMock.on(ImportKeyMaterialCommand).rejects(awsError('ExpiredImportTokenException'));
  await assert.rejects(run(), { name: 'ImportTokenExpired' });
  assert.equal(reads(), 0);
  sentOnly('ImportKeyMaterialCommand');
});
