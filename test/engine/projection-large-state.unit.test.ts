// A projection whose one state outgrows the store's event size limit (a rule keeping many keys'
// partial matches in one state, as the README's rule example does): its checkpoint is written in
// chunks to `$projections-{name}-checkpoint-chunks` in the same commit, and a restart restores
// the state from them, instead of the projection faulting on an event that is too large.
import { expect } from '../support/chai.js';
import { appendAll, managerPerTest, readStream, type GivenEvent } from './projection-fixture.js';

// Each key adds about 230 bytes of state: 6000 keys make a state of about 1.4 MB (the limit is 1 MiB).
const WIDE = `fromAll().when({
  $init: function () { return { keys: {}, n: 0 }; },
  Seen: function (s, e) { s.keys[e.data.k] = 'v'.repeat(220) + e.data.k; s.n++; },
})`;

function seen(from: number, count: number): GivenEvent[] {
  return Array.from({ length: count }, (_, i) => [`k-${(from + i) % 7}`, 'Seen', { k: `key-${from + i}` }] as const);
}

describe('projection state larger than one event', () => {
  const t = managerPerTest();

  it('checkpoints a state past the event size limit in chunks and restores it after a restart', async () => {
    await appendAll(t.store, seen(0, 6000));
    await t.manager.create('wide', WIDE);
    await t.manager.whenProcessed('wide');
    expect(t.manager.status('wide').status).to.equal('Running');
    await t.restart();
    expect(t.manager.status('wide').status).to.equal('Running');
    await expectLatestChunksOnly();
    const state = (await t.manager.state('wide')) as { keys: Record<string, string>; n: number };
    expect(state.n).to.equal(6000);
    expect(Object.keys(state.keys)).to.have.length(6000);
    expect(state.keys['key-5999']).to.equal(`${'v'.repeat(220)}key-5999`);

    // It goes on from the restored state; the next checkpoint's chunks hide the earlier ones.
    await appendAll(t.store, seen(6000, 100));
    await t.manager.whenProcessed('wide');
    await t.restart();
    expect(((await t.manager.state('wide')) as { n: number }).n).to.equal(6100);
    expect((await expectLatestChunksOnly()).from).to.be.greaterThan(0);
  });

  /** The last checkpoint names its chunks (a 1.4 MB state: at least three of 512 KiB), and only they are readable. */
  async function expectLatestChunksOnly(): Promise<{ from: number; count: number }> {
    const checkpoint = (await readStream(t.store, '$projections-wide-checkpoint')).at(-1)!;
    expect(checkpoint.type).to.equal('$ProjectionCheckpoint');
    const chunked = (checkpoint.metadata.$telltale as { chunks: { from: number; count: number } }).chunks;
    expect(chunked.count).to.be.at.least(3);
    const visible = await readStream(t.store, '$projections-wide-checkpoint-chunks');
    expect(visible.every((e) => e.type === '$ProjectionCheckpointChunk')).to.equal(true);
    expect(visible.map((e) => Number(e.revision))).to.deep.equal(Array.from({ length: chunked.count }, (_, i) => chunked.from + i));
    return chunked;
  }

  it('checkpoints a state past 256 KiB less often than every threshold (checkpointStateBytesPerEvent)', async () => {
    // About 240 bytes of state per event: 256 KiB after ~1100 events. Below that a checkpoint
    // comes every 100 events, as configured; past it one comes after at least the state's size
    // divided by 64 (4096 and more) events, so none until the projection is caught up.
    const checkpointsOver = async (checkpointStateBytesPerEvent: number): Promise<number> => {
      await t.restart({ maxBatch: 50, limits: { checkpointHandledThreshold: 100, checkpointStateBytesPerEvent } });
      const name = `wide-${checkpointStateBytesPerEvent}`;
      await t.manager.create(name, WIDE);
      await t.manager.whenProcessed(name);
      expect(((await t.manager.state(name)) as { n: number }).n).to.equal(3000);
      return Number((await t.store.getStreamInfo(`$projections-${name}-checkpoint`)).lastRevision) + 1;
    };
    await appendAll(t.store, seen(0, 3000));
    const sized = await checkpointsOver(64);
    const every = await checkpointsOver(0);
    expect(every).to.be.at.least(25);
    expect(sized).to.be.at.most(14);

    // The policy changes when checkpoints come, not what they hold.
    await t.restart({ limits: { checkpointStateBytesPerEvent: 64 } });
    expect(await t.manager.state('wide-64')).to.deep.equal(await t.manager.state('wide-0'));
  });

  it('serves the last checkpointed state, kept as the JSON text the isolate gave, once the projection has faulted', async () => {
    await appendAll(t.store, [...seen(0, 2000), ['k-0', 'Boom']]);
    await t.restart({ maxBatch: 50, limits: { checkpointHandledThreshold: 100 } });
    await t.manager.create('wide', `fromAll().when({
      $init: function () { return { keys: {}, n: 0 }; },
      Seen: function (s, e) { s.keys[e.data.k] = 'v'.repeat(220) + e.data.k; s.n++; },
      Boom: function () { throw new Error('boom'); },
    })`);
    await t.manager.whenProcessed('wide');
    expect(t.manager.status('wide').status).to.equal('Faulted');
    const state = (await t.manager.state('wide')) as { keys: Record<string, string>; n: number };
    expect(state.n).to.be.at.least(100).and.at.most(2000);
    expect(Object.keys(state.keys)).to.have.length(state.n);
    expect(state.keys['key-0']).to.equal(`${'v'.repeat(220)}key-0`);
  });

  it('goes back to a single checkpoint event once the state is small again', async () => {
    await appendAll(t.store, seen(0, 6000));
    await t.manager.create('wide', `fromAll().when({
      $init: function () { return { keys: {} }; },
      Seen: function (s, e) { s.keys[e.data.k] = 'v'.repeat(220); },
      Clear: function () { return { keys: {}, cleared: true }; },
    })`);
    await t.manager.whenProcessed('wide');
    await appendAll(t.store, [['k-0', 'Clear']]);
    await t.manager.whenProcessed('wide');
    await t.restart();
    const checkpoint = (await readStream(t.store, '$projections-wide-checkpoint')).at(-1)!;
    expect((checkpoint.metadata.$telltale as { chunks?: unknown }).chunks).to.equal(undefined);
    expect(checkpoint.data).to.deep.equal({ keys: {}, cleared: true });
    expect(await t.manager.state('wide')).to.deep.equal({ keys: {}, cleared: true });
  });
});
