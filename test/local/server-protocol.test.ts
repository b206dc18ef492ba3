// The wire protocol and scope: awsJson1_1 responses, the SigV4 credential scope, one port for
// every service (KMS, Secrets Manager, Tagging), and describeEnvironment for the CLI.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  GetParametersForImportCommand,
  KMSClient,
  TagResourceCommand as KmsTagResourceCommand,
} from '@aws-sdk/client-kms';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetResourcesCommand, ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { describeEnvironment, startLocalEndpoint, type LocalEndpoint } from '../../local/index.js';
import { parseTarget, scopeFromAuthorization } from '../../local/protocol.js';

describe('scopeFromAuthorization', () => {
  const auth = (akid: string, region: string, service = 'kms'): string =>
    `AWS4-HMAC-SHA256 Credential=${akid}/20260101/${region}/${service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc`;

  it('takes the region and signing name from the credential scope', () => {
    assert.deepEqual(scopeFromAuthorization(auth('AKIDEXAMPLE', 'eu-west-3')), { account: '000000000000', region: 'eu-west-3', signingName: 'kms' });
  });
  it('uses a 12-digit access key id as the account', () => {
    assert.equal(scopeFromAuthorization(auth('123456789012', 'us-east-1')).account, '123456789012');
    assert.equal(scopeFromAuthorization(auth('1234567890123', 'us-east-1')).account, '000000000000');
    assert.equal(scopeFromAuthorization(auth('12345678901a', 'us-east-1')).account, '000000000000');
  });
  it('defaults without a usable header', () => {
    assert.deepEqual(scopeFromAuthorization(undefined), { account: '000000000000', region: 'us-east-1' });
    assert.deepEqual(scopeFromAuthorization('Bearer x'), { account: '000000000000', region: 'us-east-1' });
    assert.equal(scopeFromAuthorization(auth('AKID', 'not/a region')).region, 'us-east-1');
    assert.equal(scopeFromAuthorization(auth('AKID', 'cn-north-1')).region, 'cn-north-1');
    assert.equal(scopeFromAuthorization(auth('AKID', 'us-gov-west-1')).region, 'us-gov-west-1');
  });
});

describe('parseTarget', () => {
  it('splits prefix and operation', () => {
    assert.deepEqual(parseTarget('TrentService.DescribeKey'), { prefix: 'TrentService', operation: 'DescribeKey' });
    assert.deepEqual(parseTarget('ResourceGroupsTaggingAPI_20170126.GetResources'), { prefix: 'ResourceGroupsTaggingAPI_20170126', operation: 'GetResources' });
    assert.equal(parseTarget('NoDot'), undefined);
    assert.equal(parseTarget('.Op'), undefined);
    assert.equal(parseTarget('Prefix.'), undefined);
    assert.equal(parseTarget(undefined), undefined);
  });
});

