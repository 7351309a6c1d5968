// `startKafkaSink`: publishes the events of chosen streams to a topic. It follows `$all` with a
// filtered catch-up subscription from a checkpoint kept in the store, sends what has arrived as
// one produce request (idempotent producer, acks from all in-sync replicas), and moves the
// checkpoint only after Kafka acknowledged the batch. A crash between the acknowledgement and the
// checkpoint re-sends that batch on restart: delivery is at-least-once, never with a gap, and
// every message carries its event id in the `telltale-event-id` header so consumers deduplicate.
import type { Message, Producer } from 'kafkajs';
import { InvalidArgumentError, WrongExpectedRevisionError } from '../../store/errors.js';
import type { EventFilter, ExpectedRevision, RecordedEvent, Store, Subscription } from '../../store/types.js';
import { compileTemplate, pathValue, renderTemplate } from './field-template.js';
import { createKafka, requireText, silentLogger, translateKafkaError, type KafkaConnection } from './kafka-client.js';

export const SINK_CHECKPOINT_EVENT_TYPE = '$kafka-sink-checkpoint';

/** Header names every published message carries. */
export const SINK_HEADERS = {
  eventId: 'telltale-event-id',
  eventType: 'telltale-event-type',
  stream: 'telltale-stream',
  revision: 'telltale-revision',
  position: 'telltale-position',
  contentType: 'content-type',
  metadata: 'telltale-metadata',
} as const;

export interface KafkaSinkOptions extends KafkaConnection {
  readonly store: Store;
  readonly topic: string;
  /** Which events to publish, as for a `$all` subscription, e.g. `{ streamNamePrefix: ['alerts'] }`. */
  readonly filter: EventFilter;
  /** Names the sink's checkpoint (`$kafka-sink-{name}`); two sinks with one name fence each other. @defaultValue the topic */
  readonly name?: string;
  /**
   * The message key: a template over `stream`, `type`, `id`, `data.…`, `metadata.…`, e.g. `{data.cardId}`.
   * An event the template cannot key is keyed by its stream. @defaultValue `'{stream}'`
   */
  readonly key?: string;
  /** Most events per produce request. @defaultValue 1000 */
  readonly maxBatch?: number;
  readonly onPublished?: (position: bigint, count: number) => void;
}

