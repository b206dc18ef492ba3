/**
 * recoverKey: one run for one key, start to finish, as the CLI (and anything not using the state
 * machine) runs it: inspect → classify → plan → [take the key's lease, inspect again under it] →
 * for each material: import parameters → import escrowed material (a spent/expired token gets new
 * parameters, at most MAX_TOKEN_REFRESHES times per run, as in the state machine) → verify →
 * [release the lease] → Outcome. It never throws for domain errors: every run ends in an Outcome.
 *
 * The critical path: every call that does not need another's answer goes out beside it. For a key
 * ID or ARN, 5 round trips: DescribeKey ∥ ListResourceTags ∥ ListKeyRotations → GetParametersForImport
 * ∥ GetSecretValue → ImportKeyMaterial → Encrypt → Decrypt (an alias: DescribeKey first, 6). Nothing
 * is read from escrow before the key is classified managed and eligible; the verify probe needs no
 * DescribeKey before it (see verifyAfterImport). A plan is the inspection, then (when the run would
 * import) DescribeSecret on the escrow secret to say whether the run would fail (lib/plan.ts).
 *
 * The lease (deps.lease, lib/lease) is the state machine's: a run that finds it taken waits, then
 * inspects again; a key that another run has meanwhile brought back (or a renewal another run
 * could have just done) ends `skipped` naming that run, never a second import; a lease still
 * taken after LEASE_ATTEMPTS attempts ends `skipped` naming its holder.
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { countCalls } from './aws/count-calls.js';
import type { ReimportConfig } from './config.js';
import { ImportTokenExpired } from './errors.js';
import { escrowSecretId } from './escrow/read.js';
import { classifyKey, earliestValidTo, expiringMaterials, planAction, skipErrorName, type Plan } from './kms/classify.js';
import { getImportParameters } from './kms/import-parameters.js';
import { computeValidTo, importEscrowedMaterial, resolveExpirationModel, type ImportResult } from './kms/import-material.js';
import { inspectKey } from './kms/inspect.js';
import { isImportableKeySpec } from './kms/key-specs.js';
import { verifyAfterImport } from './kms/verify.js';
import type { HeldLease, KeyLease } from './lease/index.js';
import { describeFailure, statusForAction } from './outcome.js';
import { foreseeRun, unimportableSpecReason } from './plan.js';
import { acquireKeyLease, newLeaseOwner, releaseKeyLease, runOutcome, runParametersPacer, runRetry, silentLogger, type RunLogger } from './run.js';
import type { Classification, KeyRef, KeyReport, Outcome, RequestedAction } from './types.js';
import { chooseWrapping } from './wrap/choose.js';

export type RecoverLogger = RunLogger;

export interface RecoverDeps {
  kms: KMSClient;
  secrets: SecretsManagerClient;
  logger?: RecoverLogger;
  /** Injected for tests: the waits between retries and the pacing of GetParametersForImport. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Injected for tests: a monotonic clock in ms that paces GetParametersForImport (default performance.now). */
  monotonicNow?: () => number;
  /**
   * The per-key lease (lib/lease, the one the state machine takes). Unset: this run is not
   * serialised with other runs for the key (the CLI warns).
   */
  lease?: KeyLease;
  /** Who this run is in the lease table (default `run:<host>:<pid>:<uuid>`). */
  leaseOwner?: string;
}

export interface RecoverOptions {
  action: RequestedAction;
  config: ReimportConfig;
  now?: () => Date;
}

const DAY_MS = 86_400_000;
const noop = () => {};
/**
 * New parameters after ImportTokenExpired, per run: at most this many, never a loop. The state
 * machine's TokenRefreshAllowed Choice uses the same number (test/unit/asl.test.ts checks).
 */
export const MAX_TOKEN_REFRESHES = 3;
/** A renewal that would push ValidTo out by less than this is not worth an import (it would repeat one that just happened). */
export const RENEWAL_MIN_GAIN_MS = DAY_MS;


