import { MemoryBackend, EventStore } from '../../store/index.js';
import { storeConformance } from './conformance.js';

describe('memory store', () => {
  storeConformance({ open: async ({ clock }) => new EventStore(new MemoryBackend({ clock }), { clock }) });
});
