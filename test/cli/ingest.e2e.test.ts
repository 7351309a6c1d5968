// `telltale ingest kafka` against a real broker (scripts/kafka.sh, or KAFKA_BROKERS): records of a
// topic become events in the mapped streams, and stay there once each after Ctrl-C.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { expect } from '../support/chai.js';
import { kafkaBrokers, requireKafka } from '../support/kafka.js';
import { jsonLines, start, telltale, tempDir } from './cli-process.js';

async function waitForText(p: ReturnType<typeof start>, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(p.stderr())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}\nstderr: ${p.stderr()}`);
    if (p.child.exitCode !== null) throw new Error(`exited (${p.child.exitCode})\nstderr: ${p.stderr()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('telltale ingest kafka', function () {
  this.timeout(120_000);
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const topic = `telltale-cli-ingest-${randomUUID().slice(0, 8)}`;

  before(async function () {
    await requireKafka(this);
    dir = await tempDir();
    const kafka = new Kafka({ clientId: 'telltale-cli-test', brokers: kafkaBrokers, logLevel: logLevel.ERROR });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({
      topic,
      messages: Array.from({ length: 20 }, (_, i) => ({ key: `card-${i % 4}`, value: JSON.stringify({ cardId: String(i % 4), amount: i }), headers: { type: 'Charge' } })),
    });
    await producer.disconnect();
  });
  after(async () => dir?.remove());

  it('maps records to streams until Ctrl-C, reporting its figures as it goes', async () => {
    const db = join(dir.path, 'data');
    const ingest = start(['ingest', 'kafka', '--brokers', kafkaBrokers.join(','), '--topic', topic, '--stream', 'card-{data.cardId}', '--type', '{headers.type}', '--db', db]);
    try {
      await waitForText(ingest, /\b20 records, 20 events, 0 dead-lettered/, 60_000);
    } finally {
      expect(await ingest.stop('SIGINT'), ingest.stderr()).to.equal(0);
    }
    expect(ingest.stderr()).to.include('Stopped: 20 records, 20 events, 0 dead-lettered');
    const read = await telltale(['read', 'card-1', '--db', db, '--json']);
    expect(read.code, read.stderr).to.equal(0);
    const events = jsonLines(read.stdout);
    expect(events.map((e) => (e.data as { amount: number }).amount)).to.deep.equal([1, 5, 9, 13, 17]);
    expect(events.every((e) => e.type === 'Charge')).to.equal(true);
    // Ingesting again with the same group finds everything checkpointed and writes nothing twice.
    const again = start(['ingest', 'kafka', '--brokers', kafkaBrokers.join(','), '--topic', topic, '--stream', 'card-{data.cardId}', '--type', '{headers.type}', '--db', db, '--json']);
    await new Promise((r) => setTimeout(r, 8000));
    expect(await again.stop('SIGINT'), again.stderr()).to.equal(0);
    expect(JSON.parse(again.stdout())).to.include({ topic, events: 0 });
    expect(jsonLines((await telltale(['read', 'card-1', '--db', db, '--json'])).stdout)).to.have.length(5);
  });

  it('needs --db or --store (exit 2), and reports an unreachable broker (exit 1)', async () => {
    const noStore = await telltale(['ingest', 'kafka', '--brokers', '127.0.0.1:9092', '--topic', topic, '--stream', 's', '--type', 'T']);
    expect(noStore.code).to.equal(2);
    expect(noStore.stderr).to.include('--db DIR or --store URL');
    const unreachable = await telltale(['ingest', 'kafka', '--brokers', '127.0.0.1:1', '--topic', topic, '--stream', 's', '--type', 'T', '--store', 'memory:'], { timeoutMs: 90_000 });
    expect(unreachable.code).to.equal(1);
    expect(unreachable.stderr).to.include('ECONNREFUSED');
  });
});
