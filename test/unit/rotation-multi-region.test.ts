// The decisions of a Multi-Region rotation (lib/rotation/multi-region.ts): which Regions take part,
// which keys are not rotated themselves, and escrow readable (InSync) in every replica Region before
// anything is imported. Every command sent is configured.
import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import { DescribeSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { EscrowNotReplicated } from '../../lib/errors.js';
import { checkEscrowReplicated, multiRegionRefusal, replicaRegionsOf } from '../../lib/rotation/multi-region.js';
import { KEY_ARN, KEY_ID, makeReport, noSleep } from './lib-fixtures.js';

const secretsMock = mockClient(SecretsManagerClient);
const secrets = new SecretsManagerClient({ region: 'us-east-1' });
const retry = { maxAttempts: 1, baseDelayMs: 1, sleep: noSleep };
const SECRET = `${DEFAULT_CONFIG.escrowPrefix}${KEY_ID}`;
const primary = (replicaRegions: string[]) => makeReport({ multiRegion: true, multiRegionKeyType: 'PRIMARY', primaryRegion: 'us-east-1', replicaRegions });
const status = (Region: string, Status: 'InSync' | 'InProgress' | 'Failed', StatusMessage?: string) => ({ Region, Status, ...(StatusMessage ? { StatusMessage } : {}) });

beforeEach(() => {
  secretsMock.reset();
  secretsMock.on(GetSecretValueCommand).rejects(new Error('the replication check never reads a value'));
});

describe('which Regions take part', () => {
  it('a primary: its replica Regions (sorted, deduplicated, never its own); a replica, a single-Region key: none', () => {
    assert.deepEqual(replicaRegionsOf(primary(['eu-west-1', 'ap-southeast-2', 'eu-west-1', 'us-east-1'])), ['ap-southeast-2', 'eu-west-1']);
    assert.deepEqual(replicaRegionsOf(makeReport({ multiRegion: true, multiRegionKeyType: 'REPLICA', replicaRegions: ['eu-west-1'] })), []);
    assert.deepEqual(replicaRegionsOf(makeReport()), []);
  });
  it('a replica key is not rotated itself: rotate its primary, in its Region', () => {
    const replica = makeReport({ arn: KEY_ARN.replace('us-east-1', 'eu-west-1'), multiRegion: true, multiRegionKeyType: 'REPLICA', primaryRegion: 'us-east-1' });
    assert.match(multiRegionRefusal(replica) ?? '', new RegExp(`Key ${KEY_ID} in eu-west-1 is a replica of a Multi-Region key: rotate its primary us-east-1 \\(kms-reimport rotate ${KEY_ID} --region us-east-1\\)`));
    assert.equal(multiRegionRefusal(primary(['eu-west-1'])), undefined);
    assert.equal(multiRegionRefusal(makeReport()), undefined);
  });
});

describe('checkEscrowReplicated', () => {
  it('passes when every replica Region is InSync (one DescribeSecret); a single-Region key or a primary without replicas sends nothing', async () => {
    secretsMock.on(DescribeSecretCommand, { SecretId: SECRET }).resolves({ PrimaryRegion: 'us-east-1', ReplicationStatus: [status('eu-west-1', 'InSync'), status('ap-southeast-2', 'InSync')] });
    await checkEscrowReplicated(secrets, primary(['eu-west-1', 'ap-southeast-2']), DEFAULT_CONFIG, retry);
    assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 1);
    await checkEscrowReplicated(secrets, makeReport(), DEFAULT_CONFIG, retry);
    await checkEscrowReplicated(secrets, primary([]), DEFAULT_CONFIG, retry);
    assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 1);
  });
  it('refuses, naming each missing Region and why (absent, InProgress, Failed) and the command that fixes it', async () => {
    secretsMock.on(DescribeSecretCommand, { SecretId: SECRET }).resolves({
      PrimaryRegion: 'us-east-1',
      ReplicationStatus: [status('eu-west-1', 'InProgress'), status('ap-southeast-2', 'Failed', 'Access denied'), status('us-west-2', 'InSync')],
    });
    const error = await checkEscrowReplicated(secrets, primary(['eu-west-1', 'ap-southeast-2', 'us-west-2', 'ca-central-1']), DEFAULT_CONFIG, retry).then(
      () => assert.fail('should refuse'),
      (e: unknown) => e as EscrowNotReplicated,
    );
    assert.ok(error instanceof EscrowNotReplicated);
    assert.equal(error.keyId, KEY_ID);
    assert.match(error.message, /is not readable in ap-southeast-2, ca-central-1, eu-west-1,/);
    assert.match(error.message, /ap-southeast-2: replication Failed \(Access denied\); ca-central-1: not replicated; eu-west-1: replication InProgress \(not readable yet\)/);
    assert.match(error.message, /Nothing was imported into KMS/);
    assert.ok(
      error.message.includes(
        `aws secretsmanager replicate-secret-to-regions --secret-id ${SECRET} --add-replica-regions Region=ap-southeast-2 Region=ca-central-1 Region=eu-west-1 --region us-east-1`,
      ),
      error.message,
    );
  });
  it('a secret that is not replicated at all (no ReplicationStatus): every replica Region is missing', async () => {
    secretsMock.on(DescribeSecretCommand, { SecretId: SECRET }).resolves({ Name: SECRET });
    await assert.rejects(checkEscrowReplicated(secrets, primary(['eu-west-1']), DEFAULT_CONFIG, retry), { name: 'EscrowNotReplicated', message: /not readable in eu-west-1,/ });
  });
});
