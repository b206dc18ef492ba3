import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mockClient } from 'aws-sdk-client-mock';
import { DescribeSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  defaultSecretOwner,
  describeEscrowSecret,
  ESCROW_KEY_ID_TAG,
  escrowSecretId,
  isDefaultEscrowSecret,
  parseEscrowSecret,
  readEscrow,
  selectEscrowedMaterial,
  validateMaterial,
  wipe,
  type EscrowedMaterial,
} from '../../lib/escrow/index.js';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { EscrowInvalid, EscrowMissing, KmsUnavailable } from '../../lib/errors.js';
import { awsError, KEY_ID, makeReport, MATERIAL_ID_A, MATERIAL_ID_B, noSleep } from './lib-fixtures.js';

const secretsMock = mockClient(SecretsManagerClient);
const secrets = new SecretsManagerClient({ region: 'us-east-1' });
const config = { ...DEFAULT_CONFIG };
const ctx = { keyId: KEY_ID, secretId: `kms-reimport/${KEY_ID}` };
const retry = { maxAttempts: 2, baseDelayMs: 1, sleep: noSleep };

beforeEach(() => secretsMock.reset());

const pkcs8 = (type: 'rsa' | 'ec', opt: { modulusLength?: number; namedCurve?: string }): Buffer => {
  const { privateKey } =
    type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: opt.modulusLength! }) : generateKeyPairSync('ec', { namedCurve: opt.namedCurve! });
  return privateKey.export({ format: 'der', type: 'pkcs8' });
};
// Generated once per file: RSA 4096 is slow.
const RSA = { 2048: pkcs8('rsa', { modulusLength: 2048 }), 3072: pkcs8('rsa', { modulusLength: 3072 }), 4096: pkcs8('rsa', { modulusLength: 4096 }) };
const EC = {
  ECC_NIST_P256: pkcs8('ec', { namedCurve: 'prime256v1' }),
  ECC_NIST_P384: pkcs8('ec', { namedCurve: 'secp384r1' }),
  ECC_NIST_P521: pkcs8('ec', { namedCurve: 'secp521r1' }),
  ECC_SECG_P256K1: pkcs8('ec', { namedCurve: 'secp256k1' }),
};

function json(doc: unknown): { SecretString: string } {
  return { SecretString: JSON.stringify(doc) };
}

function assertInvalid(fn: () => unknown, pattern: RegExp, label: string): void {
  assert.throws(
    fn,
    (e: unknown) => {
      assert.ok(e instanceof EscrowInvalid, `${label}: EscrowInvalid, got ${String(e)}`);
      assert.equal(e.name, 'EscrowInvalid');
      assert.ok(e.message.includes(KEY_ID), `${label}: names the key`);
      assert.match(e.message, pattern, label);
      return true;
    },
    label,
  );
}

test('escrowSecretId: escrow tag (name or ARN) wins, else prefix + key id', () => {
  assert.equal(escrowSecretId(makeReport(), config), `kms-reimport/${KEY_ID}`);
  assert.equal(escrowSecretId(makeReport({ tags: { 'kms-reimport:escrow': 'team/escrow/k1' } }), config), 'team/escrow/k1');
  const arn = 'arn:aws:secretsmanager:us-east-1:111122223333:secret:escrow-k1-AbCdEf';
  assert.equal(escrowSecretId(makeReport({ tags: { 'kms-reimport:escrow': arn } }), config), arn);
  assert.equal(escrowSecretId(makeReport({ tags: { 'kms-reimport:escrow': '  ' } }), { ...config, escrowPrefix: 'x/' }), `x/${KEY_ID}`);
});

test('parseEscrowSecret: SecretBinary is the raw material (a copy)', () => {
  const raw = randomBytes(32);
  const [m, ...rest] = parseEscrowSecret({ SecretBinary: new Uint8Array(raw) }, ctx);
  assert.equal(rest.length, 0);
  assert.ok(m && m.material.equals(raw));
  assert.equal(m.keyMaterialId, undefined);
});

