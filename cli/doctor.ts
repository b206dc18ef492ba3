/**
 * `kms-reimport doctor`: builds the clients from the AWS flags, runs lib/doctor, prints one line
 * per check (or JSON). Progress on stderr, the report on stdout.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudTrailClient } from '@aws-sdk/client-cloudtrail';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SNSClient } from '@aws-sdk/client-sns';
import { createClients, createTaggingClient } from '../lib/aws/clients.js';
import { loadConfig } from '../lib/config.js';
import { ConfigError } from '../lib/errors.js';
import { runDoctor, type DoctorCheck, type DoctorReport } from '../lib/doctor/index.js';
import type { DoctorCliOptions } from './doctor-command.js';
import { clientOptionsFrom, outputFormatOf, progress } from './options.js';

const LABEL = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;

/** The report as lines for people: one per check, its fix indented below it. */
export function formatDoctorReport(report: DoctorReport): string[] {
  const width = Math.max(...report.checks.map((c) => c.check.length));
  const lines = [`kms-reimport doctor: ${report.region}${report.stackName ? `, stack ${report.stackName}` : ''} (renewal window ${report.settings.renewalWindowDays} days)`];
  for (const c of report.checks) {
    lines.push(`${LABEL[c.status]}  ${c.check.padEnd(width)}  ${c.subject}: ${c.message}`);
    if (c.fix !== undefined && c.status !== 'ok') lines.push(`      ${' '.repeat(width)}  fix: ${c.fix}`);
  }
  const count = (s: DoctorCheck['status']) => report.checks.filter((c) => c.status === s).length;
  lines.push(`${count('fail')} fail, ${count('warn')} warn, ${count('ok')} ok`);
  return lines;
}

/**
 * The Region the clients resolved (--region, AWS_REGION, the profile). None at all is bad usage
 * (ConfigError, exit 2), said in words, not the SDK's bare "Region is missing".
 */
export async function regionOf(client: { config: { region: () => Promise<string> } }): Promise<string> {
  let region: string | undefined;
  try {
    region = await client.config.region();
  } catch {
    region = undefined;
  }
  if (!region) {
    throw new ConfigError('No AWS Region is configured: give --region REGION, or set AWS_REGION (or a region in the --profile). Nothing was checked.');
  }
  return region;
}

/** Runs doctor; true when any check failed. */
export async function runDoctorCommand(options: DoctorCliOptions, print: (line: string) => void = console.log): Promise<boolean> {
  const config = loadConfig(process.env);
  const clientOptions = clientOptionsFrom(options);
  const shared = {
    ...(clientOptions.region ? { region: clientOptions.region } : {}),
    ...(clientOptions.profile ? { profile: clientOptions.profile } : {}),
    ...(clientOptions.endpointUrl ? { endpoint: clientOptions.endpointUrl } : {}),
  };
  const { kms, secrets } = createClients(clientOptions);
  const tagging = createTaggingClient(clientOptions);
  const cloudtrail = new CloudTrailClient(shared);
  const quotas = new ServiceQuotasClient(shared);
  const stackClients =
    options.stack !== undefined
      ? { cloudformation: new CloudFormationClient(shared), events: new EventBridgeClient(shared), scheduler: new SchedulerClient(shared), sfn: new SFNClient(shared), sns: new SNSClient(shared) }
      : {};
  try {
    const region = await regionOf(kms);
    progress(`kms-reimport doctor: checking ${options.stack !== undefined ? `stack ${options.stack} and ` : ''}account in ${region} (read-only) ...`);
    const report = await runDoctor(
      { kms, secrets, tagging, cloudtrail, quotas, ...stackClients },
      { region, config, ...(options.stack !== undefined ? { stackName: options.stack } : {}) },
    );
    if (outputFormatOf(options) === 'json') print(JSON.stringify(report, null, 2));
    else for (const line of formatDoctorReport(report)) print(line);
    return report.status === 'fail';
  } finally {
    for (const client of [kms, secrets, tagging, cloudtrail, quotas, ...Object.values(stackClients)]) client.destroy();
  }
}
