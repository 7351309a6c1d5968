import { parseDuration, type DurationInput } from './duration.js';
import { AggregateSet, type Accumulator, type AggregateNode } from './aggregates.js';
import { MIN_TIME, defaultEventId, defaultEventTime } from './eventTime.js';
import { addDeadline, newDeadlineQueue, popDeadlines, type DeadlineQueue } from './deadlineQueue.js';

/** Window shapes. Time windows are epoch-aligned, start-inclusive and end-exclusive `[start, end)`. */
export type WindowSpec =
  | { readonly kind: 'tumbling'; readonly size: number }
  | { readonly kind: 'hopping'; readonly size: number; readonly advance: number }
  /** Trailing window per event: `(t − size, t]`, emitted on every event. */
  | { readonly kind: 'sliding'; readonly size: number }
  /** Events closer than `gap` to each other (strictly) form one session. */
  | { readonly kind: 'session'; readonly gap: number }
  /** The last `size` events of a key, emitted every `slide` events (arrival order). */
  | { readonly kind: 'count'; readonly size: number; readonly slide: number };

export type EmitMode = 'onUpdate' | 'onClose';

export interface WindowDescription<E = any> {
  readonly kind: 'window';
  readonly name: string;
  readonly window: WindowSpec | null;
  readonly aggregates: Readonly<Record<string, AggregateNode<E>>>;
  readonly keyBy: ((event: E) => string | number) | null;
  readonly eventTime: ((event: E) => number) | null;
  readonly eventId: ((event: E) => string | number | undefined) | null;
  readonly filter: ((event: E) => boolean) | null;
  /** @defaultValue 'onClose' for tumbling, hopping and session; sliding and count always emit as they go. */
  readonly emit: EmitMode | null;
  readonly allowedLateness: number;
  readonly having: ((values: Record<string, number | null>, result: WindowResult) => boolean) | null;
}

export interface WindowResult {
  readonly kind: 'window';
  readonly rule: string;
  readonly key: string;
  readonly window: WindowSpec['kind'];
  readonly start: number;
  /** Exclusive end for time windows; a session's end is its last event time + gap. */
  readonly end: number;
  readonly count: number;
  readonly values: Record<string, number | null>;
  /** True when the window has closed and will not change. */
  readonly final: boolean;
  readonly firstEventId: string | number;
  readonly lastEventId: string | number;
  /** Every event in the window (sliding and count windows, which keep their events). */
  readonly eventIds?: Array<string | number>;
}

/** `[count, firstId, lastId, ...accumulators]` */
type Bucket = [number, string | number, string | number, ...Accumulator[]];
/** `[time, id, ...values]` */
type Item = [number, string | number, ...Array<number | string>];

interface WindowKeyState {
  /** Tumbling/hopping: window start → bucket. */
  w?: Record<string, Bucket>;
  /** Sliding/count: kept events. */
  i?: Item[];
  /** Session: `[start, lastTime, bucket]` sorted by start. */
  s?: Array<[number, number, Bucket]>;
  /** Count windows: events since the last emission. */
  n?: number;
  /** The one deadline this key has in the queue, or null. */
  d: number | null;
}

export interface WindowState {
  v: 1;
  wm: number;
  maxT: number;
  n: number;
  keys: Record<string, WindowKeyState>;
  dq: DeadlineQueue;
  counts: { late: number; emitted: number; closed: number };
}

export interface WindowOutput<E> {
  state: WindowState;
  results: WindowResult[];
  late: E[];
}

const EMPTY: never[] = [];
Object.freeze(EMPTY);

/**
 * Builds a windowed aggregation rule. Like patterns, every method returns a new builder, and the
 * builder runs: `advance(state, event, time?)`, `onWatermark(state, wm)`.
 *
 * @example
 * const spend = windowed('rolling-spend')
 *   .keyBy((e) => e.data.card)
 *   .sliding('24h')
 *   .aggregate({ total: sum((e) => e.data.amount) })
 *   .having((v) => (v.total ?? 0) > 10_000);
 */
