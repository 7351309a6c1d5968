import { expect } from 'chai';
import { pattern, specify, at, skipPastLastEvent, skipToLast, skipToNext, parseDuration, RuleSpecificationError } from '../../patterns/index.js';

interface Ev { id: string; k: string; t: number; key?: string; amount?: number }

/** Events named like Flink's docs: `a`, `b1`, `d2`; the letter is the type, times 0, 1, 2… */
function stream(text: string): Ev[] {
  return text.split(' ').map((id, t) => ({ id, k: id[0] as string, t }));
}
const is = (k: string) => (e: Ev): boolean => e.k === k;
const base = () => pattern<Ev>('doc').eventTime((e) => e.t);

describe('pattern: contiguity (Flink CEP docs, §2.2)', () => {
  const input = stream('a c b1 b2');
  it('strict: "a next b" over a c b1 b2 matches nothing', () => {
    specify(base().begin('a', is('a')).next('b', is('b'))).when(...input).thenNothingMatched();
  });
  it('relaxed: "a followedBy b" matches {a b1} only', () => {
    specify(base().begin('a', is('a')).followedBy('b', is('b'))).when(...input).thenMatched({ a: ['a'], b: ['b1'] });
  });
  it('non-deterministic relaxed: "a followedByAny b" matches {a b1} and {a b2}', () => {
    specify(base().begin('a', is('a')).followedByAny('b', is('b'))).when(...input).thenMatched({ a: ['a'], b: ['b1'] }, { a: ['a'], b: ['b2'] });
  });
  it('allowCombinations: "a b+ c" over a b1 d1 b2 d2 b3 c gives the 7 matches Flink documents', () => {
    const rule = base().begin('a', is('a')).followedByAny('b', is('b')).oneOrMore().allowCombinations().followedByAny('c', is('c'));
    const spec = specify(rule).when(...stream('a b1 d1 b2 d2 b3 c'));
    expect(spec.outputs.matches).to.have.length(7);
  });
  it('relaxed loop: a partial match that takes an event does not also go on without it', () => {
    // Documented difference from Flink (docs/patterns.md): relaxed = skip till next match per partial match.
    specify(base().begin('a', is('a')).followedBy('b', is('b')).oneOrMore().followedBy('c', is('c')))
      .when(...stream('a b1 d1 b2 d2 b3 c'))
      .thenMatched({ a: ['a'], b: ['b1', 'b2', 'b3'], c: ['c'] });
  });
  it('consecutive: the loop breaks on a foreign event', () => {
    specify(base().begin('b', is('b')).times(2).consecutive().followedBy('c', is('c')))
      .when(...stream('b1 d b2 b3 c'))
      .thenMatched({ b: ['b2', 'b3'], c: ['c'] });
  });
});

describe('pattern: after-match skip strategies (Flink CEP docs, §2.3: "b+ c" over b1 b2 b3 c)', () => {
  const rule = base().begin('b', is('b')).oneOrMore().followedBy('c', is('c'));
  const input = stream('b1 b2 b3 c');
  it('noSkip emits 3 matches', () => {
    specify(rule).when(...input).thenMatched({ b: ['b1', 'b2', 'b3'], c: ['c'] }, { b: ['b2', 'b3'], c: ['c'] }, { b: ['b3'], c: ['c'] });
  });
  it('skipPastLastEvent emits 1', () => {
    specify(rule.afterMatch(skipPastLastEvent())).when(...input).thenMatched({ b: ['b1', 'b2', 'b3'], c: ['c'] });
  });
  it('skipToLast("b") emits 2', () => {
    specify(rule.afterMatch(skipToLast('b'))).when(...input).thenMatched({ b: ['b1', 'b2', 'b3'], c: ['c'] }, { b: ['b3'], c: ['c'] });
  });
  it('skipToNext drops partial matches that started with the same event', () => {
    specify(base().begin('a', is('a')).followedByAny('b', is('b')).afterMatch(skipToNext()))
      .when(...stream('a b1 b2')).thenMatched({ a: ['a'], b: ['b1'] });
  });
});

