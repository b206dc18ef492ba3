/**
 * Each Lambda function in its own runtime, as AWS runs them: one worker thread per function, with
 * its own environment (its own AWS_ACCESS_KEY_ID, which the local endpoint maps to that function's
 * role), its own module instance (cold start once, warm afterwards) and its own SDK clients.
 * The main thread invokes it with an event and gets back the handler's output, or its error with
 * `name` and `message` kept (the state machine routes on error names).
 *
 * Everything a function writes (stdout and stderr: Powertools logs, EMF metrics) is handed to
 * `onOutput`, so a test can keep every log line and search it.
 *
 * TypeScript in workers: on Node 20 a worker does not run the parent's `--import tsx` preload
 * (checked: importing a .ts module from an eval worker with execArgv ['--import', 'tsx'] fails
 * with ERR_UNKNOWN_FILE_EXTENSION), so the worker registers tsx itself (tsx/esm/api) before
 * loading the handler.
 */
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

export interface LambdaWorkerOptions {
  /** Absolute path of the handler module (functions/<name>.ts); it exports `handler`. */
  modulePath: string;
  /** Name the Lambda context carries (`kms-reimport-e2e-inspect`). */
  functionName: string;
  /** The function's whole environment (the worker sees nothing else of process.env). */
  env: Record<string, string>;
  /** ARN the Lambda context carries (default: in account 000000000000). */
  functionArn?: string;
  /** Receives every chunk the function writes on stdout or stderr. */
  onOutput?: (text: string, stream: 'stdout' | 'stderr') => void;
}

export interface LambdaWorker {
  invoke(event: unknown, remainingMs?: number): Promise<unknown>;
  terminate(): Promise<void>;
}

const END_MARK = '\u0000lambda-worker:end:';

/** Runs in the worker (CommonJS eval code): registers tsx, loads the handler, answers invocations. */
const WORKER_CODE = `
const { parentPort, workerData } = require('node:worker_threads');
const { randomUUID } = require('node:crypto');
const loaded = import('tsx/esm/api').then((api) => { api.register(); return import(workerData.moduleUrl); });
parentPort.on('message', async ({ id, event, remainingMs }) => {
  try {
    const { handler } = await loaded;
    const context = {
      functionName: workerData.functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: workerData.functionArn,
      memoryLimitInMB: '512',
      awsRequestId: randomUUID(),
      logGroupName: '/aws/lambda/' + workerData.functionName,
      logStreamName: 'worker',
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => remainingMs,
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    };
    const output = await handler(event, context);
    await ended(id);
    parentPort.postMessage({ id, output });
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    await ended(id);
    parentPort.postMessage({ id, error: { name: e.name, message: e.message } });
  }
});
// A marker after the invocation's output, on the same stream: the main thread answers an
// invocation only once it has every line the invocation wrote (the answer comes by another channel).
function ended(id) {
  return new Promise((resolve) => process.stdout.write(${JSON.stringify(END_MARK)} + id + '\\n', () => resolve()));
}
`;

export function startLambdaWorker(options: LambdaWorkerOptions): LambdaWorker {
  const worker = new Worker(WORKER_CODE, {
    eval: true,
    env: options.env,
    stdout: true,
    stderr: true,
    workerData: {
      moduleUrl: pathToFileURL(options.modulePath).href,
      functionName: options.functionName,
      functionArn: options.functionArn ?? `arn:aws:lambda:${options.env.AWS_REGION ?? 'us-east-1'}:000000000000:function:${options.functionName}`,
    },
  });
  let next = 0;
  type Answer = { id: number; output?: unknown; error?: { name: string; message: string } };
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; answer?: Answer; flushed?: boolean }>();
  const settle = (id: number): void => {
    const waiter = pending.get(id);
    if (!waiter?.answer || !waiter.flushed) return;
    pending.delete(id);
    const { error, output } = waiter.answer;
    if (error) waiter.reject(Object.assign(new Error(error.message), { name: error.name }));
    else waiter.resolve(output);
  };

  let partial = '';
  worker.stdout.setEncoding('utf8').on('data', (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.startsWith(END_MARK)) {
        const id = Number(line.slice(END_MARK.length));
        const waiter = pending.get(id);
        if (waiter) waiter.flushed = true;
        settle(id);
      } else {
        options.onOutput?.(`${line}\n`, 'stdout');
      }
    }
  });
  worker.stdout.on('end', () => {
    if (partial) options.onOutput?.(partial, 'stdout');
  });
  worker.stderr.setEncoding('utf8').on('data', (text: string) => options.onOutput?.(text, 'stderr'));

  worker.on('message', (message: Answer) => {
    const waiter = pending.get(message.id);
    if (!waiter) return;
    waiter.answer = message;
    settle(message.id);
  });
  const failAll = (err: Error) => {
    for (const waiter of pending.values()) waiter.reject(err);
    pending.clear();
  };
  worker.on('error', (err) => failAll(err));
  worker.on('exit', (code) => failAll(new Error(`the ${options.functionName} runtime exited (code ${code})`)));

  return {
    invoke(event, remainingMs = 60_000) {
      const id = next++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, event, remainingMs });
      });
    },
    async terminate() {
      await worker.terminate();
    },
  };
}
