/**
 * Turns any event the trigger function receives into work items, one per key, after checking
 * its source and shape. Nothing in an event is trusted before it passes these checks:
 *
 * - `KMS Imported Key Material Expiration` only from source `aws.kms`; the key from
 *   `detail.key-id` and `resources` (key ARNs), which must agree.
 * - CloudTrail events only from source `aws.kms` with `detail.eventSource` `kms.amazonaws.com`:
 *   `AWS API Call via CloudTrail` + `DeleteImportedKeyMaterial` (eventType `AwsApiCall`, and
 *   the call must have succeeded), or `AWS Service Event via CloudTrail` +
 *   `DeleteExpiredKeyMaterial` (eventType `AwsServiceEvent`). The key from requestParameters /
 *   serviceEventDetails / responseElements / detail.resources, which must agree.
 * - Every key reference in an event must be a key ID or a KMS key ARN, and an ARN's account and
 *   Region must be the event's; the event's account and Region must be ours when we know them.
 * - A manual request `{"action": "recover"|"renew"|"plan"|"rotate", "keyId": "<id, ARN or alias>"}`,
 *   with no other fields (`rotate`: new material now, through the runbook's rotation branch).
 *
 * Anything else throws EventRejected with a code and a reason.
 */
import { EventRejected, quote } from './rejected.js';
import { isAccount, isRegion, parseKeyRef, partitionOfRegion } from './key-ref.js';
import { MANUAL_DETAIL_TYPE, MANUAL_SOURCE, type WorkItem } from './work-item.js';

export const KMS_SOURCE = 'aws.kms';
export const KMS_EXPIRATION_DETAIL_TYPE = 'KMS Imported Key Material Expiration';
export const CLOUDTRAIL_API_CALL_DETAIL_TYPE = 'AWS API Call via CloudTrail';
export const CLOUDTRAIL_SERVICE_EVENT_DETAIL_TYPE = 'AWS Service Event via CloudTrail';
export const KMS_EVENT_SOURCE = 'kms.amazonaws.com';

/**
 * For each CloudTrail detail-type we accept: the one eventName and eventType that go with it. A
 * Map, not an object: a detail-type such as `constructor` or `__proto__` must find nothing.
 */
const CLOUDTRAIL_EVENTS: ReadonlyMap<string, { eventName: string; eventType: string }> = new Map([
  [CLOUDTRAIL_API_CALL_DETAIL_TYPE, { eventName: 'DeleteImportedKeyMaterial', eventType: 'AwsApiCall' }],
  [CLOUDTRAIL_SERVICE_EVENT_DETAIL_TYPE, { eventName: 'DeleteExpiredKeyMaterial', eventType: 'AwsServiceEvent' }],
]);

/** Own properties only: `in` would also see Object.prototype's (`constructor`, `toString`, ...). */
const has = (obj: object, name: string): boolean => Object.hasOwn(obj, name);

const MANUAL_ACTIONS = ['recover', 'renew', 'plan', 'rotate'] as const;

export interface NormaliseOptions {
  /** Our own account: events and ARNs from any other are rejected. */
  account?: string;
  /** Our own Region: events and ARNs from any other are rejected. */
  region?: string;
  /**
   * Our own partition (`aws`, `aws-cn`, `aws-us-gov`, `aws-eusc`, ...): ARNs from any other are
   * rejected. Default: the partition of `region` when that is known.
   */
  partition?: string;
}

function ownPartition(opts: NormaliseOptions): string | undefined {
  return opts.partition ?? (opts.region !== undefined ? partitionOfRegion(opts.region) : undefined);
}

