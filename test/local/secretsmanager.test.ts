// Secrets Manager emulation, driven by the real SDK v3 client over HTTP.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  SecretsManagerClient,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretCommand,
  paginateListSecrets,
} from '@aws-sdk/client-secrets-manager';
import { startLocalEndpoint, type LocalEndpoint } from '../../local/index.js';

let endpoint: LocalEndpoint;
const clients: SecretsManagerClient[] = [];
let n = 0;
const unique = (prefix: string): string => `${prefix}-${process.pid}-${++n}`;

function client(region = 'us-east-1', accessKeyId = 'AKIDEXAMPLE'): SecretsManagerClient {
  const c = new SecretsManagerClient({ endpoint: endpoint.url, region, credentials: { accessKeyId, secretAccessKey: 'x' }, maxAttempts: 1 });
  clients.push(c);
  return c;
}

async function rejects(promise: Promise<unknown>, name: string, status: number, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
    assert.equal(err.name, name, `expected ${name}, got ${err.name}: ${err.message}`);
    assert.equal(err.$metadata?.httpStatusCode, status);
    if (message) assert.match(err.message, message);
    return true;
  });
}

before(async () => {
  endpoint = await startLocalEndpoint();
});
after(async () => {
  for (const c of clients) c.destroy();
  await endpoint.close();
});

describe('CreateSecret and GetSecretValue', () => {
  it('stores a string secret and reads it by name, full ARN and partial ARN', async () => {
    const sm = client();
    const name = unique('app/escrow');
    const created = await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'hello', Description: 'd' }));
    assert.match(created.ARN ?? '', new RegExp(`^arn:aws:secretsmanager:us-east-1:000000000000:secret:${name}-[A-Za-z0-9]{6}$`));
    assert.equal(created.Name, name);
    assert.match(created.VersionId ?? '', /^[0-9a-f-]{36}$/);
    for (const id of [name, created.ARN, `arn:aws:secretsmanager:us-east-1:000000000000:secret:${name}`]) {
      const got = await sm.send(new GetSecretValueCommand({ SecretId: id }));
      assert.equal(got.SecretString, 'hello');
      assert.equal(got.SecretBinary, undefined);
      assert.equal(got.ARN, created.ARN);
      assert.equal(got.Name, name);
      assert.equal(got.VersionId, created.VersionId);
      assert.deepEqual(got.VersionStages, ['AWSCURRENT']);
      assert.ok(got.CreatedDate instanceof Date);
      assert.ok(Math.abs((got.CreatedDate as Date).getTime() - endpoint.clock.now()) < 60_000);
    }
  });

  it('stores binary secrets byte for byte', async () => {
    const sm = client();
    const name = unique('bin');
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    await sm.send(new CreateSecretCommand({ Name: name, SecretBinary: bytes }));
    const got = await sm.send(new GetSecretValueCommand({ SecretId: name }));
    assert.equal(got.SecretString, undefined);
    assert.deepEqual(Buffer.from(got.SecretBinary as Uint8Array), Buffer.from(bytes));
  });

  it('refuses a duplicate name, both values at once, bad names and bad tokens', async () => {
    const sm = client();
    const name = unique('dup');
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'a' }));
    await rejects(sm.send(new CreateSecretCommand({ Name: name, SecretString: 'b' })), 'ResourceExistsException', 400, /already exists/);
    await rejects(
      sm.send(new CreateSecretCommand({ Name: unique('both'), SecretString: 'a', SecretBinary: Uint8Array.of(1) })),
      'InvalidParameterException',
      400,
      /both a binary secret value and a string/,
    );
    await rejects(sm.send(new CreateSecretCommand({ Name: 'has space', SecretString: 'a' })), 'InvalidParameterException', 400);
    await rejects(sm.send(new CreateSecretCommand({ Name: unique('tok'), SecretString: 'a', ClientRequestToken: 'short' })), 'InvalidParameterException', 400);
  });

  it('is idempotent for a repeated ClientRequestToken with the same value', async () => {
    const sm = client();
    const name = unique('idem');
    const token = 'a'.repeat(32);
    const first = await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'v', ClientRequestToken: token }));
    const again = await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'v', ClientRequestToken: token }));
    assert.equal(again.VersionId, token);
    assert.equal(again.ARN, first.ARN);
    await rejects(sm.send(new CreateSecretCommand({ Name: name, SecretString: 'other', ClientRequestToken: token })), 'ResourceExistsException', 400);
  });

  it('answers ResourceNotFoundException for unknown secrets, versions and stages', async () => {
    const sm = client();
    await rejects(sm.send(new GetSecretValueCommand({ SecretId: unique('missing') })), 'ResourceNotFoundException', 400, /can't find the specified secret/);
    const name = unique('empty');
    await sm.send(new CreateSecretCommand({ Name: name }));
    await rejects(sm.send(new GetSecretValueCommand({ SecretId: name })), 'ResourceNotFoundException', 400, /staging label: AWSCURRENT/);
    await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'x' }));
    await rejects(sm.send(new GetSecretValueCommand({ SecretId: name, VersionId: 'f'.repeat(36) })), 'ResourceNotFoundException', 400, /VersionId/);
    await rejects(sm.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPENDING' })), 'ResourceNotFoundException', 400, /AWSPENDING/);
  });
});

