/** Onboarding: escrow first, never over existing escrow, never under the key itself, then import. */
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPrivateKey, createPublicKey, generateKeyPairSync, privateDecrypt, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateMacCommand,
  GetParametersForImportCommand,
  GetPublicKeyCommand,
  ImportKeyMaterialCommand,
  KMSClient,
  ListKeyRotationsCommand,
  ListResourceTagsCommand,
  SignCommand,
  TagResourceCommand,
  VerifyCommand,
  VerifyMacCommand,
} from '@aws-sdk/client-kms';
import { CreateSecretCommand, DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createEscrow, escrowAndImport, EscrowExists } from '../../lib/material/onboard.js';
import { adoptKey } from '../../lib/material/adopt.js';
import { createManagedKey } from '../../lib/material/create.js';
import { checkMaterialFile, MAX_MATERIAL_FILE_BYTES, readMaterialFile, readMaterialStream } from '../../lib/material/file.js';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { assertNoMaterial, awsError, KEY_ID } from './lib-fixtures.js';

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

test('an import token that expired between GetParametersForImport and ImportKeyMaterial gets fresh parameters: the same material, wrapped under the new key, escrowed once', async () => {
  const secondPair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pairs = [wrappingPair, secondPair];
  let asked = 0;
  kmsMock.on(GetParametersForImportCommand).callsFake(() => {
    order.push('GetParametersForImport');
    const pair = pairs[Math.min(asked, 1)]!;
    asked++;
    return { KeyId: KEY_ID, PublicKey: pair.publicKey.export({ format: 'der', type: 'spki' }), ImportToken: Buffer.from(`token-${asked}`), ParametersValidTo: new Date('2027-01-02T00:00:00Z') };
  });
  const wrappedCopies: Buffer[] = [];
  kmsMock.on(ImportKeyMaterialCommand).callsFake((input: { ImportToken: Uint8Array; EncryptedKeyMaterial: Uint8Array }) => {
    order.push('ImportKeyMaterial');
    wrappedCopies.push(Buffer.from(input.EncryptedKeyMaterial));
    if (Buffer.from(input.ImportToken).toString() === 'token-1') throw awsError('ExpiredImportTokenException');
    return { KeyId: KEY_ID, KeyMaterialId: MATERIAL_ID };
  });
  const material = randomBytes(32);
  const result = await escrowAndImport(deps, { keyId: KEY_ID, keySpec: 'SYMMETRIC_DEFAULT', material, config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });

  assert.deepEqual(order, ['CreateSecret', 'GetParametersForImport', 'ImportKeyMaterial', 'GetParametersForImport', 'ImportKeyMaterial']);
  assert.equal(secretsMock.commandCalls(CreateSecretCommand).length, 1, 'escrowed once, before the first import');
  const imports = kmsMock.commandCalls(ImportKeyMaterialCommand).map((c) => c.args[0].input);
  assert.deepEqual(imports.map((i) => Buffer.from(i.ImportToken!).toString()), ['token-1', 'token-2']);
  const oaep = (pair: typeof wrappingPair, wrapped: Buffer) => privateDecrypt({ key: pair.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrapped);
  assert.deepEqual(oaep(secondPair, wrappedCopies[1]!), material, 'the retry is wrapped under the new parameters\' public key');
  assert.deepEqual(oaep(wrappingPair, wrappedCopies[0]!), material);
  for (const i of imports) assert.ok(Buffer.from(i.EncryptedKeyMaterial!).every((b) => b === 0), 'every wrapped copy is wiped');
  assert.equal(result.keyMaterialId, MATERIAL_ID);

  // A token refused every time: 3 fresh parameters, then ImportTokenExpired naming the escrow; never a loop.
  order = [];
  kmsMock.on(ImportKeyMaterialCommand).rejects(awsError('ExpiredImportTokenException'));
  kmsMock.resetHistory();
  secretsMock.resetHistory();
  const again = randomBytes(32);
  await assert.rejects(escrowAndImport(deps, { keyId: KEY_ID, keySpec: 'SYMMETRIC_DEFAULT', material: again, config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }), (e: unknown) => {
    assert.ok(e instanceof Error && e.name === 'ImportTokenExpired');
    assert.match(e.message, new RegExp(`Key ${KEY_ID}: its material is escrowed in kms-reimport/${KEY_ID}, but KMS kept refusing the import token \\(ExpiredImportTokenException\\) after 3 fresh`));
    assertNoMaterial(e.message, again, 'ImportTokenExpired message');
    return true;
  });
  assert.equal(kmsMock.commandCalls(GetParametersForImportCommand).length, 4);
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 4);
  assert.equal(secretsMock.commandCalls(CreateSecretCommand).length, 1);
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

  kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/escrow-eu' }).resolves({ KeyMetadata: { KeyId: '88888888-8888-4888-8888-888888888888' } });
  kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/escrow-ap' }).resolves({ KeyMetadata: { KeyId: '77777777-7777-4777-8777-777777777777' } });
  await escrowAndImport(deps, { ...base, material: randomBytes(32), escrowReplicaKmsKeyIds: { 'eu-west-1': 'alias/escrow-eu', 'ap-southeast-2': 'alias/escrow-ap' } });
  const input = secretsMock.commandCalls(CreateSecretCommand)[0]!.args[0].input;
  assert.equal(input.KmsKeyId, 'alias/escrow');
  assert.deepEqual(input.AddReplicaRegions, [
    { Region: 'eu-west-1', KmsKeyId: 'alias/escrow-eu' },
    { Region: 'ap-southeast-2', KmsKeyId: 'alias/escrow-ap' },
  ]);
});

