// The decisions of a Multi-Region rotation (lib/rotation/multi-region.ts): which Regions take part,
// which keys are not rotated themselves, and escrow readable (InSync) in every replica Region before
// anything is imported. Every command sent is configured.
import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import { DescribeSecretCommand, GetSecretValueCommand, ReplicateSecretToRegionsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DescribeKeyCommand, KMSClient, ListKeyRotationsCommand, ListResourceTagsCommand } from '@aws-sdk/client-kms';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { EscrowNotReplicated, KeyNotManaged } from '../../lib/errors.js';
import { checkEscrowReplicated, checkReplicasManaged, multiRegionRefusal, replicaRegionsOf } from '../../lib/rotation/multi-region.js';
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
  secretsMock.on(ReplicateSecretToRegionsCommand).rejects(new Error('this test expects no replication'));
});

describe('which Regions take part', () => {
  it('a primary: its replica Regions (sorted, deduplicated, never its own); a replica, a single-Region key: none', () => {
    assert.deepEqual(replicaRegionsOf(primary(['eu-west-1', 'ap-southeast-2', 'eu-west-1', 'us-east-1'])), ['ap-southeast-2', 'eu-west-1']);
    assert.deepEqual(replicaRegionsOf(makeReport({ multiRegion: true, multiRegionKeyType: 'REPLICA', replicaRegions: ['eu-west-1'] })), []);
    assert.deepEqual(replicaRegionsOf(makeReport()), []);
  });
  it('a replica key is not rotated itself: rotate its primary, in its Region', () => {
    const replica = makeReport({ arn: KEY_ARN.replace('us-east-1', 'eu-west-1'), multiRegion: true, multiRegionKeyType: 'REPLICA', primaryRegion: 'us-east-1' });
    const refusal = multiRegionRefusal(replica) ?? '';
    assert.match(refusal, new RegExp(`Key ${KEY_ID} in eu-west-1 is a replica of a Multi-Region key: rotate its primary us-east-1`));
    assert.ok(refusal.includes(`rotate the primary ${KEY_ARN}`), refusal);
    assert.ok(refusal.includes(`kms-reimport rotate ${KEY_ID} --region us-east-1)`), refusal);
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
      KmsKeyId: 'arn:aws:kms:us-east-1:111122223333:key/escrow',
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
    assert.match(error.message, /encrypted under a customer managed key \(arn:aws:kms:us-east-1:111122223333:key\/escrow\), so kms-reimport does not replicate it itself/);
    assert.equal(secretsMock.commandCalls(ReplicateSecretToRegionsCommand).length, 0);
    assert.ok(
      error.message.includes(
        `aws secretsmanager replicate-secret-to-regions --secret-id ${SECRET} --add-replica-regions Region=ap-southeast-2 Region=ca-central-1 Region=eu-west-1 --region us-east-1`,
      ),
      error.message,
    );
  });
  it('a Region the secret is not replicated to (default key): ReplicateSecretToRegions for exactly the absent Regions, then InSync → passes', async () => {
    secretsMock
      .on(DescribeSecretCommand, { SecretId: SECRET })
      .resolvesOnce({ Name: SECRET, ReplicationStatus: [status('ap-southeast-2', 'InSync')] })
      .resolves({ Name: SECRET, ReplicationStatus: [status('ap-southeast-2', 'InSync'), status('eu-west-1', 'InSync')] });
    secretsMock.on(ReplicateSecretToRegionsCommand).resolves({ ReplicationStatus: [status('eu-west-1', 'InSync')] });
    const logged: unknown[] = [];
    await checkEscrowReplicated(secrets, primary(['eu-west-1', 'ap-southeast-2']), DEFAULT_CONFIG, retry, { info: (m, extra) => logged.push([m, extra]) });
    const calls = secretsMock.commandCalls(ReplicateSecretToRegionsCommand);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]!.args[0].input, { SecretId: SECRET, AddReplicaRegions: [{ Region: 'eu-west-1' }], ForceOverwriteReplicaSecret: false });
    assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 2);
    assert.equal(logged.length, 1);
  });
  it('replication started but InProgress: EscrowNotReplicated saying this run started it and to run again; refused replication: named with its error', async () => {
    secretsMock
      .on(DescribeSecretCommand, { SecretId: SECRET })
      .resolvesOnce({ Name: SECRET })
      .resolves({ Name: SECRET, ReplicationStatus: [status('eu-west-1', 'InProgress')] });
    secretsMock.on(ReplicateSecretToRegionsCommand).resolves({});
    await assert.rejects(checkEscrowReplicated(secrets, primary(['eu-west-1']), DEFAULT_CONFIG, retry), {
      name: 'EscrowNotReplicated',
      message: /eu-west-1: replication InProgress .*This run started its replication to eu-west-1 \(ReplicateSecretToRegions\); run the rotation again once it is InSync/,
    });

    secretsMock.reset();
    secretsMock.on(DescribeSecretCommand, { SecretId: SECRET }).resolves({ Name: SECRET });
    secretsMock.on(ReplicateSecretToRegionsCommand).rejects(Object.assign(new Error('not allowed'), { name: 'AccessDeniedException', $fault: 'client' }));
    await assert.rejects(checkEscrowReplicated(secrets, primary(['eu-west-1']), DEFAULT_CONFIG, retry), {
      name: 'EscrowNotReplicated',
      message: /not readable in eu-west-1, .*eu-west-1: not replicated.*This run tried to replicate it and Secrets Manager refused \(AccessDeniedException/,
    });
  });
});

