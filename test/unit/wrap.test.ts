import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createDecipheriv, generateKeyPairSync, privateDecrypt, randomBytes, type KeyObject } from 'node:crypto';
import { chooseWrapping, wrapKeyMaterial, wrappingFamilyOf } from '../../lib/wrap/index.js';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { UnsupportedWrapping } from '../../lib/errors.js';

// Wrapping key pairs generated once per file (RSA 4096 is slow).
const WRAPPING_KEYS: Record<string, { publicDer: Buffer; privateKey: KeyObject; bytes: number }> = {};
for (const bits of [2048, 3072, 4096]) {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  WRAPPING_KEYS[`RSA_${bits}`] = { publicDer: publicKey.export({ format: 'der', type: 'spki' }), privateKey, bytes: bits / 8 };
}
const ecMaterial = (namedCurve: string) => generateKeyPairSync('ec', { namedCurve }).privateKey.export({ format: 'der', type: 'pkcs8' });
const rsaMaterial = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'der', type: 'pkcs8' });

/** Unwraps independently of lib/wrap: what KMS does on its side. */
function unwrap(wrapped: Buffer, algorithm: string, privateKey: KeyObject, modulusBytes: number): Buffer {
  const oaepHash = algorithm.endsWith('SHA_1') ? 'sha1' : 'sha256';
  if (algorithm.startsWith('RSAES_OAEP')) {
    assert.equal(wrapped.length, modulusBytes);
    return privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, wrapped);
  }
  const aesKey = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, wrapped.subarray(0, modulusBytes));
  assert.equal(aesKey.length, 32, 'AES-256 key first');
  const decipher = createDecipheriv('id-aes256-wrap-pad', aesKey, Buffer.from('A65959A6', 'hex'));
  return Buffer.concat([decipher.update(wrapped.subarray(modulusBytes)), decipher.final()]);
}

test('wrapKeyMaterial round trip: every algorithm x every wrapping key size', () => {
  const materials: Record<string, Buffer> = { symmetric: randomBytes(32), hmac512: randomBytes(64), p256: ecMaterial('prime256v1'), p521: ecMaterial('secp521r1'), rsa: rsaMaterial };
  for (const algorithm of ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256']) {
    for (const [spec, { publicDer, privateKey, bytes }] of Object.entries(WRAPPING_KEYS)) {
      for (const [label, material] of Object.entries(materials)) {
        const oaepCapacity = bytes - 2 * (algorithm.endsWith('SHA_1') ? 20 : 32) - 2;
        if (algorithm.startsWith('RSAES_OAEP') && material.length > oaepCapacity) {
          assert.throws(() => wrapKeyMaterial(material, publicDer, algorithm), UnsupportedWrapping, `${algorithm}/${spec}/${label} too large`);
          continue;
        }
        const before = Buffer.from(material);
        const wrapped = wrapKeyMaterial(material, publicDer, algorithm);
        assert.ok(!wrapped.includes(material), 'material does not appear in the wrapped output');
        assert.ok(unwrap(wrapped, algorithm, privateKey, bytes).equals(before), `${algorithm}/${spec}/${label}`);
        assert.ok(material.equals(before), 'the caller still owns an intact material buffer');
      }
    }
  }
});

test('wrapping twice gives different ciphertexts (fresh randomness)', () => {
  const { publicDer } = WRAPPING_KEYS.RSA_2048!;
  const material = randomBytes(32);
  for (const algorithm of ['RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_256']) {
    assert.ok(!wrapKeyMaterial(material, publicDer, algorithm).equals(wrapKeyMaterial(material, publicDer, algorithm)), algorithm);
  }
});

test('wrapKeyMaterial refuses PKCS#1 v1.5, PEM public keys and garbage', () => {
  const { publicDer } = WRAPPING_KEYS.RSA_2048!;
  const material = randomBytes(32);
  assert.throws(() => wrapKeyMaterial(material, publicDer, 'RSAES_PKCS1_V1_5', 'k1'), (e: unknown) => e instanceof UnsupportedWrapping && /2023-10-10/.test(e.message) && /k1/.test(e.message));
  const pem = Buffer.from(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'pem', type: 'spki' }));
  assert.throws(() => wrapKeyMaterial(material, pem, 'RSAES_OAEP_SHA_256', 'k1'), (e: unknown) => (e as Error).name === 'WrappingRejected' && /PEM/.test((e as Error).message));
  assert.throws(() => wrapKeyMaterial(material, randomBytes(64), 'RSAES_OAEP_SHA_256', 'k1'), { name: 'WrappingRejected' });
  const ecPublic = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ format: 'der', type: 'spki' });
  assert.throws(() => wrapKeyMaterial(material, ecPublic, 'RSAES_OAEP_SHA_256', 'k1'), { name: 'UnsupportedWrapping' });
});

