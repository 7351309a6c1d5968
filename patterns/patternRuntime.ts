import type { CapturedEvent, Condition, MatchSoFar, PatternDescription, StepNode, NegationNode } from './pattern.js';
import { MIN_TIME, defaultEventId, defaultEventTime, insertByTime } from './eventTime.js';

/**
 * A partial match ("run") is one flat array, so it stays small in memory and in JSON:
 * `[step, count, lastSeq, ...captures]`, each capture being `step, seq, time, id` (plus the
 * remembered fields when the rule declares `remember`). `seq` numbers a key's events from 1 and
 * is what contiguity and skip strategies compare; `time` is event time; `id` is what alerts name.
 */
export type Run = Array<number | string | Record<string, unknown>>;

/** Per-key state: `k` the key, `x` its index in `PatternState.keys`, `s` the key's event
 * counter, `t` its last event time (relative to `PatternState.base`), `r` its open runs in order
 * of their first event. */
export interface KeyState {
  k: string;
  x: number;
  s: number;
  t: number;
  r: Run[];
}

/** Counters a rule keeps about what it refused or dropped; the engine reports them. */
export interface PatternCounters {
  /** Events older than the watermark: not matched, returned in `late`. */
  late: number;
  /** Partial matches dropped because a key had too many (oldest first). */
  droppedPerKeyCap: number;
  /** Partial matches refused because the rule had too many over all keys. */
  refusedRuleCap: number;
  /** Keys evicted for idleness, and the partial matches they held. */
  evictedKeys: number;
  evictedPartialMatches: number;
  /** Partial matches that ran past `within`. */
  timedOut: number;
  matched: number;
}

/** The whole state of one sequence rule: plain JSON data, kept in the projection's state. */
export interface PatternState {
  v: 1;
  /** Watermark: max event time minus allowed lateness (or a higher one given to onWatermark). */
  wm: number;
  /** Max event time seen. */
  maxT: number;
  /** Times inside runs and deadlines are stored relative to this (the first event's time), so they
   * stay small integers (no boxed doubles in V8 for about 12 days of event time). */
  base: number | null;
  /** Events accepted so far (the ordinal used as id when events have none). */
  n: number;
  /** Keys with open partial matches. An array, not an object keyed by key: the runtime looks keys
   * up in a Map it derives from this array (rebuilt once when a state arrives from JSON), which is
   * several times faster than a dictionary-mode object and safe for any key, `__proto__` included. */
  keys: KeyState[];
  /** Within-deadlines in the order runs started: `[deadline, key, deadline, key, …]` from `th`.
   * Runs start in event-time order (events are re-ordered first), so this is a queue, not a heap. */
  tq: Array<number | string>;
  th: number;
  /** Events waiting for the watermark (allowed lateness > 0): `[time, ordinal, event]`. */
  buf: Array<[number, number, unknown]>;
  /** Open partial matches over all keys. */
  open: number;
  /** Watermark at the last idle-key sweep. */
  sweep: number;
  counts: PatternCounters;
}

export interface PatternMatch {
  readonly kind: 'match';
  readonly rule: string;
  readonly key: string;
  /** Step name → captured events, in order. */
  readonly steps: Record<string, CapturedEvent[]>;
  readonly start: number;
  readonly end: number;
  /** For a rule ending in absence: the deadline at which the absence was proven. */
  readonly provenAt?: number;
}

export interface TimedOutMatch {
  readonly kind: 'timeout';
  readonly rule: string;
  readonly key: string;
  readonly steps: Record<string, CapturedEvent[]>;
  readonly start: number;
  readonly deadline: number;
  /** The step the partial match was waiting for. */
  readonly waitingFor: string;
}

export interface WatermarkOutput {
  state: PatternState;
  matches: PatternMatch[];
  timeouts: TimedOutMatch[];
}

export interface PatternOutput<E> extends WatermarkOutput {
  /** Events that came later than the watermark; the engine may route them to a stream. */
  late: E[];
}

const STRICT = 0;
const RELAXED = 1;
const ANY = 2;
const HEADER = 3;
const CONTIGUITY = { strict: STRICT, relaxed: RELAXED, any: ANY } as const;

type Test = (event: any, match: MatchSoFar) => boolean;

