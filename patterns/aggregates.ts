import { parseDuration, type DurationInput } from './duration.js';
import { newSketch, sketchAdd, sketchMerge, sketchQuantile, type PercentileSketch } from './percentileSketch.js';

type Num<E> = (event: E) => number;

/** An aggregate as data (habit 6): the window rule folds events with the handler of its kind. */
export type AggregateNode<E = any> =
  | { readonly kind: 'count' }
  | { readonly kind: 'sum'; readonly of: Num<E> }
  | { readonly kind: 'avg'; readonly of: Num<E> }
  | { readonly kind: 'min'; readonly of: Num<E> }
  | { readonly kind: 'max'; readonly of: Num<E> }
  | { readonly kind: 'stddev'; readonly of: Num<E> }
  | { readonly kind: 'distinctCount'; readonly of: (event: E) => unknown }
  | { readonly kind: 'percentile'; readonly of: Num<E>; readonly q: number; readonly accuracy: number }
  | { readonly kind: 'last'; readonly of: Num<E> }
  | { readonly kind: 'ema'; readonly of: Num<E>; readonly alpha: number | null; readonly halfLife: number | null };

export const count = (): AggregateNode<any> => ({ kind: 'count' });
export const sum = <E>(of: Num<E>): AggregateNode<E> => ({ kind: 'sum', of });
export const avg = <E>(of: Num<E>): AggregateNode<E> => ({ kind: 'avg', of });
export const min = <E>(of: Num<E>): AggregateNode<E> => ({ kind: 'min', of });
export const max = <E>(of: Num<E>): AggregateNode<E> => ({ kind: 'max', of });
/** Sample standard deviation (n − 1); null below two values. */
export const stddev = <E>(of: Num<E>): AggregateNode<E> => ({ kind: 'stddev', of });
/** Exact count of distinct values (kept as a set in the window's state). */
export const distinctCount = <E>(of: (event: E) => unknown): AggregateNode<E> => ({ kind: 'distinctCount', of });
/** Approximate quantile `q` (0..1) within relative `accuracy`, from a mergeable sketch. @defaultValue accuracy 0.01 */
export const percentile = <E>(of: Num<E>, q: number, accuracy = 0.01): AggregateNode<E> => {
  if (!(q >= 0 && q <= 1)) throw new TypeError(`percentile q must be within 0..1, got ${q}`);
  if (!(accuracy > 0 && accuracy < 1)) throw new TypeError(`percentile accuracy must be within (0, 1), got ${accuracy}`);
  return { kind: 'percentile', of, q, accuracy };
};
/** The value of the latest event by event time (the event that triggered an update, in order). */
export const last = <E>(of: Num<E>): AggregateNode<E> => ({ kind: 'last', of });
/** Exponential moving average in event order: `alpha` per event, or a time-based `halfLife`
 * (weight of the past halves every halfLife of event time). */
export const ema = <E>(of: Num<E>, opts: { alpha: number } | { halfLife: DurationInput }): AggregateNode<E> => {
  if ('alpha' in opts) {
    if (!(opts.alpha > 0 && opts.alpha <= 1)) throw new TypeError(`ema alpha must be within (0, 1], got ${opts.alpha}`);
    return { kind: 'ema', of, alpha: opts.alpha, halfLife: null };
  }
  return { kind: 'ema', of, alpha: null, halfLife: parseDuration(opts.halfLife) };
};

/** Accumulator state: plain JSON per kind. */
export type Accumulator = number | null | number[] | Record<string, 1> | PercentileSketch | [number, Record<string, 1>] | [number | null, number];

interface Handler<N extends AggregateNode> {
  /** The value taken from one event (a number, or for distinctCount a string). */
  extract(node: N, event: any): number | string;
  init(node: N): Accumulator;
  add(node: N, acc: Accumulator, value: number | string, time: number): Accumulator;
  /** Folds `from` into `into` (`from` being the later of the two, for ema). */
  merge(node: N, into: Accumulator, from: Accumulator): Accumulator;
  result(node: N, acc: Accumulator): number | null;
}

