/**
 * The command line's shared conventions, the AWS CLI's habits: --region, --profile, --endpoint-url
 * (the SDK also reads AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_KMS, ...);
 * --output json|table (or --json); a key named positionally or with --key-id; progress on stderr,
 * results on stdout; documented exit codes. Every command uses these, so a flag means the same
 * thing everywhere. This module is loaded by --help: it imports nothing heavy.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { ClientOptions } from '../lib/aws/clients.js';
import { isRegion } from '../lib/events/key-ref.js';
import type { RunLogger } from '../lib/run.js';

/**
 * Exit codes, documented in the README: 0 done, 1 failed (a key or check failed), 2 bad usage
 * (unknown flag, missing key, unreadable input; nothing was changed), 3 nothing to do (the command
 * ran and found no work, for scripts that need to tell that apart from done).
 */
export const EXIT = { done: 0, failed: 1, usage: 2, nothingToDo: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535');
  return n;
}

/** An http(s) URL, else bad usage (before any client is made). */
export function endpointUrl(value: string): string {
  const text = value.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError('expected an http(s) URL, e.g. http://127.0.0.1:4566 or https://kms.eu-west-1.amazonaws.com');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(`expected an http(s) URL, not ${url.protocol}`);
  return text;
}

/** A Region name (us-east-1, us-gov-west-1, eusc-de-east-1, ...), else bad usage (before any client is made). */
export function regionName(value: string): string {
  const text = value.trim();
  if (!isRegion(text)) throw new InvalidArgumentError('expected a Region name, e.g. us-east-1, us-gov-west-1 or eusc-de-east-1');
  return text;
}

export const endpointOption = (): Option =>
  new Option('--endpoint-url <url>', 'KMS and Secrets Manager endpoint (default: the SDK configuration: AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_KMS, ...)').argParser(endpointUrl);

export const regionOption = (): Option => new Option('--region <region>', 'AWS Region (default: the SDK configuration: AWS_REGION, the profile)').argParser(regionName);

export const profileOption = (): Option => new Option('--profile <name>', 'a named profile of ~/.aws/config and ~/.aws/credentials (default: AWS_PROFILE, then default)');

/** What every command that talks to AWS accepts. */
export interface AwsCliOptions {
  region?: string;
  profile?: string;
  endpointUrl?: string;
}

/** Adds --region, --profile and --endpoint-url to a command. */
export function addAwsOptions(command: Command): Command {
  return command.addOption(regionOption()).addOption(profileOption()).addOption(endpointOption());
}

/** The SDK client options the AWS flags stand for (unset flags leave the SDK's own chain in charge). */
export function clientOptionsFrom(options: AwsCliOptions): ClientOptions {
  return {
    ...(options.region ? { region: options.region } : {}),
    ...(options.profile ? { profile: options.profile } : {}),
    ...(options.endpointUrl ? { endpointUrl: options.endpointUrl } : {}),
  };
}

export type OutputFormat = 'json' | 'table';

/** --output json|table, and --json as its short form (the AWS CLI's --output, with the scripts' --json). */
export function addOutputOptions(command: Command): Command {
  return command
    .addOption(new Option('--output <format>', 'json for machines, table for people').choices(['json', 'table']).default('table'))
    .addOption(new Option('--json', 'the same as --output json'));
}

/** The output format a command's options ask for. */
export function outputFormatOf(options: { output?: string; json?: boolean }): OutputFormat {
  return options.json || options.output === 'json' ? 'json' : 'table';
}

/** Adds --key-id beside the positional <key> (the positional argument must be declared optional: `[key]`). */
export const keyIdOption = (): Option => new Option('--key-id <key>', 'the key, as the AWS CLI names it: key ID, key ARN, alias name (alias/...) or alias ARN');

export const KEY_ARGUMENT_DESCRIPTION = 'key ID, key ARN, alias name (alias/...) or alias ARN (or --key-id)';

/**
 * The one key a command acts on, from the positional argument or --key-id: exactly one of them,
 * else a usage error (exit 2) that says how to name the key.
 */
export function keyRefOf(command: Command, positional: string | undefined, options: { keyId?: string }): string {
  const named = options.keyId?.trim();
  const given = positional?.trim();
  if (named && given && named !== given) {
    command.error(`error: the key is named twice (${given} and --key-id ${named}); give one`, { exitCode: EXIT.usage, code: 'kms-reimport.keyTwice' });
  }
  const key = given || named;
  if (!key) {
    command.error(`error: which key? Give it as the argument or with --key-id (key ID, key ARN, alias/NAME or alias ARN), e.g. kms-reimport ${command.name()} --key-id alias/payments`, {
      exitCode: EXIT.usage,
      code: 'kms-reimport.missingKey',
    });
  }
  return key;
}

