/**
 * Least privilege in template.yaml, read the way SAM and IAM will read it (test/unit/template-iam.ts
 * expands each function's Policies into plain statements), then checked.
 * The checks are functions returning violations so that a test can prove each one fires on a
 * template that breaks its rule.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { grantedStatements, managedPolicyDocument, statementsOf, type Statement } from './template-iam.js';
import {
  loadTemplate,
  loadAslText,
  functionByEntry,
  parameterDefaults,
  serverlessFunctions,
  entryPointOf,
  repoRoot,
  FAKE_ACCOUNT,
  FAKE_REGION,
  type Template,
  type Json,
} from './template-load.js';
import { basename, join } from 'node:path';
import { readFileSync } from 'node:fs';

const managedKeys = `arn:aws:kms:${FAKE_REGION}:${FAKE_ACCOUNT}:key/*`;

/**
 * The actions each function needs, and nothing more (wrap-and-import's kms:Decrypt is on the
 * escrow's key, only with HasEscrowKmsKey). build.test.ts checks these against the AWS operations
 * each bundle can actually send.
 */
const EXPECTED_ACTIONS: Record<string, string[]> = {
  trigger: ['states:StartExecution'],
  sweep: [
    'kms:DescribeKey', 'kms:ListKeyRotations', 'secretsmanager:DescribeSecret', 'secretsmanager:ListSecrets', 'states:StartExecution',
    'tag:GetResources',
  ],
  inspect: ['kms:DescribeKey', 'kms:ListKeyRotations', 'kms:ListResourceTags', 'tag:GetResources'],
  // GetParametersForImport: WrapAndImport asks for its own import parameters beside the re-read and the escrow read.
  'wrap-and-import': [
    'kms:Decrypt', 'kms:DescribeKey', 'kms:GetParametersForImport', 'kms:ImportKeyMaterial', 'kms:ListKeyRotations', 'kms:ListResourceTags',
    'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue',
  ],
  verify: [
    'kms:Decrypt', 'kms:DeriveSharedSecret', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateMac',
    'kms:GetPublicKey', 'kms:Sign', 'kms:Verify', 'kms:VerifyMac',
  ],
  rotate: [
    'kms:CreateKey', 'kms:Decrypt', 'kms:DeriveSharedSecret', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:GenerateMac',
    'kms:GetKeyPolicy', 'kms:GetParametersForImport', 'kms:GetPublicKey', 'kms:ImportKeyMaterial', 'kms:ListAliases', 'kms:ListKeyRotations',
    'kms:ListKeys', 'kms:ListResourceTags', 'kms:RotateKeyOnDemand', 'kms:Sign', 'kms:TagResource', 'kms:UpdateAlias', 'kms:Verify', 'kms:VerifyMac',
    'secretsmanager:CreateSecret', 'secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue',
    'secretsmanager:ReplicateSecretToRegions', 'secretsmanager:TagResource',
  ],
  report: ['sns:Publish'],
};

/**
 * The rotate function's KMS statements that cannot carry aws:ResourceTag (lib/rotation/alias-swap.ts
 * lists them): exactly these resources and conditions, nothing wider. <managed> is the ManagedTagKey.
 */
