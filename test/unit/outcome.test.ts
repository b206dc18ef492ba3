import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createOutcome, describeFailure, summariseOutcome } from '../../lib/outcome.js';
import { IncorrectKeyMaterial } from '../../lib/errors.js';
import { KEY_ID, MATERIAL_ID_A } from './lib-fixtures.js';

const startedAt = new Date('2027-01-01T00:00:00.000Z');
const finishedAt = new Date('2027-01-01T00:00:01.250Z');

test('createOutcome computes duration, copies inputs and drops undefined fields', () => {
  const imported = [{ keyMaterialId: MATERIAL_ID_A, validTo: '2027-04-01T00:00:00.000Z', expirationModel: 'KEY_MATERIAL_EXPIRES' }];
  const calls = { DescribeKey: 2 };
  const o = createOutcome({ status: 'recovered', keyId: KEY_ID, requestedRef: 'alias/app', action: 'auto', imported, startedAt, finishedAt, calls, verified: true, keyStateBefore: 'PendingImport', keyStateAfter: 'Enabled' });
  assert.deepEqual(o, {
    status: 'recovered',
    keyId: KEY_ID,
    requestedRef: 'alias/app',
    action: 'auto',
    imported,
    startedAt: '2027-01-01T00:00:00.000Z',
    finishedAt: '2027-01-01T00:00:01.250Z',
    durationMs: 1250,
    calls: { DescribeKey: 2 },
    verified: true,
    keyStateBefore: 'PendingImport',
    keyStateAfter: 'Enabled',
  });
  calls.DescribeKey = 99;
  assert.equal(o.calls.DescribeKey, 2, 'the outcome owns its copy');
  assert.ok(!('reason' in o) && !('errorName' in o) && !('keyArn' in o));
});

test('summariseOutcome: one line per status, naming the key', () => {
  const base = { keyId: KEY_ID, requestedRef: 'alias/app', action: 'auto' as const, startedAt, finishedAt, calls: { DescribeKey: 2, ImportKeyMaterial: 1 } };
  const recovered = summariseOutcome(
    createOutcome({ ...base, status: 'recovered', imported: [{ keyMaterialId: MATERIAL_ID_A, validTo: '2027-04-01T00:00:00.000Z', expirationModel: 'KEY_MATERIAL_EXPIRES' }], verified: true, keyStateBefore: 'PendingImport', keyStateAfter: 'Enabled' }),
  );
  assert.equal(recovered, `RECOVERED key ${KEY_ID} (alias/app) [PendingImport -> Enabled]: imported 1 material (aaaaaaaaaaaa… valid to 2027-04-01T00:00:00.000Z), verified; 1.3 s, 3 AWS calls`);
  const failed = summariseOutcome(createOutcome({ ...base, status: 'failed', errorName: 'EscrowMissing', reason: 'No escrow secret\nfor the key.' }));
  assert.equal(failed, `FAILED key ${KEY_ID} (alias/app): EscrowMissing: No escrow secret for the key.; 1.3 s, 3 AWS calls`);
  assert.ok(!failed.includes('\n'));
  const skipped = summariseOutcome(createOutcome({ ...base, requestedRef: KEY_ID, status: 'skipped', reason: 'not managed', calls: { DescribeKey: 1 } }));
  assert.equal(skipped, `SKIPPED key ${KEY_ID}: not managed; 1.3 s, 1 AWS call`);
  assert.match(summariseOutcome(createOutcome({ ...base, status: 'planned', reason: 'plan: would recover' })), /^PLANNED .*plan: would recover/);
});

test('describeFailure keeps named errors and describes others with the key', () => {
  assert.deepEqual(describeFailure(new IncorrectKeyMaterial('not the same material for key k'), 'k'), { errorName: 'IncorrectKeyMaterial', reason: 'not the same material for key k' });
  const other = describeFailure(Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' }), 'key-9');
  assert.equal(other.errorName, 'AccessDeniedException');
  assert.match(other.reason, /key-9/);
  assert.match(other.reason, /AccessDeniedException: User is not authorized/);
});
