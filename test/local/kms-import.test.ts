// Import of key material through the real SDK over HTTP: every key spec x wrapping algorithm x
// wrapping key spec, token rules (expiry, other key, superseded, spent) under each option, unwrap
// failures, material checks, ExpirationModel/ValidTo rules, expiry and deletion then reimport,
// same-material rule, ImportType and KeyMaterialId.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import {
  CreateKeyCommand,
  DecryptCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EncryptCommand,
  GenerateMacCommand,
  GetParametersForImportCommand,
  GetPublicKeyCommand,
  ImportKeyMaterialCommand,
  type KMSClient,
  ScheduleKeyDeletionCommand,
  CreateAliasCommand,
} from '@aws-sdk/client-kms';
import { createExternalKey, DAY, type Harness, importMaterial, materialFor, rejectsWith, startHarness, wrap } from './kms-support.js';

const KEY_SPECS = ['SYMMETRIC_DEFAULT', 'HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512', 'RSA_2048', 'RSA_3072', 'RSA_4096', 'ECC_NIST_P256', 'ECC_NIST_P384', 'ECC_NIST_P521', 'ECC_SECG_P256K1'];
const ALGORITHMS = ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256'];
/** RSA_4096 wrapping keys take seconds each to generate; the full RSA_4096 column runs with KMS_FULL_MATRIX=1 (or in CI). */
const FULL = process.env['KMS_FULL_MATRIX'] === '1' || process.env['CI'] !== undefined;

function inTheFuture(h: Harness, seconds: number): Date {
  return new Date((Math.floor(h.endpoint.clock.now() / 1000) + seconds) * 1000);
}

async function params(kms: KMSClient, keyId: string, algorithm = 'RSAES_OAEP_SHA_256', spec = 'RSA_2048') {
  return kms.send(new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: algorithm as never, WrappingKeySpec: spec as never }));
}

