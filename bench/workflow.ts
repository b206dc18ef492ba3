/**
 * One recovery through the workflow: statemachine/recovery.asl.json run by aws-local-stepfunctions
 * (test/unit/asl-run.ts), each task bound to its REAL handler module (functions/*.ts, loaded in
 * this process with the environment the template gives them), against the endpoint of the
 * recovery samples (per-call latency L on every KMS and Secrets Manager call). The lease tasks go
 * to a local DynamoDB (dynalite) and the Report task's SNS Publish to a stand-in on 127.0.0.1,
 * neither with latency; Lambda invocation and state transitions cost nothing here, so the figure
 * is the engine's own chain, not Step Functions' overhead.
 */
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { listenLocally, readBody } from '../test/support/http.js';
import { lambdaContext } from '../test/support/lambda.js';
import type { LocalAws } from '../test/support/local-aws.js';
import { endpointCalls, timeOne, type NextKey } from './recovery.js';
import { closeWorkflowDynamo, runWorkflow, SUBSTITUTIONS, TASK_STATES, workflowDynamo, type TaskHandler, type TaskStateName } from '../test/unit/asl-run.js';
import { loadTemplate, type Json } from '../test/unit/template-load.js';
import { CREDENTIALS, median, REGION, round } from './measure.js';

/** The account the harness's keys live in (the endpoint's default account). */
const KEY_ACCOUNT = '000000000000';
const STATE_MACHINE_ARN = `arn:aws:states:${REGION}:${KEY_ACCOUNT}:stateMachine:kms-reimport-bench-RecoveryStateMachine`;
const HANDLER_FILES: Record<TaskStateName, string> = {
  Inspect: 'inspect',
  WrapAndImport: 'wrap-and-import',
  Verify: 'verify',
  Rotate: 'rotate',
  Report: 'report',
};

export interface WorkflowTiming {
  /** The whole execution: ExecutionStarted -> ExecutionSucceeded (median). */
  ms: number | null;
  /** Time to recovery: ExecutionStarted -> the end of the Verify task (StateExited), the moment the key is proven usable (median). */
  toRecoveryMs?: number;
  skipped?: string;
  /** Mean time per execution spent inside each task's handler (the rest is the interpreter and the lease). */
  taskMs?: Record<string, number>;
  /** KMS and Secrets Manager calls per execution. */
  calls?: number;
  /** Per task handler, per execution: times run (Inspect runs as Reinspect under the lease, and twice for an alias), calls made, ms inside. */
  tasks?: Record<string, { runs: number; calls: number; ms: number }>;
}

type Handler = (event: unknown, context: Context) => Promise<Json>;

function context(name: string): Context {
  return { ...lambdaContext(`kms-reimport-bench-${name}`), invokedFunctionArn: `arn:aws:lambda:${REGION}:${KEY_ACCOUNT}:function:kms-reimport-bench-${name}` };
}

/** Powertools' JSON log and metric lines go to stdout; the bench's table must stay readable. */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (text.trimStart().startsWith('{')) {
      (rest.find((r) => typeof r === 'function') as (() => void) | undefined)?.();
      return true;
    }
    return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
  }) as typeof process.stdout.write;
  try {
    return await fn();
  } finally {
    process.stdout.write = write;
  }
}

/** One way of measuring: per-call latency and samples. */
export interface WorkflowLatency {
  latencyMs: number;
  samples: number;
}

/**
 * The workflow at each latency in turn, one timing each, with one set of handlers, one SNS
 * stand-in and one lease table for all: the handler modules are loaded once and keep the clients
 * they made (the Report task's SNS client keeps the stand-in's address).
 */
