/**
 * The Report step's outcome: recovered / renewed / rotated (the Rotate task's record) / skipped or
 * planned with the plan's reason / failed with the reason from the caught error. Built from the state document only.
 */
import { REIMPORT_ERROR_NAMES } from '../errors.js';
import { keyIdOf } from '../events/key-ref.js';
import type { Outcome, OutcomeStatus } from '../types.js';
import type { StepError, WorkflowState } from './state.js';

const MAX_REASON = 1000;

/**
 * The human part of a Catch's Cause. Lambda puts a JSON document there
 * (`{"errorType", "errorMessage", "trace"}`): keep the message, never the stack trace.
 */
export function causeMessage(error: StepError): string {
  let message = error.Cause ?? '';
  try {
    const parsed: unknown = JSON.parse(message);
    if (typeof parsed === 'object' && parsed !== null) {
      const m = (parsed as { errorMessage?: unknown; message?: unknown }).errorMessage ?? (parsed as { message?: unknown }).message;
      message = typeof m === 'string' ? m : '';
    }
  } catch {
    // Not JSON: a Cause written by the state machine itself.
  }
  message = message.trim();
  if (message === '') message = `the step failed with ${error.Error} and no message`;
  return message.length > MAX_REASON ? `${message.slice(0, MAX_REASON - 3)}...` : message;
}

/** Error names the workflow itself writes (the ASL's Pass states and the state document checks). */
const WORKFLOW_ERROR_NAMES = new Set<string>(['NoRunnablePlan', 'WorkflowStateInvalid']);

/**
 * The outcome's errorName: one of ours, never a raw AWS, Lambda or Step Functions name. The state
 * machine's own integrations (the lease's DynamoDB tasks) fail as `DynamoDB.<Exception>`; Lambda
 * and Step Functions errors after the retries as `Lambda.*`, `Sandbox.*`, `Runtime.*`, `States.*`.
 */
export function outcomeErrorName(name: string): string {
  if ((REIMPORT_ERROR_NAMES as readonly string[]).includes(name) || WORKFLOW_ERROR_NAMES.has(name)) return name;
  if (name.startsWith('DynamoDB.')) return 'LeaseUnavailable';
  return 'UnexpectedError';
}

function failureReason(state: WorkflowState, error: StepError, keyId: string): string {
  const message = causeMessage(error);
  const done = state.imported.length > 0 ? ` ${state.imported.length} material(s) were imported before the failure.` : '';
  if (error.Error.startsWith('DynamoDB.')) {
    return (
      `The per-key lease for key ${keyId} could not be used (${error.Error}): check that the stack's lease table exists and that the state machine's ` +
      `role may use it, then start a run with action "plan".${done}`
    );
  }
  if (outcomeErrorName(error.Error) !== error.Error) {
    return `The workflow for key ${keyId} stopped with ${error.Error}: ${message}. Check this execution's history, then start a run with action "plan".${done}`;
  }
  return `${message}${done}`;
}

function successReason(state: WorkflowState, keyId: string, status: 'recovered' | 'renewed'): string {
  const n = state.imported.length;
  const until = state.imported
    .map((m) => m.validTo)
    .filter((v): v is string => v !== undefined)
    .sort()[0];
  const validity = until ? `, valid until ${until}` : state.imported.length > 0 ? `, ${state.imported[0]?.expirationModel}` : '';
  return `Key ${keyId} ${status}: ${n} escrowed material(s) reimported${validity}; verified Enabled with a cryptographic round trip.`;
}

/** The material is back but the key is Disabled: it was disabled before (taken as deliberate) and is left so. */
function leftDisabledReason(state: WorkflowState, keyId: string, status: 'recovered' | 'renewed'): string {
  return (
    `Key ${keyId} ${status}: ${state.imported.length} escrowed material(s) reimported, so its material is back, but the key is Disabled: ` +
    `it was left Disabled as found (disabled before its material went missing, taken as deliberate) and not verified ` +
    `(no cryptographic round trip on a disabled key). Nothing more to do unless it should be usable: then enable it yourself ` +
    `(aws kms enable-key --key-id ${keyId}).`
  );
}

export function buildOutcome(state: WorkflowState, now: Date): Outcome {
  const item = state.workItem;
  const keyId = state.report?.keyId ?? keyIdOf(item.keyRef) ?? item.keyRef;
  const startedAt = state.startedAt && !Number.isNaN(Date.parse(state.startedAt)) ? state.startedAt : now.toISOString();
  let status: OutcomeStatus;
  let reason: string;
  let errorName: string | undefined;

  if (state.error) {
    status = 'failed';
    errorName = outcomeErrorName(state.error.Error);
    reason = failureReason(state, state.error, keyId);
  } else if (!state.plan) {
    status = 'failed';
    errorName = 'NoPlan';
    reason = `The workflow for key ${keyId} reached Report without a plan; nothing was changed. Check this execution's history, then start a run with action "plan".`;
  } else if (state.plan.action === 'skip') {
    status = item.action === 'plan' ? 'planned' : 'skipped';
    reason = state.plan.reason;
  } else if (state.plan.action === 'rotate') {
    // The Rotate task ran the rotation engine, which verified the key (or the new key) itself.
    if (state.rotation && state.verified === true) {
      status = 'rotated';
      reason = state.rotationReason ?? `Key ${keyId} rotated (${state.rotation.mode}) and verified.`;
    } else {
      status = 'failed';
      errorName = 'NotVerified';
      reason =
        `The workflow for key ${keyId} reached Report without a verified rotation. The rotation engine resumes from any step: ` +
        `start the rotation again (the manual event {"action": "rotate", "keyId": "${keyId}"}); it finishes what was started, never a second new material or key.`;
    }
  } else if (state.verified === true && state.pending.length === 0) {
    status = state.plan.action === 'recover' ? 'recovered' : 'renewed';
    reason = successReason(state, keyId, status);
  } else if (state.verified === false && state.keyStateAfter === 'Disabled' && state.pending.length === 0) {
    status = state.plan.action === 'recover' ? 'recovered' : 'renewed';
    reason = leftDisabledReason(state, keyId, status);
  } else {
    status = 'failed';
    errorName = 'NotVerified';
    reason =
      `The workflow for key ${keyId} reached Report before ${state.pending.length > 0 ? 'every material was imported' : 'the key was verified'} ` +
      `(${state.imported.length} imported, ${state.pending.length} pending). Check this execution's history, then start a run with action "plan".`;
  }

  const outcome: Outcome = {
    status,
    keyId,
    requestedRef: item.keyRef,
    action: item.action,
    reason,
    imported: state.imported.map((m) => ({ ...m })),
    startedAt,
    finishedAt: now.toISOString(),
    durationMs: Math.max(0, now.getTime() - Date.parse(startedAt)),
    calls: { ...(state.calls ?? {}) },
  };
  if (state.report?.arn) outcome.keyArn = state.report.arn;
  if (errorName !== undefined) outcome.errorName = errorName;
  if (state.report?.keyState) outcome.keyStateBefore = state.report.keyState;
  if (state.verified !== undefined) outcome.verified = state.verified;
  if (state.rotation && status === 'rotated') outcome.rotation = { ...state.rotation, ...(state.rotation.aliasesMoved ? { aliasesMoved: [...state.rotation.aliasesMoved] } : {}) };
  if (state.verified === true) outcome.keyStateAfter = 'Enabled';
  else if (state.verified === false && state.keyStateAfter === 'Disabled') outcome.keyStateAfter = 'Disabled';
  return outcome;
}
