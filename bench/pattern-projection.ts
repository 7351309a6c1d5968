// The pattern benchmark's end-to-end case: the 3-step rule written as README's rule guide says
// (a rule built once at the top of a projection, its state a field of the projection's state,
// each match emitted as an alert), run by the real projection runtime (one isolated-vm isolate)
// over ~1M charges over 100k cards in a log store, from the start of the store to completion.
// The same rule text runs in plain Node over the same events read from the same store, and both
// must report the same matches (key and event ids of every one, in order): the isolate's are read
// back from the alert stream it wrote.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ProjectionManager } from '../engine/index.js';
import { pattern } from '../patterns/index.js';
import type { PatternBuilder } from '../patterns/index.js';
import { openStore } from '../store/index.js';
import '../store/log/register.js';
import type { EventData, Store, StreamWrite } from '../store/types.js';
import { amountFor, prng, T0 } from './charge-stream.js';
import type { BenchOptions } from './main.js';

/** The rule, as a rule author writes it: the same text runs in the isolate and in plain Node. */
const RULE = `const rule = pattern('small-medium-large')
  .keyBy((e) => e.data.card)
  .eventTime((e) => e.data.time)
  .begin('small', (e) => e.data.amount < 2)
  .followedBy('medium', (e) => e.data.amount >= 2 && e.data.amount <= 100)
  .followedBy('large', (e) => e.data.amount > 500)
  .within('10m');`;

const ALERTS = 'alerts-small-medium-large';

/**
 * The projection, in the two forms a rule author may write. `one-state`: README's example, the
 * rule's state (every card's partial matches) a field of the projection's one state. `partitioned`:
 * the same with `partitionBy` on the card, so each card's partial matches are a partition state of
 * their own (checkpointed as a small event per dirty partition instead of one big one).
 * `one-state-no-checkpoints`: the first with checkpoints off, a diagnostic that separates the cost
 * of running the rule in the isolate from that of checkpointing its state (emitted alerts are
 * still written, at the end). It still flushes: every 4000 events (the checkpoint threshold) the
 * isolate hands the host its whole state, checkpointed or not. `one-state-final-checkpoint`: the
 * first with that threshold past the end of the run, so the state crosses once, at the end (and
 * the alerts are written then): what the rule costs in the isolate without the flushes.
 * `one-state-every-4000`: the first with the size-aware checkpoint policy off
 * (`checkpointStateBytesPerEvent: 0`), so the whole state is handed over and checkpointed every
 * 4000 events however large it is, as before that policy. The two authored forms run by default;
 * the diagnostic ones when `--e2e-forms` names them (each takes minutes).
 */
type Form = 'one-state' | 'one-state-no-checkpoints' | 'one-state-final-checkpoint' | 'one-state-every-4000' | 'partitioned';

function projection(form: Form, alerts: string): string {
  const source = form !== 'partitioned' ? 'fromAll()' : `fromAll().partitionBy((e) => (e.eventType === 'CardCharged' ? e.data.card : null))`;
  return `${RULE}

${source}.when({
  $init: () => ({ rule: rule.initialState(), matches: 0 }),
  CardCharged: (s, e) => {
    for (const m of rule.advance(s.rule, e).matches) {
      s.matches++;
      emit('${alerts}', 'SmallMediumLarge', m);
    }
    return s;
  },
});`;
}

interface ChargeData { card: string; amount: number; time: number }

/**
 * Charges in batches of 1000 over `cards` card streams (`card-<n>`), random cards as in the parsed
 * benchmark. A batch is appended grouped by stream (one write per stream), which reorders it, so
 * event times are given in stored order, 2000 per second: the stream in `$all` is in event-time
 * order, as a live one would be, and no event is late.
 */
async function fill(store: Store, events: number, cards: number, log: (l: string) => void): Promise<void> {
  const rnd = prng(42);
  const batch = 1000;
  let stored = 0;
  for (let i = 0; i < events; i += batch) {
    const writes = new Map<string, ChargeData[]>();
    for (let j = i; j < Math.min(events, i + batch); j++) {
      const amount = amountFor(rnd());
      const card = `card-${Math.floor(rnd() * cards)}`;
      const list = writes.get(card);
      const data = { card, amount, time: 0 };
      if (list) list.push(data);
      else writes.set(card, [data]);
    }
    const list: StreamWrite[] = [];
    for (const [streamId, datas] of writes) {
      const evs: EventData[] = [];
      for (const data of datas) {
        // Ids from the event's place in the stream of charges, so every store filled this way holds
        // the same events and a form's alerts compare with plain Node's run over another store.
        evs.push({ id: `00000000-0000-4000-8000-${stored.toString(16).padStart(12, '0')}`, type: 'CardCharged', data });
        data.time = T0 + Math.floor((stored++ * 1000) / 2000);
      }
      list.push({ streamId, events: evs });
    }
    await store.appendToStreams(list);
    if ((i / batch) % 200 === 0) log(`  filled ${i} events`);
  }
}

