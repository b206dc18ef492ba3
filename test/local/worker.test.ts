// The endpoint in its own worker thread (local/worker.ts, what the recovery bench runs against):
// the same emulation over HTTP, its controls and clock synchronous from this thread and the same
// state as its HTTP control API, errors crossing as the same classes, a clean close; and a whole
// recovery through the harness (test/support/local-aws.ts startLocalAwsInWorker). The synchronous
// call protocol (syncCaller, answerSyncCalls) is also driven directly, with controls of the test's
// own in a worker thread, to hold an answer past a call's timeout.
import { once } from 'node:events';
import { MessageChannel, Worker } from 'node:worker_threads';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CreateKeyCommand, DeleteImportedKeyMaterialCommand, DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { startLocalEndpoint, type LocalEndpoint } from '../../local/index.js';
import { startLocalEndpointInWorker, syncCaller, WorkerNotAnswering, type WorkerEndpoint } from '../../local/worker.js';
import { onboardKey, startLocalAwsInWorker, type LocalAws } from '../support/local-aws.js';
import { preparePendingKeys, startRecoveryEndpoint, timeOne } from '../../bench/recovery.js';
import { recoverKey } from '../../lib/recover.js';

async function control(url: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${url}${path}`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } } : {}),
  });
  assert.equal(res.status, 200, `${method} ${path} answered ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}

describe('startLocalEndpointInWorker', () => {
  let endpoint: LocalEndpoint;
  let kms: KMSClient;
  before(async () => {
    endpoint = await startLocalEndpointInWorker({ startTime: Date.UTC(2031, 4, 6, 12), latencyMs: { 'kms:ListKeys': 7 } });
    kms = new KMSClient({ endpoint: endpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' }, maxAttempts: 1 });
  });
  after(async () => {
    kms.destroy();
    await endpoint.close();
  });

  it('serves KMS on 127.0.0.1 and counts the calls it answered, read synchronously from this thread', async () => {
    assert.match(endpoint.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    endpoint.controls.resetCounters();
    const created = await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }));
    const described = await kms.send(new DescribeKeyCommand({ KeyId: created.KeyMetadata!.KeyId! }));
    assert.equal(described.KeyMetadata?.KeyState, 'PendingImport');
    const counters = endpoint.controls.getCounters();
    // The worker's own loop did the serving: its active time grew, read from this thread.
    assert.ok((endpoint as WorkerEndpoint).eventLoopUtilization().active > 0);
    assert.equal(counters['kms:CreateKey']?.calls, 1);
    assert.equal(counters['kms:DescribeKey']?.calls, 1);
    // The HTTP control API reads the same counters.
    const overHttp = (await control(endpoint.url, 'GET', '/_local/counters')).counters as Record<string, { calls: number }>;
    assert.equal(overHttp['kms:DescribeKey']?.calls, 1);
  });

  it('applies latency set from this thread to the server (its HTTP API shows the same rules), and options given at start', async () => {
    assert.deepEqual(endpoint.controls.getLatency(), { 'kms:ListKeys': 7 });
    endpoint.controls.setLatency('*', 25);
    assert.deepEqual((await control(endpoint.url, 'GET', '/_local/latency')).latency, { 'kms:ListKeys': 7, '*': 25 });
    endpoint.controls.setLatency('*', 0);
    await control(endpoint.url, 'POST', '/_local/latency', { operation: 'kms:Encrypt', ms: 3 });
    assert.deepEqual(endpoint.controls.getLatency(), { 'kms:ListKeys': 7, 'kms:Encrypt': 3 });
  });

  it('throws the in-process error class and message when a control is refused, and changes nothing', async () => {
    const inProcess = await startLocalEndpoint();
    try {
      const expected = (() => {
        try {
          inProcess.controls.setLatency('*', -1);
        } catch (e) {
          return e as Error;
        }
        throw new Error('the in-process endpoint accepted a negative latency');
      })();
      assert.throws(() => endpoint.controls.setLatency('*', -1), (e: Error) => e instanceof RangeError && e.message === expected.message);
      assert.equal(endpoint.controls.getLatency()['*'], undefined);
    } finally {
      await inProcess.close();
    }
  });

  it('keeps one clock: moved from this thread or over HTTP, now() here and the server agree', async () => {
    const start = endpoint.clock.now();
    assert.ok(Math.abs(start - Date.UTC(2031, 4, 6, 12)) < 60_000, `clock starts at startTime, got ${new Date(start).toISOString()}`);
    const advanced = endpoint.clock.advance(3600);
    assert.ok(advanced - start >= 3_600_000);
    assert.ok(Math.abs(endpoint.clock.offsetMs() - (advanced - Date.now())) < 1000);
    const served = (await control(endpoint.url, 'GET', '/_local/clock')) as { offsetMs: number };
    assert.equal(served.offsetMs, endpoint.clock.offsetMs());
    await control(endpoint.url, 'POST', '/_local/clock', { iso: '2032-01-01T00:00:00Z' });
    assert.ok(Math.abs(endpoint.clock.now() - Date.UTC(2032, 0, 1)) < 60_000, 'a move over HTTP is seen by now() here');
    assert.throws(() => endpoint.clock.advance(Number.NaN), RangeError);
  });

  it('says what to use instead of services, which cannot cross the thread', () => {
    assert.throws(() => endpoint.services, /worker thread.*control API/);
  });
});

