/**
 * `kms-reimport onboard`, as a person runs it: the real binary in a child process against the local
 * endpoint. Keys are imported "by hand" first (GetParametersForImport, wrap, ImportKeyMaterial, no
 * escrow, no tag), then onboarded with their file. The README's "Onboard a key you imported by hand"
 * block is run as written, with the real AWS CLI and openssl.
 */
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DecryptCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GetParametersForImportCommand,
  GetPublicKeyCommand,
  ImportKeyMaterialCommand,
  ListResourceTagsCommand,
  SignCommand,
  VerifyCommand,
} from '@aws-sdk/client-kms';
import { CreateSecretCommand, DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { wrapKeyMaterial } from '../../lib/wrap/index.js';
import { BIN, runCli, validateOutput, type CliRun } from '../support/cli.js';
import { assertNoMaterial, onboardKey, startLocalAws, type LocalAws } from '../support/local-aws.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DAY_MS = 86_400_000;
let aws: LocalAws;
let work: string;

before(async () => {
  aws = await startLocalAws();
  work = mkdtempSync(join(tmpdir(), 'kms-onboard-'));
});
after(async () => {
  await aws.close();
  rmSync(work, { recursive: true, force: true });
});

type Run = CliRun;

/** The CLI against this file's endpoint (or another), with no pacing of GetParametersForImport. */
function endpointEnv(endpoint?: string): Record<string, string> {
  return { AWS_ENDPOINT_URL: endpoint ?? aws.endpoint.url, KMS_REIMPORT_PARAMETERS_INTERVAL_MS: '0' };
}

/** The CLI with `input` on its standard input (runCli leaves stdin open, as a terminal would). */
function run(args: string[], options: { input?: Buffer } = {}): Promise<Run> {
  if (options.input === undefined && !args.includes('--material-stdin')) return runCli(args, endpointEnv());
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', AWS_ACCESS_KEY_ID: 'AKIDONBOARD', AWS_SECRET_ACCESS_KEY: 'onboard', AWS_REGION: 'us-east-1', ...endpointEnv() },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdin.end(options.input ?? Buffer.alloc(0));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

interface HandImported {
  keyId: string;
  material: Buffer;
  file: string;
  validTo?: Date;
}

/**
 * An EXTERNAL key whose material was imported by hand: no escrow, no managed tag. `lifetimeDays`
 * null imports KEY_MATERIAL_DOES_NOT_EXPIRE.
 */
async function importedByHand(keySpec = 'SYMMETRIC_DEFAULT', lifetimeDays: number | null = 30, on: LocalAws = aws, dir = work): Promise<HandImported> {
  const { keyId, material } = await onboardKey(on, keySpec, { bare: true, managed: false });
  const symmetricFamily = keySpec === 'SYMMETRIC_DEFAULT' || keySpec.startsWith('HMAC_');
  const algorithm = symmetricFamily ? 'RSAES_OAEP_SHA_256' : 'RSA_AES_KEY_WRAP_SHA_256';
  const params = await on.kms.send(new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: algorithm, WrappingKeySpec: 'RSA_2048' }));
  const validTo = lifetimeDays === null ? undefined : new Date(Math.floor((Date.now() + lifetimeDays * DAY_MS) / 1000) * 1000);
  await on.kms.send(
    new ImportKeyMaterialCommand({
      KeyId: keyId,
      ImportToken: params.ImportToken,
      EncryptedKeyMaterial: wrapKeyMaterial(material, Buffer.from(params.PublicKey!), algorithm),
      ...(validTo ? { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: validTo } : { ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }),
    }),
  );
  const file = join(dir, `${keyId}.bin`);
  writeFileSync(file, material);
  return { keyId, material, file, ...(validTo ? { validTo } : {}) };
}

