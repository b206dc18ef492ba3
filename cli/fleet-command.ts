/** Registers `status` and `sweep`; their work (cli/fleet.ts, lib/sweep.ts, the SDK) loads only when one runs. */
import { InvalidArgumentError, type Command } from 'commander';
import { addAwsOptions, addOutputOptions, EXIT, leaseTableOption, outputFormatOf, withExamples } from './options.js';
import type { FleetOptions } from './fleet.js';

function concurrency(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 50) throw new InvalidArgumentError(`expected a whole number of runs from 1 to 50, got ${value}`);
  return n;
}

function nonNegativeInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number of milliseconds, got ${value}`);
  return n;
}

type FleetCliOptions = FleetOptions & { output?: string };

async function run(mode: 'status' | 'sweep', options: FleetCliOptions): Promise<void> {
  const { fleetExitCode, runFleet } = await import('./fleet.js');
  const result = await runFleet(mode, { ...options, json: outputFormatOf(options) === 'json' });
  const code = fleetExitCode(mode, result);
  // A sweep that found no key to recover or renew, and nothing wrong: nothing to do (3).
  process.exitCode = code === EXIT.done && mode === 'sweep' && result.outcomes.length === 0 ? EXIT.nothingToDo : code;
}

export function registerFleetCommands(program: Command): void {
  const status = program
    .command('status')
    .description(
      'list every managed key in the account and Region: state, ValidTo, escrow health, rotation schedule and lineage, and what the sweep would do (changes nothing; exits 1 if a key could not be inspected, its escrow is not ok or its rotate-every tag is malformed)',
    );
  addAwsOptions(status);
  addOutputOptions(status);
  withExamples(status, 'kms-reimport status', 'kms-reimport status --profile prod --region eu-west-1 --output json');
  status.action((options: FleetCliOptions) => run('status', options));

  const sweep = program
    .command('sweep')
    .description(
      'recover every managed key that is PendingImport, then renew those near ValidTo, under an adaptive pace of KMS\'s import quotas (exits 3 when there was nothing to do)',
    );
  addAwsOptions(sweep);
  addOutputOptions(sweep);
  sweep
    .addOption(leaseTableOption())
    .option(
      '--concurrency <n>',
      'runs in flight together, sharing one adaptive pace of GetParametersForImport and ImportKeyMaterial (its first rate: KMS_REIMPORT_PARAMETERS_RATE, default 1/s; slower on throttling)',
      concurrency,
      4,
    )
    .option('--interval-ms <ms>', 'instead of the adaptive pace: one key after another, with this fixed pause between keys', nonNegativeInteger);
  withExamples(sweep, 'kms-reimport sweep --lease-table kms-reimport-LeaseTable', 'kms-reimport sweep --json --concurrency 8 || [ $? -eq 3 ]   # 3: nothing to do');
  sweep.action((options: FleetCliOptions) => run('sweep', options));
}