/** Proves the key now works with exactly this material. */
async function assertUsableWith(kms: KMSClient, keyId: string, spec: string, material: Buffer): Promise<void> {
  if (spec === 'SYMMETRIC_DEFAULT') {
    const enc = await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from('probe') }));
    const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }));
    assert.equal(Buffer.from(dec.Plaintext!).toString(), 'probe');
  } else if (spec.startsWith('HMAC')) {
    const algorithm = `HMAC_SHA_${spec.slice(5)}`;
    const mac = await kms.send(new GenerateMacCommand({ KeyId: keyId, MacAlgorithm: algorithm as never, Message: Buffer.from('probe') }));
    assert.deepEqual(Buffer.from(mac.Mac!), createHmac(`sha${spec.slice(5)}`, material).update('probe').digest());
  } else {
    const pub = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
    const expected = createPublicKey(createPrivateKey({ key: material, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
    assert.deepEqual(Buffer.from(pub.PublicKey!), expected);
  }
}

describe('import matrix: key spec x wrapping algorithm x wrapping key spec', () => {
  let h: Harness;
  const materials = new Map<string, Buffer>();
  before(async () => {
    h = await startHarness();
    for (const spec of KEY_SPECS) materials.set(spec, materialFor(spec));
  });
  after(async () => {
    await h.close();
  });

  for (const wrappingKeySpec of ['RSA_2048', 'RSA_3072', 'RSA_4096']) {
    for (const algorithm of ALGORITHMS) {
      const slowSkipped = wrappingKeySpec === 'RSA_4096' && !FULL && algorithm !== 'RSA_AES_KEY_WRAP_SHA_256';
      it(`${algorithm} with ${wrappingKeySpec} for every key spec`, { skip: slowSkipped ? 'RSA_4096 x this algorithm: set KMS_FULL_MATRIX=1' : false }, async () => {
        const kms = h.kms();
        for (const spec of KEY_SPECS) {
          const material = materials.get(spec)!;
          const key = await createExternalKey(kms, spec);
          const refused = (algorithm.startsWith('RSAES_OAEP') && spec.startsWith('RSA_')) || (algorithm.startsWith('RSAES_OAEP') && spec === 'ECC_NIST_P521' && wrappingKeySpec === 'RSA_2048');
          if (refused) {
            await rejectsWith(params(kms, key.KeyId!, algorithm, wrappingKeySpec), 'ValidationException', /RSA_AES_KEY_WRAP_SHA_256/);
            continue;
          }
          if (algorithm.startsWith('RSA_AES') && (spec === 'SYMMETRIC_DEFAULT' || spec.startsWith('HMAC_'))) {
            // RSA_AES_KEY_WRAP is for RSA and ECC material only (rsaAesForSymmetric, default 'refuse-parameters').
            await rejectsWith(params(kms, key.KeyId!, algorithm, wrappingKeySpec), 'ValidationException', /RSA and ECC key material only.*RSAES_OAEP_SHA_256/);
            continue;
          }
          const p = await params(kms, key.KeyId!, algorithm, wrappingKeySpec);
          const publicKey = createPublicKey({ key: Buffer.from(p.PublicKey!), format: 'der', type: 'spki' });
          assert.equal(publicKey.asymmetricKeyDetails!.modulusLength, Number(wrappingKeySpec.slice(4)));
          const out = await kms.send(
            new ImportKeyMaterialCommand({
              KeyId: key.KeyId,
              ImportToken: p.ImportToken,
              EncryptedKeyMaterial: wrap(algorithm, p.PublicKey!, material),
              ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
            }),
          );
          assert.equal(out.KeyId, key.Arn, spec);
          assert.match(out.KeyMaterialId!, /^[0-9a-f]{64}$/);
          const m = (await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
          assert.equal(m.KeyState, 'Enabled', `${spec} ${algorithm} ${wrappingKeySpec}`);
          assert.equal(m.CurrentKeyMaterialId, out.KeyMaterialId);
          await assertUsableWith(kms, key.KeyId!, spec, material);
        }
      });
    }
  }
});

describe('RSA_AES_KEY_WRAP for symmetric and HMAC material (rsaAesForSymmetric)', () => {
  for (const spec of ['SYMMETRIC_DEFAULT', 'HMAC_256']) {
    it(`${spec}: refused at GetParametersForImport by default, at ImportKeyMaterial with 'refuse-import', accepted with 'allow'`, async () => {
      const strict = await startHarness();
      const atImport = await startHarness({ kms: { rsaAesForSymmetric: 'refuse-import' } });
      const lenient = await startHarness({ kms: { rsaAesForSymmetric: 'allow' } });
      try {
        const material = materialFor(spec);
        const strictKms = strict.kms();
        const refusedKey = await createExternalKey(strictKms, spec);
        await rejectsWith(params(strictKms, refusedKey.KeyId!, 'RSA_AES_KEY_WRAP_SHA_256'), 'ValidationException', /RSA and ECC key material only/);
        await rejectsWith(params(strictKms, refusedKey.KeyId!, 'RSA_AES_KEY_WRAP_SHA_1'), 'ValidationException', /RSA and ECC key material only/);
        await importMaterial(strictKms, refusedKey.KeyId!, material, strict.endpoint.clock.now(), { algorithm: 'RSAES_OAEP_SHA_256' });

        const atImportKms = atImport.kms();
        const key = await createExternalKey(atImportKms, spec);
        await rejectsWith(
          importMaterial(atImportKms, key.KeyId!, material, atImport.endpoint.clock.now(), { algorithm: 'RSA_AES_KEY_WRAP_SHA_256' }),
          'InvalidCiphertextException',
          /RSA and ECC key material only/,
        );
        assert.equal((await atImportKms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.KeyState, 'PendingImport', 'nothing was imported');

        const lenientKms = lenient.kms();
        const allowed = await createExternalKey(lenientKms, spec);
        await importMaterial(lenientKms, allowed.KeyId!, material, lenient.endpoint.clock.now(), { algorithm: 'RSA_AES_KEY_WRAP_SHA_256' });
        await assertUsableWith(lenientKms, allowed.KeyId!, spec, material);
      } finally {
        await Promise.all([strict.close(), atImport.close(), lenient.close()]);
      }
    });
  }
});

describe('GetParametersForImport', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  it('returns a DER public key, an opaque token and ParametersValidTo = now + 24 h, a fresh key pair per call', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    const a = await params(kms, key.KeyId!);
    const b = await params(kms, key.Arn!);
    assert.equal(a.KeyId, key.Arn);
    assert.ok(Math.abs(a.ParametersValidTo!.getTime() - (h.endpoint.clock.now() + DAY * 1000)) < 60_000);
    assert.notDeepEqual(Buffer.from(a.PublicKey!), Buffer.from(b.PublicKey!));
    assert.notDeepEqual(Buffer.from(a.ImportToken!), Buffer.from(b.ImportToken!));
  });

  it('refuses RSAES_PKCS1_V1_5, SM2, AWS_KMS keys, aliases and keys pending deletion', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    await rejectsWith(params(kms, key.KeyId!, 'RSAES_PKCS1_V1_5'), 'ValidationException', /no longer supported/);
    await rejectsWith(params(kms, key.KeyId!, 'SM2PKE', 'SM2'), 'UnsupportedOperationException', /China/);
    await rejectsWith(params(kms, key.KeyId!, 'RSAES_OAEP_SHA_256', 'RSA_1024'), 'ValidationException');
    const native = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    await rejectsWith(params(kms, native.KeyId!), 'UnsupportedOperationException', /EXTERNAL/);
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/import-target', TargetKeyId: key.KeyId }));
    await rejectsWith(params(kms, 'alias/import-target'), 'NotFoundException', /not an alias/);
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }));
    await rejectsWith(params(kms, key.KeyId!), 'KMSInvalidStateException', /pending deletion/);
  });
});