describe('pattern: quantifiers', () => {
  it('times(2, 3) takes two or three', () => {
    specify(base().begin('x', is('x')).times(2, 3).next('y', is('y'))).when(...stream('x1 x2 x3 y'))
      .thenMatched({ x: ['x1', 'x2', 'x3'], y: ['y'] }, { x: ['x2', 'x3'], y: ['y'] });
  });
  it('optional: the step may be missing', () => {
    specify(base().begin('a', is('a')).followedBy('b', is('b')).optional().followedBy('c', is('c'))).when(...stream('a c'))
      .thenMatched({ a: ['a'], c: ['c'] });
  });
  const xz = (e: Ev): boolean => e.k === 'x' || e.k === 'z';
  const yz = (e: Ev): boolean => e.k === 'y' || e.k === 'z';
  it('greedy: an event that could also start the next step stays in the loop', () => {
    specify(base().begin('x', xz).oneOrMore().greedy().followedBy('end', yz)).when(...stream('x1 z1 y'))
      .thenMatched({ x: ['x1', 'z1'], end: ['y'] }, { x: ['z1'], end: ['y'] });
  });
  it('not greedy: the same event also closes the match', () => {
    specify(base().begin('x', xz).oneOrMore().followedBy('end', yz)).when(...stream('x1 z1 y'))
      .thenMatched({ x: ['x1'], end: ['z1'] }, { x: ['x1', 'z1'], end: ['y'] }, { x: ['z1'], end: ['y'] });
  });
  it('conditions can refer to earlier captures (remember keeps the fields they need)', () => {
    const rule = pattern<Ev>('ten-times').eventTime((e) => e.t).remember((e) => ({ amount: e.amount }))
      .begin('first', (e) => e.k === 'p')
      .followedBy('big', (e, m) => (e.amount ?? 0) > 10 * (m.first('first')?.['amount'] as number));
    specify(rule).when({ id: 'p1', k: 'p', t: 0, amount: 5 }, { id: 'p2', k: 'p', t: 1, amount: 40 }, { id: 'p3', k: 'p', t: 2, amount: 60 })
      .thenMatched({ first: ['p1'], big: ['p3'] });
  });
});

describe('pattern: negation and absence', () => {
  it('notNext: the event right after must not match', () => {
    specify(base().begin('a', is('a')).notNext('x', is('x')).followedBy('b', is('b'))).when(...stream('a1 x a2 y b'))
      .thenMatched({ a: ['a2'], b: ['b'] });
  });
  it('notFollowedBy between steps: nothing matching in between', () => {
    specify(base().begin('a', is('a')).notFollowedBy('x', is('x')).followedBy('b', is('b'))).when(...stream('a1 x a2 b'))
      .thenMatched({ a: ['a2'], b: ['b'] });
  });
  it('absence at the end fires from the watermark, exactly at start + within', () => {
    const rule = base().begin('order', is('o')).notFollowedBy('payment', is('p')).within(10);
    specify(rule).given(at(0, { id: 'o1', k: 'o', t: 0 })).when(at(9, { id: 'x', k: 'x', t: 9 })).thenNothingMatched()
      .whenWatermarkReaches(10).thenMatched({ order: ['o1'] });
  });
  it('absence is cancelled by a matching event before the deadline', () => {
    const rule = base().begin('order', is('o')).notFollowedBy('payment', is('p')).within(10);
    specify(rule).given({ id: 'o1', k: 'o', t: 0 }, { id: 'p1', k: 'p', t: 9 }).whenTimePasses(100).thenNothingMatched();
  });
  it('an event at exactly the deadline is too late to cancel it', () => {
    const rule = base().begin('order', is('o')).notFollowedBy('payment', is('p')).within(10);
    specify(rule).given({ id: 'o1', k: 'o', t: 0 }).when({ id: 'p1', k: 'p', t: 10 }).thenMatched({ order: ['o1'] });
  });
  it('refuses rules it cannot run, with a reason', () => {
    expect(() => base().begin('a', is('a')).notFollowedBy('x', is('x')).initialState()).to.throw(TypeError, /needs within/);
    expect(() => base().begin('a', is('a')).notNext('x', is('x')).within(5).initialState()).to.throw(TypeError, /cannot end with notNext/);
    expect(() => base().begin('a', is('a')).oneOrMore().notFollowedBy('x', is('x'))).to.throw(TypeError, /fixed count/);
    expect(() => base().begin('a', is('a')).followedBy('a', is('a')).initialState()).to.throw(TypeError, /used twice/);
    expect(() => base().notNext('x', is('x'))).to.throw(TypeError, /cannot begin/);
  });
});

