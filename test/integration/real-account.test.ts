/**
 * What a real account and an attacker do that the happy path never shows, over HTTP against the
 * local endpoint: the escrow-clone attack and the forged-task-input attack, reproduced and refused;
 * an endpoint that lacks ListKeyRotations and answers in plain text; an ImportKeyMaterial answer
 * cut short after KMS acted. The last two go through a small proxy in this file in front of the
 * local endpoint, which changes only the answers it is told to.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { DeleteImportedKeyMaterialCommand, DescribeKeyCommand, ListKeyRotationsCommand, TagResourceCommand } from '@aws-sdk/client-kms';
import { CreateSecretCommand, GetSecretValueCommand, TagResourceCommand as TagSecretCommand } from '@aws-sdk/client-secrets-manager';
import { createClients } from '../../lib/aws/clients.js';
import { ESCROW_KEY_ID_TAG, checkEscrowHealth } from '../../lib/escrow/index.js';
import { recoverKey } from '../../lib/recover.js';
import { inspectStep, wrapAndImportStep } from '../../lib/workflow/steps.js';
import type { WorkflowState } from '../../lib/workflow/state.js';
import { onboardKey, REGION, startLocalAws, type LocalAws } from '../support/local-aws.js';

let aws: LocalAws;
before(async () => {
  aws = await startLocalAws();
});
after(() => aws.closeAfterLeakCheck());

const state = async (keyId: string) => (await aws.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!;
const retry = () => ({ maxAttempts: 2, baseDelayMs: 1 });

describe('escrow clone: a key of the attacker\'s own cannot get another key\'s material', () => {
  test("a new managed key whose escrow tag names the victim's default secret, with the victim's secret re-bound to it: refused, nothing imported, the victim's escrow reported", async () => {
    const victim = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
    const victimSecret = `${aws.config.escrowPrefix}${victim.keyId}`;
    // The attacker may create and tag keys, and tag the victim's secret.
    const attacker = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { bare: true, tags: [{ TagKey: aws.config.escrowTagKey, TagValue: victimSecret }] });
    await aws.secrets.send(new TagSecretCommand({ SecretId: victimSecret, Tags: [{ Key: ESCROW_KEY_ID_TAG, Value: attacker.keyId }] }));
    aws.endpoint.controls.resetCounters();

    const outcome = await aws.recover(attacker.keyId);

    assert.equal(outcome.status, 'skipped', outcome.reason);
    assert.equal(outcome.errorName, 'KeyNotEligible');
    assert.match(outcome.reason!, /never held key material/);
    assert.equal(aws.calls('ImportKeyMaterial'), 0, 'nothing imported');
    assert.equal(aws.calls('GetSecretValue'), 0, "the victim's secret was never read");
    assert.equal((await state(attacker.keyId)).KeyState, 'PendingImport');

    // The victim's escrow is reported: bound by its name, but its binding tag names another key.
    const victimReport = { keyId: victim.keyId, arn: victim.arn, tags: {} };
    const health = await checkEscrowHealth(aws.secrets, victimReport, aws.config, retry(), async () => 'unknown');
    assert.equal(health.escrow, 'mismatched');
    assert.ok(health.escrowReason!.includes(attacker.keyId));
  });

  test("where KMS cannot tell whether a key ever held material (ECC), the victim's default secret is still refused by its name", async () => {
    const victim = await onboardKey(aws, 'ECC_NIST_P256', { lifetimeSeconds: null });
    const victimSecret = `${aws.config.escrowPrefix}${victim.keyId}`;
    const attacker = await onboardKey(aws, 'ECC_NIST_P256', { bare: true, tags: [{ TagKey: aws.config.escrowTagKey, TagValue: victimSecret }] });
    await aws.secrets.send(new TagSecretCommand({ SecretId: victimSecret, Tags: [{ Key: ESCROW_KEY_ID_TAG, Value: attacker.keyId }] }));
    aws.endpoint.controls.resetCounters();

    const outcome = await aws.recover(attacker.keyId);

    assert.equal(outcome.status, 'failed', outcome.reason);
    assert.equal(outcome.errorName, 'EscrowInvalid');
    assert.match(outcome.reason!, /default escrow secret of another key/);
    assert.equal(aws.calls('ImportKeyMaterial'), 0);
    assert.equal(aws.calls('GetSecretValue'), 0);
    const held = await aws.secrets.send(new GetSecretValueCommand({ SecretId: victimSecret }));
    assert.ok(Buffer.from(held.SecretBinary!).equals(victim.material), "the victim's escrow is unchanged");
  });

  test("a victim's custom-named secret re-bound to the attacker's symmetric key: never-imported, nothing imported", async () => {
    const victim = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
    const custom = `team-escrow/payments-${victim.keyId.slice(0, 8)}`;
    await aws.secrets.send(new CreateSecretCommand({ Name: custom, SecretBinary: victim.material, Tags: [{ Key: ESCROW_KEY_ID_TAG, Value: victim.keyId }] }));
    const attacker = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { bare: true, tags: [{ TagKey: aws.config.escrowTagKey, TagValue: custom }] });
    await aws.secrets.send(new TagSecretCommand({ SecretId: custom, Tags: [{ Key: ESCROW_KEY_ID_TAG, Value: attacker.keyId }] }));
    aws.endpoint.controls.resetCounters();

    const outcome = await aws.recover(attacker.keyId, 'recover');

    assert.equal(outcome.status, 'skipped', outcome.reason);
    assert.equal(aws.calls('ImportKeyMaterial'), 0);
    assert.equal(aws.calls('GetSecretValue'), 0);
  });
});

describe("escrow clone on keys whose material history KMS does not show (HMAC, RSA, ECC): a victim's custom-named secret re-bound to the attacker's key", () => {
  for (const keySpec of ['ECC_NIST_P256', 'RSA_2048', 'HMAC_256']) {
    test(`${keySpec}: the secret is older than the attacker's key, so its re-set tag does not bind it: refused, nothing imported, reported unbound`, async () => {
      const victim = await onboardKey(aws, keySpec, { lifetimeSeconds: null });
      const custom = `team-escrow/${keySpec.toLowerCase()}-${victim.keyId.slice(0, 8)}`;
      await aws.secrets.send(new CreateSecretCommand({ Name: custom, SecretBinary: victim.material, Tags: [{ Key: ESCROW_KEY_ID_TAG, Value: victim.keyId }] }));
      // Later, the attacker creates a key of their own and re-binds the victim's secret to it.
      aws.endpoint.clock.advance(60);
      const attacker = await onboardKey(aws, keySpec, { bare: true, tags: [{ TagKey: aws.config.escrowTagKey, TagValue: custom }] });
      await aws.secrets.send(new TagSecretCommand({ SecretId: custom, Tags: [{ Key: ESCROW_KEY_ID_TAG, Value: attacker.keyId }] }));
      aws.endpoint.controls.resetCounters();

      const outcome = await aws.recover(attacker.keyId, 'recover');

      assert.equal(outcome.status, 'failed', outcome.reason);
      assert.equal(outcome.errorName, 'EscrowInvalid');
      assert.match(outcome.reason!, /before the key itself/);
      assert.equal(aws.calls('ImportKeyMaterial'), 0, 'nothing imported');
      assert.equal(aws.calls('GetSecretValue'), 0, "the victim's secret was never read");
      assert.equal((await state(attacker.keyId)).KeyState, 'PendingImport');
      const attackerReport = { keyId: attacker.keyId, arn: attacker.arn, tags: { [aws.config.escrowTagKey]: custom }, creationDate: (await state(attacker.keyId)).CreationDate!.toISOString() };
      const health = await checkEscrowHealth(aws.secrets, attackerReport, aws.config, retry(), async () => 'unknown');
      assert.equal(health.escrow, 'unbound');
    });
  }

  test('a custom-named secret made for the key after the key was created still serves it', async () => {
    const key = await onboardKey(aws, 'ECC_NIST_P256', { lifetimeSeconds: null });
    aws.endpoint.clock.advance(5);
    const custom = `team-escrow/ecc-own-${key.keyId.slice(0, 8)}`;
    await aws.secrets.send(new CreateSecretCommand({ Name: custom, SecretBinary: key.material, Tags: [{ Key: ESCROW_KEY_ID_TAG, Value: key.keyId }] }));
    await aws.kms.send(new TagResourceCommand({ KeyId: key.keyId, Tags: [{ TagKey: aws.config.escrowTagKey, TagValue: custom }] }));
    await aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.keyId }));
    const outcome = await aws.recover(key.keyId, 'recover');
    assert.equal(outcome.status, 'recovered', outcome.reason);
  });
});

describe('forged task input: a task does no more than the workflow would', () => {
  test('WrapAndImport invoked with a forged renew that would shorten a healthy key\'s ValidTo: TaskInputRejected, ValidTo unchanged', async () => {
    // Valid 300 days: beyond what a renewal would set (90), so the workflow would never renew it.
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 300 * 86_400 });
    const before = (await state(key.keyId)).ValidTo?.toISOString();
    const config = { ...aws.config, wrappingKeySpec: 'RSA_2048' };
    const now = aws.now();
    const item = { keyRef: key.keyId, action: 'renew' as const, trigger: { source: 'manual', detailType: 'manual' } };
    const inspected = await inspectStep({ kms: aws.kms, retry: retry() }, item, config, now);
    assert.equal(inspected.plan?.action, 'skip', 'the workflow itself would not renew it');
    // The forgery: the plan and the pending material the workflow never produced.
    const forged: WorkflowState = { ...inspected, plan: { action: 'renew', reason: 'forged' }, pending: [{}] };
    aws.endpoint.controls.resetCounters();

    await assert.rejects(wrapAndImportStep({ kms: aws.kms, secrets: aws.secrets, retry: retry() }, forged, config, now), (e: Error) => {
      assert.equal(e.name, 'TaskInputRejected');
      assert.ok(e.message.includes(key.keyId));
      return true;
    });
    assert.equal(aws.calls('ImportKeyMaterial'), 0);
    // The escrow is read beside the re-check (one round trip) and wiped unused when the re-check
    // refuses: one read at most, one parameter request at most, nothing written to escrow.
    assert.ok(aws.calls('GetSecretValue') <= 1, `escrow read ${aws.calls('GetSecretValue')} times`);
    assert.ok(aws.calls('GetParametersForImport') <= 1, `GetParametersForImport ${aws.calls('GetParametersForImport')} times`);
    for (const op of ['PutSecretValue', 'CreateSecret', 'UpdateSecret']) assert.equal(aws.calls(op), 0, `no ${op}`);
    assert.equal((await state(key.keyId)).ValidTo?.toISOString(), before, 'ValidTo unchanged');
  });
});

// ------------------------------------------------------------------ another KMS implementation, a cut answer
interface Rewrite {
  /** The X-Amz-Target operation to change the answer of. */
  operation: string;
  /** Forward the request to the endpoint first (so it acts), then send this instead of its answer. */
  forward: boolean;
  status: number;
  body: (real: string) => string;
  contentType: string;
}