describe('PutSecretValue and versions', () => {
  it('moves AWSCURRENT to the new version and AWSPREVIOUS to the former one', async () => {
    const sm = client();
    const name = unique('rot');
    const v1 = await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'one' }));
    const v2 = await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'two' }));
    assert.deepEqual(v2.VersionStages, ['AWSCURRENT']);
    const v3 = await sm.send(new PutSecretValueCommand({ SecretId: name, SecretBinary: Uint8Array.of(3) }));
    const current = await sm.send(new GetSecretValueCommand({ SecretId: name }));
    assert.equal(current.VersionId, v3.VersionId);
    const previous = await sm.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPREVIOUS' }));
    assert.equal(previous.VersionId, v2.VersionId);
    assert.equal(previous.SecretString, 'two');
    const old = await sm.send(new GetSecretValueCommand({ SecretId: name, VersionId: v1.VersionId }));
    assert.equal(old.SecretString, 'one');
    assert.deepEqual(old.VersionStages, []);

    const described = await sm.send(new DescribeSecretCommand({ SecretId: name }));
    assert.deepEqual(described.VersionIdsToStages, { [v2.VersionId as string]: ['AWSPREVIOUS'], [v3.VersionId as string]: ['AWSCURRENT'] });

    const listed = await sm.send(new ListSecretVersionIdsCommand({ SecretId: name }));
    assert.deepEqual(listed.Versions?.map((v) => v.VersionId).sort(), [v2.VersionId, v3.VersionId].sort());
    const all = await sm.send(new ListSecretVersionIdsCommand({ SecretId: name, IncludeDeprecated: true }));
    assert.equal(all.Versions?.length, 3);
    assert.equal(all.ARN, v1.ARN);
  });

  it('attaches custom stages without moving AWSCURRENT', async () => {
    const sm = client();
    const name = unique('stage');
    const v1 = await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'one' }));
    const pending = await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'two', VersionStages: ['AWSPENDING'] }));
    assert.deepEqual(pending.VersionStages, ['AWSPENDING']);
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: name }))).VersionId, v1.VersionId);
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPENDING' }))).SecretString, 'two');
    await rejects(
      sm.send(new GetSecretValueCommand({ SecretId: name, VersionId: v1.VersionId, VersionStage: 'AWSPENDING' })),
      'InvalidParameterException',
      400,
    );
  });

  it('is idempotent per ClientRequestToken and refuses to modify a version', async () => {
    const sm = client();
    const name = unique('put-idem');
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'one' }));
    const token = 'b'.repeat(40);
    const a = await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'two', ClientRequestToken: token }));
    const b = await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'two', ClientRequestToken: token }));
    assert.equal(a.VersionId, token);
    assert.equal(b.VersionId, token);
    const all = await sm.send(new ListSecretVersionIdsCommand({ SecretId: name, IncludeDeprecated: true }));
    assert.equal(all.Versions?.length, 2);
    await rejects(sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'three', ClientRequestToken: token })), 'ResourceExistsException', 400);
    await rejects(sm.send(new PutSecretValueCommand({ SecretId: name })), 'InvalidRequestException', 400, /SecretString or SecretBinary/);
    await rejects(sm.send(new PutSecretValueCommand({ SecretId: unique('nope'), SecretString: 'x' })), 'ResourceNotFoundException', 400);
  });

  it('paginates ListSecretVersionIds', async () => {
    const sm = client();
    const name = unique('pages');
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: '0' }));
    for (let i = 1; i < 5; i++) await sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: String(i), VersionStages: [`S${i}`] }));
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await sm.send(new ListSecretVersionIdsCommand({ SecretId: name, MaxResults: 2, NextToken: token }));
      seen.push(...(page.Versions ?? []).map((v) => v.VersionId as string));
      token = page.NextToken;
      pages++;
    } while (token);
    assert.equal(pages, 3);
    assert.equal(new Set(seen).size, 5);
    await rejects(sm.send(new ListSecretVersionIdsCommand({ SecretId: name, NextToken: 'garbage' })), 'InvalidNextTokenException', 400);
  });

  it('UpdateSecret changes the description and writes a new current version', async () => {
    const sm = client();
    const name = unique('upd');
    const v1 = await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'one' }));
    const updated = await sm.send(new UpdateSecretCommand({ SecretId: name, Description: 'new', SecretString: 'two' }));
    assert.notEqual(updated.VersionId, v1.VersionId);
    const described = await sm.send(new DescribeSecretCommand({ SecretId: name }));
    assert.equal(described.Description, 'new');
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString, 'two');
  });
});

