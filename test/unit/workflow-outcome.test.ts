import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { buildOutcome, causeMessage } from '../../lib/workflow/outcome.js';
import { parseWorkflowState, parseWorkItem, WorkflowStateInvalid, type WorkflowState } from '../../lib/workflow/state.js';
import type { KeyReport } from '../../lib/types.js';

const KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';
const ARN = `arn:aws:kms:us-east-1:111122223333:key/${KEY}`;
const START = '2025-06-01T12:00:00.000Z';
const NOW = new Date('2025-06-01T12:00:42.000Z');

const report: KeyReport = {
  keyId: KEY,
  arn: ARN,
  requestedRef: KEY,
  keyState: 'PendingImport',
  origin: 'EXTERNAL',
  keySpec: 'SYMMETRIC_DEFAULT',
  keyUsage: 'ENCRYPT_DECRYPT',
  multiRegion: false,
  tags: { 'kms-reimport:managed': 'true' },
  materials: [],
};

function state(overrides: Partial<WorkflowState> = {}): WorkflowState {
  return {
    workItem: { keyRef: KEY, action: 'recover', trigger: { source: 'aws.kms', detailType: 'KMS Imported Key Material Expiration' } },
    startedAt: START,
    report: structuredClone(report),
    plan: { action: 'recover', reason: 'Key is PendingImport' },
    pending: [],
    imported: [],
    tokenRefreshes: 0,
    ...overrides,
  };
}

