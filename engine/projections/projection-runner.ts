// Runs one projection: restore from its checkpoint, feed batches to its processor (an isolate, or
// native code for the system projections), and write each flush — emitted and linked events,
// dirty partition states, results and the checkpoint — in ONE `appendToStreams` commit, so a crash
// leaves either all of a flush or none of it (decision 9). The next batch is handed to the isolate
// before the previous flush is committed, so reading, user code and writing overlap.
import { StreamNotFoundError, WrongExpectedRevisionError } from '../../store/errors.js';
import { METADATA_EVENT_TYPE, metastreamOf } from '../../store/stream-name.js';
import type { EventData, ExpectedRevision, RecordedEvent, Store, StreamWrite } from '../../store/types.js';
import { isDeletionNotice, rawRecordOf, type BatchItem } from './batch-encoder.js';
import type { Clock } from './clock.js';
import { ProjectionFaultedError } from './errors.js';
import { EventFeed } from './event-feed.js';
import { PayloadArena } from './payload-arena.js';
import type { Processor, ProcessorFactory } from './processor.js';
import {
  CHECKPOINT_CHUNK_TYPE,
  CHECKPOINT_TYPE,
  checkpointChunksStream,
  checkpointStream,
  checkpointTag,
  EmittedEventIds,
  PARTITION_CHECKPOINT_TYPE,
  PARTITION_TYPE,
  partitionCheckpointStream,
  partitionsStream,
  partitionResultStream,
  PROJECTION_PREFIX,
  readPointOf,
  resultStream,
  STATE_PAGE_TYPE,
  statePagesStream,
  tagOrder,
  type ReadPoint,
} from './projection-streams.js';
import type { BatchOutput, FlushOutput, PageLimits, RestoredState, StatePageText } from './sandbox.js';
import { definitionProblem, isPartitioned, readerOf, wantedEventTypes, type ReaderKind, type SourceDefinition } from './source-definition.js';

export type ProjectionMode = 'continuous' | 'one-time' | 'transient';
export type ProjectionRunStatus = 'Stopped' | 'Starting' | 'Running' | 'Stopping' | 'Faulted' | 'Completed';

export interface ProjectionFault {
  readonly message: string;
  readonly line?: number;
  readonly column?: number;
  /** Position (`$all`) or revision (one-stream sources) of the event being handled. */
  readonly position?: string;
}

export interface RunnerConfig {
  readonly name: string;
  readonly mode: ProjectionMode;
  readonly emitEnabled: boolean;
  /** One-time projections checkpoint only when asked (Event Store's `checkpoints` flag). */
  readonly checkpointsEnabled: boolean;
  readonly epoch: number;
  readonly version: number;
  readonly id: number;
  /** Largest batch handed to the processor at once. */
  readonly maxBatch: number;
  /** Where a run without a checkpoint starts (exclusive), once the source is known: a query's `from`. @defaultValue the beginning */
  readonly startAfter?: (reader: ReaderKind) => Promise<ReadPoint | undefined>;
}

export interface RunnerLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

interface Counters {
  processed: number;
  handled: number;
}

export class ProjectionRunner {
  readonly config: RunnerConfig;
  readonly #store: Store;
  readonly #factory: ProcessorFactory;
  readonly #clock: Clock;
  readonly #logger: RunnerLogger;
  #status: ProjectionRunStatus = 'Stopped';
  #fault: ProjectionFault | undefined;
  #processor: Processor | undefined;
  #definition: SourceDefinition | undefined;
  #feed: EventFeed | undefined;
  #loop: Promise<void> | undefined;
  #stopRequested = false;
  #point: ReadPoint | undefined;
  #checkpointRevision: bigint = -1n;
  /** Last revision of the checkpoint-chunks stream (-1n when it has none). */
  #chunkRevision: bigint = -1n;
  #counters: Counters = { processed: 0, handled: 0 };
  #rootState: unknown = undefined;
  /** The root state as the isolate's JSON text, when it came so (then `#rootState` is unset). */
  #rootJson: string | undefined;
  #rootResult: string | null | undefined;
  #timers: readonly [number, string][] = [];
  #wm: number | undefined;
  #maxT: number | undefined;
  #ids: EmittedEventIds;
  /** Bytes of emitted and linked events' payloads (links' `N@stream`, causation metadata). */
  readonly #arena = new PayloadArena();
  /**
   * Flushes whose output is back but whose commit is not done, oldest first: a load during the
   * commits sees their states (the newest flush that has the partition wins). Indexed by key only
   * when a load asks, so a flush of thousands of states costs nothing here when none is evicted.
   */
  readonly #unsettledFlushes: StagedFlush[] = [];
  /** On a first run every partition the store has was written by this process. */
  #fresh = false;
  /**
   * Where each partition's latest state was written: a revision of the state-pages stream, or
   * `STREAM` for its own `$Checkpoint` stream. Entries restored from the pages at start
   * (`restoredPage(revision)`) may be older than the partition's own stream, so both are read
   * for those. Numbers, so a checkpoint allocates nothing per partition here.
   */
  readonly #where = new Map<string, number>();
  /** Pages recently read for loads, by revision. */
  readonly #pages = new Map<number, Map<string, unknown>>();
  #unflushed = false;
  #rate = { at: 0, processed: 0, perSecond: 0 };
  #cached = 0;
  /** The read point up to which everything taken is also committed (or needed no commit). */
  #settled: ReadPoint | undefined;
  #idle = false;
  readonly #waiters: { until: (r: ProjectionRunner) => boolean; resolve: () => void }[] = [];

