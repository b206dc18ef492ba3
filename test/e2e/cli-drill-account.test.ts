/**
 * The account drill's guards and its watch on the deployed service, in process, with the real SDK
 * over HTTP against the local endpoint (KMS, Secrets Manager). The drill refuses every key and
 * secret it did not create. Through the service, Step Functions is a mock (aws-sdk-client-mock,
 * ListExecutions and the stack's CloudFormation calls configured) and the test plays the deployed
 * service: when the drill key goes PendingImport it recovers it with the library, as the workflow would.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import { CreateKeyCommand, DescribeKeyCommand, EncryptCommand, ImportKeyMaterialCommand, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { CreateSecretCommand, DescribeSecretCommand, TagResourceCommand } from '@aws-sdk/client-secrets-manager';
import { ListExecutionsCommand, SFNClient, type ExecutionListItem } from '@aws-sdk/client-sfn';
import { CloudFormationClient, DescribeStackResourcesCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { assertDrillKey, deleteDrillMaterial, deleteDrillSecret, runAccountDrill, scheduleDrillKeyDeletion, DRILL_TAG_KEY } from '../../cli/drill.js';
import { DrillRefused } from '../../lib/errors.js';
import { interceptSend } from '../support/intercept.js';
import { assertNoMaterial, onboardKey, startLocalAws, type LocalAws } from '../support/local-aws.js';

const MACHINE_ARN = 'arn:aws:states:us-east-1:000000000000:stateMachine:RecoveryStateMachine-TEST';
const sfnMock = mockClient(SFNClient);
const cfnMock = mockClient(CloudFormationClient);
let aws: LocalAws;

before(async () => {
  aws = await startLocalAws({ kms: { wrappingKeyPoolSize: 2 } });
});
after(async () => {
  sfnMock.restore();
  cfnMock.restore();
  await aws.close();
});
beforeEach(() => {
  sfnMock.reset();
  cfnMock.reset();
});

const stateOf = async (keyId: string) => (await aws.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState;

describe('the drill touches only what it created', () => {
  test('a key and escrow it did not create: material, deletion and secret all refused, nothing changed', async () => {
    const foreign = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 30 * 86_400 });
    const secretId = `${aws.config.escrowPrefix}${foreign.keyId}`;
    await assert.rejects(assertDrillKey(aws.kms, foreign.keyId, 'drill-0001'), (e: Error) => e instanceof DrillRefused && /does not carry the kms-reimport:drill tag/.test(e.message));
    await assert.rejects(deleteDrillMaterial(aws.kms, foreign.keyId, 'drill-0001'), DrillRefused);
    await assert.rejects(scheduleDrillKeyDeletion(aws.kms, foreign.keyId, 'drill-0001'), DrillRefused);
    await assert.rejects(deleteDrillSecret(aws.secrets, secretId, foreign.keyId, 'drill-0001'), (e: Error) => e instanceof DrillRefused && /never deletes escrow it did not create/.test(e.message));
    assert.equal(await stateOf(foreign.keyId), 'Enabled');
    assert.equal((await aws.secrets.send(new DescribeSecretCommand({ SecretId: secretId }))).DeletedDate, undefined);
    assert.equal(aws.calls('DeleteImportedKeyMaterial'), 0);
    assert.equal(aws.calls('ScheduleKeyDeletion'), 0);
    assert.equal(aws.calls('DeleteSecret'), 0);
  });

  test('a key of another drill is refused with the command to clean it up', async () => {
    const other = (await aws.kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', Tags: [{ TagKey: DRILL_TAG_KEY, TagValue: 'drill-other' }] }))).KeyMetadata!.KeyId!;
    await assert.rejects(scheduleDrillKeyDeletion(aws.kms, other, 'drill-mine'), (e: Error) => /belongs to another drill .*schedule-key-deletion --key-id/.test(e.message));
    assert.equal(await stateOf(other), 'PendingImport');
  });
});

describe('the drill through the deployed service', () => {
  /** Plays the deployed service: the first time the drill looks for executions, the key is recovered as the workflow would. */
  function serviceThatRecovers(keyIdOf: () => string | undefined): { calls: () => number } {
    let calls = 0;
    let recovery: Promise<unknown> | undefined;
    let started: Date | undefined;
    sfnMock.on(ListExecutionsCommand).callsFake(async () => {
      calls++;
      const keyId = keyIdOf();
      if (!keyId) return { executions: [] };
      if (!recovery) {
        started = new Date();
        recovery = aws.recover(keyId);
      }
      const done = await Promise.race([recovery.then(() => true), new Promise((r) => setTimeout(() => r(false), 5))]);
      const execution: ExecutionListItem = {
        executionArn: `${MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${keyId}-recover-x`,
        stateMachineArn: MACHINE_ARN,
        name: `${keyId}-recover-20300101T0000Z`,
        status: done ? 'SUCCEEDED' : 'RUNNING',
        startDate: started!,
      };
      return { executions: [execution] };
    });
    return { calls: () => calls };
  }

  test('--stack: the state machine comes from the stack; the drill waits for the service, prints each execution and the time from deletion to Enabled', async () => {
    cfnMock.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackName: 'kms-reimport', StackId: 'arn:aws:cloudformation:us-east-1:000000000000:stack/kms-reimport/1', StackStatus: 'CREATE_COMPLETE', CreationTime: new Date() }],
    });
    cfnMock.on(DescribeStackResourcesCommand).resolves({
      StackResources: [{ LogicalResourceId: 'RecoveryStateMachine', ResourceType: 'AWS::StepFunctions::StateMachine', PhysicalResourceId: MACHINE_ARN, ResourceStatus: 'CREATE_COMPLETE', Timestamp: new Date() }],
    });
    const lines: string[] = [];
    const keyIdOf = () => /key\/([0-9a-f-]{36})/.exec(lines.join('\n'))?.[1];
    const service = serviceThatRecovers(keyIdOf);
    const result = await runAccountDrill(
      { yes: true, stackName: 'kms-reimport', config: aws.config, pollSeconds: 0.05, timeoutSeconds: 60, print: (l) => lines.push(l) },
      { kms: aws.kms, secrets: aws.secrets, sfn: new SFNClient({ region: 'us-east-1' }), cloudformation: new CloudFormationClient({ region: 'us-east-1' }) },
    );
    assert.equal(result.ok, true, lines.join('\n'));
    assert.ok(service.calls() >= 1);
    assert.equal(sfnMock.commandCalls(ListExecutionsCommand)[0]!.args[0].input.stateMachineArn, MACHINE_ARN);
    assert.match(lines.join('\n'), /execution [0-9a-f-]{36}-recover-20300101T0000Z: (RUNNING|SUCCEEDED)/);
    assert.match(lines.join('\n'), /deletion to Enabled: \d+\.\d s/);
    assert.equal(await stateOf(result.keyId!), 'PendingDeletion');
  });

  test('no execution ever starts: a timeout that names CloudTrail, and the drill key is cleaned up anyway', async () => {
    sfnMock.on(ListExecutionsCommand).resolves({ executions: [] });
    const lines: string[] = [];
    const result = await runAccountDrill(
      { yes: true, stateMachineArn: MACHINE_ARN, config: aws.config, pollSeconds: 0.05, timeoutSeconds: 0.3, print: (l) => lines.push(l) },
      { kms: aws.kms, secrets: aws.secrets, sfn: new SFNClient({ region: 'us-east-1' }) },
    );
    assert.equal(result.ok, false);
    const failed = result.steps.find((s) => !s.ok)!;
    assert.match(failed.detail, /^DrillRecoveryTimedOut: .*no execution of .* started for it\. The likely cause is CloudTrail/);
    assert.match(failed.detail, /kms-reimport doctor/);
    assert.equal(await stateOf(result.keyId!), 'PendingDeletion');
    assert.match(result.cleanup.join('\n'), /recovery window/);
  });

  test('the service\'s execution FAILED: the drill says which one and stops waiting', async () => {
    const lines: string[] = [];
    const keyIdOf = () => /key\/([0-9a-f-]{36})/.exec(lines.join('\n'))?.[1];
    sfnMock.on(ListExecutionsCommand).callsFake(async () => {
      const keyId = keyIdOf();
      return { executions: keyId ? [{ executionArn: `${MACHINE_ARN}:x`, stateMachineArn: MACHINE_ARN, name: `${keyId}-recover-20300101T0000Z`, status: 'FAILED', startDate: new Date() }] : [] };
    });
    const result = await runAccountDrill(
      { yes: true, stateMachineArn: MACHINE_ARN, config: aws.config, pollSeconds: 0.05, timeoutSeconds: 60, print: (l) => lines.push(l) },
      { kms: aws.kms, secrets: aws.secrets, sfn: new SFNClient({ region: 'us-east-1' }) },
    );
    assert.equal(result.ok, false);
    assert.match(result.steps.find((s) => !s.ok)!.detail, /^DrillRecoveryFailed: .*ended FAILED.*describe-execution/);
    assert.equal(await stateOf(result.keyId!), 'PendingDeletion');
  });
});

