/**
 * The `rotate` and `plan --action rotate` commands, run as the real CLI (bin/kms-reimport.js) in a
 * child process against the local endpoint: thin over lib's rotateKey, the outcome printed, no
 * material in the output.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { assertNoMaterial, onboardKey, REGION, startLocalAws, type LocalAws } from '../support/local-aws.js';

const run = promisify(execFile);
let aws: LocalAws;
before(async () => {
  aws = await startLocalAws();
});
after(() => aws.closeAfterLeakCheck());

async function cli(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  const env = {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'AKIDCLI',
    AWS_SECRET_ACCESS_KEY: 'cli',
    KMS_REIMPORT_WRAPPING_KEY_SPEC: 'RSA_2048',
    KMS_REIMPORT_LEASE_TABLE: '',
  };
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/kms-reimport.js', ...args, '--endpoint-url', aws.endpoint.url, '--region', REGION], { env });
    return { stdout, stderr, code: 0 };
  } catch (e) {
    const failed = e as { stdout: string; stderr: string; code: number };
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
  }
}

test('plan --action rotate says what would happen; rotate does it and prints the outcome', async () => {
  const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 86_400 });
  const before = (await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata?.CurrentKeyMaterialId;

  const plan = await cli('plan', key.keyId, '--action', 'rotate');
  assert.equal(plan.code, 0, plan.stderr);
  assert.match(plan.stdout, /^PLANNED key .*would rotate key .* in place/);
  assert.equal((await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata?.CurrentKeyMaterialId, before, 'a plan changes nothing');

  // Without a lease table a rotation refuses to start (bad usage, exit 2), and changes nothing.
  const refused = await cli('rotate', key.keyId, '--json');
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /rotate needs the per-key lease table/);
  assert.equal((await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata?.CurrentKeyMaterialId, before);

  const rotated = await cli('rotate', key.keyId, '--json', '--no-lease');
  assert.equal(rotated.code, 0, rotated.stderr);
  const outcome = JSON.parse(rotated.stdout) as { status: string; rotation?: { mode: string; fromKeyMaterialId?: string; toKeyMaterialId?: string } };
  assert.equal(outcome.status, 'rotated');
  assert.equal(outcome.rotation?.mode, 'in-place');
  assert.equal(outcome.rotation?.fromKeyMaterialId, before);
  const after = (await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata?.CurrentKeyMaterialId;
  assert.equal(outcome.rotation?.toKeyMaterialId, after);
  assert.notEqual(after, before);
  assertNoMaterial(rotated.stdout + rotated.stderr + plan.stdout + plan.stderr, [key.material], 'CLI output');

  // A plan that cannot even look at the key fails, and says so with the exit status.
  const missing = await cli('plan', '1234abcd-0000-4000-8000-000000000000', '--action', 'rotate');
  assert.equal(missing.code, 1, missing.stdout + missing.stderr);
  assert.match(missing.stdout, /^FAILED .*KeyNotFound/);

  const help = await cli('rotate', '--help');
  assert.match(help.stdout, /--mode <mode>/);
  assert.match(help.stdout, /--no-lease/);
});