describe('tags, description and listing', () => {
  it('DescribeSecret shows tags, KmsKeyId and dates; TagResource and UntagResource change tags', async () => {
    const sm = client();
    const name = unique('tags');
    await sm.send(
      new CreateSecretCommand({ Name: name, SecretString: 'x', KmsKeyId: 'alias/aws/secretsmanager', Tags: [{ Key: 'a', Value: '1' }, { Key: 'b', Value: '2' }] }),
    );
    let described = await sm.send(new DescribeSecretCommand({ SecretId: name }));
    assert.deepEqual(described.Tags, [{ Key: 'a', Value: '1' }, { Key: 'b', Value: '2' }]);
    assert.equal(described.KmsKeyId, 'alias/aws/secretsmanager');
    assert.ok(described.CreatedDate instanceof Date);
    assert.ok(described.LastChangedDate instanceof Date);
    assert.equal(described.DeletedDate, undefined);
    await sm.send(new TagResourceCommand({ SecretId: name, Tags: [{ Key: 'b', Value: '3' }, { Key: 'c', Value: '4' }] }));
    await sm.send(new UntagResourceCommand({ SecretId: name, TagKeys: ['a'] }));
    described = await sm.send(new DescribeSecretCommand({ SecretId: name }));
    assert.deepEqual(described.Tags, [{ Key: 'b', Value: '3' }, { Key: 'c', Value: '4' }]);
    await rejects(sm.send(new TagResourceCommand({ SecretId: unique('none'), Tags: [{ Key: 'k', Value: 'v' }] })), 'ResourceNotFoundException', 400);
  });

  it('ListSecrets filters by name prefix and tag, and paginates', async () => {
    const sm = client('ap-south-1');
    const prefix = unique('list');
    for (let i = 0; i < 5; i++) {
      await sm.send(new CreateSecretCommand({ Name: `${prefix}/s${i}`, SecretString: 'x', Tags: [{ Key: 'parity', Value: i % 2 ? 'odd' : 'even' }] }));
    }
    await sm.send(new CreateSecretCommand({ Name: unique('other'), SecretString: 'x' }));
    const names: string[] = [];
    for await (const page of paginateListSecrets({ client: sm, pageSize: 2 }, { Filters: [{ Key: 'name', Values: [prefix] }] })) {
      assert.ok((page.SecretList?.length ?? 0) <= 2);
      names.push(...(page.SecretList ?? []).map((s) => s.Name as string));
    }
    assert.deepEqual(names, [0, 1, 2, 3, 4].map((i) => `${prefix}/s${i}`));
    const odd = await sm.send(
      new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [prefix] }, { Key: 'tag-value', Values: ['odd'] }] }),
    );
    assert.deepEqual(odd.SecretList?.map((s) => s.Name), [`${prefix}/s1`, `${prefix}/s3`]);
    assert.ok(odd.SecretList?.[0]?.SecretVersionsToStages);
  });
});

