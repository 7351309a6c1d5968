// `npm run bench -- kafka [--json] [--events 300000] [--partitions 6] [--backend file|memory]
//  [--rate 10000] [--seconds 10] [--brokers host:port,…] [--only ingest,rules,latency]`: Kafka against the real broker
// (`bash scripts/kafka.sh start`, or KAFKA_BROKERS / --brokers for a cluster of your own).
//   (a) ingest: a pre-filled topic of ~120-byte JSON records read into the store by
//       `startKafkaIngest`, next to a raw kafkajs consumer (eachBatch, no work) of the same topic
//       in the same run — the limit ingest can approach;
//   (c) rules: the same pre-filled topic through `startKafkaWorker` running a JS rule (a 3-step
//       pattern per card, as `telltale worker --rule` runs it: an isolate per partition), events/s;
//   (b) latency: records produced at a steady rate, a `startKafkaWorker` rule alerting on 10% of
//       them into the store, and a store subscription timing produce → alert (p50/p99/max); next to
//       it, in the same run, a raw kafkajs consumer of the same topic timing produce → receive for
//       the same records — the limit the broker, kafkajs and this machine set.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { createProjectionProcessor, startKafkaIngest, startKafkaWorker } from '../engine/connectors/index.js';
import { openStore } from '../store/index.js';
import '../store/log/register.js';
import type { Store } from '../store/types.js';
import type { BenchOptions } from './main.js';

interface Figures {
  readonly seconds: number;
  readonly eventsPerSecond: number;
}

