import type { CapturedEvent, Condition, MatchSoFar, PatternDescription, StepNode, NegationNode } from './pattern.js';
import { MIN_TIME, defaultEventId, defaultEventTime, insertByTime } from './eventTime.js';

/**
 * A key's whole state is one flat array, so an event costs one Map lookup and one array to read
 * (no per-key object, no array per partial match): `[key, index, seq, time, end, ...runs, ...spare]`,
 * where `index` is its place in `PatternState.keys`, `seq` counts the key's events from 1 (what
 * contiguity and skip strategies compare), `time` is its last event time (relative to
 * `PatternState.base`) and `end` is where its runs end; the slots after it are spare room, zeros.
 * Each partial match ("run") follows inline as `[size, step, count, ...captures]`, `size` counting
 * its slots (header included); each capture is `step, seq, time, id` (plus the remembered fields
 * when the rule declares `remember`).
 */
export type KeyRuns = Array<number | string | Record<string, unknown>>;

const K_KEY = 0;
const K_INDEX = 1;
const K_SEQ = 2;
const K_TIME = 3;
const K_END = 4;
const K_RUNS = 5;
/** Capacity of a key's array that must hold `size` slots: `size` rounded up to QUANTUM, no spare
 * room beyond that. A key's array used to get 4–11 spare slots so that most growth wrote in
 * place; that was ~16 B per partial match at three per key, and growth into a fresh (mostly
 * pooled) array measured no slower (the performance notes in docs/, Patterns, session 5). Keys
 * holding one one-event run, which would grow most often, are records in `one` anyway. */
const QUANTUM = 2;
const capacityFor = (size: number): number => (size + QUANTUM - 1) & -QUANTUM;
/** Key arrays a runtime keeps for reuse, per capacity (see `PatternRuntime.release`). */
const POOL_MAX = 1024;
/** Events whose keys `advanceBatch` looks up ahead of processing them (see `gather`). */
const CHUNK = 64;
/** Slots of a run's header (`size, step, count`); its first capture follows. */
const R_CAPS = 3;
/** Written over the index of a key's array that was replaced or removed, so a reference to it
 * kept by `gather` is known to be stale. */
const DEAD = -1;
/** The index of the runtime's scratch copy of a compact key (see `inflate`): in no `state.keys`. */
const INFLATED = -2;
/** Slots of a run with a single capture (header and one capture), in a rule without `remember`. */
const SINGLE = R_CAPS + 4;
/** Fields of a compact key's record in `PatternState.one`: key, id, start time, seq delta and step
 * packed as one number, and (only in a rule that evicts idle keys) the key's last event time. */
const O_KEY = 0;
const O_ID = 1;
const O_START = 2;
const O_PACKED = 3;
const O_TIME = 4;
/** Records per page of `PatternState.one` is 2^PAGE_BITS; record `r` is at page `r >> PAGE_BITS`,
 * slot `(r & PAGE_MASK) * os`. */
const PAGE_BITS = 10;
const PAGE_MASK = (1 << PAGE_BITS) - 1;

type Page = Array<number | string>;

