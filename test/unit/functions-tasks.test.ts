import { test, describe, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DescribeKeyCommand,
  GetParametersForImportCommand,
  IncorrectKeyMaterialException,
  ImportKeyMaterialCommand,
  KMSClient,
  ListKeyRotationsCommand,
  ListResourceTagsCommand,
} from '@aws-sdk/client-kms';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { captureLogs, lambdaContext } from '../support/lambda.js';
import type { Context } from 'aws-lambda';

process.env.AWS_REGION = 'us-east-1';
process.env.POWERTOOLS_DEV = 'true';
process.env.POWERTOOLS_METRICS_DISABLED = 'false';
process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
process.env.AWS_SECRET_ACCESS_KEY = 'secret';
process.env.OUTCOME_TOPIC_ARN = 'arn:aws:sns:us-east-1:111122223333:kms-reimport-outcomes';
process.env.KMS_REIMPORT_WRAPPING_KEY_SPEC = 'RSA_2048';
process.env.KMS_REIMPORT_MAX_ATTEMPTS = '1';

const kmsMock = mockClient(KMSClient);
const secretsMock = mockClient(SecretsManagerClient);
const snsMock = mockClient(SNSClient);
const inspect = await import('../../functions/inspect.js');
const wrapAndImport = await import('../../functions/wrap-and-import.js');
const verify = await import('../../functions/verify.js');
const report = await import('../../functions/report.js');

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';
const ARN = `arn:aws:kms:us-east-1:111122223333:key/${KEY}`;
const EXECUTION = `${KEY}-recover-20250601T1200Z`;
const workItem = { keyRef: KEY, action: 'recover', trigger: { source: 'aws.kms', detailType: 'KMS Imported Key Material Expiration' }, executionName: EXECUTION };
const material = randomBytes(32);

const context = (name: string): Context => lambdaContext(name);