test('parseEscrowSecret: kms-reimport/v1 JSON with several materials', () => {
  const a = randomBytes(32);
  const b = randomBytes(32);
  const out = parseEscrowSecret(
    json({
      format: 'kms-reimport/v1',
      materials: [
        { keyMaterialId: MATERIAL_ID_A.toUpperCase(), material: a.toString('base64'), description: 'first', importedAt: '2026-01-01T00:00:00Z' },
        { keyMaterialId: MATERIAL_ID_B, material: b.toString('base64') },
        { keyMaterialId: null, material: b.toString('base64'), extra: 'ignored' },
      ],
    }),
    ctx,
  );
  assert.equal(out.length, 3);
  assert.deepEqual(
    out.map((m) => ({ ...m, material: m.material.toString('hex') })),
    [
      { keyMaterialId: MATERIAL_ID_A, material: a.toString('hex'), description: 'first', importedAt: '2026-01-01T00:00:00Z' },
      { keyMaterialId: MATERIAL_ID_B, material: b.toString('hex') },
      // Unknown fields are not used, but kept (`extra`) so that a version kms-reimport writes carries them over.
      { material: b.toString('hex'), extra: { extra: 'ignored' } },
    ],
  );
});

test('parseEscrowSecret: every malformed shape is EscrowInvalid naming key and secret, never the content', () => {
  const good = randomBytes(32).toString('base64');
  const secretText = 'c2VjcmV0LW1hdGVyaWFsLXRoYXQtbXVzdC1ub3QtbGVhaw';
  const cases: Array<[string, Parameters<typeof parseEscrowSecret>[0], RegExp]> = [
    ['no value at all', {}, /no value/],
    ['empty binary', { SecretBinary: new Uint8Array(0) }, /SecretBinary is empty/],
    ['empty string', { SecretString: '' }, /no value/],
    ['blank string', { SecretString: '  \n' }, /no value/],
    ['not JSON', { SecretString: secretText }, /not JSON/],
    ['JSON array', json([good]), /not an object/],
    ['JSON string', json(good), /not an object/],
    ['no format tag', json({ materials: [{ material: good }] }), /"format" is missing/],
    ['wrong format tag', json({ format: 'kms-reimport/v2', materials: [{ material: good }] }), /expected "kms-reimport\/v1"/],
    ['materials missing', json({ format: 'kms-reimport/v1' }), /non-empty array/],
    ['materials empty', json({ format: 'kms-reimport/v1', materials: [] }), /non-empty array/],
    ['materials not array', json({ format: 'kms-reimport/v1', materials: { material: good } }), /non-empty array/],
    ['entry not object', json({ format: 'kms-reimport/v1', materials: ['x'] }), /materials\[0\] is not an object/],
    ['material missing', json({ format: 'kms-reimport/v1', materials: [{ keyMaterialId: MATERIAL_ID_A }] }), /materials\[0\]\.material must be/],
    ['material not string', json({ format: 'kms-reimport/v1', materials: [{ material: 42 }] }), /materials\[0\]\.material must be/],
    ['bad base64 chars', json({ format: 'kms-reimport/v1', materials: [{ material: 'not*base64!' + secretText }] }), /not valid standard base64/],
    ['base64url', json({ format: 'kms-reimport/v1', materials: [{ material: '-_-_' }] }), /not valid standard base64/],
    ['bad base64 padding', json({ format: 'kms-reimport/v1', materials: [{ material: 'abcde' }] }), /not valid standard base64/],
    ['bad id', json({ format: 'kms-reimport/v1', materials: [{ keyMaterialId: secretText, material: good }] }), /64 hex characters/],
    ['id not string', json({ format: 'kms-reimport/v1', materials: [{ keyMaterialId: 7, material: good }] }), /64 hex characters/],
    [
      'duplicate ids',
      json({ format: 'kms-reimport/v1', materials: [{ keyMaterialId: MATERIAL_ID_A, material: good }, { keyMaterialId: MATERIAL_ID_A.toUpperCase(), material: good }] }),
      /materials\[1\]\.keyMaterialId .* appears twice/,
    ],
    ['two unlabelled', json({ format: 'kms-reimport/v1', materials: [{ material: good }, { keyMaterialId: null, material: good }] }), /second entry without keyMaterialId/],
    ['bad description', json({ format: 'kms-reimport/v1', materials: [{ material: good, description: 5 }] }), /description must be a string/],
    ['bad importedAt', json({ format: 'kms-reimport/v1', materials: [{ material: good, importedAt: 'yesterday' }] }), /importedAt must be an ISO 8601 date/],
  ];
  for (const [label, secret, pattern] of cases) {
    assertInvalid(() => parseEscrowSecret(secret, ctx), pattern, label);
    try {
      parseEscrowSecret(secret, ctx);
    } catch (e) {
      const message = (e as Error).message;
      assert.ok(message.includes(ctx.secretId), `${label}: names the secret`);
      assert.ok(!message.includes(secretText) && !message.includes(good), `${label}: no content in the message`);
      assert.equal((e as Error).cause, undefined, `${label}: no cause that could quote the secret`);
    }
  }
});

