/**
 * kms-reimport doctor over HTTP with the real SDK: KMS and Secrets Manager (and the Tagging API)
 * on the project's local endpoint, where each per-key check is made to fail once; CloudTrail,
 * CloudFormation, SNS, EventBridge, EventBridge Scheduler, Step Functions and Service Quotas on moto_server, where each
 * stack and account check is made to fail once (skipped with a message when moto_server is absent
 * and CI is unset). moto emulates Service Quotas for VPC only, so against it doctor falls back to
 * KMS's documented GetParametersForImport rate; the quota-read-from-Service-Quotas path is proven
 * with mocks in test/unit/doctor.test.ts. moto's CloudFormation cannot create an
 * AWS::Scheduler::Schedule (it drops it from the stack), so the sweep's schedule is created in moto's
 * Scheduler directly and the answer of DescribeStackResources gets the two resources CloudFormation
 * would list (the schedule by name, SweepFunction); GetSchedule itself goes to moto over HTTP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CreateKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { CloudFormationClient, DescribeStackResourcesCommand, type StackResource } from '@aws-sdk/client-cloudformation';
import { CloudTrailClient, PutEventSelectorsCommand, StartLoggingCommand, StopLoggingCommand } from '@aws-sdk/client-cloudtrail';
import { DisableRuleCommand, EnableRuleCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateScheduleCommand, DeleteScheduleCommand, SchedulerClient, UpdateScheduleCommand, type UpdateScheduleInput } from '@aws-sdk/client-scheduler';
import { DeleteStateMachineCommand, SFNClient } from '@aws-sdk/client-sfn';
import { ListSubscriptionsByTopicCommand, SNSClient, SubscribeCommand, UnsubscribeCommand } from '@aws-sdk/client-sns';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { createTaggingClient } from '../../lib/aws/clients.js';
import { checkManagedKeys, runDoctor, type DoctorCheck, type DoctorDeps } from '../../lib/doctor/index.js';
import { generateKeyMaterial } from '../../lib/material/generate.js';
import { escrowAndImport } from '../../lib/material/onboard.js';
import { onboardKey, REGION, startLocalAws, type LocalAws } from '../support/local-aws.js';
import { deployStandIn, motoSkip, startMoto, type Moto, type StandInDeployment } from '../support/moto.js';

const lineOf = (checks: DoctorCheck[], name: string, subject?: string): DoctorCheck => {
  const found = checks.find((c) => c.check === name && (subject === undefined || c.subject.includes(subject)));
  assert.ok(found, `no ${name} line${subject ? ` for ${subject}` : ''} in ${JSON.stringify(checks, null, 1)}`);
  return found;
};

function taggingFor(aws: LocalAws) {
  return createTaggingClient({ endpointUrl: aws.endpoint.url, region: REGION, credentials: { accessKeyId: 'AKIDINTEGRATION', secretAccessKey: 'integration' } });
}

/** A managed EXTERNAL key created with a custom key policy, escrowed and imported. */
async function keyWithPolicy(aws: LocalAws, policy: object): Promise<string> {
  const created = await aws.kms.send(
    new CreateKeyCommand({
      Origin: 'EXTERNAL',
      KeySpec: 'SYMMETRIC_DEFAULT',
      KeyUsage: 'ENCRYPT_DECRYPT',
      Policy: JSON.stringify(policy),
      Tags: [{ TagKey: aws.config.managedTagKey, TagValue: aws.config.managedTagValue }],
    }),
  );
  const keyId = created.KeyMetadata!.KeyId!;
  const material = await generateKeyMaterial('SYMMETRIC_DEFAULT');
  try {
    await escrowAndImport(aws, { keyId, keySpec: 'SYMMETRIC_DEFAULT', material, config: aws.config, expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: new Date(aws.endpoint.clock.now() + 60 * 86_400_000) });
  } finally {
    material.fill(0);
  }
  return keyId;
}

