/**
 * rotate (and `plan --action rotate`): one key, through the library's rotateKey. Loaded only when
 * the command runs (cli/rotate-command.ts registers it), so `--help` stays light.
 */
import { createClients } from '../lib/aws/clients.js';
import { loadConfig } from '../lib/config.js';
import { summariseOutcome } from '../lib/outcome.js';
import { rotateKey, type RotationMode } from '../lib/rotate.js';
import type { Outcome } from '../lib/types.js';
import { openLease } from './lease.js';

export interface RotateCommandOptions {
  endpointUrl?: string;
  region?: string;
  json?: boolean;
  leaseTable?: string;
  mode?: RotationMode;
  rotationId?: string;
}

export async function runRotateCommand(
  action: 'rotate' | 'plan',
  keyRef: string,
  options: RotateCommandOptions,
  print: (line: string) => void = console.log,
): Promise<Outcome> {
  const config = loadConfig(process.env);
  const clients = createClients({ endpointUrl: options.endpointUrl, region: options.region });
  // A plan changes nothing: no lease, no warning.
  const lease = action === 'plan' ? undefined : openLease(options.leaseTable, config, options.region ? { region: options.region } : {});
  try {
    const outcome = await rotateKey(
      { ...clients, ...(lease?.lease ? { lease: lease.lease, leaseOwner: lease.owner() } : {}) },
      keyRef,
      { action, config, ...(options.mode ? { mode: options.mode } : {}), ...(options.rotationId ? { rotationId: options.rotationId } : {}) },
    );
    print(options.json ? JSON.stringify(outcome, null, 2) : summariseOutcome(outcome));
    return outcome;
  } finally {
    lease?.close();
    clients.kms.destroy();
    clients.secrets.destroy();
  }
}
