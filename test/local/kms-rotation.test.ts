// On-demand rotation of imported material through the real SDK: NEW_KEY_MATERIAL waiting in
// PENDING_ROTATION, RotateKeyOnDemand, ListKeyRotations (both IncludeKeyMaterial values,
// pagination), several materials missing after rotation, the 25-rotation cap, multi-Region.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateKeyCommand,
  DecryptCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  EncryptCommand,
  type KMSClient,
  ListKeyRotationsCommand,
  ReplicateKeyCommand,
  RotateKeyOnDemandCommand,
} from '@aws-sdk/client-kms';
import { createExternalKey, DAY, type Harness, importMaterial, materialFor, rejectsWith, startHarness } from './kms-support.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});

const now = () => h.endpoint.clock.now();

async function all(kms: KMSClient, keyId: string) {
  return (await kms.send(new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }))).Rotations!;
}

async function state(kms: KMSClient, keyId: string) {
  return (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
}

/** An EXTERNAL symmetric key rotated once: returns both materials and a ciphertext under each. */
async function rotatedKey(kms: KMSClient, validToSeconds = 30 * DAY) {
  const key = await createExternalKey(kms);
  const first = materialFor('SYMMETRIC_DEFAULT');
  const second = materialFor('SYMMETRIC_DEFAULT');
  const validTo = new Date((Math.floor(now() / 1000) + validToSeconds) * 1000);
  const a = await importMaterial(kms, key.KeyId!, first, now(), { validTo, extra: { KeyMaterialDescription: 'first' } });
  const oldBlob = (await kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('old') }))).CiphertextBlob!;
  const b = await importMaterial(kms, key.KeyId!, second, now(), { validTo, extra: { ImportType: 'NEW_KEY_MATERIAL', KeyMaterialDescription: 'second' } });
  await kms.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId }));
  const newBlob = (await kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('new') }))).CiphertextBlob!;
  return { key, first, second, firstId: a.KeyMaterialId!, secondId: b.KeyMaterialId!, oldBlob, newBlob, validTo };
}

