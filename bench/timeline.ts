/**
 * What a run's calls looked like in time: every SDK call through the watched clients is recorded
 * (operation, start, end), and the calls are grouped into the round trips they made one after
 * another: a call that started before every call of the current group had ended ran beside them.
 * `DescribeKey ∥ ListResourceTags → GetParametersForImport ∥ GetSecretValue → ...`
 */
export interface TimedCall {
  operation: string;
  start: number;
  end: number;
}

export interface CallRecorder {
  /** Starts recording (clears what was recorded before). */
  start(): void;
  /** Stops and returns the calls, in start order. */
  stop(): TimedCall[];
}

const MIDDLEWARE_NAME = 'kmsReimportBenchTimeline';

type Next = (args: unknown) => Promise<unknown>;
type Middleware = (next: Next, context: { commandName?: string }) => Next;
/** What this needs of an SDK v3 client's middleware stack (KMSClient, SecretsManagerClient, ...). */
interface Stack {
  add(middleware: Middleware, options: { step: 'initialize'; name: string }): void;
  remove(name: string): boolean;
}

/** Adds a recording middleware to each client (once per client). */
export function watchCalls(clients: ReadonlyArray<{ middlewareStack: object }>): CallRecorder {
  let calls: TimedCall[] | undefined;
  for (const client of clients) {
    const stack = client.middlewareStack as Stack;
    stack.remove(MIDDLEWARE_NAME);
    stack.add(
      (next, context) => async (args: unknown) => {
        const start = performance.now();
        try {
          return await next(args);
        } finally {
          calls?.push({ operation: String(context.commandName ?? '?').replace(/Command$/, ''), start, end: performance.now() });
        }
      },
      { step: 'initialize', name: MIDDLEWARE_NAME },
    );
  }
  return {
    start: () => void (calls = []),
    stop: () => {
      const out = (calls ?? []).sort((a, b) => a.start - b.start);
      calls = undefined;
      return out;
    },
  };
}

/** The calls grouped into dependent round trips: each group's calls overlapped in time. */
export function roundTrips(calls: readonly TimedCall[]): TimedCall[][] {
  const groups: TimedCall[][] = [];
  let current: TimedCall[] = [];
  let firstEnd = Number.POSITIVE_INFINITY;
  for (const call of calls) {
    if (current.length > 0 && call.start >= firstEnd) {
      groups.push(current);
      current = [];
      firstEnd = Number.POSITIVE_INFINITY;
    }
    current.push(call);
    firstEnd = Math.min(firstEnd, call.end);
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

export function describeRoundTrips(groups: readonly TimedCall[][]): string {
  return groups.map((g) => g.map((c) => c.operation).join(' ∥ ')).join(' → ');
}
