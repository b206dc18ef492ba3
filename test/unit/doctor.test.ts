/**
 * kms-reimport doctor's checks, each made to fail once against mocked services (aws-sdk-client-mock,
 * every command the check sends configured), and the pure judgements of key policy, expiry and
 * quota capacity. The local endpoint (KMS, Secrets Manager) and moto cover the same checks over
 * HTTP in test/integration/doctor*.test.ts.
 */
import { beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudTrailClient, DescribeTrailsCommand, GetEventSelectorsCommand, GetTrailStatusCommand } from '@aws-sdk/client-cloudtrail';
import { CloudFormationClient, DescribeStackResourcesCommand, DescribeStacksCommand, type StackStatus } from '@aws-sdk/client-cloudformation';
import { DescribeRuleCommand, EventBridgeClient, ListTargetsByRuleCommand } from '@aws-sdk/client-eventbridge';
import { GetScheduleCommand, SchedulerClient, type GetScheduleOutput } from '@aws-sdk/client-scheduler';
import { DescribeStateMachineCommand, SFNClient, StateMachineDoesNotExist } from '@aws-sdk/client-sfn';
import { ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { ListAWSDefaultServiceQuotasCommand, ListServiceQuotasCommand, ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import {
  checkCloudTrail,
  checkRules,
  checkSchedules,
  checkStateMachine,
  checkTopics,
  judgeExpiry,
  judgeKeyPolicy,
  judgeRenewalCapacity,
  readImportParametersRate,
  readStack,
  RECOVERY_ACTIONS,
  recoveryActions,
  renewalCalls,
  roleArnsOf,
  scheduleOf,
  sweepIntervalSeconds,
} from '../../lib/doctor/index.js';

const REGION = 'us-east-1';
const ACCOUNT = '111122223333';
const TRAIL_ARN = `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/main`;
const STACK_ID = `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/kms-reimport/0f0e0d0c-0000-4000-8000-000000000000`;
const TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT}:kms-reimport-OutcomeTopic-ABC`;
const MACHINE_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:RecoveryStateMachine-XYZ`;
const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';

const cloudtrailMock = mockClient(CloudTrailClient);
const cfnMock = mockClient(CloudFormationClient);
const eventsMock = mockClient(EventBridgeClient);
const sfnMock = mockClient(SFNClient);
const snsMock = mockClient(SNSClient);
const quotasMock = mockClient(ServiceQuotasClient);
const schedulerMock = mockClient(SchedulerClient);
const cloudtrail = new CloudTrailClient({ region: REGION });
const cfn = new CloudFormationClient({ region: REGION });
const events = new EventBridgeClient({ region: REGION });
const sfn = new SFNClient({ region: REGION });
const sns = new SNSClient({ region: REGION });
const quotas = new ServiceQuotasClient({ region: REGION });
const scheduler = new SchedulerClient({ region: REGION });

beforeEach(() => {
  for (const m of [cloudtrailMock, cfnMock, eventsMock, sfnMock, snsMock, quotasMock, schedulerMock]) m.reset();
});

const awsError = (name: string) => Object.assign(new Error(`${name} (mocked)`), { name, $metadata: {} });

describe('CloudTrail: a trail that logs KMS write management events in this Region', () => {
  const trail = { Name: 'main', TrailARN: TRAIL_ARN, HomeRegion: REGION, IsMultiRegionTrail: false };
  const logging = (selectors: object) => {
    cloudtrailMock.on(DescribeTrailsCommand).resolves({ trailList: [trail] });
    cloudtrailMock.on(GetTrailStatusCommand).resolves({ IsLogging: true });
    cloudtrailMock.on(GetEventSelectorsCommand).resolves(selectors);
  };

  test('ok: a logging trail with the default selector (all management events)', async () => {
    logging({ EventSelectors: [{ ReadWriteType: 'All', IncludeManagementEvents: true }] });
    const c = await checkCloudTrail(cloudtrail, REGION);
    assert.equal(c.status, 'ok', c.message);
    assert.deepEqual(cloudtrailMock.commandCalls(DescribeTrailsCommand)[0]!.args[0].input, { includeShadowTrails: true });
    assert.equal(cloudtrailMock.commandCalls(GetTrailStatusCommand)[0]!.args[0].input.Name, TRAIL_ARN, 'by ARN: a shadow trail needs it');
  });

  test('ok: a multi-Region trail of another home Region covers this one', async () => {
    cloudtrailMock.on(DescribeTrailsCommand).resolves({ trailList: [{ ...trail, HomeRegion: 'eu-west-1', IsMultiRegionTrail: true }] });
    cloudtrailMock.on(GetTrailStatusCommand).resolves({ IsLogging: true });
    cloudtrailMock.on(GetEventSelectorsCommand).resolves({ EventSelectors: [{ ReadWriteType: 'All', IncludeManagementEvents: true }] });
    assert.equal((await checkCloudTrail(cloudtrail, REGION)).status, 'ok');
  });

  test('warn, not ok: a logging trail with no event selector at all logs nothing (CloudTrail logs what a selector matches)', async () => {
    logging({ EventSelectors: [], AdvancedEventSelectors: [] });
    const c = await checkCloudTrail(cloudtrail, REGION);
    assert.equal(c.status, 'warn', c.message);
    assert.match(c.message, /no event selector, basic or advanced/);
    assert.match(c.fix!, /put-event-selectors/);
  });

  test('warn, not fail: one trail not logging and another that could not be read', async () => {
    cloudtrailMock.on(DescribeTrailsCommand).resolves({ trailList: [trail, { ...trail, Name: 'other', TrailARN: `${TRAIL_ARN}-other` }] });
    cloudtrailMock.on(GetTrailStatusCommand, { Name: TRAIL_ARN }).resolves({ IsLogging: false });
    cloudtrailMock.on(GetTrailStatusCommand, { Name: `${TRAIL_ARN}-other` }).rejects(awsError('AccessDeniedException'));
    cloudtrailMock.on(GetEventSelectorsCommand).resolves({ EventSelectors: [{ ReadWriteType: 'All', IncludeManagementEvents: true }] });
    const c = await checkCloudTrail(cloudtrail, REGION);
    assert.equal(c.status, 'warn', c.message);
    assert.match(c.message, /main is not logging; other could not be read \(AccessDeniedException\)/);
    assert.match(c.fix!, /cloudtrail:GetTrailStatus/);
  });

  test('fail: no trail at all names CloudTrail-triggered recovery and the fix', async () => {
    cloudtrailMock.on(DescribeTrailsCommand).resolves({ trailList: [] });
    const c = await checkCloudTrail(cloudtrail, REGION);
    assert.equal(c.status, 'fail');
    assert.match(c.message, /never hears of a deletion/);
    assert.match(c.fix!, /create-trail .*--is-multi-region-trail/);
  });

  test('fail: a single-Region trail of another Region does not log here', async () => {
    cloudtrailMock.on(DescribeTrailsCommand).resolves({ trailList: [{ ...trail, HomeRegion: 'eu-west-1' }] });
    assert.equal((await checkCloudTrail(cloudtrail, REGION)).status, 'fail');
    assert.equal(cloudtrailMock.commandCalls(GetTrailStatusCommand).length, 0);
  });

  test('fail: a trail that is not logging, with start-logging as the fix', async () => {
    cloudtrailMock.on(DescribeTrailsCommand).resolves({ trailList: [trail] });
    cloudtrailMock.on(GetTrailStatusCommand).resolves({ IsLogging: false });
    cloudtrailMock.on(GetEventSelectorsCommand).resolves({});
    const c = await checkCloudTrail(cloudtrail, REGION);
    assert.equal(c.status, 'fail');
    assert.match(c.fix!, new RegExp(`start-logging --name ${TRAIL_ARN}`));
  });

  for (const [label, selectors] of [
    ['read-only management events', { EventSelectors: [{ ReadWriteType: 'ReadOnly', IncludeManagementEvents: true }] }],
    ['no management events', { EventSelectors: [{ ReadWriteType: 'All', IncludeManagementEvents: false }] }],
    ['kms.amazonaws.com excluded', { EventSelectors: [{ ReadWriteType: 'All', IncludeManagementEvents: true, ExcludeManagementEventSources: ['kms.amazonaws.com'] }] }],
    ['an advanced selector for data events only', { AdvancedEventSelectors: [{ Name: 'data', FieldSelectors: [{ Field: 'eventCategory', Equals: ['Data'] }] }] }],
    [
      'an advanced selector for read-only management events',
      { AdvancedEventSelectors: [{ Name: 'ro', FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }, { Field: 'readOnly', Equals: ['true'] }] }] },
    ],
    [
      'an advanced selector dropping event sources that start with kms.',
      { AdvancedEventSelectors: [{ Name: 'no-kms', FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }, { Field: 'eventSource', NotStartsWith: ['kms.'] }] }] },
    ],
    [
      'an advanced selector dropping event sources that end with a suffix',
      { AdvancedEventSelectors: [{ Name: 'no-aws', FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }, { Field: 'eventSource', NotEndsWith: ['.amazonaws.com'] }] }] },
    ],
  ] as const) {
    test(`fail: a logging trail with ${label}`, async () => {
      logging(selectors);
      const c = await checkCloudTrail(cloudtrail, REGION);
      assert.equal(c.status, 'fail', c.message);
      assert.match(c.fix!, /put-event-selectors/);
    });
  }

  test('ok: an advanced selector for write management events', async () => {
    logging({ AdvancedEventSelectors: [{ Name: 'mgmt', FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }, { Field: 'readOnly', Equals: ['false'] }] }] });
    assert.equal((await checkCloudTrail(cloudtrail, REGION)).status, 'ok');
  });

  test('ok: an advanced selector that excludes another service by NotEquals', async () => {
    logging({ AdvancedEventSelectors: [{ Name: 'no-s3', FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }, { Field: 'eventSource', NotEquals: ['s3.amazonaws.com'] }] }] });
    const c = await checkCloudTrail(cloudtrail, REGION);
    assert.equal(c.status, 'ok', c.message);
  });

  test('warn, not fail: DescribeTrails denied says what to grant', async () => {
    cloudtrailMock.on(DescribeTrailsCommand).rejects(awsError('AccessDeniedException'));
    const c = await checkCloudTrail(cloudtrail, REGION);
    assert.equal(c.status, 'warn');
    assert.match(c.fix!, /cloudtrail:DescribeTrails/);
  });
});

