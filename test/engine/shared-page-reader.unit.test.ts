// Projections catching up over the same `$all` pages share one read of each page: two readers from
// the same point cost the store one read, a reader starting a moment later joins while the pages
// it needs are still kept, and every reader still gets exactly the events after its start point.
import { ProjectionManager } from '../../engine/index.js';
import { readAllPagesShared } from '../../engine/projections/shared-page-reader.js';
import { openStore } from '../../store/index.js';
import type { ReadAllOptions, ReadAllPage, Store } from '../../store/types.js';
import { expect } from '../support/chai.js';

/** A real memory store that counts the pages its `readAllPages` reads (after `gate`, when given). */
function counting(store: Store, gate?: Promise<void>): { store: Store; reads: () => number } {
  let pages = 0;
  const counted = new Proxy(store, {
    get(target, key, receiver) {
      if (key === 'readAllPages') {
        return async function* (options?: ReadAllOptions): AsyncGenerator<ReadAllPage> {
          await gate;
          for await (const page of target.readAllPages(options)) {
            pages++;
            yield page;
          }
        };
      }
      const value = Reflect.get(target, key, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: counted, reads: () => pages };
}

async function fill(store: Store, events: number): Promise<void> {
  for (let i = 0; i < events; i += 100) {
    await store.appendToStreams([{ streamId: `s-${i / 100}`, events: Array.from({ length: Math.min(100, events - i) }, (_, j) => ({ type: 'E', data: { n: i + j } })) }]);
  }
}

async function positions(pages: AsyncIterable<ReadAllPage>, stopAfter = Infinity): Promise<bigint[]> {
  const out: bigint[] = [];
  for await (const page of pages) {
    for (const e of page.events) out.push(e.position);
    if (out.length >= stopAfter) break;
  }
  return out;
}

describe('readAllPagesShared', () => {
  let memory: Store;

  beforeEach(async () => {
    memory = await openStore('memory:');
    await fill(memory, 3000);
  });

  afterEach(async () => {
    await memory.close();
  });

  it('reads each page once for two readers from the same point, and gives both every event', async () => {
    const { store, reads } = counting(memory);
    const options = { after: -1n, filter: undefined, resolveLinks: false };
    const alone = await positions(memory.readAllPages());
    const [a, b] = await Promise.all([positions(readAllPagesShared(store, options)), positions(readAllPagesShared(store, options))]);
    expect(a).to.deep.equal(alone);
    expect(b).to.deep.equal(alone);
    const once = reads();
    await positions(store.readAllPages());
    expect(reads() - once).to.equal(once);
  });

  it('lets a reader starting a little later join, with only the events after its start point', async () => {
    const { store, reads } = counting(memory);
    const all = await positions(memory.readAllPages());
    const first = readAllPagesShared(store, { after: -1n, filter: undefined, resolveLinks: false })[Symbol.asyncIterator]();
    const head = await first.next();
    const start = (head.value as ReadAllPage).events[3]!.position;
    const [rest, late] = await Promise.all([
      (async () => {
        const out: bigint[] = [];
        for (let r = await first.next(); r.done !== true; r = await first.next()) for (const e of r.value.events) out.push(e.position);
        return out;
      })(),
      positions(readAllPagesShared(store, { after: start, filter: undefined, resolveLinks: false })),
    ]);
    expect([...(head.value as ReadAllPage).events.map((e) => e.position), ...rest]).to.deep.equal(all);
    expect(late).to.deep.equal(all.filter((p) => p > start));
    const shared = reads();
    await positions(store.readAllPages());
    expect(shared).to.equal(reads() - shared);
  });

  it('gives a reader far behind a read of its own, and one that stops early leaves the others going', async () => {
    const all = await positions(memory.readAllPages());
    const options = { filter: undefined, resolveLinks: false };
    const [stopped, full, behind] = await Promise.all([
      positions(readAllPagesShared(memory, { ...options, after: -1n }), 10),
      positions(readAllPagesShared(memory, { ...options, after: -1n })),
      positions(readAllPagesShared(memory, { ...options, after: all[1500]! })),
    ]);
    expect(stopped.length).to.be.at.least(10);
    expect(full).to.deep.equal(all);
    expect(behind).to.deep.equal(all.slice(1501));
  });

  it('serves two projections over one source from one read, each with its own state', async () => {
    // The store answers no read until both have started, so neither is done before the other begins.
    let open = (): void => undefined;
    const { store, reads } = counting(memory, new Promise<void>((resolve) => (open = resolve)));
    const manager = new ProjectionManager(store, { systemProjections: false });
    await manager.start();
    const count = `fromAll().when({ $init: function () { return { n: 0 }; }, E: function (s) { s.n++; } })`;
    const sum = `fromAll().when({ $init: function () { return { sum: 0 }; }, E: function (s, e) { s.sum += e.body.n; } })`;
    await Promise.all([manager.create('count', count, { mode: 'one-time' }), manager.create('sum', sum, { mode: 'one-time' })]);
    open();
    await Promise.all(['count', 'sum'].map((name) => manager.when(name, (s) => s.status === 'Completed')));
    expect(await manager.state('count')).to.deep.equal({ n: 3000 });
    expect(await manager.state('sum')).to.deep.equal({ sum: (2999 * 3000) / 2 });
    const both = reads();
    await positions(store.readAllPages());
    expect(both).to.equal(reads() - both);
    await manager.close();
  });
});
