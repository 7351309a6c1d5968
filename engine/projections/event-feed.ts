// Feeds a projection: a catch-up subscription on the store (history, then live) pumped into a
// bounded queue, pre-filtered on the host by stream and event type, so the isolate only ever sees
// events its handlers want. The runner takes whatever has queued up as its next batch, so batches
// grow by themselves while the isolate is busy, and shrink to single events when live traffic is
// light.
import { isSoftDeleteMarker } from '../../store/metadata.js';
import { LINK_EVENT_TYPE, METADATA_EVENT_TYPE, TOMBSTONE_EVENT_TYPE, TOMBSTONE_REVISION } from '../../store/stream-name.js';
import type { EventFilter, RecordedEvent, Store, Subscription } from '../../store/types.js';
import { isDeletionNotice, type BatchItem } from './batch-encoder.js';
import type { ReadPoint } from './projection-streams.js';
import { isBookkeepingStream } from './projection-streams.js';
import { readAllPagesShared } from './shared-page-reader.js';
import type { ReaderKind } from './source-definition.js';

export interface FeedOptions {
  readonly reader: ReaderKind;
  /** Exclusive: the last point already processed. */
  readonly from: ReadPoint | undefined;
  /** Event types the handlers want; undefined for all. */
  readonly eventTypes: readonly string[] | undefined;
  readonly includeLinks: boolean;
  /** Turn stream deletions into notices for `$deleted` (foreachStream). */
  readonly deletions: boolean;
  /** One-time and transient: end once history is read. */
  readonly stopAtEnd: boolean;
  /** Queue bound, in events. */
  readonly highWater: number;
  /** Native system projections see what the standard projections see, not the host pre-filter. */
  readonly accept?: (e: RecordedEvent) => boolean;
}

export interface Taken {
  readonly items: BatchItem[];
  /** The read point after the taken items (and any filtered-out events before the next one). */
  readonly point: ReadPoint | undefined;
  readonly end: boolean;
  /** The subscription is live and nothing is queued. */
  readonly idle: boolean;
}

export class EventFeed {
  readonly #store: Store;
  readonly #options: FeedOptions;
  /** Taken slots (before `#head`) are cleared, so the queue does not keep taken events alive until it is compacted. */
  readonly #queue: (BatchItem | undefined)[] = [];
  #head = 0;
  #subscription: Subscription | undefined;
  #point: ReadPoint | undefined;
  /** The last event the pump has looked at, queued or filtered out. */
  #scanned: ReadPoint | undefined;
  #scannedSource: RecordedEvent | undefined;
  #caughtUp = false;
  #ended = false;
  #error: unknown;
  #wakeTaker: (() => void) | undefined;
  #wakePump: (() => void) | undefined;
  #closed = false;
  #wakeScheduled = false;
  #types: Set<string> | undefined;
  readonly #streams: Set<string> | undefined;

  constructor(store: Store, options: FeedOptions) {
    this.#store = store;
    this.#options = options;
    this.#point = options.from;
    this.#scanned = options.from;
    this.#streams = options.reader.kind === 'streams' ? new Set(options.reader.streamIds) : undefined;
  }

  start(): void {
    const o = this.#options;
    this.#types = o.eventTypes === undefined ? undefined : new Set(o.eventTypes);
    if (o.reader.kind === 'stream') {
      const from = o.from?.kind === 'stream' ? o.from.revision : 'start';
      this.#subscription = this.#store.subscribeToStream(o.reader.streamId, { fromRevision: from, resolveLinks: true, onCaughtUp: () => this.#caughtUpNow() });
      void this.#pump();
    } else void this.#pumpPages();
  }

  #caughtUpNow(): void {
    this.#caughtUp = true;
    if (this.#options.stopAtEnd) this.#ended = true;
    this.#wake();
  }

