/**
 * The local endpoint in a worker thread: its own event loop, its own heap and garbage collector,
 * and so (on a machine with two cores or more) its own core. A client in this process then pays
 * for its own work only (the SDK, the engine), as it would against a real KMS, whose request
 * parsing, cryptography and bookkeeping happen on AWS's machines. The benchmarks use it; every
 * emulated behaviour is the same code as startLocalEndpoint's (the worker runs exactly that).
 *
 *   const endpoint = await startLocalEndpointInWorker({ kms: { wrappingKeyPoolSize: 4 } });
 *   endpoint.controls.setLatency('*', 25);         // synchronous, as in process
 *   endpoint.controls.getCounters();               // calls the endpoint answered
 *   endpoint.clock.advance(24 * 3600);
 *   await endpoint.close();                        // stops the endpoint, then the thread
 *
 * `controls` and `clock` keep their synchronous signatures: each call blocks this thread
 * (Atomics.wait) until the worker has answered, which it does between requests; errors come back
 * as the same classes (RangeError, TypeError, Error) with the same messages. A call the worker
 * does not answer in time throws WorkerNotAnswering; its late answer is dropped, never taken for a
 * later call's (each call has a sequence number). `clock.now()` reads
 * the offset the worker mirrors into shared memory at every change, without a call. `services`
 * (in-process inspection of the emulated state) is not available across the thread: reading it
 * throws; use the AWS APIs or the control API over HTTP instead. Options must be cloneable:
 * `onPersistError` (a function) is refused; a failed state-file write is reported on stderr.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { EndpointClock, EndpointControls, LocalEndpoint, LocalEndpointOptions } from './index.js';
import type { Answer, AsyncCall, SyncAnswer, SyncCall, WorkerInput } from './worker-thread.js';

/** How long a control call may wait for the worker before it fails (the worker answers between requests). */
export const WORKER_CALL_TIMEOUT_MS = 30_000;

export type WorkerEndpointOptions = Omit<LocalEndpointOptions, 'onPersistError'>;

/** A synchronous call the worker thread did not answer in time (it is busy, or stuck); its answer, if it comes, is dropped. */
export class WorkerNotAnswering extends Error {
  override name = 'WorkerNotAnswering';
}

const ERROR_CLASSES: Record<string, new (message: string) => Error> = { RangeError, TypeError };

function rethrown(answer: Extract<Answer, { ok: false }>): Error {
  const Class = ERROR_CLASSES[answer.name] ?? Error;
  const error = new Class(answer.message);
  if (!(answer.name in ERROR_CLASSES) && answer.name !== 'Error') error.name = answer.name;
  return error;
}

/** The worker's entry: the .ts source under tsx (registered in the worker first), the compiled .js otherwise. */
function workerSource(): string {
  const self = fileURLToPath(import.meta.url);
  const entry = new URL(`./worker-thread${extname(self)}`, import.meta.url).href;
  if (extname(self) !== '.ts') return `import(${JSON.stringify(entry)});`;
  const tsx = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
}

/**
 * The host's half of the synchronous calls: posts each call on `port` with the next sequence
 * number, then blocks (Atomics.wait on `signal[0]`, which the worker bumps at every answer) until
 * the answer with that number comes, for at most `timeoutMs` (or the call's own). Answers with
 * another number are late answers to calls that timed out: they are dropped. The worker's half is
 * answerSyncCalls.
 */
export function syncCaller(
  port: MessagePort,
  signal: Int32Array,
  defaultTimeoutMs: number,
): (target: SyncCall['target'], method: string, args: unknown[], timeoutMs?: number) => unknown {
  let lastSeq = 0;
  return (target, method, args, timeoutMs = defaultTimeoutMs) => {
    const seq = ++lastSeq;
    const deadline = performance.now() + timeoutMs;
    port.postMessage({ seq, target, method, args } satisfies SyncCall);
    for (;;) {
      const answered = Atomics.load(signal, 0);
      for (let received = receiveMessageOnPort(port); received; received = receiveMessageOnPort(port)) {
        const answer = received.message as SyncAnswer;
        if (answer.seq !== seq) continue;
        if (!answer.ok) throw rethrown(answer);
        return answer.value;
      }
      const left = deadline - performance.now();
      if (left <= 0 || Atomics.wait(signal, 0, answered, left) === 'timed-out') {
        throw new WorkerNotAnswering(
          `The local endpoint's worker thread did not answer ${target}.${method} within ${timeoutMs} ms (busy or stuck); the call may still take effect, its answer will be dropped. Retry, or start a new endpoint`,
        );
      }
    }
  };
}

