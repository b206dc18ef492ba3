/**
 * End to end: rotation through the deployed runbook. The manual rotate event goes to the REAL
 * trigger, which starts the workflow (statemachine/recovery.asl.json) whose Rotate task runs the
 * rotation engine; every function runs in its own worker under the role template.yaml gives it,
 * enforced by the local endpoint (test/support/workflow-harness.ts). Covered here:
 * - alias swap of an RSA_2048 and an ECC_NIST_P256 key: the alias names the new key, a signature
 *   made before still verifies with the old key;
 * - a Multi-Region primary with two replicas rotated in place: the same new material current in
 *   every Region, an old ciphertext decrypts in each, escrow (as each Region reads it) holds both;
 *   a replica without the managed tag is refused by name before anything is imported; KMS refusing
 *   RotateKeyOnDemand for the Multi-Region key ends failed MultiRegionRotationRefused, nothing lost;
 * - the NON_CURRENT material expiring after a rotation, recovered through the workflow from its
 *   own escrow entry;
 * - KMS's 25-rotation cap: failed RotationLimitReached with the reason, or an alias swap when
 *   RotationCapFallback is alias-swap;
 * - the Rotate runtime killed after each rotation step (in place and alias swap), then a clean
 *   second run: one new material, at most one new key.
 * After every rotation: what was encrypted or signed before still decrypts or verifies, and the
 * escrow secret holds every material with its KeyMaterialId with the earlier versions kept; at the
 * end no material appears in any log, state payload, execution input or outcome.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateAliasCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GetPublicKeyCommand,
  ListKeyRotationsCommand,
  ListResourceTagsCommand,
  SignCommand,
  VerifyCommand,
  GenerateMacCommand,
  VerifyMacCommand,
  type SigningAlgorithmSpec,
} from '@aws-sdk/client-kms';
import { RemoveRegionsFromReplicationCommand } from '@aws-sdk/client-secrets-manager';
import { rotateKey } from '../../lib/rotate.js';
import type { Outcome } from '../../lib/types.js';
import { onboardMultiRegionKey } from '../support/multi-region-key.js';
import { REGION, startWorkflowHarness } from '../support/workflow-harness.js';
import type { WorkflowRun } from '../unit/asl-run.js';
import type { Json } from '../unit/template-load.js';

const REPLICAS = ['ap-southeast-2', 'eu-west-1'];
const CONTEXT = { app: 'rotation-workflow-e2e' };

const h = await startWorkflowHarness();
const { aws, endpoint } = h;
after(() => h.close());

/** The manual rotate event through the trigger: one execution, its run. */
async function rotateByEvent(keyRef: string): Promise<WorkflowRun> {
  return h.only((await h.deliver(h.sample('manual/rotate.json', keyRef))).runs);
}

/** Another execution for the key (as `aws stepfunctions start-execution --name <name>`). */
function rotateRun(keyRef: string, name: string): Promise<WorkflowRun> {
  return h.execute({ keyRef, action: 'rotate', trigger: { source: 'kms-reimport.manual', detailType: 'Manual Request' } }, name);
}

function rotated(run: WorkflowRun): Outcome {
  const outcome = run.output?.outcome as Outcome | undefined;
  assert.equal(run.status, 'SUCCEEDED', JSON.stringify(run.error ?? outcome));
  assert.equal(outcome?.status, 'rotated', outcome?.reason);
  return outcome!;
}

async function encrypt(keyId: string, text: string, region = REGION): Promise<Uint8Array> {
  return (await h.at(region).kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(text), EncryptionContext: CONTEXT }))).CiphertextBlob!;
}

async function decrypt(blob: Uint8Array, region = REGION, keyId?: string): Promise<string> {
  const out = await h.at(region).kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: CONTEXT, ...(keyId ? { KeyId: keyId } : {}) }));
  return Buffer.from(out.Plaintext!).toString();
}

async function materialsOf(keyId: string, region = REGION) {
  return (await h.at(region).kms.send(new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }))).Rotations ?? [];
}

async function tagsOf(keyId: string): Promise<Record<string, string>> {
  return Object.fromEntries(((await aws.kms.send(new ListResourceTagsCommand({ KeyId: keyId }))).Tags ?? []).map((t) => [t.TagKey!, t.TagValue!]));
}

