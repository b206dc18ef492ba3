/**
 * In-place rotation end to end over HTTP against the local endpoint: the new material becomes
 * current, old ciphertexts still decrypt, the escrow holds every material with its KeyMaterialId
 * in new versions (earlier ones kept); a crash after each step is finished by the next run with
 * exactly one new material; the 25-rotation cap; concurrent runs under the lease; recovery of the
 * NON_CURRENT material after a rotation; no material in any log or outcome.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  ImportKeyMaterialCommand,
  ListKeyRotationsCommand,
  ListResourceTagsCommand,
  TagResourceCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { GetSecretValueCommand, ListSecretVersionIdsCommand, PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDbKeyLease } from '../../lib/lease/index.js';
import { generateKeyMaterial } from '../../lib/material/generate.js';
import { escrowAndImport } from '../../lib/material/onboard.js';
import { rotateKey, type RotateOptions } from '../../lib/rotate.js';
import type { RecoverDeps } from '../../lib/recover.js';
import type { Outcome } from '../../lib/types.js';
import { startDynalite, type LocalDynamo } from '../support/dynalite.js';
import { interceptSend, runStopsHere, stopBeforeNth } from '../support/intercept.js';
import { onboardKey, startLocalAws, type LocalAws } from '../support/local-aws.js';

let aws: LocalAws;
let dynamo: LocalDynamo;
const LEASE_TABLE = 'rotation-lease';
/** Fast wrapping keys: the endpoint makes one per GetParametersForImport. */
const wrapping = { symmetric: { keySpec: 'RSA_2048' } };

before(async () => {
  aws = await startLocalAws({}, { wrapping, materialLifetimeDays: 30 });
  dynamo = await startDynalite();
  await dynamo.createLeaseTable(LEASE_TABLE);
});
after(async () => {
  await dynamo.close();
  await aws.closeAfterLeakCheck();
});

/** ImportType of every ImportKeyMaterial sent through this client. */
function recordImports(kms: KMSClient, importTypes: string[]): KMSClient {
  return interceptSend(kms, { before: (command) => void (command instanceof ImportKeyMaterialCommand && importTypes.push(command.input.ImportType ?? '(none)')) });
}

/** A Secrets Manager client whose n-th PutSecretValue (1-based) fails as if the run died there. */
const failingNthPut = (secrets: SecretsManagerClient, n: number): SecretsManagerClient => stopBeforeNth(secrets, PutSecretValueCommand, n);

async function rotate(keyRef: string, options: Partial<RotateOptions> = {}, deps: Partial<RecoverDeps> = {}): Promise<Outcome> {
  const outcome = await rotateKey({ kms: aws.kms, secrets: aws.secrets, logger: aws.logger, ...deps }, keyRef, {
    action: 'rotate',
    config: aws.config,
    now: aws.now,
    ...options,
  });
  aws.outcomes.push(outcome);
  return outcome;
}

async function materials(keyId: string) {
  const out = await aws.kms.send(new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }));
  return out.Rotations ?? [];
}

async function currentMaterial(keyId: string): Promise<string | undefined> {
  return (await aws.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.CurrentKeyMaterialId;
}

const CONTEXT = { app: 'rotation-test' };
async function encrypt(keyId: string, text: string): Promise<Uint8Array> {
  return (await aws.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(text), EncryptionContext: CONTEXT }))).CiphertextBlob!;
}
async function decrypt(blob: Uint8Array): Promise<string> {
  return Buffer.from((await aws.kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: CONTEXT }))).Plaintext!).toString();
}

interface EscrowDoc {
  format: string;
  materials: Array<{ keyMaterialId?: string; material: string; rotation?: string; state?: string }>;
}
async function escrow(keyId: string, versionId?: string): Promise<{ doc?: EscrowDoc; binary?: Uint8Array }> {
  const out = await aws.secrets.send(new GetSecretValueCommand({ SecretId: `${aws.config.escrowPrefix}${keyId}`, ...(versionId ? { VersionId: versionId } : {}) }));
  return out.SecretString ? { doc: JSON.parse(out.SecretString) as EscrowDoc } : { ...(out.SecretBinary ? { binary: out.SecretBinary } : {}) };
}
async function versions(keyId: string): Promise<string[]> {
  const out = await aws.secrets.send(new ListSecretVersionIdsCommand({ SecretId: `${aws.config.escrowPrefix}${keyId}`, IncludeDeprecated: true }));
  return (out.Versions ?? []).map((v) => v.VersionId!);
}