test('validateMaterial: raw lengths per spec', () => {
  const lengths: Record<string, number> = { SYMMETRIC_DEFAULT: 32, HMAC_224: 28, HMAC_256: 32, HMAC_384: 48, HMAC_512: 64 };
  for (const [spec, length] of Object.entries(lengths)) {
    assert.doesNotThrow(() => validateMaterial(spec, randomBytes(length), KEY_ID), spec);
    for (const wrong of [0, length - 1, length + 1, 16]) {
      assertInvalid(() => validateMaterial(spec, randomBytes(wrong), KEY_ID), wrong === 0 ? /empty/ : new RegExp(`needs exactly ${length} raw bytes`), `${spec} with ${wrong}`);
    }
  }
});

test('validateMaterial hints at hex and base64 text without quoting it', () => {
  const raw = randomBytes(32);
  assertInvalid(() => validateMaterial('SYMMETRIC_DEFAULT', Buffer.from(raw.toString('hex')), KEY_ID), /looks like hex text/, 'hex');
  assertInvalid(() => validateMaterial('SYMMETRIC_DEFAULT', Buffer.from(raw.toString('base64')), KEY_ID), /looks like base64 text/, 'base64');
  try {
    validateMaterial('SYMMETRIC_DEFAULT', Buffer.from(raw.toString('base64')), KEY_ID);
  } catch (e) {
    assert.ok(!(e as Error).message.includes(raw.toString('base64')));
  }
});

test('validateMaterial makes no string of the material: hints come from the bytes themselves', () => {
  const raw = randomBytes(32);
  const inputs: Array<[string, Buffer, RegExp]> = [
    ['hex', Buffer.from(`  ${raw.toString('hex')}\n`), /looks like hex text/],
    ['base64', Buffer.from(`${raw.toString('base64')}\n`), /looks like base64 text/],
    ['base64 without padding', Buffer.from(raw.toString('base64').replace(/=+$/, '')), /looks like base64 text/],
    ['wrong length', randomBytes(31), /needs exactly 32 raw bytes\. Replace/],
    ['hex of the wrong length', Buffer.from(randomBytes(31).toString('hex')), /needs exactly 32 raw bytes\. Replace/],
    ['not base64 (a - inside)', Buffer.from(`${raw.toString('base64').slice(0, 20)}-${raw.toString('base64').slice(21)}`), /needs exactly 32 raw bytes\. Replace/],
  ];
  const original = Buffer.prototype.toString;
  const stringified: string[] = [];
  let current: Buffer | undefined;
  let label = '';
  Buffer.prototype.toString = function (this: Buffer, ...args: Parameters<Buffer['toString']>) {
    const overlaps = current && this.buffer === current.buffer && this.byteOffset < current.byteOffset + current.byteLength && current.byteOffset < this.byteOffset + this.byteLength;
    if (overlaps) stringified.push(label);
    return original.apply(this, args);
  } as Buffer['toString'];
  try {
    for (const [name, input, pattern] of inputs) {
      current = input;
      label = name;
      assertInvalid(() => validateMaterial('SYMMETRIC_DEFAULT', input, KEY_ID), pattern, name);
    }
    current = Buffer.from('-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n');
    label = 'PEM';
    assertInvalid(() => validateMaterial('ECC_NIST_P256', current!, KEY_ID), /PEM text/, 'PEM');
  } finally {
    Buffer.prototype.toString = original;
  }
  assert.deepEqual(stringified, [], 'no toString() on the material buffer');
});

test('validateMaterial: RSA keys by type and size', () => {
  for (const bits of [2048, 3072, 4096] as const) {
    assert.doesNotThrow(() => validateMaterial(`RSA_${bits}`, RSA[bits], KEY_ID));
    for (const other of [2048, 3072, 4096] as const) {
      if (other !== bits) assertInvalid(() => validateMaterial(`RSA_${bits}`, RSA[other], KEY_ID), new RegExp(`${other}-bit RSA key.*needs a ${bits}-bit`), `RSA_${bits} with ${other}`);
    }
  }
  assertInvalid(() => validateMaterial('RSA_2048', EC.ECC_NIST_P256, KEY_ID), /is a ec private key; a RSA_2048 key needs an RSA/, 'EC for RSA');
});

