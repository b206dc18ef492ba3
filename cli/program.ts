/**
 * kms-reimport: the on-call command line.
 *   recover <key>   bring a PendingImport key back with its escrowed material (--via-stack: through the deployed service)
 *   renew <key>     reimport the same material with a later ValidTo
 *   plan <key>      say what recover/renew would do (or, with --action rotate, a rotation), change nothing
 *   rotate <key>    rotate the key's imported material now (in place, or by alias swap)
 *   status          every managed key: state, ValidTo, what the sweep would do
 *   sweep           recover and renew every managed key that needs it, paced
 *   drill --local   a full recovery rehearsal against the in-process local endpoint
 *   local           run the local KMS + Secrets Manager endpoint
 *
 * Every command registers its options here cheaply and imports its work (the SDK, lib/, local/)
 * when it runs, so `--help` loads commander and cli/options.ts only.
 */
import { Command } from 'commander';
import { assertSupportedRegion } from '../lib/config.js';
import { registerKeyCommands } from './keys.js';
import { registerDrillCommand } from './drill-command.js';
import { registerDoctorCommand } from './doctor-command.js';
import { registerFleetCommands } from './fleet-command.js';
import { registerLocalCommand } from './local-command.js';
import { registerOnboardCommand } from './onboard-command.js';
import { registerRotateCommand } from './rotate-command.js';

export function buildProgram(): Command {
  const program = new Command()
    .name('kms-reimport')
    .description('Keep AWS KMS keys with imported key material usable: recover, renew, rehearse.')
    .showHelpAfterError()
    .exitOverride();
  // A command that talks to AWS (it has --region) refuses a China Region before doing anything.
  program.hook('preAction', (_program, action) => {
    if (!action.options.some((o) => o.long === '--region')) return;
    const region = (action.opts() as { region?: string }).region ?? (process.env.AWS_REGION?.trim() || process.env.AWS_DEFAULT_REGION?.trim() || undefined);
    assertSupportedRegion(region);
  });
  registerKeyCommands(program);
  registerRotateCommand(program);
  registerFleetCommands(program);
  registerDrillCommand(program);
  registerDoctorCommand(program);
  registerOnboardCommand(program);
  registerLocalCommand(program);
  return program;
}