describe('rotation of imported material', () => {
  it('KeyMaterialDescription follows the model pattern (letters, digits, spaces and : / _ . -): parentheses are a ValidationException', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    await importMaterial(kms, key.KeyId!, materialFor('SYMMETRIC_DEFAULT'), now());
    await rejectsWith(
      importMaterial(kms, key.KeyId!, materialFor('SYMMETRIC_DEFAULT'), now(), { extra: { ImportType: 'NEW_KEY_MATERIAL', KeyMaterialDescription: 'rotation r1 (2026-12-01)' } }),
      'ValidationException',
      /keyMaterialDescription/,
    );
    const ok = await importMaterial(kms, key.KeyId!, materialFor('SYMMETRIC_DEFAULT'), now(), {
      extra: { ImportType: 'NEW_KEY_MATERIAL', KeyMaterialDescription: 'kms-reimport rotation r1 2026-12-01: a/b_c.d' },
    });
    assert.ok(ok.KeyMaterialId);
  });

  it('NEW_KEY_MATERIAL waits in PENDING_ROTATION; RotateKeyOnDemand makes it CURRENT and the old one NON_CURRENT', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    const first = await importMaterial(kms, key.KeyId!, materialFor('SYMMETRIC_DEFAULT'), now());
    await rejectsWith(kms.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId })), 'KMSInvalidStateException', /NEW_KEY_MATERIAL/);
    const second = await importMaterial(kms, key.KeyId!, materialFor('SYMMETRIC_DEFAULT'), now(), { extra: { ImportType: 'NEW_KEY_MATERIAL', KeyMaterialDescription: 'v2' } });
    assert.notEqual(second.KeyMaterialId, first.KeyMaterialId);
    const listed = await all(kms, key.KeyId!);
    assert.deepEqual(listed.map((r) => [r.KeyMaterialId, r.KeyMaterialState, r.ImportState]), [
      [first.KeyMaterialId, 'CURRENT', 'IMPORTED'],
      [second.KeyMaterialId, 'PENDING_ROTATION', 'IMPORTED'],
    ]);
    assert.equal(listed[1]!.KeyMaterialDescription, 'v2');
    assert.equal(listed[1]!.RotationDate, undefined);
    assert.equal((await state(kms, key.KeyId!)).CurrentKeyMaterialId, first.KeyMaterialId);
    assert.deepEqual((await kms.send(new ListKeyRotationsCommand({ KeyId: key.KeyId }))).Rotations, []);
    await rejectsWith(importMaterial(kms, key.KeyId!, materialFor('SYMMETRIC_DEFAULT'), now(), { extra: { ImportType: 'NEW_KEY_MATERIAL' } }), 'KMSInvalidStateException', /waiting for rotation/);
    const rotated = await kms.send(new RotateKeyOnDemandCommand({ KeyId: key.Arn }));
    assert.equal(rotated.KeyId, key.Arn);
    const rotatedRows = await all(kms, key.KeyId!);
    assert.deepEqual(rotatedRows.map((r) => r.KeyMaterialState), ['NON_CURRENT', 'CURRENT']);
    assert.equal(rotatedRows[1]!.RotationType, 'ON_DEMAND');
    assert.ok(rotatedRows[1]!.RotationDate instanceof Date);
    assert.equal(rotatedRows[0]!.ExpirationModel, 'KEY_MATERIAL_EXPIRES');
    assert.ok(rotatedRows[0]!.ValidTo instanceof Date);
    const only = (await kms.send(new ListKeyRotationsCommand({ KeyId: key.KeyId, IncludeKeyMaterial: 'ROTATIONS_ONLY' }))).Rotations!;
    assert.deepEqual(only.map((r) => r.KeyMaterialId), [second.KeyMaterialId]);
    assert.equal((await state(kms, key.KeyId!)).CurrentKeyMaterialId, second.KeyMaterialId);
  });

  it('old ciphertext decrypts with NON_CURRENT material, new ciphertext names the new material', async () => {
    const kms = h.kms();
    const r = await rotatedKey(kms);
    const oldPlain = await kms.send(new DecryptCommand({ CiphertextBlob: r.oldBlob }));
    assert.equal(Buffer.from(oldPlain.Plaintext!).toString(), 'old');
    assert.equal(oldPlain.KeyMaterialId, r.firstId);
    assert.equal((await kms.send(new DecryptCommand({ CiphertextBlob: r.newBlob }))).KeyMaterialId, r.secondId);
  });

  it('several materials missing: PendingImport until every one is reimported (KeyMaterialId required)', async () => {
    const kms = h.kms();
    const r = await rotatedKey(kms);
    const deletedOld = await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: r.key.KeyId, KeyMaterialId: r.firstId }));
    assert.equal(deletedOld.KeyMaterialId, r.firstId);
    assert.equal((await state(kms, r.key.KeyId!)).KeyState, 'PendingImport');
    await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: r.newBlob })), 'KMSInvalidStateException');
    const deletedCurrent = await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: r.key.KeyId }));
    assert.equal(deletedCurrent.KeyMaterialId, r.secondId);
    assert.deepEqual((await all(kms, r.key.KeyId!)).map((x) => x.ImportState), ['PENDING_IMPORT', 'PENDING_IMPORT']);
    await rejectsWith(importMaterial(kms, r.key.KeyId!, r.first, now()), 'ValidationException', /KeyMaterialId/);
    await rejectsWith(importMaterial(kms, r.key.KeyId!, r.second, now(), { extra: { KeyMaterialId: r.firstId } }), 'IncorrectKeyMaterialException');
    await importMaterial(kms, r.key.KeyId!, r.second, now(), { extra: { KeyMaterialId: r.secondId } });
    assert.equal((await state(kms, r.key.KeyId!)).KeyState, 'PendingImport');
    await importMaterial(kms, r.key.KeyId!, r.first, now(), { extra: { KeyMaterialId: r.firstId, ImportType: 'EXISTING_KEY_MATERIAL' } });
    assert.equal((await state(kms, r.key.KeyId!)).KeyState, 'Enabled');
    assert.equal(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: r.oldBlob }))).Plaintext!).toString(), 'old');
    const rows = await all(kms, r.key.KeyId!);
    assert.deepEqual(rows.map((x) => x.KeyMaterialDescription), ['first', 'second']);
  });

  it('expiry of the NON_CURRENT material alone makes the whole key PendingImport', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    const first = materialFor('SYMMETRIC_DEFAULT');
    const soon = new Date((Math.floor(now() / 1000) + 3600) * 1000);
    const a = await importMaterial(kms, key.KeyId!, first, now(), { validTo: soon });
    await importMaterial(kms, key.KeyId!, materialFor('SYMMETRIC_DEFAULT'), now(), { validTo: new Date(soon.getTime() + 30 * DAY * 1000), extra: { ImportType: 'NEW_KEY_MATERIAL' } });
    await kms.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId }));
    h.endpoint.clock.set(soon.getTime());
    const m = await state(kms, key.KeyId!);
    assert.equal(m.KeyState, 'PendingImport');
    const rows = await all(kms, key.KeyId!);
    assert.deepEqual(rows.map((x) => [x.KeyMaterialState, x.ImportState]), [['NON_CURRENT', 'PENDING_IMPORT'], ['CURRENT', 'IMPORTED']]);
    await importMaterial(kms, key.KeyId!, first, now(), { extra: { KeyMaterialId: a.KeyMaterialId } });
    assert.equal((await state(kms, key.KeyId!)).KeyState, 'Enabled');
  });

  it('deleting PENDING_ROTATION material dissociates it; the key stays Enabled', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    await importMaterial(kms, key.KeyId!, materialFor('SYMMETRIC_DEFAULT'), now());
    const pending = await importMaterial(kms, key.KeyId!, materialFor('SYMMETRIC_DEFAULT'), now(), { extra: { ImportType: 'NEW_KEY_MATERIAL' } });
    await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.KeyId, KeyMaterialId: pending.KeyMaterialId }));
    assert.equal((await all(kms, key.KeyId!)).length, 1);
    assert.equal((await state(kms, key.KeyId!)).KeyState, 'Enabled');
    await rejectsWith(kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.KeyId, KeyMaterialId: pending.KeyMaterialId })), 'NotFoundException');
  });

  it('refuses rotation for non-symmetric keys, and ListKeyRotations for them', async () => {
    const kms = h.kms();
    const hmac = (await kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))).KeyMetadata!;
    await rejectsWith(kms.send(new RotateKeyOnDemandCommand({ KeyId: hmac.KeyId })), 'UnsupportedOperationException', /symmetric/);
    await rejectsWith(kms.send(new ListKeyRotationsCommand({ KeyId: hmac.KeyId })), 'UnsupportedOperationException');
  });

  it('caps on-demand rotations at 25 per key and paginates ListKeyRotations', async () => {
    const kms = h.kms();
    const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    for (let i = 0; i < 25; i++) await kms.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId }));
    await rejectsWith(kms.send(new RotateKeyOnDemandCommand({ KeyId: key.KeyId })), 'LimitExceededException', /25/);
    const seen: string[] = [];
    let marker: string | undefined;
    do {
      const page = await kms.send(new ListKeyRotationsCommand({ KeyId: key.KeyId, Limit: 10, ...(marker ? { Marker: marker } : {}) }));
      assert.ok(page.Rotations!.length <= 10);
      seen.push(...page.Rotations!.map((r) => r.KeyMaterialId!));
      marker = page.NextMarker;
    } while (marker);
    assert.equal(seen.length, 25);
    assert.equal(new Set(seen).size, 25);
    assert.equal((await all(kms, key.KeyId!)).length, 26);
  });
});

