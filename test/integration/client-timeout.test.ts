/**
 * The clients lib/ makes give up on a stalled request (TimeoutError, which lib/retry.ts retries)
 * instead of waiting for the Lambda's own timeout: the SDK only warns past requestTimeout unless
 * told to throw. A loopback server that accepts the request and never answers stands in for a
 * stalled connection.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { createClients } from '../../lib/aws/clients.js';
import { isTransientError } from '../../lib/retry.js';

const held: ServerResponse[] = [];
const server = createServer((_req, res) => {
  held.push(res); // never answered
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const endpointUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
after(async () => {
  for (const res of held) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('a request that gets no answer fails with TimeoutError (transient, so retried) for KMS and Secrets Manager', async () => {
  const clients = createClients({
    endpointUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    requestTimeoutMs: 300,
  });
  try {
    for (const send of [
      () => clients.kms.send(new DescribeKeyCommand({ KeyId: '1234abcd-12ab-34cd-56ef-1234567890ab' })),
      () => clients.secrets.send(new GetSecretValueCommand({ SecretId: 'kms-reimport/x' })),
    ]) {
      await assert.rejects(send(), (error: Error) => {
        assert.equal(error.name, 'TimeoutError');
        assert.equal(isTransientError(error), true);
        return true;
      });
    }
  } finally {
    clients.kms.destroy();
    clients.secrets.destroy();
  }
});
