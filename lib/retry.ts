/**
 * Bounded exponential backoff with full jitter for transient AWS failures.
 *
 * Decision: all retrying of AWS calls made by lib/ happens here, and the clients from
 * createClients() have the SDK's own retries switched off (maxAttempts 1), so attempts are never
 * multiplied (SDK 3 x ours 5). The Step Functions definition may retry a whole task on
 * KmsUnavailable on top of this; that is a deliberate, separate, bounded layer.
 */
import { awsErrorName, KmsUnavailable, recordFailedCall } from './errors.js';

export interface RetryInfo {
  /** The attempt that just failed (1-based). */
  attempt: number;
  /** How long we wait before the next attempt. */
  delayMs: number;
  error: unknown;
}

export interface RetryOptions {
  /** Total attempts, including the first (>= 1). */
  maxAttempts: number;
  /** Backoff base: the cap for attempt n is min(maxDelayMs, baseDelayMs * 2^(n-1)). */
  baseDelayMs: number;
  /** Upper bound of a single wait (default 20 s). */
  maxDelayMs?: number;
  /** Injected for tests; default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  /** Injected for tests; default Math.random, must return [0, 1). */
  random?: () => number;
  onRetry?: (info: RetryInfo) => void;
  /** Which errors are retried; default isTransientError. */
  isRetryable?: (e: unknown) => boolean;
}

const TRANSIENT_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'KMSInternalException',
  'DependencyTimeoutException',
  'InternalServiceError',
  'InternalFailure',
  'InternalServerError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);

const TRANSIENT_NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ECONNABORTED', 'UND_ERR_SOCKET']);

const TRANSIENT_STATUS = new Set([429, 500, 502, 503, 504]);

/** Throttling, KMSInternalException, DependencyTimeoutException, 429/5xx, SDK-marked retryable, network errors and timeouts. */
export function isTransientError(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const err = e as {
    name?: unknown;
    code?: unknown;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  };
  const name = awsErrorName(e);
  if (name !== undefined && TRANSIENT_NAMES.has(name)) return true;
  if (typeof err.code === 'string' && TRANSIENT_NETWORK_CODES.has(err.code)) return true;
  if (typeof err.name === 'string' && TRANSIENT_NETWORK_CODES.has(err.name)) return true;
  if (err.$retryable) return true;
  const status = err.$metadata?.httpStatusCode;
  return typeof status === 'number' && TRANSIENT_STATUS.has(status);
}

export function isThrottlingError(e: unknown): boolean {
  const name = awsErrorName(e);
  if (name !== undefined && /thrott|TooManyRequests|RequestLimitExceeded|SlowDown/i.test(name)) return true;
  const err = e as { $retryable?: { throttling?: unknown }; $metadata?: { httpStatusCode?: unknown } } | null;
  return Boolean(err?.$retryable?.throttling) || err?.$metadata?.httpStatusCode === 429;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The longest wait before attempt `failedAttempt + 1` (full jitter draws uniformly in [0, cap)). */
export function backoffCap(failedAttempt: number, baseDelayMs: number, maxDelayMs = 20_000): number {
  return Math.min(maxDelayMs, baseDelayMs * 2 ** (failedAttempt - 1));
}

/**
 * Runs fn until it succeeds, a non-retryable error is thrown (rethrown at once), or maxAttempts
 * attempts failed (the last error is rethrown).
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const maxAttempts = Math.max(1, Math.floor(options.maxAttempts));
  const sleep = options.sleep ?? realSleep;
  const random = options.random ?? Math.random;
  const retryable = options.isRetryable ?? isTransientError;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= maxAttempts || !retryable(error)) throw error;
      const cap = backoffCap(attempt, options.baseDelayMs, options.maxDelayMs);
      const delayMs = Math.floor(Math.min(Math.max(random(), 0), 1) * cap);
      options.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs);
    }
  }
}

/**
 * One AWS call with bounded retries. Transient errors that outlast the retries become
 * KmsUnavailable naming the operation and key; every other error is rethrown unchanged for the
 * caller to map to a domain error.
 */
export async function callWithRetry<T>(
  what: { service?: 'KMS' | 'Secrets Manager'; operation: string; keyId: string },
  fn: () => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  let attempts = 0;
  try {
    return await withRetry(() => {
      attempts++;
      return fn();
    }, options);
  } catch (error) {
    const retryable = options.isRetryable ?? isTransientError;
    const service = what.service ?? 'KMS';
    if (!retryable(error)) {
      // The edge names the failed call from this (toNamedError); callers still see the AWS error.
      recordFailedCall(error, { service, operation: what.operation, keyId: what.keyId });
      throw error;
    }
    throw new KmsUnavailable(
      `${service} ${what.operation} for key ${what.keyId} kept failing with ${awsErrorName(error) ?? 'a transient error'} ` +
        `after ${attempts} attempt(s); nothing was changed by the failed call. Retry later` +
        `${isThrottlingError(error) ? ', pace bulk runs or ask for a higher request quota' : ''}.`,
      { keyId: what.keyId, cause: error },
    );
  }
}
