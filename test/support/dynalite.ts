/**
 * A real DynamoDB for tests: dynalite (an in-memory DynamoDB implementation that runs in Node),
 * started on 127.0.0.1 with a free port, with the lease table created as template.yaml defines
 * it (key schema, attribute definitions, billing mode read from the LeaseTable resource).
 * dynalite has no UpdateTimeToLive: the TTL setting is checked on the template itself, and the
 * lease never relies on TTL for expiry (its condition compares expiresAt with now).
 * Not a test file itself.
 */
import { Agent } from 'node:http';
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { loadTemplate } from '../unit/template-load.js';

const require = createRequire(import.meta.url);
// dynalite is CommonJS without type declarations.
const dynalite = require('dynalite') as (options: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number }) => Server;

export interface LocalDynamo {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  client: DynamoDBClient;
  /** Creates a table shaped like template.yaml's LeaseTable. */
  createLeaseTable(tableName: string): Promise<void>;
  close(): Promise<void>;
}

/** The LeaseTable's CreateTable input, from template.yaml. */
export function leaseTableInput(tableName: string): CreateTableCommandInput {
  const properties = loadTemplate().Resources.LeaseTable?.Properties;
  if (!properties) throw new Error('template.yaml has no LeaseTable');
  return {
    TableName: tableName,
    AttributeDefinitions: properties.AttributeDefinitions,
    KeySchema: properties.KeySchema,
    BillingMode: properties.BillingMode,
  };
}

/** A client for a local endpoint that keeps no connection open between requests (nothing holds the process). */
export function localDynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
    requestHandler: { httpAgent: new Agent({ keepAlive: false }) },
  });
}

export interface StartDynaliteOptions {
  /** Do not let the server keep the process alive (for a server shared by a whole test process). */
  unref?: boolean;
}

export async function startDynalite(options: StartDynaliteOptions = {}): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  if (options.unref) server.unref();
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const client = localDynamoClient(endpoint);
  return {
    endpoint,
    client,
    async createLeaseTable(tableName) {
      await client.send(new CreateTableCommand(leaseTableInput(tableName)));
    },
    async close() {
      client.destroy();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
