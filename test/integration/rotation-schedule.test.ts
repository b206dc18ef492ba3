/**
 * The rotation schedule over HTTP against the local endpoint: keys tagged
 * `kms-reimport:rotate-every`, a config default, CreationDate and ListKeyRotations' RotationDate
 * read back through the real SDK, and the sweep handler, which starts executions for outages, then
 * renewals, then due rotations (the workflow's rotation branch runs them).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import {
  CreateKeyCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  KMSClient,
  RotateKeyOnDemandCommand,
} from '@aws-sdk/client-kms';
import { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { startLocalEndpoint, type LocalEndpoint } from '../../local/index.js';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { sweepManagedKeys } from '../../lib/sweep.js';

process.env.STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:111122223333:stateMachine:kms-reimport-recovery';
process.env.AWS_REGION = 'us-east-1';
process.env.POWERTOOLS_DEV = 'true';
process.env.AWS_ACCESS_KEY_ID = '111122223333';
process.env.AWS_SECRET_ACCESS_KEY = 'x';
const { sweepWith } = await import('../../functions/sweep.js');

const DAY_S = 86_400;
const MANAGED = { TagKey: 'kms-reimport:managed', TagValue: 'true' };
const every = (value: string) => ({ TagKey: 'kms-reimport:rotate-every', TagValue: value });
const config = { ...DEFAULT_CONFIG, maxAttempts: 1, rotateEveryDays: 365 };

let endpoint: LocalEndpoint;
let kms: KMSClient;
let tagging: ResourceGroupsTaggingAPIClient;
let secrets: SecretsManagerClient;
const keys: Record<string, string> = {};
/** Endpoint clock (ms) when `due` was created and when `rotated` was rotated. */
let createdAt = 0;
let rotatedAt = 0;
/** Within a few seconds: the endpoint clock runs on between the test's reading and KMS's stamp. */
function near(iso: string | undefined, ms: number, what: string): void {
  assert.ok(iso !== undefined && Math.abs(Date.parse(iso) - ms) < 5000, `${what}: ${iso} is not ${new Date(ms).toISOString()}`);
}

async function createKey(tags: Array<{ TagKey: string; TagValue: string }>): Promise<string> {
  const out = await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', Tags: tags, Description: 'kms-reimport rotation schedule test' }));
  const keyId = out.KeyMetadata?.KeyId as string;
  await secrets.send(new CreateSecretCommand({ Name: `kms-reimport/${keyId}`, SecretBinary: randomBytes(32) }));
  return keyId;
}

async function importMaterial(keyId: string, validForDays: number, importType?: 'NEW_KEY_MATERIAL'): Promise<void> {
  const params = await kms.send(new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
  const publicKey = createPublicKey({ key: Buffer.from(params.PublicKey as Uint8Array), format: 'der', type: 'spki' });
  const material = randomBytes(32);
  const wrapped = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material);
  material.fill(0);
  await kms.send(
    new ImportKeyMaterialCommand({
      KeyId: keyId,
      ImportToken: params.ImportToken,
      EncryptedKeyMaterial: wrapped,
      ExpirationModel: 'KEY_MATERIAL_EXPIRES',
      ValidTo: new Date(Math.floor(endpoint.clock.now() / 1000) * 1000 + validForDays * DAY_S * 1000),
      ...(importType ? { ImportType: importType } : {}),
    }),
  );
}

before(async () => {
  endpoint = await startLocalEndpoint({ startTime: Date.UTC(2030, 0, 1) });
  const client = { endpoint: endpoint.url, region: 'us-east-1', credentials: { accessKeyId: '111122223333', secretAccessKey: 'x' }, maxAttempts: 1 };
  kms = new KMSClient(client);
  tagging = new ResourceGroupsTaggingAPIClient(client);
  secrets = new SecretsManagerClient(client);

  // Day 0: every key is created and given material valid for a year (the renewal key: 103 days).
  createdAt = endpoint.clock.now();
  keys.due = await createKey([MANAGED, every('90d')]);
  await importMaterial(keys.due, 365);
  keys.malformed = await createKey([MANAGED, every('soon')]);
  await importMaterial(keys.malformed, 365);
  keys.renew = await createKey([MANAGED, every('90d')]);
  await importMaterial(keys.renew, 103);
  keys.rotated = await createKey([MANAGED, every('90d')]);
  await importMaterial(keys.rotated, 365);
  keys.byDefault = await createKey([MANAGED]);
  await importMaterial(keys.byDefault, 365);

  // Day 95: `rotated` is rotated in place (new material, RotateKeyOnDemand).
  endpoint.clock.advance(95 * DAY_S);
  await importMaterial(keys.rotated, 365, 'NEW_KEY_MATERIAL');
  rotatedAt = endpoint.clock.now();
  await kms.send(new RotateKeyOnDemandCommand({ KeyId: keys.rotated }));

  // Day 100.
  endpoint.clock.advance(5 * DAY_S);
});

