// `npm run bench -- pattern [--json] [--e2e-events 1000000] [--e2e-forms one-state,partitioned] [--skip-e2e]`: throughput of sequence,
// absence and window rules on already-parsed events, a hand-written state machine for the same
// 3-step rule as the limit, memory per open partial match (bench/pattern-memory.ts, in child
// processes), and the 3-step rule end to end inside a projection reading a log store
// (bench/pattern-projection.ts). Progress goes to stderr through `options.log`; the result is
// returned for bench/main.ts to print. Figures are medians of several runs (the machine may be
// noisy). PATTERN_BENCH_EVENTS / PATTERN_BENCH_RUNS / PATTERN_BENCH_MEMORY_RUNS scale it down.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pattern, windowed, sum, count, type PatternMatch } from '../patterns/index.js';
import { charges, threeStep, type Charge } from './charge-stream.js';
import type { BenchOptions } from './main.js';
import { endToEnd } from './pattern-projection.js';

/** What both matchers report per match, for comparing them: key and event ids per step. */
interface MatchIds { key: string; small: string; medium: string; large: string }

/** The same rule written by hand, the way one would without a library: per card, its open runs
 * as small objects; a run past 10 minutes is dropped when the card's next event arrives. It does
 * the same work as the library where it shows: it takes the same batches and builds, per match,
 * the same match object (`kind, rule, key, steps: { small, medium, large: [{ id, time }] }, start,
 * end`). It keeps no timer, so it never reports a timed-out partial match, and a card that goes
 * quiet keeps its runs forever: both are less work than the library does. */
function handWritten(batches: readonly Charge[][], keep: HandMatch[] | null): number {
  const W = 600_000;
  interface HRun { start: number; small: string; medium: string | null; mediumTime: number }
  const keys = new Map<string, HRun[]>();
  let matches = 0;
  for (let b = 0; b < batches.length; b++) {
    const events = batches[b] as Charge[];
    const out: HandMatch[] = [];
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as Charge;
      const a = e.data.amount;
      const card = e.data.card;
      let runs = keys.get(card);
      if (runs !== undefined) {
        let k = 0;
        for (let j = 0; j < runs.length; j++) {
          const r = runs[j] as HRun;
          if (e.time - r.start >= W) continue;
          if (r.medium === null) {
            if (a >= 2 && a <= 100) { r.medium = e.id; r.mediumTime = e.time; }
          } else if (a > 500) {
            out.push({
              kind: 'match', rule: 'small-medium-large', key: card,
              steps: { small: [{ id: r.small, time: r.start }], medium: [{ id: r.medium, time: r.mediumTime }], large: [{ id: e.id, time: e.time }] },
              start: r.start, end: e.time,
            });
            continue;
          }
          runs[k++] = r;
        }
        runs.length = k;
      }
      if (a < 2) {
        if (runs === undefined) { runs = []; keys.set(card, runs); }
        runs.push({ start: e.time, small: e.id, medium: null, mediumTime: 0 });
      } else if (runs !== undefined && runs.length === 0) keys.delete(card);
    }
    matches += out.length;
    if (keep !== null) for (const m of out) keep.push(m);
  }
  return matches;
}

interface HandMatch {
  kind: 'match';
  rule: string;
  key: string;
  steps: { small: Array<{ id: string; time: number }>; medium: Array<{ id: string; time: number }>; large: Array<{ id: string; time: number }> };
  start: number;
  end: number;
}

