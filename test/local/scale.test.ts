// The endpoint at scale: lazy ageing (a min-heap of due times instead of a pass over every key on
// every request), listings built once per walk (stable pages), and Secrets Manager purging only
// what is scheduled for deletion. Behaviour is the same as a whole-state pass; these tests pin it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CreateAliasCommand, DescribeKeyCommand, ListAliasesCommand, ListKeysCommand, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { GetResourcesCommand, ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { CreateSecretCommand, DeleteSecretCommand, DescribeSecretCommand, ListSecretsCommand, RestoreSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AgingQueue, nextAgingAt } from '../../local/kms/aging.js';
import type { KeyRecord, KmsState } from '../../local/kms/state.js';
import { ListingWalks, MAX_WALKS } from '../../local/listing.js';
import { createExternalKey, DAY, importMaterial, materialFor, startHarness, type Harness } from './kms-support.js';

const record = (keyId: string, fields: Partial<KeyRecord> = {}): KeyRecord => ({
  keyId,
  arn: `arn:aws:kms:us-east-1:111122223333:key/${keyId}`,
  account: '111122223333',
  region: 'us-east-1',
  creationDate: 0,
  description: '',
  keySpec: 'SYMMETRIC_DEFAULT',
  keyUsage: 'ENCRYPT_DECRYPT',
  origin: 'EXTERNAL',
  enabled: true,
  tags: [],
  materials: [],
  onDemandRotations: 0,
  importParameters: [],
  ...fields,
});

describe('AgingQueue', () => {
  it('ages only the keys whose time has come, earliest first; a later material is queued again; stale entries are harmless', () => {
    const a = record('a', { materials: [{ id: 'm1', state: 'CURRENT', material: 'AAAA', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: 100 }] });
    const b = record('b', {
      materials: [
        { id: 'm2', state: 'CURRENT', material: 'BBBB', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: 300 },
        { id: 'm3', state: 'NON_CURRENT', material: 'CCCC', expirationModel: 'KEY_MATERIAL_EXPIRES', validTo: 50 },
      ],
    });
    const c = record('c', { deletionDate: 200 });
    const d = record('d', { materials: [{ id: 'm4', state: 'CURRENT', material: 'DDDD', expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }] });
    const state: KmsState = {
      regions: { '111122223333/us-east-1': { keys: { a, b, c, d }, aliases: { 'alias/c': { name: 'alias/c', targetKeyId: 'c', creationDate: 0, lastUpdatedDate: 0 } } } },
    };
    assert.equal(nextAgingAt(b), 50);
    assert.equal(nextAgingAt(c), 200);
    assert.equal(nextAgingAt(d), undefined);
    const queue = new AgingQueue();
    queue.rebuild(state);
    assert.equal(queue.size, 3, 'a key that never changes by itself is not queued');
    queue.schedule(a); // a duplicate (stale) entry
    const deleted: string[] = [];
    queue.ageDue(state, 99, (k) => deleted.push(k.keyId));
    assert.equal(b.materials.find((m) => m.id === 'm3')?.material, undefined, 'm3 expired at 50');
    assert.equal(b.materials.find((m) => m.id === 'm2')?.material, 'BBBB');
    assert.equal(a.materials[0]?.material, 'AAAA', 'not yet');
    queue.ageDue(state, 200, (k) => deleted.push(k.keyId));
    assert.equal(a.materials[0]?.material, undefined);
    assert.deepEqual(deleted, ['c']);
    assert.equal(state.regions['111122223333/us-east-1']?.keys.c, undefined);
    assert.equal(state.regions['111122223333/us-east-1']?.aliases['alias/c'], undefined, "a deleted key's aliases go with it");
    assert.equal(b.materials.find((m) => m.id === 'm2')?.material, 'BBBB');
    queue.ageDue(state, 300, () => {});
    assert.equal(b.materials.find((m) => m.id === 'm2')?.material, undefined, "b's second material was queued again after its first");
    assert.equal(queue.size, 0);
  });
});

describe('lazy ageing over HTTP: what every reader sees once the clock passes', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  it('material expires at its ValidTo for a key no request names; a key past its deletion date leaves ListKeys, ListAliases and GetResources', async () => {
    const kms = h.kms('eu-west-3');
    const tagging = new ResourceGroupsTaggingAPIClient({ endpoint: h.endpoint.url, region: 'eu-west-3', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' }, maxAttempts: 1 });
    try {
      const expiring = await createExternalKey(kms, 'SYMMETRIC_DEFAULT', { Tags: [{ TagKey: 'team', TagValue: 'a' }] });
      await importMaterial(kms, expiring.KeyId!, materialFor('SYMMETRIC_DEFAULT'), h.endpoint.clock.now(), { validTo: new Date(Math.floor(h.endpoint.clock.now() / 1000) * 1000 + 2 * DAY * 1000) });
      const doomed = await createExternalKey(kms, 'SYMMETRIC_DEFAULT', { Tags: [{ TagKey: 'team', TagValue: 'b' }] });
      await kms.send(new CreateAliasCommand({ AliasName: 'alias/doomed', TargetKeyId: doomed.KeyId! }));
      await kms.send(new ScheduleKeyDeletionCommand({ KeyId: doomed.KeyId!, PendingWindowInDays: 7 }));
      const listed = async () => (await kms.send(new ListKeysCommand({}))).Keys!.map((k) => k.KeyId).sort();
      assert.deepEqual(await listed(), [expiring.KeyId, doomed.KeyId].sort());

      h.endpoint.clock.advance(3 * DAY);
      assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: expiring.KeyId! }))).KeyMetadata!.KeyState, 'PendingImport');
      h.endpoint.clock.advance(5 * DAY);
      // The first request after the date (one that names another key) removes it.
      assert.deepEqual(await listed(), [expiring.KeyId]);
      assert.deepEqual((await kms.send(new ListAliasesCommand({}))).Aliases!.map((a) => a.AliasName), []);
      const resources = (await tagging.send(new GetResourcesCommand({ ResourceTypeFilters: ['kms:key'] }))).ResourceTagMappingList!;
      assert.deepEqual(resources.map((r) => r.ResourceARN), [expiring.Arn]);
    } finally {
      tagging.destroy();
    }
  });
});

