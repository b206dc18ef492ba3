import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { countCalls, operationName } from '../../lib/aws/count-calls.js';

test('operationName reads the operation from the command schema (minification-proof)', () => {
  assert.equal(operationName(new DescribeKeyCommand({ KeyId: 'k' })), 'DescribeKey');
  assert.equal(operationName(new GetSecretValueCommand({ SecretId: 's' })), 'GetSecretValue');
  class FooCommand {}
  assert.equal(operationName(new FooCommand()), 'Foo');
  assert.equal(operationName(null), 'Unknown');
});

test('countCalls counts every send per operation and delegates to the current send', async () => {
  const client = new KMSClient({ region: 'us-east-1' });
  const seen: string[] = [];
  // Replace send the way aws-sdk-client-mock does, after the view was made.
  const counts: Record<string, number> = {};
  const view = countCalls(client, counts);
  (client as unknown as { send: (c: unknown) => Promise<unknown> }).send = async (c: unknown) => {
    seen.push(operationName(c));
    return { ok: true };
  };
  assert.deepEqual(await view.send(new DescribeKeyCommand({ KeyId: 'a' })), { ok: true });
  await view.send(new DescribeKeyCommand({ KeyId: 'b' }));
  assert.deepEqual(counts, { DescribeKey: 2 });
  assert.deepEqual(seen, ['DescribeKey', 'DescribeKey']);
  assert.equal(view.config, client.config, 'other members come from the client');
  view.destroy();
});
