/**
 * `kms-reimport doctor` as a person runs it: the real binary in a child process. KMS, Secrets
 * Manager and the Tagging API are the local endpoint (AWS_ENDPOINT_URL_KMS, ..._SECRETS_MANAGER,
 * ..._RESOURCE_GROUPS_TAGGING_API); CloudTrail, CloudFormation, SNS, EventBridge, Step Functions and
 * Service Quotas are moto_server (AWS_ENDPOINT_URL), skipped with a message when it is absent and CI
 * is unset. The README's "Is my deployment healthy?" commands are run as written. moto's
 * CloudFormation cannot create an AWS::Scheduler::Schedule (it drops it from the stack), so the
 * sweep's schedule is created in moto's EventBridge Scheduler directly, and the CLI reaches
 * CloudFormation (AWS_ENDPOINT_URL_CLOUDFORMATION) through a pass-through to moto that adds to
 * DescribeStackResources' answer the two resources CloudFormation would list (the schedule, SweepFunction).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { DisableRuleCommand, EnableRuleCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateScheduleCommand, SchedulerClient, UpdateScheduleCommand, type CreateScheduleInput } from '@aws-sdk/client-scheduler';
import { listenLocally, readBody } from '../support/http.js';
import { runCli, validateOutput } from '../support/cli.js';
import { onboardKey, startLocalAws, type LocalAws } from '../support/local-aws.js';
import { deployStandIn, motoSkip, startMoto, type Moto, type StandInDeployment } from '../support/moto.js';
import { readmeCommands } from '../support/readme.js';

interface Report {
  status: string;
  checks: Array<{ check: string; subject: string; status: string; message: string; fix?: string }>;
}

/**
 * CloudFormation for the CLI: every request passed to moto as it is; DescribeStackResources' XML
 * answer gets the given resources (logical ID, type, physical ID) that moto's CloudFormation cannot create.
 */
async function cloudFormationWithSchedule(motoUrl: string, added: Array<[string, string, string]>): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length')) as Record<string, string>;
      const answer = await fetch(`${motoUrl}${req.url ?? '/'}`, { method: req.method ?? 'POST', headers, ...(body ? { body } : {}) });
      let text = await answer.text();
      if (new URLSearchParams(body).get('Action') === 'DescribeStackResources') {
        const members = added
          .map(([logical, type, physical]) => `<member><LogicalResourceId>${logical}</LogicalResourceId><PhysicalResourceId>${physical}</PhysicalResourceId><ResourceType>${type}</ResourceType><ResourceStatus>CREATE_COMPLETE</ResourceStatus><Timestamp>${new Date().toISOString()}</Timestamp></member>`)
          .join('');
        text = text.replace('</StackResources>', `${members}</StackResources>`);
      }
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/xml' });
      res.end(text);
    })().catch((e: unknown) => {
      res.writeHead(502).end(String(e));
    });
  });
  const url = await listenLocally(server);
  return { url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

let aws: LocalAws;
before(async () => {
  aws = await startLocalAws();
  await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 * 86_400 });
});
after(async () => {
  await aws.close();
});

test('without a stack, against the local endpoint only (--output json): per-key lines ok, the unanswerable CloudTrail a WARN, exit 0', async () => {
  const result = await runCli(['doctor', '--endpoint-url', aws.endpoint.url, '--output', 'json']);
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as Report;
  validateOutput('doctor', report);
  assert.equal(report.status, 'warn');
  assert.equal(report.checks.find((c) => c.check === 'cloudtrail')!.status, 'warn');
  assert.equal(report.checks.find((c) => c.check === 'stack')!.status, 'warn');
  for (const name of ['escrow', 'key-policy', 'expiry', 'quota']) assert.equal(report.checks.find((c) => c.check === name)!.status, 'ok', name);
  assert.match(result.stderr, /checking account in us-east-1 \(read-only\)/, 'progress on stderr');
});

test('no Region anywhere (no --region, no AWS_REGION, no profile): a named usage error, exit 2, nothing checked', async () => {
  const result = await runCli(['doctor', '--endpoint-url', aws.endpoint.url], {
    AWS_REGION: undefined,
    AWS_DEFAULT_REGION: undefined,
    AWS_CONFIG_FILE: '/nonexistent/aws-config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/aws-credentials',
  });
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /ConfigError: No AWS Region is configured: give --region REGION/);
  assert.equal(result.stdout, '');
});

test('bad usage exits 2 and checks nothing', async () => {
  const result = await runCli(['doctor', '--stak', 'x']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /unknown option '--stak'/);
});