export class WindowBuilder<E = any> {
  private compiled: WindowRuntime<E> | undefined;
  constructor(readonly description: WindowDescription<E>) {
    Object.freeze(description);
  }
  private with(patch: Partial<WindowDescription<E>>): WindowBuilder<E> {
    return new WindowBuilder<E>({ ...this.description, ...patch });
  }
  keyBy(fn: (event: E) => string | number): WindowBuilder<E> { return this.with({ keyBy: fn }); }
  eventTime(fn: (event: E) => number): WindowBuilder<E> { return this.with({ eventTime: fn }); }
  eventId(fn: (event: E) => string | number | undefined): WindowBuilder<E> { return this.with({ eventId: fn }); }
  /** Only events passing `fn` enter the windows (others are ignored, not late). */
  where(fn: (event: E) => boolean): WindowBuilder<E> { return this.with({ filter: fn }); }
  tumbling(size: DurationInput): WindowBuilder<E> { return this.with({ window: { kind: 'tumbling', size: positive(size) } }); }
  hopping(size: DurationInput, advance: DurationInput): WindowBuilder<E> {
    const s = positive(size), a = positive(advance);
    if (a > s) throw new TypeError('hopping(): advance must not exceed size');
    return this.with({ window: { kind: 'hopping', size: s, advance: a } });
  }
  sliding(size: DurationInput): WindowBuilder<E> { return this.with({ window: { kind: 'sliding', size: positive(size) } }); }
  session(gap: DurationInput): WindowBuilder<E> { return this.with({ window: { kind: 'session', gap: positive(gap) } }); }
  count(size: number, slide: number = size): WindowBuilder<E> {
    if (!Number.isInteger(size) || size < 1 || !Number.isInteger(slide) || slide < 1) throw new TypeError('count(size, slide): positive integers');
    return this.with({ window: { kind: 'count', size, slide } });
  }
  aggregate(aggregates: Record<string, AggregateNode<E>>): WindowBuilder<E> { return this.with({ aggregates: { ...aggregates } }); }
  emit(mode: EmitMode): WindowBuilder<E> { return this.with({ emit: mode }); }
  allowedLateness(d: DurationInput): WindowBuilder<E> { return this.with({ allowedLateness: parseDuration(d) }); }
  /** Only results passing `fn` are emitted: the alert condition. */
  having(fn: (values: Record<string, number | null>, result: WindowResult) => boolean): WindowBuilder<E> { return this.with({ having: fn }); }

  get runtime(): WindowRuntime<E> {
    this.compiled ??= new WindowRuntime<E>(this.description);
    return this.compiled;
  }
  initialState(): WindowState { return this.runtime.initialState(); }
  advance(state: WindowState | null | undefined, event: E, eventTime?: number): WindowOutput<E> {
    return this.runtime.advance(state ?? this.runtime.initialState(), event, eventTime);
  }
  onWatermark(state: WindowState | null | undefined, watermark: number): WindowOutput<E> {
    return this.runtime.onWatermark(state ?? this.runtime.initialState(), watermark);
  }
  explain(): object {
    const d = this.description;
    return {
      kind: 'window', name: d.name, window: d.window, emit: this.runtime.emitMode, allowedLateness: d.allowedLateness,
      aggregates: new AggregateSet(d.aggregates).explain(),
      keyBy: d.keyBy?.toString() ?? null, where: d.filter?.toString() ?? null, having: d.having?.toString() ?? null,
    };
  }
  toJSON(): object { return this.explain(); }
}

function positive(d: DurationInput): number {
  const ms = parseDuration(d);
  if (ms <= 0) throw new TypeError(`window durations must be positive, got ${String(d)}`);
  return ms;
}

/** Starts a windowed aggregation rule named `name`. */
export function windowed<E = any>(name: string): WindowBuilder<E> {
  if (!name) throw new TypeError('a window rule needs a name');
  return new WindowBuilder<E>({
    kind: 'window', name, window: null, aggregates: {}, keyBy: null, eventTime: null, eventId: null,
    filter: null, emit: null, allowedLateness: 0, having: null,
  });
}

