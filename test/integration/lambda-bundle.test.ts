/**
 * A built Lambda bundle (verify, built by scripts/build.mjs into a temporary folder) run as Lambda
 * runs it: a fresh Node process, the handler called with a workflow state, credentials only where
 * the Lambda runtime puts them. Its KMS calls go through a recording proxy to the local endpoint,
 * and each request's SigV4 signature is checked against the credentials the process was given
 * (the endpoint itself does not check signatures). Without credentials the same bundle fails with
 * ConfigError before sending anything, even with a shared credentials file the SDK's own chain
 * would have used.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@smithy/core/checksum';
import { HttpRequest } from '@smithy/core/transport';
import { startLocalAws, onboardKey, assertNoMaterial, REGION, type LocalAws, type OnboardedKey } from '../support/local-aws.js';
import { startContainerCredentialEndpoint, type ContainerCredentialEndpoint } from '../support/container-credentials.js';
import { listenLocally, readBody } from '../support/http.js';
import { repoRoot } from '../unit/template-load.js';

interface BuildModule {
  buildFunctions(options: { outdir: string; only: string[] }): Promise<Array<{ name: string; file: string; bytes: number }>>;
}

interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An HTTP proxy on 127.0.0.1 that forwards everything to `target` (Host rewritten: the endpoint serves its own only) and records each request as sent. */
async function startRecordingProxy(target: string) {
  const requests: RecordedRequest[] = [];
  const upstream = new URL(target);
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body });
    const forward = httpRequest({ hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    forward.end(body);
  });
  const url = await listenLocally(server);
  return { url, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** The request's SigV4 signature recomputed with `credentials`: equal to the one sent only if they signed it. */
async function signatureWith(recorded: RecordedRequest, port: number, credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }): Promise<string> {
  const authorization = String(recorded.headers.authorization ?? '');
  const scope = /Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})/.exec(authorization);
  assert.ok(scope, `not a SigV4 Authorization header: ${authorization.slice(0, 80)}`);
  const [, region, service, signedHeaders] = scope;
  const headers = Object.fromEntries(signedHeaders!.split(';').map((name) => [name, String(recorded.headers[name])]));
  const amzDate = String(recorded.headers['x-amz-date']);
  const signingDate = new Date(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
  const signer = new SignatureV4({ credentials, region: region!, service: service!, sha256: Sha256 });
  const signed = await signer.sign(new HttpRequest({ method: recorded.method, protocol: 'http:', hostname: '127.0.0.1', port, path: recorded.path, headers, body: recorded.body }), { signingDate });
  return /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization))![1]!;
}

const sentSignature = (recorded: RecordedRequest): string => /Signature=([0-9a-f]{64})/.exec(String(recorded.headers.authorization))?.[1] ?? 'none';
const operationOf = (recorded: RecordedRequest): string => String(recorded.headers['x-amz-target'] ?? '').replace(/^TrentService\./, '');

interface BundleRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The handler's result, or the error it threw, as the script printed it. */
  result?: { verified?: boolean };
  error?: { name: string; message: string };
}

/**
 * Runs the bundle's handler in a fresh Node process with exactly `env` (as the Lambda runtime would
 * call it) and a guard: a run that has not ended after 60 s is killed (and the test fails on the
 * signal), so a provider that hung would show up as such rather than as a slow test.
 */
function runBundle(file: string, event: unknown, env: Record<string, string>): Promise<BundleRun> {
  const script = `
    const { handler } = await import(${JSON.stringify(pathToFileURL(file).href)});
    const context = { functionName: 'VerifyFunction', functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:${REGION}:111122223333:function:VerifyFunction', memoryLimitInMB: '256', awsRequestId: 'bundle-test', logGroupName: '/aws/lambda/VerifyFunction', logStreamName: 's', getRemainingTimeInMillis: () => 60000 };
    try {
      const result = await handler(JSON.parse(process.env.BUNDLE_TEST_EVENT), context);
      console.log('RESULT ' + JSON.stringify(result));
    } catch (error) {
      console.log('FAILED ' + JSON.stringify({ name: error.name, message: error.message }));
      process.exitCode = 1;
    }`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...env, BUNDLE_TEST_EVENT: JSON.stringify(event) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      const line = (prefix: string) => stdout.split('\n').find((l) => l.startsWith(prefix))?.slice(prefix.length);
      const result = line('RESULT ');
      const error = line('FAILED ');
      resolve({ code, signal, stdout, stderr, ...(result ? { result: JSON.parse(result) } : {}), ...(error ? { error: JSON.parse(error) } : {}) });
    });
  });
}