test('validateMaterial: EC keys by curve', () => {
  for (const [spec, der] of Object.entries(EC)) {
    assert.doesNotThrow(() => validateMaterial(spec, der, KEY_ID), spec);
    for (const [otherSpec, otherDer] of Object.entries(EC)) {
      if (otherSpec !== spec) assertInvalid(() => validateMaterial(spec, otherDer, KEY_ID), /EC key on curve .* needs/, `${spec} with ${otherSpec}`);
    }
  }
  assertInvalid(() => validateMaterial('ECC_NIST_P256', RSA[2048], KEY_ID), /is a rsa private key; a ECC_NIST_P256 key needs an EC private key/, 'RSA for EC');
});

test('validateMaterial: PEM, PKCS#1, public keys and garbage are refused with a conversion hint', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const pem = Buffer.from(privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const sec1 = privateKey.export({ format: 'der', type: 'sec1' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const pkcs1 = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'der', type: 'pkcs1' });
  assertInvalid(() => validateMaterial('ECC_NIST_P256', pem, KEY_ID), /PEM text.*openssl pkcs8 -topk8 -outform der -nocrypt/, 'PEM');
  assertInvalid(() => validateMaterial('ECC_NIST_P256', sec1, KEY_ID), /not an unencrypted PKCS#8 DER private key/, 'SEC1');
  assertInvalid(() => validateMaterial('ECC_NIST_P256', spki, KEY_ID), /not an unencrypted PKCS#8 DER private key/, 'public key');
  assertInvalid(() => validateMaterial('RSA_2048', pkcs1, KEY_ID), /not an unencrypted PKCS#8 DER private key/, 'PKCS#1');
  assertInvalid(() => validateMaterial('RSA_2048', randomBytes(300), KEY_ID), /not an unencrypted PKCS#8 DER/, 'garbage');
});

test('validateMaterial: PKCS#8 with bytes after it is refused (OpenSSL would parse it, KMS would get the extra bytes)', () => {
  for (const [spec, der] of [['ECC_NIST_P256', EC.ECC_NIST_P256], ['RSA_2048', RSA[2048]]] as const) {
    // The key itself passes; one byte, a newline, or a second key appended does not.
    validateMaterial(spec, der, KEY_ID);
    for (const [label, tail] of [['a zero byte', Buffer.from([0])], ['a newline', Buffer.from('\n')], ['a second key', der]] as const) {
      assertInvalid(() => validateMaterial(spec, Buffer.concat([der, tail]), KEY_ID), new RegExp(`${tail.length} byte\\(s\\) after its PKCS#8 private key`), `${spec} + ${label}`);
    }
  }
});

test('validateMaterial: an unsupported key spec is KeyNotEligible', () => {
  assert.throws(() => validateMaterial('SM2', randomBytes(32), KEY_ID), { name: 'KeyNotEligible' });
  assert.throws(() => validateMaterial('ML_DSA_44', randomBytes(32), KEY_ID), { name: 'KeyNotEligible' });
});

test('wipe zero-fills buffers', () => {
  const a = randomBytes(32);
  const b = new Uint8Array(randomBytes(16));
  wipe([a, undefined, b, null]);
  assert.ok(a.every((x) => x === 0));
  assert.ok(b.every((x) => x === 0));
  const c = randomBytes(8);
  wipe(c);
  assert.ok(c.every((x) => x === 0));
});

test('readEscrow reads the tagged secret, validates against the key spec and zeroes the SDK copy', async () => {
  const raw = randomBytes(48);
  const sdkCopy = new Uint8Array(raw);
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: sdkCopy });
  secretsMock.on(DescribeSecretCommand).resolves({ Name: 'escrow/hmac', Tags: [{ Key: 'team', Value: 'x' }, { Key: ESCROW_KEY_ID_TAG, Value: KEY_ID }] });
  const report = makeReport({ keySpec: 'HMAC_384', keyUsage: 'GENERATE_VERIFY_MAC', tags: { 'kms-reimport:managed': 'true', 'kms-reimport:escrow': 'escrow/hmac' } });
  const out = await readEscrow(secrets, report, config, retry);
  assert.deepEqual(secretsMock.commandCalls(DescribeSecretCommand).map((c) => c.args[0].input), [{ SecretId: 'escrow/hmac' }], 'the binding is checked first');
  assert.deepEqual(secretsMock.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input), [{ SecretId: 'escrow/hmac' }]);
  assert.ok(out[0]?.material.equals(raw));
  assert.ok(sdkCopy.every((x) => x === 0), 'the SDK response buffer is wiped');
});

test('readEscrow: a material of the wrong length for the key spec is EscrowInvalid', async () => {
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(randomBytes(16)) });
  await assert.rejects(readEscrow(secrets, makeReport(), config, retry), (e: unknown) => e instanceof EscrowInvalid && e.message.includes(`kms-reimport/${KEY_ID}`));
});

