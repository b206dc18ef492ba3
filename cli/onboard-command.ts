/**
 * Registers `onboard`: bring a key under kms-reimport's care. Three ways, one at a time:
 *   onboard <key> --material-file F | --material-stdin   a key imported by hand: prove F is its material, escrow it, tag it
 *   onboard --new --key-spec SPEC [--alias alias/NAME]    a new EXTERNAL key born managed; its material never on a disk
 *   onboard --all-from-dir DIR                            every <key-id>.bin in DIR, one result each
 * Options only here (commander and cli/options.ts); the work (cli/onboard.ts, the SDK, lib/) loads when it runs.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { addAwsOptions, addOutputOptions, EXIT, KEY_ARGUMENT_DESCRIPTION, keyIdOption, keyRefOf, withExamples, type AwsCliOptions } from './options.js';

export interface OnboardCommandOptions extends AwsCliOptions {
  keyId?: string;
  output?: string;
  json?: boolean;
  materialFile?: string;
  materialStdin?: boolean;
  new?: boolean;
  keySpec?: string;
  keyUsage?: string;
  alias?: string;
  description?: string;
  expirationModel?: 'KEY_MATERIAL_EXPIRES' | 'KEY_MATERIAL_DOES_NOT_EXPIRE';
  allFromDir?: string;
  escrowKmsKeyId?: string;
  /** REGION → KMS key for the escrow's replica there (a Multi-Region primary under --escrow-kms-key-id). */
  escrowReplicaKmsKeyId?: Record<string, string>;
}

/** What one onboard invocation does, once its options are checked. */
export type OnboardMode =
  | { kind: 'file'; keyRef: string; materialFile: string }
  | { kind: 'stdin'; keyRef: string }
  | { kind: 'new'; keySpec: string }
  | { kind: 'dir'; dir: string };

/** --escrow-replica-kms-key-id REGION=KEY, repeatable: collected by Region. */
function regionKey(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const match = /^([a-z]{2,}(?:-[a-z]+)+-\d+)=(.+)$/.exec(value);
  if (!match) throw new InvalidArgumentError('expected REGION=KEY, e.g. eu-west-1=alias/escrow');
  return { ...previous, [match[1]!]: match[2]! };
}

function aliasName(value: string): string {
  if (!/^alias\/[a-zA-Z0-9/_-]{1,250}$/.test(value) || value.startsWith('alias/aws/')) {
    throw new InvalidArgumentError('expected alias/NAME (letters, digits, / _ -; not alias/aws/...)');
  }
  return value;
}

const NEW_ONLY = ['keySpec', 'keyUsage', 'alias', 'description', 'expirationModel'] as const;
const FLAG: Record<string, string> = {
  keySpec: '--key-spec',
  keyUsage: '--key-usage',
  alias: '--alias',
  description: '--description',
  expirationModel: '--expiration-model',
  materialFile: '--material-file',
  materialStdin: '--material-stdin',
};

/** The mode the options ask for, or a usage error (exit 2) that says what to give. */
export function onboardModeOf(command: Command, positional: string | undefined, options: OnboardCommandOptions): OnboardMode {
  const usage = (message: string): never =>
    command.error(`error: ${message}`, { exitCode: EXIT.usage, code: 'kms-reimport.onboardUsage' });
  const named = (keys: readonly string[]) => keys.filter((k) => (options as Record<string, unknown>)[k] !== undefined).map((k) => FLAG[k]);
  const material = named(['materialFile', 'materialStdin']);
  const hasKey = Boolean(positional?.trim() || options.keyId?.trim());
  const modes = [options.new ? '--new' : undefined, options.allFromDir !== undefined ? '--all-from-dir' : undefined, hasKey ? 'a key' : undefined].filter(Boolean);
  if (modes.length > 1) usage(`give one of a key (with --material-file or --material-stdin), --new or --all-from-dir, not ${modes.join(' and ')}`);
  if (!options.new) {
    const stray = named(NEW_ONLY);
    if (stray.length > 0) usage(`${stray.join(', ')} only go with --new (a new key)`);
  }
  if (options.new) {
    if (material.length > 0) usage(`--new makes its own material in memory: drop ${material.join(' and ')}`);
    if (!options.keySpec) usage('--new needs --key-spec, e.g. onboard --new --key-spec SYMMETRIC_DEFAULT --alias alias/payments');
    return { kind: 'new', keySpec: options.keySpec as string };
  }
  if (options.allFromDir !== undefined) {
    if (material.length > 0) usage(`--all-from-dir reads <key-id>.bin files from the directory: drop ${material.join(' and ')}`);
    return { kind: 'dir', dir: options.allFromDir };
  }
  if (!hasKey && material.length === 0) {
    usage('what to onboard? Give a key and its material file (onboard <key> --material-file PlaintextKeyMaterial.bin), --new, or --all-from-dir DIR');
  }
  const keyRef = keyRefOf(command, positional, options);
  if (material.length === 0) usage(`which material proves key ${keyRef}? Give --material-file PlaintextKeyMaterial.bin (or --material-stdin)`);
  if (material.length > 1) usage('give --material-file or --material-stdin, not both');
  return options.materialStdin ? { kind: 'stdin', keyRef } : { kind: 'file', keyRef, materialFile: options.materialFile as string };
}