async function startProxy(target: string, rewrites: Rewrite[]): Promise<{ url: string; close: () => Promise<void> }> {
  const upstream = new URL(target);
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const operation = String(req.headers['x-amz-target'] ?? '').split('.').pop();
      const rewrite = rewrites.find((r) => r.operation === operation);
      const answer = (status: number, contentType: string, text: string) => {
        res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      if (rewrite && !rewrite.forward) return answer(rewrite.status, rewrite.contentType, rewrite.body(''));
      const headers = { ...req.headers, host: `${upstream.hostname}:${upstream.port}` };
      const out = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (up) => {
        const upChunks: Buffer[] = [];
        up.on('data', (c: Buffer) => upChunks.push(c));
        up.on('end', () => {
          const real = Buffer.concat(upChunks).toString('utf8');
          if (rewrite) return answer(rewrite.status, rewrite.contentType, rewrite.body(real));
          answer(up.statusCode ?? 500, String(up.headers['content-type'] ?? 'application/x-amz-json-1.1'), real);
        });
      });
      out.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('another KMS implementation, and answers that are not JSON', () => {
  test('an endpoint without ListKeyRotations that answers in plain text: the key is recovered from DescribeKey with a warning, never a SyntaxError', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
    await aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.keyId }));
    const proxy = await startProxy(aws.endpoint.url, [
      { operation: 'ListKeyRotations', forward: false, status: 400, contentType: 'text/plain', body: () => 'Passed X-Amz-Target is not supported' },
    ]);
    const clients = createClients({ endpointUrl: proxy.url, region: REGION, credentials: { accessKeyId: 'AKIDINTEGRATION', secretAccessKey: 'x' } });
    const warnings: string[] = [];
    try {
      const outcome = await recoverKey(
        { ...clients, logger: { info() {}, warn: (m) => void warnings.push(m), error() {} } },
        key.keyId,
        { action: 'recover', config: aws.config, now: aws.now },
      );
      assert.equal(outcome.status, 'recovered', outcome.reason);
      assert.ok(warnings.some((w) => /ListKeyRotations is not available/.test(w)), warnings.join('\n'));
      assert.equal((await state(key.keyId)).KeyState, 'Enabled');
    } finally {
      clients.kms.destroy();
      clients.secrets.destroy();
      await proxy.close();
    }
  });

  test('any other call answered with something that is not JSON ends in a named error naming the call, not a SyntaxError', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
    const proxy = await startProxy(aws.endpoint.url, [
      { operation: 'DescribeKey', forward: false, status: 400, contentType: 'text/html', body: () => '<html>Bad Gateway</html>' },
    ]);
    const clients = createClients({ endpointUrl: proxy.url, region: REGION, credentials: { accessKeyId: 'AKIDINTEGRATION', secretAccessKey: 'x' } });
    try {
      const outcome = await recoverKey({ ...clients }, key.keyId, { action: 'recover', config: aws.config, now: aws.now });
      assert.equal(outcome.status, 'failed');
      assert.equal(outcome.errorName, 'KmsResponseInvalid');
      assert.match(outcome.reason!, /KMS DescribeKey/);
      assert.doesNotMatch(outcome.reason!, /Bad Gateway|SyntaxError/);
    } finally {
      clients.kms.destroy();
      clients.secrets.destroy();
      await proxy.close();
    }
  });

  test('an ImportKeyMaterial answer cut short after KMS acted: the key is read again and the run ends recovered, not failed', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 });
    aws.endpoint.clock.advance(61);
    assert.equal((await state(key.keyId)).KeyState, 'PendingImport');
    const proxy = await startProxy(aws.endpoint.url, [
      { operation: 'ImportKeyMaterial', forward: true, status: 200, contentType: 'application/x-amz-json-1.1', body: (real) => real.slice(0, Math.max(1, real.length - 7)) },
    ]);
    const clients = createClients({ endpointUrl: proxy.url, region: REGION, credentials: { accessKeyId: 'AKIDINTEGRATION', secretAccessKey: 'x' } });
    const warnings: string[] = [];
    try {
      aws.endpoint.controls.resetCounters();
      const outcome = await recoverKey(
        { ...clients, logger: { info() {}, warn: (m) => void warnings.push(m), error() {} } },
        key.keyId,
        { action: 'recover', config: aws.config, now: aws.now },
      );
      assert.equal(outcome.status, 'recovered', outcome.reason);
      assert.equal(outcome.verified, true);
      assert.equal(aws.calls('ImportKeyMaterial'), 1, 'one import, not a second one to be sure');
      assert.ok(warnings.some((w) => /read again shows the import took effect/.test(w)));
      const rotations = await aws.kms.send(new ListKeyRotationsCommand({ KeyId: key.keyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }));
      assert.equal(rotations.Rotations?.[0]?.ImportState, 'IMPORTED');
    } finally {
      clients.kms.destroy();
      clients.secrets.destroy();
      await proxy.close();
    }
  });

  test('an ImportKeyMaterial answer cut short when KMS did NOT act: failed KmsResponseInvalid saying the key shows no import', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 });
    aws.endpoint.clock.advance(61);
    const proxy = await startProxy(aws.endpoint.url, [
      { operation: 'ImportKeyMaterial', forward: false, status: 200, contentType: 'application/x-amz-json-1.1', body: () => '{"KeyId": "arn:aws:kms' },
    ]);
    const clients = createClients({ endpointUrl: proxy.url, region: REGION, credentials: { accessKeyId: 'AKIDINTEGRATION', secretAccessKey: 'x' } });
    try {
      const outcome = await recoverKey({ ...clients }, key.keyId, { action: 'recover', config: aws.config, now: aws.now });
      assert.equal(outcome.status, 'failed');
      assert.equal(outcome.errorName, 'KmsResponseInvalid');
      assert.match(outcome.reason!, /does not show the import/);
      assert.match(outcome.reason!, /run again/);
      assert.equal((await state(key.keyId)).KeyState, 'PendingImport');
    } finally {
      clients.kms.destroy();
      clients.secrets.destroy();
      await proxy.close();
    }
  });
});
