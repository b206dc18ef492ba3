// What every KMS operation receives: the store, the resolved options, the wrapping-key pool.
import type { OperationContext } from '../service.js';
import type { Input } from './input.js';
import type { KmsState } from './state.js';
import type { WrappingKeyPool } from './wrapping.js';

/** Options of the emulated KMS. Every member documents an unconfirmed behaviour and its default. */
export interface KmsServiceOptions {
  /**
   * Whether an earlier, unexpired import token still works after a newer GetParametersForImport
   * for the same key. AWS documents neither; one emulator keeps only the newest. Default 'invalid'
   * (the stricter reading): only the newest token of a key works, older ones answer
   * InvalidImportTokenException.
   */
  earlierTokens?: 'valid' | 'invalid';
  /**
   * Whether an import token can be used for more than one successful ImportKeyMaterial.
   * Default 'single': a token is spent by a successful import (a failed import does not spend it).
   */
  importTokenUse?: 'single' | 'multiple';
  /**
   * Whether reimporting the same material into a key whose material is all present (Enabled or
   * Disabled) is accepted, e.g. to push ValidTo out. The current API reference says yes; the older
   * developer guide says delete first. Default 'allow'; 'refuse' answers KMSInvalidStateException.
   */
  reimportWhileEnabled?: 'allow' | 'refuse';
  /**
   * How many wrapping key pairs per wrapping key spec to keep generated ahead of time (RSA_4096
   * generation takes a second or more). Refilled in the background after use. Default 0: every
   * GetParametersForImport generates its key pair on demand (no background work to outlive a test).
   */
  wrappingKeyPoolSize?: number;
}

export type ResolvedKmsOptions = Required<KmsServiceOptions>;

export function resolveOptions(options: KmsServiceOptions): ResolvedKmsOptions {
  return {
    earlierTokens: options.earlierTokens ?? 'invalid',
    importTokenUse: options.importTokenUse ?? 'single',
    reimportWhileEnabled: options.reimportWhileEnabled ?? 'allow',
    wrappingKeyPoolSize: options.wrappingKeyPoolSize ?? 0,
  };
}

export interface KmsContext {
  state: KmsState;
  options: ResolvedKmsOptions;
  wrappingKeys: WrappingKeyPool;
}

export type Operation = (kms: KmsContext, input: Input, ctx: OperationContext) => unknown;
