// Checkpoint streams keep only their last two events, as Event Store's do (`$maxCount` 2 on
// `$projections-{name}-checkpoint` and `$projections-{name}-{partition}-checkpoint`), so a
// long-running projection's checkpoints do not grow without bound; restarts still resume from them.
// The partition catalogue `$projections-{name}-partitions` names each partition once, when it gets
// its first state, restarts and evictions included.
import { ProjectionManager } from '../../engine/index.js';
import { expect } from '../support/chai.js';
import { project, type GivenEvent } from './projection-fixture.js';

const PER_CARD = `fromAll().partitionBy(function (e) { return e.body.card; }).when({
  $init: function () { return { n: 0 }; },
  Charge: function (s) { s.n++; }
})`;

function charges(n: number, cards: number): GivenEvent[] {
  return Array.from({ length: n }, (_, i): GivenEvent => ['payments', 'Charge', { card: `c${i % cards}` }]);
}

describe('checkpoint streams', () => {
  it('are created with $maxCount 2 and show only their last two checkpoints', async () => {
    const run = await project(charges(40, 3), PER_CARD, { manager: { systemProjections: false, maxBatch: 5, limits: { checkpointHandledThreshold: 5 } } });
    await run.settle();
    expect((await run.store.getStreamMetadata('$projections-p-checkpoint')).metadata.maxCount).to.equal(2);
    expect((await run.store.getStreamMetadata('$projections-p-c1-checkpoint')).metadata.maxCount).to.equal(2);
    expect(Number((await run.store.getStreamInfo('$projections-p-checkpoint')).lastRevision)).to.be.greaterThan(2);
    expect(await run.read('$projections-p-checkpoint')).to.have.length(2);
    expect(await run.read('$projections-p-c1-checkpoint')).to.have.length(2);
    expect(await run.state('c1')).to.deep.equal({ n: 13 });
    await run.close();
  });

  it('resume a restarted projection from the last checkpoint', async () => {
    const run = await project(charges(30, 2), PER_CARD, { manager: { systemProjections: false, maxBatch: 4, limits: { checkpointHandledThreshold: 4 } } });
    await run.settle();
    await run.manager.close();
    const again = new ProjectionManager(run.store, { systemProjections: false });
    await again.start();
    await run.store.appendToStream('payments', [{ type: 'Charge', data: { card: 'c0' } }]);
    await again.whenProcessed('p');
    expect(await again.state('p', 'c0')).to.deep.equal({ n: 16 });
    expect(await again.state('p', 'c1')).to.deep.equal({ n: 15 });
    expect(again.status('p').eventsProcessed).to.be.greaterThan(30);
    await again.close();
    await run.store.close();
  });

  it('name each partition once in the catalogue, in the order partitions first got a state', async () => {
    const given: GivenEvent[] = [...charges(20, 4), ['payments', 'Charge', { card: 'late' }]];
    // A tiny state cache: partitions are evicted and loaded back, which must not list them again.
    const run = await project(given, PER_CARD, { manager: { systemProjections: false, maxBatch: 3, limits: { checkpointHandledThreshold: 3, partitionCacheSize: 2 } } });
    await run.settle();
    expect(await run.manager.partitions('p')).to.deep.equal(['c0', 'c1', 'c2', 'c3', 'late']);
    const catalogue = await run.read('$projections-p-partitions');
    expect(catalogue.map((e) => e.type)).to.deep.equal(Array(5).fill('$partition'));
    await run.manager.close();
    const again = new ProjectionManager(run.store, { systemProjections: false, limits: { partitionCacheSize: 2 } });
    await again.start();
    await run.store.appendToStream('payments', [{ type: 'Charge', data: { card: 'c2' } }, { type: 'Charge', data: { card: 'newer' } }]);
    await again.whenProcessed('p');
    expect(await again.partitions('p')).to.deep.equal(['c0', 'c1', 'c2', 'c3', 'late', 'newer']);
    await again.reset('p');
    await again.whenProcessed('p');
    expect(await again.partitions('p')).to.deep.equal(['c0', 'c1', 'c2', 'c3', 'late', 'newer']);
    expect(await run.read('$projections-p-partitions')).to.have.length(12);
    await again.close();
    await run.store.close();
  });

  it('are not fed to projections, nor are their metastreams', async () => {
    const run = await project(charges(10, 2), PER_CARD, { manager: { systemProjections: ['$by_event_type'], maxBatch: 3, limits: { checkpointHandledThreshold: 3 } } });
    await run.settle();
    await run.manager.create('seen', `fromAll().when({ $init: function () { return { own: [] }; }, $any: function (s, e) { if (e.streamId.indexOf('projections-') >= 0) s.own.push(e.streamId); } })`);
    await run.store.appendToStream('payments', [{ type: 'Charge', data: { card: 'c0' } }]);
    await run.settle();
    await run.manager.whenProcessed('seen');
    expect((await run.store.getStreamMetadata('$projections-p-checkpoint')).metadata.maxCount).to.equal(2);
    expect(await run.manager.state('seen')).to.deep.equal({ own: [] });
    expect(await run.read('$et-$metadata')).to.have.length(0);
    await run.close();
  });
});