describe('pattern: within and timed-out partial matches', () => {
  const rule = base().begin('a', is('a')).followedBy('b', is('b')).within('10ms');
  it('a match must end strictly before start + within', () => {
    specify(rule).given({ id: 'a', k: 'a', t: 0 }).when({ id: 'b', k: 'b', t: 10 }).thenNothingMatched().thenTimedOut({ a: ['a'] });
    specify(rule).given({ id: 'a', k: 'a', t: 0 }).when({ id: 'b', k: 'b', t: 9 }).thenMatched({ a: ['a'], b: ['b'] });
  });
  it('timeouts are reported by the watermark with the step they waited for', () => {
    const spec = specify(rule).given({ id: 'a', k: 'a', t: 0 }).whenTimePasses('10ms').thenTimedOut({ a: ['a'] });
    expect(spec.outputs.timeouts[0]?.waitingFor).to.equal('b');
    expect(spec.currentState.open).to.equal(0);
  });
});

describe('pattern: keys, limits and eviction', () => {
  const keyed = pattern<Ev>('k').eventTime((e) => e.t).keyBy((e) => e.key ?? '').begin('a', is('a')).followedBy('b', is('b'));
  it('keys are matched separately', () => {
    specify(keyed).when({ id: 'a1', k: 'a', t: 0, key: 'x' }, { id: 'b1', k: 'b', t: 1, key: 'y' }, { id: 'b2', k: 'b', t: 2, key: 'x' })
      .thenMatched({ a: ['a1'], b: ['b2'] });
  });
  it('caps open partial matches per key, dropping the oldest and counting them', () => {
    const rule = keyed.limits({ maxPartialMatchesPerKey: 3 });
    const events = Array.from({ length: 10 }, (_, i) => ({ id: `a${i}`, k: 'a', t: i, key: 'x' }));
    const spec = specify(rule).given(...events).when({ id: 'b', k: 'b', t: 20, key: 'x' });
    expect(spec.outputs.matches.map((m) => m.steps['a']?.[0]?.id)).to.deep.equal(['a7', 'a8', 'a9']);
    expect(spec.currentState.counts.droppedPerKeyCap).to.equal(7);
  });
  it('stays within the rule-wide cap under adversarial input (every event opens a match)', () => {
    const rule = keyed.limits({ maxPartialMatches: 100 });
    let state = rule.initialState();
    for (let i = 0; i < 10_000; i++) state = rule.advance(state, { id: `a${i}`, k: 'a', t: i, key: `k${i}` }).state;
    expect(state.open).to.equal(100);
    // Each key holds one one-event partial match: a record of `one` each, no key arrays.
    expect(state.keys).to.have.length(0);
    expect(state.one.flat()).to.have.length(100 * 4);
    expect(state.counts.refusedRuleCap).to.equal(9_900);
  });
  it('evicts idle keys and counts what they held', () => {
    const rule = keyed.limits({ idleKeyTimeout: '1h' });
    const spec = specify(rule).given({ id: 'a1', k: 'a', t: 0, key: 'x' }).whenTimePasses('2h');
    expect(spec.currentState.keys).to.deep.equal([]);
    expect(spec.currentState.one).to.deep.equal([]);
    expect(spec.currentState.counts).to.include({ evictedKeys: 1, evictedPartialMatches: 1 });
  });
});

