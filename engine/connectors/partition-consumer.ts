// The core that Kafka ingest and workers share: a member of a consumer group that, for each
// partition it owns, folds batches of records into a state and writes the fold's output events
// together with a checkpoint — the next offset and the state — in ONE atomic `appendToStreams`.
//
// The checkpoint in the store, not the group's committed offset, says where a partition resumes:
// - Kafka offsets are committed only after the store write resolved (durably, on a durable
//   store), so the committed offset never runs ahead of the checkpoint; records redelivered
//   between the two are recognised by offset and skipped.
// - The checkpoint is written with an exact expected revision. Two members that both believe they
//   own a partition (a rebalance in flight, a paused process that comes back) cannot both commit
//   the same records: the loser gets a wrong-expected-revision, reloads the checkpoint and skips
//   what the winner wrote. So the effect of each record is written exactly once however often
//   Kafka delivers it, and a partition that moves resumes exactly where its checkpoint says.
//
// Throughput: fetching and committing overlap. The record source (record-source.ts: kafkajs on
// this thread or on a fetch thread) hands batches over as they arrive and moves its fetch position
// on at once; they wait in a bounded queue, and one loop takes what is queued — all partitions
// together, up to `maxRecordsPerCommit` — folds each partition and writes the whole take (each
// partition with its own checkpoint and expected revision) as one `appendToStreams`, so one fsync
// covers every partition of a fetch, while the next fetch is already on its way. While a take's
// append waits for its fsync, the next take is folded on top of it and appended too (the store
// group-commits it right after), so the loop does not sit idle through every fsync; a take that
// fails takes the one folded on top of it down with it (its checkpoint's expected revision no longer
// holds), and both are fetched again. A batch is committed only if it starts at or before its
// partition's checkpoint; otherwise the partition is fetched again.
import { InvalidArgumentError, WrongExpectedRevisionError } from '../../store/errors.js';
import type { EventData, ExpectedRevision, Store, StreamWrite } from '../../store/types.js';
import { requireText, silentLogger, type KafkaConnection } from './kafka-client.js';
import type { KafkaMessage } from 'kafkajs';
import { toKafkaRecord, type KafkaRecord } from './kafka-record.js';
import { inThreadSource, type BatchRecords, type ConsumerSettings, type RecordSource, type RecordSourceStarter } from './record-source.js';

export const CHECKPOINT_EVENT_TYPE = '$kafka-checkpoint';

export interface FoldResult<S> {
  readonly state: S;
  /** Events to write with the checkpoint; a stream may appear more than once (they are merged in order). */
  readonly writes: readonly StreamWrite[];
}

/** What a consumer's records must have: their Kafka offset. */
export interface OffsetRecord {
  readonly offset: bigint;
}

export interface PartitionFold<S, R extends OffsetRecord = KafkaRecord> {
  /** The state of a partition that has no checkpoint yet. */
  initialState(partition: number): S;
  /**
   * Folds records (one partition, offset order, none before the checkpoint) into the state. The
   * state must be JSON; the fold may update it in place (a failed commit reloads it). To be
   * exactly-once, output events need ids that depend on the input only (see `kafkaEventId`).
   * The next batch may be folded, from this fold's state, before this batch's commit is answered;
   * the output events go to the store when the fold returns and must not change afterwards.
   */
  fold(state: S, records: readonly R[], partition: number): FoldResult<S> | Promise<FoldResult<S>>;
}

