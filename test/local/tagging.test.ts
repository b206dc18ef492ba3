// Resource Groups Tagging API emulation over HTTP with the real SDK v3 client, listing secrets
// (the KMS source is exercised by the KMS tests once keys exist).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CreateSecretCommand, SecretsManagerClient, TagResourceCommand } from '@aws-sdk/client-secrets-manager';
import {
  GetResourcesCommand,
  GetTagKeysCommand,
  GetTagValuesCommand,
  ResourceGroupsTaggingAPIClient,
  paginateGetResources,
  type GetResourcesCommandInput,
} from '@aws-sdk/client-resource-groups-tagging-api';
import { startLocalEndpoint, type LocalEndpoint } from '../../local/index.js';

let endpoint: LocalEndpoint;
let sm: SecretsManagerClient;
let tagging: ResourceGroupsTaggingAPIClient;
const arns: Record<string, string> = {};
const credentials = { accessKeyId: '123456789012', secretAccessKey: 'x' };

before(async () => {
  endpoint = await startLocalEndpoint();
  sm = new SecretsManagerClient({ endpoint: endpoint.url, region: 'eu-central-1', credentials, maxAttempts: 1 });
  tagging = new ResourceGroupsTaggingAPIClient({ endpoint: endpoint.url, region: 'eu-central-1', credentials, maxAttempts: 1 });
  const secrets: [string, Record<string, string>][] = [
    ['a', { team: 'payments', env: 'prod' }],
    ['b', { team: 'payments', env: 'dev' }],
    ['c', { team: 'search', env: 'prod' }],
    ['d', { env: 'staging' }],
    ['untagged', {}],
  ];
  for (const [name, tags] of secrets) {
    const created = await sm.send(
      new CreateSecretCommand({ Name: name, SecretString: 'x', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }),
    );
    arns[name] = created.ARN as string;
  }
});

after(async () => {
  sm.destroy();
  tagging.destroy();
  await endpoint.close();
});

async function arnsOf(input: GetResourcesCommandInput): Promise<string[]> {
  const out = await tagging.send(new GetResourcesCommand(input));
  return (out.ResourceTagMappingList ?? []).map((m) => m.ResourceARN as string).sort();
}

const expect = (...names: string[]): string[] => names.map((n) => arns[n] as string).sort();

describe('GetResources', () => {
  it('lists every tagged resource with its tags, and not the untagged one', async () => {
    const out = await tagging.send(new GetResourcesCommand({}));
    const mapping = out.ResourceTagMappingList ?? [];
    assert.deepEqual(mapping.map((m) => m.ResourceARN).sort(), expect('a', 'b', 'c', 'd'));
    const a = mapping.find((m) => m.ResourceARN === arns.a);
    assert.deepEqual(a?.Tags, [{ Key: 'team', Value: 'payments' }, { Key: 'env', Value: 'prod' }]);
    assert.equal(out.PaginationToken, '');
  });

  it('ANDs tag filters and ORs the values within one', async () => {
    assert.deepEqual(await arnsOf({ TagFilters: [{ Key: 'team', Values: ['payments'] }] }), expect('a', 'b'));
    assert.deepEqual(await arnsOf({ TagFilters: [{ Key: 'env', Values: ['prod', 'staging'] }] }), expect('a', 'c', 'd'));
    assert.deepEqual(await arnsOf({ TagFilters: [{ Key: 'team', Values: ['payments'] }, { Key: 'env', Values: ['prod'] }] }), expect('a'));
    assert.deepEqual(await arnsOf({ TagFilters: [{ Key: 'team' }] }), expect('a', 'b', 'c'));
    assert.deepEqual(await arnsOf({ TagFilters: [{ Key: 'nope' }] }), []);
  });

  it('filters by resource type', async () => {
    assert.deepEqual(await arnsOf({ ResourceTypeFilters: ['secretsmanager'] }), expect('a', 'b', 'c', 'd'));
    assert.deepEqual(await arnsOf({ ResourceTypeFilters: ['secretsmanager:secret'] }), expect('a', 'b', 'c', 'd'));
    assert.deepEqual(await arnsOf({ ResourceTypeFilters: ['kms'] }), []);
    assert.deepEqual(await arnsOf({ ResourceTypeFilters: ['kms:key', 'secretsmanager:secret'], TagFilters: [{ Key: 'env', Values: ['dev'] }] }), expect('b'));
    await assert.rejects(tagging.send(new GetResourcesCommand({ ResourceTypeFilters: ['not a type'] })), { name: 'InvalidParameterException' });
  });

  it('paginates with ResourcesPerPage and PaginationToken', async () => {
    const pages: string[][] = [];
    for await (const page of paginateGetResources({ client: tagging, pageSize: 3 }, {})) {
      pages.push((page.ResourceTagMappingList ?? []).map((m) => m.ResourceARN as string));
    }
    assert.deepEqual(pages.map((p) => p.length), [3, 1]);
    assert.deepEqual(pages.flat().sort(), expect('a', 'b', 'c', 'd'));
    await assert.rejects(tagging.send(new GetResourcesCommand({ PaginationToken: 'bogus' })), { name: 'InvalidParameterException' });
    // A token belongs to its query.
    const first = await tagging.send(new GetResourcesCommand({ ResourcesPerPage: 1 }));
    assert.ok(first.PaginationToken);
    await assert.rejects(tagging.send(new GetResourcesCommand({ ResourcesPerPage: 2, PaginationToken: first.PaginationToken })), {
      name: 'InvalidParameterException',
    });
    await assert.rejects(tagging.send(new GetResourcesCommand({ ResourcesPerPage: 101 })), { name: 'InvalidParameterException' });
  });

  it('sees tag changes and stays within the caller account and Region', async () => {
    await sm.send(new TagResourceCommand({ SecretId: 'untagged', Tags: [{ Key: 'team', Value: 'payments' }] }));
    assert.deepEqual(await arnsOf({ TagFilters: [{ Key: 'team', Values: ['payments'] }] }), expect('a', 'b', 'untagged'));
    const elsewhere = new ResourceGroupsTaggingAPIClient({ endpoint: endpoint.url, region: 'us-east-1', credentials, maxAttempts: 1 });
    const otherAccount = new ResourceGroupsTaggingAPIClient({
      endpoint: endpoint.url,
      region: 'eu-central-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' },
      maxAttempts: 1,
    });
    try {
      assert.deepEqual((await elsewhere.send(new GetResourcesCommand({}))).ResourceTagMappingList, []);
      assert.deepEqual((await otherAccount.send(new GetResourcesCommand({}))).ResourceTagMappingList, []);
    } finally {
      elsewhere.destroy();
      otherAccount.destroy();
    }
  });
});

describe('GetTagKeys and GetTagValues', () => {
  it('lists the distinct keys and the values of one key', async () => {
    const keys = await tagging.send(new GetTagKeysCommand({}));
    assert.deepEqual(keys.TagKeys, ['env', 'team']);
    const values = await tagging.send(new GetTagValuesCommand({ Key: 'env' }));
    assert.deepEqual(values.TagValues, ['dev', 'prod', 'staging']);
  });
});
