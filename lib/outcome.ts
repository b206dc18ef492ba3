/**
 * Outcomes: the one result of a run for one key, for people (summariseOutcome) and machines
 * (status, errorName). Never holds material: only IDs, states, dates, names and counts.
 */
import { toNamedError } from './errors.js';
import type { KeyRef, Outcome, OutcomeStatus } from './types.js';

/** An Outcome as a run knows it: Dates instead of ISO strings, durationMs derived, lists optional. */
export type OutcomeInput = Omit<Outcome, 'startedAt' | 'finishedAt' | 'durationMs' | 'imported' | 'calls'> & {
  startedAt: Date;
  finishedAt: Date;
  imported?: Outcome['imported'];
  calls?: Record<string, number>;
};

/** Builds an Outcome, dropping undefined fields and computing durationMs. */
export function createOutcome(input: OutcomeInput): Outcome {
  const outcome: Outcome = {
    status: input.status,
    keyId: input.keyId,
    requestedRef: input.requestedRef,
    action: input.action,
    imported: (input.imported ?? []).map((i) => ({ ...i })),
    startedAt: input.startedAt.toISOString(),
    finishedAt: input.finishedAt.toISOString(),
    durationMs: Math.max(0, input.finishedAt.getTime() - input.startedAt.getTime()),
    calls: { ...(input.calls ?? {}) },
  };
  if (input.keyArn !== undefined) outcome.keyArn = input.keyArn;
  if (input.reason !== undefined) outcome.reason = input.reason;
  if (input.errorName !== undefined) outcome.errorName = input.errorName;
  if (input.keyStateBefore !== undefined) outcome.keyStateBefore = input.keyStateBefore;
  if (input.keyStateAfter !== undefined) outcome.keyStateAfter = input.keyStateAfter;
  if (input.verified !== undefined) outcome.verified = input.verified;
  if (input.wouldFail !== undefined) outcome.wouldFail = { ...input.wouldFail };
  if (input.rotation !== undefined) {
    outcome.rotation = { ...input.rotation, ...(input.rotation.aliasesMoved ? { aliasesMoved: [...input.rotation.aliasesMoved] } : {}) };
  }
  return outcome;
}

/**
 * errorName and reason for a failed outcome. Named errors carry their own message (it names the
 * key and the next step); anything else is described with its name and the key.
 */
export function describeFailure(error: unknown, keyRef: KeyRef): { errorName: string; reason: string } {
  // Never a raw AWS or JavaScript error name: every failure is one of ours, with the next step.
  const named = toNamedError(error, keyRef);
  return { errorName: named.name, reason: named.message };
}

/** The status a completed action reports. */
export function statusForAction(action: 'recover' | 'renew'): OutcomeStatus {
  return action === 'recover' ? 'recovered' : 'renewed';
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** " rotated in place from material 1a2b… to 3c4d…" or " rotated by alias swap to key …, aliases moved: …" */
function describeRotation(r: NonNullable<Outcome['rotation']>): string {
  const short = (id: string | undefined) => (id ? `${id.slice(0, 12)}…` : '?');
  if (r.mode === 'in-place') return ` rotated in place from material ${short(r.fromKeyMaterialId)} to ${short(r.toKeyMaterialId)}`;
  const aliases = r.aliasesMoved && r.aliasesMoved.length > 0 ? `, aliases moved: ${r.aliasesMoved.join(', ')}` : ', no alias moved';
  return ` rotated by alias swap to key ${r.newKeyId ?? '?'}${aliases}`;
}

/** One line for humans, e.g. "RECOVERED key 1234… (alias/app): imported 1 material (…), verified; 1.2 s, 7 AWS calls". */
export function summariseOutcome(o: Outcome): string {
  const key = o.requestedRef && o.requestedRef !== o.keyId ? `key ${o.keyId} (${o.requestedRef})` : `key ${o.keyId}`;
  const totalCalls = Object.values(o.calls).reduce((a, b) => a + b, 0);
  const tail = `; ${seconds(o.durationMs)}, ${totalCalls} AWS call${totalCalls === 1 ? '' : 's'}`;
  const states = o.keyStateBefore && o.keyStateAfter ? ` [${o.keyStateBefore} -> ${o.keyStateAfter}]` : o.keyStateBefore ? ` [${o.keyStateBefore}]` : '';
  const imported =
    o.imported.length === 0
      ? ''
      : ` imported ${o.imported.length} material${o.imported.length === 1 ? '' : 's'} (${o.imported
          .map((i) => `${i.keyMaterialId ? `${i.keyMaterialId.slice(0, 12)}… ` : ''}${i.validTo ? `valid to ${i.validTo}` : i.expirationModel}`)
          .join('; ')})`;
  const rotation = o.rotation ? describeRotation(o.rotation) : '';
  switch (o.status) {
    case 'recovered':
    case 'renewed':
    case 'rotated':
      return oneLine(`${o.status.toUpperCase()} ${key}${states}:${rotation}${rotation && imported ? ';' : ''}${imported}${o.verified ? ', verified' : ', NOT verified'}${tail}`);
    case 'planned':
      return oneLine(
        `PLANNED ${key}${states}: ${o.reason ?? ''}${o.wouldFail ? ` WOULD ${o.wouldFail.status === 'failed' ? 'FAIL' : 'BE SKIPPED'}: ${o.wouldFail.errorName}: ${o.wouldFail.reason}` : ''}${tail}`,
      );
    case 'failed':
      return oneLine(`FAILED ${key}${states}: ${o.errorName ?? 'Error'}: ${o.reason ?? 'no reason recorded'}${imported ? ` (before failing:${imported})` : ''}${tail}`);
    default:
      return oneLine(`${o.status.toUpperCase()} ${key}${states}: ${o.reason ?? ''}${tail}`);
  }
}