export interface PartitionConsumerOptions<S, R extends OffsetRecord = KafkaRecord> extends KafkaConnection {
  readonly store: Store;
  readonly topic: string;
  readonly groupId: string;
  /** The stream holding a partition's checkpoint. */
  readonly checkpointStream: (partition: number) => string;
  readonly fold: PartitionFold<S, R>;
  /**
   * Where records come from and what they are. @defaultValue kafkajs on this thread, each message
   * as a `KafkaRecord` (so `R` must be `KafkaRecord` when this is not given)
   */
  readonly source?: (settings: ConsumerSettings) => RecordSourceStarter<R>;
  /** Where a partition with neither a checkpoint nor a committed offset starts. @defaultValue true */
  readonly fromBeginning?: boolean;
  /** Most records per atomic commit (all partitions together); a larger Kafka batch is committed in slices. @defaultValue 20000 */
  readonly maxRecordsPerCommit?: number;
  /** kafkajs batches handed over at once (they are only queued; each partition stays in order). @defaultValue 16 */
  readonly partitionsConcurrently?: number;
  /** Records fetched ahead of the commit in progress; a full queue holds the next fetch back. @defaultValue 4 × maxRecordsPerCommit */
  readonly maxQueuedRecords?: number;
  /** Longest a fetch waits on the broker when there is nothing new. @defaultValue 500 */
  readonly maxWaitTimeMs?: number;
  /**
   * Fetch sizes. kafkajs decodes a whole fetch response before handing any batch over, so a
   * fetch of tens of MiB stalls the first commit and keeps all its records alive at once; a few
   * MiB keep decoding and committing overlapped. @defaultValue 1 MiB
   */
  readonly maxBytesPerPartition?: number;
  /** @defaultValue 4 MiB */
  readonly maxBytesPerFetch?: number;
  /**
   * Least time between two Kafka offset commits (each follows a store commit; stopping commits what
   * is owed at once). 0 commits after every store commit. @defaultValue 200
   */
  readonly offsetCommitIntervalMs?: number;
  /** How soon the group notices a dead member and moves its partitions. @defaultValue 30000 */
  readonly sessionTimeoutMs?: number;
  /** @defaultValue 3000 */
  readonly heartbeatIntervalMs?: number;
  /** Called after each commit, e.g. for metrics and tests. */
  readonly onCommit?: (progress: CommitProgress) => void;
  /** Called when the group gives this member its partitions (after every rebalance). */
  readonly onAssign?: (partitions: readonly number[]) => void;
}

export interface CommitProgress {
  readonly partition: number;
  /** The next offset to process in that partition. */
  readonly nextOffset: bigint;
  readonly records: number;
}

export interface PartitionCheckpoint<S> {
  readonly nextOffset: bigint;
  readonly state: S;
  /** The checkpoint stream's revision; -1n when there is none yet. */
  readonly revision: bigint;
}

export interface PartitionConsumer {
  /** Partitions this member owns now. */
  assignment(): readonly number[];
  /** Next offset to process, per partition this member has committed. */
  progress(): ReadonlyMap<number, bigint>;
  /** Leaves the group after the batch in hand is committed. */
  stop(): Promise<void>;
}

/** Reads a partition's checkpoint: the last event of its checkpoint stream. */
export async function readPartitionCheckpoint<S>(store: Store, streamId: string, initial: () => S): Promise<PartitionCheckpoint<S>> {
  const info = await store.getStreamInfo(streamId);
  if (info.lastRevision < 0n || info.softDeleted || info.tombstoned) return { nextOffset: -1n, state: initial(), revision: info.lastRevision };
  for await (const event of store.readStream(streamId, { direction: 'backwards', maxCount: 1 })) {
    const data = event.data as { nextOffset?: string; state?: S };
    if (event.type !== CHECKPOINT_EVENT_TYPE || typeof data.nextOffset !== 'string') {
      throw new InvalidArgumentError(`Stream '${streamId}' holds a ${event.type} event where a ${CHECKPOINT_EVENT_TYPE} was expected`);
    }
    return { nextOffset: BigInt(data.nextOffset), state: data.state as S, revision: event.revision };
  }
  return { nextOffset: -1n, state: initial(), revision: info.lastRevision };
}

/** A fetched batch waiting for the committing loop. */
interface Queued<R> {
  readonly partition: number;
  /** Read when the batch is taken (a dropped batch is never read), so what waits holds few objects. */
  records: R[] | (() => R[]);
  readonly count: number;
  /** The offset kafkajs asked the broker for: no record before it is missing from this batch. */
  readonly fetchedOffset: bigint;
  /** The partition's epoch when the batch arrived; a seek or a failed commit starts a new one. */
  readonly epoch: number;
}

interface PartitionWork<R> {
  readonly partition: number;
  records: R[];
  fetchedOffset: bigint;
  /** The partition's epoch when the work was taken. */
  readonly epoch: number;
}