type Handlers = { [K in AggregateNode['kind']]: Handler<Extract<AggregateNode, { kind: K }>> };

const num = (v: number | string): number => (typeof v === 'number' ? v : Number(v));


const handlers: Handlers = {
  count: {
    extract: () => 1,
    init: () => 0,
    add: (_n, acc) => (acc as number) + 1,
    merge: (_n, a, b) => (a as number) + (b as number),
    result: (_n, acc) => acc as number,
  },
  sum: {
    extract: (n, e) => n.of(e),
    init: () => 0,
    add: (_n, acc, v) => (acc as number) + num(v),
    merge: (_n, a, b) => (a as number) + (b as number),
    result: (_n, acc) => acc as number,
  },
  avg: {
    extract: (n, e) => n.of(e),
    init: () => [0, 0],
    add: (_n, acc, v) => { const a = acc as number[]; a[0] = (a[0] as number) + num(v); a[1] = (a[1] as number) + 1; return a; },
    merge: (_n, a, b) => { const x = a as number[], y = b as number[]; return [(x[0] as number) + (y[0] as number), (x[1] as number) + (y[1] as number)]; },
    result: (_n, acc) => { const a = acc as number[]; return a[1] === 0 ? null : (a[0] as number) / (a[1] as number); },
  },
  min: {
    extract: (n, e) => n.of(e),
    init: () => null,
    add: (_n, acc, v) => (acc === null || num(v) < (acc as number) ? num(v) : acc),
    merge: (_n, a, b) => (a === null ? b : b === null ? a : Math.min(a as number, b as number)),
    result: (_n, acc) => acc as number | null,
  },
  max: {
    extract: (n, e) => n.of(e),
    init: () => null,
    add: (_n, acc, v) => (acc === null || num(v) > (acc as number) ? num(v) : acc),
    merge: (_n, a, b) => (a === null ? b : b === null ? a : Math.max(a as number, b as number)),
    result: (_n, acc) => acc as number | null,
  },
  stddev: {
    // Welford's (n, mean, M2): stable for large amounts, and mergeable (Chan et al.).
    extract: (n, e) => n.of(e),
    init: () => [0, 0, 0],
    add: (_n, acc, v) => {
      const a = acc as [number, number, number];
      const x = num(v);
      a[0] += 1;
      const d = x - a[1];
      a[1] += d / a[0];
      a[2] += d * (x - a[1]);
      return a;
    },
    merge: (_n, a, b) => {
      const [n1, m1, s1] = a as [number, number, number];
      const [n2, m2, s2] = b as [number, number, number];
      const n = n1 + n2;
      if (n === 0) return [0, 0, 0];
      const d = m2 - m1;
      return [n, m1 + (d * n2) / n, s1 + s2 + (d * d * n1 * n2) / n];
    },
    result: (_n, acc) => { const [n, , m2] = acc as [number, number, number]; return n < 2 ? null : Math.sqrt(m2 / (n - 1)); },
  },
  distinctCount: {
    extract: (n, e) => { const v = n.of(e); return typeof v === 'string' ? v : JSON.stringify(v) ?? 'undefined'; },
    init: () => [0, {}],
    add: (_n, acc, v) => { const a = acc as [number, Record<string, 1>]; const k = String(v); if (a[1][k] === undefined) { a[1][k] = 1; a[0]++; } return a; },
    merge: (_n, a, b) => {
      const x = a as [number, Record<string, 1>];
      for (const k of Object.keys((b as [number, Record<string, 1>])[1])) if (x[1][k] === undefined) { x[1][k] = 1; x[0]++; }
      return x;
    },
    result: (_n, acc) => (acc as [number, Record<string, 1>])[0],
  },
  percentile: {
    extract: (n, e) => n.of(e),
    init: (n) => newSketch(n.accuracy),
    add: (_n, acc, v) => { sketchAdd(acc as PercentileSketch, num(v)); return acc; },
    merge: (_n, a, b) => { sketchMerge(a as PercentileSketch, b as PercentileSketch); return a; },
    result: (n, acc) => sketchQuantile(acc as PercentileSketch, n.q),
  },
  last: {
    extract: (n, e) => n.of(e),
    init: () => [null, 0],
    add: (_n, acc, v, time) => { const a = acc as [number | null, number]; return a[0] === null || time >= a[1] ? [num(v), time] : a; },
    merge: (_n, a, b) => { const x = a as [number | null, number], y = b as [number | null, number]; return y[0] !== null && (x[0] === null || y[1] >= x[1]) ? y : x; },
    result: (_n, acc) => (acc as [number | null, number])[0],
  },
  ema: {
    extract: (n, e) => n.of(e),
    init: () => [null, 0],
    add: (n, acc, v, time) => {
      const a = acc as [number | null, number];
      const x = num(v);
      if (a[0] === null) return [x, time];
      const w = n.alpha ?? 1 - Math.pow(0.5, Math.max(0, time - a[1]) / (n.halfLife as number));
      return [a[0] + w * (x - a[0]), Math.max(time, a[1])];
    },
    // Sessions merge: an average is not mergeable exactly; the later side's value wins, which is
    // what an EMA converges to anyway.
    merge: (_n, a, b) => ((b as [number | null, number])[0] === null ? a : b),
    result: (_n, acc) => (acc as [number | null, number])[0],
  },
};


