/**
 * Alias-swap rotation end to end over HTTP against the local endpoint: a new key that copies the
 * old one, its material escrowed first in its own secret, imported, verified, every alias moved,
 * lineage tags on both keys, the old key still Enabled, managed and usable. A crash after each
 * step, followed by a clean run, ends in ONE new key and ONE new material.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  GenerateMacCommand,
  GetKeyPolicyCommand,
  ListAliasesCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  SignCommand,
  TagResourceCommand,
  VerifyCommand,
  VerifyMacCommand,
  type KeySpec,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { DescribeSecretCommand, GetSecretValueCommand, ListSecretVersionIdsCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { inspectKey } from '../../lib/kms/inspect.js';
import { generateKeyMaterial } from '../../lib/material/generate.js';
import { escrowAndImport } from '../../lib/material/onboard.js';
import { rotateByAliasSwap, type AliasSwapResult } from '../../lib/rotation/alias-swap.js';
import { interceptSend } from '../support/intercept.js';
import { keyUsageFor, startLocalAws, type LocalAws } from '../support/local-aws.js';

let aws: LocalAws;
before(async () => {
  // RSA_2048 wrapping keys: fast to make on the endpoint.
  aws = await startLocalAws({}, { wrappingKeySpec: 'RSA_2048' });
});
after(() => aws.closeAfterLeakCheck());

let serial = 0;
const POLICY = (tag: string) =>
  JSON.stringify({
    Version: '2012-10-17',
    Id: `custom-${tag}`,
    Statement: [{ Sid: 'Root', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::000000000000:root' }, Action: 'kms:*', Resource: '*' }],
  });

interface OldKey {
  keyId: string;
  aliases: string[];
  policy: string;
  description: string;
}

/** A managed EXTERNAL key with description, custom policy, tags (escrow tag included), material and two aliases. */
async function oldKey(keySpec: string): Promise<OldKey> {
  const n = ++serial;
  const policy = POLICY(`${keySpec}-${n}`);
  const description = `payments ${keySpec} signing key #${n}`;
  const created = await aws.kms.send(
    new CreateKeyCommand({
      Origin: 'EXTERNAL',
      KeySpec: keySpec as KeySpec,
      KeyUsage: keyUsageFor(keySpec),
      Description: description,
      Policy: policy,
      Tags: [
        { TagKey: aws.config.managedTagKey, TagValue: aws.config.managedTagValue },
        { TagKey: 'team', TagValue: 'payments' },
        { TagKey: 'kms-reimport:rotate-every', TagValue: '90d' },
      ],
    }),
  );
  const keyId = created.KeyMetadata!.KeyId!;
  const material = await generateKeyMaterial(keySpec);
  try {
    await escrowAndImport(aws, {
      keyId,
      keySpec,
      material,
      config: aws.config,
      expirationModel: 'KEY_MATERIAL_EXPIRES',
      validTo: new Date(aws.endpoint.clock.now() + 30 * 86_400_000),
    });
  } finally {
    material.fill(0);
  }
  // The old key's escrow tag names the OLD key's secret: it must not be copied to the new key.
  await aws.kms.send(new TagResourceCommand({ KeyId: keyId, Tags: [{ TagKey: aws.config.escrowTagKey, TagValue: `${aws.config.escrowPrefix}${keyId}` }] }));
  const aliases = [`alias/swap-${n}-a`, `alias/swap-${n}-b`];
  for (const AliasName of aliases) await aws.kms.send(new CreateAliasCommand({ AliasName, TargetKeyId: keyId }));
  return { keyId, aliases, policy, description };
}

async function tagsOf(keyId: string): Promise<Record<string, string>> {
  const out = await aws.kms.send(new ListResourceTagsCommand({ KeyId: keyId }));
  return Object.fromEntries((out.Tags ?? []).map((t) => [t.TagKey!, t.TagValue!]));
}

async function aliasesOf(keyId: string): Promise<string[]> {
  const out = await aws.kms.send(new ListAliasesCommand({ KeyId: keyId }));
  return (out.Aliases ?? []).map((a) => a.AliasName!).sort();
}

/** Every key of the endpoint tagged rotated-from = keyId. */
async function newKeysOf(keyId: string): Promise<string[]> {
  const out = await aws.kms.send(new ListKeysCommand({ Limit: 1000 }));
  const found: string[] = [];
  for (const k of out.Keys ?? []) if ((await tagsOf(k.KeyId!))['kms-reimport:rotated-from'] === keyId) found.push(k.KeyId!);
  return found;
}

