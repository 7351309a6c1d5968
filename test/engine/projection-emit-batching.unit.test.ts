// Emitted and linked events wait for the next checkpoint and are written with it (decision 9), so
// a projection that emits for every event commits once per few thousand events instead of once
// per batch; what it writes is the same, and none of it is written before its checkpoint.
import { expect } from '../support/chai.js';
import { project, type GivenEvent } from './projection-fixture.js';

const LINK_ALL = `fromAll().when({ $any: function (s, e) { if (e.streamId.indexOf('s-') === 0) linkTo('links-' + (e.sequenceNumber % 2), e); } })`;

function events(n: number): GivenEvent[] {
  return Array.from({ length: n }, (_, i): GivenEvent => [`s-${i % 5}`, 'E', { i }]);
}

describe('emitted events written with checkpoints', () => {
  it('commits the links of many batches together, in order, each once', async () => {
    const run = await project(events(100), LINK_ALL, {
      emit: true,
      manager: { systemProjections: false, maxBatch: 10, limits: { checkpointHandledThreshold: 50 } },
    });
    await run.settle();
    const checkpoints = Number((await run.store.getStreamInfo('$projections-p-checkpoint')).lastRevision) + 1;
    // Two at the threshold and at most one when it went idle; not one per batch of 10.
    expect(checkpoints).to.be.within(2, 3);
    const links = [...(await run.read('links-0')), ...(await run.read('links-1'))].map((e) => Buffer.from(e.dataBytes).toString());
    const expected: string[] = [];
    for (let i = 0; i < 100; i++) expected.push(`${Math.floor(i / 5)}@s-${i % 5}`);
    expect([...links].sort()).to.deep.equal([...expected].sort());
    const zero = (await run.read('links-0')).map((e) => Buffer.from(e.dataBytes).toString());
    expect(zero).to.deep.equal(expected.filter((l) => Number(l.split('@')[0]) % 2 === 0));
    await run.close();
  });

  it('writes what waits for a checkpoint once caught up, and again after more events', async () => {
    const run = await project(events(7), LINK_ALL, { emit: true, manager: { systemProjections: false, maxBatch: 2, limits: { checkpointHandledThreshold: 1000 } } });
    await run.settle();
    expect((await run.read('links-0')).length + (await run.read('links-1')).length).to.equal(7);
    await run.append(...events(3));
    expect((await run.read('links-0')).length + (await run.read('links-1')).length).to.equal(10);
    await run.close();
  });
});
