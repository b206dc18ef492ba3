/**
 * Service configuration, read once (at cold start or CLI start) and checked loudly.
 *
 * Environment variables (all optional; defaults in DEFAULT_CONFIG):
 *   KMS_REIMPORT_MANAGED_TAG_KEY         tag key that opts a key in           (kms-reimport:managed)
 *   KMS_REIMPORT_MANAGED_TAG_VALUE       value that tag must have             (true)
 *   KMS_REIMPORT_ESCROW_TAG_KEY          tag naming the escrow secret         (kms-reimport:escrow)
 *   KMS_REIMPORT_ESCROW_PREFIX           default secret name prefix           (kms-reimport/)
 *   KMS_REIMPORT_MATERIAL_LIFETIME_DAYS  ValidTo = now + this many days, 1..365 (90)
 *   KMS_REIMPORT_RENEWAL_WINDOW_DAYS     renew when ValidTo is this close, 0..365 (14)
 *   KMS_REIMPORT_EXPIRATION_MODEL        follow-key | KEY_MATERIAL_EXPIRES | KEY_MATERIAL_DOES_NOT_EXPIRE (follow-key)
 *   KMS_REIMPORT_WRAPPING_ALGORITHM_SYMMETRIC  symmetric and HMAC keys: RSAES_OAEP_SHA_1 | RSAES_OAEP_SHA_256 (RSAES_OAEP_SHA_256)
 *   KMS_REIMPORT_WRAPPING_ALGORITHM_RSA        RSA keys: RSA_AES_KEY_WRAP_SHA_1 | RSA_AES_KEY_WRAP_SHA_256 (RSA_AES_KEY_WRAP_SHA_256)
 *   KMS_REIMPORT_WRAPPING_ALGORITHM_ECC        ECC keys: any of the four (RSA_AES_KEY_WRAP_SHA_256)
 *   KMS_REIMPORT_WRAPPING_ALGORITHM      compatibility: one of the four, applied to each family it is valid for
 *                                        (OAEP: symmetric, HMAC, ECC; RSA_AES_KEY_WRAP: RSA, ECC) and not set above;
 *                                        the other families keep their default (see lib/wrap/choose.ts)
 *   KMS_REIMPORT_WRAPPING_KEY_SPEC       RSA_2048 | RSA_3072 | RSA_4096 (unset: RSA_4096), every family
 *   KMS_REIMPORT_WRAPPING_KEY_SPEC_SYMMETRIC | _RSA | _ECC   the same for one family, over the one above
 *   KMS_REIMPORT_MAX_ATTEMPTS            attempts per AWS call for transient errors, 1..20 (5)
 *   KMS_REIMPORT_BASE_DELAY_MS           backoff base in ms, 1..60000 (200)
 *   KMS_REIMPORT_PARAMETERS_INTERVAL_MS  least time between two GetParametersForImport calls of one run,
 *                                        in ms, 0..60000 (1000: KMS's current quota is one a second per account
 *                                        and Region); a fleet run (lib/pace.ts) paces adaptively instead
 *   KMS_REIMPORT_PARAMETERS_RATE         starting rate of a fleet run's adaptive pace of GetParametersForImport,
 *                                        requests per second, 0.01..1000 (1: KMS's current published quota;
 *                                        0.25 before 2024); it backs off on throttling and creeps back up
 *   KMS_REIMPORT_IMPORT_RATE             the same for ImportKeyMaterial, 0.01..1000 (15: the current published quota)
 *   KMS_REIMPORT_LEASE_TABLE             DynamoDB table of the per-key lease (lib/lease); unset: runs are not serialised
 *   KMS_REIMPORT_LEASE_WAIT_SECONDS      wait before re-inspecting a key whose lease is taken, 0..300 (20)
 *   KMS_REIMPORT_ROTATE_EVERY_DAYS       rotate every managed key's material this many days, 1..3650, unless its tag
 *                                        kms-reimport:rotate-every says otherwise (unset: off; see lib/rotation/schedule.ts)
 *   KMS_REIMPORT_ROTATION_CAP_FALLBACK   a symmetric key past KMS's 25 on-demand rotations: alias-swap | fail (fail)
 *   KMS_REIMPORT_MIN_ROTATE_EVERY_DAYS   the shortest schedule a key may have, 1..3650 (30): a rotate-every tag (or the default)
 *                                        below it is RotationScheduleInvalid, never a rotation (TagResource alone must not
 *                                        burn a key's 25 on-demand rotations)
 *   KMS_REIMPORT_MAX_ROTATIONS_PER_SWEEP at most this many scheduled rotations started by one sweep, 1..10000 (50);
 *                                        the rest wait for the next sweep
 */
