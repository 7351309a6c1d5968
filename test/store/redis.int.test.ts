// The Redis backend: the whole conformance suite on the shared Redis at 127.0.0.1:6379 and on a
// Redis Cluster this file starts, then outages made for real on a redis-server this file owns.
import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { BackendUnavailableError, EventStore, openStore, WrongExpectedRevisionError, type EventData, type RecordedEvent, type Store } from '../../store/index.js';
import { KeyLayout } from '../../store/redis/key-layout.js';
import { RedisBackend } from '../../store/redis/redis-backend.js';
import { parseRedisUrl } from '../../store/redis/redis-url.js';
import { LISTPACK_IDS } from '../../store/redis/scripts.js';
import { expect } from '../support/chai.js';
import { requireService } from '../support/services.js';
import { collect, storeConformance } from './conformance.js';
import { hasRedisServer, RedisClusterProcess, RedisServerProcess } from './redis-servers.js';

const REDIS_HOST = process.env.REDIS_HOST ?? '127.0.0.1';
const REDIS_PORT = Number(process.env.REDIS_PORT ?? 6379);

function events(n: number, type = 'Tested'): EventData[] {
  return Array.from({ length: n }, (_, i) => ({ id: randomUUID(), type, data: { n: i } }));
}

/** Deletes every key of a store: on each master, since a cluster keeps the store on one of them. */
async function dropStore(admin: Redis | Cluster, prefix: string): Promise<void> {
  const nodes = admin instanceof Cluster ? admin.nodes('master') : [admin];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', new KeyLayout(prefix).pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await node.unlink(...keys);
    } while (cursor !== '0');
  }
}

/** Runs the conformance suite on a fresh key prefix per test, dropping its keys after. */
function conformanceOn(url: () => string, admin: () => Redis | Cluster): void {
  let prefix = '';
  storeConformance({
    open: async ({ clock }) => {
      prefix = `tt-test-${randomUUID()}`;
      return openStore(`${url()}?prefix=${prefix}`, { clock });
    },
    cleanup: () => dropStore(admin(), prefix),
  });
}