/** How many records `one` holds. */
function recordCount(one: Page[], os: number): number {
  const n = one.length;
  return n === 0 ? 0 : ((n - 1) << PAGE_BITS) + (one[n - 1] as Page).length / os;
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
  /** Layout version: 3 since keys with a single one-event partial match became records in `one`
   * (2: keys as flat arrays; 1: keys as objects); an older state is converted on first use. */
  v: 3;
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
  keys: KeyRuns[];
  /** Keys whose only partial match holds one event, the commonest state of a key (each start opens
   * one): records of `os` slots, `[key, id, start, delta * steps + step, time?]`, where `delta`
   * counts the key's events since that one and `time` (kept only when the rule evicts idle keys) is
   * its last event time. A key array costs ~180 B of heap (array object, header, spare room), a
   * record 32–40 B. A key is in `keys` or in `one`, never both; the runtime moves it between them
   * as its runs change. Records are laid out in pages of 1024, all full but the last: one array
   * of them all would grow by half of itself at a time, and hold ~1/4 spare on average. */
  one: Array<Array<number | string>>;
  /** 5 when records have 5 slots (the rule evicts idle keys); absent (undefined, which JSON
   * leaves out) for 4: every small state, a partition's for one, is that much shorter. */
  os?: 5 | undefined;
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

/** The view conditions get of a partial match; one instance, pointed at the run being tested
 * (`arr[start, end)`, header included). */
class RunView implements MatchSoFar {
  arr: KeyRuns = [];
  start = 0;
  end = 0;
  base = 0;
  constructor(private readonly names: readonly string[], private readonly stride: number, private readonly hasFields: boolean) {}
  private index(step: string): number {
    const i = this.names.indexOf(step);
    if (i < 0) throw new TypeError(`no step named "${step}" (steps: ${this.names.join(', ')})`);
    return i;
  }
  captured(at: number): CapturedEvent {
    const r = this.arr;
    const c = { id: r[at + 3] as string | number, time: (r[at + 2] as number) + this.base };
    return this.hasFields ? { ...(r[at + 4] as Record<string, unknown>), ...c } : c;
  }
  first(step: string): CapturedEvent | undefined {
    const s = this.index(step);
    for (let i = this.start + R_CAPS; i < this.end; i += this.stride) if (this.arr[i] === s) return this.captured(i);
    return undefined;
  }
  last(step: string): CapturedEvent | undefined {
    const s = this.index(step);
    for (let i = this.end - this.stride; i >= this.start + R_CAPS; i -= this.stride) if (this.arr[i] === s) return this.captured(i);
    return undefined;
  }
  all(step: string): CapturedEvent[] {
    const s = this.index(step);
    const out: CapturedEvent[] = [];
    for (let i = this.start + R_CAPS; i < this.end; i += this.stride) if (this.arr[i] === s) out.push(this.captured(i));
    return out;
  }
  count(step: string): number {
    const s = this.index(step);
    let n = 0;
    for (let i = this.start + R_CAPS; i < this.end; i += this.stride) if (this.arr[i] === s) n++;
    return n;
  }
  get startTime(): number {
    return this.end > this.start + R_CAPS ? (this.arr[this.start + R_CAPS + 2] as number) + this.base : NaN;
  }
  previous(): CapturedEvent | undefined {
    return this.end > this.start + R_CAPS ? this.captured(this.end - this.stride) : undefined;
  }
}

/** Marks `end` as the end of a key's runs (it was `oldEnd`). Freed slots are zeroed, so they hold
 * no stale references and stay small in JSON; an array left more than half spare is trimmed. */
function setEnd(ks: KeyRuns, end: number, oldEnd: number): void {
  ks[K_END] = end;
  if (2 * end < ks.length && capacityFor(end) < ks.length) {
    ks.length = capacityFor(end);
    oldEnd = Math.min(oldEnd, ks.length);
  }
  for (let i = end; i < oldEnd; i++) ks[i] = 0;
}

/** Converts a state written before keys were flat arrays (`v: 1`: `{k, x, s, t, r: runs}` per key,
 * each run `[step, count, lastSeq, ...captures]`), or before compact keys (`v: 2`: every key an
 * array, no `one`), so checkpoints taken then still load. Its keys stay arrays; each becomes a
 * record when an event or a deadline next changes it. */
function upgradeState(state: PatternState, os: number): void {
  if ((state.v as number) === 1) {
    const old = state.keys as unknown as Array<{ k: string; x: number; s: number; t: number; r: Array<Array<number | string | Record<string, unknown>>> }>;
    state.keys = old.map((ks, x): KeyRuns => {
      const flat: KeyRuns = [ks.k, x, ks.s, ks.t, K_RUNS];
      for (const run of ks.r) flat.push(run.length, run[0] as number, run[1] as number, ...run.slice(3));
      flat[K_END] = flat.length;
      return flat;
    });
  }
  state.one = [];
  state.os = os === 5 ? 5 : undefined;
  state.v = 3;
}

/** Re-lays the records of `one` for `os` slots each (the rule was given or lost an idle timeout
 * since the state was saved): a record gaining a last event time gets its start time. */
function relayout(state: PatternState, os: number): void {
  const from = state.os ?? 4;
  const one: Page[] = [];
  for (const old of state.one) {
    const page: Page = [];
    for (let o = 0; o < old.length; o += from) {
      page.push(old[o + O_KEY] as string, old[o + O_ID] as string | number, old[o + O_START] as number, old[o + O_PACKED] as number);
      if (os === 5) page.push(from === 5 ? old[o + O_TIME] as number : old[o + O_START] as number);
    }
    one.push(page);
  }
  state.one = one;
  state.os = os === 5 ? 5 : undefined;
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
  private readonly maxPerKey: number;
  private readonly maxOpen: number;
  /** Slots per record of `PatternState.one` (see there). */
  private readonly os: number;
  /** Whether keys may be compact records: not when captures remember fields (a fifth slot). */
  private readonly compact: boolean;

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
    this.maxPerKey = d.limits.maxPartialMatchesPerKey;
    this.maxOpen = d.limits.maxPartialMatches;
    this.os = d.limits.idleKeyTimeout !== null ? 5 : 4;
    this.compact = d.remember === null;
  }

  initialState(): PatternState {
    return {
      v: 3,
      wm: MIN_TIME,
      maxT: MIN_TIME,
      base: null,
      n: 0,
      keys: [],
      one: [],
      os: this.os === 5 ? 5 : undefined,
      tq: [],
      th: 0,
      buf: [],
      open: 0,
      sweep: MIN_TIME,
      counts: { late: 0, droppedPerKeyCap: 0, refusedRuleCap: 0, evictedKeys: 0, evictedPartialMatches: 0, timedOut: 0, matched: 0 },
    };
  }

  private lastState: PatternState | null = null;
  private lastIndex: Map<string, KeyRuns | number> = new Map();
  private readonly indexes = new WeakMap<PatternState, Map<string, KeyRuns | number>>();

  /** The key → key state index of a state (a key's array, or the offset of its record in `one`):
   * derived data, never persisted. */
  private hydrate(state: PatternState): Map<string, KeyRuns | number> {
    if (state === this.lastState) return this.lastIndex;
    let index = this.indexes.get(state);
    if (index === undefined) {
      if (state.v !== 3) upgradeState(state, this.os);
      if ((state.os ?? 4) !== this.os) relayout(state, this.os);
      index = new Map();
      for (const ks of state.keys) index.set(ks[K_KEY] as string, ks);
      const one = state.one;
      for (let p = 0; p < one.length; p++) {
        const page = one[p] as Page;
        for (let o = 0; o < page.length; o += this.os) index.set(page[o + O_KEY] as string, (p << PAGE_BITS) + o / this.os);
      }
      this.indexes.set(state, index);
    }
    this.lastState = state;
    this.lastIndex = index;
    return index;
  }

  /** Removes a key's array from the state and lets it go; `unindex` false when the caller points
   * the key's index entry elsewhere (it became a record). */
  private removeKey(state: PatternState, ks: KeyRuns, unindex = true): void {
    const last = state.keys.pop() as KeyRuns;
    if (last !== ks) {
      const x = ks[K_INDEX] as number;
      state.keys[x] = last;
      last[K_INDEX] = x;
    }
    if (unindex) this.lastIndex.delete(ks[K_KEY] as string);
    this.release(ks);
  }

  /** A compact key as a key array (`[key, INFLATED, seq, time, end, run]`, its capture's seq 1), for
   * the code that works on key arrays. One per runtime, rewritten for each use; never in a state. */
  private readonly inflated: KeyRuns = new Array(capacityFor(K_RUNS + SINGLE)).fill(0);

  private inflate(state: PatternState, rec: number): KeyRuns {
    const one = state.one[rec >> PAGE_BITS] as Page;
    const o = (rec & PAGE_MASK) * this.os;
    const T = this.inflated;
    const n = this.steps.length;
    const packed = one[o + O_PACKED] as number;
    const step = packed % n;
    const start = one[o + O_START] as number;
    T[K_KEY] = one[o + O_KEY] as string;
    T[K_INDEX] = INFLATED;
    T[K_SEQ] = (packed - step) / n + 1;
    T[K_TIME] = this.os === 5 ? one[o + O_TIME] as number : start;
    T[K_END] = K_RUNS + SINGLE;
    T[K_RUNS] = SINGLE;
    T[K_RUNS + 1] = step;
    T[K_RUNS + 2] = 1;
    T[K_RUNS + 3] = step;
    T[K_RUNS + 4] = 1;
    T[K_RUNS + 5] = start;
    T[K_RUNS + 6] = one[o + O_ID] as string | number;
    return T;
  }

  /** Writes record `rec` (from `newRecord`, or an existing one) for a compact key whose single run
   * is `src[r, r + SINGLE)`. `seq` and `time` are the key's. */
  private putRecord(state: PatternState, rec: number, key: string, seq: number, time: number, src: KeyRuns, r: number): void {
    const one = state.one[rec >> PAGE_BITS] as Page;
    const o = (rec & PAGE_MASK) * this.os;
    const n = this.steps.length;
    one[o + O_KEY] = key;
    one[o + O_ID] = src[r + R_CAPS + 3] as string | number;
    one[o + O_START] = src[r + R_CAPS + 2] as number;
    // The seq of its capture is dropped: only differences of a key's seqs mean anything.
    one[o + O_PACKED] = (seq - (src[r + R_CAPS + 1] as number)) * n + (src[r + 1] as number);
    if (this.os === 5) one[o + O_TIME] = time;
  }

  /** The index of a new record at the end of the last page, or of a new page when that is full.
   * A page that filled up is copied to its exact length first (it had grown by half at a time). */
  private newRecord(state: PatternState): number {
    const one = state.one;
    const full = this.os << PAGE_BITS;
    let last = one[one.length - 1];
    if (last === undefined || last.length === full) {
      if (last !== undefined) one[one.length - 1] = last.slice();
      last = [];
      one.push(last);
    }
    return ((one.length - 1) << PAGE_BITS) + last.length / this.os;
  }

  /** The key of record `rec`, or undefined when there is no such record (any more). */
  private recordKey(state: PatternState, rec: number): string | undefined {
    return state.one[rec >> PAGE_BITS]?.[(rec & PAGE_MASK) * this.os + O_KEY] as string | undefined;
  }

  /** Removes record `rec` (the last one takes its place); the caller unindexes its key. */
  private removeRecord(state: PatternState, rec: number): void {
    const one = state.one;
    const os = this.os;
    const last = one[one.length - 1] as Page;
    const lo = last.length - os;
    const page = one[rec >> PAGE_BITS] as Page;
    const o = (rec & PAGE_MASK) * os;
    if (page !== last || o !== lo) {
      for (let i = 0; i < os; i++) page[o + i] = last[lo + i] as number | string;
      this.lastIndex.set(page[o + O_KEY] as string, rec);
    }
    if (lo === 0) one.pop();
    else last.length = lo;
  }

  /** Turns a key array whose only run has one capture (at `K_RUNS`) into a record. */
  private toRecord(state: PatternState, key: string, ks: KeyRuns): void {
    const o = this.newRecord(state);
    this.putRecord(state, o, key, ks[K_SEQ] as number, ks[K_TIME] as number, ks, K_RUNS);
    this.removeKey(state, ks, false);
    this.lastIndex.set(key, o);
  }

  /**
   * Key arrays that were replaced or removed, by capacity / QUANTUM (at most POOL_MAX each), for the next
   * keys that need one.
   * Allocating a key's array was most of what the rule allocated, and each one lives on, so each
   * cost a copy in a scavenge and another into the old generation; a reused one is already there.
   * A runtime cache, not state: nothing in `PatternState` refers to these arrays.
   */
  private readonly pool: KeyRuns[][] = [];

  private release(ks: KeyRuns): void {
    ks[K_INDEX] = DEAD;
    const cap = ks.length;
    if (cap % QUANTUM !== 0) return;
    const free = (this.pool[cap / QUANTUM] ??= []);
    if (free.length < POOL_MAX) free.push(ks);
  }

  /** An array of length `capacityFor(size)`: reused when one that long, or QUANTUM longer, is free (its
   * slots are all overwritten), else new. Its length never depends on what the pool held, so the
   * state's JSON depends only on the events. */
  private allocate(size: number): KeyRuns {
    const b = capacityFor(size) / QUANTUM;
    const free = this.pool[b];
    if (free !== undefined && free.length > 0) return free.pop() as KeyRuns;
    const longer = this.pool[b + 1];
    if (longer !== undefined && longer.length > 0) {
      const ks = longer.pop() as KeyRuns;
      ks.length = b * QUANTUM;
      return ks;
    }
    return new Array(b * QUANTUM);
  }

  advance(state: PatternState, event: E, eventTime?: number): PatternOutput<E> {
    this.hydrate(state);
    const out: PatternOutput<E> = { state, matches: EMPTY, timeouts: EMPTY, late: EMPTY };
    this.advanceInto(state, event, eventTime, out, undefined, null);
    return out;
  }

  /** Feeds a batch (the engine's unit of work); outputs of all events together, in order. */
  advanceBatch(state: PatternState, events: readonly E[], eventTimes?: readonly number[]): PatternOutput<E> {
    this.hydrate(state);
    const out: PatternOutput<E> = { state, matches: EMPTY, timeouts: EMPTY, late: EMPTY };
    const n = events.length;
    if (this.description.allowedLateness !== 0 || state.buf.length !== 0) {
      for (let i = 0; i < n; i++) this.advanceInto(state, events[i] as E, eventTimes?.[i], out, undefined, null);
      return out;
    }
    const keys = this.chunkKeys;
    const times = this.chunkTimes;
    const found = this.chunkStates;
    for (let i = 0; i < n;) {
      const end = Math.min(n, i + CHUNK);
      const ready = this.gather(state, events, eventTimes, i, end);
      for (let j = 0; j < ready; j++) this.advanceInto(state, events[i + j] as E, times[j], out, keys[j], found[j]);
      i += ready;
      if (i < end) {
        // The event gather() stopped at is fed on its own: its error surfaces here, in order.
        this.advanceInto(state, events[i] as E, eventTimes?.[i], out, undefined, null);
        i++;
      }
    }
    return out;
  }

  /** Times and keys of `events[from, to)`, computed ahead into `chunkTimes` / `chunkKeys`. */
  private readonly chunkKeys: string[] = [];
  private readonly chunkTimes: number[] = [];
  private readonly chunkStates: Array<KeyRuns | number | undefined> = [];
  /** Where gather() leaves what it read, so the reads are not optimised away. */
  private sink = 0;

  /**
   * Computes the times and keys of a chunk of in-order events before any of them is processed,
   * and reads the state of each key, and of each key whose within-deadline the chunk will pass.
   * Processing an event is mostly waiting for memory: the key's string, its Map entry and its array
   * are cache misses, and each depends on the one before. Here the lookups of different events do
   * not depend on each other, so the processor overlaps their misses, and the processing pass finds
   * them in cache. Returns how many events it prepared: fewer than asked when `timeOf` or `keyOf`
   * throws, and then the caller feeds that event on its own so the error is raised in order.
   */
  private gather(state: PatternState, events: readonly E[], eventTimes: readonly number[] | undefined, from: number, to: number): number {
    const keys = this.chunkKeys;
    const times = this.chunkTimes;
    const found = this.chunkStates;
    const index = this.lastIndex;
    const one = state.one;
    let sink = 0;
    let maxT = -Infinity;
    let i = from;
    try {
      for (; i < to; i++) {
        const e = events[i] as E;
        const t = eventTimes?.[i] ?? this.timeOf(e);
        const k = this.keyOf(e);
        const key = typeof k === 'string' ? k : String(k);
        times[i - from] = t;
        keys[i - from] = key;
        if (t > maxT) maxT = t;
        const ks = index.get(key);
        found[i - from] = ks;
        if (typeof ks === 'number') sink += (one[ks >> PAGE_BITS] as Page)[(ks & PAGE_MASK) * this.os + O_PACKED] as number;
        else if (ks !== undefined) sink += ks[K_SEQ] as number;
      }
    } catch {
      // Not swallowed: the caller feeds events[i] on its own, which throws the same error.
    }
    if (state.base !== null) {
      const tq = state.tq;
      const rel = maxT - state.base;
      for (let h = state.th; h < tq.length && (tq[h] as number) <= rel; h += 2) {
        const ks = index.get(tq[h + 1] as string);
        if (typeof ks === 'number') sink += (one[ks >> PAGE_BITS] as Page)[(ks & PAGE_MASK) * this.os + O_PACKED] as number;
        else if (ks !== undefined) sink += ks[K_SEQ] as number;
      }
    }
    this.sink = sink;
    return i - from;
  }

  /** Feeds one event; `key` is its key when already computed, `found` its state (see `process`). */
  private advanceInto(state: PatternState, event: E, eventTime: number | undefined, out: PatternOutput<E>, key: string | undefined, found: KeyRuns | number | undefined | null): void {
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
      this.process(state, event, key ?? this.keyString(event), t, ordinal, out, found);
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
      this.process(state, event, this.keyString(event), t, ordinal, out, null);
      i++;
    }
    if (i > 0) buf.splice(0, i);
    this.fireTimers(state, wm, out);
    if (this.description.limits.idleKeyTimeout !== null) this.sweepIdle(state);
  }

  /** Open partial matches of a key (its runs, walked by size). */
  private runCount(ks: KeyRuns): number {
    let n = 0;
    for (let o = K_RUNS; o < (ks[K_END] as number); o += ks[o] as number) n++;
    return n;
  }

  private sweepIdle(state: PatternState): void {
    const idle = this.description.limits.idleKeyTimeout as number;
    // Sweeping every key costs O(keys); doing it once per half idle period keeps it amortised
    // while no key outlives its timeout by more than half of it.
    if (state.wm - state.sweep < idle / 2) return;
    state.sweep = state.wm;
    for (const ks of [...state.keys]) {
      if ((ks[K_TIME] as number) + (state.base ?? 0) + idle <= state.wm) {
        const n = this.runCount(ks);
        state.counts.evictedKeys++;
        state.counts.evictedPartialMatches += n;
        state.open -= n;
        this.removeKey(state, ks);
      }
    }
    // os is 5 here (the rule evicts idle keys). Backwards, so the record moved into a hole was seen.
    for (let rec = recordCount(state.one, 5) - 1; rec >= 0; rec--) {
      const page = state.one[rec >> PAGE_BITS] as Page;
      const o = (rec & PAGE_MASK) * 5;
      if ((page[o + O_TIME] as number) + (state.base ?? 0) + idle <= state.wm) {
        state.counts.evictedKeys++;
        state.counts.evictedPartialMatches++;
        state.open--;
        const key = page[o + O_KEY] as string;
        this.removeRecord(state, rec);
        this.lastIndex.delete(key);
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
      const found = this.lastIndex.get(key);
      if (found === undefined) continue;
      let ks: KeyRuns;
      let co = -1;
      if (typeof found === 'number') {
        if (((state.one[found >> PAGE_BITS] as Page)[(found & PAGE_MASK) * this.os + O_START] as number) + W > rel) continue;
        co = found;
        ks = this.inflate(state, co);
      } else ks = found;
      const len = ks[K_END] as number;
      // Runs are compacted in place: `w` never passes `o`.
      let w = K_RUNS;
      let removed = 0;
      let bound = -Infinity;
      for (let o = K_RUNS; o < len;) {
        const size = ks[o] as number;
        const deadline = (ks[o + R_CAPS + 2] as number) + W;
        if (deadline > rel) {
          if (w !== o) for (let i = 0; i < size; i++) ks[w + i] = ks[o + i] as KeyRuns[number];
          w += size;
          o += size;
          continue;
        }
        removed++;
        if ((ks[o + R_CAPS + 1] as number) >= bound) { // else pruned by a skip strategy
          const step = this.steps[ks[o + 1] as number] as CompiledStep;
          if (step.absence !== null && (ks[o + 2] as number) >= step.max) {
            if (out.matches === EMPTY) out.matches = [];
            out.matches.push(this.toMatch(key, ks, o, o + size, deadline + base));
            state.counts.matched++;
            const b = this.pruneBound(ks, o, o + size);
            if (b > bound) bound = b;
          } else {
            state.counts.timedOut++;
            if (this.description.onTimeout !== 'discard') {
              if (out.timeouts === EMPTY) out.timeouts = [];
              out.timeouts.push(this.toTimeout(key, ks, o, o + size, deadline + base));
            }
          }
        }
        o += size;
      }
      if (bound > -Infinity) {
        const end = w;
        w = K_RUNS;
        for (let o = K_RUNS; o < end;) {
          const size = ks[o] as number;
          if ((ks[o + R_CAPS + 1] as number) >= bound) {
            if (w !== o) for (let i = 0; i < size; i++) ks[w + i] = ks[o + i] as KeyRuns[number];
            w += size;
          } else removed++;
          o += size;
        }
      }
      if (removed === 0) continue;
      state.open -= removed;
      if (w === K_RUNS) {
        // A record's only run is the one removed.
        if (co >= 0) {
          this.removeRecord(state, co);
          this.lastIndex.delete(key);
        } else this.removeKey(state, ks);
      } else {
        setEnd(ks, w, len);
        if (w === K_RUNS + SINGLE && this.compact) this.toRecord(state, key, ks);
      }
    }
    if (state.th > 1024 && state.th * 2 > tq.length) {
      state.tq = tq.slice(state.th);
      state.th = 0;
    }
  }

  /** Smallest start seq a run may have and survive, after the match `arr[start, end)` was
   * emitted (skip strategy). */
  private pruneBound(arr: KeyRuns, start: number, end: number): number {
    switch (this.skipKind) {
      case 1: return (arr[start + R_CAPS + 1] as number) + 1; // skipToNext: drop runs that started at or before the match's first event
      case 2: return (arr[end - this.stride + 1] as number) + 1; // skipPastLastEvent
      case 3:
      case 4: {
        let seq = -Infinity;
        for (let i = start + R_CAPS; i < end; i += this.stride) {
          if (arr[i] === this.skipStep) {
            seq = arr[i + 1] as number;
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
  /** Scratch for a key's next runs, reused for every event: runs laid out as in a key's state,
   * `w` slots used. A run that completed a match and cannot grow has a negative size there: it is
   * reported but not kept. Copied back into the key's array only when something changed. */
  private scratch: KeyRuns = [];
  private w = 0;
  /** Runs kept in `scratch` (positive size). */
  private kept = 0;
  /** End of the key's runs left in place (see `process`), and whether any run changed yet. */
  private prefix = K_RUNS;
  private changed = false;
  /** Offsets in `scratch` of runs that completed a match with the current event: the first
   * `nCompleted` entries (a count, not `length = 0`, which would free the array's storage). */
  private completed: number[] = [];
  private nCompleted = 0;

  private identifyCurrent(): void {
    this.curId = this.idOf(this.cur) ?? this.curOrdinal;
    const remember = this.description.remember;
    if (remember) this.curFields = remember(this.cur);
  }

  /** Writes the run `src[o, o + size)` extended by the current event as a capture of `step` into
   * the scratch; returns its offset there. */
  private capture(src: KeyRuns, o: number, size: number, step: number, count: number): number {
    if (this.curId === undefined) this.identifyCurrent();
    const S = this.scratch;
    const r = this.w;
    const stride = this.stride;
    S[r] = size + stride;
    S[r + 1] = step;
    S[r + 2] = count;
    for (let i = R_CAPS; i < size; i++) S[r + i] = src[o + i] as KeyRuns[number];
    const c = r + size;
    S[c] = step;
    S[c + 1] = this.curSeq;
    S[c + 2] = this.curT;
    S[c + 3] = this.curId as string | number;
    if (stride === 5) S[c + 4] = this.curFields as Record<string, unknown>;
    this.w = c + stride;
    return r;
  }

  /** Writes a new run whose first capture is the current event into the scratch. */
  private startRun(q: number): number {
    if (this.curId === undefined) this.identifyCurrent();
    const S = this.scratch;
    const r = this.w;
    S[r] = R_CAPS + this.stride;
    S[r + 1] = q;
    S[r + 2] = 1;
    S[r + 3] = q;
    S[r + 4] = this.curSeq;
    S[r + 5] = this.curT;
    S[r + 6] = this.curId as string | number;
    if (this.stride === 5) S[r + 7] = this.curFields as Record<string, unknown>;
    this.w = r + R_CAPS + this.stride;
    return r;
  }

  /** Settles a run just written to the scratch at `r` that took an event into `s` with `count`:
   * a complete match is collected; the run is kept while it can still grow (loop further, or go
   * on to an optional step). */
  private land(r: number, s: CompiledStep, count: number): void {
    if (count >= s.min && s.accepting) {
      this.completed[this.nCompleted++] = r;
      if (count >= s.max && s.proceed.length === 0) {
        this.scratch[r] = -(this.scratch[r] as number);
        return;
      }
    }
    this.kept++;
  }

  /** Keeps an untouched run: in place while nothing before it changed, else copied to the scratch. */
  private keep(src: KeyRuns, o: number, size: number): void {
    if (!this.changed) {
      this.prefix = o + size;
      this.kept++;
      return;
    }
    const S = this.scratch;
    const w = this.w;
    for (let i = 0; i < size; i++) S[w + i] = src[o + i] as KeyRuns[number];
    this.w = w + size;
    this.kept++;
  }

  private keyString(event: E): string {
    const k = this.keyOf(event);
    return typeof k === 'string' ? k : String(k);
  }

  /**
   * One event of one key, in event-time order. `found` is the key's state as `gather` saw it
   * (undefined: none then; null: not looked up); it is used unless it has been replaced since.
   *
   * The key's runs are rewritten into the scratch, except for the untouched ones before the first
   * change (`prefix`): those stay where they are in the key's array, and an event that changes
   * nothing copies nothing.
   */
  private process(state: PatternState, event: E, key: string, t: number, ordinal: number, out: WatermarkOutput, found: KeyRuns | number | undefined | null): void {
    let entry = found;
    // A reference gather() kept is current unless the array was let go since (and maybe reused), or
    // the record moved (another key's may be there now).
    if (entry === null || entry === undefined || (typeof entry === 'number' ? this.recordKey(state, entry) !== key : entry[K_INDEX] === DEAD || entry[K_KEY] !== key)) entry = this.lastIndex.get(key);
    // A compact key is worked on as an array (`inflated`), and stored back as a record or an array.
    let co = -1;
    let ks: KeyRuns | undefined;
    if (typeof entry === 'number') {
      co = entry;
      ks = this.inflate(state, co);
    } else ks = entry;
    // The key's string as the state holds it, not this event's equal copy: the deadline queue, a
    // rewritten record or array and the index then share one string per key.
    if (ks !== undefined) key = ks[K_KEY] as string;
    const steps = this.steps;
    const base = state.base as number;
    let seq = 1;
    let len = K_RUNS;
    if (ks === undefined) {
      // Fast path for a key without open runs: only a start can create state.
      let any = false;
      const starts = this.starts;
      for (let i = 0; i < starts.length; i++) if ((steps[starts[i] as number] as CompiledStep).test(event, this.emptyView)) { any = true; break; }
      if (!any) return;
    } else {
      seq = (ks[K_SEQ] as number) + 1;
      ks[K_SEQ] = seq;
      ks[K_TIME] = t - base;
      len = ks[K_END] as number;
    }
    this.cur = event;
    this.curSeq = seq;
    this.curT = t - base;
    this.curOrdinal = ordinal;
    this.curId = undefined;
    this.curFields = undefined;
    this.w = 0;
    this.kept = 0;
    this.nCompleted = 0;
    this.prefix = K_RUNS;
    this.changed = false;
    const view = this.view;
    view.base = base;
    const stride = this.stride;
    let before = 0;

    if (ks !== undefined) {
      view.arr = ks;
      for (let o = K_RUNS; o < len;) {
        const size = ks[o] as number;
        const end = o + size;
        before++;
        const p = ks[o + 1] as number;
        const c = ks[o + 2] as number;
        const step = steps[p] as CompiledStep;
        const adjacent = seq === (ks[end - stride + 1] as number) + 1;
        view.start = o;
        view.end = end;
        if (c >= step.max) {
          if (step.absence !== null) {
            if (!step.absence(event, view)) this.keep(ks, o, size);
            else this.changed = true;
            o = end;
            continue;
          }
          if ((step.notNext !== null && adjacent && step.notNext(event, view)) || (step.notFollowedBy !== null && step.notFollowedBy(event, view))) {
            this.changed = true;
            o = end;
            continue;
          }
        }
        let consumed = false;
        let future = false;
        let loopTook = false;
        // Takes are gathered first, so the run's own copy (when it survives) comes before them.
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
        if (!consumed && future) this.keep(ks, o, size);
        else this.changed = true;
        if (t1 >= 0) {
          this.changed = true;
          this.land(this.capture(ks, o, size, t1, c1), steps[t1] as CompiledStep, c1);
          if (t2 >= 0) {
            this.land(this.capture(ks, o, size, t2, 1), steps[t2] as CompiledStep, 1);
            if (extra !== null) for (let k = 0; k < extra.length; k++) this.land(this.capture(ks, o, size, extra[k] as number, 1), steps[extra[k] as number] as CompiledStep, 1);
          }
        }
        o = end;
      }
    }

    // A new partial match may start at every event.
    let started = false;
    for (let si = 0; si < this.starts.length; si++) {
      const q = this.starts[si] as number;
      const s = steps[q] as CompiledStep;
      if (!s.test(event, this.emptyView)) continue;
      if (state.open + this.kept - before >= this.maxOpen) {
        state.counts.refusedRuleCap++;
        continue;
      }
      this.changed = true;
      this.land(this.startRun(q), s, 1);
      started = true;
    }
    if (started && this.within !== Infinity) state.tq.push(t - base + this.within, key);
    this.cur = undefined as E;
    if (!this.changed) {
      if (co >= 0) this.putRecord(state, co, key, seq, t - base, ks as KeyRuns, K_RUNS);
      return;
    }

    if (this.nCompleted > 0) this.emit(state, key, ks, out);
    if (this.kept > this.maxPerKey) {
      // Drop the oldest runs: the first ones kept.
      this.materialize(ks);
      const S = this.scratch;
      let drop = this.kept - this.maxPerKey;
      state.counts.droppedPerKeyCap += drop;
      for (let r = 0; r < this.w && drop > 0; r += Math.abs(S[r] as number)) {
        if ((S[r] as number) > 0) { S[r] = -(S[r] as number); drop--; this.kept--; }
      }
    }
    state.open += this.kept - before;
    if (this.kept === 0) {
      if (co >= 0) {
        this.removeRecord(state, co);
        this.lastIndex.delete(key);
      } else if (ks !== undefined) this.removeKey(state, ks);
      return;
    }
    if (this.kept === 1 && this.compact) {
      // The one run kept: left in place, or the scratch's only run of positive size.
      let src = this.scratch;
      let r = 0;
      if (this.prefix > K_RUNS) { src = ks as KeyRuns; r = K_RUNS; } else while ((src[r] as number) < 0) r -= src[r] as number;
      if (src[r] === SINGLE) {
        if (co >= 0) this.putRecord(state, co, key, seq, t - base, src, r);
        else {
          const o = this.newRecord(state);
          this.putRecord(state, o, key, seq, t - base, src, r);
          if (ks !== undefined) this.removeKey(state, ks, false);
          this.lastIndex.set(key, o);
        }
        return;
      }
    }
    if (co >= 0) this.removeRecord(state, co); // writeBack gives the key an array and indexes it
    this.writeBack(state, key, ks, seq, t - base, len);
  }

  /** Stores the key's new runs: its untouched prefix, then the scratch's kept runs. In place when
   * they fit; otherwise in a new array of `capacityFor(size)` slots, which replaces the old one. */
  private writeBack(state: PatternState, key: string, ks: KeyRuns | undefined, seq: number, time: number, len: number): void {
    const S = this.scratch;
    const w = this.w;
    const prefix = this.prefix;
    let size = prefix;
    for (let r = 0; r < w;) {
      const s = S[r] as number;
      if (s > 0) { size += s; r += s; } else r -= s;
    }
    let dst: KeyRuns;
    // `inflated` (a compact key's copy) is read from, never kept.
    const owned = ks !== undefined && ks[K_INDEX] !== INFLATED;
    if (owned && size <= (ks as KeyRuns).length) dst = ks as KeyRuns;
    else {
      dst = this.allocate(size);
      dst[K_KEY] = key;
      dst[K_SEQ] = seq;
      dst[K_TIME] = time;
      dst[K_END] = size;
      for (let i = size; i < dst.length; i++) dst[i] = 0;
      if (ks !== undefined) for (let i = K_RUNS; i < prefix; i++) dst[i] = ks[i] as KeyRuns[number];
      if (!owned) {
        dst[K_INDEX] = state.keys.length;
        state.keys.push(dst);
      } else {
        const x = (ks as KeyRuns)[K_INDEX] as number;
        dst[K_INDEX] = x;
        state.keys[x] = dst;
        this.release(ks as KeyRuns);
      }
      this.lastIndex.set(key, dst);
    }
    let d = prefix;
    for (let r = 0; r < w;) {
      const s = S[r] as number;
      if (s > 0) {
        for (let i = 0; i < s; i++) dst[d + i] = S[r + i] as KeyRuns[number];
        d += s;
        r += s;
      } else r -= s;
    }
    if (dst === ks) setEnd(ks, size, len);
  }

  /** Moves the untouched prefix into the scratch ahead of what is there, for the rare steps that
   * must see every kept run there (a skip strategy's pruning, the per-key cap). */
  private materialize(ks: KeyRuns | undefined): void {
    const n = this.prefix - K_RUNS;
    if (n === 0 || ks === undefined) return;
    const S = this.scratch;
    for (let i = this.w - 1; i >= 0; i--) S[i + n] = S[i] as KeyRuns[number];
    for (let i = 0; i < n; i++) S[i] = ks[K_RUNS + i] as KeyRuns[number];
    this.w += n;
    for (let i = 0; i < this.nCompleted; i++) this.completed[i] = (this.completed[i] as number) + n;
    this.prefix = K_RUNS;
  }

  /** Emits the matches completed by one event in a fixed order, applying the skip strategy to the
   * runs kept. */
  private emit(state: PatternState, key: string, ks: KeyRuns | undefined, out: WatermarkOutput): void {
    const completed = this.completed;
    const n = this.nCompleted;
    const S = this.scratch;
    // Insertion sort: a handful of runs at most complete together, and Array.prototype.sort
    // would allocate on every call.
    for (let i = 1; i < n; i++) {
      const r = completed[i] as number;
      let j = i - 1;
      for (; j >= 0 && this.compareRuns(completed[j] as number, r) > 0; j--) completed[j + 1] = completed[j] as number;
      completed[j + 1] = r;
    }
    if (out.matches === EMPTY) out.matches = [];
    let bound = -Infinity;
    for (let i = 0; i < n; i++) {
      const r = completed[i] as number;
      const end = r + Math.abs(S[r] as number);
      if ((S[r + R_CAPS + 1] as number) < bound) continue;
      out.matches.push(this.toMatch(key, S, r, end, undefined));
      state.counts.matched++;
      const b = this.pruneBound(S, r, end);
      if (b > bound) bound = b;
    }
    if (bound === -Infinity) return;
    this.materialize(ks);
    for (let r = 0; r < this.w;) {
      const s = S[r] as number;
      if (s > 0 && (S[r + R_CAPS + 1] as number) < bound) {
        S[r] = -s;
        this.kept--;
      }
      r += Math.abs(s);
    }
  }

  /** Orders runs in the scratch by their captures, (seq, step) pairs compared lexicographically:
   * the order in which matches completed by the same event are emitted and skip strategies applied. */
  private compareRuns(a: number, b: number): number {
    const S = this.scratch;
    const la = Math.abs(S[a] as number);
    const lb = Math.abs(S[b] as number);
    const n = Math.min(la, lb);
    for (let i = R_CAPS; i < n; i += this.stride) {
      const d = (S[a + i + 1] as number) - (S[b + i + 1] as number) || (S[a + i] as number) - (S[b + i] as number);
      if (d !== 0) return d;
    }
    return la - lb;
  }

  private stepsOf(arr: KeyRuns, start: number, end: number): Record<string, CapturedEvent[]> {
    const steps: Record<string, CapturedEvent[]> = {};
    const view = this.view;
    const saved = view.arr;
    view.arr = arr;
    for (let i = start + R_CAPS; i < end; i += this.stride) {
      const name = this.names[arr[i] as number] as string;
      // A literal of one, grown only for a repeating step: push onto [] would reserve 16 slots.
      const list = steps[name];
      if (list === undefined) steps[name] = [view.captured(i)];
      else list.push(view.captured(i));
    }
    view.arr = saved;
    return steps;
  }

  private toMatch(key: string, arr: KeyRuns, start: number, end: number, provenAt: number | undefined): PatternMatch {
    const m: PatternMatch = {
      kind: 'match',
      rule: this.description.name,
      key,
      steps: this.stepsOf(arr, start, end),
      start: (arr[start + R_CAPS + 2] as number) + this.view.base,
      end: (arr[end - this.stride + 2] as number) + this.view.base,
    };
    return provenAt === undefined ? m : { ...m, provenAt };
  }

  private toTimeout(key: string, arr: KeyRuns, start: number, end: number, deadline: number): TimedOutMatch {
    const step = this.steps[arr[start + 1] as number] as CompiledStep;
    const c = arr[start + 2] as number;
    const waitingFor = c < step.min || step.proceed.length === 0 ? step.name : (this.steps[step.proceed[0] as number] as CompiledStep).name;
    return { kind: 'timeout', rule: this.description.name, key, steps: this.stepsOf(arr, start, end), start: (arr[start + R_CAPS + 2] as number) + this.view.base, deadline, waitingFor };
  }
}
