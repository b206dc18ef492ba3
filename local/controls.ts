/**
 * The endpoint's control surface (not part of any AWS API): per-operation latency, request
 * quotas (token buckets that answer the service's throttling error), injected errors for the
 * next N calls of an operation, and call counters. The clock lives in clock.ts.
 *
 * Operations are named `<signingName>:<Operation>` as in IAM (`kms:GetParametersForImport`,
 * `secretsmanager:GetSecretValue`); a bare `Operation` matches that operation in every service,
 * and `*` matches every operation (latency only).
 *
 * Quota buckets run on real monotonic time, never on the endpoint's movable clock: moving the
 * clock forward by a day does not refill a bucket, and a test that throttles does so for real.
 */
import { ServiceError, type RequestScope } from './service.js';

export interface QuotaRule {
  /** Requests per second (may be fractional: 0.25 = one every 4 s). */
  rate: number;
  /** Bucket size: how many requests may come at once. Default max(1, ceil(rate)). */
  burst?: number;
  /** Operations with the same `shared` name draw from one bucket (KMS's cryptographic operations). */
  shared?: string;
}

export interface InjectedErrorSpec {
  /** The `__type` to answer, e.g. `DependencyTimeoutException`, `ThrottlingException`. */
  type: string;
  /** HTTP status; default 500 for internal-failure types, 503 for DependencyTimeoutException, else 400. */
  status?: number;
  message?: string;
  /** For how many of the next calls (default 1). */
  count?: number;
}

export interface InjectedErrorState {
  type: string;
  status: number;
  message: string;
  remaining: number;
}

export interface OperationCounter {
  /** Every request that reached the operation, including throttled and injected ones. */
  calls: number;
  /** Answered with the throttling error by a quota. */
  throttled: number;
  /** Answered with an injected error. */
  injected: number;
  /** Answered with any error (including the two above). */
  errors: number;
}

/** 'kms-defaults': the current published KMS (and Secrets Manager) quotas; 'kms-2023': the 2023 ones; 'off': none. */
export type QuotaPreset = 'kms-defaults' | 'kms-2023' | 'off';
export const QUOTA_PRESETS: readonly QuotaPreset[] = ['kms-defaults', 'kms-2023', 'off'];

/**
 * Longest latency a control may set: 10 minutes (in ms). Longer is no rehearsal of anything, and
 * timers cannot hold more than 2^31-1 ms (Node would silently fire after 1 ms).
 */
export const MAX_LATENCY_MS = 10 * 60 * 1000;

/**
 * Bounds on the control state, so that no sequence of control requests grows it without limit:
 * injected errors queued at once (over every operation; a spent one is dropped as it is used),
 * operations with a latency rule, operations with a quota rule (the kms-defaults preset has 48).
 * Beyond a bound a control is refused (RangeError, 400 over HTTP) and changes nothing.
 */
export const MAX_INJECTED_ERRORS = 1000;
export const MAX_LATENCY_RULES = 200;
export const MAX_QUOTA_RULES = 200;

export interface EndpointControls {
  /** Sets a delay before `operation` is handled, 0..MAX_LATENCY_MS ms; 0 removes it. `*` applies to every operation. */
  setLatency(operation: string, ms: number): void;
  getLatency(): Record<string, number>;
  /** Sets (or with null removes) the request quota of one operation. */
  setQuota(operation: string, rule: QuotaRule | null): void;
  /** Replaces every quota with a preset: KMS's (and Secrets Manager's) published defaults, the 2023 ones, or none. */
  useQuotaPreset(preset: QuotaPreset): void;
  getQuotas(): Record<string, QuotaRule>;
  /**
   * The next `count` calls of `operation` answer this error instead of being handled. Returns the
   * queued entry. At most MAX_INJECTED_ERRORS entries are queued at once (RangeError beyond).
   */
  injectError(operation: string, error: InjectedErrorSpec): InjectedErrorState;
  getInjectedErrors(): Record<string, InjectedErrorState[]>;
  /** How many injected errors are queued (over every operation; each may answer several calls). */
  injectedErrorCount(): number;
  /** Removes the queued errors (of one operation, or all); returns how many were removed. */
  clearInjectedErrors(operation?: string): number;
  getCounters(): Record<string, OperationCounter>;
  resetCounters(): void;
}