const ROTATE_KMS_EXCEPTIONS = (tagKey: string): Record<string, { Action: string[]; Resource: string[]; Condition?: Json }> => ({
  TagLineageOfManagedKeys: {
    Action: ['kms:TagResource'],
    Resource: [managedKeys],
    Condition: {
      StringEquals: { [`aws:ResourceTag/${tagKey}`]: 'true' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': ['kms-reimport:rotating-to', 'kms-reimport:rotated-to'] },
    },
  },
  CreateManagedExternalKeys: {
    Action: ['kms:CreateKey'],
    Resource: ['*'],
    Condition: {
      StringEquals: { [`aws:RequestTag/${tagKey}`]: 'true', 'kms:KeyOrigin': 'EXTERNAL', 'kms:MultiRegion': 'false' },
      'ForAnyValue:StringEquals': { 'aws:TagKeys': ['kms-reimport:rotated-from'] },
    },
  },
  TagManagedKeysOnCreate: {
    Action: ['kms:TagResource'],
    Resource: ['*'],
    Condition: {
      StringEquals: { [`aws:RequestTag/${tagKey}`]: 'true' },
      'ForAnyValue:StringEquals': { 'aws:TagKeys': ['kms-reimport:rotated-from'] },
    },
  },
  ListKeysAndAliases: { Action: ['kms:ListKeys', 'kms:ListAliases'], Resource: ['*'] },
  MoveAliases: { Action: ['kms:UpdateAlias'], Resource: [`arn:aws:kms:${FAKE_REGION}:${FAKE_ACCOUNT}:alias/*`] },
  // A Multi-Region primary's replicas, in any Region of this account: Multi-Region keys only (mrk-), managed tag required.
  ImportIntoReplicasOfManagedMultiRegionKeys: {
    Action: ['kms:DescribeKey', 'kms:ListResourceTags', 'kms:ListKeyRotations', 'kms:GetParametersForImport', 'kms:ImportKeyMaterial'],
    Resource: [`arn:aws:kms:*:${FAKE_ACCOUNT}:key/mrk-*`],
    Condition: { StringEquals: { [`aws:ResourceTag/${tagKey}`]: 'true' } },
  },
  ProbeReplicasOfManagedMultiRegionKeys: {
    Action: ['kms:Encrypt', 'kms:Decrypt'],
    Resource: [`arn:aws:kms:*:${FAKE_ACCOUNT}:key/mrk-*`],
    Condition: { StringEquals: { [`aws:ResourceTag/${tagKey}`]: 'true', 'kms:EncryptionContext:kms-reimport:probe': 'verify' } },
  },
});

/** The statement's Sid (its origin ends in `#<Sid>`). */
const sidOf = (s: Statement): string => s.origin.slice(s.origin.lastIndexOf('#') + 1);

function allStatements(template: Template): Array<[string, Statement[]]> {
  const ids = Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::Serverless::Function' || r.Type === 'AWS::Serverless::StateMachine')
    .map(([id]) => id);
  const managed = Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::IAM::ManagedPolicy')
    .map(([id]): [string, Statement[]] => {
      const values = parameterDefaults(template);
      const { document, raw } = managedPolicyDocument(template, id, values);
      return [id, statementsOf(document, id, raw, values)];
    });
  return [...ids.map((id): [string, Statement[]] => [id, grantedStatements(template, id)]), ...managed];
}

/** Rule: no `*` in any action, anywhere; only Allow statements. */
function wildcardActionViolations(template: Template): string[] {
  const out: string[] = [];
  for (const [, statements] of allStatements(template)) {
    for (const s of statements) {
      if (s.Effect !== 'Allow') out.push(`${s.origin}: Effect ${s.Effect}`);
      for (const action of s.Action) if (typeof action !== 'string' || action.includes('*')) out.push(`${s.origin}: action ${action}`);
    }
  }
  return out;
}

/** Rule: each function's actions are exactly the expected set. */
function actionSetViolations(template: Template): string[] {
  const out: string[] = [];
  for (const [name, expected] of Object.entries(EXPECTED_ACTIONS)) {
    const [id] = functionByEntry(template, name);
    const actual = [...new Set(grantedStatements(template, id).flatMap((s) => s.Action))].sort();
    if (JSON.stringify(actual) !== JSON.stringify(expected)) out.push(`${id}: ${JSON.stringify(actual)} instead of ${JSON.stringify(expected)}`);
  }
  return out;
}

/**
 * Rule: escrow is readable (and describable, for the key binding) only by wrap-and-import; the sweep
 * may only describe it (escrow health, never the value); both only under the escrow prefix.
 */
function escrowViolations(template: Template): string[] {
  const out: string[] = [];
  const [wrapId] = functionByEntry(template, 'wrap-and-import');
  const [sweepId] = functionByEntry(template, 'sweep');
  const [rotateId] = functionByEntry(template, 'rotate');
  const prefix = parameterDefaults(template).EscrowPrefix;
  for (const [owner, statements] of allStatements(template)) {
    for (const s of statements.filter((st) => st.Action.some((a) => a.toLowerCase().startsWith('secretsmanager:')))) {
      // rotate writes escrow: a new version of a key's secret (PutSecretValue), or a new key's secret,
      // created only with the tag that binds it to its key (CreateSecret + the TagResource of its Tags).
      const rotateAllowed: Record<string, string[]> = {
        ReadAndWriteEscrowOnly: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'],
        CreateBoundEscrowOnly: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource'],
        // A Multi-Region primary's replicas read escrow in their own Regions; a missing replica Region is added, never overwriting.
        ReadEscrowInReplicaRegions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
        ReplicateEscrowWithoutOverwrite: ['secretsmanager:ReplicateSecretToRegions'],
      };
      const allowed =
        owner === wrapId
          ? ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']
          : owner === sweepId
            ? sidOf(s) === 'ListEscrowMetadata'
              ? ['secretsmanager:ListSecrets']
              : ['secretsmanager:DescribeSecret']
            : owner === rotateId
              ? rotateAllowed[sidOf(s)]
              : undefined;
      if (!allowed) out.push(`${s.origin}: ${owner} may use Secrets Manager`);
      else if (JSON.stringify([...s.Action].sort()) !== JSON.stringify(allowed)) out.push(`${s.origin}: ${s.Action.join(',')}`);
      if (s.Action.includes('secretsmanager:CreateSecret') && JSON.stringify(s.Condition) !== JSON.stringify({ Null: { 'aws:RequestTag/kms-reimport:key-id': 'false' } })) {
        out.push(`${s.origin}: CreateSecret only with the kms-reimport:key-id request tag (the escrow's binding to its key)`);
      }
      if (s.Action.includes('secretsmanager:ReplicateSecretToRegions') && JSON.stringify(s.Condition) !== JSON.stringify({ Bool: { 'secretsmanager:ForceOverwriteReplicaSecret': 'false' } })) {
        out.push(`${s.origin}: ReplicateSecretToRegions only without overwriting a secret in the replica Region`);
      }
      // ListSecrets has no resource-level permission (STAR_RESOURCE_ALLOWED): "*", and nothing else in that statement.
      if (owner === sweepId && sidOf(s) === 'ListEscrowMetadata') {
        if (JSON.stringify(s.Resource) !== '["*"]') out.push(`${s.origin}: ListSecrets is granted on "*" only`);
        continue;
      }
      const region = owner === rotateId && sidOf(s) === 'ReadEscrowInReplicaRegions' ? '*' : FAKE_REGION;
      const expected = `arn:aws:secretsmanager:${region}:${FAKE_ACCOUNT}:secret:${prefix}*`;
      if (JSON.stringify(s.Resource) !== JSON.stringify([expected])) out.push(`${s.origin}: resource ${JSON.stringify(s.Resource)} is not ${expected}`);
      if (!s.raw.includes('${EscrowPrefix}*')) out.push(`${s.origin}: the secret resource must be built from the EscrowPrefix parameter`);
    }
  }
  return out;
}

/**
 * Rule: every KMS statement applies only to keys of this account and Region carrying the managed
 * tag (aws:ResourceTag/<ManagedTagKey> = "true", the key taken from the parameter). The one
 * exception is kms:Decrypt on the escrow's own key, through Secrets Manager only.
 */
function kmsScopeViolations(template: Template): string[] {
  const out: string[] = [];
  const tagKey = parameterDefaults(template).ManagedTagKey;
  const exceptions = ROTATE_KMS_EXCEPTIONS(tagKey as string);
  for (const [, statements] of allStatements(template)) {
    for (const s of statements.filter((st) => st.Action.some((a) => a.startsWith('kms:')))) {
      const exception = s.origin.includes('RotateKeysPolicy#') ? exceptions[sidOf(s)] : undefined;
      if (exception) {
        const actual = { Action: s.Action, Resource: s.Resource, ...(s.Condition ? { Condition: s.Condition } : {}) };
        if (JSON.stringify(actual) !== JSON.stringify(exception)) out.push(`${s.origin}: ${JSON.stringify(actual)} is not exactly ${JSON.stringify(exception)}`);
        if (s.raw.includes('kms-reimport:managed')) out.push(`${s.origin}: the tag key must come from the ManagedTagKey parameter`);
        continue;
      }
      if (isEscrowReplicaDecrypt(s)) {
        if (!s.origin.startsWith(`${functionByEntry(template, 'rotate')[0]}.`)) out.push(`${s.origin}: only the Rotate function reads escrow in replica Regions`);
        if (JSON.stringify(s.Condition) !== JSON.stringify({ StringLike: { 'kms:ViaService': 'secretsmanager.*.amazonaws.com' } })) {
          out.push(`${s.origin}: replica-Region escrow-key Decrypt must require exactly kms:ViaService secretsmanager.*.amazonaws.com`);
        }
        continue;
      }
      const isEscrowDecrypt =
        s.conditional === 'HasEscrowKmsKey' &&
        (JSON.stringify(s.Action) === '["kms:Decrypt"]' || JSON.stringify(s.Action) === '["kms:Decrypt","kms:GenerateDataKey"]') &&
        s.raw.includes('"Resource":{"Ref":"EscrowKmsKeyArn"}');
      if (isEscrowDecrypt) {
        const via = s.Condition?.StringEquals?.['kms:ViaService'];
        if (via !== `secretsmanager.${FAKE_REGION}.amazonaws.com`) out.push(`${s.origin}: escrow-key Decrypt must require kms:ViaService secretsmanager`);
        continue;
      }
      if (JSON.stringify(s.Resource) !== JSON.stringify([managedKeys])) out.push(`${s.origin}: resource ${JSON.stringify(s.Resource)} is not ${managedKeys}`);
      const { [`aws:ResourceTag/${tagKey}`]: tagValue, ...narrowing } = s.Condition?.StringEquals ?? {};
      if (tagValue !== 'true') {
        out.push(`${s.origin}: condition ${JSON.stringify(s.Condition)} does not require tag ${tagKey}=true`);
      }
      // Conditions that only narrow further are allowed beside the tag: the verify probe's (see verifyProbeViolations).
      const probeOnly = s.Action.every((a) => a === 'kms:Encrypt' || a === 'kms:Decrypt');
      for (const [key, value] of Object.entries(narrowing)) {
        if (!probeOnly || JSON.stringify(PROBE_CONDITIONS[key]) !== JSON.stringify(value)) out.push(`${s.origin}: unexpected condition ${key}=${JSON.stringify(value)}`);
      }
      if (Object.keys(s.Condition ?? {}).length !== 1) out.push(`${s.origin}: unexpected extra conditions`);
      if (!s.raw.includes('aws:ResourceTag/${ManagedTagKey}')) out.push(`${s.origin}: the tag condition must be built from the ManagedTagKey parameter`);
    }
  }
  return out;
}

/**
 * The Rotate role's kms:Decrypt of the escrow's replicas in a Multi-Region key's replica Regions:
 * only with a customer managed escrow key (HasEscrowKmsKey: that key's ID in any Region of its
 * account; HasEscrowReplicaKmsKeys: the listed keys), only Decrypt.
 */
function isEscrowReplicaDecrypt(s: Statement): boolean {
  if (JSON.stringify(s.Action) !== '["kms:Decrypt"]') return false;
  if (s.conditional === 'HasEscrowKmsKey') return s.raw.includes('"Sid":"DecryptEscrowReplicasThroughSecretsManager"') && s.raw.includes('{"Fn::Split":[":",{"Ref":"EscrowKmsKeyArn"}]}');
  return s.conditional === 'HasEscrowReplicaKmsKeys' && s.raw.includes('"Resource":{"Ref":"EscrowReplicaKmsKeyArns"}');
}

/**
 * The conditions that limit verify's Encrypt/Decrypt to its own probe: the symmetric probe's
 * encryption context (lib/kms/verify.ts VERIFY_ENCRYPTION_CONTEXT), or, for RSA keys (KMS takes no
 * context with them), the one algorithm the probe uses.
 */
const PROBE_CONDITIONS: Record<string, string> = {
  'kms:EncryptionContext:kms-reimport:probe': 'verify',
  'kms:EncryptionAlgorithm': 'RSAES_OAEP_SHA_256',
};

/**
 * Rule: every statement (of any function) granting kms:Encrypt or kms:Decrypt on managed keys is
 * narrowed to the verify probe: exactly one of PROBE_CONDITIONS beside the tag. The escrow-key
 * Decrypt through Secrets Manager is the one exception (kmsScopeViolations checks it).
 */
function verifyProbeViolations(template: Template): string[] {
  const out: string[] = [];
  for (const [, statements] of allStatements(template)) {
    for (const s of statements.filter((st) => st.Action.some((a) => a === 'kms:Encrypt' || a === 'kms:Decrypt'))) {
      if (s.conditional === 'HasEscrowKmsKey' || s.conditional === 'HasEscrowReplicaKmsKeys') continue;
      const keys = Object.keys(s.Condition?.StringEquals ?? {}).filter((k) => k in PROBE_CONDITIONS);
      if (keys.length !== 1) out.push(`${s.origin}: kms:Encrypt/kms:Decrypt without exactly one probe condition (${Object.keys(PROBE_CONDITIONS).join(' or ')})`);
    }
  }
  return out;
}

/** Rule: Resource "*" only where the action has no resource-level permissions, each listed here with why. */
const STAR_RESOURCE_ALLOWED: Record<string, string> = {
  'tag:GetResources': 'the Resource Groups Tagging API has no resource-level permissions',
  'secretsmanager:ListSecrets': "Secrets Manager has no resource-level permission for ListSecrets (metadata only, never a value: the sweep's escrow health)",
  'logs:CreateLogDelivery': 'CloudWatch Logs log delivery (state machine logging) has no resource-level permissions',
  'logs:GetLogDelivery': 'idem',
  'logs:UpdateLogDelivery': 'idem',
  'logs:DeleteLogDelivery': 'idem',
  'logs:ListLogDeliveries': 'idem',
  'logs:PutResourcePolicy': 'idem',
  'logs:DescribeResourcePolicies': 'idem',
  'logs:DescribeLogGroups': 'idem',
  // The rotate function (RotateKeysPolicy; kmsScopeViolations checks their exact conditions):
  'kms:CreateKey': 'no key exists yet: limited by request conditions (managed tag, EXTERNAL, single-Region, lineage tag)',
  'kms:TagResource': 'the Tags of CreateKey are authorised as TagResource before the key exists: same request-tag conditions',
  'kms:ListKeys': 'KMS offers no resource-level permission for ListKeys',
  'kms:ListAliases': 'KMS offers no resource-level permission for ListAliases',
};

function starResourceViolations(template: Template): string[] {
  const out: string[] = [];
  for (const [, statements] of allStatements(template)) {
    for (const s of statements) {
      const star = s.Resource.some((r) => r === '*');
      if (!star) continue;
      for (const action of s.Action) if (!STAR_RESOURCE_ALLOWED[action]) out.push(`${s.origin}: ${action} on "*"`);
    }
  }
  return out;
}

const template = loadTemplate();

describe('IAM: least privilege', () => {
  test('no "*" action anywhere, only Allow statements', () => {
    assert.deepEqual(wildcardActionViolations(template), []);
  });

  test("each function's action set equals what it needs", () => {
    assert.deepEqual(actionSetViolations(template), []);
  });

  test('secretsmanager:GetSecretValue only in wrap-and-import, DescribeSecret there and in the sweep, only on the escrow prefix (and the sweep may ListSecrets, which has no resource-level permission)', () => {
    assert.deepEqual(escrowViolations(template), []);
    const [wrapId] = functionByEntry(template, 'wrap-and-import');
    assert.ok(grantedStatements(template, wrapId).some((s) => s.Action.includes('secretsmanager:GetSecretValue')));
    const [sweepId] = functionByEntry(template, 'sweep');
    assert.ok(grantedStatements(template, sweepId).some((s) => s.Action.includes('secretsmanager:DescribeSecret')));
  });

  test('every KMS action carries the managed-tag condition (escrow-key Decrypt via Secrets Manager aside)', () => {
    assert.deepEqual(kmsScopeViolations(template), []);
    const custom = parameterDefaults(template, { ManagedTagKey: 'team:reimport' });
    const [inspectId] = functionByEntry(template, 'inspect');
    const [statement] = grantedStatements(template, inspectId, custom);
    assert.deepEqual(statement?.Condition, { StringEquals: { 'aws:ResourceTag/team:reimport': 'true' } }, 'the parameter value reaches the condition');
  });

  test("verify's Encrypt/Decrypt only with the probe's encryption context (symmetric) or algorithm (RSA)", () => {
    assert.deepEqual(verifyProbeViolations(template), []);
    const [verifyId] = functionByEntry(template, 'verify');
    const probe = grantedStatements(template, verifyId).filter((s) => s.Action.includes('kms:Encrypt') || s.Action.includes('kms:Decrypt'));
    const symmetric = probe.find((s) => s.Condition?.StringEquals?.['kms:EncryptionContext:kms-reimport:probe'] === 'verify');
    assert.deepEqual(symmetric?.Action.slice().sort(), ['kms:Decrypt', 'kms:Encrypt'], 'the symmetric probe is allowed with its context');
    assert.equal(probe.length, 2, 'one statement for the symmetric probe, one for RSA');
    // Sign/GenerateMac/DeriveSharedSecret take no encryption context: the template says why they stay tag-only.
    const raw = readFileSync(join(repoRoot, 'template.yaml'), 'utf8');
    assert.match(raw, /Sign\/Verify, GenerateMac\/VerifyMac and DeriveSharedSecret stay conditioned on the managed tag\s+# only/);
  });

  test('Resource "*" only for actions without resource-level permissions', () => {
    assert.deepEqual(starResourceViolations(template), []);
  });

  test('the state machine may invoke only the five step functions, publish only to the topic, and use the lease table only as its ASL does', () => {
    const statements = grantedStatements(template, 'RecoveryStateMachine');
    const invoke = statements.filter((s) => s.Action.includes('lambda:InvokeFunction')).flatMap((s) => s.Resource).sort();
    const steps = ['inspect', 'wrap-and-import', 'verify', 'rotate', 'report'].map((n) => `ref:${functionByEntry(template, n)[0]}`).sort();
    assert.deepEqual(invoke, steps);
    const publish = statements.filter((s) => s.Action.includes('sns:Publish')).flatMap((s) => s.Resource);
    assert.deepEqual(publish, ['getatt:OutcomeTopic.TopicName']);
    // The DynamoDB actions are exactly the ASL's DynamoDB integrations (putItem → dynamodb:PutItem), on the lease table only.
    const asl = JSON.parse(loadAslText());
    const used = Object.values<Json>(asl.States)
      .map((st) => /^arn:aws:states:::dynamodb:(\w+)$/.exec(st.Resource ?? '')?.[1])
      .filter((op): op is string => op !== undefined)
      .map((op) => `dynamodb:${op[0]!.toUpperCase()}${op.slice(1)}`);
    assert.ok(used.length >= 2, 'the ASL takes and releases the lease');
    const dynamo = statements.filter((s) => s.Action.some((a: string) => a.startsWith('dynamodb:')));
    assert.deepEqual(dynamo.flatMap((s) => s.Action).sort(), [...new Set(used)].sort());
    assert.deepEqual([...new Set(dynamo.flatMap((s) => s.Resource))], ['getatt:LeaseTable.Arn']);
    const other = statements
      .flatMap((s) => s.Action)
      .filter((a) => !a.startsWith('logs:') && !a.startsWith('dynamodb:') && a !== 'lambda:InvokeFunction' && a !== 'sns:Publish');
    assert.deepEqual(other, []);
  });

  test('the escrow key Decrypt exists only when EscrowKmsKeyArn is given, through Secrets Manager', () => {
    const [wrapId] = functionByEntry(template, 'wrap-and-import');
    const decrypt = grantedStatements(template, wrapId).filter((s) => s.Action.includes('kms:Decrypt'));
    assert.equal(decrypt.length, 1);
    assert.equal(decrypt[0]!.conditional, 'HasEscrowKmsKey');
    assert.deepEqual(decrypt[0]!.Resource, ['']);
    assert.deepEqual(template.Conditions?.HasEscrowKmsKey, { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'EscrowKmsKeyArn' }, ''] }] });
  });

  test('rotate: CreateKey only EXTERNAL, single-Region, with the managed tag and the lineage tag in the request; escrow written only under the prefix', () => {
    const [rotateId] = functionByEntry(template, 'rotate');
    const statements = grantedStatements(template, rotateId);
    const create = statements.filter((s) => s.Action.includes('kms:CreateKey'));
    assert.equal(create.length, 1);
    assert.deepEqual(create[0]!.Condition.StringEquals, { 'aws:RequestTag/kms-reimport:managed': 'true', 'kms:KeyOrigin': 'EXTERNAL', 'kms:MultiRegion': 'false' });
    const custom = parameterDefaults(template, { ManagedTagKey: 'team:reimport' });
    const customCreate = grantedStatements(template, rotateId, custom).find((s) => s.Action.includes('kms:CreateKey'));
    assert.equal(customCreate?.Condition.StringEquals['aws:RequestTag/team:reimport'], 'true', 'the parameter value reaches the request condition');
    const writes = statements.filter((s) => s.Action.some((a) => a === 'secretsmanager:PutSecretValue' || a === 'secretsmanager:CreateSecret'));
    assert.equal(writes.length, 2);
    const decrypt = statements.filter((s) => s.conditional === 'HasEscrowKmsKey');
    assert.deepEqual(decrypt.map((s) => s.Action), [['kms:Decrypt', 'kms:GenerateDataKey'], ['kms:Decrypt']], 'the escrow key through Secrets Manager, only when given');
    assert.equal(decrypt[0]!.Condition.StringEquals['kms:ViaService'], `secretsmanager.${FAKE_REGION}.amazonaws.com`);
  });

  test('rotate with a customer managed escrow key: kms:Decrypt through Secrets Manager in ANY Region on that key\'s ID (a Multi-Region escrow key\'s replicas) and on the listed replica-Region keys, so a replica Region\'s escrow copy is readable', () => {
    const [rotateId] = functionByEntry(template, 'rotate');
    const escrowKey = 'arn:aws:kms:us-east-1:444455556666:key/mrk-1234abcd12ab34cd56ef1234567890ab';
    const statements = grantedStatements(template, rotateId, parameterDefaults(template, { EscrowKmsKeyArn: escrowKey }));
    const replica = statements.find((s) => s.origin.endsWith('#DecryptEscrowReplicasThroughSecretsManager'));
    assert.ok(replica, 'the statement exists under HasEscrowKmsKey');
    assert.equal(replica.conditional, 'HasEscrowKmsKey');
    assert.deepEqual(replica.Action, ['kms:Decrypt']);
    assert.deepEqual(replica.Condition, { StringLike: { 'kms:ViaService': 'secretsmanager.*.amazonaws.com' } });
    // The resource, evaluated as CloudFormation would (Fn::Split, Fn::Select, Fn::Sub with a variable map).
    const sub = (replica.Resource[0] as Json)['Fn::Sub'] as [string, Record<string, Json>];
    const parts = escrowKey.split(':');
    const vars = Object.fromEntries(
      Object.entries(sub[1]).map(([name, v]) => {
        const [index, split] = v['Fn::Select'] as [number, Json];
        assert.deepEqual(split['Fn::Split'][0], ':');
        return [name, parts[index] as string];
      }),
    );
    const resource = sub[0].replace(/\$\{(\w+)\}/g, (_, n: string) => vars[n] as string);
    assert.equal(resource, 'arn:aws:kms:*:444455556666:key/mrk-1234abcd12ab34cd56ef1234567890ab');
    const matches = (arn: string) => new RegExp(`^${resource.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^:]*')}$`).test(arn);
    assert.ok(matches(escrowKey.replace('us-east-1', 'eu-west-1')), 'its replica in eu-west-1');
    assert.ok(!matches('arn:aws:kms:eu-west-1:444455556666:key/mrk-ffffabcd12ab34cd56ef1234567890ab'), 'not another key');

    const listed = statements.filter((s) => s.conditional === 'HasEscrowReplicaKmsKeys');
    assert.equal(listed.length, 1);
    assert.deepEqual(listed[0]!.Action, ['kms:Decrypt']);
    assert.deepEqual(listed[0]!.Condition, { StringLike: { 'kms:ViaService': 'secretsmanager.*.amazonaws.com' } });
    assert.deepEqual(template.Conditions?.HasEscrowReplicaKmsKeys, {
      'Fn::And': [{ Condition: 'HasEscrowKmsKey' }, { 'Fn::Not': [{ 'Fn::Equals': [{ 'Fn::Join': ['', { Ref: 'EscrowReplicaKmsKeyArns' }] }, ''] }] }],
    });
    assert.equal(template.Parameters?.EscrowReplicaKmsKeyArns?.Type, 'CommaDelimitedList');
    // No other function reads escrow in replica Regions.
    for (const [id] of serverlessFunctions(template).filter(([id]) => id !== rotateId)) {
      const other = grantedStatements(template, id, parameterDefaults(template, { EscrowKmsKeyArn: escrowKey }));
      assert.ok(!other.some((s) => s.conditional === 'HasEscrowReplicaKmsKeys' || s.origin.endsWith('#DecryptEscrowReplicasThroughSecretsManager')), id);
    }
  });

  test('every function has a named entry in the expected action table', () => {
    const names = serverlessFunctions(template).map(([, r]) => basename(entryPointOf(r), '.ts')).sort();
    assert.deepEqual(names, Object.keys(EXPECTED_ACTIONS).sort());
  });
});

