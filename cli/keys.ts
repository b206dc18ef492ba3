/** recover / renew / plan: one key, through the same engine the Lambdas use. */
import { Option, type Command } from 'commander';
import { recoverKey } from '../lib/reimport.js';
import type { Outcome, RequestedAction } from '../lib/types.js';
import { endpointOption, regionOption } from './options.js';
import { leaseTableOption } from './lease.js';
import { runOneKey } from './one-key.js';
import { modeOption, rotationIdOption } from './rotate-command.js';

interface KeyCommandOptions {
  endpointUrl?: string;
  region?: string;
  json?: boolean;
  leaseTable?: string;
  /** plan only: what to plan (auto: recover or renew; rotate: a rotation). */
  action?: 'auto' | 'rotate';
  mode?: 'auto' | 'in-place' | 'alias-swap';
  rotationId?: string;
}

export async function runKeyCommand(
  action: RequestedAction,
  keyRef: string,
  options: KeyCommandOptions,
  print: (line: string) => void = console.log,
): Promise<Outcome> {
  return runOneKey(action === 'plan', options, print, (deps, config) => recoverKey(deps, keyRef, { action, config }));
}

const DESCRIPTIONS: Record<'recover' | 'renew' | 'plan', string> = {
  recover: 'reimport the escrowed material into a key that is PendingImport, then prove the key works',
  renew: 'reimport the same material into a healthy key with a later ValidTo (no downtime)',
  plan: 'say what recover or renew (or, with --action rotate, a rotation) would do for the key; change nothing',
};

export function registerKeyCommands(program: Command): void {
  for (const action of ['recover', 'renew', 'plan'] as const) {
    const command = program.command(action);
    if (action === 'plan') {
      command
        .addOption(new Option('--action <action>', 'what to plan: auto (recover or renew, as the key needs) or rotate').choices(['auto', 'rotate']).default('auto'))
        .addOption(modeOption())
        .addOption(rotationIdOption());
    }
    command
      .description(DESCRIPTIONS[action])
      .argument('<key>', 'key ID, key ARN, alias name (alias/...) or alias ARN')
      .addOption(endpointOption())
      .addOption(regionOption())
      .addOption(leaseTableOption())
      .option('--json', 'print the outcome as JSON')
      .action(async (keyRef: string, options: KeyCommandOptions) => {
        let outcome;
        if (action === 'plan' && options.action === 'rotate') {
          const { runRotateCommand } = await import('./rotate.js');
          outcome = await runRotateCommand('plan', keyRef, options);
        } else {
          outcome = await runKeyCommand(action, keyRef, options);
        }
        if (outcome.status === 'failed') process.exitCode = 1;
      });
  }
}
