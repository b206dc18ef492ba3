/**
 * `plan` says when a run would fail before it starts (lib/plan.ts through recoverKey's plan):
 * every way a run would end failed or skipped by name, foreseen from the inspection and the escrow
 * secret's DescribeSecret, and nothing changed or read from escrow's value on the way.
 */
import { beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DescribeKeyCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  KMSClient,
  ListKeyRotationsCommand,
  ListResourceTagsCommand,
  type KeyMetadata,
  type RotationsListEntry,
} from '@aws-sdk/client-kms';
import { CreateSecretCommand, DescribeSecretCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient, type DescribeSecretCommandOutput } from '@aws-sdk/client-secrets-manager';
import { recoverKey } from '../../lib/reimport.js';
import { DEFAULT_CONFIG, type ReimportConfig } from '../../lib/config.js';
import { summariseOutcome } from '../../lib/outcome.js';
import type { Outcome } from '../../lib/types.js';
import { awsError, KEY_ARN, KEY_ID, MATERIAL_ID_A } from './lib-fixtures.js';

const kmsMock = mockClient(KMSClient);
const secretsMock = mockClient(SecretsManagerClient);
const kms = new KMSClient({ region: 'us-east-1' });
const secrets = new SecretsManagerClient({ region: 'us-east-1' });
const config: ReimportConfig = { ...DEFAULT_CONFIG, maxAttempts: 2, baseDelayMs: 1 };
const NOW = new Date('2027-03-04T05:06:07.000Z');
const DEFAULT_SECRET = `kms-reimport/${KEY_ID}`;
const OTHER_KEY = '99999999-8888-7777-6666-555555555555';

const pendingImport: KeyMetadata = {
  KeyId: KEY_ID,
  Arn: KEY_ARN,
  KeyState: 'PendingImport',
  Origin: 'EXTERNAL',
  KeySpec: 'SYMMETRIC_DEFAULT',
  KeyUsage: 'ENCRYPT_DECRYPT',
  MultiRegion: false,
  ExpirationModel: 'KEY_MATERIAL_EXPIRES',
  CurrentKeyMaterialId: MATERIAL_ID_A,
  CreationDate: new Date('2026-01-01T00:00:00Z'),
};
const missingMaterial: RotationsListEntry[] = [{ KeyMaterialId: MATERIAL_ID_A, KeyMaterialState: 'CURRENT', ImportState: 'PENDING_IMPORT', ExpirationModel: 'KEY_MATERIAL_EXPIRES' }];

/** Configures every command a plan may send; anything that would change a key or read escrow's value is refused. */
function scenario(opts: { key?: Partial<KeyMetadata>; tags?: Record<string, string>; rotations?: RotationsListEntry[]; secret?: Omit<DescribeSecretCommandOutput, '$metadata'> | Error }) {
  kmsMock.on(DescribeKeyCommand).resolves({ KeyMetadata: { ...pendingImport, ...opts.key } });
  const tags = opts.tags ?? { 'kms-reimport:managed': 'true' };
  kmsMock.on(ListResourceTagsCommand).resolves({ Tags: Object.entries(tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })), Truncated: false });
  kmsMock.on(ListKeyRotationsCommand).resolves({ Rotations: opts.rotations ?? missingMaterial, Truncated: false });
  kmsMock.on(GetParametersForImportCommand).rejects(new Error('a plan asks for no import parameters'));
  kmsMock.on(ImportKeyMaterialCommand).rejects(new Error('a plan imports nothing'));
  secretsMock.on(GetSecretValueCommand).rejects(new Error("a plan never reads escrow's value"));
  secretsMock.on(PutSecretValueCommand).rejects(new Error('a plan writes no escrow'));
  secretsMock.on(CreateSecretCommand).rejects(new Error('a plan creates no escrow'));
  const secret = opts.secret ?? { ARN: `arn:aws:secretsmanager:us-east-1:111122223333:secret:${DEFAULT_SECRET}-AbCdEf`, Name: DEFAULT_SECRET, CreatedDate: new Date('2026-02-01T00:00:00Z') };
  if (secret instanceof Error) secretsMock.on(DescribeSecretCommand).rejects(secret);
  else secretsMock.on(DescribeSecretCommand).resolves(secret);
}

