/**
 * The deployed stack as the CLI's `--via-stack` sees it, in front of the shared workflow harness
 * (test/support/workflow-harness.ts: the real statemachine/recovery.asl.json, each task its real
 * handler in its own worker under its own role, against the local endpoint). The harness's own
 * Step Functions stand-in knows StartExecution only (what the Trigger needs); this one serves the
 * three calls the CLI makes, over the real wire protocol (awsJson1_0):
 * - StartExecution: answered by the harness (harness.startExecution): a new name runs the workflow; the same name while it runs,
 *   with the same input, returns it; otherwise ExecutionAlreadyExists, as Step Functions answers;
 * - DescribeExecution: RUNNING until the run ends, then its status, output or error;
 * - GetExecutionHistory: the run's event log translated to Step Functions history events
 *   (`<Type>StateEntered` / `<Type>StateExited` with the state's name, input and output,
 *   `TaskFailed`, `Execution*`). The events of a run are served once it has ended (the local
 *   runner hands them over at its end); the CLI's following of a growing history is covered by
 *   test/unit/cli-via-stack.test.ts.
 * CloudFormation DescribeStacks (awsQuery, XML) answers for the harness's stack with its
 * RecoveryStateMachineArn output; any other stack does not exist. Not a test file itself.
 */
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { listenLocally, readBody } from './http.js';
import { ACCOUNT, REGION, STACK, STATE_MACHINE_ARN, type Execution, type WorkflowHarness } from './workflow-harness.js';
import type { Json } from '../unit/template-load.js';

export interface StackStandIns {
  /** AWS_ENDPOINT_URL_SFN and AWS_ENDPOINT_URL_CLOUDFORMATION for the CLI process. */
  env: Record<string, string>;
  /** The Step Functions operations called, in order. */
  sfnCalls: string[];
  close(): Promise<void>;
}

/** Step Functions history events from the local run's event log (ids from 1, epoch-second timestamps). */
function historyOf(execution: Execution, finished: { events: Json[] } | undefined): Json[] {
  const events: Json[] = finished?.events ?? [];
  return events.flatMap((event, i): Json[] => {
    const base = { id: i + 1, timestamp: (event.timestamp ?? Date.now()) / 1000 };
    const state = event.state;
    switch (event.type) {
      case 'ExecutionStarted':
        return [{ ...base, type: 'ExecutionStarted', executionStartedEventDetails: { input: execution.input } }];
      case 'ExecutionSucceeded':
        return [{ ...base, type: 'ExecutionSucceeded', executionSucceededEventDetails: { output: JSON.stringify(event.output) } }];
      case 'ExecutionFailed':
        return [{ ...base, type: 'ExecutionFailed', executionFailedEventDetails: { error: event.Error, cause: String(event.Cause ?? '') } }];
      case 'StateEntered':
        return [{ ...base, type: `${state.type}StateEntered`, stateEnteredEventDetails: { name: state.name, input: JSON.stringify(state.input) } }];
      case 'StateExited':
        return [{ ...base, type: `${state.type}StateExited`, stateExitedEventDetails: { name: state.name, output: JSON.stringify(state.output) } }];
      case 'StateFailed':
        return state.type === 'Task' ? [{ ...base, type: 'TaskFailed', taskFailedEventDetails: { error: event.Error, cause: String(event.Cause ?? '') } }] : [];
      default:
        return [];
    }
  });
}

export async function startStackStandIns(harness: WorkflowHarness): Promise<StackStandIns> {
  const sfnCalls: string[] = [];
  const sfn = createServer((req, res) => {
    void readBody(req).then(async (body) => {
      const reply = (status: number, payload: Json) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify(payload));
      };
      const operation = String(req.headers['x-amz-target'] ?? '').replace('AWSStepFunctions.', '');
      sfnCalls.push(operation);
      const request = JSON.parse(body);
      if (operation === 'StartExecution') return reply(...harness.startExecution(request));
      const name = String(request.executionArn ?? '').split(':').pop() ?? '';
      const execution = harness.executions.get(name);
      if (!execution || `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${name}` !== request.executionArn) {
        return reply(400, { __type: 'ExecutionDoesNotExist', message: `Execution Does Not Exist: '${request.executionArn}'` });
      }
      // The run's outcome once it has ended (the harness clears `running` when its promise settles).
      const done = execution.running ? undefined : await execution.run;
      if (operation === 'DescribeExecution') {
        return reply(200, {
          executionArn: execution.arn,
          stateMachineArn: STATE_MACHINE_ARN,
          name,
          status: done ? done.status : 'RUNNING',
          startDate: execution.startDate,
          input: execution.input,
          ...(done ? { stopDate: Date.now() / 1000 } : {}),
          ...(done?.output !== undefined ? { output: JSON.stringify(done.output) } : {}),
          ...(done?.error ? { error: done.error.name, cause: done.error.cause } : {}),
        });
      }
      if (operation === 'GetExecutionHistory') return reply(200, { events: historyOf(execution, done) });
      return reply(400, { __type: 'UnknownOperationException', message: `this stand-in does not serve ${operation}` });
    });
  });
  const cfn = createServer((req, res) => {
    void readBody(req).then((body) => {
      const form = new URLSearchParams(body);
      const stack = form.get('StackName');
      if (form.get('Action') !== 'DescribeStacks' || stack !== STACK) {
        res.writeHead(400, { 'content-type': 'text/xml' });
        return res.end(`<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code><Message>Stack with id ${stack} does not exist</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`);
      }
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        `<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult><Stacks><member>` +
          `<StackName>${STACK}</StackName><StackId>arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${STACK}/${randomUUID()}</StackId>` +
          `<CreationTime>2026-01-01T00:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus><Outputs>` +
          `<member><OutputKey>LeaseTableName</OutputKey><OutputValue>${STACK}-LeaseTable</OutputValue></member>` +
          `<member><OutputKey>RecoveryStateMachineArn</OutputKey><OutputValue>${STATE_MACHINE_ARN}</OutputValue></member>` +
          `</Outputs></member></Stacks></DescribeStacksResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></DescribeStacksResponse>`,
      );
    });
  });
  const sfnUrl = await listenLocally(sfn);
  const cfnUrl = await listenLocally(cfn);
  return {
    env: { AWS_ENDPOINT_URL_SFN: sfnUrl, AWS_ENDPOINT_URL_CLOUDFORMATION: cfnUrl },
    sfnCalls,
    close: async () => {
      await new Promise((resolve) => sfn.close(resolve));
      await new Promise((resolve) => cfn.close(resolve));
    },
  };
}

