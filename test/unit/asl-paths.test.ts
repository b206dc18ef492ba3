/**
 * The routes of the recovery runbook, executed from statemachine/recovery.asl.json with
 * aws-local-stepfunctions. The tasks are small in-test stand-ins that follow the workflow
 * contract (state in, whole state out; errors by name), so that each route can be forced:
 * this tests the ASL's retries, catches, loops and ends, not the handlers (test/e2e does that).
 */
import { test, describe, before, after } from 'node:test';
import { randomUUID } from 'node:crypto';
import { DeleteItemCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import assert from 'node:assert/strict';
import { runWorkflow, timesEntered, reportInput, closeWorkflowDynamo, LEASE_TABLE, SUBSTITUTIONS, type TaskHandler, type TaskStateName } from './asl-run.js';
import { startDynalite, type LocalDynamo } from '../support/dynalite.js';
import { LEASE_ATTEMPTS } from '../../lib/lease/index.js';
import type { Json } from './template-load.js';

const WORK_ITEM = {
  keyRef: '1234abcd-12ab-34cd-56ef-1234567890ab',
  action: 'auto',
  trigger: { source: 'aws.kms', detailType: 'KMS Imported Key Material Expiration' },
};
/** The same key named by alias: inspected first, then leased by the ARN Inspect found, then inspected again under the lease. */
const BY_ALIAS = { ...WORK_ITEM, keyRef: 'alias/payments' };
/** The path of a run whose work item names the key by ID or ARN, up to the plan made under the lease taken first. */
const LEASE_FIRST = ['KeyRefTerms', 'ChooseFirstStep', 'AcquireLease', 'Reinspect', 'KeepLease', 'CarryLease', 'AfterReinspect'];

function named(name: string, message = `${name} (test)`): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

interface Scenario {
  plan?: Json;
  pending?: Json[];
  inspect?: TaskHandler;
  wrapAndImport?: (state: Json, call: number) => void;
  verify?: (state: Json, call: number) => void;
  rotate?: (state: Json, call: number) => void;
  report?: (state: Json) => Json;
  notify?: TaskHandler;
}

/** Contract-following stand-ins; each counts its invocations (retries included). */
function stepsFor(scenario: Scenario = {}) {
  const calls: Record<string, number> = {};
  const count = (name: string) => (calls[name] = (calls[name] ?? 0) + 1);
  const handlers: Record<TaskStateName, TaskHandler> & { NotifyReportFailure?: TaskHandler } = {
    Inspect: (input) => {
      count('Inspect');
      // Inspect first gets {workItem} (KeyRefTerms); Reinspect the work item itself.
      const item = typeof input === 'object' && input !== null && 'workItem' in input ? input.workItem : input;
      if (scenario.inspect) return scenario.inspect(item);
      return {
        workItem: item,
        startedAt: '2026-01-01T00:00:00.000Z',
        report: { keyId: item.keyRef, arn: item.keyRef.startsWith('arn:') ? item.keyRef : `arn:aws:kms:us-east-1:111122223333:key/${item.keyRef}`, keyState: 'PendingImport' },
        plan: scenario.plan ?? { action: 'recover', reason: 'the key is PendingImport' },
        pending: scenario.pending ?? [{ keyMaterialId: 'a'.repeat(64) }, { keyMaterialId: 'b'.repeat(64) }],
        imported: [],
        tokenRefreshes: 0,
      };
    },
    WrapAndImport: (state) => {
      const n = count('WrapAndImport');
      assert.ok(state.report?.arn === state.lease?.keyArn && state.lease?.acquired, 'WrapAndImport only under the lease of the key it imports into');
      scenario.wrapAndImport?.(state, n);
      const [next, ...rest] = state.pending;
      return { ...state, pending: rest, imported: [...state.imported, { ...next, expirationModel: 'KEY_MATERIAL_EXPIRES' }] };
    },
    Verify: (state) => {
      const n = count('Verify');
      scenario.verify?.(state, n);
      return { ...state, verified: true };
    },
    Rotate: (state) => {
      const n = count('Rotate');
      scenario.rotate?.(state, n);
      return { ...state, verified: true, rotation: { mode: 'in-place', fromKeyMaterialId: 'a'.repeat(64), toKeyMaterialId: 'c'.repeat(64) }, rotationReason: 'rotated (test)' };
    },
    Report: (state) => {
      count('Report');
      if (scenario.report) return scenario.report(state);
      const status = state.error
        ? 'failed'
        : state.plan.action === 'skip'
          ? 'skipped'
          : state.plan.action === 'recover'
            ? 'recovered'
            : state.plan.action === 'rotate'
              ? 'rotated'
              : 'renewed';
      return { ...state, outcome: { status, ...(state.error ? { errorName: state.error.Error } : {}) } };
    },
  };
  if (scenario.notify) handlers.NotifyReportFailure = scenario.notify;
  return { handlers, calls };
}

const retried = (run: { events: Json[] }, state: string) => run.events.filter((e) => e.type === 'StateRetried' && e.state.name === state).length;

describe('ASL routes: success and skip', () => {
  test('recover with two pending materials, key named by ID: the lease first, Inspect once under it, WrapAndImport per material (paced), then Verify, Report, Done', async () => {
    const { handlers, calls } = stepsFor();
    const run = await runWorkflow({ handlers, input: WORK_ITEM });
    assert.equal(run.status, 'SUCCEEDED');
    assert.deepEqual(run.path, [
      ...LEASE_FIRST,
      'WrapAndImport', 'MoreMaterials',
      'PaceImportParameters', 'WrapAndImport', 'MoreMaterials',
      'Verify', 'ReleaseLease', 'Report', 'Succeeded?', 'Done',
    ]);
    assert.equal(run.output.outcome.status, 'recovered');
    assert.equal(run.output.imported.length, 2);
    // Inspect once: under the lease taken for the ARN made from the key ID.
    assert.deepEqual(calls, { Inspect: 1, WrapAndImport: 2, Verify: 1, Report: 1 });
    assert.equal(reportInput(run).lease.keyArn, `arn:aws:kms:us-east-1:111122223333:key/${WORK_ITEM.keyRef}`);
  });

  test('the same by key ARN: the lease for that ARN, Inspect once', async () => {
    const { handlers, calls } = stepsFor({ pending: [{}] });
    const arn = `arn:aws:kms:us-east-1:111122223333:key/${WORK_ITEM.keyRef}`;
    const run = await runWorkflow({ handlers, input: { ...WORK_ITEM, keyRef: arn } });
    assert.equal(run.status, 'SUCCEEDED');
    assert.deepEqual(run.path.slice(0, LEASE_FIRST.length + 1), [...LEASE_FIRST, 'WrapAndImport']);
    assert.equal(calls.Inspect, 1);
    assert.equal(reportInput(run).lease.keyArn, arn);
  });

  test('recover by alias: Inspect, the lease for the ARN it found, Inspect again under it, then the imports', async () => {
    const { handlers, calls } = stepsFor();
    const run = await runWorkflow({ handlers, input: BY_ALIAS });
    assert.equal(run.status, 'SUCCEEDED');
    assert.deepEqual(run.path, [
      'KeyRefTerms', 'ChooseFirstStep', 'Inspect', 'ChooseAction',
      'LeaseTerms', 'AcquireLease', 'Reinspect', 'KeepLease', 'CarryLease', 'AfterReinspect',
      'WrapAndImport', 'MoreMaterials',
      'PaceImportParameters', 'WrapAndImport', 'MoreMaterials',
      'Verify', 'ReleaseLease', 'Report', 'Succeeded?', 'Done',
    ]);
    // Inspect twice: once to find the key behind the alias, once more under the lease.
    assert.deepEqual(calls, { Inspect: 2, WrapAndImport: 2, Verify: 1, Report: 1 });
  });

  test('a key ID that is not quite one (upper case, a UUID with another shape) takes the alias path: never a lease for an ARN made from a guess', async () => {
    for (const keyRef of [WORK_ITEM.keyRef.toUpperCase(), `${WORK_ITEM.keyRef}0`, `arn:aws:kms:us-east-1:111122223333:alias/payments`]) {
      const { handlers } = stepsFor({ pending: [{}] });
      const run = await runWorkflow({ handlers, input: { ...WORK_ITEM, keyRef } });
      assert.deepEqual(run.path.slice(0, 4), ['KeyRefTerms', 'ChooseFirstStep', 'Inspect', 'ChooseAction'], keyRef);
    }
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
    assert.deepEqual(run.path, ['KeyRefTerms', 'ChooseFirstStep', 'Inspect', 'ChooseAction', 'Report', 'Succeeded?', 'Done'], 'a plan-only run takes no lease');
    assert.equal(calls.WrapAndImport, undefined);
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
    assert.deepEqual(calls, { Inspect: 1, WrapAndImport: 2, Verify: 1, Report: 1 });
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
    assert.equal(calls.WrapAndImport, 4, 'each with its own parameters');
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
    for (const step of ['wrapAndImport', 'verify'] as const) {
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
  test('KmsUnavailable in WrapAndImport (GetParametersForImport throttled) twice, then success', async () => {
    const { handlers, calls } = stepsFor({
      pending: [{}],
      wrapAndImport: (_s, n) => {
        if (n <= 2) throw named('KmsUnavailable', 'KMS throttled GetParametersForImport for key 1234; retrying');
      },
    });
    const run = await runWorkflow({ handlers, input: WORK_ITEM });
    assert.equal(run.status, 'SUCCEEDED');
    assert.equal(calls.WrapAndImport, 3);
    assert.equal(retried(run, 'WrapAndImport'), 2);
  });

  test('KmsUnavailable that never ends: MaxAttempts retries, then a failed outcome', async () => {
    const { handlers, calls } = stepsFor({
      wrapAndImport: () => {
        throw named('KmsUnavailable');
      },
    });
    const run = await runWorkflow({ handlers, input: WORK_ITEM });
    assert.equal(run.status, 'FAILED');
    assert.equal(calls.WrapAndImport, 5, 'one call and four retries');
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
    const input = { ...WORK_ITEM, keyRef: 'alias/gone' };
    const run = await runWorkflow({ handlers, input });
    assert.deepEqual(run.path, ['KeyRefTerms', 'ChooseFirstStep', 'Inspect', 'InspectFailed', 'Report', 'Succeeded?', 'Failed']);
    const state = reportInput(run);
    assert.deepEqual(state.workItem, input);
    assert.deepEqual([state.pending, state.imported, state.tokenRefreshes], [[], [], 0]);
    assert.equal(typeof state.startedAt, 'string');
    assert.equal(state.error.Error, 'KeyNotFound');
    assert.equal(calls.Report, 1);
    assert.equal(run.error?.name, 'RecoveryFailed');
  });

  test('Inspect fails under the lease taken first (key ID): the lease is released, Report gets the whole state document', async () => {
    const { handlers, calls } = stepsFor({
      inspect: () => {
        throw named('KeyNotFound', 'Key 1234abcd-12ab-34cd-56ef-1234567890ab was not found; check the key ID and Region');
      },
    });
    const run = await runWorkflow({ handlers, input: WORK_ITEM });
    assert.deepEqual(run.path, ['KeyRefTerms', 'ChooseFirstStep', 'AcquireLease', 'Reinspect', 'ReleaseIfHeld', 'ReleaseLease', 'Report', 'Succeeded?', 'Failed']);
    const state = reportInput(run);
    assert.deepEqual(state.workItem, WORK_ITEM);
    assert.deepEqual([state.pending, state.imported, state.tokenRefreshes], [[], [], 0]);
    assert.equal(state.error.Error, 'KeyNotFound');
    assert.equal(state.leaseReleaseError, undefined, 'released');
    assert.equal(calls.Report, 1);
  });

  test('a plan the runbook cannot follow is reported as failed, nothing imported (by alias, and under the lease taken first)', async () => {
    for (const input of [BY_ALIAS, WORK_ITEM]) {
      for (const scenario of [{ plan: { action: 'recover', reason: 'x' }, pending: [] }, { plan: { action: 'explode', reason: 'x' } }]) {
        const { handlers, calls } = stepsFor(scenario);
        const run = await runWorkflow({ handlers, input });
        assert.ok(run.path.includes(input === BY_ALIAS ? 'NoRunnablePlan' : 'NoRunnablePlanUnderLease'), run.path.join(' > '));
        assert.equal(calls.WrapAndImport, undefined);
        assert.equal(reportInput(run).error.Error, 'NoRunnablePlan');
        assert.equal(run.status, 'FAILED');
      }
      const { handlers } = stepsFor({ inspect: (item) => ({ workItem: item, startedAt: 'x', pending: [], imported: [], tokenRefreshes: 0 }) });
      const run = await runWorkflow({ handlers, input });
      assert.ok(run.path.some((s) => s.startsWith('NoRunnablePlan')), 'no plan at all');
    }
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

// ------------------------------------------------------------------ the per-key lease, against a real DynamoDB (dynalite)
describe('ASL routes: one run per key (the lease in DynamoDB)', () => {
  let dynamo: LocalDynamo;
  before(async () => {
    dynamo = await startDynalite();
    await dynamo.createLeaseTable(LEASE_TABLE);
  });
  after(async () => {
    await dynamo.close();
    await closeWorkflowDynamo();
  });

  const arnOf = (keyRef: string) => `arn:aws:kms:us-east-1:111122223333:key/${keyRef}`;
  const leaseItem = async (keyRef: string) =>
    (await dynamo.client.send(new GetItemCommand({ TableName: LEASE_TABLE, Key: { keyArn: { S: arnOf(keyRef) } }, ConsistentRead: true }))).Item;
  const holdLease = (keyRef: string, owner: string, expiresAt: number) =>
    dynamo.client.send(new PutItemCommand({
      TableName: LEASE_TABLE,
      Item: { keyArn: { S: arnOf(keyRef) }, owner: { S: owner }, expiresAt: { N: String(expiresAt) } },
    }));
  const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;
  const item = () => ({ ...WORK_ITEM, keyRef: randomUUID() });

  test('the lease is taken (owner: the execution, expiresAt: epoch seconds) while the run acts, and released before Report', async () => {
    const input = item();
    const { handlers } = stepsFor({ pending: [{}] });
    // Verify records the lease item as it is while the run acts.
    const verify: TaskHandler = async (state) => ({ ...(await handlers.Verify(state)), held: await leaseItem(input.keyRef) });
    const run = await runWorkflow({ handlers: { ...handlers, Verify: verify }, input, dynamodb: dynamo, executionName: `lease-${input.keyRef}` });
    assert.equal(run.status, 'SUCCEEDED');
    const held = reportInput(run).held;
    assert.equal(held.owner.S, `arn:aws:states:us-east-1:111122223333:execution:kms-reimport-test-RecoveryStateMachine:lease-${input.keyRef}`);
    assert.equal(held.keyArn.S, arnOf(input.keyRef));
    const expires = Number(held.expiresAt.N);
    assert.ok(Number.isInteger(expires) && expires > Date.now() / 1000 + 3600 && expires <= Date.now() / 1000 + 3900, `expiresAt ${held.expiresAt.N}`);
    assert.equal(await leaseItem(input.keyRef), undefined, 'released');
    assert.ok(run.path.indexOf('ReleaseLease') === run.path.indexOf('Report') - 1);
  });

  test('a lease held by another run: bounded waits, each followed by Inspect; still held → skipped naming the holder, nothing imported, the lease left alone (by key ID and by alias)', async () => {
    for (const input of [item(), { ...item(), keyRef: `alias/${randomUUID()}` }]) {
      const byAlias = input.keyRef.startsWith('alias/');
      const other = 'arn:aws:states:us-east-1:111122223333:execution:kms-reimport-test-RecoveryStateMachine:other-run';
      await holdLease(input.keyRef, other, inAnHour());
      const { handlers, calls } = stepsFor({ pending: [{}] });
      const run = await runWorkflow({ handlers, input, dynamodb: dynamo });
      assert.equal(run.status, 'SUCCEEDED');
      assert.equal(run.output.outcome.status, 'skipped');
      assert.match(reportInput(run).plan.reason, new RegExp(`Key ${arnOf(input.keyRef)} is being worked on by ${other}, which holds its lease`));
      assert.match(reportInput(run).plan.reason, /still taken after 5 attempts/);
      assert.equal(timesEntered(run, 'AcquireLease'), LEASE_ATTEMPTS);
      assert.equal(timesEntered(run, 'WaitForLease'), LEASE_ATTEMPTS - 1);
      // By key ID the lease is asked for first, then Inspect after every wait; by alias Inspect comes first.
      assert.equal(calls.Inspect, byAlias ? LEASE_ATTEMPTS : LEASE_ATTEMPTS - 1, input.keyRef);
      assert.equal(calls.WrapAndImport, undefined);
      assert.equal(timesEntered(run, 'ReleaseLease'), 0, 'never releases a lease it does not hold');
      assert.equal((await leaseItem(input.keyRef))?.owner?.S, other);
    }
  });

  test('the holder finishes while this run waits: skipped "already handled by <holder>", nothing imported', async () => {
    const input = item();
    const other = 'cli:host:123:abc';
    await holdLease(input.keyRef, other, inAnHour());
    let inspections = 0;
    const { handlers, calls } = stepsFor({
      pending: [{}],
      inspect: (workItem) => {
        inspections++;
        const healthy = inspections > 1;
        return {
          workItem, startedAt: '2026-01-01T00:00:00.000Z', imported: [], tokenRefreshes: 0,
          report: { keyId: workItem.keyRef, arn: arnOf(workItem.keyRef), keyState: healthy ? 'Enabled' : 'PendingImport' },
          plan: healthy ? { action: 'skip', reason: 'the key is Enabled and its material valid for 89 days' } : { action: 'recover', reason: 'PendingImport' },
          pending: healthy ? [] : [{}],
        };
      },
    });
    const run = await runWorkflow({ handlers, input, dynamodb: dynamo });
    assert.equal(run.output.outcome.status, 'skipped');
    assert.match(reportInput(run).plan.reason, /already handled by cli:host:123:abc/);
    assert.match(reportInput(run).plan.reason, /the key is Enabled/);
    assert.equal(calls.WrapAndImport, undefined);
    assert.deepEqual(run.path.slice(-4), ['HandledByLeaseHolder', 'Report', 'Succeeded?', 'Done']);
  });

  test('a lapsed lease (expiresAt in the past) is taken over; the run recovers and releases it', async () => {
    const input = item();
    await holdLease(input.keyRef, 'a-run-that-died', Math.floor(Date.now() / 1000) - 1);
    const { handlers, calls } = stepsFor({ pending: [{}] });
    const run = await runWorkflow({ handlers, input, dynamodb: dynamo });
    assert.equal(run.output.outcome.status, 'recovered');
    assert.equal(calls.WrapAndImport, 1);
    assert.equal(timesEntered(run, 'AcquireLease'), 1);
    assert.equal(await leaseItem(input.keyRef), undefined);
  });

  test('every failure after the lease was taken releases it before Report', async () => {
    for (const failing of ['wrapAndImport', 'verify'] as const) {
      const input = item();
      const { handlers } = stepsFor({ pending: [{}], [failing]: () => { throw named('IncorrectKeyMaterial'); } });
      const run = await runWorkflow({ handlers, input, dynamodb: dynamo });
      assert.equal(run.status, 'FAILED', failing);
      assert.equal(reportInput(run).error.Error, 'IncorrectKeyMaterial', failing);
      assert.deepEqual(run.path.slice(-4), ['ReleaseLease', 'Report', 'Succeeded?', 'Failed'], failing);
      assert.equal(await leaseItem(input.keyRef), undefined, `${failing}: released`);
    }
  });

  test('by alias: under the lease the key needs nothing any more (another run just finished): skipped, lease released', async () => {
    const keyId = randomUUID();
    const input = { ...BY_ALIAS, keyRef: `alias/${keyId}` };
    let inspections = 0;
    const { handlers, calls } = stepsFor({
      inspect: (workItem) => {
        inspections++;
        return {
          workItem, startedAt: '2026-01-01T00:00:00.000Z', imported: [], tokenRefreshes: 0,
          report: { keyId, arn: arnOf(keyId), keyState: inspections > 1 ? 'Enabled' : 'PendingImport' },
          plan: inspections > 1 ? { action: 'skip', reason: 'the key is Enabled' } : { action: 'recover', reason: 'PendingImport' },
          pending: inspections > 1 ? [] : [{}],
        };
      },
    });
    const run = await runWorkflow({ handlers, input, dynamodb: dynamo });
    assert.equal(run.output.outcome.status, 'skipped');
    assert.match(reportInput(run).plan.reason, /needed nothing once this run held its lease/);
    assert.equal(calls.WrapAndImport, undefined);
    assert.ok(run.path.includes('NothingToDoUnderLease') && run.path.includes('ReleaseLease'));
    assert.equal(await leaseItem(keyId), undefined);
  });

  test('by key ID: the one inspection, under the lease, finds nothing to do: skipped with Inspect\'s own reason, lease released', async () => {
    const input = item();
    const { handlers, calls } = stepsFor({ plan: { action: 'skip', reason: 'the key is Enabled and its material valid for 89 days' }, pending: [] });
    const run = await runWorkflow({ handlers, input, dynamodb: dynamo });
    assert.equal(run.output.outcome.status, 'skipped');
    assert.equal(reportInput(run).plan.reason, 'the key is Enabled and its material valid for 89 days');
    assert.deepEqual(run.path, [...LEASE_FIRST, 'ReleaseLease', 'Report', 'Succeeded?', 'Done']);
    assert.deepEqual(calls, { Inspect: 1, Report: 1 });
    assert.equal(await leaseItem(input.keyRef), undefined);
  });

  test('the key Inspect finds under the lease taken first is another ARN: that lease is released, the found key leased, inspected again, and only then imported into', async () => {
    const input = { ...item(), keyRef: `arn:aws:kms:us-east-1:111122223333:key/${randomUUID()}` };
    const found = randomUUID();
    const held: Array<Json | undefined> = [];
    const { handlers, calls } = stepsFor({
      pending: [{}],
      inspect: async (workItem) => {
        // The first lease's item while the key is inspected under it.
        held.push(await dynamo.client.send(new GetItemCommand({ TableName: LEASE_TABLE, Key: { keyArn: { S: input.keyRef } }, ConsistentRead: true })).then((r) => r.Item));
        return {
          workItem, startedAt: '2026-01-01T00:00:00.000Z', imported: [], tokenRefreshes: 0,
          report: { keyId: found, arn: arnOf(found), keyState: 'PendingImport' },
          plan: { action: 'recover', reason: 'PendingImport' },
          pending: [{}],
        };
      },
    });
    const run = await runWorkflow({ handlers, input, dynamodb: dynamo });
    assert.equal(run.output.outcome.status, 'recovered');
    assert.deepEqual(run.path.slice(0, 15), [
      ...LEASE_FIRST, 'ReleaseMisdirectedLease',
      'LeaseTerms', 'AcquireLease', 'Reinspect', 'KeepLease', 'CarryLease', 'AfterReinspect', 'WrapAndImport',
    ]);
    assert.deepEqual(calls, { Inspect: 2, WrapAndImport: 1, Verify: 1, Report: 1 });
    assert.ok(held[0], 'the first inspection ran under the first lease');
    assert.equal(held[1], undefined, 'released before the found key was leased');
    assert.equal(reportInput(run).lease.keyArn, arnOf(found));
    assert.equal(await leaseItem(found), undefined, 'the found key\'s lease released too');
  });

  test('the key is another ARN again under the second lease: never imported, NoRunnablePlanUnderLease, released', async () => {
    const input = item();
    let n = 0;
    const { handlers, calls } = stepsFor({
      pending: [{}],
      inspect: (workItem) => {
        const keyId = randomUUID(); // a different key every time (an alias moving as it is read)
        n++;
        return { workItem, startedAt: 'x', imported: [], tokenRefreshes: 0, report: { keyId, arn: arnOf(keyId), keyState: 'PendingImport' }, plan: { action: 'recover', reason: 'PendingImport' }, pending: [{}] };
      },
    });
    const run = await runWorkflow({ handlers, input, dynamodb: dynamo });
    assert.equal(run.status, 'FAILED');
    assert.equal(n, 2);
    assert.equal(calls.WrapAndImport, undefined);
    assert.equal(timesEntered(run, 'ReleaseMisdirectedLease'), 1, 'at most once per run');
    assert.deepEqual(run.path.slice(-5), ['NoRunnablePlanUnderLease', 'ReleaseLease', 'Report', 'Succeeded?', 'Failed']);
    assert.equal(await leaseItem(input.keyRef), undefined);
  });

  test('a release that finds the lease no longer its own leaves the other run\'s lease and still reports', async () => {
    const input = item();
    const { handlers } = stepsFor({ pending: [{}] });
    const run = await runWorkflow({
      handlers: {
        ...handlers,
        Verify: async (state) => {
          // The lease was taken over meanwhile (it lapsed and another run took it).
          await dynamo.client.send(new DeleteItemCommand({ TableName: LEASE_TABLE, Key: { keyArn: { S: arnOf(input.keyRef) } } }));
          await holdLease(input.keyRef, 'someone-else', inAnHour());
          return handlers.Verify(state);
        },
      },
      input,
      dynamodb: dynamo,
    });
    assert.equal(run.output.outcome.status, 'recovered');
    assert.equal(reportInput(run).leaseReleaseError.Error, 'DynamoDB.ConditionalCheckFailedException');
    assert.equal((await leaseItem(input.keyRef))?.owner?.S, 'someone-else');
  });

  test('a lease table that cannot be used: failed with the DynamoDB error, nothing imported', async () => {
    const empty = await startDynalite();
    try {
      const { handlers, calls } = stepsFor({ pending: [{}] });
      const run = await runWorkflow({ handlers, input: item(), dynamodb: empty });
      assert.equal(run.status, 'FAILED');
      assert.equal(reportInput(run).error.Error, 'DynamoDB.ResourceNotFoundException');
      assert.equal(calls.WrapAndImport, undefined);
      assert.equal(calls.Inspect, undefined, 'the lease is asked for before the key is inspected');
    } finally {
      await empty.close();
    }
  });
});

describe('ASL routes: the rotation branch (work item action rotate)', () => {
  let dynamo: LocalDynamo;
  before(async () => {
    dynamo = await startDynalite();
    await dynamo.createLeaseTable(LEASE_TABLE);
  });
  after(async () => {
    await dynamo.close();
  });

  const arnOf = (keyRef: string) => `arn:aws:kms:us-east-1:111122223333:key/${keyRef}`;
  const leaseItem = async (keyRef: string) =>
    (await dynamo.client.send(new GetItemCommand({ TableName: LEASE_TABLE, Key: { keyArn: { S: arnOf(keyRef) } }, ConsistentRead: true }))).Item;
  const rotation = () => ({ ...WORK_ITEM, keyRef: randomUUID(), action: 'rotate', trigger: { source: 'kms-reimport.manual', detailType: 'Manual Request' } });
  const ROTATE_PLAN = { action: 'rotate', reason: 'rotate key in place (a single-Region SYMMETRIC_DEFAULT key)' };

  test('rotate: the lease is taken, the key inspected again under it, Rotate runs once (no import steps), the lease released, Report says rotated', async () => {
    const input = rotation();
    const { handlers, calls } = stepsFor({ plan: ROTATE_PLAN, pending: [] });
    const rotate: TaskHandler = async (state) => ({ ...(await handlers.Rotate(state)), held: await leaseItem(input.keyRef) });
    const run = await runWorkflow({ handlers: { ...handlers, Rotate: rotate }, input, dynamodb: dynamo, executionName: `rotate-${input.keyRef}` });
    assert.equal(run.status, 'SUCCEEDED', JSON.stringify(run.error));
    assert.deepEqual(run.path, [...LEASE_FIRST, 'Rotate', 'ReleaseLease', 'Report', 'Succeeded?', 'Done']);
    assert.equal(run.output.outcome.status, 'rotated');
    assert.deepEqual(calls, { Inspect: 1, Rotate: 1, Report: 1 }, 'no WrapAndImport or Verify: the engine does it all');
    assert.equal(reportInput(run).held.owner.S, `arn:aws:states:us-east-1:111122223333:execution:kms-reimport-test-RecoveryStateMachine:rotate-${input.keyRef}`);
    assert.equal(reportInput(run).rotation.toKeyMaterialId, 'c'.repeat(64));
    assert.equal(await leaseItem(input.keyRef), undefined, 'released');
  });

  test('rotate skipped by Inspect (PendingImport: recover first; a Multi-Region replica: rotate the primary): the lease taken first released, Report with the reason, no Rotate', async () => {
    for (const reason of ['Key is PendingImport. It cannot be rotated while material is missing: recover it first', 'Key k in eu-west-1 is a replica of a Multi-Region key: rotate its primary us-east-1 (rotate the primary arn:aws:kms:us-east-1:111122223333:key/k ...']) {
      const input = rotation();
      const { handlers, calls } = stepsFor({ plan: { action: 'skip', reason }, pending: [] });
      const run = await runWorkflow({ handlers, input, dynamodb: dynamo });
      assert.equal(run.status, 'SUCCEEDED');
      assert.deepEqual(run.path, [...LEASE_FIRST, 'ReleaseLease', 'Report', 'Succeeded?', 'Done']);
      assert.equal(calls.Rotate, undefined);
      assert.equal(reportInput(run).plan.reason, reason);
      assert.equal(await leaseItem(input.keyRef), undefined);
    }
  });

  test('a named rotation failure (RotationLimitReached) is not retried: released, reported failed with its name', async () => {
    const input = rotation();
    const { handlers, calls } = stepsFor({
      plan: ROTATE_PLAN,
      pending: [],
      rotate: () => {
        throw named('RotationLimitReached', 'Key has had the 25 on-demand rotations KMS allows');
      },
    });
    const run = await runWorkflow({ handlers, input, dynamodb: dynamo });
    assert.equal(run.status, 'FAILED');
    assert.equal(calls.Rotate, 1);
    assert.equal(reportInput(run).error.Error, 'RotationLimitReached');
    assert.deepEqual(run.path.slice(-5), ['Rotate', 'ReleaseLease', 'Report', 'Succeeded?', 'Failed']);
    assert.equal(await leaseItem(input.keyRef), undefined, 'released');
  });

  test('Multi-Region named failures (MultiRegionRotationRefused, PendingMaterialUnproven, KeyNotManaged for a replica) are not retried: released, reported failed with name and reason', async () => {
    for (const name of ['MultiRegionRotationRefused', 'PendingMaterialUnproven', 'KeyNotManaged']) {
      const input = rotation();
      const { handlers, calls } = stepsFor({
        plan: ROTATE_PLAN,
        pending: [],
        rotate: () => {
          throw named(name, `the engine says ${name}: next step ...`);
        },
      });
      const run = await runWorkflow({ handlers, input, dynamodb: dynamo });
      assert.equal(run.status, 'FAILED', name);
      assert.equal(calls.Rotate, 1, `${name} is not retried`);
      assert.equal(reportInput(run).error.Error, name);
      assert.match(reportInput(run).error.Cause, new RegExp(`the engine says ${name}`));
      assert.deepEqual(run.path.slice(-5), ['Rotate', 'ReleaseLease', 'Report', 'Succeeded?', 'Failed'], name);
      assert.equal(await leaseItem(input.keyRef), undefined, `${name}: released`);
    }
  });

  test('EscrowNotReplicated (a new escrow version not yet in a replica Region) is retried boundedly, then reported failed: the engine continues where it stopped', async () => {
    const input = rotation();
    const { handlers, calls } = stepsFor({
      plan: ROTATE_PLAN,
      pending: [],
      rotate: (_state, n) => {
        if (n === 1) throw named('EscrowNotReplicated', 'not in eu-west-1 yet');
      },
    });
    const run = await runWorkflow({ handlers, input, dynamodb: dynamo });
    assert.equal(run.output?.outcome.status, 'rotated', JSON.stringify(run.error));
    assert.equal(calls.Rotate, 2);

    const forever = stepsFor({
      plan: ROTATE_PLAN,
      pending: [],
      rotate: () => {
        throw named('EscrowNotReplicated', 'still not replicated');
      },
    });
    const failed = await runWorkflow({ handlers: forever.handlers, input: rotation(), dynamodb: dynamo });
    assert.equal(failed.status, 'FAILED');
    assert.equal(forever.calls.Rotate, 4, 'MaxAttempts 3: four invocations in all');
    assert.equal(reportInput(failed).error.Error, 'EscrowNotReplicated');
    assert.ok(failed.path.includes('ReleaseLease'));
  });

  test('ReplicaNotYetRotated (the primary rotated, a replica Region not showing it yet) is retried, boundedly, then reported failed by name', async () => {
    const input = rotation();
    const { handlers, calls } = stepsFor({
      plan: ROTATE_PLAN,
      pending: [],
      rotate: (_state, n) => {
        if (n <= 2) throw named('ReplicaNotYetRotated', 'eu-west-1 still names the old material');
      },
    });
    const run = await runWorkflow({ handlers, input, dynamodb: dynamo });
    assert.equal(run.output?.outcome.status, 'rotated', JSON.stringify(run.error));
    assert.equal(calls.Rotate, 3);

    // Shares one budget with RotationConflict and EscrowNotReplicated: interleaved, still four invocations at most.
    const names = ['RotationConflict', 'ReplicaNotYetRotated', 'EscrowNotReplicated', 'ReplicaNotYetRotated'];
    const forever = stepsFor({
      plan: ROTATE_PLAN,
      pending: [],
      rotate: (_state, n) => {
        throw named(names[(n - 1) % names.length]!, 'still later');
      },
    });
    const failed = await runWorkflow({ handlers: forever.handlers, input: rotation(), dynamodb: dynamo });
    assert.equal(failed.status, 'FAILED');
    assert.equal(forever.calls.Rotate, 4, 'one shared retrier, MaxAttempts 3');
    assert.equal(reportInput(failed).error.Error, 'ReplicaNotYetRotated');
    assert.ok(failed.path.includes('ReleaseLease'));
  });

  test('RotationConflict (KMS: a rotation is running or due) is retried, boundedly; the engine resumes, so a retry never makes a second rotation', async () => {
    const input = rotation();
    const { handlers, calls } = stepsFor({
      plan: ROTATE_PLAN,
      pending: [],
      rotate: (_state, n) => {
        if (n <= 2) throw named('RotationConflict', 'KMS refused to rotate now (ConflictException)');
      },
    });
    const run = await runWorkflow({ handlers, input, dynamodb: dynamo });
    assert.equal(run.output?.outcome.status, 'rotated', JSON.stringify(run.error));
    assert.equal(calls.Rotate, 3);
    assert.equal(retried(run, 'Rotate'), 2);

    const forever = stepsFor({
      plan: ROTATE_PLAN,
      pending: [],
      rotate: () => {
        throw named('RotationConflict', 'still refused');
      },
    });
    const failed = await runWorkflow({ handlers: forever.handlers, input: rotation(), dynamodb: dynamo });
    assert.equal(failed.status, 'FAILED');
    assert.equal(forever.calls.Rotate, 4, 'MaxAttempts 3: four invocations in all');
    assert.equal(reportInput(failed).error.Error, 'RotationConflict');
    assert.ok(failed.path.includes('ReleaseLease'));
  });

  test('a rotation that finds the lease held by another run waits, never rotates beside it, and ends skipped naming the holder', async () => {
    const input = rotation();
    const other = 'arn:aws:states:us-east-1:111122223333:execution:kms-reimport-test-RecoveryStateMachine:other-rotation';
    await dynamo.client.send(new PutItemCommand({
      TableName: LEASE_TABLE,
      Item: { keyArn: { S: arnOf(input.keyRef) }, owner: { S: other }, expiresAt: { N: String(Math.floor(Date.now() / 1000) + 3600) } },
    }));
    const { handlers, calls } = stepsFor({ plan: ROTATE_PLAN, pending: [] });
    const run = await runWorkflow({ handlers, input, dynamodb: dynamo });
    assert.equal(run.status, 'SUCCEEDED');
    assert.equal(calls.Rotate, undefined, 'never rotated while another run held the lease');
    assert.equal(run.output.outcome.status, 'skipped');
    assert.match(reportInput(run).plan.reason, /other-rotation/);
    assert.equal(timesEntered(run, 'AcquireLease'), LEASE_ATTEMPTS);
    assert.equal((await leaseItem(input.keyRef))?.owner?.S, other, "the other run's lease is left alone");
  });
});
