// Cryptography with the key material through the real SDK: symmetric Encrypt/Decrypt/
// GenerateDataKey/ReEncrypt (encryption context, KeyMaterialId, wrong key), RSA OAEP, Sign/Verify
// (RAW and DIGEST, checked against node:crypto), GetPublicKey, GenerateMac/VerifyMac, and refusal
// in every unusable state.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createHash, createHmac, createPublicKey, publicEncrypt, verify } from 'node:crypto';
import {
  CreateKeyCommand,
  DecryptCommand,
  DeleteImportedKeyMaterialCommand,
  DisableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateMacCommand,
  GenerateRandomCommand,
  GetPublicKeyCommand,
  ReEncryptCommand,
  ScheduleKeyDeletionCommand,
  SignCommand,
  VerifyCommand,
  VerifyMacCommand,
} from '@aws-sdk/client-kms';
import { createExternalKey, type Harness, importMaterial, materialFor, rejectsWith, startHarness } from './kms-support.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});

describe('symmetric encryption', () => {
  it('encrypts and decrypts with encryption context; the blob names key and material', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    const imported = await importMaterial(kms, key.KeyId!, materialFor('SYMMETRIC_DEFAULT'), h.endpoint.clock.now());
    const enc = await kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('secret'), EncryptionContext: { purpose: 'test', b: '2' } }));
    assert.equal(enc.KeyId, key.Arn);
    assert.equal(enc.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    const dec = await kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { b: '2', purpose: 'test' } }));
    assert.equal(Buffer.from(dec.Plaintext!).toString(), 'secret');
    assert.equal(dec.KeyId, key.Arn);
    assert.equal(dec.KeyMaterialId, imported.KeyMaterialId);
    await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { purpose: 'other', b: '2' } })), 'InvalidCiphertextException', /encryption context/);
    await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })), 'InvalidCiphertextException');
    const tampered = Buffer.from(enc.CiphertextBlob!);
    tampered[tampered.length - 1]! ^= 1;
    await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: tampered, EncryptionContext: { purpose: 'test', b: '2' } })), 'InvalidCiphertextException');
    await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: Buffer.from('not a blob at all') })), 'InvalidCiphertextException');
    const other = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    await rejectsWith(kms.send(new DecryptCommand({ KeyId: other.KeyId, CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { purpose: 'test', b: '2' } })), 'IncorrectKeyException', new RegExp(key.KeyId!));
    await rejectsWith(kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.alloc(4097) })), 'ValidationException');
  });

  it('generates data keys (KeySpec or NumberOfBytes) that decrypt back, and re-encrypts between keys', async () => {
    const kms = h.kms();
    const a = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    const b = await createExternalKey(kms);
    const bMaterial = await importMaterial(kms, b.KeyId!, materialFor('SYMMETRIC_DEFAULT'), h.endpoint.clock.now());
    const dk = await kms.send(new GenerateDataKeyCommand({ KeyId: a.KeyId, KeySpec: 'AES_256', EncryptionContext: { k: 'v' } }));
    assert.equal(dk.Plaintext!.length, 32);
    assert.equal(dk.KeyMaterialId, a.CurrentKeyMaterialId);
    const back = await kms.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: { k: 'v' } }));
    assert.deepEqual(Buffer.from(back.Plaintext!), Buffer.from(dk.Plaintext!));
    const short = await kms.send(new GenerateDataKeyCommand({ KeyId: a.KeyId, NumberOfBytes: 7 }));
    assert.equal(short.Plaintext!.length, 7);
    const without = await kms.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: a.KeyId, KeySpec: 'AES_128' }));
    assert.equal((without as { Plaintext?: unknown }).Plaintext, undefined);
    assert.equal((await kms.send(new DecryptCommand({ CiphertextBlob: without.CiphertextBlob }))).Plaintext!.length, 16);
    await rejectsWith(kms.send(new GenerateDataKeyCommand({ KeyId: a.KeyId })), 'ValidationException', /KeySpec/);
    await rejectsWith(kms.send(new GenerateDataKeyCommand({ KeyId: a.KeyId, KeySpec: 'AES_256', NumberOfBytes: 32 })), 'ValidationException', /not both/);
    const re = await kms.send(new ReEncryptCommand({ CiphertextBlob: dk.CiphertextBlob, SourceEncryptionContext: { k: 'v' }, DestinationKeyId: b.Arn, DestinationEncryptionContext: { n: 'w' } }));
    assert.equal(re.SourceKeyId, a.Arn);
    assert.equal(re.KeyId, b.Arn);
    assert.equal(re.SourceKeyMaterialId, a.CurrentKeyMaterialId);
    assert.equal(re.DestinationKeyMaterialId, bMaterial.KeyMaterialId);
    const final = await kms.send(new DecryptCommand({ CiphertextBlob: re.CiphertextBlob, EncryptionContext: { n: 'w' } }));
    assert.deepEqual(Buffer.from(final.Plaintext!), Buffer.from(dk.Plaintext!));
    assert.equal((await kms.send(new GenerateRandomCommand({ NumberOfBytes: 12 }))).Plaintext!.length, 12);
  });

  it('refuses in every unusable state: PendingImport, Disabled, PendingDeletion; and the wrong key usage', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    await rejectsWith(kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException', /pending import/);
    await importMaterial(kms, key.KeyId!, materialFor('SYMMETRIC_DEFAULT'), h.endpoint.clock.now());
    const blob = (await kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x') }))).CiphertextBlob!;
    await kms.send(new DisableKeyCommand({ KeyId: key.KeyId }));
    await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: blob })), 'DisabledException');
    await rejectsWith(kms.send(new GenerateDataKeyCommand({ KeyId: key.KeyId, KeySpec: 'AES_256' })), 'DisabledException');
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }));
    await rejectsWith(kms.send(new DecryptCommand({ CiphertextBlob: blob })), 'KMSInvalidStateException', /pending deletion/);
    const hmac = (await kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))).KeyMetadata!;
    await rejectsWith(kms.send(new EncryptCommand({ KeyId: hmac.KeyId, Plaintext: Buffer.from('x') })), 'InvalidKeyUsageException', /ENCRYPT_DECRYPT/);
    const signer = (await kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }))).KeyMetadata!;
    await rejectsWith(kms.send(new GenerateDataKeyCommand({ KeyId: signer.KeyId, KeySpec: 'AES_256' })), 'InvalidKeyUsageException');
  });
});

