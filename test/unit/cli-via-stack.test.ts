/**
 * cli/via-stack.ts with aws-sdk-client-mock: the stack's state machine (output, else resource, else
 * a named error), the execution started as the Trigger starts one, followed as its history grows
 * (each state printed once, in order, across pages), and an execution that ends without a Report
 * outcome turned into a failed outcome that says so.
 */
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudFormationClient, DescribeStackResourcesCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, SFNClient, StartExecutionCommand, type HistoryEvent } from '@aws-sdk/client-sfn';
import { DeployedServiceUnavailable, findStateMachine, runThroughStateMachine } from '../../cli/via-stack.js';
import { executionInput, executionName } from '../../lib/events/execution-name.js';
import { MANUAL_DETAIL_TYPE, MANUAL_SOURCE } from '../../lib/events/work-item.js';
import type { Outcome } from '../../lib/types.js';

const sfnMock = mockClient(SFNClient);
const cfnMock = mockClient(CloudFormationClient);
const sfn = new SFNClient({ region: 'us-east-1' });
const cloudFormation = new CloudFormationClient({ region: 'us-east-1' });
const STATE_MACHINE = 'arn:aws:states:us-east-1:111122223333:stateMachine:kms-reimport-RecoveryStateMachine';
const KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';
const NOW = new Date('2026-03-01T12:07:30Z');
const NAME = `${KEY}-recover-20260301T1205Z`;
const EXECUTION = `arn:aws:states:us-east-1:111122223333:execution:kms-reimport-RecoveryStateMachine:${NAME}`;

beforeEach(() => {
  sfnMock.reset();
  cfnMock.reset();
});

const entered = (id: number, name: string, type = 'TaskStateEntered'): HistoryEvent => ({ id, timestamp: NOW, type: type as HistoryEvent['type'], stateEnteredEventDetails: { name } });
const outcome: Outcome = {
  status: 'recovered',
  keyId: KEY,
  requestedRef: KEY,
  action: 'recover',
  imported: [{ expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: '2026-05-30T12:07:30Z' }],
  startedAt: NOW.toISOString(),
  finishedAt: NOW.toISOString(),
  durationMs: 1200,
  calls: {},
};

test('the stack\'s RecoveryStateMachineArn output names the state machine; without it, the RecoveryStateMachine resource; without both, a named error', async () => {
  cfnMock.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 's', CreationTime: NOW, StackStatus: 'CREATE_COMPLETE', Outputs: [{ OutputKey: 'RecoveryStateMachineArn', OutputValue: STATE_MACHINE }] }] });
  cfnMock.on(DescribeStackResourcesCommand).rejects(new Error('not expected'));
  assert.equal(await findStateMachine(cloudFormation, 's'), STATE_MACHINE);
  assert.equal(cfnMock.commandCalls(DescribeStackResourcesCommand).length, 0);

  cfnMock.on(DescribeStacksCommand).resolves({ Stacks: [{ StackName: 's', CreationTime: NOW, StackStatus: 'UPDATE_COMPLETE', Outputs: [] }] });
  cfnMock.on(DescribeStackResourcesCommand, { StackName: 's', LogicalResourceId: 'RecoveryStateMachine' }).resolves({
    StackResources: [{ LogicalResourceId: 'RecoveryStateMachine', PhysicalResourceId: STATE_MACHINE, ResourceType: 'AWS::StepFunctions::StateMachine', ResourceStatus: 'CREATE_COMPLETE', Timestamp: NOW }],
  });
  assert.equal(await findStateMachine(cloudFormation, 's'), STATE_MACHINE);

  cfnMock.on(DescribeStackResourcesCommand).resolves({ StackResources: [] });
  await assert.rejects(findStateMachine(cloudFormation, 's'), (e: Error) => e instanceof DeployedServiceUnavailable && /no RecoveryStateMachineArn output and no RecoveryStateMachine resource/.test(e.message));

  cfnMock.on(DescribeStacksCommand).rejects(Object.assign(new Error('Stack with id gone does not exist'), { name: 'ValidationError' }));
  await assert.rejects(findStateMachine(cloudFormation, 'gone'), (e: Error) => e.name === 'DeployedServiceUnavailable' && /Could not read stack gone \(ValidationError: Stack with id gone does not exist\)/.test(e.message));
});