describe('buildOutcome', () => {
  test('recovered: imported materials, verified, states before/after, timings', () => {
    const o = buildOutcome(
      state({ verified: true, imported: [{ keyMaterialId: 'a'.repeat(64), validTo: '2025-08-30T12:00:00.000Z', expirationModel: 'KEY_MATERIAL_EXPIRES' }], calls: { ImportKeyMaterial: 1 } }),
      NOW,
    );
    assert.equal(o.status, 'recovered');
    assert.equal(o.keyId, KEY);
    assert.equal(o.keyArn, ARN);
    assert.equal(o.keyStateBefore, 'PendingImport');
    assert.equal(o.keyStateAfter, 'Enabled');
    assert.equal(o.verified, true);
    assert.equal(o.durationMs, 42_000);
    assert.equal(o.finishedAt, NOW.toISOString());
    assert.deepEqual(o.calls, { ImportKeyMaterial: 1 });
    assert.equal(o.imported.length, 1);
    assert.match(o.reason ?? '', /recovered: 1 escrowed material\(s\) reimported, valid until 2025-08-30/);
    assert.equal(o.errorName, undefined);
  });

  test('recovered but left Disabled as found: verified false, keyStateAfter Disabled, the reason says so (not a failure)', () => {
    const o = buildOutcome(
      state({ verified: false, keyStateAfter: 'Disabled', imported: [{ keyMaterialId: 'a'.repeat(64), validTo: '2025-08-30T12:00:00.000Z', expirationModel: 'KEY_MATERIAL_EXPIRES' }] }),
      NOW,
    );
    assert.equal(o.status, 'recovered');
    assert.equal(o.errorName, undefined);
    assert.equal(o.verified, false);
    assert.equal(o.keyStateAfter, 'Disabled');
    assert.match(o.reason ?? '', new RegExp(`Key ${KEY} recovered: 1 escrowed material`));
    assert.match(o.reason ?? '', /left Disabled as found/);
    assert.match(o.reason ?? '', new RegExp(`aws kms enable-key --key-id ${KEY}`));
    const renewed = buildOutcome(state({ plan: { action: 'renew', reason: 'expiring' }, verified: false, keyStateAfter: 'Disabled', imported: [{ expirationModel: 'KEY_MATERIAL_EXPIRES' }] }), NOW);
    assert.equal(renewed.status, 'renewed');
    assert.equal(renewed.keyStateAfter, 'Disabled');
  });

  test('verified false without the Disabled state (or with material still pending) stays a failure', () => {
    const notDisabled = buildOutcome(state({ verified: false, imported: [{ expirationModel: 'KEY_MATERIAL_EXPIRES' }] }), NOW);
    assert.equal(notDisabled.status, 'failed');
    assert.equal(notDisabled.errorName, 'NotVerified');
    assert.equal(notDisabled.keyStateAfter, undefined);
    const pending = buildOutcome(state({ verified: false, keyStateAfter: 'Disabled', pending: [{}], imported: [] }), NOW);
    assert.equal(pending.status, 'failed');
  });

  test('renewed', () => {
    const o = buildOutcome(state({ plan: { action: 'renew', reason: 'expiring' }, verified: true, imported: [{ expirationModel: 'KEY_MATERIAL_EXPIRES' }] }), NOW);
    assert.equal(o.status, 'renewed');
  });

  test('rotated: the Rotate task\'s record and reason; a rotate plan without a verified rotation is a failure', () => {
    const rotation = { mode: 'in-place' as const, fromKeyMaterialId: 'a'.repeat(64), toKeyMaterialId: 'b'.repeat(64) };
    const o = buildOutcome(
      state({ workItem: { ...state().workItem, action: 'rotate' }, plan: { action: 'rotate', reason: 'rotate in place' }, verified: true, rotation, rotationReason: 'Rotated key in place' }),
      NOW,
    );
    assert.equal(o.status, 'rotated');
    assert.equal(o.action, 'rotate');
    assert.equal(o.reason, 'Rotated key in place');
    assert.deepEqual(o.rotation, rotation);
    assert.equal(o.keyStateAfter, 'Enabled');
    const unfinished = buildOutcome(state({ plan: { action: 'rotate', reason: 'rotate in place' } }), NOW);
    assert.equal(unfinished.status, 'failed');
    assert.equal(unfinished.errorName, 'NotVerified');
    assert.equal(unfinished.rotation, undefined);
  });

  test('skipped and planned keep the plan reason', () => {
    const skipped = buildOutcome(state({ plan: { action: 'skip', reason: 'Key X is not managed by kms-reimport' } }), NOW);
    assert.equal(skipped.status, 'skipped');
    assert.equal(skipped.reason, 'Key X is not managed by kms-reimport');
    const planned = buildOutcome(
      state({ workItem: { keyRef: KEY, action: 'plan', trigger: { source: 'kms-reimport.manual', detailType: 'Manual Request' } }, plan: { action: 'skip', reason: 'plan: would recover: ...' } }),
      NOW,
    );
    assert.equal(planned.status, 'planned');
    assert.equal(planned.action, 'plan');
    assert.match(planned.reason ?? '', /^plan: would recover/);
  });

  test('failed with the reason from a Lambda error Cause, never its trace', () => {
    const cause = JSON.stringify({
      errorType: 'IncorrectKeyMaterial',
      errorMessage: `KMS says the escrowed material is not key ${KEY}'s material. Stop; restore the right material.`,
      trace: ['IncorrectKeyMaterial: ...', '    at importEscrowedMaterial (/var/task/index.mjs:1:2)'],
    });
    const o = buildOutcome(state({ error: { Error: 'IncorrectKeyMaterial', Cause: cause } }), NOW);
    assert.equal(o.status, 'failed');
    assert.equal(o.errorName, 'IncorrectKeyMaterial');
    assert.match(o.reason ?? '', /not key .* material/);
    assert.doesNotMatch(JSON.stringify(o), /index\.mjs|trace/);
    assert.equal(o.keyStateAfter, undefined);
  });

  test('failed from an Inspect failure: the state machine rebuilt the state without a report', () => {
    const o = buildOutcome(
      state({
        workItem: { keyRef: ARN, action: 'recover', trigger: { source: 'aws.kms', detailType: 'x' } },
        report: undefined,
        plan: undefined,
        error: { Error: 'KeyNotFound', Cause: JSON.stringify({ errorType: 'KeyNotFound', errorMessage: `Key ${ARN} does not exist` }) },
      }),
      NOW,
    );
    assert.equal(o.status, 'failed');
    assert.equal(o.keyId, KEY);
    assert.equal(o.requestedRef, ARN);
    assert.equal(o.keyArn, undefined);
    assert.equal(o.errorName, 'KeyNotFound');
  });

  test('failed with a plain-text Cause from the state machine, and States.* errors', () => {
    const tokens = buildOutcome(state({ tokenRefreshes: 4, error: { Error: 'ImportTokenExpired', Cause: 'The import token for key X was refused 4 times' } }), NOW);
    assert.equal(tokens.reason, 'The import token for key X was refused 4 times');
    const timeout = buildOutcome(state({ error: { Error: 'States.Timeout', Cause: '' } }), NOW);
    assert.match(timeout.reason ?? '', /stopped with States\.Timeout/);
    const partial = buildOutcome(state({ imported: [{ expirationModel: 'KEY_MATERIAL_EXPIRES' }], pending: [{ keyMaterialId: 'b' }], error: { Error: 'EscrowMissing', Cause: 'no material b' } }), NOW);
    assert.match(partial.reason ?? '', /1 material\(s\) were imported before the failure/);
  });

  test('a token expiry that was recovered from does not fail the run', () => {
    const o = buildOutcome(state({ verified: true, tokenRefreshes: 1, tokenExpiry: { Error: 'ImportTokenExpired', Cause: 'expired' } }), NOW);
    assert.equal(o.status, 'recovered');
  });

  test('reaching Report without verification or without a plan is a failure, never a success', () => {
    assert.equal(buildOutcome(state({ verified: false }), NOW).status, 'failed');
    assert.equal(buildOutcome(state({ verified: true, pending: [{}] }), NOW).status, 'failed');
    const noPlan = buildOutcome(state({ plan: undefined }), NOW);
    assert.equal(noPlan.status, 'failed');
    assert.equal(noPlan.errorName, 'NoPlan');
  });

  test('a missing or bad startedAt falls back to now', () => {
    const o = buildOutcome(state({ startedAt: 'garbage', plan: { action: 'skip', reason: 'r' } }), NOW);
    assert.equal(o.startedAt, NOW.toISOString());
    assert.equal(o.durationMs, 0);
  });

  test('causeMessage cuts long messages', () => {
    assert.equal(causeMessage({ Error: 'X', Cause: 'y'.repeat(5000) }).length, 1000);
    assert.match(causeMessage({ Error: 'X', Cause: '' }), /failed with X/);
  });
});

