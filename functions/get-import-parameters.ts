/** Workflow task GetImportParameters: a fresh wrapping public key and import token (not secret) for the next material. */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { createClients } from '../lib/aws/clients.js';
import { loadConfig } from '../lib/config.js';
import { createCallCounter } from '../lib/workflow/calls.js';
import { getImportParametersStep } from '../lib/workflow/steps.js';
import { logger } from './commons/powertools.js';
import { runTask } from './commons/task.js';

const config = loadConfig();
const calls = createCallCounter();
const kms = calls.wrap(createClients().kms);

export const getImportParameters = (event: unknown) =>
  runTask('GetImportParameters', event, () => getImportParametersStep({ kms, calls }, event, config, new Date()), (s) => ({
    wrappingAlgorithm: s.params?.wrappingAlgorithm,
    wrappingKeySpec: s.params?.wrappingKeySpec,
    parametersValidTo: s.params?.parametersValidTo,
    tokenRefreshes: s.tokenRefreshes,
  }));

export const handler = middy(getImportParameters).use(injectLambdaContext(logger, { resetKeys: true }));
