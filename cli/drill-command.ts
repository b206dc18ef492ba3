/**
 * `kms-reimport drill`: registration only (cheap: --help loads neither the local endpoint nor the SDK).
 *   drill --local                      the rehearsal against the in-process local endpoint (npm start)
 *   drill --yes [--stack NAME | --state-machine ARN]
 *                                      the game day on the account and Region of the credentials
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { GENERATABLE_KEY_SPECS } from '../lib/material/generate.js';
import { addAwsOptions, addOutputOptions, EXIT, outputFormatOf, progress } from './options.js';


/** Exit status of a drill stopped by Ctrl-C (128 + SIGINT), after its cleanup. */
export const EXIT_INTERRUPTED = 130;

interface DrillCliOptions {
  local?: boolean;
  yes?: boolean;
  keySpec: string;
  stack?: string;
  stateMachine?: string;
  timeoutSeconds: number;
  pollSeconds: number;
  region?: string;
  profile?: string;
  endpointUrl?: string;
  output?: string;
  json?: boolean;
}

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return n;
}

export function registerDrillCommand(program: Command): void {
  const command = program
    .command('drill')
    .description(
      'rehearse an outage and its recovery. --local: against the in-process local endpoint (no AWS account). ' +
        'Otherwise, with --yes: on the account and Region of the credentials, with a throwaway key it creates and cleans up ' +
        '(recovered by the deployed service with --stack or --state-machine, else by the library)',
    )
    .option('--local', 'run against the in-process local endpoint (no AWS account, nothing billed)')
    .option('--yes', 'on an account: create the throwaway key and secret (without it, the plan and its cost are printed and nothing is created)')
    .addOption(new Option('--key-spec <spec>', 'key spec of the drill key').choices([...GENERATABLE_KEY_SPECS]).default('SYMMETRIC_DEFAULT'))
    .addOption(new Option('--stack <name>', 'recover through this deployed kms-reimport stack (its state machine, fired by the real CloudTrail event)').conflicts('stateMachine'))
    .option('--state-machine <arn>', 'recover through this deployed state machine')
    .option('--timeout-seconds <s>', 'how long to wait for the deployed service to recover the key', positiveSeconds, 900)
    .option('--poll-seconds <s>', 'how often to look at the key and the executions while waiting', positiveSeconds, 10);
  addAwsOptions(command);
  addOutputOptions(command);
  command
    .addHelpText(
      'after',
      '\nExamples:\n  kms-reimport drill --local\n  kms-reimport drill --region eu-west-1                 # print the plan and its cost, create nothing\n' +
        '  kms-reimport drill --yes --stack kms-reimport        # game day through the deployed service\n\n' +
        `Exit status: 0 passed, 1 failed, 2 bad usage or no --yes (nothing created), ${EXIT_INTERRUPTED} interrupted by Ctrl-C (after cleanup).`,
    )
    .action(async (options: DrillCliOptions) => {
      const json = outputFormatOf(options) === 'json';
      if (options.local) {
        if (options.stack !== undefined || options.stateMachine !== undefined || options.endpointUrl !== undefined || options.region !== undefined || options.profile !== undefined) {
          command.error('error: --local runs against its own in-process endpoint; --stack, --state-machine, --endpoint-url, --region and --profile are for a drill on an account', {
            exitCode: EXIT.usage,
            code: 'kms-reimport.drillLocalConflict',
          });
        }
        const { runDrill } = await import('./drill.js');
        const result = await runDrill({ keySpec: options.keySpec, ...(json ? { print: progress } : {}) });
        if (json) console.log(JSON.stringify(result, null, 2));
        if (!result.ok) process.exitCode = EXIT.failed;
        return;
      }
      const { runAccountDrill } = await import('./drill.js');
      const result = await runAccountDrill({
        keySpec: options.keySpec,
        yes: options.yes === true,
        ...(options.stack !== undefined ? { stackName: options.stack } : {}),
        ...(options.stateMachine !== undefined ? { stateMachineArn: options.stateMachine } : {}),
        ...(options.region !== undefined ? { region: options.region } : {}),
        ...(options.profile !== undefined ? { profile: options.profile } : {}),
        ...(options.endpointUrl !== undefined ? { endpointUrl: options.endpointUrl } : {}),
        timeoutSeconds: options.timeoutSeconds,
        pollSeconds: options.pollSeconds,
        ...(json ? { print: progress } : {}),
      });
      if (json) console.log(JSON.stringify(result, null, 2));
      process.exitCode = result.planned ? EXIT.usage : result.interrupted ? EXIT_INTERRUPTED : result.ok ? EXIT.done : EXIT.failed;
    });
}
