/** The workflow's step logic (what the task handlers call) and the execution starters. */
export {
  inspectStep,
  wrapAndImportStep,
  verifyStep,
  reportStep,
  type KmsStepDeps,
  type ImportStepDeps,
  type ReportStepDeps,
} from './steps.js';
export { parseWorkflowState, parseWorkItem, addCalls, WorkflowStateInvalid, type WorkflowState, type StepError } from './state.js';
export { buildOutcome, causeMessage } from './outcome.js';
export { snsPublisher, outcomeSubject, outcomeMetricName, type PublishOutcome } from './publish.js';
export { startWorkItem, startWorkItems, type StartDeps, type StartOptions, type StartResult, type StartStatus } from './start.js';
export { createCallCounter, type CallCounter } from './calls.js';