  /**
   * `$all` readers catch up a page at a time (no per-event await, which costs as much as the
   * read), then a one-time feed ends and a continuous one subscribes from where the pages ended.
   */
  async #pumpPages(): Promise<void> {
    const o = this.#options;
    let after = o.from?.kind === 'all' ? o.from.position : -1n;
    try {
      const filter = this.#storeFilter();
      // Shared with other projections reading the same pages from about the same point.
      for await (const page of readAllPagesShared(this.#store, { after, filter, resolveLinks: o.reader.kind === 'streams' })) {
        const events = page.events;
        for (let i = 0; i < events.length; i++) this.#consider(events[i]!);
        const last = events[events.length - 1];
        if (last === undefined || (last.link ?? last).position !== page.lastPosition) this.#scan({ kind: 'all', position: page.lastPosition });
        after = page.lastPosition;
        if (this.#closed) break;
        await this.#backpressure();
        if (this.#closed) break;
      }
    } catch (err) {
      if (!this.#closed) this.#error = err;
      this.#ended = true;
      this.#wake();
      return;
    }
    if (this.#closed || o.stopAtEnd) {
      this.#caughtUpNow();
      this.#ended = true;
      this.#wake();
      return;
    }
    this.#subscription = this.#store.subscribeToAll({
      fromPosition: after < 0n ? 'start' : after,
      resolveLinks: o.reader.kind === 'streams',
      filter: this.#storeFilter(),
      // With a store-side filter, the subscription reports how far it has looked after every
      // event it considered, so the read point (and `whenProcessed`) stay exact.
      checkpointInterval: 1,
      onCheckpoint: (position) => {
        this.#scan({ kind: 'all', position });
      },
      onCaughtUp: () => this.#caughtUpNow(),
    });
    await this.#pump();
  }

  /** The store-side pre-filter: prefixes that cover what `#accept` keeps exactly. */
  #storeFilter(): EventFilter | undefined {
    const o = this.#options;
    if (o.reader.kind === 'streams') return { streamNamePrefix: o.reader.streamIds };
    if (o.accept !== undefined || o.eventTypes === undefined) return undefined;
    const types = [...o.eventTypes];
    if (o.deletions) types.push(TOMBSTONE_EVENT_TYPE, METADATA_EVENT_TYPE);
    if (o.includeLinks) types.push(LINK_EVENT_TYPE);
    return { eventTypePrefix: types };
  }

  async #pump(): Promise<void> {
    try {
      for await (const e of this.#subscription!) {
        this.#consider(e);
        await this.#backpressure();
        if (this.#closed) break;
      }
    } catch (err) {
      if (!this.#closed) this.#error = err;
    }
    this.#ended = true;
    this.#wake();
  }

  /** Queues the event if the projection wants it, else moves the read point past it. */
  #consider(e: RecordedEvent): void {
    const o = this.#options;
    let item: BatchItem | undefined;
    if (o.accept !== undefined) item = o.accept(e) ? e : undefined;
    else if (this.#streams !== undefined && !this.#streams.has((e.link ?? e).streamId)) item = undefined;
    else item = this.#select(e);
    if (item === undefined) this.#scan(this.#pointOf(e));
    else this.#push(item, e);
  }

  async #backpressure(): Promise<void> {
    if (this.#queue.length - this.#head < this.#options.highWater) return;
    await new Promise<void>((resolve) => {
      this.#wakePump = resolve;
    });
    this.#wakePump = undefined;
  }

  /** The host pre-filter: what a user projection sees of an event. */
  #select(e: RecordedEvent): BatchItem | undefined {
    const o = this.#options;
    const stream = e.link?.streamId ?? e.streamId;
    // The engine's own bookkeeping streams are never fed back to projections (a Telltale rule:
    // otherwise checkpoints of one projection would wake the others for ever).
    if (isBookkeepingStream(stream)) return undefined;
    if (o.deletions) {
      if (e.type === TOMBSTONE_EVENT_TYPE && e.revision === TOMBSTONE_REVISION) return { deleted: 'hard', streamId: e.streamId, position: e.position };
      if (e.type === METADATA_EVENT_TYPE && e.streamId.startsWith('$$') && isSoftDeleteMarker(e.dataBytes)) {
        return { deleted: 'soft', streamId: e.streamId.slice(2), position: e.position };
      }
      // $by_category links a deletion into the category with `$deleted` and the original stream.
      const l = e.link ?? (e.type === LINK_EVENT_TYPE ? e : undefined);
      if (l !== undefined && l.metadata.$deleted !== undefined && typeof l.metadata.$o === 'string') {
        return { deleted: e.type === TOMBSTONE_EVENT_TYPE ? 'hard' : 'soft', streamId: l.metadata.$o, position: l.position };
      }
    }
    if (o.reader.kind === 'all' && e.type === LINK_EVENT_TYPE && !o.includeLinks) return undefined;
    if (this.#types !== undefined && !this.#types.has(e.type)) return undefined;
    return e;
  }

  #push(item: BatchItem, source: RecordedEvent): void {
    this.#queue.push(item);
    this.#scannedSource = source;
    this.#scanned = undefined;
    this.#wake();
  }

