/**
 * The IAM roles template.yaml gives its Lambda functions, rendered as a real account would hold
 * them: for one account, Region and set of parameters, each AWS::Serverless::Function's Policies
 * (managed policies referenced with !Ref, inline Statements, the SAM policy templates the
 * template uses, !Sub, !If on template Conditions) become plain IAM policy documents. One
 * principal per function, each with its own access key id, so that the local endpoint can
 * enforce them (`startLocalEndpoint({ iam: { principals } })`, `kms-reimport local --iam-template`).
 *
 * SAM also attaches AWSLambdaBasicExecutionRole (CloudWatch Logs) and, with Tracing: Active,
 * AWSXrayWriteOnlyAccess to every function role; neither grants anything the local endpoint
 * serves, so they are left out.
 */
import { readFileSync } from 'node:fs';
import type { IamPrincipal, PolicyDocument } from './authorizer.js';
import { partitionOf } from '../partitions.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- CloudFormation documents are untyped JSON. */
type Json = any;

export interface RenderOptions {
  account: string;
  region: string;
  /** Partition of the Region (default from the Region: cn-* aws-cn, us-gov-* aws-us-gov, eusc-* aws-eusc, else aws). */
  partition?: string;
  /** Template parameters; those not given take their Default. */
  parameters?: Record<string, string>;
  /** Stack name, used in resource names and role ARNs (default `kms-reimport`). */
  stackName?: string;
}

export interface TemplateRole {
  /** Logical ID of the function (`InspectFunction`). */
  functionId: string;
  /** The access key id the endpoint maps to this role. */
  accessKeyId: string;
  principal: IamPrincipal;
}

/** The access key id of a function's role: `ASIA` + the function's logical ID, upper case (never 12 digits, so never taken as an account). */
export function roleAccessKeyId(functionId: string): string {
  return `ASIA${functionId.replace(/[^A-Za-z0-9]/g, '').toUpperCase()}`;
}

export async function loadTemplateFile(path: string): Promise<Json> {
  const { yamlParse } = (await import('yaml-cfn')) as { yamlParse: (text: string) => Json };
  return yamlParse(readFileSync(path, 'utf8'));
}

