// Secrets Manager replication in the local endpoint, driven by the real SDK v3 over HTTP: two
// Regions are two clients with different `region`. ReplicateSecretToRegions, CreateSecret's
// AddReplicaRegions, RemoveRegionsFromReplication, StopReplicationToReplica, DescribeSecret's
// PrimaryRegion/ReplicationStatus, read-only replicas that follow every new version, IAM, and
// one case with the real AWS CLI v1 when it is installed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { CreateKeyCommand, DisableKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  RemoveRegionsFromReplicationCommand,
  ReplicateSecretToRegionsCommand,
  RestoreSecretCommand,
  SecretsManagerClient,
  StopReplicationToReplicaCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretCommand,
} from '@aws-sdk/client-secrets-manager';
import { startLocalEndpoint, type IamPrincipal, type LocalEndpoint } from '../../local/index.js';

const PRIMARY = 'us-east-1';
const REPLICA = 'eu-west-1';
const OTHER = 'ap-southeast-2';

let endpoint: LocalEndpoint;
const clients: { destroy(): void }[] = [];
let n = 0;
const unique = (prefix: string): string => `${prefix}-${process.pid}-${++n}`;
const credentials = (accessKeyId = 'AKIDEXAMPLE') => ({ accessKeyId, secretAccessKey: 'x' });

function sm(region: string, accessKeyId?: string, at: LocalEndpoint = endpoint): SecretsManagerClient {
  const c = new SecretsManagerClient({ endpoint: at.url, region, credentials: credentials(accessKeyId), maxAttempts: 1 });
  clients.push(c);
  return c;
}
function kms(region: string): KMSClient {
  const c = new KMSClient({ endpoint: endpoint.url, region, credentials: credentials(), maxAttempts: 1 });
  clients.push(c);
  return c;
}

async function rejects(promise: Promise<unknown>, name: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(err.name, name, `expected ${name}, got ${err.name}: ${err.message}`);
    assert.equal(err.$metadata?.httpStatusCode, 400);
    if (message) assert.match(err.message, message);
    return true;
  });
}

// The AWS CLI v1 of the image, found before any hook is registered (a top-level await after the
// hooks would let them run before the CLI case).

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env }, (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) }));
  });
}

async function findCliV1(): Promise<string | undefined> {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const path = dir ? join(dir, 'aws') : '';
    if (!path || !existsSync(path)) continue;
    const version = await run(path, ['--version'], process.env);
    if (version.code === 0 && /^aws-cli\/1\./.test(`${version.stdout}${version.stderr}`.trim())) return path;
  }
  return undefined;
}

const cliV1 = await findCliV1();
const cliMissing = cliV1 ? undefined : 'no AWS CLI v1 (aws-cli/1.x) on PATH';
if (cliMissing && process.env['CI']) throw new Error(`secret replication CLI case cannot run in CI: ${cliMissing}.`);

const swapRegion = (arn: string, region: string): string => arn.replace(`:${PRIMARY}:`, `:${region}:`);

before(async () => {
  endpoint = await startLocalEndpoint();
});
after(async () => {
  for (const c of clients) c.destroy();
  await endpoint.close();
});