async function plan(keyRef = KEY_ID): Promise<Outcome> {
  const outcome = await recoverKey({ kms, secrets }, keyRef, { action: 'plan', config, now: () => new Date(NOW) });
  assert.equal(outcome.status, 'planned', outcome.reason);
  assert.equal(kmsMock.commandCalls(GetParametersForImportCommand).length, 0);
  assert.equal(kmsMock.commandCalls(ImportKeyMaterialCommand).length, 0);
  assert.equal(secretsMock.commandCalls(GetSecretValueCommand).length, 0);
  assert.equal(secretsMock.commandCalls(PutSecretValueCommand).length + secretsMock.commandCalls(CreateSecretCommand).length, 0, 'a plan writes no escrow');
  return outcome;
}

beforeEach(() => {
  kmsMock.reset();
  secretsMock.reset();
});

test('a key the run would recover, with healthy escrow: no wouldFail; one DescribeSecret beside the inspection, nothing read or changed', async () => {
  scenario({});
  const outcome = await plan();
  assert.match(outcome.reason!, /^plan: would recover/);
  assert.equal(outcome.wouldFail, undefined);
  assert.deepEqual(outcome.calls, { DescribeKey: 1, ListResourceTags: 1, ListKeyRotations: 1, DescribeSecret: 1 });
  assert.deepEqual(secretsMock.commandCalls(DescribeSecretCommand).map((c) => c.args[0].input), [{ SecretId: DEFAULT_SECRET }]);
  assert.doesNotMatch(summariseOutcome(outcome), /WOULD/);
});

test('escrow missing or scheduled for deletion: the run would fail EscrowMissing, and the plan says how to fix it', async () => {
  scenario({ secret: awsError('ResourceNotFoundException') });
  const missing = await plan();
  assert.match(missing.reason!, /^plan: would recover/, 'what the run would try is still said');
  assert.equal(missing.wouldFail?.status, 'failed');
  assert.equal(missing.wouldFail?.errorName, 'EscrowMissing');
  assert.match(missing.wouldFail!.reason, new RegExp(`No escrow secret ${DEFAULT_SECRET} for key ${KEY_ID}`));
  assert.match(missing.wouldFail!.reason, /aws secretsmanager create-secret/);
  assert.match(summariseOutcome(missing), /WOULD FAIL: EscrowMissing: /);

  kmsMock.reset();
  secretsMock.reset();
  scenario({ secret: { Name: DEFAULT_SECRET, DeletedDate: new Date('2027-03-01T00:00:00Z') } });
  const deleted = await plan();
  assert.equal(deleted.wouldFail?.errorName, 'EscrowMissing');
  assert.match(deleted.wouldFail!.reason, /scheduled for deletion/);
  assert.match(deleted.wouldFail!.reason, /restore-secret/);
});

