import { MemoryBackend, EventStore } from '../../store/index.js';
import { expect } from '../support/chai.js';
import { storeConformance } from './conformance.js';

describe('memory store', () => {
  storeConformance({ open: async ({ clock }) => new EventStore(new MemoryBackend({ clock }), { clock }) });
});

describe('EventStore over a backend', () => {
  it('rejects an append whose backend throws instead of answering, and still closes', async () => {
    const backend = new MemoryBackend();
    const failure = new Error('backend refused synchronously');
    const commit = backend.commit.bind(backend);
    let failNext = true;
    backend.commit = (writes) => {
      if (failNext) {
        failNext = false;
        throw failure;
      }
      return commit(writes);
    };
    const store = new EventStore(backend);
    await expect(store.appendToStream('s-1', [{ type: 'T', data: {} }])).to.be.rejectedWith(failure);
    expect((await store.appendToStream('s-1', [{ type: 'T', data: {} }])).nextExpectedRevision).to.equal(0n);
    // A commit still in flight when close() is called is waited for; none is left hanging.
    const pending = store.appendToStreams([{ streamId: 's-2', events: [{ type: 'T', data: {} }] }]);
    await store.close();
    expect((await pending)[0]!.nextExpectedRevision).to.equal(0n);
  });
});
