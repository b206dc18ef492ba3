/**
 * What triggers a scheduled rotation: each managed key's schedule, how old its current material
 * is, and whether it is due. Pure: reads a KeyReport (and, when the caller has them, the escrow
 * entries' dates), changes nothing, calls nothing.
 *
 * Schedule, per key: the tag `kms-reimport:rotate-every`, else the config default
 * `rotateEveryDays` (KMS_REIMPORT_ROTATE_EVERY_DAYS; unset = off). Tag grammar, exactly:
 *   <n>d    n days,   1 ≤ n ≤ 3650, no sign, no leading zero, lower case  (90d, 180d, 365d)
 *   <n>y    n × 365 days, 1 ≤ n ≤ 10                                     (1y = 365d)
 *   off     this key is not rotated on a schedule, whatever the default
 * Anything else (`90`, `90D`, ` 90d`, `3m`, `soon`, `0d`, `3651d`) is RotationScheduleInvalid: the
 * key is reported with the value and an example, and left as it is: never guessed.
 * A schedule (tag or default) shorter than the floor KMS_REIMPORT_MIN_ROTATE_EVERY_DAYS (default 30)
 * is RotationScheduleInvalid too, naming the floor: whoever may tag a key must not be able to burn
 * its 25 on-demand rotations (or, with the cap fallback, make a new key every day).
 *
 * Age of the current material, from what can be read back, first that is known:
 *   1. escrow: the escrow entry's `importedAt` for the current material. Only when the caller passes
 *      the escrow entries: reading them means reading the secret value, which only the wrap-and-import
 *      path does; the sweep and `status` (DescribeSecret only) never pass them and use 2 or 3.
 *   2. rotation: ListKeyRotations' RotationDate of the CURRENT material (an in-place rotation).
 *   3. creation: the key's CreationDate, for a key never rotated in place: a symmetric key whose
 *      material list KMS gave (ListKeyRotations answered) and shows no rotation, or an HMAC/RSA/ECC
 *      key (one material for life; an alias swap makes a new key, so its CreationDate is the new
 *      material's). Material imported after the key was created makes the key look a little older
 *      than its material: it is rotated a little early, never late.
 * None known (a symmetric key whose materials KMS could not list, or a rotated key whose CURRENT
 * material has no RotationDate): RotationAgeUnknown, reported, never rotated blindly.
 *
 * Mode: in-place for single-Region SYMMETRIC_DEFAULT keys (NEW_KEY_MATERIAL + RotateKeyOnDemand),
 * alias-swap for HMAC, RSA, ECC and SM2 keys (one material each), and for a symmetric key past KMS's
 * 25 on-demand rotations when KMS_REIMPORT_ROTATION_CAP_FALLBACK=alias-swap (else a problem). Multi-Region keys:
 * a primary SYMMETRIC_DEFAULT key is rotated in place (with its replicas) like any other; a replica is
 * rotated with its primary, never on its own (a note, never due); any other Multi-Region key is
 * RotationNotSupported (never by alias swap, also past the cap). A key that is not Enabled is never due
 * (it is recovered first); a key that was rotated to another (tag `kms-reimport:rotated-to`) is
 * retired from the schedule: its aliases moved on, and it is kept only to read old data.
 */
import { DEFAULT_MAX_ROTATIONS_PER_SWEEP, DEFAULT_MIN_ROTATE_EVERY_DAYS, type ReimportConfig } from '../config.js';
import { ReimportError, type ReimportErrorOptions } from '../errors.js';
import type { KeyReport } from '../types.js';

export const ROTATE_EVERY_TAG = 'kms-reimport:rotate-every';
export const ROTATED_FROM_TAG = 'kms-reimport:rotated-from';
export const ROTATED_TO_TAG = 'kms-reimport:rotated-to';
export const MIN_ROTATE_EVERY_DAYS = 1;
export const MAX_ROTATE_EVERY_DAYS = 3650;
const DAYS_PER_YEAR = 365;
/** KMS's cap on on-demand rotations per key (not raisable); lib/rotation/in-place.ts enforces it at rotation time. */
const ON_DEMAND_ROTATION_CAP = 25;
const DAY_MS = 86_400_000;

