// `npm run bench -- projection [--json] [--events 1000000] [--partitions 100000] [--backend file|memory]
// [--only a,b,c,d] [--checkpoint-every 4000]`: projections
// over stored events of about 200 bytes, each figure next to the same fold written in plain Node
// over the same events read from the same store (the limit a projection can approach):
//   (a) count by event type over $all
//   (b) partitionBy over 100k partitions (states checkpointed to partition streams)
//   (c) linkTo of every event (durable writes, atomic with the checkpoint)
//   (d) two projections at once (isolates run on their own threads)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ProjectionManager } from '../engine/index.js';
import { openStore } from '../store/index.js';
import '../store/log/register.js';
import type { EventData, Store, StreamWrite } from '../store/types.js';
import type { BenchOptions } from './main.js';

const TYPES = ['CardCharged', 'CardRefunded', 'AccountOpened', 'LimitChanged', 'AddressChanged', 'PaymentFailed', 'LoginSucceeded', 'LoginFailed'];

function eventAt(i: number, partitions: number): { stream: string; event: EventData } {
  const account = i % partitions;
  return {
    stream: `account-${account}`,
    event: {
      type: TYPES[i % TYPES.length]!,
      data: { account: `acc-${account}`, amount: (i * 7919) % 100000, currency: 'EUR', merchant: `merchant-${i % 977}`, country: 'NL', channel: 'web', seq: i },
    },
  };
}

async function fill(store: Store, events: number, partitions: number, log: (l: string) => void): Promise<number> {
  const batch = 1000;
  let bytes = 0;
  for (let i = 0; i < events; i += batch) {
    const writes = new Map<string, EventData[]>();
    for (let j = i; j < Math.min(events, i + batch); j++) {
      const { stream, event } = eventAt(j, partitions);
      if (j < 3) bytes = JSON.stringify(event.data).length + event.type.length + stream.length + 36;
      const list = writes.get(stream);
      if (list) list.push(event);
      else writes.set(stream, [event]);
    }
    const list: StreamWrite[] = [...writes].map(([streamId, evs]) => ({ streamId, events: evs }));
    await store.appendToStreams(list);
    if ((i / batch) % 100 === 0) log(`  filled ${i} events`);
  }
  return bytes;
}

/**
 * CPU time so far, in ms: the main thread's (Linux /proc; undefined elsewhere) and the whole
 * process's (isolate threads and libuv's pool too). On a shared machine wall time moves with
 * the neighbours' load; CPU per event shows what the work costs.
 */
interface CpuMark {
  readonly main: number | undefined;
  readonly all: number;
}