describe('the README\'s "Is my deployment healthy?" against moto', { skip: motoSkip }, () => {
  const commands = readmeCommands('Is my deployment healthy?');
  let moto: Moto;
  let deployment: StandInDeployment;
  let cloudformation: { url: string; close: () => Promise<void> };
  const stackName = commands[0]![commands[0]!.indexOf('--stack') + 1]!;
  const sweepFunction = `${stackName}-SweepFunction-AbC123`;
  const sweep: CreateScheduleInput = {
    Name: `${stackName}-sweep`,
    ScheduleExpression: 'rate(6 hours)',
    FlexibleTimeWindow: { Mode: 'OFF' },
    Target: { Arn: `arn:aws:lambda:us-east-1:123456789012:function:${sweepFunction}`, RoleArn: 'arn:aws:iam::123456789012:role/sweep-schedule' },
  };
  const env = () => ({
    AWS_ENDPOINT_URL: moto.url,
    AWS_ENDPOINT_URL_CLOUDFORMATION: cloudformation.url,
    AWS_ENDPOINT_URL_KMS: aws.endpoint.url,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.endpoint.url,
    AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API: aws.endpoint.url,
  });
  before(async () => {
    moto = await startMoto();
    deployment = await deployStandIn(moto, stackName);
    const scheduler = new SchedulerClient(moto.clientConfig);
    try {
      await scheduler.send(new CreateScheduleCommand(sweep));
    } finally {
      scheduler.destroy();
    }
    cloudformation = await cloudFormationWithSchedule(moto.url, [
      ['SweepFunction', 'AWS::Lambda::Function', sweepFunction],
      ['SweepFunctionSweep', 'AWS::Scheduler::Schedule', sweep.Name!],
    ]);
  });
  after(async () => {
    await cloudformation?.close();
    await moto?.stop();
  });

  test('the README shows the table and the --json form of one doctor command', () => {
    assert.equal(commands.length, 2);
    assert.equal(commands[0]![0], 'doctor');
    assert.ok(commands[1]!.includes('--json'));
  });

  test('README, as written: a healthy deployment prints one ok line per check and exits 0; --json matches the schema', async () => {
    const table = await runCli(commands[0]!, env());
    assert.equal(table.code, 0, `${table.stdout}\n${table.stderr}`);
    for (const name of ['cloudtrail', 'stack', 'rule', 'schedule', 'state-machine', 'topic', 'escrow', 'key-policy', 'expiry', 'quota']) {
      assert.match(table.stdout, new RegExp(`^ok +${name} `, 'm'), name);
    }
    assert.match(table.stdout, /^0 fail, 0 warn, 10 ok$/m);

    const json = await runCli(commands[1]!, env());
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as Report;
    validateOutput('doctor', report);
    assert.equal(report.status, 'ok');
  });

  test('README, as written: a disabled rule is a FAIL line with its fix, and the exit status is 1', async () => {
    const events = new EventBridgeClient(moto.clientConfig);
    try {
      await events.send(new DisableRuleCommand({ Name: deployment.ruleName }));
      const table = await runCli(commands[0]!, env());
      assert.equal(table.code, 1, table.stderr);
      assert.match(table.stdout, new RegExp(`^FAIL  rule +${deployment.ruleName} .*DISABLED`, 'm'));
      assert.match(table.stdout, new RegExp(`fix: aws events enable-rule --name ${deployment.ruleName}`));

      const json = await runCli(commands[1]!, env());
      assert.equal(json.code, 1);
      const report = JSON.parse(json.stdout) as Report;
      validateOutput('doctor', report);
      assert.equal(report.status, 'fail');
      assert.deepEqual(report.checks.filter((c) => c.status === 'fail').map((c) => c.check), ['rule']);
    } finally {
      await events.send(new EnableRuleCommand({ Name: deployment.ruleName }));
      events.destroy();
    }
  });
  test('README, as written: a disabled sweep schedule is a FAIL line with update-schedule as its fix, and the exit status is 1', async () => {
    const scheduler = new SchedulerClient(moto.clientConfig);
    try {
      await scheduler.send(new UpdateScheduleCommand({ ...sweep, Name: sweep.Name!, State: 'DISABLED' }));
      const table = await runCli(commands[0]!, env());
      assert.equal(table.code, 1, table.stderr);
      assert.match(table.stdout, new RegExp(`^FAIL  schedule +${sweep.Name} \\(SweepFunctionSweep\\): is DISABLED \\(rate\\(6 hours\\)\\): nothing sweeps`, 'm'));
      assert.match(table.stdout, /fix: aws scheduler update-schedule --cli-input-json '\{.*"State":"ENABLED".*\}'/);

      const json = await runCli(commands[1]!, env());
      assert.equal(json.code, 1);
      const report = JSON.parse(json.stdout) as Report;
      validateOutput('doctor', report);
      assert.deepEqual(report.checks.filter((c) => c.status === 'fail').map((c) => c.check), ['schedule']);
    } finally {
      await scheduler.send(new UpdateScheduleCommand({ ...sweep, Name: sweep.Name!, State: 'ENABLED' }));
      scheduler.destroy();
    }
  });
});
