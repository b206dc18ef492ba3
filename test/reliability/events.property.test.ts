/**
 * Properties of the two entry points that take an event from outside: the trigger (functions/
 * trigger.ts over lib/events/normalise.ts) and the sweep (functions/sweep.ts over
 * lib/events/sweep-request.ts). Generated events are mutations of every real-shaped sample in
 * events/ (fields removed, replaced with arbitrary JSON or with tricky key references, IDs and
 * Regions) and arbitrary JSON. For each:
 * - normaliseEvent / parseSweepRequest return work or throw EventRejected, nothing else;
 * - the handler never throws, and for a rejected event starts nothing and calls no AWS API;
 * - what it starts has a valid Step Functions execution name and names a key the event named.
 */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { captureLogs } from '../support/lambda.js';
import { normaliseEvent } from '../../lib/events/normalise.js';
import { parseSweepRequest } from '../../lib/events/sweep-request.js';
import { EventRejected } from '../../lib/events/rejected.js';
import { parseKeyRef } from '../../lib/events/key-ref.js';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { mockClient } from 'aws-sdk-client-mock';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { propertyParameters, runs, scenario } from './support.js';

// Cold-start settings, read when the handler modules load.
process.env.STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:111122223333:stateMachine:kms-reimport-recovery';
process.env.AWS_REGION = 'us-east-1';
process.env.POWERTOOLS_DEV = 'true';
process.env.POWERTOOLS_METRICS_NAMESPACE = 'KmsReimport';
const { triggerWith } = await import('../../functions/trigger.js');
const { sweepWith } = await import('../../functions/sweep.js');

const FILE = import.meta.url;
const EVENTS = fileURLToPath(new URL('../../events/', import.meta.url));
const SCOPE = { region: 'us-east-1', account: '111122223333' };
const STATE_MACHINE_ARN = process.env.STATE_MACHINE_ARN;
const SFN_NAME = /^[A-Za-z0-9_-]{1,80}$/;

function samples(dir: string): Array<{ name: string; event: unknown }> {
  const out: Array<{ name: string; event: unknown }> = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...samples(path));
    else if (entry.endsWith('.json')) out.push({ name: path.slice(EVENTS.length), event: JSON.parse(readFileSync(path, 'utf8')) });
  }
  return out;
}
const SAMPLES = samples(EVENTS);

// ------------------------------------------------------------------ generators
const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
const trickyStrings = fc.oneof(
  fc.constantFrom(
    KEY_ID,
    KEY_ID.toUpperCase(),
    `${KEY_ID} `,
    'mrk-1234abcd12ab34cd56ef1234567890ab',
    '0b1a2c3d-4e5f-6071-8293-a4b5c6d7e8f9',
    `arn:aws:kms:us-east-1:111122223333:key/${KEY_ID}`,
    `arn:aws:kms:us-west-2:111122223333:key/${KEY_ID}`,
    `arn:aws:kms:us-east-1:999999999999:key/${KEY_ID}`,
    `arn:aws-cn:kms:cn-north-1:111122223333:key/${KEY_ID}`,
    `arn:aws-eusc:kms:eusc-de-east-1:111122223333:key/${KEY_ID}`,
    `arn:aws:kms:us-east-1:111122223333:alias/payments`,
    `arn:aws:kms:us-east-1:111122223333:key/${KEY_ID}:extra`,
    'alias/payments',
    'alias/',
    'alias/aws/kms',
    'aws.kms',
    'aws.events',
    'kms-reimport.schedule',
    'kms.amazonaws.com',
    'KMS Imported Key Material Expiration',
    'AWS API Call via CloudTrail',
    'AWS Service Event via CloudTrail',
    'Scheduled Event',
    'DeleteImportedKeyMaterial',
    'DeleteExpiredKeyMaterial',
    'AwsApiCall',
    'AwsServiceEvent',
    'recover',
    'renew',
    'plan',
    'rotate',
    'sweep',
    '__proto__',
    'constructor',
    'toString',
    'hasOwnProperty',
    '',
    ' ',
    '0',
    'us-east-1',
    'eusc-de-east-1',
    '111122223333',
    '2025-06-01T12:00:03Z',
    'not a date',
    'x'.repeat(5000),
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 300 }),
);

