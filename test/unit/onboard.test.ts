/** Onboarding: escrow first, never over existing escrow, never under the key itself, then import. */
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, privateDecrypt, randomBytes } from 'node:crypto';
import { mockClient } from 'aws-sdk-client-mock';
import { DescribeKeyCommand, GetParametersForImportCommand, ImportKeyMaterialCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { escrowAndImport, EscrowExists } from '../../lib/material/onboard.js';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { awsError, KEY_ID } from './lib-fixtures.js';

const kmsMock = mockClient(KMSClient);
const secretsMock = mockClient(SecretsManagerClient);
const deps = { kms: new KMSClient({ region: 'us-east-1' }), secrets: new SecretsManagerClient({ region: 'us-east-1' }) };
const wrappingPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
const config = { ...DEFAULT_CONFIG, wrappingKeySpec: 'RSA_2048', maxAttempts: 1 };
const SECRET_ARN = `arn:aws:secretsmanager:us-east-1:111122223333:secret:kms-reimport/${KEY_ID}-AbCdEf`;
const MATERIAL_ID = 'a'.repeat(64);

let order: string[];
/** The wrapped material as KMS received it (onboarding wipes its own buffer right after the call). */
let received: Buffer | undefined;
beforeEach(() => {
  received = undefined;
  kmsMock.reset();
  secretsMock.reset();
  order = [];
  secretsMock.on(CreateSecretCommand).callsFake(() => {
    order.push('CreateSecret');
    return { ARN: SECRET_ARN, Name: `kms-reimport/${KEY_ID}`, VersionId: 'v1' };
  });
  kmsMock.on(GetParametersForImportCommand).callsFake(() => {
    order.push('GetParametersForImport');
    return {
      KeyId: KEY_ID,
      PublicKey: wrappingPair.publicKey.export({ format: 'der', type: 'spki' }),
      ImportToken: Buffer.from('token'),
      ParametersValidTo: new Date('2027-01-02T00:00:00Z'),
    };
  });
  kmsMock.on(ImportKeyMaterialCommand).callsFake((input: { EncryptedKeyMaterial: Uint8Array }) => {
    order.push('ImportKeyMaterial');
    received = Buffer.from(input.EncryptedKeyMaterial);
    return { KeyId: KEY_ID, KeyMaterialId: MATERIAL_ID };
  });
});

test('escrows before importing, and imports exactly the escrowed bytes', async () => {
  const material = randomBytes(32);
  const result = await escrowAndImport(deps, {
    keyId: KEY_ID,
    keySpec: 'SYMMETRIC_DEFAULT',
    material,
    config,
    expirationModel: 'KEY_MATERIAL_EXPIRES',
    validTo: new Date('2027-01-01T10:20:30.456Z'),
  });

  assert.deepEqual(order, ['CreateSecret', 'GetParametersForImport', 'ImportKeyMaterial']);
  const secretInput = secretsMock.commandCalls(CreateSecretCommand)[0]!.args[0].input;
  assert.equal(secretInput.Name, `kms-reimport/${KEY_ID}`);
  assert.deepEqual(Buffer.from(secretInput.SecretBinary!), material);
  assert.equal(secretInput.KmsKeyId, undefined);
  const importInput = kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input;
  assert.equal(importInput.ExpirationModel, 'KEY_MATERIAL_EXPIRES');
  assert.equal(importInput.ValidTo!.toISOString(), '2027-01-01T10:20:30.000Z', 'ValidTo on a whole second');
  assert.equal(importInput.ImportType, undefined, 'a first import lets KMS pick NEW_KEY_MATERIAL');
  const unwrapped = privateDecrypt(
    { key: wrappingPair.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    received!,
  );
  assert.deepEqual(unwrapped, material);
  assert.ok(Buffer.from(importInput.EncryptedKeyMaterial!).every((b) => b === 0), 'the wrapped copy is wiped after the call');
  assert.deepEqual(result, {
    secretArn: SECRET_ARN,
    secretVersionId: 'v1',
    keyMaterialId: MATERIAL_ID,
    wrappingAlgorithm: 'RSAES_OAEP_SHA_256',
    wrappingKeySpec: 'RSA_2048',
    validTo: '2027-01-01T10:20:30.000Z',
  });
});

test('an existing escrow secret is never overwritten, and nothing is imported', async () => {
  secretsMock.on(CreateSecretCommand).rejects(awsError('ResourceExistsException'));
  await assert.rejects(
    escrowAndImport(deps, { keyId: KEY_ID, keySpec: 'HMAC_256', material: randomBytes(32), config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }),
    (e: Error) => e instanceof EscrowExists && e.name === 'EscrowExists' && e.message.includes(KEY_ID) && e.message.includes('never overwrites'),
  );
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
  assert.equal(kmsMock.commandCalls(GetParametersForImportCommand).length, 0);
});

test('escrow encrypted under the key itself is refused before anything is written', async () => {
  kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/self' }).resolves({ KeyMetadata: { KeyId: KEY_ID } });
  await assert.rejects(
    escrowAndImport(deps, {
      keyId: KEY_ID,
      keySpec: 'SYMMETRIC_DEFAULT',
      material: randomBytes(32),
      config,
      expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
      escrowKmsKeyId: 'alias/self',
    }),
    { name: 'EscrowInvalid', message: /itself/ },
  );
  assert.equal(secretsMock.commandCalls(CreateSecretCommand).length, 0);
});

test('another escrow key is passed to Secrets Manager', async () => {
  kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/escrow' }).resolves({ KeyMetadata: { KeyId: '99999999-9999-4999-8999-999999999999' } });
  await escrowAndImport(deps, {
    keyId: KEY_ID,
    keySpec: 'SYMMETRIC_DEFAULT',
    material: randomBytes(32),
    config,
    expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
    escrowKmsKeyId: 'alias/escrow',
  });
  assert.equal(secretsMock.commandCalls(CreateSecretCommand)[0]!.args[0].input.KmsKeyId, 'alias/escrow');
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input.ValidTo, undefined);
});

test('material of the wrong length, or a ValidTo that contradicts the model, is refused before anything is written', async () => {
  await assert.rejects(
    escrowAndImport(deps, { keyId: KEY_ID, keySpec: 'SYMMETRIC_DEFAULT', material: randomBytes(16), config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }),
    { name: 'EscrowInvalid' },
  );
  await assert.rejects(
    escrowAndImport(deps, { keyId: KEY_ID, keySpec: 'SYMMETRIC_DEFAULT', material: randomBytes(32), config, expirationModel: 'KEY_MATERIAL_EXPIRES' }),
    { name: 'EscrowInvalid', message: /needs a ValidTo/ },
  );
  assert.equal(secretsMock.commandCalls(CreateSecretCommand).length, 0);
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
});
