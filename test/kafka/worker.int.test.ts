// Scale-out against the real broker: workers in one consumer group over a keyed topic, each
// folding the card rule over the partitions it owns with its state checkpointed in the store.
// Three workers produce exactly the alerts one process produces on the same input — also when
// one of them is SIGKILLed midway and its partitions move to the others.
import { randomUUID } from 'node:crypto';
import { openStore, type RecordedEvent, type Store } from '../../index.js';
import { readPartitionCheckpoint, startKafkaWorker, workerCheckpointStream, type KafkaWorker } from '../../engine/connectors/index.js';
import { requireService } from '../support/services.js';
import { expect } from '../support/chai.js';
import { kafkaBrokers, requireKafka } from '../support/kafka.js';
import { ReportingChild } from './child-process.js';
import { cardRule, charges, expectedAlerts, type Charge } from './fixtures/card-rule.js';
import { eventually, TopicFixture } from './kafka-topics.js';

const PARTITIONS = 6;
const INPUT = charges(6000, 60);
const EXPECTED = expectedAlerts(INPUT);

async function collect(iterable: AsyncIterable<RecordedEvent>): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const e of iterable) out.push(e);
  return out;
}

async function alertsIn(store: Store, stream: string): Promise<{ cardId: string; amount: number; seq: number; tinyCharges: number }[]> {
  const events = await collect(store.readStream(stream)).catch(() => []);
  return events.map((e) => e.data as { cardId: string; amount: number; seq: number; tinyCharges: number }).sort((a, b) => a.seq - b.seq);
}

