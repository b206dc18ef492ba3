/**
 * Entry point of the kms-reimport command (bin/kms-reimport.js loads this, from the prebuilt bundle
 * or through tsx). Exit codes (README "Exit codes"): 0 done, 1 failed, 2 bad usage, 3 nothing to do.
 */
import { CommanderError } from 'commander';
import { ConfigError } from '../lib/errors.js';
import { EXIT, nodeSupportNotice } from './options.js';
import { buildProgram } from './program.js';

const notice = nodeSupportNotice();
if (notice) process.stderr.write(`${notice}\n`);

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end with 0; every other commander error is bad usage (unknown flag,
    // missing argument, invalid choice), whatever exit code commander gave it.
    process.exitCode = error.exitCode === 0 ? EXIT.done : error.code.startsWith('commander.') ? EXIT.usage : error.exitCode;
  } else if (error instanceof ConfigError) {
    // A refused configuration (a China Region, a malformed KMS_REIMPORT_* variable): nothing was done.
    console.error(`${error.name}: ${error.message}`);
    process.exitCode = EXIT.usage;
  } else {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    process.exitCode = EXIT.failed;
  }
}
