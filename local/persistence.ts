/**
 * Optional persistence of the endpoint's state to one JSON file, so a rehearsal survives a
 * restart. The file holds every service's snapshot (including emulated key material and secret
 * values IN THE CLEAR: this is a rehearsal tool, never a place for real material) and the clock
 * offset. It is written with mode 0600, atomically (temporary file + rename), debounced after
 * requests and always on close.
 */
import { readFileSync } from 'node:fs';
import { chmod, rename, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { jsonErrorByteOffset } from './protocol.js';
import { MAX_CLOCK_OFFSET_MS } from './clock.js';

export const STATE_FORMAT = 'kms-reimport-local/1';

export interface PersistedState {
  format: typeof STATE_FORMAT;
  savedAt: string;
  clockOffsetMs: number;
  /** Each service's snapshot(), by signing name. */
  services: Record<string, unknown>;
}

/** Reads a state file; undefined when it does not exist. Throws a clear error when it is unusable. */
export function loadState(path: string): PersistedState | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`Cannot read the local endpoint's state file ${path}: ${(err as Error).message}`);
  }
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch (err) {
    // Never the parser's message: it quotes the file, which holds key material in the clear.
    const offset = jsonErrorByteOffset(err, text);
    throw new Error(
      `The local endpoint's state file ${path} is not valid JSON${offset === undefined ? '' : ` (error at byte ${offset})`}; move it away to start with empty state, or restore a good copy`,
    );
  }
  const s = state as Partial<PersistedState> | null;
  if (!s || typeof s !== 'object' || s.format !== STATE_FORMAT || typeof s.services !== 'object' || s.services === null) {
    throw new Error(
      `The file ${path} is not a kms-reimport local endpoint state file (expected "format": "${STATE_FORMAT}"); move it away or point persistPath elsewhere`,
    );
  }
  const clockOffsetMs = Number(s.clockOffsetMs ?? 0) || 0;
  if (Math.abs(clockOffsetMs) > MAX_CLOCK_OFFSET_MS) {
    throw new Error(
      `The local endpoint's state file ${path} has a clock offset of ${clockOffsetMs} ms, beyond the 100 years (${MAX_CLOCK_OFFSET_MS} ms) the endpoint clock may be from real time; set "clockOffsetMs" to 0 in the file, or move it away`,
    );
  }
  return { format: STATE_FORMAT, savedAt: String(s.savedAt ?? ''), clockOffsetMs, services: s.services };
}

/** Writes state snapshots to a file: debounced, serialised, atomic, skipping unchanged content. */
export class StateWriter {
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private lastWritten: string | undefined;
  private lastError: Error | undefined;

  constructor(
    private readonly path: string,
    private readonly collect: () => Omit<PersistedState, 'format' | 'savedAt'>,
    private readonly debounceMs: number,
    private readonly onError: (err: Error) => void = () => {},
  ) {}

  /** Something may have changed: write soon. */
  markDirty(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush().catch(() => {});
    }, this.debounceMs);
    this.timer.unref();
  }

  /** Writes now (after any write in progress); resolves when the file is on disk. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const next = this.chain.then(() => this.write());
    this.chain = next.catch((err: Error) => {
      this.lastError = err;
      this.onError(err);
    });
    return next;
  }

  get error(): Error | undefined {
    return this.lastError;
  }

  private async write(): Promise<void> {
    const { clockOffsetMs, services } = this.collect();
    const content = JSON.stringify({ clockOffsetMs, services });
    if (content === this.lastWritten) return;
    const state: PersistedState = { format: STATE_FORMAT, savedAt: new Date().toISOString(), clockOffsetMs, services };
    const temporary = `${this.path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(temporary, JSON.stringify(state), { mode: 0o600 });
      await rename(temporary, this.path);
      await chmod(this.path, 0o600);
    } catch (err) {
      await rm(temporary, { force: true }).catch(() => {});
      throw new Error(`Cannot write the local endpoint's state file ${this.path}: ${(err as Error).message}`);
    }
    this.lastWritten = content;
  }
}
