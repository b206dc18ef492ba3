// KMS key management through the real SDK over HTTP: CreateKey per spec and usage, DescribeKey by
// every identifier, ListKeys pagination, aliases, tags, enable/disable, deletion, regions,
// accounts, replicas, snapshot/restore and the tagged-resource view.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  ListAliasesCommand,
  ListKeysCommand,
  ListResourceTagsCommand,
  ReplicateKeyCommand,
  ScheduleKeyDeletionCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateAliasCommand,
  EncryptCommand,
} from '@aws-sdk/client-kms';
import { createKmsService } from '../../local/kms/index.js';
import { createExternalKey, DAY, type Harness, importMaterial, materialFor, rejectsWith, startHarness } from './kms-support.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});

describe('CreateKey and DescribeKey', () => {
  it('creates an EXTERNAL symmetric key in PendingImport with complete metadata', async () => {
    const kms = h.kms();
    const out = await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', Description: 'byok', Tags: [{ TagKey: 'kms-reimport', TagValue: 'managed' }] }));
    const m = out.KeyMetadata!;
    assert.match(m.KeyId!, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(m.Arn, `arn:aws:kms:us-east-1:000000000000:key/${m.KeyId}`);
    assert.equal(m.AWSAccountId, '000000000000');
    assert.equal(m.KeyState, 'PendingImport');
    assert.equal(m.Enabled, false);
    assert.equal(m.Origin, 'EXTERNAL');
    assert.equal(m.KeySpec, 'SYMMETRIC_DEFAULT');
    assert.equal(m.CustomerMasterKeySpec, 'SYMMETRIC_DEFAULT');
    assert.equal(m.KeyUsage, 'ENCRYPT_DECRYPT');
    assert.deepEqual(m.EncryptionAlgorithms, ['SYMMETRIC_DEFAULT']);
    assert.equal(m.Description, 'byok');
    assert.equal(m.MultiRegion, false);
    assert.ok(Math.abs(m.CreationDate!.getTime() - h.endpoint.clock.now()) < 60_000);
    assert.equal(m.ValidTo, undefined);
    assert.equal(m.ExpirationModel, undefined);
    assert.equal(m.CurrentKeyMaterialId, undefined);
  });

  it('creates AWS_KMS keys of every spec with generated material, Enabled, with the algorithms of the spec', async () => {
    const kms = h.kms();
    const cases: [string, string, Record<string, unknown>][] = [
      ['SYMMETRIC_DEFAULT', 'ENCRYPT_DECRYPT', { EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'] }],
      ['HMAC_224', 'GENERATE_VERIFY_MAC', { MacAlgorithms: ['HMAC_SHA_224'] }],
      ['HMAC_512', 'GENERATE_VERIFY_MAC', { MacAlgorithms: ['HMAC_SHA_512'] }],
      ['RSA_2048', 'ENCRYPT_DECRYPT', { EncryptionAlgorithms: ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256'] }],
      ['RSA_2048', 'SIGN_VERIFY', { SigningAlgorithms: ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_384', 'RSASSA_PKCS1_V1_5_SHA_512', 'RSASSA_PSS_SHA_256', 'RSASSA_PSS_SHA_384', 'RSASSA_PSS_SHA_512'] }],
      ['ECC_NIST_P256', 'SIGN_VERIFY', { SigningAlgorithms: ['ECDSA_SHA_256'] }],
      ['ECC_NIST_P384', 'SIGN_VERIFY', { SigningAlgorithms: ['ECDSA_SHA_384'] }],
      ['ECC_NIST_P521', 'SIGN_VERIFY', { SigningAlgorithms: ['ECDSA_SHA_512'] }],
      ['ECC_SECG_P256K1', 'SIGN_VERIFY', { SigningAlgorithms: ['ECDSA_SHA_256'] }],
    ];
    for (const [spec, usage, algorithms] of cases) {
      const m = (await kms.send(new CreateKeyCommand({ KeySpec: spec as never, KeyUsage: usage as never }))).KeyMetadata!;
      assert.equal(m.KeyState, 'Enabled', spec);
      assert.equal(m.Origin, 'AWS_KMS');
      assert.equal(m.KeySpec, spec);
      assert.equal(m.KeyUsage, usage);
      assert.match(m.CurrentKeyMaterialId!, /^[0-9a-f]{64}$/);
      for (const [field, value] of Object.entries(algorithms)) assert.deepEqual((m as unknown as Record<string, unknown>)[field], value, `${spec} ${field}`);
    }
  });

  it('validates key usage against the key spec and refuses unsupported origins', async () => {
    const kms = h.kms();
    await rejectsWith(kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256' })), 'ValidationException', /GENERATE_VERIFY_MAC/);
    await rejectsWith(kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'ENCRYPT_DECRYPT' })), 'ValidationException', /SIGN_VERIFY/);
    await rejectsWith(kms.send(new CreateKeyCommand({ KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'SIGN_VERIFY' })), 'ValidationException');
    await rejectsWith(kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', CustomerMasterKeySpec: 'RSA_2048' })), 'ValidationException', /KeySpec and CustomerMasterKeySpec/);
    await rejectsWith(kms.send(new CreateKeyCommand({ KeySpec: 'BOGUS' as never })), 'ValidationException', /enum/);
    await rejectsWith(kms.send(new CreateKeyCommand({ Origin: 'AWS_CLOUDHSM' })), 'UnsupportedOperationException');
    await rejectsWith(kms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'aws:x', TagValue: 'y' }] })), 'TagException', /reserved/);
    const legacy = (await kms.send(new CreateKeyCommand({ CustomerMasterKeySpec: 'HMAC_384', KeyUsage: 'GENERATE_VERIFY_MAC' }))).KeyMetadata!;
    assert.equal(legacy.KeySpec, 'HMAC_384');
  });

  it('describes a key by key ID, key ARN, alias name and alias ARN', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/describe-me', TargetKeyId: key.KeyId }));
    for (const id of [key.KeyId!, key.Arn!, 'alias/describe-me', 'arn:aws:kms:us-east-1:000000000000:alias/describe-me']) {
      const m = (await kms.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata!;
      assert.equal(m.KeyId, key.KeyId, id);
    }
  });

  it('answers NotFoundException and InvalidArnException like KMS, naming the key', async () => {
    const kms = h.kms();
    await rejectsWith(kms.send(new DescribeKeyCommand({ KeyId: '11111111-2222-3333-4444-555555555555' })), 'NotFoundException', /arn:aws:kms:us-east-1:000000000000:key\/11111111-2222-3333-4444-555555555555/);
    await rejectsWith(kms.send(new DescribeKeyCommand({ KeyId: 'alias/none' })), 'NotFoundException', /alias\/none/);
    await rejectsWith(kms.send(new DescribeKeyCommand({ KeyId: 'arn:aws:kms:nope' })), 'InvalidArnException');
    await rejectsWith(kms.send(new DescribeKeyCommand({ KeyId: 'not-a-key' })), 'NotFoundException', /Invalid keyId/);
    await rejectsWith(kms.send(new DescribeKeyCommand({ KeyId: undefined as never })), 'ValidationException', /keyId/);
  });
});

describe('regions and accounts', () => {
  it('keeps separate key spaces per region and per account', async () => {
    const east = h.kms('us-east-1');
    const west = h.kms('eu-west-1');
    const other = h.kms('us-east-1', '123456789012');
    const key = (await west.send(new CreateKeyCommand({}))).KeyMetadata!;
    assert.equal(key.Arn, `arn:aws:kms:eu-west-1:000000000000:key/${key.KeyId}`);
    await rejectsWith(east.send(new DescribeKeyCommand({ KeyId: key.KeyId })), 'NotFoundException');
    await rejectsWith(east.send(new DescribeKeyCommand({ KeyId: key.Arn })), 'NotFoundException', /eu-west-1/);
    const mine = (await other.send(new CreateKeyCommand({}))).KeyMetadata!;
    assert.equal(mine.AWSAccountId, '123456789012');
    assert.equal(mine.Arn, `arn:aws:kms:us-east-1:123456789012:key/${mine.KeyId}`);
    await rejectsWith(east.send(new DescribeKeyCommand({ KeyId: mine.KeyId })), 'NotFoundException');
    const listed = await other.send(new ListKeysCommand({}));
    assert.deepEqual(listed.Keys, [{ KeyId: mine.KeyId, KeyArn: mine.Arn }]);
  });
});

describe('ListKeys', () => {
  it('paginates with Limit, NextMarker and Truncated and lists every key once', async () => {
    const kms = h.kms('ap-south-1');
    const created: string[] = [];
    for (let i = 0; i < 7; i++) created.push((await kms.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!);
    const seen: string[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const page = await kms.send(new ListKeysCommand({ Limit: 3, ...(marker ? { Marker: marker } : {}) }));
      pages++;
      assert.ok(page.Keys!.length <= 3);
      seen.push(...page.Keys!.map((k) => k.KeyId!));
      assert.equal(page.Truncated, page.NextMarker !== undefined);
      marker = page.NextMarker;
    } while (marker);
    assert.equal(pages, 3);
    assert.deepEqual(seen, created);
    await rejectsWith(kms.send(new ListKeysCommand({ Marker: 'garbage' })), 'InvalidMarkerException');
    await rejectsWith(kms.send(new ListKeysCommand({ Limit: 0 })), 'ValidationException');
  });
});

describe('aliases', () => {
  it('creates, lists (filtered, paginated), updates and deletes aliases', async () => {
    const kms = h.kms('ca-central-1');
    const a = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    const b = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/one', TargetKeyId: a.KeyId }));
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/two', TargetKeyId: a.Arn }));
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/three', TargetKeyId: b.KeyId }));
    const all = await kms.send(new ListAliasesCommand({}));
    assert.deepEqual(all.Aliases!.map((x) => x.AliasName), ['alias/one', 'alias/three', 'alias/two']);
    assert.equal(all.Aliases![0]!.AliasArn, 'arn:aws:kms:ca-central-1:000000000000:alias/one');
    assert.equal(all.Aliases![0]!.TargetKeyId, a.KeyId);
    assert.ok(all.Aliases![0]!.CreationDate instanceof Date);
    const ofA = await kms.send(new ListAliasesCommand({ KeyId: a.KeyId }));
    assert.deepEqual(ofA.Aliases!.map((x) => x.AliasName), ['alias/one', 'alias/two']);
    const page1 = await kms.send(new ListAliasesCommand({ Limit: 2 }));
    assert.equal(page1.Truncated, true);
    const page2 = await kms.send(new ListAliasesCommand({ Limit: 2, Marker: page1.NextMarker }));
    assert.deepEqual(page2.Aliases!.map((x) => x.AliasName), ['alias/two']);
    assert.equal(page2.Truncated, false);
    await kms.send(new UpdateAliasCommand({ AliasName: 'alias/one', TargetKeyId: b.KeyId }));
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: 'alias/one' }))).KeyMetadata!.KeyId, b.KeyId);
    await kms.send(new DeleteAliasCommand({ AliasName: 'alias/one' }));
    await rejectsWith(kms.send(new DescribeKeyCommand({ KeyId: 'alias/one' })), 'NotFoundException');
  });

  it('refuses duplicates, reserved and malformed names, alias targets, unknown aliases and incompatible moves', async () => {
    const kms = h.kms('ca-central-1');
    const sym = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    const hmac = (await kms.send(new CreateKeyCommand({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }))).KeyMetadata!;
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/dup', TargetKeyId: sym.KeyId }));
    await rejectsWith(kms.send(new CreateAliasCommand({ AliasName: 'alias/dup', TargetKeyId: sym.KeyId })), 'AlreadyExistsException', /alias\/dup already exists/);
    await rejectsWith(kms.send(new CreateAliasCommand({ AliasName: 'alias/aws/mine', TargetKeyId: sym.KeyId })), 'InvalidAliasNameException', /reserved/);
    await rejectsWith(kms.send(new CreateAliasCommand({ AliasName: 'nope', TargetKeyId: sym.KeyId })), 'ValidationException');
    await rejectsWith(kms.send(new CreateAliasCommand({ AliasName: 'alias/x', TargetKeyId: 'alias/dup' })), 'ValidationException', /alias/);
    await rejectsWith(kms.send(new UpdateAliasCommand({ AliasName: 'alias/missing', TargetKeyId: sym.KeyId })), 'NotFoundException');
    await rejectsWith(kms.send(new UpdateAliasCommand({ AliasName: 'alias/dup', TargetKeyId: hmac.KeyId })), 'ValidationException', /same key type and key usage/);
    await rejectsWith(kms.send(new DeleteAliasCommand({ AliasName: 'alias/missing' })), 'NotFoundException');
  });
});