import { ConfigError } from './errors.js';

export type ExpirationModelSetting = 'follow-key' | 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE';

export const WRAPPING_ALGORITHMS = [
  'RSAES_OAEP_SHA_1',
  'RSAES_OAEP_SHA_256',
  'RSA_AES_KEY_WRAP_SHA_1',
  'RSA_AES_KEY_WRAP_SHA_256',
] as const;
export type WrappingAlgorithm = (typeof WRAPPING_ALGORITHMS)[number];

export const WRAPPING_KEY_SPECS = ['RSA_2048', 'RSA_3072', 'RSA_4096'] as const;
export type WrappingKeySpec = (typeof WRAPPING_KEY_SPECS)[number];

/**
 * Key families that take different wrapping: `symmetric` (SYMMETRIC_DEFAULT and HMAC_*),
 * `rsa` (RSA private keys), `ecc` (ECC_* private keys).
 */
export const WRAPPING_FAMILIES = ['symmetric', 'rsa', 'ecc'] as const;
export type WrappingFamily = (typeof WRAPPING_FAMILIES)[number];

/**
 * Which wrapping algorithms KMS takes for each family (API model: RSAES_OAEP_* for any material
 * but RSA private keys, RSA_AES_KEY_WRAP_* for RSA and ECC material only).
 */
export const WRAPPING_ALGORITHMS_BY_FAMILY: Readonly<Record<WrappingFamily, readonly WrappingAlgorithm[]>> = Object.freeze({
  symmetric: ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'],
  rsa: ['RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256'],
  ecc: ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256', 'RSA_AES_KEY_WRAP_SHA_1', 'RSA_AES_KEY_WRAP_SHA_256'],
});

/** One family's wrapping settings; unset members fall back (see chooseWrapping). */
export interface FamilyWrapping {
  algorithm?: string;
  keySpec?: string;
}

export interface ReimportConfig {
  managedTagKey: string;
  managedTagValue: string;
  escrowTagKey: string;
  escrowPrefix: string;
  /** ValidTo = now + this many days (1..365). */
  materialLifetimeDays: number;
  /** A key whose ValidTo is within this many days is "expiring" and renewed. */
  renewalWindowDays: number;
  expirationModel: ExpirationModelSetting;
  /**
   * Compatibility setting (KMS_REIMPORT_WRAPPING_ALGORITHM): applied to each key family it is valid
   * for and that has no algorithm of its own in `wrapping`; the other families keep their default.
   * Kept as string so an unsupported value (e.g. RSAES_PKCS1_V1_5) reaches chooseWrapping and is refused there by name.
   */
  wrappingAlgorithm?: string;
  /** Wrapping key spec for every family without its own in `wrapping` (RSA_4096 when unset). */
  wrappingKeySpec?: string;
  /** Per key family; an algorithm set here must be valid for the family (validateConfig checks). */
  wrapping?: Partial<Record<WrappingFamily, FamilyWrapping>>;
  maxAttempts: number;
  baseDelayMs: number;
  /**
   * Least time in ms between two GetParametersForImport calls within one run (several materials,
   * a token refresh): KMS's current published quota is one call a second per account and Region
   * (one every 4 s before 2024). 0 = no pacing.
   */
  parametersIntervalMs: number;
  /**
   * Starting rate (requests per second) of a fleet run's adaptive pace of GetParametersForImport
   * (lib/pace.ts); unset: PUBLISHED_PARAMETERS_RATE (1/s). The pace backs off on throttling.
   */
  parametersRate?: number;
  /** The same for ImportKeyMaterial; unset: PUBLISHED_IMPORT_RATE (15/s). */
  importRate?: number;
  /** DynamoDB table of the per-key lease (lib/lease). Unset: concurrent runs for one key are not serialised. */
  leaseTable?: string;
  /** Seconds a run waits before re-inspecting a key whose lease another run holds (unset: LEASE_WAIT_SECONDS). */
  leaseWaitSeconds?: number;
  /**
   * Default rotation schedule, in days (1..3650), for every managed key without a
   * `kms-reimport:rotate-every` tag. Unset: keys rotate on a schedule only when tagged.
   */
  rotateEveryDays?: number;
  /**
   * What rotation does with a symmetric key that has had KMS's 25 on-demand rotations: `alias-swap`
   * (a new key, its aliases moved) or `fail` (RotationLimitReached). Unset: `fail`.
   */
  rotationCapFallback?: RotationCapFallback;
  /** Shortest rotation schedule in days (1..3650) a tag or the default may set; unset: DEFAULT_MIN_ROTATE_EVERY_DAYS. */
  minRotateEveryDays?: number;
  /** At most this many scheduled rotations started per sweep (1..10000); unset: DEFAULT_MAX_ROTATIONS_PER_SWEEP. */
  maxRotationsPerSweep?: number;
}

