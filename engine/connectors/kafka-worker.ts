// `startKafkaWorker`: one member of a consumer group that evaluates rules over a keyed topic. Each
// record is mapped to an event (the ingest mapping), and the events of a partition are folded by
// a processor whose state — partial matches, windows, aggregates — is that partition's state.
// Outputs (alerts), dead letters, and the partition's checkpoint (next offset + state) are one
// atomic write to the shared store (partition-consumer.ts), so when a worker dies the group moves
// its partitions and whoever gets one resumes from exactly the state and offset last committed:
// the outputs of N workers equal those of one process on the same input, killed or not.
//
// Keyed topics keep a key's records in one partition and in order, so a processor whose state is
// per key (per card, per account) sees each key's events in the order one process would.
import { InvalidArgumentError } from '../../store/errors.js';
import type { Store, StreamWrite } from '../../store/types.js';
import { canCrossThreads, fetchThreadSource } from './fetch-thread-source.js';
import { requireText, type KafkaConnection } from './kafka-client.js';
import { nameBasedUuid } from './kafka-record.js';
import { mapMessages, type IngestRecord } from './mapped-batch.js';
import { startPartitionConsumer, type CommitProgress } from './partition-consumer.js';
import { inThreadSource } from './record-source.js';
import { compileMapping, type KafkaIngestMapping } from './record-mapping.js';

/** An input event as a processor sees it: the mapped record, with where it came from. */
export interface WorkerEvent {
  readonly streamId: string;
  /** The id the event has if it is also ingested (`kafkaEventId`). */
  readonly id: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly partition: number;
  readonly offset: bigint;
  /** The record's timestamp (ms), usable as event time. */
  readonly timestamp: number;
  /** `data` as UTF-8 JSON text, when the event has it (a processor that passes data on as JSON need not serialise it again). */
  readonly dataBytes?: Uint8Array;
  /** `metadata` as UTF-8 JSON text, when the event has it. */
  readonly metadataBytes?: Uint8Array;
}

const decoder = new TextDecoder();

function jsonBytes(value: unknown, what: string): Buffer {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new InvalidArgumentError(`The ${what} is not serialisable as JSON: ${(e as Error).message}`);
  }
  if (text === undefined) throw new InvalidArgumentError(`The ${what} is not a JSON value (${typeof value})`);
  return Buffer.from(text, 'utf8');
}
const UNREAD: unique symbol = Symbol('unread');

/**
 * A worker event over a mapped record's JSON bytes: data and metadata are parsed when a processor
 * first reads them, so a rule that reads few events (or hands the bytes to an isolate) parses few.
 * They are accessors on the prototype: `{ ...event }` does not copy them.
 */