describe('import tokens', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  function importWith(kms: KMSClient, keyId: string, p: { ImportToken?: Uint8Array; PublicKey?: Uint8Array }, material: Buffer, algorithm = 'RSAES_OAEP_SHA_256') {
    return kms.send(
      new ImportKeyMaterialCommand({
        KeyId: keyId,
        ImportToken: p.ImportToken,
        EncryptedKeyMaterial: wrap(algorithm, p.PublicKey!, material),
        ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
      }),
    );
  }

  it('refuses a token that is not a token, or that belongs to another key', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    const other = await createExternalKey(kms);
    const material = materialFor('SYMMETRIC_DEFAULT');
    const p = await params(kms, key.KeyId!);
    await rejectsWith(importWith(kms, key.KeyId!, { ImportToken: randomBytes(64), PublicKey: p.PublicKey! }, material), 'InvalidImportTokenException', new RegExp(key.Arn!));
    const otherParams = await params(kms, other.KeyId!);
    await rejectsWith(importWith(kms, key.KeyId!, otherParams, material), 'InvalidImportTokenException', /another KMS key/);
  });

  it('answers ExpiredImportTokenException after 24 hours, and new parameters then work', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    const material = materialFor('SYMMETRIC_DEFAULT');
    const p = await params(kms, key.KeyId!);
    h.endpoint.clock.advance(DAY + 1);
    await rejectsWith(importWith(kms, key.KeyId!, p, material), 'ExpiredImportTokenException', /GetParametersForImport/);
    await importWith(kms, key.KeyId!, await params(kms, key.KeyId!), material);
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.KeyState, 'Enabled');
  });

  it("by default (earlierTokens 'invalid') an earlier token dies when newer parameters are issued", async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    const material = materialFor('SYMMETRIC_DEFAULT');
    const first = await params(kms, key.KeyId!);
    const second = await params(kms, key.KeyId!);
    await rejectsWith(importWith(kms, key.KeyId!, first, material), 'InvalidImportTokenException', /superseded/);
    await importWith(kms, key.KeyId!, second, material);
  });

  it('by default (importTokenUse single) a token is spent by a successful import, not by a failed one', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    const material = materialFor('SYMMETRIC_DEFAULT');
    const p = await params(kms, key.KeyId!);
    await rejectsWith(importWith(kms, key.KeyId!, p, randomBytes(16)), 'IncorrectKeyMaterialException');
    await importWith(kms, key.KeyId!, p, material);
    await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.KeyId }));
    await rejectsWith(importWith(kms, key.KeyId!, p, material), 'InvalidImportTokenException', /already used/);
  });

  it("with earlierTokens 'valid' and importTokenUse 'multiple' an earlier token keeps working", async () => {
    const lenient = await startHarness({ kms: { earlierTokens: 'valid', importTokenUse: 'multiple' } });
    try {
      const kms = lenient.kms();
      const key = await createExternalKey(kms);
      const material = materialFor('SYMMETRIC_DEFAULT');
      const first = await params(kms, key.KeyId!);
      await params(kms, key.KeyId!);
      await importWith(kms, key.KeyId!, first, material);
      await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.KeyId }));
      await importWith(kms, key.KeyId!, first, material);
      assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.KeyState, 'Enabled');
      lenient.endpoint.clock.advance(DAY);
      await rejectsWith(importWith(kms, key.KeyId!, first, material), 'ExpiredImportTokenException');
    } finally {
      await lenient.close();
    }
  });
});

