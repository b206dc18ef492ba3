// Secrets Manager rules that depend on the KMS key a secret names, and the version quota,
// tested on the service directly (a stand-in KMS answers DescribeKey with a chosen state).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSecretsManagerService, MAX_VERSIONS } from '../../local/secretsmanager/index.js';
import { ServiceError, type EmulatedService, type OperationContext } from '../../local/service.js';
import { createClock } from '../../local/clock.js';

function standInKms(keys: Record<string, { KeyState: string; KeySpec?: string }>): EmulatedService & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    targetPrefix: 'TrentService',
    signingName: 'kms',
    operations: () => ['DescribeKey'],
    async handle(operation, input) {
      calls.push(`${operation}:${String(input.KeyId)}`);
      const key = keys[String(input.KeyId)];
      if (!key) throw new ServiceError('NotFoundException', `Key ${String(input.KeyId)} not found`);
      return { KeyMetadata: { Arn: `arn:aws:kms:us-east-1:000000000000:key/${String(input.KeyId)}`, KeySpec: 'SYMMETRIC_DEFAULT', ...key } };
    },
    snapshot: () => ({}),
    restore: () => {},
  };
}

function context(): OperationContext {
  return { scope: { account: '000000000000', region: 'us-east-1' }, clock: createClock(Date.UTC(2030, 0, 1)) };
}

async function fails(promise: Promise<unknown>, type: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ServiceError, `expected ServiceError, got ${String(err)}`);
    assert.equal(err.type, type, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('secrets protected by a KMS key of the emulated KMS', () => {
  it('writes and reads while the key is Enabled; DecryptionFailure once it is PendingImport', async () => {
    const keys = { k1: { KeyState: 'Enabled' } };
    const kms = standInKms(keys);
    const sm = createSecretsManagerService({ kms });
    const ctx = context();
    await sm.handle('CreateSecret', { Name: 'escrow', SecretString: 'v', KmsKeyId: 'k1' }, ctx);
    assert.deepEqual(kms.calls, ['DescribeKey:k1']);
    const got = (await sm.handle('GetSecretValue', { SecretId: 'escrow' }, ctx)) as { SecretString: string };
    assert.equal(got.SecretString, 'v');
    keys.k1.KeyState = 'PendingImport';
    await fails(sm.handle('GetSecretValue', { SecretId: 'escrow' }, ctx), 'DecryptionFailure', /PendingImport.*reimport/);
    await fails(sm.handle('PutSecretValue', { SecretId: 'escrow', SecretString: 'w' }, ctx), 'EncryptionFailure', /PendingImport/);
    keys.k1.KeyState = 'Enabled';
    await sm.handle('PutSecretValue', { SecretId: 'escrow', SecretString: 'w' }, ctx);
  });

  it('refuses unknown and non-symmetric keys, and reads old versions under their own key', async () => {
    const kms = standInKms({ sym: { KeyState: 'Enabled' }, other: { KeyState: 'Enabled' }, rsa: { KeyState: 'Enabled', KeySpec: 'RSA_2048' } });
    const sm = createSecretsManagerService({ kms });
    const ctx = context();
    await fails(sm.handle('CreateSecret', { Name: 'a', SecretString: 'v', KmsKeyId: 'missing' }, ctx), 'EncryptionFailure', /missing was not found/);
    await fails(sm.handle('CreateSecret', { Name: 'b', SecretString: 'v', KmsKeyId: 'rsa' }, ctx), 'EncryptionFailure', /RSA_2048/);
    // A secret without a value is created without asking KMS.
    await sm.handle('CreateSecret', { Name: 'c', KmsKeyId: 'missing' }, ctx);
    // The default key is never checked.
    await sm.handle('CreateSecret', { Name: 'd', SecretString: 'v', KmsKeyId: 'alias/aws/secretsmanager' }, ctx);
    await sm.handle('CreateSecret', { Name: 'e', SecretString: 'v1', KmsKeyId: 'sym' }, ctx);
    await sm.handle('UpdateSecret', { SecretId: 'e', KmsKeyId: 'other', SecretString: 'v2' }, ctx);
    const versions = (await sm.handle('ListSecretVersionIds', { SecretId: 'e' }, ctx)) as { Versions: { KmsKeyIds: string[]; VersionStages: string[] }[] };
    const byStage = Object.fromEntries(versions.Versions.map((v) => [v.VersionStages[0], v.KmsKeyIds]));
    assert.deepEqual(byStage, { AWSPREVIOUS: ['sym'], AWSCURRENT: ['other'] });
  });

  it('does not invent failures when the KMS emulation cannot answer', async () => {
    const kms: EmulatedService = {
      targetPrefix: 'TrentService',
      signingName: 'kms',
      operations: () => [],
      handle: async () => {
        throw new ServiceError('UnsupportedOperationException', 'not implemented');
      },
      snapshot: () => ({}),
      restore: () => {},
    };
    const sm = createSecretsManagerService({ kms });
    await sm.handle('CreateSecret', { Name: 'x', SecretString: 'v', KmsKeyId: 'any' }, context());
  });
});

describe('version quota', () => {
  it(`keeps at most ${MAX_VERSIONS} versions, pruning only unlabeled versions older than 24 hours`, async () => {
    const sm = createSecretsManagerService();
    const ctx = context();
    const clock = ctx.clock as ReturnType<typeof createClock>;
    const first = (await sm.handle('CreateSecret', { Name: 'busy', SecretString: '0' }, ctx)) as { VersionId: string };
    for (let i = 1; i < MAX_VERSIONS; i++) await sm.handle('PutSecretValue', { SecretId: 'busy', SecretString: String(i) }, ctx);
    await fails(sm.handle('PutSecretValue', { SecretId: 'busy', SecretString: 'too many' }, ctx), 'LimitExceededException', /24 hours/);
    clock.advance(24 * 3600);
    await sm.handle('PutSecretValue', { SecretId: 'busy', SecretString: 'after a day' }, ctx);
    const all = (await sm.handle('ListSecretVersionIds', { SecretId: 'busy', IncludeDeprecated: true, MaxResults: 100 }, ctx)) as { Versions: { VersionId: string }[] };
    assert.equal(all.Versions.length, MAX_VERSIONS);
    assert.ok(!all.Versions.some((v) => v.VersionId === first.VersionId), 'the oldest unlabeled version is the one removed');
  });
});

describe('snapshot and restore', () => {
  it('round-trips every secret and version', async () => {
    const sm = createSecretsManagerService();
    const ctx = context();
    await sm.handle('CreateSecret', { Name: 's', SecretBinary: Buffer.from([1, 2, 3]).toString('base64'), Tags: [{ Key: 'k', Value: 'v' }] }, ctx);
    const copy = createSecretsManagerService();
    copy.restore(JSON.parse(JSON.stringify(sm.snapshot())));
    const got = (await copy.handle('GetSecretValue', { SecretId: 's' }, ctx)) as { SecretBinary: string };
    assert.equal(got.SecretBinary, Buffer.from([1, 2, 3]).toString('base64'));
    assert.deepEqual(copy.taggedResources(ctx.scope, ctx.clock.now()).map((r) => r.tags), [{ k: 'v' }]);
    assert.throws(() => copy.restore({ nope: true }), /secrets/);
  });
});
