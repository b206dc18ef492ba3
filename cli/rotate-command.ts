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
    .action(async (keyRef: string, options: import('./rotate.js').RotateCommandOptions) => {
      const { runRotateCommand } = await import('./rotate.js');
      const outcome = await runRotateCommand('rotate', keyRef, options);
      if (outcome.status === 'failed') process.exitCode = 1;
    });
}
