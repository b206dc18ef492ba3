/**
 * lib/lease against a real DynamoDB (dynalite on 127.0.0.1, the table created as template.yaml
 * defines it): acquire, taken, a lapsed lease taken over, release only by the owner, the TTL
 * attribute, and a table that cannot be used.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DeleteItemCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { startDynalite, type LocalDynamo } from '../support/dynalite.js';
import { DynamoDbKeyLease, LEASE_SECONDS } from '../../lib/lease/index.js';
import { LeaseTaken, LeaseUnavailable } from '../../lib/errors.js';
import { loadTemplate } from './template-load.js';

const TABLE = 'kms-reimport-lease-unit';
const KEY = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
let dynamo: LocalDynamo;
let keyN = 0;
const nextKey = () => `${KEY}-${++keyN}`;

before(async () => {
  dynamo = await startDynalite();
  await dynamo.createLeaseTable(TABLE);
});
after(async () => {
  await dynamo.close();
});

/** A lease whose clock the test moves (whole seconds, like the table's). */
function leaseAt(start: number) {
  const clock = { ms: start };
  return { clock, lease: new DynamoDbKeyLease({ client: dynamo.client, tableName: TABLE, now: () => new Date(clock.ms) }) };
}

const item = async (keyArn: string) =>
  (await dynamo.client.send(new GetItemCommand({ TableName: TABLE, Key: { keyArn: { S: keyArn } }, ConsistentRead: true }))).Item;

test('acquire writes one item: the key ARN, the owner, and expiresAt in epoch seconds (the TTL attribute) LEASE_SECONDS ahead', async () => {
  const key = nextKey();
  const { lease } = leaseAt(Date.parse('2026-06-01T12:00:00.000Z'));
  const held = await lease.acquire(key, 'run-a');
  assert.deepEqual(held, { keyArn: key, owner: 'run-a', expiresAt: '2026-06-01T13:00:00.000Z' });
  const stored = await item(key);
  assert.equal(stored?.owner?.S, 'run-a');
  assert.equal(stored?.expiresAt?.N, String(Date.parse('2026-06-01T12:00:00.000Z') / 1000 + LEASE_SECONDS));
  // The attribute the table expires by (template.yaml) is the one written, as a Number.
  const ttl = loadTemplate().Resources.LeaseTable!.Properties.TimeToLiveSpecification;
  assert.equal(ttl.Enabled, true);
  assert.ok(stored?.[ttl.AttributeName]?.N, 'the TTL attribute is a Number');
});

test('a lease held by another owner: LeaseTaken naming the key, the holder, until when, and what to do', async () => {
  const key = nextKey();
  const t = Date.parse('2026-06-01T12:00:00.000Z');
  await leaseAt(t).lease.acquire(key, 'arn:aws:states:us-east-1:111122223333:execution:m:run-a');
  const error = await leaseAt(t + 60_000).lease.acquire(key, 'cli:host:1:b').catch((e: unknown) => e);
  assert.ok(error instanceof LeaseTaken);
  assert.equal(error.name, 'LeaseTaken');
  assert.equal(error.holder, 'arn:aws:states:us-east-1:111122223333:execution:m:run-a');
  assert.equal(error.expiresAt, '2026-06-01T13:00:00.000Z');
  assert.match(error.message, new RegExp(`Key ${key} is being worked on by arn:aws:states:.*:run-a`));
  assert.match(error.message, /never imported twice/);
  assert.match(error.message, /delete the item/);
  assert.equal((await item(key))?.owner?.S, 'arn:aws:states:us-east-1:111122223333:execution:m:run-a', 'the holder keeps it');
});

test('the same owner acquiring again (a retried write) keeps the lease and pushes its expiry', async () => {
  const key = nextKey();
  const t = Date.parse('2026-06-01T12:00:00.000Z');
  await leaseAt(t).lease.acquire(key, 'run-a');
  const again = await leaseAt(t + 10_000).lease.acquire(key, 'run-a');
  assert.equal(again.expiresAt, '2026-06-01T13:00:10.000Z');
});

