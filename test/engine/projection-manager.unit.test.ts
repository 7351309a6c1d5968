// Managing projections from Node: lifecycle commands, status, state per partition, persistence
// across a restart, and the system projections that run by default.
import { ProjectionInvalidError, ProjectionManager, ProjectionNotFoundError, SYSTEM_PROJECTIONS, categoryOf } from '../../engine/index.js';
import { openStore } from '../../store/index.js';
import type { Store } from '../../store/types.js';
import { expect } from '../support/chai.js';
import { appendAll, readStream } from './projection-fixture.js';

const COUNTER = `fromAll().foreachStream().when({ $init: function () { return { n: 0 }; }, Tick: function (s) { s.n++; } })`;

describe('ProjectionManager', () => {
  let store: Store;
  let manager: ProjectionManager;
  let clock = 0;

  beforeEach(async () => {
    store = await openStore('memory:');
    clock = 0;
    manager = new ProjectionManager(store, { systemProjections: false, clock: () => clock });
    await manager.start();
  });

  afterEach(async () => {
    await manager.close();
    await store.close();
  });

  it('creates, reports status and state per partition', async () => {
    await appendAll(store, [['a-1', 'Tick'], ['a-2', 'Tick'], ['a-1', 'Tick']]);
    await manager.create('count', COUNTER);
    const status = await manager.whenProcessed('count');
    expect(status).to.include({ name: 'count', mode: 'continuous', status: 'Running', enabled: true, eventsProcessed: 3 });
    expect(status.lastError).to.equal(undefined);
    expect(await manager.state('count', 'a-1')).to.deep.equal({ n: 2 });
    expect((await manager.statistics('count')).lag).to.equal(0n);
  });

  it('refuses a duplicate name, an unknown name and an invalid script', async () => {
    await manager.create('count', COUNTER);
    await expect(manager.create('count', COUNTER)).to.be.rejectedWith('already exists');
    expect(() => manager.status('nope')).to.throw(ProjectionNotFoundError);
    await expect(manager.create('bad', 'fromAll(')).to.be.rejectedWith(ProjectionInvalidError);
  });

  it('disable writes a checkpoint and stops; enable resumes from it', async () => {
    await appendAll(store, [['a-1', 'Tick']]);
    await manager.create('count', COUNTER);
    await manager.whenProcessed('count');
    await manager.disable('count');
    expect(manager.status('count')).to.include({ status: 'Stopped', enabled: false });
    await appendAll(store, [['a-1', 'Tick']]);
    await manager.enable('count');
    await manager.whenProcessed('count');
    expect(await manager.state('count', 'a-1')).to.deep.equal({ n: 2 });
    expect(manager.status('count').eventsProcessed).to.equal(2);
  });

  it('a faulted projection that is disabled reports Stopped, as Event Store\'s does; enable runs it again', async () => {
    await appendAll(store, [['a-1', 'Tick'], ['a-1', 'Boom']]);
    await manager.create('fragile', `fromAll().when({ Tick: function () {}, Boom: function () { throw new Error('boom'); } })`);
    expect(await manager.when('fragile', (s) => s.status === 'Faulted')).to.nested.include({ 'lastError.message': 'boom' });
    await manager.disable('fragile');
    const stopped = manager.status('fragile');
    expect(stopped).to.include({ status: 'Stopped', enabled: false });
    expect(stopped.lastError).to.equal(undefined);
    expect(manager.list().find((p) => p.name === 'fragile')).to.include({ status: 'Stopped' });
    expect(manager.logs('fragile').map((l) => [l.kind, l.message])).to.deep.equal([['fault', 'boom']]);
    await manager.enable('fragile');
    expect(await manager.when('fragile', (s) => s.status === 'Faulted')).to.include({ enabled: true });
  });

  it('reset starts over from the beginning with a new epoch', async () => {
    await appendAll(store, [['a-1', 'Tick'], ['a-1', 'Tick']]);
    await manager.create('count', COUNTER);
    await manager.whenProcessed('count');
    await manager.reset('count');
    await manager.whenProcessed('count');
    expect(await manager.state('count', 'a-1')).to.deep.equal({ n: 2 });
    expect(manager.status('count').epoch).to.equal(1);
  });

  it('update redeploys and keeps the state unless asked to reset it', async () => {
    await appendAll(store, [['a-1', 'Tick']]);
    await manager.create('count', COUNTER);
    await manager.whenProcessed('count');
    await manager.update('count', COUNTER.replace('s.n++', 's.n += 10'));
    await appendAll(store, [['a-1', 'Tick']]);
    await manager.whenProcessed('count');
    expect(await manager.state('count', 'a-1')).to.deep.equal({ n: 11 });
    await manager.update('count', COUNTER, { resetState: true });
    await manager.whenProcessed('count');
    expect(await manager.state('count', 'a-1')).to.deep.equal({ n: 2 });
    expect(manager.status('count').version).to.equal(2);
  });

  it('delete removes the projection, and it stays deleted after a restart', async () => {
    await manager.create('count', COUNTER);
    await manager.delete('count', { deleteCheckpointStream: true });
    expect(manager.list().map((s) => s.name)).to.not.include('count');
    const again = new ProjectionManager(store, { systemProjections: false });
    await again.start();
    expect(again.list().map((s) => s.name)).to.not.include('count');
    await again.close();
  });

  it('survives a restart: definitions from $projections-{name}, state from the checkpoints', async () => {
    await appendAll(store, [['a-1', 'Tick'], ['a-2', 'Tick']]);
    await manager.create('count', COUNTER, { emit: true });
    await manager.whenProcessed('count');
    await manager.close();
    expect((await readStream(store, '$projections-count')).at(-1)?.type).to.equal('$ProjectionUpdated');
    expect((await readStream(store, '$projections-count-checkpoint')).at(-1)?.type).to.equal('$ProjectionCheckpoint');
    expect((await readStream(store, '$projections-count-a-1-checkpoint')).at(-1)?.type).to.equal('$Checkpoint');

    manager = new ProjectionManager(store, { systemProjections: false });
    await manager.start();
    await appendAll(store, [['a-1', 'Tick']]);
    await manager.whenProcessed('count');
    expect(manager.status('count')).to.include({ status: 'Running', emitEnabled: true, eventsProcessed: 3 });
    expect(await manager.state('count', 'a-1')).to.deep.equal({ n: 2 });
  });

  it('measures the rate on the injected clock', async () => {
    await manager.create('count', COUNTER);
    expect(manager.status('count').rate).to.equal(0);
    await appendAll(store, [['a-1', 'Tick'], ['a-1', 'Tick']]);
    await manager.whenProcessed('count');
    clock = 1000;
    expect(manager.status('count').rate).to.equal(0);
    await appendAll(store, [['a-1', 'Tick'], ['a-1', 'Tick']]);
    await manager.whenProcessed('count');
    clock = 3000;
    expect(manager.status('count').rate).to.equal(1);
  });
});

