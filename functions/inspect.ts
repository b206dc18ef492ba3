/** Workflow task Inspect: work item → state document with the key report, the plan and the materials to import. */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context } from 'aws-lambda';
import { createClients, createTaggingClient } from '../lib/aws/clients.js';
import { loadConfig } from '../lib/config.js';
import type { OwnScope } from '../lib/kms/ownership.js';
import { createCallCounter } from '../lib/workflow/calls.js';
import { inspectStep } from '../lib/workflow/steps.js';
import { partitionOfArn } from '../lib/events/key-ref.js';
import { accountOfArn, ownRegion } from './commons/environment.js';
import { logger } from './commons/powertools.js';
import { runTask } from './commons/task.js';

const config = loadConfig();
const calls = createCallCounter();
const kms = calls.wrap(createClients().kms);
/** tag:GetResources only, and only when KMS refuses to let the service read a key (is it managed at all?). */
const tagging = calls.wrap(createTaggingClient());
const runLogger = { warn: (message: string, extra?: object) => logger.warn(message, { ...extra }) };

/** This function's own account, Region and partition (from its ARN): a key ID in an event becomes the key's ARN. */
function scopeOf(context: Context | undefined): OwnScope | undefined {
  const arn = context?.invokedFunctionArn;
  const region = ownRegion();
  const account = arn ? accountOfArn(arn) : undefined;
  if (!arn || !region || !account) return undefined;
  const partition = partitionOfArn(arn);
  return { region, account, ...(partition ? { partition } : {}) };
}

export const inspect = (event: unknown, context?: Context) => {
  const scope = scopeOf(context);
  return runTask(
    'Inspect',
    event,
    () => inspectStep({ kms, calls, tagging, logger: runLogger, ...(scope ? { scope } : {}) }, event, config, new Date()),
    (s) => ({ keyState: s.report?.keyState, plan: s.plan, pending: s.pending.length }),
  );
};

export const handler = middy(inspect).use(injectLambdaContext(logger, { resetKeys: true }));
