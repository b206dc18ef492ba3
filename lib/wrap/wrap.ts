/**
 * Wrapping plaintext key material under the public key from GetParametersForImport, the way KMS
 * unwraps it:
 *   RSAES_OAEP_SHA_1 / _SHA_256: RSA-OAEP (MGF1 with the same hash) of the material.
 *   RSA_AES_KEY_WRAP_SHA_1 / _SHA_256: a fresh random AES-256 key wraps the material with AES key
 *     wrap with padding (RFC 5649, `id-aes256-wrap-pad`, IV A65959A6); the AES key is encrypted
 *     with RSA-OAEP; output = RSA part || AES-wrapped material (the PKCS #11 CKM_RSA_AES_KEY_WRAP
 *     layout).
 * The caller owns `material` (and wipes it); the AES key and intermediate buffers are wiped here.
 */
import { constants, createCipheriv, createPublicKey, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { UnsupportedWrapping, WrappingRejected } from '../errors.js';
import { checkWrappingAlgorithm, isOaep, oaepCapacity, oaepHashOf } from './choose.js';
import { wipe } from '../escrow/material.js';

const AES_KWP_IV = Buffer.from('A65959A6', 'hex');

function whose(keyId?: string): string {
  return keyId ? ` for key ${keyId}` : '';
}

function loadWrappingKey(publicKeyDer: Buffer, keyId?: string): KeyObject {
  if (publicKeyDer.subarray(0, 11).toString('latin1') === '-----BEGIN ') {
    throw new WrappingRejected(`The wrapping public key${whose(keyId)} is PEM text; it must be the DER SubjectPublicKeyInfo that GetParametersForImport returns (base64-decode it, do not convert it to PEM).`, keyId ? { keyId } : {});
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: publicKeyDer, format: 'der', type: 'spki' });
  } catch {
    throw new WrappingRejected(
      `The wrapping public key${whose(keyId)} is not a DER SubjectPublicKeyInfo (was it base64-decoded exactly once?). Request new import parameters and use the PublicKey bytes as returned.`,
      keyId ? { keyId } : {},
    );
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new UnsupportedWrapping(`The wrapping public key${whose(keyId)} is ${key.asymmetricKeyType ?? 'not RSA'}; kms-reimport wraps with RSA wrapping keys only (RSA_2048/3072/4096).`, keyId ? { keyId } : {});
  }
  return key;
}

function oaepEncrypt(key: KeyObject, hash: 'sha1' | 'sha256', data: Buffer): Buffer {
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, data);
}

export function wrapKeyMaterial(material: Buffer, publicKeyDer: Buffer, wrappingAlgorithm: string, keyId?: string): Buffer {
  checkWrappingAlgorithm(wrappingAlgorithm, keyId);
  const key = loadWrappingKey(publicKeyDer, keyId);
  const hash = oaepHashOf(wrappingAlgorithm);
  const modulusBytes = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);

  if (isOaep(wrappingAlgorithm)) {
    const capacity = oaepCapacity(modulusBytes, hash);
    if (material.length > capacity) {
      throw new UnsupportedWrapping(
        `${wrappingAlgorithm} with a ${modulusBytes * 8}-bit wrapping key carries at most ${capacity} bytes, the material${whose(keyId)} is ${material.length}. ` +
          `Use RSA_AES_KEY_WRAP_SHA_256 or an RSA_4096 wrapping key.`,
        keyId ? { keyId } : {},
      );
    }
    return oaepEncrypt(key, hash, material);
  }

  const aesKey = randomBytes(32);
  const parts: Buffer[] = [];
  try {
    const cipher = createCipheriv('id-aes256-wrap-pad', aesKey, AES_KWP_IV);
    parts.push(cipher.update(material), cipher.final());
    const rsaPart = oaepEncrypt(key, hash, aesKey);
    return Buffer.concat([rsaPart, ...parts]);
  } finally {
    wipe([aesKey, ...parts]);
  }
}