describe('tags', () => {
  it('tags, retags, untags and lists tags with pagination', async () => {
    const kms = h.kms();
    const key = (await kms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'a', TagValue: '1' }] }))).KeyMetadata!;
    await kms.send(new TagResourceCommand({ KeyId: key.Arn, Tags: [{ TagKey: 'b', TagValue: '2' }, { TagKey: 'a', TagValue: '3' }, { TagKey: 'c', TagValue: '' }] }));
    const tags = await kms.send(new ListResourceTagsCommand({ KeyId: key.KeyId }));
    assert.deepEqual(tags.Tags, [{ TagKey: 'a', TagValue: '3' }, { TagKey: 'b', TagValue: '2' }, { TagKey: 'c', TagValue: '' }]);
    const first = await kms.send(new ListResourceTagsCommand({ KeyId: key.KeyId, Limit: 2 }));
    assert.equal(first.Truncated, true);
    const rest = await kms.send(new ListResourceTagsCommand({ KeyId: key.KeyId, Limit: 2, Marker: first.NextMarker }));
    assert.deepEqual(rest.Tags, [{ TagKey: 'c', TagValue: '' }]);
    await kms.send(new UntagResourceCommand({ KeyId: key.KeyId, TagKeys: ['a', 'c'] }));
    assert.deepEqual((await kms.send(new ListResourceTagsCommand({ KeyId: key.KeyId }))).Tags, [{ TagKey: 'b', TagValue: '2' }]);
    await rejectsWith(kms.send(new TagResourceCommand({ KeyId: key.KeyId, Tags: [{ TagKey: 'aws:cf', TagValue: 'x' }] })), 'TagException');
    await rejectsWith(kms.send(new ListResourceTagsCommand({ KeyId: 'alias/whatever' })), 'NotFoundException');
  });

  it('shows tagged keys to the Tagging API source for the caller scope only', async () => {
    const kms = h.kms('sa-east-1');
    const key = (await kms.send(new CreateKeyCommand({ Tags: [{ TagKey: 'team', TagValue: 'sec' }] }))).KeyMetadata!;
    const service = h.endpoint.services['kms'] as unknown as ReturnType<typeof createKmsService>;
    assert.equal(service.resourceType, 'kms:key');
    assert.deepEqual(service.taggedResources({ account: '000000000000', region: 'sa-east-1' }, h.endpoint.clock.now()), [{ resourceArn: key.Arn, tags: { team: 'sec' } }]);
    assert.deepEqual(service.taggedResources({ account: '000000000000', region: 'sa-east-2' }, h.endpoint.clock.now()), []);
  });
});

