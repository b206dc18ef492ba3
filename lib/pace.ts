/**
 * Pacing KMS's import operations for many keys at once (fleet renewal and recovery):
 * GetParametersForImport (1 request/s per account and Region by default, the bottleneck of any bulk
 * run) and ImportKeyMaterial (15/s). Every quota is adjustable per account, so no fixed interval is
 * right: too slow where the quota was raised, throttled where it was lowered.
 *
 * AdaptivePace is a token bucket whose rate adapts (AIMD):
 * - it starts at a configured rate (KMS_REIMPORT_PARAMETERS_RATE / KMS_REIMPORT_IMPORT_RATE, by
 *   default the current published quotas) and hands out one request slot every 1/rate s, in order,
 *   each a whole interval after the one before was handed over (a timer that fires late on a busy
 *   event loop must not bring two requests to a strict quota closer together than that);
 * - a ThrottlingException on a request remembers the rate it was sent at as the ceiling and
 *   multiplies the rate by `decrease` (0.7) when it is the third round of throttling in a row with no
 *   success between, above any rate a run of successes went through (well over the quota), by 0.95
 *   otherwise (the quota's edge, or a request that reached it early); one decrease per round: a
 *   throttle of a slot reserved before the last decrease is not counted again;
 * - well over the quota, answered now and then (since the last run of successes, at least three
 *   throttles, a third of the attempts or more, and three answers), it jumps instead: to the rate of
 *   the shortest gap between two answers, the least the quota can be. Stepping down 5% a round from
 *   there is slow where it costs most: a bucket that takes one request per 1/quota s (the local
 *   endpoint's, burst 1) answers only every other request at any rate between the quota and twice
 *   it, half the quota. Where the quota is counted per second, as KMS documents (a second's worth
 *   may come at once, and the rest of that second is throttled), answers come closer together, the
 *   estimate is higher, and a rate over the quota still gets the quota in full: the jump is then
 *   rarer and harmless. After a jump the rate climbs back in 5% steps, each confirmed by three
 *   successes, up to 95% of the rate that was throttled; a throttled step goes back to the
 *   confirmed rate (the quota may be anywhere between the two: at 1.5x the quota, a strict bucket
 *   answers exactly as at 2x);
 * - each success adds to the rate: quickly (a tenth of the ceiling) below the safe level, 95% of the
 *   ceiling, then slowly (0.1% of the ceiling per success) above it, up to `maxRate` (the starting
 *   rate unless configured): it creeps back up to the quota and settles just under it.
 *
 * paceCalls attaches the paces to a client as SDK middleware, inside lib/retry's attempts:
 * every HTTP attempt of a paced operation waits for its slot, and a throttled attempt is sent again
 * in a later slot (at most `throttleRetries` times) before lib/retry sees the error at all. So a
 * burst of throttling slows the fleet down instead of failing its runs.
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import type { FinalizeRequestMiddleware, MetadataBearer } from '@smithy/types';
import { isThrottlingError } from './retry.js';

export interface PaceOptions {
  /** Starting rate, requests per second (> 0). */
  rate: number;
  /** Never slower than this (default rate / 100). */
  minRate?: number;
  /** Never faster than this (default: the starting rate). */
  maxRate?: number;
  /** Multiplicative decrease on a throttle, in (0, 1) (default 0.7). */
  decrease?: number;
  /** Monotonic clock in ms (tests inject theirs; default performance.now). */
  now?: () => number;
  /** Waits (tests inject theirs; default setTimeout). */
  sleep?: (ms: number) => Promise<void>;
}

/** One request slot: when it was asked for and granted, and at which rate, for the feedback. */
export interface PaceTicket {
  /** When acquire() was called: slots reserved before a decrease belong to the round it answered. */
  reservedAt: number;
  /** When the slot was handed over (its scheduled time, or later). */
  grantedAt: number;
  rate: number;
}

export interface PaceStats {
  /** Slots handed out (one per HTTP attempt of a paced operation). */
  granted: number;
  /** Throttled attempts reported. */
  throttled: number;
  /** Times the rate was decreased (jumps included). */
  decreases: number;
  /** Of those, times it jumped down to the rate the quota was measured to accept. */
  jumps: number;
  /** Total time callers waited for a slot, in ms. */
  waitedMs: number;
}

