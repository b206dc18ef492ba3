/**
 * Classification (what state a key is in, from our point of view) and planning (what a run would
 * do about it). Both are pure: they read a KeyReport and change nothing.
 */
import type { ReimportConfig } from '../config.js';
import type { Classification, KeyReport, MaterialInfo, RequestedAction } from '../types.js';

const DAY_MS = 86_400_000;

/** Material states that are not (yet) permanently associated with the key: never needed to re-enable it. */
const NOT_PERMANENT_STATES = new Set(['PENDING_ROTATION', 'PENDING_MULTI_REGION_IMPORT_AND_ROTATION']);

function keyName(report: KeyReport): string {
  return report.requestedRef && report.requestedRef !== report.keyId ? `${report.keyId} (${report.requestedRef})` : report.keyId;
}

function days(seconds: number): string {
  const d = seconds / 86_400;
  return d >= 1 ? `${Math.floor(d)} day(s)` : `${Math.max(0, Math.floor(seconds / 3600))} hour(s)`;
}

/** The materials a PendingImport key is missing, by KeyMaterialId (empty: KMS did not say). */
export function missingMaterialIds(report: KeyReport): string[] {
  const ids: string[] = [];
  for (const m of report.materials) {
    if (m.importState !== 'PENDING_IMPORT' || !m.keyMaterialId) continue;
    if (m.state !== undefined && NOT_PERMANENT_STATES.has(m.state)) continue;
    if (!ids.includes(m.keyMaterialId)) ids.push(m.keyMaterialId);
  }
  return ids;
}

function isPermanentImported(m: MaterialInfo): boolean {
  return m.keyMaterialId !== undefined && m.importState !== 'PENDING_IMPORT' && !(m.state !== undefined && NOT_PERMANENT_STATES.has(m.state));
}

/**
 * The materials a renewal pushes out: permanently associated (CURRENT / NON_CURRENT), imported,
 * expiring (not KEY_MATERIAL_DOES_NOT_EXPIRE) and with a ValidTo, soonest first.
 */
export function expiringMaterials(report: KeyReport): MaterialInfo[] {
  return report.materials
    .filter((m) => isPermanentImported(m) && m.expirationModel !== 'KEY_MATERIAL_DOES_NOT_EXPIRE' && m.validTo !== undefined)
    .sort((a, b) => Date.parse(a.validTo as string) - Date.parse(b.validTo as string));
}

/**
 * When the key's material runs out: the earliest ValidTo over its expiring materials (any of them
 * expiring takes the whole key to PendingImport). DescribeKey's ExpirationModel/ValidTo only when
 * KMS listed no material that settles it; undefined when nothing expires.
 */
export function earliestValidTo(report: KeyReport): { validTo: string; keyMaterialId?: string } | undefined {
  const [first] = expiringMaterials(report);
  if (first) return { validTo: first.validTo as string, ...(first.keyMaterialId ? { keyMaterialId: first.keyMaterialId } : {}) };
  const permanent = report.materials.filter(isPermanentImported);
  if (permanent.length > 0 && permanent.every((m) => m.expirationModel === 'KEY_MATERIAL_DOES_NOT_EXPIRE')) return undefined;
  if (report.expirationModel === 'KEY_MATERIAL_DOES_NOT_EXPIRE' || report.validTo === undefined) return undefined;
  return { validTo: report.validTo };
}

/**
 * True only when KMS itself shows the key never held material: ListKeyRotations answered with no
 * material at all and DescribeKey names no current material. (KMS keeps every material it was ever
 * given in that list, PENDING_IMPORT after a deletion or expiry.) For keys KMS cannot list
 * materials of (HMAC, asymmetric, or an endpoint without ListKeyRotations) nothing shows it either
 * way: this is false and the escrow binding rules alone decide.
 */
export function neverHeldMaterial(report: KeyReport): boolean {
  return report.materialsListed === true && report.materials.length === 0 && !report.currentKeyMaterialId;
}

export function isManaged(report: KeyReport, config: ReimportConfig): boolean {
  return report.tags[config.managedTagKey] === config.managedTagValue;
}

/**
 * Order matters: a key without the opt-in tag is "not-managed" whatever else is true of it, so
 * an unmanaged key is only ever reported.
 */