describe('pattern: event time, lateness and replay', () => {
  const rule = base().begin('a', is('a')).followedBy('b', is('b')).allowedLateness(5);
  it('re-orders events inside the allowed lateness', () => {
    specify(rule).when({ id: 'b', k: 'b', t: 3 }, { id: 'a', k: 'a', t: 1 }).whenWatermarkReaches(10).thenMatched({ a: ['a'], b: ['b'] });
  });
  it('counts and returns events later than the watermark', () => {
    const spec = specify(rule).given({ id: 'x', k: 'x', t: 100 }).when({ id: 'a', k: 'a', t: 94 }).thenLate(1);
    expect(spec.currentState.counts.late).to.equal(1);
  });
  it('a state restored from JSON carries on exactly like the live one', () => {
    const events = stream('a b1 a b2 c a b3');
    let live = rule.initialState();
    let restored = rule.initialState();
    const a: unknown[] = [], b: unknown[] = [];
    for (const e of events) {
      a.push(...rule.advance(live, e).matches);
      restored = JSON.parse(JSON.stringify(restored));
      b.push(...rule.advance(restored, e).matches);
    }
    expect(b).to.deep.equal(a);
  });
});

describe('pattern: explain', () => {
  it('prints the rule as JSON, conditions as source', () => {
    const rule = pattern('small-then-large').keyBy((e: { card: string }) => e.card)
      .begin('small', (e: { amount: number }) => e.amount < 2).times(3)
      .followedBy('large', (e: { amount: number }) => e.amount > 500).within('PT10M');
    const x = JSON.parse(JSON.stringify(rule));
    expect(x).to.deep.include({ kind: 'pattern', name: 'small-then-large', within: 600_000 });
    expect(x.nodes[0]).to.deep.include({ kind: 'step', name: 'small', min: 3, max: 3, where: ['(e) => e.amount < 2'] });
    expect(x.nodes[1]).to.deep.include({ kind: 'step', name: 'large', contiguity: 'relaxed' });
  });
});

describe('parseDuration', () => {
  it('reads ISO 8601 and short forms', () => {
    expect(parseDuration('PT10M')).to.equal(600_000);
    expect(parseDuration('P1D')).to.equal(86_400_000);
    expect(parseDuration('10m')).to.equal(600_000);
    expect(parseDuration('24h')).to.equal(86_400_000);
    expect(parseDuration('500ms')).to.equal(500);
    expect(parseDuration('7d')).to.equal(604_800_000);
    expect(parseDuration('1h30m')).to.equal(5_400_000);
  });
  it('refuses calendar units and nonsense', () => {
    expect(() => parseDuration('P1M')).to.throw(TypeError, /months/);
    expect(() => parseDuration('ten minutes')).to.throw(TypeError, /not a duration/);
  });
});

describe('specify (given/when/then)', () => {
  it('fails with both sides shown', () => {
    const rule = base().begin('a', is('a'));
    expect(() => specify(rule).when(...stream('a')).thenNothingMatched()).to.throw(RuleSpecificationError, /expected matches \[\]\n\s+but got \[\{"a":\["a"\]\}\]/);
  });
});

describe('pattern: batches', () => {
  const keyed = pattern<Ev>('k').eventTime((e) => e.t).keyBy((e) => {
    if (e.key === 'bad') throw new TypeError('no key');
    return e.key ?? '';
  }).begin('a', is('a')).followedBy('b', is('b'));

  it('a key function that throws mid-batch raises its error after the events before it took effect', () => {
    const state = keyed.initialState();
    const events = [{ id: 'a1', k: 'a', t: 0, key: 'x' }, { id: 'b1', k: 'b', t: 1, key: 'x' }, { id: 'a2', k: 'a', t: 2, key: 'bad' }, { id: 'a3', k: 'a', t: 3, key: 'y' }];
    expect(() => keyed.advanceBatch(state, events)).to.throw(TypeError, 'no key');
    expect(state.counts.matched).to.equal(1);
    expect(state.n).to.equal(3);
    expect(state.open).to.equal(0);
  });
});

