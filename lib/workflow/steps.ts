/**
 * The workflow's tasks, one function per Task of the state machine, free of Lambda: each takes
 * its dependencies, the state document (Inspect: the work item), the config and the time, and
 * returns the whole new state. Errors keep their names (the state machine routes on them).
 * Plaintext material never enters the state: only wrapAndImportStep touches escrow, through
 * importEscrowedMaterial, and only material IDs, dates and models come back. wrapAndImportStep
 * does not trust the state's key report: it reads the key from KMS again, beside its other reads.
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ReimportConfig } from '../config.js';
import type { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { KeyNotEligible, KeyNotManaged, KeyNotReadable, TaskInputRejected } from '../errors.js';
import { explainUnreadable, type OwnScope } from '../kms/ownership.js';
import { classifyKey, planAction } from '../kms/classify.js';
import { getImportParameters } from '../kms/import-parameters.js';
import { inspectKey } from '../kms/inspect.js';
import { importEscrowedMaterial, planImports, verifyAfterImport, verifyUnlessDisabled, type ImportDeps } from '../reimport.js';
import type { RetryOptions } from '../retry.js';
import type { Classification, KeyReport } from '../types.js';
import { chooseRotationMode, rotateKey, rotationRefusal, type RotateDeps } from '../rotate.js';
import { defaultRotationId } from '../rotation/in-place.js';
import { rotationStatus } from '../rotation/schedule.js';
import { SWEEP_SOURCE, type WorkItem } from '../events/work-item.js';
import type { RecoverDeps } from '../recover.js';
import { REIMPORT_ERROR_NAMES, ReimportError } from '../errors.js';
import { chooseWrapping } from '../wrap/choose.js';
import type { CallCounter } from './calls.js';
import { buildOutcome } from './outcome.js';
import type { PublishOutcome } from './publish.js';
import {
  addCalls,
  parseWorkflowState,
  parseWorkItem,
  WorkflowStateInvalid,
  type WorkflowState,
} from './state.js';


export interface KmsStepDeps {
  kms: KMSClient;
  /**
   * Inspect only: tells a key that is not managed from a managed key the service may not read, when
   * KMS answers AccessDeniedException (tag:GetResources), with the scope that makes a key ID an ARN.
   */
  tagging?: ResourceGroupsTaggingAPIClient;
  scope?: OwnScope;
  /** The run's logger: gets inspection's warnings (e.g. ListKeyRotations not available). */
  logger?: { warn(message: string, extra?: object): void };
  calls?: CallCounter;
  /** Retry settings (default from config); tests inject a sleep. */
  retry?: RetryOptions;
}

export interface ImportStepDeps extends KmsStepDeps {
  secrets: SecretsManagerClient;
  /** The run's logger: gets the engine's warnings (e.g. an ExpirationModel that had to be assumed). */
  logger?: ImportDeps['logger'];
}

export interface ReportStepDeps {
  publish: PublishOutcome;
  /** Emits the outcome metric (the handler binds Powertools Metrics here). */
  recordOutcome?: (outcome: NonNullable<WorkflowState['outcome']>) => void;
}

function retryOf(deps: KmsStepDeps, config: ReimportConfig): RetryOptions {
  return deps.retry ?? { maxAttempts: config.maxAttempts, baseDelayMs: config.baseDelayMs };
}

/** Drops counts left by an earlier invocation that failed: each step counts only its own calls. */
function startCounting(deps: { calls?: CallCounter }): void {
  deps.calls?.take();
}

function withCalls(state: WorkflowState, deps: { calls?: CallCounter }): WorkflowState {
  if (!deps.calls) return state;
  return { ...state, calls: addCalls(state, deps.calls.take()) };
}

function requireReport(state: WorkflowState, step: string): KeyReport {
  if (!state.report) {
    throw new WorkflowStateInvalid(`${step} for ${state.workItem.keyRef} needs the key report from Inspect; check the state machine wiring`);
  }
  return state.report;
}

/**
 * The rotation plan for a work item with action `rotate`, from inspection alone (changes nothing):
 * the same eligibility and mode choice as the rotation engine (lib/rotate.ts rotationRefusal: a key
 * that is not managed, not EXTERNAL, pending deletion, disabled or PendingImport is skipped with the
 * reason; chooseRotationMode: specs it cannot import, in place or alias swap), except that a
 * Multi-Region key is skipped here (the deployed Rotate role reaches its own Region only). A
 * rotation the sweep asked for is skipped when the key's schedule no longer makes it due (another
 * run rotated it since the sweep looked), so duplicate scheduled triggers rotate once.
 */
