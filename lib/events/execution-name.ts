/**
 * Deterministic Step Functions execution names and inputs, so that two triggers for one key
 * at one moment start ONE execution: StartExecution with an existing name and the same input
 * returns the running execution, and with a different input fails ExecutionAlreadyExists
 * (which the trigger reads as "already running").
 *
 * Name: `<keyId or sanitised ref>-<action>-<time bucket>`, at most 80 characters of
 * [A-Za-z0-9_-]. The bucket is `now` floored to `bucketMinutes` (default 5), written
 * `YYYYMMDDTHHMMZ`. A trigger for a key whose execution in the same bucket already finished
 * is also refused with ExecutionAlreadyExists: the next bucket, or the sweep, picks it up.
 */
import { createHash } from 'node:crypto';
import { keyIdOf } from './key-ref.js';
import type { WorkItem } from './work-item.js';

export const EXECUTION_NAME_MAX = 80;
export const DEFAULT_BUCKET_MINUTES = 5;
const ALLOWED = /^[A-Za-z0-9_-]+$/;

export interface ExecutionNameOptions {
  /** Width of the time bucket in minutes (1..1440). */
  bucketMinutes?: number;
}

/** `now` floored to the bucket, as `YYYYMMDDTHHMMZ`. */
export function timeBucket(now: Date, bucketMinutes = DEFAULT_BUCKET_MINUTES): string {
  if (!Number.isInteger(bucketMinutes) || bucketMinutes < 1 || bucketMinutes > 1440) {
    throw new RangeError(`bucketMinutes must be an integer from 1 to 1440, got ${bucketMinutes}`);
  }
  const t = now.getTime();
  if (Number.isNaN(t)) throw new RangeError('now is not a valid date');
  const size = bucketMinutes * 60_000;
  const floored = new Date(Math.floor(t / size) * size).toISOString(); // 2025-06-01T12:05:00.000Z
  return `${floored.slice(0, 4)}${floored.slice(5, 7)}${floored.slice(8, 10)}T${floored.slice(11, 13)}${floored.slice(14, 16)}Z`;
}

/**
 * The part of the name that says which key: the key ID when known, else the reference with
 * every other character replaced by `_`, shortened to `max`; when anything was replaced or
 * cut, a hash of the full reference is appended so that different references stay different.
 */
export function keyNamePart(ref: string, max: number): string {
  if (ALLOWED.test(ref) && ref.length <= max) return ref;
  const hash = createHash('sha256').update(ref).digest('hex').slice(0, 10);
  const cleaned = ref.replace(/[^A-Za-z0-9_-]/g, '_');
  return `${cleaned.slice(0, Math.max(0, max - hash.length - 1))}_${hash}`;
}

export function executionName(
  item: WorkItem,
  keyId: string | undefined,
  now: Date,
  opts: ExecutionNameOptions = {},
): string {
  const suffix = `-${item.action}-${timeBucket(now, opts.bucketMinutes)}`;
  const ref = keyId ?? keyIdOf(item.keyRef) ?? item.keyRef;
  return `${keyNamePart(ref, EXECUTION_NAME_MAX - suffix.length)}${suffix}`;
}

/**
 * The execution input for a work item: the same for every duplicate delivery of one trigger,
 * so the event's id and time (which differ between deliveries and sources) are left out, and
 * the deterministic execution name is put in (tasks log it). Keys in a fixed order, so the
 * JSON text is identical too.
 */
export function executionInput(item: WorkItem, name?: string): WorkItem {
  const input: WorkItem = {
    keyRef: item.keyRef,
    action: item.action,
    trigger: { source: item.trigger.source, detailType: item.trigger.detailType },
  };
  const executionName = name ?? item.executionName;
  if (executionName !== undefined) input.executionName = executionName;
  return input;
}
