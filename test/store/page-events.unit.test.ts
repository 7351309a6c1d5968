// PageEvents: how `readAll` hands out a page's events. It must keep order when `next()` is called
// again before a page arrives, pass a page source's error on, and close the source on `break`.
import { expect } from '../support/chai.js';
import { PageEvents, type EventPage } from '../../store/page-events.js';

/** Pages of numbers, each handed out after a macrotask, recording whether the source was closed. */
function pages(list: number[][], fail?: { at: number; error: Error }) {
  const state = { closed: false, fetched: 0 };
  async function* source(): AsyncGenerator<EventPage<number>> {
    try {
      for (let i = 0; i < list.length; i++) {
        await new Promise((r) => setTimeout(r, 1));
        if (fail !== undefined && fail.at === i) throw fail.error;
        state.fetched++;
        yield { events: list[i]! };
      }
    } finally {
      state.closed = true;
    }
  }
  return { iterator: new PageEvents(source()), state };
}

describe('PageEvents (unit)', () => {
  it('hands out every event of every page in order, skipping empty pages', async () => {
    const { iterator } = pages([[1, 2], [], [3], [4, 5, 6]]);
    const seen: number[] = [];
    for await (const n of iterator) seen.push(n);
    expect(seen).to.deep.equal([1, 2, 3, 4, 5, 6]);
    expect(await iterator.next()).to.deep.equal({ value: undefined, done: true });
  });

  it('keeps order when next() is called again before a page has arrived', async () => {
    const { iterator } = pages([[1], [2, 3], [4]]);
    const results = await Promise.all([iterator.next(), iterator.next(), iterator.next(), iterator.next(), iterator.next()]);
    expect(results).to.deep.equal([
      { value: 1, done: false },
      { value: 2, done: false },
      { value: 3, done: false },
      { value: 4, done: false },
      { value: undefined, done: true },
    ]);
  });

  it("passes the page source's error to the caller, then ends", async () => {
    const { iterator } = pages([[1], [2]], { at: 1, error: new Error('disk gone') });
    expect(await iterator.next()).to.deep.equal({ value: 1, done: false });
    let thrown: unknown;
    try {
      await iterator.next();
    } catch (e) {
      thrown = e;
    }
    expect((thrown as Error).message).to.equal('disk gone');
    expect(await iterator.next()).to.deep.equal({ value: undefined, done: true });
  });

  it('closes the page source when the loop breaks, and reads no further page', async () => {
    const { iterator, state } = pages([[1, 2], [3], [4]]);
    for await (const n of iterator) if (n === 2) break;
    expect(state.closed).to.equal(true);
    expect(state.fetched).to.equal(1);
    expect(await iterator.next()).to.deep.equal({ value: undefined, done: true });
  });
});
