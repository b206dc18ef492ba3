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
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  InternalServiceError,
  ListSecretsCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  type SecretListEntry,
} from '@aws-sdk/client-secrets-manager';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { awsError } from './lib-fixtures.js';
import { mapBounded, sweepManagedKeys } from '../../lib/sweep.js';

const kmsMock = mockClient(KMSClient);
const taggingMock = mockClient(ResourceGroupsTaggingAPIClient);
const secretsMock = mockClient(SecretsManagerClient);
const secrets = new SecretsManagerClient({ region: 'us-east-1' });
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
  /** Alias names (alias/...) that DescribeKey resolves to this key. */
  aliases?: string[];
  /** DescribeKey CreationDate, days before NOW. */
  createdDaysAgo?: number;
  /** ListKeyRotations RotationDate of the CURRENT material, days before NOW (an in-place rotation). */
  rotatedDaysAgo?: number;
}

const id = (n: number) => `${String(n).padStart(8, '0')}-0000-4000-8000-000000000000`;
const arn = (keyId: string) => `arn:aws:kms:us-east-1:111122223333:key/${keyId}`;
const MANAGED = { 'kms-reimport:managed': 'true' };

/** The keys serveKeys serves: the Tagging API lists them with these tags, and their escrow secrets exist. */
let served: FakeKey[] = [];

/**
 * Configures DescribeKey / ListKeyRotations for a set of keys. ListResourceTags answers too (as KMS
 * would), but the sweep must take the tags from GetResources and never call it.
 */
function serveKeys(keys: FakeKey[]): void {
  served = keys;
  const byRef = new Map<string, FakeKey>();
  for (const k of keys) {
    byRef.set(k.id, k);
    byRef.set(arn(k.id), k);
    for (const a of k.aliases ?? []) byRef.set(a, k);
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
        ...(k.createdDaysAgo === undefined ? {} : { CreationDate: new Date(NOW.getTime() - k.createdDaysAgo * DAY) }),
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
          ...(k.rotatedDaysAgo === undefined ? {} : { RotationDate: new Date(NOW.getTime() - k.rotatedDaysAgo * DAY), RotationType: 'ON_DEMAND' }),
        },
      ],
      Truncated: false,
    };
  });
  kmsMock.on(ListKeysCommand).rejects(new Error('the sweep must not list keys one by one'));
}

/** The Tagging API's pages: each ARN with the tags of its served key (the managed tag for an unknown one). */
function listed(pages: string[][]): void {
  const stub = taggingMock.on(GetResourcesCommand);
  const tagsOf = (resourceArn: string) => served.find((k) => arn(k.id) === resourceArn)?.tags ?? MANAGED;
  pages.forEach((page, i) => {
    stub.resolvesOnce({
      ResourceTagMappingList: page.map((ResourceARN) => ({ ResourceARN, Tags: Object.entries(tagsOf(ResourceARN)).map(([Key, Value]) => ({ Key, Value })) })),
      PaginationToken: i < pages.length - 1 ? `page-${i + 1}` : '',
    });
  });
}

/** The ListSecrets entry of a default-named escrow secret (bound by its name), under the AWS managed key. */
const escrowEntry = (keyId: string, extra: Partial<SecretListEntry> = {}): SecretListEntry => ({
  ARN: `arn:aws:secretsmanager:us-east-1:111122223333:secret:kms-reimport/${keyId}-AbCdEf`,
  Name: `kms-reimport/${keyId}`,
  ...extra,
});

/**
 * Every served key's default escrow secret exists: ListSecrets lists them (one page); DescribeSecret
 * answers for any secret (the path for a secret the listing lacks).
 */
function healthyEscrow(): void {
  secretsMock.on(ListSecretsCommand).callsFake(async () => ({ SecretList: served.map((k) => escrowEntry(k.id)) }));
  secretsMock.on(DescribeSecretCommand).callsFake(async (input: { SecretId: string }) => ({ ARN: `arn:secret:${input.SecretId}`, Name: input.SecretId, Tags: [] }));
  secretsMock.on(GetSecretValueCommand).rejects(new Error('the sweep must never read a secret value'));
}