test('a lapsed lease is taken over at once (the condition, not TTL, decides expiry)', async () => {
  const key = nextKey();
  const t = Date.parse('2026-06-01T12:00:00.000Z');
  await leaseAt(t).lease.acquire(key, 'run-that-died');
  await assert.rejects(leaseAt(t + LEASE_SECONDS * 1000 - 1000).lease.acquire(key, 'run-b'), LeaseTaken);
  const { lease } = leaseAt(t + LEASE_SECONDS * 1000 + 1000);
  assert.equal(await lease.holder(key), undefined, 'a lapsed lease is nobody\'s');
  const held = await lease.acquire(key, 'run-b');
  assert.equal(held.owner, 'run-b');
  assert.equal((await item(key))?.owner?.S, 'run-b');
});

test('release only by the owner: another owner\'s release changes nothing and says false', async () => {
  const key = nextKey();
  const { lease } = leaseAt(Date.parse('2026-06-01T12:00:00.000Z'));
  const held = await lease.acquire(key, 'run-a');
  assert.equal(await lease.release({ ...held, owner: 'run-b' }), false);
  assert.equal((await item(key))?.owner?.S, 'run-a');
  assert.deepEqual(await lease.holder(key), { owner: 'run-a', expiresAt: held.expiresAt });
  assert.equal(await lease.release(held), true);
  assert.equal(await item(key), undefined);
  assert.equal(await lease.release(held), false, 'releasing twice is harmless');
  const next = await lease.acquire(key, 'run-b');
  assert.equal(next.owner, 'run-b', 'free again after the release');
});

test('many runs at once for one key: exactly one gets the lease', async () => {
  const key = nextKey();
  const { lease } = leaseAt(Date.parse('2026-06-01T12:00:00.000Z'));
  const results = await Promise.allSettled(Array.from({ length: 25 }, (_, i) => lease.acquire(key, `run-${i}`)));
  const won = results.filter((r) => r.status === 'fulfilled');
  assert.equal(won.length, 1);
  for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof LeaseTaken, String(r.reason));
});

test('a table that does not exist: LeaseUnavailable naming the table, the AWS error and what to check', async () => {
  const lease = new DynamoDbKeyLease({ client: dynamo.client, tableName: 'no-such-table' });
  const error = await lease.acquire(nextKey(), 'run-a').catch((e: unknown) => e);
  assert.ok(error instanceof LeaseUnavailable);
  assert.match(error.message, /lease table no-such-table \(ResourceNotFoundException\)/);
  assert.match(error.message, /nothing was imported/);
});

test('a lease that changes hands every time this run looks: LeaseTaken (wait and inspect again), never LeaseUnavailable', async () => {
  const key = nextKey();
  const now = () => new Date('2026-06-01T12:00:00.000Z');
  await new DynamoDbKeyLease({ client: dynamo.client, tableName: TABLE, now }).acquire(key, 'run-0');
  // Between this run's failed PutItem and its read of the holder, the holder releases and the next run takes it,
  // as ten runs for one key on a busy machine do: the real table, with the other runs' writes in between.
  let handovers = 0;
  const churning = {
    send: async (command: Parameters<typeof dynamo.client.send>[0]) => {
      if (command instanceof GetItemCommand) {
        await dynamo.client.send(new DeleteItemCommand({ TableName: TABLE, Key: { keyArn: { S: key } } }));
        const seen = await dynamo.client.send(command);
        handovers++;
        await dynamo.client.send(new PutItemCommand({ TableName: TABLE, Item: { keyArn: { S: key }, owner: { S: `run-${handovers}` }, expiresAt: { N: '1780318800' } } }));
        return seen;
      }
      return dynamo.client.send(command as never);
    },
  } as unknown as typeof dynamo.client;
  const error = await new DynamoDbKeyLease({ client: churning, tableName: TABLE, now }).acquire(key, 'cli:host:1:me').catch((e: unknown) => e);
  assert.ok(error instanceof LeaseTaken, String(error));
  assert.ok(!(error instanceof LeaseUnavailable));
  assert.equal(handovers, 3, 'three tries, each seeing the lease released and then taken by another run');
  assert.match(error.message, new RegExp(`Key ${key}: its lease in lease table ${TABLE} was taken and released by other runs`));
  assert.match(error.message, /never imported twice/);
  assert.notEqual((await item(key))?.owner?.S, 'cli:host:1:me', 'this run never held it');
});