describe('pattern: compact keys', () => {
  const rule = pattern<Ev>('k').eventTime((e) => e.t).keyBy((e) => e.key ?? '').begin('a', is('a')).followedBy('b', is('b')).within(100);
  it('keeps a key whose only partial match holds one event as a record, and moves it to an array and back', () => {
    const state = rule.initialState();
    rule.advance(state, { id: 'a1', k: 'a', t: 0, key: 'x' });
    expect(state.keys).to.deep.equal([]);
    expect(state.one).to.deep.equal([['x', 'a1', 0, 0]]);
    // An event that opens nothing still counts in the key's seq (contiguity compares seqs).
    rule.advance(state, { id: 'c1', k: 'c', t: 10, key: 'x' });
    expect(state.one).to.deep.equal([['x', 'a1', 0, 2]]);
    // A second partial match: the key needs an array.
    rule.advance(state, { id: 'a2', k: 'a', t: 50, key: 'x' });
    expect(state.one).to.deep.equal([]);
    expect(state.keys).to.have.length(1);
    expect(state.open).to.equal(2);
    // a1's partial match times out: the one left makes the key a record again.
    const out = rule.onWatermark(state, 100);
    expect(out.timeouts.map((m) => m.steps['a']?.[0]?.id)).to.deep.equal(['a1']);
    expect(state.keys).to.deep.equal([]);
    expect(state.one).to.deep.equal([['x', 'a2', 50, 0]]);
    const end = rule.advance(JSON.parse(JSON.stringify(state)), { id: 'b1', k: 'b', t: 120, key: 'x' });
    expect(end.matches.map((m) => [m.steps['a']?.[0]?.id, m.steps['b']?.[0]?.id])).to.deep.equal([['a2', 'b1']]);
    expect(end.state.one).to.deep.equal([]);
    expect(end.state.open).to.equal(0);
  });
  it('strict contiguity still sees the events a record skipped', () => {
    const strict = pattern<Ev>('s').eventTime((e) => e.t).keyBy((e) => e.key ?? '').begin('a', is('a')).next('b', is('b'));
    const state = strict.initialState();
    strict.advance(state, { id: 'a1', k: 'a', t: 0, key: 'x' });
    strict.advance(state, { id: 'c1', k: 'c', t: 1, key: 'y' });
    strict.advance(state, { id: 'c2', k: 'c', t: 2, key: 'x' });
    expect(strict.advance(state, { id: 'b1', k: 'b', t: 3, key: 'x' }).matches).to.deep.equal([]);
    strict.advance(state, { id: 'a2', k: 'a', t: 4, key: 'x' });
    expect(strict.advance(state, { id: 'b2', k: 'b', t: 5, key: 'x' }).matches.map((m) => m.steps['a']?.[0]?.id)).to.deep.equal(['a2']);
  });
  it('lays records out in pages of 1024, and fills the hole a removed record leaves with the last one', () => {
    const wide = rule.within(1e6);
    const state = wide.initialState();
    wide.advanceBatch(state, Array.from({ length: 2050 }, (_, i) => ({ id: `a${i}`, k: 'a', t: i, key: `k${i}` })));
    expect(state.one.map((page) => page.length / 4)).to.deep.equal([1024, 1024, 2]);
    // k5's partial match completes: k2049's record moves into its place, the last page shrinks.
    const out = wide.advance(state, { id: 'b', k: 'b', t: 2050, key: 'k5' });
    expect(out.matches.map((m) => m.steps['a']?.[0]?.id)).to.deep.equal(['a5']);
    expect(state.one.map((page) => page.length / 4)).to.deep.equal([1024, 1024, 1]);
    expect(state.one[0]?.slice(5 * 4, 6 * 4)).to.deep.equal(['k2049', 'a2049', 2049, 0]);
    // Every key still finds its own record (here, after a round trip through JSON too).
    const copy = JSON.parse(JSON.stringify(state));
    const ends = wide.advanceBatch(copy, [{ id: 'b1', k: 'b', t: 2051, key: 'k2049' }, { id: 'b2', k: 'b', t: 2052, key: 'k1030' }]);
    expect(ends.matches.map((m) => m.steps['a']?.[0]?.id)).to.deep.equal(['a2049', 'a1030']);
    expect(copy.open).to.equal(2047);
    expect(copy.one.flat()).to.have.length(2047 * 4);
  });
  it('re-lays records for a rule that evicts idle keys, and evicts them', () => {
    const state = JSON.parse(JSON.stringify(rule.advance(rule.initialState(), { id: 'a1', k: 'a', t: 0, key: 'x' }).state));
    expect(state.os).to.equal(undefined); // 4 slots, the default, not written
    const idle = rule.within(1e9).limits({ idleKeyTimeout: 50 });
    idle.advance(state, { id: 'c1', k: 'c', t: 10, key: 'z' });
    expect(state.os).to.equal(5);
    expect(state.one).to.deep.equal([['x', 'a1', 0, 0, 0]]);
    idle.onWatermark(state, 100);
    expect(state.one).to.deep.equal([]);
    expect(state.counts).to.include({ evictedKeys: 1, evictedPartialMatches: 1 });
    expect(state.open).to.equal(0);
  });
});

