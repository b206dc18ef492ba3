/** `kms-reimport local`: the local KMS + Secrets Manager endpoint, until Ctrl-C. */
import { Option, type Command } from 'commander';
import { describeEnvironment, startLocalEndpoint } from '../local/index.js';
import { port } from './options.js';

interface LocalOptions {
  port: number;
  persist?: string;
  quotas?: 'kms-defaults';
  earlierTokens: 'valid' | 'invalid';
}

export function registerLocalCommand(program: Command): void {
  program
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
    .action(async (options: LocalOptions) => {
      const endpoint = await startLocalEndpoint({
        port: options.port,
        ...(options.persist ? { persistPath: options.persist } : {}),
        ...(options.quotas ? { quotas: options.quotas } : {}),
        kms: { earlierTokens: options.earlierTokens },
      });
      console.log(`kms-reimport local endpoint (KMS, Secrets Manager, Resource Groups Tagging) listening on ${endpoint.url}`);
      console.log('Point a client at it:');
      for (const [name, value] of Object.entries(describeEnvironment(endpoint))) console.log(`  export ${name}=${value}`);
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
