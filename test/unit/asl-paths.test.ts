/**
 * The routes of the recovery runbook, executed from statemachine/recovery.asl.json with
 * aws-local-stepfunctions. The tasks are small in-test stand-ins that follow the workflow
 * contract (state in, whole state out; errors by name), so that each route can be forced:
 * this tests the ASL's retries, catches, loops and ends, not the handlers (test/e2e does that).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { runWorkflow, timesEntered, reportInput, SUBSTITUTIONS, type TaskHandler, type TaskStateName } from './asl-run.js';
import type { Json } from './template-load.js';

const WORK_ITEM = {
  keyRef: '1234abcd-12ab-34cd-56ef-1234567890ab',
  action: 'auto',
  trigger: { source: 'aws.kms', detailType: 'KMS Imported Key Material Expiration' },
};

function named(name: string, message = `${name} (test)`): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

interface Scenario {
  plan?: Json;
  pending?: Json[];
  inspect?: TaskHandler;
  getImportParameters?: (state: Json, call: number) => void;
  wrapAndImport?: (state: Json, call: number) => void;
  verify?: (state: Json, call: number) => void;
  report?: (state: Json) => Json;
  notify?: TaskHandler;
}

/** Contract-following stand-ins; each counts its invocations (retries included). */
function stepsFor(scenario: Scenario = {}) {
  const calls: Record<string, number> = {};
  const count = (name: string) => (calls[name] = (calls[name] ?? 0) + 1);
  const handlers: Record<TaskStateName, TaskHandler> & { NotifyReportFailure?: TaskHandler } = {
    Inspect: (item) => {
      count('Inspect');
      if (scenario.inspect) return scenario.inspect(item);
      return {
        workItem: item,
        startedAt: '2026-01-01T00:00:00.000Z',
        report: { keyId: item.keyRef, keyState: 'PendingImport' },
        plan: scenario.plan ?? { action: 'recover', reason: 'the key is PendingImport' },
        pending: scenario.pending ?? [{ keyMaterialId: 'a'.repeat(64) }, { keyMaterialId: 'b'.repeat(64) }],
        imported: [],
        tokenRefreshes: 0,
      };
    },
    GetImportParameters: (state) => {
      const n = count('GetImportParameters');
      scenario.getImportParameters?.(state, n);
      return { ...state, params: { keyId: state.report.keyId, importToken: `token-${n}`, publicKey: 'cHVibGlj' } };
    },
    WrapAndImport: (state) => {
      const n = count('WrapAndImport');
      assert.ok(state.params, 'WrapAndImport must always receive fresh parameters');
      scenario.wrapAndImport?.(state, n);
      const [next, ...rest] = state.pending;
      const { params: _spent, ...without } = state;
      return { ...without, pending: rest, imported: [...state.imported, { ...next, expirationModel: 'KEY_MATERIAL_EXPIRES' }] };
    },
    Verify: (state) => {
      const n = count('Verify');
      scenario.verify?.(state, n);
      return { ...state, verified: true };
    },
    Report: (state) => {
      count('Report');
      if (scenario.report) return scenario.report(state);
      const status = state.error ? 'failed' : state.plan.action === 'skip' ? 'skipped' : state.plan.action === 'recover' ? 'recovered' : 'renewed';
      return { ...state, outcome: { status, ...(state.error ? { errorName: state.error.Error } : {}) } };
    },
  };
  if (scenario.notify) handlers.NotifyReportFailure = scenario.notify;
  return { handlers, calls };
}

const retried = (run: { events: Json[] }, state: string) => run.events.filter((e) => e.type === 'StateRetried' && e.state.name === state).length;

describe('ASL routes: success and skip', () => {
  test('recover with two pending materials: parameters and import per material, then Verify, Report, Done', async () => {
    const { handlers, calls } = stepsFor();
    const run = await runWorkflow({ handlers, input: WORK_ITEM });
    assert.equal(run.status, 'SUCCEEDED');
    assert.deepEqual(run.path, [
      'Inspect', 'ChooseAction',
      'GetImportParameters', 'WrapAndImport', 'MoreMaterials',
      'PaceImportParameters', 'GetImportParameters', 'WrapAndImport', 'MoreMaterials',
      'Verify', 'Report', 'Succeeded?', 'Done',
    ]);
    assert.equal(run.output.outcome.status, 'recovered');
    assert.equal(run.output.imported.length, 2);
    assert.deepEqual(calls, { Inspect: 1, GetImportParameters: 2, WrapAndImport: 2, Verify: 1, Report: 1 });
  });

  test('renew goes the same way and reports renewed', async () => {
    const { handlers } = stepsFor({ plan: { action: 'renew', reason: 'ValidTo in 3 days' }, pending: [{}] });
    const run = await runWorkflow({ handlers, input: { ...WORK_ITEM, action: 'renew' } });
    assert.equal(run.status, 'SUCCEEDED');
    assert.equal(run.output.outcome.status, 'renewed');
    assert.equal(timesEntered(run, 'WrapAndImport'), 1);
  });

  test('skip (also every plan-only run) goes straight to Report with its reason and changes nothing', async () => {
    const { handlers, calls } = stepsFor({ plan: { action: 'skip', reason: 'plan: would recover 1 material' }, pending: [] });
    const run = await runWorkflow({ handlers, input: { ...WORK_ITEM, action: 'plan' } });
    assert.equal(run.status, 'SUCCEEDED');
    assert.deepEqual(run.path, ['Inspect', 'ChooseAction', 'Report', 'Succeeded?', 'Done']);
    assert.equal(calls.GetImportParameters, undefined);
    assert.equal(reportInput(run).plan.reason, 'plan: would recover 1 material');
  });
});