after(async () => {
  kms?.destroy();
  tagging?.destroy();
  secrets?.destroy();
  await endpoint?.close();
});

describe('rotation schedule against the local endpoint', () => {
  test('a 100-day-old key tagged 90d is `rotate` after the renewal; a rotated key dates from its RotationDate; the default; a malformed tag', async () => {
    const now = new Date(endpoint.clock.now());
    const { items, report } = await sweepManagedKeys({ tagging, kms, secrets }, config, now);
    assert.deepEqual(
      items.map((i) => [i.keyRef, i.action]),
      [[keys.renew, 'renew']],
      'rotations are never work items (yet)',
    );
    assert.deepEqual(
      report.filter((e) => e.action !== 'skip').map((e) => [e.keyId, e.action]),
      [
        [keys.renew, 'renew'],
        [keys.due, 'rotate'],
      ],
    );
    const entry = (k: string | undefined) => report.find((e) => e.keyId === k);
    const due = entry(keys.due)?.rotation;
    assert.equal(due?.mode, 'in-place');
    assert.equal(due?.ageFrom, 'creation');
    near(due?.lastRotatedAt, createdAt, 'CreationDate');
    near(due?.nextDueAt, createdAt + 90 * DAY_S * 1000, 'next due');
    assert.equal(due?.due, true);

    const rotated = entry(keys.rotated)?.rotation;
    assert.equal(rotated?.ageFrom, 'rotation', 'RotationDate of the CURRENT material, read back through ListKeyRotations');
    near(rotated?.lastRotatedAt, rotatedAt, 'RotationDate');
    assert.equal(rotated?.due, false);

    const byDefault = entry(keys.byDefault)?.rotation;
    assert.equal(byDefault?.source, 'default');
    assert.equal(byDefault?.every, 365);
    assert.equal(byDefault?.due, false);

    assert.equal(entry(keys.malformed)?.action, 'skip');
    assert.equal(entry(keys.malformed)?.rotation?.problemName, 'RotationScheduleInvalid');
    assert.equal(entry(keys.renew)?.rotation?.due, true, 'due too, but renewed first; rotated by a later sweep');

    const counters = endpoint.controls.getCounters();
    assert.equal(counters['secretsmanager:GetSecretValue']?.calls ?? 0, 0, 'the sweep never reads escrow values');
  });

  test('the sweep handler starts the renewal, then the due rotation, and WARNs about the malformed tag', async () => {
    endpoint.controls.resetCounters();
    const started: string[] = [];
    const sfn = {
      send: async (command: unknown) => {
        assert.ok(command instanceof StartExecutionCommand);
        started.push(command.input.name as string);
        return { executionArn: `arn:aws:states:us-east-1:111122223333:execution:kms-reimport-recovery:${command.input.name}` };
      },
    };
    const sweep = sweepWith({
      tagging,
      kms,
      secrets,
      sfn: sfn as never,
      stateMachineArn: process.env.STATE_MACHINE_ARN as string,
      config,
      bucketMinutes: 5,
      intervalMs: 0,
      concurrency: 4,
      scope: { region: 'us-east-1', account: '111122223333' },
      now: () => new Date(endpoint.clock.now()),
    });
    const lines: string[] = [];
    const saved = { info: console.info, warn: console.warn, error: console.error };
    console.info = console.warn = console.error = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
    let result;
    try {
      result = await sweep({ source: 'kms-reimport.schedule', action: 'sweep' });
    } finally {
      Object.assign(console, saved);
    }
    assert.equal(result.status, 'ok');
    // Outages and renewals first, then the due rotation (the workflow runs it); the malformed key: nothing.
    assert.equal(started.length, 2);
    assert.match(started[0] ?? '', new RegExp(`^${keys.renew}-renew-`));
    assert.match(started[1] ?? '', new RegExp(`^${keys.due}-rotate-`));
    assert.ok(!started.some((name) => name.startsWith(keys.malformed as string)), 'a malformed rotate-every starts nothing');
    const logs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const warnings = logs.filter((l) => l.message === 'Rotation schedule problem');
    assert.deepEqual(warnings.map((w) => [w.level, w.keyId, w.problem]), [['WARN', keys.malformed, 'RotationScheduleInvalid']]);
    assert.equal(logs.find((l) => l.message === 'Key swept' && l.keyId === keys.due)?.action, 'rotate');
    assert.equal(endpoint.controls.getCounters()['kms:RotateKeyOnDemand']?.calls ?? 0, 0, 'the sweep itself rotates nothing: it starts executions');
  });
});