/** A step as the matcher uses it: conditions folded into one function, transitions precomputed. */
interface CompiledStep {
  readonly index: number;
  readonly name: string;
  readonly test: Test;
  readonly min: number;
  readonly max: number;
  readonly enter: number;
  readonly loop: number;
  readonly greedy: boolean;
  /** Steps a run that has completed this one may move to (the next one, and past optional ones). */
  readonly proceed: readonly number[];
  /** A run here with count >= min is a complete match. */
  readonly accepting: boolean;
  /** Nothing can follow once this step is complete. */
  readonly terminal: boolean;
  readonly notNext: Test | null;
  readonly notFollowedBy: Test | null;
  /** Trailing notFollowedBy: a run here at max count waits for the within-deadline. */
  readonly absence: Test | null;
}

const EMPTY: never[] = [];
Object.freeze(EMPTY);

function fold(where: readonly Condition<any>[], orWhere: readonly Condition<any>[]): Test {
  const all: Test = where.length === 0 ? () => true
    : where.length === 1 ? (where[0] as Test)
    : (e, m) => { for (const c of where) if (!c(e, m)) return false; return true; };
  if (orWhere.length === 0) return all;
  return (e, m) => { if (all(e, m)) return true; for (const c of orWhere) if (c(e, m)) return true; return false; };
}

/** The view conditions get of a partial match; one instance, pointed at the run being tested. */
class RunView implements MatchSoFar {
  run: Run = [];
  base = 0;
  constructor(private readonly names: readonly string[], private readonly stride: number, private readonly hasFields: boolean) {}
  private index(step: string): number {
    const i = this.names.indexOf(step);
    if (i < 0) throw new TypeError(`no step named "${step}" (steps: ${this.names.join(', ')})`);
    return i;
  }
  captured(at: number): CapturedEvent {
    const r = this.run;
    const c = { id: r[at + 3] as string | number, time: (r[at + 2] as number) + this.base };
    return this.hasFields ? { ...(r[at + 4] as Record<string, unknown>), ...c } : c;
  }
  first(step: string): CapturedEvent | undefined {
    const s = this.index(step);
    for (let i = HEADER; i < this.run.length; i += this.stride) if (this.run[i] === s) return this.captured(i);
    return undefined;
  }
  last(step: string): CapturedEvent | undefined {
    const s = this.index(step);
    for (let i = this.run.length - this.stride; i >= HEADER; i -= this.stride) if (this.run[i] === s) return this.captured(i);
    return undefined;
  }
  all(step: string): CapturedEvent[] {
    const s = this.index(step);
    const out: CapturedEvent[] = [];
    for (let i = HEADER; i < this.run.length; i += this.stride) if (this.run[i] === s) out.push(this.captured(i));
    return out;
  }
  count(step: string): number {
    const s = this.index(step);
    let n = 0;
    for (let i = HEADER; i < this.run.length; i += this.stride) if (this.run[i] === s) n++;
    return n;
  }
  get startTime(): number {
    return this.run.length > HEADER ? (this.run[HEADER + 2] as number) + this.base : NaN;
  }
  previous(): CapturedEvent | undefined {
    return this.run.length > HEADER ? this.captured(this.run.length - this.stride) : undefined;
  }
}

/**
 * Runs a compiled pattern over events. It holds no state of its own: every call takes the rule
 * state (plain JSON) and mutates it, so a runtime can be rebuilt from the description at any time
 * and a state restored from a checkpoint carries on exactly where it was.
 */
export class PatternRuntime<E> {
  readonly steps: readonly CompiledStep[];
  private readonly starts: readonly number[];
  private readonly stride: number;
  private readonly view: RunView;
  private readonly emptyView: RunView;
  private readonly within: number;
  private readonly keyOf: (e: E) => string | number;
  private readonly timeOf: (e: E) => number;
  private readonly idOf: (e: E) => string | number | undefined;
  private readonly names: readonly string[];
  /** Step index used by skipToFirst/skipToLast, or -1. */
  private readonly skipStep: number;
  private readonly skipKind: number;

