// What the Kafka suites share: a throwaway topic per test with its partitions, a producer, a way
// to read a topic back whole, and polling the store until a condition holds (no sleeps).
import { randomUUID } from 'node:crypto';
import { Kafka, Partitioners, logLevel, type Admin, type Message, type Producer } from 'kafkajs';
import { kafkaBrokers } from '../support/kafka.js';

export const kafka = new Kafka({ clientId: 'telltale-test', brokers: kafkaBrokers, logLevel: logLevel.NOTHING });

export class TopicFixture {
  readonly created: string[] = [];
  readonly groups: string[] = [];
  #admin: Admin | undefined;
  #producer: Producer | undefined;

  async admin(): Promise<Admin> {
    if (!this.#admin) {
      this.#admin = kafka.admin();
      await this.#admin.connect();
    }
    return this.#admin;
  }

  async topic(prefix: string, partitions: number): Promise<string> {
    const topic = `telltale-${prefix}-${randomUUID().slice(0, 8)}`;
    await (await this.admin()).createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
    this.created.push(topic);
    return topic;
  }

  group(prefix: string): string {
    const group = `telltale-${prefix}-${randomUUID().slice(0, 8)}`;
    this.groups.push(group);
    return group;
  }

  async produce(topic: string, messages: Message[], chunk = 1000): Promise<void> {
    if (!this.#producer) {
      this.#producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1 });
      await this.#producer.connect();
    }
    for (let i = 0; i < messages.length; i += chunk) {
      await this.#producer.send({ topic, acks: -1, messages: messages.slice(i, i + chunk) });
    }
  }

  /** Everything the topic holds now, partition by partition in offset order, read without a group. */
  async readAll(topic: string): Promise<{ partition: number; offset: string; key: string | null; value: Buffer | null; headers: Record<string, string> }[]> {
    const admin = await this.admin();
    const ends = await admin.fetchTopicOffsets(topic);
    const want = new Map(ends.map((p) => [p.partition, Number(p.high)]));
    const total = [...want.values()].reduce((a, b) => a + b, 0);
    const out: { partition: number; offset: string; key: string | null; value: Buffer | null; headers: Record<string, string> }[] = [];
    if (total === 0) return out;
    const consumer = kafka.consumer({ groupId: this.group('reader') });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${out.length} of ${total} messages of ${topic}`)), 30_000);
      void consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(Array.isArray(v) ? v[0] : v);
          out.push({ partition, offset: message.offset, key: message.key?.toString() ?? null, value: message.value, headers });
          if (out.length >= total) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    return out.sort((a, b) => a.partition - b.partition || Number(a.offset) - Number(b.offset));
  }

  async cleanup(): Promise<void> {
    await this.#producer?.disconnect().catch(() => undefined);
    if (this.#admin) {
      await this.#admin.deleteTopics({ topics: this.created }).catch(() => undefined);
      await this.#admin.deleteGroups(this.groups).catch(() => undefined);
      await this.#admin.disconnect();
    }
  }
}

/** Polls until `check` returns true (or a value), failing with `what` after `timeoutMs`. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
