/**
 * Does a managed key's key policy let the stack's roles use the key? The roles get their KMS
 * permissions from IAM policies (template.yaml), and IAM policies count for a KMS key only when its
 * key policy lets them: the default key policy does, by allowing the account root principal. A
 * custom key policy that names neither the account root nor the roles leaves the service locked
 * out, whatever its IAM policies say, and a recovery fails with AccessDenied at 3 a.m.
 */
import { GetKeyPolicyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { awsErrorName } from '../errors.js';
import { check, couldNotCheck, type DoctorCheck } from './check.js';

/** What the recovery needs the key policy to allow (with the IAM policies of template.yaml). */
export const RECOVERY_ACTIONS = ['kms:DescribeKey', 'kms:GetParametersForImport', 'kms:ImportKeyMaterial'] as const;

interface Statement {
  Effect?: string;
  Principal?: unknown;
  Action?: string | string[];
  NotAction?: string | string[];
  Condition?: unknown;
}

export interface PolicyContext {
  keyId: string;
  account: string;
  partition: string;
  /** The stack's role ARNs (empty without --stack). */
  roleArns: string[];
}

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The AWS principals a statement names; `*` for anyone. */
function principalsOf(statement: Statement): string[] {
  const p = statement.Principal;
  if (p === '*') return ['*'];
  if (typeof p !== 'object' || p === null) return [];
  const aws = (p as { AWS?: string | string[] }).AWS;
  return list(aws);
}

/** IAM-style action match, `*` and `?` wildcards, case-insensitive. */
function actionMatches(pattern: string, action: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(action);
}

function allowsAction(statement: Statement, action: string): boolean {
  if (statement.NotAction !== undefined) return !list(statement.NotAction).some((p) => actionMatches(p, action));
  return list(statement.Action).some((p) => actionMatches(p, action));
}

/** Judges a key policy document (pure: the GetKeyPolicy answer and who must be let in). */
export function judgeKeyPolicy(policyText: string, ctx: PolicyContext): DoctorCheck {
  const subject = ctx.keyId;
  const fix =
    `add a statement that allows the account root principal (arn:${ctx.partition}:iam::${ctx.account}:root) ${RECOVERY_ACTIONS.join(', ')} (the default key policy allows it kms:*), ` +
    `so that the stack's IAM policies count: aws kms get-key-policy --key-id ${ctx.keyId} --policy-name default, edit, then aws kms put-key-policy --key-id ${ctx.keyId} --policy-name default --policy file://policy.json`;
  let statements: Statement[];
  try {
    const parsed = JSON.parse(policyText) as { Statement?: Statement | Statement[] };
    statements = parsed.Statement === undefined ? [] : Array.isArray(parsed.Statement) ? parsed.Statement : [parsed.Statement];
  } catch {
    return check('key-policy', subject, 'warn', 'the key policy is not JSON doctor can read, so whether it lets the stack in is unknown', `aws kms get-key-policy --key-id ${ctx.keyId} --policy-name default`);
  }
  const roots = new Set([`arn:${ctx.partition}:iam::${ctx.account}:root`, ctx.account]);
  const roles = new Set(ctx.roleArns);
  const allows = statements.filter((s) => s.Effect === 'Allow');
  const denies = statements.filter((s) => s.Effect === 'Deny');
  const grants = (who: (p: string) => boolean) =>
    allows.filter((s) => principalsOf(s).some(who)).filter((s) => RECOVERY_ACTIONS.every((a) => allowsAction(s, a)));
  const rootGrant = grants((p) => roots.has(p));
  const roleGrants = ctx.roleArns.length > 0 ? grants((p) => roles.has(p)) : [];
  const denyHits = denies.filter((s) => principalsOf(s).some((p) => p === '*' || roots.has(p) || roles.has(p)) && RECOVERY_ACTIONS.some((a) => allowsAction(s, a)));
  const namesRoot = allows.some((s) => principalsOf(s).some((p) => roots.has(p)));
  if (rootGrant.length === 0 && roleGrants.length === 0) {
    const who = ctx.roleArns.length > 0 ? 'neither the account root nor any of the stack\'s roles' : 'no account root principal (run doctor with --stack to check the stack\'s roles by name)';
    const partly = namesRoot ? ' (it names the account root, but not for all of those actions)' : '';
    return check('key-policy', subject, 'fail', `the key policy lets ${who} use ${RECOVERY_ACTIONS.join(', ')}${partly}: no IAM policy can give the service access, recovery would fail with AccessDenied`, fix);
  }
  const how = rootGrant.length > 0 ? 'allows the account root principal, so the stack\'s IAM policies count' : `names the stack's role(s) ${[...new Set(roleGrants.flatMap(principalsOf).filter((p) => roles.has(p)))].join(', ')} directly`;
  const conditional = [...rootGrant, ...roleGrants].every((s) => s.Condition !== undefined);
  if (denyHits.length > 0 || conditional) {
    const why = denyHits.length > 0 ? `it also has ${denyHits.length} Deny statement(s) that may apply to the service` : 'every statement that lets it in has a Condition';
    return check('key-policy', subject, 'warn', `the key policy ${how}, but ${why}; doctor does not evaluate conditions`, `read it: aws kms get-key-policy --key-id ${ctx.keyId} --policy-name default`);
  }
  return check('key-policy', subject, 'ok', `the key policy ${how}`);
}

/** GetKeyPolicy, then judgeKeyPolicy. */
export async function checkKeyPolicy(kms: Pick<KMSClient, 'send'>, ctx: PolicyContext): Promise<DoctorCheck> {
  try {
    const out = await kms.send(new GetKeyPolicyCommand({ KeyId: ctx.keyId, PolicyName: 'default' }));
    if (out?.Policy === undefined) return check('key-policy', ctx.keyId, 'warn', 'GetKeyPolicy returned no policy', `aws kms get-key-policy --key-id ${ctx.keyId} --policy-name default`);
    return judgeKeyPolicy(out.Policy, ctx);
  } catch (e) {
    if (awsErrorName(e) === 'AccessDeniedException') {
      return check(
        'key-policy',
        ctx.keyId,
        'warn',
        'GetKeyPolicy was denied: the key policy may not let this identity (or the account root) in, so it may not let the service in either',
        `run doctor as an identity the key policy allows (kms:GetKeyPolicy), or ask the key's owner to check it`,
      );
    }
    return couldNotCheck('key-policy', ctx.keyId, 'GetKeyPolicy', e, 'kms:GetKeyPolicy');
  }
}