beforeEach(() => {
  kmsMock.reset();
  taggingMock.reset();
  secretsMock.reset();
  healthyEscrow();
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

    const { items, report } = await sweepManagedKeys({ tagging, kms, secrets }, config, NOW, { retry: noWait });

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
    // Not managed (by the tags the Tagging API listed them with), pending deletion, disabled: reported, never in items.
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
    // The fewest calls that decide: tags from GetResources, never read again; the materials listed
    // only for the PendingImport (3, 8) and expiring (2, 4) managed keys, not for the healthy one,
    // the unmanaged, the one pending deletion or the disabled one.
    assert.equal(kmsMock.commandCalls(ListResourceTagsCommand).length, 0);
    assert.deepEqual(
      kmsMock
        .commandCalls(ListKeyRotationsCommand)
        .map((c) => c.args[0].input.KeyId)
        .sort(),
      [2, 3, 4, 8].map((n) => id(n)),
    );

    // Escrow: checked for every inspected managed key (1-4, 7-9), from one ListSecrets page.
    for (const n of [1, 2, 3, 4, 7, 8, 9]) assert.equal(entry(n)?.escrow, 'ok', `key ${n}`);
    for (const n of [5, 6, 99]) assert.equal(entry(n)?.escrow, undefined, `key ${n}`);
    assert.deepEqual(
      secretsMock.commandCalls(ListSecretsCommand).map((c) => c.args[0].input),
      [{ Filters: [{ Key: 'name', Values: ['kms-reimport/'] }], IncludePlannedDeletion: true, MaxResults: 100 }],
    );
    assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 0);
    assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 0);
  });

  test('a configured tag key and value are what the Tagging API is asked for and what KMS tags must say', async () => {
    const custom = { ...config, managedTagKey: 'team:byok', managedTagValue: 'yes' };
    serveKeys([
      { id: id(1), state: 'PendingImport', tags: { 'team:byok': 'yes' }, missing: ['a'] },
      { id: id(2), state: 'PendingImport', tags: MANAGED, missing: ['a'] },
    ]);
    listed([[arn(id(1)), arn(id(2))]]);
    const { items } = await sweepManagedKeys({ tagging, kms, secrets }, custom, NOW, { retry: noWait });
    assert.deepEqual(items.map((i) => i.keyRef), [id(1)]);
    assert.deepEqual(taggingMock.commandCalls(GetResourcesCommand)[0]?.args[0].input.TagFilters, [{ Key: 'team:byok', Values: ['yes'] }]);
  });

  test('no managed keys: no work, no KMS calls', async () => {
    serveKeys([]);
    listed([[]]);
    const result = await sweepManagedKeys({ tagging, kms, secrets }, config, NOW, { retry: noWait });
    assert.deepEqual(result, { items: [], rotations: [], report: [] });
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
    const { items } = await sweepManagedKeys({ tagging, kms, secrets }, config, NOW, { concurrency: 3, retry: noWait });
    assert.equal(items.length, 12);
    assert.equal(peak, 3);
    await assert.rejects(sweepManagedKeys({ tagging, kms, secrets }, config, NOW, { concurrency: 0 }), RangeError);
  });

  test('a throttled Tagging API is retried, then reported as KmsUnavailable', async () => {
    serveKeys([{ id: id(1), state: 'PendingImport', tags: MANAGED, missing: ['a'] }]);
    const throttled = new ThrottledException({ message: 'Rate exceeded', $metadata: {} });
    taggingMock
      .on(GetResourcesCommand)
      .rejectsOnce(throttled)
      .resolvesOnce({ ResourceTagMappingList: [{ ResourceARN: arn(id(1)), Tags: [{ Key: 'kms-reimport:managed', Value: 'true' }] }], PaginationToken: '' });
    const { items } = await sweepManagedKeys({ tagging, kms, secrets }, config, NOW, { retry: noWait });
    assert.equal(items.length, 1);

    taggingMock.reset();
    taggingMock.on(GetResourcesCommand).rejects(throttled);
    await assert.rejects(sweepManagedKeys({ tagging, kms, secrets }, config, NOW, { retry: noWait }), (e: Error) => {
      assert.equal(e.name, 'KmsUnavailable');
      assert.match(e.message, /GetResources/);
      return true;
    });
    assert.equal(taggingMock.commandCalls(GetResourcesCommand).length, 3);
  });
});

