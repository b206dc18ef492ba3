/**
 * Counting AWS calls per operation across a Lambda's invocations: clients are wrapped once at cold
 * start (lib/aws/count-calls.ts, which also counts under aws-sdk-client-mock), and each step takes
 * the counts made during its own work. A Lambda container runs one invocation at a time.
 */
import { countCalls } from '../aws/count-calls.js';

export interface CallCounter {
  /** The counts since the last take(), then zero. */
  take(): Record<string, number>;
  /** The client, counting into this counter. */
  wrap<C extends object>(client: C): C;
}

export function createCallCounter(): CallCounter {
  const counts: Record<string, number> = {};
  return {
    take() {
      const out = { ...counts };
      for (const op of Object.keys(counts)) delete counts[op];
      return out;
    },
    wrap(client) {
      return countCalls(client, counts);
    },
  };
}