export class WindowRuntime<E> {
  readonly emitMode: EmitMode;
  private readonly aggs: AggregateSet<E>;
  private readonly spec: WindowSpec;
  private readonly keyOf: (e: E) => string | number;
  private readonly timeOf: (e: E) => number;
  private readonly idOf: (e: E) => string | number | undefined;

  constructor(readonly description: WindowDescription<E>) {
    const d = description;
    if (!d.window) throw new TypeError(`window rule "${d.name}" needs a window: tumbling, hopping, sliding, session or count`);
    this.spec = d.window;
    this.aggs = new AggregateSet(d.aggregates);
    const always = d.window.kind === 'sliding' || d.window.kind === 'count';
    if (always && d.emit === 'onClose') throw new TypeError(`window rule "${d.name}": ${d.window.kind} windows emit as events arrive; emit('onClose') does not apply`);
    this.emitMode = always ? 'onUpdate' : d.emit ?? 'onClose';
    this.keyOf = d.keyBy ?? (() => '');
    this.timeOf = d.eventTime ?? defaultEventTime;
    this.idOf = d.eventId ?? defaultEventId;
  }

  initialState(): WindowState {
    return { v: 1, wm: MIN_TIME, maxT: MIN_TIME, n: 0, keys: Object.create(null) as Record<string, WindowKeyState>, dq: newDeadlineQueue(), counts: { late: 0, emitted: 0, closed: 0 } };
  }

  private lastState: WindowState | null = null;
  private index: Map<string, WindowKeyState> = new Map();
  private readonly indexes = new WeakMap<WindowState, Map<string, WindowKeyState>>();

  /** Keys are looked up in a Map derived from `state.keys` (rebuilt once for a state that came
   * through JSON): a dictionary-mode object with many keys is several times slower to read. */
  private hydrate(state: WindowState): void {
    if (state === this.lastState) return;
    if (Object.getPrototypeOf(state.keys) !== null) state.keys = Object.assign(Object.create(null) as Record<string, WindowKeyState>, state.keys);
    let index = this.indexes.get(state);
    if (index === undefined) {
      index = new Map(Object.entries(state.keys));
      this.indexes.set(state, index);
    }
    this.lastState = state;
    this.index = index;
  }

  private dropKey(state: WindowState, key: string): void {
    delete state.keys[key];
    this.index.delete(key);
  }

  advance(state: WindowState, event: E, eventTime?: number): WindowOutput<E> {
    this.hydrate(state);
    const out: WindowOutput<E> = { state, results: EMPTY, late: EMPTY };
    const d = this.description;
    if (d.filter && !d.filter(event)) return out;
    const t = eventTime ?? this.timeOf(event);
    if (typeof t !== 'number' || Number.isNaN(t)) throw new TypeError(`window rule "${d.name}": event time is not a number (${String(t)})`);
    const isCount = this.spec.kind === 'count';
    if (!isCount && t < state.wm) {
      state.counts.late++;
      out.late = [event];
      return out;
    }
    const ordinal = state.n++;
    if (t > state.maxT) state.maxT = t;
    const wm = state.maxT - d.allowedLateness;
    if (wm > state.wm) this.closeUpTo(state, wm, out);
    const key = String(this.keyOf(event));
    const id = this.idOf(event) ?? ordinal;
    let ks = this.index.get(key);
    if (ks === undefined) { ks = { d: null }; state.keys[key] = ks; this.index.set(key, ks); }
    const values = this.aggs.extract(event);
    switch (this.spec.kind) {
      case 'tumbling': this.addToWindows(state, ks, key, t, id, values, Math.floor(t / this.spec.size) * this.spec.size, this.spec.size, this.spec.size, out); break;
      case 'hopping': this.addToWindows(state, ks, key, t, id, values, Math.floor(t / this.spec.advance) * this.spec.advance, this.spec.size, this.spec.advance, out); break;
      case 'sliding': this.addSliding(state, ks, key, t, id, values, this.spec.size, out); break;
      case 'session': this.addSession(state, ks, key, t, id, values, this.spec.gap, out); break;
      case 'count': this.addCount(state, ks, key, t, id, values, this.spec.size, this.spec.slide, out); break;
    }
    return out;
  }