describe('sweepManagedKeys: scheduled rotation (its own work items, after every recovery and renewal)', () => {
  const every = (value: string) => ({ ...MANAGED, 'kms-reimport:rotate-every': value });

  test('due rotations are listed `rotate` after outages and renewals, most overdue first, and are rotation work items (not items)', async () => {
    serveKeys([
      { id: id(1), state: 'PendingImport', tags: every('90d'), missing: ['a'], createdDaysAgo: 500 }, // outage: recover, not rotate
      { id: id(2), state: 'Enabled', validInDays: 3, tags: every('90d'), createdDaysAgo: 500 }, // expiring: renew first
      { id: id(3), state: 'Enabled', validInDays: 60, tags: every('90d'), createdDaysAgo: 100 }, // 100 days old: due 10 days ago
      { id: id(4), state: 'Enabled', validInDays: 60, tags: every('soon'), createdDaysAgo: 500 }, // malformed
      { id: id(5), state: 'Enabled', validInDays: 60, tags: MANAGED, createdDaysAgo: 400 }, // default 365: due 35 days ago
      { id: id(6), state: 'Enabled', validInDays: 60, tags: every('90d'), createdDaysAgo: 400, rotatedDaysAgo: 10 }, // rotated 10 days ago
      { id: id(7), state: 'Enabled', validInDays: 60, tags: every('90d'), createdDaysAgo: 120 }, // due 30 days ago
      { id: id(8), state: 'Enabled', validInDays: 60, tags: { 'kms-reimport:rotate-every': '90d' }, createdDaysAgo: 500 }, // not managed
    ]);
    listed([[1, 2, 3, 4, 5, 6, 7, 8].map((n) => arn(id(n)))]);
    const { items, rotations, report } = await sweepManagedKeys({ tagging, kms, secrets }, { ...config, rotateEveryDays: 365 }, NOW, { retry: noWait });

    assert.deepEqual(
      items.map((i) => [i.keyRef, i.action]),
      [
        [id(1), 'recover'],
        [id(2), 'renew'],
      ],
    );
    assert.deepEqual(
      report.map((e) => [e.keyId, e.action]),
      [
        [id(1), 'recover'],
        [id(2), 'renew'],
        [id(5), 'rotate'],
        [id(7), 'rotate'],
        [id(3), 'rotate'],
        [id(4), 'skip'],
        [id(6), 'skip'],
        [id(8), 'skip'],
      ],
    );
    // Rotation work items in the report's order (most overdue first), with the sweep's trigger.
    assert.deepEqual(
      rotations.map((i) => [i.keyRef, i.action, i.trigger.source]),
      [id(5), id(7), id(3)].map((k) => [k, 'rotate', 'kms-reimport.sweep']),
    );
    const entry = (n: number) => report.find((e) => e.keyId === id(n));
    assert.match(entry(3)?.reason ?? '', /^Rotation due: .*every 90 day\(s\) \(tag\), in-place; the sweep starts its rotation after the recoveries and renewals\.$/);
    assert.deepEqual(
      { ...entry(3)?.rotation },
      {
        mode: 'in-place',
        every: 90,
        source: 'tag',
        lastRotatedAt: new Date(NOW.getTime() - 100 * DAY).toISOString(),
        ageFrom: 'creation',
        nextDueAt: new Date(NOW.getTime() - 10 * DAY).toISOString(),
        due: true,
      },
    );
    // The config default applies to the untagged managed key.
    assert.equal(entry(5)?.rotation?.source, 'default');
    assert.equal(entry(5)?.rotation?.every, 365);
    // RotationDate from ListKeyRotations is read back: rotated 10 days ago, not due.
    assert.equal(entry(6)?.rotation?.ageFrom, 'rotation');
    assert.equal(entry(6)?.rotation?.lastRotatedAt, new Date(NOW.getTime() - 10 * DAY).toISOString());
    assert.equal(entry(6)?.rotation?.due, false);
    // Recovery and renewal keep their action; the rotation status is still reported.
    assert.equal(entry(1)?.rotation?.due, false, 'a PendingImport key is never due');
    assert.equal(entry(2)?.rotation?.due, true);
    // The malformed tag: a named problem, the key left as it is.
    assert.equal(entry(4)?.rotation?.problemName, 'RotationScheduleInvalid');
    assert.match(entry(4)?.rotation?.problem ?? '', /kms-reimport:rotate-every="soon"/);
    assert.equal(entry(4)?.classification, 'healthy');
    // A key that is not managed gets no rotation status at all.
    assert.equal(entry(8)?.rotation, undefined);
  });

  test('no schedule anywhere: every managed key is off, nothing is due', async () => {
    serveKeys([{ id: id(1), state: 'Enabled', validInDays: 60, tags: MANAGED, createdDaysAgo: 5000 }]);
    listed([[arn(id(1))]]);
    const { report } = await sweepManagedKeys({ tagging, kms, secrets }, config, NOW, { retry: noWait });
    assert.equal(report[0]?.action, 'skip');
    assert.deepEqual(report[0]?.rotation, { mode: 'off', due: false });
  });
});

