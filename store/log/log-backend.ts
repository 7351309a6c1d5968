// The embedded log engine, Telltale's default backend (DESIGN decisions 1–6).
//
// Storage: one logical, append-only byte log cut into segment files (store/log/segment.ts); an
// event's global position is the byte offset of its record in that log (store/log/record-format.ts),
// so positions strictly increase and a position handed out stays valid for ever, scavenge or not.
//
// Writing: commits are decided one at a time, in order, by `planCommit` under a single-writer
// chain, against the durable index plus an overlay of commits decided but not yet on disk; a
// decided commit is encoded as one contiguous run of records and queued. One flush at a time
// writes everything queued in a single write and one fdatasync (group commit, as Event Store's
// writer does: fsync when the queue drains); every commit in it resolves only after that
// fdatasync returns. Only then are its records put in the index that readers use, so reads see
// durable records only.
//
// Opening: takes the directory lock, loads the index checkpoint and scans only the log after it,
// cutting back a torn tail (a commit whose last record is missing or incomplete) and stopping with
// `CorruptLogError` (file and offset) at a bad record anywhere else. A missing, stale or bad
// checkpoint is rebuilt by scanning the whole log. Records covered by a valid checkpoint are not
// re-read at open (that is what keeps open time flat); each read verifies the checksums of the
// records it returns instead, so a flipped byte in old data surfaces as `CorruptLogError` on the
// first read that touches it, never as a wrong event.
//
// Preallocation: as Event Store's chunks are created at their full size, the active segment is
// kept zero-filled (and that made durable) a few MiB ahead of its end, in the background. An
// append then overwrites blocks the file already owns, so its fdatasync writes the data and no
// new file length (on ext4 here: no journal commit; 0.25 against 0.37 ms per 26 KB fdatasync).
// A segment is cut back to its records when it is sealed or the store closes; after a crash, the
// zeros at the end of the last segment are recognised at open and cut, and are not a torn tail.
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import type {
  BackendReadAllRequest,
  BackendReadStreamRequest,
  BackendStats,
  BackendSupports,
  PreparedWrite,
  ScavengePlan,
  StorageBackend,
  StoredRecord,
  StreamState,
  WriteOutcome,
} from '../backend.js';
import { planCommit, type CommitPlan, type CommitView, type PlannedRecord } from '../commit-plan.js';
import { BackendUnavailableError, CorruptLogError, EventTooLargeError, StoreClosedError } from '../errors.js';
import type { StreamIdLookup } from '../expected-revision.js';
import { isSoftDeleteMarker } from '../metadata.js';
import { isMetastream, metastreamOf, TOMBSTONE_REVISION } from '../stream-name.js';
import { isPromiseLike, type MaybePromise } from '../maybe-async.js';
import { LockFile } from './lock-file.js';
import { RecentIds } from './recent-ids.js';
import {
  checkRecord,
  commitBound,
  encodeCommit,
  FLAG_COMMIT_FIRST,
  FLAG_COMMIT_LAST,
  Frame,
  LogRecord,
  MAX_RECORD_BYTES,
  RECORD_OVERHEAD_BYTES,
  recordData,
  recordFlags,
  RECORD_ID_OFFSET,
  recordLength,
  recordPosition,
  recordRevisionNumber,
  recordStreamId,
  type RecordInput,
} from './record-format.js';
import {
  fdatasync,
  parseSegmentHeader,
  pread,
  pwrite,
  pwriteSync,
  Segment,
  SEGMENT_HEADER_BYTES,
  SEGMENT_NAME,
  segmentFileName,
  segmentHeader,
  syncDirectory,
} from './segment.js';
import { deserializeIndex, HOLE, serializeIndex, StreamIndex, type IndexCheckpoint } from './stream-index.js';

/**
 * `'fsync'`: an append resolves only once its bytes are on disk (fdatasync, group-committed).
 * `'none'`: an append resolves once its bytes are handed to the operating system, without
 * fsync. Faster, survives a crash of this process, but **acknowledged appends can be lost** if
 * the machine crashes or loses power. Only for data you can rebuild.
 */
export type Durability = 'fsync' | 'none';

export interface LogBackendOptions {
  /** @defaultValue `'fsync'` */
  readonly durability?: Durability;
  /** A segment is closed once it would grow past this many bytes. @defaultValue 256 MiB */
  readonly segmentBytes?: number;
  /**
   * Write an index checkpoint every time the log has grown this much, and by at least
   * `CHECKPOINT_GROWTH` times the last checkpoint's size (see there). @defaultValue 32 MiB
   */
  readonly checkpointBytes?: number;
  /**
   * How many recent event ids are remembered for recognising a retried append under `any` /
   * `stream_exists` (Event Store keeps 8Mi in a compact .NET cache; a JS Map entry costs about
   * 120 bytes, so we keep fewer). Retries of older batches with an exact expected revision are
   * still recognised, from the log itself. @defaultValue 65536
   */
  readonly recentIds?: number;
  /** Clock for `created`. @defaultValue Date.now */
  readonly clock?: () => number;
  /** Verify each record's checksum on every read. @defaultValue true */
  readonly verifyReads?: boolean;
}

/** What the open found and repaired, for operators and tests. */
export interface RecoveryReport {
  /** Whether the index checkpoint was usable (false: the index was rebuilt from the whole log). */
  readonly usedCheckpoint: boolean;
  /** Bytes of log scanned at open. */
  readonly scannedBytes: number;
  /** Set when a torn tail was cut back. */
  readonly truncated?: { readonly file: string; readonly offset: number; readonly bytes: number };
}

const INDEX_FILE = 'index.tti';
/**
 * A checkpoint serialises the whole index (8 bytes an event), so at a fixed interval its cost per
 * appended byte grows with the log: at 10M events, 80 MB for every 32 MiB appended. The interval
 * is therefore also at least this many times the last checkpoint's size, which keeps that cost a
 * fixed share of appending (a quarter of a byte per byte) and bounds what an open after a crash
 * scans past the checkpoint to about this many times the index (a tenth of a log of 300-byte events).
 */
const CHECKPOINT_GROWTH = 4;
/** fdatasyncs in flight at once (see `#kick`); measured here, two overlap almost fully. */
const SYNCS_IN_FLIGHT = 2;
/** Queued bytes that start a flush within the tick, so a large commit or a burst need not wait for its end. */
const EAGER_FLUSH_BYTES = 16 * 1024;
/** Zeros kept ready ahead of the active segment's end; a fill starts when less than half is left. */
const PREFILL_AHEAD_BYTES = 8 * 1024 * 1024;
/** The first fill of a segment; each one after is as large as what the segment holds, up to the above. */
const PREFILL_FIRST_BYTES = 256 * 1024;
const ZEROS = Buffer.alloc(1024 * 1024);
/** Undefined on Windows, where the prefill syncs its zeros with one fdatasync instead. */
const O_DSYNC: number | undefined = (fs.constants as { O_DSYNC?: number }).O_DSYNC;
const CHUNK_BYTES = 4 * 1024 * 1024;
const HINTS = 1024;
/** A sequential reader's next read fetches this much, and the rest waits in its hint. */
const READ_AHEAD_BYTES = 1024 * 1024;
/** Hints that may hold read-ahead bytes (the newest ones); the others keep only a position. */
const READ_AHEAD_HINTS = 8;

/** Where the page after a returned page starts, and for a recent one the bytes already read from there. */
interface ReadHint {
  readonly segment: Segment;
  readonly physical: number;
  rest: Buffer | undefined;
}
const NEW_STREAM: StreamState = { lastRevision: -1n, tombstoned: false, softDeleted: false, metadataExists: false };

