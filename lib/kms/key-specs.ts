/**
 * What KMS expects as imported material for each importable key spec, and the algorithms used to
 * prove a key works. Facts from the KMS API reference; SM2 (China Regions only) is not supported.
 */

export type MaterialKind =
  | { type: 'raw'; length: number }
  | { type: 'rsa'; modulusLength: number }
  | { type: 'ec'; namedCurve: string; curveLabel: string };

const KINDS: Record<string, MaterialKind> = {
  SYMMETRIC_DEFAULT: { type: 'raw', length: 32 },
  HMAC_224: { type: 'raw', length: 28 },
  HMAC_256: { type: 'raw', length: 32 },
  HMAC_384: { type: 'raw', length: 48 },
  HMAC_512: { type: 'raw', length: 64 },
  RSA_2048: { type: 'rsa', modulusLength: 2048 },
  RSA_3072: { type: 'rsa', modulusLength: 3072 },
  RSA_4096: { type: 'rsa', modulusLength: 4096 },
  ECC_NIST_P256: { type: 'ec', namedCurve: 'prime256v1', curveLabel: 'NIST P-256' },
  ECC_NIST_P384: { type: 'ec', namedCurve: 'secp384r1', curveLabel: 'NIST P-384' },
  ECC_NIST_P521: { type: 'ec', namedCurve: 'secp521r1', curveLabel: 'NIST P-521' },
  ECC_SECG_P256K1: { type: 'ec', namedCurve: 'secp256k1', curveLabel: 'secp256k1' },
};

/**
 * Largest plaintext material for a spec, in bytes (PKCS#8 DER of an EC key with its public key
 * included, as openssl and node:crypto write it). Used to tell whether RSAES_OAEP can carry it.
 */
const MAX_MATERIAL_LENGTH: Record<string, number> = {
  ECC_NIST_P256: 138,
  ECC_NIST_P384: 185,
  ECC_NIST_P521: 241,
  ECC_SECG_P256K1: 135,
};

export const IMPORTABLE_KEY_SPECS = Object.freeze(Object.keys(KINDS));

export function materialKindFor(keySpec: string): MaterialKind | undefined {
  return KINDS[keySpec];
}

export function isImportableKeySpec(keySpec: string): boolean {
  return keySpec in KINDS;
}

export function isRsaKeySpec(keySpec: string): boolean {
  return KINDS[keySpec]?.type === 'rsa';
}

/** Largest material for the spec (RSA: effectively unbounded for OAEP purposes). */
export function maxMaterialLength(keySpec: string): number {
  const kind = KINDS[keySpec];
  if (!kind) return Number.POSITIVE_INFINITY;
  if (kind.type === 'raw') return kind.length;
  if (kind.type === 'rsa') return Number.POSITIVE_INFINITY;
  return MAX_MATERIAL_LENGTH[keySpec] ?? Number.POSITIVE_INFINITY;
}

/** Default signing algorithm per spec, when DescribeKey does not list SigningAlgorithms. */
export function defaultSigningAlgorithm(keySpec: string): string | undefined {
  if (isRsaKeySpec(keySpec)) return 'RSASSA_PSS_SHA_256';
  switch (keySpec) {
    case 'ECC_NIST_P256':
    case 'ECC_SECG_P256K1':
      return 'ECDSA_SHA_256';
    case 'ECC_NIST_P384':
      return 'ECDSA_SHA_384';
    case 'ECC_NIST_P521':
      return 'ECDSA_SHA_512';
    default:
      return undefined;
  }
}

/** Default MAC algorithm per HMAC spec, when DescribeKey does not list MacAlgorithms. */
export function defaultMacAlgorithm(keySpec: string): string | undefined {
  const m = /^HMAC_(224|256|384|512)$/.exec(keySpec);
  return m ? `HMAC_SHA_${m[1]}` : undefined;
}
