// `telltale worker` running deployed JS rules (projections with the patterns/ library) against the
// real broker, state in Redis: three worker processes of the built CLI in one consumer group over a
// keyed topic give exactly the alerts one worker process gives on the same input — also when one
// of the three is SIGKILLed midway and its partitions move to the others, which resume them from
// the rule state checkpointed in Redis.
//
// The rules are two of the fraud samples: small-then-large (a charge under $1, then one over $500
// within a minute on the same card, with event time and a minute of allowed lateness) and
// account-takeover-chain (password reset → new device → large transfer within an hour, with no
// customer confirmation in between: three steps and two absences).
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { openStore, type RecordedEvent, type Store } from '../../index.js';
import { readPartitionCheckpoint, workerCheckpointStream } from '../../engine/connectors/index.js';
import { expect } from '../support/chai.js';
import { kafkaBrokers, requireKafka } from '../support/kafka.js';
import { requireService } from '../support/services.js';
import { ReportingChild } from './child-process.js';
import { eventually, TopicFixture } from './kafka-topics.js';

const PARTITIONS = 6;
const BIN = fileURLToPath(new URL('../../../bin/telltale.js', import.meta.url));
const RULES = ['small-then-large', 'account-takeover-chain'].map((r) => fileURLToPath(new URL(`../../../samples/fraud/${r}.js`, import.meta.url)));
const ALERT_STREAMS = ['alerts-small-then-large', 'alerts-account-takeover-chain'];

interface InputRecord {
  readonly key: string;
  readonly type: string;
  readonly value: string;
}

/** Card authorisations and account events of 30 customers, one every half second, seeded. */
function fraudInput(count: number, customers: number, seed = 7): InputRecord[] {
  let x = seed >>> 0;
  const next = () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
  const t0 = Date.parse('2026-03-02T10:00:00.000Z');
  const out: InputRecord[] = [];
  for (let i = 0; i < count; i++) {
    const customer = `cu-${Math.floor(next() * customers)}`;
    const at = new Date(t0 + i * 500).toISOString();
    const r = next();
    if (r < 0.7) {
      const kind = next();
      const amount = kind < 0.15 ? 0.5 : kind < 0.3 ? 600 + Math.floor(next() * 900) : 10 + Math.floor(next() * 390);
      const data = { card: `${customer}-card`, customer, merchant: `m-${Math.floor(next() * 50)}`, amount, approved: next() < 0.95, at };
      out.push({ key: customer, type: 'CardAuthorized', value: JSON.stringify(data) });
    } else {
      const kind = next();
      const type = kind < 0.3 ? 'PasswordReset' : kind < 0.6 ? 'NewDeviceRegistered' : kind < 0.75 ? 'CustomerConfirmed' : 'TransferInitiated';
      const data = { customer, at, device: `d-${Math.floor(next() * 1000)}`, amount: 500 + Math.floor(next() * 4500), beneficiary: `b-${Math.floor(next() * 100)}` };
      out.push({ key: customer, type, value: JSON.stringify(data) });
    }
  }
  return out;
}

const INPUT = fraudInput(4000, 30);

async function collect(iterable: AsyncIterable<RecordedEvent>): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const e of iterable) out.push(e);
  return out;
}

/** Every alert of both rules, as comparable text (id, type, data, causation), sorted. */
async function alertsIn(store: Store): Promise<string[]> {
  const all: string[] = [];
  for (const stream of ALERT_STREAMS) {
    const events = await collect(store.readStream(stream)).catch(() => []);
    for (const e of events) all.push(JSON.stringify({ stream, id: e.id, type: e.type, data: e.data, causedBy: e.metadata.$causationId }));
  }
  return all.sort();
}