const stackResources = [
  { LogicalResourceId: 'TriggerFunctionMaterialDeleted', ResourceType: 'AWS::Events::Rule', PhysicalResourceId: 'kms-reimport-TriggerFunctionMaterialDeleted-1' },
  { LogicalResourceId: 'RecoveryStateMachine', ResourceType: 'AWS::StepFunctions::StateMachine', PhysicalResourceId: MACHINE_ARN },
  { LogicalResourceId: 'OutcomeTopic', ResourceType: 'AWS::SNS::Topic', PhysicalResourceId: TOPIC_ARN },
  { LogicalResourceId: 'InspectFunctionRole', ResourceType: 'AWS::IAM::Role', PhysicalResourceId: 'kms-reimport-InspectFunctionRole-ABC' },
];

function mockStack(status: StackStatus = 'CREATE_COMPLETE', resources = stackResources) {
  cfnMock.on(DescribeStacksCommand).resolves({
    Stacks: [{ StackName: 'kms-reimport', StackId: STACK_ID, StackStatus: status, CreationTime: new Date(), Parameters: [{ ParameterKey: 'RenewalWindowDays', ParameterValue: '21' }] }],
  });
  cfnMock.on(DescribeStackResourcesCommand).resolves({ StackResources: resources.map((r) => ({ ...r, ResourceStatus: 'CREATE_COMPLETE', Timestamp: new Date() })) });
}

