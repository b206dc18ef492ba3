/** recover / renew / plan: one key, through the same engine the Lambdas use. */
import type { Command } from 'commander';
import { createClients } from '../lib/aws/clients.js';
import { loadConfig } from '../lib/config.js';
import { recoverKey } from '../lib/reimport.js';
import { summariseOutcome } from '../lib/outcome.js';
import type { Outcome, RequestedAction } from '../lib/types.js';
import { endpointOption, regionOption } from './options.js';
import { leaseTableOption, openLease } from './lease.js';

interface KeyCommandOptions {
  endpointUrl?: string;
  region?: string;
  json?: boolean;
  leaseTable?: string;
}

export async function runKeyCommand(
  action: RequestedAction,
  keyRef: string,
  options: KeyCommandOptions,
  print: (line: string) => void = console.log,
): Promise<Outcome> {
  const config = loadConfig(process.env);
  const clients = createClients({ endpointUrl: options.endpointUrl, region: options.region });
  // A plan changes nothing: no lease, no warning.
  const lease = action === 'plan' ? undefined : openLease(options.leaseTable, config, options.region ? { region: options.region } : {});
  try {
    const outcome = await recoverKey(
      { ...clients, ...(lease?.lease ? { lease: lease.lease, leaseOwner: lease.owner() } : {}) },
      keyRef,
      { action, config },
    );
    print(options.json ? JSON.stringify(outcome, null, 2) : summariseOutcome(outcome));
    return outcome;
  } finally {
    lease?.close();
    clients.kms.destroy();
    clients.secrets.destroy();
  }
}

const DESCRIPTIONS: Record<'recover' | 'renew' | 'plan', string> = {
  recover: 'reimport the escrowed material into a key that is PendingImport, then prove the key works',
  renew: 'reimport the same material into a healthy key with a later ValidTo (no downtime)',
  plan: 'say what recover or renew would do for the key; change nothing',
};

export function registerKeyCommands(program: Command): void {
  for (const action of ['recover', 'renew', 'plan'] as const) {
    program
      .command(action)
      .description(DESCRIPTIONS[action])
      .argument('<key>', 'key ID, key ARN, alias name (alias/...) or alias ARN')
      .addOption(endpointOption())
      .addOption(regionOption())
      .addOption(leaseTableOption())
      .option('--json', 'print the outcome as JSON')
      .action(async (keyRef: string, options: KeyCommandOptions) => {
        const outcome = await runKeyCommand(action, keyRef, options);
        if (outcome.status === 'failed') process.exitCode = 1;
      });
  }
}