describe('sweepManagedKeys: escrow health of a secret ListSecrets did not list (DescribeSecret)', () => {
  // ListSecrets is eventually consistent and lists only the escrow prefix: a secret it lacks is described.
  beforeEach(() => {
    secretsMock.on(ListSecretsCommand).resolves({ SecretList: [] });
  });
  const K = id(1);
  const secretId = `kms-reimport/${K}`;
  const sweepOne = async (key: Partial<FakeKey> = {}) => {
    serveKeys([{ id: K, state: 'Enabled', validInDays: 60, tags: MANAGED, ...key }]);
    listed([[arn(K)]]);
    const result = await sweepManagedKeys({ tagging, kms, secrets }, config, NOW, { retry: noWait });
    assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 0, 'never reads a value');
    assert.equal(result.report.length, 1);
    return { ...result, entry: result.report[0]! };
  };
  const describeSecret = (out: Record<string, unknown>) => secretsMock.on(DescribeSecretCommand).resolves({ ARN: 'arn:secret', Name: secretId, ...out });

  test('ok: the default secret exists under another key; no reason', async () => {
    describeSecret({ KmsKeyId: arn(id(2)) });
    const { entry } = await sweepOne();
    assert.equal(entry.escrow, 'ok');
    assert.equal(entry.escrowReason, undefined);
    assert.deepEqual(secretsMock.commandCalls(DescribeSecretCommand)[0]?.args[0].input, { SecretId: secretId });
  });

  test('missing: no such secret', async () => {
    secretsMock.on(DescribeSecretCommand).rejects(new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: {} }));
    const { entry } = await sweepOne();
    assert.equal(entry.escrow, 'missing');
    assert.match(entry.escrowReason ?? '', new RegExp(`No escrow secret ${secretId} for key ${K}`));
    assert.match(entry.escrowReason ?? '', /create-secret/);
  });

  test('missing: scheduled for deletion', async () => {
    describeSecret({ DeletedDate: new Date('2025-05-30T00:00:00Z') });
    const { entry } = await sweepOne();
    assert.equal(entry.escrow, 'missing');
    assert.match(entry.escrowReason ?? '', /scheduled for deletion/);
    assert.match(entry.escrowReason ?? '', new RegExp(`restore-secret --secret-id ${secretId}`));
  });

  test('unbound: a tag-named secret without kms-reimport:key-id = the key ID; bound when it has it', async () => {
    const tagged = 'kms-reimport/shared/team-a';
    secretsMock.on(DescribeSecretCommand).resolves({ Name: tagged, Tags: [{ Key: 'kms-reimport:key-id', Value: id(2) }] });
    const { entry } = await sweepOne({ tags: { ...MANAGED, 'kms-reimport:escrow': tagged } });
    assert.equal(entry.escrow, 'unbound');
    assert.match(entry.escrowReason ?? '', new RegExp(`${tagged} named by key ${K}'s escrow tag is not bound`));
    assert.match(entry.escrowReason ?? '', new RegExp(`Key=kms-reimport:key-id,Value=${K}`));
    assert.equal(secretsMock.commandCalls(DescribeSecretCommand)[0]?.args[0].input.SecretId, tagged);

    secretsMock.reset();
    secretsMock.on(DescribeSecretCommand).resolves({ Name: tagged, Tags: [{ Key: 'kms-reimport:key-id', Value: K }] });
    kmsMock.reset();
    taggingMock.reset();
    const bound = await sweepOne({ tags: { ...MANAGED, 'kms-reimport:escrow': tagged } });
    assert.equal(bound.entry.escrow, 'ok');
  });

  for (const [how, kmsKeyId] of [
    ['key ARN', arn(K)],
    ['key ID', K],
    ['alias', 'alias/escrow-self'],
    ['alias ARN', 'arn:aws:kms:us-east-1:111122223333:alias/escrow-self'],
  ] as const) {
    test(`self-encrypted: the secret's KmsKeyId is the key itself (${how})`, async () => {
      describeSecret({ KmsKeyId: kmsKeyId });
      const { entry } = await sweepOne({ aliases: ['alias/escrow-self', 'arn:aws:kms:us-east-1:111122223333:alias/escrow-self'] });
      assert.equal(entry.escrow, 'self-encrypted');
      assert.match(entry.escrowReason ?? '', new RegExp(`${secretId} for key ${K} is encrypted under key ${K} itself`));
      assert.match(entry.escrowReason ?? '', /update-secret/);
    });
  }

  test('not self-encrypted: another key ARN with the same ID elsewhere, an alias of another key, an AWS managed alias', async () => {
    describeSecret({ KmsKeyId: `arn:aws:kms:eu-west-1:111122223333:key/${K}` });
    assert.equal((await sweepOne()).entry.escrow, 'ok');
    for (const kmsKeyId of ['alias/escrow-other', 'alias/aws/secretsmanager']) {
      kmsMock.reset();
      taggingMock.reset();
      secretsMock.reset();
      describeSecret({ KmsKeyId: kmsKeyId });
      serveKeys([
        { id: K, state: 'Enabled', validInDays: 60, tags: MANAGED },
        { id: id(2), state: 'Enabled', tags: {}, aliases: ['alias/escrow-other'] },
      ]);
      listed([[arn(K)]]);
      const { report } = await sweepManagedKeys({ tagging, kms, secrets }, config, NOW, { retry: noWait });
      assert.equal(report[0]?.escrow, 'ok', kmsKeyId);
    }
    assert.equal(kmsMock.commandCalls(DescribeKeyCommand).filter((c) => c.args[0].input.KeyId === 'alias/aws/secretsmanager').length, 0);
  });

  test('not self-encrypted: an alias whose key the sweep may not describe (so not a managed key)', async () => {
    describeSecret({ KmsKeyId: 'alias/team-escrow' });
    serveKeys([{ id: K, state: 'Enabled', validInDays: 60, tags: MANAGED }]);
    kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/team-escrow' }).rejects(awsError('AccessDeniedException'));
    listed([[arn(K)]]);
    const { report } = await sweepManagedKeys({ tagging, kms, secrets }, config, NOW, { retry: noWait });
    assert.equal(report[0]?.escrow, 'ok');
    assert.equal(kmsMock.commandCalls(DescribeKeyCommand, { KeyId: 'alias/team-escrow' }).length, 1);
  });

  test('an alias shared by many escrow secrets is resolved once per sweep', async () => {
    const keys = [1, 2, 3, 4].map((n): FakeKey => ({ id: id(n), state: 'Enabled', validInDays: 60, tags: MANAGED }));
    serveKeys([...keys, { id: id(50), state: 'Enabled', tags: {}, aliases: ['alias/escrow'] }]);
    listed([keys.map((k) => arn(k.id))]);
    describeSecret({ KmsKeyId: 'alias/escrow' });
    const { report } = await sweepManagedKeys({ tagging, kms, secrets }, config, NOW, { concurrency: 4, retry: noWait });
    assert.deepEqual(report.map((e) => e.escrow), ['ok', 'ok', 'ok', 'ok']);
    assert.equal(kmsMock.commandCalls(DescribeKeyCommand).filter((c) => c.args[0].input.KeyId === 'alias/escrow').length, 1);
  });

  test('unreadable: an alias that points at no key', async () => {
    describeSecret({ KmsKeyId: 'alias/gone' });
    const { entry } = await sweepOne();
    assert.equal(entry.escrow, 'unreadable');
    assert.match(entry.escrowReason ?? '', /alias\/gone points at no key/);
  });

  test('unreadable: access denied, with the permission to grant', async () => {
    secretsMock.on(DescribeSecretCommand).rejects(awsError('AccessDeniedException'));
    const { entry } = await sweepOne();
    assert.equal(entry.escrow, 'unreadable');
    assert.match(entry.escrowReason ?? '', new RegExp(`${secretId} for key ${K} could not be described`));
    assert.match(entry.escrowReason ?? '', /secretsmanager:DescribeSecret/);
  });

  test('unreadable: transient errors are retried, then reported; the sweep goes on', async () => {
    secretsMock.on(DescribeSecretCommand).rejects(new InternalServiceError({ message: 'boom', $metadata: {} }));
    const { entry } = await sweepOne();
    assert.equal(entry.escrow, 'unreadable');
    assert.match(entry.escrowReason ?? '', /kept failing/);
    assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, noWait.maxAttempts);

    secretsMock.reset();
    kmsMock.reset();
    taggingMock.reset();
    secretsMock
      .on(DescribeSecretCommand)
      .rejectsOnce(new InternalServiceError({ message: 'boom', $metadata: {} }))
      .resolves({ Name: secretId });
    assert.equal((await sweepOne()).entry.escrow, 'ok');
  });

  test('a key whose material KMS generated has no escrow to check', async () => {
    const { entry } = await sweepOne({ origin: 'AWS_KMS' });
    assert.equal(entry.classification, 'not-external');
    assert.equal(entry.escrow, undefined);
    assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 0);
  });

  test('a broken escrow does not change the work: a PendingImport key is still recovered', async () => {
    secretsMock.on(DescribeSecretCommand).rejects(new ResourceNotFoundException({ message: 'not found', $metadata: {} }));
    const { entry, items } = await sweepOne({ state: 'PendingImport', missing: ['a'], validInDays: undefined });
    assert.equal(entry.escrow, 'missing');
    assert.deepEqual(items.map((i) => [i.keyRef, i.action]), [[K, 'recover']]);
  });
});