describe('redis store', function () {
  this.timeout(30_000);
  let admin: Redis;
  before(async function () {
    await requireService(this, {
      name: 'Redis',
      host: REDIS_HOST,
      port: REDIS_PORT,
      howToEnable: 'start one with `redis-server --daemonize yes` (or set REDIS_HOST / REDIS_PORT)',
    });
    admin = new Redis({ host: REDIS_HOST, port: REDIS_PORT });
  });
  after(() => admin?.disconnect());

  conformanceOn(() => `redis://${REDIS_HOST}:${REDIS_PORT}`, () => admin);

  describe('group commit', () => {
    /** Opens a store with `maxCallsInFlight`, and records each commit call's group size and how many calls were in flight. */
    async function recordingStore(maxCallsInFlight?: number) {
      const prefix = `tt-test-${randomUUID()}`;
      const backend = await RedisBackend.open(parseRedisUrl(`redis://${REDIS_HOST}:${REDIS_PORT}?prefix=${prefix}`), maxCallsInFlight === undefined ? {} : { maxCallsInFlight });
      const store = new EventStore(backend);
      // Each script call's packed argument starts with its number of commits (commit-arguments.ts).
      const client = backend.client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
      const send = client.telltaleCommitBuffer!;
      const calls = { groups: [] as number[], inFlight: 0, mostInFlight: 0 };
      client.telltaleCommitBuffer = function (this: unknown, ...args: unknown[]) {
        calls.groups.push((args[4] as Buffer).readUInt32BE(0));
        calls.mostInFlight = Math.max(calls.mostInFlight, ++calls.inFlight);
        return send.apply(this, args).finally(() => calls.inFlight--);
      };
      return { store, calls, dispose: async () => { await store.close(); await dropStore(admin, prefix); } };
    }

    async function writeConcurrently(store: EventStore, writers: number, each: number): Promise<void> {
      await Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          for (let i = 0; i < each; i++) await store.appendToStream(`writer-${w}`, events(1), { expectedRevision: i === 0 ? 'no_stream' : BigInt(i - 1) });
        }),
      );
    }

    it('with one call in flight, settles concurrent writers into two groups of equal size, which Redis and the client work on in turn', async () => {
      const { store, calls, dispose } = await recordingStore(1);
      try {
        const writers = 100;
        await writeConcurrently(store, writers, 20);
        expect(calls.groups.reduce((a, b) => a + b, 0)).to.equal(writers * 20);
        expect(calls.mostInFlight).to.equal(1);
        // The first commit goes alone (and its writer stays one step ahead, so the last group is one
        // short); sending all that waited behind it every time kept groups of 1 and 99 alternating.
        expect(calls.groups.slice(1, -1).every((n) => n === writers / 2)).to.equal(true, `group sizes ${calls.groups.join(',')}`);
        expect(Number(await store.headPosition())).to.equal(writers * 20 + 1);
      } finally {
        await dispose();
      }
    });

    it('by default keeps two calls in flight and splits concurrent writers into groups of a third, so Redis finds the next group waiting', async () => {
      const { store, calls, dispose } = await recordingStore();
      try {
        const writers = 100;
        await writeConcurrently(store, writers, 20);
        expect(calls.groups.reduce((a, b) => a + b, 0)).to.equal(writers * 20);
        expect(calls.mostInFlight).to.equal(2);
        // The first two commits go alone; then no group takes more than a third of the writers (one
        // share per call in flight and one for the client), and groups do not crumble into small ones.
        const settled = calls.groups.slice(2, -2);
        expect(settled.every((n) => n <= Math.ceil(writers / 3))).to.equal(true, `group sizes ${calls.groups.join(',')}`);
        expect(settled.reduce((a, b) => a + b, 0) / settled.length).to.be.greaterThan(writers / 5, `group sizes ${calls.groups.join(',')}`);
        expect(Number(await store.headPosition())).to.equal(writers * 20 + 1);
        for (let w = 0; w < writers; w++) expect((await collect(store.readStream(`writer-${w}`))).map((e) => Number(e.revision))).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
      } finally {
        await dispose();
      }
    });
  });

  describe('commit notifications', () => {
    it('subscribe to the commit channel once the store has a listener, and then carry other stores\' commits', async () => {
      const prefix = `tt-test-${randomUUID()}`;
      const url = `redis://${REDIS_HOST}:${REDIS_PORT}?prefix=${prefix}`;
      const writer = await openStore(url);
      const reader = await openStore(url);
      const subscribers = async () => ((await admin.call('PUBSUB', 'SHARDNUMSUB', new KeyLayout(prefix).channel)) as [string, number])[1];
      try {
        await writer.appendToStream('first', events(1));
        await collect(reader.readAll());
        expect(await subscribers(), 'stores that only read and write').to.equal(0);
        const received: string[] = [];
        const sub = reader.subscribeToAll();
        for await (const e of sub) {
          received.push(e.streamId);
          // Caught up on 'first': only the other store's notification can bring 'second'.
          if (received.length === 1) await writer.appendToStream('second', events(1));
          if (received.length === 2) break;
        }
        expect(received).to.deep.equal(['first', 'second']);
        expect(await subscribers()).to.equal(1);
      } finally {
        await writer.close();
        await reader.close();
        await dropStore(admin, prefix);
      }
    });
  });

  describe('group commit of commits with several writes', () => {
    it('answers each commit of a group with its own writes\' outcomes', async () => {
      const prefix = `tt-test-${randomUUID()}`;
      const store = await openStore(`redis://${REDIS_HOST}:${REDIS_PORT}?prefix=${prefix}`);
      try {
        const retried = events(2);
        await store.appendToStream('b', retried);
        // Sent in one tick: the first two go alone (two calls in flight), the rest together in the
        // next script call, whose reply lists every write's outcome one after another.
        const settled = await Promise.allSettled([
          store.appendToStreams([{ streamId: 'a', events: events(1) }]),
          store.appendToStreams([
            { streamId: 'c', events: events(3), expectedRevision: 'no_stream' },
            { streamId: 'd', events: events(1) },
          ]),
          store.appendToStreams([
            { streamId: 'e', events: events(1) },
            { streamId: 'b', events: events(1), expectedRevision: 5n },
          ]),
          store.appendToStreams([{ streamId: 'b', events: retried, expectedRevision: 'no_stream' }]),
          store.appendToStreams([
            { streamId: 'f', events: events(2) },
            { streamId: 'g', events: events(1), expectedRevision: 'no_stream' },
            { streamId: 'a', events: events(1), expectedRevision: 0n },
          ]),
        ]);
        const values = settled.map((r) => (r.status === 'fulfilled' ? r.value.map((a) => [Number(a.nextExpectedRevision), Number(a.position), a.idempotent]) : r.reason));
        expect(values[0]).to.deep.equal([[0, 3, false]]);
        expect(values[1]).to.deep.equal([[2, 6, false], [0, 7, false]]);
        expect(values[2]).to.be.instanceOf(WrongExpectedRevisionError);
        expect(values[3]).to.deep.equal([[1, 2, true]]);
        expect(values[4]).to.deep.equal([[1, 9, false], [0, 10, false], [1, 11, false]]);
      } finally {
        await store.close();
        await dropStore(admin, prefix);
      }
    });
  });

  describe('single-event commits (the commit script\'s short path)', () => {
    it('are answered each on its own in one group: written, idempotent, wrong revision, missing stream', async () => {
      const prefix = `tt-test-${randomUUID()}`;
      const store = await openStore(`redis://${REDIS_HOST}:${REDIS_PORT}?prefix=${prefix}`);
      try {
        const [x0, x1] = events(2);
        await store.appendToStream('x', [x0!]);
        await store.appendToStream('x', [x1!]);
        // In one tick: the first two go alone, the rest in one script call.
        const settled = await Promise.allSettled([
          store.appendToStream('warm-up', events(1)),
          store.appendToStream('warm-up-2', events(1)),
          store.appendToStream('x', events(1), { expectedRevision: 1n }),
          store.appendToStream('x', [x0!]),
          store.appendToStream('x', events(1), { expectedRevision: 0n }),
          store.appendToStream('x', events(1), { expectedRevision: 'no_stream' }),
          store.appendToStream('y', events(1), { expectedRevision: 'stream_exists' }),
          store.appendToStream('y', events(1), { expectedRevision: 'no_stream' }),
          store.appendToStream('x', events(1), { expectedRevision: 'stream_exists' }),
          store.appendToStream('x', [x1!], { expectedRevision: 0n }),
        ]);
        const values = settled.map((r) => (r.status === 'fulfilled' ? [Number(r.value.nextExpectedRevision), Number(r.value.position), r.value.idempotent] : r.reason.constructor.name));
        expect(values.slice(2)).to.deep.equal([
          [2, 5, false],
          [0, 1, true],
          'WrongExpectedRevisionError',
          'WrongExpectedRevisionError',
          'WrongExpectedRevisionError',
          [0, 6, false],
          [3, 7, false],
          [1, 2, true],
        ]);
        expect((await collect(store.readStream('x'))).map((e) => Number(e.position))).to.deep.equal([1, 2, 5, 7]);
      } finally {
        await store.close();
        await dropStore(admin, prefix);
      }
    });
  });

  describe('stream names and types', () => {
    it('keep non-ASCII and long names byte for byte, in single-event and batched writes', async () => {
      const prefix = `tt-test-${randomUUID()}`;
      const store = await openStore(`redis://${REDIS_HOST}:${REDIS_PORT}?prefix=${prefix}`);
      try {
        const names = ['plain', 'ström-Ünïcode', 'emoji-🎉', `long-${'x'.repeat(80)}`, `long-ström-${'y'.repeat(80)}`];
        for (const name of names) {
          await store.appendToStream(name, events(1, `type-${name}`));
          await store.appendToStream(name, events(3, `type-${name}`));
        }
        for (const name of names) {
          const read = await collect(store.readStream(name));
          expect(read.map((e) => [e.streamId, e.type])).to.deep.equal(Array.from({ length: 4 }, () => [name, `type-${name}`]));
        }
        expect((await collect(store.readAll())).map((e) => e.streamId)).to.deep.equal(names.flatMap((n) => [n, n, n, n]));
      } finally {
        await store.close();
        await dropStore(admin, prefix);
      }
    });
  });

  // The commit script turns a stream's id index from a listpack into a hash table when a write takes
  // the stream past LISTPACK_IDS events (scripts.ts): retries must find ids from both sides of it.
  describe('the id index past LISTPACK_IDS events', () => {
    let prefix = '';
    afterEach(async () => dropStore(admin, prefix));

    it('becomes a hash table, keeps every id findable and leaves no field of its own', async () => {
      prefix = `tt-test-${randomUUID()}`;
      const store = await openStore(`redis://${REDIS_HOST}:${REDIS_PORT}?prefix=${prefix}`);
      const index = `${new KeyLayout(prefix).tag}:i:one`;
      try {
        const singles = events(LISTPACK_IDS);
        for (const e of singles) await store.appendToStream('one', [e]);
        // A server set to convert smaller hashes (hash-max-listpack-entries) has done so already.
        const [, entries] = (await admin.config('GET', 'hash-max-listpack-entries')) as [string, string];
        if (Number(entries) >= LISTPACK_IDS) expect(await admin.object('ENCODING', index)).to.equal('listpack');
        const crossing = events(3);
        await store.appendToStream('one', crossing);
        expect(await admin.object('ENCODING', index)).to.equal('hashtable');
        expect(await admin.hlen(index)).to.equal(LISTPACK_IDS + 3 + 1);

        const first = await store.appendToStream('one', [singles[0]!]);
        expect(first.idempotent).to.equal(true);
        expect(first.nextExpectedRevision).to.equal(0n);
        expect((await store.appendToStream('one', crossing)).idempotent).to.equal(true);
        expect((await store.appendToStream('one', crossing, { expectedRevision: BigInt(LISTPACK_IDS - 1) })).idempotent).to.equal(true);
        await expect(store.appendToStream('one', [...crossing.slice(1), ...events(1)])).to.be.rejectedWith(WrongExpectedRevisionError);
        expect((await collect(store.readStream('one'))).map((e) => e.id)).to.deep.equal([...singles, ...crossing].map((e) => e.id));
      } finally {
        await store.close();
      }
    });

    it('becomes a hash table when a single-event append takes the stream past it', async () => {
      prefix = `tt-test-${randomUUID()}`;
      const store = await openStore(`redis://${REDIS_HOST}:${REDIS_PORT}?prefix=${prefix}`);
      const index = `${new KeyLayout(prefix).tag}:i:one`;
      try {
        const singles = events(LISTPACK_IDS + 1);
        for (const e of singles.slice(0, LISTPACK_IDS)) await store.appendToStream('one', [e]);
        const [, entries] = (await admin.config('GET', 'hash-max-listpack-entries')) as [string, string];
        if (Number(entries) >= LISTPACK_IDS) expect(await admin.object('ENCODING', index)).to.equal('listpack');
        await store.appendToStream('one', [singles[LISTPACK_IDS]!]);
        expect(await admin.object('ENCODING', index)).to.equal('hashtable');
        expect(await admin.hlen(index)).to.equal(LISTPACK_IDS + 1 + 1);
        for (const k of [0, LISTPACK_IDS - 1, LISTPACK_IDS]) {
          const again = await store.appendToStream('one', [singles[k]!]);
          expect([again.idempotent, Number(again.nextExpectedRevision)]).to.deep.equal([true, k]);
        }
      } finally {
        await store.close();
      }
    });
  });

  // The layout stores a write's events as runs of up to 128 per `$all` entry (record-codec.ts):
  // reads, retries and scavenges must not see where one run ends and the next begins.
  describe('writes longer than one entry', () => {
    const prefixes: string[] = [];
    const open = async (readPageSize: number) => {
      const prefix = `tt-test-${randomUUID()}`;
      prefixes.push(prefix);
      return openStore(`redis://${REDIS_HOST}:${REDIS_PORT}?prefix=${prefix}`, { readPageSize });
    };
    afterEach(async () => {
      for (const prefix of prefixes.splice(0)) await dropStore(admin, prefix);
    });
    const positions = (events: RecordedEvent[]) => events.map((e) => Number(e.position));
    const range = (from: number, n: number, step = 1) => Array.from({ length: n }, (_, i) => from + i * step);

    for (const page of [1, 7, 512]) {
      it(`reads, retries and scavenges them across entry boundaries (pages of ${page})`, async () => {
        const store = await open(page);
        try {
          const big = events(300);
          await store.appendToStream('small', events(5));
          await store.appendToStream('big', big);
          await store.appendToStream('other', events(130));
          expect((await store.appendToStream('big', big)).idempotent).to.equal(true);
          expect((await store.appendToStream('big', big.slice(0, 200), { expectedRevision: 'no_stream' })).idempotent).to.equal(true);
          await expect(store.appendToStream('big', [...big.slice(250), ...events(1)], { expectedRevision: 249n })).to.be.rejectedWith(WrongExpectedRevisionError);

          const all = await collect(store.readAll());
          expect(positions(all)).to.deep.equal(range(1, 435));
          expect(positions(await collect(store.readAll({ direction: 'backwards' })))).to.deep.equal(range(435, 435, -1));
          expect(positions(await collect(store.readAll({ fromPosition: 100n, maxCount: 50 })))).to.deep.equal(range(100, 50));
          expect(positions(await collect(store.readAll({ fromPosition: 200n, direction: 'backwards', maxCount: 150 })))).to.deep.equal(range(200, 150, -1));
          const read = await collect(store.readStream('big'));
          expect(read.map((e) => e.id)).to.deep.equal(big.map((e) => e.id));
          expect(read.map((e) => (e.data as { n: number }).n)).to.deep.equal(range(0, 300));
          expect((await collect(store.readStream('big', { direction: 'backwards', fromRevision: 200n }))).map((e) => Number(e.revision))).to.deep.equal(range(200, 201, -1));

          // Truncations that cut entries in the middle, and a tombstone.
          await store.setStreamMetadata('big', { truncateBefore: 150n });
          await store.setStreamMetadata('other', { maxCount: 3 });
          await store.tombstoneStream('small');
          expect((await store.scavenge()).eventsRemoved).to.equal(150 + 127 + 5);
          const after = await collect(store.readAll());
          expect(after).to.have.length(435 + 3 - 282);
          expect(positions(await collect(store.readAll({ direction: 'backwards' })))).to.deep.equal(positions(after).reverse());
          expect((await collect(store.readStream('big'))).map((e) => Number(e.revision))).to.deep.equal(range(150, 150));
          expect((await collect(store.readStream('other'))).map((e) => Number(e.revision))).to.deep.equal([127, 128, 129]);
          expect(positions(await collect(store.readAll({ fromPosition: 2n, maxCount: 2 })))).to.deep.equal([156, 157]);
          expect(positions(await collect(store.readAll({ fromPosition: 310n, direction: 'backwards', maxCount: 2 })))).to.deep.equal([305, 304]);
        } finally {
          await store.close();
        }
      });
    }
  });
});

