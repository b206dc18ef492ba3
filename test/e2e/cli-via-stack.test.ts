/**
 * `recover|renew|rotate --via-stack NAME` (and `--state-machine ARN`): the real CLI process, the
 * deployed service played by the shared workflow harness (test/support/workflow-harness.ts: the
 * real statemachine/recovery.asl.json, each task its real handler in its own worker under its own
 * role, against the local endpoint). The harness's Step Functions stand-in knows StartExecution
 * only, so this file serves the three calls the CLI makes to Step Functions over the real wire
 * protocol (awsJson1_0): StartExecution (a new name runs the workflow through the harness; the
 * same name while it runs with the same input returns it; otherwise ExecutionAlreadyExists, as
 * Step Functions answers), DescribeExecution (RUNNING until the run ends) and GetExecutionHistory
 * (the run's events, translated to Step Functions history events). CloudFormation's DescribeStacks
 * (awsQuery, XML) names the state machine in the stack's outputs.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { executionInput, executionName } from '../../lib/events/execution-name.js';
import { normaliseEvent } from '../../lib/events/normalise.js';
import type { Outcome } from '../../lib/types.js';
import { ACCOUNT, REGION, STACK, STATE_MACHINE_ARN, startWorkflowHarness, type WorkflowHarness } from '../support/workflow-harness.js';
import { startStackStandIns, type StackStandIns } from '../support/stack-stand-ins.js';
import { runCli, validateOutput, type CliRun } from '../support/cli.js';

let harness: WorkflowHarness;
let stack: StackStandIns;

before(async () => {
  harness = await startWorkflowHarness();
  stack = await startStackStandIns(harness);
});

after(async () => {
  await stack?.close();
  await harness?.close();
});

/** The CLI against the stand-ins, signing as the account; its output joins the leak check. */
async function run(args: string[]): Promise<CliRun> {
  const out = await runCli([...args, '--poll-ms', '20'], {
    AWS_ACCESS_KEY_ID: ACCOUNT,
    AWS_SECRET_ACCESS_KEY: 'cli-via-stack',
    AWS_REGION: REGION,
    ...stack.env,
  });
  harness.written.push(out.stdout, out.stderr);
  return out;
}

/** The states the CLI said it entered, in order (stderr lines `→ <state>`). */
const statesPrinted = (stderr: string): string[] => [...stderr.matchAll(/^→ (\S+)$/gm)].map((m) => m[1]!);

test('recover --via-stack: the stack\'s state machine runs the recovery, followed state by state; the outcome printed as JSON; exit 0', async () => {
  const key = await harness.expiredKey();
  harness.resetCounters();
  stack.sfnCalls.length = 0;
  const before = new Date();

  const out = await run(['recover', key.keyId, '--via-stack', STACK, '--json']);

  assert.equal(out.code, 0, out.stderr);
  const outcome = JSON.parse(out.stdout) as Outcome;
  validateOutput('outcome', outcome);
  assert.equal(outcome.status, 'recovered');
  assert.equal(outcome.keyId, key.keyId);
  assert.equal(await harness.keyState(key.keyId), 'Enabled');
  assert.equal(harness.imports(), 1);
  // Started exactly as the Trigger starts a manual request: the same name and input builders.
  const [item] = normaliseEvent({ action: 'recover', keyId: key.keyId }, { region: REGION, account: ACCOUNT });
  const started = [...harness.executions.values()].filter((e) => e.name.startsWith(`${key.keyId}-recover-`));
  assert.equal(started.length, 1);
  assert.equal(started[0]!.name, executionName(item!, key.keyId, before));
  assert.deepEqual(JSON.parse(started[0]!.input), executionInput(item!, started[0]!.name));
  // Followed step by step, on stderr; stdout holds the outcome only.
  const states = statesPrinted(out.stderr);
  // The key is named by its ARN: the lease first, then the one inspection under it (Reinspect).
  for (const step of ['AcquireLease', 'Reinspect', 'WrapAndImport', 'Verify', 'ReleaseLease', 'Report', 'Done']) {
    assert.ok(states.includes(step), `${step} not followed: ${states.join(' ')}`);
  }
  assert.ok(states.indexOf('AcquireLease') < states.indexOf('Reinspect') && states.indexOf('Reinspect') < states.indexOf('WrapAndImport') && states.indexOf('WrapAndImport') < states.indexOf('Report'), states.join(' '));
  assert.match(out.stderr, new RegExp(`execution ${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${key.keyId}-recover-\\S+ started`));
  assert.deepEqual([...new Set(stack.sfnCalls)].sort(), ['DescribeExecution', 'GetExecutionHistory', 'StartExecution']);
  assert.equal(stack.sfnCalls.filter((c) => c === 'StartExecution').length, 1);

  // Again at once: the same name in the same time bucket; Step Functions refuses a second
  // execution, and the command follows the one that exists instead of starting another.
  const again = await run(['recover', '--key-id', key.keyId, '--via-stack', STACK, '--output', 'json']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as Outcome).status, 'recovered');
  assert.match(again.stderr, /already exists for this key and time window/);
  assert.equal([...harness.executions.values()].filter((e) => e.name.startsWith(`${key.keyId}-recover-`)).length, 1);
  assert.equal(harness.imports(), 1, 'nothing imported twice');
});

