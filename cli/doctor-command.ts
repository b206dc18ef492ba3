/**
 * `kms-reimport doctor`: registration only (cheap: --help loads none of the checks or clients).
 */
import type { Command } from 'commander';
import { addAwsOptions, addOutputOptions, EXIT } from './options.js';

export interface DoctorCliOptions {
  stack?: string;
  region?: string;
  profile?: string;
  endpointUrl?: string;
  output?: string;
  json?: boolean;
}

export function registerDoctorCommand(program: Command): void {
  const command = program
    .command('doctor')
    .description(
      'preflight a deployed stack and the account: a CloudTrail trail logging KMS management events here, the stack\'s rules and sweep schedule enabled, its state machine, ' +
        'a confirmed subscription on its topic, each managed key (escrow, key policy, ValidTo against the renewal window) and the GetParametersForImport quota. ' +
        'Changes nothing; exits 1 on any fail, 0 otherwise (warnings allowed)',
    )
    .option('--stack <name>', 'the CloudFormation stack kms-reimport was deployed as (sam deploy --stack-name)');
  addAwsOptions(command);
  addOutputOptions(command);
  command
    .addHelpText('after', '\nExamples:\n  kms-reimport doctor --stack kms-reimport\n  kms-reimport doctor --stack kms-reimport --region eu-west-1 --json')
    .action(async (options: DoctorCliOptions) => {
      const { runDoctorCommand } = await import('./doctor.js');
      const failed = await runDoctorCommand(options);
      process.exitCode = failed ? EXIT.failed : EXIT.done;
    });
}