/** Progress as it happens goes to stderr, so that stdout holds only the result (and pipes stay clean). */
export function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * The exit code of a one-key command from its outcome: failed → 1; skipped → 3 (nothing to do: the
 * key did not need it, is not ours to touch, or another run holds it, as the reason says); else 0.
 */
export function exitCodeOfOutcome(outcome: { status: string }): ExitCode {
  if (outcome.status === 'failed') return EXIT.failed;
  if (outcome.status === 'skipped') return EXIT.nothingToDo;
  return EXIT.done;
}

/** `--help` ends with examples, one command a line (the AWS CLI's "Examples" habit). */
export function withExamples(command: Command, ...examples: string[]): Command {
  return command.addHelpText('after', `\nExamples:\n${examples.map((e) => `  $ ${e}`).join('\n')}\n\nExit codes: 0 done, 1 failed, 2 bad usage, 3 nothing to do.`);
}

/** --lease-table: the per-key lease's DynamoDB table (cli/lease.ts opens it when a command runs). */
export const leaseTableOption = (): Option =>
  new Option(
    '--lease-table <name>',
    "DynamoDB table of the per-key lease, the stack's LeaseTableName output (default: KMS_REIMPORT_LEASE_TABLE); without it, runs for one key are not serialised",
  );

/** --via-stack / --state-machine: run through the deployed service instead of locally. */
export const viaStackOption = (): Option =>
  new Option('--via-stack <stack>', "start the deployed stack's state machine for the key and follow the execution to its outcome, instead of acting locally");
export const stateMachineOption = (): Option =>
  new Option('--state-machine <arn>', 'like --via-stack, with the state machine ARN (the stack\'s RecoveryStateMachineArn output)').conflicts('viaStack');

/**
 * With --via-stack the deployed service makes these choices itself: options given for a local run
 * (by their attribute names, e.g. `leaseTable`) are refused as bad usage rather than silently ignored.
 */
export function refuseLocalOnlyOptions(command: Command, names: readonly string[]): void {
  const given = names.filter((name) => command.getOptionValueSource(name) === 'cli');
  if (given.length === 0) return;
  const flags = given.map((name) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ');
  command.error(
    `error: ${flags} apply to a local run only; with --via-stack the deployed service chooses for itself (it takes its own lease; a rotation's mode is auto and its id the UTC day). Drop them, or run without --via-stack.`,
    { exitCode: EXIT.usage, code: 'kms-reimport.localOnlyOption' },
  );
}

/** --poll-ms (hidden): how often --via-stack looks at the execution (tests make it fast). */
export const pollOption = (): Option =>
  new Option('--poll-ms <ms>', 'pause between two looks at the execution').argParser((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number of milliseconds');
    return n;
  }).hideHelp();

/** The fields of a log line, as `name=value` pairs (strings bare, the rest as JSON). */
function fields(extra: object | undefined): string {
  if (!extra) return '';
  return Object.entries(extra)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('');
}

/** The engine's logger (lib/run.ts RunLogger) writing each step as it happens to stderr, one line each. */
export function progressLogger(write: (line: string) => void = progress): RunLogger {
  return {
    info: (message, extra) => write(`  ${message}${fields(extra)}`),
    warn: (message, extra) => write(`  warning: ${message}${fields(extra)}`),
    error: (message, extra) => write(`  error: ${message}${fields(extra)}`),
  };
}

/**
 * One line, once, when Node is older than the AWS SDK will support, instead of the SDK's
 * multi-line NodeVersionSupportWarning in the middle of the output (the SDK skips its own when
 * AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED is "true").
 */
export const SDK_NODE_MAJOR = 22;
export function nodeSupportNotice(version: string = process.version, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  if (!Number.isInteger(major) || major >= SDK_NODE_MAJOR) return undefined;
  // Silenced on purpose (the SDK's own switch): no line either.
  if (env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED === 'true') return undefined;
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  return `kms-reimport: Node ${version} works today, but AWS SDK releases from January 2027 need Node ${SDK_NODE_MAJOR} or newer: upgrade Node.`;
}
