/**
 * The worker side of startLocalEndpointInWorker (local/worker.ts): starts the endpoint in this
 * worker thread, then answers the host's control calls. Synchronous calls (controls, clock) come
 * on `sync`: the answer is posted back and `signal[0]` bumped with Atomics.notify, which wakes
 * the host's Atomics.wait. Asynchronous ones (save, close, IAM principals) come on parentPort.
 * The clock's offset is mirrored into `clockOffset` at every change, so the host reads now()
 * without a call.
 *
 * Each synchronous call carries the host's sequence number and its answer carries it back: after
 * a call timed out on the host, the worker's late answer is dropped there instead of being taken
 * for the next call's. `signal[0]` counts answers (Atomics.add), so the host wakes at every one
 * and checks its number. An answer that cannot be structured-cloned (a function, a promise)
 * is sent back as an error naming the call, so the thread lives on and the host learns why.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { startLocalEndpoint, type LocalEndpoint, type LocalEndpointOptions } from './index.js';

export interface WorkerInput {
  options: LocalEndpointOptions;
  sync: MessagePort;
  signal: Int32Array;
  clockOffset: Float64Array;
}

export type SyncCall = { seq: number; target: 'controls' | 'clock'; method: string; args: unknown[] };
export type AsyncCall = { id: number; method: 'save' | 'close' | 'setPrincipals'; args: unknown[] };
export type Answer = { id?: number; ok: true; value: unknown } | { id?: number; ok: false; name: string; message: string };
/** The answer to a synchronous call, with the call's sequence number. */
export type SyncAnswer = Answer & { seq: number };

function failure(error: unknown, id?: number): Answer {
  const e = error instanceof Error ? error : new Error(String(error));
  return { ...(id !== undefined ? { id } : {}), ok: false, name: e.name, message: e.message };
}

/**
 * Posts an answer, tagged with its call's id (asynchronous) or sequence number (synchronous). One
 * whose value cannot be structured-cloned goes back as an error under the clone's own name
 * (DataCloneError) saying which call's value could not be sent, instead of throwing here.
 */
function send(port: Pick<MessagePort, 'postMessage'>, tag: { id: number } | { seq: number }, outcome: Answer, call: string): void {
  try {
    port.postMessage({ ...outcome, ...tag });
  } catch (error) {
    const { name, message } = failure(error) as Extract<Answer, { ok: false }>;
    port.postMessage({
      ...tag,
      ok: false,
      name,
      message: `The local endpoint's ${call} ran, but its value cannot be sent from the worker thread (${message}); call one that returns plain data. The endpoint still answers`,
    } satisfies Answer);
  }
}

/** What synchronous calls may reach: the endpoint's controls and clock (tests give their own). */
export type SyncTargets = Record<SyncCall['target'], object>;

/**
 * Answers the host's synchronous calls arriving on `port` from `targets`, each answer tagged with
 * its call's sequence number, then counts it in `signal[0]` and wakes the host. `afterCall` runs
 * after each call that did not throw.
 */
export function answerSyncCalls(port: MessagePort, signal: Int32Array, targets: SyncTargets, afterCall?: (call: SyncCall) => void): void {
  port.on('message', (call: SyncCall) => {
    const name = `${call.target}.${call.method}`;
    let answer: Answer;
    try {
      const target = targets[call.target] as Record<string, (...a: unknown[]) => unknown>;
      const method = target[call.method];
      if (typeof method !== 'function') throw new TypeError(`The endpoint's ${call.target} has no ${call.method}`);
      answer = { ok: true, value: method.apply(target, call.args) };
      afterCall?.(call);
    } catch (error) {
      answer = failure(error);
    }
    send(port, { seq: call.seq }, answer, name);
    Atomics.add(signal, 0, 1);
    Atomics.notify(signal, 0);
  });
}

async function serve(input: WorkerInput, parent: MessagePort | NonNullable<typeof parentPort>): Promise<void> {
  let endpoint: LocalEndpoint;
  try {
    endpoint = await startLocalEndpoint(input.options);
  } catch (error) {
    parent.postMessage({ started: false, ...failure(error) });
    return;
  }
  const { clock, controls } = endpoint;
  const mirrorOffset = () => void (input.clockOffset[0] = clock.offsetMs());
  const before = clock.onChange;
  clock.onChange = () => {
    before?.();
    mirrorOffset();
  };
  mirrorOffset();

  answerSyncCalls(input.sync, input.signal, { controls, clock }, (call) => {
    if (call.target === 'clock') mirrorOffset();
  });

  parent.on('message', (call: AsyncCall) => {
    const run = async (): Promise<unknown> => {
      if (call.method === 'save') return endpoint.save();
      if (call.method === 'close') {
        await endpoint.close();
        input.sync.close();
        return undefined;
      }
      if (!endpoint.iam) throw new Error('The endpoint was started without iam: there are no principals to set');
      return endpoint.iam.setPrincipals(call.args[0] as Parameters<NonNullable<LocalEndpoint['iam']>['setPrincipals']>[0]);
    };
    run().then(
      (value) => send(parent, { id: call.id }, { ok: true, value }, call.method),
      (error: unknown) => parent.postMessage(failure(error, call.id)),
    );
  });
  parent.postMessage({ started: true, url: endpoint.url, port: endpoint.port, iam: endpoint.iam !== undefined });
}

if (parentPort && workerData) await serve(workerData as WorkerInput, parentPort);
