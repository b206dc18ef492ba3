/**
 * End to end: one run per key. Many runs for ONE key at once, started every way the service can
 * be started, end in exactly one ImportKeyMaterial: the others end `skipped` with the lease's
 * reason. The harness is test/e2e/workflow.test.ts's: the project's local KMS + Secrets Manager
 * endpoint, the REAL trigger handler body (triggerWith, with the test's clock so that two buckets
 * of the execution name are really used), a fake StartExecution that starts a local execution per
 * new name, the workflow from statemachine/recovery.asl.json with the REAL task handlers, and a
 * real DynamoDB (dynalite on 127.0.0.1) behind the ASL's lease tasks. The CLI path (recoverKey with
 * the DynamoDB lease, and real `kms-reimport recover --lease-table` processes) takes the same lease
 * in the same table.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from 'aws-lambda';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { startLocalEndpoint } from '../../local/index.js';
import { createClients } from '../../lib/aws/clients.js';
import { loadConfig } from '../../lib/config.js';
import { recoverKey } from '../../lib/reimport.js';
import { DynamoDbKeyLease } from '../../lib/lease/index.js';
import { timeBucket } from '../../lib/events/execution-name.js';
import type { Outcome } from '../../lib/types.js';
import { listenLocally, readBody } from '../support/http.js';
import { onboardKey, type OnboardedKey } from '../support/local-aws.js';
import { startDynalite } from '../support/dynalite.js';
import { runWorkflow, closeWorkflowDynamo, LEASE_TABLE, SUBSTITUTIONS, type TaskHandler, type TaskStateName, type WorkflowRun } from '../unit/asl-run.js';
import { repoRoot, loadTemplate, type Json } from '../unit/template-load.js';

const REGION = 'us-east-1';
const ACCOUNT = '111122223333';
const SAMPLE_KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const STATE_MACHINE_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:kms-reimport-e2e-RecoveryStateMachine`;
const BIN = fileURLToPath(new URL('../../bin/kms-reimport.js', import.meta.url));

// The functions' JSON log lines are kept out of the test output.
const originalWrite = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  if (text.trimStart().startsWith('{')) {
    (rest.find((r) => typeof r === 'function') as (() => void) | undefined)?.();
    return true;
  }
  return (originalWrite as (...args: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;

// ------------------------------------------------------------------ the local endpoint, DynamoDB and the fakes
const endpoint = await startLocalEndpoint({ port: 0 });
const dynamo = await startDynalite();
await dynamo.createLeaseTable(LEASE_TABLE);

interface Execution {
  name: string;
  input: string;
  running: boolean;
  run: Promise<WorkflowRun>;
}
const executions = new Map<string, Execution>();

/** StartExecution as Step Functions answers it: a new name starts a run; same name and input while running returns it; else ExecutionAlreadyExists. */
const sfnServer = createServer((req, res) => {
  void readBody(req).then((body) => {
    const reply = (status: number, payload: Json) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(payload));
    };
    if (req.headers['x-amz-target'] !== 'AWSStepFunctions.StartExecution') return reply(400, { __type: 'UnknownOperationException', message: 'only StartExecution' });
    const request = JSON.parse(body);
    const arn = `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${request.name}`;
    const existing = executions.get(request.name);
    if (existing) {
      if (existing.running && existing.input === request.input) return reply(200, { executionArn: arn, startDate: Date.now() / 1000 });
      return reply(400, { __type: 'ExecutionAlreadyExists', message: `Execution Already Exists: '${arn}'` });
    }
    const execution: Execution = {
      name: request.name,
      input: request.input,
      running: true,
      run: runWorkflow({ handlers: taskHandlers(), input: JSON.parse(request.input), executionName: request.name, dynamodb: dynamo }),
    };
    void execution.run.finally(() => (execution.running = false));
    executions.set(request.name, execution);
    return reply(200, { executionArn: arn, startDate: Date.now() / 1000 });
  });
});

/** SNS Publish: Report publishes each outcome. */
const snsServer = createServer((req, res) => {
  void readBody(req).then(() => {
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(
      `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${randomUUID()}</MessageId></PublishResult>` +
        `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`,
    );
  });
});