/**
 * Which materials a run imports, in order (undefined = the current/only material, no ID named).
 * recover: every material KMS lists as missing, else the current one.
 * renew: on a key with one material, that one; with several, the expiring permanently associated
 * ones (expiringMaterials) inside the renewal window (all of them if none is, on an explicit
 * renew), soonest first, by KeyMaterialId. A renewal never shortens, nor repeats an import that just
 * happened: a material whose ValidTo is already within RENEWAL_MIN_GAIN_MS of the ValidTo this run
 * would set (or after it) is left out (so the list may be empty). That is what keeps a renew that
 * races another run's recover or renew (one after the other under the lease) to one import.
 */
export function importTargets(
  report: KeyReport,
  classification: Classification,
  action: 'recover' | 'renew',
  config: ReimportConfig,
  now: Date,
): Array<string | undefined> {
  if (action === 'recover') {
    const missing = classification.kind === 'pending-import' ? classification.missingMaterialIds : [];
    return missing.length > 0 ? [...missing] : [undefined];
  }
  const newValidTo = computeValidTo(now, config.materialLifetimeDays).getTime();
  const lengthens = (keyMaterialId: string | undefined, validTo: string | undefined) =>
    validTo === undefined ||
    resolveExpirationModel(config, report, keyMaterialId) === 'KEY_MATERIAL_DOES_NOT_EXPIRE' ||
    Date.parse(validTo) < newValidTo - RENEWAL_MIN_GAIN_MS;
  const materialIds = new Set(report.materials.map((m) => m.keyMaterialId).filter(Boolean));
  const expiring = expiringMaterials(report);
  if (materialIds.size <= 1 || expiring.length === 0) return lengthens(undefined, earliestValidTo(report)?.validTo) ? [undefined] : [];
  const soon = expiring.filter((m) => Date.parse(m.validTo as string) - now.getTime() <= config.renewalWindowDays * DAY_MS);
  return (soon.length > 0 ? soon : expiring).filter((m) => lengthens(m.keyMaterialId, m.validTo)).map((m) => m.keyMaterialId as string);
}

/**
 * The plan with the materials it imports. A renew with nothing left to push out (every ValidTo is
 * already at or after the one a renewal would set now) becomes a skip that names the current ValidTo.
 */
export function planImports(
  report: KeyReport,
  classification: Classification,
  plan: Plan,
  config: ReimportConfig,
  now: Date,
): { plan: Plan; targets: Array<string | undefined> } {
  if (plan.action === 'skip') return { plan, targets: [] };
  const targets = importTargets(report, classification, plan.action, config, now);
  if (targets.length > 0 || plan.action !== 'renew') return { plan, targets };
  const current = earliestValidTo(report)?.validTo ?? report.validTo ?? 'its current ValidTo';
  const wouldSet = computeValidTo(now, config.materialLifetimeDays).toISOString();
  return {
    plan: {
      action: 'skip',
      reason:
        `Key ${report.keyId}: nothing to renew. Its material is valid until ${current}, less than a day before (or after) the ValidTo a renewal would set now ` +
        `(${wouldSet}, ${config.materialLifetimeDays} day(s) ahead): a renewal never shortens it, nor repeats an import that just happened (another run may have just renewed or recovered it). ` +
        `To push it further out, raise KMS_REIMPORT_MATERIAL_LIFETIME_DAYS (at most 365). Before: ${plan.reason}`,
    },
    targets: [],
  };
}