  constructor(readonly description: PatternDescription<E>) {
    const d = description;
    const steps: StepNode<E>[] = [];
    const negationsAfter: Array<{ notNext: NegationNode<E> | null; notFollowedBy: NegationNode<E> | null }> = [];
    for (const n of d.nodes) {
      if (n.kind === 'step') {
        steps.push(n);
        negationsAfter.push({ notNext: null, notFollowedBy: null });
      } else {
        const slot = negationsAfter[negationsAfter.length - 1] as { notNext: NegationNode<E> | null; notFollowedBy: NegationNode<E> | null };
        if (slot[n.kind]) throw new TypeError(`pattern "${d.name}": two ${n.kind} in a row ("${slot[n.kind]?.name}", "${n.name}"); combine them with or()`);
        slot[n.kind] = n;
      }
    }
    const trailingAbsence = d.nodes.at(-1)?.kind === 'notFollowedBy';
    this.names = steps.map((s) => s.name);
    this.steps = steps.map((s, i): CompiledStep => {
      const proceed: number[] = [];
      let q = i + 1;
      for (; q < steps.length; q++) {
        proceed.push(q);
        if (!(steps[q] as StepNode<E>).optional) break;
      }
      const neg = negationsAfter[i] as { notNext: NegationNode<E> | null; notFollowedBy: NegationNode<E> | null };
      const isLast = i === steps.length - 1;
      const restOptional = q >= steps.length; // every later step can be skipped
      const guarded = neg.notNext !== null || neg.notFollowedBy !== null;
      return {
        index: i,
        name: s.name,
        test: fold(s.where, s.orWhere),
        min: s.min, // skipping an optional step is a proceed edge past it, not a count of 0
        max: s.max,
        enter: CONTIGUITY[s.contiguity],
        loop: CONTIGUITY[s.loopContiguity],
        greedy: s.greedy,
        proceed,
        accepting: restOptional && !guarded,
        terminal: isLast && s.max === 1 && !guarded,
        notNext: neg.notNext && !(isLast && trailingAbsence) ? fold(neg.notNext.where, neg.notNext.orWhere) : null,
        notFollowedBy: neg.notFollowedBy && !isLast ? fold(neg.notFollowedBy.where, neg.notFollowedBy.orWhere) : null,
        absence: isLast && trailingAbsence && neg.notFollowedBy ? fold(neg.notFollowedBy.where, neg.notFollowedBy.orWhere) : null,
      };
    });
    const starts: number[] = [];
    for (let q = 0; q < steps.length; q++) {
      starts.push(q);
      if (!(steps[q] as StepNode<E>).optional) break;
    }
    this.starts = starts;
    this.stride = d.remember ? 5 : 4;
    this.view = new RunView(this.names, this.stride, d.remember !== null);
    this.emptyView = new RunView(this.names, this.stride, d.remember !== null);
    this.within = d.within ?? Infinity;
    this.keyOf = d.keyBy ?? (() => '');
    this.timeOf = d.eventTime ?? defaultEventTime;
    this.idOf = d.eventId ?? defaultEventId;
    const skip = d.skip;
    this.skipKind = ['noSkip', 'skipToNext', 'skipPastLastEvent', 'skipToFirst', 'skipToLast'].indexOf(skip.kind);
    this.skipStep = skip.kind === 'skipToFirst' || skip.kind === 'skipToLast' ? this.names.indexOf(skip.step) : -1;
  }

  initialState(): PatternState {
    return {
      v: 1,
      wm: MIN_TIME,
      maxT: MIN_TIME,
      base: null,
      n: 0,
      keys: [],
      tq: [],
      th: 0,
      buf: [],
      open: 0,
      sweep: MIN_TIME,
      counts: { late: 0, droppedPerKeyCap: 0, refusedRuleCap: 0, evictedKeys: 0, evictedPartialMatches: 0, timedOut: 0, matched: 0 },
    };
  }

  private lastState: PatternState | null = null;
  private lastIndex: Map<string, KeyState> = new Map();
  private readonly indexes = new WeakMap<PatternState, Map<string, KeyState>>();

  /** The key → KeyState index of a state: derived data, never persisted. */
  private hydrate(state: PatternState): Map<string, KeyState> {
    if (state === this.lastState) return this.lastIndex;
    let index = this.indexes.get(state);
    if (index === undefined) {
      index = new Map();
      for (const ks of state.keys) index.set(ks.k, ks);
      this.indexes.set(state, index);
    }
    this.lastState = state;
    this.lastIndex = index;
    return index;
  }

