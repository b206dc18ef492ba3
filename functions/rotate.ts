/**
 * Workflow task Rotate: the whole rotation of one key by the rotation engine (lib/rotate.ts,
 * through rotateStep): in place (new material escrowed first, imported as NEW_KEY_MATERIAL,
 * recorded, RotateKeyOnDemand, verified) or by alias swap (a new key, its material escrowed first,
 * imported, verified, the aliases moved). The state machine holds the key's lease; the engine
 * re-reads the key itself and takes no second lease. Crash-safe: invoked again after a failure at
 * any step, it finishes the rotation, never a second new material or key. New plaintext material
 * exists only inside this function (generated, escrowed, wrapped, wiped); only IDs, alias names
 * and the reason come back into the state and the logs.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createClients } from '../lib/aws/clients.js';
import { loadConfig } from '../lib/config.js';
import { createCallCounter } from '../lib/workflow/calls.js';
import { rotateStep } from '../lib/workflow/steps.js';
import { logger } from './commons/powertools.js';
import { runTask } from './commons/task.js';

const config = loadConfig();
const calls = createCallCounter();
const clients = createClients();
const kms = calls.wrap(clients.kms);
const secrets = calls.wrap(clients.secrets);
// A Multi-Region primary's replicas: a KMS and a Secrets Manager client per replica Region, made on first
// use and kept for the container's life (same credentials and endpoint configuration as the others).
const regional = { kms: new Map<string, KMSClient>(), secrets: new Map<string, SecretsManagerClient>() };
const kmsFor = (region: string): KMSClient => {
  let client = regional.kms.get(region);
  if (!client) regional.kms.set(region, (client = calls.wrap(createClients({ region }).kms)));
  return client;
};
const secretsFor = (region: string): SecretsManagerClient => {
  let client = regional.secrets.get(region);
  if (!client) regional.secrets.set(region, (client = calls.wrap(createClients({ region }).secrets)));
  return client;
};

/** The engine's progress and warnings go to this run's structured log (IDs only, never material). */
const runLogger = {
  info: (message: string, extra?: object) => logger.info(message, { ...extra }),
  warn: (message: string, extra?: object) => logger.warn(message, { ...extra }),
  error: (message: string, extra?: object) => logger.error(message, { ...extra }),
};

export const rotate = (event: unknown) =>
  runTask('Rotate', event, () => rotateStep({ kms, secrets, calls, logger: runLogger, kmsFor, secretsFor }, event, config, new Date()), (s) => ({
    plan: s.plan?.action,
    rotation: s.rotation,
    verified: s.verified,
  }));

export const handler = middy(rotate).use(injectLambdaContext(logger, { resetKeys: true }));