describe('one endpoint, every service', () => {
  let endpoint: LocalEndpoint;
  const credentials = { accessKeyId: '444455556666', secretAccessKey: 'x' };
  let kms: KMSClient;
  let sm: SecretsManagerClient;
  let tagging: ResourceGroupsTaggingAPIClient;

  before(async () => {
    endpoint = await startLocalEndpoint();
    const config = { endpoint: endpoint.url, region: 'ca-central-1', credentials, maxAttempts: 1 };
    kms = new KMSClient(config);
    sm = new SecretsManagerClient(config);
    tagging = new ResourceGroupsTaggingAPIClient(config);
  });
  after(async () => {
    kms.destroy();
    sm.destroy();
    tagging.destroy();
    await endpoint.close();
  });

  it('listens on 127.0.0.1 only, and describeEnvironment points clients at it', () => {
    assert.match(endpoint.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(endpoint.url, `http://127.0.0.1:${endpoint.port}`);
    const env = describeEnvironment(endpoint, 'eu-west-1');
    assert.equal(env.AWS_ENDPOINT_URL, endpoint.url);
    assert.equal(env.AWS_REGION, 'eu-west-1');
    assert.ok(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY);
    assert.equal(describeEnvironment(endpoint).AWS_REGION, 'us-east-1');
  });

  it('answers success as application/x-amz-json-1.1 with a request id', async () => {
    const res = await fetch(endpoint.url, {
      method: 'POST',
      headers: { 'X-Amz-Target': 'ResourceGroupsTaggingAPI_20170126.GetResources', 'Content-Type': 'application/x-amz-json-1.1' },
      body: '{}',
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-amz-json-1.1');
    assert.match(res.headers.get('x-amzn-requestid') ?? '', /^[0-9a-f-]{36}$/);
    assert.deepEqual(await res.json(), { PaginationToken: '', ResourceTagMappingList: [] });
  });

  it('lists KMS keys and secrets of the caller scope through the Tagging API', async () => {
    const key = await kms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'kms-reimport:managed', TagValue: 'true' }] }));
    const secret = await sm.send(new CreateSecretCommand({ Name: 'tagged', SecretString: 'x', Tags: [{ Key: 'kms-reimport:managed', Value: 'true' }] }));
    const all = await tagging.send(new GetResourcesCommand({ TagFilters: [{ Key: 'kms-reimport:managed', Values: ['true'] }] }));
    assert.deepEqual(all.ResourceTagMappingList?.map((m) => m.ResourceARN).sort(), [key.KeyMetadata?.Arn, secret.ARN].sort());
    const keys = await tagging.send(new GetResourcesCommand({ ResourceTypeFilters: ['kms:key'] }));
    assert.deepEqual(keys.ResourceTagMappingList?.map((m) => m.ResourceARN), [key.KeyMetadata?.Arn]);
    assert.match(key.KeyMetadata?.Arn ?? '', /^arn:aws:kms:ca-central-1:444455556666:key\//);
    await kms.send(new KmsTagResourceCommand({ KeyId: key.KeyMetadata?.KeyId, Tags: [{ TagKey: 'team', TagValue: 'payments' }] }));
    const byTeam = await tagging.send(new GetResourcesCommand({ TagFilters: [{ Key: 'team' }] }));
    assert.deepEqual(byTeam.ResourceTagMappingList?.map((m) => m.ResourceARN), [key.KeyMetadata?.Arn]);
  });

  it('Secrets Manager follows the state of the KMS key a secret names', async () => {
    const key = await kms.send(new CreateKeyCommand({}));
    const keyId = key.KeyMetadata?.KeyId as string;
    await sm.send(new CreateSecretCommand({ Name: 'under-cmk', SecretString: 'v', KmsKeyId: keyId }));
    await kms.send(new DisableKeyCommand({ KeyId: keyId }));
    await assert.rejects(sm.send(new GetSecretValueCommand({ SecretId: 'under-cmk' })), { name: 'DecryptionFailure' });
    await kms.send(new EnableKeyCommand({ KeyId: keyId }));
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'under-cmk' }))).SecretString, 'v');
    const external = await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }));
    assert.equal(external.KeyMetadata?.KeyState, 'PendingImport');
    await assert.rejects(
      sm.send(new CreateSecretCommand({ Name: 'under-external', SecretString: 'v', KmsKeyId: external.KeyMetadata?.Arn })),
      (err: Error) => err.name === 'EncryptionFailure' && /PendingImport/.test(err.message),
    );
  });
});

describe("KMS's default quotas, seen by the KMS client", () => {
  it('throttle a second GetParametersForImport within 4 seconds, per Region', async () => {
    const endpoint = await startLocalEndpoint({ quotas: 'kms-defaults' });
    const clientFor = (region: string) =>
      new KMSClient({ endpoint: endpoint.url, region, credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' }, maxAttempts: 1 });
    const east = clientFor('us-east-1');
    const west = clientFor('us-west-2');
    try {
      const keyId = (await east.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata?.KeyId;
      const input = { KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' } as const;
      // Sent together, so both are admitted well within the 4 s of one token, however slow the machine.
      const [a, b] = await Promise.allSettled([east.send(new GetParametersForImportCommand(input)), east.send(new GetParametersForImportCommand(input))]);
      const outcomes = [a, b].map((r) => r.status);
      assert.deepEqual(outcomes.sort(), ['fulfilled', 'rejected']);
      const rejected = [a, b].find((r) => r.status === 'rejected') as PromiseRejectedResult;
      const err = rejected.reason as Error & { $metadata: { httpStatusCode?: number } };
      assert.equal(err.name, 'ThrottlingException');
      assert.equal(err.$metadata.httpStatusCode, 400);
      assert.match(err.message, /Rate exceeded for kms:GetParametersForImport/);
      const westKey = (await west.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata?.KeyId;
      await west.send(new GetParametersForImportCommand({ ...input, KeyId: westKey }));
      assert.equal(endpoint.controls.getCounters()['kms:GetParametersForImport']?.throttled, 1);
    } finally {
      east.destroy();
      west.destroy();
      await endpoint.close();
    }
  });
});
