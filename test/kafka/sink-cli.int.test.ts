// `telltale sink kafka` (the built CLI) against the real broker: it publishes the chosen streams'
// events from a data directory to a topic, keyed and with the event id header, until SIGTERM.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../../index.js';
import { SINK_HEADERS } from '../../engine/connectors/index.js';
import { expect } from '../support/chai.js';
import { kafkaBrokers, requireKafka } from '../support/kafka.js';
import { ReportingChild } from './child-process.js';
import { eventually, TopicFixture } from './kafka-topics.js';

const BIN = fileURLToPath(new URL('../../../bin/telltale.js', import.meta.url));

describe('telltale sink kafka (int)', function () {
  this.timeout(120_000);
  const topics = new TopicFixture();
  let dir: string;

  before(async function () {
    await requireKafka(this);
    dir = mkdtempSync(join(tmpdir(), 'telltale-sink-cli-'));
  });
  after(async () => {
    await topics.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('publishes the events of the chosen streams, keyed by stream, until SIGTERM', async () => {
    const store = await openStore(`file:${dir}`);
    for (let i = 0; i < 30; i++) {
      await store.appendToStream(`alerts-${i % 3}`, [{ type: 'Alert', data: { i } }]);
      await store.appendToStream(`payments-${i}`, [{ type: 'Paid', data: { i } }]);
    }
    await store.close();
    const topic = await topics.topic('sink-cli', 3);
    const child = new ReportingChild('telltale-sink', ['sink', 'kafka', '--brokers', kafkaBrokers.join(','), '--topic', topic, '--streams', 'alerts-', '--db', dir, '--json'], BIN);
    try {
      await eventually('the topic holds the 30 alerts', async () => {
        const offsets = await (await topics.admin()).fetchTopicOffsets(topic);
        return offsets.reduce((n, o) => n + Number(o.high), 0) >= 30;
      }, 60_000);
    } finally {
      await child.stop();
    }
    expect(child.lines.at(-1)).to.include({ topic, published: 30 });
    const messages = await topics.readAll(topic);
    expect(messages.length).to.equal(30);
    expect(new Set(messages.map((m) => m.key))).to.deep.equal(new Set(['alerts-0', 'alerts-1', 'alerts-2']));
    for (const m of messages) expect(m.headers[SINK_HEADERS.stream]).to.equal(m.key);
    expect(new Set(messages.map((m) => m.headers[SINK_HEADERS.eventId])).size).to.equal(30);
  });
});