  private addKey(state: PatternState, key: string, t: number): KeyState {
    const ks: KeyState = { k: key, x: state.keys.length, s: 0, t: t - (state.base as number), r: [] };
    state.keys.push(ks);
    this.lastIndex.set(key, ks);
    return ks;
  }

  private removeKey(state: PatternState, ks: KeyState): void {
    const last = state.keys.pop() as KeyState;
    if (last !== ks) {
      state.keys[ks.x] = last;
      last.x = ks.x;
    }
    this.lastIndex.delete(ks.k);
  }

  advance(state: PatternState, event: E, eventTime?: number): PatternOutput<E> {
    this.hydrate(state);
    const out: PatternOutput<E> = { state, matches: EMPTY, timeouts: EMPTY, late: EMPTY };
    this.advanceInto(state, event, eventTime, out);
    return out;
  }

  /** Feeds a batch (the engine's unit of work); outputs of all events together, in order. */
  advanceBatch(state: PatternState, events: readonly E[], eventTimes?: readonly number[]): PatternOutput<E> {
    this.hydrate(state);
    const out: PatternOutput<E> = { state, matches: EMPTY, timeouts: EMPTY, late: EMPTY };
    for (let i = 0; i < events.length; i++) this.advanceInto(state, events[i] as E, eventTimes?.[i], out);
    return out;
  }

  private advanceInto(state: PatternState, event: E, eventTime: number | undefined, out: PatternOutput<E>): void {
    const t = eventTime ?? this.timeOf(event);
    if (typeof t !== 'number' || Number.isNaN(t)) throw new TypeError(`pattern "${this.description.name}": event time is not a number (${String(t)})`);
    if (t < state.wm) {
      state.counts.late++;
      if (out.late === EMPTY) out.late = [];
      out.late.push(event);
      return;
    }
    const ordinal = state.n++;
    if (t > state.maxT) state.maxT = t;
    if (state.base === null) state.base = t;
    const lateness = this.description.allowedLateness;
    if (lateness === 0 && state.buf.length === 0) {
      // In-order fast path: the event is the watermark.
      if (t > state.wm) {
        state.wm = t;
        if (state.th < state.tq.length && (state.tq[state.th] as number) <= t - state.base) this.fireTimers(state, t, out);
        if (this.description.limits.idleKeyTimeout !== null) this.sweepIdle(state);
      }
      this.process(state, event, t, ordinal, out);
      return;
    }
    insertByTime(state.buf, [t, ordinal, event]);
    const wm = Math.max(state.wm, state.maxT - lateness);
    if (wm > state.wm || (state.buf[0] as [number, number, unknown])[0] <= wm) this.moveWatermark(state, wm, out);
  }

  onWatermark(state: PatternState, watermark: number): WatermarkOutput {
    this.hydrate(state);
    const out: WatermarkOutput = { state, matches: EMPTY, timeouts: EMPTY };
    if (watermark > state.wm) this.moveWatermark(state, watermark, out);
    return out;
  }

  /** Releases buffered events up to `wm` in time order, firing deadlines that fall before each. */
  private moveWatermark(state: PatternState, wm: number, out: WatermarkOutput): void {
    state.wm = wm;
    const buf = state.buf;
    let i = 0;
    while (i < buf.length && (buf[i] as [number, number, unknown])[0] <= wm) {
      const [t, ordinal, event] = buf[i] as [number, number, E];
      this.fireTimers(state, t, out);
      this.process(state, event, t, ordinal, out);
      i++;
    }
    if (i > 0) buf.splice(0, i);
    this.fireTimers(state, wm, out);
    if (this.description.limits.idleKeyTimeout !== null) this.sweepIdle(state);
  }

  private sweepIdle(state: PatternState): void {
    const idle = this.description.limits.idleKeyTimeout as number;
    // Sweeping every key costs O(keys); doing it once per half idle period keeps it amortised
    // while no key outlives its timeout by more than half of it.
    if (state.wm - state.sweep < idle / 2) return;
    state.sweep = state.wm;
    for (const ks of [...state.keys]) {
      if (ks.t + (state.base ?? 0) + idle <= state.wm) {
        state.counts.evictedKeys++;
        state.counts.evictedPartialMatches += ks.r.length;
        state.open -= ks.r.length;
        this.removeKey(state, ks);
      }
    }
  }

