import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_CONFIG, DEFAULT_MAX_ROTATIONS_PER_SWEEP, DEFAULT_MIN_ROTATE_EVERY_DAYS, loadConfig, validateConfig } from '../../lib/config.js';
import {
  currentMaterialSince,
  limitRotationsPerSweep,
  parseRotateEvery,
  RotationScheduleInvalid,
  rotationModeFor,
  rotationStatus,
} from '../../lib/rotation/schedule.js';
import type { KeyReport, MaterialInfo } from '../../lib/types.js';
import { KEY_ID, makeReport, MATERIAL_ID_A, MATERIAL_ID_B } from './lib-fixtures.js';

const config = { ...DEFAULT_CONFIG };
const NOW = new Date('2027-01-01T00:00:00Z');
const DAY = 86_400_000;
const daysAgo = (d: number) => new Date(NOW.getTime() - d * DAY).toISOString();
const MANAGED = { 'kms-reimport:managed': 'true' };

/** A single-Region symmetric key whose materials KMS listed: one CURRENT material, never rotated, created `createdDaysAgo` ago. */
function symmetric(createdDaysAgo: number, overrides: Partial<KeyReport> = {}): KeyReport {
  return makeReport({
    creationDate: daysAgo(createdDaysAgo),
    currentKeyMaterialId: MATERIAL_ID_A,
    materials: [{ keyMaterialId: MATERIAL_ID_A, state: 'CURRENT', importState: 'IMPORTED' }],
    materialsListed: true,
    ...overrides,
  });
}

/** A symmetric key rotated in place `rotatedDaysAgo` ago: B is CURRENT with a RotationDate, A NON_CURRENT. */
function rotated(createdDaysAgo: number, rotatedDaysAgo: number, tags: Record<string, string>): KeyReport {
  const materials: MaterialInfo[] = [
    { keyMaterialId: MATERIAL_ID_A, state: 'NON_CURRENT', importState: 'IMPORTED' },
    { keyMaterialId: MATERIAL_ID_B, state: 'CURRENT', importState: 'IMPORTED', rotationDate: daysAgo(rotatedDaysAgo) },
  ];
  return symmetric(createdDaysAgo, { currentKeyMaterialId: MATERIAL_ID_B, materials, tags });
}

describe('parseRotateEvery: the grammar', () => {
  test('good values: <n>d from 1 to 3650, <n>y from 1 to 10 (365 days each), off', () => {
    const cases: Array<[string, number | null]> = [
      ['1d', 1],
      ['90d', 90],
      ['180d', 180],
      ['365d', 365],
      ['3650d', 3650],
      ['1y', 365],
      ['2y', 730],
      ['10y', 3650],
      ['off', null],
    ];
    for (const [value, days] of cases) assert.equal(parseRotateEvery(value, KEY_ID), days, value);
  });

  test('bad values are RotationScheduleInvalid naming the key, the value and an example', () => {
    const bad = ['soon', '0d', '3651d', '11y', '0y', '90', '90D', ' 90d', '90d ', '090d', '+90d', '-90d', '9.5d', '3m', '90 d', '', 'OFF', '1e2d', '90days', '٩٠d'];
    for (const value of bad) {
      assert.throws(
        () => parseRotateEvery(value, KEY_ID),
        (e: unknown) => {
          assert.ok(e instanceof RotationScheduleInvalid, value);
          assert.equal(e.name, 'RotationScheduleInvalid');
          assert.equal(e.keyId, KEY_ID);
          assert.ok(e.message.includes(KEY_ID), value);
          assert.ok(e.message.includes(`kms-reimport:rotate-every=${JSON.stringify(value)}`), value);
          assert.match(e.message, /such as 90d/);
          return true;
        },
        value,
      );
    }
    assert.throws(() => parseRotateEvery('3651d', KEY_ID), /more than 3650 days/);
    assert.throws(() => parseRotateEvery('0d', KEY_ID), /is zero/);
    assert.throws(() => parseRotateEvery('90', KEY_ID), /no unit/);
  });
});

