/**
 * In-place rotation of a Multi-Region PRIMARY key over HTTP against the local endpoint, real SDK
 * clients per Region: a primary in us-east-1 with replicas in ap-southeast-2 and eu-west-1, set up
 * as onboarding does (escrow replicated to the replica Regions, material imported into the primary,
 * each replica recovered from escrow in its own Region). The rotation imports NEW_KEY_MATERIAL into
 * the primary, the same material into each replica as EXISTING_KEY_MATERIAL, rotates the primary,
 * verifies every Region; a crash after the primary import and after one replica import is finished
 * by a clean run with one NEW import and one rotation; escrow no longer replicated to a replica
 * Region is replicated again before any KMS import; a new escrow version not yet readable in a replica
 * Region stops the run before that replica's import (the next run finishes); a replica without the managed tag is refused; a replica key asked to rotate is skipped; RotateKeyOnDemand refused for a
 * Multi-Region key (one reading of the API reference) ends in a named error, nothing lost.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  ImportKeyMaterialCommand,
  ListKeyRotationsCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { GetSecretValueCommand, PutSecretValueCommand, RemoveRegionsFromReplicationCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createClients, type AwsClients } from '../../lib/aws/clients.js';
import { rotateKey, type RotateDeps, type RotateOptions } from '../../lib/rotate.js';
import type { Outcome } from '../../lib/types.js';
import { interceptSend, runStopsHere, stopBeforeNth } from '../support/intercept.js';
import { onboardMultiRegionKey } from '../support/multi-region-key.js';
import { startLocalAws, REGION, type LocalAws } from '../support/local-aws.js';

const REPLICAS = ['ap-southeast-2', 'eu-west-1'];
const CONTEXT = { app: 'multi-region-rotation-test' };

let aws: LocalAws;
const regional = new Map<string, AwsClients>();

before(async () => {
  aws = await startLocalAws({}, { wrapping: { symmetric: { keySpec: 'RSA_2048' } }, materialLifetimeDays: 30 });
  regional.set(REGION, { kms: aws.kms, secrets: aws.secrets });
  for (const region of REPLICAS) {
    regional.set(region, createClients({ endpointUrl: aws.endpoint.url, region, credentials: { accessKeyId: 'AKIDINTEGRATION', secretAccessKey: 'integration' } }));
  }
});
after(async () => {
  for (const region of REPLICAS) {
    regional.get(region)!.kms.destroy();
    regional.get(region)!.secrets.destroy();
  }
  await aws.closeAfterLeakCheck();
});

const at = (region: string) => regional.get(region)!;

/** A KMS client that records the ImportType of every ImportKeyMaterial, and fails them in `failIn` (the run dies there). */
function watched(kms: KMSClient, region: string, importTypes: string[], failIn?: string): KMSClient {
  return interceptSend(kms, {
    before: (command) => {
      if (!(command instanceof ImportKeyMaterialCommand)) return undefined;
      if (region === failIn) return runStopsHere();
      importTypes.push(`${region}:${command.input.ImportType ?? '(none)'}`);
      return undefined;
    },
  });
}

/** A Secrets Manager client whose n-th PutSecretValue (1-based) fails as if the run died there. */
const failingNthPut = (secrets: SecretsManagerClient, n: number): SecretsManagerClient => stopBeforeNth(secrets, PutSecretValueCommand, n);

/** The rotation as the CLI runs it, with a real SDK client per Region (optionally watched). */
async function rotate(keyRef: string, opts: { importTypes?: string[]; failImportIn?: string; region?: string; deps?: Partial<RotateDeps>; options?: Partial<RotateOptions> } = {}): Promise<Outcome> {
  const types = opts.importTypes ?? [];
  const home = opts.region ?? REGION;
  const outcome = await rotateKey(
    {
      kms: watched(at(home).kms, home, types, opts.failImportIn),
      secrets: at(home).secrets,
      logger: aws.logger,
      kmsFor: (region) => watched(at(region).kms, region, types, opts.failImportIn),
      ...opts.deps,
    },
    keyRef,
    { action: 'rotate', config: aws.config, now: aws.now, ...opts.options },
  );
  aws.outcomes.push(outcome);
  return outcome;
}

