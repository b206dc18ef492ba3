/**
 * Shared by the template, ASL, IAM and build tests: loads template.yaml (with CloudFormation's
 * short tags) and the state machine definition, and resolves the few intrinsics those tests
 * need. Not a test file itself.
 */
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { yamlParse } from 'yaml-cfn';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/* eslint-disable @typescript-eslint/no-explicit-any -- CloudFormation documents are untyped JSON. */
export type Json = any;

export interface CfnResource {
  Type: string;
  Condition?: string;
  Metadata?: Json;
  Properties?: Json;
  DependsOn?: Json;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
}

export interface Template {
  AWSTemplateFormatVersion?: string;
  Transform?: string | string[];
  Description?: string;
  Parameters: Record<string, Json>;
  Conditions?: Record<string, Json>;
  Globals?: Json;
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, Json>;
}

export const TEMPLATE_PATH = join(repoRoot, 'template.yaml');

export function loadTemplate(): Template {
  return yamlParse(readFileSync(TEMPLATE_PATH, 'utf8')) as Template;
}

export function resourcesOfType(template: Template, type: string): Array<[string, CfnResource]> {
  return Object.entries(template.Resources).filter(([, r]) => r.Type === type);
}

export function serverlessFunctions(template: Template): Array<[string, CfnResource]> {
  return resourcesOfType(template, 'AWS::Serverless::Function');
}

/**
 * The handler file of a function (e.g. `functions/inspect.ts`), from its Handler: the Makefile's
 * target writes functions/<name>.ts as <name>.mjs at the artifact root, so Handler is <name>.handler.
 */
export function entryPointOf(resource: CfnResource): string {
  const handler = resource.Properties?.Handler;
  const name = typeof handler === 'string' ? /^([a-z0-9-]+)\.handler$/.exec(handler)?.[1] : undefined;
  if (!name) throw new Error(`expected a Handler of the form <name>.handler, got ${JSON.stringify(handler)}`);
  return `functions/${name}.ts`;
}

/** The Makefile's build-<LogicalId> targets (what `sam build` runs for BuildMethod: makefile) → the handler name each builds. */
export function makefileTargets(): Map<string, string> {
  const text = readFileSync(join(dirname(TEMPLATE_PATH), 'Makefile'), 'utf8');
  const targets = new Map<string, string>();
  for (const m of text.matchAll(/^build-(\w+):\n\t\$\(BUILD\) ([a-z0-9-]+)$/gm)) targets.set(m[1]!, m[2]!);
  return targets;
}

/** The function resource whose entry point is functions/<name>.ts. */
export function functionByEntry(template: Template, name: string): [string, CfnResource] {
  const found = serverlessFunctions(template).find(([, r]) => entryPointOf(r) === `functions/${name}.ts`);
  if (!found) throw new Error(`template.yaml has no function built from functions/${name}.ts`);
  return found;
}

/** Values used to resolve pseudo parameters and template parameters in !Sub strings. */
export const FAKE_ACCOUNT = '111122223333';
export const FAKE_REGION = 'us-east-1';

export function parameterDefaults(template: Template, overrides: Record<string, string> = {}): Record<string, string> {
  const values: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': FAKE_REGION,
    'AWS::AccountId': FAKE_ACCOUNT,
    'AWS::StackName': 'kms-reimport-test',
  };
  for (const [name, p] of Object.entries(template.Parameters ?? {})) {
    if (p.Default !== undefined) values[name] = String(p.Default);
  }
  return { ...values, ...overrides };
}

/** Resolves `${Name}` in a !Sub string with the given values; unknown names are an error. */
export function resolveSub(text: string, values: Record<string, string>): string {
  return text.replace(/\$\{([^}!]+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`!Sub refers to \${${name}}, which has no value here`);
    return value;
  });
}

/**
 * Resolves what can be resolved for assertions: `Fn::Sub` strings (with the given values) and
 * `Ref` to parameters or pseudo parameters; `Ref`/`Fn::GetAtt` to resources stay symbolic as
 * `ref:<Id>` / `getatt:<Id>.<Attr>`.
 */
export function resolveValue(value: Json, values: Record<string, string>): Json {
  if (Array.isArray(value)) return value.map((v) => resolveValue(v, values));
  if (value && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const [key] = keys as [string];
      const arg = value[key];
      if (key === 'Fn::Sub' && typeof arg === 'string') return resolveSub(arg, values);
      if (key === 'Ref') return values[arg] ?? `ref:${arg}`;
      if (key === 'Fn::GetAtt') return `getatt:${Array.isArray(arg) ? arg.join('.') : arg}`;
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveValue(v, values)]));
  }
  return value;
}

export const ASL_PATH = join(repoRoot, 'statemachine', 'recovery.asl.json');

export function loadAslText(): string {
  return readFileSync(ASL_PATH, 'utf8');
}

/** Every `${Name}` placeholder in the ASL text. */
export function aslPlaceholders(text: string): Set<string> {
  return new Set([...text.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1] as string));
}

/** Fake ARNs (and table names) for the DefinitionSubstitutions, the way SAM would substitute them at deploy time. */
export function fakeSubstitutions(names: Iterable<string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    out[name] = name.endsWith('TopicArn')
      ? `arn:aws:sns:${FAKE_REGION}:${FAKE_ACCOUNT}:kms-reimport-test-${name.replace(/Arn$/, '')}`
      : name.endsWith('TableName')
        ? `kms-reimport-test-${name.replace(/Name$/, '')}`
        : `arn:aws:lambda:${FAKE_REGION}:${FAKE_ACCOUNT}:function:kms-reimport-test-${name.replace(/FunctionArn$/, '')}`;
  }
  return out;
}

/** The ASL as Step Functions receives it after DefinitionSubstitutions. */
export function loadSubstitutedAsl(substitutions?: Record<string, string>): Json {
  const text = loadAslText();
  const values = substitutions ?? fakeSubstitutions(aslPlaceholders(text));
  return JSON.parse(text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no substitution for \${${name}}`);
    return value;
  }));
}

/** The SAM JSON schema shared by the project (../shared/schemas), if present. */
export function sharedSchemaPath(): string | undefined {
  const path = resolve(repoRoot, '..', 'shared', 'schemas', 'sam.schema.json');
  return existsSync(path) ? path : undefined;
}