test('the execution is started with the Trigger\'s name and input and followed as its history grows: each state once, in order, across pages', async () => {
  sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: NOW });
  sfnMock.on(DescribeExecutionCommand).resolvesOnce({ executionArn: EXECUTION, stateMachineArn: STATE_MACHINE, status: 'RUNNING', startDate: NOW })
    .resolvesOnce({ executionArn: EXECUTION, stateMachineArn: STATE_MACHINE, status: 'RUNNING', startDate: NOW })
    .resolves({ executionArn: EXECUTION, stateMachineArn: STATE_MACHINE, status: 'SUCCEEDED', startDate: NOW, stopDate: NOW });
  const started: HistoryEvent = { id: 1, timestamp: NOW, type: 'ExecutionStarted' };
  const report: HistoryEvent = { id: 6, timestamp: NOW, type: 'TaskStateExited', stateExitedEventDetails: { name: 'Report', output: JSON.stringify({ outcome }) } };
  const history = sfnMock.on(GetExecutionHistoryCommand);
  // First look: two events. Second look: five, over two pages. Third: everything.
  history
    .resolvesOnce({ events: [started, entered(2, 'Inspect')] })
    .resolvesOnce({ events: [started, entered(2, 'Inspect'), entered(3, 'ChooseAction', 'ChoiceStateEntered')], nextToken: 'page-2' })
    .resolvesOnce({ events: [entered(4, 'WrapAndImport'), entered(5, 'Report')] })
    .resolves({ events: [started, entered(2, 'Inspect'), entered(3, 'ChooseAction', 'ChoiceStateEntered'), entered(4, 'WrapAndImport'), entered(5, 'Report'), report, entered(7, 'Done', 'SucceedStateEntered'), { id: 8, timestamp: NOW, type: 'ExecutionSucceeded' }] });
  const lines: string[] = [];
  const sleeps: number[] = [];

  const result = await runThroughStateMachine(
    { sfn, cloudFormation, progress: (l) => lines.push(l), sleep: async (ms) => void sleeps.push(ms), now: () => NOW },
    'recover',
    KEY,
    { stateMachineArn: STATE_MACHINE },
    250,
  );

  assert.deepEqual(result, outcome);
  const item = { keyRef: KEY, action: 'recover' as const, trigger: { source: MANUAL_SOURCE, detailType: MANUAL_DETAIL_TYPE } };
  assert.equal(executionName(item, KEY, NOW), NAME);
  const start = sfnMock.commandCalls(StartExecutionCommand);
  assert.equal(start.length, 1);
  assert.deepEqual(start[0]!.args[0].input, { stateMachineArn: STATE_MACHINE, name: NAME, input: JSON.stringify(executionInput(item, NAME)) });
  assert.deepEqual(lines.filter((l) => l.startsWith('→') || l.startsWith('execution ')), [
    `execution ${EXECUTION} started`,
    'execution started',
    '→ Inspect',
    '→ ChooseAction',
    '→ WrapAndImport',
    '→ Report',
    '→ Done',
    'execution succeeded',
  ]);
  assert.deepEqual(sleeps, [250, 250], 'looked again while RUNNING, at the given pace, and not after it ended');
  // Three looks, the second over two pages (the paginator passes the page token on).
  const looks = sfnMock.commandCalls(GetExecutionHistoryCommand);
  assert.equal(looks.length, 4);
  assert.ok(looks.every((c) => c.args[0].input.executionArn === EXECUTION));
  assert.equal(looks[2]!.args[0].input.nextToken, 'page-2');
  assert.equal(cfnMock.calls().length, 0, '--state-machine needs no CloudFormation');
});

