/**
 * Pagination for listings that filter and sort a whole key space (Resource Groups Tagging
 * GetResources, Secrets Manager ListSecrets): the first page builds the ordered list once, later
 * pages of the same walk slice it. Listing N resources in pages of P is then one pass and one sort,
 * not N/P of each. A walk is a snapshot: the resources it lists are those that matched when it began
 * (each page shows their state when it is served), so pages never skip or repeat an entry when
 * resources come and go meanwhile.
 *
 * The token carries the walk, the offset, a digest of the query and the last entry's cursor (its
 * unique sort key). A walk that is no longer held (more than MAX_WALKS at once, or the endpoint
 * restarted) is rebuilt from the token: the listing resumes after that cursor.
 */
import { createHash, randomUUID } from 'node:crypto';

/** Walks held at once; the oldest is dropped first (its token still works, by its cursor). */
export const MAX_WALKS = 16;

interface Walk<T> {
  digest: string;
  items: T[];
}

interface Token {
  w: string;
  o: number;
  q: string;
  c?: string;
}

export interface ListingPage<T> {
  items: T[];
  /** Absent on the last page. */
  next?: string;
}

function digestOf(query: string): string {
  return createHash('sha256').update(query).digest('hex').slice(0, 16);
}

function decode(token: string): Token | undefined {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as Partial<Token>;
    if (typeof t.w !== 'string' || typeof t.q !== 'string' || typeof t.o !== 'number' || !Number.isInteger(t.o) || t.o < 0) return undefined;
    if (t.c !== undefined && typeof t.c !== 'string') return undefined;
    return t as Token;
  } catch {
    return undefined;
  }
}

export class ListingWalks<T> {
  private readonly walks = new Map<string, Walk<T>>();

  /** `cursorOf`: an entry's unique key in the listing's order (an ARN), to resume a walk no longer held. */
  constructor(private readonly cursorOf: (item: T) => string) {}

  /** Walks held now (for tests of the bound). */
  get held(): number {
    return this.walks.size;
  }

  /**
   * One page of `size` entries. `query` identifies what is listed (filters, order, page size): a
   * token is only good for the query it was issued for. `build` lists every matching entry in order
   * (called on the first page, or to rebuild a walk). `invalid` makes the service's error for a token
   * it did not issue for this query.
   */
  page(query: string, token: string | undefined, size: number, build: () => T[], invalid: () => Error): ListingPage<T> {
    const digest = digestOf(query);
    let id: string;
    let walk: Walk<T> | undefined;
    let start = 0;
    if (token === undefined || token === '') {
      id = randomUUID();
      walk = { digest, items: build() };
    } else {
      const t = decode(token);
      if (!t || t.q !== digest) throw invalid();
      id = t.w;
      walk = this.walks.get(id);
      start = t.o;
      if (!walk || walk.digest !== digest) {
        walk = { digest, items: build() };
        if (t.c !== undefined) {
          const at = walk.items.findIndex((item) => this.cursorOf(item) === t.c);
          if (at >= 0) start = at + 1;
        }
      }
    }
    const items = walk.items.slice(start, start + size);
    const end = start + items.length;
    this.walks.delete(id);
    if (end >= walk.items.length) return { items };
    this.walks.set(id, walk);
    while (this.walks.size > MAX_WALKS) this.walks.delete(this.walks.keys().next().value as string);
    const last = items[items.length - 1];
    const next: Token = { w: id, o: end, q: digest, ...(last !== undefined ? { c: this.cursorOf(last) } : {}) };
    return { items, next: Buffer.from(JSON.stringify(next)).toString('base64') };
  }
}