const jsonLeaf = fc.oneof(trickyStrings, fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const anyJson = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 3, arbitrary: jsonLeaf },
  { weight: 1, arbitrary: fc.array(trickyStrings, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(trickyStrings, jsonLeaf, { maxKeys: 4 }) },
);

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path (list of keys) inside a JSON value, the root included. */
function paths(value: Json, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

interface Mutation {
  op: 'replace' | 'delete' | 'add' | 'tricky' | 'duplicate';
  at: number;
  value: Json;
  name: string;
}

function mutate(original: unknown, mutations: Mutation[]): unknown {
  let event = structuredClone(original) as Json;
  for (const m of mutations) {
    const all = paths(event);
    const path = all[m.at % all.length]!;
    if (path.length === 0) {
      if (m.op === 'replace' || m.op === 'tricky') event = m.value;
      continue;
    }
    let parent = event as Record<string | number, Json>;
    for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, Json>;
    const last = path.at(-1)!;
    if (m.op === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else if (m.op === 'add' && parent !== null && typeof parent === 'object' && !Array.isArray(parent)) {
      // Own property even for "__proto__" (what JSON.parse makes of such a key).
      Object.defineProperty(parent, m.name, { value: m.value, enumerable: true, configurable: true, writable: true });
    } else if (m.op === 'duplicate' && Array.isArray(parent)) {
      parent.push(structuredClone(parent[Number(last)] ?? null));
    } else {
      parent[last] = m.value;
    }
  }
  return event;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('replace', 'delete', 'add', 'tricky', 'duplicate'),
  at: fc.nat(),
  value: anyJson as fc.Arbitrary<Json>,
  name: trickyStrings,
});

/** A real-shaped sample, mutated 0..5 times. */
const mutatedSample = fc
  .tuple(fc.nat({ max: SAMPLES.length - 1 }), fc.array(mutation, { maxLength: 5 }))
  .map(([i, ms]) => mutate(SAMPLES[i]!.event, ms));

/** Events: mutated samples (most), arbitrary JSON, and objects built from the fields events use. */
const anyEvent: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: mutatedSample },
  { weight: 2, arbitrary: anyJson },
  {
    weight: 2,
    arbitrary: fc.dictionary(
      fc.constantFrom('version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail', 'action', 'keyId', 'dryRun', '__proto__'),
      anyJson,
      { maxKeys: 9 },
    ),
  },
);

// ------------------------------------------------------------------ checks
/** The keys an event names anywhere (any string that parses as a key reference), for "starts only what it was asked". */
function namedKeyIds(event: unknown, out = new Set<string>()): Set<string> {
  if (typeof event === 'string') {
    const parsed = parseKeyRef(event);
    if (parsed?.kind === 'key-id' || parsed?.kind === 'key-arn') out.add(parsed.keyId);
    if (parsed?.kind === 'alias' || parsed?.kind === 'alias-arn') out.add(parsed.alias);
  } else if (Array.isArray(event)) event.forEach((e) => namedKeyIds(e, out));
  else if (event !== null && typeof event === 'object') Object.values(event).forEach((e) => namedKeyIds(e, out));
  return out;
}

function assertRejection(error: unknown): asserts error is EventRejected {
  assert.ok(error instanceof EventRejected, `an unnamed error: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  assert.equal(typeof error.code, 'string');
  assert.ok(error.reason.length > 0 && error.reason.length < 2000, 'a reason of sensible length');
}

function assertNormalised(event: unknown, opts: typeof SCOPE | Record<string, never>): void {
  let items;
  try {
    items = normaliseEvent(structuredClone(event), opts);
  } catch (error) {
    assertRejection(error);
    return;
  }
  assert.ok(Array.isArray(items) && items.length > 0);
  const named = namedKeyIds(event);
  for (const item of items) {
    assert.ok(['recover', 'renew', 'plan', 'rotate'].includes(item.action), item.action);
    const parsed = parseKeyRef(item.keyRef);
    assert.ok(parsed, `a work item's keyRef is a key reference: ${item.keyRef}`);
    const id = parsed.kind === 'key-id' || parsed.kind === 'key-arn' ? parsed.keyId : parsed.alias;
    assert.ok(named.has(id), `the work item names a key the event named: ${item.keyRef}`);
  }
}

