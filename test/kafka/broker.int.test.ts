// Smoke test of the Kafka broker the integration tests use (scripts/kafka.sh, or KAFKA_BROKERS):
// create a topic, produce keyed messages, read them back through a consumer group, and check that
// each partition hands them back complete, once each, and in the order they were produced.
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { Kafka, Partitioners, logLevel, type Admin, type Consumer, type Producer } from 'kafkajs';
import { kafkaBrokers, requireKafka } from '../support/kafka.js';

interface Received {
  partition: number;
  offset: number;
  key: string;
  seq: number;
  header: string;
}

describe('Kafka broker (int)', function () {
  this.timeout(60_000);

  const run = randomUUID().slice(0, 8);
  const topic = `telltale-smoke-${run}`;
  const groupId = `telltale-smoke-group-${run}`;
  const partitions = 3;
  const total = 100;
  const keys = 10;
  const kafka = new Kafka({ clientId: 'telltale-test', brokers: kafkaBrokers, logLevel: logLevel.ERROR });
  let admin: Admin | undefined;
  let producer: Producer | undefined;
  let consumer: Consumer | undefined;

  before(async function () {
    await requireKafka(this);
    admin = kafka.admin();
    await admin.connect();
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    expect(created, 'the topic is new').to.equal(true);
  });

  after(async () => {
    await consumer?.disconnect().catch(() => undefined);
    await producer?.disconnect().catch(() => undefined);
    if (admin) {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.deleteGroups([groupId]).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it('lists the new topic with its partitions', async () => {
    const metadata = await admin!.fetchTopicMetadata({ topics: [topic] });
    expect(metadata.topics).to.have.length(1);
    expect(metadata.topics[0]!.partitions.map((p) => p.partitionId).sort()).to.deep.equal([0, 1, 2]);
  });

  it('delivers 100 keyed messages to a consumer group, in order within each partition', async () => {
    producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true });
    await producer.connect();
    const messages = Array.from({ length: total }, (_, seq) => ({
      key: `key-${seq % keys}`,
      value: JSON.stringify({ seq, body: `payload ${seq}` }),
      headers: { 'telltale-seq': String(seq) },
    }));
    // Four requests of 25, so ordering holds across produce requests, not only within one batch.
    const partitionOfKey = new Map<string, number>();
    for (let i = 0; i < total; i += 25) {
      const metadata = await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 25) });
      expect(metadata.every((m) => m.errorCode === 0)).to.equal(true);
    }

    const received: Received[] = [];
    consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const allIn = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${received.length} of ${total} messages arrived`)), 30_000);
      void consumer!.run({
        eachMessage: async ({ partition, message }) => {
          const value = JSON.parse(message.value!.toString()) as { seq: number; body: string };
          expect(value.body).to.equal(`payload ${value.seq}`);
          received.push({
            partition,
            offset: Number(message.offset),
            key: message.key!.toString(),
            seq: value.seq,
            header: message.headers?.['telltale-seq']?.toString() ?? '',
          });
          if (received.length >= total) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    await allIn;
    await consumer.stop();

    // Every message exactly once, with its key and header intact.
    expect(received).to.have.length(total);
    expect(received.map((r) => r.seq).sort((a, b) => a - b)).to.deep.equal(messages.map((_, seq) => seq));
    for (const r of received) {
      expect(r.key).to.equal(`key-${r.seq % keys}`);
      expect(r.header).to.equal(String(r.seq));
      const p = partitionOfKey.get(r.key);
      if (p === undefined) partitionOfKey.set(r.key, r.partition);
      else expect(r.partition, `every message of ${r.key} is on one partition`).to.equal(p);
    }
    // Within a partition: offsets 0, 1, 2, ... and sequence numbers in produce order.
    const used = new Set(received.map((r) => r.partition));
    expect(used.size, 'ten keys spread over more than one partition').to.be.greaterThan(1);
    for (const partition of used) {
      const mine = received.filter((r) => r.partition === partition);
      expect(mine.map((r) => r.offset)).to.deep.equal(mine.map((_, i) => i));
      const seqs = mine.map((r) => r.seq);
      expect(seqs).to.deep.equal([...seqs].sort((a, b) => a - b));
    }

    // The group committed its position: what it read is what the partitions hold.
    const committed = new Map<number, number>();
    const deadline = Date.now() + 10_000;
    for (;;) {
      const [offsets] = await admin!.fetchOffsets({ groupId, topics: [topic] });
      for (const p of offsets?.partitions ?? []) committed.set(p.partition, Number(p.offset));
      const sum = [...committed.values()].filter((o) => o > 0).reduce((a, b) => a + b, 0);
      if (sum === total || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const partition of used) {
      expect(committed.get(partition), `committed offset of partition ${partition}`).to.equal(
        received.filter((r) => r.partition === partition).length,
      );
    }
  });
});
