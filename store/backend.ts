// The port a storage backend fills in. `EventStore` (store/event-store.ts) wraps a backend and
// does argument checks, lifecycle, metadata rules, link resolution and subscriptions once, so a
// backend only keeps bytes, answers reads by position and revision, and runs the
// expected-revision decision (store/expected-revision.ts) atomically with its writes.
import type { ExpectedRevision } from './types.js';

/** An event ready to store: validated, with an id, its payloads already encoded. */
export interface PreparedEvent {
  readonly id: string;
  readonly type: string;
  readonly isJson: boolean;
  readonly data: Uint8Array;
  /** Empty when the event has no metadata. */
  readonly metadata: Uint8Array;
  /**
   * The data as the JSON text it was serialised to, when it was given as a value: a backend that
   * copies payloads into a buffer of its own may write the text there itself, and never ask for
   * `data` (whose bytes are then encoded on first use).
   */
  readonly dataText?: string;
  /** The metadata as JSON text, likewise. */
  readonly metadataText?: string;
}

export interface PreparedWrite {
  readonly streamId: string;
  readonly expected: ExpectedRevision;
  readonly events: readonly PreparedEvent[];
  /**
   * Set by `tombstoneStream`: the single event is the `$streamDeleted` record, stored at
   * revision Int64.MaxValue, after which the stream is deleted for ever.
   */
  readonly tombstone?: boolean;
}

/** An event as a backend returns it; `EventStore` wraps it into a `RecordedEvent`. */
export interface StoredRecord {
  readonly streamId: string;
  readonly revision: bigint;
  readonly position: bigint;
  readonly id: string;
  readonly type: string;
  readonly isJson: boolean;
  readonly data: Uint8Array;
  readonly metadata: Uint8Array;
  /** Milliseconds since the epoch, set by the backend when the event was committed. */
  readonly created: number;
}

/**
 * What a backend's record may offer beside `StoredRecord` to a reader on a hot path (the
 * projections' batch encoder): where its payload lies in the buffer it was read into, and its
 * numbers, all without allocating (`data`, `metadata`, `revision` and `position` each make an
 * object). The log's records have it; a reader checks for `raw` and falls back to the fields.
 */
export interface StoredRecordRaw {
  /** The buffer the record was read into. */
  readonly raw: Buffer;
  /** Where `data` starts in `raw`; `metadata` follows it. */
  readonly dataAt: number;
  readonly dataLength: number;
  readonly metadataLength: number;
  /** `Number(revision)`. */
  readonly revisionNumber: number;
  /** `Number(position)`. */
  readonly positionNumber: number;
}

/** What the backend knows about one stream, enough to decide an append. */
export interface StreamState {
  /** The last revision ever written (kept across soft deletes); -1n for a stream never written. */
  readonly lastRevision: bigint;
  readonly tombstoned: boolean;
  /** The current metadata's `$tb` is the soft-delete marker. */
  readonly softDeleted: boolean;
  /** The metastream `$$<stream>` has at least one event. */
  readonly metadataExists: boolean;
}

export type WriteOutcome =
  | {
      readonly kind: 'written';
      /** Revision of the stream's last event after the write (-1n for an empty batch on a new stream). */
      readonly lastRevision: bigint;
      /** Position of the write's last event, or the commit's last position for an empty batch. */
      readonly position: bigint;
    }
  | { readonly kind: 'idempotent'; readonly lastRevision: bigint; readonly position: bigint }
  | { readonly kind: 'wrong-expected-revision'; readonly actual: bigint }
  | { readonly kind: 'stream-deleted' };

export interface BackendReadStreamRequest {
  readonly streamId: string;
  /** Inclusive start revision. */
  readonly fromRevision: bigint;
  readonly direction: 'forwards' | 'backwards';
  /** At most this many records (a page). */
  readonly limit: number;
}

export interface BackendReadAllRequest {
  /** Inclusive start position; a position between records starts at the next record in the read's direction. */
  readonly fromPosition: bigint;
  readonly direction: 'forwards' | 'backwards';
  readonly limit: number;
}

export interface BackendSupports {
  readonly durable: boolean;
  readonly shared: boolean;
  readonly scavenge: boolean;
}

export interface ScavengePlan {
  /** Whether the record must be kept (it is visible, or the last of its stream, or a tombstone). */
  keep(record: StoredRecord): boolean;
}

/** What a backend counts about its own work, for `/metrics`; every figure is a running total. */
export interface BackendStats {
  /** fsync / fdatasync calls made to make commits durable. */
  readonly fsyncs?: number;
  /** Time spent waiting for them. */
  readonly fsyncSeconds?: number;
  /** Group commits: writes to storage, each carrying one or more commits. */
  readonly commits?: number;
  /** Events written. */
  readonly events?: number;
}

export interface StorageBackend {
  readonly supports: BackendSupports;
  /**
   * Checks every write's expected revision and writes all of them in one atomic, durable commit.
   * If any write is rejected nothing is written; the outcomes say which and why. An append to a
   * soft-deleted stream that is accepted also rewrites its metadata (store/metadata.ts
   * `recreatedMetadata`) in the same commit, as Event Store does.
   */
  commit(writes: readonly PreparedWrite[]): Promise<WriteOutcome[]>;
  streamState(streamId: string): Promise<StreamState>;
  /** A page of one stream's records, by revision, including tombstones; no metadata rules applied. */
  readStream(request: BackendReadStreamRequest): Promise<StoredRecord[]>;
  /** A page of the whole log in position order. */
  readAll(request: BackendReadAllRequest): Promise<StoredRecord[]>;
  /** The position just after the last committed record. */
  headPosition(): Promise<bigint>;
  /** Registers a listener called after each commit becomes visible; returns the unsubscribe. */
  onCommit(listener: () => void): () => void;
  /** Rewrites storage keeping only the records `plan` keeps; positions of kept records stay. */
  scavenge?(plan: ScavengePlan): Promise<{ eventsRemoved: number; bytesReclaimed: number }>;
  /** Running totals of the backend's own work, when it counts any. */
  stats?(): BackendStats;
  close(): Promise<void>;
}
