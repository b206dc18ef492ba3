import { test, describe, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DescribeKeyCommand,
  KMSClient,
  ListKeyRotationsCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  NotFoundException,
} from '@aws-sdk/client-kms';
import {
  GetResourcesCommand,
  ResourceGroupsTaggingAPIClient,
  ThrottledException,
} from '@aws-sdk/client-resource-groups-tagging-api';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { mapBounded, sweepManagedKeys } from '../../lib/sweep.js';

const kmsMock = mockClient(KMSClient);
const taggingMock = mockClient(ResourceGroupsTaggingAPIClient);
const kms = new KMSClient({ region: 'us-east-1' });
const tagging = new ResourceGroupsTaggingAPIClient({ region: 'us-east-1' });
const config = { ...DEFAULT_CONFIG };
const NOW = new Date('2025-06-01T12:00:00Z');
const DAY = 86_400_000;
const noWait = { maxAttempts: 3, baseDelayMs: 1, sleep: async () => {} };

interface FakeKey {
  id: string;
  state: 'Enabled' | 'PendingImport' | 'Disabled' | 'PendingDeletion';
  origin?: string;
  validInDays?: number;
  tags: Record<string, string>;
  missing?: string[];
}

const id = (n: number) => `${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`;
const arn = (keyId: string) => `arn:aws:kms:us-east-1:111122223333:key/${keyId}`;
const MANAGED = { 'kms-reimport:managed': 'true' };