test('the drill never shows the material it escrowed: not in a printed line, not in its result', async () => {
  let escrowed: Buffer | undefined;
  const secrets = interceptSend(aws.secrets, {
    before: (command) => {
      if (command instanceof CreateSecretCommand) escrowed = Buffer.from(command.input.SecretBinary!);
      return undefined;
    },
  });
  const lines: string[] = [];
  const result = await runAccountDrill({ yes: true, config: aws.config, print: (l) => lines.push(l) }, { kms: aws.kms, secrets });
  assert.equal(result.ok, true, lines.join('\n'));
  assert.equal(escrowed?.length, 32, 'the drill escrowed 32 bytes of SYMMETRIC_DEFAULT material');
  assertNoMaterial(`${lines.join('\n')}\n${JSON.stringify(result)}`, [escrowed!], 'the drill\'s output and result');
});

describe('the drill cleans up in the safe order and says what it could not do', () => {
  const rawError = (name: string) =>
    Object.assign(new Error(`raw SDK message quoting the request: QUOTED-REQUEST-BODY`), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });

  test('the key\'s deletion is scheduled before its secret is deleted', async () => {
    const order: string[] = [];
    const watch = { before: (command: object) => (order.push(command.constructor.name), undefined) };
    const result = await runAccountDrill({ yes: true, config: aws.config, print: () => {} }, { kms: interceptSend(aws.kms, watch), secrets: interceptSend(aws.secrets, watch) });
    assert.equal(result.ok, true, result.steps.map((s) => s.detail).join('\n'));
    const scheduled = order.indexOf('ScheduleKeyDeletionCommand');
    assert.ok(scheduled >= 0 && scheduled < order.indexOf('DeleteSecretCommand'), order.join(', '));
    assert.equal(await stateOf(result.keyId!), 'PendingDeletion');
  });

  test('ScheduleKeyDeletion fails: the key stays, so its secret is kept (not deleted) and the cleanup says so, without the raw SDK message', async () => {
    const kms = interceptSend(aws.kms, { before: (command) => (command instanceof ScheduleKeyDeletionCommand ? rawError('AccessDeniedException') : undefined) });
    const result = await runAccountDrill({ yes: true, config: aws.config, print: () => {} }, { kms, secrets: aws.secrets });
    const secretId = `${aws.config.escrowPrefix}${result.keyId}`;
    assert.equal(await stateOf(result.keyId!), 'Enabled');
    assert.equal((await aws.secrets.send(new DescribeSecretCommand({ SecretId: secretId }))).DeletedDate, undefined, 'the escrow of a key that lives on is kept');
    const cleanup = result.cleanup.join('\n');
    assert.match(cleanup, /NOT scheduled for deletion \(PermissionDenied: .* was denied \(AccessDeniedException\).*schedule-key-deletion --key-id/);
    assert.match(cleanup, new RegExp(`secret ${secretId} kept: key ${result.keyId} is Enabled, not PendingDeletion.*delete-secret --secret-id`));
    assert.doesNotMatch(cleanup, /QUOTED-REQUEST-BODY/);
    // Tidy up what the test made the drill leave behind.
    await scheduleDrillKeyDeletion(aws.kms, result.keyId!, result.drillId);
  });

  test('a step that fails with a raw SDK error prints a named error, never the SDK message', async () => {
    const kms = interceptSend(aws.kms, { before: (command) => (command instanceof EncryptCommand ? rawError('AccessDeniedException') : undefined) });
    const lines: string[] = [];
    const result = await runAccountDrill({ yes: true, config: aws.config, print: (l) => lines.push(l) }, { kms, secrets: aws.secrets });
    assert.equal(result.ok, false);
    const failed = result.steps.find((s) => !s.ok)!;
    assert.match(failed.detail, /^PermissionDenied: .* for key [0-9a-f-]{36} was denied \(AccessDeniedException\)/);
    assert.doesNotMatch(`${lines.join('\n')}\n${JSON.stringify(result)}`, /QUOTED-REQUEST-BODY/);
    assert.equal(await stateOf(result.keyId!), 'PendingDeletion');
  });

  test('the import failing and the secret\'s drill tag failing too: the step reports the import\'s error, not the tag\'s', async () => {
    const kms = interceptSend(aws.kms, { before: (command) => (command instanceof ImportKeyMaterialCommand ? rawError('KMSInternalException') : undefined) });
    const secrets = interceptSend(aws.secrets, { before: (command) => (command instanceof TagResourceCommand ? rawError('AccessDeniedException') : undefined) });
    const lines: string[] = [];
    const result = await runAccountDrill({ yes: true, config: aws.config, print: (l) => lines.push(l) }, { kms, secrets });
    const failed = result.steps.find((s) => !s.ok)!;
    assert.equal(failed.name, 'Escrow random material in Secrets Manager, then import it');
    // A KMS internal error is transient: the import is retried (lib/material/import.ts), then named.
    assert.match(failed.detail, /^KmsUnavailable: KMS ImportKeyMaterial for key [0-9a-f-]{36} kept failing with KMSInternalException/, 'the import\'s error');
    assert.doesNotMatch(failed.detail, /AccessDenied/, 'not the tag\'s');
    assert.match(lines.join('\n'), /could not be tagged kms-reimport:drill=drill-[0-9a-f]+ either: PermissionDenied/);
    assert.equal(await stateOf(result.keyId!), 'PendingDeletion');
  });
});

