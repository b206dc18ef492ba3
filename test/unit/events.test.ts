import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  EventRejected,
  executionInput,
  executionName,
  keyNamePart,
  normaliseEvent,
  parseKeyRef,
  parseSweepRequest,
  timeBucket,
  type RejectionCode,
  type WorkItem,
} from '../../lib/events/index.js';

const EVENTS = fileURLToPath(new URL('../../events/', import.meta.url));
const samples = new Map<string, unknown>();
for (const dir of readdirSync(EVENTS)) {
  for (const file of readdirSync(EVENTS + dir)) {
    samples.set(`${dir}/${file}`, JSON.parse(readFileSync(`${EVENTS}${dir}/${file}`, 'utf8')));
  }
}
/** A fresh copy of a sample: tests cannot leak changes into each other. */
function sample(name: string): any {
  const s = samples.get(name);
  assert.ok(s !== undefined, `no sample events/${name}`);
  return structuredClone(s);
}

const KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';
const ARN = `arn:aws:kms:us-east-1:111122223333:key/${KEY}`;
const HERE = { account: '111122223333', region: 'us-east-1' };

function rejection(fn: () => unknown): EventRejected {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof EventRejected, `expected EventRejected, got ${String(e)}`);
    assert.equal(e.name, 'EventRejected');
    assert.ok(e.reason.length > 0);
    assert.ok(e.message.includes(e.reason));
    return e;
  }
  assert.fail('expected the event to be rejected');
}

describe('normaliseEvent: valid samples', () => {
  const expected: Record<string, WorkItem[]> = {
    'kms/material-expiration.json': [
      {
        keyRef: KEY,
        action: 'recover',
        trigger: {
          source: 'aws.kms',
          detailType: 'KMS Imported Key Material Expiration',
          eventId: '9da9af57-9253-4406-87cb-7cc400e43465',
          time: '2025-06-01T12:00:03Z',
        },
      },
    ],
    'cloudtrail/delete-imported-key-material.json': [
      {
        keyRef: KEY,
        action: 'recover',
        trigger: {
          source: 'aws.kms',
          detailType: 'AWS API Call via CloudTrail',
          eventId: '3a0f3c55-7a61-4b86-b1e4-5f0d2e6c9a21',
          time: '2025-06-01T09:41:27Z',
        },
      },
    ],
    'cloudtrail/delete-expired-key-material.json': [
      {
        keyRef: KEY,
        action: 'recover',
        trigger: {
          source: 'aws.kms',
          detailType: 'AWS Service Event via CloudTrail',
          eventId: 'b51e2f8d-0c4a-4e7b-93d6-2a8f5c1e7b40',
          time: '2025-06-01T12:00:01Z',
        },
      },
    ],
    'manual/recover.json': [{ keyRef: KEY, action: 'recover', trigger: { source: 'kms-reimport.manual', detailType: 'Manual Request' } }],
    'manual/renew.json': [{ keyRef: KEY, action: 'renew', trigger: { source: 'kms-reimport.manual', detailType: 'Manual Request' } }],
    'manual/plan.json': [{ keyRef: KEY, action: 'plan', trigger: { source: 'kms-reimport.manual', detailType: 'Manual Request' } }],
    'manual/rotate.json': [{ keyRef: KEY, action: 'rotate', trigger: { source: 'kms-reimport.manual', detailType: 'Manual Request' } }],
    'manual/recover-by-alias.json': [
      { keyRef: 'alias/payments-byok', action: 'recover', trigger: { source: 'kms-reimport.manual', detailType: 'Manual Request' } },
    ],
    'manual/renew-by-arn.json': [{ keyRef: KEY, action: 'renew', trigger: { source: 'kms-reimport.manual', detailType: 'Manual Request' } }],
  };

  test('every sample outside invalid/ and schedule/ has an expectation here', () => {
    const covered = [...samples.keys()].filter((n) => !n.startsWith('invalid/') && !n.startsWith('schedule/'));
    assert.deepEqual(covered.sort(), Object.keys(expected).sort());
  });

  for (const [name, items] of Object.entries(expected)) {
    test(name, () => {
      assert.deepEqual(normaliseEvent(sample(name), HERE), items);
      // Without knowing our own account/Region the same events are accepted too.
      const loose = normaliseEvent(sample(name));
      assert.equal(loose.length, 1);
      assert.equal(loose[0]?.action, items[0]?.action);
    });
  }

  test('a manual ARN is kept whole when our account and Region are unknown', () => {
    assert.equal(normaliseEvent(sample('manual/renew-by-arn.json'))[0]?.keyRef, ARN);
  });

  test('a multi-Region key ID and another partition are accepted', () => {
    const e = sample('kms/material-expiration.json');
    const mrk = 'mrk-1234abcd12ab34cd56ef1234567890ab';
    e.detail['key-id'] = mrk;
    e.resources = [`arn:aws-cn:kms:cn-north-1:111122223333:key/${mrk}`];
    e.region = 'cn-north-1';
    assert.equal(normaliseEvent(e)[0]?.keyRef, mrk);
  });

  test('the KMS event with only the resources ARN, or only the key-id, names the key', () => {
    const onlyArn = sample('kms/material-expiration.json');
    delete onlyArn.detail['key-id'];
    assert.equal(normaliseEvent(onlyArn, HERE)[0]?.keyRef, KEY);
    const onlyId = sample('kms/material-expiration.json');
    onlyId.resources = [];
    assert.equal(normaliseEvent(onlyId, HERE)[0]?.keyRef, KEY);
  });

  test('a CloudTrail call given a key ARN as keyId is accepted', () => {
    const e = sample('cloudtrail/delete-imported-key-material.json');
    e.detail.requestParameters.keyId = ARN;
    assert.equal(normaliseEvent(e, HERE)[0]?.keyRef, KEY);
  });
});

