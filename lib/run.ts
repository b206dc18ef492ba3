/**
 * What every run for one key shares, whatever its verb (recoverKey, rotateKey): the retry options
 * of its AWS calls, the pacing of GetParametersForImport, and taking and releasing the per-key
 * lease (lib/lease) with the same waits and attempts.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { awsErrorName, LeaseTaken } from './errors.js';
import { LEASE_ATTEMPTS, LEASE_WAIT_SECONDS, type HeldLease, type KeyLease } from './lease/index.js';
import { createOutcome } from './outcome.js';
import type { RetryOptions } from './retry.js';
import type { KeyRef, KeyReport, Outcome } from './types.js';

export interface RunLogger {
  info(message: string, extra?: object): void;
  warn(message: string, extra?: object): void;
  error(message: string, extra?: object): void;
}

export const silentLogger: RunLogger = { info() {}, warn() {}, error() {} };
export const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The injectable parts of a run (tests pass them; production uses the defaults). */
export interface RunTiming {
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  monotonicNow?: () => number;
}

/** Retry options for one run's AWS calls: bounded, jittered, each retry logged (never with material). */
export function runRetry(
  config: { maxAttempts: number; baseDelayMs: number },
  timing: RunTiming,
  log: RunLogger,
  keyRef: string,
): { retry: RetryOptions; onRetry: NonNullable<RetryOptions['onRetry']> } {
  const onRetry: NonNullable<RetryOptions['onRetry']> = (info) =>
    log.warn('transient AWS error, retrying', { keyRef, attempt: info.attempt, delayMs: info.delayMs, errorName: awsErrorName(info.error) });
  const retry: RetryOptions = {
    maxAttempts: config.maxAttempts,
    baseDelayMs: config.baseDelayMs,
    onRetry,
    ...(timing.sleep ? { sleep: timing.sleep } : {}),
    ...(timing.random ? { random: timing.random } : {}),
  };
  return { retry, onRetry };
}

export type ParametersPacer = <T>(call: () => Promise<T>) => Promise<T>;

/**
 * Paces GetParametersForImport within one run: KMS's published quota is one call a second per
 * account and Region (one every 4 s before 2024), so a run that needs several (several materials, a
 * token refresh) waits until `intervalMs` has passed since the previous call ended (its retries
 * included) before the next. Many runs at once share an adaptive pace instead (lib/pace.ts).
 */
export function parametersPacer(intervalMs: number, sleep: (ms: number) => Promise<void>, monotonicNow: () => number, onWait: (ms: number) => void): ParametersPacer {
  let previousEnd: number | undefined;
  return async <T>(call: () => Promise<T>): Promise<T> => {
    if (previousEnd !== undefined && intervalMs > 0) {
      const wait = Math.ceil(previousEnd + intervalMs - monotonicNow());
      if (wait > 0) {
        onWait(wait);
        await sleep(wait);
      }
    }
    try {
      return await call();
    } finally {
      previousEnd = monotonicNow();
    }
  };
}

/** The run's pacer with the config's interval, logging each wait. */
export function runParametersPacer(config: { parametersIntervalMs: number }, timing: RunTiming, log: RunLogger, keyRef: string): ParametersPacer {
  return parametersPacer(config.parametersIntervalMs, timing.sleep ?? realSleep, timing.monotonicNow ?? (() => performance.now()), (waitMs) =>
    log.info('pacing GetParametersForImport (KMS_REIMPORT_PARAMETERS_INTERVAL_MS: KMS allows about one call a second per account and Region)', { keyRef, waitMs }),
  );
}

/** A fresh lease owner name for a run that was not given one. */
export function newLeaseOwner(): string {
  return `run:${hostname()}:${process.pid}:${randomUUID()}`;
}

export interface AcquireKeyLeaseInput {
  lease: KeyLease;
  keyArn: string;
  keyId: string;
  owner: string;
  /** Seconds between attempts (default LEASE_WAIT_SECONDS). */
  waitSeconds?: number;
  sleep?: (ms: number) => Promise<void>;
  log: RunLogger;
  /** What the run wanted, for the message when it gives up. */
  wanted: () => string;
  /**
   * Called after each wait, before trying again: a reason to end skipped (the holder did the work
   * meanwhile), or undefined to keep trying.
   */
  afterWait: (taken: LeaseTaken) => Promise<string | undefined>;
}

/**
 * Takes the key's lease, or says why the run ends skipped: taken by another run → wait, ask
 * `afterWait` whether the work is still wanted, try again; still taken after LEASE_ATTEMPTS
 * attempts → skipped naming the holder. LeaseUnavailable (and anything else) is thrown.
 */
export async function acquireKeyLease(input: AcquireKeyLeaseInput): Promise<{ held: HeldLease } | { skipped: string }> {
  const waitSeconds = input.waitSeconds ?? LEASE_WAIT_SECONDS;
  for (let attempt = 1; ; attempt++) {
    try {
      const taken = await input.lease.acquire(input.keyArn, input.owner);
      input.log.info('lease taken', { keyId: input.keyId, owner: input.owner, expiresAt: taken.expiresAt });
      return { held: taken };
    } catch (e) {
      if (!(e instanceof LeaseTaken)) throw e;
      if (attempt >= LEASE_ATTEMPTS) {
        return { skipped: `${e.message} (It was still taken after ${attempt} attempts ${waitSeconds} s apart.) This run wanted to ${input.wanted()}` };
      }
      input.log.info('lease taken by another run; waiting, then inspecting again', { keyId: input.keyId, holder: e.holder, waitSeconds, attempt });
      await (input.sleep ?? realSleep)(waitSeconds * 1000);
      const skipped = await input.afterWait(e);
      if (skipped !== undefined) return { skipped };
    }
  }
}

/** Gives the lease back; a failure only warns (the lease lapses by itself). */
export async function releaseKeyLease(lease: KeyLease, held: HeldLease, log: RunLogger): Promise<void> {
  try {
    if (!(await lease.release(held))) log.warn("the lease was no longer this run's when it ended (it lapsed?)", { keyArn: held.keyArn });
  } catch (e) {
    log.warn('could not release the lease; it lapses by itself', { keyArn: held.keyArn, expiresAt: held.expiresAt, errorName: awsErrorName(e) });
  }
}

/** What a run's outcome is finished with: its status and what it learnt. */
export type RunOutcomeFields = Pick<Outcome, 'status'> & Partial<Pick<Outcome, 'reason' | 'errorName' | 'keyStateAfter' | 'verified' | 'rotation'>>;

/**
 * Builds a run's outcome from what the run knows when it ends: the key (once inspected: `report()`
 * is read then, not now), the materials it imported, its timings and its calls per operation.
 */
export function runOutcome(run: {
  keyRef: KeyRef;
  action: Outcome['action'];
  startedAt: Date;
  clock: () => Date;
  calls: Record<string, number>;
  report: () => KeyReport | undefined;
  imported: () => Outcome['imported'];
}): (fields: RunOutcomeFields) => Outcome {
  return (fields) => {
    const report = run.report();
    return createOutcome({
      keyId: report?.keyId ?? run.keyRef,
      ...(report ? { keyArn: report.arn, keyStateBefore: report.keyState } : {}),
      requestedRef: run.keyRef,
      action: run.action,
      imported: run.imported(),
      startedAt: run.startedAt,
      finishedAt: run.clock(),
      calls: run.calls,
      ...fields,
    });
  };
}
