/**
 * What goes wrong at 3 a.m., over HTTP against the local endpoint: wrong material, a token that
 * expires, throttling, a key missing several materials, and every kind of bad input. Each ends in
 * a named outcome that names the key, and escrow is never changed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  ImportKeyMaterialCommand,
  ListKeyRotationsCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  TagResourceCommand,
} from '@aws-sdk/client-kms';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
} from '@aws-sdk/client-secrets-manager';
import { getImportParameters } from '../../lib/kms/import-parameters.js';
import { chooseWrapping, wrapKeyMaterial } from '../../lib/wrap/index.js';
import { ESCROW_FORMAT_V1, ESCROW_KEY_ID_TAG } from '../../lib/escrow/index.js';
import { onboardKey, startLocalAws, type LocalAws } from '../support/local-aws.js';
import { validateOutput } from '../support/cli.js';

let aws: LocalAws;
before(async () => {
  aws = await startLocalAws();
});
after(() => aws.closeAfterLeakCheck());

const recover = (keyRef: string, action: 'auto' | 'recover' | 'renew' = 'auto') => aws.recover(keyRef, action);

async function escrowVersions(keyId: string): Promise<string[]> {
  const out = await aws.secrets.send(new ListSecretVersionIdsCommand({ SecretId: `${aws.config.escrowPrefix}${keyId}` }));
  return (out.Versions ?? []).map((v) => `${v.VersionId}:${(v.VersionStages ?? []).join(',')}`).sort();
}

async function expiredKey(keySpec = 'SYMMETRIC_DEFAULT') {
  const key = await onboardKey(aws, keySpec, { lifetimeSeconds: 60 });
  aws.endpoint.clock.advance(61);
  return key;
}

describe('wrong material in escrow', () => {
  test('stops with IncorrectKeyMaterial after exactly one import attempt, and escrow is untouched', async () => {
    const key = await expiredKey();
    await aws.secrets.send(new PutSecretValueCommand({ SecretId: `${aws.config.escrowPrefix}${key.keyId}`, SecretBinary: randomBytes(32) }));
    const versionsBefore = await escrowVersions(key.keyId);
    aws.endpoint.controls.resetCounters();

    const outcome = await recover(key.keyId);

    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.errorName, 'IncorrectKeyMaterial');
    assert.match(outcome.reason!, new RegExp(key.keyId));
    assert.equal(aws.calls('ImportKeyMaterial'), 1, 'never retried with the same or other material');
    assert.deepEqual(await escrowVersions(key.keyId), versionsBefore);
  });
});

describe('import tokens', () => {
  test('an expired token gets new parameters and one more try, not a failure', async () => {
    const key = await expiredKey();
    aws.endpoint.controls.resetCounters();
    aws.endpoint.controls.injectError('ImportKeyMaterial', { type: 'ExpiredImportTokenException', message: 'Import token expired', count: 1 });

    const outcome = await recover(key.keyId);

    assert.equal(outcome.status, 'recovered', outcome.reason);
    assert.equal(aws.calls('GetParametersForImport'), 2);
    assert.equal(aws.calls('ImportKeyMaterial'), 2);
  });

  test('a token that keeps failing ends in a failed outcome that says to retry later', async () => {
    const key = await expiredKey();
    aws.endpoint.controls.injectError('ImportKeyMaterial', { type: 'InvalidImportTokenException', message: 'bad token', count: 5 });

    const outcome = await recover(key.keyId);

    aws.endpoint.controls.clearInjectedErrors();
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.errorName, 'ImportTokenExpired');
  });
});

describe('throttling and transient KMS errors', () => {
  test('throttled GetParametersForImport is retried with backoff and the key recovers', async () => {
    const key = await expiredKey();
    aws.endpoint.controls.resetCounters();
    aws.endpoint.controls.injectError('GetParametersForImport', { type: 'ThrottlingException', message: 'Rate exceeded', count: 2 });
    aws.endpoint.controls.injectError('ImportKeyMaterial', { type: 'KMSInternalException', count: 1 });

    const outcome = await recover(key.keyId);

    assert.equal(outcome.status, 'recovered', outcome.reason);
    assert.equal(aws.calls('GetParametersForImport'), 3);
    assert.equal(outcome.calls.GetParametersForImport, 3);
  });

  test('throttling beyond the bounded retries ends in KmsUnavailable, not a hang', async () => {
    const key = await expiredKey();
    aws.endpoint.controls.injectError('GetParametersForImport', { type: 'ThrottlingException', message: 'Rate exceeded', count: 50 });

    const outcome = await recover(key.keyId);

    aws.endpoint.controls.clearInjectedErrors();
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.errorName, 'KmsUnavailable');
    assert.equal(outcome.calls.GetParametersForImport, aws.config.maxAttempts);
  });
});

/**
 * An onboarded key rotated by hand (new material imported as NEW_KEY_MATERIAL, then
 * RotateKeyOnDemand), with both materials escrowed by KeyMaterialId. Both expire after
 * `lifetimeSeconds` on the endpoint clock.
 */
