/**
 * `kms-reimport status` shows each key's rotation schedule: the real binary in a child process,
 * against the local endpoint. The endpoint's clock starts 100 days in the past, so keys it creates
 * are 100 days old by the CLI's real-time clock.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TagResourceCommand } from '@aws-sdk/client-kms';
import type { SweepEntry } from '../../lib/sweep.js';
import { onboardKey, startLocalAws, type LocalAws, type OnboardedKey } from '../support/local-aws.js';
import { runCli, validateOutput } from '../support/cli.js';

const DAY_MS = 86_400_000;
const AGE_DAYS = 100;
const OLD_KEY = '0f0f0f0f-0000-4000-8000-000000000000';
const NEW_KEY = '1e1e1e1e-0000-4000-8000-000000000000';
let aws: LocalAws;
let due: OnboardedKey;
let later: OnboardedKey;
let retired: OnboardedKey;
let untagged: OnboardedKey;
let startedAt = 0;

before(async () => {
  startedAt = Date.now() - AGE_DAYS * DAY_MS;
  aws = await startLocalAws({ startTime: startedAt });
  // Material valid 300 days from the endpoint's clock: 200 days from the CLI's, far from renewal.
  const lifetimeSeconds = 300 * 86_400;
  due = await onboardKey(aws, 'SYMMETRIC_DEFAULT', {
    lifetimeSeconds,
    tags: [
      { TagKey: 'kms-reimport:rotate-every', TagValue: '90d' },
      { TagKey: 'kms-reimport:rotated-from', TagValue: OLD_KEY },
    ],
  });
  later = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds, tags: [{ TagKey: 'kms-reimport:rotate-every', TagValue: '1y' }] });
  retired = await onboardKey(aws, 'HMAC_256', {
    lifetimeSeconds,
    tags: [
      { TagKey: 'kms-reimport:rotate-every', TagValue: '90d' },
      { TagKey: 'kms-reimport:rotated-to', TagValue: NEW_KEY },
    ],
  });
  untagged = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds });
});
after(async () => {
  await aws.close();
});

const run = (args: string[], env: Record<string, string> = {}) => runCli(args, { AWS_ENDPOINT_URL: aws.endpoint.url, ...env });

const near = (iso: string | undefined, ms: number, what: string) =>
  assert.ok(iso !== undefined && Math.abs(Date.parse(iso) - ms) < 60_000, `${what}: ${iso} is not about ${new Date(ms).toISOString()}`);

test('status --json: rotation mode, next due date, lineage; the config default for an untagged key; exit 0', async () => {
  const out = await run(['status', '--json'], { KMS_REIMPORT_ROTATE_EVERY_DAYS: '365' });
  assert.equal(out.code, 0, out.stderr + out.stdout);
  const entries = JSON.parse(out.stdout) as SweepEntry[];
  validateOutput('status', entries);
  const entry = (k: OnboardedKey) => entries.find((e) => e.keyId === k.keyId);

  assert.equal(entry(due)?.action, 'rotate');
  const r = entry(due)?.rotation;
  assert.equal(r?.mode, 'in-place');
  assert.equal(r?.every, 90);
  assert.equal(r?.source, 'tag');
  assert.equal(r?.ageFrom, 'creation');
  assert.equal(r?.due, true);
  near(r?.lastRotatedAt, startedAt, 'CreationDate');
  near(r?.nextDueAt, startedAt + 90 * DAY_MS, 'next due');
  assert.deepEqual(r?.lineage, { rotatedFrom: OLD_KEY });

  assert.equal(entry(later)?.action, 'skip');
  assert.equal(entry(later)?.rotation?.every, 365);
  assert.equal(entry(later)?.rotation?.due, false);
  near(entry(later)?.rotation?.nextDueAt, startedAt + 365 * DAY_MS, 'next due in a year');

  assert.equal(entry(retired)?.rotation?.mode, 'off');
  assert.deepEqual(entry(retired)?.rotation?.lineage, { rotatedTo: NEW_KEY });
  assert.equal(entry(retired)?.rotation?.due, false);

  assert.equal(entry(untagged)?.rotation?.source, 'default');
  assert.equal(entry(untagged)?.rotation?.every, 365);

  // Without the default, the untagged key is off.
  const noDefault = JSON.parse((await run(['status', '--json'])).stdout) as SweepEntry[];
  assert.deepEqual(noDefault.find((e) => e.keyId === untagged.keyId)?.rotation, { mode: 'off', due: false });
});

test('status: the table shows ROTATION and LINEAGE; a malformed rotate-every is named there and exits 1', async () => {
  const ok = await run(['status']);
  assert.equal(ok.code, 0, ok.stderr + ok.stdout);
  const lines = ok.stdout.split('\n');
  assert.match(lines[0] ?? '', /^KEY\s+STATE\s+VALID TO\s+ESCROW\s+ACTION\s+ROTATION\s+LINEAGE\s+WHY/);
  const row = (k: OnboardedKey, text: string) => text.split('\n').find((l) => l.startsWith(k.keyId)) ?? '';
  assert.match(row(due, ok.stdout), new RegExp(`\\s+rotate\\s+in-place every 90d \\(tag\\), DUE since \\S+\\s+from ${OLD_KEY}\\s+Rotation due`));
  assert.match(row(retired, ok.stdout), new RegExp(`\\s+skip\\s+off\\s+to ${NEW_KEY}\\s+.*ROTATION: Key ${retired.keyId} was rotated to ${NEW_KEY}`));
  assert.match(row(untagged, ok.stdout), /\s+skip\s+off\s+-\s+/);

  await aws.kms.send(new TagResourceCommand({ KeyId: later.keyId, Tags: [{ TagKey: 'kms-reimport:rotate-every', TagValue: 'soon' }] }));
  const bad = await run(['status']);
  assert.equal(bad.code, 1, 'a malformed rotate-every fails status like a broken escrow');
  assert.match(row(later, bad.stdout), new RegExp(`\\s+skip\\s+RotationScheduleInvalid\\s+-\\s+.*ROTATION: Key ${later.keyId} has kms-reimport:rotate-every="soon".*such as 90d`));
  const badJson = await run(['status', '--json']);
  assert.equal(badJson.code, 1);
  validateOutput('status', JSON.parse(badJson.stdout));
  const entry = (JSON.parse(badJson.stdout) as SweepEntry[]).find((e) => e.keyId === later.keyId);
  assert.equal(entry?.rotation?.problemName, 'RotationScheduleInvalid');
  assert.equal(entry?.action, 'skip', 'the key is left as it is');
});