const sfnUrl = await listenLocally(sfnServer);
const snsUrl = await listenLocally(snsServer);

// ------------------------------------------------------------------ the functions' environment, then the handlers
const template = loadTemplate();
for (const [name, value] of Object.entries<Json>(template.Globals.Function.Environment.Variables)) {
  process.env[name] = typeof value === 'string' ? value : String(template.Parameters[value.Ref].Default);
}
Object.assign(process.env, {
  AWS_ENDPOINT_URL: endpoint.url,
  AWS_ENDPOINT_URL_SFN: sfnUrl,
  AWS_ENDPOINT_URL_SNS: snsUrl,
  AWS_REGION: REGION,
  AWS_DEFAULT_REGION: REGION,
  AWS_ACCESS_KEY_ID: ACCOUNT,
  AWS_SECRET_ACCESS_KEY: 'e2e-local-endpoint',
  STATE_MACHINE_ARN,
  OUTCOME_TOPIC_ARN: SUBSTITUTIONS.OutcomeTopicArn as string,
  KMS_REIMPORT_MAX_ATTEMPTS: '3',
  KMS_REIMPORT_BASE_DELAY_MS: '1',
});

type Handler = (event: unknown, context: Context) => Promise<Json>;
const load = async (file: string): Promise<Handler> => ((await import(`../../functions/${file}.js`)) as { handler: Handler }).handler;
const steps: Record<TaskStateName, Handler> = {
  Inspect: await load('inspect'),
  GetImportParameters: await load('get-import-parameters'),
  WrapAndImport: await load('wrap-and-import'),
  Verify: await load('verify'),
  Rotate: await load('rotate'),
  Report: await load('report'),
};
const { triggerWith } = (await import('../../functions/trigger.js')) as typeof import('../../functions/trigger.js');
const sfn = new SFNClient({ endpoint: sfnUrl, region: REGION, credentials: { accessKeyId: ACCOUNT, secretAccessKey: 'e2e' } });
/** The real trigger's body, with the test's clock (the execution name's bucket follows it). */
const triggerAt = (now: Date) => triggerWith({ sfn, stateMachineArn: STATE_MACHINE_ARN, bucketMinutes: 5, scope: { region: REGION, account: ACCOUNT }, now: () => now });

function lambdaContext(functionName: string): Context {
  return {
    functionName: `kms-reimport-e2e-${functionName}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:kms-reimport-e2e-${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/kms-reimport-e2e/${functionName}`,
    logStreamName: 'e2e',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 60_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

function taskHandlers(): Record<TaskStateName, TaskHandler> {
  return Object.fromEntries(
    (Object.keys(steps) as TaskStateName[]).map((state) => [state, (input: Json) => steps[state](input, lambdaContext(state))]),
  ) as Record<TaskStateName, TaskHandler>;
}

// ------------------------------------------------------------------ keys and helpers
const clients = createClients({ endpointUrl: endpoint.url, region: REGION, credentials: { accessKeyId: ACCOUNT, secretAccessKey: 'e2e' } });
const config = loadConfig(process.env);
const aws = { ...clients, endpoint, config };

/** A managed key whose material expired: PendingImport. */
async function expiredKey(): Promise<OnboardedKey> {
  const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 });
  endpoint.clock.advance(61);
  assert.equal(await keyState(key.keyId), 'PendingImport');
  endpoint.controls.resetCounters();
  return key;
}

