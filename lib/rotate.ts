/**
 * rotateKey: one rotation run for one key, start to finish, as the CLI runs it: inspect → classify
 * → choose the mode → [plan: say what would happen, stop] → take the key's lease (the same one
 * recoverKey and the state machine take), inspect again under it → rotate → Outcome. It never
 * throws for domain errors: every run ends in an Outcome (`rotated`, `skipped` with the reason,
 * `failed` with a named error, or `planned`).
 *
 * Modes: in place (lib/rotation/in-place.ts) for SYMMETRIC_DEFAULT keys; alias swap
 * (lib/rotation/alias-swap.ts: a new key, its aliases moved) for HMAC, RSA and ECC keys, when asked
 * (`mode: 'alias-swap'`), or when the key has had KMS's 25 on-demand rotations and
 * config.rotationCapFallback is `alias-swap`. A Multi-Region PRIMARY SYMMETRIC_DEFAULT key is rotated in
 * place with its replicas (lib/rotation/multi-region.ts: the same material into every replica
 * Region, then RotateKeyOnDemand on the primary); a replica key is skipped ("rotate its primary"),
 * and alias swap is refused for every Multi-Region key (it would need a new Multi-Region key with
 * replicas of its own).
 */
import { classifyKey } from './kms/classify.js';
import { inspectKey } from './kms/inspect.js';
import { isImportableKeySpec } from './kms/key-specs.js';
import type { ReimportConfig } from './config.js';
import { countCalls } from './aws/count-calls.js';
import { RotationLimitReached } from './errors.js';
import { escrowSecretId } from './escrow/read.js';
import type { HeldLease } from './lease/index.js';
import { describeFailure } from './outcome.js';
import type { RecoverDeps } from './recover.js';
import { multiRegionRefusal, regionalKmsClients, regionalSecretsClients, replicaRegionsOf, type KmsFor, type SecretsFor } from './rotation/multi-region.js';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { KMSClient } from '@aws-sdk/client-kms';
import { rotateByAliasSwap, ROTATION_ID_TAG } from './rotation/alias-swap.js';
import { ROTATED_FROM_TAG, ROTATED_TO_TAG } from './rotation/schedule.js';
import { countOnDemandRotations, defaultRotationId, describeInPlacePlan, inPlaceRefusal, MAX_ON_DEMAND_ROTATIONS, rotateInPlace } from './rotation/in-place.js';
import { acquireKeyLease, newLeaseOwner, releaseKeyLease, runOutcome, runParametersPacer, runRetry, silentLogger } from './run.js';
import type { Classification, KeyRef, KeyReport, Outcome, RotationRecord } from './types.js';
import { ROTATION_ID } from './escrow/format.js';

export type RotationMode = 'auto' | 'in-place' | 'alias-swap';

export interface RotateDeps extends RecoverDeps {
  /**
   * A KMS client for a Region (a Multi-Region primary's replicas), with the same endpoint and
   * credentials as `kms`. Default: one made per Region from `kms`'s configuration.
   */
  kmsFor?: KmsFor;
  /** A Secrets Manager client for a Region (escrow as a replica Region reads it). Default: one made per Region from `secrets`'s configuration. */
  secretsFor?: SecretsFor;
}

export interface RotateOptions {
  config: ReimportConfig;
  now?: () => Date;
  /** auto (default): in place for SYMMETRIC_DEFAULT keys, alias swap for the others. */
  mode?: RotationMode;
  /** rotate: do it; plan: say what it would do, change nothing. */
  action: 'rotate' | 'plan';
  /**
   * Names the rotation in escrow and in its secret version tokens. A run that finds the key's
   * current material made by this rotation only verifies it. Default: one per UTC day
   * (`rotation-YYYY-MM-DD`); give another to rotate a key twice in a day.
   */
  rotationId?: string;
}

/** Why a key is not rotated (from its classification), or undefined when it is eligible. */
/**
 * Why a key cannot be rotated now, from its classification (undefined: Enabled, it can). Shared by
 * the CLI/library path and the workflow's Inspect; `recoverHow` says how to recover a PendingImport
 * key where the caller runs (a CLI command, a manual event).
 */
