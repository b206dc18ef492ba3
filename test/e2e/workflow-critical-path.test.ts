/**
 * The workflow's recovery critical path, counted in round trips (never in time): the state machine
 * (statemachine/recovery.asl.json) with the REAL task handlers, each in its own runtime under its
 * own role (test/support/workflow-harness.ts), every KMS and Secrets Manager call of theirs passing
 * a proxy that records when it starts and ends on one logical clock (test/support/round-trips.ts),
 * with per-call latency on the endpoint so that calls sent together really are in flight together.
 * The longest chain of calls each of which waited for the one before is the number of dependent
 * round trips the run needed. The lease tasks (DynamoDB) are the state machine's own, not counted.
 *
 * By key ID or ARN (the lease is taken first): Inspect under the lease (DescribeKey ∥ tags ∥
 * materials) → WrapAndImport's re-read ∥ GetParametersForImport ∥ GetSecretValue →
 * ImportKeyMaterial → Encrypt → Decrypt: 5, as the library (test/integration/critical-path.test.ts).
 * By alias: Inspect resolves it (DescribeKey, then tags ∥ materials), the lease, Inspect again
 * under it (the same two), then the same three: 8.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateAliasCommand } from '@aws-sdk/client-kms';
import { trackRoundTrips } from '../support/round-trips.js';
import { startWorkflowHarness } from '../support/workflow-harness.js';
import { closeWorkflowDynamo, type WorkflowRun } from '../unit/asl-run.js';
import type { Json } from '../unit/template-load.js';

/** Every KMS and Secrets Manager operation answers after this delay. */
const LATENCY_MS = 15;
const INSPECTION = ['DescribeKey', 'ListResourceTags', 'ListKeyRotations'];

const trips = trackRoundTrips();
const h = await startWorkflowHarness({ roundTrips: trips });

after(async () => {
  await h.assertNoLeaks();
  await h.close();
  await closeWorkflowDynamo();
});

/** One recovery through the state machine, the key's calls counted from its first task on. */
async function recover(keyRef: string, name: string): Promise<WorkflowRun> {
  trips.reset();
  h.resetCounters();
  h.endpoint.controls.setLatency('*', LATENCY_MS);
  try {
    return await h.execute({ keyRef, action: 'recover', trigger: { source: 'kms-reimport.manual', detailType: 'Manual Request' } } as Json, name);
  } finally {
    h.endpoint.controls.setLatency('*', 0);
  }
}

function recovered(run: WorkflowRun): void {
  assert.equal(run.status, 'SUCCEEDED', JSON.stringify(run.error));
  assert.equal(run.output.outcome.status, 'recovered', run.output.outcome.reason);
  assert.equal(run.output.outcome.verified, true);
  assert.equal(h.imports(), 1);
}

/** The calls the run made, by operation, as the proxy saw them. */
function callsByOperation(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const op of trips.operations()) out[op] = (out[op] ?? 0) + 1;
  return out;
}

function assertImportChain(): void {
  const chain = trips.longestChain();
  assert.deepEqual(chain.slice(-3), ['ImportKeyMaterial', 'Encrypt', 'Decrypt'], `no call between the import and the probe: ${chain.join(' → ')}`);
  assert.ok([...INSPECTION, 'GetParametersForImport', 'GetSecretValue'].includes(chain.at(-4)!), chain.join(' → '));
  assert.ok(trips.overlapped('GetParametersForImport', 'GetSecretValue'), 'the escrow read went out beside GetParametersForImport');
  assert.ok(trips.overlapped('GetParametersForImport', 'DescribeKey'), "WrapAndImport's re-read went out beside GetParametersForImport");
  assert.ok(trips.overlapped('GetSecretValue', 'ListKeyRotations'), "and beside the escrow read");
}

describe('the workflow recovery critical path, in round trips', () => {
  test('by key ID: the lease first, ONE Inspect, WrapAndImport in one round trip: 5 dependent round trips, 11 calls', async () => {
    const key = await h.expiredKey();
    const run = await recover(key.keyId, `critical-path-id-${key.keyId}`);
    recovered(run);
    assert.equal(trips.chain(), 5, `longest chain of dependent calls: ${trips.longestChain().join(' → ')}`);
    assertImportChain();
    assert.ok(INSPECTION.includes(trips.longestChain()[0]!));
    assert.ok(trips.overlapped('DescribeKey', 'ListResourceTags') && trips.overlapped('DescribeKey', 'ListKeyRotations'), 'by key ID the inspection reads go out together');
    assert.deepEqual(run.path.slice(0, 4), ['KeyRefTerms', 'ChooseFirstStep', 'AcquireLease', 'Reinspect'], 'the lease before the one inspection');
    assert.equal(h.stepCalls.Inspect, 1, 'Inspect ran once');
    assert.deepEqual(callsByOperation(), {
      DescribeKey: 2, ListResourceTags: 2, ListKeyRotations: 2, GetParametersForImport: 1, GetSecretValue: 1, ImportKeyMaterial: 1, Encrypt: 1, Decrypt: 1,
    });
    // The proxy saw what the endpoint answered: nothing went around it.
    assert.equal(h.aws.calls('DescribeKey'), 2);
    assert.equal(h.aws.calls('GetParametersForImport'), 1);
  });

  test('by key ARN: 5 dependent round trips', async () => {
    const key = await h.expiredKey();
    const run = await recover(key.arn, `critical-path-arn-${key.keyId}`);
    recovered(run);
    assert.equal(trips.chain(), 5, `longest chain of dependent calls: ${trips.longestChain().join(' → ')}`);
    assertImportChain();
    assert.equal(run.output.lease.keyArn, key.arn);
    assert.equal(h.stepCalls.Inspect, 1);
  });

  test('by alias: Inspect resolves the alias, then the lease, then Inspect again under it: 8 dependent round trips', async () => {
    const key = await h.expiredKey();
    const alias = `alias/critical-path-${key.keyId}`;
    await h.aws.kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: key.keyId }));
    const run = await recover(alias, `critical-path-alias-${key.keyId}`);
    recovered(run);
    // DescribeKey names the key first (tags and materials need its ID), in each of the two inspections.
    assert.equal(trips.chain(), 8, `longest chain of dependent calls: ${trips.longestChain().join(' → ')}`);
    assertImportChain();
    assert.deepEqual(run.path.slice(0, 4), ['KeyRefTerms', 'ChooseFirstStep', 'Inspect', 'ChooseAction']);
    assert.equal(h.stepCalls.Inspect, 2, 'Inspect, then Reinspect under the lease');
    assert.equal(callsByOperation().DescribeKey, 3);
  });
});