async function rotate(keyId: string, kms: KMSClient = aws.kms, secrets = aws.secrets): Promise<AliasSwapResult> {
  const report = await inspectKey(aws.kms, keyId);
  return rotateByAliasSwap({ kms, secrets, logger: aws.logger }, report, aws.config, aws.now);
}

/** What a cryptographic use of the key proves, made before the rotation, checked after it. */
async function proof(keyId: string, keySpec: string): Promise<() => Promise<boolean>> {
  const message = Buffer.from(`made before the rotation with ${keyId}`);
  if (keySpec.startsWith('HMAC_')) {
    const mac = await aws.kms.send(new GenerateMacCommand({ KeyId: keyId, Message: message, MacAlgorithm: `HMAC_SHA_${keySpec.slice(5)}` as never }));
    return async () =>
      (await aws.kms.send(new VerifyMacCommand({ KeyId: keyId, Message: message, Mac: mac.Mac!, MacAlgorithm: mac.MacAlgorithm! }))).MacValid === true;
  }
  const SigningAlgorithm = keySpec.startsWith('RSA_') ? 'RSASSA_PSS_SHA_256' : 'ECDSA_SHA_256';
  const sig = await aws.kms.send(new SignCommand({ KeyId: keyId, Message: message, MessageType: 'RAW', SigningAlgorithm }));
  return async () =>
    (await aws.kms.send(new VerifyCommand({ KeyId: keyId, Message: message, MessageType: 'RAW', Signature: sig.Signature!, SigningAlgorithm })))
      .SignatureValid === true;
}

/** A second proof through an alias: it must now run on the new key. */
async function worksThrough(alias: string, newKeyId: string, keySpec: string): Promise<void> {
  const message = Buffer.from('after the rotation');
  if (keySpec.startsWith('HMAC_')) {
    const MacAlgorithm = `HMAC_SHA_${keySpec.slice(5)}` as never;
    const mac = await aws.kms.send(new GenerateMacCommand({ KeyId: alias, Message: message, MacAlgorithm }));
    assert.equal(mac.KeyId?.endsWith(newKeyId), true, `${alias} MACs with the new key`);
    assert.equal((await aws.kms.send(new VerifyMacCommand({ KeyId: newKeyId, Message: message, Mac: mac.Mac!, MacAlgorithm }))).MacValid, true);
    return;
  }
  const SigningAlgorithm = keySpec.startsWith('RSA_') ? 'RSASSA_PSS_SHA_256' : 'ECDSA_SHA_256';
  const sig = await aws.kms.send(new SignCommand({ KeyId: alias, Message: message, MessageType: 'RAW', SigningAlgorithm }));
  assert.equal(sig.KeyId?.endsWith(newKeyId), true, `${alias} signs with the new key`);
  const ok = await aws.kms.send(new VerifyCommand({ KeyId: newKeyId, Message: message, MessageType: 'RAW', Signature: sig.Signature!, SigningAlgorithm }));
  assert.equal(ok.SignatureValid, true);
}

async function secretVersions(secretId: string): Promise<number> {
  return (await aws.secrets.send(new ListSecretVersionIdsCommand({ SecretId: secretId, IncludeDeprecated: true }))).Versions?.length ?? 0;
}

/** The endpoint's count of calls of one operation that it answered without an error. */
function succeeded(operation: string): number {
  const c = aws.endpoint.controls.getCounters()[operation];
  return c ? c.calls - c.errors : 0;
}