export function rotationRefusal(c: Classification, recoverHow: string): { reason: string; errorName: string } | undefined {
  switch (c.kind) {
    case 'healthy':
    case 'expiring':
      return undefined;
    case 'not-managed':
      return { reason: c.reason, errorName: 'KeyNotManaged' };
    case 'pending-import':
      return { reason: `${c.reason} It cannot be rotated while material is missing: recover it first (${recoverHow}), then rotate.`, errorName: 'KeyNotEligible' };
    default:
      return { reason: c.reason, errorName: 'KeyNotEligible' };
  }
}

type ModeChoice = { mode: 'in-place' | 'alias-swap'; why: string } | { skip: string };

/** The rotation mode for this key, or why it is skipped. */
export function chooseRotationMode(report: KeyReport, requested: RotationMode): ModeChoice {
  if (report.multiRegion) {
    const refusal = multiRegionRefusal(report);
    if (refusal) return { skip: refusal };
    if (requested === 'alias-swap' || report.keySpec !== 'SYMMETRIC_DEFAULT') {
      return {
        skip:
          `Key ${report.keyId} is a Multi-Region ${report.keySpec} key: kms-reimport rotates Multi-Region keys in place only (SYMMETRIC_DEFAULT primaries); ` +
          `an alias swap would need a new Multi-Region key with replicas of its own, which it does not make. Nothing was done.`,
      };
    }
  }
  if (!isImportableKeySpec(report.keySpec)) {
    return { skip: `Key ${report.keyId} has key spec ${report.keySpec}, which kms-reimport cannot import material for; it is not rotated.` };
  }
  if (requested === 'alias-swap') return { mode: 'alias-swap', why: 'alias swap requested' };
  if (report.keySpec !== 'SYMMETRIC_DEFAULT') {
    if (requested === 'in-place') return { skip: inPlaceRefusal(report) as string };
    return { mode: 'alias-swap', why: `a ${report.keySpec} key holds one material: KMS rotates in place only SYMMETRIC_DEFAULT keys` };
  }
  const refusal = inPlaceRefusal(report);
  if (refusal) return { skip: refusal };
  const replicas = replicaRegionsOf(report);
  if (report.multiRegion) {
    return {
      mode: 'in-place',
      why: `a Multi-Region primary SYMMETRIC_DEFAULT key${replicas.length > 0 ? `: its replicas in ${replicas.join(', ')} take the same material, then the primary rotates` : ' with no replicas'}`,
    };
  }
  return { mode: 'in-place', why: 'a single-Region SYMMETRIC_DEFAULT key' };
}