describe('unwrapping and material checks', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  function importRaw(kms: KMSClient, keyId: string, token: Uint8Array, encrypted: Buffer) {
    return kms.send(new ImportKeyMaterialCommand({ KeyId: keyId, ImportToken: token, EncryptedKeyMaterial: encrypted, ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }));
  }

  it('answers InvalidCiphertextException for a wrong OAEP hash, a wrong public key, or bytes that are not a wrapping', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    const material = materialFor('SYMMETRIC_DEFAULT');
    const p = await params(kms, key.KeyId!, 'RSAES_OAEP_SHA_256');
    await rejectsWith(importRaw(kms, key.KeyId!, p.ImportToken!, wrap('RSAES_OAEP_SHA_1', p.PublicKey!, material)), 'InvalidCiphertextException', /SHA-256/);
    const stranger = await params(kms, (await createExternalKey(kms)).KeyId!);
    await rejectsWith(importRaw(kms, key.KeyId!, p.ImportToken!, wrap('RSAES_OAEP_SHA_256', stranger.PublicKey!, material)), 'InvalidCiphertextException');
    await rejectsWith(importRaw(kms, key.KeyId!, p.ImportToken!, randomBytes(100)), 'InvalidCiphertextException', /256 bytes/);
    // RSA_AES_KEY_WRAP is for RSA and ECC material: its unwrapping failures on an ECC key.
    const ecc = await createExternalKey(kms, 'ECC_NIST_P256');
    const eccMaterial = materialFor('ECC_NIST_P256');
    const kw = await params(kms, ecc.KeyId!, 'RSA_AES_KEY_WRAP_SHA_256');
    const good = wrap('RSA_AES_KEY_WRAP_SHA_256', kw.PublicKey!, eccMaterial);
    const tampered = Buffer.from(good);
    tampered[tampered.length - 1]! ^= 1;
    await rejectsWith(importRaw(kms, ecc.KeyId!, kw.ImportToken!, tampered), 'InvalidCiphertextException', /RFC 5649/);
    await rejectsWith(importRaw(kms, ecc.KeyId!, kw.ImportToken!, wrap('RSA_AES_KEY_WRAP_SHA_1', kw.PublicKey!, eccMaterial)), 'InvalidCiphertextException');
    await importRaw(kms, ecc.KeyId!, kw.ImportToken!, good);
  });

  it('checks the material against the key spec (length, PKCS#8, key type, size, curve) and never echoes it', async () => {
    const kms = h.kms();
    const cases: [string, Buffer, RegExp][] = [
      ['SYMMETRIC_DEFAULT', randomBytes(16), /exactly 32 bytes/],
      ['SYMMETRIC_DEFAULT', Buffer.from(randomBytes(32).toString('hex')), /exactly 32 bytes/],
      ['HMAC_224', randomBytes(32), /exactly 28 bytes/],
      ['HMAC_384', randomBytes(32), /exactly 48 bytes/],
      ['ECC_NIST_P256', randomBytes(120), /PKCS#8/],
      ['ECC_NIST_P256', materialFor('ECC_NIST_P384'), /prime256v1/],
      ['ECC_SECG_P256K1', materialFor('ECC_NIST_P256'), /secp256k1/],
      ['RSA_3072', materialFor('RSA_2048'), /3072-bit/],
      ['RSA_2048', materialFor('ECC_NIST_P256'), /RSA private key/],
    ];
    for (const [spec, material, message] of cases) {
      const key = await createExternalKey(kms, spec);
      const algorithm = spec === 'SYMMETRIC_DEFAULT' || spec.startsWith('HMAC_') ? 'RSAES_OAEP_SHA_256' : 'RSA_AES_KEY_WRAP_SHA_256';
      const err = await rejectsWith(importMaterial(kms, key.KeyId!, material, h.endpoint.clock.now(), { algorithm, wrappingKeySpec: 'RSA_3072' }), 'IncorrectKeyMaterialException', message);
      assert.ok(!err.message.includes(material.toString('hex').slice(0, 16)) && !err.message.includes(material.toString('base64').slice(0, 16)));
      assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.KeyState, 'PendingImport');
    }
  });
});

