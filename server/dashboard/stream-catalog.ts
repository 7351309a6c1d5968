// The streams the dashboard lists: every stream seen in `$all`, most recently written first, with
// a case-insensitive substring search. The store has no "list streams" call, and `$streams` (the
// system projection) may be off or behind, so the catalog is fed from the same `$all` subscription
// that measures rates (see store-activity.ts). A Map keeps insertion order, and moving a stream to
// the end on each write keeps "most recent last" in O(1); a query copies the order once (a few ms
// at 100k streams) and caches it until the next write.

export interface StreamEntry {
  readonly name: string;
  /** Lower-cased name, kept so a search does not lower-case 100k names per keystroke. */
  readonly lower: string;
  lastRevision: bigint;
  lastPosition: bigint;
  lastType: string;
  lastWritten: Date;
  /** Events seen since the catalog started (the whole history when it caught up from the start). */
  events: number;
}

export interface StreamQuery {
  /** Substring to look for, any case. @defaultValue '' (every stream) */
  readonly search?: string;
  /** Include `$`-prefixed streams (system, projection bookkeeping, metastreams). @defaultValue false */
  readonly system?: boolean;
  /** @defaultValue 0 */
  readonly offset?: number;
  /** @defaultValue 50 */
  readonly limit?: number;
}

export interface StreamPage {
  /** Streams matching the query, over all pages. */
  readonly total: number;
  readonly offset: number;
  readonly streams: readonly StreamEntry[];
}

export class StreamCatalog {
  readonly #streams = new Map<string, StreamEntry>();
  /** Newest first; rebuilt lazily after writes. */
  #ordered: StreamEntry[] | undefined;

  get size(): number {
    return this.#streams.size;
  }

  /** Records an event of `name` (call in `$all` order). */
  written(name: string, revision: bigint, position: bigint, type: string, created: Date): void {
    let entry = this.#streams.get(name);
    if (entry === undefined) {
      entry = { name, lower: name.toLowerCase(), lastRevision: revision, lastPosition: position, lastType: type, lastWritten: created, events: 0 };
    } else {
      this.#streams.delete(name);
      entry.lastRevision = revision;
      entry.lastPosition = position;
      entry.lastType = type;
      entry.lastWritten = created;
    }
    entry.events++;
    this.#streams.set(name, entry);
    this.#ordered = undefined;
  }

  get(name: string): StreamEntry | undefined {
    return this.#streams.get(name);
  }

  /** Streams whose name starts with `prefix`, in name order (for a projection's partitions). */
  withPrefix(prefix: string, limit: number): StreamEntry[] {
    const out: StreamEntry[] = [];
    for (const entry of this.#streams.values()) if (entry.name.startsWith(prefix)) out.push(entry);
    out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return out.slice(0, limit);
  }

  query(q: StreamQuery = {}): StreamPage {
    const search = (q.search ?? '').toLowerCase();
    const system = q.system === true;
    const offset = Math.max(0, q.offset ?? 0);
    const limit = Math.max(1, Math.min(500, q.limit ?? 50));
    this.#ordered ??= [...this.#streams.values()].reverse();
    const page: StreamEntry[] = [];
    let total = 0;
    for (const entry of this.#ordered) {
      if (!system && entry.name.charCodeAt(0) === 36 /* $ */) continue;
      if (search !== '' && !entry.lower.includes(search)) continue;
      if (total >= offset && page.length < limit) page.push(entry);
      total++;
    }
    return { total, offset, streams: page };
  }
}