// ------------------------------------------------------------------ the stand-ins: an SFN that records, AWS clients that must not be called
interface Recorder {
  sent: Array<{ name: string; input: Record<string, unknown> }>;
  send: (command: { input: Record<string, unknown> }) => Promise<unknown>;
}
function recordingSfn(): Recorder {
  const sent: Recorder['sent'] = [];
  return {
    sent,
    send: async (command) => {
      sent.push({ name: command.constructor.name, input: command.input });
      return { executionArn: `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${String(command.input.name)}`, startDate: new Date() };
    },
  };
}

/**
 * The sweep's AWS clients: real SDK clients (the sweep attaches its pacing middleware to them)
 * whose `send` aws-sdk-client-mock answers for every command as an empty account would (no managed
 * keys, no secrets), counting the calls.
 */
const sweepClients = {
  tagging: new ResourceGroupsTaggingAPIClient({ region: 'us-east-1' }),
  kms: new KMSClient({ region: 'us-east-1' }),
  secrets: new SecretsManagerClient({ region: 'us-east-1' }),
};
let sweepCalls = 0;
for (const client of Object.values(sweepClients)) {
  mockClient(client as KMSClient).onAnyCommand().callsFake(() => {
    sweepCalls++;
    return {};
  });
}

const logs: string[] = [];
after(() => {
  // The property runs print nothing that an event could not have said itself; the handlers logged.
  assert.ok(logs.length > 0);
});

describe('the trigger', () => {
  test(`normaliseEvent: ${runs(10_000)} generated events: work items naming the event's key, or EventRejected`, async () => {
    await scenario(FILE, 'properties', 'trigger events: normaliseEvent returns work or EventRejected', () => {
      let rejected = 0;
      fc.assert(
        fc.property(anyEvent, fc.boolean(), (event, scoped) => {
          assertNormalised(event, scoped ? SCOPE : {});
          try {
            normaliseEvent(structuredClone(event), SCOPE);
          } catch (e) {
            assertRejection(e);
            rejected++;
          }
        }),
        { ...propertyParameters(runs(10_000)), examples: SAMPLES.map((s) => [s.event, true] as [unknown, boolean]) },
      );
      assert.ok(rejected > 0 && rejected < runs(10_000), `both paths ran: ${rejected} rejected of ${runs(10_000)}`);
      return `${runs(10_000)} generated events (mutated samples and arbitrary JSON), ${rejected} rejected: only EventRejected, never another error`;
    });
  });

  test(`the trigger handler: ${runs(10_000)} generated events: never throws; a rejected event starts nothing`, async () => {
    await scenario(FILE, 'properties', 'trigger handler: never throws, starts nothing for a rejected event', async () => {
      let started = 0;
      let rejectedCount = 0;
      const { error, raw } = await captureLogs(() =>
        fc.assert(
          fc.asyncProperty(anyEvent, async (event) => {
            const sfn = recordingSfn();
            const trigger = triggerWith({ sfn, stateMachineArn: STATE_MACHINE_ARN, bucketMinutes: 5, scope: SCOPE, now: () => new Date('2026-01-02T03:04:05Z') });
            const result = await trigger(structuredClone(event));
            if (result.status === 'rejected') {
              rejectedCount++;
              assert.equal(sfn.sent.length, 0, 'a rejected event starts nothing');
              assert.equal(typeof result.code, 'string');
              return;
            }
            assert.equal(result.status, 'ok');
            assert.equal(sfn.sent.length, result.executions.length);
            started += sfn.sent.length;
            for (const call of sfn.sent) {
              assert.equal(call.name, 'StartExecutionCommand');
              assert.equal(call.input.stateMachineArn, STATE_MACHINE_ARN);
              assert.match(String(call.input.name), SFN_NAME, 'a name Step Functions accepts');
              const input = JSON.parse(String(call.input.input)) as { keyRef: string; executionName: string };
              assert.equal(input.executionName, call.input.name);
              assert.ok(parseKeyRef(input.keyRef), input.keyRef);
            }
          }),
          { ...propertyParameters(runs(10_000)), examples: SAMPLES.map((s) => [s.event]) },
        ),
      );
      logs.push(raw);
      if (error) throw error;
      assert.ok(started > 0 && rejectedCount > 0, `both paths were exercised: ${started} started, ${rejectedCount} rejected`);
      return `${runs(10_000)} generated events: ${rejectedCount} rejected with nothing started, ${started} executions started, all with valid names`;
    });
  });
});