describe('checkEscrowReplicated: readable in every replica Region, not only InSync', () => {
  const regional = new Map<string, SecretsManagerClient>();
  const secretsFor = (region: string): SecretsManagerClient => {
    let client = regional.get(region);
    if (!client) regional.set(region, (client = new SecretsManagerClient({ region })));
    return client;
  };
  /** GetSecretValue answered per Region of the client that sent it (the mock is class-wide). */
  const serveReads = (answer: (region: string) => object) => {
    const reads: string[] = [];
    secretsMock.on(GetSecretValueCommand, { SecretId: SECRET }).callsFake(async (_input, getClient) => {
      const region = await (getClient().config.region as () => Promise<string>)();
      reads.push(region);
      const out = answer(region);
      if (out instanceof Error) throw out;
      return out;
    });
    return reads;
  };
  it('one GetSecretValue per replica Region, the material read wiped; a Region whose copy this role cannot decrypt is EscrowNotReplicated naming it and the fix', async () => {
    secretsMock.on(DescribeSecretCommand, { SecretId: SECRET }).resolves({ PrimaryRegion: 'us-east-1', KmsKeyId: 'arn:aws:kms:us-east-1:111122223333:key/mrk-escrow', ReplicationStatus: [status('eu-west-1', 'InSync'), status('ap-southeast-2', 'InSync')] });
    const served: Uint8Array[] = [];
    const readable = (region: string) => {
      const binary = new Uint8Array(32).fill(7);
      served.push(binary);
      return region === 'eu-west-1'
        ? Object.assign(new Error('Access to KMS is not allowed'), { name: 'AccessDeniedException', $fault: 'client', $metadata: {} })
        : { Name: SECRET, SecretBinary: binary };
    };
    const reads = serveReads(readable);
    const error = await checkEscrowReplicated(secrets, primary(['eu-west-1', 'ap-southeast-2']), DEFAULT_CONFIG, retry, undefined, secretsFor).then(
      () => assert.fail('should refuse'),
      (e: unknown) => e as EscrowNotReplicated,
    );
    assert.ok(error instanceof EscrowNotReplicated, String(error));
    assert.match(error.message, /is replicated \(InSync\) but this role cannot read it in eu-west-1 \(eu-west-1: AccessDeniedException\)/);
    assert.match(error.message, /Nothing was imported into KMS/);
    assert.match(error.message, /EscrowKmsKeyArn .* EscrowReplicaKmsKeyArns/);
    assert.deepEqual(reads, ['ap-southeast-2', 'eu-west-1'], 'one read in each replica Region, none in the primary\'s');
    assert.ok(served.filter((_, i) => reads[i] === 'ap-southeast-2').every((b) => b.every((x) => x === 0)), 'what was read is wiped');

    // Both readable: passes, one read per Region.
    secretsMock.reset();
    secretsMock.on(DescribeSecretCommand, { SecretId: SECRET }).resolves({ PrimaryRegion: 'us-east-1', ReplicationStatus: [status('eu-west-1', 'InSync'), status('ap-southeast-2', 'InSync')] });
    const again = serveReads(() => ({ Name: SECRET, SecretBinary: new Uint8Array(32).fill(7) }));
    await checkEscrowReplicated(secrets, primary(['eu-west-1', 'ap-southeast-2']), DEFAULT_CONFIG, retry, undefined, secretsFor);
    assert.deepEqual(again, ['ap-southeast-2', 'eu-west-1']);
  });
});

