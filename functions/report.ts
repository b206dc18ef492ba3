/**
 * Workflow task Report: builds the run's outcome, publishes it to the outcome topic
 * (OUTCOME_TOPIC_ARN) and counts it in the KmsReimport metrics (one metric per status).
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SNSClient } from '@aws-sdk/client-sns';
import { loadConfig } from '../lib/config.js';
import { outcomeMetricName, snsPublisher } from '../lib/workflow/publish.js';
import { reportStep } from '../lib/workflow/steps.js';
import { requireEnv } from './commons/environment.js';
import { logger, metrics } from './commons/powertools.js';
import { runTask } from './commons/task.js';

const config = loadConfig();
const topicArn = requireEnv('OUTCOME_TOPIC_ARN');
const sns = new SNSClient({});
const publish = snsPublisher(sns, topicArn);

export const report = (event: unknown) =>
  runTask(
    'Report',
    event,
    () =>
      reportStep(
        { publish, recordOutcome: (o) => metrics.addMetric(outcomeMetricName(o.status), MetricUnit.Count, 1) },
        event,
        config,
        new Date(),
      ),
    (s) => ({ outcome: s.outcome }),
  );

export const handler = middy(report)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
