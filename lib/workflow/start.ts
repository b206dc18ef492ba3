/**
 * Starting workflow executions for work items, one per key, with deterministic names.
 *
 * Step Functions StartExecution with an existing name and the same input returns the running
 * execution; with a different input (another trigger source for the same key), or when the
 * execution with that name already finished, it fails ExecutionAlreadyExists. Both mean "this
 * key is already being (or was just) worked on": not an error.
 */
import { StartExecutionCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { executionInput, executionName, type ExecutionNameOptions } from '../events/execution-name.js';
import { keyIdOf } from '../events/key-ref.js';
import type { WorkItem } from '../events/work-item.js';

export interface StartDeps {
  sfn: Pick<SFNClient, 'send'>;
  stateMachineArn: string;
}

export type StartStatus = 'started' | 'already-running' | 'failed' | 'deferred' | 'dry-run';

export interface StartResult {
  keyRef: string;
  action: WorkItem['action'];
  executionName: string;
  status: StartStatus;
  executionArn?: string;
  /** For failed: the AWS error name and message (never material: inputs hold none). */
  error?: string;
}

export interface StartOptions extends ExecutionNameOptions {
  /** Wait this long between two StartExecution calls (pacing; default 0). */
  intervalMs?: number;
  /** Returns false when no more executions should be started (e.g. the Lambda is nearly out of time). */
  canContinue?: () => boolean;
  /** Compute names and inputs, start nothing. */
  dryRun?: boolean;
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
}

function errorName(e: unknown): string {
  return e instanceof Error ? e.name : 'Error';
}

/** Starts one execution for one work item. Throws only for errors other than "already exists". */
export async function startWorkItem(deps: StartDeps, item: WorkItem, now: Date, opts: ExecutionNameOptions = {}): Promise<StartResult> {
  const name = executionName(item, keyIdOf(item.keyRef), now, opts);
  const base = { keyRef: item.keyRef, action: item.action, executionName: name };
  try {
    const out = await deps.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: deps.stateMachineArn,
        name,
        input: JSON.stringify(executionInput(item, name)),
      }),
    );
    const result: StartResult = { ...base, status: 'started' };
    if (out?.executionArn) result.executionArn = out.executionArn;
    return result;
  } catch (e) {
    if (errorName(e) === 'ExecutionAlreadyExists') return { ...base, status: 'already-running' };
    throw e;
  }
}

/**
 * Starts executions for items in order, pacing them by `intervalMs`, and never throwing for one
 * item: a failure is recorded and the rest go on. Items left when `canContinue` says stop are
 * `deferred` (the next sweep picks them up; outages come first in the order, so they go first).
 */
export async function startWorkItems(deps: StartDeps, items: readonly WorkItem[], opts: StartOptions = {}): Promise<StartResult[]> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = opts.now ?? (() => new Date());
  const results: StartResult[] = [];
  let calls = 0;
  for (const item of items) {
    const name = executionName(item, keyIdOf(item.keyRef), now(), opts);
    const base = { keyRef: item.keyRef, action: item.action, executionName: name };
    if (opts.dryRun) {
      results.push({ ...base, status: 'dry-run' });
      continue;
    }
    if (opts.canContinue && !opts.canContinue()) {
      results.push({ ...base, status: 'deferred' });
      continue;
    }
    if (calls > 0 && opts.intervalMs) await sleep(opts.intervalMs);
    calls++;
    try {
      results.push(await startWorkItem(deps, item, now(), opts));
    } catch (e) {
      results.push({ ...base, status: 'failed', error: `${errorName(e)}: ${e instanceof Error ? e.message : String(e)}` });
    }
  }
  return results;
}
