// Lazy ageing of the key store: material expires at its ValidTo and a key goes at its DeletionDate
// without a pass over every key on every request. Each time that matters (an expiring material's
// ValidTo, a key's DeletionDate) is queued in a min-heap when it is set; a request first ages only
// the keys whose time has come (O(log n) each), and resolveKey ages the key it resolves, so a key is
// never seen in a state its clock has left behind.
import { ageKey, type KeyRecord, type KmsState } from './state.js';

interface Due {
  at: number;
  /** `${account}/${region}`, the key space. */
  space: string;
  keyId: string;
}

/** The next moment `key` changes by itself (material expiry or deletion), if any. */
export function nextAgingAt(key: KeyRecord): number | undefined {
  let next = key.deletionDate;
  for (const m of key.materials) {
    if (m.material === undefined || m.expirationModel !== 'KEY_MATERIAL_EXPIRES' || m.validTo === undefined) continue;
    if (next === undefined || m.validTo < next) next = m.validTo;
  }
  return next;
}

/**
 * A min-heap of (time, key). Entries may be stale (the key was reimported, its deletion cancelled):
 * ageing is idempotent, so a stale entry only costs one look at the key.
 */
export class AgingQueue {
  private heap: Due[] = [];

  get size(): number {
    return this.heap.length;
  }

  /** Queues `key` for ageing at its next moment (nothing when it has none). */
  schedule(key: KeyRecord): void {
    const at = nextAgingAt(key);
    if (at === undefined) return;
    this.push({ at, space: `${key.account}/${key.region}`, keyId: key.keyId });
  }

  /** Forgets everything, then queues every key of `state` (after a restore). */
  rebuild(state: KmsState): void {
    this.heap = [];
    for (const space of Object.values(state.regions)) for (const key of Object.values(space.keys)) this.schedule(key);
  }

  /**
   * Ages every key whose time has come by `now`: expired material loses its bytes; a key past its
   * DeletionDate is removed with its aliases and handed to `onDeleted`. A key with a later moment
   * (another material's ValidTo) is queued again.
   */
  ageDue(state: KmsState, now: number, onDeleted: (key: KeyRecord) => void): void {
    while (this.heap.length > 0 && (this.heap[0] as Due).at <= now) {
      const due = this.pop();
      const space = state.regions[due.space];
      const key = space?.keys[due.keyId];
      if (!space || !key) continue;
      if (ageKey(key, now)) {
        this.schedule(key);
        continue;
      }
      delete space.keys[due.keyId];
      for (const [name, alias] of Object.entries(space.aliases)) {
        if (alias.targetKeyId === due.keyId) delete space.aliases[name];
      }
      onDeleted(key);
    }
  }

  private push(entry: Due): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as Due).at <= entry.at) break;
      heap[i] = heap[parent] as Due;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): Due {
    const heap = this.heap;
    const top = heap[0] as Due;
    const last = heap.pop() as Due;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= heap.length) break;
        const right = left + 1;
        const child = right < heap.length && (heap[right] as Due).at < (heap[left] as Due).at ? right : left;
        if ((heap[child] as Due).at >= last.at) break;
        heap[i] = heap[child] as Due;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}