test('chooseWrapping defaults per key spec', () => {
  const none = {};
  const table: Array<[string, string]> = [
    ['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_256'],
    ['HMAC_224', 'RSAES_OAEP_SHA_256'],
    ['HMAC_512', 'RSAES_OAEP_SHA_256'],
    ['RSA_2048', 'RSA_AES_KEY_WRAP_SHA_256'],
    ['RSA_4096', 'RSA_AES_KEY_WRAP_SHA_256'],
    ['ECC_NIST_P256', 'RSA_AES_KEY_WRAP_SHA_256'],
    ['ECC_NIST_P521', 'RSA_AES_KEY_WRAP_SHA_256'],
    ['ECC_SECG_P256K1', 'RSA_AES_KEY_WRAP_SHA_256'],
  ];
  for (const [spec, algorithm] of table) {
    assert.deepEqual(chooseWrapping(spec, none), { wrappingAlgorithm: algorithm, wrappingKeySpec: 'RSA_4096' }, spec);
  }
  assert.deepEqual(chooseWrapping('SYMMETRIC_DEFAULT', DEFAULT_CONFIG), { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_4096' });
});

type WrappingSettings = Parameters<typeof chooseWrapping>[1];

test('chooseWrapping: configured values win when valid for the spec', () => {
  const table: Array<[string, WrappingSettings, { wrappingAlgorithm: string; wrappingKeySpec: string }]> = [
    ['SYMMETRIC_DEFAULT', { wrappingAlgorithm: 'RSAES_OAEP_SHA_1', wrappingKeySpec: 'RSA_2048' }, { wrappingAlgorithm: 'RSAES_OAEP_SHA_1', wrappingKeySpec: 'RSA_2048' }],
    ['HMAC_384', { wrappingKeySpec: 'RSA_3072' }, { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_3072' }],
    ['RSA_3072', { wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_1', wrappingKeySpec: 'RSA_2048' }, { wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_1', wrappingKeySpec: 'RSA_2048' }],
    ['ECC_NIST_P256', { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048' }, { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048' }],
    ['ECC_NIST_P521', { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_3072' }, { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_3072' }],
    ['ECC_NIST_P521', { wrappingKeySpec: 'RSA_2048' }, { wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256', wrappingKeySpec: 'RSA_2048' }],
  ];
  for (const [spec, config, expected] of table) assert.deepEqual(chooseWrapping(spec, config), expected, `${spec} ${JSON.stringify(config)}`);
});

test('chooseWrapping refuses what KMS would refuse', () => {
  const table: Array<[string, WrappingSettings, string, RegExp]> = [
    ['RSA_2048', { wrapping: { rsa: { algorithm: 'RSAES_OAEP_SHA_256' } } }, 'UnsupportedWrapping', /cannot carry an RSA private key/],
    ['RSA_4096', { wrapping: { rsa: { algorithm: 'RSAES_OAEP_SHA_1' } } }, 'UnsupportedWrapping', /KMS_REIMPORT_WRAPPING_ALGORITHM_RSA to RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256/],
    ['SYMMETRIC_DEFAULT', { wrapping: { symmetric: { algorithm: 'RSA_AES_KEY_WRAP_SHA_256' } } }, 'UnsupportedWrapping', /RSA and ECC material only/],
    ['HMAC_256', { wrapping: { symmetric: { algorithm: 'RSA_AES_KEY_WRAP_SHA_1' } } }, 'UnsupportedWrapping', /KMS_REIMPORT_WRAPPING_ALGORITHM_SYMMETRIC/],
    ['ECC_NIST_P521', { wrapping: { ecc: { algorithm: 'RSAES_OAEP_SHA_256', keySpec: 'RSA_2048' } } }, 'UnsupportedWrapping', /at most 190 bytes/],
    ['SYMMETRIC_DEFAULT', { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrapping: { symmetric: { keySpec: 'RSA_1024' } } }, 'UnsupportedWrapping', /RSA_4096/],
    ['ECC_NIST_P521', { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048' }, 'UnsupportedWrapping', /at most 190 bytes/],
    ['ECC_NIST_P521', { wrappingAlgorithm: 'RSAES_OAEP_SHA_1', wrappingKeySpec: 'RSA_2048' }, 'UnsupportedWrapping', /at most 214 bytes/],
    ['SYMMETRIC_DEFAULT', { wrappingAlgorithm: 'RSAES_PKCS1_V1_5' }, 'UnsupportedWrapping', /2023-10-10/],
    ['SYMMETRIC_DEFAULT', { wrappingAlgorithm: 'SM2PKE' }, 'UnsupportedWrapping', /China/],
    ['SYMMETRIC_DEFAULT', { wrappingKeySpec: 'SM2' }, 'UnsupportedWrapping', /China/],
    ['SYMMETRIC_DEFAULT', { wrappingKeySpec: 'RSA_1024' }, 'UnsupportedWrapping', /RSA_4096/],
    ['SM2', {}, 'KeyNotEligible', /SM2/],
  ];
  for (const [spec, config, name, message] of table) {
    assert.throws(
      () => chooseWrapping(spec, config, 'key-1'),
      (e: unknown) => (e as Error).name === name && message.test((e as Error).message) && (e as Error).message.includes('key-1'),
      `${spec} ${JSON.stringify(config)}`,
    );
  }
});

test('chooseWrapping per key family: the compatibility setting applies only to the families it is valid for', () => {
  // One algorithm for every key broke symmetric and HMAC keys: RSA_AES_KEY_WRAP_* is for RSA and ECC material only.
  for (const algorithm of ['RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256']) {
    for (const spec of ['SYMMETRIC_DEFAULT', 'HMAC_224', 'HMAC_512']) {
      assert.deepEqual(chooseWrapping(spec, { wrappingAlgorithm: algorithm }), { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_4096' }, `${algorithm} ${spec}`);
    }
    assert.equal(chooseWrapping('RSA_2048', { wrappingAlgorithm: algorithm }).wrappingAlgorithm, algorithm);
    assert.equal(chooseWrapping('ECC_NIST_P384', { wrappingAlgorithm: algorithm }).wrappingAlgorithm, algorithm);
  }
  for (const algorithm of ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']) {
    assert.equal(chooseWrapping('SYMMETRIC_DEFAULT', { wrappingAlgorithm: algorithm }).wrappingAlgorithm, algorithm);
    assert.equal(chooseWrapping('ECC_NIST_P256', { wrappingAlgorithm: algorithm }).wrappingAlgorithm, algorithm);
    assert.equal(chooseWrapping('RSA_3072', { wrappingAlgorithm: algorithm }).wrappingAlgorithm, 'RSA_AES_KEY_WRAP_SHA_256', 'RSA keep their default');
  }
});

test('chooseWrapping per key family: each family has its own algorithm and wrapping key spec, over the shared ones', () => {
  const config: WrappingSettings = {
    wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_1',
    wrappingKeySpec: 'RSA_3072',
    wrapping: {
      symmetric: { algorithm: 'RSAES_OAEP_SHA_1', keySpec: 'RSA_2048' },
      rsa: { algorithm: 'RSA_AES_KEY_WRAP_SHA_256' },
      ecc: { algorithm: 'RSAES_OAEP_SHA_256', keySpec: 'RSA_4096' },
    },
  };
  assert.deepEqual(chooseWrapping('HMAC_384', config), { wrappingAlgorithm: 'RSAES_OAEP_SHA_1', wrappingKeySpec: 'RSA_2048' });
  assert.deepEqual(chooseWrapping('RSA_4096', config), { wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256', wrappingKeySpec: 'RSA_3072' });
  assert.deepEqual(chooseWrapping('ECC_NIST_P521', config), { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_4096' });
  assert.deepEqual(chooseWrapping('ECC_SECG_P256K1', { wrapping: { symmetric: { algorithm: 'RSAES_OAEP_SHA_1' } } }), {
    wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_256',
    wrappingKeySpec: 'RSA_4096',
  }, 'another family\'s setting does not leak');
  assert.equal(wrappingFamilyOf('SYMMETRIC_DEFAULT'), 'symmetric');
  assert.equal(wrappingFamilyOf('HMAC_256'), 'symmetric');
  assert.equal(wrappingFamilyOf('RSA_2048'), 'rsa');
  assert.equal(wrappingFamilyOf('ECC_NIST_P256'), 'ecc');
});
