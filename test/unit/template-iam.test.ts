/**
 * Least privilege in template.yaml, read the way SAM and IAM will read it: each function's
 * Policies (inline statements, managed policies referenced with !Ref whose documents are built
 * with !Sub, !If branches, SAM policy templates) expanded into plain statements, then checked.
 * The checks are functions returning violations so that a test can prove each one fires on a
 * template that breaks its rule.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  loadTemplate,
  functionByEntry,
  parameterDefaults,
  resolveSub,
  resolveValue,
  serverlessFunctions,
  entryPointOf,
  FAKE_ACCOUNT,
  FAKE_REGION,
  type Template,
  type Json,
} from './template-load.js';
import { basename } from 'node:path';

export interface Statement {
  /** Where it came from, for messages. */
  origin: string;
  /** True when the statement only exists under a template Condition (!If). */
  conditional?: string;
  Effect: string;
  Action: string[];
  Resource: Json[];
  Condition?: Json;
  /** The raw (unresolved) document text, for checks on how a value is built. */
  raw: string;
}

const list = (v: Json): Json[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

function statementsOf(document: Json, origin: string, raw: string, values: Record<string, string>, conditional?: string): Statement[] {
  return list(document.Statement).map((s: Json, i: number) => {
    if (s.NotAction || s.NotResource) throw new Error(`${origin}: statement ${i} uses NotAction/NotResource`);
    return {
      origin: `${origin}#${s.Sid ?? i}`,
      ...(conditional ? { conditional } : {}),
      Effect: s.Effect,
      Action: list(s.Action),
      Resource: list(resolveValue(s.Resource, values)),
      ...(s.Condition ? { Condition: resolveValue(s.Condition, values) } : {}),
      raw,
    };
  });
}

/** The policy document of an AWS::IAM::ManagedPolicy, resolving a !Sub JSON string. */
function managedPolicyDocument(template: Template, id: string, values: Record<string, string>): { document: Json; raw: string } {
  const resource = template.Resources[id];
  if (resource?.Type !== 'AWS::IAM::ManagedPolicy') throw new Error(`${id} is not an AWS::IAM::ManagedPolicy`);
  const doc = resource.Properties.PolicyDocument;
  if (typeof doc?.['Fn::Sub'] === 'string') {
    const raw = doc['Fn::Sub'] as string;
    return { document: JSON.parse(resolveSub(raw, values)), raw };
  }
  return { document: doc, raw: JSON.stringify(doc) };
}

/** SAM policy templates this template uses, expanded as SAM documents them. */
function policyTemplate(name: string, args: Json, values: Record<string, string>, origin: string): Statement[] {
  const raw = JSON.stringify({ [name]: args });
  switch (name) {
    case 'LambdaInvokePolicy':
      return [{ origin, Effect: 'Allow', Action: ['lambda:InvokeFunction'], Resource: [resolveValue(args.FunctionName, values)], raw }];
    case 'SNSPublishMessagePolicy':
      return [{ origin, Effect: 'Allow', Action: ['sns:Publish'], Resource: [resolveValue(args.TopicName, values)], raw }];
    default:
      throw new Error(`${origin}: SAM policy template ${name} is not known to this test; expand it here before using it`);
  }
}

/** Every statement a SAM function or state machine's Policies grant (SAM's own managed policies aside). */
export function grantedStatements(template: Template, resourceId: string, values = parameterDefaults(template)): Statement[] {
  const resource = template.Resources[resourceId];
  if (!resource) throw new Error(`no resource ${resourceId}`);
  if (resource.Properties.Role) throw new Error(`${resourceId} sets Role: its policies are not checked here`);
  const out: Statement[] = [];
  const visit = (policy: Json, origin: string, conditional?: string): void => {
    if (typeof policy === 'string') throw new Error(`${origin}: managed policy by name (${policy}) is not allowed`);
    if (policy.Statement) {
      out.push(...statementsOf(policy, origin, JSON.stringify(policy), values, conditional));
    } else if (policy.Ref) {
      const { document, raw } = managedPolicyDocument(template, policy.Ref, values);
      out.push(...statementsOf(document, `${origin}:${policy.Ref}`, raw, values, conditional));
    } else if (policy['Fn::If']) {
      const [condition, whenTrue, whenFalse] = policy['Fn::If'];
      for (const branch of [whenTrue, whenFalse]) {
        if (branch?.Ref === 'AWS::NoValue') continue;
        visit(branch, `${origin}:if(${condition})`, condition);
      }
    } else {
      const keys = Object.keys(policy);
      if (keys.length !== 1) throw new Error(`${origin}: cannot read policy ${JSON.stringify(policy)}`);
      out.push(...policyTemplate(keys[0] as string, policy[keys[0] as string], values, origin));
    }
  };
  list(resource.Properties.Policies).forEach((p, i) => visit(p, `${resourceId}.Policies[${i}]`));
  return out;
}

const managedKeys = `arn:aws:kms:${FAKE_REGION}:${FAKE_ACCOUNT}:key/*`;

/** The actions each function needs, and nothing more (kms:Decrypt on the escrow key only with HasEscrowKmsKey). */
export const EXPECTED_ACTIONS: Record<string, string[]> = {
  trigger: ['states:StartExecution'],
  sweep: ['kms:DescribeKey', 'kms:ListKeyRotations', 'kms:ListResourceTags', 'states:StartExecution', 'tag:GetResources'],
  inspect: ['kms:DescribeKey', 'kms:ListKeyRotations', 'kms:ListResourceTags'],
  'get-import-parameters': ['kms:GetParametersForImport'],
  'wrap-and-import': ['kms:Decrypt', 'kms:DescribeKey', 'kms:ImportKeyMaterial', 'secretsmanager:GetSecretValue'],
  verify: ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateMac', 'kms:Sign', 'kms:Verify', 'kms:VerifyMac'],
  report: ['sns:Publish'],
};

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
export function wildcardActionViolations(template: Template): string[] {
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
export function actionSetViolations(template: Template): string[] {
  const out: string[] = [];
  for (const [name, expected] of Object.entries(EXPECTED_ACTIONS)) {
    const [id] = functionByEntry(template, name);
    const actual = [...new Set(grantedStatements(template, id).flatMap((s) => s.Action))].sort();
    if (JSON.stringify(actual) !== JSON.stringify(expected)) out.push(`${id}: ${JSON.stringify(actual)} instead of ${JSON.stringify(expected)}`);
  }
  return out;
}

/** Rule: escrow is readable only by wrap-and-import, only under the escrow prefix. */
export function escrowViolations(template: Template): string[] {
  const out: string[] = [];
  const [wrapId] = functionByEntry(template, 'wrap-and-import');
  const prefix = parameterDefaults(template).EscrowPrefix;
  for (const [owner, statements] of allStatements(template)) {
    for (const s of statements.filter((st) => st.Action.some((a) => a.toLowerCase().startsWith('secretsmanager:')))) {
      if (owner !== wrapId) out.push(`${s.origin}: ${owner} may use Secrets Manager`);
      if (JSON.stringify(s.Action) !== '["secretsmanager:GetSecretValue"]') out.push(`${s.origin}: ${s.Action.join(',')}`);
      const expected = `arn:aws:secretsmanager:${FAKE_REGION}:${FAKE_ACCOUNT}:secret:${prefix}*`;
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
export function kmsScopeViolations(template: Template): string[] {
  const out: string[] = [];
  const tagKey = parameterDefaults(template).ManagedTagKey;
  for (const [, statements] of allStatements(template)) {
    for (const s of statements.filter((st) => st.Action.some((a) => a.startsWith('kms:')))) {
      const isEscrowDecrypt =
        s.conditional === 'HasEscrowKmsKey' &&
        JSON.stringify(s.Action) === '["kms:Decrypt"]' &&
        s.raw.includes('"Resource":{"Ref":"EscrowKmsKeyArn"}');
      if (isEscrowDecrypt) {
        const via = s.Condition?.StringEquals?.['kms:ViaService'];
        if (via !== `secretsmanager.${FAKE_REGION}.amazonaws.com`) out.push(`${s.origin}: escrow-key Decrypt must require kms:ViaService secretsmanager`);
        continue;
      }
      if (JSON.stringify(s.Resource) !== JSON.stringify([managedKeys])) out.push(`${s.origin}: resource ${JSON.stringify(s.Resource)} is not ${managedKeys}`);
      const condition = s.Condition?.StringEquals ?? {};
      if (JSON.stringify(condition) !== JSON.stringify({ [`aws:ResourceTag/${tagKey}`]: 'true' })) {
        out.push(`${s.origin}: condition ${JSON.stringify(s.Condition)} does not require tag ${tagKey}=true`);
      }
      if (Object.keys(s.Condition ?? {}).length !== 1) out.push(`${s.origin}: unexpected extra conditions`);
      if (!s.raw.includes('aws:ResourceTag/${ManagedTagKey}')) out.push(`${s.origin}: the tag condition must be built from the ManagedTagKey parameter`);
    }
  }
  return out;
}

/** Rule: Resource "*" only where the action has no resource-level permissions, each listed here with why. */
export const STAR_RESOURCE_ALLOWED: Record<string, string> = {
  'tag:GetResources': 'the Resource Groups Tagging API has no resource-level permissions',
  'logs:CreateLogDelivery': 'CloudWatch Logs log delivery (state machine logging) has no resource-level permissions',
  'logs:GetLogDelivery': 'idem',
  'logs:UpdateLogDelivery': 'idem',
  'logs:DeleteLogDelivery': 'idem',
  'logs:ListLogDeliveries': 'idem',
  'logs:PutResourcePolicy': 'idem',
  'logs:DescribeResourcePolicies': 'idem',
  'logs:DescribeLogGroups': 'idem',
};

export function starResourceViolations(template: Template): string[] {
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

  test('secretsmanager:GetSecretValue only in wrap-and-import, only on the escrow prefix', () => {
    assert.deepEqual(escrowViolations(template), []);
    const [wrapId] = functionByEntry(template, 'wrap-and-import');
    assert.ok(grantedStatements(template, wrapId).some((s) => s.Action.includes('secretsmanager:GetSecretValue')));
  });

  test('every KMS action carries the managed-tag condition (escrow-key Decrypt via Secrets Manager aside)', () => {
    assert.deepEqual(kmsScopeViolations(template), []);
    const custom = parameterDefaults(template, { ManagedTagKey: 'team:reimport' });
    const [inspectId] = functionByEntry(template, 'inspect');
    const [statement] = grantedStatements(template, inspectId, custom);
    assert.deepEqual(statement?.Condition, { StringEquals: { 'aws:ResourceTag/team:reimport': 'true' } }, 'the parameter value reaches the condition');
  });

  test('Resource "*" only for actions without resource-level permissions', () => {
    assert.deepEqual(starResourceViolations(template), []);
  });

  test('the state machine may invoke only the five step functions and publish only to the topic', () => {
    const statements = grantedStatements(template, 'RecoveryStateMachine');
    const invoke = statements.filter((s) => s.Action.includes('lambda:InvokeFunction')).flatMap((s) => s.Resource).sort();
    const steps = ['inspect', 'get-import-parameters', 'wrap-and-import', 'verify', 'report'].map((n) => `ref:${functionByEntry(template, n)[0]}`).sort();
    assert.deepEqual(invoke, steps);
    const publish = statements.filter((s) => s.Action.includes('sns:Publish')).flatMap((s) => s.Resource);
    assert.deepEqual(publish, ['getatt:OutcomeTopic.TopicName']);
    const other = statements.flatMap((s) => s.Action).filter((a) => !a.startsWith('logs:') && a !== 'lambda:InvokeFunction' && a !== 'sns:Publish');
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
      const s = inlineStatements(t, 'wrap-and-import').find((st: Json) => st.Action === 'secretsmanager:GetSecretValue');
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
      doc['Fn::Sub'] = doc['Fn::Sub'].replace('aws:ResourceTag/${ManagedTagKey}', 'aws:ResourceTag/kms-reimport:managed');
    });
    assert.ok(kmsScopeViolations(hardCoded).some((v) => v.includes('ManagedTagKey parameter')));
    const inline = mutate((t) => inlineStatements(t, 'report').push({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*' }));
    assert.ok(kmsScopeViolations(inline).length > 0);
  });

  test('Resource "*" on an action that has resource-level permissions', () => {
    const bad = mutate((t) => {
      const s = inlineStatements(t, 'report').find((st: Json) => st.Action === 'sns:Publish');
      s.Resource = '*';
    });
    assert.ok(starResourceViolations(bad).some((v) => v.includes('sns:Publish')));
  });
});