describe('sweepManagedKeys: escrow health from ListSecrets pages (one walk for every key)', () => {
  const keys = [1, 2, 3].map((n): FakeKey => ({ id: id(n), state: 'Enabled', validInDays: 60, tags: MANAGED }));
  const sweep = async (entries: SecretListEntry[][], fleet: FakeKey[] = keys) => {
    serveKeys(fleet);
    listed([fleet.map((k) => arn(k.id))]);
    const stub = secretsMock.on(ListSecretsCommand);
    entries.forEach((page, i) => stub.resolvesOnce({ SecretList: page, ...(i < entries.length - 1 ? { NextToken: `next-${i + 1}` } : {}) }));
    const result = await sweepManagedKeys({ tagging, kms, secrets }, config, NOW, { retry: noWait });
    const entry = (n: number) => result.report.find((e) => e.keyId === id(n))!;
    return { ...result, entry };
  };

  test('every page is read once; the same rules as DescribeSecret, over each list entry; no DescribeSecret for a listed secret', async () => {
    const tagged = 'kms-reimport/shared/team-a';
    const fleet: FakeKey[] = [...keys, { id: id(4), state: 'Enabled', validInDays: 60, tags: { ...MANAGED, 'kms-reimport:escrow': tagged } }];
    const { entry } = await sweep(
      [
        [escrowEntry(id(1)), escrowEntry(id(2), { DeletedDate: new Date('2025-05-30T00:00:00Z') })],
        [
          escrowEntry(id(3), { KmsKeyId: arn(id(3)) }),
          { ARN: 'arn:aws:secretsmanager:us-east-1:111122223333:secret:kms-reimport/shared/team-a-XyZabc', Name: tagged, Tags: [{ Key: 'kms-reimport:key-id', Value: id(9) }] },
        ],
      ],
      fleet,
    );
    assert.equal(entry(1).escrow, 'ok');
    assert.equal(entry(2).escrow, 'missing');
    assert.match(entry(2).escrowReason ?? '', /scheduled for deletion/);
    assert.equal(entry(3).escrow, 'self-encrypted');
    assert.equal(entry(4).escrow, 'unbound');
    assert.match(entry(4).escrowReason ?? '', new RegExp(`${tagged} named by key ${id(4)}'s escrow tag is not bound`));
    const pages = secretsMock.commandCalls(ListSecretsCommand).map((c) => c.args[0].input.NextToken);
    assert.deepEqual(pages, [undefined, 'next-1']);
    assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 0);
  });

  test('a secret the walk did not list is described (a missing one is missing); the others are not', async () => {
    secretsMock.on(DescribeSecretCommand).rejects(new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: {} }));
    const { entry } = await sweep([[escrowEntry(id(1)), escrowEntry(id(3))]]);
    assert.equal(entry(1).escrow, 'ok');
    assert.equal(entry(2).escrow, 'missing');
    assert.equal(entry(3).escrow, 'ok');
    assert.deepEqual(
      secretsMock.commandCalls(DescribeSecretCommand).map((c) => c.args[0].input.SecretId),
      [`kms-reimport/${id(2)}`],
    );
  });

  test('ListSecrets not allowed: every key is checked with DescribeSecret, as before', async () => {
    secretsMock.on(ListSecretsCommand).rejects(awsError('AccessDeniedException'));
    serveKeys(keys);
    listed([keys.map((k) => arn(k.id))]);
    const { report } = await sweepManagedKeys({ tagging, kms, secrets }, config, NOW, { retry: noWait });
    assert.deepEqual(report.map((e) => e.escrow), ['ok', 'ok', 'ok']);
    assert.equal(secretsMock.commandCalls(ListSecretsCommand).length, 1);
    assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 3);
  });
});