describe('startKafkaWorker (int)', function () {
  this.timeout(180_000);
  const topics = new TopicFixture();
  let topic: string;
  let ends: Map<number, bigint>;

  before(async function () {
    await requireKafka(this);
    expect(EXPECTED.length, 'the input has alerts to find').to.be.greaterThan(50);
  });
  beforeEach(async () => {
    topic = await topics.topic('worker', PARTITIONS);
  });
  after(() => topics.cleanup());

  /** Produced once the workers have joined, so that every worker has work to do; `ends` is then each partition's end. */
  async function produceInput(from = 0, to = INPUT.length): Promise<void> {
    await topics.produce(topic, INPUT.slice(from, to).map((c: Charge) => ({ key: c.cardId, value: JSON.stringify(c) })), 2000);
    const offsets = await (await topics.admin()).fetchTopicOffsets(topic);
    ends = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
  }

  /** Whether the members' latest assignments split all partitions between them, none left out. */
  function settled(assignments: readonly (readonly number[] | undefined)[]): boolean {
    const all = assignments.flatMap((a) => a ?? []);
    return assignments.every((a) => a !== undefined && a.length > 0) && all.length === PARTITIONS && new Set(all).size === PARTITIONS;
  }

  async function allCheckpointed(store: Store, name: string): Promise<boolean> {
    for (const [partition, end] of ends) {
      const checkpoint = await readPartitionCheckpoint(store, workerCheckpointStream(name, topic, partition), () => null);
      if (checkpoint.nextOffset < end) return false;
    }
    return true;
  }

  describe('in one process, sharing a store', () => {
    let store: Store;
    const workers: KafkaWorker[] = [];
    before(async () => {
      store = await openStore('memory:');
    });
    after(async () => {
      await Promise.all(workers.map((w) => w.stop()));
      await store.close();
    });

    const start = (name: string, groupId: string, fetchThread = false) =>
      startKafkaWorker({ store, brokers: kafkaBrokers, topic, name, groupId, mapping: { stream: 'charges-{key}', type: 'Charged' }, processor: cardRule(`alerts-${name}`), sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, maxRecordsPerCommit: 200, fetchThread });

    it('one worker finds the alerts of a sequential fold of the input', async () => {
      workers.push(await start('single', topics.group('single')));
      await produceInput();
      await eventually('every partition is checkpointed at its end', () => allCheckpointed(store, 'single'), 60_000);
      expect(await alertsIn(store, 'alerts-single')).to.deep.equal(EXPECTED);
    });

    it('finds the same alerts when it fetches and maps on a thread of its own', async () => {
      workers.push(await start('threaded', topics.group('threaded'), true));
      await produceInput();
      await eventually('every partition is checkpointed at its end', () => allCheckpointed(store, 'threaded'), 60_000);
      expect(await alertsIn(store, 'alerts-threaded')).to.deep.equal(EXPECTED);
    });

    it('three workers in one group split the partitions and find exactly the same alerts', async () => {
      const groupId = topics.group('trio');
      const trio = [await start('trio', groupId), await start('trio', groupId), await start('trio', groupId)];
      workers.push(...trio);
      await eventually('the three workers split the partitions', () => settled(trio.map((w) => w.assignment())));
      await produceInput();
      await eventually('every partition is checkpointed at its end', () => allCheckpointed(store, 'trio'), 60_000);
      const committedBy = trio.map((w) => [...w.progress().keys()]);
      expect(committedBy.every((p) => p.length > 0), `each worker committed: ${JSON.stringify(committedBy)}`).to.equal(true);
      expect(await alertsIn(store, 'alerts-trio')).to.deep.equal(EXPECTED);
    });
  });

  describe('in three processes over a shared Redis store', () => {
    const redisHost = process.env.REDIS_HOST ?? '127.0.0.1';
    const redisPort = Number(process.env.REDIS_PORT ?? 6379);
    const storeUrl = `redis://${redisHost}:${redisPort}/0?prefix=telltale-kafka-test-${randomUUID().slice(0, 8)}`;
    let store: Store;
    const children: ReportingChild[] = [];

    before(async function () {
      await requireService(this, { name: 'Redis', host: redisHost, port: redisPort, howToEnable: 'start redis-server (or set REDIS_HOST/REDIS_PORT)' });
      store = await openStore(storeUrl);
    });
    after(async () => {
      await Promise.all(children.map((c) => c.stop()));
      await store?.close();
    });

    it('gives the alerts of one process although one worker is SIGKILLed midway', async () => {
      const groupId = topics.group('killed');
      const spawnWorker = () => new ReportingChild('worker-child', [storeUrl, kafkaBrokers.join(','), topic, 'killed', groupId, 'alerts-killed']);
      children.push(spawnWorker(), spawnWorker(), spawnWorker());
      const latestJoin = (c: ReportingChild) => c.lines.filter((l) => 'joined' in l).at(-1)?.joined as number[] | undefined;
      await eventually('the three workers split the partitions', () => settled(children.map(latestJoin)), 60_000);
      // A third of the input, then the victim dies, then the rest: it dies with work left in its
      // partitions however fast it folded the first part (all of the input at once, it could
      // finish its share between its third commit and the signal).
      const cut = Math.floor(INPUT.length / 3);
      await produceInput(0, cut);
      const victim = children[1]!;
      await victim.waitFor('the victim has committed a few batches', () => victim.commits() >= 3, 60_000);
      const ownedByVictim = latestJoin(victim)!;
      expect(ownedByVictim.length).to.be.greaterThan(0);
      victim.kill('SIGKILL');
      await victim.exited;
      await produceInput(cut);
      const victimReached = new Map<number, bigint>();
      for (const l of victim.lines) if ('nextOffset' in l) victimReached.set(l.partition as number, BigInt(l.nextOffset as string));
      const unfinished = [...victimReached].filter(([p, n]) => n < ends.get(p)!);
      expect(unfinished.length, 'the victim was killed with work left').to.be.greaterThan(0);

      await eventually('every partition is checkpointed at its end', () => allCheckpointed(store, 'killed'), 120_000);
      // The survivors took over the victim's partitions, from its checkpoints.
      const survivorsCommitted = new Set(children.filter((c) => c !== victim).flatMap((c) => c.lines.filter((l) => 'nextOffset' in l).map((l) => l.partition as number)));
      for (const [p] of unfinished) expect(survivorsCommitted.has(p), `partition ${p} moved to a survivor`).to.equal(true);
      expect(await alertsIn(store, 'alerts-killed')).to.deep.equal(EXPECTED);
    });
  });
});