interface IndexedRecord {
  readonly streamId: string;
  /** -1 for a tombstone. */
  readonly revision: number;
  readonly position: number;
  /** Kept for metastream records only (soft-delete marker). */
  readonly data: Uint8Array | undefined;
}

interface QueuedCommit {
  readonly buffer: Buffer;
  readonly position: number;
  readonly segmentStart: number;
  /** The commit's records and their positions, for the index once durable. */
  readonly records: readonly PlannedRecord[];
  readonly positions: readonly number[];
  readonly lastRecordPosition: number;
}

/** A stream's state as decided but not yet durable. */
interface PendingStream {
  lastRevision: number;
  tombstoned: boolean;
  /** For a metastream: its last event's data. */
  lastData: Uint8Array | undefined;
  /** Pending records by revision, contiguous. */
  readonly records: { revision: number; id: string; position: number }[];
  lastPosition: number;
}

/** An event id met while scanning at open, kept undecoded until we know it is among the newest. */
interface ScannedId {
  readonly buf: Buffer;
  readonly at: number;
  readonly streamId: string;
  readonly revision: number;
}

/** The last `capacity` items pushed, oldest first on `newest()`. */
class RecentRing<T> {
  readonly #items: T[] = [];
  #next = 0;
  constructor(readonly capacity: number) {}
  push(item: T): void {
    if (this.capacity <= 0) return;
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.capacity;
  }
  newest(): T[] {
    return this.#items.length < this.capacity ? this.#items : [...this.#items.slice(this.#next), ...this.#items.slice(0, this.#next)];
  }
}

/** A commit's outcomes, and the log position that must be durable before they are answered. */
interface Decided {
  readonly outcomes: WriteOutcome[];
  readonly durableAt: number;
}

