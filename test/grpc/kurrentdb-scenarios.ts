// The KurrentDB client's side of test/grpc/kurrentdb-client.e2e.test.ts, run in a worker thread of
// its own: the two official clients' generated code hang their message classes on one global
// namespace (`proto.event_store.client…`) whose classes look each other up when they run, so the
// KurrentDB client and @eventstore/db-client (which the other suites use) break each other in one
// JavaScript realm, whichever loads last. Each scenario is a specification written against the
// client as a user writes it; the test file names them and reports their failures.
import { randomUUID } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import {
  AccessDeniedError,
  BACKWARDS,
  END,
  FORWARDS,
  KurrentDBClient,
  PARK,
  START,
  StreamDeletedError,
  StreamNotFoundError,
  UnsupportedError,
  WrongExpectedVersionError,
  binaryEvent,
  jsonEvent,
  persistentSubscriptionToAllSettingsFromDefaults,
  persistentSubscriptionToStreamSettingsFromDefaults,
  streamNameFilter,
} from '@kurrent/kurrentdb-client';
import { expect } from '../support/chai.js';
import { collect, until } from './waiting.js';

/** What the test passes: where the server is, and how to sign in. */
export interface ScenarioServer {
  readonly port: number;
  readonly caFile: string;
  readonly adminPassword: string;
}

const { port, caFile, adminPassword } = workerData as ScenarioServer;
const clients: KurrentDBClient[] = [];
/** A client signed in over TLS, the only way the clients send credentials. */
const connect = (user = 'admin', password = adminPassword) => {
  const c = KurrentDBClient.connectionString(`kurrentdb://${user}:${password}@localhost:${port}?tls=true&tlsCAFile=${encodeURIComponent(caFile)}`);
  clients.push(c);
  return c;
};
const client = connect();
const ADMIN_PASSWORD = adminPassword;
const stream = () => `kurrent-${randomUUID()}`;
const events = (...types: string[]) => types.map((type, i) => jsonEvent({ type, data: { i }, metadata: { $correlationId: 'k-1' } }));