describe('in-place rotation of a SYMMETRIC_DEFAULT key', () => {
  test('end to end: new current material, old ciphertext decrypts, escrow holds both with their IDs, earlier versions kept', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 7 * 86_400 });
    const from = await currentMaterial(key.keyId);
    const old = await encrypt(key.keyId, 'written before the rotation');
    const rawVersions = await versions(key.keyId);
    assert.equal(rawVersions.length, 1);

    const importTypes: string[] = [];
    const outcome = await rotate(key.keyId, {}, { kms: recordImports(aws.kms, importTypes) });

    assert.equal(outcome.status, 'rotated', outcome.reason);
    assert.equal(outcome.verified, true);
    assert.equal(outcome.rotation?.mode, 'in-place');
    assert.equal(outcome.rotation?.fromKeyMaterialId, from);
    const to = outcome.rotation?.toKeyMaterialId;
    assert.ok(to && to !== from);
    assert.equal(await currentMaterial(key.keyId), to);
    assert.deepEqual(importTypes, ['NEW_KEY_MATERIAL']);
    assert.equal(outcome.calls.RotateKeyOnDemand, 1);
    assert.equal(await decrypt(old), 'written before the rotation');
    assert.equal(await decrypt(await encrypt(key.keyId, 'after')), 'after');

    const listed = await materials(key.keyId);
    assert.deepEqual(listed.map((m) => [m.KeyMaterialId, m.KeyMaterialState]).sort(), [[from, 'NON_CURRENT'], [to, 'CURRENT']].sort());
    const newMaterial = listed.find((m) => m.KeyMaterialId === to)!;
    assert.equal(newMaterial.ExpirationModel, 'KEY_MATERIAL_EXPIRES', 'the new material follows the key\'s model');
    assert.match(newMaterial.KeyMaterialDescription ?? '', /^kms-reimport rotation rotation-\d{4}-\d{2}-\d{2}/);

    const { doc } = await escrow(key.keyId);
    assert.equal(doc?.format, 'kms-reimport/v1');
    assert.deepEqual(doc?.materials.map((m) => m.keyMaterialId).sort(), [from, to].sort());
    assert.ok(doc?.materials.every((m) => m.state === undefined), 'nothing left pending-import');
    const carried = doc!.materials.find((m) => m.keyMaterialId === from)!;
    assert.ok(Buffer.from(carried.material, 'base64').equals(key.material), 'the raw escrow is carried over, labelled with the old KeyMaterialId');
    const all = await versions(key.keyId);
    assert.equal(all.length, 3, 'raw + escrowed (pending) + recorded');
    const first = await escrow(key.keyId, rawVersions[0]);
    assert.ok(first.binary && Buffer.from(first.binary).equals(key.material), 'the original raw version is untouched');
  });

  test('the same rotation run again only verifies: no second material', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 7 * 86_400 });
    const first = await rotate(key.keyId);
    assert.equal(first.status, 'rotated', first.reason);
    const again = await rotate(key.keyId);
    assert.equal(again.status, 'rotated', again.reason);
    assert.match(again.reason ?? '', /already rotated/);
    assert.equal(again.calls.ImportKeyMaterial ?? 0, 0);
    assert.equal(again.calls.RotateKeyOnDemand ?? 0, 0);
    assert.equal((await materials(key.keyId)).length, 2);
    const other = await rotate(key.keyId, { rotationId: 'second-rotation' });
    assert.equal(other.status, 'rotated', other.reason);
    assert.equal((await materials(key.keyId)).length, 3, 'another rotation id is another rotation');
  });

  test('plan says what would happen and changes nothing', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT');
    const before = await versions(key.keyId);
    const outcome = await rotate(key.keyId, { action: 'plan' });
    assert.equal(outcome.status, 'planned');
    assert.match(outcome.reason ?? '', /would rotate key .* in place/);
    assert.equal(outcome.calls.ImportKeyMaterial ?? 0, 0);
    assert.equal(outcome.calls.GetSecretValue ?? 0, 0, 'a plan does not read escrow');
    assert.deepEqual(await versions(key.keyId), before);
    assert.equal((await materials(key.keyId)).length, 1);
  });
});