describe('checkReplicasManaged', () => {
  const kmsMock = mockClient(KMSClient);
  const kms = new KMSClient({ region: 'eu-west-1' });
  const replicaArn = KEY_ARN.replace('us-east-1', 'eu-west-1');
  const serveReplica = (tags: Record<string, string>) => {
    kmsMock.reset();
    kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { KeyId: KEY_ID, Arn: replicaArn, KeyState: 'Enabled', Origin: 'EXTERNAL', KeySpec: 'SYMMETRIC_DEFAULT', MultiRegion: true } });
    kmsMock.on(ListResourceTagsCommand).resolves({ Tags: Object.entries(tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })) });
    kmsMock.on(ListKeyRotationsCommand).resolves({ Rotations: [] });
  };
  const report = makeReport({ multiRegion: true, multiRegionKeyType: 'PRIMARY', primaryRegion: 'us-east-1', replicaRegions: ['eu-west-1'] });

  it('a managed replica passes (read in its own Region); one without the managed tag, or unreadable under the tag-scoped role, is KeyNotManaged with the tag-resource command', async () => {
    const regions: string[] = [];
    const kmsFor = (region: string) => (regions.push(region), kms);
    serveReplica({ [DEFAULT_CONFIG.managedTagKey]: DEFAULT_CONFIG.managedTagValue });
    await checkReplicasManaged(kmsFor, report, DEFAULT_CONFIG, retry);
    assert.deepEqual(regions, ['eu-west-1']);

    serveReplica({});
    const untagged = await checkReplicasManaged(kmsFor, report, DEFAULT_CONFIG, retry).then(() => assert.fail('refuses'), (e: unknown) => e as KeyNotManaged);
    assert.ok(untagged instanceof KeyNotManaged);
    assert.ok(untagged.message.includes(`Replica ${replicaArn} in eu-west-1 of Multi-Region key ${KEY_ID} lacks the managed tag`), untagged.message);
    assert.ok(untagged.message.includes(`aws kms tag-resource --key-id ${replicaArn} --tags TagKey=${DEFAULT_CONFIG.managedTagKey},TagValue=${DEFAULT_CONFIG.managedTagValue} --region eu-west-1`));

    kmsMock.reset();
    kmsMock.on(DescribeKeyCommand).rejects(Object.assign(new Error(`User: x is not authorized to perform: kms:DescribeKey on resource: ${replicaArn}`), { name: 'AccessDeniedException', $fault: 'client' }));
    await assert.rejects(checkReplicasManaged(kmsFor, report, DEFAULT_CONFIG, retry), { name: 'KeyNotManaged', message: /cannot be read by this role \(AccessDeniedException\): under IAM conditioned on the managed tag that means it lacks/ });
  });
});
