// Wrapping keys for import (a real RSA key pair per GetParametersForImport) and unwrapping of
// EncryptedKeyMaterial, straight from the KMS contract with node:crypto.
import { constants, createDecipheriv, createPrivateKey, generateKeyPair, KeyObject, privateDecrypt } from 'node:crypto';
import { promisify } from 'node:util';
import { kmsError } from './errors.js';
import type { WrappingAlgorithm } from './specs.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export type RsaWrappingKeySpec = 'RSA_2048' | 'RSA_3072' | 'RSA_4096';

export interface WrappingKeyPair {
  /** DER SubjectPublicKeyInfo, as GetParametersForImport returns it. */
  publicKey: Buffer;
  /** DER PKCS#8, kept by the endpoint with the token. */
  privateKey: Buffer;
  /** The same private key, parsed: the import unwraps with it instead of parsing the DER again. */
  privateKeyObject: KeyObject;
}

const BITS: Record<RsaWrappingKeySpec, number> = { RSA_2048: 2048, RSA_3072: 3072, RSA_4096: 4096 };

async function generate(spec: RsaWrappingKeySpec): Promise<WrappingKeyPair> {
  const pair = await generateKeyPairAsync('rsa', { modulusLength: BITS[spec] });
  return {
    publicKey: pair.publicKey.export({ format: 'der', type: 'spki' }),
    privateKey: pair.privateKey.export({ format: 'der', type: 'pkcs8' }),
    privateKeyObject: pair.privateKey,
  };
}

/**
 * Hands out fresh RSA key pairs. With size > 0 it keeps up to `size` pairs per spec generated
 * ahead, refilled in the background after each use (at once, or `refillDelayMs` after the first
 * take since the last refill, so that the generation does not compete for the CPU with the run
 * that took the pair); with size 0 every pair is made on demand. A pair is never handed out twice.
 */
export class WrappingKeyPool {
  private readonly ready = new Map<RsaWrappingKeySpec, Promise<WrappingKeyPair>[]>();
  private readonly refills = new Map<RsaWrappingKeySpec, NodeJS.Timeout>();
  private drained = false;

  constructor(
    private readonly size: number,
    private readonly refillDelayMs = 0,
  ) {}

  take(spec: RsaWrappingKeySpec): Promise<WrappingKeyPair> {
    const queue = this.ready.get(spec) ?? [];
    this.ready.set(spec, queue);
    const next = queue.shift() ?? generate(spec);
    if (this.refillDelayMs === 0) this.refill(spec);
    else if (this.size > 0 && !this.refills.has(spec)) {
      const timer = setTimeout(() => {
        this.refills.delete(spec);
        if (!this.drained) this.refill(spec);
      }, this.refillDelayMs);
      // A pending refill alone does not keep a process alive; drain() cancels it.
      timer.unref();
      this.refills.set(spec, timer);
    }
    return next;
  }

  /** Pairs generated or being generated ahead for a spec (for tests and the bench). */
  held(spec: RsaWrappingKeySpec): number {
    return this.ready.get(spec)?.length ?? 0;
  }

  private refill(spec: RsaWrappingKeySpec): void {
    const queue = this.ready.get(spec) ?? [];
    this.ready.set(spec, queue);
    while (queue.length < this.size) {
      const pending = generate(spec);
      // A failed background generation is dropped; take() then generates on demand.
      pending.catch(() => {
        const i = queue.indexOf(pending);
        if (i >= 0) queue.splice(i, 1);
      });
      queue.push(pending);
    }
  }

  /** Cancels pending refills and waits for background generation to finish (for a clean shutdown). */
  async drain(): Promise<void> {
    this.drained = true;
    for (const timer of this.refills.values()) clearTimeout(timer);
    this.refills.clear();
    const all = [...this.ready.values()].flat();
    this.ready.clear();
    await Promise.allSettled(all);
  }
}

const AES_KWP_IV = Buffer.from('A65959A6', 'hex');

