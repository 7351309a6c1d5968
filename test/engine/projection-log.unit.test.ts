// A projection's log: its log() lines and faults, with times on the manager's clock, kept per
// projection in memory, read after a seq and awaited for follow mode.
import { ProjectionManager } from '../../engine/index.js';
import { PROJECTION_LOG_LIMIT, ProjectionLog } from '../../engine/projections/projection-log.js';
import { openStore } from '../../store/index.js';
import type { Store } from '../../store/types.js';
import { expect } from '../support/chai.js';
import { appendAll } from './projection-fixture.js';

const quiet = { debug() {}, warn() {} };

describe('ProjectionLog', () => {
  it('numbers each projection\'s entries from 1 and stamps them with the clock', () => {
    let now = Date.UTC(2026, 4, 1, 12, 0, 0);
    const log = new ProjectionLog(() => now);
    const a = log.loggerFor('a', quiet);
    a.debug('first');
    now += 1000;
    a.warn('projection a faulted: boom', { projection: 'a', message: 'boom', line: 3, column: 7, position: '77' });
    log.loggerFor('b', quiet).debug('other');
    expect(log.entries('a')).to.deep.equal([
      { seq: 1, time: '2026-05-01T12:00:00.000Z', kind: 'log', message: 'first' },
      { seq: 2, time: '2026-05-01T12:00:01.000Z', kind: 'fault', message: 'boom', line: 3, column: 7, position: '77' },
    ]);
    expect(log.entries('b').map((e) => e.seq)).to.deep.equal([1]);
  });

  it('answers only the entries after a seq, and passes every line on to the server\'s logger', () => {
    const forwarded: string[] = [];
    const log = new ProjectionLog(() => 0);
    const logger = log.loggerFor('a', { debug: (m) => forwarded.push(`debug ${m}`), warn: (m) => forwarded.push(`warn ${m}`) });
    for (const m of ['one', 'two', 'three']) logger.debug(m);
    expect(log.entries('a', 2).map((e) => e.message)).to.deep.equal(['three']);
    expect(log.entries('a', 3)).to.deep.equal([]);
    expect(forwarded).to.deep.equal(['debug one', 'debug two', 'debug three']);
  });

  it(`keeps the last ${PROJECTION_LOG_LIMIT} entries of a projection`, () => {
    const log = new ProjectionLog(() => 0);
    const logger = log.loggerFor('a', quiet);
    for (let i = 1; i <= PROJECTION_LOG_LIMIT + 5; i++) logger.debug(`line ${i}`);
    const entries = log.entries('a');
    expect(entries).to.have.length(PROJECTION_LOG_LIMIT);
    expect(entries[0]).to.include({ seq: 6, message: 'line 6' });
    expect(log.entries('a', PROJECTION_LOG_LIMIT + 4).map((e) => e.seq)).to.deep.equal([PROJECTION_LOG_LIMIT + 5]);
  });

  it('wakes a waiter when a newer entry arrives, or when its signal aborts', async () => {
    const log = new ProjectionLog(() => 0);
    const logger = log.loggerFor('a', quiet);
    logger.debug('old');
    const waiting = log.whenAfter('a', 1);
    logger.debug('new');
    await waiting;
    expect(log.entries('a', 1).map((e) => e.message)).to.deep.equal(['new']);
    await log.whenAfter('a', 0); // already there: at once
    const abort = new AbortController();
    const aborted = log.whenAfter('a', 2, abort.signal);
    abort.abort();
    await aborted;
    expect(log.entries('a', 2)).to.deep.equal([]);
  });
});

describe('ProjectionManager logs', () => {
  let store: Store;
  let manager: ProjectionManager;

  beforeEach(async () => {
    store = await openStore('memory:');
    manager = new ProjectionManager(store, { systemProjections: false, clock: () => Date.UTC(2026, 4, 1) });
    await manager.start();
  });

  afterEach(async () => {
    await manager.close();
    await store.close();
  });

  it('records what a projection logs and the fault that stops it, with line and position', async () => {
    await appendAll(store, [['orders', 'Placed', { n: 1 }], ['orders', 'Placed', { n: 2 }]]);
    await manager.create('noisy', `fromStream('orders').when({
      Placed: function (s, e) {
        log('order', e.data.n, { n: e.data.n });
        if (e.data.n === 2) throw new Error('two is too many');
      }
    })`);
    const status = await manager.when('noisy', (s) => s.status === 'Faulted');
    const logs = manager.logs('noisy');
    expect(logs.map((l) => [l.kind, l.message])).to.deep.equal([
      ['log', 'order 1 {"n":1}'],
      ['log', 'order 2 {"n":2}'],
      ['fault', 'two is too many'],
    ]);
    expect(logs[2]).to.include({ seq: 3, time: '2026-05-01T00:00:00.000Z', line: 4, position: status.lastError?.position });
    expect(manager.logs('noisy', 2).map((l) => l.seq)).to.deep.equal([3]);
  });

  it('keeps the log across disable and enable, and drops it with the projection', async () => {
    await appendAll(store, [['orders', 'Placed', { n: 1 }]]);
    await manager.create('noisy', `fromStream('orders').when({ Placed: function (s, e) { log('order ' + e.data.n); } })`);
    await manager.whenProcessed('noisy');
    await manager.disable('noisy');
    await manager.enable('noisy');
    await appendAll(store, [['orders', 'Placed', { n: 2 }]]);
    await manager.whenProcessed('noisy');
    expect(manager.logs('noisy').map((l) => l.message)).to.deep.equal(['order 1', 'order 2']);
    await manager.disable('noisy');
    await manager.delete('noisy');
    await manager.create('noisy', `fromStream('orders').when({ Placed: function () {} })`);
    await manager.whenProcessed('noisy');
    expect(manager.logs('noisy')).to.deep.equal([]);
  });
});