interface Waiter {
  readonly at: number;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export class LogBackend implements StorageBackend {
  readonly supports: BackendSupports;
  readonly directory: string;
  recovery: RecoveryReport = { usedCheckpoint: false, scannedBytes: 0 };
  /** The last failure to write an index checkpoint (the log stays the truth; the next open rescans). */
  checkpointError: unknown;

  readonly #lock: LockFile;
  readonly #durable: boolean;
  readonly #segmentBytes: number;
  readonly #checkpointBytes: number;
  readonly #recentLimit: number;
  readonly #clock: () => number;
  readonly #verify: boolean;

  #segments: Segment[] = [];
  #index = new StreamIndex();
  readonly #overlay = new Map<string, PendingStream>();
  readonly #recentIds: RecentIds;
  #scannedIds: RecentRing<ScannedId>;
  readonly #hints = new Map<number, ReadHint>();
  /** The hints holding read-ahead bytes, oldest first. */
  #readAhead: ReadHint[] = [];
  readonly #listeners = new Set<() => void>();

  /** End of the log including decided, queued commits. */
  #nextPosition = 0;
  #lastRecordPosition = -1;
  /** Start of the segment the next decided commit goes to. */
  #writeSegmentStart = 0;
  /** End of the durable log: readers see records before it only. */
  #durableHead = 0;
  #durableLastRecordPosition = -1;
  #checkpointPosition = -1;
  /** Size of the last index checkpoint written or read, bytes. */
  #checkpointSize = 0;
  #averageRecordBytes = 512;

  /** The decision (or exclusive step) still running, if any: later ones wait for it, in order. */
  #decisions: Promise<unknown> | undefined;
  #queue: QueuedCommit[] = [];
  /** Commits whose event ids are not yet in `#recentIds` (see `#rememberIds`). */
  #unremembered: QueuedCommit[] = [];
  #queuedBytes = 0;
  /** Batches written, or being written, and waiting for an fdatasync; oldest first. */
  #syncing: { readonly batch: QueuedCommit[]; synced: boolean }[] = [];
  /** A batch's write phase is running (it may wait for a seal or the prefill); the next one waits for it. */
  #writing = false;
  #flushScheduled = false;
  /** Settles once nothing is queued, written or syncing. */
  #flushing: Promise<void> | undefined;
  #flushed: (() => void) | undefined;
  #waiters: Waiter[] = [];
  #failure: Error | undefined;
  #maintenance: Promise<unknown> = Promise.resolve();
  readonly #stats = { fsyncs: 0, fsyncSeconds: 0, commits: 0, events: 0 };
  #checkpointRunning = false;
  #checkpointQueued = false;
  #closed = false;

  private constructor(directory: string, lock: LockFile, options: LogBackendOptions) {
    this.directory = directory;
    this.#lock = lock;
    this.#durable = (options.durability ?? 'fsync') === 'fsync';
    if (options.durability !== undefined && options.durability !== 'fsync' && options.durability !== 'none') {
      throw new TypeError(`durability must be 'fsync' or 'none', got ${String(options.durability)}`);
    }
    this.#segmentBytes = options.segmentBytes ?? 256 * 1024 * 1024;
    this.#checkpointBytes = options.checkpointBytes ?? 32 * 1024 * 1024;
    this.#recentLimit = options.recentIds ?? 65536;
    this.#clock = options.clock ?? Date.now;
    this.#verify = options.verifyReads ?? true;
    this.supports = { durable: this.#durable, shared: false, scavenge: true };
    this.#scannedIds = new RecentRing(this.#recentLimit);
    this.#recentIds = new RecentIds(this.#recentLimit);
  }

  /** Opens (creating when needed) the log in `directory`; one writer per directory. */
  static async open(directory: string, options: LogBackendOptions = {}): Promise<LogBackend> {
    const dir = resolve(directory);
    fs.mkdirSync(dir, { recursive: true });
    const lock = LockFile.acquire(dir);
    let backend: LogBackend | undefined;
    try {
      backend = new LogBackend(dir, lock, options);
      await backend.#recover();
      return backend;
    } catch (e) {
      if (backend) for (const s of backend.#segments) fs.closeSync(s.fd);
      lock.release();
      throw e;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Writing

  commit(writes: readonly PreparedWrite[]): Promise<WriteOutcome[]> {
    // Decided right away when no decision is running (the common case, with no promise);
    // otherwise in order behind the one that is (it waited on the disk for an old event's id).
    if (this.#decisions === undefined) {
      let decided: MaybePromise<Decided>;
      try {
        decided = this.#decide(writes);
      } catch (e) {
        return Promise.reject(e);
      }
      if (!isPromiseLike(decided)) return this.#answer(decided);
      const pending = decided;
      return this.#inOrder(() => pending).then((d) => this.#answer(d));
    }
    return this.#inOrder(() => this.#decide(writes)).then((d) => this.#answer(d));
  }

  /** Runs `step` once every decision queued before it has settled; later ones wait for it. */
  #inOrder<T>(step: () => MaybePromise<T>): Promise<T> {
    const run = (this.#decisions ?? Promise.resolve()).then(step);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#decisions = settled;
    void settled.then(() => {
      if (this.#decisions === settled) this.#decisions = undefined;
    });
    return run;
  }

  /** A decided commit's outcomes, once everything decided up to it is durable. */
  #answer({ outcomes, durableAt }: Decided): Promise<WriteOutcome[]> {
    if (durableAt <= this.#durableHead) return Promise.resolve(outcomes);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => this.#waiters.push({ at: durableAt, resolve: () => resolve(outcomes), reject }));
  }

  #decide(writes: readonly PreparedWrite[]): MaybePromise<Decided> {
    if (this.#failure) throw this.#failure;
    if (this.#closed) throw new StoreClosedError();
    const plan = planCommit(writes, this.#view);
    return isPromiseLike(plan) ? plan.then((p) => this.#apply(writes, p)) : this.#apply(writes, plan);
  }

  /** Puts a planned commit in the write queue, and in the overlay later decisions see. */
  #apply(writes: readonly PreparedWrite[], plan: CommitPlan): Decided {
    if (!plan.ok) return { outcomes: plan.outcomes, durableAt: -1 };
    /** Per write: the position of its last record, or -1. */
    const lastOfWrite: number[] = new Array<number>(writes.length).fill(-1);
    if (plan.records.length > 0) {
      const inputs: readonly RecordInput[] = plan.records;
      const bound = commitBound(inputs);
      // Only a commit whose bound passes the record limit can hold a record that does: measure those exactly.
      if (bound > MAX_RECORD_BYTES) {
        for (const input of inputs) {
          const length = recordLength(input);
          if (length > MAX_RECORD_BYTES) throw new EventTooLargeError(length - RECORD_OVERHEAD_BYTES, MAX_RECORD_BYTES - RECORD_OVERHEAD_BYTES);
        }
      }
      const start = this.#nextPosition;
      const positions: number[] = [];
      const encoded = Buffer.allocUnsafe(bound);
      const total = encodeCommit(inputs, encoded, 0, start, this.#clock(), positions);
      const buffer = total === bound ? encoded : encoded.subarray(0, total);
      // A commit never spans two segments: the segment closes before it instead (positions are logical, so they stand).
      if (this.#nextPosition > this.#writeSegmentStart && this.#nextPosition - this.#writeSegmentStart + total > this.#segmentBytes) {
        this.#writeSegmentStart = this.#nextPosition;
      }
      for (let i = 0; i < plan.records.length; i++) {
        const planned = plan.records[i]!;
        const position = positions[i]!;
        const tombstone = planned.revision === TOMBSTONE_REVISION;
        const revision = tombstone ? -1 : Number(planned.revision);
        this.#pend(planned.streamId, revision, planned.event.id, position, isMetastream(planned.streamId) ? planned.event.data : undefined);
        if (planned.write >= 0) lastOfWrite[planned.write] = position;
      }
      this.#nextPosition += total;
      this.#lastRecordPosition = positions[positions.length - 1]!;
      this.#averageRecordBytes = this.#averageRecordBytes * 0.9 + (total / positions.length) * 0.1;
      const queued: QueuedCommit = { buffer, position: start, segmentStart: this.#writeSegmentStart, records: plan.records, positions, lastRecordPosition: this.#lastRecordPosition };
      this.#queue.push(queued);
      this.#unremembered.push(queued);
      this.#queuedBytes += total;
      this.#kick(this.#queuedBytes >= EAGER_FLUSH_BYTES);
    }
    const outcomes = writes.map((w, i): WriteOutcome => {
      const known = plan.known[i];
      if (known?.kind === 'idempotent') return { ...known, position: this.#positionOf(w.streamId, Number(known.lastRevision)) };
      return { kind: 'written', lastRevision: plan.lastRevisions[i]!, position: BigInt(lastOfWrite[i]! >= 0 ? lastOfWrite[i]! : this.#lastRecordPosition) };
    });
    // Even a commit that wrote nothing (an idempotent retry, an empty batch) was decided against
    // commits still in flight; it answers only once they are durable.
    return { outcomes, durableAt: this.#nextPosition };
  }

  /**
   * Puts the ids of commits decided since the last call into the recent-ids table. A commit's ids
   * are needed only by a later decision's `revisionOf` (which calls this first), so #apply leaves
   * them for the fdatasync wait instead of adding their hashing to the path to the disk.
   */
  #rememberIds(): void {
    const commits = this.#unremembered;
    if (commits.length === 0) return;
    for (let c = 0; c < commits.length; c++) {
      const { buffer, position: start, records, positions } = commits[c]!;
      for (let i = 0; i < records.length; i++) {
        const planned = records[i]!;
        if (planned.revision === TOMBSTONE_REVISION) continue;
        this.#recentIds.rememberBytes(buffer, positions[i]! - start + RECORD_ID_OFFSET, planned.streamId, Number(planned.revision));
      }
    }
    this.#unremembered = [];
  }

  #pend(streamId: string, revision: number, id: string, position: number, data: Uint8Array | undefined): void {
    let pending = this.#overlay.get(streamId);
    if (pending === undefined) {
      const durable = this.#index.get(streamId);
      pending = { lastRevision: (durable?.count ?? 0) - 1, tombstoned: false, lastData: undefined, records: [], lastPosition: position };
      this.#overlay.set(streamId, pending);
    }
    if (revision < 0) pending.tombstoned = true;
    else {
      pending.lastRevision = revision;
      pending.records.push({ revision, id, position });
    }
    if (data !== undefined) pending.lastData = data;
    pending.lastPosition = position;
  }

  #positionOf(streamId: string, revision: number): bigint {
    const pending = this.#overlay.get(streamId)?.records;
    const first = pending?.[0];
    if (first !== undefined && revision >= first.revision) {
      const hit = pending![revision - first.revision];
      if (hit) return BigInt(hit.position);
    }
    const position = this.#index.get(streamId)?.at(revision) ?? HOLE;
    return BigInt(position >= 0 ? position : this.#lastRecordPosition);
  }

  /** What `planCommit` sees: durable state plus every commit decided before this one. */
  readonly #view: CommitView = {
    streamState: (streamId) => this.#decidedState(streamId),
    lookup: (streamId) => this.#lookup(streamId),
    lastMetadata: async (metastreamId) => {
      const pending = this.#overlay.get(metastreamId);
      if (pending?.lastData !== undefined) return pending.lastData;
      const entry = this.#index.get(metastreamId);
      const position = entry && entry.count > 0 ? entry.at(entry.count - 1) : HOLE;
      if (position < 0) return undefined;
      return (await this.#readPositions([position]))[0]?.data;
    },
  };

  #decidedState(streamId: string): StreamState {
    const metastream = metastreamOf(streamId);
    const pending = this.#overlay.get(streamId);
    const pendingMeta = this.#overlay.get(metastream);
    const durable = this.#index.get(streamId);
    const durableMeta = this.#index.get(metastream);
    if (!pending && !pendingMeta && !durable && !durableMeta) return NEW_STREAM;
    return {
      lastRevision: BigInt(pending ? pending.lastRevision : (durable?.count ?? 0) - 1),
      tombstoned: pending?.tombstoned === true || (durable?.tombstone ?? -1) >= 0,
      softDeleted: pendingMeta?.lastData !== undefined ? isSoftDeleteMarker(pendingMeta.lastData) : (durable?.softDeleted ?? false),
      metadataExists: (durableMeta?.count ?? 0) > 0 || (pendingMeta !== undefined && pendingMeta.lastRevision >= 0),
    };
  }

  #lookup(streamId: string): StreamIdLookup {
    return {
      idsFrom: async (from, count) => {
        const pending = this.#overlay.get(streamId)?.records ?? [];
        const entry = this.#index.get(streamId);
        const ids: string[] = [];
        const toRead: { slot: number; position: number }[] = [];
        for (let r = Number(from); ids.length < count; r++) {
          const hit = pending.length > 0 && r >= pending[0]!.revision ? pending[r - pending[0]!.revision] : undefined;
          if (hit) ids.push(hit.id);
          else if (entry && r < entry.count) {
            const position = entry.at(r);
            // A scavenged event's id is gone; the retry can no longer be recognised, as in Event Store.
            if (position >= 0) toRead.push({ slot: ids.length, position });
            ids.push('');
          } else break;
        }
        if (toRead.length > 0) {
          const records = await this.#readPositions(toRead.map((t) => t.position));
          for (const [i, t] of toRead.entries()) ids[t.slot] = records[i]!.id;
        }
        return ids;
      },
      revisionOf: (id) => {
        this.#rememberIds();
        const revision = this.#recentIds.revisionOf(id, streamId);
        return revision === undefined ? undefined : BigInt(revision);
      },
    };
  }

  /**
   * Group commit, pipelined. What is queued is written and its fdatasync started at the end of the
   * current tick (`process.nextTick` runs after the microtasks queued so far, so writers answered
   * by one fdatasync, appending again in promise continuations, share the next one), or at once
   * when `eager` and enough bytes are queued. Up to `SYNCS_IN_FLIGHT` fdatasyncs run at a time:
   * the next batch is written and synced while the previous one's fdatasync is still running,
   * so the disk's wait overlaps the encoding of the appends that follow instead of adding to it.
   */
  #kick(eager = false): void {
    if (this.#flushing === undefined) this.#flushing = new Promise<void>((resolve) => (this.#flushed = resolve));
    if (eager) this.#flush();
    if (this.#queue.length > 0 && !this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(() => {
        this.#flushScheduled = false;
        this.#flush();
      });
    }
  }

  /** Writes what is queued and starts its fdatasync, unless a write is running or every sync slot is taken (their end kicks again). */
  #flush(): void {
    if (this.#queue.length > 0 && !this.#writing && this.#failure === undefined && this.#syncing.length < SYNCS_IN_FLIGHT) {
      const entry = { batch: this.#queue, synced: false };
      this.#queue = [];
      this.#queuedBytes = 0;
      this.#syncing.push(entry);
      this.#writing = true;
      void this.#flushBatch(entry);
    }
    this.#settleIfIdle();
  }

  async #flushBatch(entry: { readonly batch: QueuedCommit[]; synced: boolean }): Promise<void> {
    try {
      const touched = await this.#writeBatch(entry.batch);
      this.#writing = false;
      if (this.#queue.length > 0) this.#kick();
      if (this.#durable) {
        const synced = Promise.all(touched.map((s) => this.#sync(s.fd)));
        // The disk is busy for a while now: the ids go into the table in that wait rather than before the write.
        this.#rememberIds();
        await synced;
      } else this.#rememberIds();
      this.#stats.commits++;
      for (const commit of entry.batch) this.#stats.events += commit.records.length;
      entry.synced = true;
      this.#publishSynced();
    } catch (e) {
      this.#writing = false;
      this.#fail(e);
    }
    this.#settleIfIdle();
  }

  /**
   * Publishes every batch up to the newest whose fdatasync has returned: that fdatasync was
   * issued after every earlier batch was written (write phases run one at a time, and a
   * segment is synced before the next one is created), so it made them durable too.
   */
  #publishSynced(): void {
    if (this.#failure) return;
    let last = -1;
    for (let k = 0; k < this.#syncing.length; k++) if (this.#syncing[k]!.synced) last = k;
    if (last < 0) return;
    const done = this.#syncing.splice(0, last + 1);
    this.#publish(done.length === 1 ? done[0]!.batch : done.flatMap((d) => d.batch));
    if (this.#queue.length > 0) this.#kick();
  }

  #settleIfIdle(): void {
    if (this.#flushing === undefined || this.#flushScheduled || this.#writing) return;
    if ((this.#queue.length > 0 && this.#failure === undefined) || this.#syncing.length > 0) return;
    const flushed = this.#flushed!;
    this.#flushing = undefined;
    this.#flushed = undefined;
    flushed();
  }

  /** Writes a batch, one write per segment touched (almost always one); returns the segments to sync. */
  async #writeBatch(batch: QueuedCommit[]): Promise<Segment[]> {
    const touched: Segment[] = [];
    let i = 0;
    while (i < batch.length) {
      const segmentStart = batch[i]!.segmentStart;
      let j = i + 1;
      while (j < batch.length && batch[j]!.segmentStart === segmentStart) j++;
      let segment = this.#active;
      if (segment.start !== segmentStart) {
        // Seal the segment before the next one exists, so a later segment implies every earlier one is whole.
        await this.#seal(segment);
        segment = await this.#createSegment(segmentStart);
      }
      const group = batch.slice(i, j);
      const physical = segment.physicalOf(group[0]!.position);
      const buffers = group.map((c) => c.buffer);
      const end = physical + buffers.reduce((n, b) => n + b.length, 0);
      if (segment.prefilling !== undefined && end > segment.prefillFrom) await segment.prefilling;
      pwriteSync(segment.fd, buffers, physical);
      segment.size = Math.max(segment.size, end);
      segment.allocated = Math.max(segment.allocated, end);
      touched.push(segment);
      i = j;
    }
    if (this.#durable) this.#prefill(this.#active);
    return touched;
  }

  /**
   * Keeps zeros written and durable ahead of the active segment's end, so appends overwrite
   * allocated blocks. Runs in the background; a failure only means appends extend the file again.
   */
  #prefill(segment: Segment): void {
    if (segment.prefilling !== undefined || segment.allocated - segment.size >= PREFILL_AHEAD_BYTES / 2) return;
    const from = Math.max(segment.allocated, segment.size);
    const limit = SEGMENT_HEADER_BYTES + this.#segmentBytes;
    const to = Math.min(limit, from + Math.min(PREFILL_AHEAD_BYTES, Math.max(PREFILL_FIRST_BYTES, segment.size - SEGMENT_HEADER_BYTES)));
    if (to <= from) return;
    segment.prefillFrom = from;
    segment.prefilling = (async () => {
      try {
        if (O_DSYNC === undefined) {
          for (let at = from; at < to; at += ZEROS.length) await pwrite(segment.fd, ZEROS.subarray(0, Math.min(ZEROS.length, to - at)), at);
          await fdatasync(segment.fd);
        } else {
          // Through a descriptor of its own opened O_DSYNC, each write of zeros is durable when it
          // returns, so no dirty zeros wait in the page cache for the next commit's fdatasync to
          // carry to disk with it (measured: 2-12% off that fdatasync's wait here).
          const fd = fs.openSync(segment.file, fs.constants.O_WRONLY | O_DSYNC);
          try {
            for (let at = from; at < to; at += ZEROS.length) await pwrite(fd, ZEROS.subarray(0, Math.min(ZEROS.length, to - at)), at);
          } finally {
            fs.closeSync(fd);
          }
        }
        segment.allocated = Math.max(segment.allocated, to);
      } catch {
        // Nothing depends on the zeros: the next append writes past them and its fdatasync commits the length.
      } finally {
        segment.prefilling = undefined;
        segment.prefillFrom = Infinity;
      }
    })();
  }

  /** Cuts a segment back to its records (dropping the zeros ahead of them) and makes it durable. */
  async #seal(segment: Segment): Promise<void> {
    await this.#trimPrefill(segment);
    if (this.#durable) await this.#sync(segment.fd);
  }

  async #trimPrefill(segment: Segment): Promise<void> {
    while (segment.prefilling !== undefined) await segment.prefilling;
    if (segment.allocated > segment.size) {
      fs.ftruncateSync(segment.fd, segment.size);
      segment.allocated = segment.size;
    }
  }

  /** fdatasync, counted and timed for `stats()`. */
  async #sync(fd: number): Promise<void> {
    const start = performance.now();
    try {
      await fdatasync(fd);
    } finally {
      this.#stats.fsyncs++;
      this.#stats.fsyncSeconds += (performance.now() - start) / 1000;
    }
  }

  stats(): BackendStats {
    return { ...this.#stats };
  }

  async #createSegment(start: number): Promise<Segment> {
    const fd = fs.openSync(join(this.directory, segmentFileName(start)), 'wx+');
    await pwrite(fd, segmentHeader(start, 0), 0);
    if (this.#durable) {
      await fdatasync(fd);
      syncDirectory(this.directory);
    }
    const segment = new Segment(this.directory, start, 0, fd, SEGMENT_HEADER_BYTES);
    this.#segments.push(segment);
    return segment;
  }

  get #active(): Segment {
    return this.#segments[this.#segments.length - 1]!;
  }

  /** Makes a durable batch visible: index, durable head, waiting commits, subscribers. */
  #publish(batch: QueuedCommit[]): void {
    for (const commit of batch) {
      const { records, positions } = commit;
      for (let i = 0; i < records.length; i++) {
        const r = records[i]!;
        // Only a metastream's data is read (for the soft-delete marker); others are never asked for bytes.
        this.#index.apply(r.streamId, r.revision === TOMBSTONE_REVISION ? -1 : Number(r.revision), positions[i]!, isMetastream(r.streamId) ? r.event.data : undefined);
      }
      const segment = this.#segmentAt(commit.position);
      segment.addSample(commit.position, segment.physicalOf(commit.position));
    }
    const last = batch[batch.length - 1]!;
    this.#durableHead = last.position + last.buffer.length;
    this.#durableLastRecordPosition = last.lastRecordPosition;
    for (const [streamId, pending] of this.#overlay) {
      if (pending.lastPosition < this.#durableHead) this.#overlay.delete(streamId);
      else {
        let drop = 0;
        while (drop < pending.records.length && pending.records[drop]!.position < this.#durableHead) drop++;
        if (drop > 0) pending.records.splice(0, drop);
      }
    }
    let done = 0;
    while (done < this.#waiters.length && this.#waiters[done]!.at <= this.#durableHead) this.#waiters[done++]!.resolve();
    if (done > 0) this.#waiters.splice(0, done);
    for (const listener of this.#listeners) listener();
    if (this.#durableHead - this.#checkpointPosition >= Math.max(this.#checkpointBytes, CHECKPOINT_GROWTH * this.#checkpointSize) && !this.#checkpointQueued) {
      this.#checkpointQueued = true;
      this.#maintenance = this.#maintenance.then(() => this.#checkpoint());
    }
  }

  #whenDurable(at: number): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => this.#waiters.push({ at, resolve, reject }));
  }

  /**
   * A failed write or fsync leaves the file in an unknown state (after a failed fsync, Linux may
   * have dropped the dirty pages), so the store stops taking writes, as PostgreSQL does; reopening
   * re-reads the log and cuts any torn tail.
   */
  #fail(cause: unknown): void {
    this.#failure = new BackendUnavailableError(`Writing the log in ${this.directory} failed; the store accepts no more writes until it is reopened`, { cause });
    for (const w of this.#waiters) w.reject(this.#failure);
    this.#waiters = [];
    this.#queue = [];
    this.#unremembered = [];
    this.#syncing = [];
  }

  // ---------------------------------------------------------------------------------------------
  // Reading (durable records only)

  async streamState(streamId: string): Promise<StreamState> {
    const entry = this.#index.get(streamId);
    const meta = this.#index.get(metastreamOf(streamId));
    if (!entry && !meta) return NEW_STREAM;
    return {
      lastRevision: BigInt((entry?.count ?? 0) - 1),
      tombstoned: (entry?.tombstone ?? -1) >= 0,
      softDeleted: entry?.softDeleted ?? false,
      metadataExists: (meta?.count ?? 0) > 0,
    };
  }

  async readStream(request: BackendReadStreamRequest): Promise<StoredRecord[]> {
    const entry = this.#index.get(request.streamId);
    if (!entry) return [];
    const positions: number[] = [];
    const last = entry.count - 1;
    const from = request.fromRevision > BigInt(last) ? last + 1 : Number(request.fromRevision);
    if (request.direction === 'forwards') {
      for (let r = from; r <= last && positions.length < request.limit; r++) {
        const p = entry.positions[r]!;
        if (p >= 0) positions.push(p);
      }
      if (positions.length < request.limit && entry.tombstone >= 0) positions.push(entry.tombstone);
      return this.#readPositions(positions);
    }
    for (let r = Math.min(from, last); r >= 0 && positions.length < request.limit; r--) {
      const p = entry.positions[r]!;
      if (p >= 0) positions.push(p);
    }
    return (await this.#readPositions(positions.reverse())).reverse();
  }

  async readAll(request: BackendReadAllRequest): Promise<StoredRecord[]> {
    if (request.limit <= 0) return [];
    const from = request.fromPosition > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(request.fromPosition);
    return request.direction === 'forwards' ? this.#readForwards(from, request.limit) : this.#readBackwards(from, request.limit);
  }

  /** Size of the in-memory index, for benchmarks and operators. */
  indexStats(): { events: number; streams: number } {
    return { events: this.#index.size(), streams: this.#index.streams.size };
  }

  async headPosition(): Promise<bigint> {
    return BigInt(this.#durableHead);
  }

  onCommit(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #segmentIndexOf(position: number): number {
    const s = this.#segments;
    let lo = 0;
    let hi = s.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (s[mid]!.start <= position) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  #segmentAt(position: number): Segment {
    return this.#segments[this.#segmentIndexOf(position)]!;
  }

  /** Logical end of segment k as readers see it. */
  #segmentEnd(k: number, head: number): number {
    const next = this.#segments[k + 1];
    return next === undefined ? head : Math.min(next.start, head);
  }

  /** File offset where readable bytes of a segment end. */
  #physicalEnd(segment: Segment, logicalEnd: number): number {
    return segment.scavenged ? segment.size : segment.physicalOf(logicalEnd);
  }

  #readSize(records: number): number {
    return Math.min(CHUNK_BYTES, Math.max(16 * 1024, Math.ceil(records * this.#averageRecordBytes * 1.1) + 4096));
  }

  async #readForwards(from: number, limit: number): Promise<StoredRecord[]> {
    const head = this.#durableHead;
    const out: StoredRecord[] = [];
    let p = Math.max(0, from);
    let hinted = this.#hints.get(p);
    let nextPhysical = 0;
    let lastSegment: Segment | undefined;
    let rest: Buffer | undefined;
    while (out.length < limit && p < head) {
      const k = this.#segmentIndexOf(p);
      const segment = this.#segments[k]!;
      const end = this.#segmentEnd(k, head);
      if (p >= end) {
        p = end;
        hinted = undefined;
        continue;
      }
      const physicalEnd = this.#physicalEnd(segment, end);
      const sequential = hinted?.segment === segment;
      let physical = sequential ? hinted!.physical : segment.floor(p).physical;
      // Bytes a previous page already read from `physical` on.
      let ahead = sequential ? hinted!.rest : undefined;
      hinted = undefined;
      rest = undefined;
      segment.acquire();
      try {
        let want = 0;
        while (out.length < limit && physical < physicalEnd) {
          let buf: Buffer;
          const fromAhead = ahead !== undefined;
          if (ahead !== undefined) {
            buf = ahead.length <= physicalEnd - physical ? ahead : ahead.subarray(0, physicalEnd - physical);
            ahead = undefined;
          } else {
            // A reader that continues where its last page ended reads ahead: fewer, larger reads.
            const size = Math.min(physicalEnd - physical, Math.max(want, this.#readSize(limit - out.length), sequential ? READ_AHEAD_BYTES : 0));
            buf = await pread(segment.fd, size, physical);
          }
          let off = 0;
          want = 0;
          let incomplete = false;
          while (off < buf.length && out.length < limit) {
            const length = checkRecord(buf, off, buf.length, this.#verify);
            if (length === Frame.Incomplete) {
              // The bytes a previous page read past its end may hold only the start of a record,
              // even less than its length field: read it whole from the file.
              if (off === 0 && !fromAhead) want = this.#declaredLength(buf, segment, physical);
              incomplete = true;
              break;
            }
            if (length === Frame.Bad) throw new CorruptLogError(segment.file, physical + off, 'bad record (length, checksum or framing)');
            const position = recordPosition(buf, off);
            if (position >= p) out.push(new LogRecord(buf, off));
            off += length;
          }
          physical += off;
          rest = !incomplete && off < buf.length ? buf.subarray(off) : undefined;
        }
        lastSegment = segment;
        nextPhysical = physical;
        p = out.length > 0 ? Number(out[out.length - 1]!.position) + 1 : end;
        if (physical >= physicalEnd) p = Math.max(p, end);
      } finally {
        segment.release();
      }
    }
    // The next page usually starts right after this one's last record: remember where that is,
    // with the bytes already read past it.
    if (out.length > 0 && lastSegment !== undefined) {
      const next = Number(out[out.length - 1]!.position) + 1;
      this.#rememberHint(next, { segment: lastSegment, physical: nextPhysical, rest });
    }
    return out;
  }

  #rememberHint(position: number, hint: ReadHint): void {
    this.#hints.set(position, hint);
    if (this.#hints.size > HINTS) this.#hints.delete(this.#hints.keys().next().value!);
    // Only the newest hints keep read-ahead bytes, so idle readers pin no memory.
    if (hint.rest === undefined) return;
    this.#readAhead.push(hint);
    if (this.#readAhead.length > READ_AHEAD_HINTS) this.#readAhead.shift()!.rest = undefined;
  }

  /** The length a record at the start of `buf` declares, checked for sanity. */
  #declaredLength(buf: Buffer, segment: Segment, physical: number): number {
    if (buf.length < 4) throw new CorruptLogError(segment.file, physical, 'record cut short');
    const length = buf.readUInt32LE(0);
    if (length < RECORD_OVERHEAD_BYTES || length > MAX_RECORD_BYTES || length <= buf.length) {
      throw new CorruptLogError(segment.file, physical, `implausible record length ${length}`);
    }
    return length;
  }

  async #readBackwards(from: number, limit: number): Promise<StoredRecord[]> {
    const head = this.#durableHead;
    const out: StoredRecord[] = [];
    let p = Math.min(from, head - 1);
    while (out.length < limit && p >= 0) {
      const k = this.#segmentIndexOf(p);
      const segment = this.#segments[k]!;
      const floor = segment.floor(p);
      const window = await this.#scan(segment, floor.physical, this.#physicalEnd(segment, this.#segmentEnd(k, head)), p);
      for (let i = window.length - 1; i >= 0 && out.length < limit; i--) out.push(window[i]!);
      p = floor.logical - 1;
    }
    return out;
  }

  /** Records of a segment from a record start, in order, up to position `until` inclusive. */
  async #scan(segment: Segment, physical: number, physicalEnd: number, until: number, wanted?: Set<number>): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    segment.acquire();
    try {
      let want = 0;
      while (physical < physicalEnd) {
        const buf = await pread(segment.fd, Math.min(physicalEnd - physical, Math.max(want, 256 * 1024)), physical);
        let off = 0;
        want = 0;
        while (off < buf.length) {
          const length = checkRecord(buf, off, buf.length, this.#verify);
          if (length === Frame.Incomplete) {
            if (off === 0) want = this.#declaredLength(buf, segment, physical);
            break;
          }
          if (length === Frame.Bad) throw new CorruptLogError(segment.file, physical + off, 'bad record (length, checksum or framing)');
          const position = recordPosition(buf, off);
          if (position > until) return out;
          if (wanted === undefined || wanted.has(position)) out.push(new LogRecord(buf, off));
          off += length;
        }
        physical += off;
      }
      return out;
    } finally {
      segment.release();
    }
  }

  /** The records at these positions (ascending, all durable), read a run of nearby ones per pread. */
  async #readPositions(positions: readonly number[]): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    const head = this.#durableHead;
    let i = 0;
    while (i < positions.length) {
      const first = positions[i]!;
      const k = this.#segmentIndexOf(first);
      const segment = this.#segments[k]!;
      const end = this.#segmentEnd(k, head);
      let j = i + 1;
      while (j < positions.length && positions[j]! < end && positions[j]! - first < CHUNK_BYTES / 4) j++;
      const run = positions.slice(i, j);
      if (segment.scavenged) {
        const records = await this.#scan(segment, segment.floor(first).physical, segment.size, run[run.length - 1]!, new Set(run));
        if (records.length !== run.length) throw new CorruptLogError(segment.file, segment.floor(first).physical, `the index points at a record that is not in the segment`);
        out.push(...records);
      } else {
        const physicalEnd = segment.physicalOf(end);
        const base = segment.physicalOf(first);
        segment.acquire();
        try {
          const buf = await pread(segment.fd, Math.min(physicalEnd - base, run[run.length - 1]! - first + Math.ceil(this.#averageRecordBytes * 2) + 4096), base);
          for (const position of run) {
            let record = buf;
            let off = position - first;
            let length = checkRecord(record, off, record.length, this.#verify);
            if (length === Frame.Incomplete) {
              // Only a run's last record can reach past the bytes read: fetch it alone.
              const physical = segment.physicalOf(position);
              const declared = off + 4 <= buf.length ? buf.readUInt32LE(off) : (await pread(segment.fd, 4, physical)).readUInt32LE(0);
              record = await pread(segment.fd, Math.min(Math.max(declared, RECORD_OVERHEAD_BYTES), MAX_RECORD_BYTES), physical);
              off = 0;
              length = checkRecord(record, 0, record.length, this.#verify);
            }
            if (length < 0 || recordPosition(record, off) !== position) {
              throw new CorruptLogError(segment.file, segment.physicalOf(position), 'bad record (length, checksum, framing or position)');
            }
            out.push(new LogRecord(record, off));
          }
        } finally {
          segment.release();
        }
      }
      i = j;
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Opening and recovery

  async #recover(): Promise<void> {
    const names = fs.readdirSync(this.directory);
    for (const name of names) if (name.endsWith('.tmp')) fs.unlinkSync(join(this.directory, name));
    const starts = names
      .map((n) => SEGMENT_NAME.exec(n)?.[1])
      .filter((s): s is string => s !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    if (starts.length === 0) {
      fs.rmSync(join(this.directory, INDEX_FILE), { force: true });
      await this.#createSegment(0);
      this.#checkpointPosition = 0;
      return;
    }
    for (const [k, start] of starts.entries()) {
      const last = k === starts.length - 1;
      const file = join(this.directory, segmentFileName(start));
      const fd = fs.openSync(file, last ? 'r+' : 'r');
      this.#segments.push(new Segment(this.directory, start, 0, fd, fs.fstatSync(fd).size));
      const segment = this.#segments[k]!;
      if (segment.size < SEGMENT_HEADER_BYTES) {
        // A crash while a new segment was being created: it holds nothing yet.
        if (!last) throw new CorruptLogError(file, 0, 'segment header cut short');
        fs.ftruncateSync(fd, 0);
        fs.writeSync(fd, segmentHeader(start, 0), 0, SEGMENT_HEADER_BYTES, 0);
        fs.fsyncSync(fd);
        segment.size = SEGMENT_HEADER_BYTES;
      }
      const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
      fs.readSync(fd, header, 0, SEGMENT_HEADER_BYTES, 0);
      const { generation } = parseSegmentHeader(header, file, start);
      if (generation > 0) {
        if (last) throw new CorruptLogError(file, 0, 'the last segment is a scavenged one; the segment after it is missing');
        this.#segments[k] = new Segment(this.directory, start, generation, fd, segment.size);
      }
    }
    for (let k = 0; k + 1 < this.#segments.length; k++) {
      const s = this.#segments[k]!;
      const next = this.#segments[k + 1]!;
      if (!s.scavenged && s.start + s.size - SEGMENT_HEADER_BYTES !== next.start) {
        throw new CorruptLogError(s.file, s.size, `the segment ends at position ${s.start + s.size - SEGMENT_HEADER_BYTES} but the next one starts at ${next.start}`);
      }
    }

    const checkpoint = this.#loadCheckpoint();
    let from = 0;
    if (checkpoint) {
      this.#index = checkpoint.index;
      for (const [k, s] of checkpoint.segments.entries()) {
        const segment = this.#segments[k]!;
        segment.samplesLogical.push(...s.samplesLogical);
        segment.samplesPhysical.push(...s.samplesPhysical);
      }
      from = checkpoint.position;
      this.#lastRecordPosition = checkpoint.lastRecordPosition;
      this.#checkpointPosition = checkpoint.position;
    }
    let scanned = 0;
    let end = from;
    let truncated: RecoveryReport['truncated'];
    for (let k = this.#segmentIndexOf(from); k < this.#segments.length; k++) {
      const segment = this.#segments[k]!;
      const start = Math.max(from, segment.start);
      const result = await this.#scanSegment(segment, start, k === this.#segments.length - 1);
      scanned += result.scanned;
      end = result.end;
      truncated ??= result.truncated;
    }
    // Remember the ids of the newest scanned events (decoded only now, and only for those kept).
    const ids = this.#scannedIds.newest();
    for (const x of ids) this.#recentIds.rememberBytes(x.buf, x.at + RECORD_ID_OFFSET, x.streamId, x.revision);
    this.#scannedIds = new RecentRing(0);
    this.#nextPosition = this.#durableHead = end;
    this.#durableLastRecordPosition = this.#lastRecordPosition;
    this.#writeSegmentStart = this.#active.start;
    this.recovery = { usedCheckpoint: checkpoint !== undefined, scannedBytes: scanned, ...(truncated ? { truncated } : {}) };
    if (scanned > 0 || !checkpoint) await this.#checkpoint();
  }

  #loadCheckpoint(): IndexCheckpoint | undefined {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(join(this.directory, INDEX_FILE));
    } catch {
      return undefined;
    }
    const checkpoint = deserializeIndex(buf);
    if (!checkpoint || checkpoint.segments.length === 0 || checkpoint.segments.length > this.#segments.length) return undefined;
    for (const [k, s] of checkpoint.segments.entries()) {
      const segment = this.#segments[k]!;
      const lastCovered = k === checkpoint.segments.length - 1;
      if (segment.start !== s.start || segment.generation !== s.generation) return undefined;
      if (lastCovered ? segment.size < s.size : segment.size !== s.size) return undefined;
    }
    const lastCovered = this.#segments[checkpoint.segments.length - 1]!;
    if (lastCovered.scavenged || checkpoint.position < lastCovered.start || lastCovered.physicalOf(checkpoint.position) > lastCovered.size) return undefined;
    this.#checkpointSize = buf.length;
    return checkpoint;
  }

  /**
   * Scans a segment from `from` (a record start), indexing each whole commit. Returns the logical
   * end. In the last segment, a torn tail is cut back to the last whole commit; a bad record
   * followed by any valid one is corruption, not a torn write, and stops the open.
   */
  async #scanSegment(segment: Segment, from: number, last: boolean): Promise<{ end: number; scanned: number; truncated?: RecoveryReport['truncated'] }> {
    const file = segment.file;
    const fileEnd = segment.size;
    let physical = segment.scavenged ? SEGMENT_HEADER_BYTES : segment.physicalOf(from);
    const startPhysical = physical;
    let txStart = -1;
    let txStartPosition = 0;
    let tx: IndexedRecord[] = [];
    let txIds: ScannedId[] = [];
    let previous = -1;
    let badAt = -1;
    let buf: Buffer = Buffer.alloc(0);
    let bufStart = physical;
    const commit = (records: IndexedRecord[], ids: ScannedId[]) => {
      for (const r of records) this.#index.apply(r.streamId, r.revision, r.position, r.data);
      for (const x of ids) this.#scannedIds.push(x);
    };
    while (physical < fileEnd) {
      let off = physical - bufStart;
      let length = checkRecord(buf, off, buf.length, true);
      if (length === Frame.Incomplete && bufStart + buf.length < fileEnd) {
        const declared = buf.length - off >= 4 ? buf.readUInt32LE(off) : 0;
        const size = Math.min(fileEnd - physical, Math.max(CHUNK_BYTES, declared <= MAX_RECORD_BYTES ? declared : 0));
        buf = await pread(segment.fd, size, physical);
        bufStart = physical;
        off = 0;
        length = checkRecord(buf, 0, buf.length, true);
      }
      if (length < 0) {
        badAt = physical;
        break;
      }
      const position = recordPosition(buf, off);
      const revision = recordRevisionNumber(buf, off);
      const streamId = recordStreamId(buf, off);
      const record: IndexedRecord = { streamId, revision, position, data: isMetastream(streamId) ? Buffer.from(recordData(buf, off)) : undefined };
      const id: ScannedId | undefined = revision >= 0 ? { buf, at: off, streamId, revision } : undefined;
      if (segment.scavenged) {
        if (position <= previous || position < segment.start) {
          badAt = physical;
          break;
        }
        commit([record], id ? [id] : []);
        segment.addSample(position, physical);
        this.#lastRecordPosition = position;
      } else {
        const flags = recordFlags(buf, off);
        const first = (flags & FLAG_COMMIT_FIRST) !== 0;
        // A record must sit where its position says, and commits must nest: a first record only
        // outside a commit, any other only inside one.
        if (position !== segment.start + physical - SEGMENT_HEADER_BYTES || first === (txStart >= 0)) {
          badAt = physical;
          break;
        }
        if (first) {
          txStart = physical;
          txStartPosition = position;
          tx = [];
          txIds = [];
        }
        tx.push(record);
        if (id) txIds.push(id);
        if ((flags & FLAG_COMMIT_LAST) !== 0) {
          commit(tx, txIds);
          segment.addSample(txStartPosition, txStart);
          this.#lastRecordPosition = position;
          txStart = -1;
        }
      }
      previous = position;
      physical += length;
    }
    const scanned = physical - startPhysical;
    if (badAt < 0 && txStart < 0) return { end: segment.scavenged ? segment.start : segment.start + fileEnd - SEGMENT_HEADER_BYTES, scanned };
    if (last && txStart < 0 && (await this.#zerosFrom(segment, badAt))) {
      // The zeros written ahead of the records (see Preallocation above): the log ends here.
      fs.ftruncateSync(segment.fd, badAt);
      fs.fsyncSync(segment.fd);
      segment.size = segment.allocated = badAt;
      return { end: segment.start + badAt - SEGMENT_HEADER_BYTES, scanned: badAt - startPhysical };
    }
    const where = badAt >= 0 ? badAt : txStart;
    if (!last) throw new CorruptLogError(file, where, badAt >= 0 ? 'bad record (length, checksum, framing or position)' : 'a commit is cut short at the end of a sealed segment');
    if (badAt >= 0 && (await this.#validRecordAfter(segment, badAt + 1))) {
      throw new CorruptLogError(file, badAt, 'bad record (length, checksum, framing or position) with whole records after it');
    }
    // A torn tail: the last commit never completed. Cut back to its first record.
    const cut = txStart >= 0 ? txStart : badAt;
    fs.ftruncateSync(segment.fd, cut);
    fs.fsyncSync(segment.fd);
    segment.size = segment.allocated = cut;
    return { end: segment.start + cut - SEGMENT_HEADER_BYTES, scanned, truncated: { file, offset: cut, bytes: fileEnd - cut } };
  }

  /** Whether every byte of the segment from `from` to its end is zero. */
  async #zerosFrom(segment: Segment, from: number): Promise<boolean> {
    for (let at = from; at < segment.size; at += CHUNK_BYTES) {
      const buf = await pread(segment.fd, Math.min(CHUNK_BYTES, segment.size - at), at);
      for (let i = 0; i < buf.length; i += ZEROS.length) {
        const piece = buf.subarray(i, Math.min(buf.length, i + ZEROS.length));
        if (!piece.equals(ZEROS.subarray(0, piece.length))) return false;
      }
    }
    return true;
  }

  /** Whether a whole, valid record starts anywhere in the segment at or after `from`. */
  async #validRecordAfter(segment: Segment, from: number): Promise<boolean> {
    if (from >= segment.size) return false;
    const buf = await pread(segment.fd, segment.size - from, from);
    for (let i = 0; i + RECORD_OVERHEAD_BYTES <= buf.length; i++) {
      const length = buf.readUInt32LE(i);
      if (length < RECORD_OVERHEAD_BYTES || length > buf.length - i || buf.readUInt32LE(i + length - 4) !== length) continue;
      if (checkRecord(buf, i, buf.length, true) > 0) return true;
    }
    return false;
  }

  // ---------------------------------------------------------------------------------------------
  // Index checkpoints

  /** Writes the index as of the durable head to `index.tti` (temporary file, fsync, rename). */
  async #checkpoint(): Promise<void> {
    if (this.#checkpointRunning) return;
    this.#checkpointRunning = true;
    this.#checkpointQueued = false;
    try {
      const position = this.#durableHead;
      const segments = this.#segments.filter((s) => s.start <= position || s === this.#segments[0]);
      const buf = serializeIndex({
        position,
        lastRecordPosition: this.#durableLastRecordPosition,
        index: this.#index,
        segments: segments.map((s, k) => ({
          start: s.start,
          generation: s.generation,
          size: k === segments.length - 1 && !s.scavenged ? s.physicalOf(position) : s.size,
          samplesLogical: s.samplesLogical,
          samplesPhysical: s.samplesPhysical,
        })),
      });
      const tmp = join(this.directory, `${INDEX_FILE}.tmp`);
      const handle = await fs.promises.open(tmp, 'w');
      try {
        await handle.writeFile(buf);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.promises.rename(tmp, join(this.directory, INDEX_FILE));
      syncDirectory(this.directory);
      this.#checkpointPosition = position;
      this.#checkpointSize = buf.length;
      this.checkpointError = undefined;
    } catch (e) {
      this.checkpointError = e;
    } finally {
      this.#checkpointRunning = false;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Scavenging

  /**
   * Rewrites each closed segment keeping only the records `plan` keeps, copied byte for byte (so
   * their checksums and stored positions stay), into a new file that replaces the old one by an
   * atomic rename; the segment keeps its name (its starting position) and its sparse map now maps
   * positions to the new offsets. The active segment is closed first, so everything written so far
   * can be reclaimed. Removed events become holes in the index. A crash mid-scavenge leaves either
   * the old file or the new one, and a checkpoint that no longer matches is rebuilt at open.
   */
  scavenge(plan: ScavengePlan): Promise<{ eventsRemoved: number; bytesReclaimed: number }> {
    const run = this.#maintenance.then(() => this.#scavenge(plan));
    this.#maintenance = run.catch(() => undefined);
    return run;
  }

  async #scavenge(plan: ScavengePlan): Promise<{ eventsRemoved: number; bytesReclaimed: number }> {
    await this.#sealActive();
    let eventsRemoved = 0;
    let bytesReclaimed = 0;
    const closed = this.#segments.slice(0, -1);
    for (const segment of closed) {
      const removed: LogRecord[] = [];
      const tmp = join(this.directory, `${segmentFileName(segment.start)}.tmp`);
      const fd = fs.openSync(tmp, 'w+');
      let size = SEGMENT_HEADER_BYTES;
      const samplesLogical: number[] = [];
      const samplesPhysical: number[] = [];
      try {
        fs.writeSync(fd, segmentHeader(segment.start, segment.generation + 1), 0, SEGMENT_HEADER_BYTES, 0);
        let physical = SEGMENT_HEADER_BYTES;
        let want = 0;
        segment.acquire();
        try {
          while (physical < segment.size) {
            const buf = await pread(segment.fd, Math.min(segment.size - physical, Math.max(want, CHUNK_BYTES)), physical);
            let off = 0;
            want = 0;
            const kept: Buffer[] = [];
            while (off < buf.length) {
              const length = checkRecord(buf, off, buf.length, true);
              if (length === Frame.Incomplete) {
                if (off === 0) want = this.#declaredLength(buf, segment, physical);
                break;
              }
              if (length === Frame.Bad) throw new CorruptLogError(segment.file, physical + off, 'bad record (length, checksum or framing)');
              const record = new LogRecord(buf, off);
              if (plan.keep(record)) {
                if (samplesPhysical.length === 0 || size >= samplesPhysical[samplesPhysical.length - 1]! + 64 * 1024) {
                  samplesLogical.push(Number(record.position));
                  samplesPhysical.push(size);
                }
                kept.push(buf.subarray(off, off + length));
                size += length;
              } else removed.push(record);
              off += length;
            }
            if (kept.length > 0) {
              const bytes = Buffer.concat(kept);
              fs.writeSync(fd, bytes, 0, bytes.length, size - bytes.length);
            }
            physical += off;
          }
        } finally {
          segment.release();
        }
        if (removed.length === 0) {
          fs.closeSync(fd);
          fs.unlinkSync(tmp);
          continue;
        }
        fs.fsyncSync(fd);
      } catch (e) {
        fs.closeSync(fd);
        fs.rmSync(tmp, { force: true });
        throw e;
      }
      fs.closeSync(fd);
      fs.renameSync(tmp, segment.file);
      syncDirectory(this.directory);
      const replacement = new Segment(this.directory, segment.start, segment.generation + 1, fs.openSync(segment.file, 'r'), size, samplesLogical, samplesPhysical);
      this.#segments[this.#segments.indexOf(segment)] = replacement;
      segment.retire();
      this.#hints.clear();
      this.#readAhead = [];
      for (const r of removed) {
        const entry = this.#index.get(r.streamId);
        const revision = r.revision === TOMBSTONE_REVISION ? -1 : Number(r.revision);
        if (entry && revision >= 0 && entry.at(revision) === Number(r.position)) entry.positions[revision] = HOLE;
        if (entry && revision < 0 && entry.tombstone === Number(r.position)) entry.tombstone = -1;
      }
      eventsRemoved += removed.length;
      bytesReclaimed += segment.size - size;
    }
    await this.#checkpoint();
    return { eventsRemoved, bytesReclaimed };
  }

  /** Closes the active segment (when it holds records) so the next commit opens a new one. */
  async #sealActive(): Promise<void> {
    await this.#inOrder(async () => {
      if (this.#failure) throw this.#failure;
      if (this.#nextPosition === this.#active.start) return;
      this.#writeSegmentStart = this.#nextPosition;
      if (this.#nextPosition > this.#durableHead) await this.#whenDurable(this.#nextPosition);
      await this.#flushing;
      await this.#seal(this.#active);
      await this.#createSegment(this.#nextPosition);
    });
  }

  // ---------------------------------------------------------------------------------------------

  /** Resolves once the background work queued so far (index checkpoints, scavenges) has finished. */
  async idle(): Promise<void> {
    await this.#maintenance;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#decisions;
    this.#closed = true;
    while (this.#flushing) await this.#flushing;
    await this.#maintenance;
    // A zero-fill still running must finish before its file is closed (its descriptor could be reused).
    if (this.#failure) while (this.#active.prefilling) await this.#active.prefilling;
    else await this.#seal(this.#active);
    if (!this.#failure && this.#checkpointPosition !== this.#durableHead) await this.#checkpoint();
    this.#listeners.clear();
    for (const s of this.#segments) s.retire();
    this.#lock.release();
  }
}