test('escrow unbound: a tag-named secret without the binding tag, another key\'s default secret, a secret older than the key: the run would fail EscrowInvalid', async () => {
  const custom = 'team/payments-escrow';
  scenario({ tags: { 'kms-reimport:managed': 'true', 'kms-reimport:escrow': custom }, secret: { Name: custom, CreatedDate: new Date('2026-02-01T00:00:00Z'), Tags: [] } });
  const unbound = await plan();
  assert.equal(unbound.wouldFail?.status, 'failed');
  assert.equal(unbound.wouldFail?.errorName, 'EscrowInvalid');
  assert.match(unbound.wouldFail!.reason, /escrow unbound/);
  assert.match(unbound.wouldFail!.reason, new RegExp(`tag-resource --secret-id ${custom} --tags Key=kms-reimport:key-id,Value=${KEY_ID}`));

  kmsMock.reset();
  secretsMock.reset();
  scenario({ tags: { 'kms-reimport:managed': 'true', 'kms-reimport:escrow': `kms-reimport/${OTHER_KEY}` }, secret: { Name: `kms-reimport/${OTHER_KEY}`, Tags: [{ Key: 'kms-reimport:key-id', Value: KEY_ID }] } });
  const foreign = await plan();
  assert.equal(foreign.wouldFail?.errorName, 'EscrowInvalid');
  assert.match(foreign.wouldFail!.reason, new RegExp(`default escrow secret of another key \\(${OTHER_KEY}\\)`));

  kmsMock.reset();
  secretsMock.reset();
  scenario({ tags: { 'kms-reimport:managed': 'true', 'kms-reimport:escrow': custom }, secret: { Name: custom, CreatedDate: new Date('2025-01-01T00:00:00Z'), Tags: [{ Key: 'kms-reimport:key-id', Value: KEY_ID }] } });
  const older = await plan();
  assert.equal(older.wouldFail?.errorName, 'EscrowInvalid');
  assert.match(older.wouldFail!.reason, /before the key itself/);
});