async function keyState(keyId: string): Promise<string> {
  return (await aws.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState!;
}

async function tags(keyId: string): Promise<Record<string, string>> {
  const out = await aws.kms.send(new ListResourceTagsCommand({ KeyId: keyId }));
  return Object.fromEntries((out.Tags ?? []).map((t) => [t.TagKey!, t.TagValue!]));
}

async function escrowExists(keyId: string): Promise<boolean> {
  try {
    await aws.secrets.send(new DescribeSecretCommand({ SecretId: `kms-reimport/${keyId}` }));
    return true;
  } catch (e) {
    if ((e as Error).name === 'ResourceNotFoundException') return false;
    throw e;
  }
}

async function escrowed(keyId: string): Promise<Buffer> {
  const value = await aws.secrets.send(new GetSecretValueCommand({ SecretId: `kms-reimport/${keyId}` }));
  return Buffer.from(value.SecretBinary!);
}

/** Nothing of this key changed: no escrow, no managed tag, still as it was. */
async function assertUntouched(keyId: string, state = 'Enabled'): Promise<void> {
  assert.equal(await escrowExists(keyId), false, 'no escrow secret was written');
  assert.equal((await tags(keyId))['kms-reimport:managed'], undefined, 'the key was not tagged');
  assert.equal(await keyState(keyId), state);
}

function assertQuiet(result: Run, ...materials: Buffer[]): void {
  assertNoMaterial(result.stdout + result.stderr, materials, 'the CLI output');
}

test('onboard <key> --material-file: proven by a reimport that keeps ValidTo, escrowed, tagged, still Enabled and decrypting', async () => {
  const key = await importedByHand('SYMMETRIC_DEFAULT', 30);
  const before = (await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!;
  const sealed = await aws.kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('data from before onboarding') }));

  const result = await run(['onboard', key.keyId, '--material-file', key.file]);

  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`^ONBOARDED key ${key.keyId} \\[Enabled -> Enabled\\]: proven by a reimport`));
  assert.match(result.stdout, new RegExp(`escrowed in kms-reimport/${key.keyId}`));
  assert.match(result.stderr, /proving the material with KMS/, 'progress on stderr');
  assert.ok((await escrowed(key.keyId)).equals(key.material), 'the escrow holds the material (compared, never printed)');
  assert.equal((await tags(key.keyId))['kms-reimport:managed'], 'true');
  const after = (await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!;
  assert.equal(after.KeyState, 'Enabled');
  assert.equal(after.ExpirationModel, 'KEY_MATERIAL_EXPIRES');
  assert.equal(after.ValidTo!.getTime(), before.ValidTo!.getTime(), 'the proof keeps the ValidTo');
  const opened = await aws.kms.send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob }));
  assert.equal(Buffer.from(opened.Plaintext!).toString(), 'data from before onboarding');
  assertQuiet(result, key.material);
});

test('onboard --key-id --material-stdin --json: the result as JSON; DOES_NOT_EXPIRE kept', async () => {
  const key = await importedByHand('SYMMETRIC_DEFAULT', null);

  const result = await run(['onboard', '--key-id', key.keyId, '--material-stdin', '--json'], { input: key.material });

  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as Record<string, unknown> & { imported: Record<string, unknown>; escrow: Record<string, unknown> };
  validateOutput('onboard', report);
  assert.equal(report.status, 'onboarded');
  assert.equal(report.keyId, key.keyId);
  assert.equal(report.proof, 'reimport');
  assert.equal(report.tagged, true);
  assert.equal(report.imported.expirationModel, 'KEY_MATERIAL_DOES_NOT_EXPIRE');
  assert.equal(report.imported.validTo, undefined);
  assert.equal(report.escrow.secretId, `kms-reimport/${key.keyId}`);
  assert.match(String(report.verified), /Encrypt\/Decrypt/);
  assert.ok((await escrowed(key.keyId)).equals(key.material), 'the escrow holds the material (compared, never printed)');
  assertQuiet(result, key.material);
});

test('--endpoint-url over AWS_ENDPOINT_URL, and --region: the key is looked for where the flags say', async () => {
  const key = await importedByHand('SYMMETRIC_DEFAULT', 30);
  const closed = { AWS_ENDPOINT_URL: 'http://127.0.0.1:9', KMS_REIMPORT_PARAMETERS_INTERVAL_MS: '0' };

  const elsewhere = await runCli(['onboard', key.keyId, '--material-file', key.file, '--endpoint-url', aws.endpoint.url, '--region', 'eu-west-1'], closed);
  assert.equal(elsewhere.code, 1);
  assert.match(elsewhere.stdout, new RegExp(`KeyNotFound: Key ${key.keyId} does not exist in this account and Region`));
  await assertUntouched(key.keyId);

  const here = await runCli(['onboard', key.keyId, '--material-file', key.file, '--endpoint-url', aws.endpoint.url, '--region', 'us-east-1'], closed);
  assert.equal(here.code, 0, here.stderr);
  assert.ok((await escrowed(key.keyId)).equals(key.material), 'the escrow holds the material (compared, never printed)');
});