  constructor(config: RunnerConfig, store: Store, factory: ProcessorFactory, clock: Clock, logger: RunnerLogger) {
    this.config = config;
    this.#store = store;
    this.#factory = factory;
    this.#clock = clock;
    this.#logger = logger;
    this.#ids = new EmittedEventIds(config.name, config.epoch);
  }

  get status(): ProjectionRunStatus {
    return this.#status;
  }
  get fault(): ProjectionFault | undefined {
    return this.#fault;
  }
  get definition(): SourceDefinition | undefined {
    return this.#definition;
  }
  get point(): ReadPoint | undefined {
    return this.#point;
  }
  /** Everything up to this point is handled and committed. */
  get settledPoint(): ReadPoint | undefined {
    return this.#settled;
  }
  /** Caught up with the store, nothing pending. */
  get idle(): boolean {
    return this.#idle;
  }
  get eventsProcessed(): number {
    return this.#counters.processed;
  }
  get partitionsCached(): number {
    return this.#cached;
  }
  /** Events per second over the last measured interval of the injected clock. */
  get rate(): number {
    const now = this.#clock();
    const elapsed = now - this.#rate.at;
    if (elapsed >= 1000) {
      this.#rate = { at: now, processed: this.#counters.processed, perSecond: this.#rate.at === 0 ? 0 : ((this.#counters.processed - this.#rate.processed) * 1000) / elapsed };
    }
    return this.#rate.perSecond;
  }

