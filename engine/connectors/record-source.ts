// Where a partition consumer's records come from: a kafkajs consumer in a consumer group, seen
// through a small port so that it can run on this thread or on a worker thread of its own
// (fetch-thread.ts). Either way the source
// - hands over each fetched batch (one partition, offset order) already turned into the
//   consumer's record type, and moves kafkajs's fetch position past it at once;
// - holds the next fetch while more than `maxOutstanding` records it handed over have not been
//   released (taken by the committing loop, or dropped), heartbeating meanwhile;
// - seeks and commits Kafka offsets only when told to (auto-commit is off): the committing loop
//   decides, after its store commit, what Kafka may consider done.
import type { Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import { createKafka, silentLogger, translateKafkaError, type KafkaConnection } from './kafka-client.js';

/** How the group member fetches: plain data, so a worker thread can be given it. */
export interface ConsumerSettings extends KafkaConnection {
  readonly topic: string;
  readonly groupId: string;
  readonly fromBeginning: boolean;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxBytesPerPartition: number;
  readonly maxBytes: number;
  readonly maxWaitTimeMs: number;
  readonly partitionsConcurrently: number;
  /** Records handed over and not yet released above which fetching waits. */
  readonly maxOutstanding: number;
}

/** A batch's records, or how many there are and how to read them when they are needed. */
export type BatchRecords<R> = R[] | { readonly count: number; readonly read: () => R[] };

/** What a source tells its consumer. */
export interface SourceSink<R> {
  /**
   * A fetched batch of one partition, in offset order. `fetchedOffset` is the offset kafkajs asked
   * the broker for: no record before it is missing from the batch.
   */
  batch(partition: number, records: BatchRecords<R>, fetchedOffset: bigint): void;
  /** The group gave this member these partitions of the topic (after every rebalance). */
  assigned(partitions: readonly number[]): void;
}

export interface RecordSource {
  /** `count` handed-over records left the consumer's hands (committed or dropped). */
  release(count: number): void;
  /** Fetch the partition again from `offset`. */
  seek(partition: number, offset: bigint): void;
  commitOffsets(offsets: readonly { readonly partition: number; readonly offset: bigint }[]): Promise<void>;
  /** Stops fetching and leaves the group. */
  stop(): Promise<void>;
}

/** Starts a source (connected, subscribed, running) that delivers to `sink`. */
export type RecordSourceStarter<R> = (sink: SourceSink<R>) => Promise<RecordSource>;

/** Turns kafkajs's messages of one partition into the consumer's records. */
export type PrepareRecords<R> = (topic: string, partition: number, messages: readonly KafkaMessage[]) => R[];

/** What runs a group member's fetched batches: on this thread, or on the fetch thread. */
export interface GroupHandlers {
  /** Hands a fetched batch over; returns how many records it now counts as outstanding. */
  deliver(partition: number, messages: readonly KafkaMessage[], fetchedOffset: bigint): number;
  assigned(partitions: readonly number[]): void;
}

function createGroupConsumer(settings: ConsumerSettings): Consumer {
  const kafka = createKafka({ ...settings, clientId: settings.clientId ?? `telltale-${settings.groupId}` });
  return kafka.consumer({
    groupId: settings.groupId,
    sessionTimeout: settings.sessionTimeoutMs,
    heartbeatInterval: settings.heartbeatIntervalMs,
    maxBytesPerPartition: settings.maxBytesPerPartition,
    maxBytes: settings.maxBytes,
    minBytes: 1,
    maxWaitTimeInMs: settings.maxWaitTimeMs,
  });
}

/**
 * Joins the group and runs its kafkajs consumer, handing each fetched batch to `handlers`. Shared
 * by the in-thread source and the fetch thread, which differ only in where the batches go.
 */
export async function runGroupConsumer(settings: ConsumerSettings, handlers: GroupHandlers): Promise<RecordSource> {
  const consumer = createGroupConsumer(settings);
  const { topic } = settings;
  const logger = settings.logger ?? silentLogger;
  let outstanding = 0;
  let stopping = false;
  const roomWaiters: (() => void)[] = [];
  const freeRoom = (): void => {
    if (outstanding < settings.maxOutstanding || stopping) for (const w of roomWaiters.splice(0)) w();
  };

  const eachBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> => {
    const messages = batch.messages;
    if (messages.length === 0 || stopping) return;
    const fetchedOffset = BigInt((batch as unknown as { fetchedOffset?: string }).fetchedOffset ?? messages[0]!.offset);
    outstanding += handlers.deliver(batch.partition, messages, fetchedOffset);
    // The fetch position moves on now; Kafka's committed offset only when the consumer says so.
    resolveOffset(messages[messages.length - 1]!.offset);
    // Back-pressure: hold kafkajs (and so the next fetch) while too much is outstanding.
    while (outstanding >= settings.maxOutstanding && !stopping && isRunning() && !isStale()) {
      await new Promise<void>((resolve) => {
        roomWaiters.push(resolve);
        setTimeout(resolve, 1000);
      });
      await heartbeat().catch(() => undefined);
    }
  };

  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const partitions = [...(payload.memberAssignment[topic] ?? [])].sort((a, b) => a - b);
    logger.info('joined the consumer group', { groupId: settings.groupId, topic, partitions });
    handlers.assigned(partitions);
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    logger.error('the consumer crashed', { groupId: settings.groupId, topic, error: payload.error.message, restart: payload.restart });
  });
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: settings.fromBeginning });
    await consumer.run({ eachBatchAutoResolve: false, autoCommit: false, partitionsConsumedConcurrently: settings.partitionsConcurrently, eachBatch });
  } catch (e) {
    await consumer.disconnect().catch(() => undefined);
    throw translateKafkaError(`consuming ${topic} as group ${settings.groupId}`, e);
  }

  let stopped: Promise<void> | undefined;
  return {
    release: (count) => {
      outstanding -= count;
      freeRoom();
    },
    seek: (partition, offset) => consumer.seek({ topic, partition, offset: offset.toString() }),
    commitOffsets: async (offsets) => {
      if (offsets.length === 0) return;
      await consumer.commitOffsets(offsets.map(({ partition, offset }) => ({ topic, partition, offset: offset.toString() })));
    },
    stop: () =>
      (stopped ??= (async () => {
        stopping = true;
        freeRoom();
        await consumer.disconnect().catch((e: unknown) => {
          throw translateKafkaError('disconnecting the consumer', e);
        });
      })()),
  };
}

/** A source whose kafkajs consumer runs on this thread; `prepare` runs here too. */
export function inThreadSource<R>(settings: ConsumerSettings, prepare: PrepareRecords<R>): RecordSourceStarter<R> {
  return (sink) =>
    runGroupConsumer(settings, {
      deliver: (partition, messages, fetchedOffset) => {
        const records = prepare(settings.topic, partition, messages);
        sink.batch(partition, records, fetchedOffset);
        return records.length;
      },
      assigned: (partitions) => sink.assigned(partitions),
    });
}
