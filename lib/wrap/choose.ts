/**
 * Which wrapping algorithm and wrapping key spec to ask GetParametersForImport for.
 *
 * Per key family (AWS prefers RSA_4096 wrapping keys); the defaults:
 *   symmetric: SYMMETRIC_DEFAULT, HMAC_*  → RSAES_OAEP_SHA_256 with RSA_4096 (RSA_AES_KEY_WRAP is
 *                                           for RSA and ECC material only, per the API model)
 *   rsa:       RSA_* (private keys)       → RSA_AES_KEY_WRAP_SHA_256 with RSA_4096 (OAEP cannot carry them)
 *   ecc:       ECC_*                      → RSA_AES_KEY_WRAP_SHA_256 with RSA_4096 (fits every curve with
 *                                           every wrapping key; OAEP does not fit P-521 with RSA_2048)
 * The algorithm, in order: the family's own (`config.wrapping[family].algorithm`, refused by name
 * when KMS does not take it for the family), else the compatibility `config.wrappingAlgorithm` when
 * it is valid for the family (it is ignored for the others), else the default. The wrapping key
 * spec: the family's own, else `config.wrappingKeySpec`, else RSA_4096. A choice KMS would refuse
 * for the key spec (OAEP too small for the material) is UnsupportedWrapping.
 * RSAES_PKCS1_V1_5 (refused by KMS since 2023-10-10) and the China-only SM2PKE/SM2 are refused.
 */
import {
  WRAPPING_ALGORITHMS,
  WRAPPING_ALGORITHMS_BY_FAMILY,
  WRAPPING_KEY_SPECS,
  type ReimportConfig,
  type WrappingAlgorithm,
  type WrappingFamily,
  type WrappingKeySpec,
} from '../config.js';
import { KeyNotEligible, UnsupportedWrapping } from '../errors.js';
import { IMPORTABLE_KEY_SPECS, isImportableKeySpec, isRsaKeySpec, maxMaterialLength } from '../kms/key-specs.js';

export interface WrappingChoice {
  wrappingAlgorithm: WrappingAlgorithm;
  wrappingKeySpec: WrappingKeySpec;
}

const MODULUS_BYTES: Record<WrappingKeySpec, number> = { RSA_2048: 256, RSA_3072: 384, RSA_4096: 512 };

export function isOaep(algorithm: string): boolean {
  return algorithm === 'RSAES_OAEP_SHA_1' || algorithm === 'RSAES_OAEP_SHA_256';
}

export function isAesKeyWrap(algorithm: string): boolean {
  return algorithm === 'RSA_AES_KEY_WRAP_SHA_1' || algorithm === 'RSA_AES_KEY_WRAP_SHA_256';
}

export function oaepHashOf(algorithm: string): 'sha1' | 'sha256' {
  return algorithm.endsWith('SHA_1') ? 'sha1' : 'sha256';
}

/** Largest plaintext RSA-OAEP can carry with this modulus and hash (k - 2·hLen - 2). */
export function oaepCapacity(modulusBytes: number, hash: 'sha1' | 'sha256'): number {
  return modulusBytes - 2 * (hash === 'sha1' ? 20 : 32) - 2;
}

function whose(keyId?: string): string {
  return keyId ? ` for key ${keyId}` : '';
}

export function checkWrappingAlgorithm(algorithm: string, keyId?: string): asserts algorithm is WrappingAlgorithm {
  if ((WRAPPING_ALGORITHMS as readonly string[]).includes(algorithm)) return;
  if (algorithm === 'RSAES_PKCS1_V1_5') {
    throw new UnsupportedWrapping(
      `Wrapping algorithm RSAES_PKCS1_V1_5${whose(keyId)} is no longer accepted by KMS (since 2023-10-10). Use RSAES_OAEP_SHA_256 (symmetric/HMAC) or RSA_AES_KEY_WRAP_SHA_256 (RSA/ECC).`,
      keyId ? { keyId } : {},
    );
  }
  if (algorithm === 'SM2PKE') {
    throw new UnsupportedWrapping(`Wrapping algorithm SM2PKE${whose(keyId)} exists only in China Regions and is not supported by kms-reimport. Use ${WRAPPING_ALGORITHMS.join(' or ')}.`, keyId ? { keyId } : {});
  }
  throw new UnsupportedWrapping(`Wrapping algorithm ${algorithm}${whose(keyId)} is unknown. Use one of ${WRAPPING_ALGORITHMS.join(', ')}.`, keyId ? { keyId } : {});
}