/** The symmetric cryptographic operations, which share one KMS bucket. */
const CRYPTOGRAPHIC_OPERATIONS = [
  'Encrypt',
  'Decrypt',
  'ReEncrypt',
  'GenerateDataKey',
  'GenerateDataKeyWithoutPlaintext',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'GenerateMac',
  'VerifyMac',
  'Sign',
  'Verify',
  'GenerateRandom',
];

/**
 * Secrets Manager's published request quotas per account and Region (its quotas page): DescribeSecret
 * and GetSecretValue 10,000/s combined, ListSecrets 100/s, the writes 50/s each group. The Resource
 * Groups Tagging API publishes no request rate: none is set (setQuota('tagging:GetResources', ...)
 * sets one).
 */
export const SECRETS_MANAGER_DEFAULT_QUOTAS: Readonly<Record<string, QuotaRule>> = Object.freeze({
  'secretsmanager:GetSecretValue': { rate: 10000, shared: 'secretsmanager:read' },
  'secretsmanager:DescribeSecret': { rate: 10000, shared: 'secretsmanager:read' },
  'secretsmanager:ListSecrets': { rate: 100 },
  'secretsmanager:CreateSecret': { rate: 50, shared: 'secretsmanager:create-delete' },
  'secretsmanager:DeleteSecret': { rate: 50, shared: 'secretsmanager:create-delete' },
  'secretsmanager:RestoreSecret': { rate: 50 },
  'secretsmanager:TagResource': { rate: 50, shared: 'secretsmanager:tagging' },
  'secretsmanager:UntagResource': { rate: 50, shared: 'secretsmanager:tagging' },
  ...Object.fromEntries(
    ['PutSecretValue', 'UpdateSecret', 'UpdateSecretVersionStage', 'ReplicateSecretToRegions', 'RemoveRegionsFromReplication', 'StopReplicationToReplica'].map((op) => [
      `secretsmanager:${op}`,
      { rate: 50, shared: 'secretsmanager:writes' },
    ]),
  ),
});

/**
 * KMS request quotas per account and Region, as KMS's quotas page publishes them now (the copy that
 * lists 2026's GetKeyLastUsage; /work/shared/KMS-FACTS.md): GetParametersForImport 1/s,
 * ImportKeyMaterial and DeleteImportedKeyMaterial 15/s, DescribeKey 2000/s, ListKeys 500/s,
 * ListKeyRotations 100/s, RotateKeyOnDemand 5/s, CreateKey, CreateAlias and UpdateAlias 5/s; the
 * rest from the same table. Every one is adjustable per account: a default, not a law. The
 * cryptographic operations share one bucket, as in KMS (symmetric keys' rate; the lower shared
 * rates of RSA/ECC keys are not modelled). Secrets Manager's published quotas come with them.
 */
export const KMS_DEFAULT_QUOTAS: Readonly<Record<string, QuotaRule>> = Object.freeze({
  'kms:GetParametersForImport': { rate: 1, burst: 1 },
  'kms:ImportKeyMaterial': { rate: 15 },
  'kms:DeleteImportedKeyMaterial': { rate: 15 },
  'kms:DescribeKey': { rate: 2000 },
  'kms:ListKeys': { rate: 500 },
  'kms:ListAliases': { rate: 500 },
  'kms:ListResourceTags': { rate: 2000 },
  'kms:ListKeyRotations': { rate: 100 },
  'kms:RotateKeyOnDemand': { rate: 5 },
  'kms:GetKeyRotationStatus': { rate: 2000 },
  'kms:GetPublicKey': { rate: 2000 },
  'kms:CreateKey': { rate: 5 },
  'kms:CreateAlias': { rate: 5 },
  'kms:UpdateAlias': { rate: 5 },
  'kms:DeleteAlias': { rate: 5 },
  'kms:EnableKey': { rate: 5 },
  'kms:DisableKey': { rate: 5 },
  'kms:ScheduleKeyDeletion': { rate: 5 },
  'kms:CancelKeyDeletion': { rate: 5 },
  'kms:TagResource': { rate: 10 },
  'kms:UntagResource': { rate: 10 },
  'kms:ReplicateKey': { rate: 5 },
  ...Object.fromEntries(CRYPTOGRAPHIC_OPERATIONS.map((op) => [`kms:${op}`, { rate: 10000, shared: 'kms:cryptographic-operations' }])),
  ...SECRETS_MANAGER_DEFAULT_QUOTAS,
});