describe('state document checks', () => {
  test('work items and states are checked, with a named error', () => {
    const good = state();
    assert.equal(parseWorkflowState(good), good);
    assert.equal(parseWorkItem(good.workItem), good.workItem);
    for (const bad of [null, {}, { workItem: {} }, { workItem: good.workItem }, { ...good, pending: 'x' }]) {
      assert.throws(() => parseWorkflowState(bad), WorkflowStateInvalid);
    }
    assert.throws(() => parseWorkItem({ keyRef: KEY, action: 'delete', trigger: { source: 'x', detailType: 'y' } }), /action "delete"/);
    assert.throws(() => parseWorkItem({ keyRef: '', action: 'recover', trigger: {} }), { name: 'WorkflowStateInvalid' });
  });
});

describe('errorName: never a raw AWS, Lambda or Step Functions name', () => {
  test('the lease table failing (the state machine\'s own DynamoDB task) is LeaseUnavailable, with the next step', () => {
    const o = buildOutcome(state({ error: { Error: 'DynamoDB.ResourceNotFoundException', Cause: 'Requested resource not found' } }), NOW);
    assert.equal(o.status, 'failed');
    assert.equal(o.errorName, 'LeaseUnavailable');
    assert.match(o.reason ?? '', /lease table/);
    assert.ok(o.reason?.includes(KEY));
  });

  test('Lambda, Sandbox, Runtime and States errors after the retries are UnexpectedError naming the original', () => {
    for (const name of ['Lambda.Unknown', 'Sandbox.Timedout', 'Runtime.ExitError', 'States.Timeout', 'States.TaskFailed', 'AccessDeniedException']) {
      const o = buildOutcome(state({ error: { Error: name, Cause: '{"errorMessage": "boom"}' } }), NOW);
      assert.equal(o.errorName, 'UnexpectedError', name);
      assert.ok(o.reason?.includes(name), `${name}: the reason keeps the original name`);
      assert.match(o.reason ?? '', /action "plan"/);
    }
  });

  test('our names and the workflow\'s own pass unchanged', () => {
    for (const name of ['IncorrectKeyMaterial', 'ImportTokenExpired', 'KeyNotReadable', 'TaskInputRejected', 'LeaseTaken', 'NoRunnablePlan', 'WorkflowStateInvalid']) {
      assert.equal(buildOutcome(state({ error: { Error: name, Cause: 'x' } }), NOW).errorName, name);
    }
  });
});