  /** Read points are made only when asked for: one object per batch, not per event. */
  #pointOf(e: RecordedEvent): ReadPoint {
    const record = e.link ?? e;
    const stream = this.#options.reader.kind === 'stream' ? this.#options.reader.streamId : undefined;
    return stream !== undefined ? { kind: 'stream', streamId: stream, revision: record.revision } : { kind: 'all', position: record.position };
  }

  #lastScanned(): ReadPoint | undefined {
    if (this.#scanned === undefined && this.#scannedSource !== undefined) this.#scanned = this.#pointOf(this.#scannedSource);
    return this.#scanned;
  }

  /** An event was looked at and filtered out: the read point moves past it once the queue drains. */
  #scan(point: ReadPoint): void {
    this.#scanned = point;
    this.#scannedSource = undefined;
    if (this.#head >= this.#queue.length) this.#wake();
  }

  /**
   * Wakes the taker on the next turn of the event loop, not at once: the pump runs on microtasks
   * while a page is in memory, so by then a whole batch has queued instead of a single event.
   */
  #wake(): void {
    if (this.#wakeTaker === undefined || this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    setImmediate(() => {
      this.#wakeScheduled = false;
      const w = this.#wakeTaker;
      this.#wakeTaker = undefined;
      w?.();
    });
  }

  /**
   * Up to `max` events. Waits for at least one unless `returnWhenIdle` and the feed is idle (live,
   * nothing queued), or the feed ended.
   */
  async take(max: number, returnWhenIdle: boolean): Promise<Taken> {
    for (;;) {
      if (this.#error !== undefined) throw this.#error;
      const items: BatchItem[] = [];
      while (this.#head < this.#queue.length && items.length < max) {
        items.push(this.#queue[this.#head]!);
        this.#queue[this.#head++] = undefined;
      }
      const last = items[items.length - 1];
      if (last !== undefined) this.#point = isDeletionNotice(last) ? { kind: 'all', position: last.position } : this.#pointOf(last);
      if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
        this.#queue.splice(0, this.#head);
        this.#head = 0;
      }
      this.#wakePump?.();
      const empty = this.#head >= this.#queue.length;
      const scanned = empty ? this.#lastScanned() : undefined;
      const moved = scanned !== undefined && scanned !== this.#point;
      if (moved) this.#point = scanned;
      const end = this.#ended && empty;
      if (items.length > 0 || end) return { items, point: this.#point, end, idle: false };
      const live = this.#caughtUp || this.#subscription?.isLive === true;
      if (returnWhenIdle && live) return { items, point: this.#point, end: false, idle: true };
      if (moved) return { items, point: this.#point, end: false, idle: false };
      await new Promise<void>((resolve) => {
        this.#wakeTaker = resolve;
      });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#ended = true;
    this.#wakePump?.();
    this.#wake();
    await this.#subscription?.close();
  }
}