describe('sweepManagedKeys: ListKeyRotations only where DescribeKey cannot decide', () => {
  test('a healthy key without a schedule, an AWS_KMS key and a disabled key are decided by DescribeKey alone', async () => {
    serveKeys([
      { id: id(1), state: 'Enabled', validInDays: 60, tags: MANAGED },
      { id: id(2), state: 'Enabled', validInDays: 60, tags: MANAGED, origin: 'AWS_KMS' },
      { id: id(3), state: 'Disabled', validInDays: 60, tags: MANAGED },
      { id: id(4), state: 'Enabled', validInDays: 60, tags: { ...MANAGED, 'kms-reimport:rotate-every': 'off' } },
    ]);
    listed([[1, 2, 3, 4].map((n) => arn(id(n)))]);
    const { report } = await sweepManagedKeys({ tagging, kms, secrets }, config, NOW, { retry: noWait });
    assert.deepEqual(report.map((e) => e.classification).sort(), ['disabled', 'healthy', 'healthy', 'not-external']);
    assert.equal(kmsMock.commandCalls(ListKeyRotationsCommand).length, 0);
    assert.equal(kmsMock.commandCalls(ListResourceTagsCommand).length, 0);
  });

  test('a PendingImport key is listed (which materials are missing; a key that never held one is never-imported)', async () => {
    serveKeys([{ id: id(1), state: 'PendingImport', tags: MANAGED, missing: ['a'] }]);
    kmsMock.on(ListKeyRotationsCommand).resolves({ Rotations: [], Truncated: false });
    kmsMock.on(DescribeKeyCommand).resolves({
      KeyMetadata: { KeyId: id(1), Arn: arn(id(1)), KeyState: 'PendingImport', Origin: 'EXTERNAL', KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT' },
    });
    listed([[arn(id(1))]]);
    const { report, items } = await sweepManagedKeys({ tagging, kms, secrets }, config, NOW, { retry: noWait });
    assert.equal(report[0]?.classification, 'never-imported');
    assert.deepEqual(items, []);
    assert.equal(kmsMock.commandCalls(ListKeyRotationsCommand).length, 1);
  });

  test('a schedule that needs the material age lists it; one decided by the tag alone (off, malformed) does not', async () => {
    serveKeys([
      { id: id(1), state: 'Enabled', validInDays: 60, tags: { ...MANAGED, 'kms-reimport:rotate-every': '90d' }, createdDaysAgo: 10 },
      { id: id(2), state: 'Enabled', validInDays: 60, tags: { ...MANAGED, 'kms-reimport:rotate-every': 'soon' }, createdDaysAgo: 10 },
    ]);
    listed([[arn(id(1)), arn(id(2))]]);
    const { report } = await sweepManagedKeys({ tagging, kms, secrets }, config, NOW, { retry: noWait });
    const entry = (n: number) => report.find((e) => e.keyId === id(n));
    assert.equal(entry(1)?.rotation?.ageFrom, 'creation');
    assert.equal(entry(2)?.rotation?.problemName, 'RotationScheduleInvalid');
    assert.deepEqual(kmsMock.commandCalls(ListKeyRotationsCommand).map((c) => c.args[0].input.KeyId), [id(1)]);
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
