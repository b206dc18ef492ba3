// Security properties of the local endpoint: errors never quote a request body or the state file
// (both may hold key material or secret values); only local, non-browser clients are served (Host
// must name the endpoint, no Origin header, control bodies only as application/json), and the
// real SDK v3 and Node's fetch still work; a refused control changes nothing (clock bounded to
// 100 years from real time, latency to 10 minutes).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { CreateKeyCommand, DescribeKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_CLOCK_OFFSET_MS, MAX_LATENCY_MS, startLocalEndpoint, type LocalEndpoint } from '../../local/index.js';
import { createClock } from '../../local/clock.js';
import { Controls } from '../../local/controls.js';
import { loadState } from '../../local/persistence.js';
import { jsonErrorByteOffset, parseJsonObject } from '../../local/protocol.js';
import { ServiceError } from '../../local/service.js';
import { isJsonContentType, isLoopbackHost } from '../../local/server.js';

/** Stands for key material or a secret value: it must never come back in an error. */
const MARKER = 'QZXJKVWPQYMB';

/** Fails when `text` contains the marker or any 5 consecutive characters of it. */
function assertNoMarker(text: string): void {
  for (let i = 0; i + 5 <= MARKER.length; i++) {
    assert.ok(!text.includes(MARKER.slice(i, i + 5)), `error text quotes the body: ${text}`);
  }
}

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function raw(url: string, options: { method?: string; path?: string; headers?: Record<string, string>; body?: string }): Promise<Raw> {
  return new Promise((resolve, reject) => {
    // An explicit Content-Length: Node's client sends none for a DELETE body otherwise.
    const headers = { ...(options.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(options.body)) } : {}), ...options.headers };
    const req = request(new URL(options.path ?? '/', url), { method: options.method ?? 'POST', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

let endpoint: LocalEndpoint;
let dir: string;

before(async () => {
  endpoint = await startLocalEndpoint();
  dir = await mkdtemp(join(tmpdir(), 'kms-reimport-security-'));
});
after(async () => {
  await endpoint.close();
  await rm(dir, { recursive: true, force: true });
});

/** Malformed bodies of every kind the parser reports differently, each carrying the marker. */
const MALFORMED = [
  `{"Name": "n", "SecretString": ${MARKER}}`, // unexpected token: V8 quotes the text around it
  `{"SecretId": "n", "SecretString": "${MARKER}\n"}`, // raw control character in a string
  `{"KeyId": "k", "EncryptedKeyMaterial": "${MARKER}`, // unterminated string
  `{"Name": "n"} ${MARKER}`, // text after the value
  `${MARKER}`, // not JSON at all
  `["${MARKER}",]`, // unexpected token at the end
];

describe('errors never quote a malformed body', () => {
  it('over HTTP, for secret values, imported material and control requests', async () => {
    const targets = ['secretsmanager.CreateSecret', 'secretsmanager.PutSecretValue', 'TrentService.ImportKeyMaterial'];
    for (const target of targets) {
      for (const body of MALFORMED) {
        const res = await raw(endpoint.url, { headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': target }, body });
        assert.equal(res.status, 400, res.text);
        const json = JSON.parse(res.text) as { __type: string; message: string };
        assert.equal(json.__type, 'SerializationException');
        assert.match(json.message, /not valid JSON/);
        assertNoMarker(res.text);
      }
    }
    for (const body of MALFORMED) {
      const res = await raw(endpoint.url, { path: '/_local/faults', headers: { 'Content-Type': 'application/json' }, body });
      assert.equal(res.status, 400, res.text);
      assertNoMarker(res.text);
    }
  });

  it('in-process: only a byte offset, counted in UTF-8 bytes', () => {
    // "é" is 2 bytes: the error at character 9 of '{"a":"é",}' is at byte 10.
    const body = Buffer.from('{"a":"é",}', 'utf8');
    assert.throws(
      () => parseJsonObject(body, 'kms'),
      (err: unknown) => err instanceof ServiceError && err.type === 'SerializationException' && /\(error at byte 10\)/.test(err.message),
    );
    let parseError: unknown;
    try {
      JSON.parse(`{"x": ${MARKER}}`);
    } catch (err) {
      parseError = err;
    }
    assert.ok(parseError instanceof SyntaxError);
    assert.equal(jsonErrorByteOffset(parseError, `{"x": ${MARKER}}`), undefined, 'no position in this message: nothing is reported');
    for (const text of MALFORMED) {
      assert.throws(
        () => parseJsonObject(Buffer.from(text), 'secretsmanager'),
        (err: unknown) => {
          assert.ok(err instanceof ServiceError);
          assertNoMarker(err.message);
          return true;
        },
      );
    }
  });
});

describe('errors never quote the state file', () => {
  it('a state file that is not JSON stops the start without quoting its content', async () => {
    for (const [i, content] of [
      `{"format": "kms-reimport-local/1", "clockOffsetMs": 0, "services": {"kms": {"material": ${MARKER}}}}`,
      `{"format": "kms-reimport-local/1", "services": {"secretsmanager": {"value": "${MARKER}`,
      `{"format": "kms-reimport-local/1", "services": {}} ${MARKER}`,
    ].entries()) {
      const path = join(dir, `broken-${i}.json`);
      await writeFile(path, content, { mode: 0o600 });
      assert.throws(
        () => loadState(path),
        (err: unknown) => {
          assert.ok(err instanceof Error);
          assert.match(err.message, /is not valid JSON/);
          assert.match(err.message, /move it away/);
          assert.ok(err.message.includes(path), 'names the file');
          assertNoMarker(err.message);
          return true;
        },
      );
      await assert.rejects(startLocalEndpoint({ persistPath: path }), (err: unknown) => {
        assert.ok(err instanceof Error);
        assertNoMarker(err.message);
        return true;
      });
    }
  });
});

describe('only local, non-browser clients are served', () => {
  const AWS_JSON = 'application/x-amz-json-1.1';
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' };

  function assertRefusedService(res: Raw, status: number, type: string, message: RegExp): void {
    assert.equal(res.status, status, res.text);
    const json = JSON.parse(res.text) as { __type: string; message: string };
    assert.equal(json.__type, type);
    assert.match(json.message, message);
    assert.equal(res.headers['x-amzn-errortype'], type);
    assert.equal(res.headers['content-type'], AWS_JSON);
  }

  function assertRefusedControl(res: Raw, status: number, type: string, message: RegExp): void {
    assert.equal(res.status, status, res.text);
    const json = JSON.parse(res.text) as { __type: string; message: string };
    assert.equal(json.__type, type);
    assert.match(json.message, message);
    assert.equal(res.headers['content-type'], 'application/json');
  }

  it('accepts the loopback names with the endpoint\'s port, and nothing else', () => {
    for (const host of ['127.0.0.1:4566', 'localhost:4566', 'LocalHost:4566', '[::1]:4566']) assert.equal(isLoopbackHost(host, 4566), true, host);
    for (const host of [
      'rebind.attacker.example:4566',
      '127.0.0.1',
      'localhost',
      '127.0.0.1:4567',
      'localhost.:4566',
      '127.0.0.1:4566.attacker.example',
      'attacker.example#127.0.0.1:4566',
      '0.0.0.0:4566',
      '',
    ]) {
      assert.equal(isLoopbackHost(host, 4566), false, host);
    }
    assert.equal(isLoopbackHost(undefined, 4566), false);
    assert.equal(isLoopbackHost('127.0.0.1:4566', undefined), false);
    assert.equal(isLoopbackHost('localhost', 80), true, 'the default port may be left out');
    assert.equal(isJsonContentType('application/json'), true);
    assert.equal(isJsonContentType('Application/JSON; charset=utf-8'), true);
    for (const type of [undefined, 'text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data', 'application/jsonp']) {
      assert.equal(isJsonContentType(type), false, String(type));
    }
  });

  it('refuses a foreign Host (DNS rebinding) on service and control paths, before doing anything', async () => {
    const host = `rebind.attacker.example:${endpoint.port}`;
    const created = await raw(endpoint.url, {
      headers: { Host: host, 'Content-Type': AWS_JSON, 'X-Amz-Target': 'secretsmanager.CreateSecret' },
      body: JSON.stringify({ Name: 'rebound', SecretString: MARKER }),
    });
    assertRefusedService(created, 403, 'AccessDeniedException', /DNS rebinding/);
    const read = await raw(endpoint.url, {
      headers: { Host: host, 'Content-Type': AWS_JSON, 'X-Amz-Target': 'secretsmanager.GetSecretValue' },
      body: JSON.stringify({ SecretId: 'rebound' }),
    });
    assertRefusedService(read, 403, 'AccessDeniedException', /Host header/);
    const sm = new SecretsManagerClient({ endpoint: endpoint.url, region: 'us-east-1', credentials, maxAttempts: 1 });
    try {
      await assert.rejects(sm.send(new GetSecretValueCommand({ SecretId: 'rebound' })), { name: 'ResourceNotFoundException' }, 'nothing was created');
    } finally {
      sm.destroy();
    }
    const offset = endpoint.clock.offsetMs();
    const moved = await raw(endpoint.url, {
      path: '/_local/clock',
      headers: { Host: host, 'Content-Type': 'application/json' },
      body: JSON.stringify({ advanceSeconds: 86_400 }),
    });
    assertRefusedControl(moved, 403, 'AccessDeniedException', /127\.0\.0\.1:\d+/);
    assert.equal(endpoint.clock.offsetMs(), offset, 'the clock did not move');
    assertRefusedControl(await raw(endpoint.url, { method: 'GET', path: '/_local/counters', headers: { Host: host } }), 403, 'AccessDeniedException', /Host/);
    for (const other of ['127.0.0.1', `127.0.0.1:${endpoint.port + 1 > 65535 ? 1 : endpoint.port + 1}`, `localhost.:${endpoint.port}`]) {
      assertRefusedControl(await raw(endpoint.url, { method: 'GET', path: '/_local/health', headers: { Host: other } }), 403, 'AccessDeniedException', /Host/);
    }
    for (const good of [`127.0.0.1:${endpoint.port}`, `localhost:${endpoint.port}`, `[::1]:${endpoint.port}`]) {
      assert.equal((await raw(endpoint.url, { method: 'GET', path: '/_local/health', headers: { Host: good } })).status, 200, good);
    }
  });

  it('refuses a request without a Host header', async () => {
    const reply = await new Promise<string>((resolve) => {
      const socket = connect(endpoint.port, '127.0.0.1', () => socket.write('GET /_local/health HTTP/1.0\r\n\r\n'));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
    });
    assert.match(reply, /^HTTP\/1\.[01] 403/);
    assert.match(reply, /"__type":"AccessDeniedException"/);
  });

  it('refuses any request with an Origin header (a web page), even one naming the endpoint', async () => {
    for (const origin of ['http://rebind.attacker.example', `http://127.0.0.1:${endpoint.port}`, 'null']) {
      const res = await raw(endpoint.url, {
        headers: { Origin: origin, 'Content-Type': AWS_JSON, 'X-Amz-Target': 'secretsmanager.CreateSecret' },
        body: JSON.stringify({ Name: 'from-a-page', SecretString: 'x' }),
      });
      assertRefusedService(res, 403, 'AccessDeniedException', /Origin header/);
      assertRefusedControl(
        await raw(endpoint.url, { path: '/_local/clock', headers: { Origin: origin, 'Content-Type': 'application/json' }, body: '{"advanceSeconds": 60}' }),
        403,
        'AccessDeniedException',
        /Origin header/,
      );
    }
    const sm = new SecretsManagerClient({ endpoint: endpoint.url, region: 'us-east-1', credentials, maxAttempts: 1 });
    try {
      await assert.rejects(sm.send(new GetSecretValueCommand({ SecretId: 'from-a-page' })), { name: 'ResourceNotFoundException' });
    } finally {
      sm.destroy();
    }
  });

  it('takes control bodies only as application/json (a form or text/plain POST is refused with 415)', async () => {
    const offset = endpoint.clock.offsetMs();
    for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', undefined]) {
      const res = await raw(endpoint.url, {
        path: '/_local/clock',
        headers: type === undefined ? {} : { 'Content-Type': type },
        body: '{"advanceSeconds": 86400}',
      });
      assertRefusedControl(res, 415, 'UnsupportedMediaType', /Content-Type: application\/json/);
    }
    assert.equal(endpoint.clock.offsetMs(), offset, 'the clock did not move');
    assertRefusedControl(
      await raw(endpoint.url, { method: 'DELETE', path: '/_local/faults', headers: { 'Content-Type': 'text/plain' }, body: '{}' }),
      415,
      'UnsupportedMediaType',
      /application\/json/,
    );
    // Node's fetch sends text/plain for a string body unless told otherwise.
    assert.equal((await fetch(`${endpoint.url}/_local/clock`, { method: 'POST', body: '{"advanceSeconds": 1}' })).status, 415);
    const json = await fetch(`${endpoint.url}/_local/clock`, {
      method: 'POST',
      body: '{"advanceSeconds": 1}',
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
    });
    assert.equal(json.status, 200);
    assert.equal(((await json.json()) as { offsetMs: number }).offsetMs, offset + 1000);
    assert.equal((await fetch(`${endpoint.url}/_local/counters`, { method: 'DELETE' })).status, 200, 'a DELETE without a body needs no Content-Type');
    assert.equal((await fetch(`${endpoint.url}/_local/clock`)).status, 200);
  });

  it('the real SDK v3 clients still work', async () => {
    const kms = new KMSClient({ endpoint: endpoint.url, region: 'eu-west-1', credentials, maxAttempts: 1 });
    const sm = new SecretsManagerClient({ endpoint: endpoint.url, region: 'eu-west-1', credentials, maxAttempts: 1 });
    try {
      const keyId = (await kms.send(new CreateKeyCommand({ Description: 'sdk still works' }))).KeyMetadata?.KeyId;
      assert.equal((await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.Description, 'sdk still works');
      await sm.send(new CreateSecretCommand({ Name: 'sdk-still-works', SecretString: 'ok' }));
      assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: 'sdk-still-works' }))).SecretString, 'ok');
    } finally {
      kms.destroy();
      sm.destroy();
    }
  });
});

