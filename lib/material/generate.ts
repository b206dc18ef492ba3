/**
 * Fresh key material for a key spec, in the form KMS imports it: raw bytes for symmetric and
 * HMAC keys, a PKCS#8 DER private key for RSA and ECC keys. Used by the drill and by rotation;
 * the caller owns the buffer and must wipe it.
 */
import { generateKeyPair, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const generateKeyPairAsync = promisify(generateKeyPair);

const RAW_LENGTHS: Record<string, number> = {
  SYMMETRIC_DEFAULT: 32,
  HMAC_224: 28,
  HMAC_256: 32,
  HMAC_384: 48,
  HMAC_512: 64,
};

const CURVES: Record<string, string> = {
  ECC_NIST_P256: 'prime256v1',
  ECC_NIST_P384: 'secp384r1',
  ECC_NIST_P521: 'secp521r1',
  ECC_SECG_P256K1: 'secp256k1',
};

export const GENERATABLE_KEY_SPECS = [
  ...Object.keys(RAW_LENGTHS),
  'RSA_2048',
  'RSA_3072',
  'RSA_4096',
  ...Object.keys(CURVES),
] as const;

/** Generation of RSA keys runs off the event loop (RSA_4096 takes seconds). */
export async function generateKeyMaterial(keySpec: string): Promise<Buffer> {
  const rawLength = RAW_LENGTHS[keySpec];
  if (rawLength !== undefined) return randomBytes(rawLength);
  const rsa = /^RSA_(2048|3072|4096)$/.exec(keySpec);
  if (rsa) {
    const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: Number(rsa[1]) });
    return privateKey.export({ format: 'der', type: 'pkcs8' });
  }
  const namedCurve = CURVES[keySpec];
  if (namedCurve) {
    const { privateKey } = await generateKeyPairAsync('ec', { namedCurve });
    return privateKey.export({ format: 'der', type: 'pkcs8' });
  }
  throw new RangeError(`Cannot generate key material for key spec ${keySpec}: it is not importable into KMS`);
}
