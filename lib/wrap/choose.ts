/**
 * Which wrapping algorithm and wrapping key spec to ask GetParametersForImport for.
 *
 * Defaults (AWS prefers RSA_4096 wrapping keys):
 *   SYMMETRIC_DEFAULT, HMAC_*  → RSAES_OAEP_SHA_256 with RSA_4096
 *   RSA_* (private keys)       → RSA_AES_KEY_WRAP_SHA_256 with RSA_4096 (OAEP cannot carry them)
 *   ECC_*                      → RSA_AES_KEY_WRAP_SHA_256 with RSA_4096 (fits every curve)
 * Configured values win when KMS accepts them for the key spec; otherwise UnsupportedWrapping.
 * RSAES_PKCS1_V1_5 (refused by KMS since 2023-10-10) and the China-only SM2PKE/SM2 are refused.
 */
import { WRAPPING_ALGORITHMS, WRAPPING_KEY_SPECS, type ReimportConfig, type WrappingAlgorithm, type WrappingKeySpec } from '../config.js';
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

export function chooseWrapping(keySpec: string, config: Pick<ReimportConfig, 'wrappingAlgorithm' | 'wrappingKeySpec'>, keyId?: string): WrappingChoice {
  if (!isImportableKeySpec(keySpec)) {
    throw new KeyNotEligible(
      `Key spec ${keySpec}${whose(keyId)} cannot be reimported by kms-reimport (supported: ${IMPORTABLE_KEY_SPECS.join(', ')}).`,
      keyId ? { keyId } : {},
    );
  }
  const rsaMaterial = isRsaKeySpec(keySpec);
  const defaultAlgorithm: WrappingAlgorithm = keySpec === 'SYMMETRIC_DEFAULT' || keySpec.startsWith('HMAC_') ? 'RSAES_OAEP_SHA_256' : 'RSA_AES_KEY_WRAP_SHA_256';
  const wrappingAlgorithm = config.wrappingAlgorithm ?? defaultAlgorithm;
  const wrappingKeySpec = config.wrappingKeySpec ?? 'RSA_4096';
  checkWrappingAlgorithm(wrappingAlgorithm, keyId);
  checkWrappingKeySpec(wrappingKeySpec, keyId);

  if (isOaep(wrappingAlgorithm)) {
    if (rsaMaterial) {
      throw new UnsupportedWrapping(
        `Wrapping algorithm ${wrappingAlgorithm} cannot carry an RSA private key (${keySpec})${whose(keyId)}: use RSA_AES_KEY_WRAP_SHA_256 (or unset KMS_REIMPORT_WRAPPING_ALGORITHM).`,
        keyId ? { keyId } : {},
      );
    }
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