describe('redis cluster store', function () {
  this.timeout(60_000);
  let cluster: RedisClusterProcess | undefined;
  let admin: Cluster;
  before(async function () {
    if (!hasRedisServer()) {
      if (process.env.CI === 'true') throw new Error('redis-server is not installed, and CI requires every suite to run');
      this.skip();
    }
    this.timeout(60_000);
    cluster = await RedisClusterProcess.start(3);
    admin = new Cluster(cluster.servers.map((s) => ({ host: '127.0.0.1', port: s.port })));
  });
  after(async () => {
    admin?.disconnect();
    await cluster?.dispose();
  });

  conformanceOn(() => cluster!.url, () => admin);

  it('keeps a whole store in one slot and spreads stores over the masters', async () => {
    const slots = new Set<number>();
    for (let i = 0; i < 12; i++) {
      const keys = new KeyLayout(`tenant-${i}`);
      const slot = (await admin.cluster('KEYSLOT', keys.all)) as number;
      expect(await admin.cluster('KEYSLOT', keys.positions('order-1'))).to.equal(slot);
      expect(await admin.cluster('KEYSLOT', keys.head)).to.equal(slot);
      slots.add(slot);
    }
    expect(slots.size).to.be.greaterThan(1);
  });
});

describe('redis store failures', function () {
  this.timeout(60_000);
  let server: RedisServerProcess | undefined;
  const stores: Store[] = [];
  const open = async (url: string, options: { readPageSize?: number } = {}) => {
    const store = await openStore(url, options);
    stores.push(store);
    return store;
  };
  /** Retries an append through an outage, as a client would: the same ids make a retry safe. */
  const appendUntilDone = async (store: Store, stream: string, batch: EventData[], failures: unknown[]) => {
    for (;;) {
      try {
        return await store.appendToStream(stream, batch);
      } catch (e) {
        failures.push(e);
        if (!(e instanceof BackendUnavailableError)) throw e;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };

  /** Runs `fn` once the store has reconnected. */
  const whenAvailable = async <T>(fn: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof BackendUnavailableError)) throw e;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };

  before(function () {
    if (!hasRedisServer()) {
      if (process.env.CI === 'true') throw new Error('redis-server is not installed, and CI requires every suite to run');
      this.skip();
    }
  });
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close();
    await server?.dispose();
    server = undefined;
  });

  it('fails fast with BackendUnavailableError while Redis is down, and recovers when it is back', async () => {
    server = await RedisServerProcess.start();
    const store = await open(server.url);
    await store.appendToStream('orders-1', events(3));
    await server.stop({ save: true });
    const started = Date.now();
    await expect(store.appendToStream('orders-1', events(1))).to.be.rejectedWith(BackendUnavailableError, /Redis is unavailable/);
    await expect(collect(store.readAll())).to.be.rejectedWith(BackendUnavailableError);
    expect(Date.now() - started).to.be.lessThan(2000);
    await server.start();
    const failures: unknown[] = [];
    const r = await appendUntilDone(store, 'orders-1', events(1), failures);
    expect(r.nextExpectedRevision).to.equal(3n);
    expect((await collect(store.readStream('orders-1'))).map((e) => e.revision)).to.deep.equal([0n, 1n, 2n, 3n]);
  });

  it('never leaves part of a batch when connections are cut mid-append, and a retry writes each batch exactly once', async () => {
    server = await RedisServerProcess.start();
    const store = await open(server.url);
    const admin = new Redis({ port: server.port });
    const batches = Array.from({ length: 300 }, (_, i) => events(20, `Batch${i}`));
    const failures: unknown[] = [];
    let cutting = true;
    const cutter = (async () => {
      while (cutting) {
        await new Promise((r) => setTimeout(r, 15));
        await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      }
    })();
    // Ten writers, each appending its batches through the cuts.
    await Promise.all(Array.from({ length: 10 }, async (_, w) => {
      for (let i = w; i < batches.length; i += 10) await appendUntilDone(store, 'cut-stream', batches[i]!, failures);
    }));
    cutting = false;
    await cutter;
    admin.disconnect();
    expect(failures.length, 'the cuts must have hit appends in flight').to.be.greaterThan(0);
    for (const f of failures) expect(f).to.be.instanceOf(BackendUnavailableError);
    const read = await whenAvailable(() => collect(store.readStream('cut-stream')));
    expect(read).to.have.length(300 * 20);
    for (let i = 0; i < read.length; i += 20) {
      const slice = read.slice(i, i + 20);
      expect(new Set(slice.map((e) => e.type)).size, `batch at revision ${i} is whole`).to.equal(1);
      expect(slice.map((e) => (e.data as { n: number }).n)).to.deep.equal(Array.from({ length: 20 }, (_, k) => k));
    }
    expect(new Set(read.map((e) => e.type)).size).to.equal(300);
  });

  it('reports an unknown outcome when Redis stops answering mid-append; the retry is idempotent', async () => {
    server = await RedisServerProcess.start();
    const store = await open(`${server.url}?commandTimeout=300`);
    const batch = events(5);
    server.pause();
    try {
      await expect(store.appendToStream('frozen', batch)).to.be.rejectedWith(BackendUnavailableError, /outcome is unknown/);
    } finally {
      server.resume();
    }
    const retry = await appendUntilDone(store, 'frozen', batch, []);
    // The server ran the first attempt once it woke up: the retry finds every id in place.
    expect(retry.idempotent).to.equal(true);
    expect(await collect(store.readStream('frozen'))).to.have.length(5);
  });

  it('resumes a subscription in another store across a Redis crash and restart with no gap and no duplicate', async () => {
    // AOF with fsync on every write: an append acknowledged before the crash survives it.
    server = await RedisServerProcess.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    const writer = await open(server.url);
    // A slow reader with small pages is still reading history when Redis dies.
    const reader = await open(server.url, { readPageSize: 10 });
    const total = 200;
    const received: RecordedEvent[] = [];
    const sub = reader.subscribeToAll({ filter: { streamNamePrefix: ['crash-'] } });
    const consumer = (async () => {
      for await (const e of sub) {
        received.push(e);
        if (received.length === total * 5) break;
        if (received.length % 10 === 0) await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const failures: unknown[] = [];
    const write = async (from: number, to: number) => {
      for (let i = from; i < to; i++) await appendUntilDone(writer, `crash-${i % 7}`, events(5, `B${i}`), failures);
    };
    await write(0, total / 2);
    await new Promise((r) => setTimeout(r, 50));
    expect(received.length, 'the reader is still catching up').to.be.lessThan(total * 5 / 2);
    await server.stop({ signal: 'SIGKILL' });
    const writing = write(total / 2, total);
    await new Promise((r) => setTimeout(r, 300));
    await server.start();
    await writing;
    await consumer;
    expect(failures.length, 'the crash must have hit the writer').to.be.greaterThan(0);
    const stored = await collect(writer.readAll({ filter: { streamNamePrefix: ['crash-'] } }));
    expect(stored).to.have.length(total * 5);
    expect(received.map((e) => e.position)).to.deep.equal(stored.map((e) => e.position));
    expect(received.map((e) => e.type)).to.deep.equal(Array.from({ length: total * 5 }, (_, i) => `B${Math.floor(i / 5)}`));
  });
});