describe('multi-Region rotation', () => {
  it('new material in the primary waits for every replica, then rotation moves primary and replicas together', async () => {
    const east = h.kms('us-east-1');
    const west = h.kms('eu-west-1');
    const primary = await createExternalKey(east, 'SYMMETRIC_DEFAULT', { MultiRegion: true });
    const first = materialFor('SYMMETRIC_DEFAULT');
    const a = await importMaterial(east, primary.KeyId!, first, now());
    await east.send(new ReplicateKeyCommand({ KeyId: primary.KeyId, ReplicaRegion: 'eu-west-1' }));
    await importMaterial(west, primary.KeyId!, first, now());
    assert.equal((await state(west, primary.KeyId!)).KeyState, 'Enabled');
    const second = materialFor('SYMMETRIC_DEFAULT');
    await rejectsWith(importMaterial(west, primary.KeyId!, second, now(), { extra: { ImportType: 'NEW_KEY_MATERIAL' } }), 'UnsupportedOperationException', /primary/);
    const b = await importMaterial(east, primary.KeyId!, second, now(), { extra: { ImportType: 'NEW_KEY_MATERIAL' } });
    assert.equal((await all(east, primary.KeyId!))[1]!.KeyMaterialState, 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION');
    await rejectsWith(east.send(new RotateKeyOnDemandCommand({ KeyId: primary.KeyId })), 'KMSInvalidStateException', /replica/);
    await importMaterial(west, primary.KeyId!, second, now(), { extra: { ImportType: 'EXISTING_KEY_MATERIAL', KeyMaterialId: b.KeyMaterialId } });
    assert.equal((await all(east, primary.KeyId!))[1]!.KeyMaterialState, 'PENDING_ROTATION');
    await rejectsWith(west.send(new RotateKeyOnDemandCommand({ KeyId: primary.KeyId })), 'UnsupportedOperationException', /primary/);
    await east.send(new RotateKeyOnDemandCommand({ KeyId: primary.KeyId }));
    assert.equal((await state(east, primary.KeyId!)).CurrentKeyMaterialId, b.KeyMaterialId);
    assert.equal((await state(west, primary.KeyId!)).CurrentKeyMaterialId, b.KeyMaterialId);
    assert.deepEqual((await all(west, primary.KeyId!)).map((r) => [r.KeyMaterialId, r.KeyMaterialState]), [
      [a.KeyMaterialId, 'NON_CURRENT'],
      [b.KeyMaterialId, 'CURRENT'],
    ]);
  });
});

describe("a multi-Region replica's first import (replicaFirstImport)", () => {
  const cases: ['existing-required' | 'new-required' | 'either' | undefined, Record<'NEW_KEY_MATERIAL' | 'EXISTING_KEY_MATERIAL' | 'omitted', string | null>][] = [
    [undefined, { NEW_KEY_MATERIAL: 'UnsupportedOperationException', EXISTING_KEY_MATERIAL: null, omitted: null }],
    ['existing-required', { NEW_KEY_MATERIAL: 'UnsupportedOperationException', EXISTING_KEY_MATERIAL: null, omitted: null }],
    ['new-required', { NEW_KEY_MATERIAL: null, EXISTING_KEY_MATERIAL: 'IncorrectKeyMaterialException', omitted: null }],
    ['either', { NEW_KEY_MATERIAL: null, EXISTING_KEY_MATERIAL: null, omitted: null }],
  ];
  for (const [option, expected] of cases) {
    for (const importType of ['NEW_KEY_MATERIAL', 'EXISTING_KEY_MATERIAL', 'omitted'] as const) {
      const outcome = expected[importType];
      it(`${option ?? 'default (existing-required)'}: ImportType ${importType} ${outcome ? `is ${outcome}` : 'is accepted'}`, async () => {
        const hh = await startHarness(option ? { kms: { replicaFirstImport: option } } : {});
        try {
          const east = hh.kms('us-east-1');
          const west = hh.kms('eu-west-1');
          const at = () => hh.endpoint.clock.now();
          const primary = await createExternalKey(east, 'SYMMETRIC_DEFAULT', { MultiRegion: true });
          const material = materialFor('SYMMETRIC_DEFAULT');
          const imported = await importMaterial(east, primary.KeyId!, material, at());
          await east.send(new ReplicateKeyCommand({ KeyId: primary.KeyId, ReplicaRegion: 'eu-west-1' }));
          const extra = importType === 'omitted' ? {} : { ImportType: importType };
          if (outcome) {
            await rejectsWith(importMaterial(west, primary.KeyId!, material, at(), { extra }), outcome, /replicaFirstImport/);
            assert.equal((await state(west, primary.KeyId!)).KeyState, 'PendingImport');
            return;
          }
          if (importType !== 'EXISTING_KEY_MATERIAL') {
            // Sent or defaulted as new material, it must still be the primary's.
            await rejectsWith(importMaterial(west, primary.KeyId!, materialFor('SYMMETRIC_DEFAULT'), at(), { extra }), 'IncorrectKeyMaterialException');
          }
          const out = await importMaterial(west, primary.KeyId!, material, at(), { extra });
          assert.equal(out.KeyMaterialId, imported.KeyMaterialId);
          assert.equal((await state(west, primary.KeyId!)).KeyState, 'Enabled');
          // Only the first import is governed by the option: a reimport is EXISTING_KEY_MATERIAL as usual.
          await importMaterial(west, primary.KeyId!, material, at(), { extra: { ImportType: 'EXISTING_KEY_MATERIAL' } });
        } finally {
          await hh.close();
        }
      });
    }
  }
});
