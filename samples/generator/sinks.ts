// Where generated traffic goes: JSON Lines (a file or stdout, for `telltale import` and
// `telltale test --given`), a running server over its HTTP API, or a Kafka topic that
// `telltale ingest kafka` reads.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { GeneratedEvent } from './traffic.js';
import { toEventLine } from './traffic.js';

export interface EventSink {
  write(events: readonly GeneratedEvent[]): Promise<void>;
  close(): Promise<void>;
}

export function jsonLinesSink(path: string | '-'): EventSink {
  const out = path === '-' ? process.stdout : createWriteStream(path, { encoding: 'utf8' });
  return {
    async write(events) {
      const text = events.map((e) => `${toEventLine(e)}\n`).join('');
      if (!out.write(text)) await once(out, 'drain');
    },
    async close() {
      if (out === process.stdout) return;
      await new Promise<void>((resolve, reject) => (out as ReturnType<typeof createWriteStream>).end((err?: Error | null) => (err ? reject(err) : resolve())));
    },
  };
}

export interface HttpSinkOptions {
  /** e.g. http://127.0.0.1:2113 */
  readonly url: string;
  /** user:password. @defaultValue admin:changeit (Event Store's default) */
  readonly credentials?: string;
}

/**
 * Appends over Event Store's HTTP API: one POST of `application/vnd.eventstore.events+json` per
 * stream and batch, in order. Event ids make a retried batch idempotent.
 */
export function httpSink(options: HttpSinkOptions): EventSink {
  const auth = `Basic ${Buffer.from(options.credentials ?? 'admin:changeit').toString('base64')}`;
  const base = options.url.replace(/\/+$/, '');
  return {
    async write(events) {
      // Consecutive events of one stream go together; order across streams is kept.
      for (let i = 0; i < events.length; ) {
        let j = i + 1;
        while (j < events.length && events[j]!.streamId === events[i]!.streamId) j++;
        const batch = events.slice(i, j);
        const body = JSON.stringify(batch.map((e) => ({ eventId: e.id, eventType: e.type, data: e.data, ...(e.metadata ? { metadata: e.metadata } : {}) })));
        const response = await fetch(`${base}/streams/${encodeURIComponent(events[i]!.streamId)}`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/vnd.eventstore.events+json', Authorization: auth },
          body,
        });
        const text = await response.text();
        if (!response.ok) throw new Error(`append to ${events[i]!.streamId} failed: HTTP ${response.status} ${text.slice(0, 200)}`);
        i = j;
      }
    },
    async close() {},
  };
}

export interface KafkaSinkOptions {
  readonly brokers: readonly string[];
  readonly topic: string;
}

/**
 * Produces one record per event: key = stream id, header `type` = event type, value = the event
 * line ({streamId, id, type, data, metadata}). Read it back with
 * `telltale ingest kafka --topic T --stream '{key}' --type '{headers.type}' --data data.data`
 * (the record's value is the whole event line; its `data` field is the event's data).
 */
export async function kafkaSink(options: KafkaSinkOptions): Promise<EventSink> {
  const { Kafka } = await import('kafkajs');
  const producer = new Kafka({ clientId: 'telltale-generator', brokers: [...options.brokers] }).producer();
  await producer.connect();
  return {
    async write(events) {
      await producer.send({
        topic: options.topic,
        messages: events.map((e) => ({ key: e.streamId, value: toEventLine(e), headers: { type: e.type } })),
      });
    },
    async close() {
      await producer.disconnect();
    },
  };
}
