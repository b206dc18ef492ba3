/**
 * Runs statemachine/recovery.asl.json locally with aws-local-stepfunctions, each Task bound to a
 * local function, and records what happened: the result or the failure, and every event (state
 * inputs and outputs included) so that tests can assert on routes and search for leaks.
 * Shared by test/unit/asl-paths.test.ts (contract fakes) and test/e2e/workflow.test.ts (the
 * real handlers). Not a test file itself.
 */
import { StateMachine, ExecutionError } from 'aws-local-stepfunctions';
import { aslPlaceholders, fakeSubstitutions, loadAslText, loadSubstitutedAsl, type Json } from './template-load.js';

// aws-local-stepfunctions 3 uses Promise.withResolvers (Node 22); the project runs tests on Node 20.
const promiseCtor = Promise as unknown as { withResolvers?: () => unknown };
if (typeof promiseCtor.withResolvers !== 'function') {
  promiseCtor.withResolvers = function withResolvers<T>() {
    let resolve!: (value: T) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

export const TASK_STATES = ['Inspect', 'GetImportParameters', 'WrapAndImport', 'Verify', 'Report'] as const;
export type TaskStateName = (typeof TASK_STATES)[number];

/** The deploy-time substitutions the local runs use (fake ARNs; the tasks are bound locally). */
export const SUBSTITUTIONS = fakeSubstitutions(aslPlaceholders(loadAslText()));

export type TaskHandler = (input: Json) => Promise<Json> | Json;

export interface RunWorkflowOptions {
  /** One local function per Task state (the five Lambda steps and NotifyReportFailure). */
  handlers: Record<TaskStateName, TaskHandler> & { NotifyReportFailure?: TaskHandler };
  input: Json;
  executionName?: string;
}

export interface WorkflowRun {
  status: 'SUCCEEDED' | 'FAILED';
  output?: Json;
  /** The Fail state's or the uncaught error's name and cause. */
  error?: { name: string; cause: string };
  events: Json[];
  /** Names of the states entered, in order. */
  path: string[];
}

/** Runs one execution to its end; retry and Wait-state waits are overridden to 0 ms (the test never sleeps). */
export async function runWorkflow(options: RunWorkflowOptions): Promise<WorkflowRun> {
  const definition = loadSubstitutedAsl(SUBSTITUTIONS);
  const machine = new StateMachine(definition);
  const retryIntervalOverrides: Record<string, number> = {};
  const waitTimeOverrides: Record<string, number> = {};
  for (const [name, state] of Object.entries<Json>(definition.States)) {
    if (state.Retry) retryIntervalOverrides[name] = 0;
    if (state.Type === 'Wait') waitTimeOverrides[name] = 0;
  }
  const name = options.executionName ?? `local-${Math.random().toString(36).slice(2)}`;
  const notify: TaskHandler =
    options.handlers.NotifyReportFailure ??
    (() => {
      throw Object.assign(new Error('no NotifyReportFailure handler in this test'), { name: 'SNS.NotConfigured' });
    });
  const execution = machine.run(options.input, {
    overrides: {
      taskResourceLocalHandlers: { ...options.handlers, NotifyReportFailure: notify } as never,
      retryIntervalOverrides,
      waitTimeOverrides,
    },
    context: {
      Execution: {
        Id: `arn:aws:states:us-east-1:111122223333:execution:kms-reimport-test-RecoveryStateMachine:${name}`,
        Name: name,
        Input: options.input,
        StartTime: new Date().toISOString(),
      },
    } as never,
  });
  const events: Json[] = [];
  const collecting = (async () => {
    for await (const event of execution.eventLogs) events.push(event);
  })();
  let run: Omit<WorkflowRun, 'events' | 'path'>;
  try {
    run = { status: 'SUCCEEDED', output: await execution.result };
  } catch (error) {
    if (!(error instanceof ExecutionError)) throw error;
    const cause = (error as Error & { cause?: Error & { cause?: unknown } }).cause;
    run = { status: 'FAILED', error: { name: cause?.name ?? 'unknown', cause: String(cause?.message ?? '') } };
  }
  await collecting;
  const path = events.filter((e) => e.type === 'StateEntered').map((e) => e.state.name as string);
  return { ...run, events, path };
}

/** How many times a state was entered. */
export function timesEntered(run: WorkflowRun, state: string): number {
  return run.path.filter((s) => s === state).length;
}

/** The input the Report task received (the last one). */
export function reportInput(run: WorkflowRun): Json {
  const entered = run.events.filter((e) => e.type === 'StateEntered' && e.state.name === 'Report');
  return entered.at(-1)?.state.input;
}
