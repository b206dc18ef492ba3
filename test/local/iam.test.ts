// The local endpoint enforcing identity policies (local/iam/): each access key id is a principal,
// its policies evaluated (by @cloud-copilot/iam-simulate) before the operation runs, with the
// request's real context. Over HTTP with the real SDK v3 clients, as a caller sees it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GetParametersForImportCommand,
  KMSClient,
  ListKeysCommand,
  ListResourceTagsCommand,
  ReplicateKeyCommand,
} from '@aws-sdk/client-kms';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetResourcesCommand, ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { startLocalEndpoint, type IamPrincipal, type LocalEndpoint, type PolicyDocument } from '../../local/index.js';
import { principalsOf, renderTemplateRoles, roleAccessKeyId } from '../../local/iam/template-roles.js';
import { loadTemplate, repoRoot, TEMPLATE_PATH } from '../unit/template-load.js';
import { grantedStatements } from '../unit/template-iam.js';

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const KEYS = `arn:aws:kms:${REGION}:${ACCOUNT}:key/*`;
const SECRETS = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:`;

const policy = (...Statement: Record<string, unknown>[]): PolicyDocument => ({ Version: '2012-10-17', Statement });
const principal = (name: string, ...statements: Record<string, unknown>[]): IamPrincipal => ({
  arn: `arn:aws:iam::${ACCOUNT}:role/${name}`,
  account: ACCOUNT,
  callerArn: `arn:aws:sts::${ACCOUNT}:assumed-role/${name}/session`,
  policies: [{ name: `${name}-policy`, document: policy(...statements) }],
});

const PRINCIPALS: Record<string, IamPrincipal> = {
  AKIAADMIN: principal('admin', { Effect: 'Allow', Action: '*', Resource: '*' }),
  AKIAREADER: principal(
    'reader',
    { Effect: 'Allow', Action: ['kms:DescribeKey', 'kms:ListResourceTags'], Resource: KEYS, Condition: { StringEquals: { 'aws:ResourceTag/kms-reimport:managed': 'true' } } },
    { Effect: 'Deny', Action: 'kms:ListResourceTags', Resource: KEYS, Condition: { StringEquals: { 'aws:ResourceTag/secret-tags': 'true' } } },
  ),
  AKIAPROBE: principal('probe', {
    Effect: 'Allow',
    Action: ['kms:Encrypt', 'kms:Decrypt'],
    Resource: KEYS,
    Condition: { StringEquals: { 'kms:EncryptionContext:kms-reimport:probe': 'verify' } },
  }),
  AKIACREATOR: principal('creator', {
    Effect: 'Allow',
    Action: 'kms:CreateKey',
    Resource: '*',
    Condition: { StringEquals: { 'aws:RequestTag/team': 'payments', 'kms:KeyOrigin': 'EXTERNAL' }, 'ForAllValues:StringEquals': { 'aws:TagKeys': ['team'] } },
  }),
  AKIAESCROW: principal('escrow', { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: `${SECRETS}kms-reimport/*` }, { Effect: 'Allow', Action: 'tag:GetResources', Resource: '*' }),
  AKIANOTHING: principal('nothing', { Effect: 'Allow', Action: 'sns:Publish', Resource: '*' }),
};

let endpoint: LocalEndpoint;
const clients: { destroy(): void }[] = [];
function kmsAs(accessKeyId: string): KMSClient {
  const client = new KMSClient({ endpoint: endpoint.url, region: REGION, credentials: { accessKeyId, secretAccessKey: 'x' }, maxAttempts: 1 });
  clients.push(client);
  return client;
}
function secretsAs(accessKeyId: string): SecretsManagerClient {
  const client = new SecretsManagerClient({ endpoint: endpoint.url, region: REGION, credentials: { accessKeyId, secretAccessKey: 'x' }, maxAttempts: 1 });
  clients.push(client);
  return client;
}
function taggingAs(accessKeyId: string): ResourceGroupsTaggingAPIClient {
  const client = new ResourceGroupsTaggingAPIClient({ endpoint: endpoint.url, region: REGION, credentials: { accessKeyId, secretAccessKey: 'x' }, maxAttempts: 1 });
  clients.push(client);
  return client;
}

/** The error a promise rejects with (fails when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number }; $response?: unknown }> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected the call to be refused');
}

let managed: string;
let untagged: string;
let secretTags: string;

before(async () => {
  endpoint = await startLocalEndpoint({ iam: { principals: PRINCIPALS } });
  const admin = kmsAs('AKIAADMIN');
  const create = async (tags: Record<string, string>) =>
    (await admin.send(new CreateKeyCommand({ Tags: Object.entries(tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })) }))).KeyMetadata!.Arn!;
  managed = await create({ 'kms-reimport:managed': 'true' });
  untagged = await create({});
  secretTags = await create({ 'kms-reimport:managed': 'true', 'secret-tags': 'true' });
  await admin.send(new CreateAliasCommand({ AliasName: 'alias/managed', TargetKeyId: managed }));
  await admin.send(new CreateAliasCommand({ AliasName: 'alias/untagged', TargetKeyId: untagged }));
  const adminSecrets = secretsAs('AKIAADMIN');
  await adminSecrets.send(new CreateSecretCommand({ Name: 'kms-reimport/one', SecretString: 'escrowed' }));
  await adminSecrets.send(new CreateSecretCommand({ Name: 'other/one', SecretString: 'not yours' }));
});

after(async () => {
  for (const c of clients) c.destroy();
  await endpoint.close();
});

describe('KMS: tag conditions, as a real account applies them', () => {
  it('allows DescribeKey and ListResourceTags on a key with the tag; the key is in the principal\'s account', async () => {
    const reader = kmsAs('AKIAREADER');
    const described = await reader.send(new DescribeKeyCommand({ KeyId: managed }));
    assert.equal(described.KeyMetadata?.Arn, managed);
    assert.ok(managed.includes(`:${ACCOUNT}:`), 'the access key id is not 12 digits: the account came from the principal');
    const tags = await reader.send(new ListResourceTagsCommand({ KeyId: managed }));
    assert.deepEqual(tags.Tags, [{ TagKey: 'kms-reimport:managed', TagValue: 'true' }]);
  });

  it('an untagged key: AccessDeniedException on DescribeKey and on ListResourceTags, shaped as KMS sends it', async () => {
    const reader = kmsAs('AKIAREADER');
    for (const command of [new DescribeKeyCommand({ KeyId: untagged }), new ListResourceTagsCommand({ KeyId: untagged })]) {
      const operation = command.constructor.name.replace(/Command$/, '');
      const err = await rejection(reader.send(command as DescribeKeyCommand));
      assert.equal(err.name, 'AccessDeniedException');
      assert.equal(err.$metadata?.httpStatusCode, 400);
      assert.equal(
        err.message,
        `User: arn:aws:sts::${ACCOUNT}:assumed-role/reader/session is not authorized to perform: kms:${operation} on resource: ${untagged} because no identity-based policy allows the kms:${operation} action`,
      );
    }
  });

  it('an explicit deny says so', async () => {
    const err = await rejection(kmsAs('AKIAREADER').send(new ListResourceTagsCommand({ KeyId: secretTags })));
    assert.equal(err.name, 'AccessDeniedException');
    assert.match(err.message, /kms:ListResourceTags on resource: .* with an explicit deny in an identity-based policy$/);
    await kmsAs('AKIAREADER').send(new DescribeKeyCommand({ KeyId: secretTags }));
  });

  it('an alias is authorised against the key it points to (alias name and alias ARN)', async () => {
    const reader = kmsAs('AKIAREADER');
    assert.equal((await reader.send(new DescribeKeyCommand({ KeyId: 'alias/managed' }))).KeyMetadata?.Arn, managed);
    assert.equal((await reader.send(new DescribeKeyCommand({ KeyId: `arn:aws:kms:${REGION}:${ACCOUNT}:alias/managed` }))).KeyMetadata?.Arn, managed);
    const err = await rejection(reader.send(new DescribeKeyCommand({ KeyId: 'alias/untagged' })));
    assert.equal(err.name, 'AccessDeniedException');
    assert.match(err.message, new RegExp(`on resource: ${untagged} because`), 'the resource is the key, not the alias');
  });

  it('a key that does not exist answers NotFoundException (nothing to authorise against)', async () => {
    const err = await rejection(kmsAs('AKIAREADER').send(new DescribeKeyCommand({ KeyId: '00000000-0000-4000-8000-000000000000' })));
    assert.equal(err.name, 'NotFoundException');
  });

  it('an action no policy grants: ListKeys (resource *) is refused without "on resource"', async () => {
    const err = await rejection(kmsAs('AKIAREADER').send(new ListKeysCommand({})));
    assert.equal(err.name, 'AccessDeniedException');
    assert.match(err.message, /is not authorized to perform: kms:ListKeys because no identity-based policy allows the kms:ListKeys action$/);
  });

  it('encryption context conditions on Encrypt and Decrypt', async () => {
    const probe = kmsAs('AKIAPROBE');
    const context = { 'kms-reimport:probe': 'verify' };
    const encrypted = await probe.send(new EncryptCommand({ KeyId: untagged, Plaintext: Buffer.from('probe'), EncryptionContext: context }));
    const decrypted = await probe.send(new DecryptCommand({ KeyId: untagged, CiphertextBlob: encrypted.CiphertextBlob, EncryptionContext: context }));
    assert.equal(Buffer.from(decrypted.Plaintext!).toString(), 'probe');
    // Without KeyId: authorised against the key the ciphertext names.
    const noKeyId = await probe.send(new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob, EncryptionContext: context }));
    assert.equal(noKeyId.KeyId, untagged);

    for (const command of [
      new EncryptCommand({ KeyId: untagged, Plaintext: Buffer.from('other'), EncryptionContext: { 'kms-reimport:probe': 'other' } }),
      new EncryptCommand({ KeyId: untagged, Plaintext: Buffer.from('none') }),
    ]) {
      const err = await rejection(probe.send(command));
      assert.equal(err.name, 'AccessDeniedException');
      assert.match(err.message, /kms:Encrypt on resource/);
    }
    const admin = kmsAs('AKIAADMIN');
    const foreign = await admin.send(new EncryptCommand({ KeyId: untagged, Plaintext: Buffer.from('someone else'), EncryptionContext: { app: 'payments' } }));
    const err = await rejection(probe.send(new DecryptCommand({ CiphertextBlob: foreign.CiphertextBlob, EncryptionContext: { app: 'payments' } })));
    assert.equal(err.name, 'AccessDeniedException');
    assert.match(err.message, new RegExp(`kms:Decrypt on resource: ${untagged}`));
  });

  it('request tags and key origin on CreateKey', async () => {
    const creator = kmsAs('AKIACREATOR');
    const created = await creator.send(new CreateKeyCommand({ Origin: 'EXTERNAL', Tags: [{ TagKey: 'team', TagValue: 'payments' }] }));
    assert.equal(created.KeyMetadata?.Origin, 'EXTERNAL');
    for (const input of [
      { Origin: 'EXTERNAL' as const, Tags: [{ TagKey: 'team', TagValue: 'search' }] },
      { Origin: 'EXTERNAL' as const, Tags: [{ TagKey: 'team', TagValue: 'payments' }, { TagKey: 'extra', TagValue: 'x' }] },
      { Origin: 'EXTERNAL' as const },
      { Tags: [{ TagKey: 'team', TagValue: 'payments' }] },
    ]) {
      const err = await rejection(creator.send(new CreateKeyCommand(input)));
      assert.equal(err.name, 'AccessDeniedException', JSON.stringify(input));
      assert.match(err.message, /is not authorized to perform: kms:CreateKey because/);
    }
  });
});

describe('Secrets Manager and the Tagging API', () => {
  it('a secret ARN with a name prefix: allowed under it, AccessDeniedException outside it', async () => {
    const escrow = secretsAs('AKIAESCROW');
    assert.equal((await escrow.send(new GetSecretValueCommand({ SecretId: 'kms-reimport/one' }))).SecretString, 'escrowed');
    const err = await rejection(escrow.send(new GetSecretValueCommand({ SecretId: 'other/one' })));
    assert.equal(err.name, 'AccessDeniedException');
    assert.equal(err.$metadata?.httpStatusCode, 400);
    assert.match(err.message, new RegExp(`^User: arn:aws:sts::${ACCOUNT}:assumed-role/escrow/session is not authorized to perform: secretsmanager:GetSecretValue on resource: ${SECRETS}other/one-[A-Za-z0-9]{6} because no identity-based policy allows`));
  });

  it('a missing secret: ResourceNotFoundException where the policy allows its name, AccessDeniedException where it does not', async () => {
    const escrow = secretsAs('AKIAESCROW');
    assert.equal((await rejection(escrow.send(new GetSecretValueCommand({ SecretId: 'kms-reimport/missing' })))).name, 'ResourceNotFoundException');
    const err = await rejection(escrow.send(new GetSecretValueCommand({ SecretId: 'other/missing' })));
    assert.equal(err.name, 'AccessDeniedException');
    assert.match(err.message, new RegExp(`on resource: ${SECRETS}other/missing because`));
  });

  it('tag:GetResources is authorised on *', async () => {
    const listed = await taggingAs('AKIAESCROW').send(new GetResourcesCommand({ ResourceTypeFilters: ['kms:key'] }));
    assert.ok((listed.ResourceTagMappingList ?? []).some((r) => r.ResourceARN === managed));
    const err = await rejection(taggingAs('AKIANOTHING').send(new GetResourcesCommand({})));
    assert.equal(err.name, 'AccessDeniedException');
    assert.match(err.message, /is not authorized to perform: tag:GetResources because no identity-based policy allows the tag:GetResources action$/);
  });
});

describe('who may call at all', () => {
  it('an access key id that names no principal: UnrecognizedClientException, as AWS answers an unknown key', async () => {
    const err = await rejection(kmsAs('AKIAUNKNOWN').send(new ListKeysCommand({})));
    assert.equal(err.name, 'UnrecognizedClientException');
    assert.match(err.message, /security token included in the request is invalid/);
  });

  it("unknownAccessKeys: 'allow' serves unknown keys unchecked, and still enforces the known ones", async () => {
    const open = await startLocalEndpoint({ iam: { principals: PRINCIPALS, unknownAccessKeys: 'allow' } });
    const client = (accessKeyId: string) => new KMSClient({ endpoint: open.url, region: REGION, credentials: { accessKeyId, secretAccessKey: 'x' }, maxAttempts: 1 });
    const anyone = client('AKIAUNKNOWN');
    const reader = client('AKIAREADER');
    try {
      await anyone.send(new ListKeysCommand({}));
      assert.equal((await rejection(reader.send(new ListKeysCommand({})))).name, 'AccessDeniedException');
    } finally {
      anyone.destroy();
      reader.destroy();
      await open.close();
    }
  });

  it('a policy that does not validate stops the start', async () => {
    const started = startLocalEndpoint({ iam: { principals: { AKIABROKEN: principal('broken', { Effect: 'Permit', Action: 'kms:DescribeKey', Resource: '*' }) } } });
    await assert.rejects(
      started.then(async (unexpected) => {
        await unexpected.close();
        return unexpected;
      }),
      /AKIABROKEN.*do not validate.*Effect/,
    );
  });
});

describe("template.yaml's roles, rendered", () => {
  const template = loadTemplate();
  const roles = renderTemplateRoles(template, { account: ACCOUNT, region: REGION, stackName: 'kms-reimport-test', parameters: { EscrowKmsKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/11111111-2222-4333-8444-555555555555` } });

  it('one principal per function, with the actions template-iam.ts reads from the template', () => {
    assert.deepEqual(
      roles.map((r) => r.functionId).sort(),
      ['InspectFunction', 'ReportFunction', 'RotateFunction', 'SweepFunction', 'TriggerFunction', 'VerifyFunction', 'WrapAndImportFunction'],
    );
    for (const role of roles) {
      const rendered = role.principal.policies.flatMap((p) => (p.document.Statement as { Action: string | string[] }[]).flatMap((s) => [s.Action].flat())).sort();
      const read = grantedStatements(template, role.functionId, {
        ...Object.fromEntries(Object.entries(template.Parameters).map(([k, p]) => [k, String(p.Default)])),
        'AWS::Partition': 'aws',
        'AWS::Region': REGION,
        'AWS::AccountId': ACCOUNT,
        'AWS::StackName': 'kms-reimport-test',
      })
        .filter((s) => !s.conditional)
        .flatMap((s) => s.Action)
        .sort();
      // The EscrowKmsKeyArn statements (given above): reading escrow, and for Rotate also writing it and reading its replicas in other Regions.
      const conditional = role.functionId === 'WrapAndImportFunction' ? ['kms:Decrypt'] : role.functionId === 'RotateFunction' ? ['kms:Decrypt', 'kms:GenerateDataKey', 'kms:Decrypt'] : [];
      assert.deepEqual(rendered, [...read, ...conditional].sort(), role.functionId);
      assert.equal(role.accessKeyId, roleAccessKeyId(role.functionId));
      assert.ok(!JSON.stringify(role.principal.policies).includes('${'), `${role.functionId}: nothing left unsubstituted`);
    }
  });

  it('enforced: Inspect reads a managed key and is refused an untagged one; WrapAndImport asks for import parameters of a managed key only; Report may not DescribeKey', async () => {
    const roleEndpoint = await startLocalEndpoint({ iam: { principals: { ...principalsOf(roles), AKIAADMIN: PRINCIPALS.AKIAADMIN! } } });
    const as = (accessKeyId: string) => new KMSClient({ endpoint: roleEndpoint.url, region: REGION, credentials: { accessKeyId, secretAccessKey: 'x' }, maxAttempts: 1 });
    const admin = as('AKIAADMIN');
    const inspect = as(roleAccessKeyId('InspectFunction'));
    const importer = as(roleAccessKeyId('WrapAndImportFunction'));
    const reporter = as(roleAccessKeyId('ReportFunction'));
    try {
      const key = (await admin.send(new CreateKeyCommand({ Origin: 'EXTERNAL', Tags: [{ TagKey: 'kms-reimport:managed', TagValue: 'true' }] }))).KeyMetadata!.Arn!;
      const other = (await admin.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.Arn!;
      assert.equal((await inspect.send(new DescribeKeyCommand({ KeyId: key }))).KeyMetadata?.Arn, key);
      const denied = await rejection(inspect.send(new DescribeKeyCommand({ KeyId: other })));
      assert.equal(denied.name, 'AccessDeniedException');
      assert.match(denied.message, /assumed-role\/kms-reimport-test-InspectFunctionRole\/kms-reimport-test-InspectFunction is not authorized to perform: kms:DescribeKey/);
      const params = await importer.send(new GetParametersForImportCommand({ KeyId: key, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' }));
      assert.ok(params.ImportToken && params.PublicKey);
      const refused = await rejection(importer.send(new GetParametersForImportCommand({ KeyId: other, WrappingAlgorithm: 'RSAES_OAEP_SHA_256', WrappingKeySpec: 'RSA_2048' })));
      assert.equal(refused.name, 'AccessDeniedException');
      assert.match(refused.message, /WrapAndImportFunction is not authorized to perform: kms:GetParametersForImport/);
      assert.equal((await rejection(reporter.send(new DescribeKeyCommand({ KeyId: key })))).name, 'AccessDeniedException');
    } finally {
      for (const c of [admin, inspect, importer, reporter]) c.destroy();
      await roleEndpoint.close();
    }
  });

  it("Secrets Manager's decrypt under a customer managed key is via secretsmanager.<region>.amazonaws.com: WrapAndImport may, Sweep may not", async () => {
    const roleEndpoint = await startLocalEndpoint({ iam: { principals: { ...principalsOf(roles), AKIAADMIN: PRINCIPALS.AKIAADMIN! } } });
    const kms = new KMSClient({ endpoint: roleEndpoint.url, region: REGION, credentials: { accessKeyId: 'AKIAADMIN', secretAccessKey: 'x' }, maxAttempts: 1 });
    const as = (accessKeyId: string) => new SecretsManagerClient({ endpoint: roleEndpoint.url, region: REGION, credentials: { accessKeyId, secretAccessKey: 'x' }, maxAttempts: 1 });
    const admin = as('AKIAADMIN');
    const wrap = as(roleAccessKeyId('WrapAndImportFunction'));
    const sweepRole = as(roleAccessKeyId('SweepFunction'));
    try {
      // The escrow key of the rendered roles (EscrowKmsKeyArn) is another key than this one: first a secret under a key no role may use.
      const stranger = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
      await admin.send(new CreateSecretCommand({ Name: 'kms-reimport/under-stranger', SecretString: 'x', KmsKeyId: stranger }));
      const err = await rejection(wrap.send(new GetSecretValueCommand({ SecretId: 'kms-reimport/under-stranger' })));
      assert.equal(err.name, 'AccessDeniedException');
      assert.equal(err.message, 'Access to KMS is not allowed');
      // Under the AWS managed key: the role's secretsmanager grant is enough.
      await admin.send(new CreateSecretCommand({ Name: 'kms-reimport/default-key', SecretString: 'y' }));
      assert.equal((await wrap.send(new GetSecretValueCommand({ SecretId: 'kms-reimport/default-key' }))).SecretString, 'y');
      assert.equal((await rejection(sweepRole.send(new GetSecretValueCommand({ SecretId: 'kms-reimport/default-key' })))).name, 'AccessDeniedException');
    } finally {
      for (const c of [kms, admin, wrap, sweepRole]) c.destroy();
      await roleEndpoint.close();
    }
  });

  it('WrapAndImport decrypts through Secrets Manager under the escrow key the template names (EscrowKmsKeyArn), and only through it', async () => {
    const enforced = await startLocalEndpoint({ iam: { principals: { AKIAADMIN: PRINCIPALS.AKIAADMIN! } } });
    const kms = new KMSClient({ endpoint: enforced.url, region: REGION, credentials: { accessKeyId: 'AKIAADMIN', secretAccessKey: 'x' }, maxAttempts: 1 });
    const as = (accessKeyId: string) => new SecretsManagerClient({ endpoint: enforced.url, region: REGION, credentials: { accessKeyId, secretAccessKey: 'x' }, maxAttempts: 1 });
    const admin = as('AKIAADMIN');
    const wrap = as(roleAccessKeyId('WrapAndImportFunction'));
    try {
      const escrowKey = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
      await admin.send(new CreateSecretCommand({ Name: 'kms-reimport/escrowed', SecretString: 'z', KmsKeyId: escrowKey }));
      const rendered = principalsOf(renderTemplateRoles(template, { account: ACCOUNT, region: REGION, parameters: { EscrowKmsKeyArn: escrowKey } }));
      await enforced.iam!.setPrincipals({ ...rendered, AKIAADMIN: PRINCIPALS.AKIAADMIN! });
      assert.equal((await wrap.send(new GetSecretValueCommand({ SecretId: 'kms-reimport/escrowed' }))).SecretString, 'z');
      // The same role rendered without EscrowKmsKeyArn (the !If branch AWS::NoValue): Secrets Manager's call to KMS is refused.
      await enforced.iam!.setPrincipals({ ...principalsOf(renderTemplateRoles(template, { account: ACCOUNT, region: REGION })), AKIAADMIN: PRINCIPALS.AKIAADMIN! });
      const err = await rejection(wrap.send(new GetSecretValueCommand({ SecretId: 'kms-reimport/escrowed' })));
      assert.equal(err.name, 'AccessDeniedException');
      assert.equal(err.message, 'Access to KMS is not allowed');
    } finally {
      for (const c of [kms, admin, wrap]) c.destroy();
      await enforced.close();
    }
  });
  it('Rotate reads a Multi-Region key\'s escrow replica in another Region under the escrow key\'s replica there (EscrowKmsKeyArn a Multi-Region key), through Secrets Manager only', async () => {
    const enforced = await startLocalEndpoint({ iam: { principals: { AKIAADMIN: PRINCIPALS.AKIAADMIN! } } });
    const client = <C>(make: new (o: object) => C, region: string, accessKeyId: string): C =>
      new make({ endpoint: enforced.url, region, credentials: { accessKeyId, secretAccessKey: 'x' }, maxAttempts: 1 });
    const kms = client(KMSClient, REGION, 'AKIAADMIN');
    const admin = client(SecretsManagerClient, REGION, 'AKIAADMIN');
    const rotateThere = client(SecretsManagerClient, 'eu-west-1', roleAccessKeyId('RotateFunction'));
    const kmsThere = client(KMSClient, 'eu-west-1', roleAccessKeyId('RotateFunction'));
    try {
      const escrowKey = (await kms.send(new CreateKeyCommand({ MultiRegion: true }))).KeyMetadata!.Arn!;
      const replicaKey = (await kms.send(new ReplicateKeyCommand({ KeyId: escrowKey, ReplicaRegion: 'eu-west-1' }))).ReplicaKeyMetadata!.Arn!;
      await admin.send(new CreateSecretCommand({ Name: 'kms-reimport/mrk-escrowed', SecretString: 'z', KmsKeyId: escrowKey, AddReplicaRegions: [{ Region: 'eu-west-1', KmsKeyId: replicaKey }] }));
      await enforced.iam!.setPrincipals({ ...principalsOf(renderTemplateRoles(template, { account: ACCOUNT, region: REGION, parameters: { EscrowKmsKeyArn: escrowKey } })), AKIAADMIN: PRINCIPALS.AKIAADMIN! });
      assert.equal((await rotateThere.send(new GetSecretValueCommand({ SecretId: 'kms-reimport/mrk-escrowed' }))).SecretString, 'z', 'readable in eu-west-1');
      // Only through Secrets Manager: the escrow key's replica itself is out of the role's direct reach.
      const direct = await rejection(kmsThere.send(new EncryptCommand({ KeyId: replicaKey, Plaintext: Buffer.from('x') })));
      assert.equal(direct.name, 'AccessDeniedException');
    } finally {
      for (const c of [kms, admin, rotateThere, kmsThere]) c.destroy();
      await enforced.close();
    }
  });
});

describe('kms-reimport local --iam-template', () => {
  it("prints each role's access key id and enforces the roles; the account's own key is the administrator", async () => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'kms-reimport.js'), 'local', '--port', '0', '--iam-template', TEMPLATE_PATH, '--account', '444455556666'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('Ctrl-C')) resolve();
        });
        void exited.then((code) => reject(new Error(`local exited early (${code}): ${out}`)));
      });
      const url = /export AWS_ENDPOINT_URL=(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      const inspectKey = /InspectFunction\s+AWS_ACCESS_KEY_ID=(\S+)/.exec(out)?.[1];
      assert.ok(url && inspectKey, out);
      assert.match(out, /export AWS_ACCESS_KEY_ID=444455556666/);
      assert.match(out, /administrator \(setup\)\s+AWS_ACCESS_KEY_ID=444455556666/);
      const client = (accessKeyId: string) => new KMSClient({ endpoint: url, region: REGION, credentials: { accessKeyId, secretAccessKey: 'x' }, maxAttempts: 1 });
      const admin = client('444455556666');
      const inspect = client(inspectKey);
      try {
        const key = (await admin.send(new CreateKeyCommand({ Origin: 'EXTERNAL' }))).KeyMetadata!.Arn!;
        assert.match(key, /:444455556666:key\//);
        const err = await rejection(inspect.send(new DescribeKeyCommand({ KeyId: key })));
        assert.equal(err.name, 'AccessDeniedException');
        assert.match(err.message, /assumed-role\/kms-reimport-InspectFunctionRole\/kms-reimport-InspectFunction is not authorized to perform: kms:DescribeKey/);
        assert.equal((await rejection(client('AKIDSOMEONE').send(new ListKeysCommand({})))).name, 'UnrecognizedClientException');
      } finally {
        admin.destroy();
        inspect.destroy();
      }
    } finally {
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    }
  });
});