describe('a built Lambda bundle (verify) run as Lambda runs it', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'kms-reimport-lambda-bundle-'));
  let aws: LocalAws;
  let key: OnboardedKey;
  let proxy: Awaited<ReturnType<typeof startRecordingProxy>>;
  let bundle: string;
  let state: unknown;
  /** The environment the Lambda runtime and the template give the function, minus credentials. */
  let lambdaEnv: Record<string, string>;

  before(async () => {
    aws = await startLocalAws();
    key = await onboardKey(aws, 'SYMMETRIC_DEFAULT');
    proxy = await startRecordingProxy(aws.endpoint.url);
    const { buildFunctions } = (await import(pathToFileURL(join(repoRoot, 'scripts', 'build.mjs')).href)) as BuildModule;
    const [built] = await buildFunctions({ outdir: join(scratch, 'dist'), only: ['verify'] });
    bundle = built!.file;
    const report = { keyId: key.keyId, arn: key.arn, requestedRef: key.keyId, keyState: 'Enabled', origin: 'EXTERNAL', keySpec: 'SYMMETRIC_DEFAULT', keyUsage: 'ENCRYPT_DECRYPT', multiRegion: false, tags: {}, materials: [] };
    state = {
      workItem: { keyRef: key.keyId, action: 'recover', trigger: { source: 'kms-reimport.manual', detailType: 'Manual Request' }, executionName: 'bundle-test' },
      startedAt: new Date().toISOString(),
      report,
      plan: { action: 'recover', reason: 'bundle test' },
      pending: [],
      imported: [],
      tokenRefreshes: 0,
    };
    // A home with a shared credentials file: the SDK's default chain would sign with it; the
    // Lambda bundle must not read it.
    const home = join(scratch, 'home');
    mkdirSync(join(home, '.aws'), { recursive: true });
    writeFileSync(join(home, '.aws', 'credentials'), '[default]\naws_access_key_id = AKIDFROMPROFILE\naws_secret_access_key = from-profile\n');
    lambdaEnv = {
      PATH: process.env.PATH ?? '',
      HOME: home,
      AWS_REGION: REGION,
      AWS_LAMBDA_FUNCTION_NAME: 'VerifyFunction',
      AWS_ENDPOINT_URL: proxy.url,
    };
  });

  after(async () => {
    await proxy?.close();
    await aws?.closeAfterLeakCheck();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('with the runtime\'s AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN: real KMS calls, each signed with exactly those credentials, answered; the key verified', async () => {
    const credentials = { accessKeyId: 'ASIALAMBDAEXECROLE', secretAccessKey: 'lambda-role-secret', sessionToken: 'lambda-role-session-token' };
    const first = proxy.requests.length;
    const run = await runBundle(bundle, state, { ...lambdaEnv, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_SESSION_TOKEN: credentials.sessionToken });
    assert.equal(run.signal, null, `the bundle was killed:\n${run.stderr}`);
    assert.equal(run.code, 0, `the bundle failed:\n${run.stdout}\n${run.stderr}`);
    assert.equal(run.result?.verified, true);
    assertNoMaterial(run.stdout + run.stderr, [key.material], 'the bundle\'s output');

    const sent = proxy.requests.slice(first);
    assert.deepEqual(sent.map(operationOf), ['DescribeKey', 'Encrypt', 'Decrypt']);
    assert.equal(aws.calls('Decrypt') >= 1, true, 'the endpoint answered the round trip');
    for (const request of sent) {
      assert.match(String(request.headers.authorization), /^AWS4-HMAC-SHA256 Credential=ASIALAMBDAEXECROLE\/\d{8}\/us-east-1\/kms\/aws4_request, /);
      assert.equal(request.headers['x-amz-security-token'], credentials.sessionToken);
      assert.equal(await signatureWith(request, Number(new URL(proxy.url).port), credentials), sentSignature(request), `${operationOf(request)}: not signed with the runtime's secret key`);
      // The check can fail: another secret gives another signature.
      assert.notEqual(await signatureWith(request, Number(new URL(proxy.url).port), { ...credentials, secretAccessKey: 'from-profile' }), sentSignature(request));
    }
  });

  test('with the container credential endpoint only (AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN, as SnapStart gives): signed with the endpoint\'s credentials', async () => {
    const container: ContainerCredentialEndpoint = await startContainerCredentialEndpoint();
    try {
      const first = proxy.requests.length;
      const run = await runBundle(bundle, state, { ...lambdaEnv, AWS_CONTAINER_CREDENTIALS_FULL_URI: container.url, AWS_CONTAINER_AUTHORIZATION_TOKEN: 'snapstart-token' });
      assert.equal(run.code, 0, `the bundle failed:\n${run.stdout}\n${run.stderr}`);
      assert.equal(run.result?.verified, true);
      assert.equal(container.requests.length, 1, 'one client, credentials fetched once');
      assert.equal(container.requests[0]?.authorization, 'snapstart-token');
      const sent = proxy.requests.slice(first);
      assert.ok(sent.length >= 3);
      for (const request of sent) {
        assert.equal(await signatureWith(request, Number(new URL(proxy.url).port), container.credentialsOf(1)), sentSignature(request), `${operationOf(request)}: not signed with the container's credentials`);
      }
    } finally {
      await container.close();
    }
  });

  test('with no credentials in the environment (a shared credentials file in HOME notwithstanding): ConfigError naming the variables, nothing sent', async () => {
    const first = proxy.requests.length;
    const run = await runBundle(bundle, state, lambdaEnv);
    assert.equal(run.signal, null, 'the bundle hung and was killed');
    assert.equal(run.code, 1, `expected a failed invocation:\n${run.stdout}\n${run.stderr}`);
    assert.equal(run.error?.name, 'ConfigError', `not our error: ${JSON.stringify(run.error)}`);
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) assert.match(run.error!.message, new RegExp(name));
    assert.match(run.error!.message, /execution role/);
    assert.doesNotMatch(run.stdout + run.stderr, /AKIDFROMPROFILE|Could not load credentials from any providers/);
    assert.equal(proxy.requests.length, first, 'no request reached the endpoint');
  });
});
