/**
 * The sweep (on a schedule, or on demand with {"action": "sweep", "dryRun": true}): finds every
 * managed key, decides which need work (outages first, then soonest expiry) and starts one
 * workflow execution per key, paced for KMS's GetParametersForImport quota (one a second by
 * default, KMS_REIMPORT_SWEEP_START_INTERVAL_MS). Keys it has no time left for are deferred to the next sweep.
 *
 * Rotations: keys whose scheduled rotation is due are reported (action `rotate`), counted
 * (RotationDue) and get a rotation execution (`<key>-rotate-<bucket>`, the runbook's rotation
 * branch), started AFTER every recovery and renewal and paced like them, so that outages are never
 * queued behind rotations and a sweep short of time defers rotations first. A key whose schedule
 * cannot be followed (a malformed `kms-reimport:rotate-every`, an unknown material age, a
 * Multi-Region key) gets one WARN "Rotation schedule problem" with the named problem and counts in
 * RotationScheduleProblem; it is left as it is. At most KMS_REIMPORT_MAX_ROTATIONS_PER_SWEEP (default 50)
 * rotations are started per sweep, most overdue first; the rest are logged and counted
 * (RotationDeferredByCap) and wait for the next sweep.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { createClients, createTaggingClient } from '../lib/aws/clients.js';
import { loadConfig, type ReimportConfig } from '../lib/config.js';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { isEventRejected, type RejectionCode } from '../lib/events/rejected.js';
import { parseSweepRequest } from '../lib/events/sweep-request.js';
import { limitRotationsPerSweep } from '../lib/rotation/schedule.js';
import { sweepManagedKeys, type SweepEntry } from '../lib/sweep.js';
import { startWorkItems, type StartResult } from '../lib/workflow/start.js';
import { integerEnv, ownScope, requireEnv } from './commons/environment.js';
import { logger, metrics } from './commons/powertools.js';

/** Stop starting executions when less than this is left of the Lambda's time. */
const SAFETY_MARGIN_MS = 10_000;

