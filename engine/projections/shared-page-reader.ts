// One `$all` page read shared by the projections catching up over the same pages: projections
// that read with the same store-side filter from about the same point join one reader, which
// reads each page from the store once and hands the same (read-only) page to every member; each
// filters it further on the host as before. Two projections over one source then cost one read,
// not two (the read is the largest part of the host's work per event), as Event Store V2 serves
// all its selectors from one subscription.
//
// A member joins a reader whose recent pages still cover its start point, else starts one of its
// own. The reader runs at most `MAX_LEAD` pages ahead of its slowest member, so a fast member
// waits for a slow one instead of the pages piling up; members leave when they stop iterating.
import type { EventFilter, ReadAllPage, RecordedEvent, Store } from '../../store/types.js';

export interface SharedReadOptions {
  /** Exclusive: pages hold only events after this position (-1n for all). */
  readonly after: bigint;
  readonly filter: EventFilter | undefined;
  readonly resolveLinks: boolean;
}

/**
 * Pages kept after every member took them, so a member starting a moment later (projections
 * started together, each first loading its checkpoint and isolate) still joins: only while the
 * reader is young, since kept pages outlive the young generation and make every later
 * collection dearer.
 */
const RETAINED_PAGES = 64;

/** How far (in pages) the reader may run ahead of its slowest member. */
const MAX_LEAD = 64;

interface Member {
  /** Sequence number of the next page this member takes. */
  next: number;
}

class SharedReader {
  readonly key: string;
  readonly #source: AsyncIterator<ReadAllPage>;
  /** Pages read and still kept, oldest first; `pages[0]` has sequence number `base`. */
  readonly #pages: ReadAllPage[] = [];
  #base = 0;
  /** Pages read so far. */
  #read = 0;
  /** The position before the first kept page: a member starting after it finds its events kept. */
  #keptAfter: bigint;
  /** The last position read (the newest page's `lastPosition`). */
  #readTo: bigint;
  #ended = false;
  #error: unknown;
  #reading: Promise<void> | undefined;
  readonly #members = new Set<Member>();
  #wakers: (() => void)[] = [];
  readonly #onEmpty: (reader: SharedReader) => void;

  constructor(store: Store, key: string, options: SharedReadOptions, onEmpty: (reader: SharedReader) => void) {
    this.key = key;
    this.#keptAfter = options.after;
    this.#readTo = options.after;
    this.#onEmpty = onEmpty;
    this.#source = store.readAllPages({ fromPosition: options.after + 1n, filter: options.filter, resolveLinks: options.resolveLinks })[Symbol.asyncIterator]();
  }

  /** Whether a member starting after `after` can take its pages from here. */
  covers(after: bigint): boolean {
    return !this.#ended && this.#error === undefined && after >= this.#keptAfter && after <= this.#readTo;
  }

  /** A new member's pages, from just after `after` (registered at once, so the pages it needs stay kept). */
  join(after: bigint): AsyncGenerator<ReadAllPage> {
    const member: Member = { next: this.#base };
    // Skip the kept pages the member has already read past.
    while (member.next < this.#base + this.#pages.length && this.#pages[member.next - this.#base]!.lastPosition <= after) member.next++;
    this.#members.add(member);
    return this.#iterate(member, after);
  }

  async *#iterate(member: Member, after: bigint): AsyncGenerator<ReadAllPage> {
    try {
      for (;;) {
        const page = await this.#take(member);
        if (page === undefined) return;
        const events = page.events;
        // Only a member's first page can start before its start point.
        if (events.length > 0 && recordPosition(events[0]!) <= after) {
          yield { events: events.filter((e) => recordPosition(e) > after), lastPosition: page.lastPosition };
        } else yield page;
        after = page.lastPosition;
      }
    } finally {
      this.#members.delete(member);
      this.#trim();
      this.#wake();
      if (this.#members.size === 0) {
        this.#onEmpty(this);
        void this.#source.return?.();
      }
    }
  }

  async #take(member: Member): Promise<ReadAllPage | undefined> {
    for (;;) {
      const at = member.next - this.#base;
      if (at < this.#pages.length) {
        member.next++;
        const page = this.#pages[at]!;
        this.#trim();
        this.#wake();
        return page;
      }
      if (this.#error !== undefined) throw this.#error;
      if (this.#ended) return undefined;
      if (this.#base + this.#pages.length - this.#slowest() >= MAX_LEAD) {
        // Far enough ahead of the slowest member: wait for it to take pages.
        await new Promise<void>((resolve) => this.#wakers.push(resolve));
        continue;
      }
      await (this.#reading ??= this.#readPage());
    }
  }

  async #readPage(): Promise<void> {
    try {
      const r = await this.#source.next();
      if (r.done === true) this.#ended = true;
      else {
        this.#pages.push(r.value);
        this.#read++;
        this.#readTo = r.value.lastPosition;
        this.#trim();
      }
    } catch (err) {
      this.#error = err;
    } finally {
      this.#reading = undefined;
      this.#wake();
    }
  }

  #slowest(): number {
    let slowest = this.#base + this.#pages.length;
    for (const m of this.#members) if (m.next < slowest) slowest = m.next;
    return slowest;
  }

  /** Drops pages every member has taken, beyond the few kept for members yet to join. */
  #trim(): void {
    const slowest = this.#slowest();
    const keep = this.#members.size === 0 || this.#read > RETAINED_PAGES ? 0 : RETAINED_PAGES;
    while (this.#pages.length > keep && this.#base < slowest) {
      this.#keptAfter = this.#pages.shift()!.lastPosition;
      this.#base++;
    }
  }

  #wake(): void {
    const wakers = this.#wakers;
    this.#wakers = [];
    for (const w of wakers) w();
  }
}

const readers = new WeakMap<Store, Set<SharedReader>>();

/**
 * `store.readAllPages` from just after `options.after`, shared with other callers reading the
 * same pages (same filter and link resolution) from a point the shared reader still keeps.
 */
export function readAllPagesShared(store: Store, options: SharedReadOptions): AsyncIterable<ReadAllPage> {
  const key = JSON.stringify([options.filter ?? null, options.resolveLinks]);
  let set = readers.get(store);
  if (set === undefined) readers.set(store, (set = new Set()));
  for (const reader of set) if (reader.key === key && reader.covers(options.after)) return reader.join(options.after);
  const own = set;
  const reader = new SharedReader(store, key, options, (r) => own.delete(r));
  set.add(reader);
  return reader.join(options.after);
}

/** The `$all` position of the record a page event was read at (the link's, for a resolved link). */
function recordPosition(e: RecordedEvent): bigint {
  return (e.link ?? e).position;
}