describe('IAM: each rule fires on a template that breaks it', () => {
  const mutate = (edit: (t: Template) => void): Template => {
    const copy = structuredClone(template);
    edit(copy);
    return copy;
  };
  const inlineStatements = (t: Template, name: string): Json[] =>
    functionByEntry(t, name)[1].Properties.Policies.find((p: Json) => p.Statement).Statement;
  const subDoc = (t: Template, id: string) => t.Resources[id]!.Properties.PolicyDocument;

  test('a "*" action', () => {
    const bad = mutate((t) => inlineStatements(t, 'report').push({ Effect: 'Allow', Action: 'kms:*', Resource: '*' }));
    assert.ok(wildcardActionViolations(bad).some((v) => v.includes('kms:*')));
  });

  test('an extra action on a function', () => {
    const bad = mutate((t) => inlineStatements(t, 'trigger').push({ Effect: 'Allow', Action: 'states:StopExecution', Resource: { Ref: 'RecoveryStateMachine' } }));
    assert.ok(actionSetViolations(bad).some((v) => v.includes('states:StopExecution')));
  });

  test('escrow read by another function, or beyond the prefix', () => {
    const other = mutate((t) =>
      inlineStatements(t, 'report').push({ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${EscrowPrefix}*' } }),
    );
    assert.ok(escrowViolations(other).some((v) => v.includes('may use Secrets Manager')));
    const wide = mutate((t) => {
      const s = inlineStatements(t, 'wrap-and-import').find((st: Json) => [st.Action].flat().includes('secretsmanager:GetSecretValue'));
      s.Resource = { 'Fn::Sub': 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*' };
    });
    assert.ok(escrowViolations(wide).some((v) => v.includes('resource')));
  });

  test('the sweep reading a secret value, or describing secrets beyond the prefix', () => {
    const reads = mutate((t) => {
      const s = inlineStatements(t, 'sweep').find((st: Json) => [st.Action].flat().includes('secretsmanager:DescribeSecret'));
      s.Action = ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'];
    });
    assert.ok(escrowViolations(reads).some((v) => v.includes('GetSecretValue')));
    const wide = mutate((t) => {
      const s = inlineStatements(t, 'sweep').find((st: Json) => [st.Action].flat().includes('secretsmanager:DescribeSecret'));
      s.Resource = { 'Fn::Sub': 'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*' };
    });
    assert.ok(escrowViolations(wide).some((v) => v.includes('resource')));
  });

  test('a KMS statement without the tag condition, or with a hard-coded tag key', () => {
    const untagged = mutate((t) => {
      const doc = subDoc(t, 'ImportParametersPolicy');
      doc['Fn::Sub'] = doc['Fn::Sub'].replace(/,\s*"Condition": \{[^\n]*\}\}/, '');
    });
    assert.ok(kmsScopeViolations(untagged).some((v) => v.includes('does not require tag')));
    const hardCoded = mutate((t) => {
      const doc = subDoc(t, 'VerifyKeysPolicy');
      doc['Fn::Sub'] = doc['Fn::Sub'].replaceAll('aws:ResourceTag/${ManagedTagKey}', 'aws:ResourceTag/kms-reimport:managed');
    });
    assert.ok(kmsScopeViolations(hardCoded).some((v) => v.includes('ManagedTagKey parameter')));
    const inline = mutate((t) => inlineStatements(t, 'report').push({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*' }));
    assert.ok(kmsScopeViolations(inline).length > 0);
  });

  test("verify's Encrypt/Decrypt without the probe condition, or with an unexpected extra condition", () => {
    const unconditioned = mutate((t) => {
      const doc = subDoc(t, 'VerifyKeysPolicy');
      doc['Fn::Sub'] = doc['Fn::Sub'].replace(', "kms:EncryptionContext:kms-reimport:probe": "verify"', '');
    });
    assert.ok(verifyProbeViolations(unconditioned).some((v) => v.includes('SymmetricProbeWithManagedKeys')));
    const otherContext = mutate((t) => {
      const doc = subDoc(t, 'VerifyKeysPolicy');
      doc['Fn::Sub'] = doc['Fn::Sub'].replace('"kms:EncryptionContext:kms-reimport:probe": "verify"', '"kms:EncryptionContext:kms-reimport:probe": "anything"');
    });
    assert.ok(kmsScopeViolations(otherContext).some((v) => v.includes('unexpected condition kms:EncryptionContext:kms-reimport:probe')));
    const onSign = mutate((t) => {
      const doc = subDoc(t, 'VerifyKeysPolicy');
      doc['Fn::Sub'] = doc['Fn::Sub'].replace(/("Sid": "RsaProbeWithManagedKeys",\s*"Effect": "Allow",\s*"Action": \["kms:Encrypt", "kms:Decrypt")\]/, '$1, "kms:Sign"]');
      assert.match(doc['Fn::Sub'], /"kms:Decrypt", "kms:Sign"\]/, 'the mutation applied');
    });
    assert.ok(kmsScopeViolations(onSign).some((v) => v.includes('unexpected condition kms:EncryptionAlgorithm')), 'probe conditions only on Encrypt/Decrypt statements');
  });

  test("rotate's CreateKey without kms:KeyOrigin EXTERNAL, or UpdateAlias on every key, or CreateSecret without the binding tag", () => {
    const noOrigin = mutate((t) => {
      const doc = subDoc(t, 'RotateKeysPolicy');
      doc['Fn::Sub'] = doc['Fn::Sub'].replace(', "kms:KeyOrigin": "EXTERNAL"', '');
    });
    assert.ok(kmsScopeViolations(noOrigin).some((v) => v.includes('CreateManagedExternalKeys')));
    const anyKey = mutate((t) => {
      const doc = subDoc(t, 'RotateKeysPolicy');
      doc['Fn::Sub'] = doc['Fn::Sub'].replace(':alias/*"', ':key/*"');
    });
    assert.ok(kmsScopeViolations(anyKey).some((v) => v.includes('MoveAliases')));
    const unbound = mutate((t) => {
      const s = inlineStatements(t, 'rotate').find((st: Json) => st.Sid === 'CreateBoundEscrowOnly');
      delete s.Condition;
    });
    assert.ok(escrowViolations(unbound).some((v) => v.includes('kms-reimport:key-id')));
  });

  test('Resource "*" on an action that has resource-level permissions', () => {
    const bad = mutate((t) => {
      const s = inlineStatements(t, 'report').find((st: Json) => st.Action === 'sns:Publish');
      s.Resource = '*';
    });
    assert.ok(starResourceViolations(bad).some((v) => v.includes('sns:Publish')));
  });
});
