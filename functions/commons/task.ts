/**
 * The shape every workflow task handler shares: put the run's keyId, action and execution name on
 * every log line, run the step, log its result or its error, and rethrow errors unchanged (the
 * state machine routes on their names).
 */
import { toNamedError } from '../../lib/errors.js';
import { keyIdOf } from '../../lib/events/key-ref.js';
import type { WorkflowState } from '../../lib/workflow/state.js';
import { logger } from './powertools.js';

/** keyId / action / executionName from a task input (the work item or the state document). */
export function runKeys(input: unknown): { keyId: string; action: string; executionName: string } {
  const obj = (typeof input === 'object' && input !== null ? input : {}) as Record<string, unknown>;
  const item = (typeof obj.workItem === 'object' && obj.workItem !== null ? obj.workItem : obj) as Record<string, unknown>;
  const report = obj.report as { keyId?: unknown } | undefined;
  const keyRef = typeof item.keyRef === 'string' ? item.keyRef : 'unknown';
  return {
    keyId: typeof report?.keyId === 'string' ? report.keyId : (keyIdOf(keyRef) ?? keyRef),
    action: typeof item.action === 'string' ? item.action : 'unknown',
    executionName: typeof item.executionName === 'string' ? item.executionName : 'unknown',
  };
}

export async function runTask(
  step: string,
  input: unknown,
  work: () => Promise<WorkflowState>,
  summarise: (state: WorkflowState) => Record<string, unknown>,
): Promise<WorkflowState> {
  logger.appendKeys({ ...runKeys(input), step });
  logger.info(`${step} started`);
  try {
    const state = await work();
    if (state.report?.keyId) logger.appendKeys({ keyId: state.report.keyId });
    logger.info(`${step} done`, summarise(state));
    return state;
  } catch (caught) {
    // The state machine routes on error names and the outcome carries them: an AWS or JavaScript
    // error (AccessDeniedException, SyntaxError, ...) becomes one of ours, naming the call and the
    // next step. WorkflowStateInvalid (a wiring or input problem) keeps its own name.
    const error = caught instanceof Error && caught.name === 'WorkflowStateInvalid' ? caught : toNamedError(caught, runKeys(input).keyId);
    logger.error(`${step} failed`, { errorName: error.name, errorMessage: error.message });
    throw error;
  }
}
