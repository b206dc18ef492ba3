/**
 * Each managed key: its escrow health (the same check as `status` and the sweep:
 * lib/escrow/health.ts), whether its key policy lets the stack in (key-policy.ts), and its
 * expiration model and ValidTo against the renewal window (lib/config.ts).
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import type { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ReimportConfig } from '../config.js';
import { toNamedError } from '../errors.js';
import { checkEscrowHealth } from '../escrow/health.js';
import { cachedAliasResolver, inspectKey } from '../kms/inspect.js';
import type { RetryOptions } from '../retry.js';
import { listManagedKeyArns, mapBounded } from '../sweep.js';
import type { KeyReport } from '../types.js';
import { check, couldNotCheck, type DoctorCheck } from './check.js';
import { checkKeyPolicy } from './key-policy.js';

const DAY_MS = 86_400_000;

/** A key's expiration model and earliest ValidTo against the renewal window (pure). */
export function judgeExpiry(
  report: Pick<KeyReport, 'keyId' | 'keyState' | 'expirationModel' | 'validTo'> & { materials?: ReadonlyArray<{ validTo?: string }>; materialsListed?: boolean },
  renewalWindowDays: number,
  now: Date,
): DoctorCheck {
  const keyId = report.keyId;
  if (report.keyState === 'PendingImport' && report.materialsListed === true && (report.materials ?? []).length === 0) {
    return check(
      'expiry',
      keyId,
      'warn',
      'the key is PendingImport and never held material: recovery has nothing to restore (only onboarding gives a key its first material)',
      `kms-reimport onboard ${keyId} --material-file <its material>, or onboard a new key with kms-reimport onboard --new`,
    );
  }
  if (report.keyState === 'PendingImport') {
    return check('expiry', keyId, 'fail', 'the key is PendingImport: its material expired or was deleted, every use of it fails now', `kms-reimport recover ${keyId}`);
  }
  if (report.keyState === 'PendingDeletion' || report.keyState === 'Disabled') {
    return check('expiry', keyId, 'warn', `the key is ${report.keyState}: kms-reimport leaves it alone`, `if it is still in use: aws kms ${report.keyState === 'Disabled' ? 'enable-key' : 'cancel-key-deletion'} --key-id ${keyId}`);
  }
  // After a rotation the key's ExpirationModel is the current material's, while an older material may
  // still expire: DescribeKey's ValidTo is the earliest across materials, so it is judged whenever it
  // is there, whatever the model (and ListKeyRotations' own ValidTos, when listed, count too).
  const validTos = [report.validTo, ...(report.materials ?? []).map((m) => m.validTo)].filter((v): v is string => v !== undefined && !Number.isNaN(Date.parse(v)));
  const earliest = validTos.sort((a, b) => Date.parse(a) - Date.parse(b))[0];
  if (earliest === undefined) {
    if (report.expirationModel === 'KEY_MATERIAL_DOES_NOT_EXPIRE') {
      return check('expiry', keyId, 'ok', 'KEY_MATERIAL_DOES_NOT_EXPIRE: nothing to renew (a deletion by hand is still recovered)');
    }
    return check('expiry', keyId, 'warn', `expiration model ${report.expirationModel ?? 'unknown'} and no ValidTo: doctor cannot tell when it expires`, `aws kms describe-key --key-id ${keyId}`);
  }
  const what =
    report.expirationModel === 'KEY_MATERIAL_EXPIRES'
      ? `KEY_MATERIAL_EXPIRES, ValidTo ${earliest}`
      : `${report.expirationModel ?? 'expiration model unknown'} for the current material, but a material of the key expires: earliest ValidTo ${earliest}`;
  const validTo = Date.parse(earliest);
  const renewFrom = new Date(validTo - renewalWindowDays * DAY_MS);
  const daysLeft = (validTo - now.getTime()) / DAY_MS;
  if (validTo <= now.getTime()) {
    return check('expiry', keyId, 'fail', `${what} has passed`, `kms-reimport recover ${keyId}`);
  }
  if (renewalWindowDays === 0) {
    return check('expiry', keyId, 'fail', `${what}, and the renewal window is 0 days: the sweep never renews, the key goes PendingImport at ValidTo`, 'set RenewalWindowDays (KMS_REIMPORT_RENEWAL_WINDOW_DAYS) to 14 or more and deploy again');
  }
  if (renewFrom.getTime() <= now.getTime()) {
    return check(
      'expiry',
      keyId,
      'warn',
      `${what} (${daysLeft.toFixed(1)} days) is inside the ${renewalWindowDays}-day renewal window: the sweep should renew it; if it stays, renewal is not happening`,
      `kms-reimport renew ${keyId}, then look at the sweep's outcomes`,
    );
  }
  return check('expiry', keyId, 'ok', `${what} (${Math.floor(daysLeft)} days); the sweep renews it from ${renewFrom.toISOString()}`);
}

