// Event ids cross into the isolate only once a handler reads them (decoding them was a quarter of
// the host's cost per event); `eventId` must still read as the stored id wherever it is read.
import { ProjectionManager } from '../../engine/index.js';
import { openStore } from '../../store/index.js';
import type { Store } from '../../store/types.js';
import { expect } from '../support/chai.js';
import { appendAll, readStream, type GivenEvent } from './projection-fixture.js';

describe('eventId sent on demand', () => {
  let store: Store;
  let manager: ProjectionManager;

  beforeEach(async () => {
    store = await openStore('memory:');
    // Small batches, so the ids are first read several batches after the first one.
    manager = new ProjectionManager(store, { systemProjections: false, maxBatch: 4 });
    await manager.start();
  });

  afterEach(async () => {
    await manager.close();
    await store.close();
  });

  it('reads the stored ids when handlers start reading them in a later batch', async () => {
    const given: GivenEvent[] = [];
    for (let i = 0; i < 30; i++) given.push([`s-${i % 3}`, i < 17 ? 'Early' : 'Late']);
    await appendAll(store, given);
    await manager.create(
      'ids',
      `fromAll().when({
        $init: function () { return { ids: [], keys: null, json: null, assigned: null }; },
        Early: function (s, e) { return s; },
        Late: function (s, e) {
          s.ids.push(e.eventId);
          if (s.keys === null) {
            s.keys = Object.keys(e);
            s.json = JSON.parse(JSON.stringify(e)).eventId;
            e.eventId = 'changed';
            s.assigned = e.eventId;
          }
        }
      })`,
    );
    await manager.whenProcessed('ids');
    const stored: string[] = [];
    for (let i = 0; i < 3; i++) for (const e of await readStream(store, `s-${i}`)) if (e.type === 'Late') stored.push(e.id);
    const state = (await manager.state('ids')) as { ids: string[]; keys: string[]; json: string; assigned: string };
    expect([...state.ids].sort()).to.deep.equal([...stored].sort());
    expect(state.ids).to.have.length(13);
    expect(state.keys.slice(0, 4)).to.deep.equal(['streamId', 'sequenceNumber', 'eventType', 'eventId']);
    expect(state.json).to.equal(state.ids[0]);
    expect(state.assigned).to.equal('changed');
  });
});