describe('per-key checks against the local endpoint (KMS, Secrets Manager)', () => {
  let aws: LocalAws;
  before(async () => {
    aws = await startLocalAws();
  });
  after(async () => {
    await aws.close();
  });

  test('a healthy key is ok three times; missing escrow, a locked-out key policy and a PendingImport key each fail', async () => {
    const healthy = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 * 86_400 });
    const noEscrow = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 * 86_400 });
    await aws.secrets.send(new DeleteSecretCommand({ SecretId: `${aws.config.escrowPrefix}${noEscrow.keyId}`, RecoveryWindowInDays: 7 }));
    const arn = (await aws.kms.send(new CreateKeyCommand({ Tags: [] }))).KeyMetadata!.Arn!;
    const account = /:(\d{12}):key\//.exec(arn)![1]!;
    const lockedOut = await keyWithPolicy(aws, {
      Version: '2012-10-17',
      Statement: [{ Sid: 'OnlyAdmin', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:role/Admin` }, Action: 'kms:*', Resource: '*' }],
    });
    const expired = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 });
    aws.endpoint.clock.advance(61);

    const tagging = taggingFor(aws);
    try {
      const { checks, reports } = await checkManagedKeys({ tagging, kms: aws.kms, secrets: aws.secrets }, aws.config, {
        roleArns: [],
        now: aws.now(),
        retry: { maxAttempts: 1, baseDelayMs: 1 },
      });
      assert.equal(reports.length, 4);
      for (const name of ['escrow', 'key-policy', 'expiry']) assert.equal(lineOf(checks, name, healthy.keyId).status, 'ok', `${name} of the healthy key`);

      const escrow = lineOf(checks, 'escrow', noEscrow.keyId);
      assert.equal(escrow.status, 'fail');
      assert.match(escrow.message, /scheduled for deletion.*restore-secret/);

      const policy = lineOf(checks, 'key-policy', lockedOut);
      assert.equal(policy.status, 'fail');
      assert.match(policy.message, /no account root principal/);
      assert.equal(lineOf(checks, 'escrow', lockedOut).status, 'ok');

      const expiry = lineOf(checks, 'expiry', expired.keyId);
      assert.equal(expiry.status, 'fail');
      assert.equal(expiry.fix, `kms-reimport recover ${expired.keyId}`);
      assert.equal(lineOf(checks, 'key-policy', expired.keyId).status, 'ok', 'the default key policy lets the account in');
    } finally {
      tagging.destroy();
    }
  });
});

describe('stack and account checks against moto_server', { skip: motoSkip }, () => {
  let moto: Moto;
  let aws: LocalAws;
  let deps: DoctorDeps & { cloudtrail: CloudTrailClient; events: EventBridgeClient; scheduler: SchedulerClient; sfn: SFNClient; sns: SNSClient };
  let deployment: StandInDeployment;
  let trail: string;
  const stackName = `kms-reimport-${randomBytes(3).toString('hex')}`;
  const sweepSchedule = `${stackName}-sweep`;
  const sweepFunction = `${stackName}-SweepFunction-AbC123`;
  const sweepDefinition: UpdateScheduleInput = {
    Name: sweepSchedule,
    ScheduleExpression: 'rate(6 hours)',
    FlexibleTimeWindow: { Mode: 'OFF' },
    Target: { Arn: `arn:aws:lambda:${REGION}:123456789012:function:${sweepFunction}`, RoleArn: 'arn:aws:iam::123456789012:role/sweep-schedule', Input: '{"source": "kms-reimport.schedule", "action": "sweep"}' },
  };

  /** moto's CloudFormation over HTTP, with the resources it cannot create added to DescribeStackResources' answer. */
  function cloudFormationWithSchedule(client: CloudFormationClient) {
    const missing: StackResource[] = [
      { LogicalResourceId: 'SweepFunction', ResourceType: 'AWS::Lambda::Function', PhysicalResourceId: sweepFunction, ResourceStatus: 'CREATE_COMPLETE', Timestamp: new Date() },
      { LogicalResourceId: 'SweepFunctionSweep', ResourceType: 'AWS::Scheduler::Schedule', PhysicalResourceId: sweepSchedule, ResourceStatus: 'CREATE_COMPLETE', Timestamp: new Date() },
    ];
    return {
      send: async (command: Parameters<CloudFormationClient['send']>[0]) => {
        const answer = await client.send(command as DescribeStackResourcesCommand);
        if (command instanceof DescribeStackResourcesCommand && command.input.StackName === stackName) {
          return { ...answer, StackResources: [...(answer.StackResources ?? []), ...missing] };
        }
        return answer;
      },
      destroy: () => client.destroy(),
    } as unknown as CloudFormationClient;
  }

  before(async () => {
    moto = await startMoto(REGION);
    aws = await startLocalAws();
    await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 * 86_400 });
    const c = moto.clientConfig;
    deps = {
      kms: aws.kms as KMSClient,
      secrets: aws.secrets,
      tagging: taggingFor(aws),
      cloudtrail: new CloudTrailClient(c),
      quotas: new ServiceQuotasClient(c),
      cloudformation: cloudFormationWithSchedule(new CloudFormationClient(c)),
      events: new EventBridgeClient(c),
      scheduler: new SchedulerClient(c),
      sfn: new SFNClient(c),
      sns: new SNSClient(c),
    };
    deployment = await deployStandIn(moto, stackName);
    await deps.scheduler.send(new CreateScheduleCommand(sweepDefinition));
    trail = `${stackName}-trail`;
  });
  after(async () => {
    for (const client of Object.values(deps ?? {})) (client as { destroy?: () => void }).destroy?.();
    await aws?.close();
    await moto?.stop();
  });

  const doctor = () => runDoctor(deps, { region: REGION, stackName, config: aws.config, now: aws.now(), retry: { maxAttempts: 1, baseDelayMs: 1 } });

  test('a healthy deployment: no fail, every stack resource found, the quota from the documented default', async () => {
    const report = await doctor();
    assert.equal(report.status, 'ok', JSON.stringify(report.checks.filter((c) => c.status !== 'ok'), null, 1));
    for (const name of ['cloudtrail', 'stack', 'rule', 'schedule', 'state-machine', 'topic', 'escrow', 'key-policy', 'expiry', 'quota']) assert.equal(lineOf(report.checks, name).status, 'ok', name);
    assert.equal(report.settings.renewalWindowDays, 14);
    assert.match(lineOf(report.checks, 'quota').message, /at 1\/s \(KMS's documented default/);
  });

  test('CloudTrail: a trail that stops logging fails, then one that logs read-only events fails', async () => {
    await deps.cloudtrail.send(new StopLoggingCommand({ Name: trail }));
    let report = await doctor();
    assert.equal(report.status, 'fail');
    assert.match(lineOf(report.checks, 'cloudtrail').fix!, /start-logging/);
    await deps.cloudtrail.send(new StartLoggingCommand({ Name: trail }));

    await deps.cloudtrail.send(new PutEventSelectorsCommand({ TrailName: trail, EventSelectors: [{ ReadWriteType: 'ReadOnly', IncludeManagementEvents: true }] }));
    report = await doctor();
    assert.equal(lineOf(report.checks, 'cloudtrail').status, 'fail');
    assert.match(lineOf(report.checks, 'cloudtrail').message, /ReadOnly/);
    await deps.cloudtrail.send(new PutEventSelectorsCommand({ TrailName: trail, EventSelectors: [{ ReadWriteType: 'All', IncludeManagementEvents: true }] }));
    assert.equal(lineOf((await doctor()).checks, 'cloudtrail').status, 'ok');
  });

  test('EventBridge: a disabled rule fails with enable-rule', async () => {
    const rule = lineOf((await doctor()).checks, 'rule');
    const name = rule.subject.split(' ')[0]!;
    await deps.events.send(new DisableRuleCommand({ Name: name }));
    const disabled = lineOf((await doctor()).checks, 'rule');
    assert.equal(disabled.status, 'fail');
    assert.equal(disabled.fix, `aws events enable-rule --name ${name}`);
    await deps.events.send(new EnableRuleCommand({ Name: name }));
  });

  test("EventBridge Scheduler: the sweep's schedule ENABLED is ok; updated to DISABLED it fails, and the fix's update-schedule input enables it again; deleted, it fails", async () => {
    const enabled = lineOf((await doctor()).checks, 'schedule');
    assert.equal(enabled.status, 'ok', enabled.message);
    assert.equal(enabled.subject, `${sweepSchedule} (SweepFunctionSweep)`);
    assert.match(enabled.message, new RegExp(`ENABLED \\(rate\\(6 hours\\)\\) and starts ${sweepFunction}`));

    await deps.scheduler.send(new UpdateScheduleCommand({ ...sweepDefinition, State: 'DISABLED' }));
    const report = await doctor();
    assert.equal(report.status, 'fail');
    const disabled = lineOf(report.checks, 'schedule');
    assert.equal(disabled.status, 'fail');
    assert.match(disabled.message, /is DISABLED \(rate\(6 hours\)\): nothing sweeps/);

    // The fix, as the on-call engineer would paste it: its --cli-input-json is a whole UpdateSchedule input.
    const json = /--cli-input-json '(.*)' \(/.exec(disabled.fix!)?.[1];
    assert.ok(json, disabled.fix);
    await deps.scheduler.send(new UpdateScheduleCommand(JSON.parse(json.replace(/'\\''/g, "'")) as UpdateScheduleInput));
    const again = lineOf((await doctor()).checks, 'schedule');
    assert.equal(again.status, 'ok', again.message);

    await deps.scheduler.send(new DeleteScheduleCommand({ Name: sweepSchedule }));
    const gone = lineOf((await doctor()).checks, 'schedule');
    assert.equal(gone.status, 'fail');
    assert.match(gone.message, /deleted by hand\?/);
    await deps.scheduler.send(new CreateScheduleCommand(sweepDefinition));
  });

  test('SNS: a topic whose subscription is gone fails', async () => {
    const subscriptions = (await deps.sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: deployment.topicArn }))).Subscriptions ?? [];
    for (const s of subscriptions) await deps.sns.send(new UnsubscribeCommand({ SubscriptionArn: s.SubscriptionArn! }));
    const topic = lineOf((await doctor()).checks, 'topic');
    assert.equal(topic.status, 'fail');
    assert.match(topic.message, /no subscription/);
    await deps.sns.send(new SubscribeCommand({ TopicArn: deployment.topicArn, Protocol: 'email', Endpoint: 'oncall@example.com' }));
  });

  test('Step Functions: a state machine deleted by hand fails', async () => {
    const machine = lineOf((await doctor()).checks, 'state-machine');
    await deps.sfn.send(new DeleteStateMachineCommand({ stateMachineArn: machine.subject }));
    const gone = lineOf((await doctor()).checks, 'state-machine');
    assert.equal(gone.status, 'fail', gone.message);
  });

  test('CloudFormation: a stack that does not exist fails, and its resources are not looked for', async () => {
    const report = await runDoctor(deps, { region: REGION, stackName: 'no-such-stack', config: aws.config, now: aws.now() });
    const stack = lineOf(report.checks, 'stack');
    assert.equal(stack.status, 'fail');
    assert.match(stack.message, /does not exist/);
    assert.equal(report.checks.some((c) => c.check === 'rule'), false);
  });
});