export interface KeyChecksDeps {
  tagging: Pick<ResourceGroupsTaggingAPIClient, 'send'>;
  kms: KMSClient;
  secrets: SecretsManagerClient;
}

export interface KeyChecksResult {
  checks: DoctorCheck[];
  /** The managed keys that could be inspected (for the quota check). */
  reports: KeyReport[];
}

/** Lists the managed keys and checks each; a key that cannot be inspected is a `warn` line. */
export async function checkManagedKeys(
  deps: KeyChecksDeps,
  config: ReimportConfig,
  ctx: { roleArns: string[]; now: Date; retry: RetryOptions },
): Promise<KeyChecksResult> {
  let arns: string[];
  try {
    arns = await listManagedKeyArns(deps.tagging as ResourceGroupsTaggingAPIClient, config, ctx.retry);
  } catch (e) {
    return { checks: [couldNotCheck('keys', `tag ${config.managedTagKey}=${config.managedTagValue}`, 'GetResources', e, 'tag:GetResources')], reports: [] };
  }
  if (arns.length === 0) {
    return {
      checks: [check('keys', `tag ${config.managedTagKey}=${config.managedTagValue}`, 'warn', 'no key carries the managed tag in this account and Region: the service watches nothing', 'onboard a key: kms-reimport onboard <key> --material-file PlaintextKeyMaterial.bin')],
      reports: [],
    };
  }
  const resolveAlias = cachedAliasResolver(deps.kms, ctx.retry);
  const perKey = await mapBounded(arns, 4, async (arn): Promise<{ checks: DoctorCheck[]; report?: KeyReport }> => {
    let report: KeyReport;
    try {
      report = await inspectKey(deps.kms, arn, ctx.retry);
    } catch (e) {
      const named = toNamedError(e, arn);
      return { checks: [check('key', arn, 'warn', `could not be inspected: ${named.name}: ${named.message}`, 'check the key and this identity\'s KMS permissions, then run doctor again')] };
    }
    if (report.origin !== 'EXTERNAL') {
      return { checks: [check('key', report.keyId, 'warn', `carries the managed tag but its Origin is ${report.origin}: it has no imported material, kms-reimport skips it`, `remove the tag: aws kms untag-resource --key-id ${report.keyId} --tag-keys ${config.managedTagKey}`)], report };
    }
    const health = await checkEscrowHealth(deps.secrets, report, config, ctx.retry, resolveAlias);
    const escrow =
      health.escrow === 'ok'
        ? check('escrow', report.keyId, 'ok', 'escrow secret exists, is bound to the key and is not encrypted under it')
        : check('escrow', report.keyId, 'fail', `escrow ${health.escrow}: ${health.escrowReason ?? ''}`.trim(), 'follow the step named above, then run kms-reimport status');
    const arnParts = /^arn:([^:]+):kms:[^:]*:(\d{12}):key\//.exec(report.arn);
    const policy = await checkKeyPolicy(deps.kms, {
      keyId: report.keyId,
      partition: arnParts?.[1] ?? 'aws',
      account: arnParts?.[2] ?? '',
      roleArns: ctx.roleArns,
      keySpec: report.keySpec,
      keyUsage: report.keyUsage,
    });
    return { checks: [escrow, policy, judgeExpiry(report, config.renewalWindowDays, ctx.now)], report };
  });
  return { checks: perKey.flatMap((k) => k.checks), reports: perKey.flatMap((k) => (k.report && k.report.origin === 'EXTERNAL' ? [k.report] : [])) };
}