describe('normaliseEvent: invalid samples are rejected with a reason', () => {
  const expected: Record<string, RejectionCode> = {
    'invalid/wrong-source.json': 'untrusted-source',
    'invalid/spoofed-detail-type.json': 'unexpected-detail-type',
    'invalid/missing-key-id.json': 'missing-key',
    'invalid/arn-account-mismatch.json': 'account-mismatch',
    'invalid/arn-region-mismatch.json': 'region-mismatch',
    'invalid/arn-partition-mismatch.json': 'partition-mismatch',
    'invalid/detail-type-constructor.json': 'unexpected-detail-type',
    'invalid/key-id-mismatch.json': 'key-mismatch',
    'invalid/bad-key-ref.json': 'bad-key-ref',
    'invalid/non-kms-event-source.json': 'unexpected-event-source',
    'invalid/unexpected-event-name.json': 'unexpected-event-name',
    'invalid/delete-call-failed.json': 'call-failed',
    'invalid/cloudtrail-alias-key-ref.json': 'bad-key-ref',
    'invalid/service-event-wrong-detail-type.json': 'unexpected-event-name',
    'invalid/service-event-wrong-event-type.json': 'unexpected-event-type',
    'invalid/manual-bad-action.json': 'malformed-manual-request',
    'invalid/manual-missing-key.json': 'missing-key',
    'invalid/manual-unknown-field.json': 'malformed-manual-request',
    'invalid/not-an-object.json': 'not-an-object',
    'invalid/sweep-bad-dry-run.json': 'sweep-request',
    'invalid/scheduled-event-wrong-source.json': 'untrusted-source',
    'schedule/sweep.json': 'sweep-request',
    'schedule/sweep-dry-run.json': 'sweep-request',
    'schedule/scheduled-event.json': 'sweep-request',
  };

  test('every invalid and schedule sample has an expectation here', () => {
    const covered = [...samples.keys()].filter((n) => n.startsWith('invalid/') || n.startsWith('schedule/'));
    assert.deepEqual(covered.sort(), Object.keys(expected).sort());
  });

  for (const [name, code] of Object.entries(expected)) {
    test(`${name} → ${code}`, () => {
      assert.equal(rejection(() => normaliseEvent(sample(name), HERE)).code, code);
    });
  }

  test('the reason names what was wrong', () => {
    assert.match(rejection(() => normaliseEvent(sample('invalid/wrong-source.json'))).reason, /custom\.kms/);
    assert.match(rejection(() => normaliseEvent(sample('invalid/non-kms-event-source.json'))).reason, /secretsmanager\.amazonaws\.com/);
    assert.match(rejection(() => normaliseEvent(sample('invalid/key-id-mismatch.json'))).reason, /0987dcba/);
    assert.match(rejection(() => normaliseEvent(sample('invalid/manual-unknown-field.json'))).reason, /keyid/);
  });

  test('events from another account or Region than ours', () => {
    const e = sample('kms/material-expiration.json');
    assert.equal(rejection(() => normaliseEvent(e, { account: '444455556666' })).code, 'account-mismatch');
    assert.equal(rejection(() => normaliseEvent(sample('kms/material-expiration.json'), { region: 'eu-west-1' })).code, 'region-mismatch');
    assert.equal(rejection(() => normaliseEvent(sample('manual/renew-by-arn.json'), { region: 'eu-west-1' })).code, 'region-mismatch');
  });

  test('detail-type and field names are looked up as own properties only (constructor, __proto__, toString)', () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
      const e = sample('kms/material-expiration.json');
      e['detail-type'] = name;
      assert.equal(rejection(() => normaliseEvent(e, HERE)).code, 'unexpected-detail-type', name);
    }
    // A manual request whose only field is inherited is no request at all.
    assert.equal(rejection(() => normaliseEvent(JSON.parse('{"__proto__": {"action": "recover"}, "keyId": "' + KEY + '"}'), HERE)).code, 'malformed-envelope');
  });

  test('every partition: eusc-de-east-1, cn-north-1, us-gov-west-1, us-iso-east-1, us-isob-east-1 events are accepted in their own partition', () => {
    const regions: Record<string, string> = {
      'eusc-de-east-1': 'aws-eusc',
      'cn-north-1': 'aws-cn',
      'us-gov-west-1': 'aws-us-gov',
      'us-iso-east-1': 'aws-iso',
      'us-isob-east-1': 'aws-iso-b',
      'ap-southeast-5': 'aws',
    };
    for (const [region, partition] of Object.entries(regions)) {
      const e = sample('kms/material-expiration.json');
      e.region = region;
      e.resources = [`arn:${partition}:kms:${region}:111122223333:key/${KEY}`];
      assert.equal(normaliseEvent(e, { account: '111122223333', region })[0]?.keyRef, KEY, region);
      const manual = { action: 'renew', keyId: `arn:${partition}:kms:${region}:111122223333:key/${KEY}` };
      assert.equal(normaliseEvent(manual, { account: '111122223333', region })[0]?.keyRef, KEY, region);
    }
  });

  test('a key ARN from another partition than ours is refused, also when nothing else gives it away', () => {
    const manual = { action: 'recover', keyId: `arn:aws-cn:kms:cn-north-1:111122223333:key/${KEY}` };
    assert.equal(rejection(() => normaliseEvent(manual, { partition: 'aws' })).code, 'partition-mismatch');
    assert.equal(rejection(() => normaliseEvent(manual, HERE)).code, 'partition-mismatch');
    // An ARN whose partition is not its own Region's names no key anywhere.
    const inconsistent = { action: 'recover', keyId: `arn:aws-cn:kms:us-east-1:111122223333:key/${KEY}` };
    assert.equal(rejection(() => normaliseEvent(inconsistent, HERE)).code, 'bad-key-ref');
  });

  test('malformed envelopes', () => {
    const cases: Array<[string, (e: any) => void]> = [
      ['version', (e) => (e.version = '1')],
      ['account', (e) => (e.account = '1111')],
      ['time', (e) => (e.time = 'yesterday')],
      ['region', (e) => (e.region = 'moon')],
      ['resources', (e) => (e.resources = [42])],
      ['detail', (e) => (e.detail = 'x')],
      ['id', (e) => delete e.id],
    ];
    for (const [field, mutate] of cases) {
      const e = sample('kms/material-expiration.json');
      mutate(e);
      const r = rejection(() => normaliseEvent(e));
      assert.equal(r.code, 'malformed-envelope', field);
      assert.match(r.reason, new RegExp(`"${field}"`));
    }
  });

  test('non-objects and empty objects', () => {
    for (const e of [null, 'x', 42, [], undefined]) assert.equal(rejection(() => normaliseEvent(e)).code, 'not-an-object');
    assert.equal(rejection(() => normaliseEvent({})).code, 'malformed-envelope');
  });

  test('spoofed CloudTrail pieces', () => {
    const region = sample('cloudtrail/delete-imported-key-material.json');
    region.detail.awsRegion = 'eu-west-1';
    assert.equal(rejection(() => normaliseEvent(region)).code, 'region-mismatch');
    const recipient = sample('cloudtrail/delete-imported-key-material.json');
    recipient.detail.recipientAccountId = '444455556666';
    assert.equal(rejection(() => normaliseEvent(recipient)).code, 'account-mismatch');
    const otherKey = sample('cloudtrail/delete-expired-key-material.json');
    otherKey.detail.resources[0].ARN = 'arn:aws:kms:us-east-1:111122223333:key/0987dcba-09ab-87cd-65ef-0987654321ba';
    assert.equal(rejection(() => normaliseEvent(otherKey)).code, 'key-mismatch');
    const aliasArn = sample('cloudtrail/delete-expired-key-material.json');
    aliasArn.detail.serviceEventDetails.keyId = 'arn:aws:kms:us-east-1:111122223333:alias/x';
    assert.equal(rejection(() => normaliseEvent(aliasArn)).code, 'bad-key-ref');
    const nothing = sample('cloudtrail/delete-expired-key-material.json');
    delete nothing.detail.serviceEventDetails;
    nothing.detail.resources = [];
    assert.equal(rejection(() => normaliseEvent(nothing)).code, 'missing-key');
  });

  test('a long spoofed value is cut short in the reason', () => {
    const e = sample('kms/material-expiration.json');
    e.source = 'x'.repeat(10_000);
    assert.ok(rejection(() => normaliseEvent(e)).reason.length < 400);
  });
});

