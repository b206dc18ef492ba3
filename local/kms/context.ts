// What every KMS operation receives: the store, the resolved options, the wrapping-key pool.
import type { OperationContext } from '../service.js';
import type { Input } from './input.js';
import type { KmsState } from './state.js';
import type { WrappingKeyPool } from './wrapping.js';
import type { AgingQueue } from './aging.js';

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
  /**
   * How long after a pair is taken the pool starts making up for it, in ms (0..60000). Default 0:
   * at once. A delay keeps the RSA generation (tens of ms of CPU for RSA_2048, a second or more
   * for RSA_4096) off the cores while the run that took the pair is still importing and
   * verifying (the recovery bench); the answers are the same either way.
   */
  wrappingKeyPoolRefillDelayMs?: number;
  /**
   * What happens to RSA_AES_KEY_WRAP_SHA_1/_SHA_256 for symmetric (SYMMETRIC_DEFAULT) and HMAC
   * material. The API reference lists them as "supported for wrapping RSA and ECC key material" and
   * says nothing of the others, nor of which error a refusal is. Default 'refuse-parameters' (the
   * stricter reading): GetParametersForImport answers ValidationException, as it does for RSA-OAEP
   * with RSA private key material. 'refuse-import': parameters are issued, and ImportKeyMaterial
   * answers InvalidCiphertextException (KMS cannot unwrap that material with that algorithm).
   * 'allow': accepted like RSA and ECC material.
   */
  rsaAesForSymmetric?: 'refuse-parameters' | 'refuse-import' | 'allow';
  /**
   * Which ImportType a multi-Region replica's FIRST import may use (the replica has never held
   * material, its primary has). Unconfirmed: the model says ImportType defaults to
   * NEW_KEY_MATERIAL when nothing was ever imported, the rotation guide imports replicas with
   * EXISTING_KEY_MATERIAL (KMS-FACTS, Multi-Region keys). Only symmetric keys take ImportType.
   * - 'existing-required' (default; the reading the rotation guide and lib/ follow): an explicit
   *   NEW_KEY_MATERIAL is UnsupportedOperationException (new material goes into the primary); an
   *   omitted ImportType means EXISTING_KEY_MATERIAL.
   * - 'new-required' (the model's default rule applied per Region): an explicit
   *   EXISTING_KEY_MATERIAL is IncorrectKeyMaterialException (the replica never had material); an
   *   omitted ImportType means NEW_KEY_MATERIAL, which must be material the primary has.
   * - 'either': both are accepted.
   * A client is safe under both strict readings only if it handles the refusal of one (e.g. retries
   * the other); test it against both.
   */
  replicaFirstImport?: 'existing-required' | 'new-required' | 'either';
}

export type ResolvedKmsOptions = Required<KmsServiceOptions>;

function checkChoice<T extends string>(name: string, value: T | undefined, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!choices.includes(value)) throw new TypeError(`KMS option ${name} must be one of ${choices.join(', ')}; got ${String(value)}`);
  return value;
}

/** Longest wrapping-key pool refill delay: a minute (a pool that waits longer is no pool). */
export const MAX_POOL_REFILL_DELAY_MS = 60_000;

function checkDelay(value: number | undefined): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_POOL_REFILL_DELAY_MS) {
    throw new TypeError(`KMS option wrappingKeyPoolRefillDelayMs must be a whole number of ms from 0 to ${MAX_POOL_REFILL_DELAY_MS}; got ${String(value)}`);
  }
  return value;
}

export function resolveOptions(options: KmsServiceOptions): ResolvedKmsOptions {
  return {
    earlierTokens: options.earlierTokens ?? 'invalid',
    importTokenUse: options.importTokenUse ?? 'single',
    reimportWhileEnabled: options.reimportWhileEnabled ?? 'allow',
    wrappingKeyPoolSize: options.wrappingKeyPoolSize ?? 0,
    wrappingKeyPoolRefillDelayMs: checkDelay(options.wrappingKeyPoolRefillDelayMs),
    rsaAesForSymmetric: checkChoice('rsaAesForSymmetric', options.rsaAesForSymmetric, ['refuse-parameters', 'refuse-import', 'allow'], 'refuse-parameters'),
    replicaFirstImport: checkChoice('replicaFirstImport', options.replicaFirstImport, ['existing-required', 'new-required', 'either'], 'existing-required'),
  };
}

export interface KmsContext {
  state: KmsState;
  options: ResolvedKmsOptions;
  wrappingKeys: WrappingKeyPool;
  /** When keys change by themselves (material ValidTo, DeletionDate): schedule() wherever one is set. */
  aging: AgingQueue;
}

export type Operation = (kms: KmsContext, input: Input, ctx: OperationContext) => unknown;