/** A managed Multi-Region EXTERNAL primary with replicas in REPLICAS, onboarded (escrow replicated), the same material in every replica. */
async function multiRegionKey(): Promise<{ keyId: string; from: string }> {
  const key = await onboardMultiRegionKey(aws, at, REPLICAS);
  key.material.fill(0);
  return { keyId: key.keyId, from: key.from };
}

async function current(region: string, keyId: string): Promise<string | undefined> {
  return (await at(region).kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.CurrentKeyMaterialId;
}
async function materials(region: string, keyId: string) {
  return (await at(region).kms.send(new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }))).Rotations ?? [];
}
async function encrypt(keyId: string, text: string): Promise<Uint8Array> {
  return (await aws.kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: Buffer.from(text), EncryptionContext: CONTEXT }))).CiphertextBlob!;
}
async function decryptIn(region: string, keyId: string, blob: Uint8Array): Promise<string> {
  return Buffer.from((await at(region).kms.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: blob, EncryptionContext: CONTEXT }))).Plaintext!).toString();
}
async function escrowIds(keyId: string, region = REGION): Promise<Array<string | undefined>> {
  const out = await at(region).secrets.send(new GetSecretValueCommand({ SecretId: `${aws.config.escrowPrefix}${keyId}` }));
  const doc = JSON.parse(out.SecretString!) as { materials: Array<{ keyMaterialId?: string; state?: string }> };
  assert.ok(doc.materials.every((m) => m.state === undefined), 'nothing left pending-import');
  return doc.materials.map((m) => m.keyMaterialId).sort();
}

/** After a finished rotation: every Region's current material is `to`, the old ciphertext decrypts everywhere, escrow (in every Region) holds both. */
async function assertRotatedEverywhere(keyId: string, from: string, to: string, old: Uint8Array): Promise<void> {
  for (const region of [REGION, ...REPLICAS]) {
    assert.equal(await current(region, keyId), to, `${region}: CurrentKeyMaterialId`);
    const listed = await materials(region, keyId);
    assert.deepEqual(listed.map((m) => [m.KeyMaterialId, m.KeyMaterialState]).sort(), [[from, 'NON_CURRENT'], [to, 'CURRENT']].sort(), `${region}: materials`);
    assert.equal(await decryptIn(region, keyId, old), 'written before the rotation', `${region}: a ciphertext from before decrypts`);
    assert.deepEqual(await escrowIds(keyId, region), [from, to].sort(), `${region}: escrow holds both materials`);
  }
}

