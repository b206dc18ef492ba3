/** Workflow task Verify: the key is Enabled and does a cryptographic round trip fitting its usage. */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { createClients } from '../lib/aws/clients.js';
import { loadConfig } from '../lib/config.js';
import { createCallCounter } from '../lib/workflow/calls.js';
import { verifyStep } from '../lib/workflow/steps.js';
import { logger } from './commons/powertools.js';
import { runTask } from './commons/task.js';

const config = loadConfig();
const calls = createCallCounter();
const kms = calls.wrap(createClients().kms);

export const verify = (event: unknown) =>
  runTask('Verify', event, () => verifyStep({ kms, calls }, event, config, new Date()), (s) => ({ verified: s.verified }));

export const handler = middy(verify).use(injectLambdaContext(logger, { resetKeys: true }));
