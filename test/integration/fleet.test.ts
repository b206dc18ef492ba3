/** kms-reimport status / sweep over a small fleet on the local endpoint, escrow health included. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DescribeKeyCommand, TagResourceCommand } from '@aws-sdk/client-kms';
import { CreateSecretCommand, DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { randomBytes } from 'node:crypto';
import { fleetExitCode, runFleet } from '../../cli/fleet.js';
import type { KeyLease } from '../../lib/lease/index.js';
import { onboardKey, startLocalAws, type LocalAws, type OnboardedKey } from '../support/local-aws.js';

let aws: LocalAws;
let expired: OnboardedKey;
let expiring: OnboardedKey;
let healthy: OnboardedKey;
let unmanaged: OnboardedKey;
/** Healthy keys (nothing for the sweep to do) with broken escrow: secret deleted; tag-named secret not bound. */
let escrowDeleted: OnboardedKey;
let escrowUnbound: OnboardedKey;
const unboundSecret = 'kms-reimport/shared/not-bound';
const credentials = { accessKeyId: 'AKIDINTEGRATION', secretAccessKey: 'integration' };

before(async () => {
  aws = await startLocalAws();
  expired = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 });
  unmanaged = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60, managed: false });
  expiring = await onboardKey(aws, 'HMAC_256', { lifetimeSeconds: 3 * 86_400 });
  healthy = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
  escrowDeleted = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
  await aws.secrets.send(new DeleteSecretCommand({ SecretId: `${aws.config.escrowPrefix}${escrowDeleted.keyId}`, ForceDeleteWithoutRecovery: true }));
  escrowUnbound = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
  await aws.secrets.send(new CreateSecretCommand({ Name: unboundSecret, SecretBinary: randomBytes(32) }));
  await aws.kms.send(new TagResourceCommand({ KeyId: escrowUnbound.keyId, Tags: [{ TagKey: aws.config.escrowTagKey, TagValue: unboundSecret }] }));
  aws.endpoint.clock.advance(61);
});
after(async () => {
  await aws.close();
});