describe('a crash after each step, then a clean run: exactly one new material', () => {
  const steps: Array<[string, (keyId: string) => Partial<RecoverDeps> | undefined, RegExp]> = [
    ['escrow written (GetParametersForImport fails)', () => (aws.endpoint.controls.injectError('kms:GetParametersForImport', { type: 'AccessDeniedException' }), undefined), /PermissionDenied/],
    ['imported, KeyMaterialId not recorded (the second PutSecretValue fails)', () => ({ secrets: failingNthPut(aws.secrets, 2) }), /EscrowWriteFailed/],
    ['imported and recorded, not rotated (Encrypt before the rotation fails)', () => (aws.endpoint.controls.injectError('kms:Encrypt', { type: 'AccessDeniedException' }), undefined), /PermissionDenied/],
    ['rotated, not verified (Decrypt fails)', () => (aws.endpoint.controls.injectError('kms:Decrypt', { type: 'AccessDeniedException' }), undefined), /VerificationFailed|PermissionDenied/],
  ];
  for (const [name, crash, errorName] of steps) {
    test(name, async () => {
      const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 7 * 86_400 });
      const from = await currentMaterial(key.keyId);
      const old = await encrypt(key.keyId, 'before');
      const importTypes: string[] = [];
      const kms = recordImports(aws.kms, importTypes);

      const crashed = await rotate(key.keyId, {}, { kms, ...(crash(key.keyId) ?? {}) });
      aws.endpoint.controls.clearInjectedErrors();
      assert.equal(crashed.status, 'failed', crashed.reason);
      assert.match(crashed.errorName ?? '', errorName);
      const { doc } = await escrow(key.keyId);
      assert.equal(doc?.materials.length, 2, 'the new material was escrowed before anything else');

      const finished = await rotate(key.keyId, {}, { kms });
      assert.equal(finished.status, 'rotated', finished.reason);
      assert.equal(finished.verified, true);
      assert.equal(importTypes.filter((t) => t === 'NEW_KEY_MATERIAL').length, 1, `one NEW_KEY_MATERIAL import in all: ${importTypes.join(', ')}`);
      const listed = await materials(key.keyId);
      assert.equal(listed.length, 2, 'the old material and exactly one new one');
      const to = listed.find((m) => m.KeyMaterialState === 'CURRENT')!.KeyMaterialId;
      assert.notEqual(to, from);
      assert.equal(await currentMaterial(key.keyId), to);
      assert.equal(await decrypt(old), 'before');
      const after = await escrow(key.keyId);
      assert.deepEqual(after.doc?.materials.map((m) => m.keyMaterialId).sort(), [from, to].sort(), 'escrow holds both, labelled');
      assert.ok(after.doc?.materials.every((m) => m.state === undefined));
    });
  }
});