describe('DeleteSecret and RestoreSecret', () => {
  it('schedules deletion with a recovery window, refuses reads, and restores', async () => {
    const sm = client();
    const name = unique('del');
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'x' }));
    const before = endpoint.clock.now();
    const deleted = await sm.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }));
    const days = ((deleted.DeletionDate as Date).getTime() - before) / 86_400_000;
    assert.ok(days >= 6.99 && days <= 7.01, `deletion in ${days} days`);
    await rejects(sm.send(new GetSecretValueCommand({ SecretId: name })), 'InvalidRequestException', 400, /marked for deletion/);
    await rejects(sm.send(new PutSecretValueCommand({ SecretId: name, SecretString: 'y' })), 'InvalidRequestException', 400);
    await rejects(sm.send(new CreateSecretCommand({ Name: name, SecretString: 'y' })), 'InvalidRequestException', 400, /scheduled for deletion/);
    const described = await sm.send(new DescribeSecretCommand({ SecretId: name }));
    assert.ok(described.DeletedDate instanceof Date);
    const listed = await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [name] }] }));
    assert.equal(listed.SecretList?.length, 0);
    const planned = await sm.send(new ListSecretsCommand({ IncludePlannedDeletion: true, Filters: [{ Key: 'name', Values: [name] }] }));
    assert.equal(planned.SecretList?.length, 1);

    const restored = await sm.send(new RestoreSecretCommand({ SecretId: name }));
    assert.equal(restored.Name, name);
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString, 'x');
    assert.equal((await sm.send(new DescribeSecretCommand({ SecretId: name }))).DeletedDate, undefined);
  });

  it('deletes for good when the recovery window has passed on the endpoint clock', async () => {
    const sm = client('sa-east-1');
    const name = unique('window');
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'x' }));
    await sm.send(new DeleteSecretCommand({ SecretId: name }));
    endpoint.clock.advance(29 * 86_400);
    await sm.send(new DescribeSecretCommand({ SecretId: name }));
    endpoint.clock.advance(1 * 86_400 + 1);
    await rejects(sm.send(new DescribeSecretCommand({ SecretId: name })), 'ResourceNotFoundException', 400);
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'again' }));
  });

  it('ForceDeleteWithoutRecovery deletes at once; bad windows are refused', async () => {
    const sm = client();
    const name = unique('force');
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'x' }));
    await rejects(sm.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 6 })), 'InvalidParameterException', 400);
    await rejects(sm.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 31 })), 'InvalidParameterException', 400);
    await rejects(
      sm.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7, ForceDeleteWithoutRecovery: true })),
      'InvalidParameterException',
      400,
    );
    await sm.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
    await rejects(sm.send(new DescribeSecretCommand({ SecretId: name })), 'ResourceNotFoundException', 400);
    await rejects(sm.send(new RestoreSecretCommand({ SecretId: name })), 'ResourceNotFoundException', 400);
  });
});

describe('scopes', () => {
  it('keeps regions and accounts apart', async () => {
    const name = unique('scoped');
    const east = client('us-east-1');
    const west = client('eu-west-1');
    const other = client('us-east-1', '111122223333');
    await east.send(new CreateSecretCommand({ Name: name, SecretString: 'east' }));
    await rejects(west.send(new GetSecretValueCommand({ SecretId: name })), 'ResourceNotFoundException', 400);
    await rejects(other.send(new GetSecretValueCommand({ SecretId: name })), 'ResourceNotFoundException', 400);
    const created = await other.send(new CreateSecretCommand({ Name: name, SecretString: 'other account' }));
    assert.match(created.ARN ?? '', /^arn:aws:secretsmanager:us-east-1:111122223333:secret:/);
    const westCreated = await west.send(new CreateSecretCommand({ Name: name, SecretString: 'west' }));
    assert.match(westCreated.ARN ?? '', /^arn:aws:secretsmanager:eu-west-1:000000000000:secret:/);
    assert.equal((await east.send(new GetSecretValueCommand({ SecretId: name }))).SecretString, 'east');
    assert.equal((await other.send(new GetSecretValueCommand({ SecretId: name }))).SecretString, 'other account');
    // An ARN from another Region is not found from this one.
    await rejects(east.send(new GetSecretValueCommand({ SecretId: westCreated.ARN })), 'ResourceNotFoundException', 400);
  });
});
