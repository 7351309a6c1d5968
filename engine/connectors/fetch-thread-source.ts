// The committing thread's side of the fetch thread (fetch-thread.ts): a record source whose
// kafkajs consumer and record mapping run on a worker thread, delivering ingest records decoded
// from one transferred buffer per batch. Seeks, releases, Kafka offset commits and stop go the
// other way as messages, so the consumer behaves exactly as the in-thread one does.
import { Worker } from 'node:worker_threads';
import { createKafka, KafkaConnectorError, silentLogger } from './kafka-client.js';
import type { FetchThreadData, FromFetchThread, ThreadError, ToFetchThread } from './fetch-thread.js';
import { decodeMappedBatch, mappedBatchCount, type IngestRecord } from './mapped-batch.js';
import type { ConsumerSettings, RecordSource, RecordSourceStarter } from './record-source.js';
import type { KafkaIngestMapping } from './record-mapping.js';

function rebuild(operation: string, error: ThreadError): KafkaConnectorError {
  const cause = Object.assign(new Error(error.message), { name: error.name, retriable: error.retriable });
  return new KafkaConnectorError(operation, cause);
}

/**
 * Whether settings can go to a thread: TLS and SASL options may hold functions or objects a
 * message cannot carry (an OAuth token provider, a secure context); those stay on this thread.
 */
export function canCrossThreads(settings: ConsumerSettings): boolean {
  const { logger: _logger, ...rest } = settings;
  try {
    structuredClone(rest);
    return true;
  } catch {
    return false;
  }
}

export function fetchThreadSource(settings: ConsumerSettings, mapping: KafkaIngestMapping): RecordSourceStarter<IngestRecord> {
  return (sink) =>
    new Promise<RecordSource>((resolveStart, rejectStart) => {
      const logger = settings.logger ?? silentLogger;
      // Argument errors (no brokers) surface here as they would on this thread.
      createKafka(settings);
      const { logger: _logger, ...plain } = settings;
      const data: FetchThreadData = { kind: 'telltale-fetch-thread', settings: plain, mapping };
      const worker = new Worker(new URL('./fetch-thread.js', import.meta.url), { workerData: data });
      const send = (message: ToFetchThread): void => worker.postMessage(message);
      let started = false;
      let exited = false;
      let nextCommit = 0;
      const commits = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
      let stopped: { resolve: () => void; reject: (e: Error) => void } | undefined;
      const exit = new Promise<void>((resolve) => worker.once('exit', () => resolve()));

      worker.on('message', (message: FromFetchThread) => {
        switch (message.kind) {
          case 'batch': {
            const { buffer } = message;
            sink.batch(message.partition, { count: mappedBatchCount(buffer), read: () => decodeMappedBatch(buffer) }, message.fetchedOffset);
            break;
          }
          case 'assigned':
            sink.assigned(message.partitions);
            break;
          case 'log':
            logger[message.level](message.message, message.fields);
            break;
          case 'started':
            started = true;
            resolveStart(source);
            break;
          case 'failed':
            rejectStart(rebuild(`consuming ${settings.topic} as group ${settings.groupId}`, message.error));
            break;
          case 'committed': {
            const waiter = commits.get(message.id);
            commits.delete(message.id);
            if (message.error) waiter?.reject(rebuild('committing offsets', message.error));
            else waiter?.resolve();
            break;
          }
          case 'stopped':
            if (message.error) stopped?.reject(rebuild('disconnecting the consumer', message.error));
            else stopped?.resolve();
            break;
        }
      });
      worker.on('error', (e) => {
        // An error the thread did not catch: it is gone, and with it this member's fetching.
        logger.error('the fetch thread failed', { topic: settings.topic, error: e.message });
        if (!started) rejectStart(e);
      });
      worker.once('exit', (code) => {
        exited = true;
        const gone = new Error(`the fetch thread exited (code ${code})`);
        for (const waiter of commits.values()) waiter.reject(gone);
        commits.clear();
        stopped?.resolve();
        if (!started) rejectStart(gone);
      });

      let stopping: Promise<void> | undefined;
      const source: RecordSource = {
        release: (count) => {
          if (!exited) send({ kind: 'release', count });
        },
        seek: (partition, offset) => {
          if (!exited) send({ kind: 'seek', partition, offset });
        },
        commitOffsets: (offsets) => {
          if (offsets.length === 0) return Promise.resolve();
          if (exited) return Promise.reject(new Error('the fetch thread has exited'));
          const id = nextCommit++;
          return new Promise<void>((resolve, reject) => {
            commits.set(id, { resolve, reject });
            send({ kind: 'commit', id, offsets });
          });
        },
        stop: () =>
          (stopping ??= (async () => {
            try {
              if (!exited) {
                const done = new Promise<void>((resolve, reject) => (stopped = { resolve, reject }));
                send({ kind: 'stop' });
                await done;
              }
            } finally {
              await exit;
            }
          })()),
      };
    });
}
