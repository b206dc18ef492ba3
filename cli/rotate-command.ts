/** Registers `rotate <key>`; its code (cli/rotate.ts, lib/rotate.ts) loads only when it runs. */
import { Option, type Command } from 'commander';
import { leaseTableOption } from './lease.js';
import { endpointOption, regionOption } from './options.js';

export const ROTATION_MODES = ['auto', 'in-place', 'alias-swap'] as const;

export const modeOption = (): Option =>
  new Option('--mode <mode>', 'auto: in place for SYMMETRIC_DEFAULT keys, alias swap for HMAC/RSA/ECC; or force one').choices([...ROTATION_MODES]).default('auto');

export const rotationIdOption = (): Option =>
  new Option('--rotation-id <id>', 'names the rotation (default rotation-<UTC date>): a run with the same id finishes or verifies it, never rotates twice');

export function registerRotateCommand(program: Command): void {
  program
    .command('rotate')
    .description('rotate the key\'s imported material now: new material escrowed first, imported, rotated (in place or by alias swap), verified')
    .argument('<key>', 'key ID, key ARN, alias name (alias/...) or alias ARN')
    .addOption(modeOption())
    .addOption(rotationIdOption())
    .addOption(endpointOption())
    .addOption(regionOption())
    .addOption(leaseTableOption())
    .option('--json', 'print the outcome as JSON')
    .option('--no-lease', 'rotate without the per-key lease (only when nothing else can run for this key at the same time)')
    .action(async (keyRef: string, options: import('./rotate.js').RotateCommandOptions & { lease?: boolean }, command: Command) => {
      // Two rotations of one key at once could each import new material: a rotation takes the
      // per-key lease, or is told explicitly that it runs alone.
      if (!options.leaseTable && !process.env.KMS_REIMPORT_LEASE_TABLE?.trim() && options.lease !== false) {
        command.error(
          'error: rotate needs the per-key lease table (--lease-table <name> or KMS_REIMPORT_LEASE_TABLE: the stack\'s LeaseTableName output), ' +
            'so that it never runs beside another run for the same key; pass --no-lease only when nothing else can run for this key.',
          { exitCode: 2, code: 'kms-reimport.leaseRequired' },
        );
      }
      const { runRotateCommand } = await import('./rotate.js');
      const outcome = await runRotateCommand('rotate', keyRef, options);
      if (outcome.status === 'failed') process.exitCode = 1;
    });
}
