/**
 * A managed Multi-Region EXTERNAL primary key with replicas, onboarded as kms-reimport does it, for
 * integration and end-to-end tests against the local endpoint: the primary created with the managed
 * tag, each replica made with ReplicateKey (with the managed tag unless told otherwise: KMS does
 * not copy tags to replicas), the escrow written first (lib's escrowAndImport: the secret is
 * replicated to the replica Regions) and the material imported into the primary, then the same
 * material imported into each replica as EXISTING_KEY_MATERIAL under import parameters from its own
 * Region. Not a test file itself.
 */
import assert from 'node:assert/strict';
import { CreateKeyCommand, DescribeKeyCommand, ImportKeyMaterialCommand, ReplicateKeyCommand } from '@aws-sdk/client-kms';
import type { AwsClients } from '../../lib/aws/clients.js';
import type { ReimportConfig } from '../../lib/config.js';
import { getImportParameters } from '../../lib/kms/import-parameters.js';
import { generateKeyMaterial } from '../../lib/material/generate.js';
import { escrowAndImport } from '../../lib/material/onboard.js';
import { wrapKeyMaterial } from '../../lib/wrap/wrap.js';
import type { OnboardTarget } from './local-aws.js';

export interface MultiRegionKey {
  keyId: string;
  arn: string;
  /** The KeyMaterialId every Region holds as current. */
  from: string;
  /** A copy of the material, for the leak search. */
  material: Buffer;
}

export async function onboardMultiRegionKey(
  aws: OnboardTarget & { config: ReimportConfig },
  at: (region: string) => AwsClients,
  replicas: string[],
  options: { untaggedReplicas?: string[] } = {},
): Promise<MultiRegionKey> {
  const managed = { TagKey: aws.config.managedTagKey, TagValue: aws.config.managedTagValue };
  const created = (await aws.kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', MultiRegion: true, Tags: [managed] }))).KeyMetadata!;
  const keyId = created.KeyId!;
  for (const region of replicas) {
    const tagged = !(options.untaggedReplicas ?? []).includes(region);
    await aws.kms.send(new ReplicateKeyCommand({ KeyId: keyId, ReplicaRegion: region, ...(tagged ? { Tags: [managed] } : {}) }));
  }
  const material = await generateKeyMaterial('SYMMETRIC_DEFAULT');
  const working = Buffer.from(material);
  try {
    const onboarded = await escrowAndImport(aws, { keyId, keySpec: 'SYMMETRIC_DEFAULT', material: working, config: aws.config, expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' });
    assert.deepEqual(onboarded.escrowReplicas?.map((r) => [r.region, r.status]).sort(), [...replicas].sort().map((r) => [r, 'InSync']), 'the escrow secret is replicated to every replica Region');
    for (const region of replicas) {
      const params = await getImportParameters(at(region).kms, keyId, { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048' });
      const wrapped = wrapKeyMaterial(material, Buffer.from(params.publicKey, 'base64'), params.wrappingAlgorithm);
      await at(region).kms.send(
        new ImportKeyMaterialCommand({
          KeyId: keyId,
          ImportToken: Buffer.from(params.importToken, 'base64'),
          EncryptedKeyMaterial: wrapped,
          ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
          ImportType: 'EXISTING_KEY_MATERIAL',
        }),
      );
      const current = (await at(region).kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.CurrentKeyMaterialId;
      assert.equal(current, onboarded.keyMaterialId, `${region} holds the primary's material`);
    }
    return { keyId, arn: created.Arn!, from: onboarded.keyMaterialId as string, material };
  } finally {
    working.fill(0);
  }
}
