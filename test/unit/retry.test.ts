import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffCap, callWithRetry, isTransientError, withRetry } from '../../lib/retry.js';
import { KmsUnavailable } from '../../lib/errors.js';

function awsError(name: string, status = 400, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status }, ...extra });
}

test('withRetry retries throttling and succeeds, sleeping within full-jitter bounds', async () => {
  const sleeps: number[] = [];
  let calls = 0;
  const result = await withRetry(
    async (attempt) => {
      calls++;
      if (attempt < 4) throw awsError('ThrottlingException');
      return 'ok';
    },
    { maxAttempts: 5, baseDelayMs: 100, sleep: async (ms) => void sleeps.push(ms), random: () => 0.999 },
  );
  assert.equal(result, 'ok');
  assert.equal(calls, 4);
  assert.equal(sleeps.length, 3);
  sleeps.forEach((ms, i) => {
    const cap = 100 * 2 ** i;
    assert.ok(ms >= 0 && ms < cap, `sleep ${ms} within [0, ${cap})`);
    assert.ok(ms >= cap * 0.99, 'random near 1 gives a delay near the cap');
  });
});

test('withRetry with random 0 waits 0 ms (full jitter lower bound)', async () => {
  const sleeps: number[] = [];
  await assert.rejects(
    withRetry(async () => { throw awsError('KMSInternalException', 500); }, { maxAttempts: 3, baseDelayMs: 1000, sleep: async (ms) => void sleeps.push(ms), random: () => 0 }),
  );
  assert.deepEqual(sleeps, [0, 0]);
});

test('withRetry is bounded: maxAttempts attempts then the last error', async () => {
  let calls = 0;
  const retries: number[] = [];
  await assert.rejects(
    withRetry(
      async () => {
        calls++;
        throw awsError('DependencyTimeoutException', 503);
      },
      { maxAttempts: 4, baseDelayMs: 10, sleep: async () => {}, onRetry: (i) => void retries.push(i.attempt) },
    ),
    { name: 'DependencyTimeoutException' },
  );
  assert.equal(calls, 4);
  assert.deepEqual(retries, [1, 2, 3]);
});

test('withRetry throws non-retryable errors at once', async () => {
  for (const name of ['IncorrectKeyMaterialException', 'ExpiredImportTokenException', 'NotFoundException', 'KMSInvalidStateException', 'AccessDeniedException']) {
    let calls = 0;
    let slept = false;
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw awsError(name);
        },
        { maxAttempts: 5, baseDelayMs: 10, sleep: async () => void (slept = true) },
      ),
      { name },
    );
    assert.equal(calls, 1, name);
    assert.equal(slept, false, name);
  }
});

test('the cap doubles per attempt and is bounded by maxDelayMs', () => {
  assert.equal(backoffCap(1, 200), 200);
  assert.equal(backoffCap(3, 200), 800);
  assert.equal(backoffCap(20, 200), 20_000);
  assert.equal(backoffCap(5, 200, 1000), 1000);
});

test('isTransientError classifies throttling, internal, timeouts and network errors', () => {
  assert.equal(isTransientError(awsError('ThrottlingException')), true);
  assert.equal(isTransientError(awsError('SomethingNew', 429)), true);
  assert.equal(isTransientError(awsError('Whatever', 400, { $retryable: { throttling: true } })), true);
  assert.equal(isTransientError(awsError('KMSInternalException', 500)), true);
  assert.equal(isTransientError(awsError('DependencyTimeoutException', 503)), true);
  assert.equal(isTransientError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })), true);
  assert.equal(isTransientError(Object.assign(new Error('timed out'), { name: 'TimeoutError' })), true);
  assert.equal(isTransientError(awsError('IncorrectKeyMaterialException')), false);
  assert.equal(isTransientError(awsError('InvalidCiphertextException')), false);
  assert.equal(isTransientError(awsError('LimitExceededException')), false);
  assert.equal(isTransientError(new Error('plain')), false);
  assert.equal(isTransientError('string'), false);
});

test('callWithRetry turns exhausted transient errors into KmsUnavailable naming key and operation', async () => {
  let calls = 0;
  await assert.rejects(
    callWithRetry({ operation: 'ImportKeyMaterial', keyId: 'key-123' }, async () => {
      calls++;
      throw awsError('ThrottlingException');
    }, { maxAttempts: 3, baseDelayMs: 1, sleep: async () => {} }),
    (e: unknown) => {
      assert.ok(e instanceof KmsUnavailable);
      assert.equal(e.name, 'KmsUnavailable');
      assert.equal(e.keyId, 'key-123');
      assert.match(e.message, /ImportKeyMaterial/);
      assert.match(e.message, /key-123/);
      assert.match(e.message, /3 attempt/);
      return true;
    },
  );
  assert.equal(calls, 3);
});

test('callWithRetry passes domain errors through unchanged', async () => {
  const original = awsError('IncorrectKeyMaterialException');
  await assert.rejects(
    callWithRetry({ operation: 'ImportKeyMaterial', keyId: 'k' }, async () => { throw original; }, { maxAttempts: 3, baseDelayMs: 1, sleep: async () => {} }),
    (e: unknown) => e === original,
  );
});
