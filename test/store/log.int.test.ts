import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, openSync, readSync, writeSync, closeSync, writeFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CorruptLogError, EventStore, EventTooLargeError, openStore, StoreLockedError, type EventData, type Store } from '../../store/index.js';
import { LogBackend } from '../../store/log/log-backend.js';
import { crc32, crc32Native, crc32Table } from '../../store/log/crc32.js';
import { storeConformance, collect } from './conformance.js';
import { expect } from '../support/chai.js';

let dir: string;
const fresh = () => (dir = mkdtempSync(join(tmpdir(), 'telltale-log-')));
const cleanup = async () => rmSync(dir, { recursive: true, force: true });

describe('log store', () => {
  storeConformance({ open: async ({ clock }) => new EventStore(await LogBackend.open(fresh(), { clock }), { clock }), cleanup });
});

function events(n: number, from = 0): EventData[] {
  return Array.from({ length: n }, (_, i) => ({ id: randomUUID(), type: 'Tested', data: { n: from + i, pad: 'y'.repeat(40) } }));
}

const segmentsOf = (d: string) => readdirSync(d).filter((f) => f.endsWith('.seg')).sort();

function flipByte(file: string, offset: number): void {
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, offset);
  b[0] = b[0]! ^ 0x5a;
  writeSync(fd, b, 0, 1, offset);
  closeSync(fd);
}

