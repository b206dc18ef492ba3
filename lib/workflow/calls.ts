/**
 * Counts AWS calls per operation, with one SDK middleware added once per client (at cold start).
 * A Lambda container runs one invocation at a time, so a step takes the counts after its work.
 * (aws-sdk-client-mock replaces `send`, so mocked clients count nothing: tests of the counts
 * use real clients against the local endpoint.)
 */
interface MiddlewareClient {
  middlewareStack: {
    add(
      middleware: (next: (args: any) => Promise<any>, context: { commandName?: string }) => (args: any) => Promise<any>,
      options: { step: 'initialize'; name: string },
    ): void;
  };
}

export interface CallCounter {
  /** The counts since the last take(), then zero. */
  take(): Record<string, number>;
}

export function countCalls(...clients: MiddlewareClient[]): CallCounter {
  let counts: Record<string, number> = {};
  for (const client of clients) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const op = (context.commandName ?? 'Unknown').replace(/Command$/, '');
        counts[op] = (counts[op] ?? 0) + 1;
        return next(args);
      },
      { step: 'initialize', name: 'kmsReimportCallCounter' },
    );
  }
  return {
    take() {
      const out = counts;
      counts = {};
      return out;
    },
  };
}
