import { expect } from 'chai';
import fc from 'fast-check';
import { pattern, noSkip, skipToNext, skipPastLastEvent, skipToFirst, skipToLast, type PatternBuilder, type SkipStrategy, type MatchSoFar } from '../../patterns/index.js';
import { referenceMatches, type Mode, type RefEvent, type RefPattern, type RefStep, type RefNegation } from './referenceMatcher.js';

// A generated rule, described as data so both matchers can be built from it.
interface GenCondition { letters: string[]; aboveFirst: boolean }
interface GenStep { cond: GenCondition; min: number; max: number; optional: boolean; enter: Mode; loop: Mode; greedy: boolean; negation: { kind: 'notNext' | 'notFollowedBy'; letters: string[] } | null }
interface GenRule { steps: GenStep[]; within: number | null; skip: RefPattern['skip'] }

const letters = fc.subarray(['a', 'b', 'c'], { minLength: 1, maxLength: 2 });
const mode = fc.constantFrom<Mode>('strict', 'relaxed', 'any');
const quantifier = fc.constantFrom(
  { min: 1, max: 1 }, { min: 1, max: 1 }, { min: 2, max: 2 }, { min: 1, max: 2 }, { min: 1, max: Infinity }, { min: 2, max: Infinity },
);
const genStep = fc.record({
  cond: fc.record({ letters, aboveFirst: fc.boolean() }),
  q: quantifier,
  optional: fc.boolean(),
  enter: mode,
  loop: mode,
  greedy: fc.boolean(),
  negation: fc.option(fc.record({ kind: fc.constantFrom<'notNext' | 'notFollowedBy'>('notNext', 'notFollowedBy'), letters }), { freq: 3 }),
});

function genRule(opts: { absence: boolean; skips: boolean }): fc.Arbitrary<GenRule> {
  return fc.record({
    raw: fc.array(genStep, { minLength: 1, maxLength: 3 }),
    within: fc.constantFrom(null, 3, 6),
    skipKind: fc.constantFrom('noSkip', 'skipToNext', 'skipPastLastEvent', 'skipToFirst', 'skipToLast'),
    skipStep: fc.nat(2),
    trailing: fc.boolean(),
  }).map(({ raw, within, skipKind, skipStep, trailing }) => {
    const steps: GenStep[] = raw.map((r, i) => {
      const loops = r.q.max > 1;
      const optional = i === 0 && raw.length === 1 ? false : r.optional;
      // Negations need a fixed, non-optional step before them, and none may end the rule (trailing handled below).
      const negation = r.negation && r.q.min === r.q.max && !optional && i < raw.length - 1 ? r.negation : null;
      return {
        cond: { letters: r.cond.letters, aboveFirst: i > 0 && r.cond.aboveFirst },
        min: r.q.min, max: r.q.max, optional, enter: r.enter,
        loop: loops ? r.loop : 'relaxed', greedy: loops && r.greedy, negation,
      };
    });
    if (steps.every((s) => s.optional)) steps[0]!.optional = false;
    const lastStep = steps[steps.length - 1]!;
    let w = within;
    if (opts.absence && trailing && lastStep.min === lastStep.max && !lastStep.optional) {
      lastStep.negation = { kind: 'notFollowedBy', letters: ['c'] };
      w ??= 6;
    }
    let skip: RefPattern['skip'] = { kind: 'noSkip' };
    if (opts.skips) {
      skip = skipKind === 'skipToFirst' || skipKind === 'skipToLast'
        ? { kind: skipKind, step: `s${Math.min(skipStep, steps.length - 1)}` }
        : { kind: skipKind as 'noSkip' };
    }
    return { steps, within: w, skip };
  });
}

interface Ev { id: number; key: string; k: string; v: number; t: number }

function testOf(c: GenCondition): (e: { k: string; v: number }, firstV: number | undefined) => boolean {
  return (e, firstV) => c.letters.includes(e.k) && (!c.aboveFirst || firstV === undefined || e.v >= firstV);
}

