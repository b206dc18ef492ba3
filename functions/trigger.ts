/**
 * The trigger: any event (KMS expiration, CloudTrail deletion/expiry, manual request) → checked
 * and normalised into work items → one Step Functions execution per key with a deterministic
 * name, so duplicate triggers for one key at one moment give ONE execution. An untrusted event is
 * logged with its reason and dropped (returned as rejected; retrying cannot make it valid).
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SFNClient } from '@aws-sdk/client-sfn';
import { executionName } from '../lib/events/execution-name.js';
import { keyIdOf } from '../lib/events/key-ref.js';
import { normaliseEvent } from '../lib/events/normalise.js';
import { isEventRejected, type RejectionCode } from '../lib/events/rejected.js';
import { startWorkItem, type StartResult } from '../lib/workflow/start.js';
import { integerEnv, ownScope, requireEnv } from './commons/environment.js';
import { logger, metrics } from './commons/powertools.js';

export interface TriggerDeps {
  sfn: Pick<SFNClient, 'send'>;
  stateMachineArn: string;
  /** Minutes per execution-name time bucket. */
  bucketMinutes: number;
  /** Our Region and account: events from any other are rejected. */
  scope: { region?: string; account?: string };
  now: () => Date;
}

export type TriggerResult =
  | { status: 'rejected'; code: RejectionCode; reason: string }
  | { status: 'ok'; executions: StartResult[] };

/** One or more keys could not be handed to the state machine (EventBridge retries the event). */
export class StartExecutionFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartExecutionFailed';
  }
}

/** The handler body over explicit dependencies (tests pass their own clock and client). */
export const triggerWith = (deps: TriggerDeps) => async (event: unknown): Promise<TriggerResult> => {
  const { sfn, stateMachineArn, bucketMinutes, scope } = deps;
  let items;
  try {
    items = normaliseEvent(event, scope);
  } catch (error) {
    if (!isEventRejected(error)) throw error;
    logger.warn('Event rejected', { rejection: error.code, reason: error.reason });
    metrics.addMetric('EventRejected', MetricUnit.Count, 1);
    return { status: 'rejected', code: error.code, reason: error.reason };
  }

  const now = deps.now();
  const executions: StartResult[] = [];
  const failed: string[] = [];
  for (const item of items) {
    const keyId = keyIdOf(item.keyRef) ?? item.keyRef;
    logger.appendKeys({
      keyId,
      action: item.action,
      executionName: executionName(item, keyIdOf(item.keyRef), now, { bucketMinutes }),
      triggerSource: item.trigger.source,
      triggerDetailType: item.trigger.detailType,
      ...(item.trigger.eventId ? { eventId: item.trigger.eventId } : {}),
    });
    try {
      const result = await startWorkItem({ sfn, stateMachineArn }, item, now, { bucketMinutes });
      executions.push(result);
      if (result.status === 'started') {
        logger.info('Execution started', { executionArn: result.executionArn });
        metrics.addMetric('ExecutionStarted', MetricUnit.Count, 1);
      } else {
        logger.info('An execution for this key and moment already exists; nothing more to start');
        metrics.addMetric('ExecutionAlreadyRunning', MetricUnit.Count, 1);
      }
    } catch (error) {
      const name = error instanceof Error ? error.name : 'Error';
      const message = error instanceof Error ? error.message : String(error);
      logger.error('StartExecution failed', { errorName: name, errorMessage: message });
      failed.push(`${keyId} (${name}: ${message})`);
    }
  }
  if (failed.length > 0) {
    throw new StartExecutionFailed(
      `Could not start the recovery workflow for ${failed.join(', ')}. EventBridge retries this event; if it keeps failing, ` +
        `check states:StartExecution on ${stateMachineArn}, then start it by hand with {"action": "recover", "keyId": "<key>"}.`,
    );
  }
  return { status: 'ok', executions };
};

const stateMachineArn = requireEnv('STATE_MACHINE_ARN');

export const trigger = triggerWith({
  sfn: new SFNClient({}),
  stateMachineArn,
  bucketMinutes: integerEnv('KMS_REIMPORT_EXECUTION_BUCKET_MINUTES', 5, 1, 1440),
  scope: ownScope(stateMachineArn),
  now: () => new Date(),
});

export const handler = middy(trigger)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