function serveKey(state = 'PendingImport'): void {
  kmsMock.on(DescribeKeyCommand).resolves({
    // A key that held material (CurrentKeyMaterialId): one that never did is not recovered from escrow.
    KeyMetadata: { KeyId: KEY, Arn: ARN, KeyState: state as 'Enabled', Origin: 'EXTERNAL', KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT', ExpirationModel: 'KEY_MATERIAL_EXPIRES', CurrentKeyMaterialId: 'c'.repeat(64) },
  });
  kmsMock.on(ListResourceTagsCommand).resolves({ Tags: [{ TagKey: 'kms-reimport:managed', TagValue: 'true' }], Truncated: false });
  kmsMock.on(ListKeyRotationsCommand).resolves({ Rotations: [], Truncated: false });
}

function assertRunKeys(logs: Array<Record<string, unknown>>, step: string): void {
  const lines = logs.filter((l) => typeof l.message === 'string' && !('_aws' in l));
  assert.ok(lines.length >= 2, `${step}: at least a start and an end line`);
  for (const line of lines) {
    assert.equal(line.keyId, KEY, `${step}: ${String(line.message)} has keyId`);
    assert.equal(line.action, 'recover', `${step}: ${String(line.message)} has action`);
    assert.equal(line.executionName, EXECUTION, `${step}: ${String(line.message)} has executionName`);
  }
}

beforeEach(() => {
  kmsMock.reset();
  secretsMock.reset();
  snsMock.reset();
});

describe('task handlers', () => {
  test('inspect: work item in, state out, every log line tagged with the run', async () => {
    serveKey();
    const { result, logs } = await captureLogs(() => inspect.handler(workItem, context('inspect')));
    assert.equal(result?.plan?.action, 'recover');
    assert.deepEqual(result?.pending, [{}]);
    assert.equal(result?.workItem.executionName, EXECUTION);
    assert.deepEqual(result?.calls, { DescribeKey: 1, ListResourceTags: 1, ListKeyRotations: 1 });
    assertRunKeys(logs, 'inspect');
  });

  test('the log keys of one run do not leak into the next invocation', async () => {
    serveKey();
    await captureLogs(() => inspect.handler(workItem, context('inspect')));
    const other = { ...workItem, keyRef: '0987dcba-09ab-87cd-65ef-0987654321ba', executionName: 'other-recover-20250601T1200Z' };
    const { logs } = await captureLogs(() => inspect.handler(other, context('inspect')));
    assert.ok(logs.every((l) => l.executionName !== EXECUTION));
  });

  test('errors keep their names for the state machine, and are logged once with the run keys', async () => {
    serveKey();
    const state = (await captureLogs(() => inspect.handler(workItem, context('inspect')))).result;
    const publicKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'der', type: 'spki' });
    kmsMock.on(GetParametersForImportCommand).resolves({ KeyId: ARN, PublicKey: publicKey, ImportToken: Buffer.from('t'), ParametersValidTo: new Date(Date.now() + 86_400_000) });
    secretsMock.on(GetSecretValueCommand).callsFake(async () => ({ Name: `kms-reimport/${KEY}`, SecretBinary: new Uint8Array(material) }));
    kmsMock.on(ImportKeyMaterialCommand).rejects(new IncorrectKeyMaterialException({ message: 'different material', $metadata: {} }));
    kmsMock.resetHistory();
    const { error, logs, raw } = await captureLogs(() => wrapAndImport.handler(state, context('wrap-and-import')));
    assert.equal(error?.name, 'IncorrectKeyMaterial');
    const input = kmsMock.commandCalls(GetParametersForImportCommand)[0]?.args[0].input;
    assert.equal(input?.WrappingKeySpec, 'RSA_2048', 'WrapAndImport asked for its own parameters, with the configured wrapping');
    const failed = logs.find((l) => l.message === 'WrapAndImport failed');
    assert.equal(failed?.errorName, 'IncorrectKeyMaterial');
    assert.equal(failed?.level, 'ERROR');
    assertRunKeys(logs, 'wrap-and-import');
    for (const form of [material.toString('hex'), material.toString('base64')]) assert.equal(raw.includes(form), false);
  });

  test('verify: a key that is neither Enabled nor Disabled after the import fails with VerificationFailed', async () => {
    kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: KEY, Arn: ARN, KeyState: 'PendingDeletion' } });
    const state = {
      workItem,
      startedAt: new Date().toISOString(),
      report: { keyId: KEY, arn: ARN, requestedRef: KEY, keyState: 'PendingImport', origin: 'EXTERNAL', keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT', multiRegion: false, tags: {}, materials: [] },
      plan: { action: 'recover', reason: 'r' },
      pending: [],
      imported: [{ expirationModel: 'KEY_MATERIAL_EXPIRES' }],
      tokenRefreshes: 0,
    };
    const { error } = await captureLogs(() => verify.handler(state, context('verify')));
    assert.equal(error?.name, 'VerificationFailed');
  });

  test('report: publishes to OUTCOME_TOPIC_ARN and emits the outcome metric in namespace KmsReimport', async () => {
    snsMock.on(PublishCommand).resolves({ MessageId: 'm' });
    const state = {
      workItem,
      startedAt: new Date().toISOString(),
      pending: [],
      imported: [],
      tokenRefreshes: 0,
      error: { Error: 'EscrowMissing', Cause: JSON.stringify({ errorType: 'EscrowMissing', errorMessage: `No escrow secret kms-reimport/${KEY} for key ${KEY}` }) },
    };
    const { result, logs } = await captureLogs(() => report.handler(state, context('report')));
    assert.equal(result?.outcome?.status, 'failed');
    assert.equal(result?.outcome?.errorName, 'EscrowMissing');
    const publish = snsMock.commandCalls(PublishCommand)[0]?.args[0].input;
    assert.equal(publish?.TopicArn, process.env.OUTCOME_TOPIC_ARN);
    assert.equal(JSON.parse(publish?.Message ?? '').status, 'failed');
    const emf = logs.find((l) => '_aws' in l) as { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Metrics: Array<{ Name: string }> }> }; Failed?: number } | undefined;
    assert.ok(emf, 'an EMF metrics line');
    assert.equal(emf._aws.CloudWatchMetrics[0]?.Namespace, 'KmsReimport');
    assert.deepEqual(emf._aws.CloudWatchMetrics[0]?.Metrics.map((m) => m.Name), ['Failed']);
    assert.equal(emf.Failed, 1);
    assertRunKeys(logs, 'report');
  });
});

describe('cold start', () => {
  function coldStart(module: string, env: Record<string, string | undefined>) {
    const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
    return spawnSync(process.execPath, ['--import', 'tsx', '-e', `await import('./functions/${module}.ts')`], {
      cwd: ROOT,
      env: childEnv as NodeJS.ProcessEnv,
      encoding: 'utf8',
    });
  }

  test('a missing or bad setting fails the init loudly with ConfigError', () => {
    const noTopic = coldStart('report', { OUTCOME_TOPIC_ARN: undefined });
    assert.notEqual(noTopic.status, 0);
    assert.match(noTopic.stderr, /ConfigError/);
    assert.match(noTopic.stderr, /OUTCOME_TOPIC_ARN/);
    const badLifetime = coldStart('inspect', { KMS_REIMPORT_MATERIAL_LIFETIME_DAYS: '400' });
    assert.notEqual(badLifetime.status, 0);
    assert.match(badLifetime.stderr, /KMS_REIMPORT_MATERIAL_LIFETIME_DAYS/);
    const noStateMachine = coldStart('trigger', { STATE_MACHINE_ARN: undefined });
    assert.notEqual(noStateMachine.status, 0);
    assert.match(noStateMachine.stderr, /STATE_MACHINE_ARN/);
    const ok = coldStart('verify', {});
    assert.equal(ok.status, 0, ok.stderr);
  });
});
