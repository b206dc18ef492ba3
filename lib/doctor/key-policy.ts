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

/**
 * What every recovery needs the key policy to allow (with the IAM policies of template.yaml): read
 * the key, its tags and its materials (inspect), then import. The verification after the import
 * needs more, by key usage (verificationActions).
 */
export const RECOVERY_ACTIONS = ['kms:DescribeKey', 'kms:ListResourceTags', 'kms:ListKeyRotations', 'kms:GetParametersForImport', 'kms:ImportKeyMaterial'] as const;

/**
 * The round trip lib/kms/verify.ts makes after an import, as template.yaml grants it to the
 * functions: Encrypt/Decrypt, Sign/Verify, GenerateMac/VerifyMac, or GetPublicKey/DeriveSharedSecret.
 * Without the key usage it is taken from the key spec where the spec decides it (symmetric, HMAC);
 * an RSA or ECC key of unknown usage gets none (doctor then checks the common actions only).
 */
function verificationActions(keySpec: string | undefined, keyUsage: string | undefined): string[] {
  const usage = keyUsage ?? (keySpec === 'SYMMETRIC_DEFAULT' ? 'ENCRYPT_DECRYPT' : keySpec?.startsWith('HMAC_') ? 'GENERATE_VERIFY_MAC' : undefined);
  switch (usage) {
    case 'ENCRYPT_DECRYPT':
      return ['kms:Encrypt', 'kms:Decrypt'];
    case 'SIGN_VERIFY':
      return ['kms:Sign', 'kms:Verify'];
    case 'GENERATE_VERIFY_MAC':
      return ['kms:GenerateMac', 'kms:VerifyMac'];
    case 'KEY_AGREEMENT':
      return ['kms:GetPublicKey', 'kms:DeriveSharedSecret'];
    default:
      return [];
  }
}

/** Every action a recovery of this key sends: RECOVERY_ACTIONS, then the verification of its key usage. */
export function recoveryActions(keySpec?: string, keyUsage?: string): string[] {
  return [...RECOVERY_ACTIONS, ...verificationActions(keySpec, keyUsage)];
}

interface Statement {
  Effect?: string;
  Principal?: unknown;
  NotPrincipal?: unknown;
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
  /** The key's spec and usage: which verification round trip a recovery ends with. */
  keySpec?: string;
  keyUsage?: string;
}

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The AWS principals a statement names (in Principal, or in NotPrincipal when asked); `*` for anyone. */
function principalsOf(statement: Statement, field: 'Principal' | 'NotPrincipal' = 'Principal'): string[] {
  const p = statement[field];
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
  const required = recoveryActions(ctx.keySpec, ctx.keyUsage);
  const fix =
    `add a statement that allows the account root principal (arn:${ctx.partition}:iam::${ctx.account}:root) ${required.join(', ')} (the default key policy allows it kms:*), ` +
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
    allows.filter((s) => principalsOf(s).some(who)).filter((s) => required.every((a) => allowsAction(s, a)));
  const rootGrant = grants((p) => roots.has(p));
  const roleGrants = ctx.roleArns.length > 0 ? grants((p) => roles.has(p)) : [];
  const deniedActions = (s: Statement) => required.filter((a) => allowsAction(s, a));
  // A Deny with NotPrincipal applies to everyone it does not list: the stack's roles too, unless it
  // lists one of them (or the account root, which doctor takes as the owner's intent to exempt the account).
  const exemptsStack = (s: Statement) => principalsOf(s, 'NotPrincipal').some((p) => p === '*' || roots.has(p) || roles.has(p));
  const denyApplies = (s: Statement) =>
    s.NotPrincipal !== undefined ? !exemptsStack(s) : principalsOf(s).some((p) => p === '*' || roots.has(p) || roles.has(p));
  const denyHits = denies.filter((s) => denyApplies(s) && deniedActions(s).length > 0);
  const lockout = denyHits.find((s) => s.NotPrincipal !== undefined && s.Condition === undefined);
  if (lockout) {
    const listed = principalsOf(lockout, 'NotPrincipal');
    return check(
      'key-policy',
      subject,
      'fail',
      `the key policy denies ${deniedActions(lockout).join(', ')} to every principal but ${listed.length > 0 ? listed.join(', ') : '(none listed)'} (a Deny with NotPrincipal and no Condition): ` +
        `${ctx.roleArns.length > 0 ? 'the stack\'s roles are' : 'the account root and the stack\'s roles are'} among them, so recovery would fail with AccessDenied whatever any Allow says`,
      `list the stack's roles in that statement's NotPrincipal (or narrow its actions), then: aws kms put-key-policy --key-id ${ctx.keyId} --policy-name default --policy file://policy.json`,
    );
  }
  const namesRoot = allows.some((s) => principalsOf(s).some((p) => roots.has(p)));
  if (rootGrant.length === 0 && roleGrants.length === 0) {
    const who = ctx.roleArns.length > 0 ? 'neither the account root nor any of the stack\'s roles' : 'no account root principal (run doctor with --stack to check the stack\'s roles by name)';
    const rootStatements = allows.filter((s) => principalsOf(s).some((p) => roots.has(p)));
    const missing = required.filter((a) => !rootStatements.some((s) => allowsAction(s, a)));
    const partly = namesRoot ? ` (it names the account root, but not for all of those actions: not for ${missing.join(', ')})` : '';
    return check('key-policy', subject, 'fail', `the key policy lets ${who} use ${required.join(', ')}${partly}: no IAM policy can give the service access, recovery would fail with AccessDenied`, fix);
  }
  const how = rootGrant.length > 0 ? 'allows the account root principal, so the stack\'s IAM policies count' : `names the stack's role(s) ${[...new Set(roleGrants.flatMap((s) => principalsOf(s)).filter((p) => roles.has(p)))].join(', ')} directly`;
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
