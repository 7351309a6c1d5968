// The generator's Kafka output, read back the way its documentation says: `telltale ingest kafka`
// with the stream from the record key, the type from the `type` header and the data from the
// event line's `data` field gives, stream by stream, exactly the events the generator made.
import { openStore, type RecordedEvent, type Store } from '../../index.js';
import { startKafkaIngest, type KafkaIngest } from '../../engine/connectors/index.js';
import { kafkaSink } from '../../samples/generator/sinks.js';
import { generateTraffic } from '../../samples/generator/traffic.js';
import { expect } from '../support/chai.js';
import { kafkaBrokers, requireKafka } from '../support/kafka.js';
import { eventually, TopicFixture } from '../kafka/kafka-topics.js';

describe('generator → Kafka → ingest (int)', function () {
  this.timeout(120_000);
  const topics = new TopicFixture();
  let store: Store;
  let ingest: KafkaIngest | undefined;

  before(async function () {
    await requireKafka(this);
    store = await openStore('memory:');
  });
  after(async () => {
    await ingest?.stop();
    await store?.close();
    await topics.cleanup();
  });

  it('delivers every generated event to its stream, in order, with its type and data', async () => {
    const traffic = generateTraffic({ seed: 3, customers: 40, days: 1, casesPerRule: 1 });
    const topic = await topics.topic('generator', 3);
    const sink = await kafkaSink({ brokers: kafkaBrokers, topic });
    for (let i = 0; i < traffic.events.length; i += 500) await sink.write(traffic.events.slice(i, i + 500));
    await sink.close();

    ingest = await startKafkaIngest({ store, brokers: kafkaBrokers, topic, groupId: topics.group('generator'), mapping: { stream: '{key}', type: '{headers.type}', data: 'data.data' } });
    await eventually('every generated event is ingested', () => ingest!.stats().events === traffic.events.length, 60_000);

    const expected = new Map<string, { type: string; data: unknown }[]>();
    for (const e of traffic.events) {
      const list = expected.get(e.streamId) ?? [];
      list.push({ type: e.type, data: e.data });
      expected.set(e.streamId, list);
    }
    expect(expected.size).to.be.greaterThan(10);
    for (const [streamId, events] of expected) {
      const stored: RecordedEvent[] = [];
      for await (const e of store.readStream(streamId)) stored.push(e);
      expect(stored.map((e) => ({ type: e.type, data: e.data })), streamId).to.deep.equal(events);
    }
  });
});