describe('log backend', () => {
  beforeEach(fresh);
  afterEach(cleanup);

  async function populate(url = `file:${dir}`): Promise<Store> {
    const store = await openStore(url);
    for (let i = 0; i < 20; i++) await store.appendToStream(`s-${i % 3}`, events(5, i * 5));
    await store.appendToStreams([
      { streamId: 'multi-a', events: events(2) },
      { streamId: 'multi-b', events: events(3) },
    ]);
    return store;
  }

  it('keeps stream names and event types beyond ASCII, short and long, across a reopen, and knows a retried append by its ids', async () => {
    const names = [`zahlungen-müller-日本`, `s-${'x'.repeat(70)}`, `s-${'é'.repeat(70)}`, 'plain-ascii'];
    const types = ['Zahlung✓', `T${'y'.repeat(80)}`, `T${'ß'.repeat(40)}`, 'Plain'];
    let store = await openStore(`file:${dir}`);
    const written = new Map<string, EventData[]>();
    for (const [i, name] of names.entries()) {
      const batch = types.map((type, k) => ({ id: randomUUID(), type, data: { i, k } }));
      written.set(name, batch);
      await store.appendToStream(name, batch);
      // The same ids again: recognised from the id table, so nothing is written twice.
      expect((await store.appendToStream(name, batch)).idempotent, name).to.equal(true);
    }
    for (let reopened = 0; reopened < 2; reopened++) {
      for (const name of names) {
        const read = await collect(store.readStream(name));
        expect(read.map((e) => [e.streamId, e.type, e.id]), name).to.deep.equal(written.get(name)!.map((e) => [name, e.type, e.id]));
      }
      const all = await collect(store.readAll());
      expect(all.map((e) => e.streamId)).to.deep.equal(names.flatMap((n) => types.map(() => n)));
      // A retry at its exact place is recognised from the log itself, before and after a reopen.
      expect((await store.appendToStream(names[0]!, written.get(names[0]!)!, { expectedRevision: 'no_stream' })).idempotent).to.equal(true);
      await store.close();
      store = await openStore(`file:${dir}`);
    }
    await store.close();
  });

  it('refuses a record over the log\'s 64 MiB limit, writing nothing, and accepts one whose upper bound alone passes it', async function () {
    this.timeout(30_000);
    const store = new EventStore(await LogBackend.open(dir), { maxEventBytes: 100 * 1024 * 1024 });
    // 30 MiB of JSON text: its bound (three bytes a character) passes the record limit, its UTF-8 length does not.
    const big = 'x'.repeat(30 * 1024 * 1024);
    await store.appendToStream('large', [{ type: 'Big', data: { big } }]);
    const error = await store.appendToStream('large', [{ type: 'Huge', data: new Uint8Array(64 * 1024 * 1024 + 10) }]).then(() => undefined, (e: unknown) => e);
    expect(error).to.be.instanceOf(EventTooLargeError);
    const read = await collect(store.readStream('large'));
    expect(read.map((e) => e.type)).to.deep.equal(['Big']);
    expect((read[0]!.data as { big: string }).big.length).to.equal(big.length);
    await store.close();
  });

  it('reads on when the bytes a page read past its end hold less than the next record\'s length field', async () => {
    const backend = await LogBackend.open(dir);
    const store = new EventStore(backend);
    // A page of one event reads 16 KiB from the log's start (positions 0 to 16384): lay the
    // records out so that one starts 2 bytes before that read's end.
    await store.appendToStream('s', events(5));
    const gap = 16384 - 2 - Number(await backend.headPosition());
    const streamBytes = 1;
    const typeBytes = 'Filler'.length;
    await store.appendToStream('s', [{ type: 'Filler', data: new Uint8Array(gap - 68 - streamBytes - typeBytes) }]);
    expect(Number(await backend.headPosition())).to.equal(16382);
    await store.appendToStream('s', events(20, 100));
    const page = (from: bigint, limit: number) => backend.readAll({ fromPosition: from, direction: 'forwards', limit });
    const first = await page(0n, 1);
    // The rest of the 16 KiB holds events 1-4 and the filler whole, and 2 bytes of the event after them.
    const second = await page(first[0]!.position + 1n, 5);
    expect(second.map((r) => r.type)).to.deep.equal(['Tested', 'Tested', 'Tested', 'Tested', 'Filler']);
    const third = await page(second[4]!.position + 1n, 30);
    expect(third.map((r) => r.position)).to.have.length(20);
    expect(Number(third[0]!.position)).to.equal(16382);
    await store.close();
  });

  it('computes the same CRC-32 natively and in JavaScript, for every length either side of the switch between them', () => {
    const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 31 + (i >> 7)) & 0xff));
    expect(crc32(Buffer.from('123456789'))).to.equal(0xcbf43926);
    expect(crc32Table(Buffer.from('123456789'))).to.equal(0xcbf43926);
    for (let length = 0; length <= 700; length++) {
      const start = length % 17;
      const want = crc32Native ? crc32Native(bytes.subarray(start, start + length)) : crc32Table(bytes, start, start + length);
      expect(crc32Table(bytes, start, start + length), `JavaScript, ${length} bytes`).to.equal(want);
      expect(crc32(bytes, start, start + length), `crc32, ${length} bytes`).to.equal(want);
    }
  });

  it('opens file: URLs and bare paths, and keeps everything across a reopen', async () => {
    const store = await populate();
    const before = await collect(store.readAll());
    await store.close();
    const again = await openStore(dir);
    const after = await collect(again.readAll());
    expect(after.map((e) => [e.position, e.streamId, e.revision, e.id, e.type, Buffer.from(e.dataBytes).toString()])).to.deep.equal(
      before.map((e) => [e.position, e.streamId, e.revision, e.id, e.type, Buffer.from(e.dataBytes).toString()]),
    );
    expect((await again.appendToStream('s-0', events(1))).nextExpectedRevision).to.equal(35n);
    expect((await collect(again.readStream('multi-b'))).length).to.equal(3);
    await again.close();
  });

  it('says in its supports flags whether appends are durable', async () => {
    const durable = await openStore(`file:${dir}/a`);
    const fast = await openStore(`file:${dir}/b`, { durable: false });
    expect(durable.supports.durable).to.equal(true);
    expect(fast.supports.durable).to.equal(false);
    await durable.close();
    await fast.close();
  });

  it('refuses a second opener of the same directory with StoreLockedError, and takes over a stale lock', async () => {
    const store = await openStore(dir);
    const second = openStore(dir);
    await expect(second).to.be.rejectedWith(StoreLockedError);
    const error = (await second.catch((e: unknown) => e)) as StoreLockedError;
    expect(error.code).to.equal('store-locked');
    expect(error.holderPid).to.equal(process.pid);
    await store.close();
    // A lock left by a process that no longer exists.
    writeFileSync(join(dir, 'LOCK'), '999999999\n');
    const after = await openStore(dir);
    await after.close();
  });

  it('spaces index checkpoints by at least four times the last one\'s size as the index grows', async () => {
    const backend = await LogBackend.open(dir, { checkpointBytes: 4096 });
    const store = new EventStore(backend);
    const checkpointAt = () => readFileSync(join(dir, 'index.tti')).readDoubleLE(16);
    // 2000 streams of one event: an index of tens of KB, its checkpoint well past 4096 bytes.
    for (let s = 0; s < 2000; s += 100) await Promise.all(Array.from({ length: 100 }, (_, k) => store.appendToStream(`c-${s + k}`, events(1))));
    await backend.idle();
    const size = statSync(join(dir, 'index.tti')).size;
    expect(size).to.be.greaterThan(40_000);
    const at = checkpointAt();
    const head = (await store.appendToStream('probe', events(1))).position;
    await backend.idle();
    // Growth since that checkpoint stays under 4 × its size: no new checkpoint, though far past checkpointBytes.
    let written = Number(head) - at;
    let n = 0;
    while (written < 3 * size) {
      const r = await store.appendToStream('more', events(20));
      written = Number(r.position) - at;
      n++;
    }
    await backend.idle();
    expect(checkpointAt(), `after ${written} bytes in ${n} commits`).to.equal(at);
    // Past 4 × its size, the next commit checkpoints.
    while (written < 4 * size + 4096) written = Number((await store.appendToStream('more', events(20))).position) - at;
    await backend.idle();
    expect(checkpointAt()).to.be.greaterThan(at);
    await store.close();
  });

  it('cuts a torn tail back to the last whole commit', async () => {
    const store = await populate();
    const whole = await collect(store.readAll());
    await store.appendToStream('torn', events(4));
    await store.close();
    const [segment] = segmentsOf(dir);
    const file = join(dir, segment!);
    // Drop the middle of the last record of a 4-event commit: the whole commit must go.
    truncateSync(file, statSync(file).size - 30);
    rmSync(join(dir, 'index.tti'));
    const backend = await LogBackend.open(dir);
    expect(backend.recovery.truncated?.file).to.equal(file);
    const reopened = new EventStore(backend);
    const all = await collect(reopened.readAll());
    expect(all.map((e) => e.id)).to.deep.equal(whole.map((e) => e.id));
    expect((await reopened.getStreamInfo('torn')).lastRevision).to.equal(-1n);
    await reopened.appendToStream('torn', events(1), { expectedRevision: 'no_stream' });
    await reopened.close();
  });

  describe('zeros written ahead of the records (preallocation)', () => {
    const lastLength = (file: string): number => {
      const fd = openSync(file, 'r');
      const b = Buffer.alloc(4);
      readSync(fd, b, 0, 4, statSync(file).size - 4);
      closeSync(fd);
      return b.readUInt32LE(0);
    };

    it('keeps the active segment filled ahead while open, and cuts it back to its records on close', async () => {
      const store = await populate();
      const file = join(dir, segmentsOf(dir)[0]!);
      // The fill runs in the background after a write; wait for it to land.
      for (let i = 0; i < 200 && lastLength(file) !== 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(lastLength(file), 'zeros at the end of the open segment').to.equal(0);
      const whole = await collect(store.readAll());
      await store.close();
      // After close the file ends with a record's trailing length, not with zeros.
      expect(lastLength(file)).to.be.greaterThan(60);
      const reopened = await LogBackend.open(dir);
      expect(reopened.recovery.truncated).to.equal(undefined);
      const again = new EventStore(reopened);
      expect((await collect(again.readAll())).map((e) => e.id)).to.deep.equal(whole.map((e) => e.id));
      await again.close();
    });

    it('reads zeros after the last record at open (a crash while they stood) as the end of the log, not as a torn tail', async () => {
      const store = await populate();
      await store.close();
      const file = join(dir, segmentsOf(dir)[0]!);
      const appendZeros = (bytes: number): number => {
        const size = statSync(file).size;
        const fd = openSync(file, 'r+');
        writeSync(fd, Buffer.alloc(bytes), 0, bytes, size);
        closeSync(fd);
        return size;
      };
      // With the index checkpoint (it covers the records, not the zeros), then with a full rescan.
      for (const [round, withCheckpoint] of [true, false].entries()) {
        const before = await openStore(`file:${dir}`);
        const whole = (await collect(before.readAll())).map((e) => e.id);
        await before.close();
        const size = appendZeros(3 * 1024 * 1024 + 17);
        if (!withCheckpoint) rmSync(join(dir, 'index.tti'));
        const backend = await LogBackend.open(dir);
        expect(backend.recovery.truncated, `checkpoint: ${withCheckpoint}`).to.equal(undefined);
        expect(statSync(file).size).to.equal(size);
        const reopened = new EventStore(backend);
        expect((await collect(reopened.readAll())).map((e) => e.id)).to.deep.equal(whole);
        await reopened.appendToStream('after-zeros', events(2), { expectedRevision: round === 0 ? 'no_stream' : 1n });
        await reopened.close();
      }
      const check = await openStore(`file:${dir}`);
      expect((await collect(check.readStream('after-zeros'))).length).to.equal(4);
      await check.close();
    });

    it('still cuts a torn commit that has zeros after it', async () => {
      const store = await populate();
      const whole = await collect(store.readAll());
      await store.appendToStream('torn', events(4));
      await store.close();
      const file = join(dir, segmentsOf(dir)[0]!);
      truncateSync(file, statSync(file).size - 30);
      const fd = openSync(file, 'r+');
      writeSync(fd, Buffer.alloc(1024 * 1024), 0, 1024 * 1024, statSync(file).size);
      closeSync(fd);
      rmSync(join(dir, 'index.tti'));
      const backend = await LogBackend.open(dir);
      expect(backend.recovery.truncated?.file).to.equal(file);
      const reopened = new EventStore(backend);
      expect((await collect(reopened.readAll())).map((e) => e.id)).to.deep.equal(whole.map((e) => e.id));
      expect((await reopened.getStreamInfo('torn')).lastRevision).to.equal(-1n);
      await reopened.close();
    });
  });

  it('cuts a tail torn after the index checkpoint without rescanning the rest', async () => {
    const store = await populate();
    await store.close();
    const size = statSync(join(dir, segmentsOf(dir)[0]!)).size;
    const again = await openStore(dir);
    await again.appendToStream('late', events(3));
    await again.close();
    // Restore the older checkpoint's view: the log is longer than it says, then torn.
    const file = join(dir, segmentsOf(dir)[0]!);
    truncateSync(file, statSync(file).size - 10);
    const backend = await LogBackend.open(dir);
    expect(backend.recovery.truncated?.offset).to.be.greaterThanOrEqual(size - 1);
    await backend.close();
  });

  it('stops the open with CorruptLogError naming file and offset for a flipped byte mid-log', async () => {
    const store = await populate();
    const all = await collect(store.readAll());
    await store.close();
    const file = join(dir, segmentsOf(dir)[0]!);
    const target = Number(all[10]!.position) + 32 + 70; // inside the 11th record, after its header
    flipByte(file, target);
    rmSync(join(dir, 'index.tti'));
    const open = LogBackend.open(dir);
    await expect(open).to.be.rejectedWith(CorruptLogError);
    const error = (await open.catch((e: unknown) => e)) as CorruptLogError;
    expect(error.file).to.equal(file);
    expect(error.offset).to.equal(Number(all[10]!.position) + 32);
    // The lock was released by the failed open.
    await expect(LogBackend.open(dir)).to.be.rejectedWith(CorruptLogError);
  });

  it('reports a flipped length field mid-log as corruption, not as a torn tail', async () => {
    const store = await populate();
    const all = await collect(store.readAll());
    await store.close();
    const file = join(dir, segmentsOf(dir)[0]!);
    flipByte(file, Number(all[7]!.position) + 32 + 1);
    rmSync(join(dir, 'index.tti'));
    await expect(LogBackend.open(dir)).to.be.rejectedWith(CorruptLogError);
  });

  it('verifies checksums on read for records behind the index checkpoint', async () => {
    const store = await populate();
    const all = await collect(store.readAll());
    await store.close();
    flipByte(join(dir, segmentsOf(dir)[0]!), Number(all[3]!.position) + 32 + 70);
    const again = await openStore(dir);
    const read = collect(again.readAll());
    await expect(read).to.be.rejectedWith(CorruptLogError);
    expect(((await read.catch((e: unknown) => e)) as CorruptLogError).offset).to.equal(Number(all[3]!.position) + 32);
    await again.close();
  });

  it('rebuilds a deleted or corrupted index from the log', async () => {
    const store = await populate();
    const before = await collect(store.readAll());
    const info = await store.getStreamInfo('s-1');
    await store.close();
    for (const damage of ['delete', 'corrupt']) {
      if (damage === 'delete') rmSync(join(dir, 'index.tti'));
      else flipByte(join(dir, 'index.tti'), 40);
      const backend = await LogBackend.open(dir);
      expect(backend.recovery.usedCheckpoint).to.equal(false);
      const again = new EventStore(backend);
      expect((await collect(again.readAll())).map((e) => e.id)).to.deep.equal(before.map((e) => e.id));
      expect(await again.getStreamInfo('s-1')).to.deep.equal(info);
      expect((await collect(again.readStream('s-2', { direction: 'backwards', maxCount: 3 }))).map((e) => e.revision)).to.deep.equal([29n, 28n, 27n]);
      await again.close();
    }
    const backend = await LogBackend.open(dir);
    expect(backend.recovery.usedCheckpoint).to.equal(true);
    expect(backend.recovery.scannedBytes).to.equal(0);
    await backend.close();
  });

  it('counts its fsyncs, their time, group commits and events for /metrics', async () => {
    const durable = await LogBackend.open(dir);
    const store = new EventStore(durable);
    expect(durable.stats()).to.deep.equal({ fsyncs: 0, fsyncSeconds: 0, commits: 0, events: 0 });
    await store.appendToStream('m-1', events(3));
    await Promise.all([store.appendToStream('m-2', events(2)), store.appendToStream('m-3', events(1))]);
    const stats = durable.stats();
    expect(stats.events).to.equal(6);
    expect(stats.commits).to.be.within(2, 3);
    expect(stats.fsyncs).to.equal(stats.commits);
    expect(stats.fsyncSeconds).to.be.greaterThan(0);
    await store.close();
    const fast = await LogBackend.open(dir, { durability: 'none' });
    await new EventStore(fast).appendToStream('m-4', events(2));
    expect(fast.stats()).to.include({ fsyncs: 0, fsyncSeconds: 0, commits: 1, events: 2 });
    await fast.close();
  });

  it('rolls over to new segments named by their starting position, and reads across them', async () => {
    const backend = await LogBackend.open(dir, { segmentBytes: 4096 });
    const store = new EventStore(backend);
    for (let i = 0; i < 40; i++) await store.appendToStream(`r-${i % 4}`, events(3, i * 3));
    const all = await collect(store.readAll());
    await store.close();
    const segments = segmentsOf(dir);
    expect(segments.length).to.be.greaterThan(3);
    for (const name of segments.slice(1)) expect(all.some((e) => e.position === BigInt(name.slice(0, 20)))).to.equal(true);
    const again = await openStore(dir);
    expect((await collect(again.readAll())).map((e) => e.position)).to.deep.equal(all.map((e) => e.position));
    expect((await collect(again.readAll({ direction: 'backwards' }))).map((e) => e.position)).to.deep.equal(all.map((e) => e.position).reverse());
    const middle = all[61]!.position;
    expect((await collect(again.readAll({ fromPosition: middle - 3n, maxCount: 2 }))).map((e) => e.position)).to.deep.equal([middle, all[62]!.position]);
    await again.close();
  });

  it('pages $all with read-ahead: interleaved readers, appends between pages, events larger than a read, segment ends', async () => {
    const backend = await LogBackend.open(dir, { segmentBytes: 3 * 1024 * 1024 });
    const store = new EventStore(backend, { readPageSize: 7, maxEventBytes: 2 * 1024 * 1024 });
    const sizes = [10, 300, 5000, 1_500_000, 40, 70_000];
    let n = 0;
    const write = async (count: number) => {
      for (let i = 0; i < count; i++, n++) {
        await store.appendToStream(`ra-${n % 5}`, [{ id: randomUUID(), type: 'Sized', data: { n, pad: 'z'.repeat(sizes[n % sizes.length]!) } }]);
      }
    };
    await write(60);
    const expected = await collect(store.readAll());
    expect(expected.map((e) => (e.data as { n: number }).n)).to.deep.equal([...Array(60).keys()]);
    expect(segmentsOf(dir).length).to.be.greaterThan(2);
    // Two readers page through at once, with appends landing between their pages.
    const a = store.readAll()[Symbol.asyncIterator]();
    const b = store.readAll({ fromPosition: expected[20]!.position })[Symbol.asyncIterator]();
    const seenA: number[] = [];
    const seenB: number[] = [];
    for (let step = 0; step < 200; step++) {
      const x = await a.next();
      if (!x.done) seenA.push((x.value.data as { n: number }).n);
      const y = await b.next();
      if (!y.done) seenB.push((y.value.data as { n: number }).n);
      if (step % 10 === 0) await write(1);
      if (x.done && y.done) break;
    }
    expect(seenA.slice(0, 60)).to.deep.equal([...Array(60).keys()]);
    expect(seenB.slice(0, 40)).to.deep.equal([...Array(40).keys()].map((i) => i + 20));
    const all = await collect(store.readAll());
    expect(all.map((e) => (e.data as { n: number }).n)).to.deep.equal([...Array(n).keys()]);
    for (const e of all) expect((e.data as { pad: string }).pad.length).to.equal(sizes[(e.data as { n: number }).n % sizes.length]);
    await store.close();
  });

  it('keeps positions, revisions and reads after a scavenge and a reopen', async () => {
    const backend = await LogBackend.open(dir, { segmentBytes: 8192 });
    const store = new EventStore(backend);
    for (let i = 0; i < 30; i++) await store.appendToStream(i % 2 ? 'kept' : 'trimmed', events(4, i * 4));
    await store.setStreamMetadata('trimmed', { maxCount: 3 });
    await store.appendToStream('doomed', events(5));
    await store.tombstoneStream('doomed');
    const kept = await collect(store.readStream('kept'));
    const trimmed = await collect(store.readStream('trimmed'));
    const result = await store.scavenge();
    expect(result.eventsRemoved).to.equal(57 + 5);
    expect(result.bytesReclaimed).to.be.greaterThan(0);
    const check = async (s: Store) => {
      expect((await collect(s.readStream('kept'))).map((e) => [e.position, e.id])).to.deep.equal(kept.map((e) => [e.position, e.id]));
      expect((await collect(s.readStream('trimmed'))).map((e) => [e.position, e.id])).to.deep.equal(trimmed.map((e) => [e.position, e.id]));
      const all = await collect(s.readAll());
      for (let i = 1; i < all.length; i++) expect(all[i]!.position > all[i - 1]!.position).to.equal(true);
      expect(all.filter((e) => e.streamId === 'kept').length).to.equal(60);
      const back = await collect(s.readAll({ direction: 'backwards' }));
      expect(back.map((e) => e.position)).to.deep.equal(all.map((e) => e.position).reverse());
      // A position whose event was scavenged starts a read at the next kept event.
      const removed = (await collect(s.readStream('kept'))).at(0)!.position - 1n;
      expect((await collect(s.readAll({ fromPosition: removed, maxCount: 1 })))[0]!.position).to.equal(kept[0]!.position);
    };
    await check(store);
    expect((await store.getStreamInfo('trimmed')).lastRevision).to.equal(59n);
    await store.close();
    const again = await openStore(dir);
    await check(again);
    await again.close();
    rmSync(join(dir, 'index.tti'));
    const rebuilt = await openStore(dir);
    await check(rebuilt);
    expect((await rebuilt.appendToStream('trimmed', events(1))).nextExpectedRevision).to.equal(60n);
    await rebuilt.close();
  });

  it('lets a reader see only durable commits while group commit batches concurrent writers', async () => {
    const store = await openStore(dir);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => store.appendToStream(`c-${i % 7}`, events(1))));
    const positions = results.map((r) => r.position);
    expect(new Set(positions).size).to.equal(200);
    const all = await collect(store.readAll());
    expect(all.map((e) => e.position)).to.deep.equal([...positions].sort((a, b) => (a < b ? -1 : 1)));
    await store.close();
  });
});
