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
import type { Consumer, EachBatchPayload } from 'kafkajs';
import { InvalidArgumentError, WrongExpectedRevisionError } from '../../store/errors.js';
import type { EventData, ExpectedRevision, Store, StreamWrite } from '../../store/types.js';
import { createKafka, requireText, silentLogger, translateKafkaError, type KafkaConnection } from './kafka-client.js';
import { toKafkaRecord, type KafkaRecord } from './kafka-record.js';

export const CHECKPOINT_EVENT_TYPE = '$kafka-checkpoint';

export interface FoldResult<S> {
  readonly state: S;
  /** Events to write with the checkpoint; a stream may appear more than once (they are merged in order). */
  readonly writes: readonly StreamWrite[];
}

export interface PartitionFold<S> {
  /** The state of a partition that has no checkpoint yet. */
  initialState(partition: number): S;
  /**
   * Folds records (one partition, offset order, none before the checkpoint) into the state. The
   * state must be JSON; the fold may update it in place (a failed commit reloads it). To be
   * exactly-once, output events need ids that depend on the input only (see `kafkaEventId`).
   */
  fold(state: S, records: readonly KafkaRecord[], partition: number): FoldResult<S> | Promise<FoldResult<S>>;
}

export interface PartitionConsumerOptions<S> extends KafkaConnection {
  readonly store: Store;
  readonly topic: string;
  readonly groupId: string;
  /** The stream holding a partition's checkpoint. */
  readonly checkpointStream: (partition: number) => string;
  readonly fold: PartitionFold<S>;
  /** Where a partition with neither a checkpoint nor a committed offset starts. @defaultValue true */
  readonly fromBeginning?: boolean;
  /** Most records per atomic commit; a larger Kafka batch is committed in slices. @defaultValue 5000 */
  readonly maxRecordsPerCommit?: number;
  /** Partitions folded at once (each partition stays in order). @defaultValue 4 */
  readonly partitionsConcurrently?: number;
  /** How soon the group notices a dead member and moves its partitions. @defaultValue 30000 */
  readonly sessionTimeoutMs?: number;
  /** @defaultValue 3000 */
  readonly heartbeatIntervalMs?: number;
  /** Called after each commit, e.g. for metrics and tests. */
  readonly onCommit?: (progress: CommitProgress) => void;
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

export async function startPartitionConsumer<S>(options: PartitionConsumerOptions<S>): Promise<PartitionConsumer> {
  const topic = requireText(options.topic, 'topic');
  const groupId = requireText(options.groupId, 'groupId');
  const { store, fold } = options;
  const logger = options.logger ?? silentLogger;
  const slice = options.maxRecordsPerCommit ?? 5000;
  if (!Number.isInteger(slice) || slice < 1) throw new InvalidArgumentError('maxRecordsPerCommit must be a positive integer');

  const checkpoints = new Map<number, PartitionCheckpoint<S>>();
  const progress = new Map<number, bigint>();
  /** Partition → the offset we last sought to, so a gap Kafka cannot fill is reported once, not chased forever. */
  const sought = new Map<number, bigint>();
  let assigned: number[] = [];

  const checkpointOf = async (partition: number): Promise<PartitionCheckpoint<S>> => {
    const cached = checkpoints.get(partition);
    if (cached) return cached;
    const loaded = await readPartitionCheckpoint(store, options.checkpointStream(partition), () => fold.initialState(partition));
    checkpoints.set(partition, loaded);
    return loaded;
  };

  const commitSlice = async (partition: number, records: KafkaRecord[]): Promise<void> => {
    const streamId = options.checkpointStream(partition);
    for (;;) {
      const checkpoint = await checkpointOf(partition);
      const fresh = records.filter((r) => r.offset >= checkpoint.nextOffset);
      if (fresh.length === 0) return;
      const last = fresh[fresh.length - 1]!.offset;
      try {
        const result = await fold.fold(checkpoint.state, fresh, partition);
        const marker: EventData = {
          type: CHECKPOINT_EVENT_TYPE,
          data: { topic, partition, nextOffset: (last + 1n).toString(), state: result.state },
        };
        const expected: ExpectedRevision = checkpoint.revision < 0n ? 'no_stream' : checkpoint.revision;
        const written = await store.appendToStreams([...mergeWrites(result.writes), { streamId, events: [marker], expectedRevision: expected }]);
        checkpoints.set(partition, { nextOffset: last + 1n, state: result.state, revision: written[written.length - 1]!.nextExpectedRevision });
        progress.set(partition, last + 1n);
        options.onCommit?.({ partition, nextOffset: last + 1n, records: fresh.length });
        return;
      } catch (e) {
        // The cached state may have been changed in place by the fold: reload it in any case.
        checkpoints.delete(partition);
        if (e instanceof WrongExpectedRevisionError && e.streamId === streamId) {
          logger.warn('another member committed this partition first; reloading its checkpoint', { topic, partition });
          continue;
        }
        throw e;
      }
    }
  };

  const eachBatch = async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }: EachBatchPayload): Promise<void> => {
    const partition = batch.partition;
    const records = batch.messages.map((m) => toKafkaRecord(batch.topic, partition, m));
    if (records.length === 0) return;
    const checkpoint = await checkpointOf(partition);
    const first = records[0]!.offset;
    if (checkpoint.revision >= 0n && first > checkpoint.nextOffset) {
      // Kafka starts this partition after our checkpoint (the group's offsets were lost or reset):
      // go back to the checkpoint once; if Kafka no longer has those records, say so and go on.
      if (sought.get(partition) !== checkpoint.nextOffset) {
        sought.set(partition, checkpoint.nextOffset);
        logger.warn('resuming from the store checkpoint, behind the offset Kafka delivered', { topic, partition, checkpoint: String(checkpoint.nextOffset), delivered: String(first) });
        consumer.seek({ topic: batch.topic, partition, offset: checkpoint.nextOffset.toString() });
        return;
      }
      logger.error('records between the checkpoint and the first offset Kafka still has are gone (retention?)', { topic, partition, from: String(checkpoint.nextOffset), to: String(first) });
    }
    for (let i = 0; i < records.length; i += slice) {
      if (!isRunning() || isStale()) return;
      const part = records.slice(i, i + slice);
      await commitSlice(partition, part);
      resolveOffset(part[part.length - 1]!.offset.toString());
      await heartbeat();
    }
    await commitOffsetsIfNecessary();
  };

  const kafka = createKafka({ ...options, clientId: options.clientId ?? `telltale-${groupId}` });
  const consumer: Consumer = kafka.consumer({
    groupId,
    sessionTimeout: options.sessionTimeoutMs ?? 30_000,
    heartbeatInterval: options.heartbeatIntervalMs ?? 3_000,
    maxBytesPerPartition: 4 * 1024 * 1024,
  });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    assigned = [...(payload.memberAssignment[topic] ?? [])].sort((a, b) => a - b);
    // Another member may have advanced any partition meanwhile; the expected-revision check would
    // catch it, but reloading is cheaper than a failed commit.
    checkpoints.clear();
    logger.info('joined the consumer group', { groupId, topic, partitions: assigned });
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    logger.error('the consumer crashed', { groupId, topic, error: payload.error.message, restart: payload.restart });
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: options.fromBeginning ?? true });
    await consumer.run({
      eachBatchAutoResolve: false,
      autoCommit: true,
      autoCommitInterval: 1000,
      partitionsConsumedConcurrently: options.partitionsConcurrently ?? 4,
      eachBatch,
    });
  } catch (e) {
    await consumer.disconnect().catch(() => undefined);
    throw translateKafkaError(`consuming ${topic} as group ${groupId}`, e);
  }

  let stopping: Promise<void> | undefined;
  return {
    assignment: () => assigned,
    progress: () => new Map(progress),
    stop: () =>
      (stopping ??= consumer.disconnect().catch((e: unknown) => {
        throw translateKafkaError('disconnecting the consumer', e);
      })),
  };
}

/** One write per stream, in first-appearance order, events kept in order: a commit names each stream once. */
export function mergeWrites(writes: readonly StreamWrite[]): StreamWrite[] {
  const byStream = new Map<string, { streamId: string; events: EventData[]; expectedRevision?: ExpectedRevision }>();
  for (const w of writes) {
    const existing = byStream.get(w.streamId);
    if (!existing) {
      byStream.set(w.streamId, { streamId: w.streamId, events: [...w.events], expectedRevision: w.expectedRevision });
      continue;
    }
    if ((w.expectedRevision ?? 'any') !== 'any') throw new InvalidArgumentError(`Stream '${w.streamId}' is written twice in one commit with an expected revision`);
    existing.events.push(...w.events);
  }
  return [...byStream.values()].filter((w) => w.events.length > 0 || (w.expectedRevision ?? 'any') !== 'any');
}
