import { Option, type Command } from 'commander';
import { GENERATABLE_KEY_SPECS } from '../lib/material/generate.js';
import { runDrill } from './drill.js';

export function registerDrillCommand(program: Command): void {
  program
    .command('drill')
    .description('rehearse a full expiry + deletion recovery against the in-process local endpoint (no AWS account)')
    .option('--local', 'run against the in-process local endpoint (required: the only mode)')
    .addOption(new Option('--key-spec <spec>', 'key spec of the drill key').choices([...GENERATABLE_KEY_SPECS]).default('SYMMETRIC_DEFAULT'))
    .action(async (options: { keySpec: string; local?: boolean }) => {
      if (!options.local) {
        program.error(
          'kms-reimport drill needs --local: a drill against AWS would create a real KMS key (billed, and deletable only after a 7-day wait). Run: kms-reimport drill --local',
        );
      }
      const result = await runDrill({ keySpec: options.keySpec });
      if (!result.ok) process.exitCode = 1;
    });
}
