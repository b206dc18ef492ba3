/**
 * Function settings from the environment, read at cold start: a missing or bad value fails the
 * init loudly (ConfigError), before any event is handled.
 */
import { assertSupportedRegion } from '../../lib/config.js';
import { ConfigError } from '../../lib/errors.js';
import { partitionOfArn } from '../../lib/events/key-ref.js';

export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name]?.trim();
  if (!value) {
    throw new ConfigError(`Environment variable ${name} is not set; the template sets it for this function (redeploy, or set it for a local run).`);
  }
  return value;
}

export function integerEnv(name: string, fallback: number, min: number, max: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(`${name}="${raw}" must be a whole number from ${min} to ${max}; fix it or unset it (default ${fallback}).`);
  }
  return Number(raw);
}

/**
 * The Lambda's own Region (set by the Lambda runtime and by `sam local`). A China Region stops
 * the init (ConfigError): kms-reimport does not support them (see assertSupportedRegion).
 */
export function ownRegion(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const region = env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || undefined;
  assertSupportedRegion(region);
  return region;
}

/**
 * The account of one of our own resources' ARNs (the state machine's): events and key ARNs from
 * any other account are rejected. Works the same under `sam local`, where the Lambda context may
 * carry a made-up account.
 */
export function accountOfArn(arn: string): string | undefined {
  const account = arn.split(':')[4];
  return account && /^\d{12}$/.test(account) ? account : undefined;
}

/** The scope an event must come from: our Region and, when known, our account and partition. */
export function ownScope(stateMachineArn: string, env: NodeJS.ProcessEnv = process.env): { region?: string; account?: string; partition?: string } {
  const region = ownRegion(env);
  const account = accountOfArn(stateMachineArn);
  const partition = partitionOfArn(stateMachineArn);
  return { ...(region ? { region } : {}), ...(account ? { account } : {}), ...(partition ? { partition } : {}) };
}
