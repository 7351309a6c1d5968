import { expect } from 'chai';
import fc from 'fast-check';
import {
  windowed, specify, at, count, sum, avg, min, max, stddev, distinctCount, percentile, ema,
  newSketch, sketchAdd, sketchMerge, sketchQuantile,
} from '../../patterns/index.js';

interface V { id: string; key: string; t: number; x: number }
let n = 0;
const v = (t: number, x: number, key = 'k'): V => ({ id: `v${n++}`, key, t, x });
const base = () => windowed<V>('w').keyBy((e) => e.key).eventTime((e) => e.t).eventId((e) => e.id);

describe('windowed: aggregates', () => {
  const all = base().tumbling(10).aggregate({
    n: count(), total: sum((e) => e.x), mean: avg((e) => e.x), lo: min((e) => e.x), hi: max((e) => e.x),
    sd: stddev((e) => e.x), distinct: distinctCount((e) => e.x), median: percentile((e) => e.x, 0.5), smooth: ema((e) => e.x, { alpha: 0.5 }),
  });
  it('computes every aggregate when the window closes', () => {
    specify(all).when(v(0, 2), v(1, 4), v(2, 4), v(3, 4), v(4, 5), v(5, 5), v(6, 7), v(7, 9)).whenWatermarkReaches(10)
      .thenEmitted({ start: 0, end: 10, count: 8, final: true, values: { n: 8, total: 40, mean: 5, lo: 2, hi: 9, sd: Math.sqrt(32 / 7), distinct: 5 } });
  });
  it('percentile is within its relative accuracy, and ema weights recent values', () => {
    const spec = specify(all).when(v(0, 2), v(1, 4), v(2, 4), v(3, 4), v(4, 5), v(5, 5), v(6, 7), v(7, 9)).whenWatermarkReaches(10);
    const values = (spec.outputs.results[0] as { values: Record<string, number> }).values;
    expect(values['median']).to.be.closeTo(4, 4 * 0.02);
    expect(values['smooth']).to.be.closeTo(7.3125 + 0, 1); // 2,4,4,4,5,5,7,9 with alpha 0.5
  });
  it('ema with a half-life halves the weight of the past each half-life', () => {
    const rule = base().tumbling(1000).aggregate({ e: ema((x) => x.x, { halfLife: 10 }) });
    specify(rule).when(v(0, 0), v(10, 100)).whenWatermarkReaches(1000).thenEmitted({ values: { e: 50 } });
  });
});

