// `npm run bench -- kafka [--json] [--events 300000] [--partitions 6] [--backend file|memory]
//  [--rate 10000] [--seconds 10] [--warmup 3] [--brokers host:port,…] [--only ingest,rules,latency]`: Kafka against the real broker
// (`bash scripts/kafka.sh start`, or KAFKA_BROKERS / --brokers for a cluster of your own).
//   (a) ingest: a pre-filled topic of ~120-byte JSON records read into the store by
//       `startKafkaIngest`, next to a raw kafkajs consumer (eachBatch, no work) of the same topic
//       in the same run — the limit ingest can approach;
//   (c) rules: the same pre-filled topic through `startKafkaWorker` running a JS rule (a 3-step
//       pattern per card, as `telltale worker --rule` runs it: an isolate per partition), events/s;
//   (b) latency: records produced at a steady rate by a producer process, a `startKafkaWorker`
//       rule alerting on 10% of them into the store, and a store subscription timing produce →
//       alert (p50/p99/max) in steady state (after a warm-up, once every consumer has caught up);
//       next to it, in the same run and a process of its own, a raw kafkajs consumer of the same
//       topic timing produce → receive for the same records — the limit the broker, kafkajs and
//       this machine set. `--warmup 3` seconds.
import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
  const warmupSeconds = flagNumber(options, 'warmup', 3);
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
    // Latency first: measured after the ingest and rule runs, the process carried their heap and
    // garbage into it.
    if (only.has('latency')) {
      // (b) produce → alert latency at a steady rate
      const latencyTopic = `telltale-bench-latency-${run}`;
      await admin.createTopics({ topics: [{ topic: latencyTopic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
      topicsMade.push(latencyTopic);
      const latencyStore = await openBenchStore();
      result.latency = await produceToAlert(latencyStore, brokers, latencyTopic, rate, seconds, warmupSeconds, options.log);
      await latencyStore.close();
    }
    if (only.has('ingest') || only.has('rules')) await prefilled();
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
        telltale: { seconds: round(ingest.seconds, 2), eventsPerSecond: Math.round(ingest.eventsPerSecond), partitionCommits: ingest.commits, cpuMicrosPerEvent: round(ingest.cpuMicrosPerEvent), cpuMsByThread: ingest.cpuByThread },
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

/** CPU ms per thread of this process (Linux), by thread id; empty where /proc is not there. */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime, in clock ticks (100 a second on Linux).
      out.set(tid, (Number(fields[11]) + Number(fields[12])) * 10);
    }
  } catch {
    // Not Linux: the split is left out.
  }
  return out;
}

/**
 * Where a phase's CPU ran: this thread, threads started during the phase (ingest's fetch thread),
 * and threads that were there before (V8's garbage collection and compiler helpers, libuv's pool).
 */
function cpuSplit(before: Map<string, number>): { mainMs: number; newThreadsMs: number; otherThreadsMs: number } | undefined {
  const after = threadCpu();
  if (after.size === 0) return undefined;
  const main = String(process.pid);
  let mainMs = 0;
  let newThreadsMs = 0;
  let otherThreadsMs = 0;
  for (const [tid, ms] of after) {
    const used = ms - (before.get(tid) ?? 0);
    if (tid === main) mainMs += used;
    else if (before.has(tid)) otherThreadsMs += used;
    else newThreadsMs += used;
  }
  return { mainMs, newThreadsMs, otherThreadsMs };
}

async function timeIngest(store: Store, brokers: string[], topic: string, events: number): Promise<Figures & { commits: number; cpuMicrosPerEvent: number; cpuByThread?: object }> {
  let committed = 0;
  let commits = 0;
  const threadsBefore = threadCpu();
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
  const cpuByThread = cpuSplit(threadsBefore);
  await ingest.stop();
  // Partition commits: one store commit covers several partitions, each counted here.
  return { seconds: secondsTaken, eventsPerSecond: events / secondsTaken, commits, cpuMicrosPerEvent: (used.user + used.system) / events, cpuByThread };
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

/**
 * (b) produce → alert at a steady rate, measured in steady state. The producer and the raw
 * consumer each run in a process of their own (forked from this file), as they would in
 * production: in the measured process they shared its event loop, so each delayed the other and
 * the worker (the raw consumer, the "limit", showed a p99 of ~180 ms on an idle machine that way).
 * The run has two phases at the same rate: a warm-up (the first sends fetch metadata and open
 * connections, the worker's first fetches load checkpoints, the JIT warms up — the first second
 * showed p99s of ~300 ms in every one of producer, raw consumer and worker), then, once the worker
 * and the raw consumer own their partitions and have received every warm-up record, the measured
 * phase. Only records sent in the measured phase count; the warm-up's figures are reported apart.
 */
async function produceToAlert(store: Store, brokers: string[], topic: string, rate: number, seconds: number, warmupSeconds: number, log: (l: string) => void): Promise<object> {
  const foldedAt = new Map<number, number>();
  const worker = await startKafkaWorker<null>({
    store,
    brokers,
    topic,
    name: 'bench',
    mapping: { stream: 'payments-{key}', type: 'CardCharged' },
    fromBeginning: true,
    processor: {
      initialState: () => null,
      process: (state, batch) => {
        const now = Date.now();
        const outputs = [];
        for (const e of batch) {
          const data = e.data as LatencyRecord;
          if (data.amount < ALERT_AMOUNT) continue;
          foldedAt.set(data.seq, now - data.sentAt);
          outputs.push({ streamId: 'alerts', type: 'BigCharge', data, causedBy: e });
        }
        return { state, outputs };
      },
    },
  });
  const seen: { seq: number; ms: number }[] = [];
  const subscription = store.subscribeToStream('alerts');
  const watching = (async () => {
    for await (const alert of subscription) {
      const data = alert.data as LatencyRecord;
      seen.push({ seq: data.seq, ms: Date.now() - data.sentAt });
    }
  })();
  const raw = await startBenchChild('raw', brokers, topic);
  const producer = await startBenchChild('producer', brokers, topic);
  try {
    // The worker owns the partitions and the raw consumer has joined its group before anything is sent.
    while (worker.assignment().length === 0) await new Promise((r) => setTimeout(r, 50));
    log(`warming up: ${rate} records/s for ${warmupSeconds}s to ${topic}`);
    const warm = (await producer.ask({ produce: { from: 0, rate, seconds: warmupSeconds } })) as ProducedPhase;
    const caughtUp = async (from: number, to: number): Promise<boolean> => {
      const expected = alertingIn(from, to);
      const deadline = Date.now() + 30_000;
      for (;;) {
        const workerHas = seen.filter((s) => s.seq >= from && s.seq < to).length;
        const rawHas = ((await raw.ask({ count: { from, to } })) as { count: number }).count;
        if (workerHas >= expected && rawHas >= expected) return true;
        if (Date.now() > deadline) return false;
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const warmCaughtUp = await caughtUp(0, warm.sent);
    log(`measuring: ${rate} records/s for ${seconds}s`);
    const cpu0 = process.cpuUsage();
    const measured = (await producer.ask({ produce: { from: warm.sent, rate, seconds } })) as ProducedPhase;
    const end = warm.sent + measured.sent;
    const measuredCaughtUp = await caughtUp(warm.sent, end);
    const cpu = process.cpuUsage(cpu0);
    const rawSeen = ((await raw.ask({ latencies: true })) as { latencies: [number, number][] }).latencies;
    const phase = (from: number, to: number) => {
      const inPhase = (seq: number) => seq >= from && seq < to;
      const alerts = seen.filter((s) => inPhase(s.seq)).map((s) => s.ms);
      const folded = [...foldedAt].filter(([seq]) => inPhase(seq)).map(([, ms]) => ms);
      const rawMs = rawSeen.filter(([seq]) => inPhase(seq)).map(([, ms]) => ms);
      return { alerts: alerts.length, expectedAlerts: alertingIn(from, to), telltale: spread(alerts), sentToFolded: spread(folded), rawConsumer: spread(rawMs) };
    };
    return {
      how: `producer and raw consumer in processes of their own; a ${warmupSeconds}s warm-up at the same rate first, then ${seconds}s measured once the worker and the raw consumer owned their partitions and had received every warm-up record`,
      ratePerSecond: Math.round(measured.sent / seconds),
      records: measured.sent,
      ...phase(warm.sent, end),
      producerAck: spread(measured.ackMs),
      workerCpuMicrosPerRecord: round((cpu.user + cpu.system) / measured.sent, 1),
      caughtUp: warmCaughtUp && measuredCaughtUp,
      warmup: { records: warm.sent, ...phase(0, warm.sent) },
    };
  } finally {
    await subscription.close();
    await watching;
    await worker.stop();
    await Promise.all([raw.stop(), producer.stop()]);
  }
}

const ALERT_AMOUNT = 90_000;
/** What the latency run's records carry: `sentAt` is the producer's clock (this machine's) just before the send. */
interface LatencyRecord {
  readonly cardId: string;
  readonly amount: number;
  readonly seq: number;
  readonly sentAt: number;
}
const amountOf = (seq: number) => (seq * 7919) % 100_000;
/** Records in [from, to) that alert. */
function alertingIn(from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) if (amountOf(i) >= ALERT_AMOUNT) n++;
  return n;
}

interface ProducedPhase {
  readonly sent: number;
  readonly ackMs: number[];
}

function spread(values: number[]): { p50Ms: number; p99Ms: number; maxMs: number | null } {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), maxMs: sorted.at(-1) ?? null };
}

interface BenchChild {
  ask(request: object): Promise<unknown>;
  stop(): Promise<void>;
}

const CHILD_ROLE = 'TELLTALE_BENCH_KAFKA_ROLE';

/** Forks this file as a producer or raw consumer process; `ask` sends a request and waits for its answer. */
async function startBenchChild(role: 'producer' | 'raw', brokers: string[], topic: string): Promise<BenchChild> {
  const child = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, [CHILD_ROLE]: role, TELLTALE_BENCH_KAFKA_BROKERS: brokers.join(','), TELLTALE_BENCH_KAFKA_TOPIC: topic },
    execArgv: ['--no-node-snapshot'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const answers = new Map<number, (answer: unknown) => void>();
  let exited: Error | undefined;
  let ready: () => void = () => undefined;
  const readied = new Promise<void>((resolve) => (ready = resolve));
  child.on('message', (m) => {
    if (m === 'ready') return ready();
    const { id, answer } = m as { id: number; answer: unknown };
    answers.get(id)?.(answer);
    answers.delete(id);
  });
  const gone = new Promise<never>((_, reject) =>
    child.once('exit', (code) => {
      exited = new Error(`the bench's ${role} process exited with ${code}`);
      reject(exited);
    }),
  );
  gone.catch(() => undefined);
  let next = 0;
  const ask = (request: object): Promise<unknown> => {
    if (exited) return Promise.reject(exited);
    const id = next++;
    const answered = new Promise((resolve) => answers.set(id, resolve));
    child.send({ id, request });
    return Promise.race([answered, gone]);
  };
  // The child says when it is connected (the raw consumer: and has joined its group).
  await Promise.race([readied, gone]);
  return {
    ask,
    stop: async () => {
      if (exited) return;
      await ask({ stop: true }).catch(() => undefined);
      await gone.catch(() => undefined);
    },
  };
}

/** The producer: records at a steady rate, in sends every ~5 ms, each record stamped with its send time. */
async function producerRole(kafka: Kafka, topic: string): Promise<(request: Record<string, unknown>) => Promise<unknown>> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  return async (request) => {
    if (request.stop) {
      await producer.disconnect();
      return true;
    }
    const { from, rate, seconds } = request.produce as { from: number; rate: number; seconds: number };
    const tickMs = 10;
    const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
    const started = Date.now();
    let sent = 0;
    const ackMs: number[] = [];
    const inFlight = new Set<Promise<unknown>>();
    while (Date.now() - started < seconds * 1000) {
      const due = Math.floor(((Date.now() - started) / 1000) * rate);
      if (sent < due) {
        const count = Math.min(perTick * 4, due - sent);
        const sentAt = Date.now();
        const messages = Array.from({ length: count }, (_, k) => {
          const seq = from + sent + k;
          const record: LatencyRecord = { cardId: `card-${seq % 10_000}`, amount: amountOf(seq), seq, sentAt };
          return { key: record.cardId, value: JSON.stringify(record) };
        });
        const p = producer
          .send({ topic, acks: -1, messages })
          .then(() => ackMs.push(Date.now() - sentAt))
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
        sent += count;
      }
      await new Promise((r) => setTimeout(r, tickMs / 2));
    }
    await Promise.all(inFlight);
    return { sent, ackMs } satisfies ProducedPhase;
  };
}