test('readEscrow maps Secrets Manager errors to EscrowMissing with the next step', async () => {
  const cases: Array<[string, RegExp]> = [
    ['ResourceNotFoundException', /create-secret --name kms-reimport\/.* --secret-binary fileb:/],
    ['AccessDeniedException', /secretsmanager:GetSecretValue/],
    ['DecryptionFailure', /could not decrypt/],
    ['InvalidRequestException', /restore-secret/],
  ];
  for (const [code, pattern] of cases) {
    secretsMock.reset();
    secretsMock.on(GetSecretValueCommand).rejects(awsError(code));
    await assert.rejects(readEscrow(secrets, makeReport(), config, retry), (e: unknown) => {
      assert.ok(e instanceof EscrowMissing, code);
      assert.match(e.message, pattern, code);
      assert.ok(e.message.includes(KEY_ID));
      return true;
    });
    assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 1, `${code} is not retried`);
  }
});

test('readEscrow retries a throttled GetSecretValue, then KmsUnavailable', async () => {
  secretsMock.on(GetSecretValueCommand).rejects(awsError('ThrottlingException'));
  await assert.rejects(readEscrow(secrets, makeReport(), config, retry), (e: unknown) => (e as Error).name === 'KmsUnavailable' && /Secrets Manager GetSecretValue/.test((e as Error).message));
  assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 2);
});

test('isDefaultEscrowSecret: only <prefix><key-id> itself', () => {
  assert.equal(isDefaultEscrowSecret(`kms-reimport/${KEY_ID}`, makeReport(), config), true);
  assert.equal(isDefaultEscrowSecret(`kms-reimport/${KEY_ID}`, makeReport({ keyId: 'other' }), config), false);
  assert.equal(isDefaultEscrowSecret(`arn:aws:secretsmanager:us-east-1:111122223333:secret:kms-reimport/${KEY_ID}-AbCdEf`, makeReport(), config), false);
  assert.equal(isDefaultEscrowSecret(`x/${KEY_ID}`, makeReport(), { escrowPrefix: 'x/' }), true);
});

test('readEscrow: the default secret <prefix><key-id> (raw seed, no tags) is read without DescribeSecret', async () => {
  const raw = randomBytes(32);
  // A fresh copy per read, as over the wire (readEscrow wipes the SDK's copy).
  secretsMock.on(GetSecretValueCommand).callsFake(async () => ({ SecretBinary: new Uint8Array(raw) }));
  const tagSets: Array<Record<string, string>> = [{ 'kms-reimport:managed': 'true' }, { 'kms-reimport:managed': 'true', 'kms-reimport:escrow': `kms-reimport/${KEY_ID}` }];
  for (const tags of tagSets) {
    secretsMock.resetHistory();
    const out = await readEscrow(secrets, makeReport({ tags }), config, retry);
    assert.ok(out[0]?.material.equals(raw), 'the material is read');
    assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 0);
    assert.deepEqual(secretsMock.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input), [{ SecretId: `kms-reimport/${KEY_ID}` }]);
  }
});

test('readEscrow: a secret named by the escrow tag but not bound to the key is EscrowInvalid and never read', async () => {
  const VICTIM = '0000aaaa-12ab-34cd-56ef-1234567890ab';
  const victimSecret = 'kms-reimport/payments-signing';
  const report = makeReport({ tags: { 'kms-reimport:managed': 'true', 'kms-reimport:escrow': victimSecret } });
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(randomBytes(32)) });
  const cases: Array<[string, Array<{ Key: string; Value: string }> | undefined]> = [
    ['no tags at all', undefined],
    ['bound to another key (the victim)', [{ Key: ESCROW_KEY_ID_TAG, Value: VICTIM }]],
    ['the key ID under another tag key', [{ Key: 'kms-reimport:escrow', Value: KEY_ID }]],
    ['a prefix of the key ID', [{ Key: ESCROW_KEY_ID_TAG, Value: KEY_ID.slice(0, 8) }]],
  ];
  for (const [label, tags] of cases) {
    secretsMock.resetHistory();
    secretsMock.on(DescribeSecretCommand).resolves({ Name: victimSecret, ...(tags ? { Tags: tags } : {}) });
    await assert.rejects(readEscrow(secrets, report, config, retry), (e: unknown) => {
      assert.ok(e instanceof EscrowInvalid, `${label}: EscrowInvalid, got ${String(e)}`);
      assert.ok(e.message.includes(victimSecret) && e.message.includes(KEY_ID), label);
      assert.match(e.message, /not bound to the key/, label);
      assert.ok(
        e.message.includes(`aws secretsmanager tag-resource --secret-id ${victimSecret} --tags Key=kms-reimport:key-id,Value=${KEY_ID}`),
        `${label}: says how to bind it`,
      );
      assert.match(e.message, /Nothing was imported/, label);
      return true;
    });
    assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 0, `${label}: the secret value is never read`);
  }
});