test('a Multi-Region primary: a replica Region\'s escrow key that is the key\'s own replica there (same key ID) is EscrowInvalid, read in that Region, nothing written', async () => {
  kmsMock.on(DescribeKeyCommand, { KeyId: KEY_ID }).resolves(multiRegionKey('PRIMARY'));
  kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/escrow' }).resolves({ KeyMetadata: { KeyId: '99999999-9999-4999-8999-999999999999' } });
  kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/escrow-ap' }).resolves({ KeyMetadata: { KeyId: '77777777-7777-4777-8777-777777777777' } });
  // An alias of the key's replica in eu-west-1: DescribeKey there answers the key's own ID.
  kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/mine-eu' }).resolves({ KeyMetadata: { KeyId: KEY_ID } });
  await assert.rejects(
    escrowAndImport(deps, {
      keyId: KEY_ID,
      keySpec: 'SYMMETRIC_DEFAULT',
      material: randomBytes(32),
      config,
      expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
      escrowKmsKeyId: 'alias/escrow',
      escrowReplicaKmsKeyIds: { 'eu-west-1': 'alias/mine-eu', 'ap-southeast-2': 'alias/escrow-ap' },
    }),
    { name: 'EscrowInvalid', message: /escrow copy in eu-west-1 would be encrypted under alias\/mine-eu, which is the key's own replica.*Nothing was escrowed or imported/ },
  );
  const asked = kmsMock.commandCalls(DescribeKeyCommand).find((c) => c.args[0].input.KeyId === 'alias/mine-eu');
  assert.ok(asked, 'the replica Region\'s escrow key was read');
  assert.equal(await asked.thisValue.config.region(), 'eu-west-1', 'with a client of that Region');
  assert.equal(secretsMock.commandCalls(CreateSecretCommand).length, 0);
  assert.equal(kmsMock.commandCalls(GetParametersForImportCommand).length, 0);
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
});

test('a Multi-Region replica key and a single-Region key: the escrow secret is not replicated', async () => {
  kmsMock.on(DescribeKeyCommand, { KeyId: KEY_ID }).resolves(multiRegionKey('REPLICA'));
  const replica = await escrowAndImport(deps, { keyId: KEY_ID, keySpec: 'SYMMETRIC_DEFAULT', material: randomBytes(32), config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });
  assert.equal(secretsMock.commandCalls(CreateSecretCommand)[0]!.args[0].input.AddReplicaRegions, undefined);
  assert.equal(replica.escrowReplicas, undefined);
});

// ---------------------------------------------------------------------------------------------
// adoptKey: a hand-imported key proven by KMS before its escrow is written and it is tagged.

interface KeyScenario {
  keySpec?: string;
  keyState?: string;
  expirationModel?: 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE';
  validTo?: Date;
  /** ListKeyRotations' materials (symmetric keys); default: the one current material. */
  rotations?: Array<Record<string, unknown>>;
  tags?: Array<{ TagKey: string; TagValue: string }>;
  multiRegion?: Record<string, unknown>;
  /** Private key of an RSA/ECC key, for GetPublicKey. */
  privateKey?: Buffer;
  /** The escrow secret exists already. */
  escrowExists?: boolean;
}

const NOW = new Date('2026-12-01T12:00:00.000Z');
const VALID_TO = new Date('2027-03-01T10:20:30.400Z');

/** Every command adoptKey and verifyKey send, configured; `order` records them. */
function keyScenario(s: KeyScenario = {}): { state: { keyState: string } } {
  kmsMock.reset();
  secretsMock.reset();
  order = [];
  const keySpec = s.keySpec ?? 'SYMMETRIC_DEFAULT';
  const state = { keyState: s.keyState ?? 'Enabled' };
  const model = s.expirationModel ?? 'KEY_MATERIAL_EXPIRES';
  const validTo = model === 'KEY_MATERIAL_EXPIRES' ? (s.validTo ?? VALID_TO) : undefined;
  const symmetric = keySpec === 'SYMMETRIC_DEFAULT';
  const usage = symmetric ? 'ENCRYPT_DECRYPT' : keySpec.startsWith('HMAC_') ? 'GENERATE_VERIFY_MAC' : 'SIGN_VERIFY';
  const record = (name: string) => order.push(name);
  kmsMock.on(DescribeKeyCommand).callsFake(() => {
    record('DescribeKey');
    return {
      KeyMetadata: {
        KeyId: KEY_ID,
        Arn: `arn:aws:kms:us-east-1:111122223333:key/${KEY_ID}`,
        KeyState: state.keyState,
        Origin: 'EXTERNAL',
        KeySpec: keySpec,
        KeyUsage: usage,
        MultiRegion: s.multiRegion !== undefined,
        ...(s.multiRegion ? { MultiRegionConfiguration: s.multiRegion } : {}),
        ExpirationModel: model,
        ...(validTo ? { ValidTo: validTo } : {}),
        ...(symmetric && s.rotations === undefined ? { CurrentKeyMaterialId: MATERIAL_ID } : {}),
      },
    };
  });
  kmsMock.on(ListResourceTagsCommand).callsFake(() => {
    record('ListResourceTags');
    return { Tags: s.tags ?? [], Truncated: false };
  });
  kmsMock.on(ListKeyRotationsCommand).callsFake(() => {
    record('ListKeyRotations');
    return {
      Rotations: s.rotations ?? [{ KeyMaterialId: MATERIAL_ID, KeyMaterialState: 'CURRENT', ImportState: 'IMPORTED', ExpirationModel: model, ...(validTo ? { ValidTo: validTo } : {}) }],
      Truncated: false,
    };
  });
  kmsMock.on(GetPublicKeyCommand).callsFake(() => {
    record('GetPublicKey');
    return { PublicKey: createPublicKey(createPrivateKey({ key: s.privateKey!, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' }) };
  });
  secretsMock.on(DescribeSecretCommand).callsFake(() => {
    record('DescribeSecret');
    if (s.escrowExists) return { ARN: SECRET_ARN, Name: `kms-reimport/${KEY_ID}` };
    throw awsError('ResourceNotFoundException');
  });
  kmsMock.on(GetParametersForImportCommand).callsFake(() => {
    record('GetParametersForImport');
    return { KeyId: KEY_ID, PublicKey: wrappingPair.publicKey.export({ format: 'der', type: 'spki' }), ImportToken: Buffer.from('token'), ParametersValidTo: new Date('2026-12-02T12:00:00Z') };
  });
  kmsMock.on(ImportKeyMaterialCommand).callsFake((input: { EncryptedKeyMaterial: Uint8Array }) => {
    record('ImportKeyMaterial');
    received = Buffer.from(input.EncryptedKeyMaterial);
    state.keyState = 'Enabled';
    return { KeyId: KEY_ID, KeyMaterialId: MATERIAL_ID };
  });
  secretsMock.on(CreateSecretCommand).callsFake((input: { SecretBinary: Uint8Array }) => {
    record('CreateSecret');
    escrowedCopy = Buffer.from(input.SecretBinary);
    return { ARN: SECRET_ARN, Name: `kms-reimport/${KEY_ID}`, VersionId: 'v1' };
  });
  kmsMock.on(TagResourceCommand).callsFake(() => {
    record('TagResource');
    return {};
  });
  let sealed: Buffer | undefined;
  kmsMock.on(EncryptCommand).callsFake((input: { Plaintext: Uint8Array }) => {
    record('Encrypt');
    sealed = Buffer.from(input.Plaintext);
    return { CiphertextBlob: Buffer.from('ciphertext'), KeyId: KEY_ID };
  });
  kmsMock.on(DecryptCommand).callsFake(() => {
    record('Decrypt');
    return { Plaintext: sealed, KeyId: KEY_ID };
  });
  kmsMock.on(GenerateMacCommand).callsFake(() => {
    record('GenerateMac');
    return { Mac: Buffer.from('mac'), KeyId: KEY_ID };
  });
  kmsMock.on(VerifyMacCommand).callsFake(() => {
    record('VerifyMac');
    return { MacValid: true, KeyId: KEY_ID };
  });
  kmsMock.on(SignCommand).callsFake(() => {
    record('Sign');
    return { Signature: Buffer.from('sig'), KeyId: KEY_ID };
  });
  kmsMock.on(VerifyCommand).callsFake(() => {
    record('Verify');
    return { SignatureValid: true, KeyId: KEY_ID };
  });
  return { state };
}

let escrowedCopy: Buffer | undefined;
const adopt = (material: Buffer, options: Partial<Parameters<typeof adoptKey>[3]> = {}) =>
  adoptKey({ ...deps, sleep: async () => {} }, KEY_ID, material, { config, now: () => NOW, source: 'Material file m.bin', ...options });
const unwrap = (wrapped: Buffer) => privateDecrypt({ key: wrappingPair.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrapped);
const INSPECT = ['DescribeKey', 'ListResourceTags', 'ListKeyRotations'];
/** Only the key was read: no import parameters, no import, no escrow, no tag. */
const onlyRead = () => order.every((c) => INSPECT.includes(c));

test('adoptKey, Enabled key: proof import keeping the model and ValidTo (rounded up), then escrow, then tag, then verify', async () => {
  keyScenario();
  const material = randomBytes(32);

  const result = await adopt(material);

  assert.deepEqual(order, [...INSPECT, 'DescribeSecret', 'GetParametersForImport', 'ImportKeyMaterial', 'CreateSecret', 'TagResource', 'DescribeKey', 'Encrypt', 'Decrypt']);
  const sent = kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input;
  assert.equal(sent.ExpirationModel, 'KEY_MATERIAL_EXPIRES');
  assert.equal(sent.ValidTo!.toISOString(), '2027-03-01T10:20:31.000Z', 'the same ValidTo, up to a whole second, never earlier');
  assert.equal(sent.ImportType, 'EXISTING_KEY_MATERIAL');
  assert.equal(sent.KeyMaterialId, MATERIAL_ID);
  assert.deepEqual(unwrap(received!), material, 'the file itself was wrapped');
  assert.ok(Buffer.from(sent.EncryptedKeyMaterial!).every((b) => b === 0), 'the wrapped copy is wiped');
  const secret = secretsMock.commandCalls(CreateSecretCommand)[0]!.args[0].input;
  assert.equal(secret.Name, `kms-reimport/${KEY_ID}`);
  assert.deepEqual(escrowedCopy, material);
  assert.deepEqual(secret.Tags, [{ Key: 'kms-reimport:key-id', Value: KEY_ID }]);
  assert.equal(secret.AddReplicaRegions, undefined);
  assert.deepEqual(kmsMock.commandCalls(TagResourceCommand)[0]!.args[0].input, { KeyId: KEY_ID, Tags: [{ TagKey: 'kms-reimport:managed', TagValue: 'true' }] });
  assert.deepEqual(
    { proof: result.proof, imported: result.imported, escrow: result.escrow, tagged: result.tagged, verified: result.verified },
    {
      proof: 'reimport',
      imported: { keyMaterialId: MATERIAL_ID, expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: '2027-03-01T10:20:31.000Z' },
      escrow: { secretId: `kms-reimport/${KEY_ID}`, secretArn: SECRET_ARN, secretVersionId: 'v1' },
      tagged: true,
      verified: 'Encrypt/Decrypt SYMMETRIC_DEFAULT',
    },
  );
  assert.deepEqual(result.calls, { DescribeKey: 2, ListResourceTags: 1, ListKeyRotations: 1, DescribeSecret: 1, GetParametersForImport: 1, ImportKeyMaterial: 1, CreateSecret: 1, TagResource: 1, Encrypt: 1, Decrypt: 1 });
  assertNoMaterial(JSON.stringify(result), material, 'result');
});

test('adoptKey: DOES_NOT_EXPIRE kept without ValidTo; an already managed key is not tagged again', async () => {
  keyScenario({ expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', tags: [{ TagKey: 'kms-reimport:managed', TagValue: 'true' }] });
  const result = await adopt(randomBytes(32));
  const sent = kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input;
  assert.equal(sent.ExpirationModel, 'KEY_MATERIAL_DOES_NOT_EXPIRE');
  assert.equal(sent.ValidTo, undefined);
  assert.equal(kmsMock.commandCalls(TagResourceCommand).length, 0);
  assert.equal(result.tagged, false);
});

test('adoptKey: wrong material is IncorrectKeyMaterial after one import; nothing written, nothing tagged', async () => {
  keyScenario();
  kmsMock.on(ImportKeyMaterialCommand).rejects(awsError('IncorrectKeyMaterialException'));
  await assert.rejects(adopt(randomBytes(32)), {
    name: 'IncorrectKeyMaterial',
    message: new RegExp(`^Material file m\\.bin is not the material of key ${KEY_ID} \\(KeyMaterialId ${MATERIAL_ID}\\).*Nothing was written and the key was not tagged`),
  });
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 1, 'never retried');
  assert.equal(secretsMock.commandCalls(CreateSecretCommand).length, 0);
  assert.equal(kmsMock.commandCalls(TagResourceCommand).length, 0);
});

test('adoptKey: a spent or expired import token gets fresh parameters, at most 3 times', async () => {
  keyScenario();
  kmsMock
    .on(ImportKeyMaterialCommand)
    .rejectsOnce(awsError('ExpiredImportTokenException'))
    .rejectsOnce(awsError('InvalidImportTokenException'))
    .resolves({ KeyId: KEY_ID, KeyMaterialId: MATERIAL_ID });
  await adopt(randomBytes(32));
  assert.equal(kmsMock.commandCalls(GetParametersForImportCommand).length, 3);
  assert.equal(secretsMock.commandCalls(CreateSecretCommand).length, 1);

  keyScenario();
  kmsMock.on(ImportKeyMaterialCommand).rejects(awsError('InvalidImportTokenException'));
  await assert.rejects(adopt(randomBytes(32)), { name: 'ImportTokenExpired' });
  assert.equal(kmsMock.commandCalls(GetParametersForImportCommand).length, 4);
  assert.equal(secretsMock.commandCalls(CreateSecretCommand).length, 0);
});

test('adoptKey, PendingImport key that held material: the proof recovers its missing material with a fresh ValidTo', async () => {
  const { state } = keyScenario({
    keyState: 'PendingImport',
    rotations: [{ KeyMaterialId: MATERIAL_ID, KeyMaterialState: 'CURRENT', ImportState: 'PENDING_IMPORT', ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: new Date('2026-11-01T00:00:00Z') }],
  });
  const result = await adopt(randomBytes(32));
  const sent = kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input;
  assert.equal(sent.ExpirationModel, 'KEY_MATERIAL_EXPIRES');
  assert.equal(sent.ValidTo!.toISOString(), new Date(NOW.getTime() + config.materialLifetimeDays * 86_400_000).toISOString());
  assert.equal(sent.ImportType, 'EXISTING_KEY_MATERIAL');
  assert.equal(sent.KeyMaterialId, MATERIAL_ID);
  assert.equal(result.proof, 'recovery');
  assert.deepEqual([result.keyStateBefore, result.keyStateAfter, state.keyState], ['PendingImport', 'Enabled', 'Enabled']);
});

test('adoptKey, material deleted before its ValidTo: restored with at least the ValidTo it had', async () => {
  const had = new Date('2027-10-01T00:00:00.250Z');
  keyScenario({
    keyState: 'PendingImport',
    rotations: [{ KeyMaterialId: MATERIAL_ID, KeyMaterialState: 'CURRENT', ImportState: 'PENDING_IMPORT', ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: had }],
  });
  await adopt(randomBytes(32));
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input.ValidTo!.toISOString(), '2027-10-01T00:00:01.000Z');
});

test('adoptKey refuses before reading the file: never imported, Disabled, a replica, several materials, another escrow tag', async () => {
  const material = randomBytes(32);
  const cases: Array<[KeyScenario, string, RegExp]> = [
    [{ keyState: 'PendingImport', rotations: [] }, 'MaterialNotProvable', /never held key material.*onboard --new/],
    [{ keyState: 'Disabled' }, 'KeyNotEligible', /Disabled, which is taken as deliberate/],
    [{ keyState: 'PendingDeletion' }, 'KeyNotEligible', /PendingDeletion: it is never touched/],
    [
      { multiRegion: { MultiRegionKeyType: 'REPLICA', PrimaryKey: { Arn: 'arn:aws:kms:eu-west-1:111122223333:key/x', Region: 'eu-west-1' }, ReplicaKeys: [] } },
      'KeyNotEligible',
      /Multi-Region replica: onboard its primary key in eu-west-1/,
    ],
    [
      {
        rotations: [
          { KeyMaterialId: MATERIAL_ID, KeyMaterialState: 'CURRENT', ImportState: 'IMPORTED', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' },
          { KeyMaterialId: 'b'.repeat(64), KeyMaterialState: 'NON_CURRENT', ImportState: 'IMPORTED', ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' },
        ],
      },
      'KeyNotEligible',
      /has 2 key materials .*kms-reimport\/v1 JSON/,
    ],
    [{ tags: [{ TagKey: 'kms-reimport:escrow', TagValue: 'team/escrow' }] }, 'EscrowExists', /already names its escrow secret by its tag kms-reimport:escrow: team\/escrow/],
  ];
  for (const [scenario, name, message] of cases) {
    keyScenario(scenario);
    await assert.rejects(adopt(material), { name, message }, name);
    assert.ok(onlyRead(), `${name}: only the key was read (${order.join(', ')})`);
  }
});

test('adoptKey: a symmetric key whose materials KMS did not list (ListKeyRotations unavailable) is refused: a rotated key would pass as one material', async () => {
  keyScenario();
  kmsMock.on(ListKeyRotationsCommand).callsFake(() => {
    order.push('ListKeyRotations');
    throw awsError('UnsupportedOperationException');
  });
  await assert.rejects(adopt(randomBytes(32)), { name: 'KeyNotEligible', message: /did not list its key materials \(ListKeyRotations was unavailable\).*Grant kms:ListKeyRotations.*Nothing was changed/ });
  assert.ok(onlyRead(), order.join(', '));
  assert.equal(secretsMock.commandCalls(CreateSecretCommand).length, 0);
  assert.equal(kmsMock.commandCalls(TagResourceCommand).length, 0);
});

test('adoptKey: a PendingImport HMAC key shows no material history, so nothing can prove the file', async () => {
  keyScenario({ keySpec: 'HMAC_256', keyState: 'PendingImport' });
  await assert.rejects(adopt(randomBytes(32)), { name: 'MaterialNotProvable', message: /no material history .*HMAC_256.*import the file into it once by hand/i });
  assert.ok(onlyRead(), order.join(', '));
});

test('adoptKey: a file of the wrong length or format is MaterialFileInvalid before any write', async () => {
  keyScenario();
  await assert.rejects(adopt(randomBytes(31)), { name: 'MaterialFileInvalid', message: /Material file m\.bin is 31 bytes; key .* exactly 32 raw bytes/ });
  keyScenario({ keySpec: 'ECC_NIST_P256' });
  const pem = Buffer.from(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
  await assert.rejects(adopt(pem), { name: 'MaterialFileInvalid', message: /is not ECC_NIST_P256 key material .*PEM text/ });
  assert.ok(onlyRead(), order.join(', '));
});

test('adoptKey, an Enabled RSA key: a private key whose public key differs is refused before any import; the right one is imported without ImportType', async () => {
  const mine = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'der', type: 'pkcs8' });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'der', type: 'pkcs8' });
  keyScenario({ keySpec: 'RSA_2048', privateKey: mine });
  await assert.rejects(adopt(other), { name: 'IncorrectKeyMaterial', message: /public key differs .*Nothing was imported, written or tagged/ });
  assert.deepEqual(order.filter((c) => !INSPECT.includes(c)), ['GetPublicKey'], 'no import was attempted');

  keyScenario({ keySpec: 'RSA_2048', privateKey: mine });
  const result = await adopt(mine);
  const sent = kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input;
  assert.equal(sent.ImportType, undefined);
  assert.equal(sent.KeyMaterialId, undefined);
  assert.equal(kmsMock.commandCalls(GetParametersForImportCommand)[0]!.args[0].input.WrappingAlgorithm, 'RSA_AES_KEY_WRAP_SHA_256');
  assert.equal(result.publicKeyMatched, true);
  assert.match(result.verified, /^Sign\/Verify/);
});

test('adoptKey: an existing escrow secret is EscrowExists before any import', async () => {
  keyScenario({ escrowExists: true });
  await assert.rejects(adopt(randomBytes(32)), { name: 'EscrowExists', message: /already exists; kms-reimport never overwrites escrow, so nothing was imported, written or tagged/ });
  assert.deepEqual(order, [...INSPECT, 'DescribeSecret']);
});

test('adoptKey: KMS refusing a reimport into an Enabled key is MaterialNotProvable, nothing written', async () => {
  keyScenario();
  kmsMock.on(ImportKeyMaterialCommand).rejects(awsError('KMSInvalidStateException'));
  await assert.rejects(adopt(randomBytes(32)), { name: 'MaterialNotProvable', message: /while it is Enabled .*delete-imported-key-material/ });
  assert.equal(secretsMock.commandCalls(CreateSecretCommand).length, 0);
});

test('adoptKey: escrow failing after the proof is EscrowWriteFailed without the SDK error (it may quote the material); not tagged', async () => {
  keyScenario();
  secretsMock.on(CreateSecretCommand).rejects(awsError('AccessDeniedException'));
  await assert.rejects(adopt(randomBytes(32)), (e: Error) => {
    assert.equal(e.name, 'EscrowWriteFailed');
    assert.match(e.message, /material was proven .*the key was not tagged\. .* could not be created \(CreateSecret: AccessDeniedException\)/);
    assert.equal(e.cause, undefined);
    return true;
  });
  assert.equal(kmsMock.commandCalls(TagResourceCommand).length, 0);
});

test('adoptKey, a Multi-Region primary: the escrow is created replicated to its replica Regions', async () => {
  keyScenario({
    multiRegion: {
      MultiRegionKeyType: 'PRIMARY',
      PrimaryKey: { Arn: `arn:aws:kms:us-east-1:111122223333:key/${KEY_ID}`, Region: 'us-east-1' },
      ReplicaKeys: [{ Arn: `arn:aws:kms:eu-west-1:111122223333:key/${KEY_ID}`, Region: 'eu-west-1' }],
    },
  });
  secretsMock.on(CreateSecretCommand).resolves({ ARN: SECRET_ARN, Name: `kms-reimport/${KEY_ID}`, VersionId: 'v1', ReplicationStatus: [{ Region: 'eu-west-1', Status: 'InSync' }] });
  const result = await adopt(randomBytes(32));
  assert.deepEqual(secretsMock.commandCalls(CreateSecretCommand)[0]!.args[0].input.AddReplicaRegions, [{ Region: 'eu-west-1' }]);
  assert.deepEqual(result.escrow.replicas, [{ region: 'eu-west-1', status: 'InSync' }]);
  // KMS does not copy tags to replicas: the replica (same key ID, its own Region) is tagged too.
  const tagged = kmsMock.commandCalls(TagResourceCommand);
  assert.equal(tagged.length, 2);
  assert.equal(await tagged[1]!.thisValue.config.region(), 'eu-west-1');
  assert.deepEqual(tagged[1]!.args[0].input, { KeyId: KEY_ID, Tags: [{ TagKey: 'kms-reimport:managed', TagValue: 'true' }] });
  assert.deepEqual(result.replicasTagged, ['eu-west-1']);
});

test('adoptKey, a Multi-Region primary: a replica Region whose escrow replica Failed (or is not reported) is not tagged managed, and is reported with the fix', async () => {
  keyScenario({
    multiRegion: {
      MultiRegionKeyType: 'PRIMARY',
      PrimaryKey: { Arn: `arn:aws:kms:us-east-1:111122223333:key/${KEY_ID}`, Region: 'us-east-1' },
      ReplicaKeys: [
        { Arn: `arn:aws:kms:eu-west-1:111122223333:key/${KEY_ID}`, Region: 'eu-west-1' },
        { Arn: `arn:aws:kms:ap-southeast-2:111122223333:key/${KEY_ID}`, Region: 'ap-southeast-2' },
        { Arn: `arn:aws:kms:us-west-2:111122223333:key/${KEY_ID}`, Region: 'us-west-2' },
      ],
    },
  });
  secretsMock.on(CreateSecretCommand).resolves({
    ARN: SECRET_ARN,
    Name: `kms-reimport/${KEY_ID}`,
    VersionId: 'v1',
    ReplicationStatus: [
      { Region: 'eu-west-1', Status: 'InProgress' },
      { Region: 'ap-southeast-2', Status: 'Failed', StatusMessage: 'Secret with this name already exists in this region' },
    ],
  });
  const result = await adopt(randomBytes(32));
  const regions = await Promise.all(kmsMock.commandCalls(TagResourceCommand).map((c) => c.thisValue.config.region()));
  assert.deepEqual(regions, ['us-east-1', 'eu-west-1'], 'the key and its eu-west-1 replica only');
  assert.deepEqual(result.replicasTagged, ['eu-west-1']);
  assert.deepEqual(result.replicasNotTagged?.map((n) => n.region), ['ap-southeast-2', 'us-west-2']);
  assert.match(result.replicasNotTagged![0]!.reason, /escrow's replica in ap-southeast-2 is Failed \(Secret with this name already exists in this region\)/);
  assert.match(result.replicasNotTagged![0]!.fix, /replicate-secret-to-regions .*Region=ap-southeast-2.*aws kms tag-resource --key-id .* --region ap-southeast-2/);
  assert.match(result.replicasNotTagged![1]!.reason, /us-west-2 is Failed \(not in CreateSecret's ReplicationStatus\)/);
});

test('adoptKey, a Multi-Region primary: --escrow-replica-kms-key-id naming the key itself in a replica Region is EscrowInvalid before the proof', async () => {
  keyScenario({
    multiRegion: {
      MultiRegionKeyType: 'PRIMARY',
      PrimaryKey: { Arn: `arn:aws:kms:us-east-1:111122223333:key/${KEY_ID}`, Region: 'us-east-1' },
      ReplicaKeys: [{ Arn: `arn:aws:kms:eu-west-1:111122223333:key/${KEY_ID}`, Region: 'eu-west-1' }],
    },
  });
  kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/escrow' }).resolves({ KeyMetadata: { KeyId: '99999999-9999-4999-8999-999999999999' } });
  const regions: string[] = [];
  const euClient = new KMSClient({ region: 'eu-west-1' });
  const kmsFor = (region: string) => {
    regions.push(region);
    return euClient;
  };
  await assert.rejects(
    adoptKey({ ...deps, kmsFor, sleep: async () => {} }, KEY_ID, randomBytes(32), {
      config,
      now: () => NOW,
      escrowKmsKeyId: 'alias/escrow',
      escrowReplicaKmsKeyIds: { 'eu-west-1': `mrk-${KEY_ID}` },
    }),
    { name: 'EscrowInvalid', message: /escrow copy in eu-west-1 .* the key's own replica/ },
  );
  assert.deepEqual(regions, ['eu-west-1']);
  assert.equal(kmsMock.commandCalls(GetParametersForImportCommand).length, 0);
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
  assert.equal(secretsMock.commandCalls(CreateSecretCommand).length, 0);
  assert.equal(kmsMock.commandCalls(TagResourceCommand).length, 0);
});

test('adoptKey, an HMAC key: imported without ImportType, verified with a MAC', async () => {
  keyScenario({ keySpec: 'HMAC_384' });
  const result = await adopt(randomBytes(48));
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input.ImportType, undefined);
  assert.match(result.verified, /^GenerateMac\/VerifyMac/);
  assert.deepEqual(order.filter((c) => !INSPECT.includes(c)), ['DescribeSecret', 'GetParametersForImport', 'ImportKeyMaterial', 'CreateSecret', 'TagResource', 'GenerateMac', 'VerifyMac']);
});

// ---------------------------------------------------------------------------------------------
// createManagedKey: onboard --new.

test('createManagedKey: CreateKey tagged in the request, escrow first, import, alias, verify; the generated material is wiped', async () => {
  keyScenario({ keyState: 'PendingImport', rotations: [] });
  kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/payments' }).callsFake(() => {
    order.push('DescribeKey alias');
    throw awsError('NotFoundException');
  });
  kmsMock.on(CreateKeyCommand).callsFake(() => {
    order.push('CreateKey');
    return { KeyMetadata: { KeyId: KEY_ID, Arn: `arn:aws:kms:us-east-1:111122223333:key/${KEY_ID}` } };
  });
  kmsMock.on(CreateAliasCommand).callsFake(() => {
    order.push('CreateAlias');
    return {};
  });

  const created = await createManagedKey({ ...deps, sleep: async () => {} }, { keySpec: 'SYMMETRIC_DEFAULT', alias: 'alias/payments', config, now: () => NOW });

  // No DescribeKey between CreateKey and the escrow (CreateKey's answer says the new key has no replicas), nor a
  // second read of the key before verifying it.
  assert.deepEqual(order, [
    'DescribeKey alias',
    'CreateKey',
    'CreateSecret',
    'GetParametersForImport',
    'ImportKeyMaterial',
    'CreateAlias',
    'DescribeKey',
    'Encrypt',
    'Decrypt',
  ]);
  assert.deepEqual(
    kmsMock.commandCalls(DescribeKeyCommand).map((c) => c.args[0].input.KeyId),
    ['alias/payments', KEY_ID],
    'DescribeKey: the alias is free, then the key\'s state once, while verifying (CreateKey\'s answer says the rest)',
  );
  assert.deepEqual(created.calls, { DescribeKey: 2, CreateKey: 1, CreateSecret: 1, GetParametersForImport: 1, ImportKeyMaterial: 1, CreateAlias: 1, Encrypt: 1, Decrypt: 1 });
  const createKey = kmsMock.commandCalls(CreateKeyCommand)[0]!.args[0].input;
  assert.equal(createKey.Origin, 'EXTERNAL');
  assert.equal(createKey.KeySpec, 'SYMMETRIC_DEFAULT');
  assert.equal(createKey.KeyUsage, 'ENCRYPT_DECRYPT');
  assert.deepEqual(createKey.Tags, [{ TagKey: 'kms-reimport:managed', TagValue: 'true' }]);
  assert.equal(escrowedCopy!.length, 32);
  assert.deepEqual(unwrap(received!), escrowedCopy, 'the escrowed material is the imported one');
  const secretBinary = Buffer.from(secretsMock.commandCalls(CreateSecretCommand)[0]!.args[0].input.SecretBinary!);
  assert.ok(secretBinary.every((b) => b === 0), 'the material buffer is wiped once imported');
  const imported = kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input;
  assert.equal(imported.ValidTo!.toISOString(), new Date(NOW.getTime() + config.materialLifetimeDays * 86_400_000).toISOString());
  assert.deepEqual(kmsMock.commandCalls(CreateAliasCommand)[0]!.args[0].input, { AliasName: 'alias/payments', TargetKeyId: KEY_ID });
  assert.deepEqual(
    { keyId: created.keyId, alias: created.alias, keyUsage: created.keyUsage, escrow: created.escrow.secretId, verified: created.verified },
    { keyId: KEY_ID, alias: 'alias/payments', keyUsage: 'ENCRYPT_DECRYPT', escrow: `kms-reimport/${KEY_ID}`, verified: 'Encrypt/Decrypt SYMMETRIC_DEFAULT' },
  );
});

test('createManagedKey: an alias already taken is refused before any key is created', async () => {
  keyScenario();
  kmsMock.on(CreateKeyCommand).resolves({ KeyMetadata: { KeyId: 'never' } });
  await assert.rejects(createManagedKey(deps, { keySpec: 'SYMMETRIC_DEFAULT', alias: 'alias/taken', config }), { name: 'KmsRequestInvalid', message: /alias\/taken already names key .*Nothing was created/ });
  assert.equal(kmsMock.commandCalls(CreateKeyCommand).length, 0);
});

test('createManagedKey: an import failing after the escrow names the key and the next step', async () => {
  keyScenario({ keyState: 'PendingImport', rotations: [] });
  kmsMock.on(CreateKeyCommand).resolves({ KeyMetadata: { KeyId: KEY_ID, Arn: `arn:aws:kms:us-east-1:111122223333:key/${KEY_ID}` } });
  kmsMock.on(ImportKeyMaterialCommand).rejects(awsError('AccessDeniedException'));
  await assert.rejects(createManagedKey(deps, { keySpec: 'HMAC_256', config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }), {
    name: 'PermissionDenied',
    message: new RegExp(`Key ${KEY_ID} was created .*import failed after its material was escrowed in kms-reimport/${KEY_ID}: it may hold that material .*kms-reimport recover ${KEY_ID}.*schedule-key-deletion`),
  });
  // A symmetric key that took no material is never given it by recovery (KMS lists none for it): the way on is a new key.
  await assert.rejects(createManagedKey(deps, { keySpec: 'SYMMETRIC_DEFAULT', config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }), (e: unknown) => {
    assert.ok(e instanceof Error);
    assert.match(e.message, /PendingImport, it took no material and recovery never gives a key its first material .*schedule-key-deletion --key-id .* and run onboard --new again/);
    assert.doesNotMatch(e.message, /kms-reimport recover/);
    return true;
  });
  assert.doesNotMatch(
    await createManagedKey(deps, { keySpec: 'HMAC_256', config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }).then(() => 'resolved', (e: Error) => e.message),
    /holds no material/,
    'after the escrow, the import\'s answer may be lost: the key may hold the material',
  );
  // Before the escrow, nothing was imported: the key holds no material.
  secretsMock.on(CreateSecretCommand).rejects(awsError('AccessDeniedException'));
  await assert.rejects(createManagedKey(deps, { keySpec: 'HMAC_256', config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }), {
    message: new RegExp(`Key ${KEY_ID} was created .*its material was not escrowed, so none was imported: it holds no material`),
  });
  assert.equal(kmsMock.commandCalls(CreateKeyCommand)[0]!.args[0].input.KeyUsage, 'GENERATE_VERIFY_MAC');
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input.ValidTo, undefined);
});

// ---------------------------------------------------------------------------------------------
// The material file: read once, refused with a clear message.

test('readMaterialFile: the bytes of a regular file; missing, a directory, empty or too large refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'material-file-'));
  try {
    const good = join(dir, 'good.bin');
    const material = randomBytes(32);
    writeFileSync(good, material);
    assert.deepEqual(await readMaterialFile(good), material);
    writeFileSync(join(dir, 'empty.bin'), Buffer.alloc(0));
    writeFileSync(join(dir, 'big.bin'), Buffer.alloc(MAX_MATERIAL_FILE_BYTES + 1));
    const cases: Array<[string, RegExp]> = [
      [join(dir, 'missing.bin'), /missing\.bin does not exist/],
      [dir, /is not a regular file \(it is a directory\)/],
      [join(dir, 'empty.bin'), /empty\.bin is empty/],
      [join(dir, 'big.bin'), /is larger than 16384 bytes/],
    ];
    for (const [path, message] of cases) await assert.rejects(readMaterialFile(path), { name: 'MaterialFileInvalid', message });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readMaterialStream: joins the chunks and wipes them; empty and too large refused', async () => {
  const a = randomBytes(20);
  const b = randomBytes(12);
  const expected = Buffer.concat([a, b]);
  assert.deepEqual(await readMaterialStream(Readable.from([a, b])), expected);
  assert.ok(a.every((x) => x === 0) && b.every((x) => x === 0), 'the chunks are wiped');
  await assert.rejects(readMaterialStream(Readable.from([])), { name: 'MaterialFileInvalid', message: /Standard input is empty/ });
  await assert.rejects(readMaterialStream(Readable.from([Buffer.alloc(MAX_MATERIAL_FILE_BYTES), Buffer.alloc(1)])), { name: 'MaterialFileInvalid', message: /larger than/ });
});

test('checkMaterialFile: raw lengths by spec, PKCS#8 checks said of the file', () => {
  assert.doesNotThrow(() => checkMaterialFile('HMAC_224', randomBytes(28), KEY_ID, 'F'));
  assert.throws(() => checkMaterialFile('HMAC_224', randomBytes(32), KEY_ID, 'F'), { name: 'MaterialFileInvalid', message: /^F is 32 bytes; key .* is HMAC_224 and its material is exactly 28 raw bytes/ });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'der', type: 'pkcs8' });
  assert.throws(() => checkMaterialFile('RSA_3072', rsa, KEY_ID, 'F'), { name: 'MaterialFileInvalid', message: /^F is not RSA_3072 key material .*2048-bit RSA key.*Nothing was changed/ });
  assert.doesNotThrow(() => checkMaterialFile('RSA_2048', rsa, KEY_ID, 'F'));
});

test('adoptKey: escrow under the key itself is refused before the proof; under another key it is passed to CreateSecret', async () => {
  keyScenario();
  await assert.rejects(adopt(randomBytes(32), { escrowKmsKeyId: 'alias/self' }), { name: 'EscrowInvalid', message: /which is key .* itself/ });
  assert.deepEqual(order.filter((c) => !INSPECT.includes(c)), [], 'nothing but reads: no import, no escrow');
  assert.deepEqual(kmsMock.commandCalls(DescribeKeyCommand).map((c) => c.args[0].input.KeyId), [KEY_ID, 'alias/self']);

  keyScenario();
  kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/escrow' }).resolves({ KeyMetadata: { KeyId: '99999999-9999-4999-8999-999999999999' } });
  await adopt(randomBytes(32), { escrowKmsKeyId: 'alias/escrow' });
  assert.equal(secretsMock.commandCalls(CreateSecretCommand)[0]!.args[0].input.KmsKeyId, 'alias/escrow');
});

test('createEscrow: any CreateSecret failure but "exists" is EscrowWriteFailed with no SDK error as cause (its message may quote the request, which holds the material)', async () => {
  secretsMock.reset();
  const sdkError = Object.assign(awsError('ValidationException'), { message: 'request SecretBinary=AAAA... was invalid' });
  secretsMock.on(CreateSecretCommand).rejects(sdkError);
  const target = { keyId: 'k-1', secretName: 'kms-reimport/k-1', addReplicaRegions: [], replicaRegions: [] } as unknown as Parameters<typeof createEscrow>[1];
  await assert.rejects(createEscrow(deps.secrets, target, Buffer.alloc(32, 7), 'kms-reimport:escrow-secret'), (e: Error) => {
    assert.equal(e.name, 'EscrowWriteFailed');
    assert.equal(e.cause, undefined);
    assert.doesNotMatch(e.message, /AAAA/);
    assert.match(e.message, /kms-reimport\/k-1 could not be created \(CreateSecret: ValidationException\)/);
    return true;
  });
});
