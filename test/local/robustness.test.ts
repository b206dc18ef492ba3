// The endpoint survives malformed requests: each gets a proper error in AWS's shape, and a
// successful request afterwards shows the server is still up.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startLocalEndpoint, type LocalEndpoint } from '../../local/index.js';
import { createRequestListener, listen } from '../../local/server.js';
import { Controls } from '../../local/controls.js';
import { createClock } from '../../local/clock.js';
import { createControlHandler } from '../../local/control-api.js';
import type { EmulatedService } from '../../local/service.js';

let endpoint: LocalEndpoint;
let sm: SecretsManagerClient;
let checks = 0;

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: Record<string, unknown>;
}

function raw(options: { method?: string; path?: string; target?: string; body?: string | Buffer; headers?: Record<string, string>; url?: string }): Promise<Raw> {
  const url = new URL(options.path ?? '/', options.url ?? endpoint.url);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'POST',
        headers: {
          'Content-Type': 'application/x-amz-json-1.1',
          ...(options.target ? { 'X-Amz-Target': options.target } : {}),
          ...options.headers,
        },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, headers: res.headers, json: JSON.parse(text) as Record<string, unknown> });
          } catch {
            reject(new Error(`Response is not JSON (status ${res.statusCode}): ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.end(options.body);
    else req.end();
  });
}

function assertError(res: Raw, status: number, type: string, message?: RegExp): void {
  assert.equal(res.status, status, JSON.stringify(res.json));
  assert.equal(res.json.__type, type);
  assert.equal(typeof res.json.message, 'string');
  if (message) assert.match(res.json.message as string, message);
  assert.equal(res.headers['x-amzn-errortype'], type);
  assert.equal(res.headers['content-type'], 'application/x-amz-json-1.1');
}

/** A real request that must still succeed. */
async function stillServing(): Promise<void> {
  const name = `alive-${++checks}`;
  await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'ok' }));
  assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString, 'ok');
}

before(async () => {
  endpoint = await startLocalEndpoint();
  sm = new SecretsManagerClient({ endpoint: endpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' }, maxAttempts: 1 });
});
after(async () => {
  sm.destroy();
  await endpoint.close();
});

describe('malformed bodies', () => {
  it('bad JSON', async () => {
    assertError(await raw({ target: 'secretsmanager.GetSecretValue', body: '{"SecretId": ' }), 400, 'SerializationException', /not valid JSON/);
    await stillServing();
  });

  it('JSON that is not an object', async () => {
    for (const body of ['[]', '"text"', '42', 'null', 'true']) {
      assertError(await raw({ target: 'secretsmanager.GetSecretValue', body }), 400, 'SerializationException', /JSON object/);
    }
    await stillServing();
  });

  it('missing and wrong-typed fields', async () => {
    assertError(await raw({ target: 'secretsmanager.GetSecretValue', body: '{}' }), 400, 'InvalidParameterException', /SecretId is required/);
    assertError(await raw({ target: 'secretsmanager.CreateSecret', body: '{"Name": 5}' }), 400, 'InvalidParameterException', /Name must be a string/);
    assertError(await raw({ target: 'secretsmanager.CreateSecret', body: '{"Name": "n", "Tags": {"a": 1}}' }), 400, 'InvalidParameterException', /Tags must be a list/);
    assertError(await raw({ target: 'secretsmanager.CreateSecret', body: '{"Name": "n", "SecretBinary": "***"}' }), 400, 'InvalidParameterException', /base64/);
    assertError(await raw({ target: 'ResourceGroupsTaggingAPI_20170126.GetResources', body: '{"ResourcesPerPage": "ten"}' }), 400, 'InvalidParameterException');
    await stillServing();
  });

  it('an empty body is an empty input', async () => {
    const res = await raw({ target: 'ResourceGroupsTaggingAPI_20170126.GetResources', body: '' });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json.ResourceTagMappingList, []);
  });

  it('a body over the limit, declared or chunked, is refused without being read', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 0x61);
    assertError(await raw({ target: 'secretsmanager.CreateSecret', body: big }), 413, 'RequestEntityTooLargeException', /1048576 bytes/);
    assertError(
      await raw({ target: 'secretsmanager.CreateSecret', body: big, headers: { 'Transfer-Encoding': 'chunked' } }),
      413,
      'RequestEntityTooLargeException',
    );
    await stillServing();
  });
});

describe('wrong targets, methods and paths', () => {
  it('unknown service prefix, unknown operation, missing target', async () => {
    assertError(await raw({ target: 'AmazonSSM.GetParameter', body: '{}' }), 400, 'UnknownOperationException', /serves TrentService, secretsmanager/);
    assertError(await raw({ target: 'TrentService.NoSuchOperation', body: '{}' }), 400, 'UnsupportedOperationException', /NoSuchOperation is not implemented by the local endpoint/);
    assertError(await raw({ target: 'secretsmanager.RotateSecret', body: '{}' }), 400, 'UnknownOperationException', /RotateSecret is not implemented/);
    assertError(await raw({ body: '{}' }), 400, 'UnknownOperationException', /X-Amz-Target/);
    assertError(await raw({ target: 'nodot', body: '{}' }), 400, 'UnknownOperationException', /X-Amz-Target/);
    await stillServing();
  });

  it('GET and other methods on /, unknown paths', async () => {
    assertError(await raw({ method: 'GET' }), 405, 'UnknownOperationException', /POST \//);
    assertError(await raw({ method: 'DELETE', target: 'secretsmanager.GetSecretValue' }), 405, 'UnknownOperationException');
    assertError(await raw({ path: '/some/where', target: 'secretsmanager.GetSecretValue', body: '{}' }), 404, 'UnknownOperationException', /No such path/);
    assertError(await raw({ method: 'GET', path: '/favicon.ico' }), 404, 'UnknownOperationException');
    await stillServing();
  });
});

describe('misbehaving clients', () => {
  it('a client that aborts mid-body, and one that sends garbage instead of HTTP', async () => {
    await new Promise<void>((resolve) => {
      const req = request(new URL('/', endpoint.url), {
        method: 'POST',
        headers: { 'X-Amz-Target': 'secretsmanager.CreateSecret', 'Content-Length': '1000' },
        agent: false,
      });
      req.on('error', () => resolve());
      req.write('{"Name": "half');
      setImmediate(() => {
        req.destroy();
        resolve();
      });
    });
    const garbage = await new Promise<string>((resolve) => {
      const socket = connect(endpoint.port, '127.0.0.1', () => socket.write('\x00\x01 NOT HTTP AT ALL\r\n\r\n'));
      let reply = '';
      socket.on('data', (d) => (reply += d.toString('latin1')));
      socket.on('close', () => resolve(reply));
      socket.on('error', () => resolve(reply));
    });
    assert.match(garbage, /^HTTP\/1\.1 400/);
    await stillServing();
  });
});

describe('failures inside a service', () => {
  it('become a 500 in the service shape, and the server stays up', async () => {
    const crashing = (signingName: string, targetPrefix: string): EmulatedService => ({
      targetPrefix,
      signingName,
      operations: () => ['Crash', 'Ok'],
      async handle(operation) {
        if (operation === 'Crash') throw new TypeError('cannot read properties of undefined');
        return { fine: true };
      },
      snapshot: () => ({}),
      restore: () => {},
    });
    const clock = createClock();
    const controls = new Controls();
    const services = [crashing('kms', 'TrentService'), crashing('example', 'Example_2020')];
    const running = await listen(
      createRequestListener({
        services,
        controls,
        clock,
        maxBodyBytes: 1024,
        controlHandler: createControlHandler({ clock, controls, services: () => ({}) }),
      }),
      0,
    );
    const url = `http://127.0.0.1:${running.port}`;
    try {
      // The name only: an unexpected error's message could quote request data (material), so it never reaches a response.
      const crash = await raw({ url, target: 'TrentService.Crash', body: '{}' });
      assertError(crash, 500, 'KMSInternalException', /kms:Crash \(TypeError; set KMS_REIMPORT_LOCAL_DEBUG=1/);
      assert.doesNotMatch(JSON.stringify(crash), /cannot read properties/);
      assertError(await raw({ url, target: 'Example_2020.Crash', body: '{}' }), 500, 'InternalFailure', /example:Crash/);
      assertError(await raw({ url, target: 'Example_2020.Ok', body: 'x'.repeat(2000) }), 413, 'RequestEntityTooLargeException');
      const ok = await raw({ url, target: 'Example_2020.Ok', body: '{}' });
      assert.equal(ok.status, 200);
      assert.deepEqual(ok.json, { fine: true });
      assert.equal(controls.getCounters()['kms:Crash']?.errors, 1);
    } finally {
      await running.close();
    }
  });
});
