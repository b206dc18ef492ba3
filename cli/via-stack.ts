/**
 * `recover|renew|rotate --via-stack NAME` (or `--state-machine ARN`): the deployed service does the
 * work, the command line watches it. The stack's state machine is found (its RecoveryStateMachineArn
 * output, else its RecoveryStateMachine resource); one execution is started for the key exactly as
 * the Trigger starts one for a manual request (lib/events normaliseEvent, then lib/workflow/start's
 * startWorkItem: the same deterministic name and input, so a run already going for this key in this
 * time bucket is followed instead of doubled); the execution's history is followed, each state entered
 * printed to stderr as it happens; the Report step's outcome is printed like a local run's.
 *
 * Step Functions and CloudFormation follow the SDK configuration (AWS_ENDPOINT_URL_SFN,
 * AWS_ENDPOINT_URL_CLOUDFORMATION, AWS_ENDPOINT_URL, the profile) with --region and --profile, not
 * --endpoint-url (that one is KMS and Secrets Manager's). Loaded only when such a command runs.
 */
import { CloudFormationClient, DescribeStackResourcesCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeExecutionCommand, paginateGetExecutionHistory, SFNClient, type DescribeExecutionOutput, type HistoryEvent } from '@aws-sdk/client-sfn';
import { keyIdOf } from '../lib/events/key-ref.js';
import { normaliseEvent } from '../lib/events/normalise.js';
import { isEventRejected } from '../lib/events/rejected.js';
import { summariseOutcome } from '../lib/outcome.js';
import type { Outcome } from '../lib/types.js';
import { startWorkItem } from '../lib/workflow/start.js';
import { progress, type AwsCliOptions } from './options.js';

/** The stack output and the logical ID of the recovery state machine (template.yaml). */
export const STATE_MACHINE_OUTPUT = 'RecoveryStateMachineArn';
export const STATE_MACHINE_RESOURCE = 'RecoveryStateMachine';

/** The deployed service could not be asked: no such stack, no state machine in it, a malformed ARN, a request it refused. */
export class DeployedServiceUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DeployedServiceUnavailable';
  }
}

export interface ViaStackOptions extends AwsCliOptions {
  viaStack?: string;
  stateMachine?: string;
  json?: boolean;
  /** Pause between two looks at the execution (default 1000 ms). */
  pollMs?: number;
}

