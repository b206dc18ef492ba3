// Signatures over a RAW message or a precomputed DIGEST, as KMS Sign/Verify define them.
// Node signs only messages it hashes itself, so DIGEST signing is built from the primitives:
// RSA with the raw private operation, ECDSA with the curve's scalar multiplication (via ECDH).
import { constants, createECDH, createHash, createPublicKey, privateEncrypt, publicDecrypt, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { hashOf, type SigningAlgorithm } from './specs.js';

const DIGEST_INFO: Record<string, string> = {
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

/** Group orders of the curves KMS signs with. */
const CURVE_ORDER: Record<string, bigint> = {
  prime256v1: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  secp384r1: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  secp521r1: 0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
  secp256k1: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
};

export function signMessage(algorithm: SigningAlgorithm, key: KeyObject, message: Buffer, isDigest: boolean): Buffer {
  const { hash } = hashOf(algorithm);
  if (!isDigest) {
    if (algorithm.startsWith('RSASSA_PSS')) {
      return sign(hash, message, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: hashOf(algorithm).bytes });
    }
    return sign(hash, message, key);
  }
  if (algorithm.startsWith('RSASSA_PKCS1_V1_5')) {
    return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([Buffer.from(DIGEST_INFO[hash]!, 'hex'), message]));
  }
  if (algorithm.startsWith('RSASSA_PSS')) {
    const modBits = key.asymmetricKeyDetails!.modulusLength!;
    return privateEncrypt({ key, padding: constants.RSA_NO_PADDING }, pssEncode(hash, message, modBits));
  }
  return ecdsaSignDigest(key, message);
}

export function verifySignature(algorithm: SigningAlgorithm, key: KeyObject, message: Buffer, isDigest: boolean, signature: Buffer): boolean {
  const { hash, bytes } = hashOf(algorithm);
  const publicKey = createPublicKey(key);
  try {
    if (!isDigest) {
      if (algorithm.startsWith('RSASSA_PSS')) {
        return verify(hash, message, { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: bytes }, signature);
      }
      return verify(hash, message, publicKey, signature);
    }
    if (algorithm.startsWith('RSASSA_PKCS1_V1_5')) {
      const recovered = publicDecrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature);
      return recovered.equals(Buffer.concat([Buffer.from(DIGEST_INFO[hash]!, 'hex'), message]));
    }
    if (algorithm.startsWith('RSASSA_PSS')) {
      const modBits = key.asymmetricKeyDetails!.modulusLength!;
      if (signature.length !== modBits / 8) return false;
      const em = publicDecrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, signature);
      return pssVerify(hash, message, em, modBits);
    }
    return ecdsaVerifyDigest(key, message, signature);
  } catch {
    return false;
  }
}

