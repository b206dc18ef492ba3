/**
 * The README's "Rehearse on your account", run as written (the real binary for `npx kms-reimport`),
 * against the local endpoint as the AWS stand-in for KMS and Secrets Manager (AWS_ENDPOINT_URL_KMS,
 * AWS_ENDPOINT_URL_SECRETS_MANAGER: the SDK's own per-service settings, as a user would set them).
 * The `--stack` command also needs CloudFormation, Step Functions and STS: moto_server stands in for
 * them (skipped with a message when it is absent and CI is unset). moto has the stack and its state
 * machine but no CloudTrail-to-EventBridge delivery, so nothing recovers the key: the drill must time
 * out naming CloudTrail, and clean up.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { runCli, validateOutput } from '../support/cli.js';
import { startLocalAws, type LocalAws } from '../support/local-aws.js';
import { deployStandIn, motoSkip, startMoto, type Moto } from '../support/moto.js';
import { readmeCommands } from '../support/readme.js';

const [planOnly, gameDay, throughService] = readmeCommands('Rehearse on your account');
let aws: LocalAws;

before(async () => {
  aws = await startLocalAws({ kms: { wrappingKeyPoolSize: 2 } });
});
after(async () => {
  await aws.close();
});

const local = () => ({ AWS_ENDPOINT_URL_KMS: aws.endpoint.url, AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.endpoint.url, AWS_ENDPOINT_URL_STS: aws.endpoint.url });
const stateOf = async (keyId: string) => (await aws.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState;

test('the README shows three drill commands: the plan, the game day, the game day through the stack', () => {
  assert.deepEqual(planOnly, ['drill']);
  assert.ok(gameDay!.includes('--yes') && !gameDay!.includes('--stack'));
  assert.ok(throughService!.includes('--yes') && throughService!.includes('--stack'));
});

test(`README: kms-reimport ${planOnly!.join(' ')} prints the plan and exits 2`, async () => {
  const result = await runCli(planOnly!, local());
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /Nothing was created.*--yes/);
});

test(`README: kms-reimport ${gameDay!.join(' ')} passes and cleans up`, async () => {
  const result = await runCli([...gameDay!, '--json'], local());
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as { ok: boolean; keyId: string };
  validateOutput('drill', report);
  assert.equal(report.ok, true);
  assert.equal(await stateOf(report.keyId), 'PendingDeletion');
});

test(`README: kms-reimport ${throughService!.join(' ')} waits for the service and, with none delivering CloudTrail events, names CloudTrail`, { skip: motoSkip }, async () => {
  let moto: Moto | undefined;
  try {
    moto = await startMoto();
    const stackName = throughService![throughService!.indexOf('--stack') + 1]!;
    const deployment = await deployStandIn(moto, stackName);
    const result = await runCli([...throughService!, '--timeout-seconds', '2', '--poll-seconds', '0.5', '--json'], {
      AWS_ENDPOINT_URL: moto.url,
      AWS_ENDPOINT_URL_KMS: aws.endpoint.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.endpoint.url,
    });
    assert.equal(result.code, 1, result.stderr);
    const report = JSON.parse(result.stdout) as { ok: boolean; keyId: string; steps: Array<{ ok: boolean; detail: string }> };
    validateOutput('drill', report);
    assert.match(result.stderr, new RegExp(`the deployed service \\(state machine ${deployment.stateMachineArn}`));
    assert.match(result.stderr, /AWS account 123456789012/, 'the account comes from STS (moto)');
    assert.match(report.steps.find((s) => !s.ok)!.detail, /The likely cause is CloudTrail/);
    assert.equal(await stateOf(report.keyId), 'PendingDeletion');
  } finally {
    await moto?.stop();
  }
});