test('readEscrow: an escrow tag naming ANOTHER key\'s default secret is refused by its name, even when its tags were re-bound to this key (escrow clone)', async () => {
  const VICTIM = '0000aaaa-12ab-34cd-56ef-1234567890ab';
  const names = [
    `kms-reimport/${VICTIM}`,
    `arn:aws:secretsmanager:us-east-1:111122223333:secret:kms-reimport/${VICTIM}-AbC123`,
    `kms-reimport/mrk-0123456789abcdef0123456789abcdef`,
  ];
  for (const victimSecret of names) {
    const report = makeReport({ tags: { 'kms-reimport:managed': 'true', 'kms-reimport:escrow': victimSecret } });
    secretsMock.reset();
    // The attacker re-bound the victim's secret to their key: the tag says this key.
    secretsMock.on(DescribeSecretCommand).resolves({ Name: victimSecret, Tags: [{ Key: ESCROW_KEY_ID_TAG, Value: KEY_ID }] });
    secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(randomBytes(32)) });
    await assert.rejects(readEscrow(secrets, report, config, retry), (e: unknown) => {
      assert.ok(e instanceof EscrowInvalid, `${victimSecret}: EscrowInvalid, got ${String(e)}`);
      assert.match(e.message, /default escrow secret of another key/);
      assert.ok(e.message.includes(KEY_ID));
      assert.match(e.message, /Nothing was imported/);
      return true;
    });
    assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 0, 'the value is never read');
  }
  // The key's own default secret named through its escrow tag (as a name or an ARN) is still its own.
  for (const own of [`kms-reimport/${KEY_ID}`, `arn:aws:secretsmanager:us-east-1:111122223333:secret:kms-reimport/${KEY_ID}-xYz789`]) {
    assert.equal(defaultSecretOwner(own, config), KEY_ID);
  }
  assert.equal(defaultSecretOwner('kms-reimport/payments', config), undefined);
  assert.equal(defaultSecretOwner(`other-prefix/${KEY_ID}`, config), undefined);
});

test('describeEscrowSecret: the default secret re-bound to another key by its tag is reported (taggedFor), still bound by its name', async () => {
  const OTHER = '0000aaaa-12ab-34cd-56ef-1234567890ab';
  secretsMock.on(DescribeSecretCommand).resolves({ Name: `kms-reimport/${KEY_ID}`, Tags: [{ Key: ESCROW_KEY_ID_TAG, Value: OTHER }] });
  const facts = await describeEscrowSecret(secrets, makeReport(), config, retry);
  assert.equal(facts.bound, true);
  assert.equal(facts.taggedFor, OTHER);
});

test('readEscrow: DescribeSecret refused is EscrowMissing naming the missing permission', async () => {
  secretsMock.on(DescribeSecretCommand).rejects(awsError('AccessDeniedException'));
  secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(randomBytes(32)) });
  const report = makeReport({ tags: { 'kms-reimport:managed': 'true', 'kms-reimport:escrow': 'team/escrow/k1' } });
  await assert.rejects(readEscrow(secrets, report, config, retry), (e: unknown) => e instanceof EscrowMissing && /secretsmanager:DescribeSecret/.test(e.message) && e.message.includes('team/escrow/k1'));
  assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 0);
});

