import { test, describe, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { mockClient } from 'aws-sdk-client-mock';
import { DescribeKeyCommand, KMSClient, ListKeyRotationsCommand, ListResourceTagsCommand } from '@aws-sdk/client-kms';
import { GetResourcesCommand, ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DescribeSecretCommand, GetSecretValueCommand, ListSecretsCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { captureLogs, lambdaContext } from '../support/lambda.js';
import type { Context } from 'aws-lambda';
import { DEFAULT_CONFIG } from '../../lib/config.js';

process.env.STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:111122223333:stateMachine:kms-reimport-recovery';
process.env.AWS_REGION = 'us-east-1';
process.env.POWERTOOLS_DEV = 'true';
process.env.POWERTOOLS_METRICS_DISABLED = 'false';
process.env.KMS_REIMPORT_SWEEP_START_INTERVAL_MS = '0';
const { handler, sweepWith } = await import('../../functions/sweep.js');
const { metrics } = await import('../../functions/commons/powertools.js');

const kmsMock = mockClient(KMSClient);
const taggingMock = mockClient(ResourceGroupsTaggingAPIClient);
const sfnMock = mockClient(SFNClient);
const secretsMock = mockClient(SecretsManagerClient);
const EVENTS = fileURLToPath(new URL('../../events/', import.meta.url));
const sample = (name: string): any => structuredClone(JSON.parse(readFileSync(EVENTS + name, 'utf8')));
const NOW = new Date('2025-06-01T12:00:00Z');
const DAY = 86_400_000;
const id = (n: number) => `${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`;
const arn = (keyId: string) => `arn:aws:kms:us-east-1:111122223333:key/${keyId}`;

const contextWith = (remainingMs: number): Context => lambdaContext('kms-reimport-sweep', remainingMs);


/**
 * Three managed keys: 1 expiring in 5 days, 2 PendingImport, 3 healthy; 4 listed but not tagged managed in KMS.
 * Escrow: key 2's secret does not exist, the others are fine.
 */
interface AccountKey {
  state: string;
  validInDays?: number;
  managed: boolean;
  /** Tags besides the managed tag (e.g. kms-reimport:rotate-every). */
  tags?: Record<string, string>;
  /** DescribeKey CreationDate, days before validBase. */
  createdDaysAgo?: number;
}

function serveAccount(validBase = Date.now(), extra: Record<string, AccountKey> = {}): void {
  const keys: Record<string, AccountKey> = {
    [id(1)]: { state: 'Enabled', validInDays: 5, managed: true },
    [id(2)]: { state: 'PendingImport', managed: true },
    [id(3)]: { state: 'Enabled', validInDays: 80, managed: true },
    [id(4)]: { state: 'PendingImport', managed: false },
    ...extra,
  };
  const find = (ref: string) => {
    const keyId = ref.split('/').at(-1) as string;
    const k = keys[keyId];
    assert.ok(k, `unexpected key ${ref}`);
    return { keyId, ...k };
  };
  // The Tagging API lists each key with its tags (key 4 lost its managed tag since: listed without it).
  const tagsOf = (keyId: string) => [
    ...(find(keyId).managed ? [{ Key: 'kms-reimport:managed', Value: 'true' }] : []),
    ...Object.entries(find(keyId).tags ?? {}).map(([Key, Value]) => ({ Key, Value })),
  ];
  taggingMock.on(GetResourcesCommand).resolves({ ResourceTagMappingList: Object.keys(keys).map((k) => ({ ResourceARN: arn(k), Tags: tagsOf(k) })), PaginationToken: '' });
  kmsMock.on(DescribeKeyCommand).callsFake(async ({ KeyId }: { KeyId: string }) => {
    const k = find(KeyId);
    return {
      KeyMetadata: {
        KeyId: k.keyId,
        Arn: arn(k.keyId),
        KeyState: k.state,
        Origin: 'EXTERNAL',
        KeySpec: 'SYMMETRIC_DEFAULT',
        KeyUsage: 'ENCRYPT_DECRYPT',
        // Every key held material (one that never did is not recovered from escrow).
        CurrentKeyMaterialId: 'c'.repeat(64),
        ...(k.validInDays ? { ValidTo: new Date(validBase + k.validInDays * DAY), ExpirationModel: 'KEY_MATERIAL_EXPIRES' } : {}),
        ...(k.createdDaysAgo !== undefined ? { CreationDate: new Date(validBase - k.createdDaysAgo * DAY) } : {}),
      },
    };
  });
  kmsMock.on(ListResourceTagsCommand).rejects(new Error('the sweep takes the tags from GetResources'));
  kmsMock.on(ListKeyRotationsCommand).resolves({ Rotations: [], Truncated: false });
  sfnMock.on(StartExecutionCommand).callsFake(async ({ name }: { name: string }) => ({ executionArn: `exec:${name}` }));
  // Every escrow secret but key 2's is listed under the escrow prefix.
  secretsMock.on(ListSecretsCommand).resolves({
    SecretList: Object.keys(keys)
      .filter((k) => k !== id(2))
      .map((k) => ({ Name: `kms-reimport/${k}`, ARN: `arn:aws:secretsmanager:us-east-1:111122223333:secret:kms-reimport/${k}-AbCdEf` })),
  });
  secretsMock.on(DescribeSecretCommand).callsFake(async ({ SecretId }: { SecretId: string }) => {
    if (SecretId === `kms-reimport/${id(2)}`) throw new ResourceNotFoundException({ message: 'not found', $metadata: {} });
    return { Name: SecretId, Tags: [] };
  });
  secretsMock.on(GetSecretValueCommand).rejects(new Error('the sweep must never read a secret value'));
}

beforeEach(() => {
  kmsMock.reset();
  taggingMock.reset();
  sfnMock.reset();
  secretsMock.reset();
});

describe('sweep handler', () => {
  test('schedule sample: one execution per key needing work, outages first; unmanaged keys only reported', async () => {
    serveAccount();
    const { result, logs } = await captureLogs(() => handler(sample('schedule/sweep.json'), contextWith(600_000)));
    assert.equal(result.status, 'ok');
    const names = sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name);
    assert.equal(names.length, 2);
    assert.match(names[0] ?? '', new RegExp(`^${id(2)}-recover-`));
    assert.match(names[1] ?? '', new RegExp(`^${id(1)}-renew-`));
    const inputs = sfnMock.commandCalls(StartExecutionCommand).map((c) => JSON.parse(c.args[0].input.input ?? ''));
    assert.deepEqual(inputs[0].trigger, { source: 'kms-reimport.sweep', detailType: 'Scheduled Sweep' });
    assert.equal(result.status === 'ok' && result.keys.length, 4);
    // One log line per key, each with keyId, action and executionName.
    const swept = logs.filter((l) => l.message === 'Key swept');
    assert.equal(swept.length, 4);
    for (const line of swept) {
      assert.ok(typeof line.keyId === 'string' && typeof line.action === 'string' && typeof line.executionName === 'string');
    }
    const unmanaged = swept.find((l) => l.keyId === id(4));
    assert.equal(unmanaged?.classification, 'not-managed');
    assert.equal(unmanaged?.executionName, 'none');
    assert.equal(unmanaged?.escrow, undefined, 'no escrow check for a key that is not managed');
    assert.equal(swept.find((l) => l.keyId === id(1))?.escrow, 'ok');
    // EMF metrics were flushed.
    assert.ok(logs.some((l) => typeof l._aws === 'object' && JSON.stringify(l).includes('KmsReimport')));

    // Escrow health: key 2 (PendingImport, still started above) has no escrow secret: one WARN line, one EscrowProblem.
    assert.equal(result.status === 'ok' && result.keys.find((k) => k.keyId === id(2))?.escrow, 'missing');
    const warnings = logs.filter((l) => l.message === 'Escrow problem');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.level, 'WARN');
    assert.equal(warnings[0]?.keyId, id(2));
    assert.equal(warnings[0]?.escrow, 'missing');
    assert.match(String(warnings[0]?.reason), new RegExp(`No escrow secret kms-reimport/${id(2)} for key ${id(2)}`));
    const emf = logs.find((l) => typeof l._aws === 'object' && 'EscrowProblem' in l);
    assert.equal(emf?.EscrowProblem, 1);
    // Days to the earliest ValidTo, managed keys only (1: 5 days, 3: 80 days; 2 has none, 4 is not managed).
    const earliest = Number(emf?.EarliestValidToDays);
    assert.ok(earliest > 4.9 && earliest <= 5, String(earliest));
    assert.deepEqual([emf?.KeysValidToWithin7Days, emf?.KeysValidToWithin30Days, emf?.KeysValidToWithin90Days], [1, 1, 2]);
    const metricSet = (emf?._aws as { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }> }).CloudWatchMetrics[0]!;
    assert.equal(metricSet.Namespace, 'KmsReimport', 'the namespace the template alarm and dashboard use');
    assert.deepEqual(metricSet.Dimensions, [['service']], 'the one dimension (service) the template alarm and dashboard use');
    assert.equal(emf?.service, 'kms-reimport');
    // One ListSecrets walk for every managed key; DescribeSecret only for the one it did not list (key 2's, missing).
    assert.equal(secretsMock.commandCalls(ListSecretsCommand).length, 1);
    assert.deepEqual(
      secretsMock.commandCalls(DescribeSecretCommand).map((c) => c.args[0].input.SecretId),
      [`kms-reimport/${id(2)}`],
    );
    assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 0);
  });

  test('all escrows fine: no warning, EscrowProblem 0', async () => {
    serveAccount();
    secretsMock.on(DescribeSecretCommand).callsFake(async ({ SecretId }: { SecretId: string }) => ({ Name: SecretId, Tags: [] }));
    const { logs } = await captureLogs(() => handler(sample('schedule/sweep-dry-run.json'), contextWith(600_000)));
    assert.equal(logs.filter((l) => l.message === 'Escrow problem').length, 0);
    assert.equal(logs.find((l) => typeof l._aws === 'object' && 'EscrowProblem' in l)?.EscrowProblem, 0);
  });

  test('the classic Scheduled Event starts the sweep too', async () => {
    serveAccount();
    const { result } = await captureLogs(() => handler(sample('schedule/scheduled-event.json'), contextWith(600_000)));
    assert.equal(result.status, 'ok');
    assert.equal(sfnMock.commandCalls(StartExecutionCommand).length, 2);
  });

  test('dry run reports and starts nothing', async () => {
    serveAccount();
    const { result } = await captureLogs(() => handler(sample('schedule/sweep-dry-run.json'), contextWith(600_000)));
    assert.equal(result.status === 'ok' && result.dryRun, true);
    assert.deepEqual(result.status === 'ok' && result.executions.map((e) => e.status), ['dry-run', 'dry-run']);
    assert.equal(sfnMock.commandCalls(StartExecutionCommand).length, 0);
  });

  test('invalid sweep requests are rejected and sweep nothing', async () => {
    for (const file of ['invalid/sweep-bad-dry-run.json', 'invalid/scheduled-event-wrong-source.json', 'kms/material-expiration.json']) {
      const { result } = await captureLogs(() => handler(sample(file), contextWith(600_000)));
      assert.equal(result.status, 'rejected', file);
    }
    assert.equal(taggingMock.calls().length, 0);
    assert.equal(kmsMock.calls().length, 0);
  });

  test('out of Lambda time: remaining keys are deferred, not started', async () => {
    serveAccount();
    const { result } = await captureLogs(() => handler(sample('schedule/sweep.json'), contextWith(1_000)));
    assert.deepEqual(result.status === 'ok' && result.executions.map((e) => e.status), ['deferred', 'deferred']);
    assert.equal(sfnMock.commandCalls(StartExecutionCommand).length, 0);
  });

  test('starts are paced by the configured interval', async () => {
    serveAccount(NOW.getTime());
    const slept: number[] = [];
    const sweep = sweepWith({
      tagging: new ResourceGroupsTaggingAPIClient({ region: 'us-east-1' }),
      kms: new KMSClient({ region: 'us-east-1' }),
      secrets: new SecretsManagerClient({ region: 'us-east-1' }),
      sfn: new SFNClient({ region: 'us-east-1' }),
      stateMachineArn: process.env.STATE_MACHINE_ARN as string,
      config: { ...DEFAULT_CONFIG },
      bucketMinutes: 5,
      intervalMs: 4000,
      concurrency: 2,
      scope: { region: 'us-east-1', account: '111122223333' },
      now: () => NOW,
      sleep: async (ms) => void slept.push(ms),
    });
    const { result } = await captureLogs(() => sweep(sample('schedule/sweep.json'), contextWith(600_000)));
    assert.deepEqual(result.status === 'ok' && result.executions.map((e) => [e.executionName, e.status]), [
      [`${id(2)}-recover-20250601T1200Z`, 'started'],
      [`${id(1)}-renew-20250601T1200Z`, 'started'],
    ]);
    assert.deepEqual(slept, [4000]);
  });

  test('scheduled rotation: a due key is reported `rotate` and started after the recoveries and renewals; a malformed rotate-every is a WARN and a metric', async () => {
    // Keys 1-3 (untagged) were created 10 days ago: not yet due under the default. Key 5: rotate-every=90d, never
    // rotated (ListKeyRotations shows no rotation), 100 days old. Key 6: rotate-every=soon. Key 7: untagged, 400 days old.
    serveAccount(NOW.getTime(), {
      [id(1)]: { state: 'Enabled', validInDays: 5, managed: true, createdDaysAgo: 10 },
      [id(2)]: { state: 'PendingImport', managed: true, createdDaysAgo: 10 },
      [id(3)]: { state: 'Enabled', validInDays: 80, managed: true, createdDaysAgo: 10 },
      [id(5)]: { state: 'Enabled', validInDays: 80, managed: true, tags: { 'kms-reimport:rotate-every': '90d' }, createdDaysAgo: 100 },
      [id(6)]: { state: 'Enabled', validInDays: 80, managed: true, tags: { 'kms-reimport:rotate-every': 'soon' }, createdDaysAgo: 100 },
      [id(7)]: { state: 'Enabled', validInDays: 80, managed: true, createdDaysAgo: 400 },
    });
    secretsMock.on(DescribeSecretCommand).callsFake(async ({ SecretId }: { SecretId: string }) => ({ Name: SecretId, Tags: [] }));
    const sweep = sweepWith({
      tagging: new ResourceGroupsTaggingAPIClient({ region: 'us-east-1' }),
      kms: new KMSClient({ region: 'us-east-1' }),
      secrets: new SecretsManagerClient({ region: 'us-east-1' }),
      sfn: new SFNClient({ region: 'us-east-1' }),
      stateMachineArn: process.env.STATE_MACHINE_ARN as string,
      config: { ...DEFAULT_CONFIG, rotateEveryDays: 365 },
      bucketMinutes: 5,
      intervalMs: 0,
      concurrency: 2,
      scope: { region: 'us-east-1', account: '111122223333' },
      now: () => NOW,
    });
    // sweepWith is the handler body: the middy middleware flushes metrics, here the test does.
    const { result, logs } = await captureLogs(async () => {
      metrics.publishStoredMetrics(); // what earlier tests' bare sweepWith calls left stored
      const out = await sweep(sample('schedule/sweep.json'), contextWith(600_000));
      metrics.publishStoredMetrics();
      return out;
    });
    assert.equal(result.status, 'ok');
    if (result.status !== 'ok') return;

    // The recovery, the renewal, then the rotations due (most overdue first); none for the malformed key.
    const names = sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name);
    assert.deepEqual(names, [
      `${id(2)}-recover-20250601T1200Z`,
      `${id(1)}-renew-20250601T1200Z`,
      `${id(7)}-rotate-20250601T1200Z`,
      `${id(5)}-rotate-20250601T1200Z`,
    ]);
    assert.deepEqual(result.executions.map((e) => [e.keyRef, e.action]), [
      [id(2), 'recover'],
      [id(1), 'renew'],
      [id(7), 'rotate'],
      [id(5), 'rotate'],
    ]);
    const rotateInput = JSON.parse(sfnMock.commandCalls(StartExecutionCommand)[3]!.args[0].input.input as string);
    assert.deepEqual(rotateInput, {
      keyRef: id(5),
      action: 'rotate',
      trigger: { source: 'kms-reimport.sweep', detailType: 'Scheduled Sweep' },
      executionName: `${id(5)}-rotate-20250601T1200Z`,
    });
    // Report order: outages, renewals, then rotations (most overdue first: key 7 by 35 days, key 5 by 10).
    assert.deepEqual(
      result.keys.filter((k) => k.action !== 'skip').map((k) => [k.keyId, k.action]),
      [
        [id(2), 'recover'],
        [id(1), 'renew'],
        [id(7), 'rotate'],
        [id(5), 'rotate'],
      ],
    );
    const key5 = result.keys.find((k) => k.keyId === id(5));
    assert.equal(key5?.rotation?.source, 'tag');
    assert.match(key5?.reason ?? '', /the sweep starts its rotation after the recoveries and renewals/);
    assert.equal(result.keys.find((k) => k.keyId === id(7))?.rotation?.source, 'default');
    const key6 = result.keys.find((k) => k.keyId === id(6));
    assert.equal(key6?.action, 'skip');
    assert.equal(key6?.rotation?.problemName, 'RotationScheduleInvalid');

    const swept5 = logs.find((l) => l.message === 'Key swept' && l.keyId === id(5));
    assert.equal(swept5?.action, 'rotate');
    assert.equal(swept5?.executionName, `${id(5)}-rotate-20250601T1200Z`);
    assert.equal(swept5?.start, 'started');
    assert.equal(swept5?.rotationDue, true);
    const warnings = logs.filter((l) => l.message === 'Rotation schedule problem');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.level, 'WARN');
    assert.equal(warnings[0]?.keyId, id(6));
    assert.equal(warnings[0]?.problem, 'RotationScheduleInvalid');
    assert.match(String(warnings[0]?.reason), new RegExp(`Key ${id(6)} has kms-reimport:rotate-every="soon".*such as 90d`));
    const emf = [...logs].reverse().find((l) => typeof l._aws === 'object' && 'RotationScheduleProblem' in l);
    assert.equal(emf?.RotationScheduleProblem, 1);
    assert.equal(emf?.RotationDue, 2);
    const done = logs.find((l) => l.message === 'Sweep done');
    assert.equal(done?.rotationsDue, 2);
    assert.equal(done?.rotationProblems, 1);
  });

  test('no rotation schedule: RotationScheduleProblem 0, no rotation WARN', async () => {
    serveAccount();
    const { logs } = await captureLogs(() => handler(sample('schedule/sweep-dry-run.json'), contextWith(600_000)));
    assert.equal(logs.filter((l) => l.message === 'Rotation schedule problem').length, 0);
    assert.equal(logs.find((l) => typeof l._aws === 'object' && 'RotationScheduleProblem' in l)?.RotationScheduleProblem, 0);
  });
});
