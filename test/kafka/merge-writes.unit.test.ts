// A take's fold outputs become one commit, which may name each stream once: mergeWrites joins the
// writes per stream in order, and leaves writes that already name each stream once as they are.
import { mergeWrites } from '../../engine/connectors/partition-consumer.js';
import { InvalidArgumentError } from '../../store/errors.js';
import type { StreamWrite } from '../../store/types.js';
import { expect } from '../support/chai.js';

const event = (n: number) => ({ type: 'T', data: { n } });

describe('mergeWrites', () => {
  it('leaves writes that name each stream once as they are, in a new array', () => {
    const writes: StreamWrite[] = [
      { streamId: 'a', events: [event(1), event(2)] },
      { streamId: 'b', events: [event(3)], expectedRevision: 4n },
    ];
    const merged = mergeWrites(writes);
    expect(merged).to.not.equal(writes);
    expect(merged).to.have.length(2);
    expect(merged[0]).to.equal(writes[0]);
    expect(merged[1]).to.equal(writes[1]);
  });

  it('joins the writes of a stream named twice, events in order, at its first place', () => {
    const merged = mergeWrites([
      { streamId: 'a', events: [event(1)] },
      { streamId: 'b', events: [event(2)] },
      { streamId: 'a', events: [event(3), event(4)] },
    ]);
    expect(merged.map((w) => [w.streamId, w.events.map((e) => (e.data as { n: number }).n)])).to.deep.equal([
      ['a', [1, 3, 4]],
      ['b', [2]],
    ]);
  });

  it('drops an empty write unless it states an expected revision', () => {
    const merged = mergeWrites([
      { streamId: 'a', events: [] },
      { streamId: 'b', events: [], expectedRevision: 'no_stream' },
      { streamId: 'c', events: [event(1)] },
    ]);
    expect(merged.map((w) => w.streamId)).to.deep.equal(['b', 'c']);
  });

  it('refuses a stream written twice when a later write states an expected revision', () => {
    expect(() =>
      mergeWrites([
        { streamId: 'a', events: [event(1)] },
        { streamId: 'a', events: [event(2)], expectedRevision: 1n },
      ]),
    ).to.throw(InvalidArgumentError);
  });
});