function buildRule(g: GenRule, opts: { remember: boolean } = { remember: true }): PatternBuilder<Ev> {
  let b = pattern<Ev>('generated').keyBy((e) => e.key).eventTime((e) => e.t).eventId((e) => e.id);
  if (opts.remember) b = b.remember((e) => ({ v: e.v }));
  g.steps.forEach((s, i) => {
    // Without remember, captures carry no fields: conditions on earlier events are left out.
    const t = testOf(opts.remember ? s.cond : { ...s.cond, aboveFirst: false });
    const cond = (e: Ev, m: MatchSoFar): boolean => t(e, m.first('s0')?.['v'] as number | undefined);
    const name = `s${i}`;
    b = i === 0 ? b.begin(name, cond) : s.enter === 'strict' ? b.next(name, cond) : s.enter === 'relaxed' ? b.followedBy(name, cond) : b.followedByAny(name, cond);
    if (s.max !== 1 || s.min !== 1) b = b.times(s.min, s.max);
    if (s.optional) b = b.optional();
    if (s.loop === 'strict') b = b.consecutive();
    if (s.loop === 'any') b = b.allowCombinations();
    if (s.greedy) b = b.greedy();
    if (s.negation) {
      const nt = testOf({ letters: s.negation.letters, aboveFirst: false });
      const ncond = (e: Ev): boolean => nt(e, undefined);
      b = s.negation.kind === 'notNext' ? b.notNext(`n${i}`, ncond) : b.notFollowedBy(`n${i}`, ncond);
    }
  });
  if (g.within !== null) b = b.within(g.within);
  const skips: Record<string, () => SkipStrategy> = {
    noSkip, skipToNext, skipPastLastEvent,
    skipToFirst: () => skipToFirst((g.skip as { step: string }).step),
    skipToLast: () => skipToLast((g.skip as { step: string }).step),
  };
  return b.afterMatch((skips[g.skip.kind] as () => SkipStrategy)());
}

function buildReference(g: GenRule): RefPattern {
  const steps: RefStep[] = g.steps.map((s, i) => {
    const t = testOf(s.cond);
    return { name: `s${i}`, test: (e: RefEvent, first: RefEvent | undefined) => t(e, first?.v), min: s.min, max: s.max, optional: s.optional, enter: s.enter, loop: s.loop, greedy: s.greedy };
  });
  const negations: RefNegation[][] = g.steps.map((s) => {
    if (!s.negation) return [];
    const nt = testOf({ letters: s.negation.letters, aboveFirst: false });
    return [{ kind: s.negation.kind, test: (e: RefEvent) => nt(e, undefined) }];
  });
  return { steps, negations, within: g.within, skip: g.skip };
}

const stream = (keys: string[]): fc.Arbitrary<Ev[]> =>
  fc.array(fc.record({ key: fc.constantFrom(...keys), k: fc.constantFrom('a', 'b', 'c'), v: fc.nat(3), gap: fc.constantFrom(0, 1, 1, 2) }), { maxLength: 9 })
    .map((raw) => {
      let t = 0;
      return raw.map((r, id) => ({ id, key: r.key, k: r.k, v: r.v, t: (t += r.gap) }));
    });

function runEngine(rule: PatternBuilder<Ev>, events: Ev[], roundTrip: boolean): Array<{ key: string; steps: Record<string, number[]> }> {
  let state = rule.initialState();
  const out: Array<{ key: string; steps: Record<string, number[]> }> = [];
  const collect = (ms: ReadonlyArray<{ key: string; steps: Record<string, Array<{ id: string | number }>> }>): void => {
    for (const m of ms) {
      const steps: Record<string, number[]> = {};
      for (const [name, caps] of Object.entries(m.steps)) steps[name] = caps.map((c) => c.id as number);
      out.push({ key: m.key, steps });
    }
  };
  for (const e of events) {
    collect(rule.advance(state, e).matches);
    if (roundTrip) state = JSON.parse(JSON.stringify(state));
  }
  collect(rule.onWatermark(state, 1e9).matches);
  return out;
}

const byKey = (ms: Array<{ key: string; steps: Record<string, number[]> }>): Record<string, string[]> => {
  const out: Record<string, string[]> = {};
  for (const m of ms) (out[m.key] ??= []).push(JSON.stringify(m.steps));
  return out;
};

