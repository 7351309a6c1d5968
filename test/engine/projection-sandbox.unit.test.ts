// The sandbox: nothing of the host is reachable from a projection, and a throw, an endless loop or
// a memory bomb faults only that projection (with its message, line and position) while the
// others carry on (decision 8).
import { ProjectionManager } from '../../engine/index.js';
import { openStore } from '../../store/index.js';
import type { Store } from '../../store/types.js';
import { expect } from '../support/chai.js';
import { appendAll } from './projection-fixture.js';

const probe = (expression: string): string => `fromStream('s').when({ $any: function (s, e) {
  try { return { value: String(${expression}) }; } catch (err) { return { refused: err.name + ': ' + err.message }; }
} })`;

describe('projection sandbox', () => {
  let store: Store;
  let manager: ProjectionManager;

  beforeEach(async () => {
    store = await openStore('memory:');
    await appendAll(store, [['s', 'E', { n: 1 }]]);
    manager = new ProjectionManager(store, { systemProjections: false, limits: { batchTimeoutMs: 300, memoryLimitMiB: 32 } });
    await manager.start();
  });

  afterEach(async () => {
    await manager.close();
    await store.close();
  });

  async function stateOf(name: string, query: string): Promise<unknown> {
    await manager.create(name, query);
    await manager.whenProcessed(name);
    return manager.state(name);
  }

  describe('refuses every way out', () => {
    const escapes: Record<string, string> = {
      require: `typeof require`,
      process: `typeof process`,
      'global process': `typeof globalThis.process`,
      timers: `[typeof setTimeout, typeof setInterval, typeof setImmediate, typeof queueMicrotask === 'function' ? 'q' : 'none'].join()`,
      Buffer: `typeof Buffer`,
      fetch: `typeof fetch`,
      'the host loader': `typeof __telltaleHostLoad`,
    };
    for (const [name, expression] of Object.entries(escapes)) {
      it(`has no ${name}`, async () => {
        const state = (await stateOf('p', probe(expression))) as { value?: string };
        expect(state.value).to.not.match(/function|object/);
      });
    }

    it('refuses the Function constructor route (string compilation is off, as in Event Store)', async () => {
      const state = (await stateOf('p', probe(`(function () {}).constructor('return process')()`))) as { refused?: string };
      expect(state.refused).to.match(/EvalError: Code generation from strings is disabled/);
      const viaThis = (await stateOf('q', probe(`this.constructor.constructor('return this')()`))) as { refused?: string };
      expect(viaThis.refused).to.match(/EvalError/);
    });

    it('refuses eval and the async and generator function constructors', async () => {
      expect(((await stateOf('a', probe(`eval('1 + 1')`))) as { refused?: string }).refused).to.match(/EvalError/);
      expect(((await stateOf('b', probe(`Object.getPrototypeOf(async function () {}).constructor('return 1')`))) as { refused?: string }).refused).to.match(/EvalError/);
      expect(((await stateOf('c', probe(`Object.getPrototypeOf(function* () {}).constructor('yield 1')`))) as { refused?: string }).refused).to.match(/EvalError/);
    });

    it('refuses dynamic import()', async () => {
      await manager.create('p', `fromStream('s').when({ $any: function (s) { s.p = typeof import('node:fs'); } })`);
      await manager.whenProcessed('p');
      // import() returns a promise that rejects (no module loader), so no module is ever reached.
      const state = (await manager.state('p')) as { p?: string } | undefined;
      expect(state?.p ?? 'refused').to.be.oneOf(['object', 'refused']);
      expect(manager.status('p').status).to.be.oneOf(['Running', 'Faulted']);
    });

    it('does not share mutable objects between projections', async () => {
      await stateOf('a', `Array.prototype.polluted = 1; telltale.shared = 'a'; fromStream('s').when({ $any: function (s) { s.mine = [].polluted; } })`);
      const other = await stateOf('b', `fromStream('s').when({ $any: function (s) { s.seen = [[].polluted, telltale.shared].join(); } })`);
      expect(await manager.state('a')).to.deep.equal({ mine: 1 });
      expect(other).to.deep.equal({ seen: ',' });
    });
  });

  describe('faults', () => {
    it('faults on a throw with the message, the user\'s line and the event position', async () => {
      await manager.create('p', `fromStream('s').when({\n  $any: function (s, e) {\n    throw new Error('boom ' + e.eventType);\n  }\n})`);
      const status = await manager.when('p', (s) => s.status === 'Faulted');
      expect(status.lastError).to.deep.include({ message: 'boom E', line: 3, position: '0' });
    });

    it('faults an endless loop within the batch limit while another projection keeps running', async () => {
      await manager.create('loop', `fromStream('s').when({ $any: function () { for (;;) {} } })`);
      await manager.create('ok', `fromStream('s').when({ $init: function () { return { n: 0 }; }, $any: function (s) { s.n++; } })`);
      const started = Date.now();
      const status = await manager.when('loop', (s) => s.status === 'Faulted');
      expect(Date.now() - started).to.be.below(5000);
      expect(status.lastError?.message).to.match(/took too long to execute/);
      expect(status.lastError?.position).to.equal('0');
      await appendAll(store, [['s', 'E', {}]]);
      await manager.whenProcessed('ok');
      expect(await manager.state('ok')).to.deep.equal({ n: 2 });
      expect(manager.status('ok').status).to.equal('Running');
    });

    it('faults a memory bomb at the isolate limit while another projection keeps running', async () => {
      await manager.create('bomb', `fromStream('s').when({ $any: function (s) { var a = []; for (;;) a.push(new Array(100000).fill(1)); } })`, { limits: { batchTimeoutMs: 20000 } });
      await manager.create('ok', `fromStream('s').when({ $init: function () { return { n: 0 }; }, $any: function (s) { s.n++; } })`);
      const status = await manager.when('bomb', (s) => s.status === 'Faulted');
      expect(status.lastError?.message).to.match(/memory/i);
      await appendAll(store, [['s', 'E', {}]]);
      await manager.whenProcessed('ok');
      expect(await manager.state('ok')).to.deep.equal({ n: 2 });
    });

    it('runs again from its checkpoint after a fix (update) and enable', async () => {
      await manager.create('p', `fromStream('s').when({ $any: function () { throw new Error('bad'); } })`);
      await manager.when('p', (s) => s.status === 'Faulted');
      await manager.update('p', `fromStream('s').when({ $init: function () { return { n: 0 }; }, $any: function (s) { s.n++; } })`);
      await manager.enable('p');
      await manager.whenProcessed('p');
      expect(await manager.state('p')).to.deep.equal({ n: 1 });
      expect(manager.status('p').status).to.equal('Running');
    });
  });
});
