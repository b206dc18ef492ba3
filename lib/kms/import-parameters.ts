/** GetParametersForImport: a fresh wrapping public key and import token (valid 24 h, not secret). */
import { GetParametersForImportCommand, type KMSClient, type AlgorithmSpec, type WrappingKeySpec } from '@aws-sdk/client-kms';
import { DEFAULT_CONFIG } from '../config.js';
import { awsErrorName, KeyNotEligible, KeyNotFound, UnsupportedWrapping } from '../errors.js';
import { callWithRetry, type RetryOptions } from '../retry.js';
import type { ImportParameters } from '../types.js';

const TOKEN_LIFETIME_MS = 24 * 3600 * 1000;

export async function getImportParameters(
  kms: KMSClient,
  keyId: string,
  choice: { wrappingAlgorithm: string; wrappingKeySpec: string },
  retry: RetryOptions = { maxAttempts: DEFAULT_CONFIG.maxAttempts, baseDelayMs: DEFAULT_CONFIG.baseDelayMs },
): Promise<ImportParameters> {
  const requestedAt = Date.now();
  let out;
  try {
    out = await callWithRetry(
      { operation: 'GetParametersForImport', keyId },
      () =>
        kms.send(
          new GetParametersForImportCommand({
            KeyId: keyId,
            WrappingAlgorithm: choice.wrappingAlgorithm as AlgorithmSpec,
            WrappingKeySpec: choice.wrappingKeySpec as WrappingKeySpec,
          }),
        ),
      retry,
    );
  } catch (e) {
    const code = awsErrorName(e);
    switch (code) {
      case 'NotFoundException':
      case 'InvalidArnException':
        throw new KeyNotFound(`Key ${keyId} was not found when requesting import parameters; check the key ID/ARN and Region (aliases are not accepted here).`, { keyId, cause: e });
      case 'KMSInvalidStateException':
        throw new KeyNotEligible(
          `KMS refused import parameters for key ${keyId} because of its state (disabled, pending deletion, or changed since inspection). Inspect the key again; nothing was changed.`,
          { keyId, cause: e },
        );
      case 'UnsupportedOperationException':
        throw new KeyNotEligible(
          `KMS refused import parameters for key ${keyId} with ${choice.wrappingAlgorithm} / ${choice.wrappingKeySpec}: the key is not EXTERNAL (or is in a custom key store), or this wrapping combination is not supported for its key spec. Check the key's origin and the wrapping configuration.`,
          { keyId, cause: e },
        );
      case 'ValidationException':
        throw new UnsupportedWrapping(
          `KMS rejected wrapping ${choice.wrappingAlgorithm} / ${choice.wrappingKeySpec} for key ${keyId}. Unset KMS_REIMPORT_WRAPPING_ALGORITHM / KMS_REIMPORT_WRAPPING_KEY_SPEC to use the defaults for its key spec.`,
          { keyId, cause: e },
        );
      default:
        throw e;
    }
  }
  if (!out?.PublicKey || !out.ImportToken) {
    throw new KeyNotEligible(`KMS returned no public key or import token for key ${keyId}; request new import parameters.`, { keyId });
  }
  return {
    keyId,
    wrappingAlgorithm: choice.wrappingAlgorithm,
    wrappingKeySpec: choice.wrappingKeySpec,
    publicKey: Buffer.from(out.PublicKey).toString('base64'),
    importToken: Buffer.from(out.ImportToken).toString('base64'),
    // KMS always returns ParametersValidTo; without it, assume the documented 24 h.
    parametersValidTo: (out.ParametersValidTo ?? new Date(requestedAt + TOKEN_LIFETIME_MS)).toISOString(),
  };
}
