/**
 * The end-to-end harness of the deployed service, shared by the e2e files: the project's local
 * KMS + Secrets Manager + Tagging endpoint (one server for every Region) enforcing the IAM roles
 * template.yaml gives each function (local/iam/template-roles.ts), stand-ins for the two AWS
 * services the project does not emulate, each function in its own worker thread with its own
 * environment and role (test/support/lambda-workers.ts), and every log line kept for the leak
 * check. Not a test file itself.
 *
 * The stand-ins speak the real SDK wire protocols and apply the same roles (the caller's access key
 * names its role, which must allow the action on the resource):
 * - Step Functions StartExecution (awsJson1_0): a new name starts a local execution of
 *   statemachine/recovery.asl.json (test/unit/asl-run.ts) with the REAL task handlers; the same
 *   name with the same input while it runs returns that execution; otherwise
 *   ExecutionAlreadyExists. That is what makes duplicate triggers start one run.
 * - SNS Publish (awsQuery): records the outcome messages.
 *
 * The Rotate function's AWS calls pass through a proxy in front of the endpoint that can kill its
 * runtime at a chosen call (crashRotateAt), to prove a crashed rotation is finished by the next run.
 *
 * The test's own setup (creating keys, escrow, faults) signs as the account (access key
 * 111122223333), an administrator.
 */
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { GetSecretValueCommand, ListSecretVersionIdsCommand } from '@aws-sdk/client-secrets-manager';
import { parseEscrowSecret, type EscrowEntry } from '../../lib/escrow/format.js';
import { startLocalEndpoint, type IamPrincipal, type LocalEndpoint } from '../../local/index.js';
import { principalsOf, renderTemplateRoles, roleAccessKeyId, type TemplateRole } from '../../local/iam/template-roles.js';
import { accessDeniedMessage, accessKeyIdOf, decide } from '../../local/iam/authorizer.js';
import { listenLocally, readBody } from './http.js';
import type { RoundTrips } from './round-trips.js';
import { startLambdaWorker, type LambdaWorker } from './lambda-workers.js';
import { createClients, type AwsClients } from '../../lib/aws/clients.js';
import { loadConfig, type ReimportConfig } from '../../lib/config.js';
import { onboardKey, assertNoMaterial, materialForms, type OnboardedKey, type OnboardOptions } from './local-aws.js';
import { runWorkflow, SUBSTITUTIONS, type TaskHandler, type TaskStateName, type WorkflowRun } from '../unit/asl-run.js';
import { repoRoot, loadTemplate, type Json } from '../unit/template-load.js';