describe('enable, disable and deletion', () => {
  it('disables and enables a key; a disabled key refuses cryptography with DisabledException', async () => {
    const kms = h.kms();
    const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    await kms.send(new DisableKeyCommand({ KeyId: key.KeyId }));
    const m = (await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
    assert.equal(m.KeyState, 'Disabled');
    assert.equal(m.Enabled, false);
    await rejectsWith(kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x') })), 'DisabledException', new RegExp(`${key.Arn} is disabled`));
    await kms.send(new EnableKeyCommand({ KeyId: key.KeyId }));
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.KeyState, 'Enabled');
  });

  it('refuses EnableKey/DisableKey on a PendingImport key', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    await rejectsWith(kms.send(new EnableKeyCommand({ KeyId: key.KeyId })), 'KMSInvalidStateException', /pending import/);
    await rejectsWith(kms.send(new DisableKeyCommand({ KeyId: key.KeyId })), 'KMSInvalidStateException', /pending import/);
  });

  it('schedules deletion (7..30 days), cancels it back to Disabled, and deletes the key at DeletionDate', async () => {
    const kms = h.kms('eu-north-1');
    const key = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/doomed', TargetKeyId: key.KeyId }));
    await rejectsWith(kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 6 })), 'ValidationException');
    await rejectsWith(kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 31 })), 'ValidationException');
    const scheduled = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }));
    assert.equal(scheduled.KeyState, 'PendingDeletion');
    assert.equal(scheduled.PendingWindowInDays, 7);
    assert.equal(scheduled.KeyId, key.Arn);
    const now = h.endpoint.clock.now();
    assert.ok(Math.abs(scheduled.DeletionDate!.getTime() - (now + 7 * DAY * 1000)) < 60_000);
    let m = (await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
    assert.equal(m.KeyState, 'PendingDeletion');
    assert.equal(m.PendingDeletionWindowInDays, 7);
    assert.ok(m.DeletionDate instanceof Date);
    await rejectsWith(kms.send(new EncryptCommand({ KeyId: key.KeyId, Plaintext: Buffer.from('x') })), 'KMSInvalidStateException', /pending deletion/);
    await rejectsWith(kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId })), 'KMSInvalidStateException');
    await rejectsWith(kms.send(new EnableKeyCommand({ KeyId: key.KeyId })), 'KMSInvalidStateException');
    await rejectsWith(kms.send(new TagResourceCommand({ KeyId: key.KeyId, Tags: [{ TagKey: 'a', TagValue: 'b' }] })), 'KMSInvalidStateException');
    await kms.send(new CancelKeyDeletionCommand({ KeyId: key.KeyId }));
    m = (await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!;
    assert.equal(m.KeyState, 'Disabled');
    assert.equal(m.DeletionDate, undefined);
    await rejectsWith(kms.send(new CancelKeyDeletionCommand({ KeyId: key.KeyId })), 'KMSInvalidStateException', /not pending deletion/);
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 7 }));
    h.endpoint.clock.advance(7 * DAY + 1);
    await rejectsWith(kms.send(new DescribeKeyCommand({ KeyId: key.KeyId })), 'NotFoundException');
    assert.deepEqual((await kms.send(new ListAliasesCommand({}))).Aliases, []);
  });

  it('cancelling deletion of an EXTERNAL key whose material was deleted leaves it PendingImport', async () => {
    const kms = h.kms();
    const key = await createExternalKey(kms);
    await kms.send(new ScheduleKeyDeletionCommand({ KeyId: key.KeyId, PendingWindowInDays: 30 }));
    await kms.send(new CancelKeyDeletionCommand({ KeyId: key.KeyId }));
    assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: key.KeyId }))).KeyMetadata!.KeyState, 'PendingImport');
  });
});