export interface ViaStackDeps {
  sfn: Pick<SFNClient, 'send'>;
  cloudFormation: Pick<CloudFormationClient, 'send'>;
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
  /** Progress lines (default: stderr). */
  progress?: (line: string) => void;
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** The state machine ARN: the stack's RecoveryStateMachineArn output, else its RecoveryStateMachine resource. */
export async function findStateMachine(cloudFormation: Pick<CloudFormationClient, 'send'>, stackName: string): Promise<string> {
  let stack;
  try {
    stack = (await cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
  } catch (error) {
    throw new DeployedServiceUnavailable(
      `Could not read stack ${stackName} (${errorText(error)}): check the stack name, --region and --profile, and cloudformation:DescribeStacks; or give --state-machine <RecoveryStateMachineArn output>.`,
      { cause: error },
    );
  }
  if (!stack) throw new DeployedServiceUnavailable(`No stack ${stackName} in this account and Region: check the name, --region and --profile.`);
  const output = stack.Outputs?.find((o) => o.OutputKey === STATE_MACHINE_OUTPUT)?.OutputValue;
  if (output) return output;
  const resources = await cloudFormation.send(new DescribeStackResourcesCommand({ StackName: stackName, LogicalResourceId: STATE_MACHINE_RESOURCE }));
  const physical = resources.StackResources?.find((r) => r.LogicalResourceId === STATE_MACHINE_RESOURCE)?.PhysicalResourceId;
  if (physical) return physical;
  throw new DeployedServiceUnavailable(
    `Stack ${stackName} has no ${STATE_MACHINE_OUTPUT} output and no ${STATE_MACHINE_RESOURCE} resource: is it a kms-reimport stack? Give --state-machine <arn> instead.`,
  );
}

/** account, Region and partition of a state machine ARN (arn:PARTITION:states:REGION:ACCOUNT:stateMachine:NAME). */
export function scopeOfStateMachine(arn: string): { partition: string; region: string; account: string } {
  const parts = arn.split(':');
  if (parts.length !== 7 || parts[0] !== 'arn' || parts[2] !== 'states' || parts[5] !== 'stateMachine' || !parts[1] || !parts[3] || !parts[4] || !parts[6]) {
    throw new DeployedServiceUnavailable(`${arn} is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>).`);
  }
  return { partition: parts[1], region: parts[3], account: parts[4] };
}

/** The execution ARN Step Functions gives an execution `name` of `stateMachineArn`. */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
}

/** A line for the history events a person follows: states entered, and what failed. */
export function describeEvent(event: HistoryEvent): string | undefined {
  switch (event.type) {
    case 'ExecutionStarted':
      return 'execution started';
    case 'ExecutionSucceeded':
      return 'execution succeeded';
    case 'ExecutionFailed':
      return `execution failed: ${event.executionFailedEventDetails?.error ?? 'unknown error'}`;
    case 'ExecutionTimedOut':
      return 'execution timed out';
    case 'ExecutionAborted':
      return 'execution aborted';
    case 'TaskFailed':
    case 'LambdaFunctionFailed':
      return `  step failed: ${event.taskFailedEventDetails?.error ?? event.lambdaFunctionFailedEventDetails?.error ?? 'unknown error'}`;
    default:
      if (event.type?.endsWith('StateEntered')) return `→ ${event.stateEnteredEventDetails?.name ?? '?'}`;
      return undefined;
  }
}

/** The outcome the Report step wrote (its output is `{ outcome }`), the last one in the history. */
export function reportedOutcome(events: readonly HistoryEvent[]): Outcome | undefined {
  for (let i = events.length - 1; i >= 0; i--) {
    const exited = events[i]!.stateExitedEventDetails;
    if (exited?.name !== 'Report' || !exited.output) continue;
    try {
      const outcome = (JSON.parse(exited.output) as { outcome?: Outcome }).outcome;
      if (outcome && typeof outcome.status === 'string') return outcome;
    } catch {
      // A Report output that is not JSON: no outcome from it.
    }
  }
  return undefined;
}

/** A failed outcome for an execution that ended without one (the Report step failed, or it was aborted or timed out). */
function outcomeWithoutReport(
  action: 'recover' | 'renew' | 'rotate',
  keyRef: string,
  executionArn: string,
  execution: DescribeExecutionOutput,
  finishedAt: Date,
): Outcome {
  const startedAt = execution.startDate ?? finishedAt;
  const ended = execution.stopDate ?? finishedAt;
  const why = execution.error ? ` with ${execution.error}${execution.cause ? `: ${execution.cause}` : ''}` : '';
  return {
    status: 'failed',
    keyId: keyIdOf(keyRef) ?? keyRef,
    requestedRef: keyRef,
    action,
    errorName: 'WorkflowEndedWithoutOutcome',
    reason:
      `Execution ${executionArn} ended ${execution.status ?? 'UNKNOWN'}${why}, without an outcome from its Report step. ` +
      `The key may or may not have been changed: check it with \`kms-reimport plan ${keyRef}\` and the execution's history.`,
    imported: [],
    startedAt: startedAt.toISOString(),
    finishedAt: ended.toISOString(),
    durationMs: Math.max(0, ended.getTime() - startedAt.getTime()),
    calls: {},
  };
}

/**
 * Starts (or joins) the execution for one key and follows it to its end. Returns the outcome the
 * workflow reported, or a failed outcome saying it reported none.
 */
export async function runThroughStateMachine(
  deps: ViaStackDeps,
  action: 'recover' | 'renew' | 'rotate',
  keyRef: string,
  target: { stateMachineArn?: string; stackName?: string },
  pollMs = 1000,
): Promise<Outcome> {
  const say = deps.progress ?? progress;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = deps.now ?? (() => new Date());
  const stateMachineArn = target.stateMachineArn ?? (await findStateMachine(deps.cloudFormation, target.stackName as string));
  const scope = scopeOfStateMachine(stateMachineArn);
  say(`state machine ${stateMachineArn}`);

  // The manual request, checked exactly as the Trigger checks it (the service's own account and Region).
  let items;
  try {
    items = normaliseEvent({ action, keyId: keyRef }, scope);
  } catch (error) {
    if (isEventRejected(error)) throw new DeployedServiceUnavailable(`The deployed service would refuse ${action} for ${keyRef}: ${error.reason}.`, { cause: error });
    throw error;
  }
  const item = items[0]!;
  let started;
  try {
    started = await startWorkItem({ sfn: deps.sfn, stateMachineArn }, item, now());
  } catch (error) {
    throw new DeployedServiceUnavailable(
      `Could not start ${action} for ${keyRef} on ${stateMachineArn} (${errorText(error)}): check states:StartExecution for your credentials.`,
      { cause: error },
    );
  }
  const executionArn = started.executionArn ?? executionArnOf(stateMachineArn, started.executionName);
  say(
    started.status === 'started'
      ? `execution ${executionArn} started`
      : `execution ${executionArn} already exists for this key and time window (another trigger, or a run just finished): following it`,
  );

  const seen = new Set<number>();
  const events: HistoryEvent[] = [];
  const readHistory = async () => {
    for await (const page of paginateGetExecutionHistory({ client: deps.sfn as SFNClient }, { executionArn, maxResults: 1000 })) {
      for (const event of page.events ?? []) {
        if (event.id === undefined || seen.has(event.id)) continue;
        seen.add(event.id);
        events.push(event);
        const line = describeEvent(event);
        if (line) say(line);
      }
    }
  };
  let execution: DescribeExecutionOutput;
  try {
    for (;;) {
      execution = await deps.sfn.send(new DescribeExecutionCommand({ executionArn }));
      await readHistory();
      if (execution.status !== 'RUNNING' && execution.status !== 'PENDING_REDRIVE') break;
      await sleep(pollMs);
    }
  } catch (error) {
    throw new DeployedServiceUnavailable(
      `Could not follow execution ${executionArn} (${errorText(error)}); it runs on without this command: check states:DescribeExecution and ` +
        'states:GetExecutionHistory for your credentials, or follow it in the Step Functions console. Its outcome also goes to the stack\'s outcome topic.',
      { cause: error },
    );
  }
  return reportedOutcome(events) ?? outcomeWithoutReport(action, keyRef, executionArn, execution, now());
}

/** The command: clients from --region/--profile and the SDK configuration, the outcome printed like a local run's. */
export async function runViaStack(
  action: 'recover' | 'renew' | 'rotate',
  keyRef: string,
  options: ViaStackOptions,
  print: (line: string) => void = console.log,
): Promise<Outcome> {
  const config = { ...(options.region ? { region: options.region } : {}), ...(options.profile ? { profile: options.profile } : {}) };
  const sfn = new SFNClient(config);
  const cloudFormation = new CloudFormationClient(config);
  try {
    const outcome = await runThroughStateMachine(
      { sfn, cloudFormation },
      action,
      keyRef,
      options.stateMachine ? { stateMachineArn: options.stateMachine } : { stackName: options.viaStack as string },
      options.pollMs,
    );
    print(options.json ? JSON.stringify(outcome, null, 2) : summariseOutcome(outcome));
    return outcome;
  } finally {
    sfn.destroy();
    cloudFormation.destroy();
  }
}