/**
 * The escrow secret (as `region` reads it) holds exactly `ids`, each labelled with its KeyMaterialId
 * (none left pending-import), and has more versions than `versionsBefore` (none removed).
 */
async function assertEscrowHolds(keyId: string, ids: string[], versionsBefore: number, region = REGION): Promise<void> {
  const entries = await h.escrowEntries(keyId, region);
  assert.ok(entries.every((e) => e.keyMaterialId !== undefined && e.state === undefined), `${region}: every escrowed material is labelled and imported`);
  assert.deepEqual(entries.map((e) => e.keyMaterialId).sort(), [...ids].sort(), `${region}: escrow holds every material by its KeyMaterialId`);
  assert.ok((await h.escrowVersions(keyId)) > versionsBefore, 'new escrow versions were added; the earlier ones remain');
}

// ------------------------------------------------------------------ alias swap, asymmetric
describe('alias swap of asymmetric keys through the workflow', () => {
  for (const [keySpec, algorithm] of [
    ['RSA_2048', 'RSASSA_PSS_SHA_256'],
    ['ECC_NIST_P256', 'ECDSA_SHA_256'],
  ] as const) {
    test(`${keySpec}: the alias names a new key, a signature made before still verifies with the old key, the old key stays Enabled`, async () => {
      const key = await h.newKey({ lifetimeSeconds: null }, keySpec);
      const alias = `alias/e2e-${keySpec.toLowerCase().replace(/_/g, '-')}-${key.keyId.slice(0, 8)}`;
      await aws.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.keyId }));
      const message = Buffer.from(`signed before the rotation of ${keySpec}`);
      const signature = (await aws.kms.send(new SignCommand({ KeyId: alias, Message: message, MessageType: 'RAW', SigningAlgorithm: algorithm as SigningAlgorithmSpec }))).Signature!;
      const oldEntries = (await h.escrowEntries(key.keyId)).map((e) => e.keyMaterialId);
      const oldVersions = await h.escrowVersions(key.keyId);
      h.resetCounters();

      const outcome = rotated(await rotateByEvent(alias));
      assert.equal(outcome.rotation?.mode, 'alias-swap');
      const newKeyId = outcome.rotation.newKeyId!;
      assert.ok(newKeyId && newKeyId !== key.keyId);
      assert.deepEqual(outcome.rotation.aliasesMoved, [alias]);
      assert.equal(aws.calls('CreateKey'), 1, 'one new key');
      assert.equal((await aws.kms.send(new DescribeKeyCommand({ KeyId: alias }))).KeyMetadata?.KeyId, newKeyId, 'the alias names the new key');
      assert.equal(await h.keyState(key.keyId), 'Enabled', 'the old key stays Enabled');
      assert.equal(await h.keyState(newKeyId), 'Enabled');
      const newSpec = (await aws.kms.send(new DescribeKeyCommand({ KeyId: newKeyId }))).KeyMetadata;
      assert.equal(newSpec?.KeySpec, keySpec);
      assert.equal(newSpec?.Origin, 'EXTERNAL');

      const before = await aws.kms.send(new VerifyCommand({ KeyId: key.keyId, Message: message, MessageType: 'RAW', Signature: signature, SigningAlgorithm: algorithm as SigningAlgorithmSpec }));
      assert.equal(before.SignatureValid, true, 'a signature made before verifies with the old key');
      const oldPublic = Buffer.from((await aws.kms.send(new GetPublicKeyCommand({ KeyId: key.keyId }))).PublicKey!);
      const newPublic = Buffer.from((await aws.kms.send(new GetPublicKeyCommand({ KeyId: alias }))).PublicKey!);
      assert.ok(!oldPublic.equals(newPublic), 'new material: another public key');
      const after = (await aws.kms.send(new SignCommand({ KeyId: alias, Message: message, MessageType: 'RAW', SigningAlgorithm: algorithm as SigningAlgorithmSpec }))).Signature!;
      assert.equal((await aws.kms.send(new VerifyCommand({ KeyId: newKeyId, Message: message, MessageType: 'RAW', Signature: after, SigningAlgorithm: algorithm as SigningAlgorithmSpec }))).SignatureValid, true);

      assert.equal((await tagsOf(newKeyId))['kms-reimport:rotated-from'], key.keyId);
      assert.equal((await tagsOf(key.keyId))['kms-reimport:rotated-to'], newKeyId);
      // The new key's own escrow: its one material, labelled; the old key's escrow is untouched.
      const newEntries = await h.escrowEntries(newKeyId);
      assert.equal(newEntries.length, 1);
      assert.ok(outcome.rotation.toKeyMaterialId, 'the outcome names the new key\'s material');
      assert.equal(newEntries[0]!.keyMaterialId, outcome.rotation.toKeyMaterialId);
      assert.deepEqual((await h.escrowEntries(key.keyId)).map((e) => e.keyMaterialId), oldEntries);
      assert.equal(await h.escrowVersions(key.keyId), oldVersions, 'the old key escrow keeps its versions');
    });
  }
});

