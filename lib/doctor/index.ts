/**
 * `kms-reimport doctor`: a preflight for a deployed stack and an account. Would the deployment
 * hear of an outage (CloudTrail, the stack's rules), would it sweep (the sweep's schedule), could it act (state machine, key policies,
 * escrow), would anyone hear of the outcome (the topic), and can it keep up (quotas)?
 * Read-only: every call is a Describe/Get/List.
 */
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import type { SchedulerClient } from '@aws-sdk/client-scheduler';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { SNSClient } from '@aws-sdk/client-sns';
import type { ReimportConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import type { RetryOptions } from '../retry.js';
import { check, worstStatus, type CheckStatus, type DoctorCheck } from './check.js';
import { checkCloudTrail } from './cloudtrail.js';
import { checkManagedKeys } from './keys.js';
import { judgeRenewalCapacity, readImportParametersRate, renewalCalls, sweepIntervalSeconds } from './quotas.js';
import { checkSchedules } from './schedule.js';
import { checkRules, checkStateMachine, checkTopics, readStack, roleArnsOf, type DeployedStack } from './stack.js';

export { check, worstStatus, type CheckStatus, type DoctorCheck } from './check.js';
export { checkCloudTrail, selectorsGap } from './cloudtrail.js';
export { checkKeyPolicy, judgeKeyPolicy, RECOVERY_ACTIONS, recoveryActions } from './key-policy.js';
export { checkManagedKeys, judgeExpiry } from './keys.js';
export { DOCUMENTED_IMPORT_PARAMETERS_RATE, judgeRenewalCapacity, readImportParametersRate, renewalCalls, sweepIntervalSeconds } from './quotas.js';
export { checkSchedules, scheduleOf } from './schedule.js';
export { checkRules, checkStateMachine, checkTopics, readStack, roleArnsOf } from './stack.js';

export interface DoctorDeps {
  cloudtrail: Pick<CloudTrailClient, 'send'>;
  quotas: Pick<ServiceQuotasClient, 'send'>;
  tagging: Pick<ResourceGroupsTaggingAPIClient, 'send'>;
  kms: KMSClient;
  secrets: SecretsManagerClient;
  /** Needed with a stack name only. */
  cloudformation?: Pick<CloudFormationClient, 'send'>;
  events?: Pick<EventBridgeClient, 'send'>;
  /** EventBridge Scheduler: the sweep's schedule. */
  scheduler?: Pick<SchedulerClient, 'send'>;
  sfn?: Pick<SFNClient, 'send'>;
  sns?: Pick<SNSClient, 'send'>;
}

export interface DoctorOptions {
  region: string;
  /** The deployed stack; without it only the account-wide and per-key checks run. */
  stackName?: string;
  config: ReimportConfig;
  now?: Date;
  retry?: RetryOptions;
}

export interface DoctorReport {
  status: CheckStatus;
  region: string;
  stackName?: string;
  /** The settings the key and quota checks used (the stack's parameters when it has them). */
  settings: { renewalWindowDays: number; materialLifetimeDays: number; managedTagKey: string; escrowPrefix: string; sweepSchedule?: string };
  checks: DoctorCheck[];
}

function integerParameter(stack: DeployedStack | undefined, name: string): number | undefined {
  const raw = stack?.parameters[name];
  return raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
}

/** The config the deployed functions run with: the stack's parameters over the local config. */
export function configOfStack(config: ReimportConfig, stack: DeployedStack | undefined): ReimportConfig {
  const out = { ...config };
  const window = integerParameter(stack, 'RenewalWindowDays');
  if (window !== undefined) out.renewalWindowDays = window;
  const lifetime = integerParameter(stack, 'MaterialLifetimeDays');
  if (lifetime !== undefined) out.materialLifetimeDays = lifetime;
  const tag = stack?.parameters.ManagedTagKey;
  if (tag) out.managedTagKey = tag;
  const prefix = stack?.parameters.EscrowPrefix;
  if (prefix) out.escrowPrefix = prefix;
  return out;
}

export async function runDoctor(deps: DoctorDeps, options: DoctorOptions): Promise<DoctorReport> {
  const now = options.now ?? new Date();
  const retry = options.retry ?? { maxAttempts: options.config.maxAttempts, baseDelayMs: options.config.baseDelayMs };
  const checks: DoctorCheck[] = [await checkCloudTrail(deps.cloudtrail, options.region)];

  let stack: DeployedStack | undefined;
  if (options.stackName !== undefined) {
    const { cloudformation, events, scheduler, sfn, sns } = deps;
    if (!cloudformation || !events || !scheduler || !sfn || !sns) {
      throw new ConfigError(
        `kms-reimport doctor --stack ${options.stackName}: the stack checks need the CloudFormation, EventBridge, EventBridge Scheduler, Step Functions and SNS clients, and one was not given. Nothing was checked.`,
      );
    }
    const lookup = await readStack(cloudformation, options.stackName);
    checks.push(...lookup.checks);
    stack = lookup.stack;
    if (stack) {
      checks.push(...(await checkRules(events, stack)), ...(await checkSchedules(scheduler, stack)), ...(await checkStateMachine(sfn, stack)), ...(await checkTopics(sns, stack)));
    }
  } else {
    checks.push(
      check('stack', 'no --stack', 'warn', 'no stack named: its rules, sweep schedule, state machine, topic and roles are not checked', 'run kms-reimport doctor --stack <the name you deployed with>'),
    );
  }

  const config = configOfStack(options.config, stack);
  const keys = await checkManagedKeys(deps, config, { roleArns: stack ? roleArnsOf(stack) : [], now, retry });
  checks.push(...keys.checks);

  const quota = await readImportParametersRate(deps.quotas);
  const { keys: expiring, calls } = renewalCalls(keys.reports);
  const interval = sweepIntervalSeconds(stack?.parameters.SweepSchedule);
  checks.push(
    judgeRenewalCapacity({
      keys: expiring,
      calls,
      quota,
      renewalWindowDays: config.renewalWindowDays,
      materialLifetimeDays: config.materialLifetimeDays,
      ...(interval !== undefined ? { sweepIntervalSeconds: interval } : {}),
    }),
  );

  return {
    status: worstStatus(checks),
    region: options.region,
    ...(options.stackName !== undefined ? { stackName: options.stackName } : {}),
    settings: {
      renewalWindowDays: config.renewalWindowDays,
      materialLifetimeDays: config.materialLifetimeDays,
      managedTagKey: config.managedTagKey,
      escrowPrefix: config.escrowPrefix,
      ...(stack?.parameters.SweepSchedule ? { sweepSchedule: stack.parameters.SweepSchedule } : {}),
    },
    checks,
  };
}