function planRotation(report: KeyReport, classification: Classification, workItem: WorkItem, config: ReimportConfig, now: Date): NonNullable<WorkflowState['plan']> {
  const skip = (reason: string) => ({ action: 'skip' as const, reason });
  const refused = rotationRefusal(classification, `the manual event {"action": "recover", "keyId": "${report.keyId}"}`);
  if (refused) return skip(refused.reason);
  const choice = chooseRotationMode(report, 'auto');
  if ('skip' in choice) return skip(choice.skip);
  if (workItem.trigger.source === SWEEP_SOURCE) {
    const schedule = rotationStatus(report, config, now);
    if (!schedule.due) {
      return skip(
        `Key ${report.keyId} is not due for rotation any more${schedule.lastRotatedAt ? ` (current material from ${schedule.lastRotatedAt}, next due ${schedule.nextDueAt ?? 'never'})` : ''}: ` +
          `${schedule.problem ?? schedule.note ?? 'another run rotated it since the sweep looked'}. Nothing was done.`,
      );
    }
  }
  return { action: 'rotate', reason: `rotate key ${report.keyId} ${choice.mode === 'in-place' ? 'in place' : 'by alias swap'} (${choice.why})` };
}

/** Inspect: work item → state with the key report, the plan and the materials to import. */
export async function inspectStep(deps: KmsStepDeps, input: unknown, config: ReimportConfig, now: Date): Promise<WorkflowState> {
  startCounting(deps);
  const workItem =
    typeof input === 'object' && input !== null && 'workItem' in input
      ? parseWorkItem((input as { workItem: unknown }).workItem)
      : parseWorkItem(input);
  // Inspected again under the lease: the execution keeps the start Inspect first gave it (the rotation id comes from it).
  const earlier = typeof input === 'object' && input !== null && 'startedAt' in input ? (input as { startedAt: unknown }).startedAt : undefined;
  const startedAt = typeof earlier === 'string' && !Number.isNaN(Date.parse(earlier)) ? new Date(Date.parse(earlier)).toISOString() : now.toISOString();
  const retry = retryOf(deps, config);
  let report: KeyReport;
  try {
    report = await inspectKey(deps.kms, workItem.keyRef, retry, (message, extra) => deps.logger?.warn(message, extra));
  } catch (e) {
    if (!(e instanceof KeyNotReadable)) throw e;
    // Events fire for every EXTERNAL key in the account, but the role may read managed keys only.
    const verdict = await explainUnreadable(e, workItem.keyRef, deps, config, retry);
    if ('fail' in verdict) throw verdict.fail;
    const skipped: WorkflowState = {
      workItem,
      startedAt,
      plan: { action: 'skip', reason: verdict.skip },
      pending: [],
      imported: [],
      tokenRefreshes: 0,
    };
    return withCalls(skipped, deps);
  }
  const classification = classifyKey(report, config, now);
  if (workItem.action === 'rotate') {
    const state: WorkflowState = {
      workItem,
      startedAt,
      report,
      plan: planRotation(report, classification, workItem, config, now),
      pending: [],
      imported: [],
      tokenRefreshes: 0,
    };
    return withCalls(state, deps);
  }
  // planImports: a renew with nothing left to push out becomes a skip naming the current ValidTo.
  const { plan, targets } = planImports(report, classification, planAction(classification, workItem.action), config, now);
  const state: WorkflowState = {
    workItem,
    startedAt,
    report,
    plan,
    pending: targets.map((keyMaterialId) => (keyMaterialId === undefined ? {} : { keyMaterialId })),
    imported: [],
    tokenRefreshes: 0,
  };
  return withCalls(state, deps);
}

/**
 * The key as KMS describes it now, for WrapAndImport, and the re-check of what it was asked to do.
 * The state document is NOT trusted: anyone able to invoke the function could forge it (another
 * key's ID, spec or escrow tag, a renewal that would shorten ValidTo, a material the key does not
 * miss). It goes out beside the escrow read and GetParametersForImport (both for the state's key);
 * importEscrowedMaterial then requires it to name the same key, KeySpec and escrow secret as the
 * state's report before anything is wrapped, and imports by it. The work is planned again from it
 * exactly as Inspect plans it (classifyKey → planAction → planImports, with
 * the work item's action): the material asked for must be one the fresh plan imports, so a task
 * invoked with any input does no more than the workflow would. A key that is (no longer) managed,
 * not EXTERNAL or pending deletion is refused by name; anything else the plan would not do is
 * TaskInputRejected. Nothing is imported in either case.
 */
