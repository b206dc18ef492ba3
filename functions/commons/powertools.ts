/**
 * Logger and metrics, configured once for every function. Structured JSON logs; every line of a
 * run also carries keyId, action and executionName (appended per invocation, reset after it by
 * `injectLambdaContext(logger, { resetKeys: true })`).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';

export const SERVICE_NAME = 'kms-reimport';
export const METRICS_NAMESPACE = 'KmsReimport';

export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? SERVICE_NAME,
  persistentKeys: {
    app: SERVICE_NAME,
    ...(process.env.AWS_REGION ? { region: process.env.AWS_REGION } : {}),
  },
});

export const metrics = new Metrics({
  namespace: METRICS_NAMESPACE,
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? SERVICE_NAME,
});