describe('config default rotateEveryDays', () => {
  test('KMS_REIMPORT_ROTATE_EVERY_DAYS: unset is off, 1..3650 is taken, anything else refused by name', () => {
    assert.equal(loadConfig({}).rotateEveryDays, undefined);
    assert.equal(loadConfig({ KMS_REIMPORT_ROTATE_EVERY_DAYS: '' }).rotateEveryDays, undefined);
    assert.equal(loadConfig({ KMS_REIMPORT_ROTATE_EVERY_DAYS: '365' }).rotateEveryDays, 365);
    assert.equal(loadConfig({ KMS_REIMPORT_ROTATE_EVERY_DAYS: '1' }).rotateEveryDays, 1);
    assert.equal(loadConfig({ KMS_REIMPORT_ROTATE_EVERY_DAYS: '3650' }).rotateEveryDays, 3650);
    for (const bad of ['0', '3651', '90d', '-1', 'soon', '1.5']) {
      assert.throws(() => loadConfig({ KMS_REIMPORT_ROTATE_EVERY_DAYS: bad }), /KMS_REIMPORT_ROTATE_EVERY_DAYS=.*1 to 3650/, bad);
    }
    assert.throws(() => validateConfig({ ...config, rotateEveryDays: 0 }), /rotateEveryDays=0/);
  });
});

