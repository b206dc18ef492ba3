/**
 * What a plan adds to "what a run would do": whether the run would fail, or end skipped by name,
 * before it starts, and what to do first. Read-only, like the plan itself: the key's report (from
 * the plan's own inspection) and, when the run would import, the escrow secret's health by
 * DescribeSecret (lib/escrow/health.ts, the sweep's check; the secret's value is never read).
 *
 * What a plan cannot see without reading the value (a material missing from the secret, a secret
 * that does not parse) is left to the run, which fails with EscrowMissing / EscrowInvalid.
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ReimportConfig } from './config.js';
import { checkEscrowHealth, type EscrowHealthResult } from './escrow/health.js';
import { skipErrorName, type Plan } from './kms/classify.js';
import { describeAliasTarget } from './kms/inspect.js';
import { isImportableKeySpec } from './kms/key-specs.js';
import type { RetryOptions } from './retry.js';
import type { Classification, KeyReport, WouldFail } from './types.js';

export interface Foresight {
  /** Set when the run would not do what the plan says it would try. */
  wouldFail?: WouldFail;
  /** What the run would meet without failing (an escrow to look at), for the plan's reason. */
  notes: string[];
}

/** The reason a run that skips a key of this spec gives (recoverKey says the same when it runs). */
export function unimportableSpecReason(report: Pick<KeyReport, 'keyId' | 'keySpec'>, config: Pick<ReimportConfig, 'managedTagKey'>): string {
  return `Key ${report.keyId} has key spec ${report.keySpec}, which kms-reimport cannot reimport; it is left alone. Remove the ${config.managedTagKey} tag or handle it by hand.`;
}

/**
 * How a run for this key would end when it cannot do what the plan says, by the run's own rules:
 * - a key the run skips by name (not managed: KeyNotManaged; not EXTERNAL, pending deletion,
 *   disabled, never imported, unavailable, or a key spec kms-reimport cannot import: KeyNotEligible)
 *   → `skipped` with that name and the classification's next step;
 * - a run that would import, whose escrow secret is missing or scheduled for deletion (EscrowMissing),
 *   not bound to the key (EscrowInvalid), encrypted under the key itself while the key is down
 *   (EscrowMissing: Secrets Manager cannot decrypt it), or absent from a replica key's Region
 *   (EscrowMissing) → `failed` with that name and the health check's fix.
 * A `mismatched` escrow (the run still uses it), one that could not be checked, a self-encrypted one
 * on an Enabled key, and a Multi-Region primary's unreplicated escrow do not stop this run: they
 * are notes.
 */
export async function foreseeRun(
  deps: { kms: KMSClient; secrets: SecretsManagerClient },
  input: { report: KeyReport; classification: Classification; plan: Plan; config: ReimportConfig; retry: RetryOptions },
): Promise<Foresight> {
  const { report, classification, plan, config, retry } = input;
  if (plan.action === 'skip') {
    const errorName = skipErrorName(classification);
    if (errorName === undefined) return { notes: [] };
    return { wouldFail: { status: 'skipped', errorName, reason: `A run would end skipped (${errorName}) and change nothing: ${plan.reason}` }, notes: [] };
  }
  if (!isImportableKeySpec(report.keySpec)) {
    return { wouldFail: { status: 'skipped', errorName: 'KeyNotEligible', reason: `A run would end skipped (KeyNotEligible): ${unimportableSpecReason(report, config)}` }, notes: [] };
  }
  const health = await checkEscrowHealth(deps.secrets, report, config, retry, (alias) => describeAliasTarget(deps.kms, alias, retry));
  return escrowForesight(health, report, plan.action);
}

function escrowForesight(health: EscrowHealthResult, report: KeyReport, action: 'recover' | 'renew'): Foresight {
  const why = health.escrowReason ?? `escrow ${health.escrow}`;
  const fails = (errorName: 'EscrowMissing' | 'EscrowInvalid'): Foresight => ({
    wouldFail: { status: 'failed', errorName, reason: `A ${action} run would fail with ${errorName} before importing anything (escrow ${health.escrow}): ${why}` },
    notes: [],
  });
  switch (health.escrow) {
    case 'ok':
      return { notes: [] };
    case 'missing':
      return fails('EscrowMissing');
    case 'unbound':
      return fails('EscrowInvalid');
    case 'self-encrypted':
      // The key is down during a recovery: Secrets Manager cannot decrypt a secret under it.
      return action === 'recover' ? fails('EscrowMissing') : { notes: [`Escrow self-encrypted: ${why}`] };
    case 'unreplicated':
      // A replica key's Region has no escrow of its own; a primary's run reads the primary Region's.
      return report.multiRegionKeyType === 'REPLICA' ? fails('EscrowMissing') : { notes: [`Escrow unreplicated: ${why}`] };
    case 'mismatched':
      return { notes: [`Escrow mismatched (this run still uses it: its name binds it to the key): ${why}`] };
    case 'unreadable':
      return { notes: [`Escrow not checked: ${why}`] };
  }
}
