import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyKey, earliestValidTo, expiringMaterials, planAction, skipErrorName } from '../../lib/kms/classify.js';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import type { Classification, RequestedAction } from '../../lib/types.js';
import { KEY_ID, makeReport, MATERIAL_ID_A, MATERIAL_ID_B } from './lib-fixtures.js';

const config = { ...DEFAULT_CONFIG };
const now = new Date('2027-01-01T00:00:00Z');
const inDays = (d: number) => new Date(now.getTime() + d * 86_400_000).toISOString();

test('not-managed is checked first: an unmanaged, deleted, non-EXTERNAL key is only reported', () => {
  const c = classifyKey(makeReport({ tags: {}, origin: 'AWS_KMS', keyState: 'PendingDeletion' }), config, now);
  assert.equal(c.kind, 'not-managed');
  assert.match(c.reason, new RegExp(KEY_ID));
  assert.match(c.reason, /kms-reimport:managed=true/);
  const wrongValue = classifyKey(makeReport({ tags: { 'kms-reimport:managed': 'false' }, keyState: 'PendingImport' }), config, now);
  assert.equal(wrongValue.kind, 'not-managed');
  assert.match(wrongValue.reason, /"false"/);
});

test('the managed tag key and value come from config', () => {
  const custom = { ...config, managedTagKey: 'byok', managedTagValue: 'yes' };
  assert.equal(classifyKey(makeReport({ tags: { byok: 'yes' } }), custom, now).kind, 'healthy');
  assert.equal(classifyKey(makeReport(), custom, now).kind, 'not-managed');
});