export async function startPartitionConsumer<S, R extends OffsetRecord = KafkaRecord>(options: PartitionConsumerOptions<S, R>): Promise<PartitionConsumer> {
  const topic = requireText(options.topic, 'topic');
  const groupId = requireText(options.groupId, 'groupId');
  const { store, fold } = options;
  const logger = options.logger ?? silentLogger;
  const slice = options.maxRecordsPerCommit ?? 20_000;
  if (!Number.isInteger(slice) || slice < 1) throw new InvalidArgumentError('maxRecordsPerCommit must be a positive integer');
  const queueLimit = Math.max(options.maxQueuedRecords ?? 4 * slice, slice);

  const checkpoints = new Map<number, PartitionCheckpoint<S>>();
  const progress = new Map<number, bigint>();
  let assigned: number[] = [];
  let assignedSet = new Set<number>();

  const checkpointOf = async (partition: number): Promise<PartitionCheckpoint<S>> => {
    const cached = checkpoints.get(partition);
    if (cached) return cached;
    const loaded = await readPartitionCheckpoint(store, options.checkpointStream(partition), () => fold.initialState(partition));
    checkpoints.set(partition, loaded);
    return loaded;
  };

  // ---- the queue between the record source and the one committing loop
  // kafkajs fetches again only once every batch of the previous response was handled, and its
  // fetch position is the last *resolved* offset. So the source resolves a batch's offsets at once
  // and only hands it over: the next fetch runs while the loop below folds and commits. The
  // group's offsets are still committed to Kafka only after the store commit (autoCommit off,
  // explicit commits below), and the store checkpoint, not the fetch position, decides what is
  // written: a batch that does not start at or before the checkpoint is never committed.
  const queue: Queued<R>[] = [];
  const epochs = new Map<number, number>();
  let wakeLoop: (() => void) | undefined;
  let stopping = false;
  // Set once the source has started. Batches may come a little earlier: seeks asked for meanwhile
  // wait here, and offsets to commit stay in `toCommit`.
  let source: RecordSource | undefined;
  const earlySeeks = new Map<number, bigint>();
  /** Records that left the queue since the source was last told. */
  let released = 0;

  const wake = (): void => {
    const w = wakeLoop;
    wakeLoop = undefined;
    w?.();
  };
  const release = (count: number): void => {
    released += count;
  };
  const tellReleased = (): void => {
    if (released === 0 || source === undefined) return;
    const count = released;
    released = 0;
    source.release(count);
  };

  /** Starts a new epoch for a partition: what is queued for it is dropped, and it is fetched again from `offset`. */
  const restart = (partition: number, offset: bigint | undefined): void => {
    epochs.set(partition, (epochs.get(partition) ?? 0) + 1);
    checkpoints.delete(partition);
    if (offset === undefined || offset < 0n || !assignedSet.has(partition)) return;
    if (source) source.seek(partition, offset);
    else earlySeeks.set(partition, offset);
  };

  const onBatch = (partition: number, records: BatchRecords<R>, fetchedOffset: bigint): void => {
    const count = Array.isArray(records) ? records.length : records.count;
    if (count === 0) return;
    if (stopping) {
      release(count);
      tellReleased();
      return;
    }
    queue.push({ partition, records: Array.isArray(records) ? records : records.read, count, fetchedOffset, epoch: epochs.get(partition) ?? 0 });
    wake();
  };

  const onAssigned = (partitions: readonly number[]): void => {
    const before = assignedSet;
    assigned = [...partitions];
    assignedSet = new Set(assigned);
    // A partition that is new here may have been advanced by another member: reload its checkpoint
    // (the expected-revision check would catch it, but reloading is cheaper than a failed commit).
    // One kept through the rebalance keeps its cached checkpoint and state (a processor's isolates
    // stay warm); if this member had in fact been out of the group meanwhile, the expected revision
    // fences the stale commit and the checkpoint is reloaded then. What is queued stays: it is
    // checked against the checkpoint like any batch.
    for (const p of [...checkpoints.keys()]) if (!before.has(p) || !assignedSet.has(p)) checkpoints.delete(p);
    options.onAssign?.(assigned);
  };

  /** Takes up to `slice` records from the queue, grouped per partition in arrival order. */
  const take = (): PartitionWork<R>[] => {
    const work = new Map<number, PartitionWork<R>>();
    let taken = 0;
    while (queue.length > 0 && taken < slice) {
      const item = queue[0]!;
      if (item.epoch !== (epochs.get(item.partition) ?? 0) || !assignedSet.has(item.partition)) {
        queue.shift();
        release(item.count);
        continue;
      }
      if (typeof item.records === 'function') item.records = item.records();
      const existing = work.get(item.partition);
      const all = item.records;
      let records = all;
      if (existing) {
        // Batches of one epoch follow each other; after a rebalance kafkajs may fetch again from
        // the group's committed offset, so what was already taken is left out.
        const last = existing.records[existing.records.length - 1]!.offset;
        if (item.fetchedOffset > last + 1n) break;
        if (records[0]!.offset <= last) {
          const rest = records.filter((r) => r.offset > last);
          release(records.length - rest.length);
          if (rest.length === 0) queue.shift();
          else queue[0] = { ...item, records: rest, count: rest.length, fetchedOffset: last + 1n };
          continue;
        }
      }
      if (taken + records.length > slice) {
        const cut = slice - taken;
        records = all.slice(0, cut);
        queue[0] = { ...item, records: all.slice(cut), count: all.length - cut, fetchedOffset: all[cut]!.offset };
      } else queue.shift();
      release(records.length);
      taken += records.length;
      if (existing) {
        for (const r of records) existing.records.push(r);
      } else work.set(item.partition, { partition: item.partition, records: records === all ? [...records] : records, fetchedOffset: item.fetchedOffset, epoch: item.epoch });
    }
    tellReleased();
    return [...work.values()];
  };

  // ---- Kafka offset commits: after the store commit, off the critical path, latest offset wins,
  // at most one per `offsetCommitIntervalMs`. The store checkpoint is where a partition resumes;
  // Kafka's offset only saves a new owner from fetching what the checkpoint then skips. Committing
  // it after every store commit (a hundred a second at a steady rate) made the broker write to
  // __consumer_offsets as often, on CPU the pipeline itself needs.
  const toCommit = new Map<number, bigint>();
  let committingOffsets: Promise<void> | undefined;
  let coolingDown: NodeJS.Timeout | undefined;
  const offsetInterval = options.offsetCommitIntervalMs ?? 200;
  const commitOffsets = (): Promise<void> => {
    if (committingOffsets !== undefined || coolingDown !== undefined || toCommit.size === 0 || source === undefined) return committingOffsets ?? Promise.resolve();
    const offsets = [...toCommit].filter(([p]) => assignedSet.has(p)).map(([partition, offset]) => ({ partition, offset }));
    toCommit.clear();
    if (offsets.length === 0) return Promise.resolve();
    if (offsetInterval > 0) {
      coolingDown = setTimeout(() => {
        coolingDown = undefined;
        void commitOffsets();
      }, offsetInterval);
      coolingDown.unref();
    }
    committingOffsets = source
      .commitOffsets(offsets)
      .catch((e: unknown) => logger.warn('committing offsets to Kafka failed (the store checkpoint still holds them)', { topic, error: (e as Error).message }))
      .finally(() => {
        committingOffsets = undefined;
        if (toCommit.size > 0) void commitOffsets();
      });
    return committingOffsets;
  };
  /** Commits every offset still owed to Kafka, now (when stopping). */
  const flushOffsets = async (): Promise<void> => {
    clearTimeout(coolingDown);
    coolingDown = undefined;
    for (;;) {
      if (committingOffsets !== undefined) await committingOffsets;
      else if (toCommit.size > 0 && source !== undefined) {
        clearTimeout(coolingDown);
        coolingDown = undefined;
        await commitOffsets();
      } else break;
    }
    clearTimeout(coolingDown);
    coolingDown = undefined;
  };

  /**
   * Folds one take and issues its atomic append — every partition's output and checkpoint — without
   * waiting for it: the returned promise settles when the store has answered (durably). Each
   * partition's cached checkpoint moves on at once (the checkpoint stream gets one event per
   * commit, so its next revision is known), so the next take folds on top of this one while this
   * one's fsync is still running. Undefined when nothing of the take is new. (The promise is
   * wrapped: an async function's result would otherwise wait for it.)
   */
  const issue = async (work: PartitionWork<R>[]): Promise<{ readonly answered: Promise<void> } | undefined> => {
    const parts: { partition: number; checkpoint: PartitionCheckpoint<S>; fresh: R[] }[] = [];
    for (const w of work) {
      if (!assignedSet.has(w.partition) || w.epoch !== (epochs.get(w.partition) ?? 0)) continue;
      const checkpoint = await checkpointOf(w.partition);
      if (checkpoint.revision >= 0n && w.fetchedOffset > checkpoint.nextOffset) {
        // Fetched after the checkpoint (the group's offsets were lost or reset, or a batch
        // before this one was dropped): fetch the partition again from the checkpoint.
        logger.warn('fetching again from the store checkpoint, behind the offset Kafka delivered', { topic, partition: w.partition, checkpoint: String(checkpoint.nextOffset), delivered: String(w.fetchedOffset) });
        restart(w.partition, checkpoint.nextOffset);
        continue;
      }
      const first = w.records[0]!.offset;
      if (checkpoint.revision >= 0n && first > checkpoint.nextOffset + 1n) {
        logger.warn('records between the checkpoint and the first offset Kafka delivered are not in Kafka (retention or compaction?)', { topic, partition: w.partition, from: String(checkpoint.nextOffset), to: String(first) });
      }
      const fresh = first >= checkpoint.nextOffset ? w.records : w.records.filter((r) => r.offset >= checkpoint.nextOffset);
      if (fresh.length > 0) parts.push({ partition: w.partition, checkpoint, fresh });
    }
    if (parts.length === 0) return undefined;
    // Partitions fold concurrently (a processor may run each in its own isolate thread).
    const results = await Promise.all(parts.map((p) => fold.fold(p.checkpoint.state, p.fresh, p.partition)));
    const writes: StreamWrite[] = [];
    for (const r of results) for (const w of r.writes) writes.push(w);
    const merged = mergeWrites(writes);
    const nexts: bigint[] = [];
    for (let i = 0; i < parts.length; i++) {
      const { partition, checkpoint, fresh } = parts[i]!;
      const next = fresh[fresh.length - 1]!.offset + 1n;
      nexts.push(next);
      // Serialised now: the next take's fold may change this state in place before the store has
      // taken this commit.
      const marker: EventData = { type: CHECKPOINT_EVENT_TYPE, data: Buffer.from(JSON.stringify({ topic, partition, nextOffset: next.toString(), state: results[i]!.state }), 'utf8'), isJson: true };
      merged.push({ streamId: options.checkpointStream(partition), events: [marker], expectedRevision: checkpoint.revision < 0n ? 'no_stream' : checkpoint.revision });
    }
    const appended = store.appendToStreams(merged);
    for (let i = 0; i < parts.length; i++) {
      const { partition, checkpoint } = parts[i]!;
      checkpoints.set(partition, { nextOffset: nexts[i]!, state: results[i]!.state, revision: checkpoint.revision + 1n });
    }
    const answered = appended.then(
      () => {
        for (let i = 0; i < parts.length; i++) {
          const { partition, fresh } = parts[i]!;
          progress.set(partition, nexts[i]!);
          toCommit.set(partition, nexts[i]!);
          options.onCommit?.({ partition, nextOffset: nexts[i]!, records: fresh.length });
        }
        void commitOffsets();
      },
      (e: unknown) => {
        // The cached states may have been changed in place by the folds: reload them in any case.
        for (const p of parts) checkpoints.delete(p.partition);
        throw e;
      },
    );
    return { answered };
  };

  let failures = 0;
  /**
   * Nothing of a failed take was written, nor of a take folded on top of it. Its partitions are
   * fetched again from where it started — unless a failure before it already restarted them from
   * earlier (their epoch moved on). Another member having committed a partition first (fenced) is
   * no fault: it is fetched again at once; anything else (a store that is down, a fold that
   * throws) after a pause that grows while the failures go on.
   */
  const failed = async (work: PartitionWork<R>[], e: unknown): Promise<void> => {
    for (const w of work) checkpoints.delete(w.partition);
    const fenced = e instanceof WrongExpectedRevisionError && work.some((w) => options.checkpointStream(w.partition) === e.streamId);
    for (const w of work) if (w.epoch === (epochs.get(w.partition) ?? 0)) restart(w.partition, w.records[0]!.offset);
    if (fenced) {
      logger.warn('another member committed a partition first; fetching it again from its checkpoint', { topic, stream: (e as WrongExpectedRevisionError).streamId });
      return;
    }
    failures++;
    logger.error('a commit failed; fetching its partitions again', { topic, partitions: work.map((w) => w.partition), error: (e as Error).message, attempt: failures });
    await new Promise((r) => setTimeout(r, Math.min(200 * 2 ** Math.min(failures, 6), 10_000)));
  };

  const loop = async (): Promise<void> => {
    // At most two appends in flight: the one being answered and the one folded on top of it.
    let inFlight: { readonly work: PartitionWork<R>[]; readonly answered: Promise<void>; settled: boolean } | undefined;
    const settle = async (): Promise<void> => {
      const f = inFlight;
      inFlight = undefined;
      if (f === undefined) return;
      try {
        await f.answered;
        failures = 0;
      } catch (e) {
        await failed(f.work, e);
      }
    };
    while (!stopping) {
      const work = take();
      if (work.length === 0) {
        const waiting = new Promise<void>((resolve) => (wakeLoop = resolve));
        if (inFlight === undefined) await waiting;
        else await Promise.race([waiting, inFlight.answered.catch(() => undefined)]);
        // An answered append is settled before anything else is taken.
        if (inFlight?.settled === true) await settle();
        continue;
      }
      let issued: { readonly answered: Promise<void> } | undefined;
      try {
        issued = await issue(work);
      } catch (e) {
        // Nothing of this take was appended (a checkpoint could not be read, a fold threw).
        await settle();
        await failed(work, e);
        continue;
      }
      await settle();
      if (issued !== undefined) {
        const next = { work, answered: issued.answered, settled: false };
        // Registered before anyone waits on it, so it is set by the time a waiter wakes.
        issued.answered.then(
          () => (next.settled = true),
          () => (next.settled = true),
        );
        inFlight = next;
      }
    }
    await settle();
  };

  const settings: ConsumerSettings = {
    brokers: options.brokers,
    ssl: options.ssl,
    sasl: options.sasl,
    topic,
    groupId,
    clientId: options.clientId ?? `telltale-${groupId}`,
    fromBeginning: options.fromBeginning ?? true,
    sessionTimeoutMs: options.sessionTimeoutMs ?? 30_000,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 3_000,
    maxBytesPerPartition: options.maxBytesPerPartition ?? 1024 * 1024,
    maxBytes: options.maxBytesPerFetch ?? 4 * 1024 * 1024,
    maxWaitTimeMs: options.maxWaitTimeMs ?? 500,
    partitionsConcurrently: options.partitionsConcurrently ?? 16,
    maxOutstanding: queueLimit,
    logger,
  };
  const startSource = options.source?.(settings) ?? (inThreadSource(settings, toKafkaRecords) as unknown as RecordSourceStarter<R>);
  const loopDone = loop().catch((e: unknown) => {
    // Not expected (commit failures are retried inside): say so rather than die unobserved.
    logger.error('the committing loop stopped', { topic, error: (e as Error).message });
  });
  try {
    source = await startSource({ batch: onBatch, assigned: onAssigned });
  } catch (e) {
    stopping = true;
    wake();
    await loopDone;
    throw e;
  }
  const started = source;
  for (const [partition, offset] of earlySeeks) if (assignedSet.has(partition)) started.seek(partition, offset);
  earlySeeks.clear();
  tellReleased();
  void commitOffsets();

  let stopped: Promise<void> | undefined;
  return {
    assignment: () => assigned,
    progress: () => new Map(progress),
    stop: () =>
      (stopped ??= (async () => {
        // The commit in hand finishes (and its offsets reach Kafka); what is only queued is
        // fetched again by whoever owns the partition next.
        stopping = true;
        wake();
        await loopDone;
        await flushOffsets();
        await started.stop();
      })()),
  };
}