/** A `rotate-every` value (tag or config) that is not in the grammar. */
export class RotationScheduleInvalid extends ReimportError {
  constructor(message: string, options?: ReimportErrorOptions) {
    super(message, options);
    this.name = 'RotationScheduleInvalid';
  }
}

export type RotationProblemName = 'RotationScheduleInvalid' | 'RotationAgeUnknown' | 'RotationNotSupported';

export interface RotationStatus {
  /** off: no schedule (or `off`, or retired by an alias swap). */
  mode: 'off' | 'in-place' | 'alias-swap';
  /** The schedule in days. */
  every?: number;
  /** Where the schedule comes from: the key's tag or the config default. */
  source?: 'tag' | 'default';
  /** ISO 8601: when the current material began (see ageFrom). */
  lastRotatedAt?: string;
  ageFrom?: 'escrow' | 'rotation' | 'creation';
  /** ISO 8601: lastRotatedAt + every days. */
  nextDueAt?: string;
  due: boolean;
  /** Why the schedule cannot be followed: the key, the value or fact, and the next step. */
  problem?: string;
  problemName?: RotationProblemName;
  /** Why a key past its due date is not due now (not Enabled), or why it is off (retired). */
  note?: string;
  lineage?: { rotatedFrom?: string; rotatedTo?: string };
}

/** The escrow facts the caller may have read: dates only, never material. */
export interface EscrowDates {
  entries: ReadonlyArray<{ keyMaterialId?: string; importedAt?: string }>;
}

const DAYS = /^([1-9]\d{0,3})d$/;
const YEARS = /^([1-9]\d?)y$/;

/**
 * Parses a `kms-reimport:rotate-every` value: a number of days, or `off` (null). Throws
 * RotationScheduleInvalid naming the key, the value and an example.
 */
export function parseRotateEvery(value: string, keyId: string): number | null {
  if (value === 'off') return null;
  const invalid = (why: string) =>
    new RotationScheduleInvalid(
      `Key ${keyId} has ${ROTATE_EVERY_TAG}=${JSON.stringify(value)}, which ${why}; ` +
        `set it to a number of days such as 90d (${MIN_ROTATE_EVERY_DAYS}d to ${MAX_ROTATE_EVERY_DAYS}d), years such as 1y (= 365d, up to 10y), ` +
        `or off. The key is not rotated on a schedule until the tag is fixed.`,
      { keyId },
    );
  const d = DAYS.exec(value);
  if (d) {
    const days = Number(d[1]);
    if (days > MAX_ROTATE_EVERY_DAYS) throw invalid(`is more than ${MAX_ROTATE_EVERY_DAYS} days`);
    return days;
  }
  const y = YEARS.exec(value);
  if (y) {
    const years = Number(y[1]);
    if (years * DAYS_PER_YEAR > MAX_ROTATE_EVERY_DAYS) throw invalid(`is more than ${MAX_ROTATE_EVERY_DAYS / DAYS_PER_YEAR} years`);
    return years * DAYS_PER_YEAR;
  }
  if (/^0+[dy]$/.test(value)) throw invalid('is zero');
  if (/^\d+$/.test(value.trim())) throw invalid('has no unit (d or y)');
  throw invalid('is not a rotation period');
}

/** The key's schedule: its tag, else the config default; undefined when off. Throws RotationScheduleInvalid. */
export function rotationSchedule(report: KeyReport, config: ReimportConfig): { every: number; source: 'tag' | 'default' } | undefined {
  const tag = report.tags[ROTATE_EVERY_TAG];
  let schedule: { every: number; source: 'tag' | 'default' } | undefined;
  if (tag !== undefined) {
    const every = parseRotateEvery(tag, report.keyId);
    schedule = every === null ? undefined : { every, source: 'tag' };
  } else if (config.rotateEveryDays !== undefined) {
    schedule = { every: config.rotateEveryDays, source: 'default' };
  }
  const floor = config.minRotateEveryDays ?? DEFAULT_MIN_ROTATE_EVERY_DAYS;
  if (schedule !== undefined && schedule.every < floor) {
    const what = schedule.source === 'tag' ? `${ROTATE_EVERY_TAG}=${JSON.stringify(tag)}` : `the default KMS_REIMPORT_ROTATE_EVERY_DAYS=${schedule.every}`;
    throw new RotationScheduleInvalid(
      `Key ${report.keyId} has ${what}, shorter than the floor of ${floor} day(s) (KMS_REIMPORT_MIN_ROTATE_EVERY_DAYS); ` +
        `set it to ${floor}d or more (such as 90d), or off, or lower the floor on purpose. The key is not rotated on a schedule until then.`,
      { keyId: report.keyId },
    );
  }
  return schedule;
}