/** Below this share of the ceiling the rate climbs fast; above it, it probes slowly. */
const SAFE_SHARE = 0.95;
const FAST_STEP_SHARE = 0.1;
const PROBE_STEP_SHARE = 0.001;
/**
 * The first throttle, and a throttle after at least this many successes since the last decrease, is
 * the quota's edge (a probe, or a request that arrived a little early after network jitter): the
 * rate steps back to just under it (GENTLE_DECREASE). Throttles in quick succession mean the rate is
 * well over the quota: `decrease`.
 */
const PROBE_SUCCESSES = 3;
const GENTLE_DECREASE = 0.95;
/**
 * Over the quota, not at its edge: the attempts since the last run of PROBE_SUCCESSES successes (and
 * since the last jump) hold at least OVER_QUOTA_THROTTLES throttles (two can be the edge met twice by a
 * burst of runs), at least this share of the attempts (jitter throttles one now and then, not every
 * third), and ACCEPTED_SAMPLE_ANSWERS answers (two gaps between answers: one can be stretched by a
 * request throttled for arriving early).
 */
const OVER_QUOTA_THROTTLED_SHARE = 1 / 3;
const OVER_QUOTA_THROTTLES = 3;
const ACCEPTED_SAMPLE_ANSWERS = 3;
/** After a jump, each confirmed step of the climb adds this share of the rate. */
const CLIMB_STEP = 0.05;
/** Timers wait at least a millisecond: a gap shorter than that is not kept (rates over 1000/s). */
const TIMER_RESOLUTION_MS = 1;
/** At most this many attempts are kept for the sample (a sample ends at a run of successes anyway). */
const HISTORY_LIMIT = 64;

/** The climb after a jump: below `limit`, in steps, each confirmed by a run of successes. */
interface Climb {
  limit: number;
  confirmedRate: number;
  /** Successes at the current step. */
  run: number;
}

/** One paced attempt (its slot) and how it went, for the estimate of what the quota accepts. */
interface Attempt extends Pick<PaceTicket, 'reservedAt' | 'grantedAt'> {
  ok: boolean;
}

export class AdaptivePace {
  private currentRate: number;
  private ceilingRate: number | undefined;
  private nextSlotAt = Number.NEGATIVE_INFINITY;
  /** When the last slot was handed over (its time, unless its timer fired later than TIMER_RESOLUTION_MS). */
  private releasedAt = Number.NEGATIVE_INFINITY;
  /** Settles when the slot reserved last has been handed over: the next one waits for it. */
  private handover: Promise<void> = Promise.resolve();
  private lastDecreaseAt = Number.NEGATIVE_INFINITY;
  private successesSinceDecrease = 0;
  /** The highest rate a run of PROBE_SUCCESSES successes went through at (lowered when it is throttled). */
  private goodRate: number | undefined;
  private decreasesInRow = 0;
  /** Recent attempts, in slot order (at most HISTORY_LIMIT). */
  private readonly attempts: Attempt[] = [];
  private lastJumpAt = Number.NEGATIVE_INFINITY;
  /** Set after a jump, while the rate climbs back towards where it was throttled. */
  private climb: Climb | undefined;
  private readonly minRate: number;
  private readonly maxRate: number;
  private readonly decrease: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  readonly stats: PaceStats = { granted: 0, throttled: 0, decreases: 0, jumps: 0, waitedMs: 0 };