async function deployed() {
  mockStack();
  const lookup = await readStack(cfn, 'kms-reimport');
  assert.ok(lookup.stack);
  return lookup.stack;
}

describe("the sweep's EventBridge Scheduler schedule (GetSchedule)", () => {
  const SWEEP_NAME = 'kms-reimport-SweepFunction-AbC123';
  const SWEEP_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${SWEEP_NAME}`;
  const withSchedule = [
    ...stackResources,
    { LogicalResourceId: 'SweepFunction', ResourceType: 'AWS::Lambda::Function', PhysicalResourceId: SWEEP_NAME },
    { LogicalResourceId: 'SweepFunctionSweep', ResourceType: 'AWS::Scheduler::Schedule', PhysicalResourceId: 'kms-reimport-sweep' },
    { LogicalResourceId: 'SweepFunctionSweepRole', ResourceType: 'AWS::IAM::Role', PhysicalResourceId: 'kms-reimport-SweepFunctionSweepRole-1' },
  ];
  const schedule = (over: Partial<GetScheduleOutput> = {}): GetScheduleOutput => ({
    Arn: `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/default/kms-reimport-sweep`,
    Name: 'kms-reimport-sweep',
    GroupName: 'default',
    State: 'ENABLED',
    ScheduleExpression: 'rate(6 hours)',
    FlexibleTimeWindow: { Mode: 'OFF' },
    Target: { Arn: SWEEP_ARN, RoleArn: `arn:aws:iam::${ACCOUNT}:role/kms-reimport-SweepFunctionSweepRole-1`, Input: '{"source": "kms-reimport.schedule", "action": "sweep"}' },
    ...over,
  });
  async function stackWithSchedule(resources = withSchedule) {
    mockStack('CREATE_COMPLETE', resources);
    return (await readStack(cfn, 'kms-reimport')).stack!;
  }

  test('ok: ENABLED and targeting the stack\'s sweep function, with its expression; asked by the name from the stack in the default group', async () => {
    const stack = await stackWithSchedule();
    schedulerMock.on(GetScheduleCommand).resolves(schedule());
    const [c, ...rest] = await checkSchedules(scheduler, stack);
    assert.equal(rest.length, 0);
    assert.equal(c!.check, 'schedule');
    assert.equal(c!.status, 'ok', c!.message);
    assert.match(c!.message, /ENABLED \(rate\(6 hours\)\)/);
    assert.deepEqual(schedulerMock.commandCalls(GetScheduleCommand)[0]!.args[0].input, { Name: 'kms-reimport-sweep' });
  });

  test('fail: DISABLED; the fix is update-schedule with the whole definition and State ENABLED (a no-change sam deploy would not enable it)', async () => {
    const stack = await stackWithSchedule();
    schedulerMock.on(GetScheduleCommand).resolves(schedule({ State: 'DISABLED' }));
    const c = (await checkSchedules(scheduler, stack))[0]!;
    assert.equal(c.status, 'fail');
    assert.match(c.message, /DISABLED \(rate\(6 hours\)\): nothing sweeps/);
    const json = /--cli-input-json '(.*)' \(/.exec(c.fix!)?.[1];
    assert.ok(json, c.fix);
    const input = JSON.parse(json.replace(/'\\''/g, "'"));
    assert.equal(input.State, 'ENABLED');
    assert.equal(input.Name, 'kms-reimport-sweep');
    assert.equal(input.ScheduleExpression, 'rate(6 hours)');
    assert.deepEqual(input.FlexibleTimeWindow, { Mode: 'OFF' });
    assert.equal(input.Target.Arn, SWEEP_ARN);
    assert.equal(input.Arn, undefined, 'UpdateSchedule takes no Arn');
  });

  test('fail: in the stack but not found in Scheduler (deleted by hand?), the fix recreates it', async () => {
    const stack = await stackWithSchedule();
    schedulerMock.on(GetScheduleCommand).rejects(awsError('ResourceNotFoundException'));
    const c = (await checkSchedules(scheduler, stack))[0]!;
    assert.equal(c.status, 'fail');
    assert.match(c.message, /deleted by hand\?/);
    assert.match(c.fix!, /aws scheduler create-schedule --name kms-reimport-sweep /);
    const target = JSON.parse(/--target '([^']*)'/.exec(c.fix!)![1]!);
    assert.deepEqual(target, {
      Arn: SWEEP_ARN,
      RoleArn: `arn:aws:iam::${ACCOUNT}:role/kms-reimport-SweepFunctionSweepRole-1`,
      Input: '{"source": "kms-reimport.schedule", "action": "sweep"}',
    });
  });

  test("fail: ENABLED but targeting another function than the stack's SweepFunction", async () => {
    const stack = await stackWithSchedule();
    schedulerMock.on(GetScheduleCommand).resolves(schedule({ Target: { Arn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:someone-elses`, RoleArn: 'arn:aws:iam::1:role/r' } }));
    const c = (await checkSchedules(scheduler, stack))[0]!;
    assert.equal(c.status, 'fail');
    assert.match(c.message, /targets .*someone-elses, not the stack's sweep function kms-reimport-SweepFunction-AbC123/);

    schedulerMock.on(GetScheduleCommand).resolves(schedule({ Target: { Arn: `${SWEEP_ARN}:live`, RoleArn: 'arn:aws:iam::1:role/r' } }));
    assert.equal((await checkSchedules(scheduler, stack))[0]!.status, 'ok', 'a qualified ARN of the sweep function is the sweep function');
  });

  test('warn (could not check): GetSchedule denied names scheduler:GetSchedule', async () => {
    const stack = await stackWithSchedule();
    schedulerMock.on(GetScheduleCommand).rejects(awsError('AccessDeniedException'));
    const c = (await checkSchedules(scheduler, stack))[0]!;
    assert.equal(c.status, 'warn');
    assert.match(c.message, /GetSchedule failed with AccessDeniedException/);
    assert.match(c.fix!, /grant scheduler:GetSchedule/);
  });

  test('fail: no schedule in the stack (nothing sweeps), and Scheduler is not asked', async () => {
    const stack = await stackWithSchedule(stackResources);
    const c = await checkSchedules(scheduler, stack);
    assert.equal(c.length, 1);
    assert.equal(c[0]!.status, 'fail');
    assert.match(c[0]!.message, /no EventBridge Scheduler schedule: nothing sweeps/);
    assert.equal(schedulerMock.commandCalls(GetScheduleCommand).length, 0);
  });

  test('a schedule in another group is asked in that group', async () => {
    const stack = await stackWithSchedule([...withSchedule.filter((r) => r.ResourceType !== 'AWS::Scheduler::Schedule'), { LogicalResourceId: 'S', ResourceType: 'AWS::Scheduler::Schedule', PhysicalResourceId: 'ops/kms-reimport-sweep' }]);
    schedulerMock.on(GetScheduleCommand).resolves(schedule({ GroupName: 'ops' }));
    assert.equal((await checkSchedules(scheduler, stack))[0]!.status, 'ok');
    assert.deepEqual(schedulerMock.commandCalls(GetScheduleCommand)[0]!.args[0].input, { Name: 'kms-reimport-sweep', GroupName: 'ops' });
    assert.deepEqual(scheduleOf(`arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/default/n`), { name: 'n' });
    assert.deepEqual(scheduleOf('n'), { name: 'n' });
  });
});

