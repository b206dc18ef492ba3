/**
 * Identity policies enforced by the local endpoint (opt-in). Each request's SigV4 access key id
 * names a principal (its ARN, account and identity policies); before the operation runs, the
 * service says what the request acts on (EmulatedService.authorizationContext) and the
 * principal's policies are evaluated with @cloud-copilot/iam-simulate against that action,
 * resource and request context. A denial answers AccessDeniedException, as KMS, Secrets Manager
 * and the Tagging API do (400, `__type`, "User: ... is not authorized to perform: ...").
 *
 * Not modelled: resource policies other than KMS's default key policy (which lets the account's
 * IAM policies decide), SCPs, permission boundaries, grants, session policies.
 */
import { runSimulation, runUnsafeSimulation } from '@cloud-copilot/iam-simulate';
import { ServiceError, type AuthorizationCheck, type EmulatedService, type OperationContext, type RequestScope } from '../service.js';

/** An IAM policy document (`{"Version": "2012-10-17", "Statement": [...]}`). */
export type PolicyDocument = Record<string, unknown>;

export interface IamPrincipal {
  /** The identity the policies are attached to: `arn:aws:iam::111122223333:role/name`; it is `aws:PrincipalArn`. */
  arn: string;
  /** 12-digit account the principal belongs to; requests signed with its access key act in this account. */
  account: string;
  /** Identity policies, each with a name (for messages). */
  policies: { name: string; document: PolicyDocument }[];
  /** The caller as AWS names it in an AccessDenied message (an assumed-role session ARN); default `arn`. */
  callerArn?: string;
}

export interface IamEnforcementOptions {
  /** Access key id → principal. */
  principals: Record<string, IamPrincipal>;
  /**
   * A request signed with an access key id that names no principal (or unsigned): `'reject'`
   * (default) answers UnrecognizedClientException as AWS does for an unknown key; `'allow'` serves
   * it without any check, as the endpoint does without enforcement (handy for test setup).
   */
  unknownAccessKeys?: 'reject' | 'allow';
}

/** What the server asks of the enforcement, per request. */
export interface Authorizer {
  /** The principal of a request (by its Authorization header); undefined when unknown and allowed. Throws when unknown and rejected. */
  principalOf(authorizationHeader: string | undefined, signingName: string): IamPrincipal | undefined;
  /** Throws the service's AccessDeniedException when the principal may not make this request. */
  authorize(principal: IamPrincipal, service: EmulatedService, operation: string, input: Record<string, unknown>, ctx: OperationContext): Promise<void>;
  /** Replaces every principal (validated first; on failure nothing changes). */
  setPrincipals(principals: Record<string, IamPrincipal>): Promise<void>;
}

/** IAM's service prefix for each signing name the endpoint serves. */
const IAM_PREFIX: Record<string, string> = { kms: 'kms', secretsmanager: 'secretsmanager', tagging: 'tag' };

const ACCESS_KEY = /Credential=([^/,\s]+)\//;

/** The access key id of a SigV4 `Authorization` header, if it has one. */
export function accessKeyIdOf(header: string | undefined): string | undefined {
  return header ? ACCESS_KEY.exec(header)?.[1] : undefined;
}

/**
 * KMS authorises every call on a key against its key policy as well; the default key policy
 * (what CreateKey gives a key without a Policy) delegates to the account's IAM policies, which is
 * what the template relies on. Passed pre-validated: iam-simulate's unchecked engine loads a
 * resource policy without a name otherwise.
 */