test('an execution that already exists for this key and time bucket is followed, not started again', async () => {
  sfnMock.on(StartExecutionCommand).rejects(Object.assign(new Error(`Execution Already Exists: '${EXECUTION}'`), { name: 'ExecutionAlreadyExists' }));
  sfnMock.on(DescribeExecutionCommand, { executionArn: EXECUTION }).resolves({ executionArn: EXECUTION, stateMachineArn: STATE_MACHINE, status: 'SUCCEEDED', startDate: NOW, stopDate: NOW });
  sfnMock.on(GetExecutionHistoryCommand, { executionArn: EXECUTION }).resolves({
    events: [{ id: 1, timestamp: NOW, type: 'TaskStateExited', stateExitedEventDetails: { name: 'Report', output: JSON.stringify({ outcome }) } }],
  });
  const lines: string[] = [];
  const result = await runThroughStateMachine({ sfn, cloudFormation, progress: (l) => lines.push(l), sleep: async () => undefined, now: () => NOW }, 'recover', KEY, { stateMachineArn: STATE_MACHINE });
  assert.equal(result.status, 'recovered');
  assert.ok(lines.some((l) => l.includes(`execution ${EXECUTION} already exists for this key and time window`)));
});

test('an execution aborted before its Report step: a failed outcome naming the execution and the next step', async () => {
  sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: NOW });
  const stop = new Date(NOW.getTime() + 4000);
  sfnMock.on(DescribeExecutionCommand).resolves({ executionArn: EXECUTION, stateMachineArn: STATE_MACHINE, status: 'ABORTED', startDate: NOW, stopDate: stop });
  sfnMock.on(GetExecutionHistoryCommand).resolves({ events: [entered(1, 'Inspect'), { id: 2, timestamp: stop, type: 'ExecutionAborted' }] });
  const lines: string[] = [];
  const result = await runThroughStateMachine({ sfn, cloudFormation, progress: (l) => lines.push(l), sleep: async () => undefined, now: () => stop }, 'renew', `alias/payments`, { stateMachineArn: STATE_MACHINE });
  assert.equal(result.status, 'failed');
  assert.equal(result.errorName, 'WorkflowEndedWithoutOutcome');
  assert.equal(result.action, 'renew');
  assert.equal(result.keyId, 'alias/payments');
  assert.equal(result.durationMs, 4000);
  assert.match(result.reason!, new RegExp(`Execution ${EXECUTION.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} ended ABORTED`));
  assert.match(result.reason!, /kms-reimport plan alias\/payments/);
  assert.ok(lines.includes('execution aborted'));
});

test('StartExecution refused: DeployedServiceUnavailable naming the permission; nothing followed', async () => {
  sfnMock.on(StartExecutionCommand).rejects(Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' }));
  sfnMock.on(DescribeExecutionCommand).rejects(new Error('not expected'));
  await assert.rejects(
    runThroughStateMachine({ sfn, cloudFormation, progress: () => undefined, sleep: async () => undefined, now: () => NOW }, 'rotate', KEY, { stateMachineArn: STATE_MACHINE }),
    (e: Error) => e instanceof DeployedServiceUnavailable && /Could not start rotate for .* \(AccessDeniedException: User is not authorized\): check states:StartExecution/.test(e.message),
  );
  assert.equal(sfnMock.commandCalls(DescribeExecutionCommand).length, 0);
  await assert.rejects(
    runThroughStateMachine({ sfn, cloudFormation, progress: () => undefined }, 'recover', KEY, { stateMachineArn: 'arn:aws:lambda:us-east-1:111122223333:function:x' }),
    /is not a state machine ARN/,
  );
});

test('following refused (no states:GetExecutionHistory): a named error that gives the execution ARN, which runs on', async () => {
  sfnMock.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: NOW });
  sfnMock.on(DescribeExecutionCommand).resolves({ executionArn: EXECUTION, stateMachineArn: STATE_MACHINE, status: 'RUNNING', startDate: NOW });
  sfnMock.on(GetExecutionHistoryCommand).rejects(Object.assign(new Error('not authorized to perform: states:GetExecutionHistory'), { name: 'AccessDeniedException' }));
  await assert.rejects(
    runThroughStateMachine({ sfn, cloudFormation, progress: () => undefined, sleep: async () => undefined, now: () => NOW }, 'recover', KEY, { stateMachineArn: STATE_MACHINE }),
    (e: Error) => e instanceof DeployedServiceUnavailable && e.message.includes(`Could not follow execution ${EXECUTION}`) && /runs on without this command/.test(e.message),
  );
});
