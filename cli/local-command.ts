/**
 * `kms-reimport local`: the local KMS + Secrets Manager endpoint, until Ctrl-C. The endpoint's code
 * (local/) loads only when the command runs, never for --help.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { port, withExamples } from './options.js';

interface LocalOptions {
  port: number;
  persist?: string;
  quotas?: 'kms-defaults';
  earlierTokens: 'valid' | 'invalid';
  iamTemplate?: string;
  account: string;
  region: string;
  parameter: Record<string, string>;
}

function parameter(value: string, previous: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('expected Name=Value (a template parameter)');
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

function account(value: string): string {
  if (!/^\d{12}$/.test(value)) throw new InvalidArgumentError('expected a 12-digit account ID');
  return value;
}

export function registerLocalCommand(program: Command): void {
  const command = program
    .command('local')
    .description('run the local KMS + Secrets Manager endpoint on 127.0.0.1 (for rehearsals, tests and benchmarks)')
    .option('--port <n>', 'port on 127.0.0.1 (0 picks a free one)', port, 4566)
    .option('--persist <file>', 'keep state in this file across restarts (it holds emulated key material in the clear)')
    .addOption(new Option('--quotas <preset>', "answer ThrottlingException beyond KMS's documented request quotas").choices(['kms-defaults']))
    .addOption(
      new Option('--earlier-tokens <mode>', 'whether an older, unexpired import token still works after a newer GetParametersForImport')
        .choices(['valid', 'invalid'])
        .default('invalid'),
    )
    .option('--iam-template <file>', "enforce the IAM roles this SAM template gives its functions: each role gets an access key id (printed); other keys are refused, except the account's own (an administrator, for setup)")
    .option('--account <id>', 'with --iam-template: the account the roles belong to (its 12-digit ID is also the administrator\'s access key id)', account, '111122223333')
    .option('--region <region>', 'with --iam-template: the Region the roles are rendered for', 'us-east-1')
    .option('--parameter <Name=Value>', 'with --iam-template: a template parameter (repeatable); others take their Default', parameter, {});
  withExamples(
    command,
    'kms-reimport local --port 4566            # then: export AWS_ENDPOINT_URL=http://127.0.0.1:4566',
    'kms-reimport local --port 0 --persist .kms-reimport-local.json --quotas kms-defaults',
    'kms-reimport local --iam-template template.yaml   # enforce the stack\'s roles',
  );
  command.action(async (options: LocalOptions) => {
    const { describeEnvironment, startLocalEndpoint } = await import('../local/index.js');
    const iam = options.iamTemplate ? await templateRoles(options) : undefined;
    const endpoint = await startLocalEndpoint({
      ...(iam ? { iam: iam.enforcement } : {}),
      port: options.port,
      ...(options.persist ? { persistPath: options.persist } : {}),
      ...(options.quotas ? { quotas: options.quotas } : {}),
      kms: { earlierTokens: options.earlierTokens },
    });
    console.log(`kms-reimport local endpoint (KMS, Secrets Manager, Resource Groups Tagging) listening on ${endpoint.url}`);
    console.log('Point a client at it:');
    const environment = describeEnvironment(endpoint, options.region);
    if (iam) environment.AWS_ACCESS_KEY_ID = options.account;
    for (const [name, value] of Object.entries(environment)) console.log(`  export ${name}=${value}`);
    if (iam) {
      console.log(`IAM enforced: the roles of ${options.iamTemplate} in account ${options.account}, ${options.region}. Sign as a role with its access key id:`);
      for (const role of iam.roles) console.log(`  ${role.functionId.padEnd(28)} AWS_ACCESS_KEY_ID=${role.accessKeyId}  (${role.principal.arn})`);
      console.log(`  ${'administrator (setup)'.padEnd(28)} AWS_ACCESS_KEY_ID=${options.account}`);
    }
    console.log(`Controls (clock, latency, quotas, faults, counters): ${endpoint.url}/_local/  (see local/README.md)`);
    console.log('Ctrl-C stops it.');
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await endpoint.close();
    console.log('stopped');
  });
}

/** The template's function roles as principals, plus the account's own key as an administrator. */
async function templateRoles(options: LocalOptions) {
  const { loadTemplateFile, principalsOf, renderTemplateRoles } = await import('../local/iam/template-roles.js');
  const roles = renderTemplateRoles(await loadTemplateFile(options.iamTemplate as string), {
    account: options.account,
    region: options.region,
    parameters: options.parameter,
  });
  const administrator = {
    arn: `arn:aws:iam::${options.account}:role/administrator`,
    account: options.account,
    policies: [{ name: 'AdministratorAccess', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] } }],
  };
  return { roles, enforcement: { principals: { ...principalsOf(roles), [options.account]: administrator } } };
}
