/**
 * The recovery critical path, counted in round trips (never in time), over HTTP against the local
 * endpoint with per-operation latency: every call of a run is recorded when it starts and ends on
 * one logical clock (test/support/round-trips.ts), and the longest chain of calls that each waited
 * for the one before is the number of round trips the run needed.
 *
 * The dependent chain of a recovery is DescribeKey → GetParametersForImport ∥ GetSecretValue →
 * ImportKeyMaterial → Encrypt → Decrypt: 5 round trips by key ID or ARN (tags and materials go out
 * beside DescribeKey), 6 by alias (DescribeKey first). The endpoint's own counters confirm the
 * calls the engine counted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CreateAliasCommand, DeleteImportedKeyMaterialCommand, DescribeKeyCommand, DisableKeyCommand } from '@aws-sdk/client-kms';
import { recoverKey } from '../../lib/reimport.js';
import type { Outcome, RequestedAction } from '../../lib/types.js';
import { onboardKey, startLocalAws, type LocalAws } from '../support/local-aws.js';
import { trackRoundTrips, type RoundTrips } from '../support/round-trips.js';

/** Every operation answers after this delay (the endpoint's latency control), so overlapping calls really are in flight together. */
const LATENCY_MS = 15;
const INSPECTION = ['DescribeKey', 'ListResourceTags', 'ListKeyRotations'];

let aws: LocalAws;
before(async () => {
  aws = await startLocalAws({ latencyMs: LATENCY_MS, kms: { wrappingKeyPoolSize: 2 } }, { wrappingKeySpec: 'RSA_2048' });
});
after(() => aws.closeAfterLeakCheck());

/** One run through the library with watched clients; the endpoint's counters start from zero. */
async function run(keyRef: string, action: RequestedAction = 'auto'): Promise<{ outcome: Outcome; trips: RoundTrips }> {
  const trips = trackRoundTrips();
  aws.endpoint.controls.resetCounters();
  const outcome = await recoverKey({ kms: trips.watch(aws.kms), secrets: trips.watch(aws.secrets), logger: aws.logger }, keyRef, { action, config: aws.config, now: aws.now });
  aws.outcomes.push(outcome);
  return { outcome, trips };
}

/** The endpoint's count of every call it answered since the run started, by operation. */
function endpointCalls(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, counter] of Object.entries(aws.endpoint.controls.getCounters())) out[name.slice(name.indexOf(':') + 1)] = counter.calls;
  return out;
}

async function keyWithoutMaterial(): Promise<{ keyId: string; arn: string }> {
  const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
  await aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.keyId }));
  return key;
}

function assertRecoveryChain(trips: RoundTrips, expected: number) {
  const chain = trips.longestChain();
  assert.equal(trips.chain(), expected, `longest chain of dependent calls: ${chain.join(' → ')}`);
  assert.deepEqual(chain.slice(-3), ['ImportKeyMaterial', 'Encrypt', 'Decrypt'], 'no DescribeKey between the import and the probe');
  assert.ok(['GetParametersForImport', 'GetSecretValue'].includes(chain.at(-4)!), chain.join(' → '));
  assert.ok(trips.overlapped('GetParametersForImport', 'GetSecretValue'), 'the escrow read went out beside GetParametersForImport');
}

