import { test, describe, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { mockClient } from 'aws-sdk-client-mock';
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { captureLogs, lambdaContext } from '../support/lambda.js';

// Cold-start settings, read when the handler module loads.
process.env.STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:111122223333:stateMachine:kms-reimport-recovery';
process.env.AWS_REGION = 'us-east-1';
process.env.POWERTOOLS_DEV = 'true';
process.env.POWERTOOLS_METRICS_DISABLED = 'false';
process.env.POWERTOOLS_METRICS_NAMESPACE = 'KmsReimport';
const { handler, triggerWith } = await import('../../functions/trigger.js');

const sfnMock = mockClient(SFNClient);
const EVENTS = fileURLToPath(new URL('../../events/', import.meta.url));
const sample = (name: string): any => structuredClone(JSON.parse(readFileSync(EVENTS + name, 'utf8')));
const KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';
const SM = process.env.STATE_MACHINE_ARN;

const context = lambdaContext('kms-reimport-trigger');


/** Step Functions StartExecution semantics: same name + same input → the same execution; else ExecutionAlreadyExists. */
function fakeStepFunctions(): Map<string, string> {
  const executions = new Map<string, string>();
  sfnMock.on(StartExecutionCommand).callsFake(async (input: { name: string; input: string }) => {
    const existing = executions.get(input.name);
    if (existing !== undefined && existing !== input.input) {
      throw new ExecutionAlreadyExists({ message: `Execution Already Exists: '${input.name}'`, $metadata: {} });
    }
    executions.set(input.name, input.input);
    return { executionArn: `arn:aws:states:us-east-1:111122223333:execution:kms-reimport-recovery:${input.name}`, startDate: new Date() };
  });
  return executions;
}

beforeEach(() => sfnMock.reset());

describe('trigger handler', () => {
  for (const name of ['kms/material-expiration.json', 'cloudtrail/delete-imported-key-material.json', 'cloudtrail/delete-expired-key-material.json']) {
    test(`${name} starts one recovery execution for the key`, async () => {
      fakeStepFunctions();
      const { result, logs } = await captureLogs(() => handler(sample(name), context));
      assert.equal(result.status, 'ok');
      const calls = sfnMock.commandCalls(StartExecutionCommand);
      assert.equal(calls.length, 1);
      const input = calls[0]?.args[0].input;
      assert.equal(input?.stateMachineArn, SM);
      assert.match(input?.name ?? '', new RegExp(`^${KEY}-recover-\\d{8}T\\d{4}Z$`));
      const workItem = JSON.parse(input?.input ?? '');
      assert.equal(workItem.keyRef, KEY);
      assert.equal(workItem.action, 'recover');
      assert.equal(workItem.executionName, input?.name);
      assert.equal(workItem.trigger.eventId, undefined);
      // Every line about the key carries keyId, action and the execution name.
      const started = logs.find((l) => l.message === 'Execution started');
      assert.ok(started, 'an "Execution started" log line');
      assert.equal(started.keyId, KEY);
      assert.equal(started.action, 'recover');
      assert.equal(started.executionName, input?.name);
      assert.equal(started.function_name, 'kms-reimport-trigger');
    });
  }

  test('manual samples start the requested action', async () => {
    for (const [file, action] of [['manual/recover.json', 'recover'], ['manual/renew.json', 'renew'], ['manual/plan.json', 'plan']] as const) {
      sfnMock.reset();
      fakeStepFunctions();
      await captureLogs(() => handler(sample(file), context));
      const input = sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input;
      assert.equal(JSON.parse(input?.input ?? '').action, action);
      assert.match(input?.name ?? '', new RegExp(`^${KEY}-${action}-`));
    }
  });

  test('every invalid sample is rejected with its reason logged, and starts nothing', async () => {
    const files = readdirSync(EVENTS + 'invalid');
    assert.ok(files.length >= 10);
    for (const file of files) {
      const { result, logs } = await captureLogs(() => handler(sample(`invalid/${file}`), context));
      assert.equal(result.status, 'rejected', file);
      assert.ok(result.status === 'rejected' && result.reason.length > 0);
      const warning = logs.find((l) => l.message === 'Event rejected');
      assert.ok(warning, `${file}: a rejection log line`);
      assert.equal(warning.level, 'WARN');
      assert.equal(warning.reason, result.status === 'rejected' ? result.reason : undefined);
    }
    assert.equal(sfnMock.commandCalls(StartExecutionCommand).length, 0);
  });

  test('an event from another Region than ours is rejected', async () => {
    const e = sample('kms/material-expiration.json');
    e.region = 'eu-west-1';
    e.resources = [`arn:aws:kms:eu-west-1:111122223333:key/${KEY}`];
    const { result } = await captureLogs(() => handler(e, context));
    assert.deepEqual(result.status === 'rejected' && result.code, 'region-mismatch');
  });

  test('an event, or a manual key ARN, from another account than the state machine\'s is rejected', async () => {
    const e = sample('kms/material-expiration.json');
    e.account = '999988887777';
    e.resources = [`arn:aws:kms:us-east-1:999988887777:key/${KEY}`];
    const { result } = await captureLogs(() => handler(e, context));
    assert.deepEqual(result.status === 'rejected' && result.code, 'account-mismatch');

    const manual = { action: 'recover', keyId: `arn:aws:kms:us-east-1:999988887777:key/${KEY}` };
    const { result: manualResult } = await captureLogs(() => handler(manual, context));
    assert.deepEqual(manualResult.status === 'rejected' && manualResult.code, 'account-mismatch');
    assert.equal(sfnMock.commandCalls(StartExecutionCommand).length, 0);
  });

  test('duplicate triggers for one key at one moment give exactly one execution', async () => {
    const executions = fakeStepFunctions();
    const trigger = triggerWith({
      sfn: new SFNClient({ region: 'us-east-1' }),
      stateMachineArn: SM,
      bucketMinutes: 5,
      scope: { region: 'us-east-1', account: '111122223333' },
      now: () => new Date('2025-06-01T12:01:00Z'),
    });
    const deliveries = [
      ...Array.from({ length: 25 }, () => sample('kms/material-expiration.json')),
      ...Array.from({ length: 25 }, () => sample('cloudtrail/delete-expired-key-material.json')),
    ];
    // A redelivery of the same event has another id: still the same execution.
    deliveries[3].id = 'redelivered-id';
    const { result: results } = await captureLogs(() => Promise.all(deliveries.map((d) => trigger(d))));
    assert.equal(executions.size, 1);
    assert.deepEqual([...executions.keys()], [`${KEY}-recover-20250601T1200Z`]);
    const statuses = results.flatMap((r) => (r.status === 'ok' ? r.executions.map((e) => e.status) : ['rejected']));
    assert.equal(statuses.length, 50);
    assert.ok(statuses.every((s) => s === 'started' || s === 'already-running'));
    // The CloudTrail copies had a different trigger in their input: refused as already running.
    assert.equal(statuses.filter((s) => s === 'already-running').length, 25);
    assert.equal(sfnMock.commandCalls(StartExecutionCommand).length, 50);
  });

  test('a StartExecution failure makes the invocation fail (EventBridge retries it)', async () => {
    sfnMock.on(StartExecutionCommand).rejects(Object.assign(new Error('User is not authorized to perform: states:StartExecution'), { name: 'AccessDeniedException' }));
    const { logs } = await captureLogs(async () => {
      await assert.rejects(handler(sample('kms/material-expiration.json'), context), (e: Error) => {
        assert.equal(e.name, 'StartExecutionFailed');
        assert.match(e.message, new RegExp(KEY));
        assert.match(e.message, /AccessDeniedException/);
        return true;
      });
      return undefined;
    });
    const line = logs.find((l) => l.message === 'StartExecution failed');
    assert.equal(line?.keyId, KEY);
    assert.equal(line?.level, 'ERROR');
  });
});