async function rotatedKey(target: LocalAws, lifetimeSeconds = 3600) {
  const key = await onboardKey(target, 'SYMMETRIC_DEFAULT', { lifetimeSeconds });
  const second = randomBytes(32);
  const params = await getImportParameters(target.kms, key.keyId, chooseWrapping('SYMMETRIC_DEFAULT', target.config));
  const wrapped = wrapKeyMaterial(second, Buffer.from(params.publicKey, 'base64'), params.wrappingAlgorithm);
  await target.kms.send(
    new ImportKeyMaterialCommand({
      KeyId: key.keyId,
      ImportToken: Buffer.from(params.importToken, 'base64'),
      EncryptedKeyMaterial: wrapped,
      ImportType: 'NEW_KEY_MATERIAL',
      ExpirationModel: 'KEY_MATERIAL_EXPIRES',
      ValidTo: new Date(Math.floor(target.endpoint.clock.now() / 1000) * 1000 + lifetimeSeconds * 1000),
    }),
  );
  await target.kms.send(new RotateKeyOnDemandCommand({ KeyId: key.keyId }));
  const rotations = await target.kms.send(new ListKeyRotationsCommand({ KeyId: key.keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }));
  const ids = (rotations.Rotations ?? []).map((r) => r.KeyMaterialId!);
  assert.equal(ids.length, 2);
  const firstId = rotations.Rotations!.find((r) => r.KeyMaterialState === 'NON_CURRENT')!.KeyMaterialId!;
  const secondId = rotations.Rotations!.find((r) => r.KeyMaterialState === 'CURRENT')!.KeyMaterialId!;
  await target.secrets.send(
    new PutSecretValueCommand({
      SecretId: `${target.config.escrowPrefix}${key.keyId}`,
      SecretString: JSON.stringify({
        format: ESCROW_FORMAT_V1,
        materials: [
          { keyMaterialId: firstId, material: key.material.toString('base64') },
          { keyMaterialId: secondId, material: second.toString('base64') },
        ],
      }),
    }),
  );
  return { key, second, firstId, secondId };
}

