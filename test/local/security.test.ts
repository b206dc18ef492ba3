// Security properties of the local endpoint: errors never quote a request body or the state file
// (both may hold key material or secret values).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalEndpoint, type LocalEndpoint } from '../../local/index.js';
import { loadState } from '../../local/persistence.js';
import { jsonErrorByteOffset, parseJsonObject } from '../../local/protocol.js';
import { ServiceError } from '../../local/service.js';

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
    const req = request(new URL(options.path ?? '/', url), { method: options.method ?? 'POST', headers: options.headers ?? {}, agent: false }, (res) => {
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