describe('recovery critical path, in round trips', () => {
  test('by key ID: 5 round trips; DescribeKey, ListResourceTags and ListKeyRotations overlap; 8 calls, as the endpoint counted', async () => {
    const key = await keyWithoutMaterial();
    const { outcome, trips } = await run(key.keyId, 'recover');

    assert.equal(outcome.status, 'recovered', outcome.reason);
    assert.equal(outcome.verified, true);
    assertRecoveryChain(trips, 5);
    assert.ok(INSPECTION.includes(trips.longestChain()[0]!));
    assert.ok(trips.overlapped('DescribeKey', 'ListResourceTags'));
    assert.ok(trips.overlapped('DescribeKey', 'ListKeyRotations'));
    assert.equal(trips.maxInFlight, 3, 'the three reads of the inspection were in flight at once');
    const expected = { DescribeKey: 1, ListResourceTags: 1, ListKeyRotations: 1, GetParametersForImport: 1, GetSecretValue: 1, ImportKeyMaterial: 1, Encrypt: 1, Decrypt: 1 };
    assert.deepEqual(endpointCalls(), expected, 'what the endpoint answered');
    assert.deepEqual(outcome.calls, expected, 'what the outcome reports');
    assert.equal(trips.calls.length, 8);
  });

  test('by key ARN: 5 round trips', async () => {
    const key = await keyWithoutMaterial();
    const { outcome, trips } = await run(key.arn, 'recover');
    assert.equal(outcome.status, 'recovered', outcome.reason);
    assertRecoveryChain(trips, 5);
    assert.ok(trips.overlapped('DescribeKey', 'ListResourceTags'));
  });

  test('by alias: 6 round trips (an alias names no key until DescribeKey answers), then tags and materials together', async () => {
    const key = await keyWithoutMaterial();
    const alias = `alias/critical-path-${randomBytes(4).toString('hex')}`;
    await aws.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.keyId }));
    const { outcome, trips } = await run(alias, 'recover');
    assert.equal(outcome.status, 'recovered', outcome.reason);
    assert.equal(outcome.keyId, key.keyId);
    assertRecoveryChain(trips, 6);
    assert.equal(trips.longestChain()[0], 'DescribeKey');
    assert.ok(!trips.overlapped('DescribeKey', 'ListResourceTags'));
    assert.ok(trips.overlapped('ListResourceTags', 'ListKeyRotations'));
  });

  test('HMAC and ECC keys (no material list in KMS: the list asked for beside DescribeKey is dropped): 5 round trips each', async () => {
    for (const [keySpec, probe] of [['HMAC_256', ['GenerateMac', 'VerifyMac']], ['ECC_NIST_P256', ['Sign', 'Verify']]] as const) {
      const key = await onboardKey(aws, keySpec, { lifetimeSeconds: 60 });
      aws.endpoint.clock.advance(61);
      const { outcome, trips } = await run(key.keyId, 'recover');
      assert.equal(outcome.status, 'recovered', `${keySpec}: ${outcome.reason}`);
      assert.equal(outcome.verified, true);
      assert.equal(trips.chain(), 5, `${keySpec}: ${trips.longestChain().join(' → ')}`);
      assert.deepEqual(trips.longestChain().slice(-3), ['ImportKeyMaterial', ...probe]);
      assert.ok(trips.overlapped('GetParametersForImport', 'GetSecretValue'));
      assert.equal(trips.operations().filter((op) => op === 'DescribeKey').length, 1);
    }
  });

  test('whichever of GetParametersForImport and the escrow read is slower, the import waits for both and for nothing else: still 5', async () => {
    for (const slow of ['kms:GetParametersForImport', 'secretsmanager:GetSecretValue']) {
      const key = await keyWithoutMaterial();
      aws.endpoint.controls.setLatency(slow, LATENCY_MS * 6);
      try {
        const { outcome, trips } = await run(key.keyId, 'recover');
        assert.equal(outcome.status, 'recovered', `${slow}: ${outcome.reason}`);
        assertRecoveryChain(trips, 5);
      } finally {
        aws.endpoint.controls.setLatency(slow, 0);
      }
    }
  });

  test('renewal by key ID: 5 round trips, the same material with a later ValidTo', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 3 * 24 * 3600 });
    const before = (await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!.ValidTo!;
    const { outcome, trips } = await run(key.keyId, 'renew');
    assert.equal(outcome.status, 'renewed', outcome.reason);
    assert.ok(Date.parse(outcome.imported[0]!.validTo!) > before.getTime());
    assertRecoveryChain(trips, 5);
    assert.equal(endpointCalls().DescribeKey, 1);
  });

  test('plan by key ID: 2 round trips (the inspection, then DescribeSecret on the escrow), nothing read or changed', async () => {
    const key = await keyWithoutMaterial();
    const { outcome, trips } = await run(key.keyId, 'plan');
    assert.equal(outcome.status, 'planned');
    assert.equal(outcome.wouldFail, undefined, outcome.reason);
    assert.equal(trips.chain(), 2, trips.longestChain().join(' → '));
    assert.deepEqual(trips.longestChain().at(-1), 'DescribeSecret');
    assert.deepEqual(endpointCalls(), { DescribeKey: 1, ListResourceTags: 1, ListKeyRotations: 1, DescribeSecret: 1 });
  });

  test('a key disabled before its material went: the probe is refused, then DescribeKey names the state (left Disabled, not verified)', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
    await aws.kms.send(new DisableKeyCommand({ KeyId: key.keyId }));
    await aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.keyId }));
    const { outcome, trips } = await run(key.keyId, 'recover');
    assert.equal(outcome.status, 'recovered', outcome.reason);
    assert.equal(outcome.verified, false);
    assert.equal(outcome.keyStateAfter, 'Disabled');
    assert.deepEqual(trips.longestChain().slice(-3), ['ImportKeyMaterial', 'Encrypt', 'DescribeKey']);
    assert.ok(trips.calls.find((c) => c.operation === 'Encrypt')?.failed, 'KMS refused the probe');
    assert.equal(endpointCalls().Decrypt, undefined, 'no round trip on a disabled key');
  });
});