// ------------------------------------------------------------------ Multi-Region
describe('Multi-Region rotation through the workflow', () => {
  test('a primary with two replicas: one NEW import, the same material into each replica, one rotation; current everywhere, old ciphertext decrypts in every Region, escrow in every Region holds both', async () => {
    const key = await onboardMultiRegionKey(aws, h.at, REPLICAS);
    h.materials.push(key.material);
    const old = await encrypt(key.keyId, 'written before the rotation');
    const versions = await h.escrowVersions(key.keyId);
    h.resetCounters();

    const run = await rotateByEvent(key.keyId);
    const outcome = rotated(run);
    assert.equal(outcome.rotation?.mode, 'in-place');
    assert.equal(outcome.rotation.fromKeyMaterialId, key.from);
    const to = outcome.rotation.toKeyMaterialId!;
    assert.ok(to && to !== key.from);
    assert.equal(outcome.verified, true);
    assert.equal(aws.calls('ImportKeyMaterial'), 1 + REPLICAS.length, 'the primary and each replica, once');
    assert.equal(aws.calls('RotateKeyOnDemand'), 1, 'one rotation, on the primary');
    for (const region of [REGION, ...REPLICAS]) {
      assert.equal(await h.currentMaterial(key.keyId, region), to, `${region}: CurrentKeyMaterialId is the new material`);
      assert.deepEqual(
        (await materialsOf(key.keyId, region)).map((m) => [m.KeyMaterialId, m.KeyMaterialState]).sort(),
        [[key.from, 'NON_CURRENT'], [to, 'CURRENT']].sort(),
        `${region}: one new material`,
      );
      assert.equal(await decrypt(old, region, key.keyId), 'written before the rotation', `${region}: a ciphertext from before decrypts`);
      await assertEscrowHolds(key.keyId, [key.from, to], versions, region);
    }
    // New encryptions in a replica Region use the new material and decrypt in the primary.
    assert.equal(await decrypt(await encrypt(key.keyId, 'after', 'eu-west-1'), REGION), 'after');
  });

  test('KMS refuses RotateKeyOnDemand for the Multi-Region imported key (the other reading of the API reference): failed MultiRegionRotationRefused with the next step, nothing lost; a later run rotates without a second new material', async () => {
    const key = await onboardMultiRegionKey(aws, h.at, REPLICAS);
    h.materials.push(key.material);
    const old = await encrypt(key.keyId, 'written before the rotation');
    h.resetCounters();
    endpoint.controls.injectError('kms:RotateKeyOnDemand', { type: 'UnsupportedOperationException', message: 'Multi-Region keys with imported key material cannot be rotated on demand.', count: 1 });
    const refused = await rotateByEvent(key.keyId);
    assert.equal(refused.status, 'FAILED');
    assert.ok(refused.path.includes('ReleaseLease') && refused.path.includes('Report'), refused.path.join(' → '));
    const failed = h.published(key.keyId).at(-1);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.errorName, 'MultiRegionRotationRefused', failed.reason);
    assert.match(failed.reason, /Next: /);
    for (const region of [REGION, ...REPLICAS]) {
      assert.equal(await h.currentMaterial(key.keyId, region), key.from, `${region}: still on the old material`);
      assert.equal(await decrypt(old, region, key.keyId), 'written before the rotation');
    }
    assert.equal(aws.calls('ImportKeyMaterial'), 1 + REPLICAS.length);

    const outcome = rotated(await rotateRun(key.keyId, `${key.keyId}-rotate-after-refusal`));
    const to = outcome.rotation!.toKeyMaterialId!;
    assert.equal(aws.calls('ImportKeyMaterial'), 1 + REPLICAS.length, 'every Region already held the new material: no second import');
    for (const region of [REGION, ...REPLICAS]) {
      assert.equal(await h.currentMaterial(key.keyId, region), to, region);
      assert.equal(await decrypt(old, region, key.keyId), 'written before the rotation');
      assert.deepEqual((await materialsOf(key.keyId, region)).length, 2, `${region}: one new material`);
    }
  });

  test('a replica without the managed tag (KMS does not copy tags to replicas): failed KeyNotManaged naming the replica and the tag-resource command; nothing imported anywhere, no escrow replicated or written', async () => {
    const key = await onboardMultiRegionKey(aws, h.at, REPLICAS, { untaggedReplicas: ['eu-west-1'] });
    h.materials.push(key.material);
    // Escrow no longer replicated to eu-west-1: a run that checked escrow before the replicas would replicate it for nothing.
    await aws.secrets.send(new RemoveRegionsFromReplicationCommand({ SecretId: `${aws.config.escrowPrefix}${key.keyId}`, RemoveReplicaRegions: ['eu-west-1'] }));
    h.resetCounters();
    const run = await rotateByEvent(key.keyId);
    assert.equal(run.status, 'FAILED');
    const outcome = h.published(key.keyId).at(-1);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.errorName, 'KeyNotManaged', outcome.reason);
    assert.ok(outcome.reason.includes(`Replica arn:aws:kms:eu-west-1:`) && outcome.reason.includes(`key/${key.keyId} in eu-west-1`), outcome.reason);
    assert.match(outcome.reason, /aws kms tag-resource --key-id arn:aws:kms:eu-west-1:\d{12}:key\/mrk-[0-9a-f]{32} --tags TagKey=kms-reimport:managed,TagValue=true --region eu-west-1/);
    assert.ok((endpoint.controls.getCounters()['kms:DescribeKey']?.errors ?? 0) >= 1, 'the Rotate role may not even read the untagged replica');
    assert.equal(aws.calls('ImportKeyMaterial'), 0);
    assert.equal(aws.calls('ReplicateSecretToRegions'), 0, 'a refused run spreads no material');
    assert.equal(aws.calls('PutSecretValue'), 0, 'a refused run writes no escrow');
    for (const region of [REGION, ...REPLICAS]) assert.equal(await h.currentMaterial(key.keyId, region), key.from);
    assert.ok(run.path.includes('ReleaseLease'));
  });
});

