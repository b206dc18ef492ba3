/**
 * The sweep function's input: what EventBridge Scheduler sends (the Input we define in the
 * template, `{"source": "kms-reimport.schedule", "action": "sweep"}`), a classic EventBridge
 * `Scheduled Event` from a schedule rule, or an on-call request `{"action": "sweep",
 * "dryRun": true}` (report what would be started, start nothing).
 */
import { EventRejected, quote } from './rejected.js';
import { isEnvelope, parseEnvelope, type NormaliseOptions } from './normalise.js';

export const SCHEDULE_SOURCE = 'kms-reimport.schedule';

export interface SweepRequest {
  /** Report the work items, start no execution. */
  dryRun: boolean;
  source: string;
}

export function parseSweepRequest(event: unknown, opts: NormaliseOptions = {}): SweepRequest {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    throw new EventRejected('not-an-object', `a sweep request must be a JSON object, got ${quote(event)}`);
  }
  const e = event as Record<string, unknown>;
  if (isEnvelope(e)) {
    const env = parseEnvelope(e, opts);
    if (env.source !== 'aws.events' || env.detailType !== 'Scheduled Event') {
      throw new EventRejected(
        'untrusted-source',
        `the sweep runs on a "Scheduled Event" from aws.events, got ${quote(env.detailType)} from ${quote(env.source)}`,
      );
    }
    return { dryRun: false, source: 'aws.events' };
  }
  const unknown = Object.keys(e).filter((k) => k !== 'action' && k !== 'dryRun' && k !== 'source');
  if (unknown.length > 0) {
    throw new EventRejected(
      'malformed-sweep-request',
      `unknown field(s) ${unknown.map((k) => quote(k)).join(', ')}; a sweep request is {"action": "sweep", "dryRun"?: boolean}`,
    );
  }
  if (e.action !== 'sweep') {
    throw new EventRejected('malformed-sweep-request', `action must be "sweep", got ${quote(e.action)}`);
  }
  if (e.dryRun !== undefined && typeof e.dryRun !== 'boolean') {
    throw new EventRejected('malformed-sweep-request', `dryRun must be true or false, got ${quote(e.dryRun)}`);
  }
  if (e.source !== undefined && typeof e.source !== 'string') {
    throw new EventRejected('malformed-sweep-request', `source must be a string, got ${quote(e.source)}`);
  }
  return { dryRun: e.dryRun === true, source: (e.source as string | undefined) ?? 'kms-reimport.manual' };
}