describe('ExpirationModel, expiry, deletion and reimport', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  it('enforces the ExpirationModel/ValidTo rules', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    const material = materialFor('SYMMETRIC_DEFAULT');
    const attempt = async (extra: Record<string, unknown>) => {
      const p = await params(kms, key.KeyId!);
      return kms.send(new ImportKeyMaterialCommand({ KeyId: key.KeyId, ImportToken: p.ImportToken, EncryptedKeyMaterial: wrap('RSAES_OAEP_SHA_256', p.PublicKey!, material), ...extra }));
    };
    await rejectsWith(attempt({}), 'ValidationException', /ValidTo is required/);
    await rejectsWith(attempt({ ExpirationModel: 'KEY_MATERIAL_EXPIRES' }), 'ValidationException', /ValidTo is required/);
    await rejectsWith(attempt({ ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: inTheFuture(h, -60) }), 'ValidationException', /not in the future/);
    await rejectsWith(attempt({ ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: inTheFuture(h, 366 * DAY) }), 'ValidationException', /365 days/);
    await rejectsWith(attempt({ ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE', ValidTo: inTheFuture(h, DAY) }), 'ValidationException', /not allowed/);
    const yearAhead = inTheFuture(h, 365 * DAY);
    await attempt({ ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: yearAhead });
    const m = (await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
    assert.equal(m.ExpirationModel, 'KEY_MATERIAL_EXPIRES');
    assert.equal(m.ValidTo!.getTime(), yearAhead.getTime());
    await attempt({ ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });
    const n = (await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
    assert.equal(n.ExpirationModel, 'KEY_MATERIAL_DOES_NOT_EXPIRE');
    assert.equal(n.ValidTo, undefined);
  });

  it('material expires at ValidTo: the key goes PendingImport, old ciphertext waits for the same material', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    const material = materialFor('SYMMETRIC_DEFAULT');
    const validTo = inTheFuture(h, 3600);
    await importMaterial(kms, key.KeyId!, material, h.endpoint.clock.now(), { validTo });
    const blob = (await kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('before expiry') }))).CiphertextBlob!;
    h.endpoint.clock.set(validTo.getTime() - 120_000);
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.KeyState, 'Enabled');
    h.endpoint.clock.set(validTo.getTime());
    const m = (await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
    assert.equal(m.KeyState, 'PendingImport');
    assert.equal(m.Enabled, false);
    await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: blob })), 'KMSInvalidStateException', /pending import/);
    await rejectsWith(importMaterial(kms, key.KeyId!, materialFor('SYMMETRIC_DEFAULT'), h.endpoint.clock.now()), 'IncorrectKeyMaterialException', /not the key material previously imported/);
    await importMaterial(kms, key.KeyId!, material, h.endpoint.clock.now(), { algorithm: 'RSAES_OAEP_SHA_1', wrappingKeySpec: 'RSA_3072' });
    assert.equal(Buffer.from((await kms.send(new DecryptCommand({ CiphertextBlob: blob }))).Plaintext!).toString(), 'before expiry');
  });

  it('DeleteImportedKeyMaterial makes the key PendingImport; only the same material brings it back', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms, 'HMAC_256');
    const material = materialFor('HMAC_256');
    const first = await importMaterial(kms, key.KeyId!, material, h.endpoint.clock.now());
    const deleted = await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.Arn }));
    assert.equal(deleted.KeyId, key.Arn);
    assert.equal(deleted.KeyMaterialId, first.KeyMaterialId);
    const m = (await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
    assert.equal(m.KeyState, 'PendingImport');
    assert.equal(m.CurrentKeyMaterialId, first.KeyMaterialId);
    await rejectsWith(kms.send(new GenerateMacCommand({ KeyId: key.KeyId, MacAlgorithm: 'HMAC_SHA_256', Message: Buffer.from('x') })), 'KMSInvalidStateException');
    await rejectsWith(importMaterial(kms, key.KeyId!, materialFor('HMAC_256'), h.endpoint.clock.now()), 'IncorrectKeyMaterialException');
    const again = await importMaterial(kms, key.KeyId!, material, h.endpoint.clock.now());
    assert.equal(again.KeyMaterialId, first.KeyMaterialId);
    await assertUsableWith(kms, key.KeyId!, 'HMAC_256', material);
  });

  it('the same material in two keys gets two KeyMaterialIds', async () => {
    const kms = h.kms();
    const material = materialFor('SYMMETRIC_DEFAULT');
    const a = await importMaterial(kms, (await createExternalKey(kms)).KeyId!, material, h.endpoint.clock.now());
    const b = await importMaterial(kms, (await createExternalKey(kms)).KeyId!, material, h.endpoint.clock.now());
    assert.notEqual(a.KeyMaterialId, b.KeyMaterialId);
  });

  it('reimport into an Enabled key pushes ValidTo out (allowed by default)', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    const material = materialFor('SYMMETRIC_DEFAULT');
    await importMaterial(kms, key.KeyId!, material, h.endpoint.clock.now(), { validTo: inTheFuture(h, DAY) });
    const later = inTheFuture(h, 90 * DAY);
    await importMaterial(kms, key.KeyId!, material, h.endpoint.clock.now(), { validTo: later });
    const m = (await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
    assert.equal(m.KeyState, 'Enabled');
    assert.equal(m.ValidTo!.getTime(), later.getTime());
    await rejectsWith(importMaterial(kms, key.KeyId!, materialFor('SYMMETRIC_DEFAULT'), h.endpoint.clock.now()), 'IncorrectKeyMaterialException');
  });

  it("with reimportWhileEnabled 'refuse' reimport over present material is refused until it is deleted", async () => {
    const strict = await startHarness({ kms: { reimportWhileEnabled: 'refuse' } });
    try {
      const kms = strict.kms();
      const key = await createExternalKey(kms);
      const material = materialFor('SYMMETRIC_DEFAULT');
      await importMaterial(kms, key.KeyId!, material, strict.endpoint.clock.now());
      await rejectsWith(importMaterial(kms, key.KeyId!, material, strict.endpoint.clock.now()), 'KMSInvalidStateException', /DeleteImportedKeyMaterial/);
      await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.KeyId }));
      await importMaterial(kms, key.KeyId!, material, strict.endpoint.clock.now());
    } finally {
      await strict.close();
    }
  });

  it('a key disabled when its material expired comes back Disabled after reimport', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    const material = materialFor('SYMMETRIC_DEFAULT');
    await importMaterial(kms, key.KeyId!, material, h.endpoint.clock.now(), { validTo: inTheFuture(h, 60) });
    await kms.send(new DisableKeyCommand({ KeyId: key.KeyId }));
    h.endpoint.clock.advance(61);
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.KeyState, 'PendingImport');
    await importMaterial(kms, key.KeyId!, material, h.endpoint.clock.now());
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.KeyState, 'Disabled');
  });

  it('a Disabled key that has its material refuses ImportKeyMaterial (PendingImport or Enabled only)', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    const material = materialFor('SYMMETRIC_DEFAULT');
    await importMaterial(kms, key.KeyId!, material, h.endpoint.clock.now());
    await kms.send(new DisableKeyCommand({ KeyId: key.KeyId }));
    await rejectsWith(importMaterial(kms, key.KeyId!, material, h.endpoint.clock.now()), 'KMSInvalidStateException', /Disabled/);
  });

  it('DeleteImportedKeyMaterial on a key pending deletion keeps it PendingDeletion; refuses aliases, AWS_KMS keys, never-imported keys', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    await rejectsWith(kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.KeyId })), 'KMSInvalidStateException', /no imported key material/);
    await importMaterial(kms, key.KeyId!, materialFor('SYMMETRIC_DEFAULT'), h.endpoint.clock.now());
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/delete-by-alias', TargetKeyId: key.KeyId }));
    await rejectsWith(kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: 'alias/delete-by-alias' })), 'NotFoundException');
    const native = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    await rejectsWith(kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: native.KeyId })), 'UnsupportedOperationException');
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }));
    await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.KeyId }));
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.KeyState, 'PendingDeletion');
    await rejectsWith(importMaterial(kms, key.KeyId!, materialFor('SYMMETRIC_DEFAULT'), h.endpoint.clock.now()), 'KMSInvalidStateException', /pending deletion/);
  });

  it('ImportType and KeyMaterialId rules', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    const material = materialFor('SYMMETRIC_DEFAULT');
    const now = () => h.endpoint.clock.now();
    await rejectsWith(importMaterial(kms, key.KeyId!, material, now(), { extra: { ImportType: 'EXISTING_KEY_MATERIAL' } }), 'IncorrectKeyMaterialException', /never had key material/);
    await rejectsWith(importMaterial(kms, key.KeyId!, material, now(), { extra: { ImportType: 'NEW_KEY_MATERIAL', KeyMaterialId: 'a'.repeat(64) } }), 'ValidationException', /KeyMaterialId cannot be combined/);
    const first = await importMaterial(kms, key.KeyId!, material, now(), { extra: { KeyMaterialDescription: 'v1' } });
    const bothCauses = /either the key does not exist or that material is not associated with the key/;
    await rejectsWith(importMaterial(kms, key.KeyId!, material, now(), { extra: { KeyMaterialId: 'b'.repeat(64) } }), 'NotFoundException', bothCauses);
    const noSuchKey = { KeyId: '11111111-2222-4333-8444-555555555555', ImportToken: Buffer.from('t'), EncryptedKeyMaterial: Buffer.from('m'), ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' as const };
    await rejectsWith(kms.send(new ImportKeyMaterialCommand({ ...noSuchKey, KeyMaterialId: 'b'.repeat(64) })), 'NotFoundException', bothCauses);
    const withoutId = await rejectsWith(kms.send(new ImportKeyMaterialCommand(noSuchKey)), 'NotFoundException', /does not exist/);
    assert.doesNotMatch(withoutId.message, /key material/, 'without a KeyMaterialId the only cause is the key');
    await rejectsWith(importMaterial(kms, key.KeyId!, material, now(), { extra: { KeyMaterialId: 'XYZ' } }), 'ValidationException');
    await rejectsWith(importMaterial(kms, key.KeyId!, materialFor('SYMMETRIC_DEFAULT'), now(), { extra: { KeyMaterialId: first.KeyMaterialId } }), 'IncorrectKeyMaterialException');
    const again = await importMaterial(kms, key.KeyId!, material, now(), { extra: { KeyMaterialId: first.KeyMaterialId, ImportType: 'EXISTING_KEY_MATERIAL' } });
    assert.equal(again.KeyMaterialId, first.KeyMaterialId);
    await rejectsWith(importMaterial(kms, key.KeyId!, material, now(), { extra: { ImportType: 'NEW_KEY_MATERIAL' } }), 'IncorrectKeyMaterialException', /already associated/);
    const hmac = await createExternalKey(kms, 'HMAC_256');
    const hmacMaterial = materialFor('HMAC_256');
    await importMaterial(kms, hmac.KeyId!, hmacMaterial, now());
    // ImportType and KeyMaterialId are "only usable with symmetric encryption keys" (API reference).
    await rejectsWith(importMaterial(kms, hmac.KeyId!, materialFor('HMAC_256'), now(), { extra: { ImportType: 'NEW_KEY_MATERIAL' } }), 'ValidationException', /only to symmetric encryption keys/);
    await rejectsWith(importMaterial(kms, hmac.KeyId!, hmacMaterial, now(), { extra: { ImportType: 'EXISTING_KEY_MATERIAL' } }), 'ValidationException', /only to symmetric encryption keys/);
    await importMaterial(kms, hmac.KeyId!, hmacMaterial, now());
  });
});