describe('rotationStatus', () => {
  test('no tag and no default: off, never due', () => {
    const s = rotationStatus(symmetric(1000), config, NOW);
    assert.deepEqual(s, { mode: 'off', due: false });
  });

  test('the tag: due once the material is older than the period; not before; the boundary is due', () => {
    const tags = { ...MANAGED, 'kms-reimport:rotate-every': '90d' };
    const old = rotationStatus(symmetric(100, { tags }), config, NOW);
    assert.equal(old.mode, 'in-place');
    assert.equal(old.every, 90);
    assert.equal(old.source, 'tag');
    assert.equal(old.ageFrom, 'creation');
    assert.equal(old.lastRotatedAt, daysAgo(100));
    assert.equal(old.nextDueAt, daysAgo(10));
    assert.equal(old.due, true);
    assert.equal(old.problem, undefined);

    const young = rotationStatus(symmetric(80, { tags }), config, NOW);
    assert.equal(young.due, false);
    assert.equal(young.nextDueAt, new Date(NOW.getTime() + 10 * DAY).toISOString());

    assert.equal(rotationStatus(symmetric(90, { tags }), config, NOW).due, true, 'exactly 90 days old is due');
    assert.equal(rotationStatus(symmetric(90, { tags }), config, new Date(NOW.getTime() - 1)).due, false, 'a millisecond before is not');
  });

  test('the config default applies to untagged keys; the tag wins, and `off` opts a key out', () => {
    const withDefault = { ...config, rotateEveryDays: 365 };
    const d = rotationStatus(symmetric(400), withDefault, NOW);
    assert.equal(d.source, 'default');
    assert.equal(d.every, 365);
    assert.equal(d.due, true);
    const tagged = rotationStatus(symmetric(400, { tags: { ...MANAGED, 'kms-reimport:rotate-every': '2y' } }), withDefault, NOW);
    assert.equal(tagged.source, 'tag');
    assert.equal(tagged.every, 730);
    assert.equal(tagged.due, false);
    const off = rotationStatus(symmetric(400, { tags: { ...MANAGED, 'kms-reimport:rotate-every': 'off' } }), withDefault, NOW);
    assert.deepEqual(off, { mode: 'off', due: false });
  });

  test('a malformed tag is a named problem, never due, never guessed (even with a default)', () => {
    const s = rotationStatus(symmetric(1000, { tags: { ...MANAGED, 'kms-reimport:rotate-every': 'soon' } }), { ...config, rotateEveryDays: 30 }, NOW);
    assert.equal(s.problemName, 'RotationScheduleInvalid');
    assert.equal(s.due, false);
    assert.equal(s.mode, 'off');
    assert.equal(s.every, undefined, 'the default does not stand in for a bad tag');
    assert.match(s.problem ?? '', new RegExp(`Key ${KEY_ID} has kms-reimport:rotate-every="soon".*such as 90d`));
  });

  test('M7: a schedule below the floor (default 30 days) is RotationScheduleInvalid naming the floor, never due; the floor is configurable', () => {
    assert.equal(DEFAULT_MIN_ROTATE_EVERY_DAYS, 30);
    const oneDay = rotationStatus(symmetric(1000, { tags: { ...MANAGED, 'kms-reimport:rotate-every': '1d' } }), config, NOW);
    assert.equal(oneDay.problemName, 'RotationScheduleInvalid');
    assert.equal(oneDay.due, false);
    assert.match(oneDay.problem ?? '', new RegExp(`Key ${KEY_ID} has kms-reimport:rotate-every="1d", shorter than the floor of 30 day\\(s\\) \\(KMS_REIMPORT_MIN_ROTATE_EVERY_DAYS\\)`));
    const byDefault = rotationStatus(symmetric(1000), { ...config, rotateEveryDays: 7 }, NOW);
    assert.equal(byDefault.problemName, 'RotationScheduleInvalid', 'the config default is held to the floor too');
    assert.match(byDefault.problem ?? '', /KMS_REIMPORT_ROTATE_EVERY_DAYS=7, shorter than the floor of 30/);
    assert.equal(rotationStatus(symmetric(1000, { tags: { ...MANAGED, 'kms-reimport:rotate-every': '29d' } }), config, NOW).due, false);
    assert.equal(rotationStatus(symmetric(1000, { tags: { ...MANAGED, 'kms-reimport:rotate-every': '30d' } }), config, NOW).due, true, 'the floor itself is allowed');
    const lowered = loadConfig({ KMS_REIMPORT_MIN_ROTATE_EVERY_DAYS: '1' });
    assert.equal(lowered.minRotateEveryDays, 1);
    const allowed = rotationStatus(symmetric(1000, { tags: { ...MANAGED, 'kms-reimport:rotate-every': '1d' } }), lowered, NOW);
    assert.equal(allowed.problem, undefined);
    assert.equal(allowed.due, true);
    for (const bad of ['0', '3651', 'x', '-1']) assert.throws(() => loadConfig({ KMS_REIMPORT_MIN_ROTATE_EVERY_DAYS: bad }), /KMS_REIMPORT_MIN_ROTATE_EVERY_DAYS/, bad);
    assert.throws(() => validateConfig({ ...config, minRotateEveryDays: 0 }), /minRotateEveryDays=0/);
  });

  test('M7: a sweep starts at most KMS_REIMPORT_MAX_ROTATIONS_PER_SWEEP rotations (default 50), in order; the rest wait', () => {
    assert.equal(DEFAULT_MAX_ROTATIONS_PER_SWEEP, 50);
    const many = Array.from({ length: 60 }, (_, i) => i);
    const byDefault = limitRotationsPerSweep(many, config);
    assert.deepEqual(byDefault.start, many.slice(0, 50));
    assert.deepEqual(byDefault.deferred, many.slice(50));
    const three = limitRotationsPerSweep(many, loadConfig({ KMS_REIMPORT_MAX_ROTATIONS_PER_SWEEP: '3' }));
    assert.deepEqual(three.start, [0, 1, 2]);
    assert.equal(three.deferred.length, 57);
    assert.deepEqual(limitRotationsPerSweep([1, 2], config), { start: [1, 2], deferred: [] });
    for (const bad of ['0', '10001', 'many']) assert.throws(() => loadConfig({ KMS_REIMPORT_MAX_ROTATIONS_PER_SWEEP: bad }), /KMS_REIMPORT_MAX_ROTATIONS_PER_SWEEP/, bad);
  });

  describe('age sources, in order', () => {
    const tags = { ...MANAGED, 'kms-reimport:rotate-every': '90d' };

    test('1. escrow importedAt of the current material, when the caller passes it', () => {
      const report = rotated(400, 100, tags);
      const escrow = {
        entries: [
          { keyMaterialId: MATERIAL_ID_A, importedAt: daysAgo(400) },
          { keyMaterialId: MATERIAL_ID_B.toUpperCase(), importedAt: daysAgo(50) },
        ],
      };
      const s = rotationStatus(report, config, NOW, escrow);
      assert.equal(s.ageFrom, 'escrow');
      assert.equal(s.lastRotatedAt, daysAgo(50));
      assert.equal(s.due, false);
      // An unlabelled entry serves the current material only when no entry is labelled.
      assert.equal(currentMaterialSince(report, { entries: [{ importedAt: daysAgo(5) }] })?.from, 'escrow');
      assert.equal(currentMaterialSince(report, { entries: [{ keyMaterialId: MATERIAL_ID_A, importedAt: daysAgo(400) }, { importedAt: daysAgo(5) }] })?.from, 'rotation');
      // An entry without importedAt, or an unparsable one, falls through to the next source.
      assert.equal(currentMaterialSince(report, { entries: [{ keyMaterialId: MATERIAL_ID_B }] })?.from, 'rotation');
      assert.equal(currentMaterialSince(report, { entries: [{ keyMaterialId: MATERIAL_ID_B, importedAt: 'yesterday' }] })?.from, 'rotation');
    });

    test('2. RotationDate of the CURRENT material (not of another one)', () => {
      const s = rotationStatus(rotated(400, 100, tags), config, NOW);
      assert.equal(s.ageFrom, 'rotation');
      assert.equal(s.lastRotatedAt, daysAgo(100));
      assert.equal(s.due, true);
      const recent = rotationStatus(rotated(400, 10, tags), config, NOW);
      assert.equal(recent.ageFrom, 'rotation');
      assert.equal(recent.due, false, 'a key created long ago but rotated 10 days ago is not due');
    });

    test('3. CreationDate for a key never rotated (KMS listed its materials and shows no rotation)', () => {
      const s = rotationStatus(symmetric(100, { tags }), config, NOW);
      assert.equal(s.ageFrom, 'creation');
    });

    test('HMAC/RSA/ECC keys (one material for life): CreationDate, materials from DescribeKey', () => {
      for (const keySpec of ['HMAC_256', 'RSA_2048', 'ECC_NIST_P256']) {
        const s = rotationStatus(makeReport({ keySpec, creationDate: daysAgo(100), tags, materialsListed: false }), config, NOW);
        assert.equal(s.mode, 'alias-swap', keySpec);
        assert.equal(s.ageFrom, 'creation', keySpec);
        assert.equal(s.due, true, keySpec);
      }
    });

    test('none known: RotationAgeUnknown, reported, not due', () => {
      const cases: Array<[string, KeyReport]> = [
        ['no creation date', symmetric(100, { tags, creationDate: undefined })],
        ['symmetric key whose materials KMS could not list', symmetric(100, { tags, materialsListed: false })],
        [
          'rotated, but the CURRENT material carries no RotationDate',
          symmetric(100, {
            tags,
            currentKeyMaterialId: MATERIAL_ID_B,
            materials: [
              { keyMaterialId: MATERIAL_ID_A, state: 'NON_CURRENT', rotationDate: daysAgo(300) },
              { keyMaterialId: MATERIAL_ID_B, state: 'CURRENT' },
            ],
          }),
        ],
      ];
      for (const [what, report] of cases) {
        const s = rotationStatus(report, config, NOW);
        assert.equal(s.problemName, 'RotationAgeUnknown', what);
        assert.equal(s.due, false, what);
        assert.equal(s.nextDueAt, undefined, what);
        assert.match(s.problem ?? '', /age of its current material is unknown/, what);
      }
    });
  });

  test('mode per key spec', () => {
    assert.equal(rotationModeFor('SYMMETRIC_DEFAULT'), 'in-place');
    for (const spec of ['HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512', 'RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1', 'SM2']) {
      assert.equal(rotationModeFor(spec), 'alias-swap', spec);
    }
    for (const spec of ['ECC_NIST_EDWARDS25519', 'ML_DSA_44', 'HMAC_1024']) assert.equal(rotationModeFor(spec), undefined, spec);
    const s = rotationStatus(makeReport({ keySpec: 'ML_DSA_44', creationDate: daysAgo(100), tags: { ...MANAGED, 'kms-reimport:rotate-every': '90d' } }), config, NOW);
    assert.equal(s.problemName, 'RotationNotSupported');
    assert.equal(s.due, false);
  });

  test('a symmetric key past the 25 on-demand rotations: alias-swap when configured, else a problem', () => {
    const materials: MaterialInfo[] = Array.from({ length: 26 }, (_, i) => ({
      keyMaterialId: String(i).padStart(64, '0'),
      state: i === 25 ? 'CURRENT' : 'NON_CURRENT',
      ...(i > 0 ? { rotationDate: daysAgo(1000 - i * 10) } : {}),
    }));
    const report = symmetric(2000, { currentKeyMaterialId: String(25).padStart(64, '0'), materials, tags: { ...MANAGED, 'kms-reimport:rotate-every': '90d' } });
    const capped = rotationStatus(report, config, NOW);
    assert.equal(capped.problemName, 'RotationNotSupported');
    assert.match(capped.problem ?? '', /25 on-demand rotations.*KMS_REIMPORT_ROTATION_CAP_FALLBACK=alias-swap/);
    assert.equal(capped.due, false);
    const swap = rotationStatus(report, { ...config, rotationCapFallback: 'alias-swap' }, NOW);
    assert.equal(swap.mode, 'alias-swap');
    assert.equal(swap.ageFrom, 'rotation');
    assert.equal(swap.due, true);
    // 24 rotations: still in place.
    const under = rotationStatus({ ...report, materials: materials.slice(1, 25).map((m, i) => (i === 23 ? { ...m, state: 'CURRENT' } : m)), currentKeyMaterialId: String(24).padStart(64, '0') }, config, NOW);
    assert.equal(under.mode, 'in-place');
    assert.equal(under.problem, undefined);
  });

  test('Multi-Region keys: a SYMMETRIC_DEFAULT primary is due in place like any key; a replica is rotated with its primary (a note, never due); others are RotationNotSupported', () => {
    const every = { ...MANAGED, 'kms-reimport:rotate-every': '90d' };
    const primary = rotationStatus(symmetric(1000, { multiRegion: true, multiRegionKeyType: 'PRIMARY', replicaRegions: ['eu-west-1'], tags: every }), config, NOW);
    assert.equal(primary.problem, undefined);
    assert.equal(primary.mode, 'in-place');
    assert.equal(primary.due, true);
    assert.equal(primary.ageFrom, 'creation');

    const replica = rotationStatus(symmetric(1000, { multiRegion: true, multiRegionKeyType: 'REPLICA', primaryRegion: 'us-east-1', tags: every }), config, NOW);
    assert.equal(replica.due, false);
    assert.equal(replica.problem, undefined);
    assert.equal(replica.mode, 'off');
    assert.match(replica.note ?? '', /replica of a Multi-Region key: it is rotated with its primary in us-east-1/);

    const hmac = rotationStatus(makeReport({ keySpec: 'HMAC_256', creationDate: daysAgo(1000), multiRegion: true, multiRegionKeyType: 'PRIMARY', tags: every }), config, NOW);
    assert.equal(hmac.problemName, 'RotationNotSupported');
    assert.match(hmac.problem ?? '', /Multi-Region HMAC_256 key: kms-reimport rotates Multi-Region keys in place only/);
    assert.equal(hmac.due, false);

    // Past the cap, a Multi-Region key is never swapped, even with the fallback configured.
    const materials = Array.from({ length: 26 }, (_, i) => ({
      keyMaterialId: String(i).padStart(64, '0'),
      state: i === 25 ? 'CURRENT' : 'NON_CURRENT',
      importState: 'IMPORTED',
      ...(i > 0 ? { rotationDate: daysAgo(200 - i) } : {}),
    }));
    const capped = rotationStatus(
      symmetric(1000, { multiRegion: true, multiRegionKeyType: 'PRIMARY', tags: every, materials: materials as KeyReport['materials'], currentKeyMaterialId: String(25).padStart(64, '0') }),
      { ...config, rotationCapFallback: 'alias-swap' },
      NOW,
    );
    assert.equal(capped.problemName, 'RotationNotSupported');
    assert.match(capped.problem ?? '', /never rotated by alias swap/);
    assert.equal(capped.due, false);
    // Without a schedule, nothing to report.
    assert.deepEqual(rotationStatus(symmetric(1000, { multiRegion: true }), config, NOW), { mode: 'off', due: false });
  });

  test('lineage from the rotated-from / rotated-to tags; a key rotated to another is retired from the schedule', () => {
    const NEW = '22222222-2222-4222-8222-222222222222';
    const OLD = '00000000-0000-4000-8000-000000000000';
    const newKey = makeReport({ keySpec: 'RSA_2048', creationDate: daysAgo(10), tags: { ...MANAGED, 'kms-reimport:rotate-every': '90d', 'kms-reimport:rotated-from': OLD } });
    const s = rotationStatus(newKey, config, NOW);
    assert.deepEqual(s.lineage, { rotatedFrom: OLD });
    assert.equal(s.mode, 'alias-swap');
    assert.equal(s.due, false);

    const oldKey = makeReport({ keySpec: 'RSA_2048', creationDate: daysAgo(500), tags: { ...MANAGED, 'kms-reimport:rotate-every': '90d', 'kms-reimport:rotated-to': NEW } });
    const o = rotationStatus(oldKey, config, NOW);
    assert.deepEqual(o.lineage, { rotatedTo: NEW });
    assert.equal(o.mode, 'off');
    assert.equal(o.due, false, 'an old key whose aliases moved on is never rotated again');
    assert.match(o.note ?? '', new RegExp(`rotated to ${NEW}`));

    // Lineage is shown even when the key has no schedule.
    assert.deepEqual(rotationStatus(makeReport({ tags: { ...MANAGED, 'kms-reimport:rotated-from': OLD } }), config, NOW).lineage, { rotatedFrom: OLD });
  });

  test('a key that is not Enabled is never due (recover first), with a note', () => {
    const tags = { ...MANAGED, 'kms-reimport:rotate-every': '90d' };
    for (const keyState of ['PendingImport', 'Disabled', 'PendingDeletion', 'Unavailable']) {
      const s = rotationStatus(symmetric(200, { tags, keyState }), config, NOW);
      assert.equal(s.due, false, keyState);
      assert.equal(s.nextDueAt, daysAgo(110), keyState);
      assert.match(s.note ?? '', new RegExp(`is ${keyState}`), keyState);
    }
    assert.equal(rotationStatus(symmetric(200, { tags }), config, NOW).due, true);
  });
});
