/**
 * The endpoint's clock: real time plus an offset that tests move. Every AWS time rule the
 * emulated services apply (import token validity, material ValidTo, secret recovery windows)
 * reads this clock, so a test can jump 24 hours without waiting. The offset is part of the
 * persisted state, so a rehearsal that moved time keeps its time across a restart.
 *
 * Request quotas do NOT use this clock: they run on real monotonic time (see controls.ts).
 */
import type { Clock } from './service.js';

/**
 * How far the endpoint clock may be from real time: 100 years either way (in ms). Far beyond any
 * rehearsal (token validity is 24 h, ValidTo at most 365 days) and well inside the range a Date
 * can hold, so every time the services compute and print stays a valid date.
 */
export const MAX_CLOCK_OFFSET_MS = 100 * 365 * 86_400_000;

/** Throws (changing nothing) unless `offsetMs` is a finite offset within MAX_CLOCK_OFFSET_MS. */
function checkOffset(offsetMs: number, what: string): number {
  if (!Number.isFinite(offsetMs) || Math.abs(offsetMs) > MAX_CLOCK_OFFSET_MS) {
    throw new RangeError(
      `${what} would put the endpoint clock ${Number.isFinite(offsetMs) ? `${Math.round(offsetMs / 86_400_000)} days` : 'infinitely far'} from real time; it stays within 100 years (${MAX_CLOCK_OFFSET_MS} ms) of real time. The clock was not changed`,
    );
  }
  return offsetMs;
}

export interface EndpointClock extends Clock {
  /** Milliseconds since the epoch, as the emulated services see it. */
  now(): number;
  /**
   * Moves the clock forward (or back, when negative) by this many seconds; returns the new now().
   * Throws RangeError, changing nothing, when the clock would leave MAX_CLOCK_OFFSET_MS of real time.
   */
  advance(seconds: number): number;
  /** Sets the clock to this instant (ms since the epoch, within MAX_CLOCK_OFFSET_MS of real time); it keeps running from there. */
  set(epochMs: number): void;
  /** Difference between the emulated clock and the real one, in ms. */
  offsetMs(): number;
  /** Restores an offset (from persisted state). */
  setOffsetMs(offsetMs: number): void;
  /** Called after every change, e.g. to persist the offset. */
  onChange?: () => void;
}

export function createClock(startTime?: number, realNow: () => number = Date.now): EndpointClock {
  let offset = 0;
  const clock: EndpointClock = {
    now: () => realNow() + offset,
    advance(seconds: number): number {
      if (typeof seconds !== 'number' || !Number.isFinite(seconds)) {
        throw new RangeError(`Clock advance needs a finite number of seconds, got ${String(seconds)}`);
      }
      offset = checkOffset(offset + Math.round(seconds * 1000), `Advancing the clock by ${seconds} s`);
      clock.onChange?.();
      return clock.now();
    },
    set(epochMs: number): void {
      if (typeof epochMs !== 'number' || !Number.isFinite(epochMs)) {
        throw new RangeError(`Clock set needs epoch milliseconds as a finite number, got ${String(epochMs)}`);
      }
      offset = checkOffset(epochMs - realNow(), `Setting the clock to ${epochMs} ms since the epoch`);
      clock.onChange?.();
    },
    offsetMs: () => offset,
    setOffsetMs(offsetMs: number): void {
      if (typeof offsetMs !== 'number') throw new RangeError(`Clock offset must be a number of ms, got ${String(offsetMs)}`);
      offset = checkOffset(offsetMs, `An offset of ${offsetMs} ms`);
    },
  };
  if (startTime !== undefined) clock.set(startTime);
  return clock;
}
