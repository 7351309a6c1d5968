// The fetch thread's entry (see fetch-thread-source.ts for the committing thread's side): it runs
// the group's kafkajs consumer and the record mapping, and posts each fetched batch as one
// transferred buffer of mapped records. Decoding fetch responses and mapping records is most of
// ingest's work that is not the store's, so on a machine with a second core it runs beside the
// store instead of taking turns with it.
//
// It does only what it is told about offsets: seeks and Kafka offset commits come from the
// committing thread, which decides them after its store commits.
import { parentPort, workerData } from 'node:worker_threads';
import type { ConnectorLogger } from './kafka-client.js';
import { encodeMappedMessages, mappedBatchCount } from './mapped-batch.js';
import { runGroupConsumer, type ConsumerSettings, type RecordSource } from './record-source.js';
import { compileMapping, type KafkaIngestMapping } from './record-mapping.js';

/** What the committing thread sends. */
export type ToFetchThread =
  | { readonly kind: 'release'; readonly count: number }
  | { readonly kind: 'seek'; readonly partition: number; readonly offset: bigint }
  | { readonly kind: 'commit'; readonly id: number; readonly offsets: readonly { readonly partition: number; readonly offset: bigint }[] }
  | { readonly kind: 'stop' };

/** A kafkajs error, as the committing thread rebuilds it. */
export interface ThreadError {
  readonly name: string;
  readonly message: string;
  readonly retriable: boolean;
}

/** What the fetch thread sends. */
export type FromFetchThread =
  | { readonly kind: 'batch'; readonly partition: number; readonly fetchedOffset: bigint; readonly buffer: ArrayBuffer }
  | { readonly kind: 'assigned'; readonly partitions: readonly number[] }
  | { readonly kind: 'log'; readonly level: 'info' | 'warn' | 'error'; readonly message: string; readonly fields?: Record<string, unknown> }
  | { readonly kind: 'started' }
  | { readonly kind: 'failed'; readonly error: ThreadError }
  | { readonly kind: 'committed'; readonly id: number; readonly error?: ThreadError }
  | { readonly kind: 'stopped'; readonly error?: ThreadError };

export interface FetchThreadData {
  readonly kind: 'telltale-fetch-thread';
  /** Settings without the logger (log lines are posted instead). */
  readonly settings: Omit<ConsumerSettings, 'logger'>;
  readonly mapping: KafkaIngestMapping;
}

function threadError(e: unknown): ThreadError {
  const error = e instanceof Error ? e : new Error(String(e));
  // A Telltale error from kafka-client keeps its kafkajs cause; the cause is what gets rebuilt.
  const cause = (error as { cause?: unknown }).cause instanceof Error && (error as { kafkaError?: unknown }).kafkaError !== undefined ? ((error as { cause: Error }).cause) : error;
  return { name: cause.name, message: cause.message, retriable: (cause as { retriable?: unknown }).retriable === true };
}

/** Log fields as plain data: kafkajs's may hold errors or functions, which a message cannot carry. */
function plainFields(fields: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (fields === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    out[k] = v instanceof Error ? v.message : typeof v === 'function' || typeof v === 'symbol' ? String(v) : v;
  }
  return out;
}

async function main(port: NonNullable<typeof parentPort>, data: FetchThreadData): Promise<void> {
  const post = (message: FromFetchThread, transfer?: ArrayBuffer[]): void => {
    try {
      port.postMessage(message, transfer);
    } catch (e) {
      // Only a log line's fields can fail to clone: send it without them.
      if (message.kind === 'log') port.postMessage({ ...message, fields: { unreadable: (e as Error).message } });
      else throw e;
    }
  };
  const logger: ConnectorLogger = {
    info: (message, fields) => post({ kind: 'log', level: 'info', message, fields: plainFields(fields) }),
    warn: (message, fields) => post({ kind: 'log', level: 'warn', message, fields: plainFields(fields) }),
    error: (message, fields) => post({ kind: 'log', level: 'error', message, fields: plainFields(fields) }),
  };
  // The batch encoder writes the $kafka coordinates itself, as text.
  const mapper = compileMapping(data.mapping, { asBytes: true, coordinates: false });
  const settings: ConsumerSettings = { ...data.settings, logger };
  let source: RecordSource;
  try {
    source = await runGroupConsumer(settings, {
      deliver: (partition, messages, fetchedOffset) => {
        const buffer = encodeMappedMessages(mapper, settings.topic, partition, messages);
        const count = mappedBatchCount(buffer);
        post({ kind: 'batch', partition, fetchedOffset, buffer }, [buffer]);
        return count;
      },
      assigned: (partitions) => post({ kind: 'assigned', partitions }),
    });
  } catch (e) {
    post({ kind: 'failed', error: threadError(e) });
    port.close();
    return;
  }
  post({ kind: 'started' });
  port.on('message', (message: ToFetchThread) => {
    switch (message.kind) {
      case 'release':
        source.release(message.count);
        break;
      case 'seek':
        try {
          source.seek(message.partition, message.offset);
        } catch (e) {
          logger.warn('seeking failed', { topic: settings.topic, partition: message.partition, error: (e as Error).message });
        }
        break;
      case 'commit':
        void source.commitOffsets(message.offsets).then(
          () => post({ kind: 'committed', id: message.id }),
          (e: unknown) => post({ kind: 'committed', id: message.id, error: threadError(e) }),
        );
        break;
      case 'stop':
        void source
          .stop()
          .then(
            () => post({ kind: 'stopped' }),
            (e: unknown) => post({ kind: 'stopped', error: threadError(e) }),
          )
          .finally(() => port.close());
        break;
    }
  });
}

const data = workerData as FetchThreadData | undefined;
if (parentPort !== null && data?.kind === 'telltale-fetch-thread') void main(parentPort, data);