async function keyState(keyId: string): Promise<string | undefined> {
  return (await clients.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState;
}

const imports = () => endpoint.controls.getCounters()['kms:ImportKeyMaterial']?.calls ?? 0;

function sample(path: string, keyId: string): Json {
  return JSON.parse(readFileSync(join(repoRoot, 'events', path), 'utf8').replaceAll(SAMPLE_KEY_ID, keyId));
}

async function leasesLeft(): Promise<number> {
  return (await dynamo.client.send(new ScanCommand({ TableName: LEASE_TABLE }))).Count ?? -1;
}

/**
 * Exactly one run imported (recovered); every other one skipped: with the lease's reason, or, a run
 * whose Inspect came after the winner had finished, because the key is Enabled again.
 */
function assertOneImporter(outcomes: Outcome[], keyId: string): void {
  const recovered = outcomes.filter((o) => o.status === 'recovered' || o.status === 'renewed');
  assert.equal(recovered.length, 1, `one run imports: ${outcomes.map((o) => `${o.status}: ${o.reason}`).join('\n')}`);
  for (const o of outcomes.filter((x) => x !== recovered[0])) {
    assert.equal(o.status, 'skipped', `${o.status}: ${o.reason}`);
    assert.match(o.reason ?? '', /lease|Nothing to recover: the key is Enabled|nothing to renew/i, o.reason);
    assert.ok(o.reason?.includes(keyId), `the reason names the key: ${o.reason}`);
    assert.deepEqual(o.imported, []);
  }
}

after(async () => {
  await Promise.all([...executions.values()].map((e) => e.run.catch(() => undefined)));
  process.stdout.write = originalWrite;
  sfn.destroy();
  clients.kms.destroy();
  clients.secrets.destroy();
  await new Promise((resolve) => sfnServer.close(resolve));
  await new Promise((resolve) => snsServer.close(resolve));
  await dynamo.close();
  await closeWorkflowDynamo();
  await endpoint.close();
});

// ------------------------------------------------------------------ the workflow
describe('concurrent triggers for one key, across a 5-minute bucket boundary', () => {
  for (const copies of [2, 10, 50]) {
    test(`${copies} at once (events, manual runs, both sides of a bucket boundary) → exactly one ImportKeyMaterial`, async () => {
      const key = await expiredKey();
      // Two instants a millisecond apart on either side of a bucket boundary: two execution names for one event.
      const boundary = new Date(Math.ceil((Date.now() + 1) / 300_000) * 300_000);
      const before = new Date(boundary.getTime() - 1);
      assert.notEqual(timeBucket(before), timeBucket(boundary));
      const kinds = ['kms/material-expiration.json', 'manual/renew.json', 'cloudtrail/delete-expired-key-material.json', 'manual/recover.json', 'manual/recover-unique'];
      const started = new Set(executions.keys());
      const deliveries = Array.from({ length: copies }, (_, i) => {
        const kind = kinds[i % kinds.length]!;
        if (kind === 'manual/recover-unique') {
          // As `aws stepfunctions start-execution --name <its own>` by an on-call engineer.
          return sfn.send(new StartExecutionCommand({
            stateMachineArn: STATE_MACHINE_ARN,
            name: `manual-${key.keyId}-${i}`,
            input: JSON.stringify({ keyRef: key.keyId, action: 'recover', trigger: { source: 'manual', detailType: 'manual' } }),
          }));
        }
        return triggerAt(i % 2 === 0 ? before : boundary)(sample(kind, key.keyId));
      });
      await Promise.all(deliveries);
      const runs = [...executions.values()].filter((e) => !started.has(e.name));
      const results = await Promise.all(runs.map((e) => e.run));
      assert.ok(runs.length >= 2, `at least two executions really started, got ${runs.map((r) => r.name).join(', ')}`);
      assert.ok(runs.some((r) => r.name.endsWith(timeBucket(before))) && runs.some((r) => r.name.endsWith(timeBucket(boundary))), 'both buckets ran');

      assert.equal(imports(), 1, 'exactly one ImportKeyMaterial');
      assertOneImporter(results.map((r) => r.output?.outcome as Outcome), key.keyId);
      for (const r of results) assert.equal(r.status, 'SUCCEEDED', r.error?.cause);
      assert.equal(await keyState(key.keyId), 'Enabled');
      assert.equal(await leasesLeft(), 0, 'every lease taken was released');
    });
  }
});

// ------------------------------------------------------------------ the CLI path, and both at once
describe('the CLI path takes the same lease', () => {
  const lease = () => new DynamoDbKeyLease({ client: dynamo.client, tableName: LEASE_TABLE });
  const cliConfig = { ...config, leaseTable: LEASE_TABLE, leaseWaitSeconds: 0, parametersIntervalMs: 0 };

  test('10 recoverKey runs at once with the DynamoDB lease → exactly one ImportKeyMaterial', async () => {
    const key = await expiredKey();
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () => recoverKey({ ...clients, lease: lease() }, key.keyId, { action: 'recover', config: cliConfig })),
    );
    assert.equal(imports(), 1);
    assertOneImporter(outcomes, key.keyId);
    assert.equal(await leasesLeft(), 0);
  });

  test('without the lease the same 10 runs import more than once (what the lease prevents)', async () => {
    const key = await expiredKey();
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => recoverKey(clients, key.keyId, { action: 'recover', config: { ...config, parametersIntervalMs: 0 } })));
    assert.ok(imports() > 1, `imports: ${imports()}`);
    assert.ok(outcomes.filter((o) => o.status === 'recovered').length > 1);
  });

  test('workflow executions and CLI runs for one key at once → exactly one ImportKeyMaterial', async () => {
    const key = await expiredKey();
    const started = new Set(executions.keys());
    const cli = Array.from({ length: 5 }, () => recoverKey({ ...clients, lease: lease() }, key.keyId, { action: 'recover', config: cliConfig }));
    await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        sfn.send(new StartExecutionCommand({
          stateMachineArn: STATE_MACHINE_ARN,
          name: `mixed-${key.keyId}-${i}`,
          input: JSON.stringify({ keyRef: key.keyId, action: i % 2 ? 'renew' : 'recover', trigger: { source: 'manual', detailType: 'manual' } }),
        })),
      ),
    );
    const runs = [...executions.values()].filter((e) => !started.has(e.name));
    const outcomes = [...(await Promise.all(cli)), ...(await Promise.all(runs.map(async (e) => (await e.run).output?.outcome as Outcome)))];
    assert.equal(outcomes.length, 10);
    assert.equal(imports(), 1);
    assertOneImporter(outcomes, key.keyId);
    assert.equal(await leasesLeft(), 0);
  });

  test('a lease left by a run that died: skipped naming the holder and how to clear it, nothing imported', async () => {
    const key = await expiredKey();
    const arn = (await clients.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!.Arn!;
    const dead = new DynamoDbKeyLease({ client: dynamo.client, tableName: LEASE_TABLE });
    const held = await dead.acquire(arn, 'cli:gone-host:4242:dead');
    const outcome = await recoverKey({ ...clients, lease: lease() }, key.keyId, { action: 'recover', config: cliConfig });
    assert.equal(outcome.status, 'skipped');
    assert.equal(outcome.errorName, 'LeaseTaken');
    assert.match(outcome.reason!, /being worked on by cli:gone-host:4242:dead/);
    assert.match(outcome.reason!, /still taken after 5 attempts/);
    assert.match(outcome.reason!, /delete the item/);
    assert.equal(imports(), 0);
    await dead.release(held);
  });

  test('real CLI processes (`kms-reimport recover --lease-table`) at once → exactly one ImportKeyMaterial', async () => {
    const key = await expiredKey();
    const run = () =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [BIN, 'recover', key.keyId, '--lease-table', LEASE_TABLE, '--json'],
          {
            env: {
              PATH: process.env.PATH ?? '',
              HOME: process.env.HOME ?? '/tmp',
              AWS_ACCESS_KEY_ID: ACCOUNT,
              AWS_SECRET_ACCESS_KEY: 'cli-test',
              AWS_REGION: REGION,
              AWS_EC2_METADATA_DISABLED: 'true',
              AWS_ENDPOINT_URL: endpoint.url,
              AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
              KMS_REIMPORT_LEASE_WAIT_SECONDS: '1',
              KMS_REIMPORT_PARAMETERS_INTERVAL_MS: '0',
            },
            timeout: 120_000,
          },
          (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    const results = await Promise.all([run(), run(), run(), run()]);
    for (const r of results) {
      // 0: this run recovered the key; 3 (nothing to do): skipped, another run had it.
      assert.equal(r.code, (JSON.parse(r.stdout) as Outcome).status === 'skipped' ? 3 : 0, r.stderr);
      assert.doesNotMatch(r.stderr, /not serialised/, 'with a table, no warning');
    }
    assert.equal(imports(), 1);
    assertOneImporter(results.map((r) => JSON.parse(r.stdout) as Outcome), key.keyId);
    assert.equal(await leasesLeft(), 0);
  });
});
