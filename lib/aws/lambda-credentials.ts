/**
 * The credentials of a function running in AWS Lambda, and nothing else: the stand-in that
 * scripts/build.mjs puts in the Lambda bundles where the SDK clients import
 * `@aws-sdk/credential-provider-node` (their `credentialDefaultProvider`).
 *
 * The SDK's default chain tries, in turn, the environment, SSO, the shared ini files, a credential
 * process, a web identity token file, the container endpoint and the EC2 instance metadata; with
 * its STS, SSO-OIDC and sign-in clients it is about 190 kB of every bundle. A Lambda function gets
 * its execution role's credentials from the runtime in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
 * and AWS_SESSION_TOKEN (Lambda's "defined runtime environment variables"); where Lambda hands
 * them out through the container credential endpoint instead (AWS_CONTAINER_CREDENTIALS_FULL_URI
 * with AWS_CONTAINER_AUTHORIZATION_TOKEN, as SnapStart functions get them), `fromHttp` reads them
 * there. Nothing else is tried: a bundle run where neither is set fails at its first AWS call with
 * a ConfigError naming the variables, instead of probing profiles and the instance metadata.
 *
 * The command line (scripts/build.mjs --cli) keeps the SDK's full chain: profiles and SSO are what
 * a person at a terminal uses.
 */
import { fromEnv, type FromEnvInit } from '@aws-sdk/credential-provider-env';
import { fromHttp, type FromHttpOptions } from '@aws-sdk/credential-provider-http';
import { doesIdentityRequireRefresh, isIdentityExpired, memoizeIdentityProvider, type MemoizedIdentityProvider } from '@smithy/core';
import type { AwsCredentialIdentity } from '@smithy/types';
import { ConfigError } from '../errors.js';

/** The variables the Lambda runtime sets from the function's execution role. */
const LAMBDA_CREDENTIAL_VARIABLES = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'] as const;

/** The container credential endpoint's variables (what `fromHttp` reads; SnapStart sets the first). */
const CONTAINER_CREDENTIAL_VARIABLES = ['AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI'] as const;

/**
 * What the clients pass: their own resolved configuration (with `logger`, `profile`, ...), as
 * they pass it to the SDK's `defaultProvider`. Only the logger and the container endpoint options
 * are read here.
 */
export type LambdaCredentialsInit = FromEnvInit & FromHttpOptions & { profile?: string };

const isSet = (env: NodeJS.ProcessEnv, name: string): boolean => (env[name] ?? '') !== '';

/** Why there are no credentials, in words that say what to check; names variables, never values. */
export function missingCredentialsMessage(env: NodeJS.ProcessEnv, profile?: string): string {
  const [key, secret] = LAMBDA_CREDENTIAL_VARIABLES;
  const half = isSet(env, key) ? `${key} is set but ${secret} is not` : isSet(env, secret) ? `${secret} is set but ${key} is not` : `${key} and ${secret} are not set`;
  const named = profile ?? env.AWS_PROFILE;
  return (
    `No AWS credentials for this Lambda function: ${half}, nor ${CONTAINER_CREDENTIAL_VARIABLES.join(' or ')}. ` +
    `The Lambda runtime sets ${LAMBDA_CREDENTIAL_VARIABLES.join(', ')} from the function's execution role: check that the function has one. ` +
    `This bundle is built for Lambda and reads no profile, SSO or instance metadata` +
    (named ? ` (AWS_PROFILE / profile "${named}" is ignored here)` : '') +
    `; outside Lambda, run the kms-reimport command line, or set those variables (sam local invoke does). Nothing was sent.`
  );
}

/** One resolution: the environment first, then the container endpoint when Lambda gives one; else ConfigError. */
async function resolveLambdaCredentials(init: LambdaCredentialsInit): Promise<AwsCredentialIdentity> {
  const env = process.env;
  if (isSet(env, 'AWS_ACCESS_KEY_ID') && isSet(env, 'AWS_SECRET_ACCESS_KEY')) return fromEnv(init)();
  if (CONTAINER_CREDENTIAL_VARIABLES.some((name) => isSet(env, name))) return fromHttp(init)();
  throw new ConfigError(missingCredentialsMessage(env, init.profile));
}

/**
 * Same name and shape as `@aws-sdk/credential-provider-node`'s `defaultProvider`: called once per
 * client with the client's configuration, it returns a memoized provider (the SDK marks it
 * `memoized` and does not wrap it again). Credentials without an expiration (the environment's)
 * are read once; expiring ones (the container endpoint's) are fetched again five minutes before
 * they expire, or when the SDK asks with `forceRefresh`. A failure is not remembered: the next call
 * tries again.
 */
export const defaultProvider = (init: LambdaCredentialsInit = {}): MemoizedIdentityProvider<AwsCredentialIdentity> =>
  memoizeIdentityProvider<AwsCredentialIdentity>(() => resolveLambdaCredentials(init), isIdentityExpired, doesIdentityRequireRefresh)!;
