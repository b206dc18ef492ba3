/**
 * The on-call command line, as a person runs it: the real `kms-reimport` binary in a child
 * process, against the local endpoint, reading endpoint and credentials the standard SDK way.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand, KMSClient, ListKeysCommand } from '@aws-sdk/client-kms';
import type { Outcome } from '../../lib/types.js';
import { onboardKey, startLocalAws, type LocalAws } from '../support/local-aws.js';
import { BIN, runCli, validateOutput } from '../support/cli.js';

let aws: LocalAws;

before(async () => {
  aws = await startLocalAws();
});
after(async () => {
  await aws.close();
});

const run = runCli;

test('plan, then recover an expired key by alias, with AWS_ENDPOINT_URL from the environment', async () => {
  const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 });
  const alias = `alias/cli-${randomBytes(3).toString('hex')}`;
  await aws.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.keyId }));
  // The CLI's ValidTo follows real time; expire the material by moving the endpoint clock only a
  // little past it, so real-time "now" is still before the lifetime the CLI picks.
  aws.endpoint.clock.advance(61);

  const plan = await run(['plan', alias, '--json'], { AWS_ENDPOINT_URL: aws.endpoint.url });
  assert.equal(plan.code, 0, plan.stderr);
  const planned = JSON.parse(plan.stdout) as Outcome;
  validateOutput('outcome', planned);
  assert.equal(planned.status, 'planned');
  assert.equal((await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!.KeyState, 'PendingImport', 'plan changed nothing');

  const recovered = await run(['recover', alias, '--json'], { AWS_ENDPOINT_URL: aws.endpoint.url });
  assert.equal(recovered.code, 0, recovered.stderr);
  const outcome = JSON.parse(recovered.stdout) as Outcome;
  validateOutput('outcome', outcome);
  assert.equal(outcome.status, 'recovered');
  assert.equal(outcome.keyId, key.keyId);
  assert.equal((await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!.KeyState, 'Enabled');
});

test('a failed recovery exits 1 with a line that names the key, via --endpoint-url', async () => {
  const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 });
  await aws.secrets.send(new PutSecretValueCommand({ SecretId: `${aws.config.escrowPrefix}${key.keyId}`, SecretBinary: randomBytes(32) }));
  aws.endpoint.clock.advance(61);

  const result = await run(['recover', key.keyId, '--endpoint-url', aws.endpoint.url]);

  assert.equal(result.code, 1);
  assert.match(result.stdout, /FAILED/);
  assert.match(result.stdout, new RegExp(key.keyId));
  assert.match(result.stdout, /IncorrectKeyMaterial/);
});

test('drill without --local refuses, saying why', async () => {
  const result = await run(['drill']);
  assert.equal(result.code, 2, 'bad usage');
  assert.match(result.stderr, /--local/);
});

test('a bad argument gets usage help, not a stack trace', async () => {
  const result = await run(['local', '--port', 'many']);
  assert.equal(result.code, 2, 'bad usage');
  assert.match(result.stderr, /port/);
  assert.doesNotMatch(result.stderr, /\n\s+at /);
});

test('kms-reimport local serves KMS on 127.0.0.1, keeps state with --persist, and stops on SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kms-reimport-local-'));
  const stateFile = join(dir, 'state.json');

  const startLocal = async () => {
    const child = spawn(process.execPath, [BIN, 'local', '--port', '0', '--persist', stateFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const match = /export AWS_ENDPOINT_URL=(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (match) resolve(match[1]!);
      });
      child.once('exit', (code) => reject(new Error(`local exited early (${code}): ${out}`)));
    });
    const client = new KMSClient({ endpoint: url, region: 'eu-west-1', credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'x' } });
    const stop = async () => {
      client.destroy();
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      return exited;
    };
    return { url, client, stop };
  };

  try {
    const first = await startLocal();
    const created = await first.client.send(new CreateKeyCommand({ Origin: 'EXTERNAL', Description: 'survives a restart' }));
    assert.equal(await first.stop(), 0, 'exits cleanly on SIGTERM');
    assert.equal(statSync(stateFile).mode & 0o777, 0o600, 'the state file is private');

    const second = await startLocal();
    const keys = await second.client.send(new ListKeysCommand({}));
    assert.ok(keys.Keys!.some((k) => k.KeyId === created.KeyMetadata!.KeyId), 'the key is still there after a restart');
    assert.equal(await second.stop(), 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
