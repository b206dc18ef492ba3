/**
 * The endpoint's clock: real time plus an offset that tests move. Every AWS time rule the
 * emulated services apply (import token validity, material ValidTo, secret recovery windows)
 * reads this clock, so a test can jump 24 hours without waiting. The offset is part of the
 * persisted state, so a rehearsal that moved time keeps its time across a restart.
 *
 * Request quotas do NOT use this clock: they run on real monotonic time (see controls.ts).
 */
import type { Clock } from './service.js';

export interface EndpointClock extends Clock {
  /** Milliseconds since the epoch, as the emulated services see it. */
  now(): number;
  /** Moves the clock forward (or back, when negative) by this many seconds; returns the new now(). */
  advance(seconds: number): number;
  /** Sets the clock to this instant (ms since the epoch); it keeps running from there. */
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
      offset += Math.round(seconds * 1000);
      clock.onChange?.();
      return clock.now();
    },
    set(epochMs: number): void {
      if (typeof epochMs !== 'number' || !Number.isFinite(epochMs)) {
        throw new RangeError(`Clock set needs epoch milliseconds as a finite number, got ${String(epochMs)}`);
      }
      offset = epochMs - realNow();
      clock.onChange?.();
    },
    offsetMs: () => offset,
    setOffsetMs(offsetMs: number): void {
      if (!Number.isFinite(offsetMs)) throw new RangeError(`Clock offset must be finite, got ${String(offsetMs)}`);
      offset = offsetMs;
    },
  };
  if (startTime !== undefined) clock.set(startTime);
  return clock;
}