  /** Fires within-deadlines up to `now`: absence runs become matches, the others time out. */
  private fireTimers(state: PatternState, now: number, out: WatermarkOutput): void {
    const tq = state.tq;
    const W = this.within;
    const base = state.base ?? 0;
    const rel = now - base;
    this.view.base = base;
    while (state.th < tq.length && (tq[state.th] as number) <= rel) {
      const key = tq[state.th + 1] as string;
      state.th += 2;
      const ks = this.lastIndex.get(key);
      if (!ks) continue;
      const runs = ks.r;
      const before = runs.length;
      let keep = 0;
      let bound = -Infinity;
      for (let i = 0; i < runs.length; i++) {
        const run = runs[i] as Run;
        const deadline = (run[HEADER + 2] as number) + W;
        if (deadline > rel) { runs[keep++] = run; continue; }
        if ((run[HEADER + 1] as number) < bound) continue; // pruned by a skip strategy
        const step = this.steps[run[0] as number] as CompiledStep;
        if (step.absence !== null && (run[1] as number) >= step.max) {
          if (out.matches === EMPTY) out.matches = [];
          out.matches.push(this.toMatch(key, run, deadline + base));
          state.counts.matched++;
          const b = this.pruneBound(run);
          if (b > bound) bound = b;
        } else {
          state.counts.timedOut++;
          if (this.description.onTimeout === 'discard') continue;
          if (out.timeouts === EMPTY) out.timeouts = [];
          out.timeouts.push(this.toTimeout(key, run, deadline + base));
        }
      }
      runs.length = keep;
      if (bound > -Infinity) {
        let k = 0;
        for (const run of runs) if ((run[HEADER + 1] as number) >= bound) runs[k++] = run;
        runs.length = k;
      }
      state.open -= before - runs.length;
      if (runs.length === 0) this.removeKey(state, ks);
    }
    if (state.th > 1024 && state.th * 2 > tq.length) {
      state.tq = tq.slice(state.th);
      state.th = 0;
    }
  }

  /** Smallest start seq a run may have and survive, after `match` was emitted (skip strategy). */
  private pruneBound(match: Run): number {
    switch (this.skipKind) {
      case 1: return (match[HEADER + 1] as number) + 1; // skipToNext: drop runs that started at or before the match's first event
      case 2: return (match[match.length - this.stride + 1] as number) + 1; // skipPastLastEvent
      case 3:
      case 4: {
        let seq = -Infinity;
        for (let i = HEADER; i < match.length; i += this.stride) {
          if (match[i] === this.skipStep) {
            seq = match[i + 1] as number;
            if (this.skipKind === 3) break;
          }
        }
        return seq;
      }
      default: return -Infinity;
    }
  }

  // The event being processed, shared by process() and its helpers (no closures per event).
  private cur: E = undefined as E;
  private curSeq = 0;
  private curT = 0;
  private curOrdinal = 0;
  private curId: string | number | undefined = undefined;
  private curFields: Record<string, unknown> | undefined = undefined;
  /** Scratch for a key's next runs, reused for every event (`curN` used); copied back into the
   * key's own array, so processing an event allocates nothing when no run is created. */
  private scratch: Run[] = [];
  private curN = 0;
  private curCompleted: Run[] | null = null;

  /** Appends the current event to `run` (a copy unless `inPlace`) as a capture of `step`. */
  private capture(run: Run, step: number, count: number, inPlace: boolean): Run {
    if (this.curId === undefined) {
      this.curId = this.idOf(this.cur) ?? this.curOrdinal;
      const remember = this.description.remember;
      if (remember) this.curFields = remember(this.cur);
    }
    // A copy of exactly the new length: smaller than growing the array in place (which would
    // reserve room for 16 more slots), and the run stays compact in memory.
    void inPlace;
    const len = run.length;
    const r: Run = new Array(len + this.stride);
    r[0] = step;
    r[1] = count;
    r[2] = this.curSeq;
    for (let i = HEADER; i < len; i++) r[i] = run[i] as Run[number];
    r[len] = step;
    r[len + 1] = this.curSeq;
    r[len + 2] = this.curT;
    r[len + 3] = this.curId;
    if (this.stride === 5) r[len + 4] = this.curFields as Record<string, unknown>;
    return r;
  }

