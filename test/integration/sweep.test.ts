/**
 * The sweep over HTTP against the local endpoint: real SDK clients, real keys with imported
 * material (wrapped here with node:crypto, independently of lib/), expiry by the endpoint clock,
 * deletion, unmanaged and non-EXTERNAL keys, and more keys than one Tagging API page; escrow
 * health from the local Secrets Manager (DescribeSecret only).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import {
  CreateKeyCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  KMSClient,
} from '@aws-sdk/client-kms';
import { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { CreateSecretCommand, DeleteSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { startLocalEndpoint, type LocalEndpoint } from '../../local/index.js';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { sweepManagedKeys } from '../../lib/sweep.js';

process.env.STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:111122223333:stateMachine:kms-reimport-recovery';
process.env.AWS_REGION = 'us-east-1';
// The logger prints through the global console (captured below without touching the runner's stdout).
process.env.POWERTOOLS_DEV = 'true';
process.env.AWS_ACCESS_KEY_ID = '111122223333';
process.env.AWS_SECRET_ACCESS_KEY = 'x';
const { sweepWith } = await import('../../functions/sweep.js');

const DAY_S = 86_400;
const MANAGED = { TagKey: 'kms-reimport:managed', TagValue: 'true' };
const config = { ...DEFAULT_CONFIG, maxAttempts: 1 };

let endpoint: LocalEndpoint;
let kms: KMSClient;
let tagging: ResourceGroupsTaggingAPIClient;
let secrets: SecretsManagerClient;
const keys: Record<string, string> = {};

async function createKey(tags: Array<{ TagKey: string; TagValue: string }>, origin: 'EXTERNAL' | 'AWS_KMS' = 'EXTERNAL'): Promise<string> {
  const out = await kms.send(new CreateKeyCommand({ Origin: origin, Tags: tags, Description: 'kms-reimport sweep test' }));
  return out.KeyMetadata?.KeyId as string;
}

async function importMaterial(keyId: string, validForSeconds: number): Promise<void> {
  const params = await kms.send(
    new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }),
  );
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
      ValidTo: new Date(Math.floor(endpoint.clock.now() / 1000) * 1000 + validForSeconds * 1000),
    }),
  );
}

async function keyState(keyId: string): Promise<string | undefined> {
  return (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState;
}

before(async () => {
  endpoint = await startLocalEndpoint({ startTime: Date.UTC(2030, 0, 1) });
  const client = { endpoint: endpoint.url, region: 'us-east-1', credentials: { accessKeyId: '111122223333', secretAccessKey: 'x' }, maxAttempts: 1 };
  kms = new KMSClient(client);
  tagging = new ResourceGroupsTaggingAPIClient(client);
  secrets = new SecretsManagerClient(client);

  keys.healthy = await createKey([MANAGED]);
  await importMaterial(keys.healthy, 60 * DAY_S);
  keys.expiresLater = await createKey([MANAGED]);
  await importMaterial(keys.expiresLater, 10 * DAY_S);
  keys.expiresSooner = await createKey([MANAGED]);
  await importMaterial(keys.expiresSooner, 3 * DAY_S);
  keys.neverImported = await createKey([MANAGED]);
  keys.deleted = await createKey([MANAGED]);
  await importMaterial(keys.deleted, 60 * DAY_S);
  await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keys.deleted }));
  keys.expired = await createKey([MANAGED]);
  await importMaterial(keys.expired, DAY_S);
  keys.untagged = await createKey([{ TagKey: 'team', TagValue: 'payments' }]);
  keys.optedOut = await createKey([{ TagKey: 'kms-reimport:managed', TagValue: 'false' }]);
  keys.notExternal = await createKey([MANAGED], 'AWS_KMS');
  // More managed keys than one GetResources page (100): AWS_KMS keys, reported and skipped.
  for (let i = 0; i < 100; i++) await createKey([MANAGED], 'AWS_KMS');

  // Escrow: healthy has its secret (the value is never read by the sweep); expiresLater's is
  // scheduled for deletion; expiresSooner's is encrypted under the key itself; the rest have none.
  const escrow = (keyId: string, extra: Record<string, unknown> = {}) =>
    secrets.send(new CreateSecretCommand({ Name: `kms-reimport/${keyId}`, SecretBinary: randomBytes(32), ...extra }));
  await escrow(keys.healthy);
  await escrow(keys.expiresLater);
  await secrets.send(new DeleteSecretCommand({ SecretId: `kms-reimport/${keys.expiresLater}`, RecoveryWindowInDays: 7 }));
  await escrow(keys.expiresSooner, { KmsKeyId: keys.expiresSooner });

  // A day and an hour later: `expired` has run out; the others are a day closer to their ValidTo.
  endpoint.clock.advance(DAY_S + 3600);
  endpoint.controls.resetCounters();
});

after(async () => {
  kms?.destroy();
  tagging?.destroy();
  secrets?.destroy();
  await endpoint?.close();
});

describe('sweep against the local endpoint', () => {
  test('the endpoint state is what the sweep will see', async () => {
    assert.equal(await keyState(keys.expired as string), 'PendingImport');
    assert.equal(await keyState(keys.deleted as string), 'PendingImport');
    assert.equal(await keyState(keys.neverImported as string), 'PendingImport');
    assert.equal(await keyState(keys.untagged as string), 'PendingImport');
    assert.equal(await keyState(keys.healthy as string), 'Enabled');
    endpoint.controls.resetCounters();
  });

  test('outages first, then soonest expiry; unmanaged keys never in the work', async () => {
    const { items, report } = await sweepManagedKeys({ tagging, kms, secrets }, config, new Date(endpoint.clock.now()), { concurrency: 4 });

    // A key that never held material is no outage: recovery never gives a key its first material.
    const outages = [keys.deleted, keys.expired].sort();
    assert.deepEqual(
      items.map((i) => [i.keyRef, i.action]),
      [...outages.map((k) => [k, 'recover']), [keys.expiresSooner, 'renew'], [keys.expiresLater, 'renew']],
    );
    assert.equal(report.find((e) => e.keyId === keys.neverImported)?.classification, 'never-imported');
    assert.equal(report.find((e) => e.keyId === keys.neverImported)?.action, 'skip');
    const listed = new Set(report.map((e) => e.keyId));
    assert.equal(listed.has(keys.untagged as string), false, 'a key without the tag is not even listed');
    assert.equal(listed.has(keys.optedOut as string), false, 'a key tagged false is not listed');
    assert.equal(report.length, 6 + 1 + 100);
    assert.equal(report.find((e) => e.keyId === keys.healthy)?.classification, 'healthy');
    assert.equal(report.find((e) => e.keyId === keys.notExternal)?.classification, 'not-external');
    assert.equal(report.filter((e) => e.action === 'error').length, 0);

    // Escrow health, for the EXTERNAL keys only.
    const escrowOf = (k: string | undefined) => report.find((e) => e.keyId === k)?.escrow;
    assert.equal(escrowOf(keys.healthy), 'ok');
    assert.equal(escrowOf(keys.expiresLater), 'missing');
    assert.equal(escrowOf(keys.expiresSooner), 'self-encrypted');
    for (const k of [keys.neverImported, keys.deleted, keys.expired]) assert.equal(escrowOf(k), 'missing');
    assert.equal(escrowOf(keys.notExternal), undefined);
    assert.equal(report.filter((e) => e.escrow !== undefined).length, 6);

    // One paginated GetResources (two pages for 107 keys), no ListKeys, one DescribeKey per listed key,
    // its tags never read again; the materials of the 3 PendingImport and 2 expiring keys only.
    const counters = endpoint.controls.getCounters();
    assert.equal(counters['tagging:GetResources']?.calls, 2);
    assert.equal(counters['kms:ListKeys']?.calls ?? 0, 0);
    assert.equal(counters['kms:DescribeKey']?.calls, 107);
    assert.equal(counters['kms:ListResourceTags']?.calls ?? 0, 0);
    assert.equal(counters['kms:ListKeyRotations']?.calls, 5);
    // Escrow: one ListSecrets page under the prefix; DescribeSecret for the 3 secrets it did not list (none exist).
    assert.equal(counters['secretsmanager:ListSecrets']?.calls, 1);
    assert.equal(counters['secretsmanager:DescribeSecret']?.calls, 3);
    assert.equal(counters['secretsmanager:GetSecretValue']?.calls ?? 0, 0);
    // Read-only: nothing was imported or deleted.
    assert.equal(counters['kms:ImportKeyMaterial']?.calls ?? 0, 0);
    assert.equal(counters['kms:GetParametersForImport']?.calls ?? 0, 0);
  });

  test('the sweep handler starts one execution per key in that order', async () => {
    const started: Array<{ name?: string; input?: string }> = [];
    const sfn = {
      send: async (command: unknown) => {
        assert.ok(command instanceof StartExecutionCommand);
        started.push(command.input);
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
      concurrency: 8,
      scope: { region: 'us-east-1', account: '111122223333' },
      now: () => new Date(endpoint.clock.now()),
    });
    const lines: string[] = [];
    const info = console.info;
    const error = console.error;
    const warn = console.warn;
    console.info = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
    console.error = console.info;
    console.warn = console.info;
    let result;
    try {
      result = await sweep({ source: 'kms-reimport.schedule', action: 'sweep' });
    } finally {
      console.info = info;
      console.error = error;
      console.warn = warn;
    }
    assert.equal(result.status, 'ok');
    assert.equal(started.length, 4);
    const bucket = '20300102T0100Z';
    assert.equal(started[2]?.name, `${keys.expiresSooner}-renew-${bucket}`);
    assert.equal(started[3]?.name, `${keys.expiresLater}-renew-${bucket}`);
    for (const s of started.slice(0, 2)) assert.match(s.name ?? '', new RegExp(`-recover-${bucket}$`));
    assert.deepEqual(JSON.parse(started[0]?.input ?? '').trigger, { source: 'kms-reimport.sweep', detailType: 'Scheduled Sweep' });
    const done = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.message === 'Sweep done');
    assert.equal(done?.started, 4);
    assert.equal(done?.keys, 107);
    assert.equal(done?.escrowProblems, 5);
    const warned = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.message === 'Escrow problem');
    assert.equal(warned.length, 5);
    assert.ok(!warned.some((l) => l.keyId === keys.healthy));
  });
});