function mgf1(hash: string, seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  let total = 0;
  for (let counter = 0; total < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = createHash(hash).update(seed).update(c).digest();
    out.push(block);
    total += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

/** EMSA-PSS-ENCODE (RFC 8017 9.1.1) with salt length = hash length, left-padded to the modulus length. */
function pssEncode(hash: string, mHash: Buffer, modBits: number): Buffer {
  const hLen = mHash.length;
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const salt = randomBytes(hLen);
  const h = createHash(hash).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  const db = Buffer.concat([Buffer.alloc(emLen - 2 * hLen - 2), Buffer.from([1]), salt]);
  const mask = mgf1(hash, h, emLen - hLen - 1);
  for (let i = 0; i < db.length; i++) db[i]! ^= mask[i]!;
  db[0]! &= 0xff >> (8 * emLen - emBits);
  const em = Buffer.concat([db, h, Buffer.from([0xbc])]);
  return Buffer.concat([Buffer.alloc(modBits / 8 - em.length), em]);
}

/** EMSA-PSS-VERIFY (RFC 8017 9.1.2) with salt length = hash length. */
function pssVerify(hash: string, mHash: Buffer, decrypted: Buffer, modBits: number): boolean {
  const hLen = mHash.length;
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const em = decrypted.subarray(decrypted.length - emLen);
  if (decrypted.length > emLen && decrypted.subarray(0, decrypted.length - emLen).some((b) => b !== 0)) return false;
  if (em[emLen - 1] !== 0xbc) return false;
  const maskedDb = Buffer.from(em.subarray(0, emLen - hLen - 1));
  const h = em.subarray(emLen - hLen - 1, emLen - 1);
  if ((maskedDb[0]! & ~(0xff >> (8 * emLen - emBits)) & 0xff) !== 0) return false;
  const mask = mgf1(hash, h, maskedDb.length);
  for (let i = 0; i < maskedDb.length; i++) maskedDb[i]! ^= mask[i]!;
  maskedDb[0]! &= 0xff >> (8 * emLen - emBits);
  const psLen = emLen - 2 * hLen - 2;
  if (maskedDb.subarray(0, psLen).some((b) => b !== 0) || maskedDb[psLen] !== 1) return false;
  const salt = maskedDb.subarray(psLen + 1);
  const expected = createHash(hash).update(Buffer.alloc(8)).update(mHash).update(salt).digest();
  return expected.equals(h);
}

// ---- ECDSA over a digest ----

function toBigInt(bytes: Buffer): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`);
}

function toBytes(value: bigint, length: number): Buffer {
  return Buffer.from(value.toString(16).padStart(length * 2, '0'), 'hex');
}

function mod(a: bigint, n: bigint): bigint {
  const r = a % n;
  return r < 0n ? r + n : r;
}

function invert(a: bigint, n: bigint): bigint {
  let [r0, r1] = [mod(a, n), n];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0, n);
}

interface EcContext {
  curve: string;
  n: bigint;
  nBytes: number;
  d: bigint;
}

function ecContext(key: KeyObject): EcContext {
  const curve = key.asymmetricKeyDetails!.namedCurve!;
  const n = CURVE_ORDER[curve];
  if (n === undefined) throw new Error(`curve ${curve} has no known order`);
  const jwk = key.export({ format: 'jwk' });
  return { curve, n, nBytes: Math.ceil(n.toString(16).length / 2), d: toBigInt(Buffer.from(jwk.d!, 'base64url')) };
}

/** x coordinate of k·G, via ECDH (public key of private scalar k). */
function baseMultiplyX(ctx: EcContext, k: bigint): bigint {
  const ecdh = createECDH(ctx.curve);
  ecdh.setPrivateKey(toBytes(k, ctx.nBytes));
  const point = ecdh.getPublicKey();
  const coordBytes = (point.length - 1) / 2;
  return toBigInt(point.subarray(1, 1 + coordBytes));
}

function digestToInteger(digest: Buffer, n: bigint): bigint {
  const nBits = n.toString(2).length;
  let e = toBigInt(digest);
  if (digest.length * 8 > nBits) e >>= BigInt(digest.length * 8 - nBits);
  return e;
}

function ecdsaSignDigest(key: KeyObject, digest: Buffer): Buffer {
  const ctx = ecContext(key);
  const e = digestToInteger(digest, ctx.n);
  for (;;) {
    const k = mod(toBigInt(randomBytes(ctx.nBytes + 8)), ctx.n - 1n) + 1n;
    const r = mod(baseMultiplyX(ctx, k), ctx.n);
    if (r === 0n) continue;
    const s = mod(invert(k, ctx.n) * (e + r * ctx.d), ctx.n);
    if (s === 0n) continue;
    return derSignature(r, s);
  }
}

/**
 * Verifies with the key pair's private scalar d: u1·G + u2·Q = (u1 + u2·d)·G, so one
 * scalar multiplication suffices (the endpoint holds the private key anyway).
 */
function ecdsaVerifyDigest(key: KeyObject, digest: Buffer, signature: Buffer): boolean {
  const ctx = ecContext(key);
  const parsed = parseDerSignature(signature);
  if (!parsed) return false;
  const { r, s } = parsed;
  if (r <= 0n || r >= ctx.n || s <= 0n || s >= ctx.n) return false;
  const e = digestToInteger(digest, ctx.n);
  const w = invert(s, ctx.n);
  const scalar = mod(e * w + r * w * ctx.d, ctx.n);
  if (scalar === 0n) return false;
  return mod(baseMultiplyX(ctx, scalar), ctx.n) === r;
}

function derInteger(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return Buffer.concat([Buffer.from([0x02]), derLength(bytes.length), bytes]);
}

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  if (length < 0x100) return Buffer.from([0x81, length]);
  return Buffer.from([0x82, length >> 8, length & 0xff]);
}

function derSignature(r: bigint, s: bigint): Buffer {
  const body = Buffer.concat([derInteger(r), derInteger(s)]);
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}

function parseDerSignature(sig: Buffer): { r: bigint; s: bigint } | undefined {
  let pos = 0;
  const readLength = (): number | undefined => {
    const first = sig[pos++];
    if (first === undefined) return undefined;
    if (first < 0x80) return first;
    const count = first & 0x7f;
    if (count < 1 || count > 2) return undefined;
    let len = 0;
    for (let i = 0; i < count; i++) {
      const b = sig[pos++];
      if (b === undefined) return undefined;
      len = (len << 8) | b;
    }
    return len;
  };
  if (sig[pos++] !== 0x30) return undefined;
  const total = readLength();
  if (total === undefined || pos + total !== sig.length) return undefined;
  const ints: bigint[] = [];
  for (let i = 0; i < 2; i++) {
    if (sig[pos++] !== 0x02) return undefined;
    const len = readLength();
    if (len === undefined || len === 0 || pos + len > sig.length) return undefined;
    ints.push(toBigInt(sig.subarray(pos, pos + len)));
    pos += len;
  }
  if (pos !== sig.length) return undefined;
  return { r: ints[0]!, s: ints[1]! };
}