describe('the stack (CloudFormation) and its resources', () => {
  test('ok: a complete stack; its parameters, roles (as ARNs), partition and account come from it', async () => {
    mockStack();
    const lookup = await readStack(cfn, 'kms-reimport');
    assert.equal(lookup.checks[0]!.status, 'ok');
    assert.equal(lookup.stack!.parameters.RenewalWindowDays, '21');
    assert.deepEqual(roleArnsOf(lookup.stack!), [`arn:aws:iam::${ACCOUNT}:role/kms-reimport-InspectFunctionRole-ABC`]);
  });

  test('fail: no such stack', async () => {
    cfnMock.on(DescribeStacksCommand).rejects(awsError('ValidationError'));
    cfnMock.on(DescribeStackResourcesCommand).rejects(awsError('ValidationError'));
    const lookup = await readStack(cfn, 'nope');
    assert.equal(lookup.stack, undefined);
    assert.equal(lookup.checks[0]!.status, 'fail');
    assert.match(lookup.checks[0]!.message, /does not exist/);
  });

  test('fail: a stack that rolled back', async () => {
    mockStack('ROLLBACK_COMPLETE');
    const lookup = await readStack(cfn, 'kms-reimport');
    assert.equal(lookup.checks[0]!.status, 'fail');
    assert.match(lookup.checks[0]!.fix!, /describe-stack-events/);
  });

  test('EventBridge: ok when ENABLED, fail when DISABLED (with enable-rule), fail when deleted by hand', async () => {
    const stack = await deployed();
    eventsMock.on(DescribeRuleCommand).resolves({ Name: 'kms-reimport-TriggerFunctionMaterialDeleted-1', State: 'ENABLED' });
    eventsMock.on(ListTargetsByRuleCommand).resolves({ Targets: [{ Id: 'Recovery', Arn: MACHINE_ARN }] });
    assert.equal((await checkRules(events, stack))[0]!.status, 'ok');
    assert.equal(eventsMock.commandCalls(DescribeRuleCommand)[0]!.args[0].input.Name, 'kms-reimport-TriggerFunctionMaterialDeleted-1');

    eventsMock.on(DescribeRuleCommand).resolves({ State: 'DISABLED' });
    const disabled = (await checkRules(events, stack))[0]!;
    assert.equal(disabled.status, 'fail');
    assert.equal(disabled.fix, 'aws events enable-rule --name kms-reimport-TriggerFunctionMaterialDeleted-1');

    eventsMock.on(DescribeRuleCommand).rejects(awsError('ResourceNotFoundException'));
    assert.equal((await checkRules(events, stack))[0]!.status, 'fail');
  });

  test('EventBridge: an ENABLED rule with no target fails (it starts nothing); its targets are read on every page', async () => {
    const stack = await deployed();
    eventsMock.on(DescribeRuleCommand).resolves({ State: 'ENABLED' });
    eventsMock.on(ListTargetsByRuleCommand).resolves({ Targets: [] });
    const none = (await checkRules(events, stack))[0]!;
    assert.equal(none.status, 'fail', none.message);
    assert.match(none.message, /has no target/);
    assert.deepEqual(eventsMock.commandCalls(ListTargetsByRuleCommand)[0]!.args[0].input, { Rule: 'kms-reimport-TriggerFunctionMaterialDeleted-1' });

    eventsMock.reset();
    eventsMock.on(DescribeRuleCommand).resolves({ State: 'ENABLED' });
    eventsMock
      .on(ListTargetsByRuleCommand, { NextToken: undefined })
      .resolves({ Targets: [], NextToken: 'p2' })
      .on(ListTargetsByRuleCommand, { NextToken: 'p2' })
      .resolves({ Targets: [{ Id: 'Recovery', Arn: MACHINE_ARN }] });
    assert.equal((await checkRules(events, stack))[0]!.status, 'ok');

    eventsMock.on(ListTargetsByRuleCommand).rejects(awsError('AccessDeniedException'));
    const denied = (await checkRules(events, stack))[0]!;
    assert.equal(denied.status, 'warn');
    assert.match(denied.fix!, /events:ListTargetsByRule/);
  });

  test('EventBridge: a rule on another bus is described on that bus', async () => {
    mockStack('CREATE_COMPLETE', [{ LogicalResourceId: 'R', ResourceType: 'AWS::Events::Rule', PhysicalResourceId: 'ops-bus|my-rule' }]);
    const stack = (await readStack(cfn, 'kms-reimport')).stack!;
    eventsMock.on(DescribeRuleCommand).resolves({ State: 'ENABLED' });
    eventsMock.on(ListTargetsByRuleCommand).resolves({ Targets: [{ Id: 'Recovery', Arn: MACHINE_ARN }] });
    await checkRules(events, stack);
    assert.deepEqual(eventsMock.commandCalls(DescribeRuleCommand)[0]!.args[0].input, { Name: 'my-rule', EventBusName: 'ops-bus' });
    assert.deepEqual(eventsMock.commandCalls(ListTargetsByRuleCommand)[0]!.args[0].input, { Rule: 'my-rule', EventBusName: 'ops-bus' });
  });

  test('fail: a stack without rules, state machine or topic', async () => {
    mockStack('CREATE_COMPLETE', []);
    const stack = (await readStack(cfn, 'kms-reimport')).stack!;
    for (const c of [...(await checkRules(events, stack)), ...(await checkStateMachine(sfn, stack)), ...(await checkTopics(sns, stack))]) {
      assert.equal(c.status, 'fail', `${c.check}: ${c.message}`);
    }
  });

  test('Step Functions: ok when ACTIVE, fail when it does not exist', async () => {
    const stack = await deployed();
    sfnMock.on(DescribeStateMachineCommand).resolves({ stateMachineArn: MACHINE_ARN, status: 'ACTIVE', name: 'm', definition: '{}', roleArn: 'r', type: 'STANDARD', creationDate: new Date() });
    assert.equal((await checkStateMachine(sfn, stack))[0]!.status, 'ok');
    sfnMock.on(DescribeStateMachineCommand).rejects(new StateMachineDoesNotExist({ message: 'State Machine Does Not Exist', $metadata: {} }));
    const gone = (await checkStateMachine(sfn, stack))[0]!;
    assert.equal(gone.status, 'fail');
    assert.match(gone.message, /does not exist/);
  });

  test('Step Functions: an answer without a status is unknown (warn), not ACTIVE', async () => {
    const stack = await deployed();
    sfnMock.on(DescribeStateMachineCommand).resolves({ stateMachineArn: MACHINE_ARN, name: 'm', definition: '{}', roleArn: 'r', type: 'STANDARD', creationDate: new Date() });
    const unknown = (await checkStateMachine(sfn, stack))[0]!;
    assert.equal(unknown.status, 'warn', unknown.message);
    assert.match(unknown.fix!, /describe-state-machine/);
  });

  test('SNS: ok with a confirmed subscription (all pages read), fail with only PendingConfirmation, fail with none', async () => {
    const stack = await deployed();
    snsMock
      .on(ListSubscriptionsByTopicCommand, { TopicArn: TOPIC_ARN, NextToken: undefined })
      .resolves({ Subscriptions: [{ SubscriptionArn: 'PendingConfirmation', Protocol: 'email', Endpoint: 'oncall@example.com' }], NextToken: 'page2' })
      .on(ListSubscriptionsByTopicCommand, { TopicArn: TOPIC_ARN, NextToken: 'page2' })
      .resolves({ Subscriptions: [{ SubscriptionArn: `${TOPIC_ARN}:0b1c`, Protocol: 'email', Endpoint: 'team@example.com' }] });
    const ok = (await checkTopics(sns, stack))[0]!;
    assert.equal(ok.status, 'ok', ok.message);
    assert.equal(snsMock.commandCalls(ListSubscriptionsByTopicCommand).length, 2);

    snsMock.reset();
    snsMock.on(ListSubscriptionsByTopicCommand).resolves({ Subscriptions: [{ SubscriptionArn: 'PendingConfirmation', Protocol: 'email', Endpoint: 'oncall@example.com' }] });
    const pending = (await checkTopics(sns, stack))[0]!;
    assert.equal(pending.status, 'fail');
    assert.match(pending.message, /pending confirmation and none confirmed/);
    assert.match(pending.fix!, /oncall@example\.com/);

    snsMock.on(ListSubscriptionsByTopicCommand).resolves({ Subscriptions: [] });
    assert.equal((await checkTopics(sns, stack))[0]!.status, 'fail');
  });
});

