// The endpoint's controls: clock, latency, quotas, injected errors and counters, in-process and
// over HTTP under /_local/, seen through the real SDK v3 client with retries disabled.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CreateSecretCommand, DeleteSecretCommand, DescribeSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetResourcesCommand, ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { startLocalEndpoint, KMS_DEFAULT_QUOTAS, type LocalEndpoint } from '../../local/index.js';
import { Controls, MAX_INJECTED_ERRORS, MAX_LATENCY_RULES, MAX_QUOTA_RULES } from '../../local/controls.js';
import { createClock } from '../../local/clock.js';
import { ServiceError } from '../../local/service.js';

let endpoint: LocalEndpoint;
const clients: { destroy(): void }[] = [];
let n = 0;
const unique = (prefix: string): string => `${prefix}-${++n}`;

function secrets(region = 'us-east-1', accessKeyId = 'AKIDEXAMPLE'): SecretsManagerClient {
  const c = new SecretsManagerClient({ endpoint: endpoint.url, region, credentials: { accessKeyId, secretAccessKey: 'x' }, maxAttempts: 1 });
  clients.push(c);
  return c;
}

async function control(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${endpoint.url}${path}`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } } : {}),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

before(async () => {
  endpoint = await startLocalEndpoint({ startTime: Date.UTC(2031, 4, 6, 12) });
});
after(async () => {
  for (const c of clients) c.destroy();
  await endpoint.close();
});

describe('clock', () => {
  it('starts at startTime, advances and is set, in-process and over HTTP', async () => {
    const start = endpoint.clock.now();
    assert.ok(start >= Date.UTC(2031, 4, 6, 12) && start < Date.UTC(2031, 4, 6, 13));
    const advanced = endpoint.clock.advance(3600);
    assert.ok(advanced - start >= 3_600_000);
    const viaHttp = await control('POST', '/_local/clock', { advanceSeconds: 86_400 });
    assert.equal(viaHttp.status, 200);
    assert.ok((viaHttp.json.now as number) - advanced >= 86_400_000);
    assert.ok((viaHttp.json.offsetMs as number) >= 90_000_000 - 1);
    const set = await control('POST', '/_local/clock', { iso: '2040-01-01T00:00:00Z' });
    assert.ok((set.json.now as number) >= Date.UTC(2040, 0, 1));
    const read = await control('GET', '/_local/clock');
    assert.match(read.json.iso as string, /^2040-01-01T/);
    endpoint.clock.set(Date.UTC(2031, 4, 6, 12));
    assert.equal((await control('POST', '/_local/clock', { advanceSeconds: 'soon' })).status, 400);
    assert.equal((await control('POST', '/_local/clock', { advanceSeconds: 1, epochMs: 2 })).status, 400);
  });

  it('is the clock the services use', async () => {
    const sm = secrets();
    const name = unique('clocked');
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'x' }));
    endpoint.clock.advance(10 * 86_400);
    const described = await sm.send(new DescribeSecretCommand({ SecretId: name }));
    const ageDays = (endpoint.clock.now() - (described.CreatedDate as Date).getTime()) / 86_400_000;
    assert.ok(ageDays >= 9.99 && ageDays <= 10.01, `created ${ageDays} days ago on the endpoint clock`);
    const deletion = await sm.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }));
    assert.ok((deletion.DeletionDate as Date).getTime() > Date.now() + 16 * 86_400_000);
  });
});

describe('latency', () => {
  it('delays an operation before it is handled (unit, injected sleep)', async () => {
    const slept: number[] = [];
    const controls = new Controls({ latencyMs: { 'kms:DescribeKey': 250, '*': 5 }, sleep: async (ms) => void slept.push(ms) });
    const scope = { account: '000000000000', region: 'us-east-1' };
    const throttle = () => new ServiceError('ThrottlingException', 'x');
    await controls.admit('kms', 'DescribeKey', scope, throttle);
    await controls.admit('kms', 'Encrypt', scope, throttle);
    controls.setLatency('DescribeKey', 0);
    controls.setLatency('kms:DescribeKey', 0);
    await controls.admit('kms', 'DescribeKey', scope, throttle);
    assert.deepEqual(slept, [250, 5, 5]);
    assert.throws(() => controls.setLatency('kms:DescribeKey', -1), RangeError);
  });

  it('holds the HTTP response at least that long', async () => {
    const sm = secrets();
    const name = unique('slow');
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'x' }));
    const set = await control('POST', '/_local/latency', { operation: 'secretsmanager:GetSecretValue', ms: 300 });
    assert.deepEqual(set.json, { operation: 'secretsmanager:GetSecretValue', ms: 300, rules: 1 }, 'a POST answers what it set and a count');
    const began = performance.now();
    await sm.send(new GetSecretValueCommand({ SecretId: name }));
    assert.ok(performance.now() - began >= 290, 'the response came back before the configured latency');
    endpoint.controls.setLatency('secretsmanager:GetSecretValue', 0);
    assert.deepEqual(endpoint.controls.getLatency(), {});
  });
});

describe('quotas', () => {
  it('are off by default', () => {
    assert.deepEqual(endpoint.controls.getQuotas(), {});
  });

  it('answer ThrottlingException to the SDK beyond the bucket, per account and Region', async () => {
    const name = unique('quota');
    const sm = secrets();
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'x' }));
    endpoint.controls.setQuota('secretsmanager:GetSecretValue', { rate: 0.001, burst: 2 });
    try {
      await sm.send(new GetSecretValueCommand({ SecretId: name }));
      await sm.send(new GetSecretValueCommand({ SecretId: name }));
      await assert.rejects(sm.send(new GetSecretValueCommand({ SecretId: name })), (err: Error & { $metadata: { httpStatusCode?: number }; $retryable?: unknown }) => {
        assert.equal(err.name, 'ThrottlingException');
        assert.equal(err.$metadata.httpStatusCode, 400);
        assert.match(err.message, /Rate exceeded/);
        return true;
      });
      // Another operation, Region or account has its own bucket.
      await sm.send(new DescribeSecretCommand({ SecretId: name }));
      const west = secrets('eu-west-1');
      await assert.rejects(west.send(new GetSecretValueCommand({ SecretId: name })), { name: 'ResourceNotFoundException' });
      const other = secrets('us-east-1', '210987654321');
      await assert.rejects(other.send(new GetSecretValueCommand({ SecretId: name })), { name: 'ResourceNotFoundException' });
      const counters = endpoint.controls.getCounters()['secretsmanager:GetSecretValue'];
      assert.equal(counters?.throttled, 1);
    } finally {
      endpoint.controls.setQuota('secretsmanager:GetSecretValue', null);
    }
    await sm.send(new GetSecretValueCommand({ SecretId: name }));
  });

  it("use the service's own throttling error name (tagging: ThrottledException), set over HTTP", async () => {
    const tagging = new ResourceGroupsTaggingAPIClient({ endpoint: endpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
    clients.push(tagging);
    const set = await control('POST', '/_local/quotas', { operation: 'tagging:GetResources', rate: 0.001, burst: 1 });
    assert.deepEqual(set.json, { operation: 'tagging:GetResources', quota: { rate: 0.001, burst: 1 }, rules: 1 });
    try {
      await tagging.send(new GetResourcesCommand({}));
      await assert.rejects(tagging.send(new GetResourcesCommand({})), { name: 'ThrottledException' });
    } finally {
      await control('POST', '/_local/quotas', { operation: 'tagging:GetResources', remove: true });
    }
    assert.equal((await control('POST', '/_local/quotas', { operation: 'tagging:GetResources', rate: -1 })).status, 400);
  });

  it("kms-defaults: the current published rates (GetParametersForImport once a second), shared cryptographic bucket (real time, not the endpoint clock)", async () => {
    let now = 0;
    const controls = new Controls({ quotas: 'kms-defaults', monotonicNow: () => now });
    const scope = { account: '000000000000', region: 'us-east-1' };
    const throttle = (op: string) => new ServiceError('ThrottlingException', `Rate exceeded for ${op}`);
    const admitted = async (op: string, s = scope, service = 'kms') => (await controls.admit(service, op, s, throttle)).error === undefined;
    assert.equal(await admitted('GetParametersForImport'), true);
    assert.equal(await admitted('GetParametersForImport'), false);
    assert.equal(await admitted('GetParametersForImport', { ...scope, region: 'eu-west-1' }), true);
    now += 900;
    assert.equal(await admitted('GetParametersForImport'), false);
    now += 200;
    assert.equal(await admitted('GetParametersForImport'), true);
    for (let i = 0; i < 15; i++) assert.equal(await admitted('ImportKeyMaterial'), true);
    assert.equal(await admitted('ImportKeyMaterial'), false);
    for (let i = 0; i < 100; i++) assert.equal(await admitted('ListKeyRotations'), true);
    assert.equal(await admitted('ListKeyRotations'), false);
    for (let i = 0; i < 5; i++) assert.equal(await admitted('RotateKeyOnDemand'), true);
    assert.equal(await admitted('RotateKeyOnDemand'), false);
    for (let i = 0; i < 5000; i++) assert.equal(await admitted(i % 2 ? 'Encrypt' : 'Decrypt'), true);
    for (let i = 0; i < 5000; i++) assert.equal(await admitted('GenerateDataKey'), true);
    assert.equal(await admitted('Decrypt'), false);
    // Secrets Manager's published quotas come with the preset: ListSecrets 100/s.
    for (let i = 0; i < 100; i++) assert.equal(await admitted('ListSecrets', scope, 'secretsmanager'), true);
    assert.equal(await admitted('ListSecrets', scope, 'secretsmanager'), false);
    assert.deepEqual(controls.getQuotas()['kms:GetParametersForImport'], KMS_DEFAULT_QUOTAS['kms:GetParametersForImport']);
    const quotas = controls.getQuotas();
    assert.deepEqual(
      Object.fromEntries(['GetParametersForImport', 'ImportKeyMaterial', 'DeleteImportedKeyMaterial', 'DescribeKey', 'ListKeys', 'ListKeyRotations', 'RotateKeyOnDemand', 'CreateKey', 'CreateAlias', 'UpdateAlias'].map((op) => [op, quotas[`kms:${op}`]?.rate])),
      { GetParametersForImport: 1, ImportKeyMaterial: 15, DeleteImportedKeyMaterial: 15, DescribeKey: 2000, ListKeys: 500, ListKeyRotations: 100, RotateKeyOnDemand: 5, CreateKey: 5, CreateAlias: 5, UpdateAlias: 5 },
    );
    assert.equal(quotas['tagging:GetResources'], undefined, 'the Tagging API publishes no rate: none is invented');
    controls.setQuota('kms:GetParametersForImport', { rate: 100 });
    assert.equal(await admitted('GetParametersForImport'), true);
    assert.equal(await admitted('GetParametersForImport'), true);
    controls.useQuotaPreset('off');
    assert.deepEqual(controls.getQuotas(), {});
  });

  it('kms-2023: the rates published in 2023 (GetParametersForImport once every 4 s, ImportKeyMaterial 5/s)', async () => {
    let now = 0;
    const controls = new Controls({ quotas: 'kms-2023', monotonicNow: () => now });
    const scope = { account: '000000000000', region: 'us-east-1' };
    const throttle = (op: string) => new ServiceError('ThrottlingException', `Rate exceeded for ${op}`);
    const admitted = async (op: string) => (await controls.admit('kms', op, scope, throttle)).error === undefined;
    assert.equal(await admitted('GetParametersForImport'), true);
    now += 3_900;
    assert.equal(await admitted('GetParametersForImport'), false);
    now += 200;
    assert.equal(await admitted('GetParametersForImport'), true);
    for (let i = 0; i < 5; i++) assert.equal(await admitted('ImportKeyMaterial'), true);
    assert.equal(await admitted('ImportKeyMaterial'), false);
    assert.equal(controls.getQuotas()['kms:ListKeys']?.rate, 100);
    assert.throws(() => controls.useQuotaPreset('kms-2022' as never), /kms-defaults.*kms-2023.*off/);
  });

  it('the kms-defaults option of startLocalEndpoint turns the preset on', async () => {
    const other = await startLocalEndpoint({ quotas: 'kms-defaults' });
    try {
      assert.equal(other.controls.getQuotas()['kms:GetParametersForImport']?.rate, 1);
      const viaHttp = await fetch(`${other.url}/_local/quotas`).then((r) => r.json() as Promise<{ quotas: Record<string, unknown> }>);
      assert.ok('kms:ListKeys' in viaHttp.quotas);
    } finally {
      await other.close();
    }
  });
});

describe('injected errors', () => {
  it('answer the next N calls of an operation, then stop', async () => {
    const sm = secrets();
    const name = unique('faulty');
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'x' }));
    const injected = await control('POST', '/_local/faults', { operation: 'secretsmanager:GetSecretValue', type: 'InternalServiceError', count: 2 });
    assert.equal(injected.status, 200);
    assert.deepEqual(injected.json, {
      operation: 'secretsmanager:GetSecretValue',
      added: { type: 'InternalServiceError', status: 500, message: "InternalServiceError injected by the local endpoint's fault control for secretsmanager:GetSecretValue", remaining: 2 },
      queued: 1,
    });
    for (let i = 0; i < 2; i++) {
      await assert.rejects(sm.send(new GetSecretValueCommand({ SecretId: name })), (err: Error & { $metadata: { httpStatusCode?: number } }) => {
        assert.equal(err.name, 'InternalServiceError');
        assert.equal(err.$metadata.httpStatusCode, 500);
        return true;
      });
    }
    assert.equal((await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString, 'x');
    endpoint.controls.injectError('GetSecretValue', { type: 'DecryptionFailure', message: 'KMS says no', status: 400 });
    await assert.rejects(sm.send(new GetSecretValueCommand({ SecretId: name })), { name: 'DecryptionFailure', message: 'KMS says no' });
    endpoint.controls.injectError('secretsmanager:DescribeSecret', { type: 'InternalServiceError', count: 5 });
    assert.equal(endpoint.controls.getInjectedErrors()['secretsmanager:DescribeSecret']?.[0]?.remaining, 5);
    const cleared = await control('DELETE', '/_local/faults');
    assert.deepEqual(cleared.json, { cleared: 1, queued: 0 });
    await sm.send(new DescribeSecretCommand({ SecretId: name }));
    assert.equal((await control('POST', '/_local/faults', { operation: 'GetSecretValue' })).status, 400);
    assert.throws(() => endpoint.controls.injectError('x y', { type: 'T' }), RangeError);
  });
});

describe('bounded control state', () => {
  it('injected errors: at most MAX_INJECTED_ERRORS queued, refused beyond (400, nothing changed), room again once used or cleared', async () => {
    const controls = new Controls();
    for (let i = 0; i < MAX_INJECTED_ERRORS; i++) controls.injectError(i % 2 ? 'kms:Decrypt' : 'Encrypt', { type: 'KMSInternalException' });
    assert.equal(controls.injectedErrorCount(), MAX_INJECTED_ERRORS);
    assert.throws(() => controls.injectError('kms:Sign', { type: 'KMSInternalException' }), { name: 'RangeError', message: /At most 1000 injected errors/ });
    assert.equal(controls.getInjectedErrors()['kms:Sign'], undefined, 'a refused control changes nothing');
    const scope = { account: '000000000000', region: 'us-east-1' };
    const used = await controls.admit('kms', 'Decrypt', scope, () => new ServiceError('ThrottlingException', 'x'));
    assert.equal(used.error?.type, 'KMSInternalException');
    assert.equal(controls.injectedErrorCount(), MAX_INJECTED_ERRORS - 1, 'a spent error is dropped');
    controls.injectError('kms:Sign', { type: 'KMSInternalException', count: 50 });
    assert.equal(controls.clearInjectedErrors('Encrypt'), MAX_INJECTED_ERRORS / 2);
    assert.equal(controls.clearInjectedErrors(), MAX_INJECTED_ERRORS / 2);
    assert.equal(controls.injectedErrorCount(), 0);
  });

  it('over HTTP a fault beyond the bound is 400 and a POST never returns the whole queue', async () => {
    const other = await startLocalEndpoint();
    try {
      for (let i = 0; i < MAX_INJECTED_ERRORS; i++) other.controls.injectError('kms:Decrypt', { type: 'KMSInternalException' });
      const post = (body: unknown) =>
        fetch(`${other.url}/_local/faults`, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }).then(async (r) => ({
          status: r.status,
          text: await r.text(),
        }));
      const refused = await post({ operation: 'kms:Decrypt', type: 'KMSInternalException' });
      assert.equal(refused.status, 400);
      assert.match(refused.text, /At most 1000 injected errors/);
      other.controls.clearInjectedErrors('kms:Decrypt');
      other.controls.injectError('kms:Decrypt', { type: 'KMSInternalException' });
      const accepted = await post({ operation: 'kms:Encrypt', type: 'DependencyTimeoutException' });
      assert.equal(accepted.status, 200);
      assert.deepEqual(Object.keys(JSON.parse(accepted.text) as object).sort(), ['added', 'operation', 'queued']);
      assert.equal((JSON.parse(accepted.text) as { queued: number }).queued, 2);
    } finally {
      await other.close();
    }
  });

  it('latency and quota rules: at most MAX_LATENCY_RULES / MAX_QUOTA_RULES operations; changing or removing one is always allowed', () => {
    const controls = new Controls();
    for (let i = 0; i < MAX_LATENCY_RULES; i++) controls.setLatency(`kms:Op${i}`, 1);
    assert.throws(() => controls.setLatency('kms:OneMore', 1), { name: 'RangeError', message: /At most 200 operations may have a latency rule/ });
    assert.equal(controls.getLatency()['kms:OneMore'], undefined);
    controls.setLatency('kms:Op0', 5);
    controls.setLatency('kms:Op1', 0);
    controls.setLatency('kms:OneMore', 1);
    assert.equal(Object.keys(controls.getLatency()).length, MAX_LATENCY_RULES);
    for (let i = 0; i < MAX_QUOTA_RULES; i++) controls.setQuota(`kms:Op${i}`, { rate: 1 });
    assert.throws(() => controls.setQuota('kms:OneMore', { rate: 1 }), { name: 'RangeError', message: /At most 200 operations may have a quota/ });
    controls.setQuota('kms:Op0', { rate: 2 });
    controls.setQuota('kms:Op1', null);
    controls.setQuota('kms:OneMore', { rate: 1 });
    assert.equal(Object.keys(controls.getQuotas()).length, MAX_QUOTA_RULES);
  });
});

describe('counters', () => {
  it('count calls, errors, throttles and injected errors per operation, and reset', async () => {
    await control('DELETE', '/_local/counters');
    const sm = secrets();
    const name = unique('counted');
    await sm.send(new CreateSecretCommand({ Name: name, SecretString: 'x' }));
    await sm.send(new GetSecretValueCommand({ SecretId: name }));
    await assert.rejects(sm.send(new GetSecretValueCommand({ SecretId: unique('missing') })));
    endpoint.controls.injectError('secretsmanager:GetSecretValue', { type: 'InternalServiceError' });
    await assert.rejects(sm.send(new GetSecretValueCommand({ SecretId: name })));
    const counted = await control('GET', '/_local/counters');
    assert.deepEqual(counted.json.counters, {
      'secretsmanager:CreateSecret': { calls: 1, throttled: 0, injected: 0, errors: 0 },
      'secretsmanager:GetSecretValue': { calls: 3, throttled: 0, injected: 1, errors: 2 },
    });
    endpoint.controls.resetCounters();
    assert.deepEqual(endpoint.controls.getCounters(), {});
  });
});

describe('control surface over HTTP', () => {
  it('lists its routes and answers unknown controls and methods clearly', async () => {
    const index = await control('GET', '/_local');
    assert.ok((index.json.routes as string[]).includes('POST /_local/clock'));
    assert.ok('secretsmanager' in (index.json.services as Record<string, string[]>));
    assert.equal((await control('GET', '/_local/health')).json.ok, true);
    const unknown = await control('GET', '/_local/nothing');
    assert.equal(unknown.status, 404);
    assert.match(unknown.json.message as string, /GET \/_local lists them/);
    const wrongMethod = await control('PUT', '/_local/clock', {});
    assert.equal(wrongMethod.status, 405);
    const notPersisting = await control('POST', '/_local/save', {});
    assert.equal(notPersisting.status, 409);
    const badJson = await fetch(`${endpoint.url}/_local/clock`, { method: 'POST', body: '{nope', headers: { 'Content-Type': 'application/json' } });
    assert.equal(badJson.status, 400);
  });

  it('a clock created with a start time keeps running from it', () => {
    let real = 1_000;
    const clock = createClock(5_000, () => real);
    assert.equal(clock.now(), 5_000);
    real += 10;
    assert.equal(clock.now(), 5_010);
    assert.equal(clock.advance(1.5), 6_510);
    assert.throws(() => clock.advance(Number.NaN), RangeError);
  });
});
