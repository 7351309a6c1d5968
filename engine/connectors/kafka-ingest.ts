// `startKafkaIngest`: reads a topic into streams. Each record is mapped (record-mapping.ts) to an
// event whose id is derived from its topic, partition and offset; a batch of a partition becomes
// one atomic commit — the events grouped per stream in offset order, the dead letters, and the
// partition's checkpoint — after which, and only after which, the offset is committed to Kafka.
// A record Kafka redelivers after a crash is skipped by its offset (the checkpoint is in the
// store), and would be recognised by its id if it were not: it is never stored twice.
import type { EventData, Store, StreamWrite } from '../../store/types.js';
import { canCrossThreads, fetchThreadSource } from './fetch-thread-source.js';
import { requireText, type KafkaConnection } from './kafka-client.js';
import { mapMessages, type IngestRecord } from './mapped-batch.js';
import { startPartitionConsumer, type CommitProgress } from './partition-consumer.js';
import { inThreadSource } from './record-source.js';
import { compileMapping, type KafkaIngestMapping, type RejectionReason } from './record-mapping.js';

export interface KafkaIngestOptions extends KafkaConnection {
  readonly store: Store;
  readonly topic: string;
  /** The consumer group; also names the checkpoints, so a new group ingests the topic afresh. @defaultValue `'telltale-ingest'` */
  readonly groupId?: string;
  readonly mapping: KafkaIngestMapping;
  /** @defaultValue true */
  readonly fromBeginning?: boolean;
  /** Most records per atomic commit, all partitions together. @defaultValue 20000 */
  readonly maxRecordsPerCommit?: number;
  /** Records fetched ahead of the commit in progress. @defaultValue 4 × maxRecordsPerCommit */
  readonly maxQueuedRecords?: number;
  /** kafkajs batches handed over at once (they are only queued). @defaultValue 16 */
  readonly partitionsConcurrently?: number;
  /** @defaultValue 30000 */
  readonly sessionTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  /**
   * Fetch and map records on a worker thread of their own, beside the thread that runs the store
   * (settings a thread cannot be given — a SASL token provider function — keep them on this one).
   * @defaultValue true
   */
  readonly fetchThread?: boolean;
  readonly onCommit?: (progress: CommitProgress) => void;
}

export interface KafkaIngestStats {
  /** Records written as events or dead letters by this process (not counting skipped redeliveries). */
  readonly records: number;
  readonly events: number;
  readonly rejected: number;
  readonly rejectedBy: Readonly<Partial<Record<RejectionReason, number>>>;
}

export interface KafkaIngest {
  readonly topic: string;
  readonly groupId: string;
  assignment(): readonly number[];
  /** Next offset to ingest, per partition this process has committed. */
  progress(): ReadonlyMap<number, bigint>;
  stats(): KafkaIngestStats;
  stop(): Promise<void>;
}

/** The stream holding an ingest's checkpoint for one partition. */
export function ingestCheckpointStream(groupId: string, topic: string, partition: number): string {
  return `$kafka-ingest-${groupId}-${topic}-${partition}`;
}

export async function startKafkaIngest(options: KafkaIngestOptions): Promise<KafkaIngest> {
  const topic = requireText(options.topic, 'topic');
  const groupId = requireText(options.groupId ?? 'telltale-ingest', 'groupId');
  // Stored, not read by code here: the record's JSON bytes go to the store as they came.
  const mapper = compileMapping(options.mapping, { asBytes: true });
  // Counted when a commit succeeds, so a retried slice is not counted twice.
  let records = 0;
  let events = 0;
  const rejectedBy: Partial<Record<RejectionReason, number>> = {};
  const pending = new Map<number, { events: number; rejected: RejectionReason[] }>();

  const consumer = await startPartitionConsumer<null, IngestRecord>({
    ...options,
    topic,
    groupId,
    checkpointStream: (partition) => ingestCheckpointStream(groupId, topic, partition),
    // Records are mapped where they are fetched: on the fetch thread, or here.
    source: (settings) =>
      options.fetchThread !== false && canCrossThreads(settings)
        ? fetchThreadSource(settings, options.mapping)
        : inThreadSource(settings, (t, partition, messages) => mapMessages(mapper, t, partition, messages)),
    fold: {
      initialState: () => null,
      fold: (state, batch, partition) => {
        // Grouped per stream here (offset order within each) rather than merged afterwards: this
        // loop runs once per record, so it allocates as little as it can — one write per stream,
        // made when the stream is first seen and listed then (no pass over the map afterwards).
        const byStream = new Map<string, { readonly streamId: string; readonly events: EventData[] }>();
        const writes: StreamWrite[] = [];
        const rejected: RejectionReason[] = [];
        for (let i = 0; i < batch.length; i++) {
          const record = batch[i]!;
          const write = byStream.get(record.streamId);
          if (write !== undefined) write.events.push(record);
          else {
            const created = { streamId: record.streamId, events: [record as EventData] };
            byStream.set(record.streamId, created);
            writes.push(created);
          }
          if (record.rejected !== undefined) rejected.push(record.rejected);
        }
        pending.set(partition, { events: batch.length - rejected.length, rejected });
        return { state, writes };
      },
    },
    onCommit: (progress) => {
      const counted = pending.get(progress.partition);
      pending.delete(progress.partition);
      records += progress.records;
      events += counted?.events ?? 0;
      for (const reason of counted?.rejected ?? []) rejectedBy[reason] = (rejectedBy[reason] ?? 0) + 1;
      options.onCommit?.(progress);
    },
  });

  return {
    topic,
    groupId,
    assignment: () => consumer.assignment(),
    progress: () => consumer.progress(),
    stats: () => ({ records, events, rejected: records - events, rejectedBy: { ...rejectedBy } }),
    stop: () => consumer.stop(),
  };
}