async function currentReport(
  deps: KmsStepDeps,
  action: Exclude<WorkItem['action'], 'rotate'>,
  stateReport: KeyReport,
  next: { keyMaterialId?: string },
  config: ReimportConfig,
  now: Date,
): Promise<KeyReport> {
  const report = await inspectKey(deps.kms, stateReport.keyId, retryOf(deps, config));
  const classification = classifyKey(report, config, now);
  if (classification.kind === 'not-managed') {
    throw new KeyNotManaged(`${classification.reason} WrapAndImport refused to import into it; nothing was imported.`, { keyId: report.keyId });
  }
  if (classification.kind === 'not-external' || classification.kind === 'pending-deletion') {
    throw new KeyNotEligible(`${classification.reason} WrapAndImport refused to import into it; nothing was imported.`, { keyId: report.keyId });
  }
  const { plan, targets } = planImports(report, classification, planAction(classification, action), config, now);
  const wanted = next.keyMaterialId;
  const planned = plan.action !== 'skip' && targets.some((t) => t === wanted || (t !== undefined && wanted !== undefined && t.toLowerCase() === wanted.toLowerCase()));
  if (!planned) {
    const what = wanted === undefined ? "the key's current material" : `material ${wanted}`;
    const fresh = plan.action === 'skip' ? `skip (${plan.reason})` : `${plan.action} ${targets.map((t) => t ?? 'the current material').join(', ')}`;
    throw new TaskInputRejected(
      `WrapAndImport for key ${report.keyId} was asked to import ${what} (${action}), but planned again from the key as KMS shows it now ` +
        `the run would ${fresh}. The key changed since Inspect, or the task was invoked with input the workflow never produced. ` +
        `Nothing was imported. Start a new run (action "plan" first) if the key still needs one.`,
      { keyId: report.keyId },
    );
  }
  return report;
}

/**
 * WrapAndImport: the only step that reads escrow, and the one that fetches the import parameters.
 * In ONE round trip: the key read again from KMS (currentReport, the re-check), GetParametersForImport
 * and the escrow read, both for the state's key; then, before any wrap or import, the fresh report
 * must name the same key, KeySpec, escrow secret and CreationDate and pass the re-check (otherwise
 * the material read is wiped and the named error thrown, nothing imported). Accepted: the
 * parameters are asked for before the re-check answers, so a forged input naming another managed
 * key spends one GetParametersForImport of the account's quota (IAM allows the call on managed keys
 * only, and parameters change nothing on the key); waiting for the re-check first would put one
 * more round trip on every recovery. Then it imports pending[0], moves
 * it to imported; no parameters stay in the state (each attempt fetches its own). Whether the token
 * is still good is KMS's call: an expired or spent token comes back as ImportTokenExpired and the
 * state machine runs this task again, which fetches new parameters.
 */
export async function wrapAndImportStep(deps: ImportStepDeps, input: unknown, config: ReimportConfig, now: Date): Promise<WorkflowState> {
  startCounting(deps);
  const state = parseWorkflowState(input);
  const stateReport = requireReport(state, 'WrapAndImport');
  // Refused before any call: no answer from KMS could make a rotation an import of escrowed material.
  if (state.workItem.action === 'rotate' || state.plan?.action === 'rotate') {
    throw new TaskInputRejected(
      `WrapAndImport for key ${stateReport.keyId} was given a rotate work item or plan: a rotation imports only through the Rotate task (new material, escrowed first). Nothing was imported.`,
      { keyId: stateReport.keyId },
    );
  }
  const [next, ...rest] = state.pending;
  if (next === undefined) {
    throw new WorkflowStateInvalid(`WrapAndImport for key ${stateReport.keyId} has no pending material; check the state machine wiring`);
  }
  const retry = retryOf(deps, config);
  const wrapping = chooseWrapping(stateReport.keySpec, config, stateReport.keyId);
  const current = currentReport(deps, state.workItem.action, stateReport, next, config, now);
  const params = getImportParameters(deps.kms, stateReport.keyId, wrapping, retry);
  const result = await importEscrowedMaterial(
    {
      kms: deps.kms,
      secrets: deps.secrets,
      ...(deps.logger ? { logger: deps.logger } : {}),
      ...(retry.sleep ? { sleep: retry.sleep } : {}),
      ...(retry.random ? { random: retry.random } : {}),
    },
    { report: stateReport, current, params, ...(next.keyMaterialId !== undefined ? { keyMaterialId: next.keyMaterialId } : {}), config, now },
  );
  const imported: WorkflowState['imported'][number] = { expirationModel: result.expirationModel };
  if (result.keyMaterialId !== undefined) imported.keyMaterialId = result.keyMaterialId;
  if (result.validTo !== undefined) imported.validTo = result.validTo;
  // A state from an older definition may still carry parameters: they are spent either way.
  const { params: _spent, ...withoutParams } = state as WorkflowState & { params?: unknown };
  return withCalls({ ...withoutParams, pending: rest, imported: [...state.imported, imported] }, deps);
}

