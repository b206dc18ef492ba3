/**
 * The sweep over a whole account at small scale (300 keys, 120 managed: healthy, expiring and
 * PendingImport mixed), against the local endpoint with KMS's and Secrets Manager's published
 * quotas enforced, through the real SDK over HTTP. It proves the calls the sweep makes are the fewest
 * that decide, by counting them per operation (time is the benchmark's job: bench/sweep.ts runs the
 * same fleet builder at 1k, 10k and 50k keys).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTaggingClient } from '../../lib/aws/clients.js';
import { sweepManagedKeys, type SweepOptions, type SweepResult } from '../../lib/sweep.js';
import { sweepPaces } from '../../lib/pace.js';
import { startLocalAws, REGION, type LocalAws } from '../support/local-aws.js';
import { buildFleet, EXPECTED_ACTION, type Fleet } from '../support/fleet.js';

let aws: LocalAws;
let fleet: Fleet;

before(async () => {
  aws = await startLocalAws({ startTime: Date.UTC(2030, 0, 1) });
  fleet = await buildFleet(aws, { keys: 300, managed: 120 });
});

after(async () => {
  await aws?.close();
});

async function sweep(options: SweepOptions = {}): Promise<SweepResult> {
  const tagging = createTaggingClient({ endpointUrl: aws.endpoint.url, region: REGION, credentials: { accessKeyId: 'AKIDINTEGRATION', secretAccessKey: 'integration' } });
  try {
    return await sweepManagedKeys({ tagging, kms: aws.kms, secrets: aws.secrets }, aws.config, aws.now(), {
      retry: { maxAttempts: 5, baseDelayMs: 20 },
      ...options,
    });
  } finally {
    tagging.destroy();
  }
}

/** Answered calls (throttled and injected answers apart) per `service:Operation`. */
function answered(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [op, c] of Object.entries(aws.endpoint.controls.getCounters())) out[op] = c.calls - c.throttled - c.injected;
  return out;
}

describe('the sweep at scale, under the published quotas', () => {
  test('every managed key classified, none missed, with the fewest calls that decide', async () => {
    assert.deepEqual(fleet.counts, { healthy: 72, expiring: 24, 'pending-import': 24, 'unmanaged-external': 90, 'unmanaged-aws-kms': 90 });
    aws.endpoint.controls.useQuotaPreset('kms-defaults');
    // A throttling storm on DescribeKey: each throttled call is retried, no key is missed.
    aws.endpoint.controls.injectError('kms:DescribeKey', { type: 'ThrottlingException', count: 6 });
    aws.endpoint.controls.resetCounters();

    const { items, report } = await sweep();

    // Every managed key is in the report with the action its kind calls for; nothing else is.
    assert.equal(report.length, fleet.managed);
    const missed = [...fleet.managedKinds].filter(([keyId, kind]) => report.find((e) => e.keyId === keyId)?.action !== EXPECTED_ACTION[kind]);
    assert.deepEqual(missed, [], 'no managed key missed or misclassified');
    assert.equal(report.filter((e) => e.action === 'error').length, 0);
    assert.ok(report.every((e) => e.escrow === 'ok'), 'every escrow secret found healthy');
    // Work: the 24 outages first, then the 24 renewals.
    assert.deepEqual(
      items.map((i) => i.action),
      [...Array<string>(24).fill('recover'), ...Array<string>(24).fill('renew')],
    );

    const calls = answered();
    const counters = aws.endpoint.controls.getCounters();
    assert.equal(counters['kms:DescribeKey']?.injected, 6, 'the storm was answered and retried');
    assert.deepEqual(
      {
        GetResources: calls['tagging:GetResources'],
        DescribeKey: calls['kms:DescribeKey'],
        ListResourceTags: calls['kms:ListResourceTags'] ?? 0,
        ListKeyRotations: calls['kms:ListKeyRotations'],
        ListKeys: calls['kms:ListKeys'] ?? 0,
        ListSecrets: calls['secretsmanager:ListSecrets'],
        DescribeSecret: calls['secretsmanager:DescribeSecret'] ?? 0,
        GetSecretValue: calls['secretsmanager:GetSecretValue'] ?? 0,
      },
      {
        GetResources: 2, // 120 managed keys, 100 a page, with their tags
        DescribeKey: 120, // one per managed key
        ListResourceTags: 0, // the tags came with GetResources
        ListKeyRotations: 48, // the 24 PendingImport and 24 expiring keys only
        ListKeys: 0,
        ListSecrets: 2, // 120 escrow secrets, 100 a page
        DescribeSecret: 0, // every escrow secret was listed
        GetSecretValue: 0, // never a value
      },
    );
    // Read-only.
    assert.equal(calls['kms:ImportKeyMaterial'] ?? 0, 0);
    assert.equal(calls['kms:GetParametersForImport'] ?? 0, 0);
  });

  test("a ListKeyRotations quota below the pace's starting rate: the pace backs off, every key still classified", async () => {
    aws.endpoint.controls.useQuotaPreset('kms-defaults');
    aws.endpoint.controls.setQuota('kms:ListKeyRotations', { rate: 10, burst: 1 });
    aws.endpoint.controls.resetCounters();
    const paces = sweepPaces();

    const { report } = await sweep({ paces, concurrency: 16 });

    const missed = [...fleet.managedKinds].filter(([keyId, kind]) => report.find((e) => e.keyId === keyId)?.action !== EXPECTED_ACTION[kind]);
    assert.deepEqual(missed, [], 'no managed key missed or misclassified');
    const rotations = aws.endpoint.controls.getCounters()['kms:ListKeyRotations']!;
    assert.equal(rotations.calls - rotations.throttled, 48);
    assert.ok(rotations.throttled > 0, 'the endpoint throttled ListKeyRotations');
    assert.equal(paces.ListKeyRotations.stats.throttled, rotations.throttled, 'the pace heard every throttle and sent the read again');
    assert.ok(paces.ListKeyRotations.rate < 100, `backed off: ${paces.ListKeyRotations.rate}/s`);
    assert.equal(paces.DescribeKey.stats.granted, 120);
  });
});