describe('refusals', () => {
  test('the 25-rotation cap: RotationLimitReached, nothing imported', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
    for (let i = 1; i <= 25; i++) {
      const o = await rotate(key.keyId, { rotationId: `cap-${i}` });
      assert.equal(o.status, 'rotated', `rotation ${i}: ${o.reason}`);
    }
    const outcome = await rotate(key.keyId, { rotationId: 'cap-26' });
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.errorName, 'RotationLimitReached');
    assert.match(outcome.reason ?? '', /alias swap/);
    assert.equal(outcome.calls.ImportKeyMaterial ?? 0, 0);
    assert.equal((await materials(key.keyId)).length, 26);
    const { doc } = await escrow(key.keyId);
    assert.equal(doc?.materials.length, 26, 'nothing escrowed for a rotation that cannot happen');

    await aws.kms.send(new CreateAliasCommand({ AliasName: 'alias/rotation-cap', TargetKeyId: key.keyId }));
    const fallback = await rotate('alias/rotation-cap', { rotationId: 'cap-26', config: { ...aws.config, rotationCapFallback: 'alias-swap' } });
    // With the fallback the run goes to the alias swap (lib/rotation/alias-swap.ts) instead of refusing.
    assert.equal(fallback.status, 'rotated', fallback.reason);
    assert.equal(fallback.rotation?.mode, 'alias-swap');
    assert.deepEqual(fallback.rotation?.aliasesMoved, ['alias/rotation-cap']);
    assert.ok(fallback.rotation?.newKeyId && fallback.rotation.newKeyId !== key.keyId);
    assert.equal((await aws.kms.send(new DescribeKeyCommand({ KeyId: 'alias/rotation-cap' }))).KeyMetadata?.KeyId, fallback.rotation.newKeyId);
    assert.equal((await materials(key.keyId)).length, 26, 'no in-place material after the cap');
  });

  test('not eligible: PendingImport (recover first), unmanaged; a Multi-Region primary is rotated in place', async () => {
    const down = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 });
    aws.endpoint.clock.advance(61);
    const pending = await rotate(down.keyId);
    assert.equal(pending.status, 'skipped');
    assert.match(pending.reason ?? '', /recover it first/);

    const created = await aws.kms.send(
      new CreateKeyCommand({ Origin: 'EXTERNAL', MultiRegion: true, Tags: [{ TagKey: aws.config.managedTagKey, TagValue: aws.config.managedTagValue }] }),
    );
    const mrk = created.KeyMetadata!.KeyId!;
    const material = await generateKeyMaterial('SYMMETRIC_DEFAULT');
    try {
      await escrowAndImport(aws, { keyId: mrk, keySpec: 'SYMMETRIC_DEFAULT', material, config: aws.config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });
    } finally {
      material.fill(0);
    }
    // A Multi-Region primary is rotated in place now (its replicas with it: rotation-multi-region.test.ts); replicas are skipped.
    const multiRegion = await rotate(mrk);
    assert.equal(multiRegion.status, 'rotated', multiRegion.reason);
    assert.equal(multiRegion.rotation?.mode, 'in-place');
    assert.equal((await materials(mrk)).length, 2);

    const unmanaged = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { managed: false });
    const skipped = await rotate(unmanaged.keyId);
    assert.equal(skipped.status, 'skipped');
    assert.equal(skipped.errorName, 'KeyNotManaged');
  });
});

describe('alias swap where in place does not apply', () => {
  test('an HMAC key (auto) is rotated by alias swap; --mode in-place on it is skipped with the reason', async () => {
    const key = await onboardKey(aws, 'HMAC_256', { lifetimeSeconds: 7 * 86_400 });
    const inPlace = await rotate(key.keyId, { mode: 'in-place' });
    assert.equal(inPlace.status, 'skipped');
    assert.match(inPlace.reason ?? '', /SYMMETRIC_DEFAULT keys only/);
    const plan = await rotate(key.keyId, { action: 'plan' });
    assert.equal(plan.status, 'planned');
    assert.match(plan.reason ?? '', /by alias swap/);
    const outcome = await rotate(key.keyId);
    assert.equal(outcome.status, 'rotated', outcome.reason);
    assert.equal(outcome.rotation?.mode, 'alias-swap');
    assert.ok(outcome.rotation?.newKeyId && outcome.rotation.newKeyId !== key.keyId);
  });
});