/** CPU time of the whole process so far (the isolate's thread and libuv's pool included), ms. */
function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** CPU time of the main thread so far (Linux /proc), ms; undefined elsewhere. */
function mainThreadCpuNow(): number | undefined {
  try {
    // Fields 14 and 15 of /proc/<pid>/task/<tid>/stat: user and system time in clock ticks (1/100 s).
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

interface MatchIds { key: string; ids: string }

function idsOf(m: { key: string; steps: Record<string, ReadonlyArray<{ id: unknown }>> }): MatchIds {
  return { key: m.key, ids: ['small', 'medium', 'large'].map((s) => String(m.steps[s]?.[0]?.id)).join(',') };
}

/** The same rule text in plain Node, over the store's events read a page at a time. */
async function plainNode(store: Store): Promise<{ seconds: number; cpuMs: number; events: number; matches: MatchIds[] }> {
  const rule = new Function('pattern', `${RULE}\nreturn rule;`)(pattern) as PatternBuilder<{ eventId: string; eventType: string; data: ChargeData }>;
  const cpu = cpuNow();
  const started = performance.now();
  const state = rule.initialState();
  const matches: MatchIds[] = [];
  let events = 0;
  for await (const page of store.readAllPages()) {
    for (const e of page.events) {
      if (e.type !== 'CardCharged') continue;
      events++;
      for (const m of rule.advance(state, { eventId: e.id, eventType: e.type, data: e.data as ChargeData }).matches) matches.push(idsOf(m));
    }
  }
  return { seconds: (performance.now() - started) / 1000, cpuMs: cpuNow() - cpu, events, matches };
}

/** One projection of the rule, from the start of the store to Completed, checked against plain Node. */
async function inProjection(store: Store, form: Form, events: number, plain: { seconds: number; matches: MatchIds[] }, log: (l: string) => void): Promise<object> {
  const name = `small-medium-large-${form}`;
  const alertStream = `${ALERTS}-${form}`;
  // A batch that ends in a checkpoint stringifies the one-state form's whole state (MBs): on this
  // shared machine that has taken more than the default 2 s batch limit (a wall-clock limit) and
  // faulted the projection, so the limit is raised; the figures then say what such a batch costs.
  const manager = new ProjectionManager(store, {
    systemProjections: false,
    limits: {
      memoryLimitMiB: 1024,
      batchTimeoutMs: 60_000,
      ...(form === 'one-state-final-checkpoint' ? { checkpointHandledThreshold: 1e9 } : {}),
      ...(form === 'one-state-every-4000' ? { checkpointStateBytesPerEvent: 0 } : {}),
    },
  });
  await manager.start();
  const cpu = cpuNow();
  const mainCpu = mainThreadCpuNow();
  const started = performance.now();
  await manager.create(name, projection(form, alertStream), { mode: 'one-time', checkpoints: form !== 'one-state-no-checkpoints', emit: true });
  const status = await manager.when(name, (s) => s.status === 'Completed' || s.status === 'Faulted');
  const seconds = (performance.now() - started) / 1000;
  const cpuMs = cpuNow() - cpu;
  const mainEnd = mainThreadCpuNow();
  const mainCpuMs = mainCpu === undefined || mainEnd === undefined ? undefined : mainEnd - mainCpu;
  const fault = status.status === 'Faulted' ? status.lastError?.message ?? 'faulted' : null;
  let stateBytes: number | null = null;
  if (form !== 'partitioned' && fault === null) stateBytes = JSON.stringify(await manager.state(name)).length;
  await manager.close();
  if (fault !== null) {
    log(`end-to-end (${form}): the projection faulted: ${fault}`);
    return { fault, eventsProcessed: status.eventsProcessed, seconds: +seconds.toFixed(2) };
  }

  // Same events, same answer: the alerts the isolate wrote, against plain Node's matches.
  const alerts: MatchIds[] = [];
  for await (const e of store.readStream(alertStream)) alerts.push(idsOf(e.data as { key: string; steps: Record<string, Array<{ id: unknown }>> }));
  if (alerts.length !== plain.matches.length) throw new Error(`the projection (${form}) and plain Node disagree: ${alerts.length} alerts, ${plain.matches.length} matches in plain Node`);
  for (let i = 0; i < alerts.length; i++) {
    const a = alerts[i] as MatchIds, b = plain.matches[i] as MatchIds;
    if (a.key !== b.key || a.ids !== b.ids) throw new Error(`the projection (${form}) and plain Node disagree at match ${i}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  }
  const rate = Math.round(events / seconds);
  const us = (ms: number): number => +((ms * 1000) / events).toFixed(2);
  log(`end-to-end (${form}): ${rate.toLocaleString()} ev/s, ${us(cpuMs)} µs CPU per event (main thread ${mainCpuMs === undefined ? '?' : us(mainCpuMs)}), ${alerts.length} alerts (identical to plain Node)${stateBytes === null ? '' : `, final state ${stateBytes} bytes of JSON`}`);
  return {
    eventsPerSecond: rate,
    seconds: +seconds.toFixed(2),
    cpuPerEventUs: us(cpuMs),
    mainThreadCpuPerEventUs: mainCpuMs === undefined ? null : us(mainCpuMs),
    eventsProcessed: status.eventsProcessed,
    alerts: alerts.length,
    ratioToPlainNode: +(rate / (events / plain.seconds)).toFixed(3),
    ...(stateBytes === null ? {} : { stateJsonBytes: stateBytes }),
  };
}

/** The store's part alone: the same pages read and their charges counted, no rule. */
async function readOnly(store: Store): Promise<{ seconds: number; cpuMs: number; events: number }> {
  const cpu = cpuNow();
  const started = performance.now();
  let events = 0;
  for await (const page of store.readAllPages()) for (const e of page.events) if (e.type === 'CardCharged' && (e.data as ChargeData).amount >= 0) events++;
  return { seconds: (performance.now() - started) / 1000, cpuMs: cpuNow() - cpu, events };
}

export async function endToEnd(options: BenchOptions, events: number, cards: number): Promise<object> {
  // The store's default limits: the one-state form's state (20 MB of JSON at 100k cards) is
  // checkpointed in chunks (engine/projections/projection-runner.ts) since c4185ba; before, the
  // 1 MiB event limit faulted it past ~16k open partial matches and this bench raised the limit.
  // Each form runs on a store of its own, filled the same way: a projection reads `$all`, so on a
  // shared store a form would also scan every checkpoint the forms before it wrote (GBs for the
  // one-state form), and its figure would say more about them than about itself.
  const fresh = async (): Promise<{ store: Store; drop: () => Promise<void> }> => {
    const dir = mkdtempSync(join(tmpdir(), 'telltale-bench-pattern-'));
    const store = await openStore(`file:${dir}`);
    options.log(`end-to-end: filling a log store with ${events} charges over ${cards} cards`);
    await fill(store, events, cards, options.log);
    return {
      store,
      drop: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  };
  const first = await fresh();
  let read: Awaited<ReturnType<typeof readOnly>>;
  let plain: Awaited<ReturnType<typeof plainNode>>;
  try {
    read = await readOnly(first.store);
    options.log(`end-to-end: reading the store alone (plain Node, pages): ${Math.round(read.events / read.seconds).toLocaleString()} ev/s, ${((read.cpuMs * 1000) / read.events).toFixed(2)} µs CPU per event`);
    plain = await plainNode(first.store);
    options.log(`end-to-end: the rule in plain Node over the store: ${Math.round(plain.events / plain.seconds).toLocaleString()} ev/s, ${plain.matches.length} matches`);
  } finally {
    await first.drop();
  }
  const forms = String(options.flags['e2e-forms'] ?? 'one-state,partitioned').split(',') as Form[];
  const results: Record<string, object> = {};
  for (const form of forms) {
    const own = await fresh();
    try {
      results[form] = await inProjection(own.store, form, events, plain, options.log);
    } finally {
      await own.drop();
    }
  }
  return {
    events,
    cards,
    matches: plain.matches.length,
    matchesCompared: 'key and event ids of every alert the projection emitted, in order, against the same rule text in plain Node',
    storePerForm: 'each form on a freshly filled store of its own',
    plainNodeOverStore: { eventsPerSecond: Math.round(plain.events / plain.seconds), cpuPerEventUs: +((plain.cpuMs * 1000) / plain.events).toFixed(2) },
    readingTheStoreAlone: { eventsPerSecond: Math.round(read.events / read.seconds), cpuPerEventUs: +((read.cpuMs * 1000) / read.events).toFixed(2) },
    ...results,
  };
}
