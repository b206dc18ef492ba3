import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createOutcome, describeFailure, summariseOutcome } from '../../lib/outcome.js';
import { IncorrectKeyMaterial, REIMPORT_ERROR_NAMES } from '../../lib/errors.js';
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

test('describeFailure keeps named errors and maps every other error to one of ours, with the key and the next step', () => {
  assert.deepEqual(describeFailure(new IncorrectKeyMaterial('not the same material for key k'), 'k'), { errorName: 'IncorrectKeyMaterial', reason: 'not the same material for key k' });
  const aws = (name: string, status = 400) => Object.assign(new Error(`${name} from AWS`), { name, $fault: 'client', $metadata: { httpStatusCode: status } });
  const cases: Array<[unknown, string]> = [
    [aws('AccessDeniedException'), 'PermissionDenied'],
    [aws('LimitExceededException'), 'KmsLimitExceeded'],
    [aws('ValidationException'), 'KmsRequestInvalid'],
    [Object.assign(new SyntaxError('Unexpected token \'P\', "Passed X-A"... is not valid JSON\n  Deserialization error: ...'), { $metadata: { httpStatusCode: 400 } }), 'KmsResponseInvalid'],
    [new TypeError("Cannot read properties of undefined (reading 'KeyId')"), 'UnexpectedError'],
    ['a thrown string', 'UnexpectedError'],
  ];
  for (const [error, name] of cases) {
    const failure = describeFailure(error, 'key-9');
    assert.equal(failure.errorName, name);
    assert.ok(REIMPORT_ERROR_NAMES.includes(failure.errorName as never), `${name} is one of ours`);
    assert.match(failure.reason, /key-9/);
    assert.match(failure.reason, /run again|running again|nothing more was attempted|nothing was changed/i);
  }
  // The answer that was not JSON is never quoted (it may carry anything the endpoint sent).
  assert.doesNotMatch(describeFailure(cases[3]![0], 'key-9').reason, /Passed X-A/);
});

test('a planned outcome carries wouldFail (its own copy) and its one line says how the run would end', () => {
  const base = { keyId: KEY_ID, requestedRef: KEY_ID, action: 'plan' as const, startedAt, finishedAt, calls: { DescribeKey: 1, DescribeSecret: 1 } };
  const wouldFail = { status: 'failed' as const, errorName: 'EscrowMissing', reason: 'No escrow secret kms-reimport/k for key k. Create it.' };
  const planned = createOutcome({ ...base, status: 'planned', reason: 'plan: would recover: Key k is PendingImport.', wouldFail });
  assert.deepEqual(planned.wouldFail, wouldFail);
  wouldFail.reason = 'changed';
  assert.notEqual(planned.wouldFail?.reason, 'changed', 'the outcome owns its copy');
  assert.equal(
    summariseOutcome(planned),
    `PLANNED key ${KEY_ID}: plan: would recover: Key k is PendingImport. WOULD FAIL: EscrowMissing: No escrow secret kms-reimport/k for key k. Create it.; 1.3 s, 2 AWS calls`,
  );
  const skipped = createOutcome({ ...base, status: 'planned', reason: 'plan: would skip: Key k is Disabled.', wouldFail: { status: 'skipped', errorName: 'KeyNotEligible', reason: 'A run would end skipped.' } });
  assert.match(summariseOutcome(skipped), / WOULD BE SKIPPED: KeyNotEligible: A run would end skipped\.;/);
  const fine = createOutcome({ ...base, status: 'planned', reason: 'plan: would recover: Key k is PendingImport.' });
  assert.ok(!('wouldFail' in fine));
  assert.doesNotMatch(summariseOutcome(fine), /WOULD/);
});