export async function rotateKey(deps: RotateDeps, keyRef: KeyRef, options: RotateOptions): Promise<Outcome> {
  const clock = options.now ?? (() => new Date());
  const { config } = options;
  const requested = options.mode ?? 'auto';
  const log = deps.logger ?? silentLogger;
  const startedAt = clock();
  const calls: Record<string, number> = {};
  const kms = countCalls(deps.kms, calls);
  const secrets = countCalls(deps.secrets, calls);
  // Per-Region KMS clients for a Multi-Region primary's replicas, counted with the others; made on first use.
  let madeRegional: ReturnType<typeof regionalKmsClients> | undefined;
  const regional = new Map<string, KMSClient>();
  const kmsFor: KmsFor = (region) => {
    let client = regional.get(region);
    if (!client) {
      const make = deps.kmsFor ?? (madeRegional ??= regionalKmsClients(deps.kms)).kmsFor;
      client = countCalls(make(region), calls);
      regional.set(region, client);
    }
    return client;
  };
  let madeRegionalSecrets: ReturnType<typeof regionalSecretsClients> | undefined;
  const regionalSecrets = new Map<string, SecretsManagerClient>();
  const secretsFor: SecretsFor = (region) => {
    let client = regionalSecrets.get(region);
    if (!client) {
      const make = deps.secretsFor ?? (madeRegionalSecrets ??= regionalSecretsClients(deps.secrets)).secretsFor;
      client = countCalls(make(region), calls);
      regionalSecrets.set(region, client);
    }
    return client;
  };
  const { retry } = runRetry(config, deps, log, keyRef);
  const paceParameters = runParametersPacer(config, deps, log, keyRef);
  const action = options.action === 'plan' ? 'plan' : 'rotate';

  let report: KeyReport | undefined;
  let imported: Outcome['imported'] = [];
  const finish = runOutcome({ keyRef, action, startedAt, clock, calls, report: () => report, imported: () => imported });
  const skip = (reason: string, errorName?: string) => {
    log.info('skipped', { keyRef, keyId: report?.keyId, reason });
    return finish({ status: 'skipped', reason, ...(errorName ? { errorName } : {}) });
  };

  /** Inspect, classify, choose the mode: what this run would do with the key as KMS shows it now. */
  const look = async () => {
    const inspected = await inspectKey(kms, keyRef, retry, (message, extra) => log.warn(message, extra));
    const refused = rotationRefusal(classifyKey(inspected, config, clock()), `kms-reimport recover ${inspected.keyId}`);
    const choice: ModeChoice = refused ? { skip: refused.reason } : chooseRotationMode(inspected, requested);
    log.info('key inspected for rotation', { keyRef, keyId: inspected.keyId, keyState: inspected.keyState, choice: 'skip' in choice ? 'skip' : choice.mode });
    return { inspected, refused, choice };
  };

  let held: HeldLease | undefined;
  try {
    const rotationId = options.rotationId ?? defaultRotationId(clock());
    if (!ROTATION_ID.test(rotationId)) {
      return finish({ status: 'failed', errorName: 'ConfigError', reason: `Rotation id "${rotationId}" is not 1 to 128 of A-Z a-z 0-9 . _ : -; nothing was done. Give another one.` });
    }
    const first = await look();
    report = first.inspected;
    let { choice } = first;
    if ('skip' in choice) {
      if (action === 'plan') return finish({ status: 'planned', reason: `plan: would not rotate: ${choice.skip}` });
      return skip(choice.skip, first.refused?.errorName ?? 'KeyNotEligible');
    }

    if (action === 'plan') {
      if (choice.mode === 'alias-swap') {
        return finish({
          status: 'planned',
          reason:
            `plan: would rotate key ${report.keyId} by alias swap (${choice.why}): a new EXTERNAL key with the same spec, usage, policy and tags, new material ` +
            `escrowed first, imported and verified, every alias moved to it; the old key stays Enabled and managed.`,
          rotation: { mode: 'alias-swap', ...(report.currentKeyMaterialId ? { fromKeyMaterialId: report.currentKeyMaterialId } : {}) },
        });
      }
      const rotations = await countOnDemandRotations(kms, report.keyId, retry);
      if (rotations !== undefined && rotations >= MAX_ON_DEMAND_ROTATIONS) {
        const fallback = config.rotationCapFallback === 'alias-swap' && !report.multiRegion;
        return finish({
          status: 'planned',
          reason: fallback
            ? `plan: would rotate key ${report.keyId} by alias swap: it has had ${rotations} of KMS's ${MAX_ON_DEMAND_ROTATIONS} on-demand rotations and KMS_REIMPORT_ROTATION_CAP_FALLBACK=alias-swap.`
            : `plan: would refuse (RotationLimitReached): key ${report.keyId} has had ${rotations} of KMS's ${MAX_ON_DEMAND_ROTATIONS} on-demand rotations. Use --mode alias-swap or KMS_REIMPORT_ROTATION_CAP_FALLBACK=alias-swap.`,
          rotation: { mode: fallback ? 'alias-swap' : 'in-place', fromKeyMaterialId: report.currentKeyMaterialId as string },
        });
      }
      return finish({
        status: 'planned',
        reason: `plan: ${describeInPlacePlan(report, rotations)} (rotation id ${rotationId})`,
        rotation: { mode: 'in-place', fromKeyMaterialId: report.currentKeyMaterialId as string },
      });
    }

    if (deps.lease) {
      const firstReport = report;
      const taking = await acquireKeyLease({
        lease: deps.lease,
        keyArn: firstReport.arn,
        keyId: firstReport.keyId,
        owner: deps.leaseOwner ?? newLeaseOwner(),
        ...(config.leaseWaitSeconds !== undefined ? { waitSeconds: config.leaseWaitSeconds } : {}),
        ...(deps.sleep ? { sleep: deps.sleep } : {}),
        log,
        wanted: () => `rotate key ${firstReport.keyId} (${requested}).`,
        afterWait: async (e) => {
          const again = await look();
          return changedSince(firstReport, again.inspected, e.holder);
        },
      });
      if ('skipped' in taking) return skip(taking.skipped, 'LeaseTaken');
      held = taking.held;
      // Inspect again under the lease: a run that released it just before may have rotated the key.
      const again = await look();
      report = again.inspected;
      if (report.arn !== held.keyArn) {
        return skip(`${keyRef} named key ${held.keyArn} when this run took its lease and names ${report.arn} now (an alias moved?); nothing was done. Start the run again with the key ID.`);
      }
      const changed = changedSince(firstReport, report, 'another run');
      if (changed) return skip(changed);
      choice = again.choice;
      if ('skip' in choice) return skip(choice.skip, again.refused?.errorName ?? 'KeyNotEligible');
    }

    if (choice.mode === 'in-place') {
      try {
        const result = await rotateInPlace({ kms, secrets, log, retry, paceParameters, kmsFor, secretsFor }, { report, config, now: clock, rotationId });
        imported = result.imported.map((i) => ({ ...i }));
        const rotation: RotationRecord = { mode: 'in-place', toKeyMaterialId: result.toKeyMaterialId, ...(result.fromKeyMaterialId ? { fromKeyMaterialId: result.fromKeyMaterialId } : {}) };
        const resumed = result.resumed.length > 0 ? ` An earlier run had already ${result.resumed.join(', ')}; this run ${result.done.join(', ')}.` : '';
        const already = result.done.length === 1 && result.done[0] === 'verified';
        const reason = already
          ? `Key ${report.keyId} was already rotated by rotation ${rotationId} (its current material ${result.toKeyMaterialId} is that rotation's): verified it (${result.check}); no new material. ` +
            `To rotate it again today, give another rotation id (--rotation-id).`
          : `Rotated key ${report.keyId} in place from material ${result.fromKeyMaterialId ?? '(earlier)'} to ${result.toKeyMaterialId} (rotation ${rotationId}): ` +
            `escrowed first in ${escrowSecretId(report, config)}, imported as NEW_KEY_MATERIAL, recorded, RotateKeyOnDemand, verified (${result.check}).${resumed}`;
        log.info('rotated', { keyId: report.keyId, mode: 'in-place', fromKeyMaterialId: result.fromKeyMaterialId, toKeyMaterialId: result.toKeyMaterialId, rotationId });
        return finish({ status: 'rotated', reason, keyStateAfter: result.keyState, verified: true, rotation });
      } catch (e) {
        if (!(e instanceof RotationLimitReached) || config.rotationCapFallback !== 'alias-swap' || report.multiRegion) throw e;
        log.warn('on-demand rotation cap reached; rotating by alias swap (KMS_REIMPORT_ROTATION_CAP_FALLBACK=alias-swap)', { keyId: report.keyId });
        choice = { mode: 'alias-swap', why: `the key has had KMS's ${MAX_ON_DEMAND_ROTATIONS} on-demand rotations and KMS_REIMPORT_ROTATION_CAP_FALLBACK=alias-swap` };
      }
    }

    // A key that is itself the new key of an alias swap (named by alias after its swap, say) is
    // never swapped again by the same rotation: an unfinished swap from its source is finished
    // instead, and a finished one of this rotation ends skipped.
    const source = report.tags[ROTATED_FROM_TAG];
    if (source !== undefined) {
      const from = await inspectKey(kms, source, retry).catch(() => undefined);
      if (from !== undefined && from.tags[ROTATED_TO_TAG] === undefined && from.keyState !== 'PendingDeletion') {
        log.warn('finishing the alias swap that made this key, instead of swapping it again', { keyId: report.keyId, rotatedFrom: source });
        report = from;
      } else if (report.tags[ROTATION_ID_TAG] === rotationId) {
        return skip(
          `Key ${report.keyId} is the new key rotation ${rotationId} made from ${source}: that rotation is done, nothing more to do. ` +
            `To rotate this key again, give another rotation id (--rotation-id).`,
        );
      }
    }
    const swapped = await rotateByAliasSwap(
      {
        kms,
        secrets,
        logger: log,
        ...(deps.sleep ? { sleep: deps.sleep } : {}),
        ...(deps.random ? { random: deps.random } : {}),
        ...(deps.monotonicNow ? { monotonicNow: deps.monotonicNow } : {}),
      },
      report,
      config,
      clock,
      { rotationId },
    );
    imported = swapped.keyMaterialId || swapped.validTo
      ? [{ ...(swapped.keyMaterialId ? { keyMaterialId: swapped.keyMaterialId } : {}), ...(swapped.validTo ? { validTo: swapped.validTo } : {}), expirationModel: swapped.validTo ? 'KEY_MATERIAL_EXPIRES' : 'KEY_MATERIAL_DOES_NOT_EXPIRE' }]
      : [];
    const rotation: RotationRecord = {
      mode: 'alias-swap',
      newKeyId: swapped.newKeyId,
      aliasesMoved: [...swapped.aliasesMoved],
      ...(report.currentKeyMaterialId ? { fromKeyMaterialId: report.currentKeyMaterialId } : {}),
      ...(swapped.keyMaterialId ? { toKeyMaterialId: swapped.keyMaterialId } : {}),
    };
    const resumed = swapped.resumed.length > 0 ? ` Finished what an earlier run had started: ${swapped.resumed.join(', ')}.` : '';
    log.info('rotated', { keyId: report.keyId, mode: 'alias-swap', newKeyId: swapped.newKeyId, aliasesMoved: swapped.aliasesMoved });
    return finish({
      status: 'rotated',
      reason:
        `Rotated key ${report.keyId} by alias swap (${choice.why}): new key ${swapped.newKeyArn}, aliases moved: ${swapped.aliasesMoved.length > 0 ? swapped.aliasesMoved.join(', ') : 'none'}; ` +
        `the old key stays Enabled and managed so that its data stays readable.${resumed}`,
      verified: true,
      rotation,
    });
  } catch (e) {
    const { errorName, reason } = describeFailure(e, report?.keyId ?? keyRef);
    log.error('rotation failed', { keyRef, keyId: report?.keyId, errorName, reason });
    return finish({ status: 'failed', errorName, reason, ...(imported.length > 0 ? { verified: false } : {}) });
  } finally {
    if (held && deps.lease) await releaseKeyLease(deps.lease, held, log);
    madeRegional?.destroy();
    madeRegionalSecrets?.destroy();
  }
}

/** A reason to stop when the key changed since this run first looked (another run rotated it), else undefined. */
function changedSince(first: KeyReport, now: KeyReport, holder: string): string | undefined {
  if (now.arn !== first.arn) {
    return `${first.requestedRef} names key ${now.arn} now, not ${first.arn} (an alias moved: ${holder} rotated it by alias swap?); this run did not rotate. Check the key and run again if needed.`;
  }
  if (now.currentKeyMaterialId !== first.currentKeyMaterialId) {
    return (
      `Key ${now.keyId} was rotated by ${holder} while this run waited (current material ${first.currentKeyMaterialId ?? '(none)'} → ${now.currentKeyMaterialId ?? '(none)'}); ` +
      `this run did not rotate it again.`
    );
  }
  return undefined;
}
