/**
 * Workflow task WrapAndImport: the ONLY function that reads escrow. In one round trip it reads the
 * key again, asks for import parameters and reads the escrowed material for pending[0]; then wraps
 * it, imports it and wipes it (inside lib/reimport.ts); only IDs, dates and the expiration model
 * come back into the state and the logs.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { createClients } from '../lib/aws/clients.js';
import { loadConfig } from '../lib/config.js';
import { createCallCounter } from '../lib/workflow/calls.js';
import { wrapAndImportStep } from '../lib/workflow/steps.js';
import { logger } from './commons/powertools.js';
import { runTask } from './commons/task.js';

const config = loadConfig();
const calls = createCallCounter();
const clients = createClients();
const kms = calls.wrap(clients.kms);
const secrets = calls.wrap(clients.secrets);

/** The engine's warnings (e.g. an assumed ExpirationModel) go to this run's structured log. */
const runLogger = { warn: (message: string, extra?: object) => logger.warn(message, { ...extra }) };

export const wrapAndImport = (event: unknown) =>
  runTask('WrapAndImport', event, () => wrapAndImportStep({ kms, secrets, calls, logger: runLogger }, event, config, new Date()), (s) => ({
    imported: s.imported.at(-1),
    pending: s.pending.length,
  }));

export const handler = middy(wrapAndImport).use(injectLambdaContext(logger, { resetKeys: true }));