describe('startLocalEndpointInWorker: start and close', () => {
  it('refuses options that cannot cross to the thread, and rejects a start that fails with its error', async () => {
    await assert.rejects(startLocalEndpointInWorker({ onPersistError: () => {} } as never), TypeError);
    await assert.rejects(startLocalEndpointInWorker({ port: 70000 }), (e: Error) => e instanceof RangeError && /Port must be an integer/.test(e.message));
  });

  it('closes: the port refuses connections, a second close is the same, controls then say the thread is gone', async () => {
    const endpoint = await startLocalEndpointInWorker();
    const health = await control(endpoint.url, 'GET', '/_local/health');
    assert.deepEqual(health, { ok: true });
    await endpoint.close();
    await endpoint.close();
    await assert.rejects(fetch(`${endpoint.url}/_local/health`));
    assert.throws(() => endpoint.controls.getCounters(), /worker thread is gone/);
  });
});

describe('startLocalEndpointInWorker: a control whose value cannot cross the thread', () => {
  it('throws the clone error naming the control, and the thread still answers the next call', async () => {
    const endpoint = await startLocalEndpointInWorker({ latencyMs: { 'kms:ListKeys': 7 } });
    try {
      // valueOf reaches the Controls object itself, which holds functions: it cannot be structured-cloned.
      assert.throws(
        () => endpoint.controls.valueOf(),
        (e: Error) => e.name === 'DataCloneError' && /controls\.valueOf ran, but its value cannot be sent from the worker thread/.test(e.message),
      );
      assert.deepEqual(endpoint.controls.getLatency(), { 'kms:ListKeys': 7 });
      assert.deepEqual(await control(endpoint.url, 'GET', '/_local/health'), { ok: true });
    } finally {
      await endpoint.close();
    }
  });
});

/** A worker thread answering synchronous calls from controls of the test's own: `waitForGate` answers only once `gate[0]` is set. */
const PROTOCOL_WORKER = `
const { parentPort } = require('node:worker_threads');
parentPort.once('message', async ({ port, signal, gate }) => {
  (await import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})).register();
  const { answerSyncCalls } = await import(${JSON.stringify(new URL('../../local/worker-thread.ts', import.meta.url).href)});
  answerSyncCalls(port, signal, {
    controls: {
      echo: (value) => value,
      waitForGate: () => { Atomics.wait(gate, 0, 0); return 'the late answer'; },
    },
    clock: {},
  });
  parentPort.postMessage('ready');
});`;

describe('the synchronous call protocol (syncCaller and answerSyncCalls)', () => {
  it("drops the late answer of a call that timed out: the next calls get their own answers", async () => {
    const worker = new Worker(PROTOCOL_WORKER, { eval: true });
    const { port1: host, port2: thread } = new MessageChannel();
    const signal = new Int32Array(new SharedArrayBuffer(4));
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const release = () => {
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
    };
    try {
      worker.postMessage({ port: thread, signal, gate }, [thread]);
      await once(worker, 'message');
      const call = syncCaller(host, signal, 10_000);
      assert.equal(call('controls', 'echo', ['first']), 'first');
      // The worker holds this answer until the gate opens, which happens only after the call gave up.
      assert.throws(
        () => call('controls', 'waitForGate', [], 50),
        (e: Error) => e instanceof WorkerNotAnswering && e.name === 'WorkerNotAnswering' && /did not answer controls\.waitForGate within 50 ms/.test(e.message),
      );
      const answersBefore = Atomics.load(signal, 0);
      release();
      // The late answer is posted (the worker counts it in signal[0]) before the next call is made.
      assert.notEqual(Atomics.wait(signal, 0, answersBefore, 10_000), 'timed-out');
      assert.equal(call('controls', 'echo', ['second']), 'second');
      assert.equal(call('controls', 'echo', ['third']), 'third');
      assert.throws(() => call('controls', 'missing', []), (e: Error) => e instanceof TypeError && /has no missing/.test(e.message));
    } finally {
      release();
      host.close();
      await worker.terminate();
    }
  });
});

describe('startLocalAwsInWorker: the harness over the worker endpoint', () => {
  let aws: LocalAws;
  before(async () => {
    aws = await startLocalAwsInWorker();
  });
  after(async () => {
    await aws.closeAfterLeakCheck();
  });

  it('recovers a managed key whose material was deleted, one import, with the endpoint clock', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT');
    await aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.keyId }));
    aws.endpoint.controls.resetCounters();
    const outcome = await aws.recover(key.keyId, 'recover');
    key.material.fill(0);
    assert.equal(outcome.status, 'recovered', outcome.reason);
    assert.equal(outcome.verified, true);
    assert.equal(aws.calls('ImportKeyMaterial'), 1);
    assert.equal(aws.calls('GetSecretValue'), 1);
    assert.ok(Math.abs(aws.now().getTime() - Date.now()) < 1000, 'no offset: the endpoint clock is real time');
  });
});

describe('the recovery bench over the worker endpoint (bench/recovery.ts)', () => {
  it('sets the latency of the thread that serves, counts the calls of one recovery, and resets the latency after', async () => {
    const aws = await startRecoveryEndpoint();
    try {
      const next = await preparePendingKeys(aws, 1);
      const key = await next();
      let latencyDuringRun: Record<string, number> = {};
      const { result, calls } = await timeOne(aws, 5, async () => {
        latencyDuringRun = aws.endpoint.controls.getLatency();
        return recoverKey({ kms: aws.kms, secrets: aws.secrets, logger: aws.logger }, key.keyId, { action: 'recover', config: aws.config, now: aws.now });
      });
      key.material.fill(0);
      assert.equal(result.status, 'recovered', result.reason);
      assert.deepEqual(latencyDuringRun, { '*': 5 });
      // DescribeKey, ListResourceTags, ListKeyRotations, GetParametersForImport, GetSecretValue, ImportKeyMaterial, Encrypt, Decrypt
      assert.equal(calls, 8);
      assert.deepEqual(aws.endpoint.controls.getLatency(), {});
    } finally {
      await aws.closeAfterLeakCheck();
    }
  });
});