  onWatermark(state: WindowState, watermark: number): WindowOutput<E> {
    this.hydrate(state);
    const out: WindowOutput<E> = { state, results: EMPTY, late: EMPTY };
    if (watermark > state.wm) this.closeUpTo(state, watermark, out);
    return out;
  }

  private schedule(state: WindowState, ks: WindowKeyState, key: string, deadline: number): void {
    if (ks.d === null || deadline < ks.d) {
      ks.d = deadline;
      addDeadline(state.dq, deadline, key);
    }
  }

  private push(state: WindowState, out: WindowOutput<E>, r: WindowResult): void {
    if (this.description.having && !this.description.having(r.values, r)) return;
    if (out.results === EMPTY) out.results = [];
    out.results.push(r);
    state.counts.emitted++;
  }

  private result(key: string, start: number, end: number, b: Bucket, final: boolean, eventIds?: Array<string | number>): WindowResult {
    const r: WindowResult = {
      kind: 'window', rule: this.description.name, key, window: this.spec.kind, start, end, count: b[0],
      values: this.aggs.results(b.slice(3) as Accumulator[]), final, firstEventId: b[1], lastEventId: b[2],
    };
    return eventIds ? { ...r, eventIds } : r;
  }

  /** Advances the watermark and closes every window it passes, in deadline order. */
  private closeUpTo(state: WindowState, wm: number, out: WindowOutput<E>): void {
    state.wm = wm;
    popDeadlines(state.dq, wm, (key, time) => {
      const ks = this.index.get(key);
      if (!ks || ks.d !== time) return; // superseded by an earlier deadline for the same key
      ks.d = null;
      let next: number | null = null;
      const spec = this.spec;
      if (ks.w) {
        const size = spec.kind === 'tumbling' || spec.kind === 'hopping' ? spec.size : 0;
        const starts = Object.keys(ks.w).map(Number).sort((a, b) => a - b);
        for (const s of starts) {
          if (s + size <= wm) {
            const b = ks.w[s] as Bucket;
            delete ks.w[s];
            state.counts.closed++;
            if (this.emitMode === 'onClose') this.push(state, out, this.result(key, s, s + size, b, true));
          } else if (next === null || s + size < next) next = s + size;
        }
      } else if (ks.s) {
        const gap = spec.kind === 'session' ? spec.gap : 0;
        const keep: Array<[number, number, Bucket]> = [];
        for (const sess of ks.s) {
          if (sess[1] + gap <= wm) {
            state.counts.closed++;
            if (this.emitMode === 'onClose') this.push(state, out, this.result(key, sess[0], sess[1] + gap, sess[2], true));
          } else {
            keep.push(sess);
            if (next === null || sess[1] + gap < next) next = sess[1] + gap;
          }
        }
        ks.s = keep;
      } else if (ks.i) {
        const size = spec.kind === 'sliding' ? spec.size : 0;
        let k = 0;
        while (k < ks.i.length && (ks.i[k] as Item)[0] + size <= wm) k++;
        if (k > 0) ks.i.splice(0, k);
        if (ks.i.length > 0) next = (ks.i[0] as Item)[0] + size;
      }
      if (next === null) this.dropKey(state, key);
      else this.schedule(state, ks, key, next);
    });
  }

  private newBucket(id: string | number): Bucket {
    return [0, id, id, ...this.aggs.init()];
  }

  private addTo(b: Bucket, t: number, id: string | number, values: Array<number | string>): void {
    b[0]++;
    b[2] = id;
    this.aggs.add(b as unknown as Accumulator[], values, t, 3);
  }