test('escrow mismatched (the key\'s default secret re-bound by its tag) or not checkable: the run still goes ahead, the plan notes it, no wouldFail', async () => {
  scenario({ secret: { Name: DEFAULT_SECRET, Tags: [{ Key: 'kms-reimport:key-id', Value: OTHER_KEY }] } });
  const mismatched = await plan();
  assert.equal(mismatched.wouldFail, undefined);
  assert.match(mismatched.reason!, /Escrow mismatched \(this run still uses it/);
  assert.match(mismatched.reason!, new RegExp(`Value=${KEY_ID}`), 'with the command that sets the tag back');

  kmsMock.reset();
  secretsMock.reset();
  scenario({ secret: awsError('AccessDeniedException') });
  const unchecked = await plan();
  assert.equal(unchecked.wouldFail, undefined, 'a run reading the default secret needs no DescribeSecret');
  assert.match(unchecked.reason!, /Escrow not checked: .*could not be described/);
});

test('escrow encrypted under the key itself: a recovery would fail EscrowMissing (the key is down); a renewal would not', async () => {
  scenario({ secret: { Name: DEFAULT_SECRET, KmsKeyId: KEY_ARN } });
  const recover = await plan();
  assert.equal(recover.wouldFail?.errorName, 'EscrowMissing');
  assert.match(recover.wouldFail!.reason, /escrow self-encrypted/);
  assert.match(recover.wouldFail!.reason, /update-secret --secret-id/);

  kmsMock.reset();
  secretsMock.reset();
  const soon = new Date(NOW.getTime() + 3 * 86_400_000);
  scenario({
    key: { KeyState: 'Enabled', ValidTo: soon },
    rotations: [{ KeyMaterialId: MATERIAL_ID_A, KeyMaterialState: 'CURRENT', ImportState: 'IMPORTED', ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: soon }],
    secret: { Name: DEFAULT_SECRET, KmsKeyId: 'alias/payments' },
  });
  kmsMock.on(DescribeKeyCommand, { KeyId: 'alias/payments' }).resolves({ KeyMetadata: { KeyId: KEY_ID } });
  const renew = await plan();
  assert.match(renew.reason!, /^plan: would renew/);
  assert.equal(renew.wouldFail, undefined);
  assert.match(renew.reason!, /Escrow self-encrypted: /);
  assert.deepEqual(kmsMock.commandCalls(DescribeKeyCommand).map((c) => c.args[0].input.KeyId), [KEY_ID, 'alias/payments'], 'the alias that encrypts the secret was resolved');
});

test('a Multi-Region replica whose Region has no escrow: the run would fail EscrowMissing; a primary with an unreplicated escrow: noted', async () => {
  const replicaArn = KEY_ARN.replace('us-east-1', 'eu-west-1');
  scenario({
    key: { Arn: replicaArn, MultiRegion: true, MultiRegionConfiguration: { MultiRegionKeyType: 'REPLICA', PrimaryKey: { Arn: KEY_ARN, Region: 'us-east-1' }, ReplicaKeys: [] } },
    secret: awsError('ResourceNotFoundException'),
  });
  const replica = await plan();
  assert.equal(replica.wouldFail?.errorName, 'EscrowMissing');
  assert.match(replica.wouldFail!.reason, /escrow unreplicated/);
  assert.match(replica.wouldFail!.reason, /replicate-secret-to-regions/);

  kmsMock.reset();
  secretsMock.reset();
  scenario({
    key: { MultiRegion: true, MultiRegionConfiguration: { MultiRegionKeyType: 'PRIMARY', PrimaryKey: { Arn: KEY_ARN, Region: 'us-east-1' }, ReplicaKeys: [{ Arn: replicaArn, Region: 'eu-west-1' }] } },
    secret: { Name: DEFAULT_SECRET, ReplicationStatus: [] },
  });
  const primary = await plan();
  assert.equal(primary.wouldFail, undefined);
  assert.match(primary.reason!, /Escrow unreplicated: .*eu-west-1/);
});

test('a key the run would skip by name: wouldFail skipped with KeyNotManaged / KeyNotEligible and the next step; no escrow call', async () => {
  const cases: Array<{ key?: Partial<KeyMetadata>; tags?: Record<string, string>; rotations?: RotationsListEntry[]; errorName: string; next: RegExp }> = [
    { tags: { team: 'payments' }, errorName: 'KeyNotManaged', next: /tag it to opt in/ },
    { key: { KeyState: 'Disabled' }, errorName: 'KeyNotEligible', next: /enable-key/ },
    { key: { KeyState: 'PendingDeletion' }, errorName: 'KeyNotEligible', next: /cancel-key-deletion/ },
    { key: { Origin: 'AWS_KMS', KeyState: 'Enabled' }, errorName: 'KeyNotEligible', next: /not EXTERNAL/ },
    { key: { CurrentKeyMaterialId: undefined }, rotations: [], errorName: 'KeyNotEligible', next: /never held key material.*onboarding/ },
    { key: { KeyState: 'Unavailable' }, errorName: 'KeyNotEligible', next: /Retry later/ },
    { key: { KeySpec: 'SM2', KeyUsage: 'SIGN_VERIFY' }, errorName: 'KeyNotEligible', next: /SM2, which kms-reimport cannot reimport/ },
  ];
  for (const c of cases) {
    kmsMock.reset();
    secretsMock.reset();
    scenario({ ...(c.key ? { key: c.key } : {}), ...(c.tags ? { tags: c.tags } : {}), ...(c.rotations ? { rotations: c.rotations } : {}) });
    const outcome = await plan();
    const label = JSON.stringify(c.key ?? c.tags);
    assert.equal(outcome.wouldFail?.status, 'skipped', label);
    assert.equal(outcome.wouldFail?.errorName, c.errorName, label);
    assert.match(outcome.wouldFail!.reason, c.next, label);
    assert.match(outcome.wouldFail!.reason, new RegExp(KEY_ID), label);
    assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 0, `${label}: no escrow check for a run that would not import`);
    assert.match(summariseOutcome(outcome), new RegExp(`WOULD BE SKIPPED: ${c.errorName}`));
  }
});

test('a healthy key with nothing to do: no wouldFail, no escrow check', async () => {
  scenario({ key: { KeyState: 'Enabled', ValidTo: new Date(NOW.getTime() + 80 * 86_400_000) }, rotations: [] });
  const outcome = await plan();
  assert.match(outcome.reason!, /^plan: would skip: .*Nothing to do/);
  assert.equal(outcome.wouldFail, undefined);
  assert.equal(secretsMock.commandCalls(DescribeSecretCommand).length, 0);
});
