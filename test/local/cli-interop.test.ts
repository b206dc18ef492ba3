// The seed's manual BYOK procedure, run with the REAL AWS CLI and openssl against the in-process
// local endpoint: create-key --origin EXTERNAL, get-parameters-for-import, openssl OAEP wrap (and
// RSA_AES_KEY_WRAP with openssl's id-aes256-wrap-pad), import-key-material, encrypt,
// delete-imported-key-material, PendingImport, reimport of the same material, decrypt of the old
// ciphertext, different material, a token after 24 hours; and Secrets Manager binary secrets.
// Runs with every CLI present: Debian's awscli v2 (/usr/bin/aws) and `aws` on PATH (v1).
// Without any CLI or without openssl it skips, unless CI is set, where it fails.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { startLocalEndpoint, type LocalEndpoint } from '../../local/index.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program asynchronously (the endpoint answers in this same process: never block it). */
function run(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
    });
  });
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

async function usable(path: string | undefined, versionArgs = ['--version']): Promise<string | undefined> {
  if (!path || !existsSync(path)) return undefined;
  const version = await run(path, versionArgs);
  return version.code === 0 ? `${version.stdout}${version.stderr}`.trim() : undefined;
}

interface Cli {
  label: string;
  path: string;
}

async function findClis(): Promise<Cli[]> {
  const found: Cli[] = [];
  const seen = new Set<string>();
  for (const path of ['/usr/bin/aws', onPath('aws')]) {
    const version = await usable(path);
    if (!path || !version) continue;
    // pyenv shims are scripts that dispatch elsewhere: tell CLIs apart by their version line.
    if (seen.has(version)) continue;
    seen.add(version);
    found.push({ label: `${version.split(' ')[0]} (${path})`, path });
  }
  return found;
}

const clis = await findClis();
const openssl = (await usable(onPath('openssl'), ['version'])) ? onPath('openssl')! : undefined;
const missing = clis.length === 0 ? 'no AWS CLI found (/usr/bin/aws or aws on PATH)' : !openssl ? 'openssl not found on PATH' : undefined;
if (missing && process.env['CI']) {
  throw new Error(`CLI interoperability test cannot run in CI: ${missing}. Install Debian's awscli and openssl (.ci/run does).`);
}

let endpoint: LocalEndpoint;
let work: string;

