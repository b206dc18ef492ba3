/**
 * The shell every one-key command shares (recover, renew, plan, rotate): config, clients, the per-key
 * lease (none for a plan, which changes nothing), one engine call, the outcome printed, everything
 * closed. The engine's steps go to stderr as they happen (the caller's logger); the outcome to stdout.
 */
import { createClients, type AwsClients } from '../lib/aws/clients.js';
import { loadConfig, type ReimportConfig } from '../lib/config.js';
import type { KeyLease } from '../lib/lease/index.js';
import { summariseOutcome } from '../lib/outcome.js';
import type { Outcome } from '../lib/types.js';
import { openLease } from './lease.js';
import { clientOptionsFrom, type AwsCliOptions } from './options.js';

export interface OneKeyOptions extends AwsCliOptions {
  json?: boolean;
  leaseTable?: string;
}

export type OneKeyDeps = AwsClients & { lease?: KeyLease; leaseOwner?: string };

export async function runOneKey(
  plan: boolean,
  options: OneKeyOptions,
  print: (line: string) => void,
  run: (deps: OneKeyDeps, config: ReimportConfig) => Promise<Outcome>,
): Promise<Outcome> {
  const config = loadConfig(process.env);
  const clientOptions = clientOptionsFrom(options);
  const clients = createClients(clientOptions);
  // A plan changes nothing: no lease, no warning. The lease's DynamoDB client follows the SDK
  // configuration and --profile/--region, not --endpoint-url (that one is KMS and Secrets Manager's).
  const lease = plan ? undefined : openLease(options.leaseTable, config, { ...(options.region ? { region: options.region } : {}), ...(options.profile ? { profile: options.profile } : {}) });
  try {
    const outcome = await run({ ...clients, ...(lease?.lease ? { lease: lease.lease, leaseOwner: lease.owner() } : {}) }, config);
    print(options.json ? JSON.stringify(outcome, null, 2) : summariseOutcome(outcome));
    return outcome;
  } finally {
    lease?.close();
    clients.kms.destroy();
    clients.secrets.destroy();
  }
}