describe('ASL routes: import tokens', () => {
  test('a token that expires between steps is refreshed, counted, and not reported as an error', async () => {
    const { handlers, calls } = stepsFor({
      pending: [{}],
      wrapAndImport: (_state, n) => {
        if (n === 1) throw named('ImportTokenExpired', 'The import token for key 1234 expired; fetch new parameters');
      },
    });
    const run = await runWorkflow({ handlers, input: WORK_ITEM });
    assert.equal(run.status, 'SUCCEEDED');
    assert.equal(run.output.outcome.status, 'recovered');
    assert.deepEqual(calls, { Inspect: 1, GetImportParameters: 2, WrapAndImport: 2, Verify: 1, Report: 1 });
    const state = reportInput(run);
    assert.equal(state.tokenRefreshes, 1, 'tokenRefreshes stays a number');
    assert.equal(state.error, undefined, 'an expired token is not a failure');
    assert.equal(state.tokenExpiry.Error, 'ImportTokenExpired');
    assert.ok(run.path.includes('TokenExpired') && run.path.includes('TokenRefreshAllowed'));
  });

  test('tokens refused again and again: three refreshes, then a failed outcome (never a loop)', async () => {
    const { handlers, calls } = stepsFor({
      pending: [{}],
      wrapAndImport: () => {
        throw named('ImportTokenExpired');
      },
    });
    const run = await runWorkflow({ handlers, input: WORK_ITEM });
    assert.equal(run.status, 'FAILED');
    assert.equal(run.error?.name, 'RecoveryFailed');
    assert.equal(calls.GetImportParameters, 4);
    assert.equal(calls.WrapAndImport, 4);
    assert.equal(calls.Verify, undefined);
    const state = reportInput(run);
    assert.equal(state.error.Error, 'ImportTokenExpired');
    assert.match(state.error.Cause, new RegExp(`${WORK_ITEM.keyRef}.*4 times`));
    assert.equal(state.tokenRefreshes, 4);
  });
});

describe('ASL routes: failures that must stop at once', () => {
  for (const name of ['IncorrectKeyMaterial', 'EscrowMissing', 'EscrowInvalid', 'WrappingRejected', 'UnsupportedWrapping']) {
    test(`${name} in WrapAndImport: no retry, no Verify, a failed outcome, a failed execution`, async () => {
      const { handlers, calls } = stepsFor({
        wrapAndImport: () => {
          throw named(name);
        },
      });
      const run = await runWorkflow({ handlers, input: WORK_ITEM });
      assert.equal(calls.WrapAndImport, 1, 'never retried');
      assert.equal(retried(run, 'WrapAndImport'), 0);
      assert.equal(calls.Verify, undefined);
      assert.equal(reportInput(run).error.Error, name);
      assert.equal(run.status, 'FAILED');
      assert.equal(run.error?.name, 'RecoveryFailed');
    });
  }

  test('an unexpected error in any step is caught and reported as failed', async () => {
    for (const step of ['getImportParameters', 'verify'] as const) {
      const { handlers, calls } = stepsFor({
        [step]: () => {
          throw new TypeError('something unexpected');
        },
      });
      const run = await runWorkflow({ handlers, input: WORK_ITEM });
      assert.equal(run.status, 'FAILED', step);
      assert.equal(reportInput(run).error.Error, 'TypeError', step);
      assert.equal(calls.Report, 1, step);
    }
  });
});

