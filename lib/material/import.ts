/**
 * The import step of onboarding, shared by its two ways in: the first import of a key born managed
 * (escrowAndImport, after the escrow) and the proof import of a key adopted with its material file
 * (adoptKey, before the escrow). Fresh GetParametersForImport, wrap, ImportKeyMaterial; when KMS
 * refuses the token (ExpiredImportTokenException: more than 24 h between the two calls, or
 * InvalidImportTokenException: spent, or replaced by a newer request), new parameters and the same
 * material again, at most MAX_IMPORT_TOKEN_REFRESHES times: an expired token is never a failure
 * (PRODUCT.md), and never a loop. The recovery path does the same (lib/recover.ts, ImportTokenExpired).
 *
 * The material buffer is the caller's (it wipes it); each wrapped copy is wiped here after its call.
 */
import { ImportKeyMaterialCommand, type ExpirationModelType, type KMSClient } from '@aws-sdk/client-kms';
import { awsErrorName, isTokenRefused } from '../errors.js';
import { getImportParameters } from '../kms/import-parameters.js';
import { callWithRetry, type RetryOptions } from '../retry.js';
import type { ParametersPacer } from '../run.js';
import type { ImportParameters } from '../types.js';
import { wrapKeyMaterial } from '../wrap/index.js';

/** New import parameters after a refused token, per import: at most this many (as recovery's MAX_TOKEN_REFRESHES). */
export const MAX_IMPORT_TOKEN_REFRESHES = 3;

/** What ImportKeyMaterial is asked, besides the material and the token. */
export interface ImportRequest {
  expirationModel: ExpirationModelType;
  /** With KEY_MATERIAL_EXPIRES only; sent on a whole second. */
  validTo?: Date;
  importType?: 'EXISTING_KEY_MATERIAL';
  keyMaterialId?: string;
}

export interface ImportContext {
  wrapping: { wrappingAlgorithm: string; wrappingKeySpec: string };
  retry: RetryOptions;
  /** Paces GetParametersForImport (adoption of many keys shares one); default: none. */
  pace?: ParametersPacer;
  /**
   * The error to throw for ImportKeyMaterial's refusal `e` (a refused token once the refreshes are
   * spent, or any other refusal), under the parameters `params` it was wrapped for.
   */
  refused: (e: unknown, params: ImportParameters) => unknown;
  /** Told of each refused token before new parameters are asked (for a log line). */
  onTokenRefused?: (errorName: string, refresh: number) => void;
}

export interface ImportedMaterial {
  /** ImportKeyMaterial's KeyMaterialId, else the one the request named. */
  keyMaterialId?: string;
  /** The wrapping of the import that was taken. */
  wrappingAlgorithm: string;
  wrappingKeySpec: string;
}

export async function importUnderFreshParameters(kms: KMSClient, keyId: string, material: Buffer, request: ImportRequest, context: ImportContext): Promise<ImportedMaterial> {
  const pace: ParametersPacer = context.pace ?? ((call) => call());
  for (let refreshes = 0; ; refreshes++) {
    const params = await pace(() => getImportParameters(kms, keyId, context.wrapping, context.retry));
    const wrapped = wrapKeyMaterial(material, Buffer.from(params.publicKey, 'base64'), params.wrappingAlgorithm, keyId);
    try {
      const out = await callWithRetry(
        { operation: 'ImportKeyMaterial', keyId },
        () =>
          kms.send(
            new ImportKeyMaterialCommand({
              KeyId: keyId,
              ImportToken: Buffer.from(params.importToken, 'base64'),
              EncryptedKeyMaterial: wrapped,
              ExpirationModel: request.expirationModel,
              ...(request.validTo ? { ValidTo: request.validTo } : {}),
              ...(request.importType ? { ImportType: request.importType } : {}),
              ...(request.keyMaterialId ? { KeyMaterialId: request.keyMaterialId } : {}),
            }),
          ),
        context.retry,
      );
      const id = out?.KeyMaterialId ?? request.keyMaterialId;
      return { ...(id ? { keyMaterialId: id } : {}), wrappingAlgorithm: params.wrappingAlgorithm, wrappingKeySpec: params.wrappingKeySpec };
    } catch (e) {
      if (isTokenRefused(e) && refreshes < MAX_IMPORT_TOKEN_REFRESHES) {
        context.onTokenRefused?.(awsErrorName(e) as string, refreshes + 1);
        continue;
      }
      throw context.refused(e, params);
    } finally {
      wrapped.fill(0);
    }
  }
}