describe('multi-Region keys', () => {
  it('creates an mrk- primary, replicates it (same key ID), and an EXTERNAL replica starts PendingImport', async () => {
    const east = h.kms('us-east-2');
    const west = h.kms('us-west-2');
    const primary = await createExternalKey(east, 'SYMMETRIC_DEFAULT', { MultiRegion: true });
    assert.match(primary.KeyId!, /^mrk-[0-9a-f]{32}$/);
    assert.equal(primary.MultiRegion, true);
    assert.equal(primary.MultiRegionConfiguration!.MultiRegionKeyType, 'PRIMARY');
    const material = materialFor('SYMMETRIC_DEFAULT');
    await importMaterial(east, primary.KeyId!, material, h.endpoint.clock.now());
    const rep = await east.send(new ReplicateKeyCommand({ KeyId: primary.KeyId, ReplicaRegion: 'us-west-2', Tags: [{ TagKey: 'r', TagValue: '1' }] }));
    const replica = rep.ReplicaKeyMetadata!;
    assert.equal(replica.KeyId, primary.KeyId);
    assert.equal(replica.Arn, `arn:aws:kms:us-west-2:000000000000:key/${primary.KeyId}`);
    assert.equal(replica.KeyState, 'PendingImport');
    assert.equal(replica.MultiRegionConfiguration!.MultiRegionKeyType, 'REPLICA');
    assert.deepEqual(rep.ReplicaTags, [{ TagKey: 'r', TagValue: '1' }]);
    const described = (await east.send(new DescribeKeyCommand({ KeyId: primary.KeyId }))).KeyMetadata!;
    assert.deepEqual(described.MultiRegionConfiguration!.ReplicaKeys, [{ Arn: replica.Arn, Region: 'us-west-2' }]);
    assert.equal(described.KeyState, 'Enabled');
    // The same material, imported in the replica's own Region, decrypts the primary's ciphertext.
    await importMaterial(west, primary.KeyId!, material, h.endpoint.clock.now());
    const blob = (await east.send(new EncryptCommand({ KeyId: primary.KeyId, Plaintext: Buffer.from('mr') }))).CiphertextBlob!;
    const { DecryptCommand } = await import('@aws-sdk/client-kms');
    const plain = await west.send(new DecryptCommand({ CiphertextBlob: blob }));
    assert.equal(Buffer.from(plain.Plaintext!).toString(), 'mr');
    await rejectsWith(east.send(new ReplicateKeyCommand({ KeyId: primary.KeyId, ReplicaRegion: 'us-west-2' })), 'AlreadyExistsException');
    await rejectsWith(east.send(new ReplicateKeyCommand({ KeyId: primary.KeyId, ReplicaRegion: 'us-east-2' })), 'ValidationException');
    await rejectsWith(west.send(new ReplicateKeyCommand({ KeyId: primary.KeyId, ReplicaRegion: 'eu-west-3' })), 'UnsupportedOperationException', /replica/);
    const single = (await east.send(new CreateKeyCommand({}))).KeyMetadata!;
    await rejectsWith(east.send(new ReplicateKeyCommand({ KeyId: single.KeyId, ReplicaRegion: 'us-west-2' })), 'UnsupportedOperationException', /not a multi-Region key/);
  });
});

