// What each key spec is: its usages, algorithms, and the shape of its key material.

export const KEY_SPECS = [
  'SYMMETRIC_DEFAULT',
  'HMAC_224',
  'HMAC_256',
  'HMAC_384',
  'HMAC_512',
  'RSA_2048',
  'RSA_3072',
  'RSA_4096',
  'ECC_NIST_P256',
  'ECC_NIST_P384',
  'ECC_NIST_P521',
  'ECC_SECG_P256K1',
] as const;
export type KeySpec = (typeof KEY_SPECS)[number];

export const KEY_USAGES = ['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC'] as const;
export type KeyUsage = (typeof KEY_USAGES)[number];

export const SIGNING_ALGORITHMS = [
  'RSASSA_PSS_SHA_256',
  'RSASSA_PSS_SHA_384',
  'RSASSA_PSS_SHA_512',
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
  'ECDSA_SHA_256',
  'ECDSA_SHA_384',
  'ECDSA_SHA_512',
] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

export const MAC_ALGORITHMS = ['HMAC_SHA_224', 'HMAC_SHA_256', 'HMAC_SHA_384', 'HMAC_SHA_512'] as const;
export type MacAlgorithm = (typeof MAC_ALGORITHMS)[number];

export const ENCRYPTION_ALGORITHMS = ['SYMMETRIC_DEFAULT', 'RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] as const;
export type EncryptionAlgorithm = (typeof ENCRYPTION_ALGORITHMS)[number];

export type SpecFamily = 'symmetric' | 'hmac' | 'rsa' | 'ecc';

export interface SpecInfo {
  family: SpecFamily;
  usages: KeyUsage[];
  /** Symmetric and HMAC: the exact material length in bytes. */
  materialBytes?: number;
  /** RSA: modulus length in bits. */
  modulusBits?: number;
  /** ECC: Node/OpenSSL curve name. */
  curve?: string;
  /** ECC: curve order length in bits, for DIGEST signing. */
  macAlgorithm?: MacAlgorithm;
  signing?: SigningAlgorithm[];
}

const RSA_SIGNING: SigningAlgorithm[] = [
  'RSASSA_PKCS1_V1_5_SHA_256',
  'RSASSA_PKCS1_V1_5_SHA_384',
  'RSASSA_PKCS1_V1_5_SHA_512',
  'RSASSA_PSS_SHA_256',
  'RSASSA_PSS_SHA_384',
  'RSASSA_PSS_SHA_512',
];

export const SPECS: Record<KeySpec, SpecInfo> = {
  SYMMETRIC_DEFAULT: { family: 'symmetric', usages: ['ENCRYPT_DECRYPT'], materialBytes: 32 },
  HMAC_224: { family: 'hmac', usages: ['GENERATE_VERIFY_MAC'], materialBytes: 28, macAlgorithm: 'HMAC_SHA_224' },
  HMAC_256: { family: 'hmac', usages: ['GENERATE_VERIFY_MAC'], materialBytes: 32, macAlgorithm: 'HMAC_SHA_256' },
  HMAC_384: { family: 'hmac', usages: ['GENERATE_VERIFY_MAC'], materialBytes: 48, macAlgorithm: 'HMAC_SHA_384' },
  HMAC_512: { family: 'hmac', usages: ['GENERATE_VERIFY_MAC'], materialBytes: 64, macAlgorithm: 'HMAC_SHA_512' },
  RSA_2048: { family: 'rsa', usages: ['ENCRYPT_DECRYPT', 'SIGN_VERIFY'], modulusBits: 2048, signing: RSA_SIGNING },
  RSA_3072: { family: 'rsa', usages: ['ENCRYPT_DECRYPT', 'SIGN_VERIFY'], modulusBits: 3072, signing: RSA_SIGNING },
  RSA_4096: { family: 'rsa', usages: ['ENCRYPT_DECRYPT', 'SIGN_VERIFY'], modulusBits: 4096, signing: RSA_SIGNING },
  ECC_NIST_P256: { family: 'ecc', usages: ['SIGN_VERIFY'], curve: 'prime256v1', signing: ['ECDSA_SHA_256'] },
  ECC_NIST_P384: { family: 'ecc', usages: ['SIGN_VERIFY'], curve: 'secp384r1', signing: ['ECDSA_SHA_384'] },
  ECC_NIST_P521: { family: 'ecc', usages: ['SIGN_VERIFY'], curve: 'secp521r1', signing: ['ECDSA_SHA_512'] },
  ECC_SECG_P256K1: { family: 'ecc', usages: ['SIGN_VERIFY'], curve: 'secp256k1', signing: ['ECDSA_SHA_256'] },
};

/** The algorithm lists DescribeKey and GetPublicKey show for a key of this spec and usage. */
export function algorithmsFor(spec: KeySpec, usage: KeyUsage): {
  EncryptionAlgorithms?: EncryptionAlgorithm[];
  SigningAlgorithms?: SigningAlgorithm[];
  MacAlgorithms?: MacAlgorithm[];
} {
  const info = SPECS[spec];
  if (usage === 'ENCRYPT_DECRYPT') {
    return { EncryptionAlgorithms: info.family === 'symmetric' ? ['SYMMETRIC_DEFAULT'] : ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] };
  }
  if (usage === 'SIGN_VERIFY') return { SigningAlgorithms: [...(info.signing ?? [])] };
  return { MacAlgorithms: info.macAlgorithm ? [info.macAlgorithm] : [] };
}

/** Node hash name and digest length of a signing or MAC algorithm. */
export function hashOf(algorithm: SigningAlgorithm | MacAlgorithm): { hash: string; bytes: number } {
  if (algorithm.endsWith('224')) return { hash: 'sha224', bytes: 28 };
  if (algorithm.endsWith('256')) return { hash: 'sha256', bytes: 32 };
  if (algorithm.endsWith('384')) return { hash: 'sha384', bytes: 48 };
  return { hash: 'sha512', bytes: 64 };
}

export const WRAPPING_ALGORITHMS = [
  'RSAES_OAEP_SHA_1',
  'RSAES_OAEP_SHA_256',
  'RSA_AES_KEY_WRAP_SHA_1',
  'RSA_AES_KEY_WRAP_SHA_256',
  'RSAES_PKCS1_V1_5',
  'SM2PKE',
] as const;
export type WrappingAlgorithm = (typeof WRAPPING_ALGORITHMS)[number];

export const WRAPPING_KEY_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096', 'SM2'] as const;
export type WrappingKeySpec = (typeof WRAPPING_KEY_SPECS)[number];