before(async () => {
  // The RSA_AES_KEY_WRAP step below wraps symmetric material to check the openssl layout; KMS
  // lists RSA_AES for RSA and ECC material only, so the endpoint is told to allow it here.
  endpoint = await startLocalEndpoint({ kms: { rsaAesForSymmetric: 'allow' } });
  work = mkdtempSync(join(tmpdir(), 'kms-cli-interop-'));
});
after(async () => {
  await endpoint?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

function cliEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'x',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_REGION: 'us-east-1',
    AWS_CONFIG_FILE: join(work, 'no-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(work, 'no-credentials'),
    AWS_PAGER: '',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}

function procedure(cli: Cli) {
  const dir = () => join(work, cli.label.replace(/[^A-Za-z0-9.]+/g, '_'));
  const file = (name: string) => join(dir(), name);

  async function aws(service: string, command: string, args: string[]): Promise<Record<string, unknown>> {
    const result = await run(cli.path, [service, command, ...args, '--endpoint-url', endpoint.url, '--output', 'json'], cliEnv());
    if (result.code !== 0) throw new Error(`aws ${service} ${command} failed (${result.code}): ${result.stderr.trim()}`);
    return result.stdout.trim() ? (JSON.parse(result.stdout) as Record<string, unknown>) : {};
  }

  async function awsFails(service: string, command: string, args: string[]): Promise<string> {
    const result = await run(cli.path, [service, command, ...args, '--endpoint-url', endpoint.url, '--output', 'json'], cliEnv());
    assert.notEqual(result.code, 0, `aws ${service} ${command} was expected to fail`);
    return result.stderr;
  }

  async function ssl(args: string[]): Promise<void> {
    const result = await run(openssl!, args);
    if (result.code !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
  }

  /** get-parameters-for-import, files as the seed writes them: DER wrapping key and binary token. */
  async function parameters(keyId: string, algorithm: string, spec: string, tag: string) {
    const out = await aws('kms', 'get-parameters-for-import', ['--key-id', keyId, '--wrapping-algorithm', algorithm, '--wrapping-key-spec', spec]);
    writeFileSync(file(`${tag}-wrapping-key.der`), Buffer.from(String(out['PublicKey']), 'base64'));
    writeFileSync(file(`${tag}-token.bin`), Buffer.from(String(out['ImportToken']), 'base64'));
    return out;
  }

  async function oaepWrap(tag: string, input: string, output: string, md: 'sha1' | 'sha256') {
    await ssl(['pkeyutl', '-encrypt', '-in', input, '-out', output, '-inkey', file(`${tag}-wrapping-key.der`), '-keyform', 'DER', '-pubin',
      '-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', `rsa_oaep_md:${md}`, '-pkeyopt', `rsa_mgf1_md:${md}`]);
  }

  async function importKeyMaterial(keyId: string, tag: string, encrypted: string) {
    return aws('kms', 'import-key-material', ['--key-id', keyId, '--encrypted-key-material', `fileb://${encrypted}`, '--import-token', `fileb://${file(`${tag}-token.bin`)}`,
      '--expiration-model', 'KEY_MATERIAL_DOES_NOT_EXPIRE']);
  }

  async function keyState(keyId: string): Promise<string> {
    const out = await aws('kms', 'describe-key', ['--key-id', keyId]);
    return String((out['KeyMetadata'] as Record<string, unknown>)['KeyState']);
  }

  return async () => {
    mkdirSync(dir(), { recursive: true });
    await ssl(['rand', '-out', file('material.bin'), '32']);
    const material = readFileSync(file('material.bin'));

    const created = await aws('kms', 'create-key', ['--origin', 'EXTERNAL', '--description', 'cli interop']);
    const keyId = String((created['KeyMetadata'] as Record<string, unknown>)['KeyId']);
    assert.equal(await keyState(keyId), 'PendingImport');

    // Import with RSAES_OAEP_SHA_1 / RSA_2048, encrypt, then delete the material.
    await parameters(keyId, 'RSAES_OAEP_SHA_1', 'RSA_2048', 'p1');
    await oaepWrap('p1', file('material.bin'), file('p1-encrypted.bin'), 'sha1');
    const imported = await importKeyMaterial(keyId, 'p1', file('p1-encrypted.bin'));
    assert.match(String(imported['KeyId'] ?? keyId), new RegExp(keyId));
    assert.equal(await keyState(keyId), 'Enabled');
    writeFileSync(file('plain.txt'), 'the data that must survive');
    const encrypted = await aws('kms', 'encrypt', ['--key-id', keyId, '--plaintext', `fileb://${file('plain.txt')}`]);
    writeFileSync(file('ciphertext.bin'), Buffer.from(String(encrypted['CiphertextBlob']), 'base64'));
    await aws('kms', 'delete-imported-key-material', ['--key-id', keyId]);
    assert.equal(await keyState(keyId), 'PendingImport');
    const blocked = await awsFails('kms', 'decrypt', ['--ciphertext-blob', `fileb://${file('ciphertext.bin')}`]);
    assert.match(blocked, /KMSInvalidStateException/);

    // New parameters (RSAES_OAEP_SHA_256 / RSA_2048), reimport the same material, decrypt the old ciphertext.
    await parameters(keyId, 'RSAES_OAEP_SHA_256', 'RSA_2048', 'p2');
    await oaepWrap('p2', file('material.bin'), file('p2-encrypted.bin'), 'sha256');
    await importKeyMaterial(keyId, 'p2', file('p2-encrypted.bin'));
    assert.equal(await keyState(keyId), 'Enabled');
    let decrypted = await aws('kms', 'decrypt', ['--ciphertext-blob', `fileb://${file('ciphertext.bin')}`]);
    assert.equal(Buffer.from(String(decrypted['Plaintext']), 'base64').toString(), 'the data that must survive');

    // RSA_AES_KEY_WRAP_SHA_256 with RSA_4096: openssl AES key wrap with padding, then OAEP of the AES key, RSA part first.
    await aws('kms', 'delete-imported-key-material', ['--key-id', keyId]);
    await parameters(keyId, 'RSA_AES_KEY_WRAP_SHA_256', 'RSA_4096', 'p3');
    await ssl(['rand', '-out', file('aes-key.bin'), '32']);
    const aesHex = readFileSync(file('aes-key.bin')).toString('hex');
    await ssl(['enc', '-id-aes256-wrap-pad', '-K', aesHex, '-iv', 'A65959A6', '-in', file('material.bin'), '-out', file('material-wrapped.bin')]);
    await oaepWrap('p3', file('aes-key.bin'), file('aes-key-wrapped.bin'), 'sha256');
    writeFileSync(file('p3-encrypted.bin'), Buffer.concat([readFileSync(file('aes-key-wrapped.bin')), readFileSync(file('material-wrapped.bin'))]));
    await importKeyMaterial(keyId, 'p3', file('p3-encrypted.bin'));
    decrypted = await aws('kms', 'decrypt', ['--ciphertext-blob', `fileb://${file('ciphertext.bin')}`]);
    assert.equal(Buffer.from(String(decrypted['Plaintext']), 'base64').toString(), 'the data that must survive');

    // Different material is refused.
    await ssl(['rand', '-out', file('other.bin'), '32']);
    await parameters(keyId, 'RSAES_OAEP_SHA_256', 'RSA_2048', 'p4');
    await oaepWrap('p4', file('other.bin'), file('p4-encrypted.bin'), 'sha256');
    assert.match(await awsFails('kms', 'import-key-material', ['--key-id', keyId, '--encrypted-key-material', `fileb://${file('p4-encrypted.bin')}`, '--import-token', `fileb://${file('p4-token.bin')}`, '--expiration-model', 'KEY_MATERIAL_DOES_NOT_EXPIRE']), /IncorrectKeyMaterialException/);

    // A token after its 24 hours is expired (the endpoint clock moves, not the wall clock).
    await parameters(keyId, 'RSAES_OAEP_SHA_256', 'RSA_2048', 'p5');
    await oaepWrap('p5', file('material.bin'), file('p5-encrypted.bin'), 'sha256');
    endpoint.clock.advance(24 * 3600 + 1);
    assert.match(await awsFails('kms', 'import-key-material', ['--key-id', keyId, '--encrypted-key-material', `fileb://${file('p5-encrypted.bin')}`, '--import-token', `fileb://${file('p5-token.bin')}`, '--expiration-model', 'KEY_MATERIAL_DOES_NOT_EXPIRE']), /ExpiredImportTokenException/);

    // Escrow-style binary secret round trip.
    const name = `escrow/${keyId}/${cli.label.split(' ')[0]}`;
    await aws('secretsmanager', 'create-secret', ['--name', name, '--secret-binary', `fileb://${file('material.bin')}`]);
    const secret = await aws('secretsmanager', 'get-secret-value', ['--secret-id', name]);
    assert.deepEqual(Buffer.from(String(secret['SecretBinary']), 'base64'), material);
  };
}

describe('seed procedure with the real AWS CLI and openssl', () => {
  if (missing) {
    it(`skipped: ${missing}`, { skip: `${missing} (set CI to make this a failure)` }, () => {});
    return;
  }
  for (const cli of clis) {
    it(`runs with ${cli.label}`, procedure(cli));
  }
});