describe('ASL routes: transient errors are retried, boundedly', () => {
  test('KmsUnavailable in GetImportParameters twice, then success', async () => {
    const { handlers, calls } = stepsFor({
      pending: [{}],
      getImportParameters: (_s, n) => {
        if (n <= 2) throw named('KmsUnavailable', 'KMS throttled GetParametersForImport for key 1234; retrying');
      },
    });
    const run = await runWorkflow({ handlers, input: WORK_ITEM });
    assert.equal(run.status, 'SUCCEEDED');
    assert.equal(calls.GetImportParameters, 3);
    assert.equal(retried(run, 'GetImportParameters'), 2);
  });

  test('KmsUnavailable that never ends: MaxAttempts retries, then a failed outcome', async () => {
    const { handlers, calls } = stepsFor({
      getImportParameters: () => {
        throw named('KmsUnavailable');
      },
    });
    const run = await runWorkflow({ handlers, input: WORK_ITEM });
    assert.equal(run.status, 'FAILED');
    assert.equal(calls.GetImportParameters, 5, 'one call and four retries');
    assert.equal(reportInput(run).error.Error, 'KmsUnavailable');
  });

  test('Lambda service errors are retried on every Lambda step', async () => {
    const { handlers, calls } = stepsFor({
      pending: [{}],
      verify: (_s, n) => {
        if (n === 1) throw named('Lambda.TooManyRequestsException', 'Rate exceeded');
      },
      wrapAndImport: (_s, n) => {
        if (n === 1) throw named('Lambda.ServiceException', 'Lambda is unavailable');
      },
    });
    const run = await runWorkflow({ handlers, input: WORK_ITEM });
    assert.equal(run.status, 'SUCCEEDED');
    assert.equal(calls.Verify, 2);
    assert.equal(calls.WrapAndImport, 2);
  });
});

describe('ASL routes: every path ends in a reported outcome', () => {
  test('Inspect fails (KeyNotFound): Report still receives a whole state document built from the input', async () => {
    const { handlers, calls } = stepsFor({
      inspect: () => {
        throw named('KeyNotFound', 'alias/gone points to no key; check the alias');
      },
    });
    const run = await runWorkflow({ handlers, input: WORK_ITEM });
    assert.deepEqual(run.path, ['Inspect', 'InspectFailed', 'Report', 'Succeeded?', 'Failed']);
    const state = reportInput(run);
    assert.deepEqual(state.workItem, WORK_ITEM);
    assert.deepEqual([state.pending, state.imported, state.tokenRefreshes], [[], [], 0]);
    assert.equal(typeof state.startedAt, 'string');
    assert.equal(state.error.Error, 'KeyNotFound');
    assert.equal(calls.Report, 1);
    assert.equal(run.error?.name, 'RecoveryFailed');
  });

  test('a plan the runbook cannot follow is reported as failed, nothing imported', async () => {
    for (const scenario of [{ plan: { action: 'recover', reason: 'x' }, pending: [] }, { plan: { action: 'rotate', reason: 'x' } }]) {
      const { handlers, calls } = stepsFor(scenario);
      const run = await runWorkflow({ handlers, input: WORK_ITEM });
      assert.ok(run.path.includes('NoRunnablePlan'));
      assert.equal(calls.GetImportParameters, undefined);
      assert.equal(reportInput(run).error.Error, 'NoRunnablePlan');
      assert.equal(run.status, 'FAILED');
    }
    const { handlers } = stepsFor({ inspect: (item) => ({ workItem: item, startedAt: 'x', pending: [], imported: [], tokenRefreshes: 0 }) });
    const run = await runWorkflow({ handlers, input: WORK_ITEM });
    assert.ok(run.path.includes('NoRunnablePlan'), 'no plan at all');
  });

  test('Report itself fails: a fallback notice goes to the outcome topic and the execution fails ReportFailed', async () => {
    const notices: Json[] = [];
    const { handlers } = stepsFor({
      report: () => {
        throw named('InternalErrorException', 'SNS is down');
      },
      notify: (payload) => {
        notices.push(payload);
        return { MessageId: 'm-1' };
      },
    });
    const run = await runWorkflow({ handlers, input: WORK_ITEM, executionName: 'key-1234-auto-20260101' });
    assert.equal(run.status, 'FAILED');
    assert.equal(run.error?.name, 'ReportFailed');
    assert.equal(notices.length, 1);
    const [notice] = notices;
    assert.equal(notice.TopicArn, SUBSTITUTIONS.OutcomeTopicArn);
    assert.equal(notice.Message.status, 'failed');
    assert.deepEqual(notice.Message.workItem, WORK_ITEM);
    assert.equal(notice.Message.reportError.Error, 'InternalErrorException');
    assert.match(notice.Message.executionId, /key-1234-auto-20260101$/);
  });

  test('the fallback notice failing too still ends in ReportFailed', async () => {
    const { handlers } = stepsFor({
      report: () => {
        throw named('InternalErrorException');
      },
      notify: () => {
        throw named('States.TaskFailed', 'SNS.InternalError');
      },
    });
    const run = await runWorkflow({ handlers, input: WORK_ITEM });
    assert.equal(run.status, 'FAILED');
    assert.equal(run.error?.name, 'ReportFailed');
  });

  test('an outcome without a status fails the execution rather than passing as success', async () => {
    const { handlers } = stepsFor({ report: (state) => ({ ...state, outcome: {} }) });
    const run = await runWorkflow({ handlers, input: WORK_ITEM });
    assert.equal(run.status, 'FAILED');
    assert.equal(run.error?.name, 'RecoveryFailed');
  });
});