const state = async (keyId: string) => (await aws.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState;

test('status lists every managed key with what the sweep would do, and changes nothing', async () => {
  const lines: string[] = [];
  const { entries, outcomes } = await runFleet('status', { endpointUrl: aws.endpoint.url, region: 'us-east-1', credentials }, (l) => lines.push(l));

  const byKey = new Map(entries.map((e) => [e.keyId, e]));
  assert.equal(byKey.get(expired.keyId)?.action, 'recover');
  assert.equal(byKey.get(expiring.keyId)?.action, 'renew');
  assert.equal(byKey.get(healthy.keyId)?.action, 'skip');
  assert.equal(byKey.has(unmanaged.keyId), false, 'a key without the managed tag is not in the fleet');
  assert.equal(outcomes.length, 0);
  assert.match(lines.join('\n'), new RegExp(`${expired.keyId}\\s+PendingImport`));
  assert.equal(await state(expired.keyId), 'PendingImport');

  // Escrow health: an ESCROW column, the reason in WHY, and exit 1 while any escrow is not ok.
  assert.equal(byKey.get(healthy.keyId)?.escrow, 'ok');
  assert.equal(byKey.get(expired.keyId)?.escrow, 'ok');
  assert.equal(byKey.get(escrowDeleted.keyId)?.escrow, 'missing');
  assert.match(byKey.get(escrowDeleted.keyId)?.escrowReason ?? '', /No escrow secret/);
  assert.equal(byKey.get(escrowUnbound.keyId)?.escrow, 'unbound');
  assert.match(byKey.get(escrowUnbound.keyId)?.escrowReason ?? '', new RegExp(`${unboundSecret} .*not bound`));
  assert.equal(byKey.get(escrowUnbound.keyId)?.action, 'skip', 'escrow health does not change the work');
  assert.match(lines[0] ?? '', /^KEY\s+STATE\s+VALID TO\s+ESCROW\s+ACTION\s+ROTATION\s+LINEAGE\s+WHY/);
  assert.match(lines.join('\n'), new RegExp(`${escrowDeleted.keyId}\\s+Enabled\\s+-\\s+missing\\s+skip`));
  assert.equal(fleetExitCode('status', { entries, outcomes }), 1);
  assert.equal(fleetExitCode('status', { entries: entries.filter((e) => e.escrow === 'ok'), outcomes }), 0);
  assert.equal(fleetExitCode('sweep', { entries, outcomes }), 0, 'the sweep exit code is about recoveries');
});

test('status --json includes the escrow fields', async () => {
  const lines: string[] = [];
  await runFleet('status', { endpointUrl: aws.endpoint.url, region: 'us-east-1', credentials, json: true }, (l) => lines.push(l));
  const printed = JSON.parse(lines.join('\n')) as Array<{ keyId: string; escrow?: string; escrowReason?: string }>;
  const unbound = printed.find((e) => e.keyId === escrowUnbound.keyId);
  assert.equal(unbound?.escrow, 'unbound');
  assert.match(unbound?.escrowReason ?? '', /kms-reimport:key-id/);
  assert.equal(printed.find((e) => e.keyId === healthy.keyId)?.escrow, 'ok');
});

test('sweep recovers outages first, then renews, and leaves unmanaged keys alone', async () => {
  const lines: string[] = [];
  const { outcomes } = await runFleet('sweep', { endpointUrl: aws.endpoint.url, region: 'us-east-1', credentials, intervalMs: 0 }, (l) => lines.push(l));

  assert.deepEqual(
    outcomes.map((o) => [o.keyId, o.status]),
    [
      [expired.keyId, 'recovered'],
      [expiring.keyId, 'renewed'],
    ],
  );
  assert.equal(await state(expired.keyId), 'Enabled');
  assert.equal(await state(unmanaged.keyId), 'PendingImport', 'never touched');
  assert.match(lines.join('\n'), /RECOVERED/);
});

test('sweep without --interval-ms runs every key under one adaptive pace: several in flight, a GetParametersForImport quota below the starting rate, every key recovered, throttles absorbed by the pace', async () => {
  // Five more outages; the endpoint allows 1 GetParametersForImport a second while the pace starts at 8/s
  // (far apart, so that even a slow machine's first calls meet the quota).
  const more = [];
  for (let i = 0; i < 5; i++) more.push(await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 }));
  aws.endpoint.clock.advance(61);
  aws.endpoint.controls.setQuota('kms:GetParametersForImport', { rate: 1, burst: 1 });
  aws.endpoint.controls.resetCounters();
  const rate = process.env.KMS_REIMPORT_PARAMETERS_RATE;
  process.env.KMS_REIMPORT_PARAMETERS_RATE = '8';
  const lines: string[] = [];
  try {
    const { outcomes } = await runFleet('sweep', { endpointUrl: aws.endpoint.url, region: 'us-east-1', credentials, concurrency: 3 }, (l) => lines.push(l));
    assert.deepEqual(
      outcomes.map((o) => o.status).sort(),
      more.map(() => 'recovered'),
      outcomes.map((o) => `${o.keyId} ${o.status} ${o.reason ?? ''}`).join('\n'),
    );
    assert.deepEqual(new Set(outcomes.map((o) => o.keyId)), new Set(more.map((k) => k.keyId)));
    for (const k of more) assert.equal(await state(k.keyId), 'Enabled');
    const gpi = aws.endpoint.controls.getCounters()['kms:GetParametersForImport']!;
    assert.equal(gpi.calls - gpi.throttled, more.length, 'one answered GetParametersForImport per key');
    assert.ok(gpi.throttled > 0, 'the quota was met: the pace backed off instead of failing a run');
    assert.equal(lines.filter((l) => /RECOVERED/.test(l)).length, more.length, 'each outcome printed as its run ended');
  } finally {
    if (rate === undefined) delete process.env.KMS_REIMPORT_PARAMETERS_RATE;
    else process.env.KMS_REIMPORT_PARAMETERS_RATE = rate;
    aws.endpoint.controls.setQuota('kms:GetParametersForImport', null);
  }
});

test('a paced fleet gives each run its own lease owner (runs in flight at once never share one)', async () => {
  const { runPacedFleet } = await import('../../lib/fleet.js');
  const keys = [await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 }), await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 })];
  aws.endpoint.clock.advance(61);
  const owners: string[] = [];
  const lease: KeyLease = {
    where: 'memory',
    acquire: async (keyArn, owner) => {
      owners.push(owner);
      return { keyArn, owner, expiresAt: new Date(Date.now() + 3_600_000).toISOString() };
    },
    release: async () => true,
    holder: async () => undefined,
  };
  let made = 0;
  const outcomes = await runPacedFleet(
    { kms: aws.kms, secrets: aws.secrets, logger: aws.logger, lease },
    keys.map((k) => ({ keyRef: k.keyId, action: 'recover' as const })),
    { config: aws.config, concurrency: 2, now: aws.now, leaseOwner: () => `fleet-test:${++made}` },
  );
  assert.deepEqual(outcomes.map((o) => o.status), ['recovered', 'recovered'], outcomes.map((o) => o.reason).join('\n'));
  assert.deepEqual([...owners].sort(), ['fleet-test:1', 'fleet-test:2'], 'one fresh owner per run');
});