function toKafkaRecords(topic: string, partition: number, messages: readonly KafkaMessage[]): KafkaRecord[] {
  const records = new Array<KafkaRecord>(messages.length);
  for (let i = 0; i < messages.length; i++) records[i] = toKafkaRecord(topic, partition, messages[i]!);
  return records;
}

/** One write per stream, in first-appearance order, events kept in order: a commit names each stream once. */
export function mergeWrites(writes: readonly StreamWrite[]): StreamWrite[] {
  // Most takes name each stream once and write to each (ingest's fold groups per stream, and
  // partitions rarely share a stream): then the writes stand as they are, and a set of names is
  // all this costs.
  const names = new Set<string>();
  let plain = true;
  for (let i = 0; i < writes.length && plain; i++) {
    const w = writes[i]!;
    const before = names.size;
    names.add(w.streamId);
    plain = names.size > before && w.events.length > 0;
  }
  if (plain) return writes.slice();
  // A write is copied only when a second one for its stream comes (most streams have one).
  const byStream = new Map<string, { streamId: string; events: readonly EventData[]; expectedRevision?: ExpectedRevision; copied: boolean }>();
  for (const w of writes) {
    const existing = byStream.get(w.streamId);
    if (!existing) {
      byStream.set(w.streamId, { streamId: w.streamId, events: w.events, expectedRevision: w.expectedRevision, copied: false });
      continue;
    }
    if ((w.expectedRevision ?? 'any') !== 'any') throw new InvalidArgumentError(`Stream '${w.streamId}' is written twice in one commit with an expected revision`);
    if (!existing.copied) {
      existing.events = [...existing.events];
      existing.copied = true;
    }
    for (const e of w.events) (existing.events as EventData[]).push(e);
  }
  return [...byStream.values()].filter((w) => w.events.length > 0 || (w.expectedRevision ?? 'any') !== 'any');
}