export function classifyKey(report: KeyReport, config: ReimportConfig, now: Date): Classification {
  const name = keyName(report);
  if (!isManaged(report, config)) {
    const actual = report.tags[config.managedTagKey];
    return {
      kind: 'not-managed',
      reason:
        `Key ${name} is not managed by kms-reimport: tag ${config.managedTagKey}=${config.managedTagValue} is ` +
        `${actual === undefined ? 'absent' : `set to "${actual}"`}. It is reported, never changed; tag it to opt in.`,
    };
  }
  if (report.origin !== 'EXTERNAL') {
    return {
      kind: 'not-external',
      reason: `Key ${name} has origin ${report.origin}, not EXTERNAL: KMS holds its material and nothing can be reimported. Remove the ${config.managedTagKey} tag.`,
    };
  }
  if (report.keyState === 'PendingDeletion' || report.keyState === 'PendingReplicaDeletion') {
    return {
      kind: 'pending-deletion',
      reason: `Key ${name} is ${report.keyState}: it is never touched. Cancel the deletion (aws kms cancel-key-deletion) first if the key is still needed.`,
    };
  }
  if (report.keyState === 'Disabled') {
    return {
      kind: 'disabled',
      reason: `Key ${name} is Disabled, which is taken as deliberate: it is never touched. Enable it (aws kms enable-key) if it should be kept usable.`,
    };
  }
  if (report.keyState === 'PendingImport' && neverHeldMaterial(report)) {
    return {
      kind: 'never-imported',
      reason:
        `Key ${name} is PendingImport and has never held key material (KMS lists none), so there is nothing to recover: recovery only ever ` +
        `restores material a key already had, and never gives a key its first material from escrow (that would let anyone who can create and ` +
        `tag a key obtain another key's material). Give it its first material by onboarding it (import by hand, then escrow), or remove the ${config.managedTagKey} tag.`,
    };
  }
  if (report.keyState === 'PendingImport') {
    const missing = missingMaterialIds(report);
    const what =
      missing.length > 0
        ? `material(s) ${missing.join(', ')} missing`
        : report.currentKeyMaterialId
          ? `current material ${report.currentKeyMaterialId} missing`
          : 'KMS does not say which material is missing, so the current one';
    return {
      kind: 'pending-import',
      reason: `Key ${name} is PendingImport (${what}): every use fails until the escrowed material is reimported.`,
      missingMaterialIds: missing,
    };
  }
  if (report.keyState !== 'Enabled') {
    return {
      kind: 'unavailable',
      reason: `Key ${name} is ${report.keyState}: it cannot be worked on now. Retry later; if it stays ${report.keyState}, check the key (and its custom key store).`,
    };
  }
  const earliest = earliestValidTo(report);
  if (earliest !== undefined) {
    const { validTo } = earliest;
    const several = new Set(report.materials.map((m) => m.keyMaterialId).filter(Boolean)).size > 1;
    const which = several && earliest.keyMaterialId ? `material ${earliest.keyMaterialId}` : 'material';
    const validToMs = Date.parse(validTo);
    const secondsLeft = Math.max(0, Math.floor((validToMs - now.getTime()) / 1000));
    if (validToMs - now.getTime() <= config.renewalWindowDays * DAY_MS) {
      return {
        kind: 'expiring',
        reason: `Key ${name} is Enabled but its ${which} expires at ${validTo} (in ${days(secondsLeft)}, within the ${config.renewalWindowDays}-day renewal window).`,
        validTo,
        secondsLeft,
      };
    }
    return {
      kind: 'healthy',
      reason: `Key ${name} is Enabled; its ${several ? 'earliest-expiring ' : ''}${which} is valid until ${validTo} (${days(secondsLeft)}, outside the ${config.renewalWindowDays}-day renewal window).`,
      validTo,
    };
  }
  return { kind: 'healthy', reason: `Key ${name} is Enabled and its material does not expire.` };
}

/**
 * The named error a run that skips for this classification reports: KeyNotManaged for a key
 * without the opt-in tag, KeyNotEligible for one kms-reimport must not (or cannot) touch now;
 * undefined for a key that simply needs nothing.
 */
export function skipErrorName(c: Classification): 'KeyNotManaged' | 'KeyNotEligible' | undefined {
  switch (c.kind) {
    case 'not-managed':
      return 'KeyNotManaged';
    case 'not-external':
    case 'pending-deletion':
    case 'disabled':
    case 'never-imported':
    case 'unavailable':
      return 'KeyNotEligible';
    default:
      return undefined;
  }
}

export interface Plan {
  action: 'recover' | 'renew' | 'skip';
  reason: string;
}

function decide(c: Classification, requested: Exclude<RequestedAction, 'plan'>): Plan {
  switch (c.kind) {
    case 'not-managed':
    case 'not-external':
    case 'pending-deletion':
    case 'disabled':
    case 'never-imported':
    case 'unavailable':
      return { action: 'skip', reason: c.reason };
    case 'pending-import':
      if (requested === 'renew') {
        return { action: 'recover', reason: `${c.reason} Renewal requested, but the key is down: recovering it (with a fresh ValidTo) instead.` };
      }
      return { action: 'recover', reason: c.reason };
    case 'expiring':
      if (requested === 'recover') {
        return { action: 'skip', reason: `${c.reason} Nothing to recover: the key is Enabled. Request renew to push ValidTo out.` };
      }
      return { action: 'renew', reason: c.reason };
    case 'healthy':
      if (requested === 'recover') {
        return { action: 'skip', reason: `${c.reason} Nothing to recover: the key is Enabled.` };
      }
      if (requested === 'renew') {
        if (c.validTo === undefined) return { action: 'skip', reason: `${c.reason} Nothing to renew.` };
        return { action: 'renew', reason: `${c.reason} Renewal requested explicitly.` };
      }
      return { action: 'skip', reason: `${c.reason} Nothing to do.` };
  }
}

/**
 * What a run would do. 'auto': pending-import → recover, expiring → renew, else skip. 'plan' never
 * acts: it returns skip with "plan: would <action>: <reason>". Planning changes nothing.
 */
export function planAction(c: Classification, requested: RequestedAction): Plan {
  if (requested === 'plan') {
    const would = decide(c, 'auto');
    return { action: 'skip', reason: `plan: would ${would.action}: ${would.reason}` };
  }
  return decide(c, requested);
}