export const DEFAULT_MIN_ROTATE_EVERY_DAYS = 30;
export const DEFAULT_MAX_ROTATIONS_PER_SWEEP = 50;

export const ROTATION_CAP_FALLBACKS = ['alias-swap', 'fail'] as const;
export type RotationCapFallback = (typeof ROTATION_CAP_FALLBACKS)[number];

export const DEFAULT_CONFIG: Readonly<ReimportConfig> = Object.freeze({
  managedTagKey: 'kms-reimport:managed',
  managedTagValue: 'true',
  escrowTagKey: 'kms-reimport:escrow',
  escrowPrefix: 'kms-reimport/',
  materialLifetimeDays: 90,
  renewalWindowDays: 14,
  expirationModel: 'follow-key',
  maxAttempts: 5,
  baseDelayMs: 200,
  parametersIntervalMs: 1000,
});

/** Bounds of KMS_REIMPORT_PARAMETERS_RATE and KMS_REIMPORT_IMPORT_RATE, requests per second. */
export const MIN_PACE_RATE = 0.01;
export const MAX_PACE_RATE = 1000;

const EXPIRATION_MODELS: readonly ExpirationModelSetting[] = ['follow-key', 'KEY_MATERIAL_EXPIRES', 'KEY_MATERIAL_DOES_NOT_EXPIRE'];

function readString(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = raw.trim();
  if (value === '') throw new ConfigError(`${name} is blank; unset it to use the default "${fallback}" or give a value`);
  return value;
}

function readInteger(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    throw new ConfigError(`${name}="${raw}" is not a whole number; set it to an integer between ${min} and ${max} or unset it (default ${fallback})`);
  }
  const value = Number(raw.trim());
  if (value < min || value > max) {
    throw new ConfigError(`${name}=${value} is out of range; set it between ${min} and ${max} or unset it (default ${fallback})`);
  }
  return value;
}

/** A positive decimal number (a rate such as 0.25 or 15) within [min, max]; undefined when unset. */
function readRate(env: NodeJS.ProcessEnv, name: string, min: number, max: number, published: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = /^\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  if (!(value >= min && value <= max)) {
    throw new ConfigError(
      `${name}="${raw}" is not a rate in requests per second from ${min} to ${max}; set it (e.g. ${published}, KMS's current published quota, or your account's) or unset it`,
    );
  }
  return value;
}

function readChoice<T extends string>(env: NodeJS.ProcessEnv, name: string, choices: readonly T[]): T | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = raw.trim();
  if (!(choices as readonly string[]).includes(value)) {
    throw new ConfigError(`${name}="${value}" is not supported; use one of ${choices.join(', ')} or unset it`);
  }
  return value as T;
}

