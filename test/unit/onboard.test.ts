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
  // The key itself: single-Region unless a test says otherwise.
  kmsMock.on(DescribeKeyCommand, { KeyId: KEY_ID }).resolves({ KeyMetadata: { KeyId: KEY_ID, MultiRegion: false } });
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

const REGION_ARN = (region: string) => `arn:aws:kms:${region}:111122223333:key/${KEY_ID}`;
const multiRegionKey = (type: 'PRIMARY' | 'REPLICA') => ({
  KeyMetadata: {
    KeyId: KEY_ID,
    MultiRegion: true,
    MultiRegionConfiguration: {
      MultiRegionKeyType: type,
      PrimaryKey: { Arn: REGION_ARN('us-east-1'), Region: 'us-east-1' },
      ReplicaKeys: [
        { Arn: REGION_ARN('eu-west-1'), Region: 'eu-west-1' },
        { Arn: REGION_ARN('ap-southeast-2'), Region: 'ap-southeast-2' },
      ],
    },
  },
});

test('a Multi-Region primary: the escrow secret is created replicated to every replica Region, before any import', async () => {
  kmsMock.on(DescribeKeyCommand, { KeyId: KEY_ID }).resolves(multiRegionKey('PRIMARY'));
  secretsMock.on(CreateSecretCommand).callsFake(() => {
    order.push('CreateSecret');
    return {
      ARN: SECRET_ARN,
      Name: `kms-reimport/${KEY_ID}`,
      VersionId: 'v1',
      ReplicationStatus: [
        { Region: 'eu-west-1', Status: 'InSync', StatusMessage: 'Replication succeeded' },
        { Region: 'ap-southeast-2', Status: 'Failed', StatusMessage: 'Secret with this name already exists in this region' },
      ],
    };
  });
  const result = await escrowAndImport(deps, { keyId: KEY_ID, keySpec: 'SYMMETRIC_DEFAULT', material: randomBytes(32), config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });
  assert.deepEqual(order, ['CreateSecret', 'GetParametersForImport', 'ImportKeyMaterial']);
  assert.deepEqual(kmsMock.commandCalls(DescribeKeyCommand).map((c) => c.args[0].input), [{ KeyId: KEY_ID }]);
  assert.deepEqual(secretsMock.commandCalls(CreateSecretCommand)[0]!.args[0].input.AddReplicaRegions, [{ Region: 'eu-west-1' }, { Region: 'ap-southeast-2' }]);
  // A Failed Region does not undo the escrow nor stop the import: it is reported (and `status` shows it).
  assert.deepEqual(result.escrowReplicas, [
    { region: 'eu-west-1', status: 'InSync', statusMessage: 'Replication succeeded' },
    { region: 'ap-southeast-2', status: 'Failed', statusMessage: 'Secret with this name already exists in this region' },
  ]);
});

test('a Multi-Region primary under a customer managed escrow key needs a key for every replica Region, else nothing is written', async () => {
  kmsMock.on(DescribeKeyCommand, { KeyId: KEY_ID }).resolves(multiRegionKey('PRIMARY'));
  kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/escrow' }).resolves({ KeyMetadata: { KeyId: '99999999-9999-4999-8999-999999999999' } });
  const base = { keyId: KEY_ID, keySpec: 'SYMMETRIC_DEFAULT', config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' as const, escrowKmsKeyId: 'alias/escrow' };
  await assert.rejects(escrowAndImport(deps, { ...base, material: randomBytes(32), escrowReplicaKmsKeyIds: { 'eu-west-1': 'alias/escrow' } }), {
    name: 'EscrowInvalid',
    message: /replicas in eu-west-1, ap-southeast-2.*Name one for ap-southeast-2 .*Nothing was escrowed or imported/,
  });
  assert.equal(secretsMock.commandCalls(CreateSecretCommand).length, 0);
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);

  await escrowAndImport(deps, { ...base, material: randomBytes(32), escrowReplicaKmsKeyIds: { 'eu-west-1': 'alias/escrow-eu', 'ap-southeast-2': 'alias/escrow-ap' } });
  const input = secretsMock.commandCalls(CreateSecretCommand)[0]!.args[0].input;
  assert.equal(input.KmsKeyId, 'alias/escrow');
  assert.deepEqual(input.AddReplicaRegions, [
    { Region: 'eu-west-1', KmsKeyId: 'alias/escrow-eu' },
    { Region: 'ap-southeast-2', KmsKeyId: 'alias/escrow-ap' },
  ]);
});

test('a Multi-Region replica key and a single-Region key: the escrow secret is not replicated', async () => {
  kmsMock.on(DescribeKeyCommand, { KeyId: KEY_ID }).resolves(multiRegionKey('REPLICA'));
  const replica = await escrowAndImport(deps, { keyId: KEY_ID, keySpec: 'SYMMETRIC_DEFAULT', material: randomBytes(32), config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });
  assert.equal(secretsMock.commandCalls(CreateSecretCommand)[0]!.args[0].input.AddReplicaRegions, undefined);
  assert.equal(replica.escrowReplicas, undefined);
});