  /** A new run whose first capture is the current event (one literal: no growth, no copy). */
  private startRun(q: number): Run {
    if (this.curId === undefined) {
      this.curId = this.idOf(this.cur) ?? this.curOrdinal;
      const remember = this.description.remember;
      if (remember) this.curFields = remember(this.cur);
    }
    const seq = this.curSeq;
    return this.stride === 5
      ? [q, 1, seq, q, seq, this.curT, this.curId, this.curFields as Record<string, unknown>]
      : [q, 1, seq, q, seq, this.curT, this.curId];
  }

  /** Places a run that just took an event into `s` with `count`: a complete match is collected;
   * the run is kept while it can still grow (loop further, or go on to an optional step). */
  private land(r: Run, s: CompiledStep, count: number): void {
    if (count >= s.min && s.accepting) {
      (this.curCompleted ??= []).push(r);
      if (count >= s.max && s.proceed.length === 0) return;
    }
    this.scratch[this.curN++] = r;
  }

  /** One event of one key, in event-time order. */
  private process(state: PatternState, event: E, t: number, ordinal: number, out: WatermarkOutput): void {
    const k = this.keyOf(event);
    const key = typeof k === 'string' ? k : String(k);
    let ks = this.lastIndex.get(key);
    const steps = this.steps;
    if (ks === undefined) {
      // Fast path for a key without open runs: only a start can create state.
      let any = false;
      const starts = this.starts;
      for (let i = 0; i < starts.length; i++) if ((steps[starts[i] as number] as CompiledStep).test(event, this.emptyView)) { any = true; break; }
      if (!any) return;
      ks = this.addKey(state, key, t);
    }
    const seq = ++ks.s;
    ks.t = t - (state.base as number);
    this.cur = event;
    this.curSeq = seq;
    const base = state.base as number;
    this.curT = t - base;
    this.view.base = base;
    this.curOrdinal = ordinal;
    this.curId = undefined;
    this.curFields = undefined;
    this.curCompleted = null;
    const runs = ks.r;
    const next = this.scratch;
    this.curN = 0;
    const view = this.view;

    for (let i = 0; i < runs.length; i++) {
      const run = runs[i] as Run;
      const p = run[0] as number;
      const c = run[1] as number;
      const step = steps[p] as CompiledStep;
      const adjacent = seq === (run[2] as number) + 1;
      view.run = run;
      if (c >= step.max) {
        if (step.absence !== null) {
          if (!step.absence(event, view)) next[this.curN++] = run;
          continue;
        }
        if (step.notNext !== null && adjacent && step.notNext(event, view)) continue;
        if (step.notFollowedBy !== null && step.notFollowedBy(event, view)) continue;
      }
      let consumed = false;
      let future = false;
      let loopTook = false;
      // Takes are gathered first: the last one reuses the run in place when the run does not survive.
      let t1 = -1, c1 = 0, t2 = -1;
      let extra: number[] | null = null;
      if (c < step.max) {
        const mode = step.loop;
        if (mode !== STRICT) future = true;
        if ((mode !== STRICT || adjacent) && step.test(event, view)) {
          t1 = p; c1 = c + 1; loopTook = true;
          if (mode !== ANY) consumed = true;
        }
      }
      if (c >= step.min && !(step.greedy && loopTook)) {
        const proceed = step.proceed;
        for (let k = 0; k < proceed.length; k++) {
          const q = proceed[k] as number;
          const target = steps[q] as CompiledStep;
          const mode = target.enter;
          if (mode !== STRICT) future = true;
          if ((mode !== STRICT || adjacent) && target.test(event, view)) {
            if (t1 < 0) { t1 = q; c1 = 1; } else if (t2 < 0) t2 = q; else (extra ??= []).push(q);
            if (mode !== ANY) consumed = true;
          }
        }
      }
      const survives = !consumed && future;
      if (survives) next[this.curN++] = run;
      if (t1 >= 0) {
        this.land(this.capture(run, t1, c1, t2 < 0 && !survives), steps[t1] as CompiledStep, c1);
        if (t2 >= 0) {
          this.land(this.capture(run, t2, 1, extra === null && !survives), steps[t2] as CompiledStep, 1);
          if (extra !== null) for (let k = 0; k < extra.length; k++) this.land(this.capture(run, extra[k] as number, 1, k === extra.length - 1 && !survives), steps[extra[k] as number] as CompiledStep, 1);
        }
      }
    }

    // A new partial match may start at every event.
    let started = false;
    const limits = this.description.limits;
    for (let si = 0; si < this.starts.length; si++) {
      const q = this.starts[si] as number;
      const s = steps[q] as CompiledStep;
      if (!s.test(event, this.emptyView)) continue;
      if (state.open + this.curN - runs.length >= limits.maxPartialMatches) {
        state.counts.refusedRuleCap++;
        continue;
      }
      this.land(this.startRun(q), s, 1);
      started = true;
    }
    if (started && this.within !== Infinity) state.tq.push(t - base + this.within, key);

    let n = this.curN;
    if (this.curCompleted !== null) n = this.emit(state, key, this.curCompleted, next, n, out);
    this.cur = undefined as E;

    const cap = limits.maxPartialMatchesPerKey;
    let from = 0;
    if (n > cap) {
      from = n - cap;
      state.counts.droppedPerKeyCap += from;
    }
    state.open += n - from - runs.length;
    if (n - from === 0) {
      runs.length = 0;
      this.removeKey(state, ks);
      return;
    }
    if (n - from > runs.length) {
      ks.r = next.slice(from, n); // exact size: growing in place would reserve 16 spare slots
    } else {
      for (let i = from; i < n; i++) runs[i - from] = next[i] as Run;
      runs.length = n - from;
    }
  }