export function checkWrappingKeySpec(spec: string, keyId?: string): asserts spec is WrappingKeySpec {
  if ((WRAPPING_KEY_SPECS as readonly string[]).includes(spec)) return;
  throw new UnsupportedWrapping(
    `Wrapping key spec ${spec}${whose(keyId)} is not supported${spec === 'SM2' ? ' (China Regions only)' : ''}. Use ${WRAPPING_KEY_SPECS.join(', ')} (RSA_4096 preferred).`,
    keyId ? { keyId } : {},
  );
}

export const DEFAULT_WRAPPING_ALGORITHM: Readonly<Record<WrappingFamily, WrappingAlgorithm>> = Object.freeze({
  symmetric: 'RSAES_OAEP_SHA_256',
  rsa: 'RSA_AES_KEY_WRAP_SHA_256',
  ecc: 'RSA_AES_KEY_WRAP_SHA_256',
});

/** The wrapping family of an importable key spec. */
export function wrappingFamilyOf(keySpec: string): WrappingFamily {
  if (isRsaKeySpec(keySpec)) return 'rsa';
  if (keySpec.startsWith('ECC_')) return 'ecc';
  return 'symmetric';
}

const FAMILY_SETTING: Record<WrappingFamily, string> = {
  symmetric: 'KMS_REIMPORT_WRAPPING_ALGORITHM_SYMMETRIC',
  rsa: 'KMS_REIMPORT_WRAPPING_ALGORITHM_RSA',
  ecc: 'KMS_REIMPORT_WRAPPING_ALGORITHM_ECC',
};

export function chooseWrapping(
  keySpec: string,
  config: Pick<ReimportConfig, 'wrappingAlgorithm' | 'wrappingKeySpec' | 'wrapping'>,
  keyId?: string,
): WrappingChoice {
  if (!isImportableKeySpec(keySpec)) {
    throw new KeyNotEligible(
      `Key spec ${keySpec}${whose(keyId)} cannot be reimported by kms-reimport (supported: ${IMPORTABLE_KEY_SPECS.join(', ')}).`,
      keyId ? { keyId } : {},
    );
  }
  const family = wrappingFamilyOf(keySpec);
  const own = config.wrapping?.[family];
  const allowed = WRAPPING_ALGORITHMS_BY_FAMILY[family] as readonly string[];
  const legacy = config.wrappingAlgorithm;
  if (legacy !== undefined) checkWrappingAlgorithm(legacy, keyId);
  const wrappingAlgorithm = own?.algorithm ?? (legacy !== undefined && allowed.includes(legacy) ? legacy : DEFAULT_WRAPPING_ALGORITHM[family]);
  const wrappingKeySpec = own?.keySpec ?? config.wrappingKeySpec ?? 'RSA_4096';
  checkWrappingAlgorithm(wrappingAlgorithm, keyId);
  checkWrappingKeySpec(wrappingKeySpec, keyId);
  if (!allowed.includes(wrappingAlgorithm)) {
    throw new UnsupportedWrapping(
      `Wrapping algorithm ${wrappingAlgorithm} is not one KMS takes for ${keySpec} material${whose(keyId)}` +
        `${isAesKeyWrap(wrappingAlgorithm) ? ' (RSA_AES_KEY_WRAP_* is for RSA and ECC material only)' : ' (RSA-OAEP cannot carry an RSA private key)'}: ` +
        `set ${FAMILY_SETTING[family]} to ${allowed.join(' or ')}, or unset it.`,
      keyId ? { keyId } : {},
    );
  }
  if (isOaep(wrappingAlgorithm)) {
    const capacity = oaepCapacity(MODULUS_BYTES[wrappingKeySpec], oaepHashOf(wrappingAlgorithm));
    const needed = maxMaterialLength(keySpec);
    if (needed > capacity) {
      throw new UnsupportedWrapping(
        `${wrappingAlgorithm} with a ${wrappingKeySpec} wrapping key carries at most ${capacity} bytes; ${keySpec} material can be ${needed}${whose(keyId)}. ` +
          `Use a larger wrapping key (RSA_4096) or RSA_AES_KEY_WRAP_SHA_256.`,
        keyId ? { keyId } : {},
      );
    }
  }
  return { wrappingAlgorithm, wrappingKeySpec };
}
