// A projection's configuration as Event Store serves it (GET|PUT /projection/{name}/config): the
// change is checked key by key, made only while the projection is stopped or faulted, persisted,
// and the settings the runtime honours apply from the next enable.
import { DEFAULT_PROJECTION_CONFIG, ProjectionManager, ProjectionNotStoppedError } from '../../engine/index.js';
import { checkConfigChange } from '../../engine/projections/projection-config.js';
import { InvalidArgumentError } from '../../store/index.js';
import { expect } from '../support/chai.js';
import { appendAll, managerPerTest, readStream } from './projection-fixture.js';

const EMITTER = `fromStream('orders').when({ Placed: function (s, e) { emit('copies', 'Copied', { n: e.data.n }); } })`;

describe('checkConfigChange', () => {
  it('accepts some of Event Store\'s keys with values of their type', () => {
    expect(checkConfigChange({ emitEnabled: true, checkpointHandledThreshold: 10, projectionExecutionTimeout: null })).to.deep.equal({
      emitEnabled: true,
      checkpointHandledThreshold: 10,
      projectionExecutionTimeout: null,
    });
    expect(checkConfigChange({})).to.deep.equal({});
  });

  it('refuses an unknown key, naming it and the known ones', () => {
    expect(() => checkConfigChange({ emitEnabled: true, checkpointsEnabled: true })).to.throw(InvalidArgumentError, /Unknown projection config key 'checkpointsEnabled'; the keys are emitEnabled, trackEmittedStreams/);
  });

  it('refuses values of the wrong type or out of range', () => {
    expect(() => checkConfigChange({ emitEnabled: 'yes' })).to.throw(InvalidArgumentError, 'emitEnabled must be true or false, got "yes"');
    expect(() => checkConfigChange({ checkpointHandledThreshold: 0 })).to.throw(InvalidArgumentError, 'checkpointHandledThreshold must be a whole number of at least 1, got 0');
    expect(() => checkConfigChange({ pendingEventsThreshold: 1.5 })).to.throw(InvalidArgumentError, /pendingEventsThreshold must be a whole number/);
    expect(() => checkConfigChange({ maxWriteBatchLength: '500' })).to.throw(InvalidArgumentError, /maxWriteBatchLength/);
    expect(() => checkConfigChange({ checkpointAfterMs: null })).to.throw(InvalidArgumentError, /checkpointAfterMs/);
    expect(() => checkConfigChange([])).to.throw(InvalidArgumentError, /JSON object/);
    expect(() => checkConfigChange(null)).to.throw(InvalidArgumentError, /JSON object/);
  });

  it('refuses to track emitted streams, as Event Store\'s engine v2 does', () => {
    expect(() => checkConfigChange({ trackEmittedStreams: true })).to.throw(InvalidArgumentError, /trackEmittedStreams cannot be turned on/);
    expect(checkConfigChange({ trackEmittedStreams: false })).to.deep.equal({ trackEmittedStreams: false });
  });
});

describe('ProjectionManager config', () => {
  const t = managerPerTest();

  it('serves Event Store\'s defaults, with emitEnabled as created', async () => {
    await t.manager.create('copier', EMITTER, { emit: true, enabled: false });
    expect(t.manager.config('copier')).to.deep.equal({ ...DEFAULT_PROJECTION_CONFIG, emitEnabled: true });
  });

  it('refuses a change while the projection runs, as Event Store does', async () => {
    await t.manager.create('copier', EMITTER);
    await expect(t.manager.updateConfig('copier', { checkpointHandledThreshold: 10 })).to.be.rejectedWith(ProjectionNotStoppedError, /while it is Running: disable it first/);
    expect(t.manager.config('copier').checkpointHandledThreshold).to.equal(4000);
  });

  it('changes the keys given while stopped, keeps the others, and persists the change', async () => {
    await t.manager.create('copier', EMITTER, { enabled: false });
    const changed = await t.manager.updateConfig('copier', { checkpointHandledThreshold: 10, maxWriteBatchLength: 50 });
    expect(changed).to.deep.equal({ ...DEFAULT_PROJECTION_CONFIG, checkpointHandledThreshold: 10, maxWriteBatchLength: 50 });
    const definition = (await readStream(t.store, '$projections-copier')).at(-1)!.data as Record<string, unknown>;
    expect(definition).to.include({ CheckpointHandledThreshold: 10, MaxWriteBatchLength: 50, EmitEnabled: false, Version: 1 });
    await t.manager.close();
    const restarted = new ProjectionManager(t.store, { systemProjections: false });
    await restarted.start();
    try {
      expect(restarted.config('copier')).to.include({ checkpointHandledThreshold: 10, maxWriteBatchLength: 50 });
    } finally {
      await restarted.close();
    }
  });

  it('applies emitEnabled from the next enable', async () => {
    await appendAll(t.store, [['orders', 'Placed', { n: 1 }]]);
    await t.manager.create('copier', EMITTER);
    expect((await t.manager.when('copier', (s) => s.status === 'Faulted')).lastError?.message).to.include("'emit' is not allowed");
    await t.manager.updateConfig('copier', { emitEnabled: true });
    await t.manager.enable('copier');
    await t.manager.whenProcessed('copier');
    expect(t.manager.status('copier')).to.include({ status: 'Running', emitEnabled: true });
    expect((await readStream(t.store, 'copies')).map((e) => e.data)).to.deep.equal([{ n: 1 }]);
  });

  it('keeps a system projection\'s checkpoint threshold, which its native code fixes', async () => {
    const withSystem = new ProjectionManager(t.store, { systemProjections: ['$by_category'] });
    await withSystem.start();
    try {
      await withSystem.disable('$by_category');
      await expect(withSystem.updateConfig('$by_category', { checkpointHandledThreshold: 10 })).to.be.rejectedWith(/system projection/);
      expect((await withSystem.updateConfig('$by_category', { pendingEventsThreshold: 100 })).pendingEventsThreshold).to.equal(100);
    } finally {
      await withSystem.close();
    }
  });
});