describe('a key missing several materials after a rotation', () => {
  test('every missing material is reimported, each with its KeyMaterialId', async () => {
    const { key, firstId, secondId } = await rotatedKey(aws);
    aws.endpoint.clock.advance(3601);
    assert.equal((await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!.KeyState, 'PendingImport');
    aws.endpoint.controls.resetCounters();

    const outcome = await recover(key.keyId);

    assert.equal(outcome.status, 'recovered', outcome.reason);
    assert.deepEqual(outcome.imported.map((m) => m.keyMaterialId).sort(), [firstId, secondId].sort());
    assert.equal(aws.calls('ImportKeyMaterial'), 2);
    assert.equal((await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!.KeyState, 'Enabled');
  });
});

describe('escrow: the entry without keyMaterialId is the current material', () => {
  test('beside a labelled older material, it serves the current one and the key missing both is recovered', async () => {
    const { key, second, firstId, secondId } = await rotatedKey(aws);
    await aws.secrets.send(
      new PutSecretValueCommand({
        SecretId: `${aws.config.escrowPrefix}${key.keyId}`,
        SecretString: JSON.stringify({
          format: ESCROW_FORMAT_V1,
          materials: [{ keyMaterialId: firstId, material: key.material.toString('base64') }, { material: second.toString('base64') }],
        }),
      }),
    );
    aws.endpoint.clock.advance(3601);
    aws.endpoint.controls.resetCounters();

    const outcome = await recover(key.keyId);

    assert.equal(outcome.status, 'recovered', outcome.reason);
    assert.deepEqual(outcome.imported.map((m) => m.keyMaterialId).sort(), [firstId, secondId].sort());
    assert.equal(aws.calls('ImportKeyMaterial'), 2);
  });
});

describe("KMS's default request quotas (GetParametersForImport: one every 4 s)", () => {
  let quoted: LocalAws;
  before(async () => {
    // Short retries (harness default 1 ms base): only the pacing can keep the second call in quota.
    quoted = await startLocalAws({ quotas: 'kms-defaults' }, { parametersIntervalMs: 4000 });
  });
  after(async () => {
    try {
      if (quoted.outcomes.length > 0) await quoted.assertNoLeaks(); // (nothing to look for when the test was filtered out)
    } finally {
      await quoted.close();
    }
  });

  test('a key missing two materials is recovered: the second GetParametersForImport waits for the quota instead of failing', async () => {
    quoted.endpoint.controls.useQuotaPreset('off'); // setup makes its own GetParametersForImport calls
    const { key, firstId, secondId } = await rotatedKey(quoted);
    quoted.endpoint.clock.advance(3601);
    quoted.endpoint.controls.useQuotaPreset('kms-defaults'); // full buckets: the run's first call is in quota
    quoted.endpoint.controls.resetCounters();

    const outcome = await quoted.recover(key.keyId);

    assert.equal(outcome.status, 'recovered', outcome.reason);
    assert.deepEqual(outcome.imported.map((m) => m.keyMaterialId).sort(), [firstId, secondId].sort());
    assert.equal(quoted.calls('ImportKeyMaterial'), 2);
    assert.equal(quoted.endpoint.controls.getCounters()['kms:GetParametersForImport']?.throttled ?? 0, 0, 'no call was throttled');
    assert.equal(outcome.calls.GetParametersForImport, 2);
    assert.equal((await quoted.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!.KeyState, 'Enabled');
  });
});

describe('renewal never shortens ValidTo', () => {
  test('an explicit renew of a key valid for 300 days (lifetime 90) is skipped, naming the current ValidTo, and changes nothing', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 300 * 86_400 });
    const before = (await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!.ValidTo!;
    aws.endpoint.controls.resetCounters();

    const outcome = await recover(key.keyId, 'renew');

    assert.equal(outcome.status, 'skipped', outcome.reason);
    assert.ok(outcome.reason!.includes(before.toISOString()), outcome.reason);
    assert.equal(aws.calls('GetParametersForImport'), 0);
    assert.equal(aws.calls('ImportKeyMaterial'), 0);
    const after = (await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!.ValidTo!;
    assert.equal(after.toISOString(), before.toISOString());
  });
});

describe("escrow binding: a key's escrow tag cannot borrow another key's escrow", () => {
  test("a managed key whose escrow tag names another key's secret fails EscrowInvalid: nothing imported, the victim's escrow unchanged", async () => {
    const victim = await onboardKey(aws, 'ECC_NIST_P256');
    const victimSecret = `${aws.config.escrowPrefix}${victim.keyId}`;
    const versionsBefore = await escrowVersions(victim.keyId);
    // The attacker only needs to create and tag an EXTERNAL key of the same spec.
    const attacker = await onboardKey(aws, 'ECC_NIST_P256', { bare: true, tags: [{ TagKey: aws.config.escrowTagKey, TagValue: victimSecret }] });
    aws.endpoint.controls.resetCounters();

    const outcome = await recover(attacker.keyId);

    assert.equal(outcome.status, 'failed', outcome.reason);
    assert.equal(outcome.errorName, 'EscrowInvalid');
    assert.match(outcome.reason!, new RegExp(attacker.keyId));
    assert.match(outcome.reason!, /default escrow secret of another key/);
    assert.equal(aws.calls('ImportKeyMaterial'), 0, 'nothing was imported');
    assert.equal(aws.calls('GetSecretValue'), 0, "the victim's secret was never read");
    assert.equal(aws.calls('DescribeSecret'), 0, 'refused by its name, before any call');
    assert.equal((await aws.kms.send(new DescribeKeyCommand({ KeyId: attacker.keyId }))).KeyMetadata!.KeyState, 'PendingImport');
    assert.deepEqual(await escrowVersions(victim.keyId), versionsBefore, "the victim's escrow is unchanged");
    const held = await aws.secrets.send(new GetSecretValueCommand({ SecretId: victimSecret }));
    assert.ok(Buffer.from(held.SecretBinary!).equals(victim.material), "the victim's escrow still holds its material");
  });

  test('a secret named by the escrow tag and bound to the key with kms-reimport:key-id is used', async () => {
    const key = await expiredKey();
    const custom = `team-escrow/${key.keyId}`;
    await aws.secrets.send(new CreateSecretCommand({ Name: custom, SecretBinary: key.material, Tags: [{ Key: ESCROW_KEY_ID_TAG, Value: key.keyId }] }));
    // The default secret is emptied of the right material, so success proves the tagged one was read.
    await aws.secrets.send(new PutSecretValueCommand({ SecretId: `${aws.config.escrowPrefix}${key.keyId}`, SecretBinary: randomBytes(32) }));
    await aws.kms.send(new TagResourceCommand({ KeyId: key.keyId, Tags: [{ TagKey: aws.config.escrowTagKey, TagValue: custom }] }));
    aws.endpoint.controls.resetCounters();

    const outcome = await recover(key.keyId);

    assert.equal(outcome.status, 'recovered', outcome.reason);
    assert.equal(aws.calls('DescribeSecret'), 1);
    assert.equal(aws.calls('ImportKeyMaterial'), 1);
  });
});

describe('bad input ends in a named outcome that names the key, and escrow never changes', () => {
  test('missing escrow secret', async () => {
    const key = await expiredKey();
    await aws.secrets.send(new DeleteSecretCommand({ SecretId: `${aws.config.escrowPrefix}${key.keyId}`, ForceDeleteWithoutRecovery: true }));
    aws.endpoint.controls.resetCounters();
    const outcome = await recover(key.keyId);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.errorName, 'EscrowMissing');
    assert.match(outcome.reason!, new RegExp(key.keyId));
    assert.equal(aws.calls('ImportKeyMaterial'), 0);
  });

  test('escrow of the wrong length', async () => {
    const key = await expiredKey();
    await aws.secrets.send(new PutSecretValueCommand({ SecretId: `${aws.config.escrowPrefix}${key.keyId}`, SecretBinary: randomBytes(31) }));
    const versionsBefore = await escrowVersions(key.keyId);
    aws.endpoint.controls.resetCounters();
    const outcome = await recover(key.keyId);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.errorName, 'EscrowInvalid');
    assert.equal(aws.calls('ImportKeyMaterial'), 0);
    assert.deepEqual(await escrowVersions(key.keyId), versionsBefore);
  });

  test('escrow of the wrong key type (an EC key for an RSA key)', async () => {
    const key = await expiredKey('RSA_2048');
    const ec = await (await import('../../lib/material/generate.js')).generateKeyMaterial('ECC_NIST_P256');
    await aws.secrets.send(new PutSecretValueCommand({ SecretId: `${aws.config.escrowPrefix}${key.keyId}`, SecretBinary: ec }));
    const outcome = await recover(key.keyId);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.errorName, 'EscrowInvalid');
  });

  test('a key that is not tagged as managed is reported, never changed', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60, managed: false });
    aws.endpoint.clock.advance(61);
    aws.endpoint.controls.resetCounters();
    const outcome = await recover(key.keyId, 'recover');
    assert.equal(outcome.status, 'skipped');
    assert.match(outcome.reason!, new RegExp(key.keyId));
    assert.match(outcome.reason!, /kms-reimport:managed/);
    assert.equal(aws.calls('GetParametersForImport'), 0);
    assert.equal(aws.calls('ImportKeyMaterial'), 0);
  });

  test('a key that is not EXTERNAL is never touched', async () => {
    const created = await aws.kms.send(new CreateKeyCommand({ Tags: [{ TagKey: aws.config.managedTagKey, TagValue: 'true' }] }));
    aws.endpoint.controls.resetCounters();
    const outcome = await recover(created.KeyMetadata!.KeyId!, 'recover');
    assert.equal(outcome.status, 'skipped');
    assert.match(outcome.reason!, /EXTERNAL/);
    assert.equal(aws.calls('GetParametersForImport'), 0);
  });

  test('a key pending deletion is never touched', async () => {
    const key = await expiredKey();
    await aws.kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.keyId, PendingWindowInDays: 7 }));
    aws.endpoint.controls.resetCounters();
    const outcome = await recover(key.keyId, 'recover');
    assert.equal(outcome.status, 'skipped');
    assert.match(outcome.reason!, /PendingDeletion|pending deletion/i);
    assert.equal(aws.calls('ImportKeyMaterial'), 0);
  });

  test('a key disabled on purpose is never touched', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
    await aws.kms.send(new DisableKeyCommand({ KeyId: key.keyId }));
    aws.endpoint.controls.resetCounters();
    const outcome = await recover(key.keyId, 'recover');
    assert.equal(outcome.status, 'skipped');
    assert.match(outcome.reason!, /disabled/i);
    assert.equal(aws.calls('ImportKeyMaterial'), 0);
  });

  test('a key disabled on purpose whose material then expired gets the material back, stays Disabled, and a second run leaves it alone', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 });
    await aws.kms.send(new DisableKeyCommand({ KeyId: key.keyId }));
    aws.endpoint.clock.advance(61);
    const before = (await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!.KeyState;
    aws.endpoint.controls.resetCounters();

    const outcome = await recover(key.keyId);

    assert.equal(outcome.status, 'recovered', outcome.reason);
    assert.equal(outcome.errorName, undefined);
    assert.equal(outcome.verified, false);
    assert.equal(outcome.keyStateBefore, before);
    assert.equal(outcome.keyStateAfter, 'Disabled');
    assert.match(outcome.reason!, /left Disabled as found/);
    assert.match(outcome.reason!, /enable-key/);
    assert.equal(aws.calls('ImportKeyMaterial'), 1);
    assert.equal(aws.calls('Encrypt'), 1, 'the probe went first (no DescribeKey before it) and was refused: DisabledException');
    assert.equal(aws.endpoint.controls.getCounters()['kms:Encrypt']?.errors, 1);
    assert.equal(aws.calls('Decrypt'), 0, 'no round trip on a disabled key');
    assert.equal(aws.calls('DescribeKey'), 2, 'the inspection, and the DescribeKey that named the state after the refused probe');
    assert.equal((await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!.KeyState, 'Disabled', 'never enabled by the service');

    aws.endpoint.controls.resetCounters();
    const again = await recover(key.keyId);
    assert.equal(again.status, 'skipped', 'a second trigger does not repeat the import');
    assert.match(again.reason!, /Disabled/);
    assert.equal(aws.calls('ImportKeyMaterial'), 0);
  });

  test('a disabled key whose material was deleted: material back, left Disabled, not verified', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
    await aws.kms.send(new DisableKeyCommand({ KeyId: key.keyId }));
    await aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.keyId }));
    const outcome = await recover(key.keyId, 'recover');
    // The endpoint reports such a key as PendingImport (real KMS: unconfirmed; a key reported Disabled is skipped).
    assert.equal(outcome.keyStateBefore, 'PendingImport');
    assert.equal(outcome.status, 'recovered', outcome.reason);
    assert.equal(outcome.verified, false);
    assert.equal(outcome.keyStateAfter, 'Disabled');
    assert.equal((await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!.KeyState, 'Disabled');
  });

  test('an alias to nothing, and a key that does not exist', async () => {
    const dangling = `alias/kms-reimport-test-${randomBytes(4).toString('hex')}`;
    const outcome = await recover(dangling, 'recover');
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.errorName, 'KeyNotFound');
    assert.match(outcome.reason!, new RegExp(dangling));

    const missing = '11111111-2222-3333-4444-555555555555';
    const outcome2 = await recover(missing, 'recover');
    assert.equal(outcome2.errorName, 'KeyNotFound');
    assert.match(outcome2.reason!, new RegExp(missing));
  });

  test('an alias resolves to its key', async () => {
    const key = await expiredKey();
    const alias = `alias/kms-reimport-test-${randomBytes(4).toString('hex')}`;
    await aws.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.keyId }));
    const outcome = await recover(alias);
    assert.equal(outcome.status, 'recovered', outcome.reason);
    assert.equal(outcome.keyId, key.keyId);
    assert.equal(outcome.requestedRef, alias);
  });
});

