/**
 * `kms-reimport doctor` as a person runs it: the real binary in a child process. KMS, Secrets
 * Manager and the Tagging API are the local endpoint (AWS_ENDPOINT_URL_KMS, ..._SECRETS_MANAGER,
 * ..._RESOURCE_GROUPS_TAGGING_API); CloudTrail, CloudFormation, SNS, EventBridge, Step Functions and
 * Service Quotas are moto_server (AWS_ENDPOINT_URL), skipped with a message when it is absent and CI
 * is unset. The README's "Is my deployment healthy?" commands are run as written.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DisableRuleCommand, EnableRuleCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { runCli, validateOutput } from '../support/cli.js';
import { onboardKey, startLocalAws, type LocalAws } from '../support/local-aws.js';
import { deployStandIn, motoSkip, startMoto, type Moto, type StandInDeployment } from '../support/moto.js';
import { readmeCommands } from '../support/readme.js';

interface Report {
  status: string;
  checks: Array<{ check: string; subject: string; status: string; message: string; fix?: string }>;
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
  const env = () => ({
    AWS_ENDPOINT_URL: moto.url,
    AWS_ENDPOINT_URL_KMS: aws.endpoint.url,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.endpoint.url,
    AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API: aws.endpoint.url,
  });
  before(async () => {
    moto = await startMoto();
    const stackName = commands[0]![commands[0]!.indexOf('--stack') + 1]!;
    deployment = await deployStandIn(moto, stackName);
  });
  after(async () => {
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
    for (const name of ['cloudtrail', 'stack', 'rule', 'state-machine', 'topic', 'escrow', 'key-policy', 'expiry', 'quota']) {
      assert.match(table.stdout, new RegExp(`^ok +${name} `, 'm'), name);
    }
    assert.match(table.stdout, /^0 fail, 0 warn, 9 ok$/m);

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
});