export function registerOnboardCommand(program: Command): void {
  const command = program
    .command('onboard')
    .description(
      'bring a key under kms-reimport: prove a hand-imported key\'s material file is its own, escrow it, tag the key (or --new: a new managed key; --all-from-dir: many keys)',
    )
    .argument('[key]', KEY_ARGUMENT_DESCRIPTION)
    .addOption(keyIdOption())
    .addOption(new Option('--material-file <path>', 'the key\'s plaintext material (PlaintextKeyMaterial.bin: raw bytes, or PKCS#8 DER for RSA/ECC), read once'))
    .addOption(new Option('--material-stdin', 'read the material from standard input instead of a file'))
    .addOption(new Option('--new', 'create a new EXTERNAL key, tagged managed; its material is generated in memory, escrowed, then imported'))
    .addOption(new Option('--key-spec <spec>', 'with --new: SYMMETRIC_DEFAULT, HMAC_224/256/384/512, RSA_2048/3072/4096, ECC_NIST_P256/P384/P521, ECC_SECG_P256K1'))
    .addOption(new Option('--key-usage <usage>', 'with --new (default: by key spec)').choices(['ENCRYPT_DECRYPT', 'SIGN_VERIFY', 'GENERATE_VERIFY_MAC', 'KEY_AGREEMENT']))
    .addOption(new Option('--alias <alias/NAME>', 'with --new: the alias the new key gets once its material is imported').argParser(aliasName))
    .addOption(new Option('--description <text>', 'with --new: the key\'s description'))
    .addOption(
      new Option('--expiration-model <model>', 'with --new (default: KMS_REIMPORT_EXPIRATION_MODEL; expiring material gets KMS_REIMPORT_MATERIAL_LIFETIME_DAYS)').choices([
        'KEY_MATERIAL_EXPIRES',
        'KEY_MATERIAL_DOES_NOT_EXPIRE',
      ]),
    )
    .addOption(new Option('--all-from-dir <dir>', 'onboard every <key-id>.bin in the directory; a table of results, every key tried'))
    .addOption(new Option('--escrow-kms-key-id <key>', 'the KMS key that encrypts the escrow secret (default aws/secretsmanager); never the key itself'))
    .addOption(
      new Option('--escrow-replica-kms-key-id <region=key>', "with --escrow-kms-key-id, for a Multi-Region primary: the KMS key of each replica Region that encrypts the escrow's replica there (repeat per Region)").argParser(regionKey),
    );
  addAwsOptions(command);
  addOutputOptions(command);
  withExamples(
    command,
    'kms-reimport onboard 1234abcd-12ab-34cd-56ef-1234567890ab --material-file PlaintextKeyMaterial.bin',
    'kms-reimport onboard --key-id alias/payments --material-stdin < PlaintextKeyMaterial.bin --json',
    'kms-reimport onboard --new --key-spec SYMMETRIC_DEFAULT --alias alias/payments',
    'kms-reimport onboard --all-from-dir ./materials --output table     # ./materials/<key-id>.bin, one per key',
  );
  command.action(async (positional: string | undefined, options: OnboardCommandOptions, self: Command) => {
    const mode = onboardModeOf(self, positional, options);
    const { runOnboard } = await import('./onboard.js');
    process.exitCode = await runOnboard(self, mode, options);
  });
}