describe('Service Quotas and the renewal capacity', () => {
  test('the applied GetParametersForImport quota is read from Service Quotas', async () => {
    quotasMock.on(ListServiceQuotasCommand).resolves({ Quotas: [{ QuotaName: 'Encrypt request rate', Value: 10000 }, { QuotaName: 'GetParametersForImport request rate', QuotaCode: 'L-TEST', Value: 0.25 }] });
    quotasMock.on(ListAWSDefaultServiceQuotasCommand).resolves({ Quotas: [] });
    const q = await readImportParametersRate(quotas);
    assert.equal(q.ratePerSecond, 0.25);
    assert.match(q.source, /applied value .*L-TEST/);
    assert.equal(quotasMock.commandCalls(ListServiceQuotasCommand)[0]!.args[0].input.ServiceCode, 'kms');
  });

  test('several quota names match GetParametersForImport, on several pages: the lowest is the one the sweep is held to', async () => {
    quotasMock
      .on(ListServiceQuotasCommand, { ServiceCode: 'kms', NextToken: undefined })
      .resolves({ Quotas: [{ QuotaName: 'GetParametersForImport request rate', QuotaCode: 'L-HIGH', Value: 1 }], NextToken: 'p2' })
      .on(ListServiceQuotasCommand, { ServiceCode: 'kms', NextToken: 'p2' })
      .resolves({ Quotas: [{ QuotaName: 'Shared GetParametersForImport and GetPublicKey rate', QuotaCode: 'L-LOW', Value: 0.25 }, { QuotaName: 'Encrypt request rate', Value: 0.01 }] });
    quotasMock.on(ListAWSDefaultServiceQuotasCommand).resolves({ Quotas: [] });
    const q = await readImportParametersRate(quotas);
    assert.equal(q.ratePerSecond, 0.25);
    assert.match(q.source, /L-LOW/);
  });

  test('denied Service Quotas falls back to the documented 1/s and says why', async () => {
    quotasMock.on(ListServiceQuotasCommand).rejects(awsError('AccessDeniedException'));
    quotasMock.on(ListAWSDefaultServiceQuotasCommand).rejects(awsError('AccessDeniedException'));
    const q = await readImportParametersRate(quotas);
    assert.equal(q.ratePerSecond, 1);
    assert.match(q.source, /documented default .*AccessDeniedException/);
  });

  test('fail: the fleet cannot be renewed inside the window at the quota read from Service Quotas, with how far to widen it', async () => {
    quotasMock.on(ListServiceQuotasCommand).resolves({ Quotas: [{ QuotaName: 'GetParametersForImport request rate', Value: 0.25 }] });
    quotasMock.on(ListAWSDefaultServiceQuotasCommand).resolves({ Quotas: [] });
    const quota = await readImportParametersRate(quotas);
    // 400,000 calls at 0.25/s = 18.5 days of GetParametersForImport, more than a 14-day window.
    const c = judgeRenewalCapacity({ keys: 400_000, calls: 400_000, quota, renewalWindowDays: 14, materialLifetimeDays: 90, sweepIntervalSeconds: 6 * 3600 });
    assert.equal(c.status, 'fail');
    // 2 x 18.52 days + 0.25 day = 37.3 -> 38 days: widen by 24.
    assert.match(c.fix!, /widen the renewal window by 24 day\(s\) to 38/);
  });

  test('warn below a 2x margin; ok with room; a window that cannot fit asks for a higher quota instead', () => {
    const quota = { ratePerSecond: 1, source: 'test' };
    const tight = judgeRenewalCapacity({ keys: 800_000, calls: 800_000, quota, renewalWindowDays: 14, materialLifetimeDays: 90, sweepIntervalSeconds: 3600 });
    assert.equal(tight.status, 'warn', tight.message); // 9.3 days of work: fits 14, not twice
    assert.equal(judgeRenewalCapacity({ keys: 500, calls: 600, quota, renewalWindowDays: 14, materialLifetimeDays: 90 }).status, 'ok');
    const hopeless = judgeRenewalCapacity({ keys: 5_000_000, calls: 5_000_000, quota, renewalWindowDays: 14, materialLifetimeDays: 90 });
    assert.equal(hopeless.status, 'fail');
    assert.match(hopeless.fix!, /raise the GetParametersForImport quota/);
  });

  test('calls count each expiring material; keys that do not expire need none', () => {
    const m = (expirationModel: string) => ({ expirationModel });
    assert.deepEqual(
      renewalCalls([
        { expirationModel: 'KEY_MATERIAL_EXPIRES', materials: [m('KEY_MATERIAL_EXPIRES'), m('KEY_MATERIAL_EXPIRES')] },
        { expirationModel: 'KEY_MATERIAL_EXPIRES', materials: [] },
        { expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', materials: [m('KEY_MATERIAL_DOES_NOT_EXPIRE')] },
      ]),
      { keys: 2, calls: 3 },
    );
    assert.equal(sweepIntervalSeconds('rate(6 hours)'), 21_600);
    assert.equal(sweepIntervalSeconds('rate(30 minutes)'), 1800);
    assert.equal(sweepIntervalSeconds('cron(0 * * * ? *)'), undefined);
  });
});

describe('key policy', () => {
  const ctx = { keyId: KEY_ID, account: ACCOUNT, partition: 'aws', roleArns: [`arn:aws:iam::${ACCOUNT}:role/kms-reimport-InspectFunctionRole-ABC`] };
  const policy = (...Statement: object[]) => JSON.stringify({ Version: '2012-10-17', Statement });

  test('ok: the default key policy (account root, kms:*)', () => {
    const c = judgeKeyPolicy(policy({ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }), ctx);
    assert.equal(c.status, 'ok', c.message);
  });

  test('ok: a custom policy naming the stack role with the recovery actions', () => {
    const actions = ['kms:Describe*', 'kms:List*', 'kms:GetParametersForImport', 'kms:ImportKeyMaterial', 'kms:Encrypt', 'kms:Decrypt'];
    const c = judgeKeyPolicy(policy({ Effect: 'Allow', Principal: { AWS: [ctx.roleArns[0]] }, Action: actions, Resource: '*' }), { ...ctx, keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT' });
    assert.equal(c.status, 'ok', c.message);
  });

  test('the actions required follow what a recovery sends: inspect (tags, materials), import, and the verification of the key usage', () => {
    assert.deepEqual(recoveryActions('SYMMETRIC_DEFAULT'), [...RECOVERY_ACTIONS, 'kms:Encrypt', 'kms:Decrypt']);
    assert.deepEqual(recoveryActions('HMAC_256'), [...RECOVERY_ACTIONS, 'kms:GenerateMac', 'kms:VerifyMac']);
    assert.deepEqual(recoveryActions('RSA_2048', 'SIGN_VERIFY'), [...RECOVERY_ACTIONS, 'kms:Sign', 'kms:Verify']);
    assert.deepEqual(recoveryActions('ECC_NIST_P256', 'KEY_AGREEMENT'), [...RECOVERY_ACTIONS, 'kms:GetPublicKey', 'kms:DeriveSharedSecret']);
    for (const a of ['kms:ListResourceTags', 'kms:ListKeyRotations']) assert.ok((RECOVERY_ACTIONS as readonly string[]).includes(a), a);
    // Each of them is granted to the functions by template.yaml (the key policy must let those grants count).
    const template = readFileSync(new URL('../../template.yaml', import.meta.url), 'utf8');
    for (const a of recoveryActions('SYMMETRIC_DEFAULT').concat(recoveryActions('HMAC_256'), recoveryActions('RSA_2048', 'SIGN_VERIFY'), recoveryActions('ECC_NIST_P256', 'KEY_AGREEMENT'))) {
      assert.match(template, new RegExp(`"${a}"`), `template.yaml grants ${a}`);
    }
  });

  test('fail: the root may import, but not list the key\'s tags and materials, nor make the HMAC key\'s verification MAC', () => {
    const old = ['kms:DescribeKey', 'kms:GetParametersForImport', 'kms:ImportKeyMaterial'];
    const noInspect = judgeKeyPolicy(policy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: [...old, 'kms:Encrypt', 'kms:Decrypt'], Resource: '*' }), { ...ctx, keySpec: 'SYMMETRIC_DEFAULT' });
    assert.equal(noInspect.status, 'fail', noInspect.message);
    assert.match(noInspect.message, /not for kms:ListResourceTags, kms:ListKeyRotations/);
    const hmac = judgeKeyPolicy(
      policy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: [...old, 'kms:ListResourceTags', 'kms:ListKeyRotations', 'kms:Encrypt', 'kms:Decrypt'], Resource: '*' }),
      { ...ctx, keySpec: 'HMAC_256', keyUsage: 'GENERATE_VERIFY_MAC' },
    );
    assert.equal(hmac.status, 'fail', hmac.message);
    assert.match(hmac.message, /not for kms:GenerateMac, kms:VerifyMac/);
    assert.match(hmac.fix!, /kms:GenerateMac, kms:VerifyMac/);
  });

  test('fail: a Deny with NotPrincipal that exempts only an admin role denies every stack role; ok when it lists the stack role', () => {
    const rootAllow = { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' };
    const denyAllBut = (...aws: string[]) => ({ Effect: 'Deny', NotPrincipal: { AWS: aws }, Action: 'kms:*', Resource: '*' });
    const locked = judgeKeyPolicy(policy(rootAllow, denyAllBut(`arn:aws:iam::${ACCOUNT}:role/admin`)), { ...ctx, keySpec: 'SYMMETRIC_DEFAULT' });
    assert.equal(locked.status, 'fail', locked.message);
    assert.match(locked.message, /denies .*kms:ImportKeyMaterial.* to every principal but arn:aws:iam::111122223333:role\/admin/);
    assert.match(locked.fix!, /NotPrincipal/);
    const lockedNoStack = judgeKeyPolicy(policy(rootAllow, denyAllBut(`arn:aws:iam::${ACCOUNT}:role/admin`)), { ...ctx, roleArns: [] });
    assert.equal(lockedNoStack.status, 'fail', lockedNoStack.message);
    const exempted = judgeKeyPolicy(policy(rootAllow, denyAllBut(`arn:aws:iam::${ACCOUNT}:role/admin`, ctx.roleArns[0]!)), ctx);
    assert.equal(exempted.status, 'ok', exempted.message);
    const conditional = judgeKeyPolicy(policy(rootAllow, { ...denyAllBut(`arn:aws:iam::${ACCOUNT}:role/admin`), Condition: { Bool: { 'aws:SecureTransport': 'false' } } }), ctx);
    assert.equal(conditional.status, 'warn', conditional.message);
  });

  test('fail: a custom policy naming neither the account root nor the roles', () => {
    const c = judgeKeyPolicy(policy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/Admin` }, Action: 'kms:*', Resource: '*' }), ctx);
    assert.equal(c.status, 'fail');
    assert.match(c.message, /neither the account root nor any of the stack's roles/);
    assert.match(c.fix!, /put-key-policy --key-id 1234abcd/);
  });

  test('fail: the root is named, but not for ImportKeyMaterial', () => {
    const c = judgeKeyPolicy(policy({ Effect: 'Allow', Principal: { AWS: ACCOUNT }, Action: ['kms:DescribeKey', 'kms:GetParametersForImport'], Resource: '*' }), ctx);
    assert.equal(c.status, 'fail');
    assert.match(c.message, /not for all of those actions/);
  });

  test('warn: a Deny that may apply, and a policy doctor cannot read', () => {
    const c = judgeKeyPolicy(
      policy(
        { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' },
        { Effect: 'Deny', Principal: '*', Action: 'kms:ImportKeyMaterial', Resource: '*', Condition: { Bool: { 'aws:MultiFactorAuthPresent': 'false' } } },
      ),
      ctx,
    );
    assert.equal(c.status, 'warn');
    assert.equal(judgeKeyPolicy('not json', ctx).status, 'warn');
  });
});

describe('expiry against the renewal window', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const at = (days: number) => new Date(now.getTime() + days * 86_400_000).toISOString();
  test('ok beyond the window, warn inside it, fail once PendingImport or past', () => {
    assert.equal(judgeExpiry({ keyId: KEY_ID, keyState: 'Enabled', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: at(60) }, 14, now).status, 'ok');
    assert.equal(judgeExpiry({ keyId: KEY_ID, keyState: 'Enabled', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: at(3) }, 14, now).status, 'warn');
    const down = judgeExpiry({ keyId: KEY_ID, keyState: 'PendingImport', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: at(-1) }, 14, now);
    assert.equal(down.status, 'fail');
    assert.equal(down.fix, `kms-reimport recover ${KEY_ID}`);
    assert.equal(judgeExpiry({ keyId: KEY_ID, keyState: 'Enabled', expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }, 14, now).status, 'ok');
  });
  test('warn, not "recover": a PendingImport key that never held material is for onboarding', () => {
    const never = judgeExpiry({ keyId: KEY_ID, keyState: 'PendingImport', materials: [], materialsListed: true }, 14, now);
    assert.equal(never.status, 'warn');
    assert.match(never.fix!, /kms-reimport onboard/);
  });
  test('a rotated key whose current material does not expire: an older material\'s ValidTo (DescribeKey\'s earliest) is still judged', () => {
    const soon = judgeExpiry({ keyId: KEY_ID, keyState: 'Enabled', expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', validTo: at(3) }, 14, now);
    assert.equal(soon.status, 'warn', soon.message);
    assert.match(soon.message, /KEY_MATERIAL_DOES_NOT_EXPIRE for the current material, but a material of the key expires: earliest ValidTo 2030-01-04/);
    const listed = judgeExpiry(
      { keyId: KEY_ID, keyState: 'Enabled', expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', materials: [{ validTo: at(-0.5) }, {}], materialsListed: true },
      14,
      now,
    );
    assert.equal(listed.status, 'fail', listed.message);
    assert.equal(judgeExpiry({ keyId: KEY_ID, keyState: 'Enabled', expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', validTo: at(200) }, 14, now).status, 'ok');
  });
  test('fail: a window of 0 days never renews', () => {
    assert.equal(judgeExpiry({ keyId: KEY_ID, keyState: 'Enabled', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: at(60) }, 0, now).status, 'fail');
  });
});