describe('plan says when a run would fail before it starts, and the run then ends exactly so', () => {
  const plan = (keyRef: string) => aws.recover(keyRef, 'plan');

  /** Plans, checks that the plan changed and read nothing, then runs: the run ends as the plan said. */
  async function planThenRun(keyRef: string, expected: { status: 'failed' | 'skipped'; errorName: string; reason: RegExp } | undefined) {
    aws.endpoint.controls.resetCounters();
    const planned = await plan(keyRef);
    assert.equal(planned.status, 'planned');
    validateOutput('outcome', JSON.parse(JSON.stringify(planned))); // what `plan --json` prints, wouldFail included
    for (const op of ['GetParametersForImport', 'ImportKeyMaterial', 'GetSecretValue']) assert.equal(aws.calls(op), 0, `a plan makes no ${op}`);
    if (expected === undefined) {
      assert.equal(planned.wouldFail, undefined, planned.reason);
    } else {
      assert.equal(planned.wouldFail?.status, expected.status, planned.reason);
      assert.equal(planned.wouldFail?.errorName, expected.errorName);
      assert.match(planned.wouldFail!.reason, expected.reason);
      assert.match(planned.wouldFail!.reason, new RegExp(planned.keyId));
    }
    const ran = await recover(keyRef, 'auto');
    if (expected === undefined) {
      assert.ok(['recovered', 'renewed'].includes(ran.status), `${ran.status}: ${ran.reason}`);
    } else {
      assert.equal(ran.status, expected.status, ran.reason);
      assert.equal(ran.errorName, expected.errorName, 'the run ends in the error class the plan named');
      assert.equal(aws.calls('ImportKeyMaterial'), 0);
    }
    return { planned, ran };
  }

  test('healthy escrow: no wouldFail, and the run recovers', async () => {
    const key = await expiredKey();
    await planThenRun(key.keyId, undefined);
  });

  test('escrow deleted, or scheduled for deletion: EscrowMissing, naming the fix', async () => {
    const gone = await expiredKey();
    await aws.secrets.send(new DeleteSecretCommand({ SecretId: `${aws.config.escrowPrefix}${gone.keyId}`, ForceDeleteWithoutRecovery: true }));
    await planThenRun(gone.keyId, { status: 'failed', errorName: 'EscrowMissing', reason: /create-secret/ });

    const scheduled = await expiredKey();
    await aws.secrets.send(new DeleteSecretCommand({ SecretId: `${aws.config.escrowPrefix}${scheduled.keyId}`, RecoveryWindowInDays: 7 }));
    await planThenRun(scheduled.keyId, { status: 'failed', errorName: 'EscrowMissing', reason: /scheduled for deletion.*restore-secret/ });
  });

  test('escrow unbound (a tag-named secret without the binding tag): EscrowInvalid, naming the tag that binds it', async () => {
    const key = await expiredKey();
    const custom = `team-escrow/unbound-${key.keyId}`;
    await aws.secrets.send(new CreateSecretCommand({ Name: custom, SecretBinary: key.material }));
    await aws.kms.send(new TagResourceCommand({ KeyId: key.keyId, Tags: [{ TagKey: aws.config.escrowTagKey, TagValue: custom }] }));
    await planThenRun(key.keyId, { status: 'failed', errorName: 'EscrowInvalid', reason: new RegExp(`Key=${ESCROW_KEY_ID_TAG},Value=${key.keyId}`) });
  });

  test('not managed, disabled, pending deletion, never imported: skipped by name, with the next step', async () => {
    const unmanaged = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { managed: false, bare: true });
    await planThenRun(unmanaged.keyId, { status: 'skipped', errorName: 'KeyNotManaged', reason: /tag it to opt in/ });

    const disabled = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
    await aws.kms.send(new DisableKeyCommand({ KeyId: disabled.keyId }));
    await planThenRun(disabled.keyId, { status: 'skipped', errorName: 'KeyNotEligible', reason: /enable-key/ });

    const deleting = await expiredKey();
    await aws.kms.send(new ScheduleKeyDeletionCommand({ KeyId: deleting.keyId, PendingWindowInDays: 7 }));
    await planThenRun(deleting.keyId, { status: 'skipped', errorName: 'KeyNotEligible', reason: /cancel-key-deletion/ });

    const neverImported = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { bare: true });
    await planThenRun(neverImported.keyId, { status: 'skipped', errorName: 'KeyNotEligible', reason: /never held key material/ });
  });
});