  /** Starts processing from the checkpoint; resolves once the projection is running (or faulted). */
  async start(): Promise<void> {
    if (this.#status === 'Running' || this.#status === 'Starting') return;
    this.#status = 'Starting';
    this.#fault = undefined;
    this.#stopRequested = false;
    try {
      await this.#open();
    } catch (err) {
      this.#faulted(err);
      return;
    }
    this.#status = 'Running';
    this.#loop = this.#run().catch((err: unknown) => this.#faulted(err));
  }

  /** Stops after writing a checkpoint (disable). */
  async stop(): Promise<void> {
    if (this.#status !== 'Running' && this.#status !== 'Starting') return;
    this.#status = 'Stopping';
    this.#stopRequested = true;
    await this.#feed?.close();
    await this.#loop;
    if (this.#status === 'Stopping') this.#status = 'Stopped';
    this.#settleWaiters();
  }

  /** Frees the isolate; the runner can be started again. */
  async dispose(): Promise<void> {
    await this.stop();
    this.#processor?.dispose();
    this.#processor = undefined;
  }

  /** Resolves when `until` holds (checked after each commit), or the projection stops or faults. */
  whenever(until: (r: ProjectionRunner) => boolean): Promise<void> {
    if (until(this) || !this.#isActive()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ until, resolve }));
  }

  #isActive(): boolean {
    return this.#status === 'Running' || this.#status === 'Starting' || this.#status === 'Stopping';
  }

  #settleWaiters(): void {
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const w = this.#waiters[i]!;
      if (w.until(this) || !this.#isActive()) {
        this.#waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /** A partition's state: from the running isolate when it has it, else from the store. */
  async state(partition: string): Promise<{ state: unknown; result: unknown } | undefined> {
    const fromProcessor = this.#processor ? await this.#processor.state(partition).catch(() => undefined) : undefined;
    const found = fromProcessor ?? (partition === '' ? this.#rootFromCheckpoint() : this.#stagedState(partition) ?? (await this.#loadPartition(partition)));
    if (found === undefined || found === null) return undefined;
    const result = found.r === undefined ? (this.#definition?.producesResults ? undefined : found.s) : found.r === null ? null : (JSON.parse(found.r) as unknown);
    return { state: found.s, result };
  }

  #rootFromCheckpoint(): { s: unknown; r?: string | null } | undefined {
    if (this.#rootJson !== undefined) return { s: JSON.parse(this.#rootJson) as unknown, r: this.#rootResult };
    if (this.#rootState === undefined) return undefined;
    return { s: this.#rootState, r: this.#rootResult };
  }

  async #open(): Promise<void> {
    const c = this.config;
    const persisted = c.mode !== 'transient' && c.checkpointsEnabled;
    let restored: RestoredState | undefined;
    this.#point = undefined;
    this.#counters = { processed: 0, handled: 0 };
    if (persisted) {
      const last = await this.#lastEvent(checkpointStream(c.name));
      const info = await this.#store.getStreamInfo(checkpointStream(c.name));
      this.#checkpointRevision = info.lastRevision;
      this.#chunkRevision = (await this.#store.getStreamInfo(checkpointChunksStream(c.name))).lastRevision;
      const meta = last?.metadata as Record<string, unknown> | undefined;
      let extra = (meta?.$telltale ?? {}) as CheckpointExtra;
      let state = last?.data;
      // A checkpoint too large for one event names its chunks: state and bookkeeping are in them.
      if (last !== undefined && extra.epoch === c.epoch && extra.chunks !== undefined) ({ s: state, x: extra } = await this.#readChunks(extra.chunks));
      // A checkpoint without a read point was written before any event was handled (a stop
      // right after start): its state is a placeholder, so the projection starts from $init.
      if (last !== undefined && extra.epoch === c.epoch && readPointOf(meta) !== undefined) {
        this.#point = readPointOf(meta);
        this.#counters.processed = extra.processed ?? 0;
        this.#rootState = state;
        this.#rootJson = undefined;
        this.#rootResult = extra.rootResult;
        restored = { root: state, shared: extra.shared, rootResult: extra.rootResult, timers: extra.timers, wm: extra.wm, maxT: extra.maxT };
      }
    } else this.#checkpointRevision = -1n;
    this.#fresh = this.#point === undefined;
    this.#where.clear();
    this.#pages.clear();
    if (!this.#fresh) await this.#indexStatePages();
    this.#handed = 0;
    this.#staged = 0;
    this.#pendingEmits = new Map();
    const { processor, definition } = await this.#factory({ name: c.name, loader: (keys, batch) => this.#loadFor(keys, batch) });
    this.#processor = processor;
    this.#definition = definition;
    const problem = definitionProblem(definition);
    if (problem !== undefined) throw new ProjectionFaultedError(c.name, problem);
    if (isPartitioned(definition) && restored?.shared === undefined && definition.isBiState) restored = { ...restored, shared: restored?.root };
    if (isPartitioned(definition) && restored !== undefined) restored = { ...restored, root: undefined };
    await processor.restore(restored, c.emitEnabled && c.mode !== 'transient');
    const reader = readerOf(definition);
    if (this.#point && (this.#point.kind === 'stream') !== (reader.kind === 'stream')) this.#point = undefined;
    if (this.#point === undefined && c.startAfter !== undefined) this.#point = await c.startAfter(reader);
    this.#feed = new EventFeed(this.#store, {
      reader,
      from: this.#point,
      eventTypes: wantedEventTypes(definition),
      includeLinks: definition.includeLinks,
      deletions: definition.handlesDeletedNotifications,
      stopAtEnd: c.mode !== 'continuous',
      highWater: c.maxBatch * 4,
      accept: processor.accept,
    });
    this.#feed.start();
  }

  async #run(): Promise<void> {
    const feed = this.#feed!;
    const processor = this.#processor!;
    let previous: Promise<void> | undefined;
    const outstanding: Promise<void>[] = [];
    /** Batches handed and not yet answered by the processor (oldest first), and their events. */
    const unanswered: Promise<void>[] = [];
    let unansweredEvents = 0;
    let failed: unknown;
    const track = (p: Promise<void>): Promise<void> =>
      p.catch((err: unknown) => {
        failed ??= err;
      });
    for (;;) {
      if (failed !== undefined) throw failed;
      if (this.#stopRequested) break;
      // Once idle has been reported, wait for events instead of spinning on "still idle".
      const taken = await feed.take(this.config.maxBatch, !this.#idle || this.#unflushed || previous !== undefined);
      if (taken.items.length > 0) this.#idle = false;
      if (failed !== undefined) throw failed;
      if (taken.idle || (taken.items.length === 0 && !taken.end)) {
        // Caught up: commit what is still only in memory, then wait for more.
        if (previous !== undefined) {
          await previous;
          previous = undefined;
          outstanding.length = 0;
          unanswered.length = 0;
          continue;
        }
        // Only handled events make an idle checkpoint; a read point moved by filtered-out events
        // is recorded with the next one. (Otherwise two projections would wake each other for
        // ever, each seeing the other's checkpoint pass by.)
        if (this.#unflushed) await this.#step(processor, [], taken.point, true);
        this.#settled = taken.point;
        this.#idle = taken.idle || this.#idle;
        this.#settleWaiters();
        continue;
      }
      if (taken.end && taken.items.length === 0) break;
      const output = this.#hand(processor, taken.items, taken.end);
      const prior = previous;
      const count = taken.items.length;
      const point = taken.point;
      let items: readonly BatchItem[] | undefined = taken.items;
      previous = track(
        (async () => {
          const out = await output.catch((err: unknown) => {
            throw this.#locate(err, items!);
          });
          // Once answered, a batch that emitted nothing and did not fault needs only its count:
          // its events are let go now, not after the commits queued ahead of it.
          const kept = out.emits.length > 0 || out.fault !== undefined ? items : undefined;
          items = undefined;
          if (prior !== undefined) await prior;
          if (failed !== undefined) return;
          await this.#apply(kept ?? [], count, out, point);
        })(),
      );
      // Reading, the isolate and the commits overlap; commits happen one at a time, in order.
      outstanding.push(previous);
      unansweredEvents += count;
      const answered = (): void => {
        unansweredEvents -= count;
      };
      unanswered.push(output.then(answered, answered));
      if (unanswered.length > PIPELINE_DEPTH) unanswered.shift();
      while (outstanding.length > PIPELINE_DEPTH) await outstanding.shift();
      while (unanswered.length > 1 && unansweredEvents > EVENTS_IN_FLIGHT) await unanswered.shift();
      if (taken.end) break;
    }
    if (previous !== undefined) await previous;
    if (failed !== undefined) throw failed;
    // A final flush: on stop (disable writes a checkpoint) and at the end of a one-time run.
    await this.#step(processor, [], undefined, true);
    if (!this.#stopRequested && this.config.mode !== 'continuous') {
      this.#status = 'Completed';
      await feed.close();
    }
    this.#settleWaiters();
  }

  /** Gives a timeout or out-of-memory fault the position of the event it happened on (or the batch's first). */
  #locate(err: unknown, items: readonly BatchItem[]): unknown {
    if (err instanceof ProjectionFaultedError && err.position === undefined) {
      const item = items[err.eventIndex ?? 0];
      if (item !== undefined) err.position = positionOf(item);
    }
    return err;
  }

  /**
   * Hands a batch to the processor and, as soon as its output is back, stages its flushed states
   * so loads see them: the isolate may evict them and ask for them back in a later batch before
   * the commits queued ahead of this one are done.
   */
  #hand(processor: Processor, items: readonly BatchItem[], flush: boolean): Promise<BatchOutput> {
    const seq = ++this.#handed;
    const output = processor.process(items, flush, PAGE_LIMITS);
    const staged = (): void => {
      this.#staged = seq;
      for (let i = this.#stageWaiters.length - 1; i >= 0; i--) {
        const w = this.#stageWaiters[i]!;
        if (w.seq <= seq) {
          this.#stageWaiters.splice(i, 1);
          w.resolve();
        }
      }
    };
    output.then(
      (out) => {
        if (out.flush !== undefined && out.fault === undefined) this.#stage(out.flush);
        staged();
      },
      staged,
    );
    return output;
  }

  #handed = 0;
  #staged = 0;
  readonly #stageWaiters: { seq: number; resolve: () => void }[] = [];

  /** A load from batch `batch` waits until every earlier batch's flushed states are staged. */
  async #loadFor(keys: string[], batch: number | undefined): Promise<Record<string, { s: unknown; r?: string | null } | null>> {
    const before = (batch ?? 0) - 1;
    if (before > this.#staged) await new Promise<void>((resolve) => this.#stageWaiters.push({ seq: before, resolve }));
    return this.#loadPartitions(keys);
  }

  async #step(processor: Processor, items: BatchItem[], point: ReadPoint | undefined, flush: boolean): Promise<void> {
    const out = await this.#hand(processor, items, flush).catch((err: unknown) => {
      throw this.#locate(err, items);
    });
    await this.#apply(items, items.length, out, point);
  }

  /** `items` may be empty for a batch of `count` events that emitted nothing and did not fault (its events are not needed). */
  async #apply(items: readonly BatchItem[], count: number, out: BatchOutput, point: ReadPoint | undefined): Promise<void> {
    for (const line of out.logs) this.#logger.debug(line, { projection: this.config.name });
    this.#cached = out.cached;
    if (out.fault !== undefined) {
      const item = items[out.fault.index];
      throw new ProjectionFaultedError(this.config.name, out.fault.message, {
        line: out.fault.line ?? undefined,
        column: out.fault.column ?? undefined,
        position: item === undefined ? undefined : positionOf(item),
      });
    }
    this.#counters.processed += count;
    this.#counters.handled += out.h;
    if (point !== undefined) this.#pointCandidate = point;
    if (count > 0) this.#unflushed = true;
    // Emitted events wait here for the next checkpoint, which writes them with it.
    if (out.emits.length > 0) this.#emitted(items, out, this.#addPending);
    if (out.flush !== undefined) await this.#commit(out.flush);
    this.#settleWaiters();
  }

  /** The read point the next checkpoint records: the end of the last batch handed over. */
  #pointCandidate: ReadPoint | undefined;

  /** Emitted and linked events of the batches since the last checkpoint, by stream, in order. */
  #pendingEmits = new Map<string, { events: EventData[]; expected?: ExpectedRevision }>();
  readonly #addPending = (streamId: string, event: EventData): void => {
    let w = this.#pendingEmits.get(streamId);
    if (w === undefined) this.#pendingEmits.set(streamId, (w = { events: [] }));
    w.events.push(event);
  };

  async #commit(flush: FlushOutput): Promise<void> {
    const c = this.config;
    const writes = this.#pendingEmits;
    this.#pendingEmits = new Map();
    const persisted = c.mode !== 'transient' && (c.checkpointsEnabled || writes.size > 0);
    const point = this.#pointCandidate ?? this.#point;
    const version = `${c.id}:${c.epoch}:${c.version}:1`;
    const tag = point === undefined ? { $v: version } : checkpointTag(point, version);
    const add = (streamId: string, event: EventData): void => {
      let w = writes.get(streamId);
      if (w === undefined) writes.set(streamId, (w = { events: [] }));
      w.events.push(event);
    };
    const partitioned = this.#definition !== undefined && isPartitioned(this.#definition);
    if (flush.root !== undefined) {
      const shared = partitioned && this.#definition?.isBiState;
      this.#rootState = shared ? flush.shared : flush.rootJson === undefined ? flush.root[0] : undefined;
      this.#rootJson = shared ? undefined : flush.rootJson;
      if (flush.root.length === 2) this.#rootResult = flush.root[1];
    } else if (flush.shared !== undefined) {
      this.#rootState = flush.shared;
      this.#rootJson = undefined;
    }
    this.#timers = flush.timers;
    this.#wm = flush.wm;
    this.#maxT = flush.maxT;
    let pages: readonly StatePageText[] = [];
    if (persisted) {
      const produces = this.#definition?.producesResults === true;
      const main = this.#definition?.resultStreamName ?? resultStream(c.name);
      // Few changed partitions keep Event Store's layout, a `$Checkpoint` per partition stream;
      // many go into pages, so a checkpoint costs a few large events instead of one per partition.
      // (The flush's states were staged when its output came back; staging them again here would
      // put them over newer states of later batches, already processed while this commit waited.)
      if (flush.pages !== undefined) pages = flush.pages;
      else if (flush.parts.length > STATE_PAGE_THRESHOLD) pages = statePages(flush.parts);
      const partitionStreams: string[] = [];
      for (const page of pages) add(statePagesStream(c.name), { type: STATE_PAGE_TYPE, data: Buffer.from(page.json), isJson: true, metadata: { ...tag, $e: c.epoch } });
      for (const part of flush.parts) {
        const [key, state] = part;
        if (pages.length === 0) {
          const stream = partitionCheckpointStream(c.name, key);
          add(stream, { type: PARTITION_CHECKPOINT_TYPE, data: state as object, metadata: { ...tag, $e: c.epoch } });
          partitionStreams.push(stream);
        }
        if (produces && part.length === 3) {
          const stream = partitionResultStream(c.name, key, this.#definition?.partitionResultStreamNamePattern ?? null);
          const revision = writes.get(stream)?.events.length ?? 0;
          add(stream, resultEvent(part[2]));
          // The main result stream links every partition result, as Event Store does.
          add(main, { type: '$>', data: Buffer.from(`${await this.#nextRevision(stream, revision)}@${stream}`) });
        }
      }
      if (produces && flush.root !== undefined && flush.root.length === 2 && !partitioned) add(main, resultEvent(flush.root[1]));
      // Event Store's partition catalogue, written with the first state of each partition.
      if (partitioned && flush.created !== undefined) {
        // One metadata text for the commit's entries (a first run over many partitions makes many).
        const metadata = Buffer.from(JSON.stringify({ ...tag, $e: c.epoch }));
        const catalogue = partitionsStream(c.name);
        for (const key of flush.created) add(catalogue, { type: PARTITION_TYPE, data: this.#arena.ascii(key) ?? Buffer.from(key), metadata });
      }
      // Checkpoint streams keep their last two events, as Event Store's do ($maxCount 2): the
      // metadata goes with the commit that creates the stream, so scavenging reclaims the rest.
      if (partitionStreams.length > 0) {
        const infos = await Promise.all(partitionStreams.map((stream) => this.#store.getStreamInfo(stream)));
        infos.forEach((info, i) => {
          if (info.lastRevision < 0n) add(metastreamOf(partitionStreams[i]!), checkpointStreamMetadata());
        });
      }
      if (c.checkpointsEnabled) {
        const extra = {
          epoch: c.epoch,
          processed: this.#counters.processed,
          timers: flush.timers,
          wm: flush.wm,
          maxT: flush.maxT,
          rootResult: this.#rootResult,
          shared: partitioned && this.#definition?.isBiState ? flush.shared : undefined,
        };
        const stream = checkpointStream(c.name);
        if (this.#checkpointRevision < 0n) add(metastreamOf(stream), checkpointStreamMetadata());
        // The isolate's JSON text as it came (serialised here only for a state that came parsed).
        const json = this.#rootJson ?? JSON.stringify(this.#rootState ?? {}) ?? '{}';
        const metadata = Buffer.from(JSON.stringify({ ...tag, $telltale: extra }));
        let checkpoint: EventData;
        if (Buffer.byteLength(json) + metadata.length <= CHECKPOINT_INLINE_BYTES) {
          checkpoint = { type: CHECKPOINT_TYPE, data: Buffer.from(json), isJson: true, metadata };
        } else {
          // Too large for one event: the state and its bookkeeping go to the chunks stream, in
          // the same commit, and `$tb` hides the chunks of earlier checkpoints (scavenge reclaims them).
          const chunkStream = checkpointChunksStream(c.name);
          const whole = Buffer.from(`{"s":${json},"x":${JSON.stringify(extra)}}`);
          const chunks: EventData[] = [];
          for (let at = 0; at < whole.length; at += CHECKPOINT_CHUNK_BYTES) {
            chunks.push({ type: CHECKPOINT_CHUNK_TYPE, data: whole.subarray(at, at + CHECKPOINT_CHUNK_BYTES), metadata: { $e: c.epoch } });
          }
          const from = this.#chunkRevision + 1n;
          add(metastreamOf(chunkStream), { type: METADATA_EVENT_TYPE, data: { $tb: Number(from) } });
          writes.set(chunkStream, { events: chunks, expected: this.#chunkRevision < 0n ? 'any' : this.#chunkRevision });
          const chunked: CheckpointExtra = { epoch: c.epoch, chunks: { from: Number(from), count: chunks.length } };
          checkpoint = { type: CHECKPOINT_TYPE, data: {}, metadata: { ...tag, $telltale: chunked } };
        }
        writes.set(stream, { events: [checkpoint], expected: this.#checkpointRevision < 0n ? 'any' : this.#checkpointRevision });
      }
    }
    if (writes.size > 0) {
      const list: StreamWrite[] = [...writes].map(([streamId, w]) => ({ streamId, events: w.events, expectedRevision: w.expected ?? 'any' }));
      let results;
      try {
        results = await this.#store.appendToStreams(list);
      } catch (err) {
        if (err instanceof WrongExpectedRevisionError && err.streamId === checkpointStream(c.name)) {
          throw new ProjectionFaultedError(c.name, `Checkpoint stream \`${err.streamId}\` has been written to from the outside`, { cause: err });
        }
        throw err;
      }
      const at = list.findIndex((w) => w.streamId === checkpointStream(c.name));
      if (at >= 0) this.#checkpointRevision = results[at]!.nextExpectedRevision;
      const chunksAt = list.findIndex((w) => w.streamId === checkpointChunksStream(c.name));
      if (chunksAt >= 0) this.#chunkRevision = results[chunksAt]!.nextExpectedRevision;
      if (pages.length > 0) {
        const pagesAt = list.findIndex((w) => w.streamId === statePagesStream(c.name));
        const first = Number(results[pagesAt]!.nextExpectedRevision) - pages.length + 1;
        pages.forEach((page, i) => {
          for (const key of page.keys) this.#where.set(key, first + i);
        });
      }
      if (persisted) for (const part of flush.parts) if (pages.length === 0) this.#where.set(part[0], STREAM);
    }
    // Later flushes staged meanwhile (with newer states of some partitions) stay.
    const at = this.#unsettledFlushes.findIndex((f) => f.flush === flush);
    if (at >= 0) this.#unsettledFlushes.splice(at, 1);
    this.#point = point;
    this.#settled = point;
    this.#unflushed = false;
  }

  /** Emitted and linked events, with deterministic ids and the causation metadata. */
  #emitted(items: readonly BatchItem[], out: BatchOutput, add: (streamId: string, event: EventData) => void): void {
    // Outputs come in handling order, so an event's outputs are consecutive: `n` numbers them.
    let last = -1;
    let n = 0;
    const native = this.#processorIsNative;
    const emits = out.emits;
    const arena = this.#arena;
    let source: BatchItem | undefined;
    let position = 0;
    let sourceId = '';
    /** The source's own `$correlationId`, if its metadata has one. */
    let sourceCorrelation: unknown;
    /** `sourceId` is a lower-case UUID (JSON writes it without escapes). */
    let plainId = false;
    let causation: Uint8Array | undefined;
    for (let e = 0; e < emits.length; e++) {
      const emitted = emits[e]!;
      const stream = emitted[0];
      const type = emitted[1];
      const data = emitted[2];
      const metadata = emitted[3];
      const kind = emitted[4];
      const index = emitted[5];
      if (stream.startsWith(PROJECTION_PREFIX) || stream.startsWith('$$')) {
        throw new ProjectionFaultedError(this.config.name, `Cannot emit to '${stream}': projection bookkeeping streams and metastreams are written by the engine only`);
      }
      if (index !== last) {
        // The source's position, id and causation bytes are made once for all its outputs.
        n = 0;
        last = index;
        source = items[index];
        // A log record read in place gives its position as a number and says whether it has
        // metadata at all: no BigInt, no metadata view, no parse for the common event. Its id is
        // a stored, lower-case UUID (the store validates and normalises ids).
        const raw = source === undefined ? undefined : rawRecordOf(source);
        position = raw !== undefined ? raw.positionNumber : source === undefined ? 0 : Number(positionOf(source));
        sourceId = source === undefined || isDeletionNotice(source) ? '' : source.id;
        sourceCorrelation = source === undefined || isDeletionNotice(source) || (raw !== undefined && raw.metadataLength === 0) ? undefined : source.metadata.$correlationId;
        plainId = raw !== undefined || isPlainUuid(sourceId);
        causation = undefined;
      } else n++;
      const id = this.#ids.idAt(position, n);
      let meta: Record<string, unknown> | Uint8Array | null = metadata;
      if (source !== undefined && !isDeletionNotice(source) && !native) {
        const correlation = metadata?.$correlationId ?? sourceCorrelation ?? sourceId;
        // Without user metadata the text is known: written as bytes, the store skips building and
        // serialising an object per emitted event (the same bytes JSON.stringify would give). A
        // stored id is a lower-case UUID, so the text is ASCII when the correlation is the id.
        if (metadata === null && correlation === sourceId && plainId) meta = causation ??= arena.causation(sourceId);
        else if (metadata === null && typeof correlation === 'string') {
          const cause = JSON.stringify(sourceId);
          meta = Buffer.from(`{"$causedBy":${cause},"$causationId":${cause},"$correlationId":${JSON.stringify(correlation)}}`);
        } else meta = { ...metadata, $causedBy: sourceId, $causationId: sourceId, $correlationId: correlation };
      }
      let body = data;
      if (kind === 'r') {
        const text = String(data);
        body = arena.ascii(text) ?? Buffer.from(text);
      }
      add(stream, meta === null ? { id, type, data: body } : { id, type, data: body, metadata: meta });
    }
  }

  get #processorIsNative(): boolean {
    return this.#processor?.native === true;
  }

  async #nextRevision(stream: string, offset: number): Promise<bigint> {
    const info = await this.#store.getStreamInfo(stream);
    return info.lastRevision + 1n + BigInt(offset);
  }

  /** A chunked checkpoint's state and bookkeeping, from its chunks. */
  async #readChunks({ from, count }: { from: number; count: number }): Promise<{ s: unknown; x: CheckpointExtra }> {
    const parts: Uint8Array[] = [];
    for await (const e of this.#store.readStream(checkpointChunksStream(this.config.name), { fromRevision: BigInt(from), maxCount: count })) parts.push(e.dataBytes);
    if (parts.length !== count) {
      throw new ProjectionFaultedError(this.config.name, `Checkpoint names ${count} chunks from revision ${from} of ${checkpointChunksStream(this.config.name)}, found ${parts.length}`);
    }
    return JSON.parse(Buffer.concat(parts).toString('utf8')) as { s: unknown; x: CheckpointExtra };
  }

  async #lastEvent(stream: string): Promise<RecordedEvent | undefined> {
    try {
      for await (const e of this.#store.readStream(stream, { direction: 'backwards', maxCount: 1 })) return e;
    } catch (err) {
      if (err instanceof StreamNotFoundError) return undefined;
      throw err;
    }
    return undefined;
  }

  async #loadPartition(key: string): Promise<{ s: unknown; r?: string | null } | null> {
    return (await this.#loadPartitions([key]))[key] ?? null;
  }

  /** Makes a flush's partition states what loads see until they are committed. */
  #stage(flush: FlushOutput): void {
    if (flush.parts.length > 0 || (flush.pages !== undefined && flush.pages.length > 0)) this.#unsettledFlushes.push({ flush, keys: undefined, parsed: [] });
  }

  /** A partition's state in a flush not yet committed (the newest such flush's), or undefined. */
  #stagedState(key: string): { s: unknown; r?: string | null } | undefined {
    for (let i = this.#unsettledFlushes.length - 1; i >= 0; i--) {
      const staged = this.#unsettledFlushes[i]!;
      const { flush } = staged;
      if (staged.keys === undefined) {
        // Where each key is: a part's index, or -1 - the index of the page that has it. A part
        // wins over a page: with pages, parts are the partitions whose result changed.
        const keys = new Map<string, number>();
        flush.pages?.forEach((page, p) => {
          for (const k of page.keys) keys.set(k, -1 - p);
        });
        flush.parts.forEach((part, n) => keys.set(part[0], n));
        staged.keys = keys;
      }
      const where = staged.keys.get(key);
      if (where === undefined) continue;
      if (where >= 0) {
        const part = flush.parts[where]!;
        return part.length === 3 ? { s: part[1], r: part[2] } : { s: part[1] };
      }
      const p = -1 - where;
      const states = (staged.parsed[p] ??= new Map(JSON.parse(flush.pages![p]!.json) as [string, unknown][]));
      return { s: states.get(key) };
    }
    return undefined;
  }

  /** States for the isolate's cache misses: from a commit in flight, the state pages, or partition streams. */
  async #loadPartitions(keys: string[]): Promise<Record<string, { s: unknown; r?: string | null } | null>> {
    const out: Record<string, { s: unknown; r?: string | null } | null> = {};
    const fromPages = new Map<number, string[]>();
    const fromStreams: string[] = [];
    for (const key of keys) {
      const pending = this.#stagedState(key);
      const where = this.#where.get(key);
      out[key] = pending === undefined ? null : pending.r === undefined ? { s: pending.s } : { s: pending.s, r: pending.r };
      if (pending !== undefined || (where === undefined && this.#fresh)) continue;
      const page = where === undefined || where === STREAM ? undefined : where >= 0 ? where : restoredPage(where);
      if (page !== undefined) {
        const list = fromPages.get(page);
        if (list === undefined) fromPages.set(page, [key]);
        else list.push(key);
      }
      if (where === undefined || where < 0) fromStreams.push(key);
    }
    const found = new Map<string, { s: unknown; order: number }>();
    const better = (key: string, s: unknown, order: number): void => {
      const known = found.get(key);
      if (known === undefined || order > known.order) found.set(key, { s, order });
    };
    await Promise.all([
      ...[...fromPages].map(async ([revision, list]) => {
        const page = await this.#statePage(revision);
        for (const key of list) if (page !== undefined && page.states.has(key)) better(key, page.states.get(key), page.order);
      }),
      ...fromStreams.map(async (key) => {
        const last = await this.#lastEvent(partitionCheckpointStream(this.config.name, key));
        if (last !== undefined && last.metadata.$e === this.config.epoch) better(key, last.data, tagOrder(last.metadata));
      }),
    ]);
    for (const [key, { s }] of found) out[key] = { s };
    return out;
  }

  /** One page of the state-pages stream, parsed (a few are kept: a batch's misses often share pages). */
  async #statePage(revision: number): Promise<{ states: Map<string, unknown>; order: number } | undefined> {
    const cached = this.#pages.get(revision);
    if (cached !== undefined) return { states: cached, order: this.#pageOrder.get(revision) ?? -1 };
    let event: RecordedEvent | undefined;
    try {
      for await (const e of this.#store.readStream(statePagesStream(this.config.name), { fromRevision: BigInt(revision), maxCount: 1 })) event = e;
    } catch (err) {
      if (err instanceof StreamNotFoundError) return undefined;
      throw err;
    }
    if (event === undefined || event.metadata.$e !== this.config.epoch) return undefined;
    const states = new Map(event.data as [string, unknown][]);
    if (this.#pages.size >= 8) {
      const oldest = this.#pages.keys().next().value as number;
      this.#pages.delete(oldest);
      this.#pageOrder.delete(oldest);
    }
    this.#pages.set(revision, states);
    this.#pageOrder.set(revision, tagOrder(event.metadata));
    return { states, order: tagOrder(event.metadata) };
  }

  readonly #pageOrder = new Map<number, number>();

  /** On a restart: which page holds each partition's latest paged state (for this epoch). */
  async #indexStatePages(): Promise<void> {
    try {
      for await (const e of this.#store.readStream(statePagesStream(this.config.name))) {
        if (e.type !== STATE_PAGE_TYPE || e.metadata.$e !== this.config.epoch || !Array.isArray(e.data)) continue;
        const at = Number(e.revision);
        for (const part of e.data as [string, unknown][]) this.#where.set(part[0], restoredPage(at));
      }
    } catch (err) {
      if (!(err instanceof StreamNotFoundError)) throw err;
    }
  }

  #faulted(err: unknown): void {
    const f = err instanceof ProjectionFaultedError ? err : undefined;
    const message = err instanceof Error ? err.message : String(err);
    this.#fault = {
      message,
      ...(f?.line !== undefined ? { line: f.line } : {}),
      ...(f?.column !== undefined ? { column: f.column } : {}),
      ...(f?.position !== undefined ? { position: f.position.toString() } : {}),
    };
    this.#status = 'Faulted';
    this.#logger.warn(`projection ${this.config.name} faulted: ${message}`, { projection: this.config.name, ...this.#fault });
    this.#processor?.dispose();
    this.#processor = undefined;
    void this.#feed?.close();
    this.#settleWaiters();
  }

  /** Timers, watermark and cache figures for status. */
  get eventTime(): { watermark: number | undefined; maxEventTime: number | undefined; timers: number } {
    return { watermark: this.#wm, maxEventTime: this.#maxT, timers: this.#timers.length };
  }
}

/**
 * Batches whose commit may still be pending when the next batch is taken: the isolate works on
 * later batches while earlier flushes commit (in order, one at a time), so a checkpoint's fsync
 * does not stall reading and user code. Loads of partitions evicted meanwhile see the staged
 * states of flushes not yet committed (`#unsettledFlushes`). Deep enough for answered batches to
 * queue behind a checkpoint's fsync; they hold no events while they wait (see below).
 */
const PIPELINE_DEPTH = 16;

/**
 * ...and no more events than this handed to the processor and not yet answered (the isolate's
 * queue). Every event held in flight survives the main thread's young-generation collections:
 * 16 full batches (16k events), each kept until its commit, made scavenges copy and promote most
 * of what was read (in the benchmark's count by type about a quarter of the main thread's time
 * was garbage collection, 3% for the plain fold). So the events of an answered batch are let go
 * at once unless its emits or fault need them, and only the isolate's queue holds events: enough
 * to keep it busy, while answered batches wait for a checkpoint's fsync (15 ms under load here)
 * without holding anything.
 */
const EVENTS_IN_FLIGHT = 4096;

/** `#where` for a state written to the partition's own checkpoint stream. */
const STREAM = -1;

/** A page revision restored at start, as `#where` keeps it (negative, below `STREAM`); the function is its own inverse. */
function restoredPage(revision: number): number {
  return -revision - 2;
}

/** What a checkpoint keeps besides the state, in its metadata's `$telltale` (or in its chunks). */
interface CheckpointExtra {
  epoch?: number;
  processed?: number;
  timers?: [number, string][];
  wm?: number;
  maxT?: number;
  rootResult?: string | null;
  shared?: unknown;
  /** Set on a checkpoint whose state and bookkeeping are in the chunks stream. */
  chunks?: { from: number; count: number };
}

/**
 * A checkpoint whose state and metadata exceed this is written in chunks (the store's default
 * event size limit is 1 MiB; Event Store writes the state into the checkpoint event, whatever its size).
 */
const CHECKPOINT_INLINE_BYTES = 512 * 1024;
const CHECKPOINT_CHUNK_BYTES = 512 * 1024;

/** Checkpoints that change more partitions than this write their states as pages. */
const STATE_PAGE_THRESHOLD = 32;

/** A page's states are kept well under the store's default event size limit (1 MiB). */
const STATE_PAGE_BYTES = 512 * 1024;

/**
 * The isolate writes the pages of a flush that changed many partitions itself, as the text stored:
 * the host then neither parses the states from the isolate's answer nor serialises them again.
 */
const PAGE_LIMITS: PageLimits = { above: STATE_PAGE_THRESHOLD, chars: STATE_PAGE_BYTES };

/** A flush staged and not yet committed (`#unsettledFlushes`): where its partitions are, and its pages parsed, both made when a load first asks. */
interface StagedFlush {
  readonly flush: FlushOutput;
  keys: Map<string, number> | undefined;
  readonly parsed: Map<string, unknown>[];
}

/**
 * The changed states as pages of `[key, state]` pairs, each page's JSON under `STATE_PAGE_BYTES` (a
 * larger state gets a page of its own), written as JSON bytes: for processors that answer with
 * `parts` only (the native system projections).
 */
function statePages(parts: readonly (readonly [string, unknown, ...unknown[]])[]): StatePageText[] {
  const pages: StatePageText[] = [];
  let keys: string[] = [];
  let texts: string[] = [];
  let bytes = 0;
  for (const [key, state] of parts) {
    // Each pair is serialised once: its length decides the page, and its text is the page's.
    const text = `[${JSON.stringify(key)},${JSON.stringify(state) ?? 'null'}]`;
    if (keys.length > 0 && bytes + text.length > STATE_PAGE_BYTES) {
      pages.push({ keys, json: `[${texts.join(',')}]` });
      keys = [];
      texts = [];
      bytes = 0;
    }
    keys.push(key);
    texts.push(text);
    bytes += text.length + 1;
  }
  if (keys.length > 0) pages.push({ keys, json: `[${texts.join(',')}]` });
  return pages;
}

/** A UUID's text as a stored event id has it (lower-case hex), which JSON writes without escapes. */
function isPlainUuid(id: string): boolean {
  if (id.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = id.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c === 0x2d && (i === 8 || i === 13 || i === 18 || i === 23)))) return false;
  }
  return true;
}

function positionOf(item: BatchItem): bigint {
  if (isDeletionNotice(item)) return item.position;
  return (item.link ?? item).position;
}

/** Event Store's metadata for checkpoint streams: the last two checkpoints are kept. */
function checkpointStreamMetadata(): EventData {
  return { type: METADATA_EVENT_TYPE, data: { $maxCount: 2 } };
}

function resultEvent(text: string | null): EventData {
  return text === null ? { type: 'ResultRemoved', data: {} } : { type: 'Result', data: JSON.parse(text) as unknown };
}
