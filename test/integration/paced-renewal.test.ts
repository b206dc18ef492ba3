/**
 * Fleet renewal under an adaptive pace (lib/fleet.ts runPacedFleet, lib/pace.ts), through the real SDK over HTTP,
 * against the local endpoint whose GetParametersForImport quota is lower than the pace's starting
 * rate: every key is renewed, no run fails, and the throttling the endpoint answered was heard by
 * the pace and recovered from: it jumped to the rate the quota accepted and ended near the quota.
 * (How close to N / quota it gets is the benchmark's figure.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { runPacedFleet } from '../../lib/fleet.js';
import { importPaces } from '../../lib/pace.js';
import { onboardKey, startLocalAws, type LocalAws, type OnboardedKey } from '../support/local-aws.js';

const KEYS = 10;
const QUOTA = 5; // GetParametersForImport per second at the endpoint
const START = 20; // the pace's starting rate: four times the quota
let aws: LocalAws;
let keys: OnboardedKey[];

before(async () => {
  aws = await startLocalAws({}, { wrappingKeySpec: 'RSA_2048', wrappingAlgorithm: 'RSAES_OAEP_SHA_256', parametersRate: START });
  keys = [];
  // Each expires in 3 days: inside the renewal window.
  for (let i = 0; i < KEYS; i++) keys.push(await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 3 * 86_400, wrapping: { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048' } }));
});

after(async () => {
  await aws?.closeAfterLeakCheck();
});

test('a quota below the starting rate: every key renewed, no failed run, throttles observed and recovered from, the rate jumped near the quota', async () => {
  aws.endpoint.controls.setQuota('kms:GetParametersForImport', { rate: QUOTA, burst: 1 });
  aws.endpoint.controls.resetCounters();
  const paces = importPaces(aws.config);
  assert.equal(paces.GetParametersForImport.rate, START, 'starts at the configured rate');

  const outcomes = await runPacedFleet(
    { kms: aws.kms, secrets: aws.secrets, logger: aws.logger },
    keys.map((k) => ({ keyRef: k.keyId, action: 'renew' as const })),
    { config: aws.config, concurrency: 4, now: aws.now, paces, onOutcome: (o) => aws.outcomes.push(o) },
  );

  assert.deepEqual(
    outcomes.map((o) => [o.keyId, o.status]),
    keys.map((k) => [k.keyId, 'renewed']),
    outcomes.map((o) => o.reason).join('\n'),
  );
  const counters = aws.endpoint.controls.getCounters();
  const gpi = counters['kms:GetParametersForImport']!;
  assert.ok(gpi.throttled > 0, 'the endpoint throttled GetParametersForImport');
  assert.equal(gpi.calls - gpi.throttled, KEYS, 'one answered GetParametersForImport per key');
  assert.equal(paces.GetParametersForImport.stats.throttled, gpi.throttled, 'the pace heard every throttle');
  assert.ok(paces.GetParametersForImport.stats.decreases > 0);
  assert.ok(paces.GetParametersForImport.rate < START, `backed off: ${paces.GetParametersForImport.rate}/s`);
  // Four times over the quota: the pace jumped to what the quota accepted rather than stepping down
  // 5% a round, and ends near the quota, not far under it.
  assert.ok(paces.GetParametersForImport.stats.jumps >= 1, `jumped to the quota: ${JSON.stringify(paces.GetParametersForImport.stats)}`);
  assert.ok(
    paces.GetParametersForImport.rate >= 0.8 * QUOTA && paces.GetParametersForImport.rate <= 1.05 * QUOTA,
    `ended near the quota: ${paces.GetParametersForImport.rate}/s`,
  );
  assert.equal((counters['kms:ImportKeyMaterial']?.calls ?? 0) - (counters['kms:ImportKeyMaterial']?.throttled ?? 0), KEYS);
  // The pace absorbs the throttles: it sends a throttled attempt again in a later slot (up to 8
  // times) before lib/retry sees it. On a loaded machine one unlucky request can be throttled past
  // that, and lib/retry's bounded retry then carries it: never more than a couple of such retries,
  // and never a failed run (checked above).
  const retried = aws.logLines.filter((l) => /transient AWS error, retrying/.test(l));
  assert.ok(retried.length <= 2, `lib/retry carried ${retried.length} throttled call(s) past the pace:\n${retried.join('\n')}`);
  for (const k of keys) {
    const meta = (await aws.kms.send(new DescribeKeyCommand({ KeyId: k.keyId }))).KeyMetadata!;
    assert.equal(meta.KeyState, 'Enabled');
    assert.ok(meta.ValidTo!.getTime() > aws.now().getTime() + 30 * 86_400_000, 'ValidTo pushed out');
  }
  // The pace is detached from the shared client afterwards.
  assert.ok(!aws.kms.middlewareStack.identify().some((m) => m.startsWith('kmsReimportPace')), aws.kms.middlewareStack.identify().join(', '));
});
