/**
 * The fleet against KMS's request quotas. Every renewal (and every recovery) needs at least one
 * GetParametersForImport per material, and that operation's quota is the lowest of all (1 per
 * second per account and Region by default, 0.25 in the 2023 table). Worst case, every managed key
 * was imported on the same day with the same lifetime, so all of them enter the renewal window at
 * once: the sweep must renew them all between noticing (up to one sweep interval late) and ValidTo.
 *
 * The quota is read from Service Quotas (ListServiceQuotas, then ListAWSDefaultServiceQuotas, for
 * ServiceCode kms) where allowed, else the documented default (/work/shared/KMS-FACTS.md).
 */
import { ListAWSDefaultServiceQuotasCommand, ListServiceQuotasCommand, type ServiceQuota, type ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import type { KeyReport } from '../types.js';
import { check, errorLabel, type DoctorCheck } from './check.js';

/** KMS's documented default for GetParametersForImport, requests per second. */
export const DOCUMENTED_IMPORT_PARAMETERS_RATE = 1;

export interface QuotaReading {
  ratePerSecond: number;
  /** Where the figure comes from, for the report line. */
  source: string;
}

const IMPORT_PARAMETERS = /GetParametersForImport/i;

/**
 * The lowest GetParametersForImport quota listed, every page read: more than one quota name may
 * match (a rate per operation and one shared with other import operations, say), and the sweep is
 * held to the lowest of them.
 */
async function findQuota(list: (token: string | undefined) => Promise<{ Quotas?: ServiceQuota[]; NextToken?: string } | undefined>): Promise<ServiceQuota | undefined> {
  let lowest: ServiceQuota | undefined;
  let token: string | undefined;
  do {
    const page = await list(token);
    for (const q of page?.Quotas ?? []) {
      if (q.QuotaName === undefined || !IMPORT_PARAMETERS.test(q.QuotaName) || typeof q.Value !== 'number' || !(q.Value > 0)) continue;
      if (lowest === undefined || q.Value < lowest.Value!) lowest = q;
    }
    token = page?.NextToken || undefined;
  } while (token);
  return lowest;
}

/** The GetParametersForImport rate of this account and Region: applied value, else AWS default, else documented. */
export async function readImportParametersRate(quotas: Pick<ServiceQuotasClient, 'send'>): Promise<QuotaReading> {
  const notes: string[] = [];
  try {
    const applied = await findQuota((token) => quotas.send(new ListServiceQuotasCommand({ ServiceCode: 'kms', ...(token ? { NextToken: token } : {}) })));
    if (applied) return { ratePerSecond: applied.Value!, source: `Service Quotas, applied value of "${applied.QuotaName}" (${applied.QuotaCode ?? '?'})` };
    notes.push('ListServiceQuotas lists no GetParametersForImport quota');
  } catch (e) {
    notes.push(`ListServiceQuotas failed with ${errorLabel(e)}`);
  }
  try {
    const byDefault = await findQuota((token) => quotas.send(new ListAWSDefaultServiceQuotasCommand({ ServiceCode: 'kms', ...(token ? { NextToken: token } : {}) })));
    if (byDefault) return { ratePerSecond: byDefault.Value!, source: `Service Quotas, AWS default of "${byDefault.QuotaName}" (${byDefault.QuotaCode ?? '?'})` };
    notes.push('ListAWSDefaultServiceQuotas lists none either');
  } catch (e) {
    notes.push(`ListAWSDefaultServiceQuotas failed with ${errorLabel(e)}`);
  }
  return { ratePerSecond: DOCUMENTED_IMPORT_PARAMETERS_RATE, source: `KMS's documented default (${notes.join('; ')})` };
}

/** GetParametersForImport calls a renewal of every managed key needs: one per expiring material (at least one per expiring key). */
export function renewalCalls(reports: ReadonlyArray<Pick<KeyReport, 'expirationModel' | 'materials'>>): { keys: number; calls: number } {
  let keys = 0;
  let calls = 0;
  for (const r of reports) {
    const expiring = r.materials.filter((m) => m.expirationModel === 'KEY_MATERIAL_EXPIRES').length;
    if (r.expirationModel !== 'KEY_MATERIAL_EXPIRES' && expiring === 0) continue;
    keys++;
    calls += Math.max(1, expiring);
  }
  return { keys, calls };
}

/** Seconds between sweeps for `rate(N unit)`; undefined for cron() or anything else. */
export function sweepIntervalSeconds(expression: string | undefined): number | undefined {
  const m = /^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$/.exec(expression?.trim() ?? '');
  if (!m) return undefined;
  const unit = m[2]!.startsWith('minute') ? 60 : m[2]!.startsWith('hour') ? 3600 : 86_400;
  return Number(m[1]) * unit;
}

export interface CapacityInput {
  keys: number;
  calls: number;
  quota: QuotaReading;
  renewalWindowDays: number;
  materialLifetimeDays: number;
  /** How late the sweep may notice a key (one sweep interval); default 6 hours, the template's. */
  sweepIntervalSeconds?: number;
}

const DAY = 86_400;
const days = (seconds: number) =>
  seconds < 120 ? `${Math.ceil(seconds)} s` : seconds < 2 * 3600 ? `${Math.ceil(seconds / 60)} minutes` : seconds < DAY ? `${(seconds / 3600).toFixed(1)} hours` : `${(seconds / DAY).toFixed(1)} days`;

/**
 * Whether the sweep can renew every key inside the renewal window at the quota's rate (pure).
 * fail: even working without pause it cannot; warn: it can, but with less than a 2x margin (the
 * quota is shared with everything else in the account and Region, and throttled calls retry).
 */
export function judgeRenewalCapacity(input: CapacityInput): DoctorCheck {
  const subject = 'GetParametersForImport quota';
  const interval = input.sweepIntervalSeconds ?? 6 * 3600;
  const rate = input.quota.ratePerSecond;
  const busy = input.calls / rate;
  const window = input.renewalWindowDays * DAY;
  const figures =
    `${input.keys} expiring key(s), ${input.calls} GetParametersForImport call(s) at ${rate}/s (${input.quota.source}) take ${days(busy)}; ` +
    `a fleet-wide outage would take as long to recover`;
  if (input.calls === 0) return check('quota', subject, 'ok', `no managed key's material expires: nothing to renew (${rate}/s, ${input.quota.source})`);
  const needed = busy + interval;
  // A window that leaves a 2x margin on the work, in whole days.
  const advisedDays = Math.ceil((2 * busy + interval) / DAY);
  const widen =
    advisedDays < input.materialLifetimeDays && advisedDays <= 365
      ? `widen the renewal window by ${advisedDays - input.renewalWindowDays} day(s) to ${advisedDays} (RenewalWindowDays / KMS_REIMPORT_RENEWAL_WINDOW_DAYS), or raise the quota in Service Quotas`
      : `raise the GetParametersForImport quota in Service Quotas to at least ${Math.ceil((2 * input.calls) / Math.max(1, window - interval))}/s: no renewal window shorter than the material lifetime (${input.materialLifetimeDays} days) fits the work`;
  if (needed > window) {
    return check('quota', subject, 'fail', `${figures}; with up to ${days(interval)} before the sweep notices, that does not fit the ${input.renewalWindowDays}-day renewal window: keys would expire before their renewal`, widen);
  }
  if (2 * busy + interval > window) {
    return check('quota', subject, 'warn', `${figures}; that fits the ${input.renewalWindowDays}-day renewal window with less than a 2x margin (the quota is shared with the rest of the account)`, widen);
  }
  return check('quota', subject, 'ok', `${figures}; that fits the ${input.renewalWindowDays}-day renewal window with room to spare`);
}
