/** Workflow task Inspect: work item → state document with the key report, the plan and the materials to import. */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { createClients } from '../lib/aws/clients.js';
import { loadConfig } from '../lib/config.js';
import { createCallCounter } from '../lib/workflow/calls.js';
import { inspectStep } from '../lib/workflow/steps.js';
import { logger } from './commons/powertools.js';
import { runTask } from './commons/task.js';

const config = loadConfig();
const calls = createCallCounter();
const kms = calls.wrap(createClients().kms);

export const inspect = (event: unknown) =>
  runTask('Inspect', event, () => inspectStep({ kms, calls }, event, config, new Date()), (s) => ({
    keyState: s.report?.keyState,
    plan: s.plan,
    pending: s.pending.length,
  }));

export const handler = middy(inspect).use(injectLambdaContext(logger, { resetKeys: true }));
