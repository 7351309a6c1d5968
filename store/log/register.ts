// Registers the log engine for `file:DIR` URLs and bare paths, so `openStore('file:./data')`
// opens it. `openStore(url, { durable: false })` selects `durability: 'none'`: appends are
// acknowledged before fsync and can be lost in a machine crash (see `Durability`).
import { registerBackend } from '../open-store.js';
import { LogBackend } from './log-backend.js';

registerBackend('file', async (location, options) => {
  if (location.length === 0) throw new TypeError('file: needs a directory, e.g. file:./data');
  return LogBackend.open(location, { durability: options.durable === false ? 'none' : 'fsync', ...(options.clock ? { clock: options.clock } : {}) });
});

export { LogBackend, type LogBackendOptions, type Durability, type RecoveryReport } from './log-backend.js';