export async function recoverKey(deps: RecoverDeps, keyRef: KeyRef, options: RecoverOptions): Promise<Outcome> {
  const clock = options.now ?? (() => new Date());
  const { config, action } = options;
  const log = deps.logger ?? silentLogger;
  const startedAt = clock();
  const calls: Record<string, number> = {};
  const kms = countCalls(deps.kms, calls);
  const secrets = countCalls(deps.secrets, calls);
  const { retry, onRetry } = runRetry(config, deps, log, keyRef);
  const paceParameters = runParametersPacer(config, deps, log, keyRef);

  let report: KeyReport | undefined;
  const imported: ImportResult[] = [];
  const finish = runOutcome({ keyRef, action, startedAt, clock, calls, report: () => report, imported: () => imported });

  const inspectAndPlan = async () => {
    const inspected = await inspectKey(kms, keyRef, retry, (message, extra) => log.warn(message, extra));
    report = inspected;
    const classification = classifyKey(inspected, config, clock());
    // A plan reports what 'auto' would do, including a renew that would find nothing to push out.
    const planned = planImports(inspected, classification, planAction(classification, action === 'plan' ? 'auto' : action), config, clock());
    log.info('key inspected', { keyRef, keyId: inspected.keyId, keyState: inspected.keyState, classification: classification.kind, plan: planned.plan.action });
    return { report: inspected, classification, ...planned };
  };

  let held: HeldLease | undefined;
  try {
    let { report: inspected, classification, plan, targets } = await inspectAndPlan();
    report = inspected;

    if (action === 'plan') {
      // Would the run fail (or be skipped by name) before it starts? Read-only, like the plan.
      const foresight = await foreseeRun({ kms, secrets }, { report, classification, plan, config, retry });
      const notes = foresight.notes.length > 0 ? ` ${foresight.notes.join(' ')}` : '';
      const planned = finish({ status: 'planned', reason: `plan: would ${plan.action}: ${plan.reason}${notes}` });
      if (foresight.wouldFail) log.warn('plan: the run would not do its work', { keyId: report.keyId, wouldFail: foresight.wouldFail.status, errorName: foresight.wouldFail.errorName });
      return foresight.wouldFail ? { ...planned, wouldFail: foresight.wouldFail } : planned;
    }
    if (plan.action === 'skip') {
      const errorName = skipErrorName(classification);
      log.info('skipped', { keyId: report.keyId, reason: plan.reason });
      return finish({ status: 'skipped', reason: plan.reason, ...(errorName ? { errorName } : {}) });
    }

    if (deps.lease) {
      const taking = await takeLease(deps.lease, report, plan);
      if ('skipped' in taking) return finish({ status: 'skipped', reason: taking.skipped, errorName: 'LeaseTaken' });
      held = taking.held;
      // Inspect again under the lease: a run that released it just before this one took it may have done the work.
      ({ report: inspected, classification, plan, targets } = await inspectAndPlan());
      report = inspected;
      if (report.arn !== held.keyArn) {
        return finish({
          status: 'skipped',
          reason: `${keyRef} named key ${held.keyArn} when this run took its lease and names ${report.arn} now (an alias moved?); nothing was imported. Start the run again with the key ID.`,
        });
      }
      if (plan.action === 'skip') {
        const errorName = skipErrorName(classification);
        const reason = `Key ${report.keyId} needed nothing once this run held its lease (another run may have just handled it): ${plan.reason}`;
        log.info('skipped', { keyId: report.keyId, reason });
        return finish({ status: 'skipped', reason, ...(errorName ? { errorName } : {}) });
      }
    }

    if (!isImportableKeySpec(report.keySpec)) {
      const reason = unimportableSpecReason(report, config);
      log.info('skipped', { keyId: report.keyId, reason });
      return finish({ status: 'skipped', reason, errorName: 'KeyNotEligible' });
    }
    const choice = chooseWrapping(report.keySpec, config, report.keyId);
    let refreshes = 0;
    for (const keyMaterialId of targets) {
      for (;;) {
        const keyId = report.keyId;
        // GetParametersForImport and the escrow read go out together (importEscrowedMaterial reads the
        // escrow while the parameters come). The pacer's wait, if any, comes first: the escrow is
        // read only once the call is under way, so no material waits in memory for the pacer.
        let underWay!: () => void;
        const sending = new Promise<void>((resolve) => (underWay = resolve));
        const params = paceParameters(() => {
          underWay();
          return getImportParameters(kms, keyId, choice, retry);
        }).then((p) => {
          log.info('import parameters received', {
            keyId,
            wrappingAlgorithm: p.wrappingAlgorithm,
            wrappingKeySpec: p.wrappingKeySpec,
            parametersValidTo: p.parametersValidTo,
          });
          return p;
        });
        params.catch(() => {}); // handled by importEscrowedMaterial, which reports it
        await Promise.race([sending, params.then(noop, noop)]);
        try {
          const result = await importEscrowedMaterial(
            { kms, secrets, onRetry, logger: log, ...(deps.sleep ? { sleep: deps.sleep } : {}), ...(deps.random ? { random: deps.random } : {}) },
            { report, params, ...(keyMaterialId ? { keyMaterialId } : {}), config, now: clock() },
          );
          imported.push(result);
          log.info('material imported', { keyId: report.keyId, ...result });
          break;
        } catch (e) {
          if (e instanceof ImportTokenExpired && refreshes < MAX_TOKEN_REFRESHES) {
            refreshes++;
            log.warn('import token expired or replaced; fetching new import parameters', { keyId: report.keyId, keyMaterialId });
            continue;
          }
          throw e;
        }
      }
    }

    const done = plan.action === 'recover' ? 'Recovered' : 'Renewed';
    const reimported = `reimported ${imported.length} material(s) from escrow secret ${escrowSecretId(report, config)}`;
    // The imports succeeded: the round trip goes first, a DescribeKey only if KMS refuses it for the key's state.
    const verified = await verifyAfterImport(kms, report, retry);
    if (!verified.verified) {
      const reason =
        `${done} key ${report.keyId}: ${reimported}, so its material is back, but the key is Disabled: it was left Disabled as found ` +
        `(disabled before its material went missing, taken as deliberate) and not verified (a disabled key does no cryptographic round trip: KMS refused the probe, DescribeKey says Disabled). ` +
        `Nothing more to do unless it should be usable: then enable it yourself (aws kms enable-key --key-id ${report.keyId}). Before: ${plan.reason}`;
      log.warn('material reimported; key left Disabled as found, not verified', { keyId: report.keyId, keyState: verified.keyState });
      return finish({ status: statusForAction(plan.action), reason, keyStateAfter: verified.keyState, verified: false });
    }
    log.info('key verified', { keyId: report.keyId, keyState: verified.keyState, check: verified.check });
    return finish({
      status: statusForAction(plan.action),
      reason: `${done} key ${report.keyId}: ${reimported} and verified it (${verified.check}). Before: ${plan.reason}`,
      keyStateAfter: verified.keyState,
      verified: true,
    });
  } catch (e) {
    const { errorName, reason } = describeFailure(e, report?.keyId ?? keyRef);
    log.error('run failed', { keyRef, keyId: report?.keyId, errorName, reason });
    return finish({ status: 'failed', errorName, reason, ...(imported.length > 0 ? { verified: false } : {}) });
  } finally {
    if (held && deps.lease) await releaseKeyLease(deps.lease, held, log);
  }

  /**
   * Takes the key's lease, or says why this run ends skipped. Taken: wait, inspect again; a key
   * that no longer needs recovering was handled by the holder (a renewal is not repeated after
   * another run's work); still taken after LEASE_ATTEMPTS attempts: skipped naming the holder.
   */
  async function takeLease(lease: KeyLease, first: KeyReport, firstPlan: Plan): Promise<{ held: HeldLease } | { skipped: string }> {
    let planned = firstPlan;
    return acquireKeyLease({
      lease,
      keyArn: first.arn,
      keyId: first.keyId,
      owner: deps.leaseOwner ?? newLeaseOwner(),
      ...(config.leaseWaitSeconds !== undefined ? { waitSeconds: config.leaseWaitSeconds } : {}),
      ...(deps.sleep ? { sleep: deps.sleep } : {}),
      log,
      wanted: () => `${planned.action}: ${planned.reason}`,
      afterWait: async (e) => {
        const again = await inspectAndPlan();
        if (again.plan.action !== 'recover') {
          const now = again.plan.action === 'skip' ? again.plan.reason : `it could be renewed again, but a renewal right after another run's work would only repeat it: ${again.plan.reason}`;
          return (
            `Key ${again.report.keyId} was left to ${e.holder}, which held its lease while this run waited (already handled by ${e.holder}); ` +
            `this run did not import. The key now: ${now}`
          );
        }
        planned = again.plan;
        return undefined;
      },
    });
  }
}
