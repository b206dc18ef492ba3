/**
 * The workflow's state document (the workflow contract): one JSON object every task receives
 * WHOLE and returns WHOLE. It never holds key material, nor import parameters (WrapAndImport
 * fetches and spends them itself); everything is metadata.
 */
import type { KeyReport, Outcome, RotationRecord } from '../types.js';
import type { WorkAction, WorkItem } from '../events/work-item.js';

export interface StepError {
  Error: string;
  Cause: string;
}

export interface WorkflowState {
  workItem: WorkItem;
  /** ISO, set by Inspect (or by the state machine from the execution's start time). */
  startedAt: string;
  report?: KeyReport;
  /** rotate: the Rotate task runs the rotation engine (lib/rotate.ts); pending stays empty. */
  plan?: { action: 'recover' | 'renew' | 'rotate' | 'skip'; reason: string };
  /** Materials still to import, in order. */
  pending: Array<{ keyMaterialId?: string }>;
  imported: Array<{ keyMaterialId?: string; validTo?: string; expirationModel: string }>;
  /** Times a token expired and new parameters were fetched. */
  tokenRefreshes: number;
  verified?: boolean;
  /** Set by Verify: the key's state after the import (Enabled, or Disabled when it was left Disabled as found). */
  keyStateAfter?: string;
  /**
   * Set by Rotate: what the rotation did (mode, material IDs, new key, aliases moved: IDs and alias
   * names only) and the engine's reason, which Report turns into the `rotated` outcome.
   */
  rotation?: RotationRecord;
  rotationReason?: string;
  /** From a Catch. */
  error?: StepError;
  /** From the ImportTokenExpired Catch: the last refused token, kept apart from `error`. */
  tokenExpiry?: StepError;
  /** Extension: AWS calls per operation made by the steps that completed (not by failed ones). */
  calls?: Record<string, number>;
  outcome?: Outcome;
}

/** The task received something that is not the state document (a wiring mistake, not a key problem). */
export class WorkflowStateInvalid extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkflowStateInvalid';
  }
}

const ACTIONS: readonly WorkAction[] = ['recover', 'renew', 'plan', 'auto', 'rotate'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks an execution input (or a state's workItem) is a WorkItem. */
export function parseWorkItem(input: unknown): WorkItem {
  if (!isObject(input)) throw new WorkflowStateInvalid('the execution input must be a work item object {keyRef, action, trigger}');
  const { keyRef, action, trigger } = input;
  if (typeof keyRef !== 'string' || keyRef.length === 0) {
    throw new WorkflowStateInvalid('the work item has no keyRef; start the execution through the trigger function or with {"keyRef": "<key>", ...}');
  }
  if (!ACTIONS.includes(action as WorkAction)) {
    throw new WorkflowStateInvalid(`the work item for ${keyRef} has action ${JSON.stringify(action)}; use recover, renew, plan, auto or rotate`);
  }
  if (!isObject(trigger) || typeof trigger.source !== 'string' || typeof trigger.detailType !== 'string') {
    throw new WorkflowStateInvalid(`the work item for ${keyRef} has no trigger {source, detailType}`);
  }
  return input as unknown as WorkItem;
}

/** Checks a task input is the state document (enough for the task to work on). */
export function parseWorkflowState(input: unknown): WorkflowState {
  if (!isObject(input) || !('workItem' in input)) {
    throw new WorkflowStateInvalid('the task input is not the workflow state document (no workItem); check the state machine wiring');
  }
  parseWorkItem(input.workItem);
  if (!Array.isArray(input.pending) || !Array.isArray(input.imported) || typeof input.tokenRefreshes !== 'number') {
    throw new WorkflowStateInvalid('the workflow state lacks pending/imported/tokenRefreshes; check the state machine wiring');
  }
  return input as unknown as WorkflowState;
}

/** Adds counts of AWS calls into the state's running totals. */
export function addCalls(state: WorkflowState, calls: Record<string, number>): Record<string, number> {
  const total = { ...(state.calls ?? {}) };
  for (const [op, n] of Object.entries(calls)) total[op] = (total[op] ?? 0) + n;
  return total;
}