test('describeEscrowSecret: the facts readEscrow and the sweep share, from DescribeSecret only', async () => {
  secretsMock.on(GetSecretValueCommand).rejects(new Error('describeEscrowSecret must never read the value'));
  secretsMock.on(DescribeSecretCommand).resolves({ Name: `kms-reimport/${KEY_ID}`, KmsKeyId: 'alias/escrow', DeletedDate: new Date(0) });
  const plain = makeReport({ tags: { 'kms-reimport:managed': 'true' } });
  assert.deepEqual(await describeEscrowSecret(secrets, plain, config, retry), {
    secretId: `kms-reimport/${KEY_ID}`,
    bound: true, // the default secret is bound by its name, no tag needed
    deleted: true,
    kmsKeyId: 'alias/escrow',
  });

  const tagged = makeReport({ tags: { 'kms-reimport:managed': 'true', 'kms-reimport:escrow': 'team/escrow/k1' } });
  secretsMock.on(DescribeSecretCommand).resolves({ Name: 'team/escrow/k1', Tags: [{ Key: ESCROW_KEY_ID_TAG, Value: 'another-key' }] });
  assert.deepEqual(await describeEscrowSecret(secrets, tagged, config, retry), { secretId: 'team/escrow/k1', bound: false, deleted: false });
  secretsMock.on(DescribeSecretCommand).resolves({ Name: 'team/escrow/k1', Tags: [{ Key: ESCROW_KEY_ID_TAG, Value: KEY_ID }] });
  assert.equal((await describeEscrowSecret(secrets, tagged, config, retry)).bound, true);

  secretsMock.on(DescribeSecretCommand).rejects(awsError('ResourceNotFoundException'));
  await assert.rejects(describeEscrowSecret(secrets, plain, config, retry), (e: unknown) => e instanceof EscrowMissing && e.message.includes(`No escrow secret kms-reimport/${KEY_ID}`));
  assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 0);
});

/** Every message and name in an error's cause chain (and its own enumerable string fields). */
function errorText(e: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  let current: unknown = e;
  while (typeof current === 'object' && current !== null && !seen.has(current)) {
    seen.add(current);
    const err = current as Error & Record<string, unknown>;
    parts.push(String(err.name), String(err.message), String(err.stack));
    for (const v of Object.values(err)) if (typeof v === 'string') parts.push(v);
    current = err.cause;
  }
  return parts.join('\n');
}

test('readEscrow: an error that is not Secrets Manager\'s answer (an unparsable response) never reaches the caller', async () => {
  const MARKER = 'MARKER-c2VjcmV0LW1hdGVyaWFs';
  const parseError = (status: number) =>
    Object.assign(new SyntaxError(`Unexpected token 'v', ..."${MARKER}":v}" is not valid JSON`), { $metadata: { httpStatusCode: status }, $response: { body: MARKER } });
  for (const operation of ['GetSecretValue', 'DescribeSecret'] as const) {
    const report = makeReport(operation === 'DescribeSecret' ? { tags: { 'kms-reimport:managed': 'true', 'kms-reimport:escrow': 'team/escrow/k1' } } : {});
    secretsMock.reset();
    secretsMock.on(DescribeSecretCommand).resolves({ Tags: [{ Key: ESCROW_KEY_ID_TAG, Value: KEY_ID }] });
    secretsMock.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array(randomBytes(32)) });
    secretsMock.on(operation === 'GetSecretValue' ? GetSecretValueCommand : DescribeSecretCommand).rejects(parseError(200));
    await assert.rejects(readEscrow(secrets, report, config, retry), (e: unknown) => {
      assert.ok(e instanceof EscrowMissing, `${operation}: EscrowMissing, got ${String(e)}`);
      assert.equal(e.cause, undefined, `${operation}: no cause`);
      assert.ok(e.message.includes(KEY_ID) && e.message.includes(operation), operation);
      assert.ok(!errorText(e).includes(MARKER), `${operation}: the response text appears nowhere in the error`);
      return true;
    });
    // The same error with a 5xx status is retried as transient; what comes out carries no cause either.
    secretsMock.on(operation === 'GetSecretValue' ? GetSecretValueCommand : DescribeSecretCommand).rejects(parseError(503));
    await assert.rejects(readEscrow(secrets, report, config, retry), (e: unknown) => {
      assert.ok(e instanceof KmsUnavailable, `${operation} 503: KmsUnavailable, got ${String(e)}`);
      assert.equal(e.cause, undefined);
      assert.ok(!errorText(e).includes(MARKER), `${operation} 503: the response text appears nowhere in the error`);
      return true;
    });
  }
});

test('readEscrow: a Secrets Manager error it has no advice for is EscrowMissing naming the code, with the service error as cause', async () => {
  const serviceError = awsError('LimitExceededException');
  secretsMock.on(GetSecretValueCommand).rejects(serviceError);
  await assert.rejects(readEscrow(secrets, makeReport(), config, retry), (e: unknown) => {
    assert.ok(e instanceof EscrowMissing);
    assert.match(e.message, /GetSecretValue failed with LimitExceededException/);
    assert.equal(e.cause, serviceError);
    return true;
  });
});

function escrowed(id?: string): EscrowedMaterial {
  return id ? { keyMaterialId: id, material: randomBytes(32) } : { material: randomBytes(32) };
}

