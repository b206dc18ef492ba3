// Escrow health of Multi-Region keys: the escrow secret must be replicated to every Region that
// holds a replica of the key (DescribeSecret's ReplicationStatus). Every command sent is configured.
import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import { DescribeSecretCommand, GetSecretValueCommand, ResourceNotFoundException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { checkEscrowHealth, type ResolveAlias } from '../../lib/escrow/index.js';
import { checkListedEscrowHealth } from '../../lib/escrow/health.js';
import { awsError, KEY_ARN, KEY_ID, makeReport, noSleep } from './lib-fixtures.js';

const secretsMock = mockClient(SecretsManagerClient);
const secrets = new SecretsManagerClient({ region: 'us-east-1' });
const config = { escrowTagKey: 'kms-reimport:escrow', escrowPrefix: 'kms-reimport/' };
const retry = { maxAttempts: 2, baseDelayMs: 1, sleep: noSleep };
const SECRET = `kms-reimport/${KEY_ID}`;
const noAlias: ResolveAlias = async () => {
  throw new Error('no alias is resolved in these tests');
};

const primary = (replicaRegions: string[]) =>
  makeReport({ multiRegion: true, multiRegionKeyType: 'PRIMARY', primaryRegion: 'us-east-1', replicaRegions, tags: { 'kms-reimport:managed': 'true' } });

const described = (out: Record<string, unknown>) => ({ ARN: `arn:aws:secretsmanager:us-east-1:111122223333:secret:${SECRET}-AbCdEf`, Name: SECRET, Tags: [], ...out });

beforeEach(() => {
  secretsMock.reset();
  secretsMock.on(GetSecretValueCommand).rejects(new Error('escrow health must never read a value'));
});

describe('checkEscrowHealth: Multi-Region keys', () => {
  it('ok when the escrow secret is replicated (InSync or InProgress) to every replica Region', async () => {
    secretsMock.on(DescribeSecretCommand).resolves(
      described({
        PrimaryRegion: 'us-east-1',
        ReplicationStatus: [
          { Region: 'eu-west-1', Status: 'InSync', StatusMessage: 'Replication succeeded' },
          { Region: 'ap-southeast-2', Status: 'InProgress' },
        ],
      }),
    );
    const health = await checkEscrowHealth(secrets, primary(['eu-west-1', 'ap-southeast-2']), config, retry, noAlias);
    assert.deepEqual(health, { escrow: 'ok' });
    assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 0);
    assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 1, 'one DescribeSecret gives the binding and the replication');
    for (const call of secretsMock.commandCalls(DescribeSecretCommand)) assert.deepEqual(call.args[0].input, { SecretId: SECRET });
  });

  it('unreplicated names the missing and the Failed Regions and the replicate-secret-to-regions fix', async () => {
    secretsMock.on(DescribeSecretCommand).resolves(
      described({
        PrimaryRegion: 'us-east-1',
        ReplicationStatus: [
          { Region: 'eu-west-1', Status: 'InSync' },
          { Region: 'ap-southeast-2', Status: 'Failed', StatusMessage: 'Secret with this name already exists in this region' },
        ],
      }),
    );
    const health = await checkEscrowHealth(secrets, primary(['eu-west-1', 'ap-southeast-2', 'us-west-2']), config, retry, noAlias);
    assert.equal(health.escrow, 'unreplicated');
    const reason = health.escrowReason ?? '';
    assert.match(reason, new RegExp(`Escrow secret ${SECRET} for Multi-Region key ${KEY_ID} is not replicated to ap-southeast-2, us-west-2`));
    assert.match(reason, /ap-southeast-2: replication Failed, "Secret with this name already exists in this region"/);
    assert.ok(
      reason.includes(`aws secretsmanager replicate-secret-to-regions --secret-id ${SECRET} --add-replica-regions Region=ap-southeast-2 Region=us-west-2 --region us-east-1.`),
      reason,
    );
    assert.doesNotMatch(reason, /eu-west-1/);
  });

  it('a secret never replicated: every replica Region is missing; under a customer managed key the fix asks for a key per Region', async () => {
    secretsMock.on(DescribeSecretCommand).resolves(described({ KmsKeyId: 'arn:aws:kms:us-east-1:111122223333:key/other' }));
    const health = await checkEscrowHealth(secrets, primary(['eu-west-1']), config, retry, noAlias);
    assert.equal(health.escrow, 'unreplicated');
    assert.ok(health.escrowReason?.includes('--add-replica-regions Region=eu-west-1,KmsKeyId=<a KMS key in eu-west-1> --region us-east-1'), health.escrowReason);
  });

  it('a single-Region key, a primary without replicas and a replica key whose escrow is there: one DescribeSecret, ok', async () => {
    secretsMock.on(DescribeSecretCommand).resolves(described({}));
    for (const report of [
      makeReport({ tags: { 'kms-reimport:managed': 'true' } }),
      primary([]),
      makeReport({ arn: KEY_ARN.replace('us-east-1', 'eu-west-1'), multiRegion: true, multiRegionKeyType: 'REPLICA', primaryRegion: 'us-east-1', replicaRegions: ['eu-west-1'] }),
    ]) {
      secretsMock.resetHistory();
      assert.deepEqual(await checkEscrowHealth(secrets, report, config, retry, noAlias), { escrow: 'ok' });
      assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 1);
    }
  });

  it('an earlier problem wins: a self-encrypted escrow is reported as such, replication is not checked', async () => {
    secretsMock.on(DescribeSecretCommand).resolves(described({ KmsKeyId: KEY_ARN }));
    const health = await checkEscrowHealth(secrets, primary(['eu-west-1']), config, retry, noAlias);
    assert.equal(health.escrow, 'self-encrypted');
    assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 1);
  });

  it('a replica key whose Region has no escrow secret is unreplicated, with the fix run in the primary Region', async () => {
    secretsMock.on(DescribeSecretCommand).rejects(new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: {} }));
    const report = makeReport({ arn: KEY_ARN.replace('us-east-1', 'eu-west-1'), multiRegion: true, multiRegionKeyType: 'REPLICA', primaryRegion: 'us-east-1', replicaRegions: ['eu-west-1'] });
    const health = await checkEscrowHealth(secrets, report, config, retry, noAlias);
    assert.equal(health.escrow, 'unreplicated');
    assert.match(health.escrowReason ?? '', new RegExp(`No escrow secret ${SECRET} in eu-west-1 for key ${KEY_ID}, a replica of a Multi-Region key whose primary is in us-east-1`));
    assert.ok(health.escrowReason?.includes(`--secret-id ${SECRET} --add-replica-regions Region=eu-west-1 --region us-east-1`), health.escrowReason);
  });

  it('a single-Region key whose secret is missing stays missing', async () => {
    secretsMock.on(DescribeSecretCommand).rejects(new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: {} }));
    const health = await checkEscrowHealth(secrets, makeReport({ tags: {} }), config, retry, noAlias);
    assert.equal(health.escrow, 'missing');
  });

  it('unreplicated found in the one DescribeSecret: no second call for the replication', async () => {
    secretsMock.on(DescribeSecretCommand).resolves(described({ PrimaryRegion: 'us-east-1', ReplicationStatus: [{ Region: 'eu-west-1', Status: 'Failed', StatusMessage: 'no key' }] }));
    const health = await checkEscrowHealth(secrets, primary(['eu-west-1']), config, retry, noAlias);
    assert.equal(health.escrow, 'unreplicated');
    assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 1);
  });

  it('from a ListSecrets entry (no ReplicationStatus): one DescribeSecret for the replication; when it fails the escrow is unreadable, naming the error', async () => {
    const entry = described({ PrimaryRegion: 'us-east-1' });
    const listing = { byName: new Map([[SECRET, entry]]), byArn: new Map([[entry.ARN, entry]]), pages: 1 };
    secretsMock.on(DescribeSecretCommand).resolves(described({ PrimaryRegion: 'us-east-1', ReplicationStatus: [{ Region: 'eu-west-1', Status: 'InSync' }] }));
    assert.deepEqual(await checkListedEscrowHealth(listing, secrets, primary(['eu-west-1']), config, retry, noAlias), { escrow: 'ok' });
    assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 1);
    assert.deepEqual(await checkListedEscrowHealth(listing, secrets, makeReport({ tags: { 'kms-reimport:managed': 'true' } }), config, retry, noAlias), { escrow: 'ok' });
    assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 1, 'a single-Region key from the listing: no DescribeSecret');

    secretsMock.on(DescribeSecretCommand).rejects(awsError('AccessDeniedException'));
    const health = await checkListedEscrowHealth(listing, secrets, primary(['eu-west-1']), config, retry, noAlias);
    assert.equal(health.escrow, 'unreadable');
    assert.match(health.escrowReason ?? '', /its replication could not be checked \(DescribeSecret failed with AccessDeniedException\)/);
  });
});