describe('snapshot and restore', () => {
  it('round-trips the whole state through JSON, including imported material', async () => {
    const service = createKmsService();
    const clock = { now: () => Date.UTC(2031, 0, 1) };
    const ctx = { scope: { account: '000000000000', region: 'us-east-1' }, clock };
    const created = (await service.handle('CreateKey', { Tags: [{ TagKey: 't', TagValue: 'v' }] }, ctx)) as { KeyMetadata: { KeyId: string } };
    const enc = (await service.handle('Encrypt', { KeyId: created.KeyMetadata.KeyId, Plaintext: Buffer.from('persist').toString('base64') }, ctx)) as { CiphertextBlob: string };
    const json = JSON.stringify(service.snapshot());
    const restored = createKmsService();
    restored.restore(JSON.parse(json));
    const dec = (await restored.handle('Decrypt', { CiphertextBlob: enc.CiphertextBlob }, ctx)) as { Plaintext: string };
    assert.equal(Buffer.from(dec.Plaintext, 'base64').toString(), 'persist');
    assert.deepEqual(restored.taggedResources(ctx.scope, ctx.clock.now()).map((r) => r.tags), [{ t: 'v' }]);
    assert.throws(() => restored.restore('nonsense'), /regions/);
  });

  it('answers unknown operations and non-object input with KMS-shaped errors', async () => {
    const service = createKmsService();
    const ctx = { scope: { account: '000000000000', region: 'us-east-1' }, clock: { now: () => Date.now() } };
    await assert.rejects(service.handle('CreateCustomKeyStore', {}, ctx), (e: Error & { type?: string }) => e.type === 'UnsupportedOperationException' && /not implemented/.test(e.message));
    await assert.rejects(service.handle('DescribeKey', [] as never, ctx), (e: Error & { type?: string }) => e.type === 'ValidationException');
    await assert.rejects(service.handle('DescribeKey', { KeyId: 42 }, ctx), (e: Error & { type?: string }) => e.type === 'ValidationException');
  });
});