describe('windowed: window shapes', () => {
  it('hopping windows: each event lands in size/advance windows', () => {
    const rule = base().hopping(10, 5).aggregate({ n: count() });
    specify(rule).when(v(7, 1)).whenWatermarkReaches(20)
      .thenEmitted({ start: 0, end: 10, count: 1 }, { start: 5, end: 15, count: 1 });
  });
  it('emit onUpdate gives a running result per event, not final', () => {
    const rule = base().tumbling(10).aggregate({ total: sum((e) => e.x) }).emit('onUpdate');
    specify(rule).when(v(0, 1), v(1, 2)).thenEmitted({ values: { total: 1 }, final: false }, { values: { total: 3 }, final: false });
  });
  it('session windows merge events closer than the gap, and close gap after the last', () => {
    const rule = base().session(10).aggregate({ n: count() });
    specify(rule).when(v(0, 1), v(5, 1), v(14, 1)).whenWatermarkReaches(23).thenEmitted()
      .whenWatermarkReaches(24).thenEmitted({ start: 0, end: 24, count: 3 });
    specify(rule).when(v(0, 1), v(10, 1)).whenWatermarkReaches(100).thenEmitted({ start: 0, end: 10, count: 1 }, { start: 10, end: 20, count: 1 });
  });
  it('a late event within the lateness bridges two sessions into one', () => {
    const rule = base().session(10).aggregate({ n: count(), total: sum((e) => e.x) }).allowedLateness(20);
    specify(rule).when(v(0, 1), v(15, 2), v(8, 3)).whenWatermarkReaches(100).thenEmitted({ start: 0, end: 25, count: 3, values: { total: 6 } });
  });
  it('count windows emit every `slide` events over the last `size`', () => {
    const rule = base().count(3, 2).aggregate({ total: sum((e) => e.x) });
    specify(rule).when(v(0, 1), v(1, 2), v(2, 3), v(3, 4)).thenEmitted({ values: { total: 3 } }, { values: { total: 9 } });
  });
  it('sliding windows report the events they hold', () => {
    const rule = base().sliding(10).aggregate({ n: count() });
    const a = v(0, 1), b = v(5, 1), c = v(12, 1);
    specify(rule).when(a, b, c).thenEmitted({ eventIds: [a.id] }, { eventIds: [a.id, b.id] }, { eventIds: [b.id, c.id] });
  });
  it('late events past the lateness are counted and returned, never aggregated', () => {
    const rule = base().tumbling(10).aggregate({ n: count() }).allowedLateness(5);
    const spec = specify(rule).when(v(20, 1), v(14, 1), v(16, 1)).thenLate(1);
    expect(spec.currentState.counts.late).to.equal(1);
  });
  it('closed windows leave no state behind', () => {
    const rule = base().sliding(10).aggregate({ n: count() });
    const spec = specify(rule).given(v(0, 1, 'a'), v(1, 1, 'b')).whenWatermarkReaches(100);
    expect(spec.currentState.keys).to.deep.equal({});
  });
  it('refuses an unusable rule', () => {
    expect(() => base().aggregate({ n: count() }).initialState()).to.throw(TypeError, /needs a window/);
    expect(() => base().sliding(10).aggregate({ n: count() }).emit('onClose').initialState()).to.throw(TypeError, /onClose/);
    expect(() => percentile((e: V) => e.x, 2)).to.throw(TypeError);
  });
});

describe('windowed: tumbling sums agree with a plain recomputation (property-based)', () => {
  it('for any in-order stream', () => {
    fc.assert(fc.property(fc.array(fc.record({ gap: fc.nat(7), x: fc.integer({ min: -5, max: 20 }), key: fc.constantFrom('a', 'b') }), { maxLength: 30 }), (raw) => {
      let t = 0;
      const events = raw.map((r) => v((t += r.gap), r.x, r.key));
      const rule = base().tumbling(10).aggregate({ total: sum((e) => e.x), n: count() });
      let state = rule.initialState();
      const got: string[] = [];
      for (const e of events) {
        const out = rule.advance(state, e);
        state = JSON.parse(JSON.stringify(out.state));
        for (const r of out.results) got.push(`${r.key}@${r.start}:${r.values['total']}/${r.values['n']}`);
      }
      for (const r of rule.onWatermark(state, 1e9).results) got.push(`${r.key}@${r.start}:${r.values['total']}/${r.values['n']}`);
      const expected = new Map<string, { total: number; n: number; end: number }>();
      for (const e of events) {
        const start = Math.floor(e.t / 10) * 10;
        const k = `${e.key}@${start}`;
        const cur = expected.get(k) ?? { total: 0, n: 0, end: start + 10 };
        cur.total += e.x; cur.n++;
        expected.set(k, cur);
      }
      expect([...got].sort()).to.deep.equal([...expected].map(([k, c]) => `${k}:${c.total}/${c.n}`).sort());
    }), { numRuns: 300 });
  });
});

describe('percentile sketch', () => {
  it('answers any quantile within the relative accuracy, and merges', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0.01, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 300 }), fc.double({ min: 0, max: 1, noNaN: true }), (xs, q) => {
      const a = newSketch(0.01), b = newSketch(0.01);
      xs.forEach((x, i) => sketchAdd(i % 2 ? a : b, x));
      sketchMerge(a, b);
      const sorted = [...xs].sort((x, y) => x - y);
      const exact = sorted[Math.floor(q * (sorted.length - 1))] as number;
      const approx = sketchQuantile(JSON.parse(JSON.stringify(a)), q) as number;
      expect(Math.abs(approx - exact) / exact).to.be.at.most(0.0101);
    }), { numRuns: 300 });
  });
});

void at;