test('a PendingImport key that held material: the proof is its recovery', async () => {
  const key = await importedByHand('SYMMETRIC_DEFAULT', 30);
  await aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.keyId }));
  assert.equal(await keyState(key.keyId), 'PendingImport');

  const result = await run(['onboard', key.keyId, '--material-file', key.file, '--output', 'json']);

  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as { proof: string; keyStateBefore: string; keyStateAfter: string };
  validateOutput('onboard', report);
  assert.deepEqual([report.proof, report.keyStateBefore, report.keyStateAfter], ['recovery', 'PendingImport', 'Enabled']);
  assert.equal(await keyState(key.keyId), 'Enabled');
  assert.ok((await escrowed(key.keyId)).equals(key.material), 'the escrow holds the material (compared, never printed)');
});

test('the material of another key: IncorrectKeyMaterial, exit 1, nothing written, nothing tagged', async () => {
  const key = await importedByHand('SYMMETRIC_DEFAULT', 30);
  const other = await importedByHand('SYMMETRIC_DEFAULT', 30);
  const imports = aws.calls('ImportKeyMaterial');

  const result = await run(['onboard', key.keyId, '--material-file', other.file]);

  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stdout, new RegExp(`^FAILED key ${key.keyId}: IncorrectKeyMaterial: Material file ${other.file} is not the material of key ${key.keyId}`));
  assert.match(result.stdout, /Nothing was written and the key was not tagged/);
  assert.equal(aws.calls('ImportKeyMaterial') - imports, 1, 'one proof import, refused by KMS, never another try');
  await assertUntouched(key.keyId);
  assertQuiet(result, key.material, other.material);

  const asJson = await run(['onboard', key.keyId, '--material-file', other.file, '--json']);
  assert.equal(asJson.code, 1);
  const failure = JSON.parse(asJson.stdout) as { status: string; errorName: string; keyId?: string };
  validateOutput('onboard', failure);
  assert.deepEqual([failure.status, failure.errorName], ['failed', 'IncorrectKeyMaterial']);
  await assertUntouched(key.keyId);
});

test('an RSA key with the wrong private key: refused by its public key before any import', async () => {
  const key = await importedByHand('RSA_2048', 30);
  const other = await importedByHand('RSA_2048', 30);
  const imports = aws.calls('ImportKeyMaterial');

  const result = await run(['onboard', key.keyId, '--material-file', other.file]);

  assert.equal(result.code, 1);
  assert.match(result.stdout, /IncorrectKeyMaterial: .*public key differs from the key's \(GetPublicKey\)/);
  assert.equal(aws.calls('ImportKeyMaterial'), imports, 'no import was attempted');
  await assertUntouched(key.keyId);

  const right = await run(['onboard', key.keyId, '--material-file', key.file, '--json']);
  assert.equal(right.code, 0, right.stderr);
  const report = JSON.parse(right.stdout) as { publicKeyMatched?: boolean; verified: string };
  validateOutput('onboard', report);
  assert.equal(report.publicKeyMatched, true);
  assert.match(report.verified, /Sign\/Verify/);
});

test('unreadable, empty and wrong-length files: a clear message, exit 2, nothing changed', async () => {
  const key = await importedByHand('SYMMETRIC_DEFAULT', 30);
  const empty = join(work, 'empty.bin');
  writeFileSync(empty, Buffer.alloc(0));
  const short = join(work, 'short.bin');
  writeFileSync(short, key.material.subarray(0, 31));
  const hex = join(work, 'hex.bin');
  writeFileSync(hex, `${key.material.toString('hex')}\n`);
  const calls = () => aws.calls('ImportKeyMaterial') + aws.calls('CreateSecret') + aws.calls('TagResource');
  const before = calls();

  const cases: Array<[string[], RegExp]> = [
    [['--material-file', join(work, 'no-such-file.bin')], /Material file .*no-such-file\.bin does not exist/],
    [['--material-file', work], /is not a regular file \(it is a directory\)/],
    [['--material-file', empty], /Material file .*empty\.bin is empty/],
    [['--material-file', short], /is 31 bytes; key .* is SYMMETRIC_DEFAULT and its material is exactly 32 raw bytes/],
    [['--material-file', hex], /is 65 bytes; .*not hex or base64 text/],
    [['--material-stdin'], /Standard input is empty/],
  ];
  for (const [args, message] of cases) {
    const result = await run(['onboard', key.keyId, ...args]);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.match(result.stderr, /Nothing was changed/);
    assertQuiet(result, key.material);
  }
  assert.equal(calls(), before, 'no import, no escrow, no tag');
  await assertUntouched(key.keyId);
});

test('bad usage: exit 2 with what to give, nothing done', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['onboard'], /what to onboard\?/],
    [['onboard', 'alias/x'], /which material proves key alias\/x\? Give --material-file/],
    [['onboard', 'alias/x', '--material-file', 'a.bin', '--material-stdin'], /not both/],
    [['onboard', '--new'], /--new needs --key-spec/],
    [['onboard', '--new', '--key-spec', 'ML_DSA_44'], /--key-spec ML_DSA_44 cannot take imported material/],
    [['onboard', 'alias/x', '--new', '--key-spec', 'SYMMETRIC_DEFAULT'], /give one of a key .* not --new and a key/],
    [['onboard', 'alias/x', '--material-file', 'a.bin', '--alias', 'alias/y'], /--alias only go with --new/],
    [['onboard', '--new', '--key-spec', 'SYMMETRIC_DEFAULT', '--alias', 'payments'], /expected alias\/NAME/],
    [['onboard', '--all-from-dir', join(work, 'no-such-dir')], /--all-from-dir .* cannot be read/],
    [['onboard', 'alias/x', '--material-fil', 'a.bin'], /unknown option/],
    [['onboard', 'alias/x', '--material-file', 'a.bin', '--escrow-replica-kms-key-id', 'eu-west-1'], /expected REGION=KEY/],
  ];
  const creates = aws.calls('CreateKey');
  for (const [args, message] of cases) {
    const result = await run(args);
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assert.match(result.stderr, message, args.join(' '));
  }
  assert.equal(aws.calls('CreateKey'), creates);
});