export const REGION = 'us-east-1';
/** The endpoint takes the account from a 12-digit access key id: the samples' account. */
export const ACCOUNT = '111122223333';
export const SAMPLE_KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
/** The stack name the roles are rendered with: the one the ASL's fake substitutions use (kms-reimport-test-OutcomeTopic). */
export const STACK = 'kms-reimport-test';
export const STATE_MACHINE_ARN = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:${STACK}-RecoveryStateMachine`;
export const TOPIC_ARN = SUBSTITUTIONS.OutcomeTopicArn as string;

export type FunctionName = TaskStateName | 'trigger' | 'sweep';
/** Each function's logical ID in template.yaml and its handler file. */
export const FUNCTIONS: Record<FunctionName, { id: string; file: string }> = {
  Inspect: { id: 'InspectFunction', file: 'inspect' },
  WrapAndImport: { id: 'WrapAndImportFunction', file: 'wrap-and-import' },
  Verify: { id: 'VerifyFunction', file: 'verify' },
  Rotate: { id: 'RotateFunction', file: 'rotate' },
  Report: { id: 'ReportFunction', file: 'report' },
  trigger: { id: 'TriggerFunction', file: 'trigger' },
  sweep: { id: 'SweepFunction', file: 'sweep' },
};
const STEPS = ['Inspect', 'WrapAndImport', 'Verify', 'Rotate', 'Report'] as const satisfies readonly TaskStateName[];

export interface Execution {
  name: string;
  input: string;
  arn: string;
  startDate: number;
  running: boolean;
  run: Promise<WorkflowRun>;
}

export type Handler = (event: unknown, context: Context) => Promise<Json>;

export interface WorkflowHarnessOptions {
  /** Environment for every function beside the template's Globals and the endpoints (e.g. a lower rotation floor). */
  env?: Record<string, string>;
  /** The DynamoDB the state machine's lease tasks use (default: asl-run's shared dynalite). */
  dynamodb?: { endpoint: string };
  /**
   * Every KMS and Secrets Manager call of the workflow's task functions passes a proxy that records
   * it here (start and end on the tracker's logical clock), so a test can count the run's dependent
   * round trips (test/support/round-trips.ts) across the functions' runtimes.
   */
  roundTrips?: RoundTrips;
}

export interface WorkflowHarness {
  endpoint: LocalEndpoint;
  /** Clients signing as the account (an administrator), for the test's own setup and checks. */
  aws: AwsClients & { endpoint: LocalEndpoint; config: ReimportConfig; now: () => Date; calls: (operation: string) => number };
  /** Clients for another Region (same endpoint, same administrator), made once per Region. */
  at(region: string): AwsClients;
  roles: TemplateRole[];
  /** The principals the endpoint enforces: the given roles plus the administrator. */
  enforcedPrincipals(which?: TemplateRole[]): Record<string, IamPrincipal>;
  /** The roles with one action taken out of one function's policies. */
  withoutAction(functionId: string, action: string): TemplateRole[];
  /** Every chunk written by the functions and the test process (stdout and stderr). */
  written: string[];
  executions: Map<string, Execution>;
  startExecutionCalls(): number;
  snsMessages: Array<{ topicArn: string; subject?: string; message: string }>;
  sfnUrl: string;
  invoke(name: FunctionName, event: unknown, remainingMs?: number): Promise<Json>;
  trigger: Handler;
  sweep: Handler;
  /** Restarts one function's runtime with these variables added to its environment (a cold start). */
  setFunctionEnv(name: FunctionName, env: Record<string, string>): Promise<void>;
  /**
   * Kills the Rotate function's runtime at one AWS call, as a crashed or timed-out Lambda dies:
   * `before` the call reaches the endpoint (nothing happened), or `after` the endpoint acted (its
   * answer never arrives). The invocation fails, the state machine routes it as any task failure,
   * and the next invocation starts a fresh runtime (a cold start). `operation` is the API name
   * (PutSecretValue, ImportKeyMaterial, RotateKeyOnDemand, CreateKey, ...); `nth` counts that
   * operation's calls by the Rotate role from now on (1-based). Returns a check that it happened.
   */
  crashRotateAt(operation: string, nth: number, when: 'before' | 'after'): { crashed(): boolean };
  /** The task handlers of the state machine (the workers), with the afterStep hook and step counts. */
  taskHandlers(): Record<TaskStateName, TaskHandler> & { NotifyReportFailure: TaskHandler };
  /** Per-test hook around the task handlers (e.g. move the endpoint clock between two steps). */
  afterStep: ((state: TaskStateName, output: Json, call: number) => void) | undefined;
  /** Per-test hook before a task handler runs: throw to make the invocation fail there (the task "crashes" before it starts). */
  beforeStep: ((state: TaskStateName, input: Json, call: number) => void) | undefined;
  stepCalls: Partial<Record<TaskStateName, number>>;
  lambdaContext(functionName: string, remainingMs?: number): Context;
  /**
   * Step Functions' StartExecution answer (status, awsJson body) to a request already let through
   * IAM: a new name starts an execution; the same name while it runs, with the same input, returns
   * it; otherwise ExecutionAlreadyExists.
   */
  startExecution(request: { stateMachineArn?: string; name: string; input: string }): [number, Json];
  /** Runs one execution directly (as `aws stepfunctions start-execution` would), recorded with the others. */
  execute(input: Json, executionName: string): Promise<WorkflowRun>;
  /** Delivers events to the trigger at once; waits for every execution they started. */
  deliver(...events: Json[]): Promise<{ results: Json[]; runs: Execution[] }>;
  only(runs: Execution[]): Promise<WorkflowRun>;
  published(keyId: string): Json[];
  resetCounters(): void;
  imports(): number;
  /** Every material onboarded or read back from escrow: searched for by assertNoLeaks. */
  materials: Buffer[];
  newKey(options?: OnboardOptions, keySpec?: string): Promise<OnboardedKey>;
  /** A managed key whose material expired: PendingImport. */
  expiredKey(options?: OnboardOptions): Promise<OnboardedKey>;
  /** The entries of a key's escrow secret now (read as the account); their materials are kept for the leak check. */
  escrowEntries(keyId: string, region?: string): Promise<EscrowEntry[]>;
  /** How many versions the key's escrow secret has (none is ever removed). */
  escrowVersions(keyId: string): Promise<number>;
  keepEscrowedMaterials(keyId: string): Promise<number>;
  currentMaterial(keyId: string, region?: string): Promise<string | undefined>;
  keyState(keyId: string, region?: string): Promise<string | undefined>;
  /** A sample from events/, with the samples' fixed key ID replaced by a real one. */
  sample(path: string, keyId?: string): Json;
  /** The metric names of the EMF lines written since `from` (an index into `written`). */
  metricsSince(from: number): string[];
  /** Logs, state inputs and outputs, execution inputs and outcomes hold none of `materials` (raw, hex, base64); the search is proven not vacuous. */
  assertNoLeaks(): Promise<void>;
  close(): Promise<void>;
}

/** The test's own setup signs as the account: allowed everything, as an administrator is. */
const ADMIN: IamPrincipal = {
  arn: `arn:aws:iam::${ACCOUNT}:role/e2e-admin`,
  account: ACCOUNT,
  policies: [{ name: 'AdministratorAccess', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] } }],
};

export async function startWorkflowHarness(options: WorkflowHarnessOptions = {}): Promise<WorkflowHarness> {
  // ---------------------------------------------------------------- capture every log line
  const written: string[] = [];
  const originalWrite = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
  const capturing = (original: typeof process.stdout.write): typeof process.stdout.write =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('latin1');
      written.push(text);
      // The functions' JSON log lines (Powertools, EMF metrics) are kept, not shown; the test runner's own output passes through.
      if (text.trimStart().startsWith('{')) {
        (rest.find((r) => typeof r === 'function') as (() => void) | undefined)?.();
        return true;
      }
      return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof process.stdout.write;
  process.stdout.write = capturing(originalWrite.out);
  process.stderr.write = capturing(originalWrite.err);

  // ---------------------------------------------------------------- the endpoint (enforcing the template's roles) and the stand-ins
  const template = loadTemplate();
  const roles = renderTemplateRoles(template, { account: ACCOUNT, region: REGION, stackName: STACK });
  const enforcedPrincipals = (which: TemplateRole[] = roles): Record<string, IamPrincipal> => ({ ...principalsOf(which), [ACCOUNT]: ADMIN });
  const endpoint = await startLocalEndpoint({ port: 0, iam: { principals: enforcedPrincipals() } });

  const refusedByIam = (req: IncomingMessage, action: string, resource: string): string | undefined => {
    const principal = enforcedPrincipals()[accessKeyIdOf(req.headers.authorization) ?? ''];
    if (!principal) return `UnrecognizedClientException: no principal for this access key`;
    const decision = decide(principal, action, resource, REGION);
    return decision === 'Allowed' ? undefined : accessDeniedMessage(principal.callerArn ?? principal.arn, action, resource, decision === 'ExplicitlyDenied');
  };

  const executions = new Map<string, Execution>();
  let startExecutionCalls = 0;
  const snsMessages: WorkflowHarness['snsMessages'] = [];
  const startExecution = (name: string, input: string): Execution => {
    const execution: Execution = {
      name,
      input,
      arn: `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${name}`,
      startDate: Date.now() / 1000,
      running: true,
      run: runWorkflow({ handlers: harness.taskHandlers(), input: JSON.parse(input), executionName: name, ...(options.dynamodb ? { dynamodb: options.dynamodb } : {}) }),
    };
    void execution.run.finally(() => {
      execution.running = false;
    });
    executions.set(name, execution);
    return execution;
  };

  const sfnServer = createServer((req, res) => {
    void readBody(req).then((body) => {
      const reply = (status: number, payload: Json) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify(payload));
      };
      if (req.headers['x-amz-target'] !== 'AWSStepFunctions.StartExecution') {
        return reply(400, { __type: 'UnknownOperationException', message: `this stand-in only knows StartExecution, not ${req.headers['x-amz-target']}` });
      }
      startExecutionCalls++;
      const request = JSON.parse(body);
      const refused = refusedByIam(req, 'states:StartExecution', request.stateMachineArn);
      if (refused) return reply(400, { __type: 'AccessDeniedException', message: refused });
      return reply(...harness.startExecution(request));
    });
  });

  const snsServer = createServer((req, res) => {
    void readBody(req).then((body) => {
      const form = new URLSearchParams(body);
      if (form.get('Action') !== 'Publish') {
        res.writeHead(400, { 'content-type': 'text/xml' });
        return res.end(`<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>only Publish</Message></Error></ErrorResponse>`);
      }
      const refused = refusedByIam(req, 'sns:Publish', form.get('TopicArn') ?? '');
      if (refused) {
        res.writeHead(403, { 'content-type': 'text/xml' });
        return res.end(`<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code><Message>${refused}</Message></Error></ErrorResponse>`);
      }
      snsMessages.push({ topicArn: form.get('TopicArn') ?? '', subject: form.get('Subject') ?? undefined, message: form.get('Message') ?? '' });
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>${randomUUID()}</MessageId></PublishResult>` +
          `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`,
      );
    });
  });

  const sfnUrl = await listenLocally(sfnServer);
  const snsUrl = await listenLocally(snsServer);

  // ---------------------------------------------------------------- the Rotate runtime's calls pass a proxy that can kill it
  type Answer = { status: number; headers: Record<string, string>; body: string };
  /** One request passed on to the endpoint as it came; its answer, with the headers the SDK reads. */
  const forward = (req: IncomingMessage, body: string): Promise<Answer> => {
    const upstream = new URL(endpoint.url);
    return new Promise<Answer>((resolve, reject) => {
      const out = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host }, agent: false }, (up) => {
        readBody(up).then((text) => {
          const kept: Record<string, string> = {};
          for (const name of ['content-type', 'x-amzn-errortype', 'x-amzn-requestid']) {
            const value = up.headers[name];
            if (typeof value === 'string') kept[name] = value;
          }
          resolve({ status: up.statusCode ?? 500, headers: kept, body: text });
        }, reject);
      });
      out.on('error', reject);
      out.end(body);
    });
  };
  const operationOf = (req: IncomingMessage) => String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? '';
  let crashPlan: { operation: string; nth: number; when: 'before' | 'after'; seen: number; done: boolean } | undefined;
  let killRotate: () => void = () => undefined;
  const rotateProxy = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const operation = operationOf(req);
      const plan = crashPlan;
      const crashHere = plan !== undefined && !plan.done && plan.operation === operation && ++plan.seen === plan.nth;
      if (crashHere && plan.when === 'before') {
        plan.done = true;
        killRotate();
        req.socket.destroy();
        return;
      }
      const answer = await forward(req, body);
      if (crashHere) {
        plan.done = true;
        killRotate();
        req.socket.destroy();
        return;
      }
      res.writeHead(answer.status, { ...answer.headers, 'content-length': String(Buffer.byteLength(answer.body)) });
      res.end(answer.body);
    })().catch(() => req.socket.destroy());
  });
  // The task functions' calls, recorded as the round-trip tracker's calls (a command-shaped value names the operation).
  const tracked = options.roundTrips?.watch({ send: (_command: unknown, call: () => Promise<Answer>) => call() });
  const recordingProxy = tracked
    ? createServer((req, res) => {
        void (async () => {
          const body = await readBody(req);
          const answer = await tracked.send({ schema: [0, 0, operationOf(req)] }, () => forward(req, body));
          res.writeHead(answer.status, { ...answer.headers, 'content-length': String(Buffer.byteLength(answer.body)) });
          res.end(answer.body);
        })().catch(() => req.socket.destroy());
      })
    : undefined;
  const recordingProxyUrl = recordingProxy ? await listenLocally(recordingProxy) : undefined;
  const rotateProxyUrl = await listenLocally(rotateProxy);

  // ---------------------------------------------------------------- the functions' environment, then the functions
  for (const [name, value] of Object.entries<Json>(template.Globals.Function.Environment.Variables)) {
    process.env[name] = typeof value === 'string' ? value : String(template.Parameters[value.Ref].Default);
  }
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: endpoint.url,
    AWS_ENDPOINT_URL_SFN: sfnUrl,
    AWS_ENDPOINT_URL_SNS: snsUrl,
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ACCESS_KEY_ID: ACCOUNT,
    AWS_SECRET_ACCESS_KEY: 'e2e-local-endpoint',
    STATE_MACHINE_ARN,
    OUTCOME_TOPIC_ARN: TOPIC_ARN,
    // Fast lib-level retries; the state machine's own retry waits are overridden to 0 by runWorkflow.
    KMS_REIMPORT_MAX_ATTEMPTS: '3',
    KMS_REIMPORT_BASE_DELAY_MS: '1',
    ...options.env,
  });
  const functionEnv = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  /** Each function in its own runtime, signing with its own role's access key (the endpoint maps it to that role). */
  const extraEnv: Partial<Record<FunctionName, Record<string, string>>> = {};
  const startWorker = (name: FunctionName): LambdaWorker =>
    startLambdaWorker({
      modulePath: join(repoRoot, 'functions', `${FUNCTIONS[name].file}.ts`),
      functionName: `${STACK}-${name}`,
      functionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${STACK}-${name}`,
      env: {
        ...functionEnv,
        ...extraEnv[name],
        ...(recordingProxyUrl && (STEPS as readonly string[]).includes(name) ? { AWS_ENDPOINT_URL: recordingProxyUrl } : {}),
        ...(name === 'Rotate' ? { AWS_ENDPOINT_URL: rotateProxyUrl } : {}),
        AWS_ACCESS_KEY_ID: roleAccessKeyId(FUNCTIONS[name].id),
        AWS_SECRET_ACCESS_KEY: 'e2e-role',
      },
      onOutput: (text) => written.push(text),
    });
  const workers = Object.fromEntries((Object.keys(FUNCTIONS) as FunctionName[]).map((name) => [name, startWorker(name)])) as Record<FunctionName, LambdaWorker>;
  // A killed Rotate runtime: its invocation fails ("runtime exited"), the next one gets a fresh runtime.
  killRotate = () => {
    const dead = workers.Rotate;
    workers.Rotate = startWorker('Rotate');
    void dead.terminate();
  };
  const invoke = (name: FunctionName, event: unknown, remainingMs = 60_000) => workers[name].invoke(event, remainingMs) as Promise<Json>;
  const invoker = (name: FunctionName): Handler => (event, context) => invoke(name, event, context.getRemainingTimeInMillis());

  const lambdaContext = (functionName: string, remainingMs = 60_000): Context => ({
    functionName: `kms-reimport-e2e-${functionName}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:kms-reimport-e2e-${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/kms-reimport-e2e/${functionName}`,
    logStreamName: 'e2e',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => remainingMs,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  });

  // ---------------------------------------------------------------- keys, escrow, runs
  const clients = createClients({ endpointUrl: endpoint.url, region: REGION, credentials: { accessKeyId: ACCOUNT, secretAccessKey: 'e2e' } });
  const regional = new Map<string, AwsClients>([[REGION, clients]]);
  const at = (region: string): AwsClients => {
    let c = regional.get(region);
    if (!c) regional.set(region, (c = createClients({ endpointUrl: endpoint.url, region, credentials: { accessKeyId: ACCOUNT, secretAccessKey: 'e2e' } })));
    return c;
  };
  const aws: WorkflowHarness['aws'] = {
    ...clients,
    endpoint,
    config: loadConfig(process.env),
    now: () => new Date(endpoint.clock.now()),
    calls: (operation) => {
      const counters = endpoint.controls.getCounters();
      return counters[`kms:${operation}`]?.calls ?? counters[`secretsmanager:${operation}`]?.calls ?? 0;
    },
  };
  const materials: Buffer[] = [];
  const secretIdOf = (keyId: string) => `${aws.config.escrowPrefix}${keyId}`;

  const harness: WorkflowHarness = {
    endpoint,
    aws,
    at,
    roles,
    enforcedPrincipals,
    withoutAction(functionId, action) {
      const changed = structuredClone(roles);
      const role = changed.find((r) => r.functionId === functionId);
      assert.ok(role, `no role for ${functionId}`);
      let removed = 0;
      for (const policy of role.principal.policies) {
        const statements = [policy.document.Statement].flat() as Json[];
        for (const statement of statements) {
          const actions = [statement.Action].flat() as string[];
          removed += actions.filter((a) => a === action).length;
          statement.Action = actions.filter((a) => a !== action);
        }
        policy.document.Statement = statements.filter((st) => st.Action.length > 0);
      }
      assert.ok(removed > 0, `${functionId} was not granted ${action}`);
      return changed;
    },
    written,
    executions,
    startExecutionCalls: () => startExecutionCalls,
    snsMessages,
    sfnUrl,
    invoke,
    trigger: invoker('trigger'),
    sweep: invoker('sweep'),
    async setFunctionEnv(name, env) {
      await workers[name].terminate();
      extraEnv[name] = env;
      workers[name] = startWorker(name);
    },
    crashRotateAt(operation, nth, when) {
      const plan = { operation, nth, when, seen: 0, done: false };
      crashPlan = plan;
      return { crashed: () => plan.done };
    },
    afterStep: undefined,
    beforeStep: undefined,
    stepCalls: {},
    taskHandlers() {
      const bound = Object.fromEntries(
        STEPS.map((state) => [
          state,
          async (input: Json) => {
            const call = (harness.stepCalls[state] = (harness.stepCalls[state] ?? 0) + 1);
            harness.beforeStep?.(state, input, call);
            const output = await invoke(state, input, 60_000);
            harness.afterStep?.(state, output, call);
            return output;
          },
        ]),
      ) as Record<TaskStateName, TaskHandler>;
      return {
        ...bound,
        // The state machine's own SNS integration (only used when Report fails).
        NotifyReportFailure: (payload: Json) => {
          snsMessages.push({ topicArn: payload.TopicArn, subject: payload.Subject, message: JSON.stringify(payload.Message) });
          return { MessageId: randomUUID() };
        },
      };
    },
    lambdaContext,
    startExecution(request) {
      if (request.stateMachineArn !== STATE_MACHINE_ARN) return [400, { __type: 'StateMachineDoesNotExist', message: `State Machine Does Not Exist: '${request.stateMachineArn}'` }];
      const existing = executions.get(request.name);
      if (existing) {
        if (existing.running && existing.input === request.input) return [200, { executionArn: existing.arn, startDate: existing.startDate }];
        return [400, { __type: 'ExecutionAlreadyExists', message: `Execution Already Exists: '${existing.arn}'` }];
      }
      const execution = startExecution(request.name, request.input);
      return [200, { executionArn: execution.arn, startDate: execution.startDate }];
    },
    execute(input, executionName) {
      return startExecution(executionName, JSON.stringify(input)).run;
    },
    async deliver(...events) {
      const before = new Set(executions.keys());
      const results = await Promise.all(events.map((event) => invoke('trigger', event)));
      const runs = [...executions.values()].filter((e) => !before.has(e.name));
      await Promise.all(runs.map((e) => e.run));
      return { results, runs };
    },
    async only(runs) {
      assert.equal(runs.length, 1, `expected one execution, got ${runs.map((r) => r.name).join(', ') || 'none'}`);
      return runs[0]!.run;
    },
    published: (keyId) => snsMessages.map((m) => JSON.parse(m.message)).filter((o) => o.keyId === keyId),
    resetCounters() {
      endpoint.controls.resetCounters();
      endpoint.controls.clearInjectedErrors();
      harness.afterStep = undefined;
      harness.beforeStep = undefined;
      crashPlan = undefined;
      for (const k of Object.keys(harness.stepCalls)) delete harness.stepCalls[k as TaskStateName];
    },
    imports: () => aws.calls('ImportKeyMaterial'),
    materials,
    async newKey(onboard = {}, keySpec = 'SYMMETRIC_DEFAULT') {
      const key = await onboardKey(aws, keySpec, onboard);
      materials.push(key.material);
      return key;
    },
    async expiredKey(onboard = {}) {
      const key = await harness.newKey({ lifetimeSeconds: 60, ...onboard });
      endpoint.clock.advance(61);
      assert.equal(await harness.keyState(key.keyId), 'PendingImport');
      return key;
    },
    async escrowEntries(keyId, region = REGION) {
      const secretId = secretIdOf(keyId);
      const value = await at(region).secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
      const entries = parseEscrowSecret({ ...(value.SecretBinary ? { SecretBinary: value.SecretBinary } : {}), ...(value.SecretString ? { SecretString: value.SecretString } : {}) }, { keyId, secretId });
      materials.push(...entries.map((e) => Buffer.from(e.material)));
      return entries;
    },
    async escrowVersions(keyId) {
      const out = await clients.secrets.send(new ListSecretVersionIdsCommand({ SecretId: secretIdOf(keyId), IncludeDeprecated: true }));
      return out.Versions?.length ?? 0;
    },
    async keepEscrowedMaterials(keyId) {
      return (await harness.escrowEntries(keyId)).length;
    },
    async currentMaterial(keyId, region = REGION) {
      return (await at(region).kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.CurrentKeyMaterialId;
    },
    async keyState(keyId, region = REGION) {
      return (await at(region).kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState;
    },
    sample: (path, keyId = SAMPLE_KEY_ID) => JSON.parse(readFileSync(join(repoRoot, 'events', path), 'utf8').replaceAll(SAMPLE_KEY_ID, keyId)),
    metricsSince(from) {
      return written
        .slice(from)
        .join('')
        .split('\n')
        .filter((line) => line.includes('"_aws":{'))
        .flatMap((line) => (JSON.parse(line)._aws.CloudWatchMetrics as Json[]).flatMap((d) => d.Metrics.map((m: Json) => m.Name as string)));
    },
    async assertNoLeaks() {
      await Promise.all([...executions.values()].map((e) => e.run));
      assert.ok(materials.length > 0, 'no material to look for: the leak check would prove nothing');
      const logs = written.join('');
      assertNoMaterial(logs, materials, "the functions' logs");
      for (const execution of executions.values()) {
        const run = await execution.run;
        assertNoMaterial(JSON.stringify(run.events), materials, `the state inputs/outputs of ${execution.name}`);
        assertNoMaterial(execution.input, materials, `the input of ${execution.name}`);
      }
      assertNoMaterial(JSON.stringify(snsMessages), materials, 'the outcome messages');
      // Not vacuous: the same search finds material that is there.
      const planted = `${logs}${materialForms(materials[0]!)[3]}`;
      assert.throws(() => assertNoMaterial(planted, materials, 'planted'), /key material found/);
    },
    async close() {
      await Promise.all([...executions.values()].map((e) => e.run.catch(() => undefined)));
      await Promise.all(Object.values(workers).map((w) => w.terminate()));
      process.stdout.write = originalWrite.out;
      process.stderr.write = originalWrite.err;
      for (const c of regional.values()) {
        c.kms.destroy();
        c.secrets.destroy();
      }
      await new Promise((resolve) => sfnServer.close(resolve));
      await new Promise((resolve) => snsServer.close(resolve));
      rotateProxy.closeAllConnections();
      await new Promise((resolve) => rotateProxy.close(resolve));
      if (recordingProxy) {
        recordingProxy.closeAllConnections();
        await new Promise((resolve) => recordingProxy.close(resolve));
      }
      await endpoint.close();
    },
  };
  return harness;
}