test('recover --state-machine ARN: a failed recovery (escrow holds other material) exits 1 with the workflow\'s outcome, printed like a local run', async () => {
  const key = await harness.expiredKey();
  await harness.aws.secrets.send(new PutSecretValueCommand({ SecretId: `${harness.aws.config.escrowPrefix}${key.keyId}`, SecretBinary: randomBytes(32) }));
  harness.resetCounters();

  const out = await run(['recover', key.keyId, '--state-machine', STATE_MACHINE_ARN]);

  assert.equal(out.code, 1, out.stderr);
  assert.match(out.stdout, /FAILED/);
  assert.match(out.stdout, new RegExp(key.keyId));
  assert.match(out.stdout, /IncorrectKeyMaterial/);
  assert.match(out.stderr, /execution failed: RecoveryFailed/);
  assert.ok(statesPrinted(out.stderr).includes('Failed'));
  assert.equal(await harness.keyState(key.keyId), 'PendingImport');
});

test('renew --via-stack on a key far from its ValidTo: the workflow skips it; exit 3 (nothing to do)', async () => {
  const key = await harness.newKey({ lifetimeSeconds: 300 * 86_400 });
  harness.resetCounters();

  const out = await run(['renew', key.keyId, '--via-stack', STACK, '--json']);

  assert.equal(out.code, 3, out.stderr);
  const outcome = JSON.parse(out.stdout) as Outcome;
  validateOutput('outcome', outcome);
  assert.equal(outcome.status, 'skipped');
  assert.equal(harness.imports(), 0);
});

test('rotate --via-stack: the runbook\'s rotation branch rotates the key in place; exit 0', async () => {
  const key = await harness.newKey({ lifetimeSeconds: 300 * 86_400 });
  const before = await harness.currentMaterial(key.keyId);
  harness.resetCounters();

  const out = await run(['rotate', key.keyId, '--via-stack', STACK, '--json']);

  assert.equal(out.code, 0, out.stderr);
  const outcome = JSON.parse(out.stdout) as Outcome;
  validateOutput('outcome', outcome);
  assert.equal(outcome.status, 'rotated');
  assert.ok(statesPrinted(out.stderr).includes('Rotate'));
  assert.notEqual(await harness.currentMaterial(key.keyId), before);
  await harness.keepEscrowedMaterials(key.keyId);
});

test('an unknown stack, or a key ARN in another account: a clear error naming what to check, exit 1, nothing started', async () => {
  stack.sfnCalls.length = 0;
  const missing = await run(['recover', 'alias/payments', '--via-stack', 'no-such-stack']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /DeployedServiceUnavailable: Could not read stack no-such-stack/);
  assert.match(missing.stderr, /--state-machine/);
  assert.doesNotMatch(missing.stderr, /\n\s+at /);

  const elsewhere = await run(['recover', `arn:aws:kms:${REGION}:444455556666:key/${randomUUID()}`, '--via-stack', STACK]);
  assert.equal(elsewhere.code, 1);
  assert.match(elsewhere.stderr, /would refuse recover .* account 444455556666/);
  assert.deepEqual(stack.sfnCalls, []);
});

test('--via-stack and --state-machine together is bad usage (exit 2)', async () => {
  const both = await run(['recover', 'alias/payments', '--via-stack', STACK, '--state-machine', STATE_MACHINE_ARN]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /cannot be used with/);
});

test('the leak check over everything the workflow and the CLI wrote', async () => {
  await harness.assertNoLeaks();
});