  private addToWindows(state: WindowState, ks: WindowKeyState, key: string, t: number, id: string | number, values: Array<number | string>, lastStart: number, size: number, step: number, out: WindowOutput<E>): void {
    ks.w ??= {};
    for (let s = lastStart; s > t - size; s -= step) {
      let b = ks.w[s];
      if (!b) { b = this.newBucket(id); ks.w[s] = b; this.schedule(state, ks, key, s + size); }
      this.addTo(b, t, id, values);
      if (this.emitMode === 'onUpdate') this.push(state, out, this.result(key, s, s + size, b, false));
    }
  }

  private addSliding(state: WindowState, ks: WindowKeyState, key: string, t: number, id: string | number, values: Array<number | string>, size: number, out: WindowOutput<E>): void {
    const items = (ks.i ??= []);
    const item: Item = [t, id, ...values];
    let at = items.length;
    while (at > 0 && (items[at - 1] as Item)[0] > t) at--;
    if (at === items.length) items.push(item); else items.splice(at, 0, item);
    this.schedule(state, ks, key, (items[0] as Item)[0] + size);
    // The window of this event: (t − size, t], over the events seen so far.
    let lo = at;
    while (lo > 0 && (items[lo - 1] as Item)[0] > t - size) lo--;
    let hi = at + 1;
    while (hi < items.length && (items[hi] as Item)[0] === t) hi++;
    const b = this.newBucket((items[lo] as Item)[1]);
    const ids: Array<string | number> = [];
    for (let k = lo; k < hi; k++) {
      const it = items[k] as Item;
      this.addTo(b, it[0], it[1], it.slice(2) as Array<number | string>);
      ids.push(it[1]);
    }
    this.push(state, out, this.result(key, t - size, t, b, false, ids));
  }

  private addSession(state: WindowState, ks: WindowKeyState, key: string, t: number, id: string | number, values: Array<number | string>, gap: number, out: WindowOutput<E>): void {
    const sessions = (ks.s ??= []);
    // Every session this event touches (closer than gap) merges with it into one.
    let merged: [number, number, Bucket] | null = null;
    const keep: Array<[number, number, Bucket]> = [];
    for (const s of sessions) {
      if (t - s[1] < gap && s[0] - t < gap) {
        if (merged === null) merged = s;
        else {
          const accs = merged[2].slice(3) as Accumulator[];
          this.aggs.merge(accs, s[2].slice(3) as Accumulator[]);
          const later: boolean = s[0] > merged[0];
          merged = [Math.min(merged[0], s[0]), Math.max(merged[1], s[1]), [merged[2][0] + s[2][0], later ? merged[2][1] : s[2][1], later ? s[2][2] : merged[2][2], ...accs]];
        }
      } else keep.push(s);
    }
    if (merged === null) merged = [t, t, this.newBucket(id)];
    this.addTo(merged[2], t, id, values);
    if (t < merged[0]) merged[0] = t;
    if (t > merged[1]) merged[1] = t;
    let at = keep.length;
    while (at > 0 && (keep[at - 1] as [number, number, Bucket])[0] > merged[0]) at--;
    keep.splice(at, 0, merged);
    ks.s = keep;
    this.schedule(state, ks, key, merged[1] + gap);
    if (this.emitMode === 'onUpdate') this.push(state, out, this.result(key, merged[0], merged[1] + gap, merged[2], false));
  }

  private addCount(state: WindowState, ks: WindowKeyState, key: string, t: number, id: string | number, values: Array<number | string>, size: number, slide: number, out: WindowOutput<E>): void {
    const items = (ks.i ??= []);
    items.push([t, id, ...values]);
    if (items.length > size) items.splice(0, items.length - size);
    ks.n = (ks.n ?? 0) + 1;
    if (ks.n < slide) return;
    ks.n = 0;
    const b = this.newBucket((items[0] as Item)[1]);
    for (const it of items) this.addTo(b, it[0], it[1], it.slice(2) as Array<number | string>);
    this.push(state, out, this.result(key, (items[0] as Item)[0], (items[items.length - 1] as Item)[0], b, true, items.map((i) => i[1])));
    if (slide >= size) { items.length = 0; this.dropKey(state, key); }
  }
}
