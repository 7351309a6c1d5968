// The Kafka sink against the real broker: what it publishes equals the source streams — every
// event once, in order per key, with its id in a header — and a restarted sink resumes from its
// checkpoint with no gap.
import { openStore, type RecordedEvent, type Store } from '../../index.js';
import { readSinkCheckpoint, sinkCheckpointStream, SINK_HEADERS, startKafkaSink, type KafkaSink } from '../../engine/connectors/index.js';
import { expect } from '../support/chai.js';
import { kafkaBrokers, requireKafka } from '../support/kafka.js';
import { TopicFixture } from './kafka-topics.js';

async function collect(iterable: AsyncIterable<RecordedEvent>): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const e of iterable) out.push(e);
  return out;
}

describe('startKafkaSink (int)', function () {
  this.timeout(90_000);
  const topics = new TopicFixture();
  let store: Store;
  let sink: KafkaSink | undefined;

  before(async function () {
    await requireKafka(this);
  });
  beforeEach(async () => {
    store = await openStore('memory:');
  });
  afterEach(async () => {
    await sink?.stop();
    sink = undefined;
    await store.close();
  });
  after(() => topics.cleanup());

  async function appendMixed(from: number, count: number): Promise<void> {
    for (let i = from; i < from + count; i++) {
      await store.appendToStream(`alerts-card-${i % 4}`, [{ type: 'FraudSuspected', data: { i, cardId: `c${i % 4}` }, metadata: { $correlationId: `corr-${i}` } }]);
      await store.appendToStream(`payments-${i % 3}`, [{ type: 'Charged', data: { i } }]);
    }
  }

  it('publishes exactly the events of the chosen streams, keyed by stream, with the event id in a header', async () => {
    const topic = await topics.topic('sink', 3);
    await appendMixed(0, 60);
    sink = await startKafkaSink({ store, brokers: kafkaBrokers, topic, filter: { streamNamePrefix: ['alerts-'] } });
    const head = await store.headPosition();
    const source = await collect(store.readAll({ filter: { streamNamePrefix: ['alerts-'] } }));
    await sink.whenPublished(source.at(-1)!.position);
    expect(head > source.at(-1)!.position, "other streams come after").to.equal(true);

    const published = await topics.readAll(topic);
    expect(published).to.have.length(source.length);
    const byId = new Map(published.map((m) => [m.headers[SINK_HEADERS.eventId], m]));
    for (const event of source) {
      const message = byId.get(event.id);
      expect(message, event.id).to.not.equal(undefined);
      expect(message!.key).to.equal(event.streamId);
      expect(JSON.parse(message!.value!.toString())).to.deep.equal(event.data);
      expect(message!.headers).to.deep.include({
        [SINK_HEADERS.eventType]: 'FraudSuspected',
        [SINK_HEADERS.stream]: event.streamId,
        [SINK_HEADERS.revision]: String(event.revision),
        [SINK_HEADERS.position]: String(event.position),
      });
      expect(JSON.parse(message!.headers[SINK_HEADERS.metadata]!)).to.deep.equal(event.metadata);
    }
    // One key, one partition, in revision order.
    for (let k = 0; k < 4; k++) {
      const mine = published.filter((m) => m.key === `alerts-card-${k}`);
      expect(new Set(mine.map((m) => m.partition)).size).to.equal(1);
      expect(mine.map((m) => Number(m.headers[SINK_HEADERS.revision]))).to.deep.equal(mine.map((_, i) => i));
    }
  });

  it('resumes from its checkpoint after a restart, leaving no gap', async () => {
    const topic = await topics.topic('sink-resume', 2);
    await appendMixed(0, 20);
    sink = await startKafkaSink({ store, brokers: kafkaBrokers, topic, name: 'resume', filter: { streamNamePrefix: ['alerts-'] }, maxBatch: 7 });
    let source = await collect(store.readAll({ filter: { streamNamePrefix: ['alerts-'] } }));
    await sink.whenPublished(source.at(-1)!.position);
    await sink.stop();
    expect((await readSinkCheckpoint(store, sinkCheckpointStream('resume'))).position).to.equal(source.at(-1)!.position);

    await appendMixed(20, 25); // written while no sink runs
    sink = await startKafkaSink({ store, brokers: kafkaBrokers, topic, name: 'resume', filter: { streamNamePrefix: ['alerts-'] }, maxBatch: 7 });
    await appendMixed(45, 15); // written while it runs
    source = await collect(store.readAll({ filter: { streamNamePrefix: ['alerts-'] } }));
    await sink.whenPublished(source.at(-1)!.position);

    const published = await topics.readAll(topic);
    expect(published.map((m) => m.headers[SINK_HEADERS.eventId]).sort()).to.deep.equal(source.map((e) => e.id).sort());
  });

  it('keys messages by a field of the event when asked', async () => {
    const topic = await topics.topic('sink-key', 1);
    await appendMixed(0, 8);
    sink = await startKafkaSink({ store, brokers: kafkaBrokers, topic, filter: { streamNamePrefix: ['alerts-'] }, key: '{data.cardId}' });
    const source = await collect(store.readAll({ filter: { streamNamePrefix: ['alerts-'] } }));
    await sink.whenPublished(source.at(-1)!.position);
    const published = await topics.readAll(topic);
    expect(published.map((m) => m.key)).to.deep.equal(source.map((e) => (e.data as { cardId: string }).cardId));
  });
});