/** Checks a whole config object (also one built in code), throwing ConfigError on the first bad value. */
export function validateConfig(config: ReimportConfig): ReimportConfig {
  const intIn = (name: keyof ReimportConfig, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(`config ${name}=${value} must be an integer between ${min} and ${max}`);
    }
  };
  for (const name of ['managedTagKey', 'managedTagValue', 'escrowTagKey', 'escrowPrefix'] as const) {
    if (typeof config[name] !== 'string' || config[name].trim() === '') {
      throw new ConfigError(`config ${name} must be a non-empty string`);
    }
  }
  intIn('materialLifetimeDays', config.materialLifetimeDays, 1, 365);
  intIn('renewalWindowDays', config.renewalWindowDays, 0, 365);
  intIn('maxAttempts', config.maxAttempts, 1, 20);
  intIn('baseDelayMs', config.baseDelayMs, 1, 60_000);
  intIn('parametersIntervalMs', config.parametersIntervalMs, 0, 60_000);
  if (config.rotateEveryDays !== undefined) intIn('rotateEveryDays', config.rotateEveryDays, 1, 3650);
  if (config.minRotateEveryDays !== undefined) intIn('minRotateEveryDays', config.minRotateEveryDays, 1, 3650);
  for (const name of ['parametersRate', 'importRate'] as const) {
    const rate = config[name];
    if (rate !== undefined && !(typeof rate === 'number' && rate >= MIN_PACE_RATE && rate <= MAX_PACE_RATE)) {
      throw new ConfigError(`config ${name}=${String(rate)} must be a number of requests per second from ${MIN_PACE_RATE} to ${MAX_PACE_RATE}`);
    }
  }
  if (config.maxRotationsPerSweep !== undefined) intIn('maxRotationsPerSweep', config.maxRotationsPerSweep, 1, 10_000);
  if (config.rotationCapFallback !== undefined && !(ROTATION_CAP_FALLBACKS as readonly string[]).includes(config.rotationCapFallback)) {
    throw new ConfigError(`config rotationCapFallback="${String(config.rotationCapFallback)}" must be one of ${ROTATION_CAP_FALLBACKS.join(', ')}`);
  }
  if (!EXPIRATION_MODELS.includes(config.expirationModel)) {
    throw new ConfigError(`config expirationModel="${String(config.expirationModel)}" must be one of ${EXPIRATION_MODELS.join(', ')}`);
  }
  for (const [family, settings] of Object.entries(config.wrapping ?? {})) {
    if (!(WRAPPING_FAMILIES as readonly string[]).includes(family)) {
      throw new ConfigError(`config wrapping.${family} is not a key family; use ${WRAPPING_FAMILIES.join(', ')}`);
    }
    const algorithm = settings?.algorithm;
    if (algorithm !== undefined) checkFamilyAlgorithm(`config wrapping.${family}.algorithm`, family as WrappingFamily, algorithm);
    const keySpec = settings?.keySpec;
    if (keySpec !== undefined && !(WRAPPING_KEY_SPECS as readonly string[]).includes(keySpec)) {
      throw new ConfigError(`config wrapping.${family}.keySpec="${keySpec}" is not supported; use one of ${WRAPPING_KEY_SPECS.join(', ')}`);
    }
  }
  return config;
}

const FAMILY_WORDS: Record<WrappingFamily, string> = { symmetric: 'symmetric encryption and HMAC', rsa: 'RSA', ecc: 'ECC' };

/** Refuses, by the setting's name, an algorithm KMS does not take for a key family. */
function checkFamilyAlgorithm(name: string, family: WrappingFamily, algorithm: string): void {
  const allowed = WRAPPING_ALGORITHMS_BY_FAMILY[family];
  if ((allowed as readonly string[]).includes(algorithm)) return;
  const why =
    family === 'symmetric' && algorithm.startsWith('RSA_AES_KEY_WRAP_')
      ? 'RSA_AES_KEY_WRAP_* is for RSA and ECC material only'
      : family === 'rsa' && algorithm.startsWith('RSAES_OAEP_')
        ? 'RSA-OAEP cannot carry an RSA private key'
        : algorithm === 'RSAES_PKCS1_V1_5'
          ? 'RSAES_PKCS1_V1_5 is no longer accepted by KMS (since 2023-10-10)'
          : 'it is not a wrapping algorithm KMS takes for this key family';
  throw new ConfigError(`${name}="${algorithm}" cannot wrap ${FAMILY_WORDS[family]} key material: ${why}; use ${allowed.join(' or ')}, or unset it`);
}

