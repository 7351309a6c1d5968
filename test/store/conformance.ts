// The store conformance suite: every backend runs all of it, in three lines
// (`describe('log backend', () => storeConformance({ ... }))`). A behaviour that differs between
// backends is a bug in one of them, or a declared `supports` flag.
import { randomUUID } from 'node:crypto';
import {
  EventTooLargeError,
  InvalidArgumentError,
  StoreClosedError,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedRevisionError,
  type EventData,
  type RecordedEvent,
  type Store,
} from '../../store/index.js';
import { expect } from '../support/chai.js';

export interface ConformanceOptions {
  /** Opens a fresh, empty store. `clock` drives `$maxAge`. */
  open(options: { clock: () => number }): Promise<Store>;
  /** Removes what `open` left behind (files, keys). */
  cleanup?(): Promise<void>;
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

function events(n: number, type = 'Tested', from = 0): EventData[] {
  return Array.from({ length: n }, (_, i) => ({ id: randomUUID(), type, data: { n: from + i, pad: 'x'.repeat(20) }, metadata: { source: 'conformance' } }));
}

async function take<T>(iterable: AsyncIterable<T>, n: number, timeoutMs = 10_000): Promise<T[]> {
  const out: T[] = [];
  const iterator = iterable[Symbol.asyncIterator]();
  const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out after ${out.length} of ${n} items`)), timeoutMs).unref());
  while (out.length < n) {
    const next = await Promise.race([iterator.next(), timer]);
    if (next.done) break;
    out.push(next.value);
  }
  await iterator.return?.();
  return out;
}

export function storeConformance(options: ConformanceOptions): void {
  let store: Store;
  let now = Date.UTC(2026, 0, 1);
  const clock = () => now;
  let stream: string;

  beforeEach(async () => {
    now = Date.UTC(2026, 0, 1);
    store = await options.open({ clock });
    stream = `order-${randomUUID()}`;
  });
  afterEach(async () => {
    await store.close();
    await options.cleanup?.();
  });

  const count = async () => (await collect(store.readAll())).length;
  const revisionsOf = async (s: string) => (await collect(store.readStream(s))).map((e) => e.revision);

  describe('appendToStream', () => {
    it('numbers a new stream from 0 and returns the last revision and position', async () => {
      const r = await store.appendToStream(stream, events(3), { expectedRevision: 'no_stream' });
      expect(r.nextExpectedRevision).to.equal(2n);
      expect(r.idempotent).to.equal(false);
      const read = await collect(store.readStream(stream));
      expect(read.map((e) => e.revision)).to.deep.equal([0n, 1n, 2n]);
      expect(read[2]!.position).to.equal(r.position);
    });

    it('stores type, data, metadata, id and a creation time exactly', async () => {
      const id = randomUUID();
      await store.appendToStream(stream, [{ id, type: 'Placed', data: { total: 12.5, items: ['a', 'b'], nested: { ok: true } }, metadata: { $correlationId: 'c-1' } }]);
      const [e] = await collect(store.readStream(stream));
      expect(e!.id).to.equal(id);
      expect(e!.type).to.equal('Placed');
      expect(e!.streamId).to.equal(stream);
      expect(e!.isJson).to.equal(true);
      expect(e!.data).to.deep.equal({ total: 12.5, items: ['a', 'b'], nested: { ok: true } });
      expect(e!.metadata).to.deep.equal({ $correlationId: 'c-1' });
      expect(e!.created).to.be.instanceOf(Date);
      expect(new TextDecoder().decode(e!.dataBytes)).to.equal('{"total":12.5,"items":["a","b"],"nested":{"ok":true}}');
    });

    it('keeps data and metadata beyond ASCII byte for byte, in batches that mix values and bytes', async () => {
      const texts = ['Zahlung für Müller', '日本の支払い', 'emoji 😀 and a lone \u00e9', 'é'.repeat(700), 'plain'];
      const batch: EventData[] = Array.from({ length: 20 }, (_, i) =>
        i % 4 === 3
          ? { type: 'Blob', data: new TextEncoder().encode(`bytes ${texts[i % texts.length]}`), metadata: new TextEncoder().encode(`{"m":"${texts[(i + 1) % texts.length]}"}`) }
          : { type: 'Noted', data: { i, note: texts[i % texts.length], pad: '✓'.repeat(i * 7) }, metadata: { who: texts[(i + 2) % texts.length] } },
      );
      await store.appendToStream(stream, batch);
      await store.appendToStream(stream, [batch[1]!].map((e) => ({ ...e, id: undefined })));
      const read = await collect(store.readStream(stream));
      expect(read.length).to.equal(21);
      for (const [i, e] of read.entries()) {
        const sent = batch[i === 20 ? 1 : i]!;
        if (sent.data instanceof Uint8Array) {
          expect(Buffer.from(e.dataBytes).equals(Buffer.from(sent.data)), `event ${i} data`).to.equal(true);
          expect(Buffer.from(e.metadataBytes).equals(Buffer.from(sent.metadata as Uint8Array)), `event ${i} metadata`).to.equal(true);
        } else {
          expect(e.data, `event ${i}`).to.deep.equal(sent.data);
          expect(e.metadata, `event ${i}`).to.deep.equal(sent.metadata);
          expect(Buffer.from(e.dataBytes).toString('utf8')).to.equal(JSON.stringify(sent.data));
        }
      }
    });

    it('stores binary data as bytes', async () => {
      const bytes = new Uint8Array([0, 1, 2, 250, 255]);
      await store.appendToStream(stream, [{ type: 'Blob', data: bytes }]);
      const [e] = await collect(store.readStream(stream));
      expect(e!.isJson).to.equal(false);
      expect(Array.from(e!.data as Uint8Array)).to.deep.equal([0, 1, 2, 250, 255]);
    });

    it('stores bytes marked isJson as a JSON event, byte for byte', async () => {
      const text = '{ "amount": 12.5, "tags": ["a"] }';
      await store.appendToStream(stream, [{ type: 'Charged', data: new TextEncoder().encode(text), isJson: true, metadata: new TextEncoder().encode('{"$kafka":{"offset":"7"}}') }]);
      const [e] = await collect(store.readStream(stream));
      expect(e!.isJson).to.equal(true);
      expect(e!.data).to.deep.equal({ amount: 12.5, tags: ['a'] });
      expect(e!.metadata).to.deep.equal({ $kafka: { offset: '7' } });
      expect(new TextDecoder().decode(e!.dataBytes)).to.equal(text);
    });

    it('gives positions that strictly increase across streams in append order', async () => {
      const a = await store.appendToStream(`${stream}-a`, events(2));
      const b = await store.appendToStream(`${stream}-b`, events(2));
      const c = await store.appendToStream(`${stream}-a`, events(1));
      expect(a.position < b.position && b.position < c.position).to.equal(true);
      const all = await collect(store.readAll());
      for (let i = 1; i < all.length; i++) expect(all[i]!.position > all[i - 1]!.position).to.equal(true);
    });

    it('accepts any on a new and on an existing stream', async () => {
      await store.appendToStream(stream, events(1), { expectedRevision: 'any' });
      const r = await store.appendToStream(stream, events(1), { expectedRevision: 'any' });
      expect(r.nextExpectedRevision).to.equal(1n);
    });

    it('accepts an exact revision equal to the last one and rejects one behind or ahead', async () => {
      await store.appendToStream(stream, events(2));
      await store.appendToStream(stream, events(1), { expectedRevision: 1n });
      const behind = store.appendToStream(stream, events(1), { expectedRevision: 0n });
      await expect(behind).to.be.rejectedWith(WrongExpectedRevisionError);
      const error = (await behind.catch((e: unknown) => e)) as WrongExpectedRevisionError;
      expect(error.code).to.equal('wrong-expected-revision');
      expect(error.streamId).to.equal(stream);
      expect(error.expected).to.equal(0n);
      expect(error.actual).to.equal(2n);
      await expect(store.appendToStream(stream, events(1), { expectedRevision: 7n })).to.be.rejectedWith(WrongExpectedRevisionError);
      expect(await revisionsOf(stream)).to.deep.equal([0n, 1n, 2n]);
    });

    it('rejects no_stream on an existing stream and stream_exists on a missing one', async () => {
      const missing = store.appendToStream(stream, events(1), { expectedRevision: 'stream_exists' });
      await expect(missing).to.be.rejectedWith(WrongExpectedRevisionError);
      expect(((await missing.catch((e: unknown) => e)) as WrongExpectedRevisionError).actual).to.equal(-1n);
      await store.appendToStream(stream, events(1));
      await expect(store.appendToStream(stream, events(1), { expectedRevision: 'no_stream' })).to.be.rejectedWith(WrongExpectedRevisionError);
      await store.appendToStream(stream, events(1), { expectedRevision: 'stream_exists' });
      expect(await revisionsOf(stream)).to.deep.equal([0n, 1n]);
    });

    it('accepts stream_exists on a stream that has only metadata', async () => {
      await store.setStreamMetadata(stream, { custom: { owner: 'team' } });
      const r = await store.appendToStream(stream, events(1), { expectedRevision: 'stream_exists' });
      expect(r.nextExpectedRevision).to.equal(0n);
    });

    it('treats a retry of the same ids at the same place as idempotent and writes nothing', async () => {
      const batch = events(3);
      const first = await store.appendToStream(stream, batch, { expectedRevision: 'no_stream' });
      const before = await count();
      const again = await store.appendToStream(stream, batch, { expectedRevision: 'no_stream' });
      expect(again.idempotent).to.equal(true);
      expect(again.nextExpectedRevision).to.equal(2n);
      expect(again.position).to.equal(first.position);
      const viaAny = await store.appendToStream(stream, batch, { expectedRevision: 'any' });
      expect(viaAny.idempotent).to.equal(true);
      await store.appendToStream(stream, events(1));
      const exact = await store.appendToStream(stream, batch.slice(1), { expectedRevision: 0n });
      expect(exact.idempotent).to.equal(true);
      expect(exact.nextExpectedRevision).to.equal(2n);
      expect(await count()).to.equal(before + 1);
    });

    it('recognises a retry sent before the first append was acknowledged, under any expected revision', async () => {
      await store.appendToStream(stream, events(2));
      const batch = events(3);
      // Both in flight at once: the retry is decided while the first is still on its way to the disk.
      const [first, retry] = await Promise.all([store.appendToStream(stream, batch, { expectedRevision: 'any' }), store.appendToStream(stream, batch, { expectedRevision: 'any' })]);
      expect([first.idempotent, retry.idempotent]).to.deep.equal([false, true]);
      expect(retry.nextExpectedRevision).to.equal(4n);
      expect(retry.position).to.equal(first.position);
      expect(await count()).to.equal(5);
    });

    it('rejects a batch that only partly overlaps events already written, writing none of it', async () => {
      const batch = events(2);
      await store.appendToStream(stream, batch, { expectedRevision: 'no_stream' });
      const overlapping = [batch[0]!, ...events(2)];
      await expect(store.appendToStream(stream, overlapping, { expectedRevision: 'no_stream' })).to.be.rejectedWith(WrongExpectedRevisionError);
      await expect(store.appendToStream(stream, overlapping, { expectedRevision: 'any' })).to.be.rejectedWith(WrongExpectedRevisionError);
      expect(await revisionsOf(stream)).to.deep.equal([0n, 1n]);
    });

    it('lets exactly one of many racing appenders with the same expected revision win', async () => {
      await store.appendToStream(stream, events(1));
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => store.appendToStream(stream, events(2), { expectedRevision: 0n })));
      expect(results.filter((r) => r.status === 'fulfilled')).to.have.length(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).to.be.instanceOf(WrongExpectedRevisionError);
      expect(await revisionsOf(stream)).to.deep.equal([0n, 1n, 2n]);
    });

    it('keeps every racing any-appender, each batch contiguous and numbered without gaps', async () => {
      const batches = Array.from({ length: 25 }, (_, i) => events(4, `Batch${i}`));
      await Promise.all(batches.map((b) => store.appendToStream(stream, b)));
      const read = await collect(store.readStream(stream));
      expect(read.map((e) => e.revision)).to.deep.equal(Array.from({ length: 100 }, (_, i) => BigInt(i)));
      for (let i = 0; i < 100; i += 4) expect(new Set(read.slice(i, i + 4).map((e) => e.type)).size).to.equal(1);
    });

    it('appends nothing for an empty batch and still checks the expected revision', async () => {
      const r = await store.appendToStream(stream, [], { expectedRevision: 'no_stream' });
      expect(r.nextExpectedRevision).to.equal(-1n);
      await expect(store.appendToStream(stream, [], { expectedRevision: 3n })).to.be.rejectedWith(WrongExpectedRevisionError);
    });
  });

  describe('appendToStreams', () => {
    it('writes several streams in one commit', async () => {
      const [a, b] = await store.appendToStreams([
        { streamId: `${stream}-a`, events: events(2), expectedRevision: 'no_stream' },
        { streamId: `${stream}-b`, events: events(1), expectedRevision: 'no_stream' },
      ]);
      expect(a!.nextExpectedRevision).to.equal(1n);
      expect(b!.nextExpectedRevision).to.equal(0n);
      expect(b!.position > a!.position).to.equal(true);
    });

    it('writes nothing when any one write fails its check', async () => {
      await store.appendToStream(`${stream}-b`, events(1));
      const before = await count();
      await expect(
        store.appendToStreams([
          { streamId: `${stream}-a`, events: events(2), expectedRevision: 'no_stream' },
          { streamId: `${stream}-b`, events: events(1), expectedRevision: 'no_stream' },
        ]),
      ).to.be.rejectedWith(WrongExpectedRevisionError);
      expect(await count()).to.equal(before);
      await expect(collect(store.readStream(`${stream}-a`))).to.be.rejectedWith(StreamNotFoundError);
    });
  });

  describe('readStream', () => {
    beforeEach(async () => {
      await store.appendToStream(stream, events(10));
    });

    it('reads forwards from a revision, inclusive, up to maxCount', async () => {
      const read = await collect(store.readStream(stream, { fromRevision: 3n, maxCount: 4 }));
      expect(read.map((e) => e.revision)).to.deep.equal([3n, 4n, 5n, 6n]);
      expect(read.map((e) => (e.data as { n: number }).n)).to.deep.equal([3, 4, 5, 6]);
    });

    it('reads backwards from the end or from a revision', async () => {
      expect((await collect(store.readStream(stream, { direction: 'backwards', maxCount: 3 }))).map((e) => e.revision)).to.deep.equal([9n, 8n, 7n]);
      expect((await collect(store.readStream(stream, { direction: 'backwards', fromRevision: 2n }))).map((e) => e.revision)).to.deep.equal([2n, 1n, 0n]);
    });

    it('returns nothing past the end', async () => {
      expect(await collect(store.readStream(stream, { fromRevision: 10n }))).to.deep.equal([]);
    });

    it('says a missing stream is not found', async () => {
      await expect(collect(store.readStream(`${stream}-missing`))).to.be.rejectedWith(StreamNotFoundError);
    });
  });

  describe('readAll', () => {
    let positions: bigint[];
    beforeEach(async () => {
      await store.appendToStream(`a-${stream}`, events(3, 'Alpha'));
      await store.appendToStream(`b-${stream}`, events(3, 'Beta'));
      await store.appendToStream(`$sys-${stream}`, events(1, '$System'));
      positions = (await collect(store.readAll())).map((e) => e.position);
    });

    it('reads every event in position order, forwards and backwards', async () => {
      expect(positions).to.have.length(7);
      const back = (await collect(store.readAll({ direction: 'backwards' }))).map((e) => e.position);
      expect(back).to.deep.equal([...positions].reverse());
    });

    it('starts inclusively at a position and stops at maxCount', async () => {
      const read = await collect(store.readAll({ fromPosition: positions[2]!, maxCount: 3 }));
      expect(read.map((e) => e.position)).to.deep.equal(positions.slice(2, 5));
      const back = await collect(store.readAll({ fromPosition: positions[2]!, direction: 'backwards' }));
      expect(back.map((e) => e.position)).to.deep.equal(positions.slice(0, 3).reverse());
    });

    it('returns nothing forwards from the end', async () => {
      expect(await collect(store.readAll({ fromPosition: 'end' }))).to.deep.equal([]);
    });

    it('filters by stream prefix, event type prefix, regex and system events', async () => {
      expect((await collect(store.readAll({ filter: { streamNamePrefix: [`b-${stream}`] } }))).map((e) => e.type)).to.deep.equal(['Beta', 'Beta', 'Beta']);
      expect(await collect(store.readAll({ filter: { eventTypePrefix: ['Al', 'Be'] } }))).to.have.length(6);
      expect(await collect(store.readAll({ filter: { streamNameRegex: '^a-' } }))).to.have.length(3);
      expect(await collect(store.readAll({ filter: { eventTypeRegex: /eta$/ } }))).to.have.length(3);
      expect((await collect(store.readAll({ filter: { excludeSystemEvents: true } }))).every((e) => !e.type.startsWith('$'))).to.equal(true);
    });
  });

  describe('deleteStream (soft delete)', () => {
    it('makes reads say not found, keeps the events in $all, and continues numbering on the next append', async () => {
      await store.setStreamMetadata(stream, { custom: { owner: 'ops' } });
      await store.appendToStream(stream, events(4));
      await store.deleteStream(stream);
      await expect(collect(store.readStream(stream))).to.be.rejectedWith(StreamNotFoundError);
      expect((await collect(store.readAll({ filter: { streamNamePrefix: [stream] } }))).filter((e) => e.streamId === stream)).to.have.length(4);
      const r = await store.appendToStream(stream, events(2), { expectedRevision: 'any' });
      expect(r.nextExpectedRevision).to.equal(5n);
      expect(await revisionsOf(stream)).to.deep.equal([4n, 5n]);
      const meta = await store.getStreamMetadata(stream);
      expect(meta.metadata.truncateBefore).to.equal(4n);
      expect(meta.metadata.custom).to.deep.equal({ owner: 'ops' });
    });

    it('recreates with no_stream and with the last revision', async () => {
      await store.appendToStream(stream, events(2));
      await store.deleteStream(stream);
      await store.appendToStream(stream, events(1), { expectedRevision: 'no_stream' });
      expect(await revisionsOf(stream)).to.deep.equal([2n]);
      await store.deleteStream(stream);
      await store.appendToStream(stream, events(1), { expectedRevision: 2n });
      expect(await revisionsOf(stream)).to.deep.equal([3n]);
    });

    it('answers stream_exists on a deleted stream with StreamDeletedError', async () => {
      await store.appendToStream(stream, events(1));
      await store.deleteStream(stream);
      await expect(store.appendToStream(stream, events(1), { expectedRevision: 'stream_exists' })).to.be.rejectedWith(StreamDeletedError);
    });

    it('refuses to delete a stream with neither events nor metadata', async () => {
      await expect(store.deleteStream(stream)).to.be.rejectedWith(WrongExpectedRevisionError);
    });

    it('checks the expected revision', async () => {
      await store.appendToStream(stream, events(3));
      await expect(store.deleteStream(stream, { expectedRevision: 1n })).to.be.rejectedWith(WrongExpectedRevisionError);
      await store.deleteStream(stream, { expectedRevision: 2n });
      expect((await store.getStreamInfo(stream)).softDeleted).to.equal(true);
    });
  });

  describe('tombstoneStream (hard delete)', () => {
    it('deletes the stream for ever', async () => {
      await store.appendToStream(stream, events(2));
      await store.tombstoneStream(stream);
      await expect(collect(store.readStream(stream))).to.be.rejectedWith(StreamDeletedError);
      await expect(store.appendToStream(stream, events(1))).to.be.rejectedWith(StreamDeletedError);
      await expect(store.appendToStream(stream, events(1), { expectedRevision: 'no_stream' })).to.be.rejectedWith(StreamDeletedError);
      await expect(store.tombstoneStream(stream)).to.be.rejectedWith(StreamDeletedError);
      expect((await store.getStreamInfo(stream)).tombstoned).to.equal(true);
    });

    it('can tombstone a stream that never existed, so its name cannot be used', async () => {
      await store.tombstoneStream(stream);
      await expect(store.appendToStream(stream, events(1))).to.be.rejectedWith(StreamDeletedError);
    });
  });

  describe('stream metadata', () => {
    it('round-trips metadata with the metastream revision', async () => {
      expect((await store.getStreamMetadata(stream)).metastreamRevision).to.equal(undefined);
      await store.setStreamMetadata(stream, { maxCount: 10, cacheControl: 60, acl: { readRoles: ['$admins', 'ops'] }, custom: { team: 'fraud' } });
      const meta = await store.getStreamMetadata(stream);
      expect(meta.metastreamRevision).to.equal(0n);
      expect(meta.metadata).to.deep.equal({ maxCount: 10, cacheControl: 60, acl: { readRoles: ['$admins', 'ops'] }, custom: { team: 'fraud' } });
      const [raw] = await collect(store.readStream(`$$${stream}`));
      expect(raw!.type).to.equal('$metadata');
      expect(raw!.data).to.deep.equal({ $maxCount: 10, $cacheControl: 60, $acl: { $r: ['$admins', 'ops'] }, team: 'fraud' });
    });

    it('checks the metastream expected revision', async () => {
      await store.setStreamMetadata(stream, { maxCount: 5 }, { expectedRevision: 'no_stream' });
      await expect(store.setStreamMetadata(stream, { maxCount: 6 }, { expectedRevision: 'no_stream' })).to.be.rejectedWith(WrongExpectedRevisionError);
      await store.setStreamMetadata(stream, { maxCount: 6 }, { expectedRevision: 0n });
      expect((await store.getStreamMetadata(stream)).metadata.maxCount).to.equal(6);
    });

    it('hides events beyond $maxCount', async () => {
      await store.appendToStream(stream, events(10));
      await store.setStreamMetadata(stream, { maxCount: 3 });
      expect(await revisionsOf(stream)).to.deep.equal([7n, 8n, 9n]);
      expect((await collect(store.readStream(stream, { direction: 'backwards' }))).map((e) => e.revision)).to.deep.equal([9n, 8n, 7n]);
    });

    it('hides events before $tb', async () => {
      await store.appendToStream(stream, events(5));
      await store.setStreamMetadata(stream, { truncateBefore: 3n });
      expect(await revisionsOf(stream)).to.deep.equal([3n, 4n]);
    });

    it('hides events older than $maxAge', async () => {
      await store.appendToStream(stream, events(2));
      now += 120_000;
      await store.appendToStream(stream, events(1));
      await store.setStreamMetadata(stream, { maxAge: 60 });
      expect(await revisionsOf(stream)).to.deep.equal([2n]);
      now += 120_000;
      expect(await revisionsOf(stream)).to.deep.equal([]);
    });
  });

  describe('links', () => {
    it('resolves a $> link to its target on request and leaves it alone otherwise', async () => {
      await store.appendToStream(stream, events(2));
      await store.appendToStream(`links-${stream}`, [{ type: '$>', data: `1@${stream}` }]);
      const [plain] = await collect(store.readStream(`links-${stream}`));
      expect(plain!.type).to.equal('$>');
      const [resolved] = await collect(store.readStream(`links-${stream}`, { resolveLinks: true }));
      expect(resolved!.streamId).to.equal(stream);
      expect(resolved!.revision).to.equal(1n);
      expect(resolved!.link?.streamId).to.equal(`links-${stream}`);
      expect(resolved!.link?.type).to.equal('$>');
    });

    it('does not resolve a link to a deleted event', async () => {
      await store.appendToStream(stream, events(1));
      await store.appendToStream(`links-${stream}`, [{ type: '$>', data: `0@${stream}` }]);
      await store.deleteStream(stream);
      const [e] = await collect(store.readStream(`links-${stream}`, { resolveLinks: true }));
      expect(e!.type).to.equal('$>');
      expect(e!.link).to.equal(undefined);
    });
  });

  describe('subscriptions', () => {
    it('delivers a stream\'s history, then live events, starting after the given revision', async () => {
      await store.appendToStream(stream, events(3));
      let caughtUp = false;
      const sub = store.subscribeToStream(stream, { fromRevision: 0n, onCaughtUp: () => (caughtUp = true) });
      const got = take(sub, 5);
      await new Promise((r) => setTimeout(r, 50));
      await store.appendToStream(stream, events(3));
      const received = await got;
      expect(received.map((e) => e.revision)).to.deep.equal([1n, 2n, 3n, 4n, 5n]);
      expect(caughtUp).to.equal(true);
    });

    it('from end delivers only new events; from start everything', async () => {
      await store.appendToStream(stream, events(2));
      const fromEnd = store.subscribeToStream(stream, { fromRevision: 'end' });
      const fromStart = store.subscribeToStream(stream);
      const a = take(fromEnd, 1);
      const b = take(fromStart, 3);
      await new Promise((r) => setTimeout(r, 50));
      await store.appendToStream(stream, events(1));
      expect((await a).map((e) => e.revision)).to.deep.equal([2n]);
      expect((await b).map((e) => e.revision)).to.deep.equal([0n, 1n, 2n]);
    });

    it('waits for a stream that does not exist yet', async () => {
      const got = take(store.subscribeToStream(stream), 2);
      await new Promise((r) => setTimeout(r, 30));
      await store.appendToStream(stream, events(2));
      expect((await got).map((e) => e.revision)).to.deep.equal([0n, 1n]);
    });

    it('delivers every event once, in order, while appenders race the catch-up', async () => {
      await store.appendToStream(stream, events(300));
      const sub = store.subscribeToStream(stream);
      const got = take(sub, 1300, 30_000);
      await Promise.all(Array.from({ length: 10 }, (_, w) => (async () => {
        for (let i = 0; i < 10; i++) await store.appendToStream(stream, events(10, `W${w}`));
      })()));
      const received = await got;
      expect(received.map((e) => e.revision)).to.deep.equal(Array.from({ length: 1300 }, (_, i) => BigInt(i)));
    });

    it('lets a slow consumer fall behind and catch up without losing or repeating events', async () => {
      const sub = store.subscribeToAll({ filter: { streamNamePrefix: [stream] } });
      const received: RecordedEvent[] = [];
      const consumer = (async () => {
        for await (const e of sub) {
          received.push(e);
          if (received.length % 100 === 0) await new Promise((r) => setTimeout(r, 5));
          if (received.length === 3000) break;
        }
      })();
      for (let i = 0; i < 30; i++) await store.appendToStream(stream, events(100, 'Fast', i * 100));
      await consumer;
      expect(received.map((e) => (e.data as { n: number }).n)).to.deep.equal(Array.from({ length: 3000 }, (_, i) => i));
    });

    it('filters $all and reports checkpoints while the filter matches nothing', async () => {
      const checkpoints: bigint[] = [];
      const sub = store.subscribeToAll({ filter: { eventTypePrefix: ['Rare'] }, checkpointInterval: 10, onCheckpoint: (p) => void checkpoints.push(p) });
      const got = take(sub, 1);
      await store.appendToStream(stream, events(50, 'Common'));
      await store.appendToStream(stream, events(1, 'Rare'));
      const [rare] = await got;
      expect(rare!.type).to.equal('Rare');
      expect(checkpoints.length).to.be.greaterThanOrEqual(5);
      for (let i = 1; i < checkpoints.length; i++) expect(checkpoints[i]! > checkpoints[i - 1]!).to.equal(true);
    });

    it('subscribes to $all from a position, exclusively', async () => {
      const first = await store.appendToStream(stream, events(1));
      await store.appendToStream(stream, events(2));
      const received = await take(store.subscribeToAll({ fromPosition: first.position, filter: { streamNamePrefix: [stream] } }), 2);
      expect(received.map((e) => e.revision)).to.deep.equal([1n, 2n]);
    });

    it('ends iteration when closed', async () => {
      const sub = store.subscribeToStream(stream);
      const done = collect(sub);
      await new Promise((r) => setTimeout(r, 20));
      await sub.close();
      expect(await done).to.deep.equal([]);
    });
  });

  describe('bad input', () => {
    const rejects = async (p: () => Promise<unknown>, type: Function, code: string) => {
      const before = await count();
      const error = await Promise.resolve().then(p).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, 'expected a rejection').to.be.instanceOf(type);
      expect((error as { code: string }).code).to.equal(code);
      expect(await count(), 'nothing may be written').to.equal(before);
    };

    it('rejects empty, over-long and control-character stream names', async () => {
      await rejects(() => store.appendToStream('', events(1)), InvalidArgumentError, 'invalid-stream-name');
      await rejects(() => store.appendToStream('x'.repeat(2000), events(1)), InvalidArgumentError, 'invalid-stream-name');
      await rejects(() => store.appendToStream('a\nb', events(1)), InvalidArgumentError, 'invalid-stream-name');
      await rejects(() => store.appendToStream('$all', events(1)), InvalidArgumentError, 'invalid-stream-name');
      await rejects(() => store.appendToStream(42 as unknown as string, events(1)), InvalidArgumentError, 'invalid-stream-name');
    });

    it('rejects an event without a type, with a bad id, or repeated ids, writing none of the batch', async () => {
      await rejects(() => store.appendToStream(stream, [...events(1), { data: {} } as unknown as EventData]), InvalidArgumentError, 'invalid-event');
      await rejects(() => store.appendToStream(stream, [{ type: '', data: {} }]), InvalidArgumentError, 'invalid-event');
      await rejects(() => store.appendToStream(stream, [{ id: 'not-a-uuid', type: 'T' }]), InvalidArgumentError, 'invalid-event');
      const id = randomUUID();
      await rejects(() => store.appendToStream(stream, [{ id, type: 'T' }, { id, type: 'T' }]), InvalidArgumentError, 'invalid-event');
      // A long batch whose repeat differs only in case (ids are compared normalised), and a short one.
      for (const n of [5, 20]) {
        const batch = events(n);
        batch[n - 2] = { ...batch[n - 2]!, id: batch[1]!.id!.toUpperCase() };
        const error = await store.appendToStream(stream, batch).then(() => undefined, (e: unknown) => e);
        expect(error, `${n} events`).to.be.instanceOf(InvalidArgumentError);
        expect((error as Error).message).to.contain(`Event ${n - 2} repeats the id ${batch[1]!.id}`);
      }
      expect((await store.getStreamInfo(stream)).lastRevision).to.equal(-1n);
      await rejects(() => store.appendToStream(stream, null as unknown as EventData[]), InvalidArgumentError, 'invalid-event');
    });

    it('rejects data that is not serialisable', async () => {
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      await rejects(() => store.appendToStream(stream, [{ type: 'T', data: circular }]), InvalidArgumentError, 'invalid-event');
      await rejects(() => store.appendToStream(stream, [{ type: 'T', data: { n: 1n } }]), InvalidArgumentError, 'invalid-event');
      await rejects(() => store.appendToStream(stream, [{ type: 'T', data: () => 1 }]), InvalidArgumentError, 'invalid-event');
      await rejects(() => store.appendToStream(stream, [{ type: 'T', metadata: 'text' }]), InvalidArgumentError, 'invalid-event');
    });

    it('rejects an oversized event', async () => {
      await rejects(() => store.appendToStream(stream, [{ type: 'T', data: { blob: 'x'.repeat(2 * 1024 * 1024) } }]), EventTooLargeError, 'event-too-large');
    });

    it('rejects an invalid expected revision', async () => {
      for (const bad of [-1n, 'sometimes', 1.5, -3, null]) {
        await rejects(() => store.appendToStream(stream, events(1), { expectedRevision: bad as never }), InvalidArgumentError, 'invalid-argument');
      }
    });

    it('rejects a metastream write that is not valid metadata', async () => {
      await rejects(() => store.appendToStream(`$$${stream}`, [{ type: 'NotMetadata', data: {} }]), InvalidArgumentError, 'invalid-metadata');
      await rejects(() => store.appendToStream(`$$${stream}`, [{ type: '$metadata', data: { $maxCount: -1 } }]), InvalidArgumentError, 'invalid-metadata');
      await rejects(() => store.appendToStream(`$$${stream}`, [{ type: '$metadata', data: [1, 2] }]), InvalidArgumentError, 'invalid-metadata');
      await rejects(() => store.setStreamMetadata(stream, { maxAge: 0 }), InvalidArgumentError, 'invalid-metadata');
      await rejects(() => store.setStreamMetadata(stream, { acl: { readRoles: 5 as never } }), InvalidArgumentError, 'invalid-metadata');
    });

    it('rejects bad read options', async () => {
      await expect(collect(store.readStream(stream, { direction: 'sideways' as never }))).to.be.rejectedWith(InvalidArgumentError);
      await expect(collect(store.readAll({ maxCount: -1 }))).to.be.rejectedWith(InvalidArgumentError);
      await expect(collect(store.readAll({ filter: { streamNameRegex: '(' } }))).to.be.rejectedWith(InvalidArgumentError);
    });
  });

  describe('scavenge', () => {
    it('reclaims deleted, truncated and tombstoned events and keeps the positions of the rest', async function () {
      if (!store.supports.scavenge) this.skip();
      await store.appendToStream(`gone-${stream}`, events(5));
      await store.appendToStream(`kept-${stream}`, events(3));
      await store.appendToStream(`trunc-${stream}`, events(6));
      await store.appendToStream(`dead-${stream}`, events(2));
      await store.deleteStream(`gone-${stream}`);
      await store.setStreamMetadata(`trunc-${stream}`, { maxCount: 2 });
      await store.tombstoneStream(`dead-${stream}`);
      const keptBefore = await collect(store.readStream(`kept-${stream}`));
      const result = await store.scavenge();
      expect(result.eventsRemoved).to.be.greaterThanOrEqual(4 + 4 + 2);
      const keptAfter = await collect(store.readStream(`kept-${stream}`));
      expect(keptAfter.map((e) => e.position)).to.deep.equal(keptBefore.map((e) => e.position));
      expect((await collect(store.readStream(`trunc-${stream}`))).map((e) => e.revision)).to.deep.equal([4n, 5n]);
      await expect(collect(store.readStream(`dead-${stream}`))).to.be.rejectedWith(StreamDeletedError);
      const r = await store.appendToStream(`gone-${stream}`, events(1));
      expect(r.nextExpectedRevision).to.equal(5n);
      const fromRemoved = await collect(store.readAll({ fromPosition: 0n, maxCount: 1 }));
      expect(fromRemoved).to.have.length(1);
    });
  });

  describe('close', () => {
    it('refuses work after close', async () => {
      await store.close();
      await expect(store.appendToStream(stream, events(1))).to.be.rejectedWith(StoreClosedError);
      await expect(collect(store.readAll())).to.be.rejectedWith(StoreClosedError);
    });
  });
}