describe('in-place rotation of a Multi-Region primary with two replicas', () => {
  test('rotate: every Region current on the new material, old ciphertext decrypts in each, escrow holds both', async () => {
    const { keyId, from } = await multiRegionKey();
    const old = await encrypt(keyId, 'written before the rotation');
    const importTypes: string[] = [];
    const outcome = await rotate(keyId, { importTypes });
    assert.equal(outcome.status, 'rotated', outcome.reason);
    assert.equal(outcome.verified, true);
    const to = outcome.rotation?.toKeyMaterialId;
    assert.ok(to && to !== from);
    assert.deepEqual(importTypes, [`${REGION}:NEW_KEY_MATERIAL`, ...REPLICAS.map((r) => `${r}:EXISTING_KEY_MATERIAL`)]);
    assert.equal(outcome.calls.RotateKeyOnDemand, 1);
    assert.equal(outcome.calls.GetParametersForImport, 3, 'parameters from each Region');
    assert.match(outcome.reason ?? '', new RegExp(`the same in ${REPLICAS.join(', ')}`));
    await assertRotatedEverywhere(keyId, from, to, old);
  });

  test('without a kmsFor of its own, rotateKey makes the per-Region clients from the primary client (same endpoint and credentials)', async () => {
    const { keyId, from } = await multiRegionKey();
    const old = await encrypt(keyId, 'written before the rotation');
    const outcome = await rotate(keyId, { deps: { kmsFor: undefined } });
    assert.equal(outcome.status, 'rotated', outcome.reason);
    assert.equal(outcome.calls.GetParametersForImport, 3, 'parameters from each Region, counted');
    await assertRotatedEverywhere(keyId, from, outcome.rotation!.toKeyMaterialId!, old);
  });

  test('plan says the primary is rotated in place with its replicas; changes nothing', async () => {
    const { keyId } = await multiRegionKey();
    const outcome = await rotate(keyId, { options: { action: 'plan' } });
    assert.equal(outcome.status, 'planned', outcome.reason);
    assert.match(outcome.reason ?? '', /would rotate key .* in place/);
    assert.match(outcome.reason ?? '', new RegExp(`replicas in ${REPLICAS.join(', ')} as EXISTING_KEY_MATERIAL`));
    assert.equal(outcome.calls.ImportKeyMaterial ?? 0, 0);
    assert.equal((await materials(REGION, keyId)).length, 1);
  });

  const crashes: Array<[string, () => Parameters<typeof rotate>[1], RegExp, number]> = [
    ['after the primary import (its KeyMaterialId not recorded)', () => ({ deps: { secrets: failingNthPut(aws.secrets, 2) } }), /EscrowWriteFailed/, 0],
    ['after one replica import (the import into eu-west-1 fails)', () => ({ failImportIn: 'eu-west-1' }), /PermissionDenied/, 1],
  ];
  for (const [name, crash, errorName, replicaImportsBefore] of crashes) {
    test(`a crash ${name}, then a clean run: exactly one NEW import and one rotation`, async () => {
      const { keyId, from } = await multiRegionKey();
      const old = await encrypt(keyId, 'written before the rotation');
      const importTypes: string[] = [];
      const crashed = await rotate(keyId, { importTypes, ...crash() });
      assert.equal(crashed.status, 'failed', crashed.reason);
      assert.match(crashed.errorName ?? '', errorName);
      assert.equal(crashed.calls.RotateKeyOnDemand ?? 0, 0);
      assert.equal(importTypes.filter((t) => t.endsWith('EXISTING_KEY_MATERIAL')).length, replicaImportsBefore);
      const waiting = (await materials(REGION, keyId)).find((m) => m.KeyMaterialId !== from);
      assert.equal(waiting?.KeyMaterialState, 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION');

      const finished = await rotate(keyId, { importTypes });
      assert.equal(finished.status, 'rotated', finished.reason);
      assert.equal(importTypes.filter((t) => t.endsWith(':NEW_KEY_MATERIAL')).length, 1, `one NEW_KEY_MATERIAL import in all: ${importTypes.join(', ')}`);
      assert.equal((crashed.calls.RotateKeyOnDemand ?? 0) + (finished.calls.RotateKeyOnDemand ?? 0), 1, 'one rotation in all');
      for (const region of REPLICAS) {
        assert.ok(importTypes.includes(`${region}:EXISTING_KEY_MATERIAL`), `${region} got the material`);
      }
      if (replicaImportsBefore === 1) {
        assert.equal(importTypes.filter((t) => t === 'ap-southeast-2:EXISTING_KEY_MATERIAL').length, 1, 'the replica that had it is not imported again');
      }
      await assertRotatedEverywhere(keyId, from, waiting!.KeyMaterialId!, old);
    });
  }

  test('escrow no longer replicated to a replica Region (default key): the rotation replicates it again first (ReplicateSecretToRegions), then rotates; escrow readable there', async () => {
    const { keyId, from } = await multiRegionKey();
    const secretId = `${aws.config.escrowPrefix}${keyId}`;
    await aws.secrets.send(new RemoveRegionsFromReplicationCommand({ SecretId: secretId, RemoveReplicaRegions: ['eu-west-1'] }));
    await assert.rejects(at('eu-west-1').secrets.send(new GetSecretValueCommand({ SecretId: secretId })), { name: 'ResourceNotFoundException' });
    const old = await encrypt(keyId, 'written before the rotation');
    aws.endpoint.controls.resetCounters();
    const outcome = await rotate(keyId);
    assert.equal(outcome.status, 'rotated', outcome.reason);
    assert.equal(aws.calls('ReplicateSecretToRegions'), 1, 'one replication, to the Region that lacked it');
    assert.ok(aws.logLines.some((l) => l.includes('escrow secret replicated') && l.includes('eu-west-1')));
    await assertRotatedEverywhere(keyId, from, outcome.rotation!.toKeyMaterialId!, old);
  });

  test('a replica without the managed tag (KMS does not copy tags to replicas): KeyNotManaged naming the replica and the tag-resource command, before any import, escrow replication or escrow write', async () => {
    const { keyId, material } = await onboardMultiRegionKey(aws, at, REPLICAS, { untaggedReplicas: ['eu-west-1'] });
    material.fill(0);
    const secretId = `${aws.config.escrowPrefix}${keyId}`;
    // Escrow no longer replicated to eu-west-1: a run that checked escrow first would replicate it for nothing.
    await aws.secrets.send(new RemoveRegionsFromReplicationCommand({ SecretId: secretId, RemoveReplicaRegions: ['eu-west-1'] }));
    const importTypes: string[] = [];
    aws.endpoint.controls.resetCounters();
    const outcome = await rotate(keyId, { importTypes });
    assert.equal(aws.calls('ReplicateSecretToRegions'), 0, 'a refused run spreads no material');
    assert.equal(aws.calls('PutSecretValue'), 0, 'a refused run writes no escrow');
    assert.equal(outcome.status, 'failed', outcome.reason);
    assert.equal(outcome.errorName, 'KeyNotManaged');
    assert.match(outcome.reason ?? '', new RegExp(`Replica arn:aws:kms:eu-west-1:\\d{12}:key/${keyId} in eu-west-1 of Multi-Region key ${keyId} lacks the managed tag`));
    assert.match(outcome.reason ?? '', new RegExp(`aws kms tag-resource --key-id arn:aws:kms:eu-west-1:\\d{12}:key/${keyId} --tags TagKey=${aws.config.managedTagKey},TagValue=true --region eu-west-1`));
    assert.deepEqual(importTypes, []);
    assert.equal((await materials(REGION, keyId)).length, 1, 'nothing imported');
  });

  test('escrow InSync but not readable by this role in a replica Region (a customer managed escrow key it may not use there): EscrowNotReplicated before anything is written or imported anywhere', async () => {
    const { keyId, from } = await multiRegionKey();
    // eu-west-1's copy of the secret answers as Secrets Manager does when the role may not decrypt it there.
    const denied = (region: string): SecretsManagerClient =>
      region !== 'eu-west-1'
        ? at(region).secrets
        : interceptSend(at(region).secrets, {
            before: (command) =>
              command instanceof GetSecretValueCommand
                ? Object.assign(new Error('Access to KMS is not allowed'), { name: 'AccessDeniedException', $fault: 'client', $metadata: { httpStatusCode: 400 } })
                : undefined,
          });
    const importTypes: string[] = [];
    aws.endpoint.controls.resetCounters();
    const outcome = await rotate(keyId, { importTypes, deps: { secretsFor: denied } });
    assert.equal(outcome.status, 'failed', outcome.reason);
    assert.equal(outcome.errorName, 'EscrowNotReplicated');
    assert.match(outcome.reason ?? '', /is replicated \(InSync\) but this role cannot read it in eu-west-1 \(eu-west-1: AccessDeniedException\)/);
    assert.match(outcome.reason ?? '', /EscrowReplicaKmsKeyArns/);
    assert.deepEqual(importTypes, [], 'nothing imported anywhere');
    assert.equal(aws.calls('PutSecretValue'), 0, 'nothing escrowed');
    for (const region of [REGION, ...REPLICAS]) assert.equal(await current(region, keyId), from);
    assert.ok(aws.calls('GetSecretValue') >= 1, 'ap-southeast-2 was read through the endpoint');
  });

  test('a replica Region that shows the rotation late (KMS propagation lag): ReplicaNotYetRotated, nothing more imported; the next run of the same rotation only verifies, no second material', async () => {
    const { keyId, from } = await multiRegionKey();
    const old = await encrypt(keyId, 'written before the rotation');
    let lagging = true;
    // eu-west-1 keeps naming the old material as current for as long as `lagging` holds.
    const late = (region: string): KMSClient =>
      interceptSend(at(region).kms, {
        after: (command, output) => {
          const meta = (output as { KeyMetadata?: { CurrentKeyMaterialId?: string } }).KeyMetadata;
          if (lagging && region === 'eu-west-1' && command instanceof DescribeKeyCommand && meta) meta.CurrentKeyMaterialId = from;
          return undefined;
        },
      });
    const importTypes: string[] = [];
    const first = await rotate(keyId, { importTypes, deps: { kmsFor: (region) => watched(late(region), region, importTypes), sleep: async () => {} } });
    assert.equal(first.status, 'failed', first.reason);
    assert.equal(first.errorName, 'ReplicaNotYetRotated');
    assert.match(first.reason ?? '', /In eu-west-1 .*rotated to material [0-9a-f]{64} in its primary Region, but its replica in eu-west-1 still names [0-9a-f]{64} as current/);
    assert.deepEqual(importTypes.sort(), ['ap-southeast-2:EXISTING_KEY_MATERIAL', 'eu-west-1:EXISTING_KEY_MATERIAL', `${REGION}:NEW_KEY_MATERIAL`].sort());
    const to = (await current(REGION, keyId))!;
    assert.notEqual(to, from, 'the primary did rotate');

    lagging = false;
    const again: string[] = [];
    aws.endpoint.controls.resetCounters();
    const second = await rotate(keyId, { importTypes: again });
    assert.equal(second.status, 'rotated', second.reason);
    assert.equal(second.rotation?.toKeyMaterialId, to);
    assert.match(second.reason ?? '', /already rotated by rotation/);
    assert.deepEqual(again, [], 'no import at all');
    assert.equal(aws.calls('RotateKeyOnDemand'), 0);
    assert.equal(aws.calls('PutSecretValue'), 0);
    await assertRotatedEverywhere(keyId, from, to, old);
  });

  test('the new escrow version not yet readable in a replica Region (replication lag): EscrowNotReplicated, nothing imported there, nothing rotated; the next run finishes with one NEW import', async () => {
    const { keyId, from } = await multiRegionKey();
    const old = await encrypt(keyId, 'written before the rotation');
    // eu-west-1 still serves the version before this rotation's writes (the one current now), as a lagging replica would.
    const before = (await at('eu-west-1').secrets.send(new GetSecretValueCommand({ SecretId: `${aws.config.escrowPrefix}${keyId}` }))).VersionId!;
    const lagging = (secrets: SecretsManagerClient): SecretsManagerClient =>
      new Proxy(secrets, {
        get(target, property) {
          if (property !== 'send') return Reflect.get(target, property, target);
          return (command: object) =>
            target.send(command instanceof GetSecretValueCommand ? new GetSecretValueCommand({ SecretId: command.input.SecretId, VersionId: before }) : (command as never));
        },
      });
    const importTypes: string[] = [];
    const first = await rotate(keyId, { importTypes, deps: { secretsFor: (region) => (region === 'eu-west-1' ? lagging(at(region).secrets) : at(region).secrets) } });
    assert.equal(first.status, 'failed', first.reason);
    assert.equal(first.errorName, 'EscrowNotReplicated');
    assert.match(first.reason ?? '', /as eu-west-1 reads it does not hold material [0-9a-f]{64} of Multi-Region key .* yet .*Nothing was imported into eu-west-1 and nothing was rotated/);
    assert.deepEqual(importTypes, [`${REGION}:NEW_KEY_MATERIAL`, 'ap-southeast-2:EXISTING_KEY_MATERIAL'], 'eu-west-1 took nothing');
    for (const region of [REGION, ...REPLICAS]) assert.equal(await current(region, keyId), from, `${region}: still on the old material`);

    const again = await rotate(keyId, { importTypes });
    assert.equal(again.status, 'rotated', again.reason);
    assert.equal(importTypes.filter((t) => t.endsWith(':NEW_KEY_MATERIAL')).length, 1, 'never a second new material');
    assert.deepEqual(importTypes.slice(2), ['eu-west-1:EXISTING_KEY_MATERIAL'], 'only the Region that lacked it');
    await assertRotatedEverywhere(keyId, from, again.rotation!.toKeyMaterialId!, old);
  });

  test('a replica key asked to rotate is skipped: rotate its primary', async () => {
    const { keyId } = await multiRegionKey();
    const outcome = await rotate(keyId, { region: 'eu-west-1' });
    assert.equal(outcome.status, 'skipped', outcome.reason);
    assert.match(outcome.reason ?? '', new RegExp(`replica of a Multi-Region key: rotate its primary ${REGION}`));
    assert.equal(outcome.calls.ImportKeyMaterial ?? 0, 0);
    assert.equal((await materials('eu-west-1', keyId)).length, 1);
  });

  test('RotateKeyOnDemand refused for a Multi-Region imported key (the other reading of the API reference): named error, nothing lost, a re-run makes no new material', async () => {
    const { keyId, from } = await multiRegionKey();
    const old = await encrypt(keyId, 'written before the rotation');
    const importTypes: string[] = [];
    aws.endpoint.controls.injectError('kms:RotateKeyOnDemand', { type: 'UnsupportedOperationException', message: 'Multi-Region keys with imported key material cannot be rotated on demand.', count: 1 });
    const refused = await rotate(keyId, { importTypes });
    aws.endpoint.controls.clearInjectedErrors();
    assert.equal(refused.status, 'failed', refused.reason);
    assert.equal(refused.errorName, 'MultiRegionRotationRefused');
    assert.match(refused.reason ?? '', /Nothing is lost: the new material [0-9a-f]{64} stays escrowed .* imported into the primary and its replicas in ap-southeast-2, eu-west-1, waiting for rotation, not current/);
    assert.match(refused.reason ?? '', /Next: /);
    for (const region of [REGION, ...REPLICAS]) {
      assert.equal(await current(region, keyId), from, `${region}: still on the old material`);
      assert.equal(await decryptIn(region, keyId, old), 'written before the rotation');
    }
    const to = (await materials(REGION, keyId)).find((m) => m.KeyMaterialId !== from)!.KeyMaterialId!;
    assert.deepEqual(await escrowIds(keyId), [from, to].sort(), 'the new material is escrowed with its KeyMaterialId');

    const again = await rotate(keyId, { importTypes });
    assert.equal(again.status, 'rotated', again.reason);
    assert.equal(importTypes.filter((t) => t.endsWith(':NEW_KEY_MATERIAL')).length, 1, 'never a second new material');
    assert.equal(again.calls.ImportKeyMaterial ?? 0, 0, 'every Region already held it');
    await assertRotatedEverywhere(keyId, from, to, old);
  });

  test('KMS refuses NEW_KEY_MATERIAL for a Multi-Region primary (UnsupportedOperationException): MultiRegionRotationRefused, nothing imported anywhere; the next run imports the escrowed entry, never a second material', async () => {
    const { keyId, from } = await multiRegionKey();
    const old = await encrypt(keyId, 'written before the rotation');
    const secretId = `${aws.config.escrowPrefix}${keyId}`;
    const importTypes: string[] = [];
    aws.endpoint.controls.injectError('kms:ImportKeyMaterial', { type: 'UnsupportedOperationException', message: 'Multi-Region keys do not support NEW_KEY_MATERIAL imports.', count: 1 });
    aws.endpoint.controls.resetCounters();
    const refused = await rotate(keyId, { importTypes });
    aws.endpoint.controls.clearInjectedErrors();
    assert.equal(refused.status, 'failed', refused.reason);
    assert.equal(refused.errorName, 'MultiRegionRotationRefused');
    assert.match(refused.reason ?? '', /UnsupportedOperationException on the import of new material \(NEW_KEY_MATERIAL\)/);
    assert.match(refused.reason ?? '', /the new material stays escrowed \(not imported\)/);
    assert.deepEqual(importTypes, [`${REGION}:NEW_KEY_MATERIAL`], 'the primary\'s NEW import was the only one tried');
    const imports = aws.endpoint.controls.getCounters()['kms:ImportKeyMaterial'];
    assert.deepEqual([imports?.calls, imports?.injected], [1, 1], 'one ImportKeyMaterial in all, and KMS refused it');
    for (const region of [REGION, ...REPLICAS]) {
      assert.deepEqual((await materials(region, keyId)).map((m) => m.KeyMaterialId), [from], `${region}: only the old material`);
      assert.equal(await current(region, keyId), from);
    }
    // Escrowed first: one pending-import entry, kept for the next run.
    const escrowed = JSON.parse((await aws.secrets.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString!) as { materials: Array<{ keyMaterialId?: string; material: string; state?: string; rotation?: string }> };
    const pending = escrowed.materials.filter((m) => m.state === 'pending-import');
    assert.equal(pending.length, 1);
    const rotationId = pending[0]!.rotation;

    const again: string[] = [];
    const second = await rotate(keyId, { importTypes: again });
    assert.equal(second.status, 'rotated', second.reason);
    assert.equal(again.filter((t) => t.endsWith(':NEW_KEY_MATERIAL')).length, 1);
    const to = second.rotation!.toKeyMaterialId!;
    const after = JSON.parse((await aws.secrets.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString!) as typeof escrowed;
    assert.equal(after.materials.length, 2, 'the old material and the one escrowed by the refused run: no second new material');
    const recorded = after.materials.find((m) => m.keyMaterialId === to)!;
    assert.equal(recorded.rotation, rotationId);
    assert.ok(recorded.material === pending[0]!.material, 'the material imported is the one the refused run escrowed');
    await assertRotatedEverywhere(keyId, from, to, old);
  });
});
