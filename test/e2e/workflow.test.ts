/**
 * End to end: every sample event in events/ goes through the REAL trigger or sweep handler, which
 * starts the workflow; the workflow runs from statemachine/recovery.asl.json with
 * aws-local-stepfunctions, each Task bound to the REAL handler module (functions/*.ts), and every
 * AWS call goes over HTTP to the project's local KMS + Secrets Manager + Tagging endpoint.
 *
 * Two AWS services have no local emulation in this project, so this file carries tiny fakes of
 * exactly the semantics it relies on, over the real SDK wire protocols:
 * - Step Functions StartExecution (awsJson1_0): a new name starts a local execution; the same
 *   name with the same input while it runs returns that execution; otherwise
 *   ExecutionAlreadyExists. (No local Step Functions endpoint exists here: Step Functions Local is
 *   a Java/Docker product.) That is what makes duplicate triggers start one run.
 * - SNS Publish (awsQuery): records the outcome messages.
 *
 * Rotation goes the same way: the manual rotate event and the sweep (a key whose rotate-every
 * schedule is due) start the runbook's rotation branch, whose Rotate task runs the rotation engine
 * under the Rotate function's own role (CreateKey, UpdateAlias, escrow writes: the template's
 * conditions, enforced).
 *
 * Every log line written (stdout/stderr), every state input and output, every SNS message and
 * every execution input is kept and searched for the plaintext material at the end (rotations'
 * new materials are read back from escrow for that search).
 *
 * IAM as a real account applies it: the endpoint enforces the roles template.yaml gives each
 * function (local/iam/template-roles.ts), and each function runs in its own worker thread
 * (test/support/lambda-workers.ts) with its own environment, signing with its own role's access
 * key, like separate Lambda runtimes. A permission the code needs and the template lacks fails
 * here with AccessDeniedException. The test's own setup (creating keys, escrow, faults) signs
 * as the account (access key 111122223333), an administrator.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateAliasCommand, DecryptCommand, DeleteImportedKeyMaterialCommand, DescribeKeyCommand, EncryptCommand, GenerateMacCommand, ListAliasesCommand,
  ListResourceTagsCommand, VerifyMacCommand,
} from '@aws-sdk/client-kms';
import { DeleteSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { startWorkflowHarness, TOPIC_ARN } from '../support/workflow-harness.js';
import type { OnboardedKey } from '../support/local-aws.js';
import { reportInput, timesEntered, type WorkflowRun } from '../unit/asl-run.js';
import { repoRoot, type Json } from '../unit/template-load.js';

const h = await startWorkflowHarness({
  env: {
    KMS_REIMPORT_SWEEP_START_INTERVAL_MS: '0',
    // The scheduled-rotation scenario tags a key rotate-every=1d: lower the 30-day floor for this deployment.
    KMS_REIMPORT_MIN_ROTATE_EVERY_DAYS: '1',
  },
});
const { endpoint, aws, snsMessages, written, materials, newKey, expiredKey, keepEscrowedMaterials, currentMaterial, keyState, sample, deliver, only, published, resetCounters, imports, lambdaContext, metricsSince, withoutAction, enforcedPrincipals } = h;
const sweep = h.sweep;
const stepCalls = h.stepCalls;
const executions = h.executions;

after(() => h.close());

// ------------------------------------------------------------------ the sweep (first: it lists every managed key)
describe('the scheduled sweep', () => {
  test('dry run, then a sweep: outages recovered, expiring keys renewed, healthy and unmanaged keys left alone', async () => {
    const expiring = await newKey({ lifetimeSeconds: 3 * 86_400 });
    const healthy = await newKey({ lifetimeSeconds: null });
    const down = await newKey({ lifetimeSeconds: 60 });
    const unmanaged = await newKey({ lifetimeSeconds: 60, managed: false });
    endpoint.clock.advance(61);
    resetCounters();

    const dry = await sweep(sample('schedule/sweep-dry-run.json'), lambdaContext('sweep', 300_000));
    assert.equal(dry.status, 'ok');
    assert.equal(dry.dryRun, true);
    assert.equal(h.startExecutionCalls(), 0, 'a dry run starts nothing');
    assert.deepEqual(dry.executions.map((e: Json) => e.status), ['dry-run', 'dry-run']);

    const before = new Set(executions.keys());
    const swept = await sweep(sample('schedule/sweep.json'), lambdaContext('sweep', 300_000));
    assert.equal(swept.status, 'ok');
    assert.deepEqual(
      swept.executions.map((e: Json) => [e.keyRef, e.action, e.status]),
      [
        [down.keyId, 'recover', 'started'],
        [expiring.keyId, 'renew', 'started'],
      ],
      'outages first, then the soonest expiry; nothing for healthy or unmanaged keys',
    );
    const runs = [...executions.values()].filter((e) => !before.has(e.name));
    const outcomes = await Promise.all(runs.map(async (e) => (await e.run).output?.outcome));
    assert.deepEqual(outcomes.map((o) => [o.keyId, o.status]).sort(), [
      [down.keyId, 'recovered'],
      [expiring.keyId, 'renewed'],
    ].sort());
    assert.equal(await keyState(down.keyId), 'Enabled');
    assert.equal(await keyState(unmanaged.keyId), 'PendingImport', 'an unmanaged key is never changed');
    assert.equal(await keyState(healthy.keyId), 'Enabled');
    assert.equal(imports(), 2);

    // The EventBridge Scheduler shape of the same request: everything is fine now, nothing starts.
    const again = await sweep(sample('schedule/scheduled-event.json'), lambdaContext('sweep', 300_000));
    assert.equal(again.status, 'ok');
    assert.deepEqual(again.executions, []);
  });

  test('a key tagged kms-reimport:rotate-every=1d whose material is older: the sweep starts its rotation after the renewal → rotated; the next sweep leaves it', async () => {
    // The key (and so its material) is made two days ago on the endpoint's clock; the functions' clock is the real one.
    const offset = endpoint.clock.offsetMs();
    endpoint.clock.set(Date.now() - 2 * 86_400_000);
    let due: OnboardedKey;
    try {
      due = await newKey({ lifetimeSeconds: null, tags: [{ TagKey: 'kms-reimport:rotate-every', TagValue: '1d' }] });
    } finally {
      endpoint.clock.setOffsetMs(offset);
    }
    const expiring = await newKey({ lifetimeSeconds: 3 * 86_400 });
    const before = await currentMaterial(due.keyId);
    resetCounters();
    const known = new Set(executions.keys());
    const swept = await sweep(sample('schedule/sweep.json'), lambdaContext('sweep', 300_000));
    assert.equal(swept.status, 'ok');
    assert.deepEqual(
      swept.executions.map((e: Json) => [e.keyRef, e.action, e.status]),
      [
        [expiring.keyId, 'renew', 'started'],
        [due.keyId, 'rotate', 'started'],
      ],
      'renewals first, then the rotation due',
    );
    assert.match(swept.executions[1].executionName, new RegExp(`^${due.keyId}-rotate-\\d{8}T\\d{4}Z$`));
    const runs = [...executions.values()].filter((e) => !known.has(e.name));
    const outcomes = await Promise.all(runs.map(async (e) => (await e.run).output?.outcome));
    const rotated = outcomes.find((o) => o?.keyId === due.keyId);
    assert.equal(rotated?.status, 'rotated', JSON.stringify(rotated));
    assert.equal(rotated.rotation.mode, 'in-place');
    assert.notEqual(await currentMaterial(due.keyId), before);
    assert.equal(rotated.rotation.toKeyMaterialId, await currentMaterial(due.keyId));
    assert.equal(aws.calls('RotateKeyOnDemand'), 1);
    await keepEscrowedMaterials(due.keyId);

    // Its material is new now: the next sweep starts nothing for it.
    const next = await sweep(sample('schedule/sweep.json'), lambdaContext('sweep', 300_000));
    assert.deepEqual(next.executions, []);
    assert.equal(next.keys.find((k: Json) => k.keyId === due.keyId)?.rotation?.due, false);
  });
});

// ------------------------------------------------------------------ every trigger sample
describe('trigger samples → one workflow each → outcome', () => {
  test('KMS Imported Key Material Expiration → recovered and verified', async () => {
    const key = await expiredKey();
    resetCounters();
    const run = await only((await deliver(sample('kms/material-expiration.json', key.keyId))).runs);
    assert.equal(run.status, 'SUCCEEDED');
    assert.equal(run.output.outcome.status, 'recovered', run.output.outcome.reason);
    assert.equal(run.output.outcome.verified, true);
    assert.equal(imports(), 1);
    assert.equal(await keyState(key.keyId), 'Enabled');
    assert.deepEqual(published(key.keyId).map((o) => o.status), ['recovered']);
    assert.equal(snsMessages.at(-1)?.topicArn, TOPIC_ARN);
  });

  test('CloudTrail DeleteImportedKeyMaterial → recovered', async () => {
    const key = await newKey();
    await aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.keyId }));
    assert.equal(await keyState(key.keyId), 'PendingImport');
    resetCounters();
    const run = await only((await deliver(sample('cloudtrail/delete-imported-key-material.json', key.keyId))).runs);
    assert.equal(run.output.outcome.status, 'recovered', run.output.outcome.reason);
    assert.equal(await keyState(key.keyId), 'Enabled');
  });

  test('CloudTrail DeleteExpiredKeyMaterial (AWS Service Event) → recovered', async () => {
    const key = await expiredKey();
    resetCounters();
    const run = await only((await deliver(sample('cloudtrail/delete-expired-key-material.json', key.keyId))).runs);
    assert.equal(run.output.outcome.status, 'recovered', run.output.outcome.reason);
    assert.equal(imports(), 1);
  });

  test('manual recover → recovered; recover by alias → recovered', async () => {
    const key = await expiredKey();
    resetCounters();
    const run = await only((await deliver(sample('manual/recover.json', key.keyId))).runs);
    assert.equal(run.output.outcome.status, 'recovered', run.output.outcome.reason);

    const aliased = await expiredKey();
    const alias = sample('manual/recover-by-alias.json').keyId as string;
    await aws.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: aliased.keyId }));
    resetCounters();
    const byAlias = await only((await deliver(sample('manual/recover-by-alias.json'))).runs);
    assert.equal(byAlias.output.outcome.status, 'recovered', byAlias.output.outcome.reason);
    assert.equal(byAlias.output.outcome.keyId, aliased.keyId);
    assert.equal(await keyState(aliased.keyId), 'Enabled');
  });

  test('manual renew (by ID and by ARN) → renewed, the key Enabled throughout, ValidTo pushed out', async () => {
    for (const file of ['manual/renew.json', 'manual/renew-by-arn.json']) {
      const key = await newKey({ lifetimeSeconds: 3 * 86_400 });
      const before = (await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!.ValidTo!;
      resetCounters();
      const run = await only((await deliver(sample(file, key.keyId))).runs);
      assert.equal(run.output.outcome.status, 'renewed', `${file}: ${run.output.outcome.reason}`);
      const after = (await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!;
      assert.equal(after.KeyState, 'Enabled', file);
      assert.ok(after.ValidTo!.getTime() > before.getTime() + 30 * 86_400_000, `${file}: ValidTo was not pushed out`);
    }
  });

  test('manual plan → planned with what would happen; nothing changes', async () => {
    const key = await expiredKey();
    resetCounters();
    const run = await only((await deliver(sample('manual/plan.json', key.keyId))).runs);
    assert.equal(run.status, 'SUCCEEDED');
    assert.equal(run.output.outcome.status, 'planned');
    assert.match(run.output.outcome.reason, /^plan: would recover/);
    assert.equal(imports(), 0);
    assert.equal(aws.calls('GetParametersForImport'), 0);
    assert.equal(await keyState(key.keyId), 'PendingImport');
  });

  test('skipped with the right reason: recover on a healthy key, and any action on an unmanaged key', async () => {
    const healthy = await newKey({ lifetimeSeconds: null });
    const unmanaged = await expiredKey({ managed: false });
    resetCounters();
    const nothing = await only((await deliver(sample('manual/recover.json', healthy.keyId))).runs);
    assert.equal(nothing.status, 'SUCCEEDED');
    assert.equal(nothing.output.outcome.status, 'skipped');
    assert.match(nothing.output.outcome.reason, /Nothing to recover/);
    const notManaged = await only((await deliver(sample('manual/recover.json', unmanaged.keyId))).runs);
    assert.equal(notManaged.output.outcome.status, 'skipped');
    assert.match(notManaged.output.outcome.reason, /not managed by kms-reimport/);
    assert.equal(imports(), 0);
    assert.equal(await keyState(unmanaged.keyId), 'PendingImport');
  });

  test('every sample in events/invalid is rejected by the trigger and starts nothing', async () => {
    const files = readdirSync(join(repoRoot, 'events', 'invalid')).filter((f) => f.endsWith('.json'));
    assert.ok(files.length > 5);
    const callsBefore = h.startExecutionCalls();
    for (const file of files) {
      if (file.startsWith('sweep-') || file.startsWith('scheduled-')) {
        const result = await sweep(sample(`invalid/${file}`), lambdaContext('sweep', 300_000));
        assert.equal(result.status, 'rejected', file);
        continue;
      }
      const { results, runs } = await deliver(sample(`invalid/${file}`));
      assert.equal(results[0].status, 'rejected', file);
      assert.ok(results[0].reason.length > 10, `${file}: the rejection says why`);
      assert.deepEqual(runs, [], file);
    }
    assert.equal(h.startExecutionCalls(), callsBefore);
  });
});

// ------------------------------------------------------------------ what goes wrong
describe('failures and hazards, end to end', () => {
  test('an import token KMS refuses as expired: WrapAndImport runs again (after the pace) with new parameters, then recovered', async () => {
    const key = await expiredKey();
    resetCounters();
    // KMS's answer to the first import: the token it was sent has expired (ExpiredImportTokenException).
    endpoint.controls.injectError('ImportKeyMaterial', { type: 'ExpiredImportTokenException', message: 'The import token has expired', count: 1 });
    const run = await only((await deliver(sample('manual/recover.json', key.keyId))).runs);
    assert.equal(run.output.outcome.status, 'recovered', run.output.outcome.reason);
    assert.equal(reportInput(run).tokenRefreshes, 1);
    assert.equal(reportInput(run).error, undefined);
    assert.equal(aws.calls('GetParametersForImport'), 2);
    assert.equal(imports(), 2, 'one refused with the expired token, one accepted');
    assert.ok(run.path.includes('TokenExpired'));
  });

  test('throttling beyond the function retries: the state machine retries the step, then recovered', async () => {
    const key = await expiredKey();
    resetCounters();
    // KMS_REIMPORT_MAX_ATTEMPTS=3: two invocations exhaust their attempts (KmsUnavailable), the third succeeds.
    endpoint.controls.injectError('GetParametersForImport', { type: 'ThrottlingException', message: 'Rate exceeded', count: 7 });
    const run = await only((await deliver(sample('manual/recover.json', key.keyId))).runs);
    assert.equal(run.output.outcome.status, 'recovered', run.output.outcome.reason);
    assert.equal(stepCalls.WrapAndImport, 3);
    assert.equal(run.events.filter((e) => e.type === 'StateRetried' && e.state.name === 'WrapAndImport').length, 2);
    assert.equal(aws.calls('GetParametersForImport'), 8);
  });

  test('wrong material in escrow: failed IncorrectKeyMaterial after one import attempt, an alert, never retried', async () => {
    const key = await expiredKey();
    const wrong = randomBytes(32);
    materials.push(wrong);
    await aws.secrets.send(new PutSecretValueCommand({ SecretId: `${aws.config.escrowPrefix}${key.keyId}`, SecretBinary: wrong }));
    resetCounters();
    const run = await only((await deliver(sample('manual/recover.json', key.keyId))).runs);
    assert.equal(run.status, 'FAILED');
    assert.equal(run.error?.name, 'RecoveryFailed');
    assert.equal(run.output, undefined);
    assert.equal(reportInput(run).error.Error, 'IncorrectKeyMaterial');
    const outcome = published(key.keyId).at(-1);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.errorName, 'IncorrectKeyMaterial');
    assert.match(outcome.reason, new RegExp(key.keyId));
    assert.equal(imports(), 1);
    assert.equal(timesEntered(run, 'WrapAndImport'), 1);
    assert.equal(await keyState(key.keyId), 'PendingImport');
  });

  test('a missing escrow secret: failed EscrowMissing, nothing imported', async () => {
    const key = await expiredKey();
    await aws.secrets.send(new DeleteSecretCommand({ SecretId: `${aws.config.escrowPrefix}${key.keyId}`, ForceDeleteWithoutRecovery: true }));
    resetCounters();
    const run = await only((await deliver(sample('manual/recover.json', key.keyId))).runs);
    assert.equal(run.status, 'FAILED');
    const outcome = published(key.keyId).at(-1);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.errorName, 'EscrowMissing');
    assert.match(outcome.reason, new RegExp(key.keyId));
    assert.equal(imports(), 0);
  });
});

// ------------------------------------------------------------------ duplicates
describe('duplicate triggers for one key', () => {
  for (const copies of [2, 50]) {
    test(`${copies} triggers delivered at once → one execution, exactly one ImportKeyMaterial`, async () => {
      const key = await expiredKey();
      resetCounters();
      const callsBefore = h.startExecutionCalls();
      // The same KMS event many times (EventBridge delivers at least once), mixed with the
      // CloudTrail events for the same key: other inputs, same execution name.
      const events = Array.from({ length: copies }, (_, i) =>
        i % 5 === 4 ? sample('cloudtrail/delete-expired-key-material.json', key.keyId) : sample('kms/material-expiration.json', key.keyId),
      );
      const { results, runs } = await deliver(...events);
      const run = await only(runs);
      assert.equal(run.output.outcome.status, 'recovered', run.output.outcome.reason);
      assert.equal(imports(), 1);
      assert.equal(h.startExecutionCalls() - callsBefore, copies, 'every trigger asked');
      // Whichever event arrived first started the run; the others with the same input got that
      // execution back ("started"), those with another input ExecutionAlreadyExists ("already-running").
      const winner = JSON.parse(runs[0]!.input).trigger.detailType;
      const sameInput = events.filter((e) => e['detail-type'] === winner).length;
      const statuses = results.flatMap((r) => r.executions.map((e: Json) => e.status));
      assert.equal(statuses.length, copies);
      assert.equal(statuses.filter((s: string) => s === 'started').length, sameInput);
      assert.equal(statuses.filter((s: string) => s === 'already-running').length, copies - sameInput);
      assert.deepEqual(published(key.keyId).map((o) => o.status), ['recovered']);
    });
  }
});

// ------------------------------------------------------------------ IAM as the template grants it
describe("every function under its own role's policies", () => {
  for (const [sampleFile, what] of [
    ['kms/material-expiration.json', 'an expiry event'],
    ['cloudtrail/delete-imported-key-material.json', 'a deletion event'],
  ] as const) {
    test(`${what} for an untagged EXTERNAL key (Inspect may not read it) → skipped, Done, no failed-outcome metric`, async () => {
      const untagged = sampleFile.startsWith('kms/') ? await expiredKey({ managed: false }) : await newKey({ managed: false });
      if (sampleFile.startsWith('cloudtrail/')) await aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: untagged.keyId }));
      assert.equal(await keyState(untagged.keyId), 'PendingImport');
      resetCounters();
      const from = written.length;
      const run = await only((await deliver(sample(sampleFile, untagged.keyId))).runs);
      assert.ok((endpoint.controls.getCounters()['kms:DescribeKey']?.errors ?? 0) >= 1, 'real KMS would refuse Inspect DescribeKey on the untagged key, and so did the endpoint');
      assert.equal(run.status, 'SUCCEEDED', JSON.stringify(run.error));
      assert.equal(run.output.outcome.status, 'skipped', run.output.outcome.reason);
      assert.equal(run.path.at(-1), 'Done');
      assert.ok(!run.path.includes('Failed'), run.path.join(' → '));
      assert.deepEqual(published(untagged.keyId).map((o) => o.status), ['skipped']);
      const metrics = metricsSince(from);
      assert.ok(metrics.includes('Skipped'), `the skipped outcome was counted (metrics: ${metrics.join(', ')})`);
      assert.ok(!metrics.includes('Failed'), `no failed-outcome metric (metrics: ${metrics.join(', ')})`);
      assert.equal(imports(), 0);
      assert.equal(await keyState(untagged.keyId), 'PendingImport', 'an unmanaged key is never changed');
    });
  }

  test('one action taken out of one role (WrapAndImport without kms:ImportKeyMaterial): the run fails with AccessDeniedException', async () => {
    const key = await expiredKey();
    resetCounters();
    await endpoint.iam!.setPrincipals(enforcedPrincipals(withoutAction('WrapAndImportFunction', 'kms:ImportKeyMaterial')));
    let run: WorkflowRun;
    try {
      run = await only((await deliver(sample('manual/recover.json', key.keyId))).runs);
    } finally {
      await endpoint.iam!.setPrincipals(enforcedPrincipals());
    }
    assert.equal(run.status, 'FAILED');
    assert.equal(published(key.keyId).at(-1)?.status, 'failed');
    assert.match(JSON.stringify(reportInput(run).error), /AccessDenied|not authorized to perform: kms:ImportKeyMaterial/);
    assert.ok((endpoint.controls.getCounters()['kms:ImportKeyMaterial']?.errors ?? 0) >= 1, 'the endpoint refused ImportKeyMaterial');
    assert.equal(await keyState(key.keyId), 'PendingImport');

    // The template's roles as they are, the same scenario on another key: recovered.
    const control = await expiredKey();
    resetCounters();
    const recovered = await only((await deliver(sample('manual/recover.json', control.keyId))).runs);
    assert.equal(recovered.output?.outcome.status, 'recovered', JSON.stringify(recovered.error ?? recovered.output?.outcome));
  });
});

// ------------------------------------------------------------------ rotation through the runbook
describe('rotation through the deployed runbook (Rotate task under its own role)', () => {
  test('manual rotate of a symmetric key → rotated in place: new CurrentKeyMaterialId, an old ciphertext still decrypts, lease taken and released', async () => {
    const key = await newKey({ lifetimeSeconds: null });
    const before = await currentMaterial(key.keyId);
    const old = await aws.kms.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('made before the rotation') }));
    resetCounters();
    const run = await only((await deliver(sample('manual/rotate.json', key.keyId))).runs);
    assert.equal(run.status, 'SUCCEEDED', JSON.stringify(run.error ?? reportInput(run)?.error));
    const outcome = run.output.outcome;
    assert.equal(outcome.status, 'rotated', outcome.reason);
    assert.equal(outcome.action, 'rotate');
    assert.equal(outcome.verified, true);
    assert.equal(outcome.rotation.mode, 'in-place');
    const after = await currentMaterial(key.keyId);
    assert.ok(after && after !== before, 'a new current material');
    assert.deepEqual([outcome.rotation.fromKeyMaterialId, outcome.rotation.toKeyMaterialId], [before, after]);
    assert.equal(await keyState(key.keyId), 'Enabled');
    const decrypted = await aws.kms.send(new DecryptCommand({ CiphertextBlob: old.CiphertextBlob }));
    assert.equal(Buffer.from(decrypted.Plaintext!).toString(), 'made before the rotation');
    assert.equal(aws.calls('RotateKeyOnDemand'), 1);
    assert.deepEqual(run.path.slice(run.path.indexOf('AfterReinspect')), ['AfterReinspect', 'Rotate', 'ReleaseLease', 'Report', 'Succeeded?', 'Done']);
    assert.equal(timesEntered(run, 'AcquireLease'), 1);
    assert.deepEqual(published(key.keyId).map((o) => o.status), ['rotated']);
    assert.ok((await keepEscrowedMaterials(key.keyId)) >= 2, 'the old and the new material are both escrowed');
  });

  test('manual rotate of an HMAC key → alias swap: the alias names a new key, the old key stays Enabled and still verifies its MACs', async () => {
    const key = await newKey({ lifetimeSeconds: null }, 'HMAC_256');
    const alias = `alias/e2e-hmac-${key.keyId.slice(0, 8)}`;
    await aws.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.keyId }));
    const mac = await aws.kms.send(new GenerateMacCommand({ KeyId: key.keyId, Message: Buffer.from('signed before'), MacAlgorithm: 'HMAC_SHA_256' }));
    resetCounters();
    const run = await only((await deliver(sample('manual/rotate.json', key.keyId))).runs);
    const outcome = run.output?.outcome;
    assert.equal(outcome?.status, 'rotated', JSON.stringify(outcome ?? reportInput(run)?.error));
    assert.equal(outcome.rotation.mode, 'alias-swap');
    const newKeyId = outcome.rotation.newKeyId as string;
    assert.ok(newKeyId && newKeyId !== key.keyId);
    assert.deepEqual(outcome.rotation.aliasesMoved, [alias]);
    assert.equal((await aws.kms.send(new DescribeKeyCommand({ KeyId: alias }))).KeyMetadata?.KeyId, newKeyId, 'the alias moved');
    assert.deepEqual((await aws.kms.send(new ListAliasesCommand({ KeyId: key.keyId }))).Aliases ?? [], []);
    assert.equal(await keyState(key.keyId), 'Enabled', 'the old key stays Enabled');
    assert.equal(await keyState(newKeyId), 'Enabled');
    const verified = await aws.kms.send(new VerifyMacCommand({ KeyId: key.keyId, Message: Buffer.from('signed before'), MacAlgorithm: 'HMAC_SHA_256', Mac: mac.Mac }));
    assert.equal(verified.MacValid, true);
    const tags = Object.fromEntries(((await aws.kms.send(new ListResourceTagsCommand({ KeyId: newKeyId }))).Tags ?? []).map((t) => [t.TagKey, t.TagValue]));
    assert.equal(tags['kms-reimport:rotated-from'], key.keyId);
    assert.equal(tags[aws.config.managedTagKey], 'true', 'the new key is managed');
    await keepEscrowedMaterials(newKeyId);
  });

  test('concurrent rotate triggers for one key → one execution, one rotation; a later run of the same day only verifies', async () => {
    const key = await newKey({ lifetimeSeconds: null });
    resetCounters();
    const { runs } = await deliver(...Array.from({ length: 5 }, () => sample('manual/rotate.json', key.keyId)));
    const run = await only(runs);
    assert.equal(run.output?.outcome.status, 'rotated', JSON.stringify(run.output?.outcome ?? run.error));
    assert.equal(aws.calls('RotateKeyOnDemand'), 1);
    const current = await currentMaterial(key.keyId);
    // Another execution for the key (a later bucket, the sweep): the engine finds this day's rotation done.
    const later = await h.execute({ keyRef: key.keyId, action: 'rotate', trigger: { source: 'kms-reimport.manual', detailType: 'Manual Request' } }, `${key.keyId}-rotate-later`);
    assert.equal(later.output?.outcome.status, 'rotated', JSON.stringify(later.output?.outcome ?? later.error));
    assert.match(later.output.outcome.reason, /already rotated/);
    assert.equal(aws.calls('RotateKeyOnDemand'), 1, 'no second rotation');
    assert.equal(await currentMaterial(key.keyId), current);
    await keepEscrowedMaterials(key.keyId);
  });

  test('the Rotate role without kms:RotateKeyOnDemand: the run fails PermissionDenied, the lease is released, the key keeps its current material', async () => {
    const key = await newKey({ lifetimeSeconds: null });
    const before = await currentMaterial(key.keyId);
    resetCounters();
    await endpoint.iam!.setPrincipals(enforcedPrincipals(withoutAction('RotateFunction', 'kms:RotateKeyOnDemand')));
    let run: WorkflowRun;
    try {
      run = await only((await deliver(sample('manual/rotate.json', key.keyId))).runs);
    } finally {
      await endpoint.iam!.setPrincipals(enforcedPrincipals());
    }
    assert.equal(run.status, 'FAILED');
    assert.equal(reportInput(run).error.Error, 'PermissionDenied');
    assert.ok(run.path.includes('ReleaseLease'));
    assert.equal(published(key.keyId).at(-1)?.status, 'failed');
    assert.ok((endpoint.controls.getCounters()['kms:RotateKeyOnDemand']?.errors ?? 0) >= 1, 'the endpoint refused RotateKeyOnDemand');
    assert.equal(await currentMaterial(key.keyId), before);
    assert.equal(await keyState(key.keyId), 'Enabled');
    await keepEscrowedMaterials(key.keyId);
  });
});

// ------------------------------------------------------------------ leaks (last: looks at everything above)
describe('no plaintext material anywhere', () => {
  test('logs, state inputs and outputs, outcomes and execution inputs hold no material (raw, hex, base64)', async () => {
    await Promise.all([...executions.values()].map((e) => e.run));
    assert.ok(materials.length >= 15, 'the runs above used material');
    const logs = written.join('');
    assert.match(logs, /"WrapAndImport done"/, 'the functions\' logs were captured');
    assert.match(logs, /"Rotate done"/, 'the rotations\' logs were captured');
    assert.match(logs, /"_aws":\{/, 'the metrics (EMF) were captured');
    await h.assertNoLeaks();
  });
});
