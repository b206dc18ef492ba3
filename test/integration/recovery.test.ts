/**
 * The recovery engine end to end over HTTP: real SDK clients, the project's local endpoint,
 * every importable key spec and every wrapping algorithm, after expiry and after deletion.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DecryptCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  EncryptCommand,
} from '@aws-sdk/client-kms';
import { GENERATABLE_KEY_SPECS } from '../../lib/material/generate.js';
import { onboardKey, startLocalAws, type LocalAws } from '../support/local-aws.js';

let aws: LocalAws;
before(async () => {
  aws = await startLocalAws();
});
after(() => aws.closeAfterLeakCheck());

async function keyState(keyId: string): Promise<string | undefined> {
  return (await aws.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState;
}

describe('recovery after expiry, for every importable key spec', () => {
  for (const keySpec of GENERATABLE_KEY_SPECS) {
    test(keySpec, async () => {
      const key = await onboardKey(aws, keySpec, { lifetimeSeconds: 600 });
      aws.endpoint.clock.advance(601);
      assert.equal(await keyState(key.keyId), 'PendingImport');

      const outcome = await aws.recover(key.keyId);

      assert.equal(outcome.status, 'recovered', outcome.reason);
      assert.equal(outcome.verified, true);
      assert.equal(outcome.keyStateBefore, 'PendingImport');
      assert.equal(outcome.keyStateAfter, 'Enabled');
      assert.equal(await keyState(key.keyId), 'Enabled');
      assert.equal(outcome.imported.length, 1);
      assert.equal(outcome.imported[0]!.expirationModel, 'KEY_MATERIAL_EXPIRES');
      const validTo = Date.parse(outcome.imported[0]!.validTo!);
      assert.ok(validTo > aws.endpoint.clock.now(), 'the new ValidTo is in the future of the endpoint clock');
      assert.equal(validTo % 1000, 0, 'ValidTo is on a whole second');
    });
  }
});

describe('recovery with every wrapping algorithm and wrapping key size', () => {
  // Per key family, as KMS takes them: OAEP for symmetric material (checked on a symmetric key),
  // RSA_AES_KEY_WRAP for RSA and ECC material only (checked on an ECC key, whose family takes both).
  const cases = [
    ['RSAES_OAEP_SHA_1', 'SYMMETRIC_DEFAULT', 'symmetric'],
    ['RSAES_OAEP_SHA_256', 'SYMMETRIC_DEFAULT', 'symmetric'],
    ['RSA_AES_KEY_WRAP_SHA_1', 'ECC_NIST_P256', 'ecc'],
    ['RSA_AES_KEY_WRAP_SHA_256', 'ECC_NIST_P256', 'ecc'],
  ] as const;
  for (const [algorithm, keySpec, family] of cases) {
    for (const wrappingKeySpec of ['RSA_2048', 'RSA_3072', 'RSA_4096']) {
      test(`${algorithm} with ${wrappingKeySpec} (${keySpec})`, async () => {
        const key = await onboardKey(aws, keySpec, { lifetimeSeconds: 60 });
        aws.endpoint.clock.advance(61);
        aws.endpoint.controls.resetCounters();

        const config = { ...aws.config, wrapping: { [family]: { algorithm, keySpec: wrappingKeySpec } } };
        const outcome = await aws.recover(key.keyId, 'recover', config);

        assert.equal(outcome.status, 'recovered', outcome.reason);
        assert.equal(outcome.verified, true);
        assert.equal(aws.calls('ImportKeyMaterial'), 1);
        const asked = aws.logLines.filter((l) => l.includes('import parameters received') && l.includes(key.keyId));
        assert.ok(asked.at(-1)?.includes(`"wrappingAlgorithm":"${algorithm}","wrappingKeySpec":"${wrappingKeySpec}"`), asked.at(-1));
      });
    }
  }

  test('an RSA private key is wrapped with RSA_AES_KEY_WRAP even when OAEP is configured', async () => {
    const key = await onboardKey(aws, 'RSA_2048', { lifetimeSeconds: 60 });
    aws.endpoint.clock.advance(61);
    const config = { ...aws.config, wrappingAlgorithm: undefined, wrappingKeySpec: 'RSA_3072' };
    const outcome = await aws.recover(key.keyId, 'recover', config);
    assert.equal(outcome.status, 'recovered', outcome.reason);
  });
});

describe('recovery after someone deletes the material', () => {
  test('a symmetric key comes back and decrypts what it encrypted before', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
    const ciphertext = (await aws.kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('payroll') }))).CiphertextBlob!;
    await aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.keyId }));
    assert.equal(await keyState(key.keyId), 'PendingImport');
    await assert.rejects(aws.kms.send(new DecryptCommand({ CiphertextBlob: ciphertext })), { name: 'KMSInvalidStateException' });

    const outcome = await aws.recover(key.arn);

    assert.equal(outcome.status, 'recovered', outcome.reason);
    assert.equal(outcome.imported[0]!.expirationModel, 'KEY_MATERIAL_DOES_NOT_EXPIRE', 'follows the key: material that never expired is reimported the same way');
    assert.equal(outcome.imported[0]!.validTo, undefined);
    const plain = await aws.kms.send(new DecryptCommand({ CiphertextBlob: ciphertext }));
    assert.equal(Buffer.from(plain.Plaintext!).toString(), 'payroll');
  });
});

describe('renewal before expiry', () => {
  test('the same material is reimported with a later ValidTo while the key stays Enabled', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 3 * 24 * 3600 });
    const before = (await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!;
    const ciphertext = (await aws.kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('kept') }))).CiphertextBlob!;

    const outcome = await aws.recover(key.keyId);

    assert.equal(outcome.status, 'renewed', outcome.reason);
    const afterMeta = (await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!;
    assert.equal(afterMeta.KeyState, 'Enabled');
    assert.ok(afterMeta.ValidTo!.getTime() > before.ValidTo!.getTime(), 'ValidTo moved later');
    const plain = await aws.kms.send(new DecryptCommand({ CiphertextBlob: ciphertext }));
    assert.equal(Buffer.from(plain.Plaintext!).toString(), 'kept');
  });
});
