/**
 * Runs statemachine/recovery.asl.json locally with aws-local-stepfunctions, each Task bound to a
 * local function, and records what happened: the result or the failure, and every event (state
 * inputs and outputs included) so that tests can assert on routes and search for leaks.
 * Shared by test/unit/asl-paths.test.ts (contract fakes) and test/e2e/workflow.test.ts (the
 * real handlers). Not a test file itself.
 *
 * The state machine's own DynamoDB tasks (the per-key lease: dynamodb:putItem / getItem /
 * deleteItem) send the real request, with the ASL's parameters, to a real DynamoDB (dynalite, on
 * 127.0.0.1): the one given in options.dynamodb, else one per process, started on first use,
 * closed by closeWorkflowDynamo() (and unref'd, so it never keeps the process alive). DynamoDB's
 * errors reach the ASL as Step Functions names them: `DynamoDB.<exception name>`.
 *
 * aws-local-stepfunctions 3 evaluates JSONPath only: a state with QueryLanguage JSONata (the
 * lease's clock, LeaseTerms) is run here by evaluating its Output with the JSONata library, with
 * $states.input and $states.context (Execution, StateMachine, State.EnteredTime) as Step Functions binds them.
 */
import { StateMachine, ExecutionError } from 'aws-local-stepfunctions';
import jsonata from 'jsonata';
import { DeleteItemCommand, GetItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { localDynamoClient, startDynalite, type LocalDynamo } from '../support/dynalite.js';
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

export const TASK_STATES = ['Inspect', 'WrapAndImport', 'Verify', 'Rotate', 'Report'] as const;
export type TaskStateName = (typeof TASK_STATES)[number];

/** The deploy-time substitutions the local runs use (fake ARNs; the tasks are bound locally). */
export const SUBSTITUTIONS = fakeSubstitutions(aslPlaceholders(loadAslText()));

export type TaskHandler = (input: Json) => Promise<Json> | Json;

export interface RunWorkflowOptions {
  /** One local function per Task state (the five Lambda steps and NotifyReportFailure); Reinspect runs the Inspect one. */
  handlers: Record<TaskStateName, TaskHandler> & { NotifyReportFailure?: TaskHandler };
  input: Json;
  executionName?: string;
  /**
   * The DynamoDB the lease tasks talk to (a table named SUBSTITUTIONS.LeaseTableName must exist
   * there). Unset: the process's shared dynalite, with that table.
   */
  dynamodb?: { endpoint: string };
  /** The clock of $states.context.State.EnteredTime in JSONata states (default: now). */
  now?: () => Date;
  /**
   * The state machine's ARN ($states.context.StateMachine.Id: its partition, Region and account make
   * a bare key ID the key's ARN); the execution's ARN is made from it. Default: STATE_MACHINE_ARN.
   */
  stateMachineArn?: string;
}

/** The state machine local runs are executions of (the e2e harness's stack, Region and account). */
export const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:111122223333:stateMachine:kms-reimport-test-RecoveryStateMachine';

/** The table the ASL's ${LeaseTableName} names in local runs. */
export const LEASE_TABLE = SUBSTITUTIONS.LeaseTableName as string;

let shared: Promise<LocalDynamo> | undefined;

/** The process's shared dynalite (started on first use, with the lease table). */
export function workflowDynamo(): Promise<LocalDynamo> {
  shared ??= (async () => {
    const dynamo = await startDynalite({ unref: true });
    await dynamo.createLeaseTable(LEASE_TABLE);
    return dynamo;
  })();
  return shared;
}

/** Closes the shared dynalite if one was started. */
export async function closeWorkflowDynamo(): Promise<void> {
  const started = shared;
  shared = undefined;
  if (started) await (await started).close();
}

const DYNAMODB_INTEGRATIONS: Record<string, (client: DynamoDBClient, input: Json) => Promise<Json>> = {
  'arn:aws:states:::dynamodb:putItem': (client, input) => client.send(new PutItemCommand(input)),
  'arn:aws:states:::dynamodb:getItem': (client, input) => client.send(new GetItemCommand(input)),
  'arn:aws:states:::dynamodb:deleteItem': (client, input) => client.send(new DeleteItemCommand(input)),
};

/** A Step Functions DynamoDB integration task, run against a real DynamoDB. */
function dynamoTask(resource: string, client: () => Promise<DynamoDBClient>): TaskHandler {
  const call = DYNAMODB_INTEGRATIONS[resource];
  if (!call) throw new Error(`no local DynamoDB integration for ${resource}`);
  return async (input) => {
    try {
      const { $metadata: _metadata, ...result } = await call(await client(), input);
      return result;
    } catch (error) {
      const name = (error as Error).name;
      // Step Functions names a service error `DynamoDB.<exception>`; the message stays DynamoDB's.
      throw Object.assign(new Error((error as Error).message), { name: `DynamoDB.${name}` });
    }
  };
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
  const name = options.executionName ?? `local-${Math.random().toString(36).slice(2)}`;
  const stateMachineId = options.stateMachineArn ?? STATE_MACHINE_ARN;
  const stateMachineContext = { Id: stateMachineId, Name: stateMachineId.split(':').at(-1) as string };
  const executionContext = {
    Id: `${stateMachineId.replace(':stateMachine:', ':execution:')}:${name}`,
    Name: name,
    Input: options.input,
    StartTime: new Date().toISOString(),
  };
  const given = options.dynamodb;
  let ownClient: DynamoDBClient | undefined;
  const dynamoClient = async () => (given ? (ownClient ??= localDynamoClient(given.endpoint)) : (await workflowDynamo()).client);
  const local: Record<string, TaskHandler> = {};
  for (const [stateName, state] of Object.entries<Json>(definition.States)) {
    if (state.QueryLanguage === 'JSONata') {
      if (state.Type !== 'Pass' || typeof state.Output !== 'string') throw new Error(`${stateName}: only JSONata Pass states with an Output run locally`);
      const expression = jsonata(state.Output.replace(/^\{%([\s\S]*)%\}$/, '$1'));
      const clock = options.now ?? (() => new Date());
      definition.States[stateName] = { Type: 'Task', Resource: `arn:aws:states:::local:jsonata:${stateName}`, Comment: state.Comment, Next: state.Next };
      local[stateName] = (input) =>
        expression.evaluate({}, { states: { input, context: { Execution: executionContext, StateMachine: stateMachineContext, State: { Name: stateName, EnteredTime: clock().toISOString() } } } });
    } else if (typeof state.Resource === 'string' && state.Resource.startsWith('arn:aws:states:::dynamodb:')) {
      local[stateName] = dynamoTask(state.Resource, dynamoClient);
    }
  }
  local.Reinspect = options.handlers.Inspect;
  const machine = new StateMachine(definition);
  const retryIntervalOverrides: Record<string, number> = {};
  const waitTimeOverrides: Record<string, number> = {};
  for (const [stateName, state] of Object.entries<Json>(definition.States)) {
    if (state.Retry) retryIntervalOverrides[stateName] = 0;
    if (state.Type === 'Wait') waitTimeOverrides[stateName] = 0;
  }
  const notify: TaskHandler =
    options.handlers.NotifyReportFailure ??
    (() => {
      throw Object.assign(new Error('no NotifyReportFailure handler in this test'), { name: 'SNS.NotConfigured' });
    });
  const execution = machine.run(options.input, {
    overrides: {
      taskResourceLocalHandlers: { ...local, ...options.handlers, NotifyReportFailure: notify } as never,
      retryIntervalOverrides,
      waitTimeOverrides,
    },
    context: { Execution: executionContext, StateMachine: stateMachineContext } as never,
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
  ownClient?.destroy();
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