/** An endpoint in a worker thread: a LocalEndpoint, and how busy its thread's event loop has been. */
export interface WorkerEndpoint extends LocalEndpoint {
  /** The worker's event-loop utilization (performance.eventLoopUtilization, read from this thread): the endpoint's own busy time. */
  eventLoopUtilization(since?: EventLoopUtilization): EventLoopUtilization;
}

export async function startLocalEndpointInWorker(options: WorkerEndpointOptions = {}): Promise<WorkerEndpoint> {
  if ('onPersistError' in options) throw new TypeError('startLocalEndpointInWorker: onPersistError (a function) cannot cross to the worker thread; use startLocalEndpoint for it');
  const { port1: sync, port2: workerSync } = new MessageChannel();
  const signal = new Int32Array(new SharedArrayBuffer(4));
  const clockOffset = new Float64Array(new SharedArrayBuffer(8));
  const input: WorkerInput = { options, sync: workerSync, signal, clockOffset };
  const worker = new Worker(workerSource(), { eval: true, workerData: input, transferList: [workerSync] });

  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let exited: Error | undefined;
  const started = new Promise<{ url: string; port: number; iam: boolean }>((resolve, reject) => {
    worker.on('message', (message: Answer & { started?: boolean; url?: string; port?: number; iam?: boolean }) => {
      if (message.started === true) return resolve({ url: message.url!, port: message.port!, iam: message.iam === true });
      if (message.started === false) return reject(rethrown(message as Extract<Answer, { ok: false }>));
      const waiting = message.id === undefined ? undefined : pending.get(message.id);
      if (!waiting) return;
      pending.delete(message.id!);
      if (message.ok) waiting.resolve(message.value);
      else waiting.reject(rethrown(message));
    });
    worker.on('error', (error) => {
      exited = error;
      reject(error);
      for (const waiting of pending.values()) waiting.reject(error);
      pending.clear();
    });
    worker.on('exit', (code) => {
      exited ??= new Error(`The local endpoint's worker thread exited (code ${code})`);
      reject(exited);
      for (const waiting of pending.values()) waiting.reject(exited);
      pending.clear();
    });
  });
  let info: { url: string; port: number; iam: boolean };
  try {
    info = await started;
  } catch (error) {
    sync.close();
    await worker.terminate();
    throw error;
  }

  const call = syncCaller(sync, signal, WORKER_CALL_TIMEOUT_MS);
  const callSync = (target: SyncCall['target'], method: string, args: unknown[]): unknown => {
    if (exited) throw new Error(`The local endpoint's worker thread is gone (${exited.message}): start a new endpoint`);
    return call(target, method, args);
  };
  const callAsync = (method: AsyncCall['method'], args: unknown[] = []): Promise<unknown> => {
    if (exited) return Promise.reject(new Error(`The local endpoint's worker thread is gone (${exited.message}): start a new endpoint`));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, method, args } satisfies AsyncCall);
    });
  };

  const controls = new Proxy({} as EndpointControls, {
    get: (_target, method) => (typeof method === 'string' ? (...args: unknown[]) => callSync('controls', method, args) : undefined),
  });
  const clock: EndpointClock = {
    now: () => Date.now() + clockOffset[0]!,
    advance: (seconds) => callSync('clock', 'advance', [seconds]) as number,
    set: (epochMs) => void callSync('clock', 'set', [epochMs]),
    offsetMs: () => clockOffset[0]!,
    setOffsetMs: (offsetMs) => void callSync('clock', 'setOffsetMs', [offsetMs]),
  };

  let closed: Promise<void> | undefined;
  return {
    url: info.url,
    port: info.port,
    clock,
    controls,
    eventLoopUtilization: (since) => worker.performance.eventLoopUtilization(since),
    get services(): never {
      throw new Error("The local endpoint runs in a worker thread: its services cannot be inspected from here. Use the AWS APIs or the control API (GET /_local) instead, or startLocalEndpoint for in-process inspection");
    },
    ...(info.iam ? { iam: { setPrincipals: async (principals) => void (await callAsync('setPrincipals', [principals])) } } : {}),
    save: async () => void (await callAsync('save')),
    close() {
      closed ??= (async () => {
        try {
          if (!exited) await callAsync('close');
        } finally {
          sync.close();
          await worker.terminate();
        }
      })();
      return closed;
    },
  };
}