class MappedEvent implements WorkerEvent {
  #data: unknown = UNREAD;
  #metadata: Readonly<Record<string, unknown>> | typeof UNREAD = UNREAD;
  readonly streamId: string;
  readonly id: string;
  readonly type: string;
  readonly offset: bigint;
  readonly timestamp: number;
  readonly dataBytes: Uint8Array;
  readonly metadataBytes: Uint8Array;
  constructor(
    record: IngestRecord,
    readonly partition: number,
  ) {
    this.streamId = record.streamId;
    this.id = record.id!;
    this.type = record.type;
    this.offset = record.offset;
    this.timestamp = record.timestamp;
    this.dataBytes = record.data as Uint8Array;
    this.metadataBytes = record.metadata as Uint8Array;
  }
  get data(): unknown {
    if (this.#data === UNREAD) this.#data = JSON.parse(decoder.decode(this.dataBytes));
    return this.#data;
  }
  get metadata(): Readonly<Record<string, unknown>> {
    if (this.#metadata === UNREAD) this.#metadata = JSON.parse(decoder.decode(this.metadataBytes)) as Record<string, unknown>;
    return this.#metadata;
  }
  /** `data` and `metadata` are accessors, which JSON.stringify would leave out: it gets them here. */
  toJSON(): object {
    const { streamId, id, type, data, metadata, partition, offset, timestamp } = this;
    return { streamId, id, type, data, metadata, partition, offset: offset.toString(), timestamp };
  }
}

/** An event a processor emits, and the input event that caused it. */
export interface WorkerOutput {
  readonly streamId: string;
  readonly type: string;
  readonly data?: unknown;
  readonly metadata?: Readonly<Record<string, unknown>>;
  readonly causedBy: WorkerEvent;
}

export interface ProcessResult<S> {
  readonly state: S;
  readonly outputs: readonly WorkerOutput[];
}

/**
 * Rule evaluation for one partition. It must be deterministic — same state and events, same
 * result — so a partition replayed from its checkpoint gives the outputs it would have given.
 */
export interface PartitionProcessor<S> {
  initialState(partition: number): S;
  /** The partition's events in offset order; the state may be updated in place. */
  process(state: S, events: readonly WorkerEvent[], partition: number): ProcessResult<S> | Promise<ProcessResult<S>>;
  /** Called when this worker no longer owns a partition (it moved in a rebalance): free what it holds. */
  release?(partition: number): void;
}

export interface KafkaWorkerOptions<S> extends KafkaConnection {
  /** The shared store (e.g. `redis://…`): outputs, dead letters and checkpoints go there. */
  readonly store: Store;
  readonly topic: string;
  /** Names the checkpoints and the output ids; every worker of one deployment uses the same name. */
  readonly name: string;
  /** @defaultValue `telltale-worker-{name}` */
  readonly groupId?: string;
  readonly mapping: KafkaIngestMapping;
  readonly processor: PartitionProcessor<S>;
  /** Also store the input events in their streams (what `startKafkaIngest` would write). @defaultValue false */
  readonly ingest?: boolean;
  readonly fromBeginning?: boolean;
  /** Most records per atomic commit, all partitions together. @defaultValue 20000 */
  readonly maxRecordsPerCommit?: number;
  readonly maxQueuedRecords?: number;
  readonly partitionsConcurrently?: number;
  /** How soon a dead worker's partitions move. @defaultValue 30000 */
  readonly sessionTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  /**
   * Fetch and map records on a worker thread of their own, beside the thread that runs the rules
   * and the store (settings a thread cannot be given stay on this one). It raises throughput when
   * a core is free; on a machine whose cores are all busy the hop between threads costs latency
   * (produce → alert p99 rose by about a third under load), so a worker, whose job is to alert
   * soon, fetches on its own thread unless told otherwise. @defaultValue false
   */
  readonly fetchThread?: boolean;
  readonly onCommit?: (progress: CommitProgress) => void;
  /** Called with this worker's partitions after every rebalance. */
  readonly onAssign?: (partitions: readonly number[]) => void;
}

export interface KafkaWorker {
  readonly name: string;
  readonly groupId: string;
  assignment(): readonly number[];
  progress(): ReadonlyMap<number, bigint>;
  stop(): Promise<void>;
}

export function workerCheckpointStream(name: string, topic: string, partition: number): string {
  return `$kafka-worker-${name}-${topic}-${partition}`;
}

/** Output ids depend on the worker's name, the causing record and the output's rank among its outputs. */
export function workerOutputId(name: string, cause: WorkerEvent, topic: string, rank: number): string {
  return nameBasedUuid('telltale:kafka-worker', `${name}\u0000${topic}\u0000${cause.partition}\u0000${cause.offset}\u0000${rank}`);
}

export async function startKafkaWorker<S>(options: KafkaWorkerOptions<S>): Promise<KafkaWorker> {
  const name = requireText(options.name, 'name');
  const topic = requireText(options.topic, 'topic');
  const groupId = requireText(options.groupId ?? `telltale-worker-${name}`, 'groupId');
  // Events keep the record's JSON bytes: the processor parses what it reads (see MappedEvent).
  const mapper = compileMapping(options.mapping, { asBytes: true });
  const { processor } = options;
  let owned = new Set<number>();

  const consumer = await startPartitionConsumer<S, IngestRecord>({
    ...options,
    topic,
    groupId,
    checkpointStream: (partition) => workerCheckpointStream(name, topic, partition),
    source: (settings) =>
      options.fetchThread === true && canCrossThreads(settings)
        ? fetchThreadSource(settings, options.mapping)
        : inThreadSource(settings, (t, partition, messages) => mapMessages(mapper, t, partition, messages)),
    onAssign: (partitions) => {
      const now = new Set(partitions);
      for (const p of owned) if (!now.has(p)) processor.release?.(p);
      owned = now;
      options.onAssign?.(partitions);
    },
    fold: {
      initialState: (partition) => processor.initialState(partition),
      fold: async (state, records, partition) => {
        const writes: StreamWrite[] = [];
        const events: WorkerEvent[] = [];
        for (const record of records) {
          if (record.rejected !== undefined) {
            writes.push({ streamId: record.streamId, events: [record] });
            continue;
          }
          if (options.ingest === true) writes.push({ streamId: record.streamId, events: [record] });
          events.push(new MappedEvent(record, partition));
        }
        const result = events.length > 0 ? await processor.process(state, events, partition) : { state, outputs: [] };
        const ranks = new Map<bigint, number>();
        for (const output of result.outputs) {
          const rank = ranks.get(output.causedBy.offset) ?? 0;
          ranks.set(output.causedBy.offset, rank + 1);
          writes.push({
            streamId: output.streamId,
            events: [
              {
                id: workerOutputId(name, output.causedBy, topic, rank),
                type: output.type,
                // Serialised now: the next batch's fold may start (and change what the processor
                // keeps) before the store has taken this commit.
                data: output.data === undefined || output.data instanceof Uint8Array ? output.data : jsonBytes(output.data, `output ${output.type} data`),
                isJson: !(output.data instanceof Uint8Array),
                metadata: jsonBytes({ ...output.metadata, $causationId: output.causedBy.id, $correlationId: output.metadata?.$correlationId ?? output.causedBy.metadata.$correlationId ?? output.causedBy.id }, `output ${output.type} metadata`),
              },
            ],
          });
        }
        return { state: result.state, writes };
      },
    },
  });

  return { name, groupId, assignment: () => consumer.assignment(), progress: () => consumer.progress(), stop: () => consumer.stop() };
}