describe('pattern: saved states', () => {
  it('a state saved before keys became flat arrays (version 1) loads and carries on', () => {
    const rule = pattern<Ev>('k').eventTime((e) => e.t).keyBy((e) => e.key ?? '').begin('a', is('a')).followedBy('b', is('b')).within(100);
    // Written by the version-1 runtime after a1 (t 0) and a2 (t 5) on key x.
    const saved = JSON.parse('{"v":1,"wm":5,"maxT":5,"base":0,"n":2,"keys":[{"k":"x","x":0,"s":2,"t":5,"r":[[0,1,1,0,1,0,"a1"],[0,1,2,0,2,5,"a2"]]}],"tq":[100,"x",105,"x"],"th":0,"buf":[],"open":2,"sweep":-8640000000000000,"counts":{"late":0,"droppedPerKeyCap":0,"refusedRuleCap":0,"evictedKeys":0,"evictedPartialMatches":0,"timedOut":0,"matched":0}}');
    const out = rule.advance(saved, { id: 'b1', k: 'b', t: 7, key: 'x' });
    expect(out.matches.map((m) => [m.steps['a']?.[0]?.id, m.steps['b']?.[0]?.id])).to.deep.equal([['a1', 'b1'], ['a2', 'b1']]);
    expect(out.state.open).to.equal(0);
    expect(out.state.v).to.equal(3);
  });
  it('a state saved before compact keys (version 2, every key an array) loads and carries on', () => {
    const rule = pattern<Ev>('k').eventTime((e) => e.t).keyBy((e) => e.key ?? '').begin('a', is('a')).followedBy('b', is('b')).within(100);
    // Written by the version-2 runtime (8e0a3e8) after a1 (t 0), a2 (t 5) on key x and a3 (t 6) on y.
    const saved = JSON.parse('{"v":2,"wm":6,"maxT":6,"base":0,"n":3,"keys":[["x",0,2,5,19,7,0,1,0,1,0,"a1",7,0,1,0,2,5,"a2",0,0,0,0,0],["y",1,1,6,12,7,0,1,0,1,6,"a3",0,0,0,0]],"tq":[100,"x",105,"x",106,"y"],"th":0,"buf":[],"open":3,"sweep":-8640000000000000,"counts":{"late":0,"droppedPerKeyCap":0,"refusedRuleCap":0,"evictedKeys":0,"evictedPartialMatches":0,"timedOut":0,"matched":0}}');
    const out = rule.advance(saved, { id: 'b1', k: 'b', t: 7, key: 'x' });
    expect(out.matches.map((m) => [m.steps['a']?.[0]?.id, m.steps['b']?.[0]?.id])).to.deep.equal([['a1', 'b1'], ['a2', 'b1']]);
    expect(out.state.v).to.equal(3);
    // y's partial match is still there, and times out at 106.
    const later = rule.onWatermark(out.state, 106);
    expect(later.timeouts.map((m) => [m.key, m.steps['a']?.[0]?.id])).to.deep.equal([['y', 'a3']]);
    expect(later.state.open).to.equal(0);
  });
});
