import { expect } from 'chai';
import { causationGraph, fanOutRule, specify } from '../../patterns/index.js';

interface Ev { eventId: string; eventType: string; time: number; metadata: { $causationId?: string; $correlationId?: string } }
const ev = (eventId: string, time: number, causationId?: string, correlationId = 'c1'): Ev => ({
  eventId, eventType: 'Step', time, metadata: { ...(causationId ? { $causationId: causationId } : {}), $correlationId: correlationId },
});

describe('causationGraph', () => {
  // root → a → (b, c); c → d; e in another correlation
  const events = [ev('root', 0), ev('a', 1, 'root'), ev('b', 2, 'a'), ev('c', 3, 'a'), ev('d', 4, 'c'), ev('e', 5, undefined, 'c2')];
  const graph = causationGraph('orders', { retain: '1h' });
  const build = () => {
    let s = graph.initialState();
    for (const e of events) s = JSON.parse(JSON.stringify(graph.advance(s, e).state));
    return s;
  };
  it('answers ancestors (nearest first), descendants, depth and fan-out', () => {
    const s = build();
    expect(graph.ancestors(s, 'd')).to.deep.equal(['c', 'a', 'root']);
    expect(graph.descendants(s, 'a')).to.deep.equal(['b', 'c', 'd']);
    expect(graph.depth(s, 'd')).to.equal(3);
    expect(graph.depth(s, 'root')).to.equal(0);
    expect(graph.fanOut(s, 'a')).to.equal(2);
    expect(graph.correlated(s, 'c1')).to.deep.equal(['root', 'a', 'b', 'c', 'd']);
  });
  it('reads metadata given as a JSON string, as projections may see it', () => {
    let s = graph.initialState();
    s = graph.advance(s, { eventId: 'x', time: 0, metadata: JSON.stringify({ $causationId: 'y', $correlationId: 'z' }) }).state;
    expect(graph.ancestors(s, 'x')).to.deep.equal(['y']);
  });
  it('adds a replayed event only once', () => {
    let s = build();
    s = graph.advance(s, events[2] as Ev).state;
    expect(graph.fanOut(s, 'a')).to.equal(2);
  });
  it('forgets events older than retain, by event time', () => {
    let s = build();
    s = graph.onWatermark(s, 3_600_000 + 2).state;
    expect(s.size).to.equal(3);
    expect(graph.descendants(s, 'c')).to.deep.equal(['d']);
    // A forgotten cause is still named by its child, but the walk stops there.
    expect(graph.ancestors(s, 'd')).to.deep.equal(['c', 'a']);
    expect(graph.correlated(s, 'c1')).to.deep.equal(['c', 'd']);
  });
  it('caps the number of events held, counting refusals', () => {
    const small = causationGraph('small', { maxNodes: 2 });
    let s = small.initialState();
    for (const e of events) s = small.advance(s, e).state;
    expect(s.size).to.equal(2);
    expect(s.counts.refused).to.equal(4);
  });
});

describe('fanOutRule', () => {
  it('alerts once when an event causes more than the limit, naming the children', () => {
    const rule = fanOutRule('fan-out', 2);
    specify(rule).given(ev('root', 0), ev('a', 1, 'root'), ev('b', 2, 'root')).thenEmitted()
      .when(ev('c', 3, 'root'), ev('d', 4, 'root'))
      .thenEmitted({ kind: 'fanOut', eventId: 'root', children: 3, childIds: ['a', 'b', 'c'], correlationId: 'c1' });
  });
});