describe('the sweep', () => {
  const sweepEvent: fc.Arbitrary<unknown> = fc.oneof(
    { weight: 4, arbitrary: anyEvent },
    {
      weight: 4,
      arbitrary: fc
        .tuple(fc.constantFrom(...SAMPLES.filter((s) => s.name.startsWith('schedule/') || s.name.includes('sweep') || s.name.includes('scheduled'))), fc.array(mutation, { maxLength: 3 }))
        .map(([s, ms]) => mutate(s.event, ms)),
    },
    { weight: 2, arbitrary: fc.record({ action: fc.oneof(fc.constant('sweep'), anyJson), dryRun: fc.oneof(fc.boolean(), anyJson), source: fc.oneof(trickyStrings, anyJson) }, { requiredKeys: [] }) },
  );

  test(`parseSweepRequest: ${runs(10_000)} generated inputs: a request, or EventRejected`, async () => {
    await scenario(FILE, 'properties', 'sweep input: parseSweepRequest returns a request or EventRejected', () => {
      let accepted = 0;
      fc.assert(
        fc.property(sweepEvent, fc.boolean(), (event, scoped) => {
          let request;
          try {
            request = parseSweepRequest(structuredClone(event), scoped ? SCOPE : {});
          } catch (error) {
            assertRejection(error);
            return;
          }
          accepted++;
          assert.equal(typeof request.dryRun, 'boolean');
          assert.equal(typeof request.source, 'string');
        }),
        propertyParameters(runs(10_000)),
      );
      assert.ok(accepted > 0, 'some inputs were sweep requests');
      return `${runs(10_000)} generated inputs, ${accepted} accepted: only EventRejected, never another error`;
    });
  });

  test(`the sweep handler: ${runs(10_000)} generated inputs: never throws; a rejected input calls no AWS API and starts nothing`, async () => {
    await scenario(FILE, 'properties', 'sweep handler: a rejected input calls nothing and starts nothing', async () => {
      let rejectedCount = 0;
      const { error, raw } = await captureLogs(() =>
        fc.assert(
          fc.asyncProperty(sweepEvent, async (event) => {
            const callsBefore = sweepCalls;
            const sfn = recordingSfn();
            const sweep = sweepWith({
              ...sweepClients,
              sfn,
              stateMachineArn: STATE_MACHINE_ARN,
              config: { ...DEFAULT_CONFIG },
              bucketMinutes: 5,
              intervalMs: 0,
              concurrency: 2,
              scope: SCOPE,
              now: () => new Date('2026-01-02T03:04:05Z'),
              sleep: async () => undefined,
            });
            const result = await sweep(structuredClone(event));
            if (result.status === 'rejected') {
              rejectedCount++;
              assert.equal(sweepCalls, callsBefore, 'a rejected sweep request calls no AWS API');
              assert.equal(sfn.sent.length, 0);
              return;
            }
            assert.equal(result.status, 'ok');
            assert.ok(sweepCalls > callsBefore, 'an accepted sweep lists the managed keys');
            assert.equal(sfn.sent.length, 0, 'an empty account: nothing to start');
          }),
          propertyParameters(runs(10_000)),
        ),
      );
      logs.push(raw);
      if (error) throw error;
      assert.ok(rejectedCount > 0);
      return `${runs(10_000)} generated inputs, ${rejectedCount} rejected with no AWS call and nothing started; the rest swept an empty account`;
    });
  });
});