function flagNumber(options: BenchOptions, name: string, fallback: number): number {
  const value = options.flags[name];
  return typeof value === 'string' ? Number(value) : fallback;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

export async function run(options: BenchOptions): Promise<object> {
  const brokers = String(options.flags.brokers ?? process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
  const events = flagNumber(options, 'events', 300_000);
  const partitions = flagNumber(options, 'partitions', 6);
  const rate = flagNumber(options, 'rate', 10_000);
  const seconds = flagNumber(options, 'seconds', 10);
  const backend = options.flags.backend === 'memory' ? 'memory' : 'file';
  const only = new Set(String(options.flags.only ?? 'ingest,rules,latency').split(','));
  const kafka = new Kafka({ clientId: 'telltale-bench', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const run = `${Date.now().toString(36)}`;
  const dirs: string[] = [];
  const topicsMade: string[] = [];
  const openBenchStore = async (): Promise<Store> => {
    if (backend === 'memory') return openStore('memory:');
    const dir = mkdtempSync(join(tmpdir(), 'telltale-bench-kafka-'));
    dirs.push(dir);
    return openStore(`file:${dir}`);
  };

  const result: Record<string, unknown> = {
    kafka: 'Apache Kafka 4.1.2 (KRaft, one node, same machine)',
    store: backend === 'file' ? 'file: (log engine, fsync on commit)' : 'memory:',
    partitions,
  };
  try {
    if (only.has('ingest') || only.has('rules')) await prefilled();
    if (only.has('latency')) {
      // (b) produce → alert latency at a steady rate
      const latencyTopic = `telltale-bench-latency-${run}`;
      await admin.createTopics({ topics: [{ topic: latencyTopic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
      topicsMade.push(latencyTopic);
      const latencyStore = await openBenchStore();
      result.latency = await produceToAlert(kafka, latencyStore, brokers, latencyTopic, rate, seconds, options.log);
      await latencyStore.close();
    }
    return result;
  } finally {
    await admin.deleteTopics({ topics: topicsMade }).catch(() => undefined);
    await admin.disconnect();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }

  async function prefilled(): Promise<void> {
    // (a) ingest from a pre-filled topic
    const topic = `telltale-bench-ingest-${run}`;
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
    topicsMade.push(topic);
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    options.log(`filling ${topic} with ${events} records over ${partitions} partitions`);
    let bytes = 0;
    const chunk = 5000;
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < events; i += chunk) {
      const messages = [];
      for (let j = i; j < Math.min(events, i + chunk); j++) {
        const value = JSON.stringify({ cardId: `card-${j % 10_000}`, amount: (j * 7919) % 100_000, currency: 'EUR', merchant: `merchant-${j % 977}`, seq: j });
        if (j === 0) bytes = value.length;
        messages.push({ key: `card-${j % 10_000}`, value, headers: { type: 'CardCharged' } });
      }
      sends.push(producer.send({ topic, acks: -1, messages }));
      if (sends.length >= 8) await Promise.all(sends.splice(0));
    }
    await Promise.all(sends);
    await producer.disconnect();

    if (only.has('ingest')) {
      const raw = await rawConsume(kafka, topic, events);
      options.log(`raw kafkajs consumer: ${Math.round(raw.eventsPerSecond)} records/s`);
      const ingestStore = await openBenchStore();
      const ingest = await timeIngest(ingestStore, brokers, topic, events);
      await ingestStore.close();
      options.log(`ingest into ${backend}: ${Math.round(ingest.eventsPerSecond)} events/s`);
      result.ingest = {
        events,
        recordBytes: bytes,
        raw: { seconds: round(raw.seconds, 2), eventsPerSecond: Math.round(raw.eventsPerSecond), cpuMicrosPerEvent: round(raw.cpuMicrosPerEvent) },
        telltale: { seconds: round(ingest.seconds, 2), eventsPerSecond: Math.round(ingest.eventsPerSecond), partitionCommits: ingest.commits, cpuMicrosPerEvent: round(ingest.cpuMicrosPerEvent) },
        ratioToRaw: round(ingest.eventsPerSecond / raw.eventsPerSecond, 2),
      };
    }
    if (only.has('rules')) {
      const rulesStore = await openBenchStore();
      const rules = await timeRules(rulesStore, brokers, topic, events);
      await rulesStore.close();
      options.log(`JS rule worker into ${backend}: ${Math.round(rules.eventsPerSecond)} events/s, ${rules.alerts} alerts`);
      result.rules = { rule: 'a 3-step pattern per card (patterns/), fromAll', seconds: round(rules.seconds, 2), eventsPerSecond: Math.round(rules.eventsPerSecond), alerts: rules.alerts, cpuMicrosPerEvent: round(rules.cpuMicrosPerEvent) };
    }
  }
}

/** The limit: a kafkajs consumer that only counts what it receives. */
async function rawConsume(kafka: Kafka, topic: string, events: number): Promise<Figures & { cpuMicrosPerEvent: number }> {
  const consumer = kafka.consumer({ groupId: `${topic}-raw`, maxBytesPerPartition: 4 * 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  let received = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await new Promise<void>((resolve) => {
    void consumer.run({
      partitionsConsumedConcurrently: 4,
      eachBatch: async ({ batch }) => {
        received += batch.messages.length;
        if (received >= events) resolve();
      },
    });
  });
  const secondsTaken = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await consumer.disconnect();
  return { seconds: secondsTaken, eventsPerSecond: events / secondsTaken, cpuMicrosPerEvent: (used.user + used.system) / events };
}

async function timeIngest(store: Store, brokers: string[], topic: string, events: number): Promise<Figures & { commits: number; cpuMicrosPerEvent: number }> {
  let committed = 0;
  let commits = 0;
  const cpu = process.cpuUsage();
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const started = performance.now();
  const ingest = await startKafkaIngest({
    store,
    brokers,
    topic,
    groupId: `${topic}-ingest`,
    mapping: { stream: 'payments-{key}', type: '{headers.type}' },
    onCommit: (p) => {
      committed += p.records;
      commits++;
      if (committed >= events) finish();
    },
  });
  await done;
  const secondsTaken = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await ingest.stop();
  // Partition commits: one store commit covers several partitions, each counted here.
  return { seconds: secondsTaken, eventsPerSecond: events / secondsTaken, commits, cpuMicrosPerEvent: (used.user + used.system) / events };
}

/** A rule as `telltale worker --rule` runs it: three charges of a card within a minute, small, small, large. */
const BENCH_RULE = `
const rule = pattern('bench-three-step')
  .keyBy((e) => e.data.cardId)
  .eventTime((e) => e.data.seq)
  .begin('first', (e) => e.data.amount < 20000)
  .followedBy('second', (e) => e.data.amount < 20000)
  .followedBy('large', (e) => e.data.amount >= 90000)
  .within('1m')
  .afterMatch(skipPastLastEvent());
fromAll().when({
  $init: () => ({ rule: rule.initialState() }),
  CardCharged: (s, e) => {
    const out = rule.advance(s.rule, { id: e.eventId, type: e.eventType, data: e.data });
    for (const m of out.matches) emit('alerts-bench', 'ThreeStepAlert', { key: m.key, start: m.start, end: m.end });
    return s;
  },
});
`;

async function timeRules(store: Store, brokers: string[], topic: string, events: number): Promise<Figures & { alerts: number; cpuMicrosPerEvent: number }> {
  const processor = await createProjectionProcessor({ rules: [{ name: 'bench-three-step', source: BENCH_RULE }] });
  let committed = 0;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const cpu = process.cpuUsage();
  const started = performance.now();
  const worker = await startKafkaWorker({
    store,
    brokers,
    topic,
    name: 'bench',
    groupId: `${topic}-rules`,
    mapping: { stream: 'payments-{key}', type: '{headers.type}' },
    processor,
    onCommit: (p) => {
      committed += p.records;
      if (committed >= events) finish();
    },
  });
  await done;
  const secondsTaken = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await worker.stop();
  processor.dispose();
  const alerts = (await store.getStreamInfo('alerts-bench')).lastRevision + 1n;
  return { seconds: secondsTaken, eventsPerSecond: events / secondsTaken, alerts: Number(alerts), cpuMicrosPerEvent: (used.user + used.system) / events };
}

async function produceToAlert(kafka: Kafka, store: Store, brokers: string[], topic: string, rate: number, seconds: number, log: (l: string) => void): Promise<object> {
  const worker = await startKafkaWorker<null>({
    store,
    brokers,
    topic,
    name: 'bench',
    mapping: { stream: 'payments-{key}', type: 'CardCharged' },
    fromBeginning: true,
    processor: {
      initialState: () => null,
      process: (state, batch) => ({
        state,
        outputs: batch.filter((e) => (e.data as { amount: number }).amount >= 90_000).map((e) => ({ streamId: 'alerts', type: 'BigCharge', data: e.data, causedBy: e })),
      }),
    },
  });
  const latencies: number[] = [];
  const subscription = store.subscribeToStream('alerts');
  const watching = (async () => {
    for await (const alert of subscription) latencies.push(Date.now() - (alert.data as { sentAt: number }).sentAt);
  })();
  // The limit: a consumer that only notes when each alerting record arrives.
  const rawLatencies: number[] = [];
  // Fetch settings as the worker's, no offset commits: the floor kafkajs and the broker set.
  const raw = kafka.consumer({ groupId: `${topic}-raw`, maxWaitTimeInMs: 500 });
  let rawJoined = false;
  raw.on(raw.events.GROUP_JOIN, () => (rawJoined = true));
  await raw.connect();
  await raw.subscribe({ topics: [topic], fromBeginning: true });
  await raw.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 16,
    eachBatch: async ({ batch }) => {
      const now = Date.now();
      for (const m of batch.messages) {
        const data = JSON.parse(m.value!.toString()) as { amount: number; sentAt: number };
        if (data.amount >= 90_000) rawLatencies.push(now - data.sentAt);
      }
    },
  });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  // Wait until the worker owns the partitions, so group joining is not counted as latency.
  while (worker.assignment().length === 0 || !rawJoined) await new Promise((r) => setTimeout(r, 50));
  log(`producing ${rate} records/s for ${seconds}s to ${topic}`);
  const tickMs = 10;
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  const started = Date.now();
  let sent = 0;
  let seq = 0;
  const inFlight = new Set<Promise<unknown>>();
  while (Date.now() - started < seconds * 1000) {
    const due = Math.floor(((Date.now() - started) / 1000) * rate);
    if (sent < due) {
      const count = Math.min(perTick * 4, due - sent);
      const sentAt = Date.now();
      const messages = Array.from({ length: count }, () => {
        const i = seq++;
        return { key: `card-${i % 10_000}`, value: JSON.stringify({ cardId: `card-${i % 10_000}`, amount: (i * 7919) % 100_000, seq: i, sentAt }) };
      });
      const p = producer.send({ topic, acks: -1, messages }).finally(() => inFlight.delete(p));
      inFlight.add(p);
      sent += count;
    }
    await new Promise((r) => setTimeout(r, tickMs / 2));
  }
  await Promise.all(inFlight);
  const expectedAlerts = Array.from({ length: seq }, (_, i) => (i * 7919) % 100_000).filter((a) => a >= 90_000).length;
  const deadline = Date.now() + 30_000;
  while (latencies.length < expectedAlerts && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await subscription.close();
  await watching;
  await worker.stop();
  await raw.disconnect();
  await producer.disconnect();
  const sorted = [...latencies].sort((a, b) => a - b);
  const rawSorted = [...rawLatencies].sort((a, b) => a - b);
  return {
    ratePerSecond: Math.round(sent / seconds),
    records: sent,
    alerts: latencies.length,
    expectedAlerts,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.at(-1) ?? null,
    rawConsumer: { records: rawSorted.length, p50Ms: percentile(rawSorted, 50), p99Ms: percentile(rawSorted, 99), maxMs: rawSorted.at(-1) ?? null },
  };
}