test('selectEscrowedMaterial picks by id, by current id, or the only one', () => {
  const sid = 'kms-reimport/x';
  const a = escrowed(MATERIAL_ID_A);
  const b = escrowed(MATERIAL_ID_B);
  const raw = escrowed();
  const twoMaterials = makeReport({ currentKeyMaterialId: MATERIAL_ID_B, materials: [{ keyMaterialId: MATERIAL_ID_A }, { keyMaterialId: MATERIAL_ID_B }] });
  assert.equal(selectEscrowedMaterial([a, b], twoMaterials, sid, MATERIAL_ID_A), a);
  assert.equal(selectEscrowedMaterial([a, b], twoMaterials, sid), b, 'current one when none named');
  assert.equal(selectEscrowedMaterial([raw], makeReport(), sid), raw, 'raw escrow for a single-material key');
  assert.equal(selectEscrowedMaterial([raw], makeReport({ currentKeyMaterialId: MATERIAL_ID_A }), sid, MATERIAL_ID_A), raw, 'raw escrow when the named id is the only material');
  assert.equal(selectEscrowedMaterial([a], makeReport(), sid), a, 'only one, current unknown');
});

test('selectEscrowedMaterial: missing material for a needed id is EscrowMissing; ambiguity is EscrowInvalid', () => {
  const sid = 'kms-reimport/x';
  const twoMaterials = makeReport({ currentKeyMaterialId: MATERIAL_ID_B, materials: [{ keyMaterialId: MATERIAL_ID_A }, { keyMaterialId: MATERIAL_ID_B }] });
  assert.throws(() => selectEscrowedMaterial([escrowed(MATERIAL_ID_B)], twoMaterials, sid, MATERIAL_ID_A), (e: unknown) => e instanceof EscrowMissing && e.message.includes(MATERIAL_ID_A) && e.message.includes(sid));
  assert.throws(() => selectEscrowedMaterial([escrowed()], twoMaterials, sid, MATERIAL_ID_A), { name: 'EscrowMissing' }, 'raw escrow cannot serve a multi-material key by id');
  assert.throws(() => selectEscrowedMaterial([escrowed(MATERIAL_ID_A)], makeReport({ currentKeyMaterialId: MATERIAL_ID_B }), sid), { name: 'EscrowMissing' });
  assert.throws(() => selectEscrowedMaterial([escrowed(MATERIAL_ID_A), escrowed('c'.repeat(64))], makeReport({ currentKeyMaterialId: MATERIAL_ID_B }), sid), { name: 'EscrowInvalid' });
});

test('selectEscrowedMaterial: the entry without keyMaterialId stands for the current material, also beside labelled ones', () => {
  const sid = 'kms-reimport/x';
  const a = escrowed(MATERIAL_ID_A);
  const unlabelled = escrowed();
  const rotated = makeReport({
    keyState: 'PendingImport',
    currentKeyMaterialId: MATERIAL_ID_B,
    materials: [
      { keyMaterialId: MATERIAL_ID_A, state: 'NON_CURRENT', importState: 'PENDING_IMPORT' },
      { keyMaterialId: MATERIAL_ID_B, state: 'CURRENT', importState: 'PENDING_IMPORT' },
    ],
  });
  assert.equal(selectEscrowedMaterial([a, unlabelled], rotated, sid, MATERIAL_ID_A), a, 'a labelled material by its id');
  assert.equal(selectEscrowedMaterial([a, unlabelled], rotated, sid, MATERIAL_ID_B), unlabelled, 'the current id falls back to the unlabelled entry');
  assert.equal(selectEscrowedMaterial([a, unlabelled], rotated, sid, MATERIAL_ID_B.toUpperCase()), unlabelled, 'ids compare case-insensitively');
  assert.equal(selectEscrowedMaterial([a, unlabelled], rotated, sid), unlabelled, 'none named: the current one');
  assert.equal(selectEscrowedMaterial([unlabelled, a], makeReport({ materials: [] }), sid), unlabelled, 'current unknown: the unlabelled entry');
  // A labelled entry for the current material wins over the unlabelled one.
  const b = escrowed(MATERIAL_ID_B);
  assert.equal(selectEscrowedMaterial([unlabelled, b], rotated, sid, MATERIAL_ID_B), b);
  assert.equal(selectEscrowedMaterial([unlabelled, b], rotated, sid), b);
  // Never for a material that is not the current one.
  assert.throws(
    () => selectEscrowedMaterial([b, unlabelled], rotated, sid, MATERIAL_ID_A),
    (e: unknown) => e instanceof EscrowMissing && e.message.includes(MATERIAL_ID_A) && /current material/.test(e.message),
  );
});
