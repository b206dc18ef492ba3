/**
 * Reads the IAM permissions template.yaml grants, the way SAM and IAM will: each function's or
 * state machine's Policies (inline statements, managed policies referenced with !Ref whose
 * documents are built with !Sub, !If branches, SAM policy templates) expanded into plain
 * statements. Shared by template-iam.test.ts and build.test.ts. Not a test file itself.
 */
import { parameterDefaults, resolveSub, resolveValue, type Template, type Json } from './template-load.js';

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

export function statementsOf(document: Json, origin: string, raw: string, values: Record<string, string>, conditional?: string): Statement[] {
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
export function managedPolicyDocument(template: Template, id: string, values: Record<string, string>): { document: Json; raw: string } {
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