describe('CreateSecret with AddReplicaRegions', () => {
  it('creates the primary and a read-only replica in each Region: same name, the ARN in that Region, the same value', async () => {
    const name = unique('kms-reimport/mrk');
    const created = await sm(PRIMARY).send(
      new CreateSecretCommand({ Name: name, SecretString: 'v1', Description: 'escrow', Tags: [{ Key: 'team', Value: 'a' }], AddReplicaRegions: [{ Region: REPLICA }, { Region: OTHER }] }),
    );
    assert.deepEqual(
      created.ReplicationStatus?.map((s) => [s.Region, s.Status, s.StatusMessage]),
      [
        [REPLICA, 'InSync', 'Replication succeeded'],
        [OTHER, 'InSync', 'Replication succeeded'],
      ],
    );
    for (const region of [REPLICA, OTHER]) {
      const got = await sm(region).send(new GetSecretValueCommand({ SecretId: name }));
      assert.equal(got.SecretString, 'v1');
      assert.equal(got.VersionId, created.VersionId);
      assert.equal(got.ARN, swapRegion(created.ARN!, region));
      const byArn = await sm(region).send(new GetSecretValueCommand({ SecretId: swapRegion(created.ARN!, region) }));
      assert.equal(byArn.SecretString, 'v1');
      const described = await sm(region).send(new DescribeSecretCommand({ SecretId: name }));
      assert.equal(described.PrimaryRegion, PRIMARY);
      assert.equal(described.ReplicationStatus, undefined);
      assert.equal(described.Description, 'escrow');
      assert.deepEqual(described.Tags, [{ Key: 'team', Value: 'a' }]);
    }
    const primary = await sm(PRIMARY).send(new DescribeSecretCommand({ SecretId: name }));
    assert.equal(primary.PrimaryRegion, PRIMARY);
    assert.deepEqual(primary.ReplicationStatus?.map((s) => s.Region), [REPLICA, OTHER]);
    // A Region it was not replicated to does not have it.
    await rejects(sm('us-west-2').send(new GetSecretValueCommand({ SecretId: name })), 'ResourceNotFoundException');
  });

  it('a secret never replicated shows neither PrimaryRegion nor ReplicationStatus', async () => {
    const name = unique('plain');
    await sm(PRIMARY).send(new CreateSecretCommand({ Name: name, SecretString: 'x' }));
    const described = await sm(PRIMARY).send(new DescribeSecretCommand({ SecretId: name }));
    assert.equal(described.PrimaryRegion, undefined);
    assert.equal(described.ReplicationStatus, undefined);
  });

  it('refuses a bad Region list before creating anything', async () => {
    for (const [regions, message] of [
      [[{ Region: PRIMARY }], /primary secret's own Region/],
      [[{ Region: 'cn-north-1' }], /partition/],
      [[{ Region: REPLICA }, { Region: REPLICA }], /more than once/],
      [[{ Region: 'not a region' }], /not a Region code/],
      [[], /at least one Region/],
    ] as const) {
      const name = unique('refused');
      await rejects(sm(PRIMARY).send(new CreateSecretCommand({ Name: name, SecretString: 'x', AddReplicaRegions: [...regions] })), 'InvalidParameterException', message);
      await rejects(sm(PRIMARY).send(new DescribeSecretCommand({ SecretId: name })), 'ResourceNotFoundException');
    }
  });
});

describe('ReplicateSecretToRegions', () => {
  it('replicates an existing secret; every new version, description and tag change of the primary follows', async () => {
    const name = unique('kms-reimport/follow');
    const first = await sm(PRIMARY).send(new CreateSecretCommand({ Name: name, SecretBinary: Buffer.from('material-1') }));
    const replicated = await sm(PRIMARY).send(new ReplicateSecretToRegionsCommand({ SecretId: name, AddReplicaRegions: [{ Region: REPLICA }] }));
    assert.equal(replicated.ARN, first.ARN);
    assert.deepEqual(replicated.ReplicationStatus?.map((s) => [s.Region, s.Status]), [[REPLICA, 'InSync']]);

    const token = 'a'.repeat(8) + '-0000-4000-8000-' + '0'.repeat(12);
    await sm(PRIMARY).send(new PutSecretValueCommand({ SecretId: name, SecretBinary: Buffer.from('material-2'), ClientRequestToken: token }));
    const current = await sm(REPLICA).send(new GetSecretValueCommand({ SecretId: name }));
    assert.equal(Buffer.from(current.SecretBinary!).toString(), 'material-2');
    assert.equal(current.VersionId, token);
    const previous = await sm(REPLICA).send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPREVIOUS' }));
    assert.equal(Buffer.from(previous.SecretBinary!).toString(), 'material-1');
    assert.equal(previous.VersionId, first.VersionId);

    await sm(PRIMARY).send(new UpdateSecretCommand({ SecretId: name, Description: 'moved on' }));
    await sm(PRIMARY).send(new TagResourceCommand({ SecretId: name, Tags: [{ Key: 'kms-reimport:key-id', Value: 'mrk-1' }] }));
    let replica = await sm(REPLICA).send(new DescribeSecretCommand({ SecretId: name }));
    assert.equal(replica.Description, 'moved on');
    assert.deepEqual(replica.Tags, [{ Key: 'kms-reimport:key-id', Value: 'mrk-1' }]);
    await sm(PRIMARY).send(new UntagResourceCommand({ SecretId: name, TagKeys: ['kms-reimport:key-id'] }));
    replica = await sm(REPLICA).send(new DescribeSecretCommand({ SecretId: name }));
    assert.equal(replica.Tags, undefined);

    // The replica's reads are its own: the primary's status shows when the replica was last read.
    const status = await sm(PRIMARY).send(new DescribeSecretCommand({ SecretId: name }));
    assert.ok(status.ReplicationStatus?.[0]?.LastAccessedDate instanceof Date);
  });

  it('refuses every write to a replica with InvalidRequestException, as Secrets Manager does', async () => {
    const name = unique('readonly');
    await sm(PRIMARY).send(new CreateSecretCommand({ Name: name, SecretString: 'x', AddReplicaRegions: [{ Region: REPLICA }] }));
    const replica = sm(REPLICA);
    const refused = /not permitted on a replica secret/;
    await rejects(replica.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'y' })), 'InvalidRequestException', refused);
    await rejects(replica.send(new UpdateSecretCommand({ SecretId: name, Description: 'y' })), 'InvalidRequestException', refused);
    await rejects(replica.send(new TagResourceCommand({ SecretId: name, Tags: [{ Key: 'k', Value: 'v' }] })), 'InvalidRequestException', refused);
    await rejects(replica.send(new UntagResourceCommand({ SecretId: name, TagKeys: ['k'] })), 'InvalidRequestException', refused);
    await rejects(replica.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true })), 'InvalidRequestException', refused);
    await rejects(replica.send(new RestoreSecretCommand({ SecretId: name })), 'InvalidRequestException', refused);
    await rejects(replica.send(new ReplicateSecretToRegionsCommand({ SecretId: name, AddReplicaRegions: [{ Region: OTHER }] })), 'InvalidRequestException', refused);
    await rejects(replica.send(new RemoveRegionsFromReplicationCommand({ SecretId: name, RemoveReplicaRegions: [REPLICA] })), 'InvalidRequestException', refused);
    assert.equal((await replica.send(new GetSecretValueCommand({ SecretId: name }))).SecretString, 'x');
  });

  it('refuses a Region already replicated, the primary Region and a missing list; nothing changes', async () => {
    const name = unique('again');
    await sm(PRIMARY).send(new CreateSecretCommand({ Name: name, SecretString: 'x', AddReplicaRegions: [{ Region: REPLICA }] }));
    await rejects(sm(PRIMARY).send(new ReplicateSecretToRegionsCommand({ SecretId: name, AddReplicaRegions: [{ Region: OTHER }, { Region: REPLICA }] })), 'InvalidParameterException', /already replicated to eu-west-1/);
    await rejects(sm(PRIMARY).send(new ReplicateSecretToRegionsCommand({ SecretId: name, AddReplicaRegions: [{ Region: PRIMARY }] })), 'InvalidParameterException');
    await rejects(sm(PRIMARY).send(new ReplicateSecretToRegionsCommand({ SecretId: name, AddReplicaRegions: undefined })), 'InvalidParameterException');
    await rejects(sm(OTHER).send(new GetSecretValueCommand({ SecretId: name })), 'ResourceNotFoundException');
    await rejects(sm(PRIMARY).send(new ReplicateSecretToRegionsCommand({ SecretId: unique('nothing'), AddReplicaRegions: [{ Region: REPLICA }] })), 'ResourceNotFoundException');
  });

  it('a secret of the same name in the replica Region makes that Region Failed, unless ForceOverwriteReplicaSecret', async () => {
    const name = unique('clash');
    await sm(REPLICA).send(new CreateSecretCommand({ Name: name, SecretString: 'local one' }));
    await sm(PRIMARY).send(new CreateSecretCommand({ Name: name, SecretString: 'primary one' }));
    const failed = await sm(PRIMARY).send(new ReplicateSecretToRegionsCommand({ SecretId: name, AddReplicaRegions: [{ Region: REPLICA }, { Region: OTHER }] }));
    assert.deepEqual(
      failed.ReplicationStatus?.map((s) => [s.Region, s.Status, s.StatusMessage]),
      [
        [REPLICA, 'Failed', 'Secret with this name already exists in this region'],
        [OTHER, 'InSync', 'Replication succeeded'],
      ],
    );
    assert.equal((await sm(REPLICA).send(new GetSecretValueCommand({ SecretId: name }))).SecretString, 'local one');
    // A Failed Region may be asked again; with ForceOverwriteReplicaSecret it replaces the other secret.
    const forced = await sm(PRIMARY).send(new ReplicateSecretToRegionsCommand({ SecretId: name, AddReplicaRegions: [{ Region: REPLICA }], ForceOverwriteReplicaSecret: true }));
    assert.deepEqual(forced.ReplicationStatus?.map((s) => [s.Region, s.Status]), [[OTHER, 'InSync'], [REPLICA, 'InSync']]);
    assert.equal((await sm(REPLICA).send(new GetSecretValueCommand({ SecretId: name }))).SecretString, 'primary one');
  });

  it('a replica under its own KMS key: a key missing in that Region fails the Region; a disabled one fails the reads there', async () => {
    const name = unique('cmk');
    await sm(PRIMARY).send(new CreateSecretCommand({ Name: name, SecretString: 'x' }));
    const missing = await sm(PRIMARY).send(new ReplicateSecretToRegionsCommand({ SecretId: name, AddReplicaRegions: [{ Region: REPLICA, KmsKeyId: 'alias/nowhere' }] }));
    assert.equal(missing.ReplicationStatus?.[0]?.Status, 'Failed');
    assert.match(missing.ReplicationStatus?.[0]?.StatusMessage ?? '', /was not found in eu-west-1/);
    await rejects(sm(REPLICA).send(new GetSecretValueCommand({ SecretId: name })), 'ResourceNotFoundException');

    const key = await kms(REPLICA).send(new CreateKeyCommand({}));
    const keyId = key.KeyMetadata!.KeyId!;
    const ok = await sm(PRIMARY).send(new ReplicateSecretToRegionsCommand({ SecretId: name, AddReplicaRegions: [{ Region: REPLICA, KmsKeyId: keyId }] }));
    assert.deepEqual(ok.ReplicationStatus?.map((s) => [s.Region, s.Status, s.KmsKeyId]), [[REPLICA, 'InSync', keyId]]);
    assert.equal((await sm(REPLICA).send(new DescribeSecretCommand({ SecretId: name }))).KmsKeyId, keyId);
    assert.equal((await sm(REPLICA).send(new GetSecretValueCommand({ SecretId: name }))).SecretString, 'x');
    await kms(REPLICA).send(new DisableKeyCommand({ KeyId: keyId }));
    await rejects(sm(REPLICA).send(new GetSecretValueCommand({ SecretId: name })), 'DecryptionFailure');
    assert.equal((await sm(PRIMARY).send(new GetSecretValueCommand({ SecretId: name }))).SecretString, 'x');
  });

  it('DeleteSecret of a replicated primary is refused until its replicas are removed', async () => {
    const name = unique('delete');
    await sm(PRIMARY).send(new CreateSecretCommand({ Name: name, SecretString: 'x', AddReplicaRegions: [{ Region: REPLICA }] }));
    await rejects(sm(PRIMARY).send(new DeleteSecretCommand({ SecretId: name })), 'InvalidRequestException', /remove the replicas first/);
    await sm(PRIMARY).send(new RemoveRegionsFromReplicationCommand({ SecretId: name, RemoveReplicaRegions: [REPLICA] }));
    await sm(PRIMARY).send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
  });

  it('ListSecrets filters on primary-region for replicated secrets', async () => {
    const name = unique('listed');
    await sm(PRIMARY).send(new CreateSecretCommand({ Name: name, SecretString: 'x', AddReplicaRegions: [{ Region: REPLICA }] }));
    const listed = await sm(REPLICA).send(new ListSecretsCommand({ Filters: [{ Key: 'primary-region', Values: [PRIMARY] }, { Key: 'name', Values: [name] }] }));
    assert.deepEqual(listed.SecretList?.map((s) => [s.Name, s.PrimaryRegion]), [[name, PRIMARY]]);
  });
});