test('an existing escrow secret: EscrowExists, nothing imported, overwritten or tagged', async () => {
  const key = await importedByHand('SYMMETRIC_DEFAULT', 30);
  const created = await aws.secrets.send(new CreateSecretCommand({ Name: `kms-reimport/${key.keyId}`, SecretString: 'somebody else put this here' }));
  const imports = aws.calls('ImportKeyMaterial');

  const result = await run(['onboard', key.keyId, '--material-file', key.file]);

  assert.equal(result.code, 1);
  assert.match(result.stdout, new RegExp(`EscrowExists: Key ${key.keyId}: its escrow secret kms-reimport/${key.keyId} already exists; kms-reimport never overwrites escrow`));
  assert.equal(aws.calls('ImportKeyMaterial'), imports);
  const value = await aws.secrets.send(new GetSecretValueCommand({ SecretId: `kms-reimport/${key.keyId}` }));
  assert.equal(value.SecretString, 'somebody else put this here');
  assert.equal(value.VersionId, created.VersionId, 'no new version');
  assert.equal((await tags(key.keyId))['kms-reimport:managed'], undefined);
});

test('a key that never held material: MaterialNotProvable, pointing at --new', async () => {
  const { keyId, material } = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { bare: true, managed: false });
  const file = join(work, `never-${keyId}.bin`);
  writeFileSync(file, material);

  const result = await run(['onboard', keyId, '--material-file', file]);

  assert.equal(result.code, 1);
  assert.match(result.stdout, /MaterialNotProvable: Key .* has never held key material .* onboard --new/);
  await assertUntouched(keyId, 'PendingImport');
});

