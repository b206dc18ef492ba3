// startLocalEndpoint (what `kms-reimport local` and `kms-reimport drill --local` start) takes
// wrapping keys from a pool by default: after the first GetParametersForImport of a spec, pairs are
// generated ahead (DEFAULT_WRAPPING_KEY_POOL_SIZE), so later ones do not wait for RSA generation.
// The pool the endpoint made is caught as it is first used (WrappingKeyPool.prototype.take); what it
// holds is read from it, never timed.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as wait } from 'node:timers/promises';
import { CreateKeyCommand, GetParametersForImportCommand, KMSClient } from '@aws-sdk/client-kms';
import { DEFAULT_WRAPPING_KEY_POOL_SIZE, startLocalEndpoint, type LocalEndpoint } from '../../local/index.js';
import { WrappingKeyPool } from '../../local/kms/wrapping.js';

const started: LocalEndpoint[] = [];
after(async () => {
  for (const endpoint of started) await endpoint.close();
});

/** Starts an endpoint, asks it for RSA_2048 import parameters once, returns the pool that answered. */
async function poolAfterOneRequest(kmsOptions: Parameters<typeof startLocalEndpoint>[0]): Promise<WrappingKeyPool> {
  const endpoint = await startLocalEndpoint(kmsOptions);
  started.push(endpoint);
  const kms = new KMSClient({ endpoint: endpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'AKIDPOOLTEST', secretAccessKey: 'pool-test' } });
  const take = WrappingKeyPool.prototype.take;
  let used: WrappingKeyPool | undefined;
  WrappingKeyPool.prototype.take = function (this: WrappingKeyPool, ...args: Parameters<typeof take>) {
    used ??= this;
    return take.apply(this, args);
  };
  try {
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }));
    await kms.send(new GetParametersForImportCommand({ KeyId: KeyMetadata!.KeyId!, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
  } finally {
    WrappingKeyPool.prototype.take = take;
    kms.destroy();
  }
  assert.ok(used, 'GetParametersForImport took its pair from the endpoint\'s WrappingKeyPool');
  return used;
}

describe('startLocalEndpoint (local, the drill) and its wrapping-key pool', () => {
  it('takes wrapping keys from a pool by default: after the first request the pool is filled ahead', async () => {
    // The options `kms-reimport local` passes (cli/local-command.ts); the drill passes none.
    const pool = await poolAfterOneRequest({ port: 0, kms: { earlierTokens: 'valid' } });
    for (let i = 0; i < 600 && pool.held('RSA_2048') < DEFAULT_WRAPPING_KEY_POOL_SIZE; i++) await wait(50);
    assert.ok(DEFAULT_WRAPPING_KEY_POOL_SIZE > 0);
    assert.equal(pool.held('RSA_2048'), DEFAULT_WRAPPING_KEY_POOL_SIZE);
  });

  it('wrappingKeyPoolSize 0 generates every pair on demand: nothing is held ahead', async () => {
    const pool = await poolAfterOneRequest({ port: 0, kms: { wrappingKeyPoolSize: 0 } });
    await wait(200);
    assert.equal(pool.held('RSA_2048'), 0);
  });
});
