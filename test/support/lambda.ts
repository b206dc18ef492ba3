/** What handler tests need of Lambda: a context, and the log lines Powertools prints meanwhile. */
import type { Context } from 'aws-lambda';

export function lambdaContext(functionName: string, remainingMs = 60_000): Context {
  return {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:111122223333:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: `req-${functionName}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 's',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => remainingMs,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  } as unknown as Context;
}

export interface CapturedRun<T> {
  result: T;
  error?: Error;
  logs: Array<Record<string, unknown>>;
  raw: string;
}

/**
 * Runs fn and collects what the Powertools logger and metrics print meanwhile. They print through
 * the global console in POWERTOOLS_DEV mode (the tests set it before loading a handler), so the
 * test runner's own output on stdout is never swallowed. An unexpected error shows up in `error`;
 * `result` is then undefined and the test's checks fail.
 */
export async function captureLogs<T>(fn: () => Promise<T>): Promise<CapturedRun<T>> {
  const raw: string[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const methods = ['log', 'info', 'warn', 'error', 'debug'] as const;
  const saved = methods.map((m) => console[m]);
  for (const m of methods) {
    console[m] = (...args: unknown[]) => {
      const text = args.map(String).join(' ');
      raw.push(text);
      try {
        const parsed: unknown = JSON.parse(text);
        if (typeof parsed === 'object' && parsed !== null) logs.push(parsed as Record<string, unknown>);
      } catch {
        // not a JSON log line
      }
    };
  }
  let result: T | undefined;
  let error: Error | undefined;
  try {
    result = await fn();
  } catch (e) {
    error = e as Error;
  } finally {
    methods.forEach((m, i) => (console[m] = saved[i] as (typeof console)[typeof m]));
  }
  return { result: result as T, ...(error ? { error } : {}), logs, raw: raw.join('\n') };
}
