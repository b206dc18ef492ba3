/**
 * The per-key lease for CLI runs (`--lease-table`, or KMS_REIMPORT_LEASE_TABLE): the same
 * DynamoDB lease the state machine takes, so that a CLI run, a sweep and the deployed service
 * never act on one key at once. The DynamoDB client follows the SDK configuration (region,
 * credentials, AWS_ENDPOINT_URL_DYNAMODB), not --endpoint-url (that one is KMS and Secrets
 * Manager's). Without a table, one warning per process says that runs are not serialised.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ReimportConfig } from '../lib/config.js';
import { DynamoDbKeyLease, type KeyLease } from '../lib/lease/index.js';

/** Defined with the other options (cheap to load for --help); kept here for existing importers. */
export { leaseTableOption } from './options.js';

export interface CliLease {
  lease?: KeyLease;
  /** A fresh owner name for each run (two runs in one process must not share one). */
  owner(): string;
  close(): void;
}

let warned = false;

/** Opens the lease named by the option or the config; warns once per process when there is none. */
export function openLease(
  table: string | undefined,
  config: ReimportConfig,
  clientOptions: { region?: string; profile?: string; credentials?: { accessKeyId: string; secretAccessKey: string } },
  warn: (line: string) => void = (line) => console.error(line),
): CliLease {
  const owner = () => `cli:${hostname()}:${process.pid}:${randomUUID()}`;
  const tableName = table ?? config.leaseTable;
  if (!tableName) {
    if (!warned) {
      warned = true;
      warn(
        'warning: no lease table (--lease-table or KMS_REIMPORT_LEASE_TABLE): this run is not serialised with other runs for the same key ' +
          '(the deployed service, a sweep, another CLI run). Give the stack\'s LeaseTableName output to take the per-key lease.',
      );
    }
    return { owner, close: () => undefined };
  }
  const client = new DynamoDBClient({
    ...(clientOptions.region ? { region: clientOptions.region } : {}),
    ...(clientOptions.profile ? { profile: clientOptions.profile } : {}),
    ...(clientOptions.credentials ? { credentials: clientOptions.credentials } : {}),
  });
  return { lease: new DynamoDbKeyLease({ client, tableName }), owner, close: () => client.destroy() };
}