function cpuMark(): CpuMark {
  let main: number | undefined;
  try {
    // Fields 14 and 15 of /proc/<pid>/task/<tid>/stat: user and system time in clock ticks (1/100 s).
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    main = (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    main = undefined;
  }
  const u = process.cpuUsage();
  return { main, all: (u.user + u.system) / 1000 };
}

/** µs of CPU per event between two marks. */
function cpuPerEvent(from: CpuMark, events: number): { mainThreadUs: number | null; processUs: number } {
  const to = cpuMark();
  const us = (ms: number): number => +((ms * 1000) / events).toFixed(2);
  return { mainThreadUs: from.main === undefined || to.main === undefined ? null : us(to.main - from.main), processUs: us(to.all - from.all) };
}

async function plainCountByType(store: Store): Promise<{ seconds: number; events: number; cpu: object }> {
  const cpu = cpuMark();
  const started = performance.now();
  const counts: Record<string, number> = {};
  let n = 0;
  for await (const e of store.readAll()) {
    if (e.streamId.startsWith('$')) continue;
    counts[e.type] = (counts[e.type] ?? 0) + 1;
    n++;
  }
  return { seconds: (performance.now() - started) / 1000, events: n, cpu: cpuPerEvent(cpu, n) };
}

/** The same fold over `readAllPages`: what a plain-Node reader gets without the per-event await. */
async function plainCountByTypePages(store: Store): Promise<{ seconds: number; events: number; cpu: object }> {
  const cpu = cpuMark();
  const started = performance.now();
  const counts: Record<string, number> = {};
  let n = 0;
  for await (const page of store.readAllPages()) {
    for (const e of page.events) {
      if (e.streamId.startsWith('$')) continue;
      counts[e.type] = (counts[e.type] ?? 0) + 1;
      n++;
    }
  }
  return { seconds: (performance.now() - started) / 1000, events: n, cpu: cpuPerEvent(cpu, n) };
}

async function plainPartitioned(store: Store): Promise<{ seconds: number; events: number; cpu: object }> {
  const cpu = cpuMark();
  const started = performance.now();
  const states = new Map<string, { n: number; sum: number }>();
  let n = 0;
  for await (const e of store.readAll()) {
    if (e.streamId.startsWith('$')) continue;
    const data = e.data as { account: string; amount: number };
    let s = states.get(data.account);
    if (!s) states.set(data.account, (s = { n: 0, sum: 0 }));
    s.n++;
    s.sum += data.amount;
    n++;
  }
  return { seconds: (performance.now() - started) / 1000, events: n, cpu: cpuPerEvent(cpu, n) };
}

/** `--checkpoint-every N`: handled events (and dirty partitions) between checkpoints; Event Store's default is 4000. */
let checkpointEvery: number | undefined;

async function runProjections(store: Store, queries: Record<string, string>, emit: boolean, events: number): Promise<{ seconds: number; processed: Record<string, number>; faults: string[]; cpu: object }> {
  const limits = { memoryLimitMiB: 512, ...(checkpointEvery ? { checkpointHandledThreshold: checkpointEvery, maxDirtyPartitions: checkpointEvery } : {}) };
  const manager = new ProjectionManager(store, { systemProjections: false, limits });
  await manager.start();
  const cpu = cpuMark();
  const started = performance.now();
  await Promise.all(Object.entries(queries).map(([name, query]) => manager.create(name, query, { mode: 'one-time', checkpoints: true, emit })));
  const statuses = await Promise.all(Object.keys(queries).map((name) => manager.when(name, (s) => s.status === 'Completed' || s.status === 'Faulted')));
  const seconds = (performance.now() - started) / 1000;
  const used = cpuPerEvent(cpu, events * Object.keys(queries).length);
  const processed: Record<string, number> = {};
  for (const s of statuses) processed[s.name] = s.eventsProcessed;
  const faults = statuses.filter((s) => s.status === 'Faulted').map((s) => `${s.name}: ${s.lastError?.message ?? ''}`);
  for (const name of Object.keys(queries)) await manager.delete(name);
  await manager.close();
  return { seconds, processed, faults, cpu: used };
}

const COUNT_BY_TYPE = `fromAll().when({
  $init: function () { return {}; },
  $any: function (s, e) { if (e.streamId[0] !== '$') s[e.eventType] = (s[e.eventType] || 0) + 1; }
});`;

const PARTITIONED = `fromAll().partitionBy(function (e) { return e.streamId[0] === '$' ? null : e.body.account; }).when({
  $init: function () { return { n: 0, sum: 0 }; },
  $any: function (s, e) { s.n++; s.sum += e.body.amount; }
});`;

const LINK_ALL = `fromAll().when({
  $any: function (s, e) { if (e.streamId[0] !== '$') linkTo('bench-links-' + (e.sequenceNumber % 16), e); }
});`;

export async function run(options: BenchOptions): Promise<object> {
  const events = Number(options.flags.events ?? 1_000_000);
  const partitions = Number(options.flags.partitions ?? 100_000);
  const backend = String(options.flags.backend ?? 'file');
  checkpointEvery = options.flags['checkpoint-every'] === undefined ? undefined : Number(options.flags['checkpoint-every']);
  const dir = mkdtempSync(join(tmpdir(), 'telltale-bench-projection-'));
  const store = await openStore(backend === 'memory' ? 'memory:' : `file:${dir}`);
  try {
    options.log(`filling ${events} events over ${partitions} streams (${backend})`);
    const eventBytes = await fill(store, events, partitions, options.log);
    const rate = (n: number, s: number): number => Math.round(n / s);

    const only = new Set(String(options.flags.only ?? 'a,b,c,d').split(','));
    const skipped = { eventsPerSecond: 0, plainNodeEventsPerSecond: 1, seconds: 0, processed: {}, faults: ['skipped'], cpu: {} };
    const none = { seconds: 0, events: 1, processed: {}, faults: ['skipped'], cpu: {} };

    options.log('(a) count by event type');
    const plainA = only.has('a') || only.has('d') ? await plainCountByType(store) : none;
    const plainAPages = only.has('a') || only.has('d') ? await plainCountByTypePages(store) : none;
    const a = only.has('a') || only.has('d') ? await runProjections(store, { count: COUNT_BY_TYPE }, false, events) : skipped;
    const aRate = rate(events, a.seconds);
    const plainARate = rate(plainA.events, plainA.seconds);

    // (d) right after (a), over the same records: (b) and (c) write to the store (state pages, the
    // partition catalogue, 1M links), and a count over $all run after them scans those too, so its
    // rate would not compare with (a)'s.
    options.log('(d) two projections at once');
    const d = only.has('d') ? await runProjections(store, { count1: COUNT_BY_TYPE, count2: COUNT_BY_TYPE }, false, events) : skipped;
    const dRate = rate(events * 2, d.seconds);

    options.log('(b) partitionBy');
    const plainB = only.has('b') ? await plainPartitioned(store) : none;
    const b = only.has('b') ? await runProjections(store, { partitioned: PARTITIONED }, false, events) : skipped;
    const bRate = rate(events, b.seconds);
    const plainBRate = rate(plainB.events, plainB.seconds);

    options.log('(c) linkTo every event');
    const c = only.has('c') ? await runProjections(store, { links: LINK_ALL }, true, events) : skipped;
    const cRate = rate(events, c.seconds);

    return {
      backend,
      checkpointEvery: checkpointEvery ?? 4000,
      events,
      partitions,
      approxEventBytes: eventBytes,
      a_countByType: { eventsPerSecond: aRate, plainNodeEventsPerSecond: plainARate, ratio: +(aRate / plainARate).toFixed(2), seconds: +a.seconds.toFixed(2), faults: a.faults, cpuPerEvent: a.cpu, plainCpuPerEvent: plainA.cpu,
        // The stricter limit: the plain fold over readAllPages, which projections now read through.
        plainPagesEventsPerSecond: rate(plainAPages.events, plainAPages.seconds), ratioToPages: +(aRate / rate(plainAPages.events, plainAPages.seconds)).toFixed(2), plainPagesCpuPerEvent: plainAPages.cpu },
      b_partitionBy: { eventsPerSecond: bRate, plainNodeEventsPerSecond: plainBRate, ratio: +(bRate / plainBRate).toFixed(2), seconds: +b.seconds.toFixed(2), faults: b.faults, cpuPerEvent: b.cpu, plainCpuPerEvent: plainB.cpu },
      c_linkToEveryEvent: { eventsPerSecond: cRate, linksWritten: events, seconds: +c.seconds.toFixed(2), faults: c.faults, cpuPerEvent: c.cpu },
      d_twoProjections: { eventsPerSecond: dRate, speedupOverOne: +(dRate / aRate).toFixed(2), seconds: +d.seconds.toFixed(2), faults: d.faults, cpuPerEvent: d.cpu },
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