/** Configures DescribeKey / ListResourceTags / ListKeyRotations for a set of keys. */
function serveKeys(keys: FakeKey[]): void {
  const byRef = new Map<string, FakeKey>();
  for (const k of keys) {
    byRef.set(k.id, k);
    byRef.set(arn(k.id), k);
  }
  const find = (ref: string) => {
    const k = byRef.get(ref);
    if (!k) throw new NotFoundException({ message: `Key '${ref}' does not exist`, $metadata: {} });
    return k;
  };
  kmsMock.on(DescribeKeyCommand).callsFake(async (input: { KeyId: string }) => {
    const k = find(input.KeyId);
    const validTo = k.validInDays === undefined ? undefined : new Date(NOW.getTime() + k.validInDays * DAY);
    return {
      KeyMetadata: {
        KeyId: k.id,
        Arn: arn(k.id),
        KeyState: k.state,
        Origin: k.origin ?? 'EXTERNAL',
        KeySpec: 'SYMMETRIC_DEFAULT',
        KeyUsage: 'ENCRYPT_DECRYPT',
        MultiRegion: false,
        ...(validTo ? { ValidTo: validTo, ExpirationModel: 'KEY_MATERIAL_EXPIRES' } : {}),
        CurrentKeyMaterialId: 'a'.repeat(64),
      },
    };
  });
  kmsMock.on(ListResourceTagsCommand).callsFake(async (input: { KeyId: string }) => ({
    Tags: Object.entries(find(input.KeyId).tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
    Truncated: false,
  }));
  kmsMock.on(ListKeyRotationsCommand).callsFake(async (input: { KeyId: string }) => {
    const k = find(input.KeyId);
    return {
      Rotations: [
        {
          KeyId: k.id,
          KeyMaterialId: 'a'.repeat(64),
          KeyMaterialState: 'CURRENT',
          ImportState: k.missing ? 'PENDING_IMPORT' : 'IMPORTED',
          ...(k.validInDays === undefined ? {} : { ValidTo: new Date(NOW.getTime() + k.validInDays * DAY) }),
          ExpirationModel: 'KEY_MATERIAL_EXPIRES',
        },
      ],
      Truncated: false,
    };
  });
  kmsMock.on(ListKeysCommand).rejects(new Error('the sweep must not list keys one by one'));
}

function listed(pages: string[][]): void {
  const stub = taggingMock.on(GetResourcesCommand);
  pages.forEach((page, i) => {
    stub.resolvesOnce({
      ResourceTagMappingList: page.map((ResourceARN) => ({ ResourceARN, Tags: [{ Key: 'kms-reimport:managed', Value: 'true' }] })),
      PaginationToken: i < pages.length - 1 ? `page-${i + 1}` : '',
    });
  });
}

beforeEach(() => {
  kmsMock.reset();
  taggingMock.reset();
});

describe('sweepManagedKeys', () => {
  test('finds managed keys with the Tagging API, orders outages first then soonest expiry', async () => {
    const keys: FakeKey[] = [
      { id: id(1), state: 'Enabled', validInDays: 60, tags: MANAGED }, // healthy
      { id: id(2), state: 'Enabled', validInDays: 10, tags: MANAGED }, // expiring, later
      { id: id(3), state: 'PendingImport', tags: MANAGED, missing: ['a'] }, // outage
      { id: id(4), state: 'Enabled', validInDays: 3, tags: MANAGED }, // expiring, sooner
      { id: id(5), state: 'PendingImport', tags: { 'kms-reimport:managed': 'false' }, missing: ['a'] }, // stale tag listing
      { id: id(6), state: 'PendingImport', tags: {}, missing: ['a'] }, // tag removed since
      { id: id(7), state: 'PendingDeletion', validInDays: 1, tags: MANAGED },
      { id: id(8), state: 'PendingImport', tags: MANAGED, missing: ['a'] }, // outage
      { id: id(9), state: 'Disabled', validInDays: 1, tags: MANAGED },
    ];
    serveKeys(keys);
    listed([
      [arn(id(1)), arn(id(2)), arn(id(3)), arn(id(4)), arn(id(5))],
      [arn(id(6)), arn(id(7)), arn(id(8)), arn(id(9)), arn(id(99))],
    ]);

    const { items, report } = await sweepManagedKeys({ tagging, kms }, config, NOW, { retry: noWait });

    assert.deepEqual(
      items.map((i) => [i.keyRef, i.action]),
      [
        [id(3), 'recover'],
        [id(8), 'recover'],
        [id(4), 'renew'],
        [id(2), 'renew'],
      ],
    );
    for (const item of items) {
      assert.deepEqual(item.trigger, { source: 'kms-reimport.sweep', detailType: 'Scheduled Sweep' });
    }
    // Not managed (by KMS's own tags), pending deletion, disabled: reported, never in items.
    const entry = (n: number) => report.find((e) => e.keyId === id(n));
    assert.equal(entry(5)?.classification, 'not-managed');
    assert.equal(entry(5)?.action, 'skip');
    assert.match(entry(5)?.reason ?? '', /not managed/);
    assert.equal(entry(6)?.classification, 'not-managed');
    assert.equal(entry(7)?.classification, 'pending-deletion');
    assert.equal(entry(9)?.classification, 'disabled');
    assert.equal(entry(1)?.classification, 'healthy');
    assert.equal(entry(99)?.action, 'error');
    assert.equal(entry(99)?.errorName, 'KeyNotFound');
    assert.equal(report.length, 10);
    assert.deepEqual(report.slice(0, 4).map((e) => e.keyId), [id(3), id(8), id(4), id(2)]);

    // One paginated GetResources, filtered by the managed tag and type.
    const calls = taggingMock.commandCalls(GetResourcesCommand);
    assert.equal(calls.length, 2);
    assert.deepEqual(calls[0]?.args[0].input, {
      TagFilters: [{ Key: 'kms-reimport:managed', Values: ['true'] }],
      ResourceTypeFilters: ['kms:key'],
      ResourcesPerPage: 100,
    });
    assert.equal(calls[1]?.args[0].input.PaginationToken, 'page-1');
    assert.equal(kmsMock.commandCalls(ListKeysCommand).length, 0);
    assert.equal(kmsMock.commandCalls(DescribeKeyCommand).length, 10);
  });

  test('a configured tag key and value are what the Tagging API is asked for and what KMS tags must say', async () => {
    const custom = { ...config, managedTagKey: 'team:byok', managedTagValue: 'yes' };
    serveKeys([
      { id: id(1), state: 'PendingImport', tags: { 'team:byok': 'yes' }, missing: ['a'] },
      { id: id(2), state: 'PendingImport', tags: MANAGED, missing: ['a'] },
    ]);
    listed([[arn(id(1)), arn(id(2))]]);
    const { items } = await sweepManagedKeys({ tagging, kms }, custom, NOW, { retry: noWait });
    assert.deepEqual(items.map((i) => i.keyRef), [id(1)]);
    assert.deepEqual(taggingMock.commandCalls(GetResourcesCommand)[0]?.args[0].input.TagFilters, [{ Key: 'team:byok', Values: ['yes'] }]);
  });

  test('no managed keys: no work, no KMS calls', async () => {
    serveKeys([]);
    listed([[]]);
    const result = await sweepManagedKeys({ tagging, kms }, config, NOW, { retry: noWait });
    assert.deepEqual(result, { items: [], report: [] });
    assert.equal(kmsMock.calls().length, 0);
  });

  test('inspection runs with bounded concurrency', async () => {
    const keys = Array.from({ length: 12 }, (_, i): FakeKey => ({ id: id(i + 1), state: 'PendingImport', tags: MANAGED, missing: ['a'] }));
    serveKeys(keys);
    let inFlight = 0;
    let peak = 0;
    const describe = kmsMock.on(DescribeKeyCommand);
    const original = keys;
    describe.callsFake(async (input: { KeyId: string }) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      const k = original.find((x) => arn(x.id) === input.KeyId || x.id === input.KeyId);
      assert.ok(k);
      return {
        KeyMetadata: { KeyId: k.id, Arn: arn(k.id), KeyState: k.state, Origin: 'EXTERNAL', KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT' },
      };
    });
    listed([keys.map((k) => arn(k.id))]);
    const { items } = await sweepManagedKeys({ tagging, kms }, config, NOW, { concurrency: 3, retry: noWait });
    assert.equal(items.length, 12);
    assert.equal(peak, 3);
    await assert.rejects(sweepManagedKeys({ tagging, kms }, config, NOW, { concurrency: 0 }), RangeError);
  });

  test('a throttled Tagging API is retried, then reported as KmsUnavailable', async () => {
    serveKeys([{ id: id(1), state: 'PendingImport', tags: MANAGED, missing: ['a'] }]);
    const throttled = new ThrottledException({ message: 'Rate exceeded', $metadata: {} });
    taggingMock
      .on(GetResourcesCommand)
      .rejectsOnce(throttled)
      .resolvesOnce({ ResourceTagMappingList: [{ ResourceARN: arn(id(1)) }], PaginationToken: '' });
    const { items } = await sweepManagedKeys({ tagging, kms }, config, NOW, { retry: noWait });
    assert.equal(items.length, 1);

    taggingMock.reset();
    taggingMock.on(GetResourcesCommand).rejects(throttled);
    await assert.rejects(sweepManagedKeys({ tagging, kms }, config, NOW, { retry: noWait }), (e: Error) => {
      assert.equal(e.name, 'KmsUnavailable');
      assert.match(e.message, /GetResources/);
      return true;
    });
    assert.equal(taggingMock.commandCalls(GetResourcesCommand).length, 3);
  });
});

test('mapBounded keeps input order', async () => {
  const out = await mapBounded([3, 1, 2], 2, async (n) => {
    for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
    return n * 10;
  });
  assert.deepEqual(out, [30, 10, 20]);
  assert.deepEqual(await mapBounded([], 4, async (n: number) => n), []);
});
