// Persistence: state (secrets and clock offset) survives a restart from the same file; the file
// is written atomically with mode 0600; an unusable file stops the start with a clear message.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, DescribeKeyCommand, GetParametersForImportCommand, ImportKeyMaterialCommand, KMSClient } from '@aws-sdk/client-kms';
import { randomBytes } from 'node:crypto';
import { wrap } from './kms-support.js';
import { CreateSecretCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startLocalEndpoint, type LocalEndpoint } from '../../local/index.js';
import { STATE_FORMAT } from '../../local/persistence.js';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kms-reimport-local-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function client(endpoint: LocalEndpoint): SecretsManagerClient {
  return new SecretsManagerClient({ endpoint: endpoint.url, region: 'eu-north-1', credentials: { accessKeyId: '123456789012', secretAccessKey: 'x' }, maxAttempts: 1 });
}

describe('persistence', () => {
  it('restores secrets, versions and the clock offset after a restart', async () => {
    const path = join(dir, 'state.json');
    const first = await startLocalEndpoint({ persistPath: path });
    const sm = client(first);
    let arn: string;
    try {
      arn = (await sm.send(new CreateSecretCommand({ Name: 'escrow/k1', SecretBinary: Uint8Array.of(9, 8, 7) }))).ARN as string;
      await sm.send(new PutSecretValueCommand({ SecretId: 'escrow/k1', SecretBinary: Uint8Array.of(6, 5, 4) }));
      first.clock.advance(5 * 86_400);
    } finally {
      sm.destroy();
      await first.close();
    }
    const mode = (await stat(path)).mode & 0o777;
    assert.equal(mode, 0o600);
    const saved = JSON.parse(await readFile(path, 'utf8')) as { format: string; clockOffsetMs: number; services: Record<string, unknown> };
    assert.equal(saved.format, STATE_FORMAT);
    assert.ok(saved.clockOffsetMs >= 5 * 86_400_000);
    assert.ok('secretsmanager' in saved.services && 'kms' in saved.services);
    assert.deepEqual((await readdir(dir)).filter((f) => f.endsWith('.tmp')), [], 'no temporary file is left behind');

    const second = await startLocalEndpoint({ persistPath: path });
    const again = client(second);
    try {
      assert.ok(second.clock.now() - Date.now() >= 5 * 86_400_000 - 1000, 'the moved clock is restored');
      const current = await again.send(new GetSecretValueCommand({ SecretId: arn }));
      assert.deepEqual([...(current.SecretBinary as Uint8Array)], [6, 5, 4]);
      const previous = await again.send(new GetSecretValueCommand({ SecretId: 'escrow/k1', VersionStage: 'AWSPREVIOUS' }));
      assert.deepEqual([...(previous.SecretBinary as Uint8Array)], [9, 8, 7]);
    } finally {
      again.destroy();
      await second.close();
    }
  });

  it('writes after requests without waiting for close, and on demand', async () => {
    const path = join(dir, 'live.json');
    const endpoint = await startLocalEndpoint({ persistPath: path, persistDebounceMs: 10 });
    const sm = client(endpoint);
    try {
      await sm.send(new CreateSecretCommand({ Name: 'live', SecretString: 'first' }));
      await endpoint.save();
      assert.match(await readFile(path, 'utf8'), /"live"/);
      await sm.send(new CreateSecretCommand({ Name: 'second', SecretString: 'x' }));
      const res = await fetch(`${endpoint.url}/_local/save`, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } });
      assert.equal(res.status, 200);
      assert.match(await readFile(path, 'utf8'), /"second"/);
    } finally {
      sm.destroy();
      await endpoint.close();
    }
  });

  it('refuses to start on a file that is not its state, saying what to do', async () => {
    const corrupt = join(dir, 'corrupt.json');
    await writeFile(corrupt, '{"format": "kms-reimport-local/1", "services": ');
    await assert.rejects(startLocalEndpoint({ persistPath: corrupt }), /not valid JSON.*move it away/);
    const foreign = join(dir, 'foreign.json');
    await writeFile(foreign, '{"hello": "world"}');
    await assert.rejects(startLocalEndpoint({ persistPath: foreign }), /not a kms-reimport local endpoint state file/);
  });

  it('starts empty when the file does not exist yet', async () => {
    const path = join(dir, 'fresh.json');
    const endpoint = await startLocalEndpoint({ persistPath: path });
    const sm = client(endpoint);
    try {
      await assert.rejects(sm.send(new GetSecretValueCommand({ SecretId: 'escrow/k1' })), { name: 'ResourceNotFoundException' });
    } finally {
      sm.destroy();
      await endpoint.close();
    }
    assert.equal(JSON.parse(await readFile(path, 'utf8')).format, STATE_FORMAT);
  });
});

/** Runs `use` with a KMS client on an endpoint started from `path`, then closes both. */
async function withKms<T>(path: string, use: (kms: KMSClient) => Promise<T>): Promise<T> {
  const endpoint = await startLocalEndpoint({ persistPath: path });
  const kms = new KMSClient({ endpoint: endpoint.url, region: 'us-east-2', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' }, maxAttempts: 1 });
  try {
    return await use(kms);
  } finally {
    kms.destroy();
    await endpoint.close();
  }
}

describe('persistence of the KMS emulation', () => {
  it('keeps keys across a restart', async () => {
    const path = join(dir, 'kms.json');
    const keyId = await withKms(path, async (kms) => (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', Description: 'survives' }))).KeyMetadata?.KeyId);
    await withKms(path, async (kms) => {
      const described = await kms.send(new DescribeKeyCommand({ KeyId: keyId }));
      assert.equal(described.KeyMetadata?.Description, 'survives');
      assert.equal(described.KeyMetadata?.KeyState, 'PendingImport');
    });
  });

  it('imports with parameters issued before a restart (their wrapping key read back from the file), as with fresh ones', async () => {
    const path = join(dir, 'kms-parameters.json');
    const material = randomBytes(32);
    const { keyId, params } = await withKms(path, async (kms) => {
      const keyId = (await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.KeyId!;
      const params = await kms.send(new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
      return { keyId, params };
    });
    try {
      await withKms(path, async (kms) => {
        const imported = await kms.send(
          new ImportKeyMaterialCommand({
            KeyId: keyId,
            ImportToken: params.ImportToken!,
            EncryptedKeyMaterial: wrap('RSAES_OAEP_SHA_256', params.PublicKey!, material),
            ExpirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
          }),
        );
        assert.match(imported.KeyMaterialId ?? '', /^[0-9a-f]{64}$/);
        assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState, 'Enabled');
      });
    } finally {
      material.fill(0);
    }
  });
});
