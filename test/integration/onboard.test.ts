/**
 * Onboarding through the library, over HTTP against the local endpoint with the real SDK: keys
 * imported by hand (no escrow, no tag) are adopted with their material and then survive the loss
 * of it through recoverKey; what KMS decides (a refused reimport into an Enabled key, several
 * materials, Multi-Region replicas) is KMS's answer here, not a mock's.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateKeyCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  ListResourceTagsCommand,
  ReplicateKeyCommand,
  RotateKeyOnDemandCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { createClients, type AwsClients } from '../../lib/aws/clients.js';
import { adoptKey } from '../../lib/material/adopt.js';
import { createManagedKey } from '../../lib/material/create.js';
import { generateKeyMaterial } from '../../lib/material/generate.js';
import { recoverKey } from '../../lib/reimport.js';
import { wrapKeyMaterial } from '../../lib/wrap/index.js';
import { interceptSend, stopBeforeNth } from '../support/intercept.js';
import { onboardKey, startLocalAws, type LocalAws } from '../support/local-aws.js';

const DAY_MS = 86_400_000;

/** Imports `material` into the key as a person would, no escrow, no tag. */
async function importByHand(kms: KMSClient, keyId: string, keySpec: string, material: Buffer, options: { validTo?: Date; importType?: 'NEW_KEY_MATERIAL' } = {}): Promise<void> {
  const algorithm = keySpec === 'SYMMETRIC_DEFAULT' || keySpec.startsWith('HMAC_') ? 'RSAES_OAEP_SHA_256' : 'RSA_AES_KEY_WRAP_SHA_256';
  const params = await kms.send(new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: algorithm, WrappingKeySpec: 'RSA_2048' }));
  await kms.send(
    new ImportKeyMaterialCommand({
      KeyId: keyId,
      ImportToken: params.ImportToken,
      EncryptedKeyMaterial: wrapKeyMaterial(material, Buffer.from(params.PublicKey!), algorithm),
      ...(options.validTo ? { ExpirationModel: 'KEY_MATERIAL_EXPIRES', ValidTo: options.validTo } : { ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' }),
      ...(options.importType ? { ImportType: options.importType } : {}),
    }),
  );
}

async function handImported(aws: LocalAws, keySpec: string): Promise<{ keyId: string; material: Buffer }> {
  const key = await onboardKey(aws, keySpec, { bare: true, managed: false });
  await importByHand(aws.kms, key.keyId, keySpec, key.material, { validTo: new Date(Math.floor((aws.now().getTime() + 30 * DAY_MS) / 1000) * 1000) });
  return key;
}

async function secretExists(secrets: AwsClients['secrets'], secretId: string): Promise<boolean> {
  try {
    await secrets.send(new DescribeSecretCommand({ SecretId: secretId }));
    return true;
  } catch (e) {
    if ((e as Error).name === 'ResourceNotFoundException') return false;
    throw e;
  }
}

describe('adoptKey against the local endpoint', () => {
  let aws: LocalAws;
  before(async () => {
    aws = await startLocalAws();
  });
  after(async () => {
    await aws.closeAfterLeakCheck();
  });
  const adopt = (keyRef: string, material: Buffer) => adoptKey({ ...aws, logger: aws.logger }, keyRef, material, { config: aws.config, now: aws.now });

  for (const keySpec of ['SYMMETRIC_DEFAULT', 'HMAC_512', 'ECC_SECG_P256K1', 'RSA_3072']) {
    test(`${keySpec}: adopted (proven, escrowed, tagged), then its deleted material is recovered from that escrow`, async () => {
      const key = await handImported(aws, keySpec);
      const material = Buffer.from(key.material);
      const adopted = await adopt(key.keyId, material);
      material.fill(0);
      assert.equal(adopted.proof, 'reimport');
      assert.equal(adopted.keyStateAfter, 'Enabled');
      const tags = (await aws.kms.send(new ListResourceTagsCommand({ KeyId: key.keyId }))).Tags ?? [];
      assert.ok(tags.some((t) => t.TagKey === 'kms-reimport:managed' && t.TagValue === 'true'));

      await aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.keyId }));
      const outcome = await aws.recover(key.keyId, 'recover');
      assert.equal(outcome.status, 'recovered', outcome.reason);
      assert.equal(outcome.verified, true);
    });
  }

  test('an endpoint that refuses reimport into an Enabled key: MaterialNotProvable, nothing written; the PendingImport key is proven by its recovery', async () => {
    const strict = await startLocalAws({ kms: { reimportWhileEnabled: 'refuse' } });
    try {
      const key = await handImported(strict, 'SYMMETRIC_DEFAULT');
      await assert.rejects(adoptKey(strict, key.keyId, Buffer.from(key.material), { config: strict.config, now: strict.now }), {
        name: 'MaterialNotProvable',
        message: /while it is Enabled .*delete-imported-key-material/,
      });
      assert.equal(await secretExists(strict.secrets, `kms-reimport/${key.keyId}`), false);
      assert.equal(strict.calls('TagResource'), 0);

      // The maintenance-window way the message names.
      await strict.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.keyId }));
      const adopted = await adoptKey(strict, key.keyId, Buffer.from(key.material), { config: strict.config, now: strict.now });
      assert.equal(adopted.proof, 'recovery');
      assert.equal(adopted.keyStateAfter, 'Enabled');
      const escrowed = await strict.secrets.send(new GetSecretValueCommand({ SecretId: `kms-reimport/${key.keyId}` }));
      assert.deepEqual(Buffer.from(escrowed.SecretBinary!), key.material);
    } finally {
      await strict.close();
    }
  });

  test('a key whose material was rotated by hand (two materials): refused, nothing written', async () => {
    const key = await handImported(aws, 'SYMMETRIC_DEFAULT');
    const next = await generateKeyMaterial('SYMMETRIC_DEFAULT');
    await importByHand(aws.kms, key.keyId, 'SYMMETRIC_DEFAULT', next, { importType: 'NEW_KEY_MATERIAL' });
    await aws.kms.send(new RotateKeyOnDemandCommand({ KeyId: key.keyId }));
    await assert.rejects(adopt(key.keyId, Buffer.from(next)), { name: 'KeyNotEligible', message: /has 2 key materials/ });
    assert.equal(await secretExists(aws.secrets, `kms-reimport/${key.keyId}`), false);
    next.fill(0);
  });

  test('createManagedKey whose import fails after the escrow: the message\'s next step is the one that works (recovery gives a symmetric key no first material; an HMAC key recovers)', async () => {
    for (const keySpec of ['SYMMETRIC_DEFAULT', 'HMAC_256']) {
      const kms = stopBeforeNth(aws.kms, ImportKeyMaterialCommand, 1);
      const failed = await createManagedKey({ ...aws, kms }, { keySpec, config: aws.config, now: aws.now }).then(
        () => assert.fail('the import was stopped'),
        (e: Error) => e,
      );
      const keyId = /^Key (\S+) was created/.exec(failed.message)?.[1];
      assert.ok(keyId, failed.message);
      const outcome = await aws.recover(keyId, 'recover');
      if (keySpec === 'SYMMETRIC_DEFAULT') {
        assert.doesNotMatch(failed.message, /kms-reimport recover/);
        assert.match(failed.message, /schedule-key-deletion .* and run onboard --new again/);
        assert.equal(outcome.status, 'skipped', 'recovery never gives a key its first material');
      } else {
        assert.match(failed.message, new RegExp(`kms-reimport recover ${keyId} imports it from the escrow`));
        assert.equal(outcome.status, 'recovered', outcome.reason);
      }
    }
  });

  test('createManagedKey of each kind is verified with the round trip its usage takes, the key read once (DescribeKey) after CreateKey', async () => {
    for (const [keySpec, check] of [
      ['HMAC_384', 'GenerateMac/VerifyMac'],
      ['RSA_2048', 'Sign/Verify'],
      ['ECC_NIST_P256', 'Sign/Verify'],
    ] as const) {
      const born = await createManagedKey(aws, { keySpec, config: aws.config, now: aws.now });
      assert.match(born.verified, new RegExp(`^${check} `), `${keySpec}: ${born.verified}`);
      assert.equal(born.calls['DescribeKey'], 1, keySpec);
      assert.equal((await aws.kms.send(new DescribeKeyCommand({ KeyId: born.keyId }))).KeyMetadata!.KeyState, 'Enabled');
    }
  });

  test('createManagedKey with an alias: the alias names the new Enabled key, which recovers like any other', async () => {
    const born = await createManagedKey(aws, { keySpec: 'SYMMETRIC_DEFAULT', alias: 'alias/onboard-integration', config: aws.config, now: aws.now });
    assert.equal(born.alias, 'alias/onboard-integration');
    const described = (await aws.kms.send(new DescribeKeyCommand({ KeyId: 'alias/onboard-integration' }))).KeyMetadata!;
    assert.equal(described.KeyId, born.keyId);
    assert.equal(described.KeyState, 'Enabled');
    // A key born managed is recovered like any other.
    await aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: born.keyId }));
    const outcome = await aws.recover('alias/onboard-integration', 'recover');
    assert.equal(outcome.status, 'recovered', outcome.reason);
  });
});