describe('system projections', () => {
  let store: Store;
  let manager: ProjectionManager;

  beforeEach(async () => {
    store = await openStore('memory:');
  });

  afterEach(async () => {
    await manager.close();
    await store.close();
  });

  async function startAll(options: { systemProjections?: boolean | string[] } = {}): Promise<void> {
    manager = new ProjectionManager(store, options);
    await manager.start();
  }

  async function settle(): Promise<void> {
    for (const name of SYSTEM_PROJECTIONS) if (manager.status(name).status === 'Running') await manager.whenProcessed(name);
  }

  const linkTargets = async (stream: string): Promise<string[]> => (await readStream(store, stream)).map((e) => Buffer.from(e.dataBytes).toString());

  it('run by default and index by category, event type, correlation id and stream', async () => {
    await startAll();
    await appendAll(store, [
      ['order-1', 'Placed', {}, { $correlationId: 'c1' }],
      ['order-1', 'Paid', {}, { $correlationId: 'c1' }],
      ['shopping-cart-7', 'Added'],
      ['nocategory', 'Placed'],
    ]);
    await settle();
    expect(manager.list().filter((s) => s.kind === 'system').map((s) => s.status)).to.deep.equal(SYSTEM_PROJECTIONS.map(() => 'Running'));
    expect(await linkTargets('$ce-order')).to.deep.equal(['0@order-1', '1@order-1']);
    expect(await linkTargets('$ce-shopping')).to.deep.equal(['0@shopping-cart-7']);
    expect(await linkTargets('$et-Placed')).to.deep.equal(['0@order-1', '0@nocategory']);
    expect(await linkTargets('$bc-c1')).to.deep.equal(['0@order-1', '1@order-1']);
    expect((await readStream(store, '$category-order')).map((e) => [e.type, Buffer.from(e.dataBytes).toString()])).to.deep.equal([['$@', 'order-1']]);
    expect(await linkTargets('$streams')).to.include.members(['0@order-1', '0@shopping-cart-7', '0@nocategory']);
  });

  it('links a tombstone into $et-$deleted and into the category with $deleted', async () => {
    await startAll();
    await appendAll(store, [['order-1', 'Placed']]);
    await store.tombstoneStream('order-1');
    await settle();
    expect(await readStream(store, '$et-$deleted')).to.have.length(1);
    const [, deletion] = await readStream(store, '$ce-order');
    expect(deletion?.metadata).to.include({ $deleted: -1, $o: 'order-1' });
  });

  it('can be turned off, all or some, and the choice is persisted', async () => {
    await startAll({ systemProjections: ['$by_category'] });
    expect(manager.status('$by_category').status).to.equal('Running');
    expect(manager.status('$by_event_type').status).to.equal('Stopped');
    await manager.disable('$by_category');
    await manager.close();
    await startAll();
    expect(manager.status('$by_category')).to.include({ status: 'Stopped', enabled: false });
    expect(manager.status('$by_event_type')).to.include({ status: 'Stopped', enabled: false });
  });

  it('take the category before the first dash, and none for $-streams or without a dash', () => {
    expect(categoryOf('account-9E7-x')).to.equal('account');
    expect(categoryOf('$ce-account')).to.equal(undefined);
    expect(categoryOf('-x')).to.equal(undefined);
    expect(categoryOf('plain')).to.equal(undefined);
  });
});