/** An EventBridge envelope after its shape was checked. */
export interface EventEnvelope {
  version: string;
  id: string;
  detailType: string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True when the object looks like an EventBridge event rather than a direct request. */
export function isEnvelope(event: JsonObject): boolean {
  return has(event, 'detail-type') || (has(event, 'source') && has(event, 'detail'));
}

/** Checks the EventBridge envelope fields every event carries. */
export function parseEnvelope(event: JsonObject, opts: NormaliseOptions = {}): EventEnvelope {
  const bad = (field: string, want: string): never => {
    throw new EventRejected('malformed-envelope', `field "${field}" must be ${want}, got ${quote(event[field])}`);
  };
  const { version, id, source, account, time, region, resources, detail } = event;
  const detailType = event['detail-type'];
  if (version !== '0') bad('version', '"0"');
  if (typeof id !== 'string' || id.length === 0) bad('id', 'a non-empty string');
  if (typeof detailType !== 'string' || detailType.length === 0) bad('detail-type', 'a non-empty string');
  if (typeof source !== 'string' || source.length === 0) bad('source', 'a non-empty string');
  if (!isAccount(account)) bad('account', 'a 12-digit account ID');
  if (typeof time !== 'string' || Number.isNaN(Date.parse(time))) bad('time', 'an ISO 8601 time');
  if (!isRegion(region)) bad('region', 'a Region name');
  if (!Array.isArray(resources) || !resources.every((r) => typeof r === 'string')) bad('resources', 'an array of strings');
  if (!isObject(detail)) bad('detail', 'an object');
  const envelope: EventEnvelope = {
    version: version as string,
    id: id as string,
    detailType: detailType as string,
    source: source as string,
    account: account as string,
    time: time as string,
    region: region as string,
    resources: resources as string[],
    detail: detail as JsonObject,
  };
  if (opts.account !== undefined && envelope.account !== opts.account) {
    throw new EventRejected(
      'account-mismatch',
      `event ${quote(envelope.id)} comes from account ${envelope.account}, this service runs in ${opts.account}`,
    );
  }
  if (opts.region !== undefined && envelope.region !== opts.region) {
    throw new EventRejected(
      'region-mismatch',
      `event ${quote(envelope.id)} comes from Region ${envelope.region}, this service runs in ${opts.region}`,
    );
  }
  return envelope;
}

/**
 * Resolves every key reference found in an event to ONE key ID: each must be a key ID or a KMS
 * key ARN in the event's account and Region, and all must name the same key.
 */
function resolveEventKey(env: EventEnvelope, refs: Array<{ where: string; value: unknown }>, opts: NormaliseOptions): string {
  const ids = new Map<string, string>();
  const partition = ownPartition(opts) ?? partitionOfRegion(env.region);
  for (const { where, value } of refs) {
    const parsed = parseKeyRef(value);
    if (parsed === undefined || (parsed.kind !== 'key-id' && parsed.kind !== 'key-arn')) {
      throw new EventRejected('bad-key-ref', `${where} must be a KMS key ID or key ARN, got ${quote(value)}`);
    }
    if (parsed.kind === 'key-arn') {
      if (parsed.partition !== partition) {
        throw new EventRejected(
          'partition-mismatch',
          `${where} ${quote(value)} is in partition ${parsed.partition}, the event's Region ${env.region} is in ${partition}`,
        );
      }
      if (parsed.account !== env.account) {
        throw new EventRejected(
          'account-mismatch',
          `${where} ${quote(value)} is in account ${parsed.account}, the event is from ${env.account}`,
        );
      }
      if (parsed.region !== env.region) {
        throw new EventRejected(
          'region-mismatch',
          `${where} ${quote(value)} is in Region ${parsed.region}, the event is from ${env.region}`,
        );
      }
    }
    ids.set(parsed.keyId, where);
  }
  if (ids.size === 0) {
    throw new EventRejected('missing-key', `event ${quote(env.id)} (${env.detailType}) names no KMS key`);
  }
  if (ids.size > 1) {
    const listed = [...ids].map(([keyId, where]) => `${where}=${keyId}`).join(', ');
    throw new EventRejected('key-mismatch', `event ${quote(env.id)} names different keys: ${listed}`);
  }
  return [...ids.keys()][0] as string;
}

function kmsExpirationItems(env: EventEnvelope, opts: NormaliseOptions): WorkItem[] {
  const refs: Array<{ where: string; value: unknown }> = [];
  if (has(env.detail, 'key-id')) refs.push({ where: 'detail.key-id', value: env.detail['key-id'] });
  env.resources.forEach((value, i) => refs.push({ where: `resources[${i}]`, value }));
  const keyId = resolveEventKey(env, refs, opts);
  return [workItem(env, keyId)];
}

function cloudTrailItems(env: EventEnvelope, expected: { eventName: string; eventType: string }, opts: NormaliseOptions): WorkItem[] {
  const d = env.detail;
  if (d.eventSource !== KMS_EVENT_SOURCE) {
    throw new EventRejected(
      'unexpected-event-source',
      `detail.eventSource must be ${KMS_EVENT_SOURCE} for a KMS event, got ${quote(d.eventSource)}`,
    );
  }
  if (d.eventName !== expected.eventName) {
    throw new EventRejected(
      'unexpected-event-name',
      `a "${env.detailType}" event must be ${expected.eventName}, got ${quote(d.eventName)}`,
    );
  }
  if (d.eventType !== expected.eventType) {
    throw new EventRejected(
      'unexpected-event-type',
      `${expected.eventName} must have eventType ${expected.eventType}, got ${quote(d.eventType)}`,
    );
  }
  if (d.errorCode !== undefined && d.errorCode !== null) {
    throw new EventRejected(
      'call-failed',
      `${expected.eventName} failed with ${quote(d.errorCode)}: no material was deleted, nothing to recover`,
    );
  }
  if (d.awsRegion !== undefined && d.awsRegion !== env.region) {
    throw new EventRejected('region-mismatch', `detail.awsRegion ${quote(d.awsRegion)} is not the event's Region ${env.region}`);
  }
  if (d.recipientAccountId !== undefined && d.recipientAccountId !== env.account) {
    throw new EventRejected(
      'account-mismatch',
      `detail.recipientAccountId ${quote(d.recipientAccountId)} is not the event's account ${env.account}`,
    );
  }
  const refs: Array<{ where: string; value: unknown }> = [];
  const fromObject = (name: string, obj: unknown): void => {
    if (obj === undefined || obj === null) return;
    if (!isObject(obj)) throw new EventRejected('malformed-envelope', `detail.${name} must be an object, got ${quote(obj)}`);
    if (has(obj, 'keyId')) refs.push({ where: `detail.${name}.keyId`, value: obj.keyId });
  };
  fromObject(expected.eventType === 'AwsApiCall' ? 'requestParameters' : 'serviceEventDetails',
    expected.eventType === 'AwsApiCall' ? d.requestParameters : d.serviceEventDetails);
  fromObject('responseElements', d.responseElements);
  if (d.resources !== undefined) {
    if (!Array.isArray(d.resources)) throw new EventRejected('malformed-envelope', `detail.resources must be an array`);
    d.resources.forEach((r: unknown, i) => {
      if (!isObject(r)) throw new EventRejected('malformed-envelope', `detail.resources[${i}] must be an object`);
      if (r.type === 'AWS::KMS::Key') refs.push({ where: `detail.resources[${i}].ARN`, value: r.ARN });
    });
  }
  env.resources.forEach((value, i) => refs.push({ where: `resources[${i}]`, value }));
  const keyId = resolveEventKey(env, refs, opts);
  return [workItem(env, keyId)];
}

function workItem(env: EventEnvelope, keyId: string): WorkItem {
  // Deletion and expiry both leave the key PendingImport: the work is a recovery. If the key
  // was already recovered (a duplicate event), the plan is "skip: nothing to recover".
  return {
    keyRef: keyId,
    action: 'recover',
    trigger: { source: env.source, detailType: env.detailType, eventId: env.id, time: env.time },
  };
}

function manualItems(event: JsonObject, opts: NormaliseOptions): WorkItem[] {
  const unknown = Object.keys(event).filter((k) => k !== 'action' && k !== 'keyId');
  if (unknown.length > 0) {
    throw new EventRejected(
      'malformed-manual-request',
      `unknown field(s) ${unknown.map((k) => quote(k)).join(', ')}; a manual request is {"action": "recover"|"renew"|"plan"|"rotate", "keyId": "<key ID, key ARN or alias>"}`,
    );
  }
  const { action, keyId } = event;
  if (!MANUAL_ACTIONS.includes(action as (typeof MANUAL_ACTIONS)[number])) {
    throw new EventRejected(
      'malformed-manual-request',
      `action must be one of ${MANUAL_ACTIONS.join(', ')}, got ${quote(action)}`,
    );
  }
  if (keyId === undefined || keyId === null || keyId === '') {
    throw new EventRejected('missing-key', `a manual ${String(action)} request needs "keyId" (key ID, key ARN or alias)`);
  }
  const parsed = parseKeyRef(keyId);
  if (parsed === undefined) {
    throw new EventRejected('bad-key-ref', `keyId must be a KMS key ID, key ARN, alias name or alias ARN, got ${quote(keyId)}`);
  }
  let keyRef: string;
  if (parsed.kind === 'key-arn' || parsed.kind === 'alias-arn') {
    const partition = ownPartition(opts);
    if (partition !== undefined && parsed.partition !== partition) {
      throw new EventRejected('partition-mismatch', `keyId ${quote(keyId)} is in partition ${parsed.partition}, this service runs in ${partition}`);
    }
    if (opts.account !== undefined && parsed.account !== opts.account) {
      throw new EventRejected('account-mismatch', `keyId ${quote(keyId)} is in account ${parsed.account}, this service runs in ${opts.account}`);
    }
    if (opts.region !== undefined && parsed.region !== opts.region) {
      throw new EventRejected('region-mismatch', `keyId ${quote(keyId)} is in Region ${parsed.region}, this service runs in ${opts.region}`);
    }
    // Keep the ARN when we cannot check its account and Region ourselves: KMS then refuses
    // a key elsewhere instead of us silently looking up the same ID here.
    keyRef = opts.account !== undefined && opts.region !== undefined
      ? (parsed.kind === 'key-arn' ? parsed.keyId : parsed.alias)
      : parsed.arn;
  } else {
    keyRef = parsed.kind === 'key-id' ? parsed.keyId : parsed.alias;
  }
  return [
    {
      keyRef,
      action: action as (typeof MANUAL_ACTIONS)[number],
      trigger: { source: MANUAL_SOURCE, detailType: MANUAL_DETAIL_TYPE },
    },
  ];
}

/**
 * Validates an event and returns the work it asks for, one item per key. Throws EventRejected
 * (with `code` and `reason`) for anything it does not trust, including sweep requests, which
 * belong to the sweep function.
 */
export function normaliseEvent(event: unknown, opts: NormaliseOptions = {}): WorkItem[] {
  if (!isObject(event)) {
    throw new EventRejected('not-an-object', `an event must be a JSON object, got ${Array.isArray(event) ? 'an array' : quote(event)}`);
  }
  if (!isEnvelope(event)) {
    if (!has(event, 'action')) {
      throw new EventRejected(
        'malformed-envelope',
        'neither an EventBridge event (no "detail-type") nor a manual request (no "action")',
      );
    }
    if (event.action === 'sweep') {
      throw new EventRejected('sweep-request', 'a sweep request goes to the sweep function, not the trigger');
    }
    return manualItems(event, opts);
  }
  const env = parseEnvelope(event, opts);
  if (env.source === 'aws.events' && env.detailType === 'Scheduled Event') {
    throw new EventRejected('sweep-request', 'a scheduled event starts the sweep function, not the trigger');
  }
  if (env.source !== KMS_SOURCE) {
    throw new EventRejected(
      'untrusted-source',
      `source must be ${KMS_SOURCE}, got ${quote(env.source)} (detail-type ${quote(env.detailType)})`,
    );
  }
  if (env.detailType === KMS_EXPIRATION_DETAIL_TYPE) return kmsExpirationItems(env, opts);
  const cloudTrail = CLOUDTRAIL_EVENTS.get(env.detailType);
  if (cloudTrail !== undefined) return cloudTrailItems(env, cloudTrail, opts);
  throw new EventRejected(
    'unexpected-detail-type',
    `detail-type ${quote(env.detailType)} from ${KMS_SOURCE} is not one this service handles (expected ${[
      KMS_EXPIRATION_DETAIL_TYPE,
      ...CLOUDTRAIL_EVENTS.keys(),
    ].join(' | ')})`,
  );
}