describe('parseSweepRequest', () => {
  test('schedule samples', () => {
    assert.deepEqual(parseSweepRequest(sample('schedule/sweep.json')), { dryRun: false, source: 'kms-reimport.schedule' });
    assert.deepEqual(parseSweepRequest(sample('schedule/sweep-dry-run.json')), { dryRun: true, source: 'kms-reimport.schedule' });
    assert.deepEqual(parseSweepRequest(sample('schedule/scheduled-event.json'), HERE), { dryRun: false, source: 'aws.events' });
    assert.deepEqual(parseSweepRequest({ action: 'sweep' }), { dryRun: false, source: 'kms-reimport.manual' });
  });

  test('invalid sweep requests and trigger events are rejected', () => {
    assert.equal(rejection(() => parseSweepRequest(sample('invalid/sweep-bad-dry-run.json'))).code, 'malformed-sweep-request');
    assert.equal(rejection(() => parseSweepRequest(sample('invalid/scheduled-event-wrong-source.json'))).code, 'untrusted-source');
    assert.equal(rejection(() => parseSweepRequest(sample('kms/material-expiration.json'))).code, 'untrusted-source');
    assert.equal(rejection(() => parseSweepRequest(sample('manual/recover.json'))).code, 'malformed-sweep-request');
    assert.equal(rejection(() => parseSweepRequest({ action: 'sweep', extra: 1 })).code, 'malformed-sweep-request');
    assert.equal(rejection(() => parseSweepRequest(null)).code, 'not-an-object');
    assert.equal(
      rejection(() => parseSweepRequest(sample('schedule/scheduled-event.json'), { region: 'eu-west-1' })).code,
      'region-mismatch',
    );
  });
});

