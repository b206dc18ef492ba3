/**
 * What every file of the reliability suite shares: run sizes (default, and long with
 * KMS_REIMPORT_RELIABILITY_LONG=1), the scenario record that the README's "Reliability" section is
 * generated from (KMS_REIMPORT_RELIABILITY_REPORT=<file>: one JSON line per scenario, appended, so
 * that the suite's files, which run in parallel processes, never overwrite each other), and the
 * leak scan over everything a file produced. Not a test file itself.
 */
import { appendFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isEventRejected } from '../../lib/events/rejected.js';
import { REIMPORT_ERROR_NAMES, isReimportError } from '../../lib/errors.js';
import { assertNoMaterial } from '../support/local-aws.js';

/** KMS_REIMPORT_RELIABILITY_LONG=1: ten times the generated cases, and every fault combination. */
export const LONG = process.env.KMS_REIMPORT_RELIABILITY_LONG === '1';

/** numRuns for a property: `base` by default, ten times that in the long variant. */
export function runs(base: number): number {
  return LONG ? base * 10 : base;
}

/** fast-check settings every property shares: a seed printed on failure, no time limit (CPU, not wall clock, bounds the suite). */
export function propertyParameters(numRuns: number): { numRuns: number; seed?: number; includeErrorInReport: boolean } {
  const seed = process.env.KMS_REIMPORT_RELIABILITY_SEED;
  return { numRuns, includeErrorInReport: true, ...(seed ? { seed: Number(seed) } : {}) };
}

export interface ScenarioRecord {
  /** The suite file, relative to the repository (test/reliability/faults.test.ts). */
  file: string;
  /** A group: "properties", "faults", "leak scan". */
  group: string;
  scenario: string;
  result: 'pass' | 'fail' | 'todo';
  /** What was shown: the outcome, the counts, the number of generated cases. */
  detail: string;
}

const REPORT = process.env.KMS_REIMPORT_RELIABILITY_REPORT;

export function recordScenario(record: ScenarioRecord): void {
  if (!REPORT) return;
  appendFileSync(REPORT, `${JSON.stringify(record)}\n`);
}

/**
 * Runs one scenario and records its result: `fn` returns the detail to report (the outcome seen,
 * the counts). A failure is recorded (its message only) and thrown on, so the test fails.
 */
export async function scenario(file: string, group: string, name: string, fn: () => Promise<string> | string): Promise<void> {
  const where = relative(process.cwd(), fileURLToPath(file));
  try {
    const detail = await fn();
    recordScenario({ file: where, group, scenario: name, result: 'pass', detail });
  } catch (error) {
    recordScenario({ file: where, group, scenario: name, result: 'fail', detail: error instanceof Error ? error.message.split('\n')[0]!.slice(0, 300) : String(error) });
    throw error;
  }
}

/** Records a known bug kept as a `todo` test (the test itself reproduces it). */
export function recordTodo(file: string, group: string, name: string, detail: string): void {
  recordScenario({ file: relative(process.cwd(), fileURLToPath(file)), group, scenario: name, result: 'todo', detail });
}

const NAMED = new Set<string>(REIMPORT_ERROR_NAMES);

/** A named error: one of lib/errors.ts's classes (by class and by name) or lib/events' EventRejected. */
export function isNamedError(e: unknown): boolean {
  if (isEventRejected(e)) return true;
  return isReimportError(e) && NAMED.has(e.name);
}

/**
 * Everything one file produced that could carry material (log lines, error messages, outcomes,
 * state payloads, metrics, CLI output), kept to be scanned at the end for every material the file
 * made, in every form (raw, hex, base64, base64url).
 */
export class Produced {
  private readonly texts: string[] = [];
  private readonly materials: Buffer[] = [];

  add(where: string, value: unknown): void {
    this.texts.push(`${where}: ${typeof value === 'string' ? value : safeJson(value)}`);
  }

  /**
   * A material to look for. Materials under 12 bytes are skipped: their raw and hex forms occur in
   * ordinary text by chance, so a hit would prove nothing (every real material is 28 bytes or more).
   */
  material(buf: Uint8Array): void {
    if (buf.byteLength >= 12) this.materials.push(Buffer.from(buf));
  }

  get textCount(): number {
    return this.texts.length;
  }

  get materialCount(): number {
    return this.materials.length;
  }

  /** Throws when any material is found in anything produced. */
  scan(where: string): void {
    assertNoMaterial(this.texts.join('\n'), this.materials, where);
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Error ? { name: v.name, message: v.message } : v)) ?? String(value);
  } catch {
    return String(value);
  }
}
