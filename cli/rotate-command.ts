/** Registers `rotate [key]`; its code (cli/rotate.ts, lib/rotate.ts, or cli/via-stack.ts) loads only when it runs. */
import { Option, type Command } from 'commander';
import {
  addAwsOptions,
  addOutputOptions,
  EXIT,
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

export const ROTATION_MODES = ['auto', 'in-place', 'alias-swap'] as const;

export const modeOption = (): Option =>
  new Option('--mode <mode>', 'auto: in place for SYMMETRIC_DEFAULT keys, alias swap for HMAC/RSA/ECC; or force one').choices([...ROTATION_MODES]).default('auto');

export const rotationIdOption = (): Option =>
  new Option('--rotation-id <id>', 'names the rotation (default rotation-<UTC date>): a run with the same id finishes or verifies it, never rotates twice');

interface RotateOptions extends AwsCliOptions {
  keyId?: string;
  output?: string;
  json?: boolean;
  leaseTable?: string;
  lease?: boolean;
  mode?: (typeof ROTATION_MODES)[number];
  rotationId?: string;
  viaStack?: string;
  stateMachine?: string;
  pollMs?: number;
}

export function registerRotateCommand(program: Command): void {
  const command = program
    .command('rotate')
    .description('rotate the key\'s imported material now: new material escrowed first, imported, rotated (in place or by alias swap), verified')
    .argument('[key]', KEY_ARGUMENT_DESCRIPTION)
    .addOption(keyIdOption())
    .addOption(modeOption())
    .addOption(rotationIdOption());
  addAwsOptions(command);
  addOutputOptions(command);
  command
    .addOption(leaseTableOption())
    .option('--no-lease', 'rotate without the per-key lease (only when nothing else can run for this key at the same time)')
    .addOption(viaStackOption())
    .addOption(stateMachineOption())
    .addOption(pollOption());
  withExamples(
    command,
    'kms-reimport rotate alias/payments --lease-table kms-reimport-LeaseTable',
    'kms-reimport rotate --key-id alias/payments --via-stack kms-reimport --json   # the deployed service rotates it',
  );
  command.action(async (positional: string | undefined, options: RotateOptions, self: Command) => {
    const keyRef = keyRefOf(self, positional, options);
    const run = { ...options, json: outputFormatOf(options) === 'json' };
    if (options.viaStack || options.stateMachine) {
      refuseLocalOnlyOptions(self, ['mode', 'rotationId', 'leaseTable']);
      // The deployed state machine takes the stack's lease itself.
      const { runViaStack } = await import('./via-stack.js');
      process.exitCode = exitCodeOfOutcome(await runViaStack('rotate', keyRef, run));
      return;
    }
    // Two rotations of one key at once could each import new material: a rotation takes the
    // per-key lease, or is told explicitly that it runs alone.
    if (!options.leaseTable && !process.env.KMS_REIMPORT_LEASE_TABLE?.trim() && options.lease !== false) {
      self.error(
        'error: rotate needs the per-key lease table (--lease-table <name> or KMS_REIMPORT_LEASE_TABLE: the stack\'s LeaseTableName output), ' +
          'so that it never runs beside another run for the same key; pass --no-lease only when nothing else can run for this key, or rotate --via-stack.',
        { exitCode: EXIT.usage, code: 'kms-reimport.leaseRequired' },
      );
    }
    const { runRotateCommand } = await import('./rotate.js');
    process.exitCode = exitCodeOfOutcome(await runRotateCommand('rotate', keyRef, run));
  });
}