/**
 * The same table as published in 2023 (preset 'kms-2023'), for rehearsing an account that still has
 * those rates: GetParametersForImport 0.25/s (one every 4 s), ImportKeyMaterial and
 * DeleteImportedKeyMaterial 5/s, ListKeys 100/s, CreateKey 50/s.
 */
export const KMS_2023_QUOTAS: Readonly<Record<string, QuotaRule>> = Object.freeze({
  ...KMS_DEFAULT_QUOTAS,
  'kms:GetParametersForImport': { rate: 0.25, burst: 1 },
  'kms:ImportKeyMaterial': { rate: 5 },
  'kms:DeleteImportedKeyMaterial': { rate: 5 },
  'kms:ListKeys': { rate: 100 },
  'kms:CreateKey': { rate: 50 },
});

const PRESETS: Record<Exclude<QuotaPreset, 'off'>, Readonly<Record<string, QuotaRule>>> = {
  'kms-defaults': KMS_DEFAULT_QUOTAS,
  'kms-2023': KMS_2023_QUOTAS,
};

export interface ThrottleErrorFactory {
  (operation: string, rule: QuotaRule): ServiceError;
}

interface Bucket {
  tokens: number;
  last: number;
}

const INTERNAL_TYPES = new Set(['KMSInternalException', 'InternalFailure', 'InternalServiceError', 'InternalServiceException']);

function defaultStatus(type: string): number {
  if (INTERNAL_TYPES.has(type)) return 500;
  if (type === 'DependencyTimeoutException' || type === 'ServiceUnavailable' || type === 'ServiceUnavailableException') return 503;
  return 400;
}

function checkOperationName(operation: unknown, allowStar: boolean): string {
  if (typeof operation !== 'string' || !/^([a-z0-9-]+:)?[A-Za-z0-9]+$/.test(operation)) {
    if (allowStar && operation === '*') return '*';
    throw new RangeError(
      `Operation must be named like "kms:GetParametersForImport" or "GetParametersForImport"${allowStar ? ' (or "*")' : ''}, got ${JSON.stringify(operation)}`,
    );
  }
  return operation;
}

function checkRule(operation: string, rule: QuotaRule): QuotaRule {
  if (rule === null || typeof rule !== 'object') throw new RangeError(`Quota for ${operation} must be an object {rate, burst?}`);
  const { rate, burst, shared } = rule;
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) {
    throw new RangeError(`Quota rate for ${operation} must be a positive number of requests per second, got ${JSON.stringify(rate)}`);
  }
  if (burst !== undefined && (typeof burst !== 'number' || !Number.isFinite(burst) || burst < 1)) {
    throw new RangeError(`Quota burst for ${operation} must be a number of at least 1, got ${JSON.stringify(burst)}`);
  }
  if (shared !== undefined && typeof shared !== 'string') throw new RangeError(`Quota "shared" for ${operation} must be a string`);
  return { rate, ...(burst !== undefined ? { burst } : {}), ...(shared !== undefined ? { shared } : {}) };
}

/** Looks up a per-operation value: exact `svc:Op` first, then bare `Op`, then `*` when allowed. */
function lookup<T>(map: Map<string, T>, signingName: string, operation: string, star = false): [string, T] | undefined {
  const qualified = `${signingName}:${operation}`;
  for (const key of star ? [qualified, operation, '*'] : [qualified, operation]) {
    const value = map.get(key);
    if (value !== undefined) return [key, value];
  }
  return undefined;
}