export interface SweepHandlerDeps {
  tagging: ResourceGroupsTaggingAPIClient;
  kms: KMSClient;
  /** DescribeSecret on the escrow secrets (escrow health); never GetSecretValue. */
  secrets: SecretsManagerClient;
  sfn: Pick<SFNClient, 'send'>;
  stateMachineArn: string;
  config: ReimportConfig;
  bucketMinutes: number;
  /** Time between two StartExecution calls: each execution calls GetParametersForImport (KMS's published quota: 1/s per account and Region; set KMS_REIMPORT_SWEEP_START_INTERVAL_MS from the account's own). */
  intervalMs: number;
  concurrency: number;
  /** Our Region and account: events from any other are rejected. */
  scope: { region?: string; account?: string };
  now: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

export type SweepHandlerResult =
  | { status: 'rejected'; code: RejectionCode; reason: string }
  | { status: 'ok'; dryRun: boolean; keys: SweepEntry[]; executions: StartResult[] };

/** The handler body over explicit dependencies (tests pass their own clients and clock). */
export const sweepWith =
  (deps: SweepHandlerDeps) =>
  async (event: unknown, context?: Pick<Context, 'getRemainingTimeInMillis'>): Promise<SweepHandlerResult> => {
    const { tagging, kms, secrets, sfn, stateMachineArn, config, bucketMinutes, intervalMs, concurrency, scope } = deps;
    let request;
    try {
      request = parseSweepRequest(event, scope);
    } catch (error) {
      if (!isEventRejected(error)) throw error;
      logger.warn('Sweep request rejected', { rejection: error.code, reason: error.reason });
      metrics.addMetric('EventRejected', MetricUnit.Count, 1);
      return { status: 'rejected', code: error.code, reason: error.reason };
    }
    logger.info('Sweep started', { source: request.source, dryRun: request.dryRun });

    const { items: work, rotations, report } = await sweepManagedKeys({ tagging, kms, secrets }, config, deps.now(), { concurrency });
    // Outages first, then renewals (both in `work`, in that order), then the rotations due, at most the per-sweep cap.
    const { start: rotationsToStart, deferred: rotationsCapped } = limitRotationsPerSweep(rotations, config);
    for (const r of rotationsCapped) {
      logger.info('Rotation deferred: per-sweep cap reached (KMS_REIMPORT_MAX_ROTATIONS_PER_SWEEP)', { keyId: r.keyRef, rotationsStarted: rotationsToStart.length });
    }
    const items = [...work, ...rotationsToStart];
    const executions = await startWorkItems({ sfn, stateMachineArn }, items, {
      bucketMinutes,
      intervalMs,
      now: deps.now,
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
      dryRun: request.dryRun,
      canContinue: () => !context || context.getRemainingTimeInMillis() > intervalMs + SAFETY_MARGIN_MS,
    });

    const byKey = new Map(executions.map((e) => [e.keyRef, e]));
    for (const entry of report) {
      const started = byKey.get(entry.keyId);
      const line = {
        keyId: entry.keyId,
        action: entry.action,
        executionName: started?.executionName ?? 'none',
        classification: entry.classification,
        keyState: entry.keyState,
        validTo: entry.validTo,
        escrow: entry.escrow,
        ...(entry.rotation ? { rotation: entry.rotation.mode, rotationNextDueAt: entry.rotation.nextDueAt, rotationDue: entry.rotation.due } : {}),
        reason: entry.reason,
        ...(started ? { start: started.status } : {}),
        ...(started?.error ? { startError: started.error } : {}),
      };
      if (entry.action === 'error' || started?.status === 'failed') logger.error('Key swept', line);
      else logger.info('Key swept', line);
      if (entry.escrow !== undefined && entry.escrow !== 'ok') {
        logger.warn('Escrow problem', { keyId: entry.keyId, escrow: entry.escrow, reason: entry.escrowReason });
      }
      if (entry.rotation?.problem !== undefined) {
        logger.warn('Rotation schedule problem', { keyId: entry.keyId, problem: entry.rotation.problemName, reason: entry.rotation.problem });
      }
    }
    const rotationProblems = report.filter((e) => e.rotation?.problem !== undefined).length;
    const rotationsDue = report.filter((e) => e.action === 'rotate').length;
    const escrowProblems = report.filter((e) => e.escrow !== undefined && e.escrow !== 'ok').length;
    const count = (status: StartResult['status']) => executions.filter((e) => e.status === status).length;
    metrics.addMetric('KeysSwept', MetricUnit.Count, report.length);
    // One per managed key whose escrow is missing, unbound, self-encrypted or unreadable: alarm on it
    // to fix the escrow before the key's material expires.
    metrics.addMetric('EscrowProblem', MetricUnit.Count, escrowProblems);
    // One per managed key whose rotation schedule cannot be followed (bad tag, unknown age, a key it cannot rotate).
    metrics.addMetric('RotationScheduleProblem', MetricUnit.Count, rotationProblems);
    // Keys whose rotation is due (their executions are counted with the others below).
    metrics.addMetric('RotationDue', MetricUnit.Count, rotationsDue);
    metrics.addMetric('RotationDeferredByCap', MetricUnit.Count, rotationsCapped.length);
    metrics.addMetric('SweepInspectErrors', MetricUnit.Count, report.filter((e) => e.action === 'error').length);
    // How close the managed keys are to their earliest ValidTo (DescribeKey's, the earliest of a key's
    // materials): the fleet's soonest in days, and how many keys fall within 7, 30 and 90 days.
    // The dashboard graphs them; renewal should keep every key beyond the renewal window.
    const sweptAt = deps.now().getTime();
    const daysToValidTo = report
      .filter((e) => e.classification !== 'not-managed' && e.validTo !== undefined)
      .map((e) => (Date.parse(e.validTo as string) - sweptAt) / 86_400_000)
      .filter((d) => Number.isFinite(d));
    if (daysToValidTo.length > 0) metrics.addMetric('EarliestValidToDays', MetricUnit.Count, Math.max(0, Math.round(Math.min(...daysToValidTo) * 100) / 100));
    for (const within of [7, 30, 90]) metrics.addMetric(`KeysValidToWithin${within}Days`, MetricUnit.Count, daysToValidTo.filter((d) => d <= within).length);
    metrics.addMetric('ExecutionStarted', MetricUnit.Count, count('started'));
    metrics.addMetric('ExecutionAlreadyRunning', MetricUnit.Count, count('already-running'));
    metrics.addMetric('ExecutionStartFailed', MetricUnit.Count, count('failed'));
    metrics.addMetric('ExecutionDeferred', MetricUnit.Count, count('deferred'));
    logger.info('Sweep done', {
      keys: report.length,
      work: items.length,
      started: count('started'),
      alreadyRunning: count('already-running'),
      failed: count('failed'),
      deferred: count('deferred'),
      escrowProblems,
      rotationsDue,
      rotationsDeferredByCap: rotationsCapped.length,
      rotationProblems,
      dryRun: request.dryRun,
    });
    return { status: 'ok', dryRun: request.dryRun, keys: report, executions };
  };

const stateMachineArn = requireEnv('STATE_MACHINE_ARN');
const clients = createClients();

export const sweep = sweepWith({
  tagging: createTaggingClient(),
  kms: clients.kms,
  secrets: clients.secrets,
  sfn: new SFNClient({}),
  stateMachineArn,
  config: loadConfig(),
  bucketMinutes: integerEnv('KMS_REIMPORT_EXECUTION_BUCKET_MINUTES', 5, 1, 1440),
  intervalMs: integerEnv('KMS_REIMPORT_SWEEP_START_INTERVAL_MS', 1000, 0, 60_000),
  concurrency: integerEnv('KMS_REIMPORT_SWEEP_CONCURRENCY', 8, 1, 50),
  scope: ownScope(stateMachineArn),
  now: () => new Date(),
});

export const handler = middy(sweep)
  .use(injectLambdaContext(logger, { resetKeys: true }))
  .use(logMetrics(metrics));
