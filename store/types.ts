// The Store port: what every part of Telltale (the engine, the server, the CLI) uses to keep and
// read events. Semantics follow Event Store's (shared/reference/eventstore-semantics.md §4, §5):
// optimistic concurrency, idempotent appends by event id, soft delete and tombstones, stream
// metadata in `$$<stream>` metastreams, catch-up subscriptions with an exclusive start.
//
// Positions and revisions are bigint: a long-lived log outgrows 2^53 bytes.

/** A stream's expected state for an append, as Event Store defines it. */
export type ExpectedRevision = bigint | 'any' | 'no_stream' | 'stream_exists';

export type Direction = 'forwards' | 'backwards';

/** The event a caller appends. */
export interface EventData {
  /** A UUID; generated when absent. Appending the same ids again at the same place is idempotent. */
  readonly id?: string;
  /** The event type, e.g. `OrderPlaced`. Non-empty. */
  readonly type: string;
  /** A JSON-serialisable value, or bytes for a binary event. @defaultValue `{}` */
  readonly data?: unknown;
  /**
   * When `data` is bytes: they are UTF-8 JSON text already (e.g. a Kafka record's value), stored
   * as a JSON event without being parsed and serialised again. The store does not check them; the
   * caller vouches that they are one valid JSON value. Ignored for non-byte data. @defaultValue false
   */
  readonly isJson?: boolean;
  /** A JSON object (`$correlationId`, `$causationId`, anything else), or bytes. */
  readonly metadata?: unknown;
}

/** An event as stored. `data` and `metadata` are parsed lazily from the stored bytes. */
export interface RecordedEvent {
  readonly streamId: string;
  /** Per-stream number: 0, 1, 2, … */
  readonly revision: bigint;
  /** Global position; strictly increases in append order across all streams. */
  readonly position: bigint;
  readonly id: string;
  readonly type: string;
  /** Whether `data` is JSON (true) or bytes (false). */
  readonly isJson: boolean;
  readonly data: unknown;
  readonly metadata: Record<string, unknown>;
  /** The stored bytes of `data` (UTF-8 JSON text when `isJson`). */
  readonly dataBytes: Uint8Array;
  /** The stored bytes of `metadata` (UTF-8 JSON text, empty when there is none). */
  readonly metadataBytes: Uint8Array;
  readonly created: Date;
  /**
   * Set when a link event (`$>`, data `"N@stream"`) was resolved: the fields above are the
   * target's and `link` is the link event itself.
   */
  readonly link?: RecordedEvent;
}

export interface AppendOptions {
  /** @defaultValue `'any'` */
  readonly expectedRevision?: ExpectedRevision;
}

export interface AppendResult {
  /** The revision of the last event now in the stream; pass it as the next expected revision. */
  readonly nextExpectedRevision: bigint;
  /** The global position of the last event of the batch. */
  readonly position: bigint;
  /** True when every event was already there (an idempotent retry) and nothing was written. */
  readonly idempotent: boolean;
}

/** One stream's part of a multi-stream atomic append. */
export interface StreamWrite {
  readonly streamId: string;
  readonly events: readonly EventData[];
  readonly expectedRevision?: ExpectedRevision;
}

export type ReadRevision = 'start' | 'end' | bigint;
export type ReadPosition = 'start' | 'end' | bigint;

export interface ReadStreamOptions {
  /** Inclusive. @defaultValue `'start'` forwards, `'end'` backwards */
  readonly fromRevision?: ReadRevision;
  /** @defaultValue `'forwards'` */
  readonly direction?: Direction;
  /** @defaultValue unlimited */
  readonly maxCount?: number | bigint;
  /** Resolve `$>` link events to their targets. @defaultValue false */
  readonly resolveLinks?: boolean;
}

/**
 * Which events a `$all` read or subscription delivers. Conditions are ANDed; prefix lists are
 * ORed, matched ordinally; regular expressions are unanchored, as Event Store's are.
 */
export interface EventFilter {
  readonly streamNamePrefix?: readonly string[];
  readonly streamNameRegex?: RegExp | string;
  readonly eventTypePrefix?: readonly string[];
  readonly eventTypeRegex?: RegExp | string;
  /** Drop events whose type starts with `$`. @defaultValue false */
  readonly excludeSystemEvents?: boolean;
}

export interface ReadAllOptions {
  /** Inclusive. @defaultValue `'start'` forwards, `'end'` backwards */
  readonly fromPosition?: ReadPosition;
  readonly direction?: Direction;
  readonly maxCount?: number | bigint;
  readonly filter?: EventFilter;
  readonly resolveLinks?: boolean;
}

/** One backend page of a `readAllPages` read. */
export interface ReadAllPage {
  /** The page's events that passed the filter, in position order (possibly none). */
  readonly events: readonly RecordedEvent[];
  /** The position of the last record the page looked at, delivered or filtered out. */
  readonly lastPosition: bigint;
}

