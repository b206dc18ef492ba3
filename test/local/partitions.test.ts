// Every partition's Regions: the SigV4 scope of a Region in any partition is honoured (not
// silently replaced by us-east-1), and every ARN the endpoint makes (keys, aliases, key policies,
// secrets, tagging) carries the partition of its Region; an ARN of another partition is not found.
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  GetKeyPolicyCommand,
  KMSClient,
  ListAliasesCommand,
  ListKeysCommand,
  ReplicateKeyCommand,
} from '@aws-sdk/client-kms';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetResourcesCommand, ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { startLocalEndpoint, type LocalEndpoint } from '../../local/index.js';
import { arnFor, isRegion, partitionOf } from '../../local/partitions.js';
import { scopeFromAuthorization } from '../../local/protocol.js';

const REGIONS: [string, string][] = [
  ['us-east-1', 'aws'],
  ['ap-southeast-5', 'aws'],
  ['cn-north-1', 'aws-cn'],
  ['cn-northwest-1', 'aws-cn'],
  ['us-gov-west-1', 'aws-us-gov'],
  ['us-iso-east-1', 'aws-iso'],
  ['us-isob-east-1', 'aws-iso-b'],
  ['eu-isoe-west-1', 'aws-iso-e'],
  ['us-isof-south-1', 'aws-iso-f'],
  ['eusc-de-east-1', 'aws-eusc'],
];

test('every partition has its Regions: the Region pattern accepts them and each maps to its partition', () => {
  for (const [region, partition] of REGIONS) {
    assert.equal(isRegion(region), true, region);
    assert.equal(partitionOf(region), partition, region);
    assert.equal(arnFor('kms', region, '111122223333', 'key/k'), `arn:${partition}:kms:${region}:111122223333:key/k`);
  }
  for (const notRegion of ['', 'us', 'us-east', 'US-EAST-1', 'us_east_1', 'us-east-1a', '../etc-1', 'us-east-1-']) assert.equal(isRegion(notRegion), false, notRegion);
});

test('the SigV4 scope keeps a Region of any partition (eusc-de-east-1 no longer falls back to us-east-1)', () => {
  for (const [region] of REGIONS) {
    const scope = scopeFromAuthorization(`AWS4-HMAC-SHA256 Credential=111122223333/20310115/${region}/kms/aws4_request, SignedHeaders=host, Signature=x`);
    assert.equal(scope.region, region);
  }
  assert.equal(scopeFromAuthorization('AWS4-HMAC-SHA256 Credential=AKID/20310115/not_a_region/kms/aws4_request').region, 'us-east-1');
});

describe('over HTTP, ARNs carry the partition of the Region', () => {
  let endpoint: LocalEndpoint;
  const clients: { destroy(): void }[] = [];
  const credentials = { accessKeyId: '111122223333', secretAccessKey: 'x' };
  const client = <T extends { destroy(): void }>(c: T): T => (clients.push(c), c);
  before(async () => {
    endpoint = await startLocalEndpoint();
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await endpoint.close();
  });

  for (const [region, partition] of REGIONS) {
    it(`${region} (${partition}): keys, aliases, key policy, secrets, tagging`, async () => {
      const kms = client(new KMSClient({ endpoint: endpoint.url, region, credentials, maxAttempts: 1 }));
      const sm = client(new SecretsManagerClient({ endpoint: endpoint.url, region, credentials, maxAttempts: 1 }));
      const tagging = client(new ResourceGroupsTaggingAPIClient({ endpoint: endpoint.url, region, credentials, maxAttempts: 1 }));
      const prefix = `arn:${partition}:`;

      const key = (await kms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'team', TagValue: 'p' }] }))).KeyMetadata!;
      assert.equal(key.Arn, `${prefix}kms:${region}:111122223333:key/${key.KeyId}`);
      assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: key.Arn }))).KeyMetadata!.KeyId, key.KeyId, 'its own ARN resolves');
      const otherPartition = key.Arn!.replace(prefix, partition === 'aws' ? 'arn:aws-cn:' : 'arn:aws:');
      await assert.rejects(kms.send(new DescribeKeyCommand({ KeyId: otherPartition })), { name: 'NotFoundException' }, 'an ARN of another partition is not found');
      await assert.rejects(kms.send(new DescribeKeyCommand({ KeyId: key.Arn!.replace(prefix, 'arn:aws-mars:') })), { name: 'InvalidArnException' });
      assert.deepEqual((await kms.send(new ListKeysCommand({}))).Keys!.map((k) => k.KeyArn), [key.Arn], 'the key lives in its own Region, not in us-east-1');

      await kms.send(new CreateAliasCommand({ AliasName: 'alias/p', TargetKeyId: key.KeyId }));
      const alias = (await kms.send(new ListAliasesCommand({}))).Aliases!.find((a) => a.AliasName === 'alias/p')!;
      assert.equal(alias.AliasArn, `${prefix}kms:${region}:111122223333:alias/p`);

      const policy = JSON.parse((await kms.send(new GetKeyPolicyCommand({ KeyId: key.KeyId, PolicyName: 'default' }))).Policy!) as {
        Statement: { Principal: { AWS: string } }[];
      };
      assert.equal(policy.Statement[0]!.Principal.AWS, `${prefix}iam::111122223333:root`);

      const secret = await sm.send(new CreateSecretCommand({ Name: 'escrow/p', SecretString: 'v', Tags: [{ Key: 'team', Value: 'p' }] }));
      assert.match(secret.ARN!, new RegExp(`^arn:${partition}:secretsmanager:${region}:111122223333:secret:escrow/p-[A-Za-z0-9]{6}$`));
      assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: secret.ARN }))).SecretString, 'v');
      const partial = `${prefix}secretsmanager:${region}:111122223333:secret:escrow/p`;
      assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: partial }))).SecretString, 'v', 'the partial ARN resolves');
      const foreign = partial.replace(prefix, partition === 'aws' ? 'arn:aws-cn:' : 'arn:aws:');
      await assert.rejects(sm.send(new GetSecretValueCommand({ SecretId: foreign })), { name: 'ResourceNotFoundException' }, 'a secret ARN of another partition');

      const listed = (await tagging.send(new GetResourcesCommand({}))).ResourceTagMappingList!.map((r) => r.ResourceARN).sort();
      assert.deepEqual(listed, [key.Arn, secret.ARN].sort());
    });
  }

  it('a multi-Region key replicates within its partition only', async () => {
    const kms = client(new KMSClient({ endpoint: endpoint.url, region: 'eusc-de-east-1', credentials, maxAttempts: 1 }));
    const primary = (await kms.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!;
    await assert.rejects(kms.send(new ReplicateKeyCommand({ KeyId: primary.KeyId, ReplicaRegion: 'eu-central-1' })), { name: 'ValidationException', message: /partition/ });
    const cn = client(new KMSClient({ endpoint: endpoint.url, region: 'cn-north-1', credentials, maxAttempts: 1 }));
    const cnPrimary = (await cn.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!;
    const replica = await cn.send(new ReplicateKeyCommand({ KeyId: cnPrimary.KeyId, ReplicaRegion: 'cn-northwest-1' }));
    assert.equal(replica.ReplicaKeyMetadata!.Arn, `arn:aws-cn:kms:cn-northwest-1:111122223333:key/${cnPrimary.KeyId}`);
  });
});