describe('telltale worker running JS rules (int)', function () {
  this.timeout(300_000);
  const topics = new TopicFixture();
  const redisHost = process.env.REDIS_HOST ?? '127.0.0.1';
  const redisPort = Number(process.env.REDIS_PORT ?? 6379);
  const run = randomUUID().slice(0, 8);
  const storeUrl = (which: string) => `redis://${redisHost}:${redisPort}/0?prefix=telltale-kafka-rules-${run}-${which}`;
  const children: ReportingChild[] = [];
  const stores: Store[] = [];
  let topic: string;
  let ends: Map<number, bigint>;

  before(async function () {
    await requireKafka(this);
    await requireService(this, { name: 'Redis', host: redisHost, port: redisPort, howToEnable: 'start redis-server (or set REDIS_HOST/REDIS_PORT)' });
    topic = await topics.topic('rules', PARTITIONS);
  });
  after(async () => {
    await Promise.all(children.map((c) => c.stop()));
    await Promise.all(stores.map((s) => s.close()));
    await topics.cleanup();
  });

  const spawnWorker = (which: string, groupId: string) => {
    const child = new ReportingChild('telltale-worker', [
      'worker',
      '--brokers', kafkaBrokers.join(','),
      '--topic', topic,
      '--name', 'fraud',
      '--group', groupId,
      '--store', storeUrl(which),
      '--rule', ...RULES,
      '--stream', 'customer-{key}',
      '--type', '{headers.type}',
      '--max-records', '40',
      '--session-timeout', '6000',
      '--json',
    ], BIN);
    children.push(child);
    return child;
  };
  const latestJoin = (c: ReportingChild) => c.lines.filter((l) => 'joined' in l).at(-1)?.joined as number[] | undefined;
  const produce = (records: readonly InputRecord[]) => topics.produce(topic, records.map((r) => ({ key: r.key, value: r.value, headers: { type: r.type } })), 500);

  async function allCheckpointed(store: Store): Promise<boolean> {
    for (const [partition, end] of ends) {
      if (end === 0n) continue;
      const checkpoint = await readPartitionCheckpoint(store, workerCheckpointStream('fraud', topic, partition), () => null);
      if (checkpoint.nextOffset < end) return false;
    }
    return true;
  }

  let trioAlerts: string[];

  it('three workers, one SIGKILLed midway, commit every record once and find alerts of both rules', async () => {
    const store = await openStore(storeUrl('trio'));
    stores.push(store);
    const groupId = topics.group('rules-trio');
    const trio = [spawnWorker('trio', groupId), spawnWorker('trio', groupId), spawnWorker('trio', groupId)];
    await eventually(
      'the three workers split the partitions',
      () => {
        const all = trio.map(latestJoin);
        return all.every((a) => a !== undefined && a.length > 0) && new Set(all.flatMap((a) => a ?? [])).size === PARTITIONS;
      },
      90_000,
    );
    // A third of the input, then the victim dies with its partitions' checkpoints mid-topic, then the rest.
    const cut = Math.floor(INPUT.length / 3);
    await produce(INPUT.slice(0, cut));
    const victim = trio[1]!;
    await victim.waitFor('the victim has committed a few batches', () => victim.commits() >= 3, 90_000);
    const ownedByVictim = latestJoin(victim)!;
    victim.kill('SIGKILL');
    await victim.exited;
    await produce(INPUT.slice(cut));
    const offsets = await (await topics.admin()).fetchTopicOffsets(topic);
    ends = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
    await eventually('every partition is checkpointed at its end', () => allCheckpointed(store), 180_000);

    const survivors = trio.filter((c) => c !== victim);
    const survivorsCommitted = new Set(survivors.flatMap((c) => c.lines.filter((l) => 'nextOffset' in l).map((l) => l.partition as number)));
    for (const p of ownedByVictim) expect(survivorsCommitted.has(p), `partition ${p} moved to a survivor`).to.equal(true);
    // ... and resumed them where the victim's last checkpoint was, not from the start. That is the
    // last checkpoint in the store when a survivor took over: at or after the last one the victim
    // reported (a commit can be in the store and killed before its report; with one take folded
    // on top of another, two can).
    const victimReached = new Map<number, bigint>();
    for (const l of victim.lines) if ('nextOffset' in l) victimReached.set(l.partition as number, BigInt(l.nextOffset as string));
    for (const [p, reached] of victimReached) {
      const resumed = survivors
        .flatMap((c) => c.lines.filter((l) => l.partition === p && 'nextOffset' in l).map((l) => ({ next: BigInt(l.nextOffset as string), records: BigInt(l.records as number) })))
        .sort((a, b) => (a.next < b.next ? -1 : 1));
      for (const r of resumed) expect(r.next - r.records >= reached || r.next <= reached, `partition ${p}: a survivor re-committed records the victim had committed`).to.equal(true);
      const history = (await collect(store.readStream(workerCheckpointStream('fraud', topic, p)))).map((e) => BigInt((e.data as { nextOffset: string }).nextOffset));
      const first = resumed.find((r) => r.next > reached);
      expect(first, `partition ${p}: a survivor committed after the victim's checkpoint ${reached}`).to.not.equal(undefined);
      const at = history.indexOf(first!.next);
      expect(at, `partition ${p}: the survivor's checkpoint is in the store`).to.be.greaterThan(0);
      const takenOver = history[at - 1]!;
      expect(takenOver >= reached, `partition ${p}: taken over at ${takenOver}, before the victim's checkpoint ${reached}`).to.equal(true);
      expect(first!.next - first!.records, `partition ${p} resumed at the checkpoint before the survivor's first (${takenOver})`).to.equal(takenOver);
    }
    trioAlerts = await alertsIn(store);
    const perStream = ALERT_STREAMS.map((s) => trioAlerts.filter((a) => a.includes(`"stream":"${s}"`)).length);
    expect(perStream.every((n) => n >= 5), `alerts per rule: ${perStream.join(', ')}`).to.equal(true);
    for (const c of survivors) expect(c.stderr, 'survivor stderr').not.to.match(/a commit failed|faulted/);
  });

  it('gives exactly the alerts of one worker process on the same input', async function () {
    if (trioAlerts === undefined) this.skip();
    const store = await openStore(storeUrl('single'));
    stores.push(store);
    const single = spawnWorker('single', topics.group('rules-single'));
    await eventually('the single worker is checkpointed at the end of every partition', () => allCheckpointed(store), 180_000);
    const singleAlerts = await alertsIn(store);
    await single.stop();
    expect(singleAlerts.length).to.be.greaterThan(10);
    expect(trioAlerts).to.deep.equal(singleAlerts);
  });
});