function handler(node: AggregateNode): Handler<AggregateNode> {
  return handlers[node.kind] as Handler<AggregateNode>;
}

/** A named set of aggregates, compiled once for a window rule. */
export class AggregateSet<E> {
  readonly names: readonly string[];
  readonly nodes: readonly AggregateNode<E>[];
  private readonly hs: readonly Handler<AggregateNode>[];
  constructor(spec: Record<string, AggregateNode<E>>) {
    this.names = Object.keys(spec);
    this.nodes = this.names.map((n) => spec[n] as AggregateNode<E>);
    this.hs = this.nodes.map(handler);
    if (this.names.length === 0) throw new TypeError('aggregate() needs at least one aggregate');
  }
  extract(event: E): Array<number | string> {
    const out = new Array<number | string>(this.nodes.length);
    for (let i = 0; i < this.nodes.length; i++) out[i] = (this.hs[i] as Handler<AggregateNode>).extract(this.nodes[i] as AggregateNode, event);
    return out;
  }
  init(): Accumulator[] {
    return this.nodes.map((n, i) => (this.hs[i] as Handler<AggregateNode>).init(n));
  }
  add(accs: Accumulator[], values: ReadonlyArray<number | string>, time: number, offset = 0): void {
    const n = this.nodes.length;
    for (let i = 0; i < n; i++) accs[offset + i] = (this.hs[i] as Handler<AggregateNode>).add(this.nodes[i] as AggregateNode, accs[offset + i] as Accumulator, values[i] as number | string, time);
  }
  merge(into: Accumulator[], from: Accumulator[]): void {
    for (let i = 0; i < into.length; i++) into[i] = (this.hs[i] as Handler<AggregateNode>).merge(this.nodes[i] as AggregateNode, into[i] as Accumulator, from[i] as Accumulator);
  }
  results(accs: Accumulator[]): Record<string, number | null> {
    const out: Record<string, number | null> = {};
    for (let i = 0; i < accs.length; i++) out[this.names[i] as string] = (this.hs[i] as Handler<AggregateNode>).result(this.nodes[i] as AggregateNode, accs[i] as Accumulator);
    return out;
  }
  explain(): Record<string, { kind: string; of?: string; q?: number; alpha?: number | null; halfLife?: number | null }> {
    const out: Record<string, { kind: string; of?: string }> = {};
    this.names.forEach((name, i) => {
      const n = this.nodes[i] as AggregateNode & { of?: Function };
      const copy: Record<string, unknown> = { ...n };
      if (n.of) copy['of'] = n.of.toString();
      out[name] = copy as { kind: string; of?: string };
    });
    return out;
  }
}