describe('parseKeyRef', () => {
  test('the four forms and what is not one', () => {
    assert.deepEqual(parseKeyRef(KEY), { kind: 'key-id', keyId: KEY });
    assert.equal(parseKeyRef(ARN)?.kind, 'key-arn');
    assert.equal(parseKeyRef('alias/a_b-c/d')?.kind, 'alias');
    assert.equal(parseKeyRef('arn:aws:kms:us-east-1:111122223333:alias/x')?.kind, 'alias-arn');
    for (const bad of [
      '',
      KEY.toUpperCase(),
      `${KEY}x`,
      'alias/',
      'alias/a b',
      'arn:aws:s3:us-east-1:111122223333:key/' + KEY,
      'arn:aws:kms:us-east-1:1111:key/' + KEY,
      'arn:aws:kms:us-east-1:111122223333:key/nope',
      'arn:aws:kms:us-east-1:111122223333:key/' + KEY + ':extra',
      42,
      null,
    ]) {
      assert.equal(parseKeyRef(bad), undefined, String(bad));
    }
  });
});

describe('executionName', () => {
  const item: WorkItem = { keyRef: KEY, action: 'recover', trigger: { source: 'aws.kms', detailType: 'x' } };
  const now = new Date('2025-06-01T12:03:59.999Z');

  test('deterministic: same key, action and bucket give the same name', () => {
    const a = executionName(item, KEY, now);
    assert.equal(a, `${KEY}-recover-20250601T1200Z`);
    assert.equal(executionName(structuredClone(item), undefined, new Date('2025-06-01T12:00:00.000Z')), a);
    // A different trigger for the same key in the same bucket: same name.
    const other: WorkItem = { ...item, trigger: { source: 'kms-reimport.manual', detailType: 'Manual Request' } };
    assert.equal(executionName(other, KEY, now), a);
    // An ARN reference resolves to the same key ID.
    assert.equal(executionName({ ...item, keyRef: ARN }, undefined, now), a);
  });

  test('different bucket, action or key give different names', () => {
    const a = executionName(item, KEY, now);
    assert.notEqual(executionName(item, KEY, new Date('2025-06-01T12:05:00.000Z')), a);
    assert.notEqual(executionName({ ...item, action: 'renew' }, KEY, now), a);
    assert.notEqual(executionName(item, '0987dcba-09ab-87cd-65ef-0987654321ba', now), a);
    assert.equal(executionName(item, KEY, now, { bucketMinutes: 60 }), `${KEY}-recover-20250601T1200Z`);
    assert.equal(executionName(item, KEY, new Date('2025-06-01T12:59:00Z'), { bucketMinutes: 60 }), `${KEY}-recover-20250601T1200Z`);
    // A rotation has its own name: it never joins (nor blocks) a recovery of the same key in the same bucket.
    assert.equal(executionName({ ...item, action: 'rotate' }, KEY, now, { bucketMinutes: 60 }), `${KEY}-rotate-20250601T1200Z`);
  });

  test('charset and length for every kind of reference', () => {
    const refs = [
      KEY,
      ARN,
      'mrk-1234abcd12ab34cd56ef1234567890ab',
      'alias/payments-byok',
      'alias/' + 'a/b.c'.repeat(50),
      'arn:aws:kms:us-east-1:111122223333:alias/' + 'z'.repeat(200),
    ];
    for (const keyRef of refs) {
      for (const action of ['recover', 'renew', 'plan', 'auto'] as const) {
        const name = executionName({ ...item, keyRef, action }, undefined, now);
        assert.match(name, /^[A-Za-z0-9_-]{1,80}$/, name);
        assert.ok(name.endsWith(`-${action}-20250601T1200Z`));
      }
    }
  });

  test('sanitised references that collide after cleaning stay distinct', () => {
    const a = executionName({ ...item, keyRef: 'alias/a.b' }, undefined, now);
    const b = executionName({ ...item, keyRef: 'alias/a_b' }, undefined, now);
    assert.notEqual(a, b);
    const long1 = keyNamePart('alias/' + 'x'.repeat(100) + '1', 40);
    const long2 = keyNamePart('alias/' + 'x'.repeat(100) + '2', 40);
    assert.equal(long1.length, 40);
    assert.notEqual(long1, long2);
  });

  test('time bucket validation', () => {
    assert.equal(timeBucket(new Date('2025-12-31T23:59:59Z'), 1440), '20251231T0000Z');
    assert.throws(() => timeBucket(now, 0), RangeError);
    assert.throws(() => timeBucket(new Date('nope')), RangeError);
  });

  test('execution input drops what differs between duplicate deliveries', () => {
    const full = normaliseEvent(sample('kms/material-expiration.json'))[0] as WorkItem;
    const again = sample('kms/material-expiration.json');
    again.id = 'another-delivery-id';
    again.time = '2025-06-01T12:00:09Z';
    const second = normaliseEvent(again)[0] as WorkItem;
    assert.notDeepEqual(full, second);
    assert.equal(JSON.stringify(executionInput(full)), JSON.stringify(executionInput(second)));
    assert.deepEqual(executionInput(full), {
      keyRef: KEY,
      action: 'recover',
      trigger: { source: 'aws.kms', detailType: 'KMS Imported Key Material Expiration' },
    });
  });
});
