/**
 * A DDSketch-style quantile sketch: values fall in logarithmic buckets whose width is a fixed
 * fraction of the value, so any quantile comes back within `accuracy` relative error, two sketches
 * merge by adding bucket counts, and the whole thing is a small JSON object. Bucket count is
 * capped; past the cap the lowest buckets fold together (only the low quantiles lose accuracy).
 */
export interface PercentileSketch {
  /** Relative accuracy, e.g. 0.01. */
  a: number;
  /** Positive values: bucket index → count. */
  p: Record<string, number>;
  /** Negative values (by magnitude): bucket index → count. */
  m: Record<string, number>;
  /** Zeros (and values smaller than 1e-9 in magnitude). */
  z: number;
  n: number;
}

const MAX_BUCKETS = 1024;

export function newSketch(accuracy = 0.01): PercentileSketch {
  return { a: accuracy, p: {}, m: {}, z: 0, n: 0 };
}

function gamma(s: PercentileSketch): number {
  return (1 + s.a) / (1 - s.a);
}

function bucketOf(s: PercentileSketch, magnitude: number): number {
  return Math.ceil(Math.log(magnitude) / Math.log(gamma(s)));
}

function valueOf(s: PercentileSketch, index: number): number {
  const g = gamma(s);
  return (2 * Math.pow(g, index)) / (g + 1);
}

function collapse(store: Record<string, number>): void {
  const keys = Object.keys(store).map(Number).sort((x, y) => x - y);
  if (keys.length <= MAX_BUCKETS) return;
  const fold = keys.length - MAX_BUCKETS;
  const into = keys[fold] as number;
  for (let i = 0; i < fold; i++) {
    const k = keys[i] as number;
    store[into] = (store[into] ?? 0) + (store[k] as number);
    delete store[k];
  }
}

export function sketchAdd(s: PercentileSketch, value: number, count = 1): void {
  if (!Number.isFinite(value)) return;
  s.n += count;
  const mag = Math.abs(value);
  if (mag < 1e-9) {
    s.z += count;
    return;
  }
  const store = value > 0 ? s.p : s.m;
  const k = bucketOf(s, mag);
  const before = store[k];
  store[k] = (before ?? 0) + count;
  if (before === undefined) collapse(store);
}

export function sketchMerge(into: PercentileSketch, from: PercentileSketch): void {
  for (const [k, c] of Object.entries(from.p)) into.p[k] = (into.p[k] ?? 0) + c;
  for (const [k, c] of Object.entries(from.m)) into.m[k] = (into.m[k] ?? 0) + c;
  into.z += from.z;
  into.n += from.n;
  collapse(into.p);
  collapse(into.m);
}

/** The value at quantile `q` (0..1), or null for an empty sketch. */
export function sketchQuantile(s: PercentileSketch, q: number): number | null {
  if (s.n === 0) return null;
  const rank = Math.max(0, Math.min(s.n - 1, Math.floor(q * (s.n - 1))));
  let seen = 0;
  const neg = Object.keys(s.m).map(Number).sort((x, y) => y - x);
  for (const k of neg) {
    seen += s.m[k] as number;
    if (seen > rank) return -valueOf(s, k);
  }
  seen += s.z;
  if (seen > rank) return 0;
  const pos = Object.keys(s.p).map(Number).sort((x, y) => x - y);
  for (const k of pos) {
    seen += s.p[k] as number;
    if (seen > rank) return valueOf(s, k);
  }
  return valueOf(s, pos.at(-1) as number);
}