  /** Emits the matches completed by one event in a fixed order, applying the skip strategy. */
  private emit(state: PatternState, key: string, completed: Run[], next: Run[], n: number, out: WatermarkOutput): number {
    if (completed.length > 1) completed.sort(this.compareRuns);
    if (out.matches === EMPTY) out.matches = [];
    let bound = -Infinity;
    for (const run of completed) {
      if ((run[HEADER + 1] as number) < bound) continue;
      out.matches.push(this.toMatch(key, run, undefined));
      state.counts.matched++;
      const b = this.pruneBound(run);
      if (b > bound) bound = b;
    }
    if (bound === -Infinity) return n;
    let k = 0;
    for (let i = 0; i < n; i++) {
      const run = next[i] as Run;
      if ((run[HEADER + 1] as number) >= bound) next[k++] = run;
    }
    return k;
  }

  /** Orders runs by their captures, (seq, step) pairs compared lexicographically: the order in
   * which matches completed by the same event are emitted and skip strategies applied. */
  private readonly compareRuns = (a: Run, b: Run): number => {
    const n = Math.min(a.length, b.length);
    for (let i = HEADER; i < n; i += this.stride) {
      const d = (a[i + 1] as number) - (b[i + 1] as number) || (a[i] as number) - (b[i] as number);
      if (d !== 0) return d;
    }
    return a.length - b.length;
  };

  private stepsOf(run: Run): Record<string, CapturedEvent[]> {
    const steps: Record<string, CapturedEvent[]> = {};
    const view = this.view;
    const saved = view.run;
    view.run = run;
    for (let i = HEADER; i < run.length; i += this.stride) {
      const name = this.names[run[i] as number] as string;
      (steps[name] ??= []).push(view.captured(i));
    }
    view.run = saved;
    return steps;
  }

  private toMatch(key: string, run: Run, provenAt: number | undefined): PatternMatch {
    const m: PatternMatch = {
      kind: 'match',
      rule: this.description.name,
      key,
      steps: this.stepsOf(run),
      start: (run[HEADER + 2] as number) + this.view.base,
      end: (run[run.length - this.stride + 2] as number) + this.view.base,
    };
    return provenAt === undefined ? m : { ...m, provenAt };
  }

  private toTimeout(key: string, run: Run, deadline: number): TimedOutMatch {
    const step = this.steps[run[0] as number] as CompiledStep;
    const c = run[1] as number;
    const waitingFor = c < step.min || step.proceed.length === 0 ? step.name : (this.steps[step.proceed[0] as number] as CompiledStep).name;
    return { kind: 'timeout', rule: this.description.name, key, steps: this.stepsOf(run), start: (run[HEADER + 2] as number) + this.view.base, deadline, waitingFor };
  }
}

