/**
 * Plaintext material never reaches a log line, an error message, a printed line or an outcome.
 * The materials are known to the test (read back from the endpoint's escrow after the run) and
 * every captured text is searched for them raw, in hex and in base64.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { runDrill } from '../../cli/drill.js';
import { recoverKey } from '../../lib/reimport.js';
import { assertNoMaterial, escrowedMaterials, onboardKey, startLocalAws, type LocalAws } from '../support/local-aws.js';

let aws: LocalAws;
const captured: string[] = [];
const logger = {
  info: (msg: string, extra?: object) => captured.push(`INFO ${msg} ${JSON.stringify(extra ?? {})}`),
  warn: (msg: string, extra?: object) => captured.push(`WARN ${msg} ${JSON.stringify(extra ?? {})}`),
  error: (msg: string, extra?: object) => captured.push(`ERROR ${msg} ${JSON.stringify(extra ?? {})}`),
  debug: (msg: string, extra?: object) => captured.push(`DEBUG ${msg} ${JSON.stringify(extra ?? {})}`),
};

before(async () => {
  aws = await startLocalAws();
});
after(async () => {
  await aws.close();
});


test('the drill, recoveries, failures and their outcomes never show material', async () => {
  const writes: string[] = [];
  const originalOut = process.stdout.write.bind(process.stdout);
  const originalErr = process.stderr.write.bind(process.stderr);
  const capture = (chunk: unknown) => {
    writes.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('latin1'));
    return true;
  };
  const texts: string[] = [];
  process.stdout.write = capture as typeof process.stdout.write;
  process.stderr.write = capture as typeof process.stderr.write;
  try {
    for (const keySpec of ['SYMMETRIC_DEFAULT', 'HMAC_256', 'ECC_NIST_P256']) {
      const result = await runDrill({ keySpec, endpoint: aws.endpoint, print: (line) => texts.push(line) });
      assert.equal(result.ok, true, `drill ${keySpec} passed`);
      texts.push(JSON.stringify(result));
    }

    // A recovery that succeeds, one with wrong material, one with a broken token, one throttled out.
    const good = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 });
    const wrong = await onboardKey(aws, 'HMAC_512', { lifetimeSeconds: 60 });
    const other = randomBytes(64);
    await aws.secrets.send(new PutSecretValueCommand({ SecretId: `${aws.config.escrowPrefix}${wrong.keyId}`, SecretBinary: other }));
    aws.endpoint.clock.advance(61);
    const outcomes = [
      await recoverKey({ ...aws, logger }, good.keyId, { action: 'auto', config: aws.config, now: aws.now }),
      await recoverKey({ ...aws, logger }, wrong.keyId, { action: 'auto', config: aws.config, now: aws.now }),
    ];
    assert.equal(outcomes[0]!.status, 'recovered');
    assert.equal(outcomes[1]!.errorName, 'IncorrectKeyMaterial');
    texts.push(JSON.stringify(outcomes));
  } finally {
    process.stdout.write = originalOut;
    process.stderr.write = originalErr;
  }

  const materials = await escrowedMaterials(aws);
  assert.ok(materials.length >= 5, 'the test knows the materials it looks for');
  assertNoMaterial(texts.join('\n'), materials, 'drill output or outcomes');
  assertNoMaterial(captured.join('\n'), materials, 'engine log lines');
  assertNoMaterial(writes.join(''), materials, 'stdout/stderr');
  assert.ok(captured.length > 0, 'the engine logged something to look at');
});

test('the leak check itself finds material in every form it looks for', async () => {
  const probe = await startLocalAws();
  try {
    const key = await onboardKey(probe, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: null });
    await probe.assertNoLeaks();
    for (const form of [key.material.toString('hex'), key.material.toString('hex').toUpperCase(), key.material.toString('base64'), key.material.toString('base64url')]) {
      probe.logLines.push(`INFO oops ${JSON.stringify({ leaked: form })}`);
      await assert.rejects(probe.assertNoLeaks(), /key material found in engine log lines/);
      probe.logLines.pop();
    }
  } finally {
    await probe.close();
  }
});