export interface ControlsOptions {
  quotas?: QuotaPreset | Record<string, QuotaRule>;
  latencyMs?: number | Record<string, number>;
  /** Monotonic milliseconds for quota buckets (tests may pass their own). */
  monotonicNow?: () => number;
  /** Sleeps before handling (tests may pass their own). */
  sleep?: (ms: number) => Promise<void>;
}

export interface Admission {
  /** The error to answer instead of handling the request, if any. */
  error?: ServiceError;
}

/** The controls plus the per-request hook the server calls. */
export class Controls implements EndpointControls {
  private readonly latency = new Map<string, number>();
  private readonly quotas = new Map<string, QuotaRule>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly faults = new Map<string, InjectedErrorState[]>();
  private readonly counters = new Map<string, OperationCounter>();
  private readonly monotonicNow: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: ControlsOptions = {}) {
    this.monotonicNow = options.monotonicNow ?? (() => performance.now());
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()));
    const { quotas, latencyMs } = options;
    if (typeof quotas === 'string') this.useQuotaPreset(quotas);
    else if (quotas) for (const [op, rule] of Object.entries(quotas)) this.setQuota(op, rule);
    if (typeof latencyMs === 'number') this.setLatency('*', latencyMs);
    else if (latencyMs) for (const [op, ms] of Object.entries(latencyMs)) this.setLatency(op, ms);
  }

  setLatency(operation: string, ms: number): void {
    const name = checkOperationName(operation, true);
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0 || ms > MAX_LATENCY_MS) {
      throw new RangeError(
        `Latency for ${name} must be a number of milliseconds from 0 to ${MAX_LATENCY_MS} (10 minutes), got ${JSON.stringify(ms)}; nothing was changed`,
      );
    }
    if (ms === 0) this.latency.delete(name);
    else {
      if (!this.latency.has(name) && this.latency.size >= MAX_LATENCY_RULES) {
        throw new RangeError(`At most ${MAX_LATENCY_RULES} operations may have a latency rule; remove one (ms 0) first, or use "*"; nothing was changed`);
      }
      this.latency.set(name, ms);
    }
  }

  getLatency(): Record<string, number> {
    return Object.fromEntries(this.latency);
  }

  setQuota(operation: string, rule: QuotaRule | null): void {
    const name = checkOperationName(operation, false);
    if (rule === null) this.quotas.delete(name);
    else {
      const checked = checkRule(name, rule);
      if (!this.quotas.has(name) && this.quotas.size >= MAX_QUOTA_RULES) {
        throw new RangeError(`At most ${MAX_QUOTA_RULES} operations may have a quota; remove one first; nothing was changed`);
      }
      this.quotas.set(name, checked);
    }
    this.buckets.clear();
  }

  useQuotaPreset(preset: QuotaPreset): void {
    if (!QUOTA_PRESETS.includes(preset)) {
      throw new RangeError(`Quota preset must be one of ${QUOTA_PRESETS.map((p) => `"${p}"`).join(', ')}, got ${JSON.stringify(preset)}`);
    }
    this.quotas.clear();
    this.buckets.clear();
    if (preset !== 'off') for (const [op, rule] of Object.entries(PRESETS[preset])) this.quotas.set(op, { ...rule });
  }

  getQuotas(): Record<string, QuotaRule> {
    return Object.fromEntries([...this.quotas].map(([op, rule]) => [op, { ...rule }]));
  }

  injectError(operation: string, error: InjectedErrorSpec): InjectedErrorState {
    const name = checkOperationName(operation, false);
    if (error === null || typeof error !== 'object' || typeof error.type !== 'string' || !/^[A-Za-z][A-Za-z0-9]*$/.test(error.type)) {
      throw new RangeError(`An injected error for ${name} needs "type", an exception name like "DependencyTimeoutException"`);
    }
    const count = error.count ?? 1;
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`Injected error count for ${name} must be an integer >= 1, got ${JSON.stringify(count)}`);
    const status = error.status ?? defaultStatus(error.type);
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(`Injected error status for ${name} must be an HTTP error status (400-599), got ${JSON.stringify(status)}`);
    }
    if (error.message !== undefined && typeof error.message !== 'string') throw new RangeError(`Injected error message for ${name} must be a string`);
    if (error.message !== undefined && error.message.length > 4096) throw new RangeError(`Injected error message for ${name} must be at most 4096 characters`);
    if (this.injectedErrorCount() >= MAX_INJECTED_ERRORS) {
      throw new RangeError(
        `At most ${MAX_INJECTED_ERRORS} injected errors may be queued at once (each may answer several calls: use "count"); clear some (DELETE /_local/faults) or let them be used first; nothing was changed`,
      );
    }
    const message = error.message ?? `${error.type} injected by the local endpoint's fault control for ${name}`;
    const list = this.faults.get(name) ?? [];
    const entry: InjectedErrorState = { type: error.type, status, message, remaining: count };
    list.push(entry);
    this.faults.set(name, list);
    return { ...entry };
  }

  injectedErrorCount(): number {
    let n = 0;
    for (const list of this.faults.values()) n += list.length;
    return n;
  }

  getInjectedErrors(): Record<string, InjectedErrorState[]> {
    return Object.fromEntries([...this.faults].map(([op, list]) => [op, list.map((f) => ({ ...f }))]));
  }

  clearInjectedErrors(operation?: string): number {
    if (operation === undefined) {
      const n = this.injectedErrorCount();
      this.faults.clear();
      return n;
    }
    const name = checkOperationName(operation, false);
    const n = this.faults.get(name)?.length ?? 0;
    this.faults.delete(name);
    return n;
  }

  getCounters(): Record<string, OperationCounter> {
    return Object.fromEntries([...this.counters].map(([op, c]) => [op, { ...c }]));
  }

  resetCounters(): void {
    this.counters.clear();
  }

  /**
   * Runs the controls for one request, in this order: count the call, wait the latency, take a
   * quota token (or answer the throttling error), take an injected error (if one is queued).
   */
  async admit(
    signingName: string,
    operation: string,
    scope: RequestScope,
    throttleError: ThrottleErrorFactory,
  ): Promise<Admission> {
    const counter = this.counter(signingName, operation);
    counter.calls++;
    const delay = lookup(this.latency, signingName, operation, true);
    if (delay) await this.sleep(delay[1]);
    const quota = lookup(this.quotas, signingName, operation);
    if (quota && !this.take(scope, quota[1].shared ?? `${signingName}:${operation}`, quota[1])) {
      counter.throttled++;
      counter.errors++;
      return { error: throttleError(operation, quota[1]) };
    }
    const faults = lookup(this.faults, signingName, operation);
    if (faults) {
      const [key, list] = faults;
      const fault = list[0];
      if (fault) {
        fault.remaining--;
        if (fault.remaining <= 0) list.shift();
        if (list.length === 0) this.faults.delete(key);
        counter.injected++;
        counter.errors++;
        return { error: new ServiceError(fault.type, fault.message, fault.status) };
      }
    }
    return {};
  }

  /** Records that a handled request ended in an error. */
  recordError(signingName: string, operation: string): void {
    this.counter(signingName, operation).errors++;
  }

  private counter(signingName: string, operation: string): OperationCounter {
    const key = `${signingName}:${operation}`;
    let counter = this.counters.get(key);
    if (!counter) {
      counter = { calls: 0, throttled: 0, injected: 0, errors: 0 };
      this.counters.set(key, counter);
    }
    return counter;
  }

  private take(scope: RequestScope, bucketName: string, rule: QuotaRule): boolean {
    const capacity = rule.burst ?? Math.max(1, Math.ceil(rule.rate));
    const key = `${scope.account}|${scope.region}|${bucketName}`;
    const now = this.monotonicNow();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { tokens: capacity, last: now };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(capacity, bucket.tokens + ((now - bucket.last) / 1000) * rule.rate);
    bucket.last = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}