/** Key and ids per step of each match, in order: what both matchers must agree on. */
function idsOf(ms: ReadonlyArray<{ key: string; steps: Record<string, ReadonlyArray<{ id: string | number }>> }>): MatchIds[] {
  return ms.map((m) => ({ key: m.key, small: String(m.steps['small']?.[0]?.id), medium: String(m.steps['medium']?.[0]?.id), large: String(m.steps['large']?.[0]?.id) }));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** CPU time (user + system) of `fn`, ms: steadier than wall time on a shared, busy machine.
 * Wall time is also recorded (see `wall`). */
const wall: number[] = [];
function time(fn: () => unknown): number {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  fn();
  wall.push(performance.now() - t0);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

/** Heap per open partial match, from a fresh process (bench/pattern-memory.ts) per reading. */
function memoryReading(perKey: number, keys: number): { heap: number; open: number; json: number } {
  const child = fileURLToPath(new URL('./pattern-memory.js', import.meta.url));
  const out = execFileSync(process.execPath, ['--expose-gc', child, String(perKey), String(keys)], { encoding: 'utf8' });
  return JSON.parse(out) as { heap: number; open: number; json: number };
}

export async function run(options: BenchOptions): Promise<object> {
  const N = Number(process.env.PATTERN_BENCH_EVENTS ?? 2_000_000);
  const RUNS = Number(process.env.PATTERN_BENCH_RUNS ?? 5);
  const KEYS = 100_000;
  const events = charges(N, KEYS, 2000);
  const log = options.log;

  // 3-step keyed sequence, library vs hand-written, interleaved so noise hits both alike.
  // The hand-written matcher drops partial matches that time out; so does `rule`. `reporting`
  // also builds a timed-out-match output for each (the default).
  const rule = threeStep().onTimeout('discard');
  const reporting = threeStep();
  const batches: Charge[][] = [];
  for (let i = 0; i < events.length; i += 1000) batches.push(events.slice(i, i + 1000));
  const libReport: number[] = [];
  const libSingle: number[] = [];
  const lib: number[] = [];
  const hand: number[] = [];
  let libCount = 0;
  let handCount = 0;
  for (let r = 0; r < RUNS; r++) {
    // Batches of 1000, as a projection receives them; both sides build their match objects, count
    // them and let them go (as a projection hands its alerts on).
    lib.push(time(() => {
      const m = rule.matcher();
      let n = 0;
      for (let i = 0; i < batches.length; i++) n += m.pushBatch(batches[i] as Charge[]).matches.length;
      libCount = n;
    }));
    // One event per call, as a projection's `when` handler calls `advance`: no batch to look ahead in.
    libSingle.push(time(() => {
      const m = rule.matcher();
      let n = 0;
      for (let i = 0; i < events.length; i++) n += m.push(events[i] as Charge).matches.length;
      if (n !== libCount) throw new Error(`advance and advanceBatch disagree: ${n} vs ${libCount} matches`);
    }));
    libReport.push(time(() => {
      const m = reporting.matcher();
      for (let i = 0; i < batches.length; i++) m.pushBatch(batches[i] as Charge[]);
    }));
    hand.push(time(() => { handCount = handWritten(batches, null); }));
    if (libCount !== handCount) throw new Error(`hand-written and library disagree: ${handCount} vs ${libCount} matches`);
  }
  // Same events, same answer: one more (untimed) run of each keeps every match, and they must agree
  // on each one's key and the ids of its three events, in order.
  const libMatches: PatternMatch[] = [];
  const checkMatcher = rule.matcher();
  for (let i = 0; i < batches.length; i++) for (const found of checkMatcher.pushBatch(batches[i] as Charge[]).matches) libMatches.push(found);
  const handMatches: HandMatch[] = [];
  handWritten(batches, handMatches);
  if (libMatches.length !== handMatches.length || libMatches.length !== libCount) throw new Error(`hand-written and library disagree: ${handMatches.length} vs ${libMatches.length} matches`);
  const libIds = idsOf(libMatches);
  const handIds = idsOf(handMatches);
  for (let i = 0; i < libIds.length; i++) {
    const a = libIds[i] as MatchIds, b = handIds[i] as MatchIds;
    if (a.key !== b.key || a.small !== b.small || a.medium !== b.medium || a.large !== b.large) {
      throw new Error(`hand-written and library disagree at match ${i}: ${JSON.stringify(b)} vs ${JSON.stringify(a)}`);
    }
  }
  const libRate = N / (median(lib) / 1000);
  const handRate = N / (median(hand) / 1000);
  const reportRate = N / (median(libReport) / 1000);
  const singleRate = N / (median(libSingle) / 1000);
  log(`3-step sequence: ${Math.round(libRate).toLocaleString()} ev/s library, ${Math.round(handRate).toLocaleString()} ev/s hand-written (ratio ${(libRate / handRate).toFixed(2)}), ${libMatches.length} matches (identical); one event per call: ${Math.round(singleRate).toLocaleString()} ev/s; reporting timeouts: ${Math.round(reportRate).toLocaleString()} ev/s`);

  // Memory per open partial match: 100k keys with one, then three, small charges each (every one
  // opens a partial match). Overall = state heap / open partial matches (keys, index and deadlines
  // included); marginal = what each extra partial match of a key costs. Each reading is a fresh
  // process holding nothing else (see bench/pattern-memory.ts); medians of MEMORY_RUNS, alternating.
  const MEMORY_RUNS = Number(process.env.PATTERN_BENCH_MEMORY_RUNS ?? 5);
  const ones: Array<{ heap: number; open: number; json: number }> = [];
  const threes: Array<{ heap: number; open: number; json: number }> = [];
  for (let r = 0; r < MEMORY_RUNS; r++) {
    ones.push(memoryReading(1, KEYS));
    threes.push(memoryReading(3, KEYS));
  }
  const one = { heap: median(ones.map((m) => m.heap)), open: (ones[0] as { open: number }).open, json: median(ones.map((m) => m.json)) };
  const three = { heap: median(threes.map((m) => m.heap)), open: (threes[0] as { open: number }).open, json: median(threes.map((m) => m.json)) };
  const perMatch = (xs: Array<{ heap: number; open: number }>): number[] => xs.map((m) => Math.round(m.heap / m.open));
  const memory = {
    openPartialMatches: three.open,
    heapBytesPerPartialMatch: Math.round(three.heap / three.open),
    // Keys holding a single partial match: the key's own costs (its array, Map entry, key string)
    // are not shared, so this is the figure for spread-out traffic.
    heapBytesPerPartialMatchOnePerKey: Math.round(one.heap / one.open),
    jsonBytesPerPartialMatch: Math.round(three.json / three.open),
    marginalHeapBytesPerPartialMatch: Math.round((three.heap - one.heap) / (three.open - one.open)),
    marginalJsonBytesPerPartialMatch: Math.round((three.json - one.json) / (three.open - one.open)),
    readings: { threePerKey: perMatch(threes), onePerKey: perMatch(ones), measuredIn: 'a fresh node --expose-gc process per reading, heapUsed + arrayBuffers after a full GC minus before' },
  };
  log(`memory: ${three.open} open partial matches on ${KEYS} keys: ${memory.heapBytesPerPartialMatch} B heap, ${memory.jsonBytesPerPartialMatch} B JSON each overall (${memory.heapBytesPerPartialMatchOnePerKey} B heap with one per key); marginal ${memory.marginalHeapBytesPerPartialMatch} B heap, ${memory.marginalJsonBytesPerPartialMatch} B JSON`);

  // Adversarial: every event opens a partial match on a new key; the rule-wide cap holds.
  const capped = threeStep().limits({ maxPartialMatches: 50_000 }).matcher();
  for (let i = 0; i < 200_000; i++) capped.push({ id: `x${i}`, type: 'Charge', time: 1_700_000_000_000 + i, data: { card: `k${i}`, amount: 1 } });
  const adversarial = { cap: 50_000, open: capped.openPartialMatches, refused: capped.state.counts.refusedRuleCap };
  log(`adversarial: cap 50000, open ${adversarial.open}, refused ${adversarial.refused}`);

  // Absence: order not followed by payment within 30 minutes, per order.
  const orders = events.map((e, i) => ({ id: e.id, type: i % 3 === 2 ? 'Paid' : 'Ordered', time: e.time, data: { card: `o-${Math.floor(i / 3) % 200_000}`, amount: 0 } }));
  const absence = pattern<Charge>('unpaid').keyBy((e) => e.data.card).eventTime((e) => e.time).eventId((e) => e.id)
    .begin('order', (e) => e.type === 'Ordered').notFollowedBy('payment', (e) => e.type === 'Paid').within('30m');
  const abs: number[] = [];
  for (let r = 0; r < RUNS; r++) abs.push(time(() => { const m = absence.matcher(); for (const e of orders) m.push(e); m.watermark(Number.MAX_SAFE_INTEGER); }));
  const absenceRate = N / (median(abs) / 1000);
  log(`absence: ${Math.round(absenceRate).toLocaleString()} ev/s`);

  // Sliding one-hour sum per key, and session windows (gap 5 minutes), on fewer events: they emit per event.
  const W = Math.min(N, 1_000_000);
  const wEvents = events.slice(0, W);
  const sliding = windowed<Charge>('hourly-spend').keyBy((e) => e.data.card).eventTime((e) => e.time).eventId((e) => e.id).sliding('1h').aggregate({ total: sum((e) => e.data.amount) });
  const sessions = windowed<Charge>('sessions').keyBy((e) => e.data.card).eventTime((e) => e.time).eventId((e) => e.id).session('5m').aggregate({ n: count(), total: sum((e) => e.data.amount) });
  const sl: number[] = [];
  const se: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    sl.push(time(() => { let s = sliding.initialState(); for (const e of wEvents) s = sliding.advance(s, e).state; }));
    se.push(time(() => { let s = sessions.initialState(); for (const e of wEvents) s = sessions.advance(s, e).state; sessions.onWatermark(s, Number.MAX_SAFE_INTEGER); }));
  }
  const slidingRate = W / (median(sl) / 1000);
  const sessionRate = W / (median(se) / 1000);
  log(`sliding 1h sum: ${Math.round(slidingRate).toLocaleString()} ev/s; session windows: ${Math.round(sessionRate).toLocaleString()} ev/s`);

  // End to end: the rule inside a projection, reading the store.
  const E2E_EVENTS = Number(options.flags['e2e-events'] ?? 1_000_000);
  const endToEndResult = options.flags['skip-e2e'] === true ? { skipped: true } : await endToEnd(options, E2E_EVENTS, KEYS);

  return {
    bench: 'pattern',
    timing: 'CPU time (user+system) per run, median of runs',
    events: N,
    keys: KEYS,
    runs: RUNS,
    node: process.version,
    threeStep: { eventsPerSecond: Math.round(libRate), handWrittenEventsPerSecond: Math.round(handRate), ratioToHandWritten: Number((libRate / handRate).toFixed(3)), matches: libMatches.length, matchesCompared: 'key and event ids of every match, in order', eventsPerSecondOneEventPerCall: Math.round(singleRate), ratioOneEventPerCall: Number((singleRate / handRate).toFixed(3)), eventsPerSecondReportingTimeouts: Math.round(reportRate) },
    absence: { eventsPerSecond: Math.round(absenceRate) },
    slidingSum: { eventsPerSecond: Math.round(slidingRate), events: W },
    sessionWindows: { eventsPerSecond: Math.round(sessionRate), events: W },
    memory,
    adversarial,
    endToEnd: endToEndResult,
    targets: { eventsPerSecond: 3_000_000, ratioToHandWritten: 0.5, endToEndEventsPerSecond: 400_000, bytesPerPartialMatch: 200 },
  };
}