describe('ListingWalks', () => {
  const invalid = () => new Error('invalid token');
  const walk = (items: string[]) => () => [...items];

  it('builds the list once per walk; pages slice it; the last page has no token', () => {
    const walks = new ListingWalks<string>((s) => s);
    let builds = 0;
    const build = () => {
      builds++;
      return ['a', 'b', 'c', 'd', 'e'];
    };
    const first = walks.page('q', undefined, 2, build, invalid);
    const second = walks.page('q', first.next, 2, build, invalid);
    const third = walks.page('q', second.next, 2, build, invalid);
    assert.deepEqual([first.items, second.items, third.items], [['a', 'b'], ['c', 'd'], ['e']]);
    assert.equal(third.next, undefined);
    assert.equal(builds, 1);
    assert.equal(walks.held, 0, 'a finished walk is dropped');
  });

  it('a walk is a snapshot: entries added or removed meanwhile never make a page skip or repeat', () => {
    const walks = new ListingWalks<string>((s) => s);
    const items = ['a', 'b', 'c', 'd'];
    const first = walks.page('q', undefined, 2, walk(items), invalid);
    items.unshift('0');
    items.splice(items.indexOf('c'), 1);
    const second = walks.page('q', first.next, 2, walk(items), invalid);
    assert.deepEqual([...first.items, ...second.items], ['a', 'b', 'c', 'd']);
  });

  it('a token for another query is refused; a walk no longer held resumes after its last entry', () => {
    const walks = new ListingWalks<string>((s) => s);
    const first = walks.page('q', undefined, 2, walk(['a', 'b', 'c', 'd']), invalid);
    assert.throws(() => walks.page('other', first.next, 2, walk([]), invalid), /invalid token/);
    assert.throws(() => walks.page('q', 'not-a-token', 2, walk([]), invalid), /invalid token/);
    for (let i = 0; i < MAX_WALKS + 1; i++) walks.page(`q${i}`, undefined, 1, walk(['x', 'y']), invalid);
    assert.equal(walks.held, MAX_WALKS, 'held walks are bounded');
    // `q`'s walk was dropped: rebuilt, and resumed after 'b' even though an entry came first meanwhile.
    const rest = walks.page('q', first.next, 2, walk(['0', 'a', 'b', 'c', 'd']), invalid);
    assert.deepEqual(rest.items, ['c', 'd']);
  });
});

describe('Secrets Manager at scale: ListSecrets walks and the purge of scheduled deletions', () => {
  let h: Harness;
  let sm: SecretsManagerClient;
  before(async () => {
    h = await startHarness();
    sm = new SecretsManagerClient({ endpoint: h.endpoint.url, region: 'ap-south-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' }, maxAttempts: 1 });
  });
  after(async () => {
    sm.destroy();
    await h.close();
  });

  it('ListSecrets pages are stable while secrets are created; a scheduled deletion is purged after its window, a restored one is not', async () => {
    for (let i = 0; i < 5; i++) await sm.send(new CreateSecretCommand({ Name: `escrow/${i}`, SecretString: 'x' }));
    await sm.send(new CreateSecretCommand({ Name: 'other', SecretString: 'x' }));
    const first = await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['escrow/'] }], MaxResults: 3, SortBy: 'name' as never }));
    await sm.send(new CreateSecretCommand({ Name: 'escrow/00', SecretString: 'x' }));
    const second = await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['escrow/'] }], MaxResults: 3, SortBy: 'name' as never, NextToken: first.NextToken! }));
    assert.deepEqual([...first.SecretList!, ...second.SecretList!].map((s) => s.Name), ['escrow/0', 'escrow/1', 'escrow/2', 'escrow/3', 'escrow/4']);
    assert.equal(second.NextToken, undefined);

    await sm.send(new DeleteSecretCommand({ SecretId: 'escrow/1', RecoveryWindowInDays: 7 }));
    await sm.send(new DeleteSecretCommand({ SecretId: 'escrow/2', RecoveryWindowInDays: 7 }));
    await sm.send(new RestoreSecretCommand({ SecretId: 'escrow/2' }));
    h.endpoint.clock.advance(8 * DAY);
    await assert.rejects(sm.send(new DescribeSecretCommand({ SecretId: 'escrow/1' })), { name: 'ResourceNotFoundException' });
    assert.equal((await sm.send(new DescribeSecretCommand({ SecretId: 'escrow/2' }))).Name, 'escrow/2');
    const all = await sm.send(new ListSecretsCommand({ IncludePlannedDeletion: true, SortBy: 'name' as never }));
    assert.deepEqual(all.SecretList!.map((s) => s.Name), ['escrow/0', 'escrow/00', 'escrow/2', 'escrow/3', 'escrow/4', 'other']);
  });
});