describe('a refused control changes nothing', () => {
  it('the clock stays within 100 years of real time, in-process', () => {
    let real = Date.UTC(2030, 0, 1);
    const clock = createClock(undefined, () => real);
    let changes = 0;
    clock.onChange = () => changes++;
    clock.advance(3600);
    assert.equal(changes, 1);
    const before = clock.now();
    for (const seconds of [1e300, -1e300, MAX_CLOCK_OFFSET_MS / 1000 + 1, Number.POSITIVE_INFINITY, Number.NaN]) {
      assert.throws(() => clock.advance(seconds), RangeError, String(seconds));
    }
    assert.throws(() => clock.advance(1e300), /within 100 years.*not changed/);
    for (const epochMs of [8.64e15 + 1, 1e20, -1e20, Date.UTC(1900, 0, 1), real + MAX_CLOCK_OFFSET_MS + 1]) {
      assert.throws(() => clock.set(epochMs), RangeError, String(epochMs));
    }
    assert.throws(() => clock.setOffsetMs(1e300), RangeError);
    assert.equal(clock.now(), before, 'no refused call moved the clock');
    assert.equal(changes, 1, 'no refused call reported a change (nothing to persist)');
    real += 5;
    assert.equal(clock.now(), before + 5);
    clock.set(real + MAX_CLOCK_OFFSET_MS);
    assert.equal(clock.offsetMs(), MAX_CLOCK_OFFSET_MS, 'the bound itself is allowed');
    assert.equal(new Date(clock.now()).toISOString().slice(0, 4), '2129');
    clock.advance(-2 * MAX_CLOCK_OFFSET_MS / 1000);
    assert.equal(clock.offsetMs(), -MAX_CLOCK_OFFSET_MS);
  });

  it('the clock over HTTP: 400 and the clock unmoved, the endpoint still answering', async () => {
    const post = (body: unknown): Promise<Response> =>
      fetch(`${endpoint.url}/_local/clock`, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
    const offset = endpoint.clock.offsetMs();
    for (const body of [{ advanceSeconds: 1e300 }, { advanceSeconds: -1e12 }, { epochMs: 1e20 }, { epochMs: -8.64e15 }, { iso: '+275760-09-13T00:00:00.000Z' }, { advanceSeconds: '60' }]) {
      const res = await post(body);
      assert.equal(res.status, 400, JSON.stringify(body));
      const json = (await res.json()) as { __type: string; message: string };
      assert.equal(json.__type, 'ValidationException');
      assert.equal(endpoint.clock.offsetMs(), offset, `${JSON.stringify(body)} moved the clock`);
    }
    const view = (await (await fetch(`${endpoint.url}/_local/clock`)).json()) as { offsetMs: number; iso: string };
    assert.equal(view.offsetMs, offset);
    assert.ok(!Number.isNaN(Date.parse(view.iso)));
    const kms = new KMSClient({ endpoint: endpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' }, maxAttempts: 1 });
    try {
      const created = await kms.send(new CreateKeyCommand({}));
      assert.ok(created.KeyMetadata?.CreationDate instanceof Date && !Number.isNaN(created.KeyMetadata.CreationDate.getTime()));
    } finally {
      kms.destroy();
    }
    assert.throws(() => endpoint.clock.advance(1e300), RangeError);
    assert.equal(endpoint.clock.offsetMs(), offset);
  });

  it('a state file with an offset beyond the bound stops the start, saying what to do', async () => {
    const path = join(dir, 'far-clock.json');
    await writeFile(path, JSON.stringify({ format: 'kms-reimport-local/1', clockOffsetMs: 1e300, services: {} }), { mode: 0o600 });
    assert.throws(() => loadState(path), /clock offset .*100 years.*"clockOffsetMs" to 0/);
    await assert.rejects(startLocalEndpoint({ persistPath: path }), /100 years/);
  });

  it('latency is at most 10 minutes, in-process (never silently 1 ms)', () => {
    const controls = new Controls({ sleep: async () => {} });
    controls.setLatency('kms:DescribeKey', 25);
    for (const ms of [1e15, 2 ** 31, MAX_LATENCY_MS + 1, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => controls.setLatency('*', ms), RangeError, String(ms));
    }
    assert.throws(() => controls.setLatency('*', 1e15), /0 to 600000 \(10 minutes\), got 1000000000000000; nothing was changed/);
    assert.deepEqual(controls.getLatency(), { 'kms:DescribeKey': 25 }, 'refused values changed nothing');
    controls.setLatency('*', MAX_LATENCY_MS);
    assert.deepEqual(controls.getLatency(), { 'kms:DescribeKey': 25, '*': MAX_LATENCY_MS });
    assert.throws(() => new Controls({ latencyMs: 2 ** 31 }), RangeError);
    assert.throws(() => new Controls({ latencyMs: { 'kms:Decrypt': 1e15 } }), RangeError);
  });

  it('latency over HTTP: 400 and nothing set', async () => {
    const before = endpoint.controls.getLatency();
    for (const ms of [1e15, 2 ** 31, MAX_LATENCY_MS + 1, '5']) {
      const res = await fetch(`${endpoint.url}/_local/latency`, {
        method: 'POST',
        body: JSON.stringify({ operation: '*', ms }),
        headers: { 'Content-Type': 'application/json' },
      });
      assert.equal(res.status, 400, String(ms));
      assert.equal(((await res.json()) as { __type: string }).__type, 'ValidationException');
    }
    assert.deepEqual(endpoint.controls.getLatency(), before);
    const latency = (await (await fetch(`${endpoint.url}/_local/latency`)).json()) as { latency: Record<string, number> };
    assert.deepEqual(latency.latency, before);
  });
});