// ------------------------------------------------------------------ the NON_CURRENT material expires
describe('after a rotation, the NON_CURRENT material expires', () => {
  test('the key goes PendingImport; the expiry event recovers it through the workflow from that material\'s own escrow entry; old and new ciphertexts decrypt', async () => {
    const key = await h.newKey({ lifetimeSeconds: 2 * 3600 });
    const from = (await h.currentMaterial(key.keyId))!;
    const old = await encrypt(key.keyId, 'under the first material');
    const versions = await h.escrowVersions(key.keyId);
    const outcome = rotated(await rotateByEvent(key.keyId));
    const to = outcome.rotation!.toKeyMaterialId!;
    await assertEscrowHolds(key.keyId, [from, to], versions);
    const fresh = await encrypt(key.keyId, 'under the second material');

    // The first material's ValidTo passes: the whole key stops.
    endpoint.clock.advance(2 * 3600 + 1);
    assert.equal(await h.keyState(key.keyId), 'PendingImport');
    h.resetCounters();
    const run = await h.only((await h.deliver(h.sample('kms/material-expiration.json', key.keyId))).runs);
    const recovered = run.output?.outcome;
    assert.equal(recovered?.status, 'recovered', JSON.stringify(recovered ?? run.error));
    assert.deepEqual(recovered.imported.map((m: Json) => m.keyMaterialId), [from], 'only the expired NON_CURRENT material, under its own ID');
    assert.equal(aws.calls('ImportKeyMaterial'), 1);
    assert.equal(await h.keyState(key.keyId), 'Enabled');
    assert.equal(await h.currentMaterial(key.keyId), to, 'recovery does not change which material is current');
    assert.equal(await decrypt(old), 'under the first material');
    assert.equal(await decrypt(fresh), 'under the second material');
    await assertEscrowHolds(key.keyId, [from, to], versions);
  });
});

