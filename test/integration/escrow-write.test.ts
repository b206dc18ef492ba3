/**
 * The rotation's escrow write against the local endpoint, real SDK over HTTP: an escrow secret
 * encrypted under an alias that names the key itself is refused before any new material is
 * written or imported (the alias is resolved by DescribeKey, as the sweep's health check does);
 * under an alias of another key the rotation goes through.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateAliasCommand, CreateKeyCommand, ListKeyRotationsCommand } from '@aws-sdk/client-kms';
import { ListSecretVersionIdsCommand, UpdateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { rotateKey } from '../../lib/rotate.js';
import { onboardKey, startLocalAws, type LocalAws } from '../support/local-aws.js';

let aws: LocalAws;
before(async () => {
  aws = await startLocalAws({}, { wrapping: { symmetric: { keySpec: 'RSA_2048' } } });
});
after(async () => {
  await aws.closeAfterLeakCheck();
});

async function rotate(keyId: string) {
  const outcome = await rotateKey({ kms: aws.kms, secrets: aws.secrets, logger: aws.logger }, keyId, { action: 'rotate', config: aws.config, now: aws.now, rotationId: 'escrow-write-test' });
  aws.outcomes.push(outcome);
  return outcome;
}

const versions = async (secretId: string) => (await aws.secrets.send(new ListSecretVersionIdsCommand({ SecretId: secretId }))).Versions?.length ?? 0;
const materials = async (keyId: string) => (await aws.kms.send(new ListKeyRotationsCommand({ KeyId: keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }))).Rotations?.length ?? 0;

test('a rotation whose escrow secret is encrypted under an alias of the key itself fails EscrowInvalid: nothing escrowed, nothing imported', async () => {
  const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
  const secretId = `kms-reimport/${key.keyId}`;
  const alias = `alias/self-${key.keyId.slice(0, 8)}`;
  await aws.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.keyId }));
  await aws.secrets.send(new UpdateSecretCommand({ SecretId: secretId, KmsKeyId: alias }));
  const versionsBefore = await versions(secretId);
  const putsBefore = aws.calls('PutSecretValue');
  const importsBefore = aws.calls('ImportKeyMaterial');

  const outcome = await rotate(key.keyId);
  assert.equal(outcome.status, 'failed', outcome.reason);
  assert.equal(outcome.errorName, 'EscrowInvalid');
  assert.match(outcome.reason ?? '', new RegExp(`encrypted under key ${key.keyId} itself \\(KmsKeyId ${alias}\\)`));
  assert.equal(aws.calls('PutSecretValue'), putsBefore, 'no new escrow version');
  assert.equal(await versions(secretId), versionsBefore);
  assert.equal(aws.calls('ImportKeyMaterial'), importsBefore, 'nothing imported');
  assert.equal(await materials(key.keyId), 1);
});

test('under an alias of another key the same rotation escrows and imports the new material', async () => {
  const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
  const secretId = `kms-reimport/${key.keyId}`;
  const escrowKey = await aws.kms.send(new CreateKeyCommand({ Description: 'escrow key' }));
  const alias = `alias/escrow-${key.keyId.slice(0, 8)}`;
  await aws.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: escrowKey.KeyMetadata!.KeyId! }));
  await aws.secrets.send(new UpdateSecretCommand({ SecretId: secretId, KmsKeyId: alias }));

  const outcome = await rotate(key.keyId);
  assert.equal(outcome.status, 'rotated', outcome.reason);
  assert.equal(await materials(key.keyId), 2);
});