export interface RotateStepDeps {
  kms: RecoverDeps['kms'];
  secrets: RecoverDeps['secrets'];
  logger?: RecoverDeps['logger'];
  calls?: CallCounter;
  /** Injected for tests: waits between retries and the pacing of GetParametersForImport. */
  sleep?: RecoverDeps['sleep'];
  /** Clients per Region for a Multi-Region primary's replicas (the handler makes them once); default: made per run. */
  kmsFor?: RotateDeps['kmsFor'];
  secretsFor?: RotateDeps['secretsFor'];
}

/** A failed rotation, under the engine's error name (RotationConflict, RotationLimitReached, ...) so that the state machine routes on it. */
class RotationFailed extends ReimportError {
  constructor(name: string, message: string, keyId: string) {
    super(message, { keyId });
    this.name = (REIMPORT_ERROR_NAMES as readonly string[]).includes(name) ? name : 'UnexpectedError';
  }
}

/**
 * The rotation id of this execution: from the day the execution started (the state's startedAt,
 * which Inspect sets once and keeps when it inspects again under the lease), not from the clock of
 * this invocation, so a retry of Rotate after midnight (ReplicaNotYetRotated, RotationConflict, a
 * Lambda error) continues the same rotation and never starts a second one.
 */
function executionRotationId(state: WorkflowState, now: Date): string {
  const started = Date.parse(state.startedAt);
  return defaultRotationId(Number.isNaN(started) ? now : new Date(started));
}

/**
 * Rotate: the whole rotation of the key, by the rotation engine (lib/rotate.ts rotateKey: in place
 * for SYMMETRIC_DEFAULT keys, alias swap for HMAC, RSA and ECC keys or past the 25-rotation cap when
 * configured). The state machine holds the key's lease, so the engine takes none; it does not trust
 * the state either: it reads the key from KMS again (by the ARN Inspect found), checks it is
 * eligible and chooses the mode again. The engine is crash-safe: a run interrupted after any step
 * (escrow written, imported, recorded, rotated; new key created, aliases half moved) is finished
 * by the next invocation, never repeated into a second new material or a second new key, so the
 * state machine may retry this task. Plaintext material exists only inside this task: only IDs,
 * alias names and the engine's reason come back. rotated → the state gets `rotation`, `imported`,
 * `verified` (the engine verifies: the new material encrypts, a ciphertext made before decrypts,
 * or the new key's round trip); skipped (the key changed since Inspect) → plan skip with the
 * reason; failed → the engine's named error is thrown with its reason.
 */
export async function rotateStep(deps: RotateStepDeps, input: unknown, config: ReimportConfig, now: Date): Promise<WorkflowState> {
  startCounting(deps);
  const state = parseWorkflowState(input);
  const stateReport = requireReport(state, 'Rotate');
  if (state.workItem.action !== 'rotate' || state.plan?.action !== 'rotate') {
    throw new TaskInputRejected(
      `Rotate for key ${stateReport.keyId} was given a ${state.workItem.action} work item with plan ${state.plan?.action ?? '(none)'}: it only runs a rotation Inspect planned. Nothing was done.`,
      { keyId: stateReport.keyId },
    );
  }
  const outcome = await rotateKey(
    {
      kms: deps.kms,
      secrets: deps.secrets,
      ...(deps.logger ? { logger: deps.logger } : {}),
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
      ...(deps.kmsFor ? { kmsFor: deps.kmsFor } : {}),
      ...(deps.secretsFor ? { secretsFor: deps.secretsFor } : {}),
    },
    stateReport.arn,
    { config, now: () => now, action: 'rotate', mode: 'auto', rotationId: executionRotationId(state, now) },
  );
  if (outcome.status === 'failed') {
    throw new RotationFailed(outcome.errorName ?? 'UnexpectedError', outcome.reason ?? `the rotation of key ${stateReport.keyId} failed`, stateReport.keyId);
  }
  if (outcome.status !== 'rotated') {
    const reason = outcome.reason ?? `the rotation engine did not rotate key ${stateReport.keyId}`;
    return withCalls({ ...state, plan: { action: 'skip', reason } }, deps);
  }
  const rotated: WorkflowState = {
    ...state,
    imported: outcome.imported.map((m) => ({ ...m })),
    verified: outcome.verified === true,
    ...(outcome.keyStateAfter ? { keyStateAfter: outcome.keyStateAfter } : {}),
    ...(outcome.rotation ? { rotation: { ...outcome.rotation } } : {}),
    ...(outcome.reason ? { rotationReason: outcome.reason } : {}),
  };
  return withCalls(rotated, deps);
}

