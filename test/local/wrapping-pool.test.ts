// The wrapping-key pool (local/kms/wrapping.ts): refilled at once by default, or only after
// wrappingKeyPoolRefillDelayMs (so the RSA generation stays off the CPU while the run that took
// the pair goes on); never the same pair twice; drain cancels a pending refill. The delay is an
// order of timers (the pool's fires before a longer one of the test's), never a measured time.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as wait } from 'node:timers/promises';
import { unwrapKeyMaterial, WrappingKeyPool } from '../../local/kms/wrapping.js';
import { randomBytes } from 'node:crypto';
import { wrap } from './kms-support.js';
import { createKmsService } from '../../local/kms/index.js';
import { MAX_POOL_REFILL_DELAY_MS } from '../../local/kms/context.js';

describe('WrappingKeyPool refill', () => {
  it('without a delay makes up a taken pair at once, and hands out distinct pairs', async () => {
    const pool = new WrappingKeyPool(2);
    const first = await pool.take('RSA_2048');
    assert.equal(pool.held('RSA_2048'), 2, 'the first take fills the pool at once');
    const second = await pool.take('RSA_2048');
    assert.equal(pool.held('RSA_2048'), 2);
    assert.notDeepEqual(first.publicKey, second.publicKey);
    await pool.drain();
  });

  it('with a delay starts no generation until the delay has passed, then fills to its size once', async () => {
    const pool = new WrappingKeyPool(2, 40);
    // Taken in one turn of the event loop: the delay cannot have passed in between.
    const taking = [pool.take('RSA_2048'), pool.take('RSA_2048')];
    assert.equal(pool.held('RSA_2048'), 0, 'no pair is generated ahead while the taker goes on');
    const pairs = await Promise.all(taking);
    await wait(200);
    assert.equal(pool.held('RSA_2048'), 2, 'one refill for both takes, to the pool size');
    const again = [pool.take('RSA_2048'), pool.take('RSA_2048')];
    assert.equal(pool.held('RSA_2048'), 0, 'both came from the pool; the next refill waits again');
    pairs.push(...(await Promise.all(again)));
    assert.equal(new Set(pairs.map((p) => p.publicKey.toString('base64'))).size, 4, 'never the same pair twice');
    await pool.drain();
  });

  it('drain cancels a refill that has not started', async () => {
    const pool = new WrappingKeyPool(2, 40);
    await pool.take('RSA_2048');
    await pool.drain();
    await wait(200);
    assert.equal(pool.held('RSA_2048'), 0);
  });

  it('refuses a delay that is not a whole number of ms within a minute', () => {
    for (const bad of [-1, 1.5, MAX_POOL_REFILL_DELAY_MS + 1, Number.NaN]) {
      assert.throws(() => createKmsService({ wrappingKeyPoolRefillDelayMs: bad }), (e: Error) => e instanceof TypeError && /wrappingKeyPoolRefillDelayMs/.test(e.message));
    }
  });
});

describe('unwrapKeyMaterial with the parsed private key the pool hands out', () => {
  it('unwraps as from the DER kept in the state, and refuses the same wrong ciphertext the same way', async () => {
    const pool = new WrappingKeyPool(0);
    const pair = await pool.take('RSA_2048');
    const material = randomBytes(32);
    for (const algorithm of ['RSAES_OAEP_SHA_256', 'RSAES_OAEP_SHA_1'] as const) {
      const wrapped = wrap(algorithm, pair.publicKey, material);
      const fromObject = unwrapKeyMaterial(algorithm, pair.privateKeyObject, wrapped, 'arn:key');
      const fromDer = unwrapKeyMaterial(algorithm, pair.privateKey, wrapped, 'arn:key');
      assert.deepEqual(fromObject, material);
      assert.deepEqual(fromDer, material);
      const wrong = Buffer.from(wrapped);
      wrong[10]! ^= 0xff;
      const refusal = (key: Buffer | typeof pair.privateKeyObject) => {
        try {
          unwrapKeyMaterial(algorithm, key, wrong, 'arn:key');
        } catch (e) {
          return `${(e as { type?: string }).type}: ${(e as Error).message}`;
        }
        return 'accepted';
      };
      assert.match(refusal(pair.privateKeyObject), /^InvalidCiphertextException: /);
      assert.equal(refusal(pair.privateKeyObject), refusal(pair.privateKey));
    }
    material.fill(0);
  });
});