/**
 * The rotations one sweep starts: at most `config.maxRotationsPerSweep` (KMS_REIMPORT_MAX_ROTATIONS_PER_SWEEP,
 * default 50), in the order given (most overdue first); the rest wait for the next sweep.
 */
export function limitRotationsPerSweep<T>(rotations: readonly T[], config: ReimportConfig): { start: T[]; deferred: T[] } {
  const max = config.maxRotationsPerSweep ?? DEFAULT_MAX_ROTATIONS_PER_SWEEP;
  return { start: rotations.slice(0, max), deferred: rotations.slice(max) };
}

/** How a key of this spec is rotated; undefined for a spec kms-reimport cannot rotate. */
export function rotationModeFor(keySpec: string): 'in-place' | 'alias-swap' | undefined {
  if (keySpec === 'SYMMETRIC_DEFAULT') return 'in-place';
  if (/^(HMAC_(224|256|384|512)|RSA_(2048|3072|4096)|ECC_NIST_P(256|384|521)|ECC_SECG_P256K1|SM2)$/.test(keySpec)) return 'alias-swap';
  return undefined;
}

function validIso(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

/** When the current material began, from the first source that knows; undefined when none does. */
export function currentMaterialSince(
  report: KeyReport,
  escrow?: EscrowDates,
): { at: string; from: 'escrow' | 'rotation' | 'creation' } | undefined {
  const currentId = report.currentKeyMaterialId?.toLowerCase() ?? report.materials.find((m) => m.state === 'CURRENT')?.keyMaterialId?.toLowerCase();
  if (escrow && currentId !== undefined) {
    const labelled = escrow.entries.find((e) => e.keyMaterialId?.toLowerCase() === currentId);
    // The escrow entry without KeyMaterialId serves the current material when no entry is labelled with its ID.
    const entry = labelled ?? (escrow.entries.some((e) => e.keyMaterialId) ? undefined : escrow.entries.find((e) => !e.keyMaterialId));
    const at = validIso(entry?.importedAt);
    if (at !== undefined) return { at, from: 'escrow' };
  }
  const current = report.materials.find((m) => (currentId !== undefined ? m.keyMaterialId?.toLowerCase() === currentId : m.state === 'CURRENT'));
  const rotated = validIso(current?.rotationDate);
  if (rotated !== undefined) return { at: rotated, from: 'rotation' };
  const created = validIso(report.creationDate);
  if (created === undefined) return undefined;
  // HMAC/RSA/ECC keys hold one material for life: never rotated in place.
  if (report.keySpec !== 'SYMMETRIC_DEFAULT') return { at: created, from: 'creation' };
  // A symmetric key: only when KMS's own list shows no rotation at all.
  if (report.materialsListed === true && report.materials.every((m) => m.rotationDate === undefined)) return { at: created, from: 'creation' };
  return undefined;
}

function lineageOf(report: KeyReport): RotationStatus['lineage'] {
  const rotatedFrom = report.tags[ROTATED_FROM_TAG];
  const rotatedTo = report.tags[ROTATED_TO_TAG];
  if (!rotatedFrom && !rotatedTo) return undefined;
  return { ...(rotatedFrom ? { rotatedFrom } : {}), ...(rotatedTo ? { rotatedTo } : {}) };
}

/**
 * A managed key's rotation status at `now`. Never throws for a bad tag: the problem is in the
 * result (problemName RotationScheduleInvalid) and the key is not due.
 */
export function rotationStatus(report: KeyReport, config: ReimportConfig, now: Date, escrow?: EscrowDates): RotationStatus {
  const lineage = lineageOf(report);
  const base = (): RotationStatus => ({ mode: 'off', due: false, ...(lineage ? { lineage } : {}) });
  let schedule;
  try {
    schedule = rotationSchedule(report, config);
  } catch (e) {
    if (!(e instanceof RotationScheduleInvalid)) throw e;
    return { ...base(), problem: e.message, problemName: 'RotationScheduleInvalid' };
  }
  if (schedule === undefined) return base();
  if (lineage?.rotatedTo) {
    return {
      ...base(),
      note: `Key ${report.keyId} was rotated to ${lineage.rotatedTo} (alias swap); it is kept to read old data, still recovered and renewed, and no longer rotated.`,
    };
  }
  const mode = rotationModeFor(report.keySpec);
  const scheduled = { every: schedule.every, source: schedule.source };
  if (mode === undefined) {
    return {
      ...base(),
      ...scheduled,
      problemName: 'RotationNotSupported',
      problem: `Key ${report.keyId} has key spec ${report.keySpec}, which kms-reimport cannot rotate; remove its ${ROTATE_EVERY_TAG} tag (or set it to off).`,
    };
  }
  if (report.multiRegion) {
    // A replica is rotated with its primary (the primary's rotation imports the same material into every
    // replica Region), never on its own; a Multi-Region key is rotated in place only (an alias swap would
    // need a new Multi-Region key with replicas of its own).
    if (report.multiRegionKeyType === 'REPLICA') {
      return {
        ...base(),
        ...scheduled,
        note:
          `Key ${report.keyId} is a replica of a Multi-Region key: it is rotated with its primary${report.primaryRegion ? ` in ${report.primaryRegion}` : ''} ` +
          `(on the primary's schedule), never on its own.`,
      };
    }
    if (mode !== 'in-place' || report.multiRegionKeyType !== 'PRIMARY') {
      return {
        ...base(),
        mode,
        ...scheduled,
        problemName: 'RotationNotSupported',
        problem:
          mode !== 'in-place'
            ? `Key ${report.keyId} is a Multi-Region ${report.keySpec} key: kms-reimport rotates Multi-Region keys in place only (SYMMETRIC_DEFAULT primaries), ` +
              `so it is not rotated. Set ${ROTATE_EVERY_TAG}=off on it to silence this.`
            : `Key ${report.keyId} is a Multi-Region key and KMS did not say whether it is the primary or a replica; it is not rotated on a schedule. Check the key.`,
      };
    }
  }
  let how: 'in-place' | 'alias-swap' = mode;
  if (mode === 'in-place' && report.materials.filter((m) => m.rotationDate !== undefined).length >= ON_DEMAND_ROTATION_CAP) {
    if (config.rotationCapFallback !== 'alias-swap' || report.multiRegion) {
      return {
        ...base(),
        mode,
        ...scheduled,
        problemName: 'RotationNotSupported',
        problem:
          `Key ${report.keyId} has reached KMS's ${ON_DEMAND_ROTATION_CAP} on-demand rotations, so it cannot be rotated in place again; ` +
          (report.multiRegion
            ? 'a Multi-Region key is never rotated by alias swap, so set its rotate-every tag to off (and plan its replacement by a new Multi-Region key).'
            : 'set KMS_REIMPORT_ROTATION_CAP_FALLBACK=alias-swap to rotate it to a new key, or set its rotate-every tag to off.'),
      };
    }
    how = 'alias-swap';
  }
  const since = currentMaterialSince(report, escrow);
  if (since === undefined) {
    return {
      ...base(),
      mode: how,
      ...scheduled,
      problemName: 'RotationAgeUnknown',
      problem:
        `Key ${report.keyId}: the age of its current material is unknown (no rotation date from ListKeyRotations and no creation date that settles it), ` +
        'so it is not rotated on a schedule. Check that ListKeyRotations works for the key, or rotate it on demand.',
    };
  }
  const nextDue = Date.parse(since.at) + schedule.every * DAY_MS;
  const status: RotationStatus = {
    ...base(),
    mode: how,
    ...scheduled,
    lastRotatedAt: since.at,
    ageFrom: since.from,
    nextDueAt: new Date(nextDue).toISOString(),
    due: now.getTime() >= nextDue,
  };
  if (status.due && report.keyState !== 'Enabled') {
    status.due = false;
    status.note = `Rotation is past due, but key ${report.keyId} is ${report.keyState}: it is recovered (or left alone) first, and rotated once it is Enabled.`;
  }
  return status;
}