/**
 * Verify: the key is Enabled and does a round trip fitting its usage. A key found Disabled after
 * the import (disabled before its material ran out, taken as deliberate) is left Disabled, not
 * tried further: verified false with keyStateAfter Disabled, which Report turns into recovered/renewed.
 * After an import in this run the probe goes first (the import's answer said the material is back)
 * and DescribeKey follows only when KMS refuses the probe for the key's state: one round trip less
 * on the critical path, as in the library's recovery. Without an import, DescribeKey goes first.
 */
export async function verifyStep(deps: KmsStepDeps, input: unknown, config: ReimportConfig, _now: Date): Promise<WorkflowState> {
  startCounting(deps);
  const state = parseWorkflowState(input);
  const report = requireReport(state, 'Verify');
  const verify = state.imported.length > 0 ? verifyAfterImport : verifyUnlessDisabled;
  const result = await verify(deps.kms, report, retryOf(deps, config));
  return withCalls({ ...state, verified: result.verified, keyStateAfter: result.keyState }, deps);
}

/**
 * The state Report works from. Every execution ends in Report, also one started with an input that
 * is no work item at all (an array, a string, null, an object without keyRef): InspectFailed then
 * hands Report that input as `workItem`. Such a state is not refused (that would end the run with no
 * outcome published); it becomes a failed outcome saying what the input was and how to start a run.
 */
function reportableState(input: unknown, now: Date): WorkflowState {
  try {
    return parseWorkflowState(input);
  } catch (e) {
    if (!(e instanceof WorkflowStateInvalid)) throw e;
    const obj = typeof input === 'object' && input !== null && !Array.isArray(input) ? (input as Record<string, unknown>) : {};
    const item = obj.workItem;
    const itemObj = typeof item === 'object' && item !== null && !Array.isArray(item) ? (item as Record<string, unknown>) : {};
    const keyRef = typeof itemObj.keyRef === 'string' && itemObj.keyRef.length > 0 ? itemObj.keyRef.slice(0, 300) : 'unknown';
    const shape = item === undefined ? 'no work item' : item === null ? 'null' : Array.isArray(item) ? 'an array' : typeof item === 'object' ? 'an object that is not a work item' : `a ${typeof item}`;
    const caught = obj.error as { Error?: unknown; Cause?: unknown } | undefined;
    return {
      workItem: { keyRef, action: 'auto', trigger: { source: 'unknown', detailType: 'unknown' } },
      startedAt: typeof obj.startedAt === 'string' ? obj.startedAt : now.toISOString(),
      pending: [],
      imported: [],
      tokenRefreshes: 0,
      error: {
        Error: 'WorkflowStateInvalid',
        Cause:
          `This execution was started with ${shape} as its input, not a work item ({"keyRef": "<key ID, ARN or alias>", "action": "recover" | "renew" | "plan" | "auto", "trigger": {...}}). ` +
          `Nothing was changed. Start runs through the trigger function (a manual event) or with a work item` +
          `${typeof caught?.Error === 'string' ? ` (the first step failed with ${caught.Error})` : ''}.`,
      },
    };
  }
}

/** Report: builds the outcome, publishes it and records its metric; returns the state with it. */
export async function reportStep(deps: ReportStepDeps, input: unknown, _config: ReimportConfig, now: Date): Promise<WorkflowState> {
  const state = reportableState(input, now);
  const outcome = buildOutcome(state, now);
  await deps.publish(outcome);
  deps.recordOutcome?.(outcome);
  return { ...state, outcome };
}