test('onboard --new SYMMETRIC_DEFAULT --alias: created tagged, escrowed, imported, aliased, usable', async () => {
  const alias = `alias/onboard-new-${process.pid}`;
  const result = await run(['onboard', '--new', '--key-spec', 'SYMMETRIC_DEFAULT', '--alias', alias, '--json']);

  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as { status: string; keyId: string; alias: string; imported: { validTo?: string; expirationModel: string } };
  validateOutput('onboard', report);
  assert.equal(report.status, 'created');
  assert.equal(report.alias, alias);
  assert.equal(report.imported.expirationModel, 'KEY_MATERIAL_EXPIRES');
  assert.ok(Date.parse(report.imported.validTo!) > Date.now() + 80 * DAY_MS, 'the configured lifetime (90 days)');
  const described = (await aws.kms.send(new DescribeKeyCommand({ KeyId: alias }))).KeyMetadata!;
  assert.equal(described.KeyId, report.keyId);
  assert.equal(described.Origin, 'EXTERNAL');
  assert.equal(described.KeyState, 'Enabled');
  assert.equal((await tags(report.keyId))['kms-reimport:managed'], 'true');
  const material = await escrowed(report.keyId);
  assert.equal(material.length, 32);
  const sealed = await aws.kms.send(new EncryptCommand({ KeyId: alias, Plaintext: Buffer.from('born managed') }));
  assert.equal(Buffer.from((await aws.kms.send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob }))).Plaintext!).toString(), 'born managed');
  assertQuiet(result, material);
  // A second key for the same alias is refused before anything is created.
  const creates = aws.calls('CreateKey');
  const again = await run(['onboard', '--new', '--key-spec', 'SYMMETRIC_DEFAULT', '--alias', alias]);
  assert.equal(again.code, 1);
  assert.match(again.stdout, new RegExp(`Alias ${alias} already names key ${report.keyId}`));
  assert.equal(aws.calls('CreateKey'), creates);
});

