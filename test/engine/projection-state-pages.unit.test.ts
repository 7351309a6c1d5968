// Partition states of checkpoints that change many partitions are written as pages in
// `$projections-{name}-states` (a few large events instead of one `$Checkpoint` per partition
// stream); loads by key, restarts and evictions must see exactly the states Event Store's layout
// would give.
import type { Store } from '../../store/types.js';
import { expect } from '../support/chai.js';
import { appendAll, managerPerTest, readStream, type GivenEvent } from './projection-fixture.js';

const COUNTER = `fromAll().foreachStream().when({ $init: function () { return { n: 0 }; }, Tick: function (s) { s.n++; } })`;

function ticks(streams: number, times: number): GivenEvent[] {
  const out: GivenEvent[] = [];
  for (let t = 0; t < times; t++) for (let i = 0; i < streams; i++) out.push([`a-${i}`, 'Tick']);
  return out;
}

/** The store with every multi-stream commit (a checkpoint) held back 5 ms, so batches run ahead of commits. */
function slowCommits(store: Store): Store {
  return new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (key === 'appendToStreams') return async (...args: Parameters<Store['appendToStreams']>) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return target.appendToStreams(...args);
      };
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('partition state pages', () => {
  const t = managerPerTest();

  it('writes a checkpoint that changed many partitions as pages and loads them by key after a restart', async () => {
    await appendAll(t.store, ticks(50, 2));
    await t.manager.create('count', COUNTER);
    await t.manager.whenProcessed('count');
    await t.restart();
    const pages = await readStream(t.store, '$projections-count-states');
    expect(pages.length).to.be.greaterThan(0);
    expect(pages.every((e) => e.type === '$ProjectionStatePage')).to.equal(true);
    expect(await readStream(t.store, '$projections-count-a-7-checkpoint')).to.have.length(0);
    expect(await t.manager.state('count', 'a-7')).to.deep.equal({ n: 2 });
    await appendAll(t.store, [['a-7', 'Tick']]);
    await t.manager.whenProcessed('count');
    expect(await t.manager.state('count', 'a-7')).to.deep.equal({ n: 3 });
    expect(await t.manager.state('count', 'a-8')).to.deep.equal({ n: 2 });
  });

  it('keeps the newest state of a partition written to a page and later to its own checkpoint stream', async () => {
    await appendAll(t.store, ticks(50, 1));
    await t.manager.create('count', COUNTER);
    await t.manager.whenProcessed('count');
    // Few changed partitions: Event Store's layout, a `$Checkpoint` in the partition's stream.
    await appendAll(t.store, [['a-3', 'Tick']]);
    await t.manager.whenProcessed('count');
    await t.restart();
    expect((await readStream(t.store, '$projections-count-a-3-checkpoint')).at(-1)?.type).to.equal('$Checkpoint');
    expect(await t.manager.state('count', 'a-3')).to.deep.equal({ n: 2 });
    await appendAll(t.store, [['a-3', 'Tick'], ['a-4', 'Tick']]);
    await t.manager.whenProcessed('count');
    expect(await t.manager.state('count', 'a-3')).to.deep.equal({ n: 3 });
    expect(await t.manager.state('count', 'a-4')).to.deep.equal({ n: 2 });
  });

  it('reloads evicted partitions from pages when the isolate keeps only a few states', async () => {
    await t.restart({ limits: { partitionCacheSize: 10, checkpointHandledThreshold: 40 } });
    await appendAll(t.store, ticks(60, 3));
    await t.manager.create('count', COUNTER);
    await t.manager.whenProcessed('count');
    for (const i of [0, 17, 33, 59]) expect(await t.manager.state('count', `a-${i}`)).to.deep.equal({ n: 3 });
    await t.restart({ limits: { partitionCacheSize: 10 } });
    await appendAll(t.store, ticks(60, 1));
    await t.manager.whenProcessed('count');
    for (const i of [0, 17, 33, 59]) expect(await t.manager.state('count', `a-${i}`)).to.deep.equal({ n: 4 });
  });

  it('loads the newest state of an evicted partition while older checkpoints are still being committed', async () => {
    // Commits that take a while: the isolate runs several batches ahead of them, evicting and
    // loading back states whose newest version is only in a flush not yet committed.
    const slow = slowCommits(t.store);
    await t.restart({ maxBatch: 10, limits: { partitionCacheSize: 8, checkpointHandledThreshold: 10, maxDirtyPartitions: 40 } }, slow);
    const given: GivenEvent[] = [];
    for (let i = 0; i < 600; i++) given.push([`a-${(i * 7) % 20}`, 'Tick']);
    await appendAll(t.store, given);
    await t.manager.create('count', COUNTER);
    await t.manager.whenProcessed('count');
    for (let i = 0; i < 20; i++) expect(await t.manager.state('count', `a-${i}`)).to.deep.equal({ n: 30 });
  });

  it('loads an evicted partition from the pages of a checkpoint still being committed', async () => {
    // The same race with flushes of more than 32 partitions, whose states the isolate hands over
    // as page texts: a load must find the newest state in those texts before they are stored.
    const slow = slowCommits(t.store);
    await t.restart({ maxBatch: 20, limits: { partitionCacheSize: 30, checkpointHandledThreshold: 60, maxDirtyPartitions: 400 } }, slow);
    const given: GivenEvent[] = [];
    for (let i = 0; i < 2000; i++) given.push([`a-${(i * 37) % 100}`, 'Tick']);
    await appendAll(t.store, given);
    await t.manager.create('count', COUNTER);
    await t.manager.whenProcessed('count');
    expect((await readStream(t.store, '$projections-count-states')).length).to.be.greaterThan(10);
    for (let i = 0; i < 100; i++) expect(await t.manager.state('count', `a-${i}`)).to.deep.equal({ n: 20 });
  });
});