test('every kind of classification', () => {
  const cases: Array<[string, ReturnType<typeof makeReport>, Classification['kind']]> = [
    ['not external', makeReport({ origin: 'AWS_KMS' }), 'not-external'],
    ['pending deletion', makeReport({ keyState: 'PendingDeletion' }), 'pending-deletion'],
    ['pending replica deletion', makeReport({ keyState: 'PendingReplicaDeletion' }), 'pending-deletion'],
    ['disabled', makeReport({ keyState: 'Disabled' }), 'disabled'],
    ['unavailable', makeReport({ keyState: 'Unavailable' }), 'unavailable'],
    ['creating', makeReport({ keyState: 'Creating' }), 'unavailable'],
    ['pending import', makeReport({ keyState: 'PendingImport' }), 'pending-import'],
    ['healthy far from expiry', makeReport({ validTo: inDays(60) }), 'healthy'],
    ['healthy never expires', makeReport({ expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', validTo: undefined }), 'healthy'],
    ['expiring inside window', makeReport({ validTo: inDays(3) }), 'expiring'],
    ['expiring exactly at window edge', makeReport({ validTo: inDays(14) }), 'expiring'],
    ['just outside window', makeReport({ validTo: inDays(14.01) }), 'healthy'],
  ];
  for (const [label, report, kind] of cases) {
    const c = classifyKey(report, config, now);
    assert.equal(c.kind, kind, label);
    assert.ok(c.reason.includes(KEY_ID), `${label}: reason names the key`);
  }
});

test('expiring carries validTo and secondsLeft', () => {
  const c = classifyKey(makeReport({ validTo: inDays(2) }), config, now);
  assert.deepEqual({ ...c, reason: undefined }, { kind: 'expiring', reason: undefined, validTo: inDays(2), secondsLeft: 2 * 86_400 });
  const past = classifyKey(makeReport({ validTo: inDays(-1) }), config, now);
  assert.equal(past.kind, 'expiring');
  assert.equal(past.kind === 'expiring' && past.secondsLeft, 0);
});

test('pending-import lists the missing permanently associated materials only', () => {
  const c = classifyKey(
    makeReport({
      keyState: 'PendingImport',
      materials: [
        { keyMaterialId: MATERIAL_ID_A, state: 'NON_CURRENT', importState: 'PENDING_IMPORT' },
        { keyMaterialId: MATERIAL_ID_B, state: 'CURRENT', importState: 'PENDING_IMPORT' },
        { keyMaterialId: 'c'.repeat(64), state: 'PENDING_ROTATION', importState: 'PENDING_IMPORT' },
        { keyMaterialId: 'd'.repeat(64), state: 'NON_CURRENT', importState: 'IMPORTED' },
      ],
    }),
    config,
    now,
  );
  assert.equal(c.kind, 'pending-import');
  assert.deepEqual(c.kind === 'pending-import' && c.missingMaterialIds, [MATERIAL_ID_A, MATERIAL_ID_B]);
  const unknown = classifyKey(makeReport({ keyState: 'PendingImport', materials: [] }), config, now);
  assert.deepEqual(unknown.kind === 'pending-import' && unknown.missingMaterialIds, []);
});

test('the renewal window comes from config', () => {
  assert.equal(classifyKey(makeReport({ validTo: inDays(20) }), { ...config, renewalWindowDays: 30 }, now).kind, 'expiring');
  assert.equal(classifyKey(makeReport({ validTo: inDays(20) }), config, now).kind, 'healthy');
});

test('planAction table', () => {
  const pendingImport: Classification = { kind: 'pending-import', reason: 'PI', missingMaterialIds: [] };
  const expiring: Classification = { kind: 'expiring', reason: 'EX', validTo: inDays(3), secondsLeft: 3 };
  const healthy: Classification = { kind: 'healthy', reason: 'OK', validTo: inDays(60) };
  const healthyForever: Classification = { kind: 'healthy', reason: 'OK' };
  const blocked: Classification[] = [
    { kind: 'not-managed', reason: 'NM' },
    { kind: 'not-external', reason: 'NE' },
    { kind: 'pending-deletion', reason: 'PD' },
    { kind: 'disabled', reason: 'DI' },
    { kind: 'unavailable', reason: 'UN' },
  ];
  const table: Array<[Classification, RequestedAction, 'recover' | 'renew' | 'skip', RegExp]> = [
    [pendingImport, 'auto', 'recover', /PI/],
    [pendingImport, 'recover', 'recover', /PI/],
    [pendingImport, 'renew', 'recover', /recovering it/],
    [expiring, 'auto', 'renew', /EX/],
    [expiring, 'renew', 'renew', /EX/],
    [expiring, 'recover', 'skip', /nothing to recover/i],
    [healthy, 'auto', 'skip', /Nothing to do/],
    [healthy, 'renew', 'renew', /explicitly/],
    [healthy, 'recover', 'skip', /nothing to recover/i],
    [healthyForever, 'renew', 'skip', /Nothing to renew/],
    [pendingImport, 'plan', 'skip', /^plan: would recover: PI/],
    [expiring, 'plan', 'skip', /^plan: would renew: EX/],
    [healthy, 'plan', 'skip', /^plan: would skip: OK/],
  ];
  for (const c of blocked) {
    for (const requested of ['auto', 'recover', 'renew'] as const) table.push([c, requested, 'skip', new RegExp(`^${c.reason}$`)]);
    table.push([c, 'plan', 'skip', new RegExp(`^plan: would skip: ${c.reason}$`)]);
  }
  for (const [c, requested, action, reason] of table) {
    const plan = planAction(c, requested);
    assert.equal(plan.action, action, `${c.kind} + ${requested}`);
    assert.match(plan.reason, reason, `${c.kind} + ${requested}`);
  }
});

test('several materials: expiry follows the earliest ValidTo of the permanently associated, imported, expiring ones', () => {
  // DescribeKey speaks for the current material only (here: never expires); a NON_CURRENT one expires in 2 days.
  const mixed = makeReport({
    expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
    validTo: undefined,
    currentKeyMaterialId: MATERIAL_ID_B,
    materials: [
      { keyMaterialId: MATERIAL_ID_A, state: 'NON_CURRENT', importState: 'IMPORTED', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: inDays(2) },
      { keyMaterialId: MATERIAL_ID_B, state: 'CURRENT', importState: 'IMPORTED', expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' },
    ],
  });
  const c = classifyKey(mixed, config, now);
  assert.equal(c.kind, 'expiring', c.reason);
  assert.equal(c.kind === 'expiring' && c.validTo, inDays(2));
  assert.match(c.reason, new RegExp(MATERIAL_ID_A), 'names the material that expires');
  assert.equal(planAction(c, 'auto').action, 'renew');
  assert.deepEqual(earliestValidTo(mixed), { validTo: inDays(2), keyMaterialId: MATERIAL_ID_A });

  // Materials not permanently associated (pending rotation) or not imported do not count; the earliest of the rest does.
  const ignored = makeReport({
    validTo: inDays(1),
    materials: [
      { keyMaterialId: MATERIAL_ID_A, state: 'CURRENT', importState: 'IMPORTED', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: inDays(90) },
      { keyMaterialId: MATERIAL_ID_B, state: 'NON_CURRENT', importState: 'IMPORTED', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: inDays(40) },
      { keyMaterialId: 'c'.repeat(64), state: 'PENDING_ROTATION', importState: 'IMPORTED', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: inDays(1) },
      { keyMaterialId: 'd'.repeat(64), state: 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION', importState: 'IMPORTED', validTo: inDays(1) },
    ],
  });
  const h = classifyKey(ignored, config, now);
  assert.equal(h.kind, 'healthy', h.reason);
  assert.equal(h.kind === 'healthy' && h.validTo, inDays(40), 'the materials list wins over DescribeKey');
  assert.deepEqual(expiringMaterials(ignored).map((m) => m.keyMaterialId), [MATERIAL_ID_B, MATERIAL_ID_A], 'soonest first');

  // Every permanently associated material says it never expires: healthy without ValidTo.
  const never = makeReport({
    materials: [{ keyMaterialId: MATERIAL_ID_A, state: 'CURRENT', importState: 'IMPORTED', expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }],
  });
  const n = classifyKey(never, config, now);
  assert.equal(n.kind, 'healthy');
  assert.equal(n.kind === 'healthy' && n.validTo, undefined);
  assert.equal(planAction(n, 'renew').action, 'skip');
});

test('DescribeKey is the fallback when the materials do not settle expiry', () => {
  // No materials listed (ListKeyRotations unsupported and no CurrentKeyMaterialId).
  assert.deepEqual(earliestValidTo(makeReport({ validTo: inDays(3), materials: [] })), { validTo: inDays(3) });
  // A material whose model and ValidTo KMS did not report.
  const unknown = makeReport({ validTo: inDays(3), materials: [{ keyMaterialId: MATERIAL_ID_A, state: 'CURRENT', importState: 'IMPORTED' }] });
  assert.equal(classifyKey(unknown, config, now).kind, 'expiring');
  assert.equal(earliestValidTo(makeReport({ expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', validTo: undefined, materials: [] })), undefined);
});

test('never-imported: a PendingImport key that KMS shows never held material is skipped, never recovered from escrow (escrow clone)', () => {
  const now = new Date('2026-12-01T00:00:00Z');
  // ListKeyRotations answered with no material and DescribeKey names no current material.
  const fresh = makeReport({ keyState: 'PendingImport', materials: [], materialsListed: true });
  delete fresh.validTo;
  delete fresh.expirationModel;
  const c = classifyKey(fresh, DEFAULT_CONFIG, now);
  assert.equal(c.kind, 'never-imported');
  assert.match(c.reason, /never held key material/);
  assert.ok(c.reason.includes(fresh.keyId));
  for (const requested of ['auto', 'recover', 'renew'] as const) assert.equal(planAction(c, requested).action, 'skip', requested);
  // A key that held material lists it (PENDING_IMPORT after deletion or expiry): recovered as before.
  const held = makeReport({
    keyState: 'PendingImport',
    materialsListed: true,
    materials: [{ keyMaterialId: MATERIAL_ID_A, state: 'CURRENT', importState: 'PENDING_IMPORT' }],
  });
  assert.equal(classifyKey(held, DEFAULT_CONFIG, now).kind, 'pending-import');
  // DescribeKey naming a current material also shows it held one.
  assert.equal(classifyKey({ ...fresh, currentKeyMaterialId: MATERIAL_ID_A }, DEFAULT_CONFIG, now).kind, 'pending-import');
  // Where KMS cannot list materials (HMAC, asymmetric, an endpoint without ListKeyRotations), nothing shows it either way:
  // recovery is left to the escrow binding rules.
  assert.equal(classifyKey({ ...fresh, materialsListed: false }, DEFAULT_CONFIG, now).kind, 'pending-import');
});

test('skipErrorName: the name a skipping run (and a plan foreseeing it) reports, none for a key that merely needs nothing', () => {
  const cases: Array<[ReturnType<typeof makeReport>, string | undefined]> = [
    [makeReport({ tags: {} }), 'KeyNotManaged'],
    [makeReport({ origin: 'AWS_KMS' }), 'KeyNotEligible'],
    [makeReport({ keyState: 'PendingDeletion' }), 'KeyNotEligible'],
    [makeReport({ keyState: 'Disabled' }), 'KeyNotEligible'],
    [makeReport({ keyState: 'PendingImport', materialsListed: true, materials: [] }), 'KeyNotEligible'],
    [makeReport({ keyState: 'Unavailable' }), 'KeyNotEligible'],
    [makeReport({ keyState: 'PendingImport', currentKeyMaterialId: MATERIAL_ID_A }), undefined],
    [makeReport({ validTo: inDays(3) }), undefined],
    [makeReport({ validTo: inDays(200) }), undefined],
  ];
  for (const [report, name] of cases) {
    const c = classifyKey(report, config, now);
    assert.equal(skipErrorName(c), name, c.kind);
  }
});
