/**
 * In-place rotation's decisions (lib/rotation/in-place.ts) with mocked KMS and Secrets Manager:
 * escrow before import, what an interrupted rotation is finished with (never a second new
 * material), the refusals as named errors, and the mode chosen per key (lib/rotate.ts).
 */
import { beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, privateDecrypt, randomBytes } from 'node:crypto';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  KMSClient,
  ListKeyRotationsCommand,
  ListResourceTagsCommand,
  RotateKeyOnDemandCommand,
} from '@aws-sdk/client-kms';
import { DescribeSecretCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { EscrowMissing, IncorrectKeyMaterial, PendingMaterialUnproven, RotationConflict, RotationLimitReached } from '../../lib/errors.js';
import { chooseRotationMode } from '../../lib/rotate.js';
import { defaultRotationId, describesRotation, rotateInPlace, rotationDescription, type InPlaceDeps } from '../../lib/rotation/in-place.js';
import { silentLogger } from '../../lib/run.js';
import type { KeyReport, MaterialInfo } from '../../lib/types.js';
import { awsError, KEY_ID, makeReport, MATERIAL_ID_A, MATERIAL_ID_B, noSleep } from './lib-fixtures.js';

const kmsMock = mockClient(KMSClient);
const secretsMock = mockClient(SecretsManagerClient);
const kms = new KMSClient({ region: 'us-east-1' });
const secrets = new SecretsManagerClient({ region: 'us-east-1' });
const config = { ...DEFAULT_CONFIG, wrapping: { symmetric: { keySpec: 'RSA_2048' } } };
const wrappingKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const NOW = new Date('2026-12-01T12:00:00Z');
const ROTATION = defaultRotationId(NOW);
const deps: InPlaceDeps = { kms, secrets, log: silentLogger, retry: { maxAttempts: 2, baseDelayMs: 1, sleep: noSleep }, paceParameters: (call) => call() };

/** The order of every call to either service. */
let sequence: string[] = [];
/** The material KMS would report current after the run's RotateKeyOnDemand, and before it. */
let currentAfter = MATERIAL_ID_B;
let currentBefore = MATERIAL_ID_A;
/** The escrow secret's current value: PutSecretValue replaces it (a new version), GetSecretValue reads it. */
let stored: { SecretBinary?: Uint8Array; SecretString?: string } = {};
/** Copies of every EncryptedKeyMaterial sent (the run wipes its buffer after the call). */
let wrappedSent: Buffer[] = [];

function reportWith(materials: MaterialInfo[], current = MATERIAL_ID_A): KeyReport {
  return makeReport({ currentKeyMaterialId: current, materials, materialsListed: true, expirationModel: 'KEY_MATERIAL_EXPIRES' });
}
const ONE = [{ keyMaterialId: MATERIAL_ID_A, state: 'CURRENT', importState: 'IMPORTED', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: '2027-01-01T00:00:00.000Z' }];
/** B imported by this rotation (its description names it) and waiting for RotateKeyOnDemand. */
const WAITING_B: MaterialInfo = { keyMaterialId: MATERIAL_ID_B, state: 'PENDING_ROTATION', importState: 'IMPORTED', description: rotationDescription(ROTATION, NOW) };
const v1 = (materials: unknown[]) => ({ SecretString: JSON.stringify({ format: 'kms-reimport/v1', materials }) });

beforeEach(() => {
  kmsMock.reset();
  secretsMock.reset();
  sequence = [];
  currentAfter = MATERIAL_ID_B;
  currentBefore = MATERIAL_ID_A;
  stored = {};
  wrappedSent = [];
  let rotated = false;
  secretsMock.on(GetSecretValueCommand).callsFake(() => ({ ...stored, ...(stored.SecretBinary ? { SecretBinary: new Uint8Array(stored.SecretBinary) } : {}) }));
  // The escrow write checks the secret is not encrypted under the key itself.
  secretsMock.on(DescribeSecretCommand).resolves({ Name: `kms-reimport/${KEY_ID}` });
  const track = (name: string) => () => void sequence.push(name);
  kmsMock.on(ListKeyRotationsCommand).callsFake(() => (track('ListKeyRotations')(), { Rotations: [] }));
  kmsMock.on(GetParametersForImportCommand).callsFake(() => {
    sequence.push('GetParametersForImport');
    return { PublicKey: wrappingKey.publicKey.export({ format: 'der', type: 'spki' }), ImportToken: Buffer.from('token'), ParametersValidTo: new Date(NOW.getTime() + 86_400_000) };
  });
  kmsMock.on(ImportKeyMaterialCommand).callsFake((input) => {
    sequence.push(`ImportKeyMaterial:${input.ImportType}`);
    wrappedSent.push(Buffer.from(input.EncryptedKeyMaterial));
    return { KeyMaterialId: input.KeyMaterialId ?? MATERIAL_ID_B };
  });
  kmsMock.on(RotateKeyOnDemandCommand).callsFake(() => {
    sequence.push('RotateKeyOnDemand');
    rotated = true;
    return { KeyId: KEY_ID };
  });
  kmsMock.on(DescribeKeyCommand).callsFake(() => ({
    KeyMetadata: { KeyId: KEY_ID, KeyState: 'Enabled', CurrentKeyMaterialId: rotated ? currentAfter : currentBefore },
  }));
  // A ciphertext is its plaintext here: the round trips are about the calls, not the cryptography.
  kmsMock.on(EncryptCommand).callsFake((input) => (sequence.push('Encrypt'), { CiphertextBlob: Buffer.from(input.Plaintext) }));
  kmsMock.on(DecryptCommand).callsFake((input) => ({ Plaintext: Buffer.from(input.CiphertextBlob) }));
  secretsMock.on(PutSecretValueCommand).callsFake((input) => {
    const doc = JSON.parse(input.SecretString) as { materials: Array<{ state?: string }> };
    sequence.push(doc.materials.some((m) => m.state === 'pending-import') ? 'PutSecretValue:escrow' : 'PutSecretValue:record');
    stored = { SecretString: input.SecretString };
    return { VersionId: `v${sequence.length}` };
  });
});

const escrowHolds = (value: { SecretBinary?: Uint8Array; SecretString?: string }) => void (stored = value);
const run = (report: KeyReport, rotationId = ROTATION) => rotateInPlace(deps, { report, config, now: () => NOW, rotationId });

function unwrapSent(i: number): Buffer {
  return privateDecrypt({ key: wrappingKey.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrappedSent[i]!);
}

describe('a fresh rotation', () => {
  test('escrow first, then NEW_KEY_MATERIAL, then the KeyMaterialId recorded, then a ciphertext, then RotateKeyOnDemand, then verified', async () => {
    escrowHolds({ SecretBinary: new Uint8Array(randomBytes(32)) });
    const result = await run(reportWith(ONE));
    assert.deepEqual(sequence, [
      'ListKeyRotations',
      'PutSecretValue:escrow',
      'GetParametersForImport',
      'ImportKeyMaterial:NEW_KEY_MATERIAL',
      'PutSecretValue:record',
      'Encrypt',
      'RotateKeyOnDemand',
      'Encrypt',
    ]);
    assert.deepEqual(result.done, ['escrowed', 'imported', 'recorded', 'rotated', 'verified']);
    assert.equal(result.fromKeyMaterialId, MATERIAL_ID_A);
    assert.equal(result.toKeyMaterialId, MATERIAL_ID_B);
    assert.equal(result.oldCiphertextDecrypted, true);
    const input = kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input;
    assert.equal(input.KeyMaterialId, undefined, 'KMS assigns the ID of new material');
    assert.equal(input.ExpirationModel, 'KEY_MATERIAL_EXPIRES', "the key's model");
    assert.ok(input.ValidTo instanceof Date && input.ValidTo.getTime() % 1000 === 0);
    assert.equal(input.KeyMaterialDescription, `kms-reimport rotation ${ROTATION} 2026-12-01`);
    // KMS's KeyMaterialDescriptionType: letters, digits, spaces and : / _ . - only, at most 256.
    assert.match(input.KeyMaterialDescription ?? '', /^[a-zA-Z0-9:/_\s.-]{1,256}$/);
    // The material imported is the one escrowed.
    const escrowed = JSON.parse(secretsMock.commandCalls(PutSecretValueCommand)[0]!.args[0].input.SecretString!) as { materials: Array<{ material: string; state?: string }> };
    const pending = escrowed.materials.find((m) => m.state === 'pending-import')!;
    assert.ok(unwrapSent(0).equals(Buffer.from(pending.material, 'base64')));
  });

  test('another run escrowed its material under the same rotation first (no lease): the material escrow holds is imported, never the one in hand', async () => {
    const raw = { SecretBinary: new Uint8Array(randomBytes(32)) };
    const theirs = randomBytes(32);
    const theirEscrow = v1([
      { keyMaterialId: MATERIAL_ID_A, material: Buffer.from(raw.SecretBinary).toString('base64') },
      { material: theirs.toString('base64'), rotation: ROTATION, state: 'pending-import' },
    ]);
    // This run reads the raw escrow first; by its escrow write, the other run's version is current.
    let reads = 0;
    secretsMock.on(GetSecretValueCommand).callsFake(() => (++reads === 1 ? { SecretBinary: new Uint8Array(raw.SecretBinary) } : { ...theirEscrow }));
    await run(reportWith(ONE));
    assert.equal(sequence.filter((s) => s === 'PutSecretValue:escrow').length, 0, 'its own material was never escrowed');
    assert.ok(unwrapSent(0).equals(theirs), 'the imported material is the escrowed one, so escrow and KMS agree');
  });

  test('the current material already made by this rotation: only verified, nothing imported or rotated', async () => {
    escrowHolds(
      v1([
        { keyMaterialId: MATERIAL_ID_A, material: randomBytes(32).toString('base64') },
        { keyMaterialId: MATERIAL_ID_B, material: randomBytes(32).toString('base64'), rotation: ROTATION },
      ]),
    );
    currentBefore = MATERIAL_ID_B;
    const result = await run(reportWith([{ keyMaterialId: MATERIAL_ID_A, state: 'NON_CURRENT' }, { keyMaterialId: MATERIAL_ID_B, state: 'CURRENT' }], MATERIAL_ID_B));
    assert.deepEqual(result.done, ['verified']);
    assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
    assert.equal(kmsMock.commandCalls(RotateKeyOnDemandCommand).length, 0);
    assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length, 0);
  });
});

describe('M2: the answer to the NEW_KEY_MATERIAL import lost', () => {
  /** KMS took the new material (now PENDING_ROTATION, described as `description`), then the (retried) call answered `error`. */
  function lostAnswer(error: string, description = rotationDescription(ROTATION, NOW)) {
    let arrived = false;
    kmsMock.on(DescribeKeyCommand).callsFake(() => ({
      KeyMetadata: { KeyId: KEY_ID, KeyState: 'Enabled', Origin: 'EXTERNAL', KeySpec: 'SYMMETRIC_DEFAULT', CurrentKeyMaterialId: sequence.includes('RotateKeyOnDemand') ? currentAfter : currentBefore },
    }));
    kmsMock.on(ListResourceTagsCommand).resolves({ Tags: [{ TagKey: 'kms-reimport:managed', TagValue: 'true' }] });
    kmsMock.on(ListKeyRotationsCommand).callsFake((input) => {
      sequence.push('ListKeyRotations');
      if (input.IncludeKeyMaterial !== 'ALL_KEY_MATERIAL') return { Rotations: [] };
      return {
        Rotations: [
          { KeyId: KEY_ID, KeyMaterialId: MATERIAL_ID_A, KeyMaterialState: 'CURRENT', ImportState: 'IMPORTED' },
          ...(arrived ? [{ KeyId: KEY_ID, KeyMaterialId: MATERIAL_ID_B, KeyMaterialState: 'PENDING_ROTATION', ImportState: 'IMPORTED', KeyMaterialDescription: description }] : []),
        ],
      };
    });
    kmsMock.on(ImportKeyMaterialCommand).callsFake((input) => {
      sequence.push(`ImportKeyMaterial:${input.ImportType}`);
      wrappedSent.push(Buffer.from(input.EncryptedKeyMaterial));
      if (input.ImportType === 'NEW_KEY_MATERIAL') {
        arrived = true;
        throw awsError(error);
      }
      return { KeyMaterialId: input.KeyMaterialId };
    });
  }
  beforeEach(() => escrowHolds(v1([{ keyMaterialId: MATERIAL_ID_A, material: randomBytes(32).toString('base64') }])));

  for (const error of ['IncorrectKeyMaterialException', 'KMSInvalidStateException']) {
    test(`the retry answers ${error}, the key read again holds this rotation's material PENDING_ROTATION: proven, recorded, rotated; no false alarm`, async () => {
      lostAnswer(error);
      const result = await run(reportWith(ONE));
      assert.equal(result.toKeyMaterialId, MATERIAL_ID_B);
      assert.deepEqual(result.done, ['escrowed', 'imported', 'proven', 'recorded', 'rotated', 'verified']);
      const imports = sequence.filter((x) => x.startsWith('ImportKeyMaterial'));
      assert.equal(imports.filter((x) => x === 'ImportKeyMaterial:NEW_KEY_MATERIAL').length, 1, 'never a second new material');
      assert.equal(imports.at(-1), 'ImportKeyMaterial:EXISTING_KEY_MATERIAL');
      assert.ok(unwrapSent(0).equals(unwrapSent(wrappedSent.length - 1)), 'the proof reimports the material the NEW import sent');
      const record = JSON.parse(secretsMock.commandCalls(PutSecretValueCommand).at(-1)!.args[0].input.SecretString!) as { materials: Array<{ rotation?: string; keyMaterialId?: string; state?: string }> };
      assert.equal(record.materials.find((m) => m.rotation === ROTATION)?.keyMaterialId, MATERIAL_ID_B);
      assert.equal(kmsMock.commandCalls(RotateKeyOnDemandCommand).length, 1);
    });
  }

  test('the NEW import refused and no material of this rotation waiting (none, or another rotation\'s): the refusal stands, nothing rotated', async () => {
    lostAnswer('IncorrectKeyMaterialException', rotationDescription('rotation-2026-10-01', NOW));
    await assert.rejects(run(reportWith(ONE)), IncorrectKeyMaterial);
    assert.equal(kmsMock.commandCalls(RotateKeyOnDemandCommand).length, 0);
    assert.equal(sequence.filter((x) => x === 'ImportKeyMaterial:EXISTING_KEY_MATERIAL').length, 0);
  });
});

describe('finishing an interrupted rotation: never a second new material', () => {
  test('escrowed, not imported: THAT material is imported (no generation, no second escrow write)', async () => {
    const pending = randomBytes(32);
    escrowHolds(
      v1([
        { keyMaterialId: MATERIAL_ID_A, material: randomBytes(32).toString('base64') },
        { material: pending.toString('base64'), rotation: 'rotation-2026-11-30', state: 'pending-import' },
      ]),
    );
    const result = await run(reportWith(ONE));
    assert.deepEqual(result.resumed, ['escrowed']);
    assert.ok(unwrapSent(0).equals(pending), 'the escrowed material, not a new one');
    assert.deepEqual(
      sequence.filter((s) => s.startsWith('PutSecretValue') || s.startsWith('ImportKeyMaterial')),
      ['ImportKeyMaterial:NEW_KEY_MATERIAL', 'PutSecretValue:record'],
    );
    const recorded = JSON.parse(secretsMock.commandCalls(PutSecretValueCommand)[0]!.args[0].input.SecretString!) as { materials: Array<{ rotation?: string; keyMaterialId?: string }> };
    assert.equal(recorded.materials.find((m) => m.rotation === 'rotation-2026-11-30')?.keyMaterialId, MATERIAL_ID_B, "recorded under the earlier run's rotation id");
  });

  test('imported and recorded, not rotated: only RotateKeyOnDemand', async () => {
    escrowHolds(
      v1([
        { keyMaterialId: MATERIAL_ID_A, material: randomBytes(32).toString('base64') },
        { keyMaterialId: MATERIAL_ID_B, material: randomBytes(32).toString('base64'), rotation: 'r0' },
      ]),
    );
    const result = await run(reportWith([...ONE, { keyMaterialId: MATERIAL_ID_B, state: 'PENDING_ROTATION', importState: 'IMPORTED' }]));
    assert.deepEqual(result.resumed, ['escrowed', 'imported', 'recorded']);
    assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
    assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length, 0);
    assert.equal(kmsMock.commandCalls(RotateKeyOnDemandCommand).length, 1);
  });

  test('M4: imported and recorded, its ValidTo passed while it waited (PENDING_IMPORT): reimported from its escrow entry (EXISTING, its ID), then rotated', async () => {
    const waitingMaterial = randomBytes(32);
    escrowHolds(
      v1([
        { keyMaterialId: MATERIAL_ID_A, material: randomBytes(32).toString('base64') },
        { keyMaterialId: MATERIAL_ID_B, material: waitingMaterial.toString('base64'), rotation: 'r0' },
      ]),
    );
    const result = await run(reportWith([...ONE, { keyMaterialId: MATERIAL_ID_B, state: 'PENDING_ROTATION', importState: 'PENDING_IMPORT', expirationModel: 'KEY_MATERIAL_EXPIRES' }]));
    const calls = kmsMock.commandCalls(ImportKeyMaterialCommand);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.args[0].input.ImportType, 'EXISTING_KEY_MATERIAL');
    assert.equal(calls[0]!.args[0].input.KeyMaterialId, MATERIAL_ID_B);
    assert.ok(unwrapSent(0).equals(waitingMaterial), 'its own escrowed material');
    assert.deepEqual(
      sequence.filter((x) => x.startsWith('ImportKeyMaterial') || x === 'RotateKeyOnDemand'),
      ['ImportKeyMaterial:EXISTING_KEY_MATERIAL', 'RotateKeyOnDemand'],
      'reimported before the rotation',
    );
    assert.deepEqual(result.done, ['reimported', 'rotated', 'verified']);
    assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length, 0, 'escrow already records it');
  });

  test('M4: KMS refuses that reimport: PendingMaterialUnproven naming delete-imported-key-material, nothing rotated', async () => {
    escrowHolds(
      v1([
        { keyMaterialId: MATERIAL_ID_A, material: randomBytes(32).toString('base64') },
        { keyMaterialId: MATERIAL_ID_B, material: randomBytes(32).toString('base64'), rotation: 'r0' },
      ]),
    );
    kmsMock.on(ImportKeyMaterialCommand).rejects(awsError('KMSInvalidStateException'));
    await assert.rejects(run(reportWith([...ONE, { keyMaterialId: MATERIAL_ID_B, state: 'PENDING_ROTATION', importState: 'PENDING_IMPORT' }])), (e: unknown) => {
      assert.ok(e instanceof PendingMaterialUnproven);
      assert.ok(e.message.includes(`--key-material-id ${MATERIAL_ID_B}`));
      return true;
    });
    assert.equal(kmsMock.commandCalls(RotateKeyOnDemandCommand).length, 0);
  });

  test('imported, not recorded: the pending entry is proven under the waiting KeyMaterialId (EXISTING_KEY_MATERIAL), recorded, rotated', async () => {
    const pending = randomBytes(32);
    escrowHolds(
      v1([
        { keyMaterialId: MATERIAL_ID_A, material: randomBytes(32).toString('base64') },
        { material: pending.toString('base64'), rotation: ROTATION, state: 'pending-import' },
      ]),
    );
    const result = await run(reportWith([...ONE, WAITING_B]));
    const input = kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input;
    assert.equal(input.ImportType, 'EXISTING_KEY_MATERIAL');
    assert.equal(input.KeyMaterialId, MATERIAL_ID_B);
    assert.ok(unwrapSent(0).equals(pending));
    assert.deepEqual(result.done, ['proven', 'recorded', 'rotated', 'verified']);
    assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 1, 'no NEW_KEY_MATERIAL');
  });

  // M3: proving a PENDING_ROTATION material by reimport is unconfirmed KMS behaviour: any refusal is terminal, with the next step.
  for (const refusal of ['IncorrectKeyMaterialException', 'KMSInvalidStateException', 'UnsupportedOperationException']) {
    test(`the proof of a waiting material refused (${refusal}): PendingMaterialUnproven naming delete-imported-key-material, nothing rotated or recorded`, async () => {
      escrowHolds(
        v1([
          { keyMaterialId: MATERIAL_ID_A, material: randomBytes(32).toString('base64') },
          { material: randomBytes(32).toString('base64'), rotation: ROTATION, state: 'pending-import' },
        ]),
      );
      kmsMock.on(ImportKeyMaterialCommand).rejects(awsError(refusal));
      await assert.rejects(run(reportWith([...ONE, WAITING_B])), (e: unknown) => {
        assert.ok(e instanceof PendingMaterialUnproven, String(e));
        assert.equal(e.name, 'PendingMaterialUnproven');
        assert.ok(e.message.includes(`aws kms delete-imported-key-material --key-id ${KEY_ID} --key-material-id ${MATERIAL_ID_B}`), e.message);
        assert.match(e.message, /run the rotation again/);
        assert.doesNotMatch(e.message, /later/);
        return true;
      });
      assert.equal(kmsMock.commandCalls(RotateKeyOnDemandCommand).length, 0);
      assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length, 0);
    });
  }

  test('a waiting material whose description does not name the escrow entry\'s rotation: PendingMaterialUnproven before any import', async () => {
    escrowHolds(
      v1([
        { keyMaterialId: MATERIAL_ID_A, material: randomBytes(32).toString('base64') },
        { material: randomBytes(32).toString('base64'), rotation: ROTATION, state: 'pending-import' },
      ]),
    );
    for (const description of [undefined, rotationDescription('rotation-2026-11-01', NOW), 'imported by hand']) {
      kmsMock.resetHistory();
      const waiting = { ...WAITING_B, ...(description !== undefined ? { description } : {}) };
      if (description === undefined) delete (waiting as MaterialInfo).description;
      await assert.rejects(run(reportWith([...ONE, waiting])), (e: unknown) => {
        assert.ok(e instanceof PendingMaterialUnproven, String(description));
        assert.match(e.message, new RegExp(`does not name rotation ${ROTATION}`));
        assert.ok(e.message.includes(`--key-material-id ${MATERIAL_ID_B}`));
        return true;
      });
      assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
      assert.equal(kmsMock.commandCalls(RotateKeyOnDemandCommand).length, 0);
    }
  });

  test('describesRotation: the description rotationDescription wrote for that rotation id, on any date', () => {
    assert.equal(describesRotation(rotationDescription(ROTATION, NOW), ROTATION), true);
    assert.equal(describesRotation(rotationDescription(ROTATION, new Date('2027-03-04T00:00:00Z')), ROTATION), true);
    assert.equal(describesRotation(rotationDescription('rotation-2026-11-30', NOW), ROTATION), false);
    assert.equal(describesRotation(`${rotationDescription(ROTATION, NOW)} extra`, ROTATION), false);
    assert.equal(describesRotation(undefined, ROTATION), false);
  });

  test('a waiting material escrow does not hold at all: EscrowMissing, never rotated to', async () => {
    escrowHolds({ SecretBinary: new Uint8Array(randomBytes(32)) });
    await assert.rejects(run(reportWith([...ONE, { keyMaterialId: MATERIAL_ID_B, state: 'PENDING_ROTATION', importState: 'IMPORTED' }])), EscrowMissing);
    assert.equal(kmsMock.commandCalls(RotateKeyOnDemandCommand).length, 0);
    assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
  });

  test('rotated, not recorded: the current material is proven from the pending entry, recorded, verified, not rotated again', async () => {
    escrowHolds(
      v1([
        { keyMaterialId: MATERIAL_ID_A, material: randomBytes(32).toString('base64') },
        { material: randomBytes(32).toString('base64'), rotation: ROTATION, state: 'pending-import' },
      ]),
    );
    currentBefore = MATERIAL_ID_B;
    const result = await run(reportWith([{ keyMaterialId: MATERIAL_ID_A, state: 'NON_CURRENT' }, { keyMaterialId: MATERIAL_ID_B, state: 'CURRENT' }], MATERIAL_ID_B));
    assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand)[0]!.args[0].input.ImportType, 'EXISTING_KEY_MATERIAL');
    assert.equal(kmsMock.commandCalls(RotateKeyOnDemandCommand).length, 0);
    assert.deepEqual(result.done, ['proven', 'recorded', 'verified']);
  });
});

