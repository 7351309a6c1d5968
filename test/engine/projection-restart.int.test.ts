// A projection stopped before it handled its first batch must start from `$init` when it comes
// back, not from the placeholder state of the checkpoint its stop wrote. (On a durable store the
// first batch is still in flight when `close` comes right after `create`.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProjectionManager } from '../../engine/index.js';
import { openStore } from '../../store/index.js';
import '../../store/log/register.js';
import { expect } from '../support/chai.js';

describe('ProjectionManager restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'telltale-restart-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('runs $init after a stop that came before any event was handled', async () => {
    let store = await openStore(`file:${dir}`);
    await store.appendToStream('card-1', [{ type: 'Charge', data: { amount: 3 } }, { type: 'Charge', data: { amount: 3 } }]);
    const first = new ProjectionManager(store, { systemProjections: false });
    await first.start();
    await first.create('c', 'fromAll().when({ $init() { return { count: 0 }; }, Charge(s) { s.count += 1; return s; } })', { emit: true, enabled: true });
    await first.close();
    await store.close();

    store = await openStore(`file:${dir}`);
    const second = new ProjectionManager(store, { systemProjections: false });
    await second.start();
    await second.whenProcessed('c');
    expect(await second.state('c')).to.deep.equal({ count: 2 });
    await second.close();
    await store.close();
  });
});