export const scenarios = {
  /** appends with every stream state and reports the next revision and position */
  async appendsWithEveryStreamState() {
    const name = stream();
    const first = await client.appendToStream(name, events('A', 'B'), { streamState: 'no_stream' });
    expect(first).to.include({ success: true, nextExpectedRevision: 1n });
    const second = await client.appendToStream(name, events('C'), { streamState: 1n });
    expect(second.nextExpectedRevision).to.equal(2n);
    expect(second.position!.commit > first.position!.commit).to.equal(true);
    expect((await client.appendToStream(name, events('D'), { streamState: 'stream_exists' })).nextExpectedRevision).to.equal(3n);
    expect((await client.appendToStream(name, events('E'), { streamState: 'any' })).nextExpectedRevision).to.equal(4n);
  },

  /** rejects a failed concurrency check with WrongExpectedVersionError naming both states */
  async rejectsWrongExpectedVersion() {
    const name = stream();
    await client.appendToStream(name, events('A', 'B', 'C'));
    const behind = await expect(client.appendToStream(name, events('D'), { streamState: 0n })).to.be.rejectedWith(WrongExpectedVersionError);
    expect(behind).to.include({ streamName: name, expectedState: 0n, actualState: 2n });
    const missing = await expect(client.appendToStream(stream(), events('A'), { streamState: 'stream_exists' })).to.be.rejectedWith(WrongExpectedVersionError);
    expect(missing).to.include({ expectedState: 'stream_exists', actualState: 'no_stream' });
  },

  /** goes through the Append RPC with per-call credentials, and keeps binary data as bytes */
  async appendsThroughAppendRpc() {
    const name = stream();
    const r = await client.appendToStream(name, binaryEvent({ type: 'Blob', data: new Uint8Array([0, 1, 2, 255]) }), { credentials: { username: 'admin', password: ADMIN_PASSWORD } });
    expect(r.nextExpectedRevision).to.equal(0n);
    const [e] = await collect(client.readStream(name));
    expect(e!.event!.isJson).to.equal(false);
    expect([...(e!.event!.data as Uint8Array)]).to.deep.equal([0, 1, 2, 255]);
  },

  /** reports the v2 append protocol (multiStreamAppend) as unsupported instead of calling it */
  async refusesMultiStreamAppend() {
    await expect(client.multiStreamAppend([{ streamName: stream(), events: events('A'), expectedState: 'any' }])).to.be.rejectedWith(UnsupportedError);
  },

  /** reads a stream and $all both ways, with type, data, metadata and created */
  async readsBothWays() {
    const name = stream();
    await client.appendToStream(name, events('A', 'B', 'C'));
    const forwards = await collect(client.readStream(name, { direction: FORWARDS, fromRevision: START }));
    expect(forwards.map((r) => r.event!.type)).to.deep.equal(['A', 'B', 'C']);
    expect(forwards[0]!.event).to.deep.include({ data: { i: 0 }, metadata: { $correlationId: 'k-1' }, streamId: name });
    expect(forwards[0]!.event!.created).to.be.a('date');
    const backwards = await collect(client.readStream(name, { direction: BACKWARDS, fromRevision: END, maxCount: 2 }));
    expect(backwards.map((r) => r.event!.revision)).to.deep.equal([2n, 1n]);
    const last = await collect(client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 3 }));
    expect(last.map((r) => r.event!.type)).to.deep.equal(['C', 'B', 'A']);
    const fromLast = await collect(client.readAll({ direction: FORWARDS, fromPosition: last[0]!.event!.position!, maxCount: 1 }));
    expect(fromLast.map((r) => r.event!.type)).to.deep.equal(['C']);
    await expect(collect(client.readStream(stream()))).to.be.rejectedWith(StreamNotFoundError);
  },

  /** soft-deletes and tombstones streams, and sets and gets metadata */
  async deletesTombstonesAndMetadata() {
    const soft = stream();
    await client.appendToStream(soft, events('A'));
    await client.deleteStream(soft, { expectedRevision: 0n });
    await expect(collect(client.readStream(soft))).to.be.rejectedWith(StreamNotFoundError);
    const hard = stream();
    await client.appendToStream(hard, events('A'));
    await client.tombstoneStream(hard);
    await expect(client.appendToStream(hard, events('B'))).to.be.rejectedWith(StreamDeletedError);
    const capped = stream();
    await client.appendToStream(capped, events('A', 'B', 'C'));
    await client.setStreamMetadata(capped, { maxCount: 1 });
    expect((await client.getStreamMetadata(capped)).metadata).to.include({ maxCount: 1 });
    expect((await collect(client.readStream(capped))).map((e) => e.event!.type)).to.deep.equal(['C']);
  },

  /** catches up on a stream, then delivers live events */
  async subscribesToStream() {
    const name = stream();
    await client.appendToStream(name, events('A', 'B'));
    const subscription = client.subscribeToStream(name, { fromRevision: START });
    setTimeout(() => void client.appendToStream(name, events('C')), 300);
    const seen: string[] = [];
    for await (const e of subscription) {
      seen.push(e.event!.type);
      if (seen.length === 3) break;
    }
    expect(seen).to.deep.equal(['A', 'B', 'C']);
  },

  /** subscribes to $all with a stream-name filter */
  async subscribesToAllFiltered() {
    const prefix = `kfiltered-${randomUUID()}-`;
    await client.appendToStream(`${prefix}1`, events('A'));
    await client.appendToStream(stream(), events('Noise'));
    const subscription = client.subscribeToAll({ fromPosition: START, filter: streamNameFilter({ prefixes: [prefix] }) });
    setTimeout(() => void client.appendToStream(`${prefix}2`, events('B')), 300);
    const seen: string[] = [];
    for await (const e of subscription) {
      seen.push(`${e.event!.streamId}:${e.event!.type}`);
      if (seen.length === 2) break;
    }
    expect(seen).to.deep.equal([`${prefix}1:A`, `${prefix}2:B`]);
  },

  /** shares a persistent subscription group between consumers, and parks a nacked message */
  async sharesPersistentGroup() {
    const name = stream();
    await client.createPersistentSubscriptionToStream(name, 'workers', persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START }));
    await client.appendToStream(name, [...events('Job', 'Job', 'Job', 'Job'), ...events('Poison')]);
    const handled: string[] = [];
    const consume = async () => {
      const sub = client.subscribeToPersistentSubscriptionToStream(name, 'workers', { bufferSize: 1 });
      for await (const e of sub) {
        if (e.event!.type === 'Poison') await sub.nack(PARK, 'cannot handle', e);
        else await sub.ack(e);
        handled.push(e.event!.type);
        if (handled.length >= 5) break;
      }
      await sub.unsubscribe();
    };
    await Promise.race([Promise.all([consume(), consume()]), until('five messages', async () => handled.length, (n) => n >= 5)]);
    expect(handled.filter((t) => t === 'Job')).to.have.length(4);
    await until('one parked', async () => Number((await client.getPersistentSubscriptionToStreamInfo(name, 'workers')).stats.parkedMessageCount), (n) => n === 1);
  },

  /** reports persistent subscriptions to $all as unsupported (not advertised) */
  async refusesPersistentToAll() {
    await expect(client.createPersistentSubscriptionToAll(`g-${randomUUID()}`, persistentSubscriptionToAllSettingsFromDefaults())).to.be.rejectedWith(UnsupportedError);
  },

  /** creates a projection, reads its state, and deletes it */
  async managesProjections() {
    const name = `kurrent-counter-${randomUUID().slice(0, 8)}`;
    const source = `kurrent-orders-${randomUUID().slice(0, 8)}`;
    await client.createProjection(name, `fromStream('${source}').when({ $init: function () { return { n: 0 }; }, Placed: function (s) { s.n += 1; return s; } });`);
    await client.appendToStream(source, events('Placed', 'Placed', 'Placed'));
    await until('n = 3', () => client.getProjectionState<{ n: number }>(name), (v) => v?.n === 3);
    await client.disableProjection(name);
    await client.deleteProjection(name);
    expect((await client.listProjections()).map((p) => p.name)).not.to.include(name);
  },

  /** refuses a wrong password with AccessDeniedError */
  async refusesWrongPassword() {
    const bad = connect('admin', 'not-the-password');
    await expect(bad.appendToStream(stream(), events('A'))).to.be.rejectedWith(AccessDeniedError);
  },

} satisfies Record<string, () => Promise<void>>;

export type ScenarioName = keyof typeof scenarios;

/** Runs a scenario per message; answers with nothing, or with the failure's message and stack. */
parentPort?.on('message', (message: { id: number; scenario: ScenarioName } | 'close') => {
  if (message === 'close') {
    void Promise.all(clients.map((c) => c.dispose())).then(() => parentPort!.postMessage('closed'));
    return;
  }
  scenarios[message.scenario]().then(
    () => parentPort!.postMessage({ id: message.id }),
    (e: unknown) => parentPort!.postMessage({ id: message.id, failure: { message: (e as Error)?.message ?? String(e), stack: (e as Error)?.stack ?? '' } }),
  );
});