describe('sequence rules against a brute-force reference (property-based)', () => {
  it('every contiguity, quantifier, optional, greedy, negation and skip strategy agrees on one key', () => {
    fc.assert(fc.property(genRule({ absence: false, skips: true }), stream(['k']), (g, events) => {
      const actual = byKey(runEngine(buildRule(g), events, false));
      const expected = byKey(referenceMatches(buildReference(g), events));
      expect(actual).to.deep.equal(expected);
    }), { numRuns: 1500 });
  });

  it('agrees with keys interleaved, state round-tripped through JSON after every event', () => {
    fc.assert(fc.property(genRule({ absence: false, skips: true }), stream(['k1', 'k2']), (g, events) => {
      const actual = byKey(runEngine(buildRule(g), events, true));
      const expected = byKey(referenceMatches(buildReference(g), events));
      expect(actual).to.deep.equal(expected);
    }), { numRuns: 700 });
  });

  it('agrees on rules ending in absence (notFollowedBy + within, fired by the watermark)', () => {
    fc.assert(fc.property(genRule({ absence: true, skips: false }), stream(['k1', 'k2']), (g, events) => {
      const sort = (r: Record<string, string[]>): Record<string, string[]> => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, [...v].sort()]));
      const actual = sort(byKey(runEngine(buildRule(g), events, true)));
      const expected = sort(byKey(referenceMatches(buildReference(g), events)));
      expect(actual).to.deep.equal(expected);
    }), { numRuns: 700 });
  });

  it('gives the same matches when events arrive shuffled within the allowed lateness', () => {
    fc.assert(fc.property(genRule({ absence: true, skips: true }), stream(['k1', 'k2']), fc.infiniteStream(fc.nat(1000)), (g, events, noise) => {
      const inOrder = runEngine(buildRule(g), events, false);
      // Swap neighbours whose times differ by at most 2 (the lateness), keeping equal times in order.
      const shuffled = [...events];
      const it = noise[Symbol.iterator]();
      for (let i = 0; i + 1 < shuffled.length; i++) {
        const a = shuffled[i]!, b = shuffled[i + 1]!;
        if (b.t > a.t && b.t - a.t <= 2 && (it.next().value as number) % 2 === 0) [shuffled[i], shuffled[i + 1]] = [b, a];
      }
      const late = buildRule(g).allowedLateness(2);
      const reordered = runEngine(late, shuffled, true);
      expect(byKey(reordered)).to.deep.equal(byKey(inOrder));
    }), { numRuns: 500 });
  });
});

describe('advanceBatch (property-based)', () => {
  // A batch looks keys up ahead in chunks (see PatternRuntime.gather); long streams over a few keys
  // cross chunk boundaries with deadlines firing inside them, and with caps that drop and refuse.
  const longStream = fc.array(fc.record({ key: fc.constantFrom('k1', 'k2', 'k3', 'k4'), k: fc.constantFrom('a', 'b', 'c'), v: fc.nat(3), gap: fc.constantFrom(0, 0, 1, 1, 2) }), { maxLength: 300 })
    .map((raw) => {
      let t = 0;
      return raw.map((r, id) => ({ id, key: r.key, k: r.k, v: r.v, t: (t += r.gap) }));
    });
  const cuts = fc.array(fc.integer({ min: 1, max: 150 }), { minLength: 1, maxLength: 8 });

  it('gives the outputs and the state that feeding the same events one by one gives', () => {
    fc.assert(fc.property(genRule({ absence: true, skips: true }), longStream, cuts, fc.boolean(), fc.constantFrom(1000, 3), fc.constantFrom(1_000_000, 6),
      (g, events, sizes, remember, perKey, overall) => {
        const rule = buildRule(g, { remember }).limits({ maxPartialMatchesPerKey: perKey, maxPartialMatches: overall });
        const one = rule.initialState();
        const single = { matches: [] as unknown[], timeouts: [] as unknown[] };
        for (const e of events) {
          const out = rule.advance(one, e);
          single.matches.push(...out.matches);
          single.timeouts.push(...out.timeouts);
        }
        const many = rule.initialState();
        const batched = { matches: [] as unknown[], timeouts: [] as unknown[] };
        for (let i = 0, c = 0; i < events.length; c++) {
          const n = sizes[c % sizes.length] as number;
          const out = rule.advanceBatch(many, events.slice(i, i + n));
          batched.matches.push(...out.matches);
          batched.timeouts.push(...out.timeouts);
          i += n;
        }
        expect(batched).to.deep.equal(single);
        expect(JSON.parse(JSON.stringify(many))).to.deep.equal(JSON.parse(JSON.stringify(one)));
        expect(rule.onWatermark(many, 1e9)).to.deep.equal(rule.onWatermark(one, 1e9));
      }), { numRuns: 400 });
  });

  it("a state's JSON depends only on its own events, not on what else the runtime ran", () => {
    // A runtime reuses key arrays let go by any state it ran (see PatternRuntime.release).
    fc.assert(fc.property(genRule({ absence: true, skips: true }), longStream, longStream, (g, events, other) => {
      const fresh = buildRule(g);
      const alone = fresh.initialState();
      for (const e of events) fresh.advance(alone, e);
      const shared = buildRule(g);
      const busy = shared.initialState();
      const mine = shared.initialState();
      for (let i = 0; i < Math.max(events.length, other.length); i++) {
        if (i < other.length) shared.advance(busy, other[i] as Ev);
        if (i < events.length) shared.advance(mine, events[i] as Ev);
      }
      expect(JSON.stringify(mine)).to.equal(JSON.stringify(alone));
    }), { numRuns: 300 });
  });
});