describe('refusals', () => {
  beforeEach(() => escrowHolds({ SecretBinary: new Uint8Array(randomBytes(32)) }));

  test('ConflictException → RotationConflict (retry later); the material stays escrowed and recorded', async () => {
    kmsMock.on(RotateKeyOnDemandCommand).rejects(awsError('ConflictException'));
    await assert.rejects(run(reportWith(ONE)), (e: unknown) => {
      assert.ok(e instanceof RotationConflict);
      assert.match(e.message, /run the rotation again later/);
      return true;
    });
    assert.deepEqual(
      sequence.filter((s) => s.startsWith('PutSecretValue')),
      ['PutSecretValue:escrow', 'PutSecretValue:record'],
    );
  });

  test('a RotateKeyOnDemand whose answer was lost (the retry finds nothing left to rotate: KMSInvalidStateException): the key read again shows the new material current → rotated', async () => {
    let calls = 0;
    kmsMock.on(RotateKeyOnDemandCommand).callsFake(() => {
      calls++;
      // KMS rotated, then the retry is refused: nothing is PENDING_ROTATION any more.
      currentBefore = currentAfter;
      throw awsError('KMSInvalidStateException');
    });
    const result = await run(reportWith(ONE));
    assert.equal(calls, 1);
    assert.equal(result.toKeyMaterialId, currentAfter);
    assert.ok(result.done.includes('verified'));
  });

  test('KMSInvalidStateException from RotateKeyOnDemand with the old material still current: KeyNotEligible, the new material stays escrowed', async () => {
    kmsMock.on(RotateKeyOnDemandCommand).rejects(awsError('KMSInvalidStateException'));
    await assert.rejects(run(reportWith(ONE)), { name: 'KeyNotEligible' });
  });

  test('LimitExceededException from RotateKeyOnDemand → RotationLimitReached', async () => {
    kmsMock.on(RotateKeyOnDemandCommand).rejects(awsError('LimitExceededException'));
    await assert.rejects(run(reportWith(ONE)), RotationLimitReached);
  });

  test('25 on-demand rotations already: RotationLimitReached before anything is escrowed or imported', async () => {
    kmsMock.on(ListKeyRotationsCommand).resolves({ Rotations: Array.from({ length: 25 }, () => ({ RotationType: 'ON_DEMAND' as const })) });
    await assert.rejects(run(reportWith(ONE)), (e: unknown) => {
      assert.ok(e instanceof RotationLimitReached);
      assert.match(e.message, /alias swap/);
      return true;
    });
    assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length, 0);
    assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
  });

  test('a permanently associated material escrow does not hold: EscrowMissing, nothing done', async () => {
    escrowHolds(v1([{ keyMaterialId: MATERIAL_ID_A, material: randomBytes(32).toString('base64') }]));
    await assert.rejects(run(reportWith([...ONE, { keyMaterialId: MATERIAL_ID_B, state: 'NON_CURRENT', importState: 'IMPORTED' }])), EscrowMissing);
    assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length, 0);
  });
});