describe('RemoveRegionsFromReplication and StopReplicationToReplica', () => {
  it('RemoveRegionsFromReplication deletes the replica in that Region and lists the rest', async () => {
    const name = unique('remove');
    await sm(PRIMARY).send(new CreateSecretCommand({ Name: name, SecretString: 'x', AddReplicaRegions: [{ Region: REPLICA }, { Region: OTHER }] }));
    await rejects(sm(PRIMARY).send(new RemoveRegionsFromReplicationCommand({ SecretId: name, RemoveReplicaRegions: ['us-west-2'] })), 'InvalidParameterException', /not replicated to us-west-2/);
    const removed = await sm(PRIMARY).send(new RemoveRegionsFromReplicationCommand({ SecretId: name, RemoveReplicaRegions: [REPLICA] }));
    assert.deepEqual(removed.ReplicationStatus?.map((s) => s.Region), [OTHER]);
    await rejects(sm(REPLICA).send(new GetSecretValueCommand({ SecretId: name })), 'ResourceNotFoundException');
    assert.equal((await sm(OTHER).send(new GetSecretValueCommand({ SecretId: name }))).SecretString, 'x');
    const last = await sm(PRIMARY).send(new RemoveRegionsFromReplicationCommand({ SecretId: name, RemoveReplicaRegions: [OTHER] }));
    assert.deepEqual(last.ReplicationStatus, []);
    const described = await sm(PRIMARY).send(new DescribeSecretCommand({ SecretId: name }));
    assert.equal(described.ReplicationStatus, undefined);
  });

  it('StopReplicationToReplica, called in the replica Region, promotes the replica to a standalone secret', async () => {
    const name = unique('promote');
    const created = await sm(PRIMARY).send(new CreateSecretCommand({ Name: name, SecretString: 'v1', AddReplicaRegions: [{ Region: REPLICA }] }));
    await rejects(sm(PRIMARY).send(new StopReplicationToReplicaCommand({ SecretId: name })), 'InvalidRequestException', /not a replica secret/);
    const stopped = await sm(REPLICA).send(new StopReplicationToReplicaCommand({ SecretId: swapRegion(created.ARN!, REPLICA) }));
    assert.equal(stopped.ARN, swapRegion(created.ARN!, REPLICA));
    assert.equal((await sm(PRIMARY).send(new DescribeSecretCommand({ SecretId: name }))).ReplicationStatus, undefined);
    const promoted = await sm(REPLICA).send(new DescribeSecretCommand({ SecretId: name }));
    assert.equal(promoted.PrimaryRegion, undefined);
    // Writable now, and no longer following the former primary.
    await sm(REPLICA).send(new PutSecretValueCommand({ SecretId: name, SecretString: 'own' }));
    await sm(PRIMARY).send(new PutSecretValueCommand({ SecretId: name, SecretString: 'v2' }));
    assert.equal((await sm(REPLICA).send(new GetSecretValueCommand({ SecretId: name }))).SecretString, 'own');
  });
});