/** Renders every function's role. `template` is the parsed template (yaml-cfn's yamlParse). */
export function renderTemplateRoles(template: Json, options: RenderOptions): TemplateRole[] {
  const partition = options.partition ?? partitionOf(options.region);
  const stack = options.stackName ?? 'kms-reimport';
  const values: Record<string, string> = {
    'AWS::Partition': partition,
    'AWS::Region': options.region,
    'AWS::AccountId': options.account,
    'AWS::StackName': stack,
    'AWS::URLSuffix': partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com',
  };
  for (const [name, p] of Object.entries<Json>(template.Parameters ?? {})) {
    if (p.Default !== undefined) values[name] = String(p.Default);
  }
  Object.assign(values, options.parameters ?? {});
  const resources: Record<string, Json> = template.Resources ?? {};

  /** The physical name CloudFormation would give a resource without an explicit name. */
  const physical = (id: string): string => `${stack}-${id}`;
  const arnOf = (id: string): string => {
    const r = resources[id];
    if (!r) throw new Error(`template: no resource ${id}`);
    const arn = (service: string, resource: string, global = false) => `arn:${partition}:${service}:${global ? '' : options.region}:${options.account}:${resource}`;
    switch (r.Type) {
      case 'AWS::Serverless::StateMachine':
      case 'AWS::StepFunctions::StateMachine':
        return arn('states', `stateMachine:${physical(id)}`);
      case 'AWS::Serverless::Function':
      case 'AWS::Lambda::Function':
        return arn('lambda', `function:${physical(id)}`);
      case 'AWS::SNS::Topic':
        return arn('sns', physical(id));
      case 'AWS::DynamoDB::Table':
      case 'AWS::Serverless::SimpleTable':
        return arn('dynamodb', `table/${r.Properties?.TableName ? resolve(r.Properties.TableName) : physical(id)}`);
      case 'AWS::Logs::LogGroup':
        return arn('logs', `log-group:${r.Properties?.LogGroupName ? resolve(r.Properties.LogGroupName) : physical(id)}:*`);
      case 'AWS::IAM::ManagedPolicy':
        return arn('iam', `policy/${physical(id)}`, true);
      default:
        throw new Error(`template: cannot name the ARN of ${id} (${r.Type}); teach local/iam/template-roles.ts`);
    }
  };
  /** What !Ref returns for a resource (an ARN for these types, a name for functions and tables). */
  const refOf = (id: string): string => {
    const type = resources[id]?.Type;
    if (type === 'AWS::Serverless::Function' || type === 'AWS::Lambda::Function' || type === 'AWS::DynamoDB::Table' || type === 'AWS::Serverless::SimpleTable') {
      return arnOf(id).split(/[:/]/).at(-1) as string;
    }
    return arnOf(id);
  };

  const sub = (text: string, locals: Record<string, string> = {}): string =>
    text.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
      if (name in locals) return locals[name] as string;
      if (name in values) return values[name] as string;
      if (name.endsWith('.Arn') && resources[name.slice(0, -4)]) return arnOf(name.slice(0, -4));
      if (resources[name]) return refOf(name);
      throw new Error(`template: !Sub refers to \${${name}}, which has no value here`);
    });

  const condition = (name: string): boolean => {
    const c = template.Conditions?.[name];
    if (c === undefined) throw new Error(`template: no condition ${name}`);
    return Boolean(evaluate(c));
  };
  function evaluate(value: Json): unknown {
    if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 1) {
      const [key] = Object.keys(value) as [string];
      const arg = value[key];
      switch (key) {
        case 'Fn::Equals':
          return String(resolve(arg[0])) === String(resolve(arg[1]));
        case 'Fn::Not':
          return !evaluate(arg[0]);
        case 'Fn::And':
          return arg.every((a: Json) => evaluate(a));
        case 'Fn::Or':
          return arg.some((a: Json) => evaluate(a));
        case 'Condition':
          return condition(arg);
      }
    }
    return resolve(value);
  }

  const NO_VALUE = Symbol('AWS::NoValue');
  function resolve(value: Json): Json {
    if (Array.isArray(value)) return value.map(resolve).filter((v) => v !== NO_VALUE);
    if (!value || typeof value !== 'object') return value;
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const [key] = keys as [string];
      const arg = value[key];
      switch (key) {
        case 'Ref':
          if (arg === 'AWS::NoValue') return NO_VALUE;
          // A CommaDelimitedList parameter is a list (of one empty string when empty, as CloudFormation gives it).
          if (arg in values && template.Parameters?.[arg]?.Type === 'CommaDelimitedList') return String(values[arg]).split(',');
          if (arg in values) return values[arg];
          return refOf(arg);
        case 'Fn::Sub':
          if (typeof arg === 'string') return sub(arg);
          return sub(arg[0], Object.fromEntries(Object.entries<Json>(arg[1] ?? {}).map(([k, v]) => [k, String(resolve(v))])));
        case 'Fn::GetAtt': {
          const [id, attribute] = Array.isArray(arg) ? arg : String(arg).split('.');
          if (attribute === 'Arn') return arnOf(id);
          if (attribute === 'TopicName' || attribute === 'Name') return physical(id);
          throw new Error(`template: !GetAtt ${id}.${attribute} is not known here`);
        }
        case 'Fn::If':
          return resolve(condition(arg[0]) ? arg[1] : arg[2]);
        case 'Fn::Join':
          return resolve(arg[1]).join(arg[0]);
        case 'Fn::Split':
          return String(resolve(arg[1])).split(arg[0]);
        case 'Fn::Select':
          return resolve(arg[1])[Number(resolve(arg[0]))];
      }
    }
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) {
      const r = resolve(v);
      if (r !== NO_VALUE) out[k] = r;
    }
    return out;
  }

  /** SAM policy templates, as SAM expands them (only those the template uses; others are refused). */
  const policyTemplate = (name: string, args: Json): PolicyDocument => {
    const a = resolve(args);
    const statement = (Action: string[], Resource: string | string[]) => ({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action, Resource }] });
    switch (name) {
      case 'LambdaInvokePolicy':
        return statement(['lambda:InvokeFunction'], `arn:${partition}:lambda:${options.region}:${options.account}:function:${a.FunctionName}*`);
      case 'SNSPublishMessagePolicy':
        return statement(['sns:Publish'], `arn:${partition}:sns:${options.region}:${options.account}:${a.TopicName}`);
      case 'DynamoDBCrudPolicy': {
        const table = `arn:${partition}:dynamodb:${options.region}:${options.account}:table/${a.TableName}`;
        return statement(
          ['dynamodb:GetItem', 'dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:Scan', 'dynamodb:Query', 'dynamodb:UpdateItem', 'dynamodb:BatchWriteItem', 'dynamodb:BatchGetItem', 'dynamodb:DescribeTable', 'dynamodb:ConditionCheckItem'],
          [table, `${table}/index/*`],
        );
      }
      default:
        throw new Error(`template: SAM policy template ${name} is not known to local/iam/template-roles.ts; add its expansion from the SAM policy templates`);
    }
  };

  const documentsOf = (policies: Json, functionId: string): { name: string; document: PolicyDocument }[] => {
    const out: { name: string; document: PolicyDocument }[] = [];
    const visit = (policy: Json, name: string): void => {
      if (typeof policy === 'string') throw new Error(`${functionId}: a managed policy by name or ARN (${policy}) cannot be rendered; reference an AWS::IAM::ManagedPolicy of the template`);
      if (policy.Statement) {
        out.push({ name, document: { Version: '2012-10-17', ...resolve(policy) } });
      } else if (policy.Ref) {
        const resource = resources[policy.Ref];
        if (resource?.Type !== 'AWS::IAM::ManagedPolicy') throw new Error(`${functionId}: !Ref ${policy.Ref} is not an AWS::IAM::ManagedPolicy of the template`);
        const document = resolve(resource.Properties.PolicyDocument);
        out.push({ name: policy.Ref, document: typeof document === 'string' ? JSON.parse(document) : document });
      } else if (policy['Fn::If']) {
        const [cond, whenTrue, whenFalse] = policy['Fn::If'];
        const branch = condition(cond) ? whenTrue : whenFalse;
        if (branch?.Ref !== 'AWS::NoValue') visit(branch, `${name}:if(${cond})`);
      } else {
        const keys = Object.keys(policy);
        if (keys.length !== 1) throw new Error(`${functionId}: cannot read policy ${JSON.stringify(policy)}`);
        out.push({ name: `${name}:${keys[0]}`, document: policyTemplate(keys[0] as string, policy[keys[0] as string]) });
      }
    };
    const list = Array.isArray(policies) ? policies : policies === undefined ? [] : [policies];
    list.forEach((p: Json, i: number) => visit(p, `${functionId}.Policies[${i}]`));
    return out;
  };

  return Object.entries(resources)
    .filter(([, r]) => r.Type === 'AWS::Serverless::Function')
    .map(([functionId, r]) => {
      if (r.Properties?.Role) throw new Error(`${functionId} sets Role: its policies are not in the template`);
      const roleName = `${stack}-${functionId}Role`;
      const principal: IamPrincipal = {
        arn: `arn:${partition}:iam::${options.account}:role/${roleName}`,
        account: options.account,
        callerArn: `arn:${partition}:sts::${options.account}:assumed-role/${roleName}/${physical(functionId)}`,
        policies: documentsOf(r.Properties?.Policies, functionId),
      };
      return { functionId, accessKeyId: roleAccessKeyId(functionId), principal };
    });
}

/** The roles as the endpoint's `iam.principals` (access key id → principal). */
export function principalsOf(roles: TemplateRole[]): Record<string, IamPrincipal> {
  return Object.fromEntries(roles.map((r) => [r.accessKeyId, r.principal]));
}