describe('the mode per key', () => {
  const listed = { materialsListed: true, currentKeyMaterialId: MATERIAL_ID_A };
  test('SYMMETRIC_DEFAULT: in place; HMAC, RSA, ECC: alias swap; alias-swap requested: alias swap', () => {
    assert.equal((chooseRotationMode(makeReport(listed), 'auto') as { mode: string }).mode, 'in-place');
    for (const keySpec of ['HMAC_256', 'RSA_2048', 'ECC_NIST_P256']) {
      assert.equal((chooseRotationMode(makeReport({ keySpec }), 'auto') as { mode: string }).mode, 'alias-swap', keySpec);
    }
    assert.equal((chooseRotationMode(makeReport(listed), 'alias-swap') as { mode: string }).mode, 'alias-swap');
  });
  test('skipped: in place asked of an HMAC key, a key whose materials KMS does not list', () => {
    assert.match((chooseRotationMode(makeReport({ keySpec: 'HMAC_256' }), 'in-place') as { skip: string }).skip, /SYMMETRIC_DEFAULT keys only/);
    assert.match((chooseRotationMode(makeReport({ materialsListed: false }), 'auto') as { skip: string }).skip, /does not list/);
  });
  test('Multi-Region: a SYMMETRIC_DEFAULT primary is rotated in place with its replicas; replicas skipped (rotate its primary); alias swap refused', () => {
    const primary = { ...listed, multiRegion: true, multiRegionKeyType: 'PRIMARY', primaryRegion: 'us-east-1', replicaRegions: ['eu-west-1', 'ap-southeast-2'] };
    const chosen = chooseRotationMode(makeReport(primary), 'auto') as { mode: string; why: string };
    assert.equal(chosen.mode, 'in-place');
    assert.match(chosen.why, /Multi-Region primary .* replicas in ap-southeast-2, eu-west-1/);
    assert.equal((chooseRotationMode(makeReport(primary), 'in-place') as { mode: string }).mode, 'in-place');
    const replica = makeReport({ ...primary, multiRegionKeyType: 'REPLICA', arn: `arn:aws:kms:eu-west-1:111122223333:key/${KEY_ID}` });
    assert.match((chooseRotationMode(replica, 'auto') as { skip: string }).skip, /replica of a Multi-Region key: rotate its primary us-east-1/);
    assert.match((chooseRotationMode(makeReport(primary), 'alias-swap') as { skip: string }).skip, /Multi-Region keys in place only/);
    assert.match((chooseRotationMode(makeReport({ ...primary, keySpec: 'HMAC_256' }), 'auto') as { skip: string }).skip, /Multi-Region keys in place only/);
    assert.match((chooseRotationMode(makeReport({ ...listed, multiRegion: true }), 'auto') as { skip: string }).skip, /did not say whether it is the primary or a replica/);
  });
});