describe('alias swap re-run by alias: the new key is never swapped again by the same rotation', () => {
  /** A KMS client whose TagResource setting `kms-reimport:rotated-to` fails, as if the run died just before its last step. */
  const dyingBeforeRotatedTo = (kms: KMSClient): KMSClient =>
    interceptSend(kms, {
      before: (command) =>
        command instanceof TagResourceCommand && command.input.Tags?.some((t) => t.TagKey === 'kms-reimport:rotated-to') ? runStopsHere() : undefined,
    });

  test('a finished swap run again by its alias with the same rotation id: skipped, no second new key', async () => {
    const key = await onboardKey(aws, 'HMAC_256', { lifetimeSeconds: 7 * 86_400 });
    await aws.kms.send(new CreateAliasCommand({ AliasName: 'alias/rerun-finished', TargetKeyId: key.keyId }));
    aws.endpoint.controls.resetCounters();
    const first = await rotate('alias/rerun-finished', { rotationId: 'rerun-1' });
    assert.equal(first.status, 'rotated', first.reason);
    const again = await rotate('alias/rerun-finished', { rotationId: 'rerun-1' });
    assert.equal(again.status, 'skipped', again.reason);
    assert.match(again.reason ?? '', /is the new key rotation rerun-1 made/);
    assert.equal(aws.calls('CreateKey'), 1, 'one new key');
  });

  test('a swap that died after moving the alias, run again by the alias: the original swap is finished, no second new key', async () => {
    const key = await onboardKey(aws, 'HMAC_256', { lifetimeSeconds: 7 * 86_400 });
    await aws.kms.send(new CreateAliasCommand({ AliasName: 'alias/rerun-crashed', TargetKeyId: key.keyId }));
    aws.endpoint.controls.resetCounters();
    const died = await rotate('alias/rerun-crashed', { rotationId: 'rerun-2' }, { kms: dyingBeforeRotatedTo(aws.kms) });
    assert.equal(died.status, 'failed');
    // The alias already names the new key; the old key lacks rotated-to.
    const newKeyId = (await aws.kms.send(new DescribeKeyCommand({ KeyId: 'alias/rerun-crashed' }))).KeyMetadata!.KeyId!;
    assert.notEqual(newKeyId, key.keyId);
    const finished = await rotate('alias/rerun-crashed', { rotationId: 'rerun-2' });
    assert.equal(finished.status, 'rotated', finished.reason);
    assert.equal(finished.rotation?.newKeyId, newKeyId, 'the same new key');
    assert.equal(aws.calls('CreateKey'), 1, 'one new key');
    const oldTags = await aws.kms.send(new ListResourceTagsCommand({ KeyId: key.keyId }));
    assert.ok(oldTags.Tags?.some((t) => t.TagKey === 'kms-reimport:rotated-to' && t.TagValue === newKeyId));
  });
});

describe('one rotation however many runs', () => {
  test('10 concurrent runs with the lease: one rotation', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 7 * 86_400 });
    const importTypes: string[] = [];
    const kms = recordImports(aws.kms, importTypes);
    const lease = new DynamoDbKeyLease({ client: dynamo.client, tableName: LEASE_TABLE });
    const config = { ...aws.config, leaseWaitSeconds: 0 };
    const runs = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        rotate(key.keyId, { config }, { kms, lease, leaseOwner: `test-run-${i}`, sleep: () => new Promise((r) => setTimeout(r, 150)) }),
      ),
    );
    const rotated = runs.filter((o) => o.status === 'rotated' && (o.calls.RotateKeyOnDemand ?? 0) > 0);
    assert.equal(rotated.length, 1, runs.map((o) => `${o.status}: ${o.reason}`).join('\n'));
    assert.ok(runs.every((o) => o.status !== 'failed'), runs.map((o) => `${o.status}: ${o.reason}`).join('\n'));
    assert.equal(importTypes.filter((t) => t === 'NEW_KEY_MATERIAL').length, 1);
    assert.equal((await materials(key.keyId)).length, 2);
  });
});

describe('recovery after a rotation', () => {
  test('the NON_CURRENT material expires: recoverKey reimports it from its own escrow entry', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 600 });
    const from = await currentMaterial(key.keyId);
    const old = await encrypt(key.keyId, 'old data');
    const rotated = await rotate(key.keyId);
    assert.equal(rotated.status, 'rotated', rotated.reason);

    aws.endpoint.clock.advance(601);
    assert.equal((await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata?.KeyState, 'PendingImport');
    const recovered = await aws.recover(key.keyId);
    assert.equal(recovered.status, 'recovered', recovered.reason);
    assert.deepEqual(recovered.imported.map((i) => i.keyMaterialId), [from]);
    assert.equal(await decrypt(old), 'old data');
    assert.equal(await currentMaterial(key.keyId), rotated.rotation?.toKeyMaterialId);
  });
});