// ------------------------------------------------------------------ the cap
describe("KMS's 25 on-demand rotations", () => {
  test('the 26th rotation: failed RotationLimitReached with the reason (nothing escrowed or imported); with RotationCapFallback alias-swap: a new key, the alias moved', async () => {
    const key = await h.newKey({ lifetimeSeconds: null });
    const alias = `alias/e2e-cap-${key.keyId.slice(0, 8)}`;
    await aws.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.keyId }));
    const old = await encrypt(key.keyId, 'before all the rotations');
    // 25 rotations by the library (as the CLI does them), each its own rotation id.
    const cliConfig = { ...aws.config, parametersIntervalMs: 0, wrapping: { symmetric: { keySpec: 'RSA_2048' } } };
    for (let i = 1; i <= 25; i++) {
      const o = await rotateKey({ kms: aws.kms, secrets: aws.secrets }, key.keyId, { action: 'rotate', config: cliConfig, rotationId: `cap-${i}` });
      assert.equal(o.status, 'rotated', `rotation ${i}: ${o.reason}`);
    }
    assert.equal((await materialsOf(key.keyId)).length, 26);
    const versions = await h.escrowVersions(key.keyId);
    h.resetCounters();

    const refused = await rotateByEvent(alias);
    assert.equal(refused.status, 'FAILED');
    const failed = h.published(key.keyId).at(-1);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.errorName, 'RotationLimitReached');
    assert.match(failed.reason, /25/);
    assert.ok(failed.reason.includes(key.keyId), failed.reason);
    assert.equal(aws.calls('ImportKeyMaterial'), 0);
    assert.equal(aws.calls('PutSecretValue'), 0, 'nothing escrowed for a rotation that cannot happen');
    assert.equal((await materialsOf(key.keyId)).length, 26);

    await h.setFunctionEnv('Rotate', { KMS_REIMPORT_ROTATION_CAP_FALLBACK: 'alias-swap' });
    try {
      const outcome = rotated(await rotateRun(alias, `${key.keyId}-rotate-cap-fallback`));
      assert.equal(outcome.rotation?.mode, 'alias-swap');
      const newKeyId = outcome.rotation.newKeyId!;
      assert.deepEqual(outcome.rotation.aliasesMoved, [alias]);
      assert.equal((await aws.kms.send(new DescribeKeyCommand({ KeyId: alias }))).KeyMetadata?.KeyId, newKeyId);
      assert.equal(await h.keyState(key.keyId), 'Enabled');
      assert.equal(await decrypt(old), 'before all the rotations', 'the old key still decrypts its data');
      assert.equal(await decrypt(await encrypt(alias, 'under the new key')), 'under the new key');
      assert.equal((await h.escrowEntries(newKeyId)).length, 1);
      assert.equal((await h.escrowEntries(key.keyId)).length, 26, 'every material of the old key stays escrowed');
      assert.equal(await h.escrowVersions(key.keyId), versions);
    } finally {
      await h.setFunctionEnv('Rotate', {});
    }
  });
});

// ------------------------------------------------------------------ crashes
const rotateItem = (keyRef: string) => ({ keyRef, action: 'rotate', trigger: { source: 'kms-reimport.manual', detailType: 'Manual Request' } });

