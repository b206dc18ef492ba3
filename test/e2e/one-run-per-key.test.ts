/**
 * End to end: one run per key. Many runs for ONE key at once, started every way the service can
 * be started, end in exactly one ImportKeyMaterial: the others end `skipped` with the lease's
 * reason. The harness is test/support/workflow-harness.ts (as test/e2e/workflow.test.ts uses it): the
 * project's local KMS + Secrets Manager endpoint enforcing the template's roles, the Step Functions
 * stand-in that starts a local execution per new name, the workflow from
 * statemachine/recovery.asl.json with the REAL task handlers each in its own worker under its own
 * role, and here a real DynamoDB (dynalite on 127.0.0.1) of this file behind the ASL's lease
 * tasks. The REAL trigger handler body runs in the test (triggerWith, with the test's clock so that
 * two buckets of the execution name are really used). The CLI path (recoverKey with
 * the DynamoDB lease, and real `kms-reimport recover --lease-table` processes) takes the same lease
 * in the same table.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { recoverKey } from '../../lib/reimport.js';
import { DynamoDbKeyLease } from '../../lib/lease/index.js';
import { timeBucket } from '../../lib/events/execution-name.js';
import type { Outcome } from '../../lib/types.js';
import type { OnboardedKey } from '../support/local-aws.js';
import { startDynalite } from '../support/dynalite.js';
import { ACCOUNT, REGION, STATE_MACHINE_ARN, startWorkflowHarness } from '../support/workflow-harness.js';
import { closeWorkflowDynamo, LEASE_TABLE } from '../unit/asl-run.js';

const BIN = fileURLToPath(new URL('../../bin/kms-reimport.js', import.meta.url));

// ------------------------------------------------------------------ DynamoDB for the lease, and the harness
const dynamo = await startDynalite();
await dynamo.createLeaseTable(LEASE_TABLE);
const h = await startWorkflowHarness({ dynamodb: dynamo });
const { endpoint, executions, sample } = h;
const clients = { kms: h.aws.kms, secrets: h.aws.secrets };
const config = h.aws.config;

const { triggerWith } = (await import('../../functions/trigger.js')) as typeof import('../../functions/trigger.js');
const sfn = new SFNClient({ endpoint: h.sfnUrl, region: REGION, credentials: { accessKeyId: ACCOUNT, secretAccessKey: 'e2e' } });
/** The real trigger's body, with the test's clock (the execution name's bucket follows it). */
const triggerAt = (now: Date) => triggerWith({ sfn, stateMachineArn: STATE_MACHINE_ARN, bucketMinutes: 5, scope: { region: REGION, account: ACCOUNT }, now: () => now });

/** A managed key whose material expired: PendingImport. */
async function expiredKey(): Promise<OnboardedKey> {
  const key = await h.expiredKey();
  endpoint.controls.resetCounters();
  return key;
}

async function keyState(keyId: string): Promise<string | undefined> {
  return (await clients.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState;
}

const imports = () => h.imports();

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
  sfn.destroy();
  await h.close();
  await dynamo.close();
  await closeWorkflowDynamo();
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

// ------------------------------------------------------------------ leaks (last: looks at everything above)
describe('no plaintext material anywhere', () => {
  test('the functions\' logs, state inputs and outputs, execution inputs and outcomes hold none of the materials', () => h.assertNoLeaks());
});
