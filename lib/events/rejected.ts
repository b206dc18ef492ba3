/**
 * The one error lib/events throws: an event whose source or shape cannot be trusted. It is
 * logged with its reason and dropped (retrying the same event cannot make it valid).
 */

/** Why an event was refused, as a stable code a metric or a test can rely on. */
export type RejectionCode =
  | 'not-an-object'
  | 'malformed-envelope'
  | 'untrusted-source'
  | 'unexpected-detail-type'
  | 'unexpected-event-source'
  | 'unexpected-event-name'
  | 'unexpected-event-type'
  | 'call-failed'
  | 'missing-key'
  | 'bad-key-ref'
  | 'key-mismatch'
  | 'account-mismatch'
  | 'region-mismatch'
  | 'partition-mismatch'
  | 'malformed-manual-request'
  | 'malformed-sweep-request'
  | 'sweep-request';

export class EventRejected extends Error {
  override readonly name = 'EventRejected';
  constructor(
    readonly code: RejectionCode,
    /** What was wrong with the event; safe to log (quoted values are truncated). */
    readonly reason: string,
  ) {
    super(`Event rejected (${code}): ${reason}. Nothing was started; check the event's source and shape.`);
  }
}

export function isEventRejected(e: unknown): e is EventRejected {
  return e instanceof EventRejected || (e instanceof Error && e.name === 'EventRejected');
}

/** A value from an untrusted event, quoted and cut short for a log line. */
export function quote(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 117)}...` : text);
}