test('the watch on the deployed service reads every page of ListExecutions since the deletion', async () => {
  const lines: string[] = [];
  const keyIdOf = () => /key\/([0-9a-f-]{36})/.exec(lines.join('\n'))?.[1];
  let recovery: Promise<unknown> | undefined;
  sfnMock.on(ListExecutionsCommand).callsFake(async (input: { nextToken?: string }) => {
    const keyId = keyIdOf();
    const now = new Date();
    // Page 1: other keys' executions, all recent (a busy state machine); page 2: the drill key's.
    if (!input.nextToken) {
      return { executions: Array.from({ length: 3 }, (_, i) => ({ executionArn: `${MACHINE_ARN}:o${i}`, stateMachineArn: MACHINE_ARN, name: `other-${i}`, status: 'SUCCEEDED', startDate: now })), nextToken: 'page2' };
    }
    if (!keyId) return { executions: [] };
    recovery ??= aws.recover(keyId);
    await recovery;
    return { executions: [{ executionArn: `${MACHINE_ARN}:mine`, stateMachineArn: MACHINE_ARN, name: `${keyId}-recover-20300101T0000Z`, status: 'SUCCEEDED', startDate: now }] };
  });
  const result = await runAccountDrill(
    { yes: true, stateMachineArn: MACHINE_ARN, config: aws.config, pollSeconds: 0.05, timeoutSeconds: 60, print: (l) => lines.push(l) },
    { kms: aws.kms, secrets: aws.secrets, sfn: new SFNClient({ region: 'us-east-1' }) },
  );
  assert.equal(result.ok, true, lines.join('\n'));
  assert.match(lines.join('\n'), /execution [0-9a-f-]{36}-recover-20300101T0000Z: SUCCEEDED/);
  assert.ok(sfnMock.commandCalls(ListExecutionsCommand).some((c) => c.args[0].input.nextToken === 'page2'));
});