export async function benchWorkflow(aws: LocalAws, latencies: WorkflowLatency[], nextKey: NextKey): Promise<WorkflowTiming[]> {
  const sns = createServer((req, res) => {
    void readBody(req).then(() => {
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(`<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${randomUUID()}</MessageId></PublishResult></PublishResponse>`);
    });
  });
  const snsUrl = await listenLocally(sns);
  const saved = { ...process.env };
  const handlers = {} as Record<TaskStateName, TaskHandler>;
  let taskMs: Record<string, number[]> = {};
  let taskCalls: Record<string, number> = {};
  let taskRuns: Record<string, number> = {};
  try {
    const template = loadTemplate();
    for (const [name, value] of Object.entries<Json>(template.Globals.Function.Environment.Variables)) {
      process.env[name] = typeof value === 'string' ? value : String(template.Parameters[value.Ref].Default);
    }
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: aws.endpoint.url,
      AWS_ENDPOINT_URL_SNS: snsUrl,
      AWS_REGION: REGION,
      AWS_DEFAULT_REGION: REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      OUTCOME_TOPIC_ARN: SUBSTITUTIONS.OutcomeTopicArn as string,
      KMS_REIMPORT_WRAPPING_KEY_SPEC: 'RSA_2048',
    });
    delete process.env.NODE_OPTIONS;
    for (const state of TASK_STATES) {
      const module = (await import(`../functions/${HANDLER_FILES[state]}.ts`)) as { handler: Handler };
      handlers[state] = async (input) => {
        const started = performance.now();
        const callsBefore = endpointCalls(aws);
        try {
          return await module.handler(input, context(state));
        } finally {
          (taskMs[state] ??= []).push(performance.now() - started);
          taskCalls[state] = (taskCalls[state] ?? 0) + endpointCalls(aws) - callsBefore;
          taskRuns[state] = (taskRuns[state] ?? 0) + 1;
        }
      };
    }
    await workflowDynamo();
    const timings: WorkflowTiming[] = [];
    for (const { latencyMs, samples } of latencies) {
      taskMs = {};
      taskCalls = {};
      taskRuns = {};
      timings.push(await measureAt(latencyMs, samples));
    }
    return timings;
  } finally {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
    sns.close();
    await closeWorkflowDynamo();
  }

  async function measureAt(latencyMs: number, samples: number): Promise<WorkflowTiming> {
    const times: number[] = [];
    const toRecovery: number[] = [];
    let calls = 0;
    for (let i = 0; i < samples; i++) {
      const key = await nextKey();
      key.material.fill(0);
      const timed = await timeOne(aws, latencyMs, () =>
        quietly(() =>
          runWorkflow({
            handlers,
            input: { keyRef: key.keyId, action: 'recover', trigger: { source: 'manual', detailType: 'manual' } },
            executionName: `bench-${i}-${key.keyId}`,
            // The keys' own account and Region: the state machine makes the key ID an ARN from them to lease it before the one Inspect.
            stateMachineArn: STATE_MACHINE_ARN,
          }),
        ),
      );
      const run = timed.result;
      calls = timed.calls;
      // From the execution's start to its end, by the interpreter's own event times (ms): what
      // runWorkflow does before (parsing and validating the definition) is no part of a recovery.
      const at = (type: string) => run.events.find((e) => e.type === type)?.timestamp as number | undefined;
      const startedAt = at('ExecutionStarted');
      const endedAt = at('ExecutionSucceeded');
      // The key is proven usable when Verify ends (Encrypt and Decrypt answered); ReleaseLease and Report follow.
      const verifiedAt = run.events.filter((e) => e.type === 'StateExited' && e.state?.name === 'Verify').at(-1)?.timestamp as number | undefined;
      const outcome = run.output?.outcome ?? run.output;
      if (run.status !== 'SUCCEEDED' || JSON.stringify(outcome ?? {}).indexOf('"recovered"') < 0) {
        return { ms: null, skipped: `the workflow did not recover the key (${run.status}${run.error ? `: ${run.error.name}` : ''}; path ${run.path.join(' > ')})` };
      }
      if (startedAt === undefined || endedAt === undefined) return { ms: null, skipped: 'the workflow run recorded no ExecutionStarted/ExecutionSucceeded event times' };
      if (verifiedAt === undefined) return { ms: null, skipped: `the workflow run recorded no end of the Verify task (path ${run.path.join(' > ')})` };
      times.push(endedAt - startedAt);
      toRecovery.push(verifiedAt - startedAt);
    }
    const perTask = Object.fromEntries(Object.entries(taskMs).map(([state, list]) => [state, Math.round(list.reduce((a, b) => a + b, 0) / samples)]));
    const tasks = Object.fromEntries(
      Object.keys(taskRuns).map((state) => [state, { runs: round(taskRuns[state]! / samples, 1), calls: round(taskCalls[state]! / samples, 1), ms: perTask[state]! }]),
    );
    return { ms: median(times), toRecoveryMs: median(toRecovery), taskMs: perTask, tasks, calls };
  }
}