/** A Region of the `aws-cn` partition (cn-north-1, cn-northwest-1). */
export function isChinaRegion(region: string): boolean {
  return /^cn-[a-z]+-\d+$/.test(region.trim());
}

/**
 * Refuses to start in a China Region, where imported material differs: SYMMETRIC_DEFAULT is SM4
 * with 16-byte material, and wrapping offers SM2 / SM2PKE, none of which kms-reimport handles
 * (it would escrow and import 32-byte material and RSA wrapping, and fail at the first import).
 * Called at every Lambda cold start (loadConfig, ownRegion) and CLI start; the template refuses
 * the same at deploy time (Rules). No Region (a local unit test) is not refused.
 */
export function assertSupportedRegion(region: string | undefined): void {
  if (region === undefined || !isChinaRegion(region)) return;
  throw new ConfigError(
    `kms-reimport does not support the China Regions (aws-cn: SM4 16-byte material, SM2 wrapping) yet; ${region.trim()} was given. ` +
      'Deploy and run it in a Region of another partition; keys in China Regions are not handled.',
  );
}

/**
 * Reads KMS_REIMPORT_* variables (see the comment at the top of this file). Wrapping values are
 * checked against the names KMS knows; whether they suit a key spec is decided by chooseWrapping.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ReimportConfig {
  assertSupportedRegion(env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || undefined);
  const config: ReimportConfig = {
    managedTagKey: readString(env, 'KMS_REIMPORT_MANAGED_TAG_KEY', DEFAULT_CONFIG.managedTagKey),
    managedTagValue: readString(env, 'KMS_REIMPORT_MANAGED_TAG_VALUE', DEFAULT_CONFIG.managedTagValue),
    escrowTagKey: readString(env, 'KMS_REIMPORT_ESCROW_TAG_KEY', DEFAULT_CONFIG.escrowTagKey),
    escrowPrefix: readString(env, 'KMS_REIMPORT_ESCROW_PREFIX', DEFAULT_CONFIG.escrowPrefix),
    materialLifetimeDays: readInteger(env, 'KMS_REIMPORT_MATERIAL_LIFETIME_DAYS', DEFAULT_CONFIG.materialLifetimeDays, 1, 365),
    renewalWindowDays: readInteger(env, 'KMS_REIMPORT_RENEWAL_WINDOW_DAYS', DEFAULT_CONFIG.renewalWindowDays, 0, 365),
    expirationModel: readChoice(env, 'KMS_REIMPORT_EXPIRATION_MODEL', EXPIRATION_MODELS) ?? DEFAULT_CONFIG.expirationModel,
    maxAttempts: readInteger(env, 'KMS_REIMPORT_MAX_ATTEMPTS', DEFAULT_CONFIG.maxAttempts, 1, 20),
    baseDelayMs: readInteger(env, 'KMS_REIMPORT_BASE_DELAY_MS', DEFAULT_CONFIG.baseDelayMs, 1, 60_000),
    parametersIntervalMs: readInteger(env, 'KMS_REIMPORT_PARAMETERS_INTERVAL_MS', DEFAULT_CONFIG.parametersIntervalMs, 0, 60_000),
  };
  const algorithm = env.KMS_REIMPORT_WRAPPING_ALGORITHM?.trim();
  if (algorithm) {
    if (algorithm === 'RSAES_PKCS1_V1_5') {
      throw new ConfigError(
        'KMS_REIMPORT_WRAPPING_ALGORITHM=RSAES_PKCS1_V1_5 is no longer accepted by KMS (since 2023-10-10); use RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256, or unset it',
      );
    }
    config.wrappingAlgorithm = readChoice(env, 'KMS_REIMPORT_WRAPPING_ALGORITHM', WRAPPING_ALGORITHMS);
  }
  const keySpec = readChoice(env, 'KMS_REIMPORT_WRAPPING_KEY_SPEC', WRAPPING_KEY_SPECS);
  if (keySpec) config.wrappingKeySpec = keySpec;
  const leaseTable = env.KMS_REIMPORT_LEASE_TABLE?.trim();
  if (leaseTable) {
    if (!/^[A-Za-z0-9_.-]{3,255}$/.test(leaseTable)) {
      throw new ConfigError(`KMS_REIMPORT_LEASE_TABLE="${leaseTable}" is not a DynamoDB table name (3 to 255 of A-Z a-z 0-9 _ . -); set the lease table's name or unset it`);
    }
    config.leaseTable = leaseTable;
  }
  const parametersRate = readRate(env, 'KMS_REIMPORT_PARAMETERS_RATE', MIN_PACE_RATE, MAX_PACE_RATE, 1);
  if (parametersRate !== undefined) config.parametersRate = parametersRate;
  const importRate = readRate(env, 'KMS_REIMPORT_IMPORT_RATE', MIN_PACE_RATE, MAX_PACE_RATE, 15);
  if (importRate !== undefined) config.importRate = importRate;
  const capFallback = readChoice(env, 'KMS_REIMPORT_ROTATION_CAP_FALLBACK', ROTATION_CAP_FALLBACKS);
  if (capFallback) config.rotationCapFallback = capFallback;
  if (env.KMS_REIMPORT_LEASE_WAIT_SECONDS?.trim()) config.leaseWaitSeconds = readInteger(env, 'KMS_REIMPORT_LEASE_WAIT_SECONDS', 20, 0, 300);
  if (env.KMS_REIMPORT_MIN_ROTATE_EVERY_DAYS?.trim()) {
    config.minRotateEveryDays = readInteger(env, 'KMS_REIMPORT_MIN_ROTATE_EVERY_DAYS', DEFAULT_MIN_ROTATE_EVERY_DAYS, 1, 3650);
  }
  if (env.KMS_REIMPORT_MAX_ROTATIONS_PER_SWEEP?.trim()) {
    config.maxRotationsPerSweep = readInteger(env, 'KMS_REIMPORT_MAX_ROTATIONS_PER_SWEEP', DEFAULT_MAX_ROTATIONS_PER_SWEEP, 1, 10_000);
  }
  const rotateEvery = env.KMS_REIMPORT_ROTATE_EVERY_DAYS?.trim();
  if (rotateEvery) {
    const days = /^\d+$/.test(rotateEvery) ? Number(rotateEvery) : Number.NaN;
    if (!(days >= 1 && days <= 3650)) {
      throw new ConfigError(
        `KMS_REIMPORT_ROTATE_EVERY_DAYS="${rotateEvery}" is not a whole number of days from 1 to 3650; set it (e.g. 365) or unset it (no default rotation)`,
      );
    }
    config.rotateEveryDays = days;
  }
  const wrapping: Partial<Record<WrappingFamily, FamilyWrapping>> = {};
  for (const family of WRAPPING_FAMILIES) {
    const suffix = family.toUpperCase();
    const settings: FamilyWrapping = {};
    const familyAlgorithm = env[`KMS_REIMPORT_WRAPPING_ALGORITHM_${suffix}`]?.trim();
    if (familyAlgorithm) {
      checkFamilyAlgorithm(`KMS_REIMPORT_WRAPPING_ALGORITHM_${suffix}`, family, familyAlgorithm);
      settings.algorithm = familyAlgorithm;
    }
    const familyKeySpec = readChoice(env, `KMS_REIMPORT_WRAPPING_KEY_SPEC_${suffix}`, WRAPPING_KEY_SPECS);
    if (familyKeySpec) settings.keySpec = familyKeySpec;
    if (settings.algorithm !== undefined || settings.keySpec !== undefined) wrapping[family] = settings;
  }
  if (Object.keys(wrapping).length > 0) config.wrapping = wrapping;
  return validateConfig(config);
}