test('onboard --new ECC_NIST_P256: the escrowed private key is the key\'s, and it signs', async () => {
  const result = await run(['onboard', '--new', '--key-spec', 'ECC_NIST_P256', '--expiration-model', 'KEY_MATERIAL_DOES_NOT_EXPIRE']);

  assert.equal(result.code, 0, result.stderr);
  const keyId = /^CREATED key (\S+): ECC_NIST_P256 SIGN_VERIFY/.exec(result.stdout)?.[1];
  assert.ok(keyId, result.stdout);
  const described = (await aws.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
  assert.equal(described.ExpirationModel, 'KEY_MATERIAL_DOES_NOT_EXPIRE');
  const material = await escrowed(keyId);
  const ours = createPublicKey(createPrivateKey({ key: material, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
  assert.deepEqual(Buffer.from((await aws.kms.send(new GetPublicKeyCommand({ KeyId: keyId }))).PublicKey!), ours);
  const message = Buffer.from('signed by a key born managed');
  const signature = await aws.kms.send(new SignCommand({ KeyId: keyId, Message: message, SigningAlgorithm: 'ECDSA_SHA_256' }));
  const verified = await aws.kms.send(new VerifyCommand({ KeyId: keyId, Message: message, Signature: signature.Signature, SigningAlgorithm: 'ECDSA_SHA_256' }));
  assert.equal(verified.SignatureValid, true);
  assertQuiet(result, material);
});

test('onboard --all-from-dir: good, wrong and missing keys, every one reported, exit 1', async () => {
  const dir = join(work, 'materials');
  mkdirSync(dir);
  const good = await importedByHand('SYMMETRIC_DEFAULT', 30);
  const hmac = await importedByHand('HMAC_256', 30);
  const wrong = await importedByHand('SYMMETRIC_DEFAULT', 30);
  const missing = '0d0d0d0d-0000-4000-8000-000000000000';
  writeFileSync(join(dir, `${good.keyId}.bin`), good.material);
  writeFileSync(join(dir, `${hmac.keyId}.bin`), hmac.material);
  writeFileSync(join(dir, `${wrong.keyId}.bin`), good.material);
  writeFileSync(join(dir, `${missing}.bin`), good.material);
  writeFileSync(join(dir, 'README.txt'), 'not a key');

  const table = await run(['onboard', '--all-from-dir', dir]);

  assert.equal(table.code, 1, table.stderr);
  const lines = table.stdout.trim().split('\n');
  assert.match(lines[0]!, /^KEY\s+OUTCOME\s+FILE\s+REASON$/);
  const row = (keyId: string) => lines.find((l) => l.startsWith(keyId)) ?? '';
  assert.match(row(good.keyId), /ONBOARDED .*proven by a reimport/);
  assert.match(row(hmac.keyId), /ONBOARDED .*GenerateMac\/VerifyMac/);
  assert.match(row(wrong.keyId), /FAILED .*IncorrectKeyMaterial/);
  assert.match(row(missing), /FAILED .*KeyNotFound/);
  assert.match(lines.at(-1)!, /^2 onboarded, 2 failed, of 4 file\(s\)/);
  assert.ok((await escrowed(good.keyId)).equals(good.material), 'the escrow holds the material (compared, never printed)');
  assert.ok((await escrowed(hmac.keyId)).equals(hmac.material), 'the escrow holds the material (compared, never printed)');
  await assertUntouched(wrong.keyId);
  assertQuiet(table, good.material, hmac.material, wrong.material);

  // Run again as JSON: the onboarded keys now have escrow (EscrowExists), nothing is overwritten.
  const again = await run(['onboard', '--all-from-dir', dir, '--json']);
  assert.equal(again.code, 1);
  const report = JSON.parse(again.stdout) as { onboarded: number; failed: number; results: Array<{ file: string; status: string; errorName?: string }> };
  validateOutput('onboard', report);
  assert.deepEqual([report.onboarded, report.failed], [0, 4]);
  const byFile = Object.fromEntries(report.results.map((r) => [r.file, r.errorName]));
  assert.deepEqual(byFile, {
    [`${good.keyId}.bin`]: 'EscrowExists',
    [`${hmac.keyId}.bin`]: 'EscrowExists',
    [`${wrong.keyId}.bin`]: 'IncorrectKeyMaterial',
    [`${missing}.bin`]: 'KeyNotFound',
  });
  assert.ok((await escrowed(good.keyId)).equals(good.material), 'the escrow holds the material (compared, never printed)');
});

test('onboard --all-from-dir with no <key-id>.bin: nothing to do, exit 3', async () => {
  const dir = join(work, 'empty-dir');
  mkdirSync(dir);
  const result = await run(['onboard', '--all-from-dir', dir]);
  assert.equal(result.code, 3);
  assert.match(result.stderr, /no <key-id>\.bin file/);
});

// ---------------------------------------------------------------------------------------------
// The README's "Onboard a key you imported by hand", run as written: the real AWS CLI and openssl.

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

const README_SECTION = '## Onboard a key you imported by hand';

/** The section's ```sh blocks, in order. */
function readmeBlocks(readme: string): string[] {
  const start = readme.indexOf(README_SECTION);
  assert.ok(start >= 0, `README has the section "${README_SECTION}"`);
  const end = readme.indexOf('\n## ', start + README_SECTION.length);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** A block cut into its numbered parts (`# 1.`, `# 2.`, ...). */
function numberedParts(block: string): string[] {
  return block.split(/^(?=# \d+\.)/m).map((p) => p.trim()).filter(Boolean);
}

const missingTools = !onPath('aws') ? 'the AWS CLI (aws) is not on PATH' : !onPath('openssl') ? 'openssl is not on PATH' : undefined;
if (missingTools && process.env.CI) throw new Error(`README onboarding test cannot run in CI: ${missingTools}`);

describe("README: Onboard a key you imported by hand (the seed's own commands)", () => {
  if (missingTools) {
    it(`skipped: ${missingTools}`, { skip: `${missingTools} (set CI to make this a failure)` }, () => {});
    return;
  }

  it('imports by hand with aws + openssl, onboards, then survives the deletion of its material', async () => {
    const blocks = readmeBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    assert.equal(blocks.length, 2, 'the hand-imported key, then many keys and a new one');
    const steps = numberedParts(blocks[0]!);
    assert.equal(steps.length, 3, 'three parts: by hand, onboard, rehearse');
    assert.match(blocks[1]!, /kms-reimport onboard --all-from-dir \.\/materials/);
    assert.match(blocks[1]!, /kms-reimport onboard --new --key-spec SYMMETRIC_DEFAULT --alias alias\/payments/);
    assert.match(steps[0]!, /aws kms import-key-material/);
    assert.match(steps[1]!, /kms-reimport onboard "\$KEY_ID" --material-file PlaintextKeyMaterial\.bin/);
    assert.match(steps[2]!, /aws kms delete-imported-key-material/);

    // Its own endpoint: `status` reports every managed key of the account, only this one here.
    const local = await startLocalAws();
    const dir = mkdtempSync(join(tmpdir(), 'kms-onboard-readme-'));
    try {
      // `npx kms-reimport` in the README is this checkout's binary.
      const shims = join(dir, 'shims');
      mkdirSync(shims);
      writeFileSync(join(shims, 'npx'), `#!/bin/sh\n[ "$1" = kms-reimport ] || { echo "npx $1: not expected here" >&2; exit 127; }\nshift\nexec "${process.execPath}" "${BIN}" "$@"\n`);
      chmodSync(join(shims, 'npx'), 0o755);
      const env = {
        PATH: `${shims}${delimiter}${process.env.PATH ?? ''}`,
        HOME: dir,
        AWS_ACCESS_KEY_ID: 'AKIDREADME',
        AWS_SECRET_ACCESS_KEY: 'readme',
        AWS_REGION: 'us-east-1',
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_ENDPOINT_URL: local.endpoint.url,
        AWS_CONFIG_FILE: join(dir, 'no-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-credentials'),
        AWS_PAGER: '',
        AWS_EC2_METADATA_DISABLED: 'true',
        KMS_REIMPORT_PARAMETERS_INTERVAL_MS: '0',
      };
      const bash = (script: string, extra: Record<string, string> = {}) =>
        new Promise<Run>((resolve) => {
          execFile('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir, env: { ...env, ...extra }, maxBuffer: 8 * 1024 * 1024 }, (error, stdout, stderr) =>
            resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
          );
        });

      // 1. By hand; the test adds only a line that hands the key ID on.
      const byHand = await bash(`${steps[0]}\necho "KEY_ID=$KEY_ID"`);
      assert.equal(byHand.code, 0, byHand.stderr);
      const keyId = /KEY_ID=(\S+)/.exec(byHand.stdout)![1]!;
      const material = readFileSync(join(dir, 'PlaintextKeyMaterial.bin'));
      const before = (await local.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
      assert.equal(before.KeyState, 'Enabled');
      assert.equal(before.ExpirationModel, 'KEY_MATERIAL_EXPIRES');
      const sealed = await local.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('encrypted before onboarding') }));

      // 2. Onboard, then status.
      const onboarded = await bash(steps[1]!, { KEY_ID: keyId });
      assert.equal(onboarded.code, 0, onboarded.stderr);
      assert.match(onboarded.stdout, new RegExp(`ONBOARDED key ${keyId} \\[Enabled -> Enabled\\]`));
      assert.match(onboarded.stdout, new RegExp(`${keyId}.*\\bok\\b`), 'status shows the key with its escrow ok');
      const value = await local.secrets.send(new GetSecretValueCommand({ SecretId: `kms-reimport/${keyId}` }));
      assert.ok(Buffer.from(value.SecretBinary!).equals(material), 'the escrow holds the material (compared, never printed)');
      const afterOnboard = (await local.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
      assert.equal(afterOnboard.ValidTo!.getTime(), before.ValidTo!.getTime(), 'ValidTo kept');

      // 3. The material deleted, then recovered by kms-reimport from escrow.
      const rehearsed = await bash(steps[2]!, { KEY_ID: keyId });
      assert.equal(rehearsed.code, 0, rehearsed.stderr);
      assert.match(rehearsed.stdout, new RegExp(`RECOVERED key ${keyId}`));
      assert.equal((await local.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState, 'Enabled');
      const opened = await local.kms.send(new DecryptCommand({ CiphertextBlob: sealed.CiphertextBlob }));
      assert.equal(Buffer.from(opened.Plaintext!).toString(), 'encrypted before onboarding');
      assertNoMaterial(onboarded.stdout + onboarded.stderr + rehearsed.stdout + rehearsed.stderr, [material], 'the CLI output');

      // The second block: ./materials with two keys imported by hand, then a new key born managed.
      const materials = join(dir, 'materials');
      mkdirSync(materials);
      const many = [await importedByHand('SYMMETRIC_DEFAULT', 30, local, materials), await importedByHand('HMAC_256', null, local, materials)];
      const more = await bash(blocks[1]!);
      assert.equal(more.code, 0, more.stderr);
      for (const key of many) {
        assert.match(more.stdout, new RegExp(`^${key.keyId}\\s+ONBOARDED`, 'm'));
        const escrow = await local.secrets.send(new GetSecretValueCommand({ SecretId: `kms-reimport/${key.keyId}` }));
        assert.ok(Buffer.from(escrow.SecretBinary!).equals(key.material), 'the escrow holds the material (compared, never printed)');
      }
      const created = /^CREATED key (\S+) \(alias\/payments\)/m.exec(more.stdout)?.[1];
      assert.ok(created, more.stdout);
      const payments = (await local.kms.send(new DescribeKeyCommand({ KeyId: 'alias/payments' }))).KeyMetadata!;
      assert.deepEqual([payments.KeyId, payments.KeyState, payments.Origin], [created, 'Enabled', 'EXTERNAL']);
      assertNoMaterial(more.stdout + more.stderr, many.map((k) => k.material), 'the CLI output');
    } finally {
      await local.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

