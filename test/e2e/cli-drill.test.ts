/**
 * `kms-reimport drill` on an account, as a person runs it: the real binary in a child process,
 * pointed at the local endpoint as an AWS stand-in with --endpoint-url (not --local). Everything in
 * the endpoint is listed before and after: the drill leaves nothing behind but its own key's
 * scheduled deletion and its own secret's scheduled deletion. Ctrl-C mid-run (the endpoint slowed
 * down through its latency control) still cleans up.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { DescribeKeyCommand, ListAliasesCommand, ListKeysCommand, ListResourceTagsCommand } from '@aws-sdk/client-kms';
import { DescribeSecretCommand, ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { BIN, cliEnv, runCli, validateOutput } from '../support/cli.js';
import { onboardKey, startLocalAws, type LocalAws } from '../support/local-aws.js';

let aws: LocalAws;

before(async () => {
  aws = await startLocalAws({ kms: { wrappingKeyPoolSize: 2 } });
  // Someone else's key and escrow, which the drill must leave exactly as they are.
  await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 30 * 86_400 });
});
after(async () => {
  await aws.close();
});

/** The environment of the Ctrl-C run (spawned by hand to send the signal), as runCli gives it. */
const ENV = cliEnv();

interface Inventory {
  keys: Map<string, { state: string; tags: Record<string, string> }>;
  secrets: Map<string, { deleted: boolean; tags: Record<string, string> }>;
  aliases: string[];
}

/** Everything in the endpoint: every key (state, tags), every secret (also those scheduled for deletion), every alias. */
async function inventory(): Promise<Inventory> {
  const keys: Inventory['keys'] = new Map();
  for (const k of (await aws.kms.send(new ListKeysCommand({ Limit: 1000 }))).Keys ?? []) {
    const meta = (await aws.kms.send(new DescribeKeyCommand({ KeyId: k.KeyId! }))).KeyMetadata!;
    const tags = Object.fromEntries(((await aws.kms.send(new ListResourceTagsCommand({ KeyId: k.KeyId! }))).Tags ?? []).map((t) => [t.TagKey!, t.TagValue!]));
    keys.set(k.KeyId!, { state: meta.KeyState!, tags });
  }
  const secrets: Inventory['secrets'] = new Map();
  for (const s of (await aws.secrets.send(new ListSecretsCommand({ IncludePlannedDeletion: true, MaxResults: 100 }))).SecretList ?? []) {
    const described = await aws.secrets.send(new DescribeSecretCommand({ SecretId: s.ARN! }));
    secrets.set(s.Name!, { deleted: described.DeletedDate !== undefined, tags: Object.fromEntries((described.Tags ?? []).map((t) => [t.Key!, t.Value!])) });
  }
  const aliases = ((await aws.kms.send(new ListAliasesCommand({ Limit: 100 }))).Aliases ?? []).map((a) => a.AliasName!).sort();
  return { keys, secrets, aliases };
}

/** What changed: new keys and secrets, and every old one that changed at all. */
function difference(before: Inventory, after: Inventory) {
  const newKeys = [...after.keys].filter(([id]) => !before.keys.has(id));
  const changedKeys = [...before.keys].filter(([id, k]) => JSON.stringify(after.keys.get(id)) !== JSON.stringify(k)).map(([id]) => id);
  const newSecrets = [...after.secrets].filter(([name]) => !before.secrets.has(name));
  const changedSecrets = [...before.secrets].filter(([name, s]) => JSON.stringify(after.secrets.get(name)) !== JSON.stringify(s)).map(([name]) => name);
  return { newKeys, changedKeys, newSecrets, changedSecrets, aliasesBefore: before.aliases, aliasesAfter: after.aliases };
}

test('without --yes the drill prints its plan and cost, creates nothing and exits 2', async () => {
  const before = await inventory();
  const result = await runCli(['drill', '--endpoint-url', aws.endpoint.url]);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stdout, /It creates, and cleans up when it ends \(also on Ctrl-C\)/);
  assert.match(result.stdout, /Cost: the key \$1\/month prorated hourly/);
  assert.match(result.stderr, /Nothing was created\. Run again with --yes/);
  const d = difference(before, await inventory());
  assert.deepEqual([d.newKeys.length, d.changedKeys, d.newSecrets.length, d.changedSecrets], [0, [], 0, []]);
});

test('drill --yes on the endpoint as an AWS stand-in passes and leaves only its own key and secret, both scheduled for deletion', async () => {
  const before = await inventory();
  const result = await runCli(['drill', '--yes', '--endpoint-url', aws.endpoint.url, '--json']);
  assert.equal(result.code, 0, result.stderr);
  validateOutput('drill', JSON.parse(result.stdout));
  const report = JSON.parse(result.stdout) as { ok: boolean; drillId: string; keyId: string; deletionToEnabledMs: number; cleanup: string[]; steps: Array<{ name: string; ok: boolean }> };
  assert.equal(report.ok, true);
  assert.equal(report.steps.length, 6);
  assert.ok(report.deletionToEnabledMs >= 0);
  assert.match(result.stderr, /Recover it through the library/);

  const d = difference(before, await inventory());
  assert.deepEqual(d.changedKeys, [], 'no other key changed');
  assert.deepEqual(d.changedSecrets, [], 'no other secret changed');
  assert.deepEqual(d.aliasesAfter, d.aliasesBefore, 'no alias left');
  assert.equal(d.newKeys.length, 1);
  const [keyId, key] = d.newKeys[0]!;
  assert.equal(keyId, report.keyId);
  assert.equal(key.state, 'PendingDeletion');
  assert.equal(key.tags['kms-reimport:drill'], report.drillId);
  assert.equal(d.newSecrets.length, 1);
  const [secretName, secret] = d.newSecrets[0]!;
  assert.equal(secretName, `kms-reimport/${keyId}`);
  assert.equal(secret.deleted, true, 'the secret is scheduled for deletion (7-day recovery window), not force-deleted');
  assert.equal(secret.tags['kms-reimport:drill'], report.drillId);
  assert.match(report.cleanup.join('\n'), /scheduled for deletion on[\s\S]*7-day recovery window/);
});

test('Ctrl-C mid-run stops the drill, cleans up its key and secret, and exits 130', async () => {
  const before = await inventory();
  aws.endpoint.controls.setLatency('*', 300);
  try {
    const child = spawn(process.execPath, [BIN, 'drill', '--yes', '--endpoint-url', aws.endpoint.url], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stderr.resume();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the drill never reached its second step: ${stdout}`)), 120_000);
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        // The key exists and the escrow step is under way (slowed by the latency): interrupt now.
        if (/\[ 2\/6\] Escrow/.test(stdout)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 130, stdout);
    assert.match(stdout, /Interrupted \(Ctrl-C\)/);
    assert.match(stdout, /DRILL INTERRUPTED/);
    assert.doesNotMatch(stdout, /\[ 4\/6\] Delete the imported material/, 'it stopped before the outage step');

    const d = difference(before, await inventory());
    assert.deepEqual(d.changedKeys, []);
    assert.deepEqual(d.changedSecrets, []);
    assert.equal(d.newKeys.length, 1);
    assert.equal(d.newKeys[0]![1].state, 'PendingDeletion');
    for (const [, secret] of d.newSecrets) assert.equal(secret.deleted, true);
  } finally {
    aws.endpoint.controls.setLatency('*', 0);
  }
});