function defaultKeyPolicy(account: string, partition: string): unknown {
  return {
    __validated: true,
    metadata: { name: 'default key policy' },
    errors: [],
    policyDocument: {
      Version: '2012-10-17',
      Id: 'key-default-1',
      Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:${partition}:iam::${account}:root` }, Action: 'kms:*', Resource: '*' }],
    },
  };
}

function partitionOfArn(arn: string): string {
  return arn.startsWith('arn:') ? (arn.split(':')[1] ?? 'aws') : 'aws';
}

/**
 * Checks each principal's policies with iam-simulate's validating engine (policy grammar, known
 * actions), so a broken policy stops the start instead of denying everything quietly.
 */
export async function validatePrincipals(principals: Record<string, IamPrincipal>): Promise<void> {
  for (const [accessKeyId, principal] of Object.entries(principals)) {
    if (!/^\d{12}$/.test(principal.account)) throw new Error(`IAM principal of access key ${accessKeyId}: account must be 12 digits, got ${JSON.stringify(principal.account)}`);
    if (!/^arn:[a-z-]+:(iam|sts)::\d{12}:.+$/.test(principal.arn)) throw new Error(`IAM principal of access key ${accessKeyId}: ${JSON.stringify(principal.arn)} is not an IAM or STS ARN`);
    const result = await runSimulation(
      {
        request: { principal: principal.arn, action: 'kms:ListKeys', resource: { resource: '*', accountId: principal.account }, contextVariables: {} },
        identityPolicies: principal.policies.map((p) => ({ name: p.name, policy: p.document })),
        serviceControlPolicies: [],
        resourceControlPolicies: [],
      },
      {},
    );
    if (result.resultType === 'error') {
      throw new Error(`IAM principal ${principal.arn} (access key ${accessKeyId}): its policies do not validate: ${JSON.stringify(result.errors)}`);
    }
  }
}

/** AWS's words for a denial, as the three services send them. */
export function accessDeniedMessage(callerArn: string, action: string, resource: string, explicit: boolean): string {
  const onResource = resource === '*' ? '' : ` on resource: ${resource}`;
  return explicit
    ? `User: ${callerArn} is not authorized to perform: ${action}${onResource} with an explicit deny in an identity-based policy`
    : `User: ${callerArn} is not authorized to perform: ${action}${onResource} because no identity-based policy allows the ${action} action`;
}

export function createAuthorizer(options: IamEnforcementOptions): Authorizer {
  let principals = new Map(Object.entries(options.principals));
  const unknown = options.unknownAccessKeys ?? 'reject';

  return {
    async setPrincipals(next) {
      await validatePrincipals(next);
      principals = new Map(Object.entries(next));
    },
    principalOf(header, signingName) {
      const accessKeyId = accessKeyIdOf(header);
      const principal = accessKeyId === undefined ? undefined : principals.get(accessKeyId);
      if (principal || unknown === 'allow') return principal;
      throw new ServiceError(
        'UnrecognizedClientException',
        `The security token included in the request is invalid. (local endpoint: IAM is enforced and access key ${accessKeyId === undefined ? '(none: unsigned request)' : JSON.stringify(accessKeyId.slice(0, 128))} names no principal; ${signingName} requests must be signed with one of the configured access key ids)`,
      );
    },

    async authorize(principal, service, operation, input, ctx) {
      const prefix = IAM_PREFIX[service.signingName] ?? service.signingName;
      const checks: AuthorizationCheck[] = service.authorizationContext
        ? await service.authorizationContext(operation, input, ctx)
        : [{ resource: '*' }];
      const now = ctx.clock.now();
      for (const check of checks) {
        const action = check.action ?? `${prefix}:${operation}`;
        const result = evaluate(principal, action, check, ctx.scope, now);
        if (result === 'Allowed') continue;
        if (check.deniedAs) throw new ServiceError(check.deniedAs.type, check.deniedAs.message);
        throw new ServiceError(
          'AccessDeniedException',
          accessDeniedMessage(principal.callerArn ?? principal.arn, action, check.resource, result === 'ExplicitlyDenied'),
        );
      }
    },
  };
}

/**
 * One decision outside the endpoint (for a test's stand-in of another AWS service, e.g. Step
 * Functions StartExecution): 'Allowed', 'ExplicitlyDenied' or 'ImplicitlyDenied'.
 */
export function decide(principal: IamPrincipal, action: string, resource: string, region: string, context: Record<string, string | string[]> = {}): string {
  return evaluate(principal, action, { resource, context }, { account: principal.account, region }, Date.now());
}

/** One decision: 'Allowed', 'ExplicitlyDenied' or 'ImplicitlyDenied'. */
function evaluate(principal: IamPrincipal, action: string, check: AuthorizationCheck, scope: RequestScope, now: number): string {
  const contextVariables: Record<string, string | string[]> = {
    'aws:PrincipalArn': principal.arn,
    'aws:PrincipalAccount': principal.account,
    'aws:RequestedRegion': scope.region,
    'aws:CurrentTime': new Date(now).toISOString(),
    'aws:EpochTime': String(Math.floor(now / 1000)),
    ...check.context,
  };
  const isKms = action.startsWith('kms:');
  // iam-simulate's validating engine drops context keys of the form kms:EncryptionContext:<key>
  // (it matches variable keys on "/" only), so the decision is made with its unchecked engine;
  // the policies were validated once by validatePrincipals and the context is built here.
  const result = runUnsafeSimulation(
    {
      request: { principal: principal.arn, action, resource: { resource: check.resource, accountId: scope.account }, contextVariables },
      identityPolicies: principal.policies.map((p) => ({ name: p.name, policy: p.document })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(isKms && check.resource !== '*' ? { resourcePolicy: defaultKeyPolicy(scope.account, partitionOfArn(check.resource)) } : {}),
    },
    {},
  );
  return String(result);
}
