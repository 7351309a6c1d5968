// Kafka ingest against the real broker: records become events in the streams the mapping names,
// with ids derived from their coordinates; redelivered records are never stored twice; bad
// records are dead-lettered and ingestion carries on.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type RecordedEvent, type Store } from '../../index.js';
import { ingestCheckpointStream, kafkaEventId, startKafkaIngest, type KafkaIngest } from '../../engine/connectors/index.js';
import { expect } from '../support/chai.js';
import { kafkaBrokers, requireKafka } from '../support/kafka.js';
import { ReportingChild } from './child-process.js';
import { eventually, TopicFixture } from './kafka-topics.js';

async function collect(iterable: AsyncIterable<RecordedEvent>): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const e of iterable) out.push(e);
  return out;
}

async function userEvents(store: Store): Promise<RecordedEvent[]> {
  return collect(store.readAll({ filter: { excludeSystemEvents: true, streamNameRegex: '^(?!\\$)' } }));
}

describe('startKafkaIngest (int)', function () {
  this.timeout(90_000);
  const topics = new TopicFixture();
  let store: Store;
  let ingest: KafkaIngest | undefined;

  before(async function () {
    await requireKafka(this);
  });
  beforeEach(async () => {
    store = await openStore('memory:');
  });
  afterEach(async () => {
    await ingest?.stop();
    ingest = undefined;
    await store.close();
  });
  after(() => topics.cleanup());

  it('maps each record to the stream, type and data the mapping names, with ids from topic, partition and offset', async () => {
    const topic = await topics.topic('ingest', 3);
    const messages = Array.from({ length: 300 }, (_, i) => ({
      key: `card-${i % 7}`,
      value: JSON.stringify({ cardId: `c${i % 7}`, amount: i, kind: i % 2 === 0 ? 'Charge' : 'Refund' }),
      headers: { type: i % 2 === 0 ? 'PaymentCharged' : 'PaymentRefunded' },
    }));
    await topics.produce(topic, messages);
    ingest = await startKafkaIngest({ store, brokers: kafkaBrokers, topic, groupId: topics.group('ingest'), mapping: { stream: 'payments-{key}', type: '{headers.type}' } });
    await eventually('all 300 records are ingested', () => ingest!.stats().records === 300);

    const all = await userEvents(store);
    expect(all).to.have.length(300);
    const fromKafka = await topics.readAll(topic);
    for (const record of fromKafka) {
      const value = JSON.parse(record.value!.toString()) as { amount: number };
      const stored = all.find((e) => e.id === kafkaEventId(topic, record.partition, BigInt(record.offset)));
      expect(stored, `record ${record.partition}/${record.offset}`).to.not.equal(undefined);
      expect(stored!.streamId).to.equal(`payments-${record.key}`);
      expect(stored!.type).to.equal(record.headers.type);
      expect(stored!.isJson).to.equal(true);
      expect(stored!.data).to.deep.equal(value);
      expect(stored!.metadata.$kafka).to.deep.include({ topic, partition: record.partition, offset: record.offset, key: record.key });
    }
    // Within a stream, events are in the order of their partition's offsets.
    for (let k = 0; k < 7; k++) {
      const stream = await collect(store.readStream(`payments-card-${k}`));
      const offsets = stream.map((e) => BigInt((e.metadata.$kafka as { offset: string }).offset));
      expect(offsets).to.deep.equal([...offsets].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    }
  });

  it('takes the stream and type from JSON fields', async () => {
    const topic = await topics.topic('ingest-fields', 1);
    await topics.produce(topic, [{ key: null, value: JSON.stringify({ cardId: 'c1', kind: 'Charged', payload: { amount: 5 } }) }]);
    ingest = await startKafkaIngest({ store, brokers: kafkaBrokers, topic, groupId: topics.group('ingest'), mapping: { stream: 'card-{data.cardId}', type: '{data.kind}', data: 'data.payload' } });
    await eventually('the record is ingested', () => ingest!.stats().records === 1);
    const [event] = await collect(store.readStream('card-c1'));
    expect(event!.type).to.equal('Charged');
    expect(event!.data).to.deep.equal({ amount: 5 });
  });

  it('stores nothing twice when Kafka redelivers records it had already delivered', async () => {
    const topic = await topics.topic('ingest-redeliver', 2);
    const groupId = topics.group('ingest');
    await topics.produce(topic, Array.from({ length: 200 }, (_, i) => ({ key: `k${i % 5}`, value: JSON.stringify({ i }) })));
    const mapping = { stream: 'redeliver-{key}', type: 'Thing' };
    ingest = await startKafkaIngest({ store, brokers: kafkaBrokers, topic, groupId, mapping, maxRecordsPerCommit: 30 });
    await eventually('200 records are ingested', () => ingest!.stats().records === 200);
    await ingest.stop();

    // Rewind the group to the start: Kafka delivers all 200 again.
    const admin = await topics.admin();
    await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '0' }, { partition: 1, offset: '0' }] });
    let seen = 0;
    ingest = await startKafkaIngest({ store, brokers: kafkaBrokers, topic, groupId, mapping, onCommit: () => seen++ });
    await topics.produce(topic, [{ key: 'k0', value: JSON.stringify({ i: 200 }) }]);
    await eventually('the one new record is ingested', () => ingest!.stats().records === 1);
    expect((await userEvents(store)).length).to.equal(201);
    expect(ingest.stats().records, 'only the new record was written').to.equal(1);
    expect(seen).to.equal(1);
  });

  it('commits Kafka offsets only for records in the store, and keeps its checkpoint per partition', async () => {
    const topic = await topics.topic('ingest-offsets', 2);
    const groupId = topics.group('ingest');
    await topics.produce(topic, Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 10}`, value: JSON.stringify({ i }) })));
    ingest = await startKafkaIngest({ store, brokers: kafkaBrokers, topic, groupId, mapping: { stream: 'offsets-{key}', type: 'Thing' } });
    await eventually('50 records are ingested', () => ingest!.stats().records === 50);
    await ingest.stop();
    ingest = undefined;
    const [offsets] = await (await topics.admin()).fetchOffsets({ groupId, topics: [topic] });
    const ends = await (await topics.admin()).fetchTopicOffsets(topic);
    for (const p of offsets!.partitions) {
      const end = ends.find((e) => e.partition === p.partition)!.high;
      expect(end, 'ten keys reach both partitions').to.not.equal('0');
      expect(p.offset, `partition ${p.partition}`).to.equal(end);
      const [checkpoint] = await collect(store.readStream(ingestCheckpointStream(groupId, topic, p.partition), { direction: 'backwards', maxCount: 1 }));
      expect((checkpoint!.data as { nextOffset: string }).nextOffset).to.equal(end);
    }
  });

  it('dead-letters records that are not JSON, too large or missing a field, and goes on', async () => {
    const topic = await topics.topic('ingest-bad', 1);
    await topics.produce(topic, [
      { key: 'a', value: JSON.stringify({ cardId: 'c1' }), headers: { type: 'Good' } },
      { key: 'a', value: 'not json {', headers: { type: 'Good' } },
      { key: 'a', value: Buffer.from([0xff, 0xfe, 0x00, 0x01]), headers: { type: 'Good' } },
      { key: 'a', value: JSON.stringify({ cardId: 'c2', pad: 'x'.repeat(3000) }), headers: { type: 'Good' } },
      { key: 'a', value: JSON.stringify({ other: 1 }), headers: { type: 'Good' } },
      { key: 'a', value: JSON.stringify({ cardId: 'c3' }) },
      { key: 'a', value: null, headers: { type: 'Good' } },
      { key: 'a', value: JSON.stringify({ cardId: 'c4' }), headers: { type: 'Good' } },
    ]);
    ingest = await startKafkaIngest({
      store,
      brokers: kafkaBrokers,
      topic,
      groupId: topics.group('ingest'),
      mapping: { stream: 'card-{data.cardId}', type: '{headers.type}', maxRecordBytes: 2048 },
    });
    await eventually('all 8 records are handled', () => ingest!.stats().records === 8);
    expect(ingest.stats()).to.deep.include({ events: 2, rejected: 6 });
    expect(ingest.stats().rejectedBy).to.deep.equal({ 'not-json': 2, 'too-large': 1, 'missing-field': 2, 'no-value': 1 });
    expect((await collect(store.readStream('card-c1'))).map((e) => e.type)).to.deep.equal(['Good']);
    expect((await collect(store.readStream('card-c4'))).map((e) => e.type)).to.deep.equal(['Good']);

    const dead = await collect(store.readStream(`$kafka-deadletter-${topic}`));
    expect(dead.map((e) => (e.data as { reason: string; offset: string }).offset)).to.deep.equal(['1', '2', '3', '4', '5', '6']);
    const [notJson, binary, large, missing, missingHeader, noValue] = dead.map((e) => e.data as Record<string, unknown>);
    expect(notJson).to.deep.include({ reason: 'not-json', value: 'not json {', valueEncoding: 'utf8', key: 'a', topic, partition: 0 });
    expect(binary).to.deep.include({ reason: 'not-json', value: Buffer.from([0xff, 0xfe, 0x00, 0x01]).toString('base64'), valueEncoding: 'base64' });
    expect(large).to.deep.include({ reason: 'too-large', truncated: false, valueBytes: Buffer.byteLength(JSON.stringify({ cardId: 'c2', pad: 'x'.repeat(3000) })) });
    expect(missing).to.deep.include({ reason: 'missing-field', value: '{"other":1}' });
    expect(missing!.message).to.contain('data.cardId');
    expect(missingHeader!.message).to.contain('headers.type');
    expect(noValue).to.deep.include({ reason: 'no-value', value: null });
    expect(dead.every((e) => e.type === 'KafkaRecordRejected')).to.equal(true);
  });

  it('stores the same events when records are fetched and mapped on this thread as on the fetch thread', async () => {
    const topic = await topics.topic('ingest-threads', 2);
    await topics.produce(topic, [
      ...Array.from({ length: 60 }, (_, i) => ({ key: `k${i % 6}`, value: JSON.stringify({ i, name: 'Zoë' }), headers: { type: 'T' } })),
      { key: 'k1', value: 'not json', headers: { type: 'T' } },
      { key: 'k2', value: JSON.stringify({ i: 'x' }) },
      { key: null, value: JSON.stringify({ i: 'no key' }), headers: { type: 'T' } },
    ]);
    const mapping = { stream: 'threads-{key}', type: '{headers.type}' };
    const read = async (fetchThread: boolean) => {
      const own = await openStore('memory:');
      const running = await startKafkaIngest({ store: own, brokers: kafkaBrokers, topic, groupId: topics.group('ingest'), mapping, fetchThread });
      try {
        await eventually('all 63 records are handled', () => running.stats().records === 63);
        expect(running.stats()).to.deep.include({ events: 60, rejected: 3 });
        const events = await collect(own.readAll({ filter: { streamNameRegex: '^(threads-|\\$kafka-deadletter-)' } }));
        return events.map((e) => ({ stream: e.streamId, id: e.id, type: e.type, isJson: e.isJson, data: e.data, metadata: e.metadata })).sort((a, b) => a.id.localeCompare(b.id));
      } finally {
        await running.stop();
        await own.close();
      }
    };
    const onThisThread = await read(false);
    expect(onThisThread).to.have.length(63);
    expect(await read(true)).to.deep.equal(onThisThread);
  });

  it('sends dead letters to the stream the mapping names', async () => {
    const topic = await topics.topic('ingest-dlq', 1);
    await topics.produce(topic, [{ key: 'x', value: 'nope' }]);
    ingest = await startKafkaIngest({ store, brokers: kafkaBrokers, topic, groupId: topics.group('ingest'), mapping: { stream: 's-{key}', type: 'T', deadLetterStream: 'rejected-{topic}' } });
    await eventually('the record is handled', () => ingest!.stats().records === 1);
    expect((await collect(store.readStream(`rejected-${topic}`))).length).to.equal(1);
  });
});

describe('startKafkaIngest across a SIGKILLed ingester (int)', function () {
  this.timeout(120_000);
  const topics = new TopicFixture();
  const children: ReportingChild[] = [];
  let dir: string;

  before(async function () {
    await requireKafka(this);
    dir = await mkdtemp(join(tmpdir(), 'telltale-kafka-ingest-'));
  });
  after(async () => {
    await Promise.all(children.map((c) => c.stop()));
    await topics.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores every record exactly once, in offset order per stream, when the ingester is killed midway and restarted', async () => {
    const topic = await topics.topic('ingest-kill', 3);
    const groupId = topics.group('ingest-kill');
    const total = 8000;
    await topics.produce(topic, Array.from({ length: total }, (_, i) => ({ key: `order-${i % 40}`, value: JSON.stringify({ i }), headers: { type: i % 3 === 0 ? 'OrderPlaced' : 'OrderPaid' } })), 2000);
    const storeUrl = `file:${join(dir, 'data')}`;
    const args = [storeUrl, kafkaBrokers.join(','), topic, groupId];

    const first = new ReportingChild('ingest-child', args);
    children.push(first);
    await first.waitFor('a few batches are committed', () => first.commits() >= 5, 60_000);
    first.kill('SIGKILL');
    await first.exited;
    const reached = first.lines.filter((l) => 'nextOffset' in l).length;
    expect(reached, 'killed before the end').to.be.lessThan(total / 100);

    const second = new ReportingChild('ingest-child', args);
    children.push(second);
    const ends = new Map((await (await topics.admin()).fetchTopicOffsets(topic)).map((o) => [o.partition, o.high]));
    await second.waitFor('every partition is ingested', (lines) => [...ends].every(([p, end]) => lines.some((l) => l.partition === p && l.nextOffset === end)), 60_000);
    await second.stop();

    const store = await openStore(storeUrl);
    try {
      const events = await userEvents(store);
      expect(events).to.have.length(total);
      expect(new Set(events.map((e) => e.id)).size).to.equal(total);
      const seen = new Set(events.map((e) => (e.data as { i: number }).i));
      expect(seen.size).to.equal(total);
      for (let k = 0; k < 40; k++) {
        const stream = await collect(store.readStream(`orders-order-${k}`));
        const numbers = stream.map((e) => (e.data as { i: number }).i);
        expect(numbers, `orders-order-${k} in produce order`).to.deep.equal([...numbers].sort((a, b) => a - b));
        expect(stream.every((e) => e.type === ((e.data as { i: number }).i % 3 === 0 ? 'OrderPlaced' : 'OrderPaid'))).to.equal(true);
      }
    } finally {
      await store.close();
    }
  });
});
