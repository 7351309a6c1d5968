// The official Node client (@eventstore/db-client) against a real Telltale server, unchanged:
// appends with every expected state, reads both ways, subscriptions, delete, tombstone, metadata.
import { randomUUID } from 'node:crypto';
import {
  BACKWARDS,
  END,
  FORWARDS,
  START,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
  binaryEvent,
  eventTypeFilter,
  jsonEvent,
  streamNameFilter,
  type EventStoreDBClient,
} from '@eventstore/db-client';
import { expect } from '../support/chai.js';
import { collect, startGrpcServer, type GrpcRunning } from './grpc-fixture.js';

describe('gRPC Streams with the official client', function () {
  this.timeout(30_000);
  let s: GrpcRunning;
  let client: EventStoreDBClient;
  before(async () => {
    s = await startGrpcServer();
    client = s.client();
  });
  after(async () => {
    await s.stop();
  });

  const stream = () => `grpc-${randomUUID()}`;
  const events = (...types: string[]) => types.map((type, i) => jsonEvent({ type, data: { i }, metadata: { $correlationId: 'c-1' } }));

  describe('appendToStream', () => {
    it('appends with no_stream, then an exact revision, and reports the next revision and position', async () => {
      const name = stream();
      const first = await client.appendToStream(name, events('A', 'B'), { expectedRevision: 'no_stream' });
      expect(first.success).to.equal(true);
      expect(first.nextExpectedRevision).to.equal(1n);
      expect(first.position?.commit).to.be.a('bigint');
      const second = await client.appendToStream(name, events('C'), { expectedRevision: 1n });
      expect(second.nextExpectedRevision).to.equal(2n);
      expect(second.position!.commit > first.position!.commit).to.equal(true);
    });

    it('appends with any and stream_exists', async () => {
      const name = stream();
      await client.appendToStream(name, events('A'), { expectedRevision: 'any' });
      const r = await client.appendToStream(name, events('B'), { expectedRevision: 'stream_exists' });
      expect(r.nextExpectedRevision).to.equal(1n);
    });

    it('rejects no_stream on an existing stream with WrongExpectedVersionError', async () => {
      const name = stream();
      await client.appendToStream(name, events('A'));
      const e = await expect(client.appendToStream(name, events('B'), { expectedRevision: 'no_stream' })).to.be.rejectedWith(WrongExpectedVersionError);
      expect(e).to.include({ streamName: name, expectedVersion: 'no_stream', actualVersion: 0n });
    });

    it('rejects a revision that is behind the stream, and stream_exists on a missing stream', async () => {
      const name = stream();
      await client.appendToStream(name, events('A', 'B', 'C'));
      const behind = await expect(client.appendToStream(name, events('D'), { expectedRevision: 0n })).to.be.rejectedWith(WrongExpectedVersionError);
      expect(behind).to.include({ expectedVersion: 0n, actualVersion: 2n });
      const missing = await expect(client.appendToStream(stream(), events('A'), { expectedRevision: 'stream_exists' })).to.be.rejectedWith(WrongExpectedVersionError);
      expect(missing).to.include({ expectedVersion: 'stream_exists', actualVersion: 'no_stream' });
    });

    it('is idempotent for the same event ids at the same place', async () => {
      const name = stream();
      const batch = events('A', 'B');
      await client.appendToStream(name, batch, { expectedRevision: 'no_stream' });
      const again = await client.appendToStream(name, batch, { expectedRevision: 'no_stream' });
      expect(again.nextExpectedRevision).to.equal(1n);
      expect(await collect(client.readStream(name))).to.have.length(2);
    });

    it('answers instead of throwing when throwOnAppendFailure is off (the Append RPC, per-call credentials)', async () => {
      const name = stream();
      await client.appendToStream(name, events('A'));
      const r = await client.appendToStream(name, events('B'), { expectedRevision: 5n, credentials: { username: 'admin', password: 'grpc-admin-secret' } }).catch((e: unknown) => e);
      expect(r).to.be.instanceOf(WrongExpectedVersionError);
      expect(r).to.include({ expectedVersion: 5n, actualVersion: 0n });
    });

    it('keeps binary data and metadata as bytes', async () => {
      const name = stream();
      await client.appendToStream(name, binaryEvent({ type: 'Blob', data: new Uint8Array([0, 1, 2, 255]) }));
      const [e] = await collect(client.readStream(name));
      expect(e!.event!.isJson).to.equal(false);
      expect([...(e!.event!.data as Uint8Array)]).to.deep.equal([0, 1, 2, 255]);
    });
  });

  describe('readStream and readAll', () => {
    it('reads a stream forwards and backwards with type, data, metadata and created', async () => {
      const name = stream();
      const before = Date.now();
      await client.appendToStream(name, events('A', 'B', 'C'));
      const forwards = await collect(client.readStream(name, { direction: FORWARDS, fromRevision: START }));
      expect(forwards.map((r) => [r.event!.type, r.event!.revision])).to.deep.equal([
        ['A', 0n],
        ['B', 1n],
        ['C', 2n],
      ]);
      const e = forwards[0]!.event!;
      expect(e.data).to.deep.equal({ i: 0 });
      expect(e.metadata).to.deep.equal({ $correlationId: 'c-1' });
      expect(e.streamId).to.equal(name);
      expect(e.created.getTime()).to.be.within(before - 1000, Date.now() + 1000);
      const backwards = await collect(client.readStream(name, { direction: BACKWARDS, fromRevision: END, maxCount: 2 }));
      expect(backwards.map((r) => r.event!.revision)).to.deep.equal([2n, 1n]);
      const from1 = await collect(client.readStream(name, { fromRevision: 1n, maxCount: 1 }));
      expect(from1.map((r) => r.event!.type)).to.deep.equal(['B']);
    });

    it('throws StreamNotFoundError for a stream that does not exist', async () => {
      await expect(collect(client.readStream(stream()))).to.be.rejectedWith(StreamNotFoundError);
    });

    it('reads $all forwards and backwards, with positions that strictly increase', async () => {
      const name = stream();
      await client.appendToStream(name, events('X', 'Y'));
      const all = await collect(client.readAll({ direction: FORWARDS, fromPosition: START, maxCount: 10_000 }));
      const positions = all.map((r) => r.event!.position!.commit);
      positions.forEach((p, i) => i > 0 && expect(p > positions[i - 1]!).to.equal(true));
      expect(all.filter((r) => r.event!.streamId === name).map((r) => r.event!.type)).to.deep.equal(['X', 'Y']);
      const last = await collect(client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 2 }));
      expect(last.map((r) => r.event!.type)).to.deep.equal(['Y', 'X']);
      // Backwards from an event's position reads what came before it.
      const before = await collect(client.readAll({ direction: BACKWARDS, fromPosition: last[0]!.event!.position!, maxCount: 1 }));
      expect(before[0]!.event!.type).to.equal('X');
    });
  });

  describe('deleteStream, tombstoneStream and metadata', () => {
    it('soft-deletes: reads say not found, and appending again continues the numbering', async () => {
      const name = stream();
      await client.appendToStream(name, events('A', 'B'));
      await client.deleteStream(name, { expectedRevision: 1n });
      await expect(collect(client.readStream(name))).to.be.rejectedWith(StreamNotFoundError);
      const r = await client.appendToStream(name, events('C'));
      expect(r.nextExpectedRevision).to.equal(2n);
      expect((await collect(client.readStream(name))).map((e) => e.event!.revision)).to.deep.equal([2n]);
    });

    it('refuses to delete with a wrong expected revision', async () => {
      const name = stream();
      await client.appendToStream(name, events('A'));
      await expect(client.deleteStream(name, { expectedRevision: 7n })).to.be.rejectedWith(WrongExpectedVersionError);
    });

    it('tombstones: reads and appends raise StreamDeletedError for good', async () => {
      const name = stream();
      await client.appendToStream(name, events('A'));
      await client.tombstoneStream(name);
      await expect(collect(client.readStream(name))).to.be.rejectedWith(StreamDeletedError);
      await expect(client.appendToStream(name, events('B'))).to.be.rejectedWith(StreamDeletedError);
    });

    it('sets and gets stream metadata ($maxCount honoured on reads)', async () => {
      const name = stream();
      await client.appendToStream(name, events('A', 'B', 'C'));
      await client.setStreamMetadata(name, { maxCount: 2, custom: 'yes' } as never);
      const { metadata } = await client.getStreamMetadata(name);
      expect(metadata).to.include({ maxCount: 2, custom: 'yes' });
      expect((await collect(client.readStream(name))).map((e) => e.event!.type)).to.deep.equal(['B', 'C']);
    });
  });

  describe('subscribeToStream and subscribeToAll', () => {
    it('catches up on a stream, then delivers live events, from an exclusive revision', async () => {
      const name = stream();
      await client.appendToStream(name, events('A', 'B', 'C'));
      const subscription = client.subscribeToStream(name, { fromRevision: 0n });
      const seen: string[] = [];
      let caughtUp = false;
      subscription.on('caughtUp' as never, () => (caughtUp = true));
      setTimeout(() => void client.appendToStream(name, events('D')), 300);
      for await (const e of subscription) {
        seen.push(e.event!.type);
        if (seen.length === 3) break;
      }
      expect(seen).to.deep.equal(['B', 'C', 'D']);
      void caughtUp;
    });

    it('delivers only new events from the end', async () => {
      const name = stream();
      await client.appendToStream(name, events('Old'));
      const subscription = client.subscribeToStream(name, { fromRevision: END });
      await new Promise<void>((resolve) => subscription.once('confirmation', () => resolve()));
      await client.appendToStream(name, events('New'));
      for await (const e of subscription) {
        expect(e.event!.type).to.equal('New');
        break;
      }
    });

    it('subscribes to $all with a stream-name prefix filter and reports checkpoints', async () => {
      const prefix = `filtered-${randomUUID()}-`;
      await client.appendToStream(`${prefix}1`, events('A'));
      await client.appendToStream(stream(), events('Noise'));
      const checkpoints: bigint[] = [];
      const subscription = client.subscribeToAll({
        fromPosition: START,
        filter: streamNameFilter({ prefixes: [prefix], checkpointInterval: 1, maxSearchWindow: 1, checkpointReached: (_s: unknown, p: { commit: bigint }) => void checkpoints.push(p.commit) } as never),
      });
      setTimeout(() => void client.appendToStream(`${prefix}2`, events('B')), 300);
      const seen: string[] = [];
      for await (const e of subscription) {
        seen.push(`${e.event!.streamId}:${e.event!.type}`);
        if (seen.length === 2) break;
      }
      expect(seen).to.deep.equal([`${prefix}1:A`, `${prefix}2:B`]);
      expect(checkpoints.length).to.be.greaterThan(0);
    });

    it('filters $all by event type', async () => {
      const type = `Type${randomUUID().slice(0, 8)}`;
      await client.appendToStream(stream(), [jsonEvent({ type, data: {} }), jsonEvent({ type: 'Other', data: {} })]);
      const subscription = client.subscribeToAll({ fromPosition: START, filter: eventTypeFilter({ prefixes: [type] }) });
      for await (const e of subscription) {
        expect(e.event!.type).to.equal(type);
        break;
      }
    });
  });
});
