/**
 * Round trips, not time: a view of SDK clients whose `send` records when each call starts and ends
 * on one logical clock (a counter, never a timer), so a test can tell which calls waited for which.
 *
 * - `chain()`: the longest sequence of calls each started after the previous one ended, i.e. the
 *   number of round trips the run needed one after another. Calls that overlap count once.
 * - `overlapped(a, b)`: some call of operation `a` and some call of `b` were in flight at once.
 * - `maxInFlight`: the most calls in flight at one moment.
 *
 * It works with real clients over HTTP and with aws-sdk-client-mock alike (it wraps `send`, as
 * lib/aws/count-calls.ts does). Every attempt is a call.
 */
import { operationName } from '../../lib/aws/count-calls.js';

export interface TrackedCall {
  operation: string;
  /** Logical times: every start and every end moves the clock by one. */
  start: number;
  end?: number;
  failed?: boolean;
}

export interface RoundTrips {
  watch<C extends object>(client: C): C;
  readonly calls: TrackedCall[];
  readonly maxInFlight: number;
  /** The longest chain of calls each of which started after the one before it ended. */
  chain(): number;
  /** One longest chain, by operation (for assertion messages). */
  longestChain(): string[];
  overlapped(a: string, b: string): boolean;
  /** Operations in call order. */
  operations(): string[];
  reset(): void;
}

export function trackRoundTrips(): RoundTrips {
  let clock = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const calls: TrackedCall[] = [];

  const depths = (): Array<{ depth: number; previous?: TrackedCall }> => {
    const done = calls.filter((c) => c.end !== undefined);
    if (done.length !== calls.length) throw new Error('a call is still in flight: await the run before counting round trips');
    const byStart = [...calls].sort((a, b) => a.start - b.start);
    const result = new Map<TrackedCall, { depth: number; previous?: TrackedCall }>();
    for (const call of byStart) {
      let best: { depth: number; previous?: TrackedCall } = { depth: 1 };
      for (const before of byStart) {
        if (before === call || (before.end as number) >= call.start) continue;
        const d = result.get(before)!.depth + 1;
        if (d > best.depth) best = { depth: d, previous: before };
      }
      result.set(call, best);
    }
    return calls.map((c) => result.get(c)!);
  };

  return {
    watch<C extends object>(client: C): C {
      return new Proxy(client, {
        get(target, property) {
          if (property === 'send') {
            return async (command: unknown, ...rest: unknown[]) => {
              const call: TrackedCall = { operation: operationName(command), start: ++clock };
              calls.push(call);
              maxInFlight = Math.max(maxInFlight, ++inFlight);
              try {
                return await (target as unknown as { send: (...a: unknown[]) => Promise<unknown> }).send(command, ...rest);
              } catch (e) {
                call.failed = true;
                throw e;
              } finally {
                inFlight--;
                call.end = ++clock;
              }
            };
          }
          const value = Reflect.get(target, property, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
    get calls() {
      return calls;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    chain() {
      return calls.length === 0 ? 0 : Math.max(...depths().map((d) => d.depth));
    },
    longestChain() {
      if (calls.length === 0) return [];
      const all = depths();
      const byCall = new Map(calls.map((c, i) => [c, all[i]!]));
      let at: TrackedCall | undefined = calls[all.findIndex((d) => d.depth === Math.max(...all.map((x) => x.depth)))];
      const chain: string[] = [];
      while (at) {
        chain.unshift(at.operation);
        at = byCall.get(at)!.previous;
      }
      return chain;
    },
    overlapped(a, b) {
      return calls.some((x) => x.operation === a && calls.some((y) => y !== x && y.operation === b && x.start < (y.end ?? Infinity) && y.start < (x.end ?? Infinity)));
    },
    operations() {
      return calls.map((c) => c.operation);
    },
    reset() {
      calls.length = 0;
      clock = 0;
      inFlight = 0;
      maxInFlight = 0;
    },
  };
}

/**
 * For aws-sdk-client-mock, whose answers come within the same turn of the event loop: a view of
 * the client whose every answer waits one turn (setImmediate), as a network answer would, so calls
 * a run sends together are all in flight before any answers. Not a timer: order only.
 */
export function answerNextTurn<C extends object>(client: C): C {
  return new Proxy(client, {
    get(target, property) {
      if (property === 'send') {
        return async (command: unknown, ...rest: unknown[]) => {
          try {
            return await (target as unknown as { send: (...a: unknown[]) => Promise<unknown> }).send(command, ...rest);
          } finally {
            await new Promise((resolve) => setImmediate(resolve));
          }
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
