// Queries that start part-way through history: at a `$all` position (inclusive), or at the first
// event stored at or after a time; a one-stream source at its first event at or after that point.
import { ProjectionManager } from '../../engine/index.js';
import { parseStartFrom, positionAtTime } from '../../engine/projections/start-position.js';
import { openStore } from '../../store/index.js';
import type { RecordedEvent, Store } from '../../store/types.js';
import { expect } from '../support/chai.js';
import { appendAll } from './projection-fixture.js';

describe('parseStartFrom', () => {
  it('reads a $all position as a bigint', () => {
    expect(parseStartFrom('0')).to.equal(0n);
    expect(parseStartFrom('18446744073709551615')).to.equal(18446744073709551615n);
  });

  it('reads ISO 8601 dates and times, in UTC unless they name an offset', () => {
    expect((parseStartFrom('2026-05-01') as Date).toISOString()).to.equal('2026-05-01T00:00:00.000Z');
    expect((parseStartFrom('2026-05-01T12:30') as Date).toISOString()).to.equal('2026-05-01T12:30:00.000Z');
    expect((parseStartFrom('2026-05-01T12:30:15.250Z') as Date).toISOString()).to.equal('2026-05-01T12:30:15.250Z');
    expect((parseStartFrom('2026-05-01T14:30:00+02:00') as Date).toISOString()).to.equal('2026-05-01T12:30:00.000Z');
    expect((parseStartFrom('2026-05-01T14:30:00+0200') as Date).toISOString()).to.equal('2026-05-01T12:30:00.000Z');
  });

  it('refuses anything else, including days and times that do not exist', () => {
    for (const text of ['', 'start', '-1', '1.5', '0x10', 'yesterday', '2026-05', '2026-02-30', '2026-13-01', '2026-05-01T25:00', '2026-05-01T12:61', '01/05/2026']) {
      expect(parseStartFrom(text), text).to.equal(undefined);
    }
  });
});

describe('queries from a start position', () => {
  let store: Store;
  let manager: ProjectionManager;
  /** Everything in `$all` (the manager's own bookkeeping first), and the orders among it. */
  let all: RecordedEvent[];
  let events: RecordedEvent[];

  const COLLECT_ALL = `fromAll().when({ $init: function () { return { seen: [] }; }, Placed: function (s, e) { s.seen.push(e.data.n); return s; } })`;
  const COLLECT_STREAM = `fromStream('orders-a').when({ $init: function () { return { seen: [] }; }, Placed: function (s, e) { s.seen.push(e.data.n); return s; } })`;

  beforeEach(async () => {
    store = await openStore('memory:');
    manager = new ProjectionManager(store, { systemProjections: false });
    await manager.start();
    await appendAll(store, [
      ['orders-a', 'Placed', { n: 1 }],
      ['orders-b', 'Placed', { n: 2 }],
      ['orders-a', 'Placed', { n: 3 }],
      ['orders-b', 'Placed', { n: 4 }],
    ]);
    all = [];
    for await (const e of store.readAll()) all.push(e);
    events = all.filter((e) => e.type === 'Placed');
  });

  afterEach(async () => {
    await manager.close();
    await store.close();
  });

  const query = async (source: string, from: bigint | Date): Promise<unknown> => {
    await manager.create('q', source, { mode: 'transient', from });
    const status = await manager.when('q', (s) => s.status !== 'Running' && s.status !== 'Starting');
    expect(status.status).to.equal('Completed');
    const result = await manager.result('q');
    await manager.delete('q');
    return result;
  };

  it('starts a fromAll query at the event at that position, inclusive', async () => {
    expect(await query(COLLECT_ALL, events[1]!.position)).to.deep.equal({ seen: [2, 3, 4] });
    expect(await query(COLLECT_ALL, 0n)).to.deep.equal({ seen: [1, 2, 3, 4] });
    expect(await query(COLLECT_ALL, events[0]!.position + 1n)).to.deep.equal({ seen: [2, 3, 4] });
  });

  it('reads nothing from a position past the last event', async () => {
    expect(await query(COLLECT_ALL, events[3]!.position + 1n)).to.deep.equal({ seen: [] });
  });

  it('starts a one-stream query at the first event of its stream at or after the position', async () => {
    expect(await query(COLLECT_STREAM, events[1]!.position)).to.deep.equal({ seen: [3] });
    expect(await query(COLLECT_STREAM, events[0]!.position)).to.deep.equal({ seen: [1, 3] });
    expect(await query(COLLECT_STREAM, events[3]!.position)).to.deep.equal({ seen: [] });
  });

  it('starts at the first event stored at or after a time', async () => {
    // Events appended within one millisecond share a timestamp: the first of them is where it starts.
    const third = events[2]!;
    const expected = events.filter((e) => e.created >= third.created).map((e) => (e.data as { n: number }).n);
    expect(await query(COLLECT_ALL, third.created)).to.deep.equal({ seen: expected });
    expect(await query(COLLECT_ALL, new Date(0))).to.deep.equal({ seen: [1, 2, 3, 4] });
    expect(await query(COLLECT_ALL, new Date(events[3]!.created.getTime() + 1))).to.deep.equal({ seen: [] });
  });

  it('resolves a time to the position of the first event stored at or after it', async () => {
    expect(await positionAtTime(store, new Date(0))).to.equal(all[0]!.position);
    const firstAtOrAfter = all.find((e) => e.created >= events[2]!.created)!;
    expect(await positionAtTime(store, events[2]!.created)).to.equal(firstAtOrAfter.position);
    expect(await positionAtTime(store, new Date(events[3]!.created.getTime() + 1))).to.equal(events[3]!.position + 1n);
  });

  it('is for queries only', async () => {
    await expect(manager.create('c', COLLECT_ALL, { mode: 'continuous', from: 0n })).to.be.rejectedWith(TypeError);
  });
});
