import { test, describe, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import { ExecutionAlreadyExists, InvalidArn, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { startWorkItem, startWorkItems } from '../../lib/workflow/start.js';
import { outcomeMetricName, outcomeSubject, snsPublisher } from '../../lib/workflow/publish.js';
import type { WorkItem } from '../../lib/events/work-item.js';
import type { Outcome } from '../../lib/types.js';

const sfnMock = mockClient(SFNClient);
const snsMock = mockClient(SNSClient);
const sfn = new SFNClient({ region: 'us-east-1' });
const SM = 'arn:aws:states:us-east-1:111122223333:stateMachine:kms-reimport-recovery';
const NOW = new Date('2025-06-01T12:02:00Z');
const key = (n: number) => `${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`;
const item = (n: number, action: WorkItem['action'] = 'recover'): WorkItem => ({
  keyRef: key(n),
  action,
  trigger: { source: 'kms-reimport.sweep', detailType: 'Scheduled Sweep', eventId: 'e', time: 't' },
});

beforeEach(() => {
  sfnMock.reset();
  snsMock.reset();
});

describe('startWorkItem', () => {
  test('starts with the deterministic name and an input without event id/time', async () => {
    sfnMock.on(StartExecutionCommand).resolves({ executionArn: `${SM}:x`, startDate: NOW });
    const result = await startWorkItem({ sfn, stateMachineArn: SM }, item(1), NOW);
    const name = `${key(1)}-recover-20250601T1200Z`;
    assert.deepEqual(result, { keyRef: key(1), action: 'recover', executionName: name, status: 'started', executionArn: `${SM}:x` });
    const input = sfnMock.commandCalls(StartExecutionCommand)[0]?.args[0].input;
    assert.equal(input?.stateMachineArn, SM);
    assert.equal(input?.name, name);
    assert.deepEqual(JSON.parse(input?.input ?? ''), {
      keyRef: key(1),
      action: 'recover',
      trigger: { source: 'kms-reimport.sweep', detailType: 'Scheduled Sweep' },
      executionName: name,
    });
  });

  test('ExecutionAlreadyExists means already running; other errors are thrown', async () => {
    sfnMock.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    assert.equal((await startWorkItem({ sfn, stateMachineArn: SM }, item(1), NOW)).status, 'already-running');
    sfnMock.reset();
    sfnMock.on(StartExecutionCommand).rejects(new InvalidArn({ message: 'bad arn', $metadata: {} }));
    await assert.rejects(startWorkItem({ sfn, stateMachineArn: SM }, item(1), NOW), { name: 'InvalidArn' });
  });
});

describe('startWorkItems', () => {
  test('paces calls, records failures and goes on, defers when out of time', async () => {
    const slept: number[] = [];
    let budget = 3;
    sfnMock
      .on(StartExecutionCommand)
      .resolvesOnce({ executionArn: 'a' })
      .rejectsOnce(new InvalidArn({ message: 'bad arn', $metadata: {} }))
      .resolves({ executionArn: 'c' });
    const results = await startWorkItems({ sfn, stateMachineArn: SM }, [item(1), item(2), item(3), item(4), item(5)], {
      intervalMs: 4000,
      sleep: async (ms) => void slept.push(ms),
      canContinue: () => budget-- > 0,
      now: () => NOW,
    });
    assert.deepEqual(results.map((r) => r.status), ['started', 'failed', 'started', 'deferred', 'deferred']);
    assert.match(results[1]?.error ?? '', /InvalidArn: bad arn/);
    assert.deepEqual(slept, [4000, 4000]);
    assert.equal(sfnMock.commandCalls(StartExecutionCommand).length, 3);
    assert.deepEqual(results.map((r) => r.keyRef), [key(1), key(2), key(3), key(4), key(5)]);
  });

  test('dry run starts nothing', async () => {
    const results = await startWorkItems({ sfn, stateMachineArn: SM }, [item(1), item(2, 'renew')], { dryRun: true, now: () => NOW });
    assert.deepEqual(results.map((r) => [r.status, r.executionName]), [
      ['dry-run', `${key(1)}-recover-20250601T1200Z`],
      ['dry-run', `${key(2)}-renew-20250601T1200Z`],
    ]);
    assert.equal(sfnMock.calls().length, 0);
  });
});

describe('snsPublisher', () => {
  const outcome: Outcome = {
    status: 'recovered',
    keyId: key(1),
    requestedRef: key(1),
    action: 'recover',
    reason: 'ok',
    imported: [{ expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: '2025-09-01T00:00:00.000Z' }],
    startedAt: NOW.toISOString(),
    finishedAt: NOW.toISOString(),
    durationMs: 0,
    calls: {},
  };

  test('publishes the outcome as JSON with status attributes', async () => {
    snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
    await snsPublisher(new SNSClient({ region: 'us-east-1' }), 'arn:aws:sns:us-east-1:111122223333:outcomes')(outcome);
    const input = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
    assert.equal(input?.TopicArn, 'arn:aws:sns:us-east-1:111122223333:outcomes');
    assert.deepEqual(JSON.parse(input?.Message ?? ''), outcome);
    assert.equal(input?.Subject, `kms-reimport recovered: ${key(1)} (recover)`);
    assert.equal(input?.MessageAttributes?.status?.StringValue, 'recovered');
  });

  test('subject stays within SNS limits', () => {
    const subject = outcomeSubject({ ...outcome, keyId: 'alias/' + 'é'.repeat(200) });
    assert.ok(subject.length <= 100);
    assert.match(subject, /^[\x20-\x7e]+$/);
    assert.equal(outcomeMetricName('failed'), 'Failed');
    assert.equal(outcomeMetricName('planned'), 'Planned');
  });

  test('a failed publish is not swallowed', async () => {
    snsMock.on(PublishCommand).rejects(new Error('AuthorizationError'));
    await assert.rejects(snsPublisher(new SNSClient({ region: 'us-east-1' }), 'arn:x')(outcome), /AuthorizationError/);
  });
});
