/**
 * lib/aws/lambda-credentials.ts, the Lambda bundles' stand-in for the SDK's default credential
 * chain: the runtime's environment variables, else the container credential endpoint (a real HTTP
 * server on 127.0.0.1 here), else ConfigError naming the variables. No SDK command is sent here.
 */
import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { defaultProvider, missingCredentialsMessage } from '../../lib/aws/lambda-credentials.js';
import { startContainerCredentialEndpoint as containerEndpoint } from '../support/container-credentials.js';

/** Every variable either provider reads: cleared before each test, restored after. */
const VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_CREDENTIAL_EXPIRATION',
  'AWS_CREDENTIAL_SCOPE',
  'AWS_ACCOUNT_ID',
  'AWS_PROFILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
];
const saved = Object.fromEntries(VARIABLES.map((name) => [name, process.env[name]]));
const restore = () => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
};
beforeEach(() => {
  for (const name of VARIABLES) delete process.env[name];
});
afterEach(restore);

describe('lambda credentials: the environment the Lambda runtime sets', () => {
  test('AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN are the credentials', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'ASIALAMBDAROLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'role-secret';
    process.env.AWS_SESSION_TOKEN = 'role-session';
    const credentials = await defaultProvider()();
    assert.equal(credentials.accessKeyId, 'ASIALAMBDAROLE');
    assert.equal(credentials.secretAccessKey, 'role-secret');
    assert.equal(credentials.sessionToken, 'role-session');
    assert.equal(credentials.expiration, undefined);
  });

  test('read once (they do not expire in the environment), again when the SDK asks with forceRefresh', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'ASIAFIRST';
    process.env.AWS_SECRET_ACCESS_KEY = 'first';
    const provider = defaultProvider();
    assert.equal((await provider()).accessKeyId, 'ASIAFIRST');
    process.env.AWS_ACCESS_KEY_ID = 'ASIASECOND';
    assert.equal((await provider()).accessKeyId, 'ASIAFIRST');
    assert.equal((await provider({ forceRefresh: true })).accessKeyId, 'ASIASECOND');
  });

  test('preferred to the container endpoint when both are set (the endpoint is not asked)', async (t) => {
    const endpoint = await containerEndpoint();
    t.after(endpoint.close);
    process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI = endpoint.url;
    process.env.AWS_ACCESS_KEY_ID = 'ASIAENV';
    process.env.AWS_SECRET_ACCESS_KEY = 'env';
    assert.equal((await defaultProvider()()).accessKeyId, 'ASIAENV');
    assert.equal(endpoint.requests.length, 0);
  });
});

describe('lambda credentials: the container credential endpoint (SnapStart)', () => {
  test('AWS_CONTAINER_CREDENTIALS_FULL_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN: fetched with the token, kept until 5 minutes before they expire', async (t) => {
    const endpoint = await containerEndpoint();
    t.after(endpoint.close);
    process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI = endpoint.url;
    process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN = 'snapstart-authorization';
    const provider = defaultProvider();
    const first = await provider();
    assert.equal(first.accessKeyId, 'ASIACONTAINER1');
    assert.equal(first.secretAccessKey, 'container-secret-1');
    assert.equal(first.sessionToken, 'container-token-1');
    assert.ok(first.expiration instanceof Date);
    assert.equal(endpoint.requests[0]?.authorization, 'snapstart-authorization');
    assert.equal((await provider()).accessKeyId, 'ASIACONTAINER1', 'an hour left: the same credentials, no new request');
    assert.equal(endpoint.requests.length, 1);

    // Credentials with one minute left are never kept: every call fetches (the SDK's own rule, 5 minutes).
    endpoint.expireIn(60_000);
    for (let call = 0; call < 2; call++) {
      const before = endpoint.requests.length;
      const latest = await provider(call === 0 ? { forceRefresh: true } : undefined);
      assert.ok(endpoint.requests.length > before, 'one minute left: fetched again');
      assert.equal(latest.accessKeyId, `ASIACONTAINER${endpoint.requests.length}`, 'the freshest credentials are the ones returned');
    }
  });
});

describe('lambda credentials: none', () => {
  test('ConfigError naming the variables the runtime should have set; no value in it; the next call tries again', async () => {
    const provider = defaultProvider();
    await assert.rejects(provider(), (e: Error) => {
      assert.equal(e.name, 'ConfigError');
      for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_CONTAINER_CREDENTIALS_FULL_URI']) assert.match(e.message, new RegExp(name));
      assert.match(e.message, /execution role/);
      assert.match(e.message, /reads no profile, SSO or instance metadata/);
      return true;
    });
    process.env.AWS_ACCESS_KEY_ID = 'ASIALATER';
    process.env.AWS_SECRET_ACCESS_KEY = 'later';
    assert.equal((await provider()).accessKeyId, 'ASIALATER', 'a failure is not remembered');
  });

  test('half a pair says which half is missing, and never shows the half that is there', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'ASIAHALFPAIR';
    await assert.rejects(defaultProvider()(), (e: Error) => {
      assert.equal(e.name, 'ConfigError');
      assert.match(e.message, /AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not/);
      assert.doesNotMatch(e.message, /ASIAHALFPAIR/);
      return true;
    });
    delete process.env.AWS_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = 'a-secret-value';
    const message = missingCredentialsMessage(process.env);
    assert.match(message, /AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not/);
    assert.doesNotMatch(message, /a-secret-value/);
  });

  test('a profile (AWS_PROFILE or the client\'s) is named as ignored, not read', async () => {
    process.env.AWS_PROFILE = 'operator';
    await assert.rejects(defaultProvider()(), /profile "operator" is ignored here/);
    delete process.env.AWS_PROFILE;
    await assert.rejects(defaultProvider({ profile: 'from-client' })(), /profile "from-client" is ignored here/);
  });
});