describe('RSA encryption keys', () => {
  it('encrypts with RSAES_OAEP_* and decrypts with the key and algorithm; the public key encrypts compatibly', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms, 'RSA_2048', { KeyUsage: 'ENCRYPT_DECRYPT' });
    await importMaterial(kms, key.KeyId!, materialFor('RSA_2048'), h.endpoint.clock.now(), { algorithm: 'RSA_AES_KEY_WRAP_SHA_256' });
    const pub = await kms.send(new GetPublicKeyCommand({ KeyId: key.KeyId }));
    assert.deepEqual(pub.EncryptionAlgorithms, ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']);
    const local = publicEncrypt({ key: createPublicKey({ key: Buffer.from(pub.PublicKey!), format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from('offline'));
    const dec = await kms.send(new DecryptCommand({ KeyId: key.KeyId, CiphertextBlob: local, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }));
    assert.equal(Buffer.from(dec.Plaintext!).toString(), 'offline');
    const enc = await kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('sha1'), EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' }));
    assert.equal(Buffer.from((await kms.send(new DecryptCommand({ KeyId: key.KeyId, CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_1' }))).Plaintext!).toString(), 'sha1');
    await rejectsWith(kms.send(new DecryptCommand({ KeyId: key.KeyId, CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })), 'InvalidCiphertextException');
    await rejectsWith(kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x') })), 'InvalidKeyUsageException', /RSAES_OAEP/);
    await rejectsWith(kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.alloc(300), EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' })), 'ValidationException', /too long/);
  });
});

describe('signing', () => {
  const cases: [string, string[]][] = [
    ['RSA_2048', ['RSASSA_PSS_SHA_256', 'RSASSA_PSS_SHA_384', 'RSASSA_PSS_SHA_512', 'RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512']],
    ['ECC_NIST_P256', ['ECDSA_SHA_256']],
    ['ECC_NIST_P384', ['ECDSA_SHA_384']],
    ['ECC_NIST_P521', ['ECDSA_SHA_512']],
    ['ECC_SECG_P256K1', ['ECDSA_SHA_256']],
  ];
  for (const [spec, algorithms] of cases) {
    it(`${spec}: RAW and DIGEST signatures verify with node:crypto and with Verify; bad ones raise KMSInvalidSignatureException`, async () => {
      const kms = h.kms();
      const key = await createExternalKey(kms, spec);
      await importMaterial(kms, key.KeyId!, materialFor(spec), h.endpoint.clock.now(), { algorithm: 'RSA_AES_KEY_WRAP_SHA_256' });
      const pub = await kms.send(new GetPublicKeyCommand({ KeyId: key.KeyId }));
      assert.equal(pub.KeySpec, spec);
      assert.equal(pub.KeyUsage, 'SIGN_VERIFY');
      assert.deepEqual([...pub.SigningAlgorithms!].sort(), [...algorithms].sort());
      const publicKey = createPublicKey({ key: Buffer.from(pub.PublicKey!), format: 'der', type: 'spki' });
      const message = Buffer.from(`message for ${spec}`);
      for (const algorithm of algorithms) {
        const hash = `sha${algorithm.slice(-3)}`;
        const digest = createHash(hash).update(message).digest();
        for (const [type, payload] of [['RAW', message], ['DIGEST', digest]] as const) {
          const signed = await kms.send(new SignCommand({ KeyId: key.KeyId, Message: payload, MessageType: type, SigningAlgorithm: algorithm as never }));
          const signature = Buffer.from(signed.Signature!);
          const opts = algorithm.startsWith('RSASSA_PSS') ? { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: digest.length } : publicKey;
          assert.ok(verify(hash, message, opts, signature), `${algorithm} ${type} verifies offline`);
          const ok = await kms.send(new VerifyCommand({ KeyId: key.KeyId, Message: payload, MessageType: type, Signature: signature, SigningAlgorithm: algorithm as never }));
          assert.equal(ok.SignatureValid, true);
          const wrong = type === 'RAW' ? Buffer.from('another message') : createHash(hash).update('another').digest();
          await rejectsWith(kms.send(new VerifyCommand({ KeyId: key.KeyId, Message: wrong, MessageType: type, Signature: signature, SigningAlgorithm: algorithm as never })), 'KMSInvalidSignatureException');
        }
      }
      await rejectsWith(kms.send(new SignCommand({ KeyId: key.KeyId, Message: Buffer.alloc(5), MessageType: 'DIGEST', SigningAlgorithm: algorithms[0] as never })), 'ValidationException', /digest/);
      const foreign = spec.startsWith('RSA') ? 'ECDSA_SHA_256' : 'RSASSA_PSS_SHA_256';
      await rejectsWith(kms.send(new SignCommand({ KeyId: key.KeyId, Message: message, SigningAlgorithm: foreign as never })), 'InvalidKeyUsageException');
      await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.KeyId }));
      await rejectsWith(kms.send(new SignCommand({ KeyId: key.KeyId, Message: message, SigningAlgorithm: algorithms[0] as never })), 'KMSInvalidStateException', /pending import/);
      await rejectsWith(kms.send(new GetPublicKeyCommand({ KeyId: key.KeyId })), 'KMSInvalidStateException');
    });
  }

  it('GetPublicKey refuses symmetric and HMAC keys', async () => {
    const kms = h.kms();
    const sym = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    await rejectsWith(kms.send(new GetPublicKeyCommand({ KeyId: sym.KeyId })), 'UnsupportedOperationException', /asymmetric/);
  });
});

describe('HMAC', () => {
  for (const spec of ['HMAC_224', 'HMAC_256', 'HMAC_384', 'HMAC_512']) {
    it(`${spec}: GenerateMac is HMAC under the imported material; VerifyMac accepts it and rejects others`, async () => {
      const kms = h.kms();
      const key = await createExternalKey(kms, spec);
      const material = materialFor(spec);
      await importMaterial(kms, key.KeyId!, material, h.endpoint.clock.now());
      const algorithm = `HMAC_SHA_${spec.slice(5)}`;
      const mac = await kms.send(new GenerateMacCommand({ KeyId: key.KeyId, MacAlgorithm: algorithm as never, Message: Buffer.from('m') }));
      assert.deepEqual(Buffer.from(mac.Mac!), createHmac(`sha${spec.slice(5)}`, material).update('m').digest());
      assert.equal((await kms.send(new VerifyMacCommand({ KeyId: key.KeyId, MacAlgorithm: algorithm as never, Message: Buffer.from('m'), Mac: mac.Mac }))).MacValid, true);
      await rejectsWith(kms.send(new VerifyMacCommand({ KeyId: key.KeyId, MacAlgorithm: algorithm as never, Message: Buffer.from('n'), Mac: mac.Mac })), 'KMSInvalidMacException');
      const other = spec === 'HMAC_256' ? 'HMAC_SHA_512' : 'HMAC_SHA_256';
      await rejectsWith(kms.send(new GenerateMacCommand({ KeyId: key.KeyId, MacAlgorithm: other as never, Message: Buffer.from('m') })), 'InvalidKeyUsageException');
    });
  }
});