describe('the Rotate runtime killed after each step, then a clean second run', () => {
  for (const [step, operation, nth] of [
    ['escrowed', 'PutSecretValue', 1],
    ['imported, not recorded', 'ImportKeyMaterial', 1],
    ['recorded, not rotated', 'PutSecretValue', 2],
    ['rotated, not verified', 'RotateKeyOnDemand', 1],
  ] as const) {
    test(`in place, killed after "${step}": the second run finishes it; one new material, one rotation`, async () => {
      const key = await h.newKey({ lifetimeSeconds: null });
      const from = (await h.currentMaterial(key.keyId))!;
      const old = await encrypt(key.keyId, 'before the rotation');
      const versions = await h.escrowVersions(key.keyId);
      h.resetCounters();
      const crash = h.crashRotateAt(operation, nth, 'after');
      const first = await h.execute(rotateItem(key.keyId), `${key.keyId}-rotate-crashed`);
      assert.ok(crash.crashed(), 'the runtime was killed');
      assert.equal(first.status, 'FAILED');
      assert.ok(first.path.includes('ReleaseLease'), 'the lease is released');
      assert.equal(h.published(key.keyId).at(-1)?.status, 'failed');

      const second = rotated(await h.execute(rotateItem(key.keyId), `${key.keyId}-rotate-again`));
      assert.equal(second.rotation?.mode, 'in-place');
      const to = (await h.currentMaterial(key.keyId))!;
      assert.notEqual(to, from);
      assert.equal(second.rotation.toKeyMaterialId, to);
      assert.equal(aws.calls('RotateKeyOnDemand'), 1, 'one rotation in all');
      assert.deepEqual((await materialsOf(key.keyId)).map((m) => m.KeyMaterialId).sort(), [from, to].sort(), 'one new material in all');
      assert.equal(await decrypt(old), 'before the rotation');
      await assertEscrowHolds(key.keyId, [from, to], versions);
    });
  }

  for (const [step, operation, nth] of [
    ['the new key created', 'CreateKey', 1],
    ['its escrow written', 'CreateSecret', 1],
    ['its material imported', 'ImportKeyMaterial', 1],
    ['one of two aliases moved', 'UpdateAlias', 1],
  ] as const) {
    test(`alias swap (HMAC_256), killed after "${step}": the second run finishes it; one new key, both aliases on it`, async () => {
      const key = await h.newKey({ lifetimeSeconds: null }, 'HMAC_256');
      const aliases = [`alias/e2e-crash-a-${key.keyId.slice(0, 8)}`, `alias/e2e-crash-b-${key.keyId.slice(0, 8)}`];
      for (const alias of aliases) await aws.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.keyId }));
      const message = Buffer.from('MAC before the rotation');
      const mac = (await aws.kms.send(new GenerateMacCommand({ KeyId: key.keyId, Message: message, MacAlgorithm: 'HMAC_SHA_256' }))).Mac!;
      h.resetCounters();
      const crash = h.crashRotateAt(operation, nth, 'after');
      const first = await h.execute(rotateItem(key.keyId), `${key.keyId}-rotate-crashed`);
      assert.ok(crash.crashed(), 'the runtime was killed');
      assert.equal(first.status, 'FAILED');

      const second = rotated(await h.execute(rotateItem(key.keyId), `${key.keyId}-rotate-again`));
      assert.equal(second.rotation?.mode, 'alias-swap');
      const newKeyId = second.rotation.newKeyId!;
      assert.equal(aws.calls('CreateKey'), 1, 'one new key in all');
      for (const alias of aliases) assert.equal((await aws.kms.send(new DescribeKeyCommand({ KeyId: alias }))).KeyMetadata?.KeyId, newKeyId, alias);
      assert.equal((await tagsOf(key.keyId))['kms-reimport:rotated-to'], newKeyId);
      assert.equal((await aws.kms.send(new VerifyMacCommand({ KeyId: key.keyId, Message: message, MacAlgorithm: 'HMAC_SHA_256', Mac: mac }))).MacValid, true);
      assert.equal(await h.keyState(newKeyId), 'Enabled');
      const entries = await h.escrowEntries(newKeyId);
      assert.equal(entries.length, 1, 'one material for the new key');
      assert.equal(aws.calls('CreateSecret'), 1, 'its escrow written once');
    });
  }
});

// ------------------------------------------------------------------ leaks (last: looks at everything above)
describe('no plaintext material anywhere', () => {
  test('logs, state inputs and outputs, outcomes and execution inputs hold no material (raw, hex, base64)', async () => {
    assert.ok(h.materials.length >= 40, `the rotations above used material (${h.materials.length})`);
    assert.match(h.written.join(''), /"Rotate done"/, "the rotations' logs were captured");
    await h.assertNoLeaks();
  });
});