describe('replication under IAM enforcement', () => {
  it('ReplicateSecretToRegions is authorised on the secret ARN, with secretsmanager:AddReplicaRegions', async () => {
    const account = '111122223333';
    const secrets = `arn:aws:secretsmanager:${PRIMARY}:${account}:secret:`;
    const role = (name: string, statements: Record<string, unknown>[]): IamPrincipal => ({
      arn: `arn:aws:iam::${account}:role/${name}`,
      account,
      policies: [{ name, document: { Version: '2012-10-17', Statement: statements } }],
    });
    const enforced = await startLocalEndpoint({
      iam: {
        principals: {
          AKIAADMIN: role('admin', [{ Effect: 'Allow', Action: '*', Resource: '*' }]),
          AKIAWRITER: role('writer', [
            {
              Effect: 'Allow',
              Action: 'secretsmanager:ReplicateSecretToRegions',
              Resource: `${secrets}kms-reimport/*`,
              Condition: { 'ForAllValues:StringEquals': { 'secretsmanager:AddReplicaRegions': [REPLICA] } },
            },
          ]),
          AKIACREATOR: role('creator', [{ Effect: 'Allow', Action: 'secretsmanager:CreateSecret', Resource: `${secrets}kms-reimport/*` }]),
          AKIAONBOARD: role('onboard', [{ Effect: 'Allow', Action: ['secretsmanager:CreateSecret', 'secretsmanager:ReplicateSecretToRegions'], Resource: `${secrets}kms-reimport/*` }]),
        },
      },
    });
    try {
      const admin = sm(PRIMARY, 'AKIAADMIN', enforced);
      const writer = sm(PRIMARY, 'AKIAWRITER', enforced);
      await admin.send(new CreateSecretCommand({ Name: 'kms-reimport/mrk-1', SecretString: 'x' }));
      await admin.send(new CreateSecretCommand({ Name: 'other/mrk-1', SecretString: 'x' }));
      await rejects(writer.send(new ReplicateSecretToRegionsCommand({ SecretId: 'other/mrk-1', AddReplicaRegions: [{ Region: REPLICA }] })), 'AccessDeniedException', /secretsmanager:ReplicateSecretToRegions on resource: arn:aws:secretsmanager:us-east-1:111122223333:secret:other\/mrk-1-/);
      await rejects(writer.send(new ReplicateSecretToRegionsCommand({ SecretId: 'kms-reimport/mrk-1', AddReplicaRegions: [{ Region: OTHER }] })), 'AccessDeniedException');
      const ok = await writer.send(new ReplicateSecretToRegionsCommand({ SecretId: 'kms-reimport/mrk-1', AddReplicaRegions: [{ Region: REPLICA }] }));
      assert.equal(ok.ReplicationStatus?.[0]?.Status, 'InSync');
      await rejects(writer.send(new RemoveRegionsFromReplicationCommand({ SecretId: 'kms-reimport/mrk-1', RemoveReplicaRegions: [REPLICA] })), 'AccessDeniedException');
      // CreateSecret with AddReplicaRegions needs ReplicateSecretToRegions too.
      const creator = sm(PRIMARY, 'AKIACREATOR', enforced);
      await rejects(creator.send(new CreateSecretCommand({ Name: 'kms-reimport/mrk-2', SecretString: 'x', AddReplicaRegions: [{ Region: REPLICA }] })), 'AccessDeniedException', /secretsmanager:ReplicateSecretToRegions/);
      const created = await creator.send(new CreateSecretCommand({ Name: 'kms-reimport/mrk-3', SecretString: 'x' }));
      assert.equal(created.ReplicationStatus, undefined);
      const both = sm(PRIMARY, 'AKIAONBOARD', enforced);
      const replicated = await both.send(new CreateSecretCommand({ Name: 'kms-reimport/mrk-4', SecretString: 'x', AddReplicaRegions: [{ Region: REPLICA }] }));
      assert.equal(replicated.ReplicationStatus?.[0]?.Status, 'InSync');
    } finally {
      await enforced.close();
    }
  });
});

