/** kms-reimport status / sweep over a small fleet on the local endpoint. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { runFleet } from '../../cli/fleet.js';
import { onboardKey, startLocalAws, type LocalAws, type OnboardedKey } from '../support/local-aws.js';

let aws: LocalAws;
let expired: OnboardedKey;
let expiring: OnboardedKey;
let healthy: OnboardedKey;
let unmanaged: OnboardedKey;
const credentials = { accessKeyId: 'AKIDINTEGRATION', secretAccessKey: 'integration' };

before(async () => {
  aws = await startLocalAws();
  expired = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 });
  unmanaged = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60, managed: false });
  expiring = await onboardKey(aws, 'HMAC_256', { lifetimeSeconds: 3 * 86_400 });
  healthy = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
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
