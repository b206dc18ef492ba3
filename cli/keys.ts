/**
 * Registers recover / renew / plan: one key, through the same engine the Lambdas use (cli/recover.ts),
 * or, with --via-stack / --state-machine, through the deployed state machine (cli/via-stack.ts).
 * Nothing here loads the SDK or lib/: each command imports its work when it runs.
 */
import { Option, type Command } from 'commander';
import {
  addAwsOptions,
  addOutputOptions,
  exitCodeOfOutcome,
  KEY_ARGUMENT_DESCRIPTION,
  keyIdOption,
  keyRefOf,
  leaseTableOption,
  outputFormatOf,
  pollOption,
  refuseLocalOnlyOptions,
  stateMachineOption,
  viaStackOption,
  withExamples,
  type AwsCliOptions,
} from './options.js';
import { modeOption, rotationIdOption } from './rotate-command.js';

export interface KeyCommandOptions extends AwsCliOptions {
  keyId?: string;
  output?: string;
  json?: boolean;
  leaseTable?: string;
  viaStack?: string;
  stateMachine?: string;
  pollMs?: number;
  /** plan only: what to plan (auto: recover or renew; rotate: a rotation). */
  action?: 'auto' | 'rotate';
  mode?: 'auto' | 'in-place' | 'alias-swap';
  rotationId?: string;
}

const DESCRIPTIONS: Record<'recover' | 'renew' | 'plan', string> = {
  recover: 'reimport the escrowed material into a key that is PendingImport, then prove the key works',
  renew: 'reimport the same material into a healthy key with a later ValidTo (no downtime)',
  plan: 'say what recover or renew (or, with --action rotate, a rotation) would do for the key; change nothing',
};

const EXAMPLES: Record<'recover' | 'renew' | 'plan', string[]> = {
  recover: [
    'kms-reimport recover alias/payments',
    'kms-reimport recover --key-id 1234abcd-12ab-34cd-56ef-1234567890ab --lease-table kms-reimport-LeaseTable --json',
    'kms-reimport recover alias/payments --via-stack kms-reimport     # through the deployed service, followed step by step',
  ],
  renew: ['kms-reimport renew alias/payments --profile prod --region eu-west-1', 'kms-reimport renew alias/payments --via-stack kms-reimport'],
  plan: ['kms-reimport plan alias/payments', 'kms-reimport plan alias/payments --action rotate --output json'],
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
    command.description(DESCRIPTIONS[action]).argument('[key]', KEY_ARGUMENT_DESCRIPTION).addOption(keyIdOption());
    addAwsOptions(command);
    addOutputOptions(command);
    command.addOption(leaseTableOption());
    if (action !== 'plan') command.addOption(viaStackOption()).addOption(stateMachineOption()).addOption(pollOption());
    withExamples(command, ...EXAMPLES[action]);
    command.action(async (positional: string | undefined, options: KeyCommandOptions, self: Command) => {
      const keyRef = keyRefOf(self, positional, options);
      const run = { ...options, json: outputFormatOf(options) === 'json' };
      let outcome;
      if (action !== 'plan' && (options.viaStack || options.stateMachine)) {
        refuseLocalOnlyOptions(self, ['leaseTable']);
        const { runViaStack } = await import('./via-stack.js');
        outcome = await runViaStack(action, keyRef, run);
      } else if (action === 'plan' && options.action === 'rotate') {
        const { runRotateCommand } = await import('./rotate.js');
        outcome = await runRotateCommand('plan', keyRef, run);
      } else {
        const { runKeyCommand } = await import('./recover.js');
        outcome = await runKeyCommand(action, keyRef, run);
      }
      process.exitCode = exitCodeOfOutcome(outcome);
    });
  }
}