describe('an import token that expires between GetParametersForImport and ImportKeyMaterial (the endpoint\'s clock moved 24 h)', () => {
  let aws: LocalAws;
  before(async () => {
    aws = await startLocalAws();
  });
  after(async () => {
    await aws.closeAfterLeakCheck();
  });
  /** The KMS client, except that the endpoint's clock jumps past the token's 24 h right after the first GetParametersForImport answer. */
  function expiringFirstToken(): { kms: KMSClient; jumps: () => number } {
    let jumps = 0;
    const kms = interceptSend(aws.kms, {
      after: (command) => {
        if (command instanceof GetParametersForImportCommand && jumps === 0) {
          jumps++;
          aws.endpoint.clock.advance(24 * 3600 + 60);
        }
        return undefined;
      },
    });
    return { kms, jumps: () => jumps };
  }
  const kmsErrors = (operation: string) => aws.endpoint.controls.getCounters()[`kms:${operation}`]?.errors ?? 0;

  test('onboard --new (createManagedKey): KMS refuses the expired token, fresh parameters are fetched and the escrowed material imported', async () => {
    aws.endpoint.controls.resetCounters();
    const { kms, jumps } = expiringFirstToken();
    const born = await createManagedKey({ ...aws, kms }, { keySpec: 'SYMMETRIC_DEFAULT', config: aws.config, now: aws.now, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });
    assert.equal(jumps(), 1);
    assert.equal(aws.calls('GetParametersForImport'), 2);
    assert.equal(aws.calls('ImportKeyMaterial'), 2);
    assert.equal(kmsErrors('ImportKeyMaterial'), 1, 'the first import was refused (its token had expired)');
    assert.equal(aws.calls('CreateSecret'), 1, 'escrowed once');
    assert.equal(born.verified, 'Encrypt/Decrypt SYMMETRIC_DEFAULT');
    assert.equal((await aws.kms.send(new DescribeKeyCommand({ KeyId: born.keyId }))).KeyMetadata!.KeyState, 'Enabled');
    // What was imported is what was escrowed: the key recovers from that escrow.
    await aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: born.keyId }));
    const outcome = await aws.recover(born.keyId, 'recover');
    assert.equal(outcome.status, 'recovered', outcome.reason);
  });

  test('adoptKey: the proof import is refused for the expired token, fresh parameters prove the file', async () => {
    const key = await handImported(aws, 'SYMMETRIC_DEFAULT');
    aws.endpoint.controls.resetCounters();
    const { kms, jumps } = expiringFirstToken();
    const adopted = await adoptKey({ ...aws, kms, logger: aws.logger }, key.keyId, Buffer.from(key.material), { config: aws.config, now: aws.now });
    assert.equal(jumps(), 1);
    assert.equal(aws.calls('GetParametersForImport'), 2);
    assert.equal(aws.calls('ImportKeyMaterial'), 2);
    assert.equal(kmsErrors('ImportKeyMaterial'), 1);
    assert.equal(adopted.proof, 'reimport');
    assert.equal(adopted.keyStateAfter, 'Enabled');
    const escrowed = await aws.secrets.send(new GetSecretValueCommand({ SecretId: `kms-reimport/${key.keyId}` }));
    assert.deepEqual(Buffer.from(escrowed.SecretBinary!), key.material);
  });
});