describe('aws secretsmanager replicate-secret-to-regions (AWS CLI v1)', () => {
  if (cliMissing) {
    it(`skipped: ${cliMissing}`, { skip: `${cliMissing} (set CI to make this a failure)` }, () => {});
    return;
  }
  it('replicates with --add-replica-regions Region=... and the replica Region reads the value', async () => {
    const work = mkdtempSync(join(tmpdir(), 'sm-replication-cli-'));
    try {
      const env = (region: string): NodeJS.ProcessEnv => ({
        ...process.env,
        AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'x',
        AWS_DEFAULT_REGION: region,
        AWS_REGION: region,
        AWS_CONFIG_FILE: join(work, 'no-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(work, 'no-credentials'),
        AWS_PAGER: '',
        AWS_EC2_METADATA_DISABLED: 'true',
      });
      const aws = async (region: string, args: string[]): Promise<Record<string, unknown>> => {
        const result = await run(cliV1!, ['secretsmanager', ...args, '--endpoint-url', endpoint.url, '--output', 'json'], env(region));
        if (result.code !== 0) throw new Error(`aws secretsmanager ${args[0]} failed (${result.code}): ${result.stderr.trim()}`);
        return result.stdout.trim() ? (JSON.parse(result.stdout) as Record<string, unknown>) : {};
      };
      const name = unique('kms-reimport/cli');
      await aws(PRIMARY, ['create-secret', '--name', name, '--secret-string', 'escrowed']);
      const replicated = await aws(PRIMARY, ['replicate-secret-to-regions', '--secret-id', name, '--add-replica-regions', `Region=${REPLICA}`]);
      assert.deepEqual((replicated['ReplicationStatus'] as { Region: string; Status: string }[]).map((s) => [s.Region, s.Status]), [[REPLICA, 'InSync']]);
      const read = await aws(REPLICA, ['get-secret-value', '--secret-id', name]);
      assert.equal(read['SecretString'], 'escrowed');
      const described = await aws(PRIMARY, ['describe-secret', '--secret-id', name]);
      assert.equal(described['PrimaryRegion'], PRIMARY);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