  constructor(options: PaceOptions) {
    const { rate } = options;
    if (!(Number.isFinite(rate) && rate > 0)) throw new RangeError(`A pace needs a positive rate in requests per second, got ${rate}`);
    this.currentRate = rate;
    this.minRate = options.minRate ?? rate / 100;
    this.maxRate = options.maxRate ?? rate;
    this.decrease = options.decrease ?? 0.7;
    if (!(this.minRate > 0 && this.minRate <= rate && this.maxRate >= rate)) {
      throw new RangeError(`A pace needs 0 < minRate <= rate <= maxRate, got ${this.minRate}, ${rate}, ${this.maxRate}`);
    }
    if (!(this.decrease > 0 && this.decrease < 1)) throw new RangeError(`A pace's decrease must be between 0 and 1, got ${this.decrease}`);
    this.now = options.now ?? (() => performance.now());
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Requests per second now. */
  get rate(): number {
    return this.currentRate;
  }

  /**
   * Where the pace believes the quota is: the rate of the last throttled request, or after a jump the
   * rate the quota was measured to accept (undefined before the first throttle).
   */
  get ceiling(): number | undefined {
    return this.ceilingRate;
  }

  /**
   * Waits for the next slot: slots are handed over in call order, 1/rate s apart, and each one no
   * sooner than a whole interval after the one before it was handed over. A timer that fired late (a
   * busy event loop) handed the one before over late, and the two would otherwise reach a strict quota
   * closer together than the rate says. The interval is the current rate's where that is longer:
   * slots reserved before a decrease are handed over at the new rate.
   */
  async acquire(): Promise<PaceTicket> {
    const now = this.now();
    const rate = this.currentRate;
    const at = Math.max(now, this.nextSlotAt);
    this.nextSlotAt = at + 1000 / rate;
    this.stats.granted++;
    const before = this.handover;
    let handedOver!: () => void;
    let grantedAt = at;
    this.handover = new Promise((resolve) => (handedOver = resolve));
    try {
      await before;
      for (;;) {
        const time = this.now();
        const gap = this.releasedAt + 1000 / Math.min(rate, this.currentRate) - time;
        // A timer cannot keep a gap shorter than its resolution (rates over 1000/s).
        const wait = Math.max(at - time, gap >= TIMER_RESOLUTION_MS ? gap : 0);
        if (!(wait > 0)) break;
        await this.sleep(wait);
      }
      grantedAt = this.now();
      this.releasedAt = grantedAt;
    } finally {
      handedOver();
    }
    this.stats.waitedMs += grantedAt - now;
    return { reservedAt: now, grantedAt, rate };
  }

  /** The request in `ticket` was throttled: slow down (once per round), and leave a slot free. */
  throttled(ticket: PaceTicket): void {
    this.stats.throttled++;
    this.remember(ticket, false);
    // Reserved before the last decrease (at the old rate, even if sent after it): already answered.
    if (ticket.reservedAt < this.lastDecreaseAt) return;
    const now = this.now();
    const climb = this.climb;
    this.climb = undefined;
    if (climb && ticket.rate > climb.confirmedRate) {
      // A step of the climb after a jump went too far: back to the rate the climb confirmed, which is
      // now the known-good rate, and the step is the ceiling to creep up to.
      this.currentRate = climb.confirmedRate;
      this.goodRate = climb.confirmedRate;
      this.ceilingRate = ticket.rate;
      this.lastDecreaseAt = now;
      this.successesSinceDecrease = 0;
      this.stats.decreases++;
      return;
    }
    // At a rate a run of successes already went through?
    const known = this.goodRate !== undefined && ticket.rate <= this.goodRate;
    // At a rate no run of successes went through, throttled again and again with answers between:
    // well over the quota. Jump to the least it can be rather than step down to it.
    const accepted = known ? undefined : this.overQuotaAcceptedRate();
    if (accepted !== undefined && accepted.rate < ticket.rate * GENTLE_DECREASE) {
      this.jumpTo(accepted.rate, ticket.rate, accepted.lastAnsweredAt, now);
      return;
    }
    // One after a run of successes, or at a rate that already went through in a run, or fewer than
    // three rounds in a row, is the quota's edge (or a request that arrived a little early).
    // Decreases with no success between them, this one included: two in a row can be the edge met
    // by a burst of runs; three mean the rate is well over the quota.
    this.decreasesInRow = this.successesSinceDecrease === 0 ? this.decreasesInRow + 1 : 1;
    const probing = this.decreasesInRow < 3 || this.successesSinceDecrease >= PROBE_SUCCESSES || known;
    // A throttle at a rate that went through: that rate is not quite good (the quota moved, or jitter).
    if (known) this.goodRate = ticket.rate * GENTLE_DECREASE;
    this.ceilingRate = ticket.rate;
    this.currentRate = Math.max(this.minRate, ticket.rate * (probing ? GENTLE_DECREASE : this.decrease));
    this.lastDecreaseAt = now;
    this.successesSinceDecrease = 0;
    this.stats.decreases++;
    // Over the quota (not a probe): its bucket is empty now, the next slot is a whole new interval away.
    if (!probing) this.nextSlotAt = Math.max(this.nextSlotAt, now + 1000 / this.currentRate);
  }

  /** The request in `ticket` went through: creep back up (additive increase). */
  succeeded(ticket: PaceTicket): void {
    this.remember(ticket, true);
    this.successesSinceDecrease++;
    if (this.climb) {
      this.climbAfterJump(this.climb, ticket);
      return;
    }
    // A run of successes at this rate: the quota takes it.
    if (this.successesSinceDecrease >= PROBE_SUCCESSES) this.goodRate = Math.max(this.goodRate ?? 0, ticket.rate);
    const ceiling = this.ceilingRate ?? this.maxRate;
    const safe = Math.min(this.maxRate, ceiling * SAFE_SHARE);
    const next = this.currentRate < safe ? Math.min(safe, this.currentRate + ceiling * FAST_STEP_SHARE) : this.currentRate + ceiling * PROBE_STEP_SHARE;
    this.currentRate = Math.min(this.maxRate, Math.max(this.currentRate, next));
    // Probing past the ceiling without a throttle: the quota is higher than that.
    if (this.ceilingRate !== undefined && this.currentRate > this.ceilingRate) this.ceilingRate = this.currentRate;
  }

  /**
   * After a jump the rate is the least the quota can be (what it accepted); the quota may be higher, up
   * to the rate that was throttled. Each run of PROBE_SUCCESSES successes at the current step confirms
   * it, and the rate steps up by CLIMB_STEP, until the next step would pass the limit (then the usual
   * slow probing takes over) or a step is throttled (back to the confirmed rate).
   */
  private climbAfterJump(climb: Climb, ticket: PaceTicket): void {
    if (ticket.rate < this.currentRate) return; // sent before this step: says nothing about it
    if (++climb.run < PROBE_SUCCESSES) return;
    climb.confirmedRate = this.currentRate;
    this.goodRate = Math.max(this.goodRate ?? 0, this.currentRate);
    const next = Math.min(this.maxRate, this.currentRate * (1 + CLIMB_STEP));
    if (next > climb.limit || next <= this.currentRate) {
      this.climb = undefined;
      return;
    }
    this.currentRate = next;
    this.ceilingRate = next;
    climb.run = 0;
  }

  private remember(ticket: PaceTicket, ok: boolean): void {
    // In slot order, not answer order: runs in flight at once answer out of order.
    let at = this.attempts.length;
    while (at > 0 && this.attempts[at - 1]!.grantedAt > ticket.grantedAt) at--;
    this.attempts.splice(at, 0, { reservedAt: ticket.reservedAt, grantedAt: ticket.grantedAt, ok });
    if (this.attempts.length > HISTORY_LIMIT) this.attempts.splice(0, this.attempts.length - HISTORY_LIMIT);
  }

  /**
   * When the latest attempts (newest first, back to the last run of PROBE_SUCCESSES successes or the
   * last jump) say the pace is over the quota, the least rate the quota can be: one request per
   * shortest gap between the slots of two answers (a quota that takes one request per 1/quota s never
   * answers two closer together). Undefined when they do not say so.
   */
  private overQuotaAcceptedRate(): { rate: number; lastAnsweredAt: number } | undefined {
    let sampled = 0;
    let answered = 0;
    let answeredInRow = 0;
    let laterAnsweredAt = Number.NaN;
    let lastAnsweredAt = Number.NaN;
    let shortestGapMs = Number.POSITIVE_INFINITY;
    for (let i = this.attempts.length - 1; i >= 0; i--) {
      const attempt = this.attempts[i]!;
      if (attempt.reservedAt < this.lastJumpAt) break;
      answeredInRow = attempt.ok ? answeredInRow + 1 : 0;
      if (answeredInRow >= PROBE_SUCCESSES) break;
      sampled++;
      if (attempt.ok) {
        answered++;
        if (answered === 1) lastAnsweredAt = attempt.grantedAt;
        if (laterAnsweredAt > attempt.grantedAt) shortestGapMs = Math.min(shortestGapMs, laterAnsweredAt - attempt.grantedAt);
        laterAnsweredAt = attempt.grantedAt;
      }
    }
    const throttled = sampled - answered;
    const over = throttled >= OVER_QUOTA_THROTTLES && throttled >= sampled * OVER_QUOTA_THROTTLED_SHARE && answered >= ACCEPTED_SAMPLE_ANSWERS;
    return over && Number.isFinite(shortestGapMs) ? { rate: 1000 / shortestGapMs, lastAnsweredAt } : undefined;
  }

  /**
   * Well over the quota: the rate becomes the least the quota can be (`accepted`), which is where the
   * pace now believes the quota is (its ceiling), and climbs from there towards `throttledRate`. The
   * quota took the request handed over at `lastAnsweredAt` and none since: the next one goes a whole
   * new interval after that one (the throttled ones since took nothing from the quota).
   */
  private jumpTo(accepted: number, throttledRate: number, lastAnsweredAt: number, now: number): void {
    this.currentRate = Math.max(this.minRate, accepted);
    this.ceilingRate = this.currentRate;
    this.climb = { limit: throttledRate * SAFE_SHARE, confirmedRate: this.currentRate, run: 0 };
    if (this.goodRate !== undefined) this.goodRate = Math.min(this.goodRate, this.currentRate);
    this.lastDecreaseAt = now;
    this.lastJumpAt = now;
    this.successesSinceDecrease = 0;
    this.decreasesInRow = 0;
    this.stats.decreases++;
    this.stats.jumps++;
    this.releasedAt = lastAnsweredAt;
    this.nextSlotAt = Math.max(this.nextSlotAt, lastAnsweredAt + 1000 / this.currentRate);
  }
}

/** The operations paced for a fleet, by KMS operation name. */
export interface ImportPaces {
  GetParametersForImport: AdaptivePace;
  ImportKeyMaterial: AdaptivePace;
}

/** Current published KMS quotas (requests per second per account and Region); adjustable per account. */
export const PUBLISHED_PARAMETERS_RATE = 1;
export const PUBLISHED_IMPORT_RATE = 15;
const PUBLISHED_DESCRIBE_KEY_RATE = 2000;
const PUBLISHED_LIST_KEY_ROTATIONS_RATE = 100;

/**
 * The paces of a sweep's KMS reads, at the published quotas: DescribeKey (2000/s) and
 * ListKeyRotations (100/s, the one a large sweep meets first). Throttling slows the sweep down
 * instead of leaving keys unswept.
 */
export function sweepPaces(timing: Pick<PaceOptions, 'now' | 'sleep'> = {}): Record<'DescribeKey' | 'ListKeyRotations', AdaptivePace> {
  return {
    DescribeKey: new AdaptivePace({ rate: PUBLISHED_DESCRIBE_KEY_RATE, ...timing }),
    ListKeyRotations: new AdaptivePace({ rate: PUBLISHED_LIST_KEY_ROTATIONS_RATE, ...timing }),
  };
}

/** The paces of a fleet run from the configuration (KMS_REIMPORT_PARAMETERS_RATE, KMS_REIMPORT_IMPORT_RATE). */
export function importPaces(
  config: { parametersRate?: number; importRate?: number },
  timing: Pick<PaceOptions, 'now' | 'sleep'> = {},
): ImportPaces {
  return {
    GetParametersForImport: new AdaptivePace({ rate: config.parametersRate ?? PUBLISHED_PARAMETERS_RATE, ...timing }),
    ImportKeyMaterial: new AdaptivePace({ rate: config.importRate ?? PUBLISHED_IMPORT_RATE, ...timing }),
  };
}

const MIDDLEWARE_NAME = 'kmsReimportPace';
let attachments = 0;
/** A throttled attempt is sent again in a later slot at most this many times before lib/retry sees it. */
const DEFAULT_THROTTLE_RETRIES = 8;

/**
 * Sends one request in its slot of `pace`, and again in a later slot when it is throttled (at most
 * `throttleRetries` times; then the throttling error is thrown), telling the pace how each went.
 * Any other error is thrown at once.
 */
export async function sendPaced<T>(pace: AdaptivePace, send: () => Promise<T>, throttleRetries = DEFAULT_THROTTLE_RETRIES): Promise<T> {
  for (let retry = 0; ; retry++) {
    const ticket = await pace.acquire();
    try {
      const out = await send();
      pace.succeeded(ticket);
      return out;
    } catch (e) {
      if (!isThrottlingError(e)) throw e;
      pace.throttled(ticket);
      if (retry >= throttleRetries) throw e;
    }
  }
}

/** An SDK v3 client (KMS, Secrets Manager, ...): what paceCalls needs of it. */
type PacedClient = Pick<KMSClient, 'middlewareStack'>;

/**
 * Paces a client's calls of the operations named in `paces` (every HTTP attempt, by operation name)
 * until the returned function is called. The client is shared: every run that uses it, at once,
 * draws from the same paces. Attaching twice stacks two paces; each detach removes its own.
 */
export function paceCalls(client: PacedClient, paces: Partial<Record<string, AdaptivePace>>, throttleRetries = DEFAULT_THROTTLE_RETRIES): () => void {
  const pacing: FinalizeRequestMiddleware<object, MetadataBearer> = (next, context) => async (args) => {
    const operation = context.commandName?.replace(/Command$/, '');
    const pace = operation !== undefined ? paces[operation] : undefined;
    return pace ? sendPaced(pace, () => next(args), throttleRetries) : next(args);
  };
  const name = `${MIDDLEWARE_NAME}-${++attachments}`;
  client.middlewareStack.addRelativeTo(pacing, { name, relation: 'after', toMiddleware: 'retryMiddleware' });
  return () => {
    client.middlewareStack.remove(name);
  };
}