export interface SubscriptionHooks {
  /** Called when the subscription has delivered all history and is live. */
  readonly onCaughtUp?: () => void;
  /** Called when a slow consumer fell behind the live feed and went back to reading history. */
  readonly onFellBehind?: () => void;
}

export interface SubscribeToStreamOptions extends SubscriptionHooks {
  /** Exclusive: from revision N delivers N+1 onwards. @defaultValue `'start'` (everything) */
  readonly fromRevision?: ReadRevision;
  readonly resolveLinks?: boolean;
}

export interface SubscribeToAllOptions extends SubscriptionHooks {
  /** Exclusive: from position P delivers events after P. @defaultValue `'start'` */
  readonly fromPosition?: ReadPosition;
  readonly filter?: EventFilter;
  readonly resolveLinks?: boolean;
  /**
   * A filtered subscription reports a checkpoint every `checkpointInterval` considered events,
   * matching or not, so a sparse filter does not leave the subscriber's resume point stale.
   * @defaultValue 32
   */
  readonly checkpointInterval?: number;
  readonly onCheckpoint?: (position: bigint) => void | Promise<void>;
}

/** A catch-up subscription: history, then live events, with no gap and no duplicate. */
export interface Subscription extends AsyncIterable<RecordedEvent> {
  /** Stops the subscription; a pending iteration ends. */
  close(): Promise<void>;
  /** Whether the subscription has caught up with the live feed. */
  readonly isLive: boolean;
}

export interface StreamAcl {
  readonly readRoles?: readonly string[];
  readonly writeRoles?: readonly string[];
  readonly deleteRoles?: readonly string[];
  readonly metaReadRoles?: readonly string[];
  readonly metaWriteRoles?: readonly string[];
}

/** Stream metadata; stored as JSON (`$maxAge`, `$maxCount`, `$tb`, …) in the `$$<stream>` metastream. */
export interface StreamMetadata {
  /** Seconds; older events are invisible to stream reads and reclaimed by scavenging. */
  readonly maxAge?: number;
  /** Only the newest N events are visible. */
  readonly maxCount?: number;
  /** Events with a revision below this are invisible (truncate before). */
  readonly truncateBefore?: bigint;
  /** Seconds a head page may be cached over HTTP. */
  readonly cacheControl?: number;
  readonly acl?: StreamAcl;
  /** Keys without `$`: free-form user metadata. */
  readonly custom?: Readonly<Record<string, unknown>>;
}

export interface StreamMetadataResult {
  readonly streamId: string;
  readonly metadata: StreamMetadata;
  /** Revision of the metastream's last event; undefined when no metadata was ever set. */
  readonly metastreamRevision: bigint | undefined;
}

export interface DeleteOptions {
  /** @defaultValue `'any'` */
  readonly expectedRevision?: ExpectedRevision;
}

export interface DeleteResult {
  readonly position: bigint;
}

export interface StreamInfo {
  readonly streamId: string;
  /** The last revision ever written; -1n when the stream never had an event. */
  readonly lastRevision: bigint;
  readonly softDeleted: boolean;
  readonly tombstoned: boolean;
}

export interface ScavengeResult {
  readonly eventsRemoved: number;
  readonly bytesReclaimed: number;
}

/** What a backend can do, so callers ask instead of testing `instanceof`. */
export interface StoreSupports {
  /** Appends survive a crash of this process once acknowledged. */
  readonly durable: boolean;
  /** Several processes may share the store. */
  readonly shared: boolean;
  readonly scavenge: boolean;
}

export interface Store {
  readonly supports: StoreSupports;
  appendToStream(streamId: string, events: readonly EventData[], options?: AppendOptions): Promise<AppendResult>;
  /**
   * Appends to several streams in one atomic commit: either every write passes its
   * expected-revision check and all are written, or nothing is. Projections write their
   * emitted events and checkpoint this way.
   */
  appendToStreams(writes: readonly StreamWrite[]): Promise<AppendResult[]>;
  readStream(streamId: string, options?: ReadStreamOptions): AsyncIterable<RecordedEvent>;
  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent>;
  /**
   * The same events as `readAll`, a backend page at a time: bulk readers (projections catching
   * up) skip the per-event `await` of an async iterator, which costs as much as the read itself.
   */
  readAllPages(options?: ReadAllOptions): AsyncIterable<ReadAllPage>;
  deleteStream(streamId: string, options?: DeleteOptions): Promise<DeleteResult>;
  tombstoneStream(streamId: string, options?: DeleteOptions): Promise<DeleteResult>;
  getStreamMetadata(streamId: string): Promise<StreamMetadataResult>;
  setStreamMetadata(streamId: string, metadata: StreamMetadata, options?: AppendOptions): Promise<AppendResult>;
  getStreamInfo(streamId: string): Promise<StreamInfo>;
  subscribeToStream(streamId: string, options?: SubscribeToStreamOptions): Subscription;
  subscribeToAll(options?: SubscribeToAllOptions): Subscription;
  /** The position just after the last committed event: where a live reader would start. */
  headPosition(): Promise<bigint>;
  scavenge(): Promise<ScavengeResult>;
  close(): Promise<void>;
}
