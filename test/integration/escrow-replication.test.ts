/**
 * Escrow of a Multi-Region key against the local endpoint, real SDK clients over HTTP: a primary
 * EXTERNAL key with a replica in another Region. The sweep in each Region reports the escrow
 * `unreplicated` until the escrow secret is replicated to the replica's Region, then ok.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CreateKeyCommand, KMSClient, ReplicateKeyCommand } from '@aws-sdk/client-kms';
import { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { CreateSecretCommand, GetSecretValueCommand, ReplicateSecretToRegionsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startLocalEndpoint, type LocalEndpoint } from '../../local/index.js';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { sweepManagedKeys } from '../../lib/sweep.js';
import { escrowAndImport } from '../../lib/material/onboard.js';

const PRIMARY = 'us-east-1';
const REPLICA = 'eu-west-1';
const MANAGED = { TagKey: 'kms-reimport:managed', TagValue: 'true' };
const config = { ...DEFAULT_CONFIG, maxAttempts: 1 };

let endpoint: LocalEndpoint;
const destroy: { destroy(): void }[] = [];

function clients(region: string) {
  const options = { endpoint: endpoint.url, region, credentials: { accessKeyId: '111122223333', secretAccessKey: 'x' }, maxAttempts: 1 };
  const made = { kms: new KMSClient(options), secrets: new SecretsManagerClient(options), tagging: new ResourceGroupsTaggingAPIClient(options) };
  destroy.push(made.kms, made.secrets, made.tagging);
  return made;
}

before(async () => {
  endpoint = await startLocalEndpoint({ startTime: Date.UTC(2030, 0, 1) });
});
after(async () => {
  for (const c of destroy) c.destroy();
  await endpoint.close();
});

describe('escrow health of a Multi-Region key', () => {
  test('unreplicated in both Regions until the escrow secret is replicated to the replica Region, then ok', async () => {
    const east = clients(PRIMARY);
    const west = clients(REPLICA);
    const key = (await east.kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', MultiRegion: true, Tags: [MANAGED] }))).KeyMetadata!;
    const keyId = key.KeyId!;
    await east.kms.send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: REPLICA, Tags: [MANAGED] }));
    const secretId = `${config.escrowPrefix}${keyId}`;
    const material = randomBytes(32);
    await east.secrets.send(new CreateSecretCommand({ Name: secretId, SecretBinary: material, Tags: [{ Key: 'kms-reimport:key-id', Value: keyId }] }));

    const sweep = async (region: typeof east) => {
      const result = await sweepManagedKeys(region, config, new Date(endpoint.clock.now()));
      const entry = result.report.find((e) => e.keyId === keyId);
      assert.ok(entry, `the sweep lists ${keyId}`);
      return entry;
    };

    const before = await sweep(east);
    assert.equal(before.escrow, 'unreplicated');
    assert.match(before.escrowReason ?? '', new RegExp(`is not replicated to ${REPLICA}, where the key has replicas`));
    assert.ok(before.escrowReason?.includes(`aws secretsmanager replicate-secret-to-regions --secret-id ${secretId} --add-replica-regions Region=${REPLICA} --region ${PRIMARY}`));
    const replicaBefore = await sweep(west);
    assert.equal(replicaBefore.escrow, 'unreplicated');
    assert.match(replicaBefore.escrowReason ?? '', new RegExp(`No escrow secret ${secretId} in ${REPLICA}`));

    // The fix the reason names.
    await east.secrets.send(new ReplicateSecretToRegionsCommand({ SecretId: secretId, AddReplicaRegions: [{ Region: REPLICA }] }));

    const afterFix = await sweep(east);
    assert.equal(afterFix.escrow, 'ok', afterFix.escrowReason);
    const replicaAfter = await sweep(west);
    assert.equal(replicaAfter.escrow, 'ok', replicaAfter.escrowReason);
    // What recovery in the replica Region reads: the same material, from its own Region.
    const read = await west.secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
    assert.deepEqual(Buffer.from(read.SecretBinary!), material);
    material.fill(0);
  });

  test('onboarding a Multi-Region primary escrows it replicated to the replica Region, then imports: ok in both Regions', async () => {
    const east = clients(PRIMARY);
    const west = clients(REPLICA);
    const keyId = (await east.kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', MultiRegion: true, Tags: [MANAGED] }))).KeyMetadata!.KeyId!;
    await east.kms.send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: REPLICA, Tags: [MANAGED] }));
    const material = randomBytes(32);
    const onboarded = await escrowAndImport(east, { keyId, keySpec: 'SYMMETRIC_DEFAULT', material, config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });
    assert.deepEqual(onboarded.escrowReplicas, [{ region: REPLICA, status: 'InSync', statusMessage: 'Replication succeeded' }]);
    assert.ok(onboarded.keyMaterialId);
    const read = await west.secrets.send(new GetSecretValueCommand({ SecretId: `${config.escrowPrefix}${keyId}` }));
    assert.deepEqual(Buffer.from(read.SecretBinary!), material);
    material.fill(0);
    for (const region of [east, west]) {
      const entry = (await sweepManagedKeys(region, config, new Date(endpoint.clock.now()))).report.find((e) => e.keyId === keyId);
      assert.equal(entry?.escrow, 'ok', entry?.escrowReason);
    }
  });
});