function oaepDecrypt(key: KeyObject, hash: 'sha1' | 'sha256', data: Buffer): Buffer {
  return privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, data);
}

/**
 * Unwraps EncryptedKeyMaterial made under the wrapping public key with the wrapping algorithm of
 * the same GetParametersForImport (its private key as DER PKCS#8, or already parsed). Any failure
 * is InvalidCiphertextException naming likely causes; the message never carries material.
 */
export function unwrapKeyMaterial(algorithm: WrappingAlgorithm, privateKey: Buffer | KeyObject, wrapped: Buffer, keyArn: string): Buffer {
  const key = privateKey instanceof KeyObject ? privateKey : createPrivateKey({ key: privateKey, format: 'der', type: 'pkcs8' });
  const modulusBytes = (key.asymmetricKeyDetails?.modulusLength ?? 0) / 8;
  const hash = algorithm.endsWith('SHA_1') ? 'sha1' : 'sha256';
  const hint =
    `Check that the material was wrapped with ${algorithm} (OAEP with ${hash === 'sha1' ? 'SHA-1' : 'SHA-256'} for both the OAEP digest and MGF1` +
    `${algorithm.startsWith('RSA_AES') ? ', then AES key wrap with padding (RFC 5649) of the material under the AES key, RSA part first' : ''})` +
    ` under the DER public key of the same GetParametersForImport response as the import token.`;
  if (algorithm === 'RSAES_OAEP_SHA_1' || algorithm === 'RSAES_OAEP_SHA_256') {
    if (wrapped.length !== modulusBytes) {
      throw kmsError(
        'InvalidCiphertextException',
        `The encrypted key material for ${keyArn} is ${wrapped.length} bytes but an RSA-OAEP ciphertext under this ${modulusBytes * 8}-bit wrapping key is exactly ${modulusBytes} bytes. ${hint}`,
      );
    }
    try {
      return oaepDecrypt(key, hash, wrapped);
    } catch {
      throw kmsError('InvalidCiphertextException', `KMS cannot unwrap the encrypted key material for ${keyArn}. ${hint}`);
    }
  }
  if (algorithm === 'RSA_AES_KEY_WRAP_SHA_1' || algorithm === 'RSA_AES_KEY_WRAP_SHA_256') {
    if (wrapped.length < modulusBytes + 16) {
      throw kmsError(
        'InvalidCiphertextException',
        `The encrypted key material for ${keyArn} is ${wrapped.length} bytes, too short for ${algorithm} with a ${modulusBytes * 8}-bit wrapping key (${modulusBytes} bytes of RSA-OAEP then at least 16 of AES key wrap). ${hint}`,
      );
    }
    let aesKey: Buffer;
    try {
      aesKey = oaepDecrypt(key, hash, wrapped.subarray(0, modulusBytes));
    } catch {
      throw kmsError('InvalidCiphertextException', `KMS cannot unwrap the AES key in the encrypted key material for ${keyArn}. ${hint}`);
    }
    if (aesKey.length !== 32) {
      aesKey.fill(0);
      throw kmsError('InvalidCiphertextException', `The AES key in the encrypted key material for ${keyArn} is ${aesKey.length} bytes; ${algorithm} uses a 256-bit (32-byte) AES key.`);
    }
    try {
      const decipher = createDecipheriv('id-aes256-wrap-pad', aesKey, AES_KWP_IV);
      return Buffer.concat([decipher.update(wrapped.subarray(modulusBytes)), decipher.final()]);
    } catch {
      throw kmsError('InvalidCiphertextException', `KMS cannot unwrap the key material for ${keyArn}: the AES key wrap (RFC 5649, id-aes256-wrap-pad) integrity check failed. ${hint}`);
    } finally {
      aesKey.fill(0);
    }
  }
  throw kmsError('UnsupportedOperationException', `Wrapping algorithm ${algorithm} is not supported by the local endpoint`);
}