describe('alias swap: a copy of the old key, escrow first, every alias moved, the old key still usable', () => {
  for (const keySpec of ['HMAC_256', 'RSA_2048', 'ECC_NIST_P256']) {
    test(keySpec, async () => {
      const old = await oldKey(keySpec);
      const stillValid = await proof(old.keyId, keySpec);
      const oldTags = await tagsOf(old.keyId);
      aws.endpoint.controls.resetCounters();

      const result = await rotate(old.keyId);

      assert.deepEqual(result.resumed, []);
      assert.equal(result.oldKeyId, old.keyId);
      assert.notEqual(result.newKeyId, old.keyId);
      assert.deepEqual(result.aliasesMoved, old.aliases);
      assert.equal(succeeded('kms:CreateKey'), 1);
      assert.equal(succeeded('kms:ImportKeyMaterial'), 1);
      assert.equal(succeeded('secretsmanager:CreateSecret'), 1);

      // The new key copies the old one.
      const meta = (await aws.kms.send(new DescribeKeyCommand({ KeyId: result.newKeyId }))).KeyMetadata!;
      assert.equal(meta.Arn, result.newKeyArn);
      assert.equal(meta.Origin, 'EXTERNAL');
      assert.equal(meta.KeySpec, keySpec);
      assert.equal(meta.KeyUsage, keyUsageFor(keySpec));
      assert.equal(meta.Description, old.description);
      assert.equal(meta.KeyState, 'Enabled');
      assert.equal(meta.ExpirationModel, 'KEY_MATERIAL_EXPIRES', "the old key's model is followed");
      assert.equal(meta.ValidTo?.toISOString(), result.validTo);
      assert.equal((await aws.kms.send(new GetKeyPolicyCommand({ KeyId: result.newKeyId, PolicyName: 'default' }))).Policy, old.policy);
      const newTags = await tagsOf(result.newKeyId);
      const expected = { ...oldTags, 'kms-reimport:rotated-from': old.keyId };
      delete (expected as Record<string, string>)[aws.config.escrowTagKey];
      assert.deepEqual(newTags, expected, "every tag but the old key's escrow tag, plus rotated-from");

      // Its material is in its own secret, bound by name and tag: escrowed (raw, before the import), then a
      // second version labels it with the KeyMaterialId KMS gave it (kms-reimport/v1).
      const secretId = `${aws.config.escrowPrefix}${result.newKeyId}`;
      const secret = await aws.secrets.send(new DescribeSecretCommand({ SecretId: secretId }));
      assert.deepEqual(secret.Tags, [{ Key: 'kms-reimport:key-id', Value: result.newKeyId }]);
      assert.equal(await secretVersions(secretId), 2);
      const labelled = JSON.parse((await aws.secrets.send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString!) as { materials: Array<{ keyMaterialId?: string }> };
      assert.deepEqual(labelled.materials.map((m) => m.keyMaterialId), [result.keyMaterialId]);
      assert.match(result.keyMaterialId ?? '', /^[0-9a-f]{64}$/);

      // Every alias names the new key, which works; the old key still verifies what it made.
      assert.deepEqual(await aliasesOf(result.newKeyId), old.aliases);
      assert.deepEqual(await aliasesOf(old.keyId), []);
      for (const alias of old.aliases) await worksThrough(alias, result.newKeyId, keySpec);
      assert.equal(await stillValid(), true, 'what the old key made still verifies with it');
      const oldMeta = (await aws.kms.send(new DescribeKeyCommand({ KeyId: old.keyId }))).KeyMetadata!;
      assert.equal(oldMeta.KeyState, 'Enabled');
      const oldAfter = await tagsOf(old.keyId);
      assert.equal(oldAfter[aws.config.managedTagKey], aws.config.managedTagValue, 'the old key stays managed');
      assert.equal(oldAfter['kms-reimport:rotated-to'], result.newKeyId);

      // A run after the end changes nothing.
      aws.endpoint.controls.resetCounters();
      const again = await rotate(old.keyId);
      assert.equal(again.newKeyId, result.newKeyId);
      assert.deepEqual(again.resumed, ['create-key', 'escrow', 'import', 'verify', 'move-aliases', 'tag-rotated-to']);
      assert.equal(aws.calls('CreateKey') + aws.calls('CreateSecret') + aws.calls('ImportKeyMaterial') + aws.calls('UpdateAlias'), 0);
    });
  }
});

test('escrow comes before the import: an ImportKeyMaterial that fails leaves the material escrowed, and the next run imports it', async () => {
  const old = await oldKey('HMAC_256');
  aws.endpoint.controls.resetCounters();
  aws.endpoint.controls.injectError('kms:ImportKeyMaterial', { type: 'ValidationException', message: 'injected' });

  await assert.rejects(rotate(old.keyId), { name: 'ImportRequestInvalid' });

  const [newKeyId] = await newKeysOf(old.keyId);
  assert.ok(newKeyId);
  const secretId = `${aws.config.escrowPrefix}${newKeyId}`;
  assert.equal(await secretVersions(secretId), 1, 'the material was escrowed before ImportKeyMaterial was sent');
  const meta = (await aws.kms.send(new DescribeKeyCommand({ KeyId: newKeyId }))).KeyMetadata!;
  assert.equal(meta.KeyState, 'PendingImport');
  assert.deepEqual(await aliasesOf(old.keyId), old.aliases, 'no alias moved to a key without material');

  const result = await rotate(old.keyId);
  assert.equal(result.newKeyId, newKeyId);
  assert.deepEqual(result.resumed, ['create-key', 'escrow']);
  assert.equal(aws.calls('CreateKey'), 1);
  assert.equal(aws.calls('CreateSecret'), 1);
  assert.equal(aws.calls('PutSecretValue'), 1, 'the escrowed material was reused, not regenerated: the one write after it labels it');
  assert.equal(await secretVersions(secretId), 2);
  assert.deepEqual(await aliasesOf(newKeyId), old.aliases);
});

/** A KMS (or Secrets Manager) client whose process "dies" just before its nth call of one command. */
function crashingBefore<T extends { send: (...args: never[]) => unknown }>(client: T, command: string, nth: number): T {
  let seen = 0;
  return interceptSend(client, { before: (cmd) => (cmd.constructor.name === command && ++seen === nth ? new Error(`simulated crash before ${command} #${nth}`) : undefined) });
}

describe('a crash after each step, then a clean run: one new key, one new material', () => {
  const cases: Array<{ step: string; command: string; nth: number; secrets?: boolean; resumed: string[] }> = [
    { step: 'new key created (old key still tagged rotating-to=pending)', command: 'TagResourceCommand', nth: 2, resumed: ['create-key'] },
    { step: 'rotating-to tagged, nothing escrowed', command: 'DescribeSecretCommand', nth: 1, secrets: true, resumed: ['create-key'] },
    { step: 'escrow written', command: 'GetParametersForImportCommand', nth: 1, resumed: ['create-key', 'escrow'] },
    { step: 'imported', command: 'GenerateMacCommand', nth: 1, resumed: ['create-key', 'escrow', 'import'] },
    { step: 'verified', command: 'UpdateAliasCommand', nth: 1, resumed: ['create-key', 'escrow', 'import'] },
    { step: 'one of two aliases moved', command: 'UpdateAliasCommand', nth: 2, resumed: ['create-key', 'escrow', 'import', 'verify', 'move-aliases'] },
    { step: 'every alias moved, rotated-to not tagged', command: 'TagResourceCommand', nth: 3, resumed: ['create-key', 'escrow', 'import', 'verify', 'move-aliases'] },
  ];
  for (const c of cases) {
    test(c.step, async () => {
      const old = await oldKey('HMAC_256');
      const stillValid = await proof(old.keyId, 'HMAC_256');
      aws.endpoint.controls.resetCounters();
      const kms = c.secrets ? aws.kms : crashingBefore(aws.kms, c.command, c.nth);
      const secrets = c.secrets ? crashingBefore(aws.secrets, c.command, c.nth) : aws.secrets;

      // The crash surfaces as it is, or as the named error of the step it hit (with the crash as its cause).
      await assert.rejects(rotate(old.keyId, kms, secrets), (e: unknown) => {
        for (let at = e; at instanceof Error; at = at.cause) if (/simulated crash/.test(at.message)) return true;
        return false;
      });
      const result = await rotate(old.keyId);

      assert.deepEqual(result.resumed, c.resumed);
      assert.deepEqual(await newKeysOf(old.keyId), [result.newKeyId], 'exactly one new key');
      assert.equal(aws.calls('CreateKey'), 1, 'CreateKey sent once over both runs');
      assert.equal(aws.calls('CreateSecret'), 1, 'one new material escrowed over both runs');
      assert.equal(succeeded('kms:ImportKeyMaterial'), 1, 'imported once');
      assert.equal(await secretVersions(`${aws.config.escrowPrefix}${result.newKeyId}`), 2, 'escrowed once, labelled once');
      assert.deepEqual(result.aliasesMoved, old.aliases);
      assert.deepEqual(await aliasesOf(result.newKeyId), old.aliases);
      for (const alias of old.aliases) await worksThrough(alias, result.newKeyId, 'HMAC_256');
      assert.equal(await stillValid(), true);
      assert.equal((await tagsOf(old.keyId))['kms-reimport:rotated-to'], result.newKeyId);
    });
  }

  // M6: a resumed swap never trusts an Enabled new key: it is compared with its escrow before any alias moves
  // (a symmetric key, swapped past the cap, by importing the escrowed material again under its KeyMaterialId).
  for (const keySpec of ['HMAC_256', 'RSA_2048', 'ECC_NIST_P256', 'SYMMETRIC_DEFAULT']) {
    test(`${keySpec}: a resumed swap whose new key does not hold its escrowed material: RotationKeyUnusable, no alias moved`, async () => {
      const old = await oldKey(keySpec);
      await assert.rejects(rotate(old.keyId, crashingBefore(aws.kms, 'UpdateAliasCommand', 1)), (e: unknown) => {
        for (let at = e; at instanceof Error; at = at.cause) if (/simulated crash/.test(at.message)) return true;
        return false;
      });
      const [newKeyId] = await newKeysOf(old.keyId);
      assert.ok(newKeyId);
      // The escrow now says another material (an edited secret, or a key that is not what it seems).
      const other = await generateKeyMaterial(keySpec);
      try {
        await aws.secrets.send(new PutSecretValueCommand({ SecretId: `${aws.config.escrowPrefix}${newKeyId}`, SecretBinary: other }));
      } finally {
        other.fill(0);
      }
      aws.endpoint.controls.resetCounters();
      await assert.rejects(rotate(old.keyId), (e: unknown) => {
        assert.ok(e instanceof Error);
        assert.equal(e.name, 'RotationKeyUnusable');
        assert.ok(e.message.includes(newKeyId) && /does not hold the material escrowed for it/.test(e.message), e.message);
        return true;
      });
      assert.equal(aws.calls('UpdateAlias'), 0, 'no alias moved');
      assert.deepEqual(await aliasesOf(old.keyId), old.aliases);
      assert.equal((await tagsOf(old.keyId))['kms-reimport:rotated-to'], undefined);
    });

    test(`${keySpec}: a resumed swap whose new key holds its escrowed material: compared, then every alias moved`, async () => {
      const old = await oldKey(keySpec);
      await assert.rejects(rotate(old.keyId, crashingBefore(aws.kms, 'UpdateAliasCommand', 1)));
      aws.endpoint.controls.resetCounters();
      const result = await rotate(old.keyId);
      assert.equal(aws.calls(keySpec.startsWith('HMAC_') ? 'GenerateMac' : keySpec === 'SYMMETRIC_DEFAULT' ? 'ImportKeyMaterial' : 'GetPublicKey') >= 1, true);
      assert.deepEqual(await aliasesOf(result.newKeyId), old.aliases);
    });
  }

  test('CreateKey answer lost (timeout after KMS made the key): the key is found by its tag, not made again', async () => {
    const old = await oldKey('HMAC_256');
    aws.endpoint.controls.resetCounters();
    let lost = false;
    const kms = interceptSend(aws.kms, {
      after: (cmd) => {
        if (cmd.constructor.name !== 'CreateKeyCommand' || lost) return undefined;
        lost = true;
        return Object.assign(new Error('socket timed out'), { name: 'TimeoutError' });
      },
    });
    const result = await rotate(old.keyId, kms);
    assert.equal(lost, true);
    assert.deepEqual(await newKeysOf(old.keyId), [result.newKeyId]);
    assert.equal(aws.calls('CreateKey'), 1);
    assert.deepEqual(await aliasesOf(result.newKeyId), old.aliases);
  });

  test('two new keys for one old key: RotationConflict, nothing more done', async () => {
    const old = await oldKey('HMAC_256');
    await aws.kms.send(new TagResourceCommand({ KeyId: old.keyId, Tags: [{ TagKey: 'kms-reimport:rotating-to', TagValue: 'pending' }] }));
    for (let i = 0; i < 2; i++) {
      await aws.kms.send(
        new CreateKeyCommand({
          Origin: 'EXTERNAL',
          KeySpec: 'HMAC_256',
          KeyUsage: 'GENERATE_VERIFY_MAC',
          Tags: [
            { TagKey: aws.config.managedTagKey, TagValue: aws.config.managedTagValue },
            { TagKey: 'kms-reimport:rotated-from', TagValue: old.keyId },
          ],
        }),
      );
    }
    aws.endpoint.controls.resetCounters();
    await assert.rejects(rotate(old.keyId), (e: Error) => e.name === 'RotationConflict' && e.message.includes(old.keyId) && /run again/.test(e.message));
    assert.equal(aws.calls('CreateKey') + aws.calls('CreateSecret') + aws.calls('UpdateAlias'), 0);
    assert.deepEqual(await aliasesOf(old.keyId), old.aliases);
  });
});