export interface KafkaSink {
  /** The `$all` position of the last event Kafka acknowledged (and the checkpoint holds), or -1n. */
  position(): bigint;
  published(): number;
  /** Resolves once every event up to `position` was acknowledged by Kafka. */
  whenPublished(position: bigint): Promise<void>;
  /** Resolves when the sink stops; rejects with the error that stopped it. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

export function sinkCheckpointStream(name: string): string {
  return `$kafka-sink-${name}`;
}

export async function startKafkaSink(options: KafkaSinkOptions): Promise<KafkaSink> {
  const topic = requireText(options.topic, 'topic');
  const name = requireText(options.name ?? topic, 'name');
  const { store } = options;
  if (options.filter === null || typeof options.filter !== 'object') throw new InvalidArgumentError('A sink needs a filter naming the events to publish');
  const logger = options.logger ?? silentLogger;
  const keyTemplate = compileTemplate(options.key ?? '{stream}', ['stream', 'type', 'id', 'data', 'metadata']);
  const maxBatch = options.maxBatch ?? 1000;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new InvalidArgumentError('maxBatch must be a positive integer');
  const checkpointStream = sinkCheckpointStream(name);

  let { position, revision } = await readSinkCheckpoint(store, checkpointStream);
  let published = 0;
  const waiters: { position: bigint; resolve: () => void; reject: (e: unknown) => void }[] = [];

  const producer: Producer = createKafka({ ...options, clientId: options.clientId ?? `telltale-sink-${name}` }).producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: true,
  });
  try {
    await producer.connect();
  } catch (e) {
    throw translateKafkaError(`connecting the producer for ${topic}`, e);
  }

  const toMessage = (event: RecordedEvent): Message => {
    const key = renderTemplate(keyTemplate, (path) => {
      switch (path[0]) {
        case 'stream':
          return path.length === 1 ? event.streamId : undefined;
        case 'type':
          return path.length === 1 ? event.type : undefined;
        case 'id':
          return path.length === 1 ? event.id : undefined;
        case 'data':
          return event.isJson ? pathValue(event.data, path) : undefined;
        default:
          return pathValue(event.metadata, path);
      }
    });
    const headers: Record<string, string | Buffer> = {
      [SINK_HEADERS.eventId]: event.id,
      [SINK_HEADERS.eventType]: event.type,
      [SINK_HEADERS.stream]: event.streamId,
      [SINK_HEADERS.revision]: event.revision.toString(),
      [SINK_HEADERS.position]: event.position.toString(),
      [SINK_HEADERS.contentType]: event.isJson ? 'application/json' : 'application/octet-stream',
    };
    if (event.metadataBytes.length > 0) headers[SINK_HEADERS.metadata] = Buffer.from(event.metadataBytes);
    return {
      key: typeof key === 'string' ? key : event.streamId,
      value: Buffer.from(event.dataBytes.buffer, event.dataBytes.byteOffset, event.dataBytes.byteLength),
      headers,
      timestamp: String(event.created.getTime()),
    };
  };

  const buffer: RecordedEvent[] = [];
  let flushing: Promise<void> | undefined;
  let failure: unknown;
  let subscription: Subscription | undefined;

  const flush = async (): Promise<void> => {
    while (buffer.length > 0 && failure === undefined) {
      const batch = buffer.splice(0, maxBatch);
      const last = batch[batch.length - 1]!.position;
      try {
        await producer.send({ topic, acks: -1, messages: batch.map(toMessage) });
      } catch (e) {
        throw translateKafkaError(`publishing to ${topic}`, e);
      }
      const expected: ExpectedRevision = revision < 0n ? 'no_stream' : revision;
      const result = await store.appendToStream(checkpointStream, [{ type: SINK_CHECKPOINT_EVENT_TYPE, data: { topic, position: last.toString() } }], { expectedRevision: expected });
      revision = result.nextExpectedRevision;
      position = last;
      published += batch.length;
      options.onPublished?.(last, batch.length);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i]!.position <= position) waiters.splice(i, 1)[0]!.resolve();
      }
    }
  };

  // One flush at a time; events that arrive meanwhile go out in the next produce request, so
  // batches grow with the load instead of one request per event.
  const startFlush = (): Promise<void> | undefined => {
    if (flushing !== undefined || failure !== undefined || buffer.length === 0) return flushing;
    flushing = flush()
      .catch((e: unknown) => {
        failure = e;
        if (e instanceof WrongExpectedRevisionError) logger.error(`another sink named '${name}' moved the checkpoint; stopping`, { topic });
        else logger.error('the sink stopped', { topic, error: (e as Error).message });
        for (const w of waiters.splice(0)) w.reject(e);
        void subscription?.close();
      })
      .finally(() => {
        flushing = undefined;
        void startFlush();
      });
    return flushing;
  };

  subscription = store.subscribeToAll({ fromPosition: position < 0n ? 'start' : position, filter: options.filter });
  const pump = async (): Promise<void> => {
    for await (const event of subscription!) {
      if (event.streamId === checkpointStream) continue;
      buffer.push(event);
      void startFlush();
      // Back-pressure: a slow broker holds the subscription back instead of filling memory.
      if (buffer.length >= maxBatch * 4) await flushing;
      if (failure !== undefined) break;
    }
    void startFlush();
    while (flushing) await flushing;
  };

  const done = pump()
    .then(() => {
      if (failure !== undefined) throw failure;
    })
    .finally(() => producer.disconnect().catch(() => undefined));
  done.catch(() => undefined); // observed through `done`; must not be an unhandled rejection meanwhile

  return {
    position: () => position,
    published: () => published,
    whenPublished: (target) => {
      if (failure !== undefined) return Promise.reject(failure);
      if (target <= position) return Promise.resolve();
      return new Promise((resolve, reject) => waiters.push({ position: target, resolve, reject }));
    },
    done,
    stop: async () => {
      await subscription!.close();
      await done.catch(() => undefined);
    },
  };
}

/** The sink's resume point: the `$all` position of the last acknowledged event. */
export async function readSinkCheckpoint(store: Store, streamId: string): Promise<{ position: bigint; revision: bigint }> {
  const info = await store.getStreamInfo(streamId);
  if (info.lastRevision < 0n || info.softDeleted || info.tombstoned) return { position: -1n, revision: info.lastRevision };
  for await (const event of store.readStream(streamId, { direction: 'backwards', maxCount: 1 })) {
    const data = event.data as { position?: string };
    if (typeof data.position !== 'string') throw new InvalidArgumentError(`Stream '${streamId}' does not hold a sink checkpoint`);
    return { position: BigInt(data.position), revision: event.revision };
  }
  return { position: -1n, revision: info.lastRevision };
}
