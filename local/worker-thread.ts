/**
 * The worker side of startLocalEndpointInWorker (local/worker.ts): starts the endpoint in this
 * worker thread, then answers the host's control calls. Synchronous calls (controls, clock) come
 * on `sync`: the answer is posted back and `signal[0]` set to 1 with Atomics.notify, which wakes
 * the host's Atomics.wait. Asynchronous ones (save, close, IAM principals) come on parentPort.
 * The clock's offset is mirrored into `clockOffset` at every change, so the host reads now()
 * without a call.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { startLocalEndpoint, type LocalEndpoint, type LocalEndpointOptions } from './index.js';

export interface WorkerInput {
  options: LocalEndpointOptions;
  sync: MessagePort;
  signal: Int32Array;
  clockOffset: Float64Array;
}

export type SyncCall = { target: 'controls' | 'clock'; method: string; args: unknown[] };
export type AsyncCall = { id: number; method: 'save' | 'close' | 'setPrincipals'; args: unknown[] };
export type Answer = { id?: number; ok: true; value: unknown } | { id?: number; ok: false; name: string; message: string };

function failure(error: unknown, id?: number): Answer {
  const e = error instanceof Error ? error : new Error(String(error));
  return { ...(id !== undefined ? { id } : {}), ok: false, name: e.name, message: e.message };
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

  input.sync.on('message', (call: SyncCall) => {
    let answer: Answer;
    try {
      const target = (call.target === 'clock' ? clock : controls) as unknown as Record<string, (...a: unknown[]) => unknown>;
      const method = target[call.method];
      if (typeof method !== 'function') throw new TypeError(`The endpoint's ${call.target} has no ${call.method}`);
      answer = { ok: true, value: method.apply(target, call.args) };
      if (call.target === 'clock') mirrorOffset();
    } catch (error) {
      answer = failure(error);
    }
    input.sync.postMessage(answer);
    Atomics.store(input.signal, 0, 1);
    Atomics.notify(input.signal, 0);
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
      (value) => parent.postMessage({ id: call.id, ok: true, value } satisfies Answer),
      (error: unknown) => parent.postMessage(failure(error, call.id)),
    );
  });
  parent.postMessage({ started: true, url: endpoint.url, port: endpoint.port, iam: endpoint.iam !== undefined });
}

if (parentPort && workerData) await serve(workerData as WorkerInput, parentPort);