/** The limit: a kafkajs consumer (the worker's fetch settings, no offset commits) that notes when each alerting record arrives. */
async function rawRole(kafka: Kafka, topic: string): Promise<(request: Record<string, unknown>) => Promise<unknown>> {
  const consumer = kafka.consumer({ groupId: `${topic}-raw`, maxWaitTimeInMs: 500 });
  const latencies: [number, number][] = [];
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 16,
    eachBatch: async ({ batch }) => {
      const now = Date.now();
      for (const m of batch.messages) {
        const data = JSON.parse(m.value!.toString()) as LatencyRecord;
        if (data.amount >= ALERT_AMOUNT) latencies.push([data.seq, now - data.sentAt]);
      }
    },
  });
  while (!joined) await new Promise((r) => setTimeout(r, 20));
  return async (request) => {
    if (request.stop) {
      await consumer.disconnect();
      return true;
    }
    if (request.count) {
      const { from, to } = request.count as { from: number; to: number };
      return { count: latencies.filter(([seq]) => seq >= from && seq < to).length };
    }
    return { latencies };
  };
}

if (process.env[CHILD_ROLE] !== undefined && process.send !== undefined) {
  const role = process.env[CHILD_ROLE];
  const kafka = new Kafka({ clientId: `telltale-bench-${role}`, brokers: String(process.env.TELLTALE_BENCH_KAFKA_BROKERS).split(','), logLevel: logLevel.NOTHING });
  const topic = String(process.env.TELLTALE_BENCH_KAFKA_TOPIC);
  const handle = role === 'producer' ? await producerRole(kafka, topic) : await rawRole(kafka, topic);
  process.on('message', (m) => {
    const { id, request } = m as { id: number; request: Record<string, unknown> };
    void (async () => {
      const answer = await handle(request);
      process.send!({ id, answer }, () => {
        if (request.stop) process.exit(0);
      });
    })();
  });
  process.send('ready');
}
