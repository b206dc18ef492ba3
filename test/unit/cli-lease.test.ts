/** cli/lease.ts: --lease-table / KMS_REIMPORT_LEASE_TABLE open the DynamoDB lease; without one, a single warning per process. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLease } from '../../cli/lease.js';
import { DEFAULT_CONFIG, loadConfig } from '../../lib/config.js';
import { DynamoDbKeyLease } from '../../lib/lease/index.js';

test('a table from the option (or from KMS_REIMPORT_LEASE_TABLE) opens the DynamoDB lease, no warning; each run a fresh owner', () => {
  const warnings: string[] = [];
  const fromOption = openLease('my-leases', { ...DEFAULT_CONFIG }, { region: 'us-east-1' }, (l) => warnings.push(l));
  assert.ok(fromOption.lease instanceof DynamoDbKeyLease);
  assert.equal(fromOption.lease.where, 'lease table my-leases');
  assert.notEqual(fromOption.owner(), fromOption.owner(), 'two runs in one process never share an owner');
  assert.match(fromOption.owner(), /^cli:/);
  fromOption.close();
  const fromEnv = openLease(undefined, loadConfig({ KMS_REIMPORT_LEASE_TABLE: 'env-leases' }), { region: 'us-east-1' }, (l) => warnings.push(l));
  assert.equal(fromEnv.lease?.where, 'lease table env-leases');
  fromEnv.close();
  assert.deepEqual(warnings, []);
});

test('no table: no lease, and the warning that runs are not serialised comes once per process', () => {
  const warnings: string[] = [];
  for (let i = 0; i < 3; i++) {
    const none = openLease(undefined, { ...DEFAULT_CONFIG }, {}, (l) => warnings.push(l));
    assert.equal(none.lease, undefined);
  }
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /not serialised/);
  assert.match(warnings[0]!, /--lease-table or KMS_REIMPORT_LEASE_TABLE/);
});

test('KMS_REIMPORT_LEASE_TABLE must be a table name; KMS_REIMPORT_LEASE_WAIT_SECONDS is bounded', () => {
  assert.throws(() => loadConfig({ KMS_REIMPORT_LEASE_TABLE: 'no spaces allowed' }), /KMS_REIMPORT_LEASE_TABLE/);
  assert.equal(loadConfig({ KMS_REIMPORT_LEASE_WAIT_SECONDS: '3' }).leaseWaitSeconds, 3);
  assert.equal(loadConfig({}).leaseWaitSeconds, undefined);
  assert.throws(() => loadConfig({ KMS_REIMPORT_LEASE_WAIT_SECONDS: '301' }), /KMS_REIMPORT_LEASE_WAIT_SECONDS/);
});

test('--profile reaches the lease\'s DynamoDB client (its Region comes from the named profile)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kms-reimport-lease-profile-'));
  const saved = { config: process.env.AWS_CONFIG_FILE, region: process.env.AWS_REGION };
  try {
    writeFileSync(join(dir, 'config'), '[profile lease-ops]\nregion = eu-west-3\n');
    process.env.AWS_CONFIG_FILE = join(dir, 'config');
    delete process.env.AWS_REGION;
    const opened = openLease('my-leases', { ...DEFAULT_CONFIG }, { profile: 'lease-ops' }, () => undefined);
    const client = (opened.lease as unknown as { client: { config: { region: () => Promise<string> } } }).client;
    assert.equal(await client.config.region(), 'eu-west-3');
    opened.close();
  } finally {
    if (saved.config === undefined) delete process.env.AWS_CONFIG_FILE;
    else process.env.AWS_CONFIG_FILE = saved.config;
    if (saved.region !== undefined) process.env.AWS_REGION = saved.region;
    rmSync(dir, { recursive: true, force: true });
  }
});