describe('adoptKey of a Multi-Region primary', () => {
  const PRIMARY = 'us-east-1';
  const REPLICA = 'eu-west-1';
  let aws: LocalAws;
  let west: AwsClients;
  before(async () => {
    aws = await startLocalAws();
    west = createClients({ endpointUrl: aws.endpoint.url, region: REPLICA, credentials: { accessKeyId: 'AKIDINTEGRATION', secretAccessKey: 'integration' } });
  });
  after(async () => {
    west.kms.destroy();
    west.secrets.destroy();
    await aws.close();
  });

  test('escrow replicated to the replica Region, the replica tagged; the replica recovers from its own Region', async () => {
    const keyId = (await aws.kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', MultiRegion: true }))).KeyMetadata!.KeyId!;
    await aws.kms.send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: REPLICA }));
    const material = await generateKeyMaterial('SYMMETRIC_DEFAULT');
    await importByHand(aws.kms, keyId, 'SYMMETRIC_DEFAULT', material);
    await importByHand(west.kms, keyId, 'SYMMETRIC_DEFAULT', material);

    await assert.rejects(adoptKey(west, keyId, Buffer.from(material), { config: aws.config }), { name: 'KeyNotEligible', message: new RegExp(`replica: onboard its primary key in ${PRIMARY}`) });
    const adopted = await adoptKey(aws, keyId, Buffer.from(material), { config: aws.config, now: aws.now });
    assert.deepEqual(adopted.escrow.replicas, [{ region: REPLICA, status: 'InSync', statusMessage: 'Replication succeeded' }]);
    assert.deepEqual(adopted.replicasTagged, [REPLICA]);
    const replicated = await west.secrets.send(new GetSecretValueCommand({ SecretId: `kms-reimport/${keyId}` }));
    assert.deepEqual(Buffer.from(replicated.SecretBinary!), material);

    await west.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }));
    const outcome = await recoverKey(west, keyId, { action: 'recover', config: aws.config, now: aws.now });
    assert.equal(outcome.status, 'recovered', outcome.reason);
    material.fill(0);
  });

  test('escrow under customer managed keys: one per Region, each replica of the secret under its own', async () => {
    const keyId = (await aws.kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', MultiRegion: true }))).KeyMetadata!.KeyId!;
    await aws.kms.send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: REPLICA }));
    const material = await generateKeyMaterial('SYMMETRIC_DEFAULT');
    await importByHand(aws.kms, keyId, 'SYMMETRIC_DEFAULT', material);
    const eastEscrowKey = (await aws.kms.send(new CreateKeyCommand({ Description: 'escrow' }))).KeyMetadata!.Arn!;
    const westEscrowKey = (await west.kms.send(new CreateKeyCommand({ Description: 'escrow' }))).KeyMetadata!.Arn!;

    await assert.rejects(adoptKey(aws, keyId, Buffer.from(material), { config: aws.config, now: aws.now, escrowKmsKeyId: eastEscrowKey }), {
      name: 'EscrowInvalid',
      message: new RegExp(`Name one for ${REPLICA} .*--escrow-replica-kms-key-id REGION=KEY`),
    });
    assert.equal(await secretExists(aws.secrets, `kms-reimport/${keyId}`), false);

    const adopted = await adoptKey(aws, keyId, Buffer.from(material), {
      config: aws.config,
      now: aws.now,
      escrowKmsKeyId: eastEscrowKey,
      escrowReplicaKmsKeyIds: { [REPLICA]: westEscrowKey },
    });
    assert.equal(adopted.escrow.replicas?.[0]?.status, 'InSync');
    const east = await aws.secrets.send(new DescribeSecretCommand({ SecretId: `kms-reimport/${keyId}` }));
    assert.equal(east.KmsKeyId, eastEscrowKey);
    assert.deepEqual(
      east.ReplicationStatus?.map((r) => [r.Region, r.KmsKeyId]),
      [[REPLICA, westEscrowKey]],
    );
    material.fill(0);
  });
});
