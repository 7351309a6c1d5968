// `npm run bench -- store [--json] [--backend log|memory|redis] [--url redis://…] [--events N] [--seconds S] [--no-peers]`
//
// The store workload of issue 2, on events of about 200 bytes: durable append with 1 writer in
// batches of 100; 100 concurrent writers of 1 event each (events/s and p99 latency); readAll;
// readStream of a 10k-event stream; reopen time of a 1M-event log; resident memory per million
// indexed events. In the same run, on the same workload: SQLite (better-sqlite3, WAL,
// synchronous=FULL, unique (stream, revision)), the local PostgreSQL (batched INSERT,
// synchronous_commit on) and a raw-file probe doing the same writes with the same fdatasync
// grouping — the physical limit of this disk. Ratios are Telltale ÷ peer.
//
// The workload functions take a `Store`, so every backend runs the same cases. With `--backend
// redis` (the Redis at `--url`, default redis://127.0.0.1:6379, each store on a key prefix of its
// own that is dropped afterwards) the peer is the raw Lua baseline of bench/redis-baseline.ts in the
// same run instead of the file and SQL peers, reads and memory use 200k events unless `--events`
// says otherwise, and the Redis bytes per stored event are reported.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { EventStore, MemoryBackend, type EventData, type Store } from '../store/index.js';
import { LogBackend } from '../store/log/log-backend.js';
import type { BenchOptions } from './main.js';

// ------------------------------------------------------------------------------------------------
// The workload, on any Store

/** An event of about 200 bytes of data and metadata, like a small business event. */
export function benchEvent(i: number): EventData {
  return {
    id: randomUUID(),
    type: i % 3 === 0 ? 'CardCharged' : 'CardAuthorised',
    data: { card: `card-${i % 5000}`, amount: (i % 10000) / 100, currency: 'EUR', merchant: `merchant-${i % 777}`, note: 'n'.repeat(60) },
    metadata: { $correlationId: `c-${i}`, source: 'bench' },
  };
}

export const EVENT_BYTES = (() => {
  const e = benchEvent(1);
  return JSON.stringify(e.data).length + JSON.stringify(e.metadata).length;
})();

export interface Rate {
  readonly events: number;
  readonly seconds: number;
  readonly eventsPerSec: number;
}

export interface LatencyRate extends Rate {
  readonly p50Ms: number;
  readonly p99Ms: number;
}

const rate = (events: number, ms: number): Rate => ({ events, seconds: round(ms / 1000, 3), eventsPerSec: Math.round((events * 1000) / ms) });

/** One writer, sequential batches of `batch` events to rotating streams, for `seconds` or `maxEvents`. */
export async function appendBatched(store: Store, options: { batch: number; seconds: number; maxEvents: number; prefix?: string }): Promise<Rate> {
  const start = performance.now();
  let n = 0;
  while (n < options.maxEvents && performance.now() - start < options.seconds * 1000) {
    const events = Array.from({ length: options.batch }, (_, i) => benchEvent(n + i));
    await store.appendToStream(`${options.prefix ?? 'batched'}-${(n / options.batch) % 100}`, events);
    n += options.batch;
  }
  return rate(n, performance.now() - start);
}

/** `writers` concurrent loops, each appending single events to its own stream, for `seconds`. */
export async function appendConcurrent(store: Store, options: { writers: number; seconds: number; prefix?: string }): Promise<LatencyRate> {
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + options.seconds * 1000;
  await Promise.all(
    Array.from({ length: options.writers }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        const t = performance.now();
        await store.appendToStream(`${options.prefix ?? 'concurrent'}-${w}`, [benchEvent(i)]);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { ...rate(latencies.length, performance.now() - start), ...percentiles(latencies) };
}

/** Bulk-loads `events` events in commits of `batch`, `streams` streams round-robin, plus one stream of `longStream` events. */
export async function populate(store: Store, options: { events: number; batch: number; streams: number; longStream: number }): Promise<Rate> {
  const start = performance.now();
  let n = 0;
  let c = 0;
  const long = options.longStream;
  let longWritten = 0;
  while (n < options.events) {
    // Interleave the long stream's batches with the rest, as a real log would.
    const toLong = longWritten < long && c % Math.max(1, Math.floor(options.events / long)) === 0;
    const size = Math.min(options.batch, options.events - n, toLong ? long - longWritten : options.batch);
    const events = Array.from({ length: size }, (_, i) => benchEvent(n + i));
    await store.appendToStream(toLong ? 'bench-long' : `bench-${c % options.streams}`, events);
    if (toLong) longWritten += size;
    n += size;
    c++;
  }
  return rate(n, performance.now() - start);
}

/** Reads the whole `$all` forwards through the Store API. */
export async function readAllRate(store: Store): Promise<Rate> {
  const start = performance.now();
  let n = 0;
  let check = 0n;
  for await (const e of store.readAll()) {
    check ^= e.position;
    n++;
  }
  if (check === -1n) throw new Error('unreachable');
  return rate(n, performance.now() - start);
}

export async function readStreamRate(store: Store, streamId: string, repeat = 5): Promise<Rate & { streamEvents: number }> {
  const start = performance.now();
  let n = 0;
  for (let r = 0; r < repeat; r++) for await (const e of store.readStream(streamId)) n += e.revision >= 0n ? 1 : 0;
  return { ...rate(n, performance.now() - start), streamEvents: n / repeat };
}

function percentiles(values: number[]): { p50Ms: number; p99Ms: number } {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { p50Ms: round(at(0.5), 2), p99Ms: round(at(0.99), 2) };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// ------------------------------------------------------------------------------------------------
// Backends under test

export type BackendName = 'log' | 'memory' | 'redis';

/** A store opened for the benchmark; `drop` removes what it left behind once it is closed. */
export interface BenchStore {
  readonly store: Store;
  drop(): Promise<void>;
  /** Bytes the backend holds per stored event, where it can tell (Redis). */
  memoryPerEvent?(events: number): Promise<object>;
  /** CPU seconds the server has used so far, for a backend that runs in another process (Redis). */
  serverCpuSeconds?(): Promise<number>;
}

export const backends: Record<BackendName, (dir: string, flags: BenchOptions['flags']) => Promise<BenchStore>> = {
  log: async (dir) => ({ store: new EventStore(await LogBackend.open(dir)), drop: async () => fs.rmSync(dir, { recursive: true, force: true }) }),
  memory: async () => ({ store: new EventStore(new MemoryBackend()), drop: async () => undefined }),
  redis: async (_dir, flags) => {
    const url = redisUrl(flags);
    const { openStore } = await import('../store/index.js');
    const { KeyLayout } = await import('../store/redis/key-layout.js');
    const { dropStore, memoryPerEvent, serverCpuSeconds } = await import('./redis-baseline.js');
    const { Redis } = await import('ioredis');
    const prefix = `bench-${randomUUID().slice(0, 8)}`;
    const keys = new KeyLayout(prefix);
    const store = await openStore(`${url}${url.includes('?') ? '&' : '?'}prefix=${prefix}`);
    const admin = new Redis(url.replace(/\?.*$/, ''));
    return {
      store,
      drop: async () => {
        admin.disconnect();
        await dropStore(url, keys);
      },
      serverCpuSeconds: () => serverCpuSeconds(admin),
      memoryPerEvent: (events) => memoryPerEvent(admin, keys, events),
    };
  },
};

function redisUrl(flags: BenchOptions['flags']): string {
  return typeof flags.url === 'string' ? flags.url : 'redis://127.0.0.1:6379';
}

// ------------------------------------------------------------------------------------------------
// Peers

/**
 * The physical limit: the same bytes, the same write + fdatasync grouping, nothing else, in one of
 * three ways of getting space for them:
 * - `grow`: each write extends the file, as the probe does (and the log did before
 *   session 5), so every fdatasync also commits a new file length;
 * - `fill-ahead`: the same writes as the log now does: zeros written ahead of the end in the
 *   background (8 MiB, refilled when less than half is left, through a descriptor opened O_DSYNC
 *   where there is one), and the records then written over them;
 * - `preallocated`: a file zero-filled once (and made durable) before the run, the writes going
 *   round within it: no growth and no zero-filling at all, which no log that keeps its data does
 *   (short of recycling old files), shown as a bound.
 */
type ProbeSpace = 'grow' | 'fill-ahead' | 'preallocated';

const PROBE_PREALLOCATED_BYTES = 64 * 1024 * 1024;
const PROBE_FILL_AHEAD_BYTES = 8 * 1024 * 1024;
const PROBE_ZEROS = Buffer.alloc(1024 * 1024);

class RawProbe {
  readonly #fd: number;
  readonly #file: string;
  readonly #space: ProbeSpace;
  #position = 0;
  /** `fill-ahead`: zeros are durable up to here; a fill running from `#fillFrom`. */
  #allocated = 0;
  #filling: Promise<void> | undefined;
  #fillFrom = Infinity;
  #queue: { buf: Buffer; done: () => void }[] = [];
  #flushing = false;

  constructor(file: string, space: ProbeSpace) {
    this.#file = file;
    this.#fd = fs.openSync(file, 'w');
    this.#space = space;
    if (space === 'preallocated') {
      for (let at = 0; at < PROBE_PREALLOCATED_BYTES; at += PROBE_ZEROS.length) fs.writeSync(this.#fd, PROBE_ZEROS, 0, PROBE_ZEROS.length, at);
      fs.fdatasyncSync(this.#fd);
    }
  }

  append(buf: Buffer): Promise<void> {
    return new Promise((done) => {
      this.#queue.push({ buf, done });
      // The log's grouping: a flush starts once the current tick's appends are all queued.
      if (!this.#flushing) {
        this.#flushing = true;
        process.nextTick(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    while (this.#queue.length > 0) {
      const batch = this.#queue;
      this.#queue = [];
      // The fastest way Node offers, as the log engine does: one synchronous writev into the page
      // cache (a thread-pool round trip costs more than the copy), then an asynchronous fdatasync.
      const buffers = batch.map((b) => b.buf);
      const bytes = buffers.reduce((n, b) => n + b.length, 0);
      if (this.#space === 'preallocated' && this.#position + bytes > PROBE_PREALLOCATED_BYTES) this.#position = 0;
      if (this.#space === 'fill-ahead' && this.#filling !== undefined && this.#position + bytes > this.#fillFrom) await this.#filling;
      if (fs.writevSync(this.#fd, buffers, this.#position) !== bytes) throw new Error('short write');
      this.#position += bytes;
      if (this.#space === 'fill-ahead') this.#fillAhead();
      await new Promise<void>((resolve, reject) => fs.fdatasync(this.#fd, (e) => (e ? reject(e) : resolve())));
      for (const b of batch) b.done();
    }
    this.#flushing = false;
  }

  /** As the log's prefill: keeps zeros durable ahead of the end, in the background. */
  #fillAhead(): void {
    if (this.#filling !== undefined || this.#allocated - this.#position >= PROBE_FILL_AHEAD_BYTES / 2) return;
    const from = Math.max(this.#allocated, this.#position);
    const to = from + PROBE_FILL_AHEAD_BYTES;
    this.#fillFrom = from;
    const write = (fd: number, at: number) =>
      new Promise<void>((resolve, reject) => fs.write(fd, PROBE_ZEROS, 0, PROBE_ZEROS.length, at, (e) => (e ? reject(e) : resolve())));
    this.#filling = (async () => {
      const dsync = (fs.constants as { O_DSYNC?: number }).O_DSYNC;
      const fd = dsync === undefined ? this.#fd : fs.openSync(this.#file, fs.constants.O_WRONLY | dsync);
      try {
        for (let at = from; at < to; at += PROBE_ZEROS.length) await write(fd, at);
        if (dsync === undefined) await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve())));
      } finally {
        if (fd !== this.#fd) fs.closeSync(fd);
      }
      this.#allocated = to;
      this.#filling = undefined;
      this.#fillFrom = Infinity;
    })();
  }

  async close(): Promise<void> {
    await this.#filling;
    fs.closeSync(this.#fd);
  }
}

/** Framing and stream name: 68 + 12 bytes, less the 20 the id's 36 characters of text take beyond its 16 bytes. */
const FILLER = 'x'.repeat(68 + 12 - 20);

/**
 * A record the size Telltale writes for a bench event (framing, stream name, type and id
 * included), with the event's own id, type and payloads in it: the id's text is read, as any
 * store must read it to write it (`randomUUID()` returns a string concatenated from parts, a V8 cons string, so
 * the first read flattens it: ~0.25 µs here), and filler stands for the framing and name.
 */
function rawRecord(i: number): Buffer {
  const e = benchEvent(i);
  return Buffer.from(`${FILLER}${e.id!}${e.type}${JSON.stringify(e.data)}${JSON.stringify(e.metadata)}`);
}

/** One system under test in the timed append cases; rounds alternate between contenders. */
interface Contender {
  readonly name: string;
  batched(seconds: number): Promise<Rate>;
  concurrent(seconds: number): Promise<LatencyRate>;
  /** Bulk-loads `events` and reads them all back in position order. */
  readAll?(events: number): Promise<Rate>;
  close(): Promise<void>;
}

function storeContender(name: string, opened: BenchStore): Contender {
  const store = opened.store;
  let round = 0;
  return {
    name,
    batched: (seconds) => appendBatched(store, { batch: 100, seconds, maxEvents: 1_000_000, prefix: `batched-${round++}` }),
    concurrent: (seconds) => appendConcurrent(store, { writers: 100, seconds, prefix: `concurrent-${round++}` }),
    close: async () => {
      await store.close();
      await opened.drop();
    },
  };
}

function rawContender(dir: string, space: ProbeSpace): Contender {
  const name = { grow: 'rawProbe', 'fill-ahead': 'rawProbeFillingAhead', preallocated: 'rawProbePreallocated' }[space];
  const probe = new RawProbe(join(dir, `${name}.log`), space);
  let base = 0;
  return {
    name,
    async batched(seconds) {
      const start = performance.now();
      let n = 0;
      while (performance.now() - start < seconds * 1000) {
        await probe.append(Buffer.concat(Array.from({ length: 100 }, (_, i) => rawRecord(base + n + i))));
        n += 100;
      }
      base += n;
      return rate(n, performance.now() - start);
    },
    async concurrent(seconds) {
      const latencies: number[] = [];
      const start = performance.now();
      const end = start + seconds * 1000;
      await Promise.all(
        Array.from({ length: 100 }, async (_, w) => {
          for (let i = 0; performance.now() < end; i++) {
            const t = performance.now();
            await probe.append(rawRecord(w * 1_000_000 + i));
            latencies.push(performance.now() - t);
          }
        }),
      );
      return { ...rate(latencies.length, performance.now() - start), ...percentiles(latencies) };
    },
    close: async () => probe.close(),
  };
}

const SQL_TABLE = `stream TEXT NOT NULL, revision INTEGER NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL, created INTEGER NOT NULL`;

async function sqliteContender(dir: string): Promise<Contender> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(join(dir, 'peer.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(`CREATE TABLE events (position INTEGER PRIMARY KEY AUTOINCREMENT, ${SQL_TABLE}, UNIQUE (stream, revision))`);
  const last = db.prepare('SELECT max(revision) AS r FROM events WHERE stream = ?');
  const insert = db.prepare('INSERT INTO events (stream, revision, id, type, data, metadata, created) VALUES (?, ?, ?, ?, ?, ?, ?)');
  // The expected-revision check and the inserts in one transaction, as an event store does.
  const append = db.transaction((stream: string, events: EventData[]) => {
    let r = ((last.get(stream) as { r: number | null }).r ?? -1) as number;
    const now = Date.now();
    for (const e of events) insert.run(stream, ++r, e.id, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata), now);
  });
  let n = 0;
  return {
    name: 'sqlite',
    async batched(seconds) {
      const start = performance.now();
      const from = n;
      while (performance.now() - start < seconds * 1000) {
        append(`batched-${(n / 100) % 100}`, Array.from({ length: 100 }, (_, i) => benchEvent(n + i)));
        n += 100;
      }
      return rate(n - from, performance.now() - start);
    },
    // better-sqlite3 is synchronous: 100 "concurrent" writers are 100 callers taking turns, one
    // transaction (and one fsync) each; that is how SQLite serialises writers anyway.
    async concurrent(seconds) {
      const latencies: number[] = [];
      const start = performance.now();
      for (let i = 0; performance.now() - start < seconds * 1000; i++) {
        const t = performance.now();
        append(`concurrent-${i % 100}`, [benchEvent(n++)]);
        latencies.push(performance.now() - t);
      }
      return { ...rate(latencies.length, performance.now() - start), ...percentiles(latencies) };
    },
    async readAll(events) {
      db.pragma('synchronous = OFF');
      for (let k = 0; k < events; k += 1000) append(`bulk-${k % 1000}`, Array.from({ length: 1000 }, (_, i) => benchEvent(k + i)));
      const page = db.prepare('SELECT * FROM events WHERE position > ? ORDER BY position LIMIT 1000');
      const start = performance.now();
      let read = 0;
      for (let after = 0; ; ) {
        const rows = page.all(after) as { position: number; data: string }[];
        if (rows.length === 0) break;
        read += rows.length;
        after = rows[rows.length - 1]!.position;
      }
      return rate(read, performance.now() - start);
    },
    close: async () => void db.close(),
  };
}

async function postgresContender(): Promise<Contender> {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ host: '127.0.0.1', port: 5432, user: 'postgres', database: process.env.PGDATABASE ?? 'postgres', max: 32 });
  const table = `telltale_bench_${process.pid}`;
  try {
    await pool.query(`CREATE TABLE ${table} (position BIGSERIAL PRIMARY KEY, ${SQL_TABLE.replaceAll('INTEGER', 'BIGINT').replace('data TEXT', 'data JSONB').replace('metadata TEXT', 'metadata JSONB')}, UNIQUE (stream, revision))`);
  } catch (e) {
    await pool.end();
    throw e;
  }
  // synchronous_commit stays at its default, on: each commit waits for its WAL flush.
  const append = async (stream: string, events: EventData[]) => {
    // One statement per batch (INSERT … SELECT unnest), revisions numbered from the stream's last.
    await pool.query(
      `INSERT INTO ${table} (stream, revision, id, type, data, metadata, created)
       SELECT $1, coalesce((SELECT max(revision) FROM ${table} WHERE stream = $1), -1) + ord, id, type, data::jsonb, metadata::jsonb, $6
       FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS t(id, type, data, metadata, ord)`,
      [stream, events.map((e) => e.id), events.map((e) => e.type), events.map((e) => JSON.stringify(e.data)), events.map((e) => JSON.stringify(e.metadata)), Date.now()],
    );
  };
  let n = 0;
  let round = 0;
  return {
    name: 'postgres',
    async batched(seconds) {
      const start = performance.now();
      const from = n;
      while (performance.now() - start < seconds * 1000) {
        await append(`batched-${(n / 100) % 100}`, Array.from({ length: 100 }, (_, i) => benchEvent(n + i)));
        n += 100;
      }
      return rate(n - from, performance.now() - start);
    },
    async concurrent(seconds) {
      const latencies: number[] = [];
      const start = performance.now();
      const end = start + seconds * 1000;
      const r = round++;
      await Promise.all(
        Array.from({ length: 100 }, async (_, w) => {
          for (let i = 0; performance.now() < end; i++) {
            const t = performance.now();
            await append(`concurrent-${r}-${w}`, [benchEvent(i)]);
            latencies.push(performance.now() - t);
          }
        }),
      );
      return { ...rate(latencies.length, performance.now() - start), ...percentiles(latencies) };
    },
    async readAll(events) {
      for (let k = 0; k < events; k += 1000) await append(`bulk-${k % 1000}`, Array.from({ length: 1000 }, (_, i) => benchEvent(k + i)));
      const start = performance.now();
      let read = 0;
      for (let after = 0; ; ) {
        const { rows } = await pool.query<{ position: string }>(`SELECT * FROM ${table} WHERE position > $1 ORDER BY position LIMIT 1000`, [after]);
        if (rows.length === 0) break;
        read += rows.length;
        after = Number(rows[rows.length - 1]!.position);
      }
      return rate(read, performance.now() - start);
    },
    async close() {
      await pool.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
      await pool.end();
    },
  };
}

/**
 * Runs a timed case and notes this process's CPU time over it (all threads: the fsync's included),
 * and the server's when the backend has one to ask (Redis: its main thread, `INFO cpu`).
 */
async function measured<T extends Rate>(run: () => Promise<T>, serverCpuSeconds?: () => Promise<number>): Promise<{ result: T; cpuMicros: number; serverCpuMicros?: number }> {
  const server = serverCpuSeconds ? await serverCpuSeconds() : 0;
  const before = process.cpuUsage();
  const result = await run();
  const cpu = process.cpuUsage(before);
  const serverCpuMicros = serverCpuSeconds ? ((await serverCpuSeconds()) - server) * 1e6 : undefined;
  return { result, cpuMicros: cpu.user + cpu.system, ...(serverCpuMicros !== undefined ? { serverCpuMicros } : {}) };
}

/**
 * CPU per event of this process: on a shared machine the rate swings with the neighbours' load,
 * while CPU per event says what the code costs. For PostgreSQL it is the client's share only; for
 * Redis the server's share is `serverCpuMicrosPerEvent` (the raw peer runs on the same server).
 */
function withCpu<T extends Rate>({ result, cpuMicros, serverCpuMicros }: { result: T; cpuMicros: number; serverCpuMicros?: number }): T & { cpuMicrosPerEvent: number; serverCpuMicrosPerEvent?: number } {
  const events = Math.max(1, result.events);
  return {
    ...result,
    cpuMicrosPerEvent: round(cpuMicros / events, 2),
    ...(serverCpuMicros !== undefined ? { serverCpuMicrosPerEvent: round(serverCpuMicros / events, 2) } : {}),
  };
}

function serverCpuText(r: { serverCpuMicrosPerEvent?: number }): string {
  return r.serverCpuMicrosPerEvent !== undefined ? ` + ${r.serverCpuMicrosPerEvent} µs server CPU/event` : '';
}

function median<T extends { eventsPerSec: number }>(runs: readonly T[]): T & { rounds: number[] } {
  const sorted = [...runs].sort((a, b) => a.eventsPerSec - b.eventsPerSec);
  return { ...sorted[Math.floor((sorted.length - 1) / 2)]!, rounds: runs.map((r) => r.eventsPerSec) };
}

// ------------------------------------------------------------------------------------------------
// Reopen probe: a fresh process opens the log, so its time and memory are the open's alone.

interface ReopenFigures {
  readonly openMs: number;
  readonly indexedEvents: number;
  readonly streams: number;
  readonly rssBytes: number;
  readonly rssPerMillionEventsMiB: number;
  readonly heapPerMillionEventsMiB: number;
  readonly usedCheckpoint: boolean;
  readonly scannedBytes: number;
}

async function reopenProbe(dir: string): Promise<ReopenFigures> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  gc();
  const before = process.memoryUsage();
  const start = performance.now();
  const backend = await LogBackend.open(dir);
  const openMs = performance.now() - start;
  gc();
  const after = process.memoryUsage();
  const { events, streams } = backend.indexStats();
  await backend.close();
  const perMillion = (bytes: number) => round((bytes / 2 ** 20) * (1e6 / Math.max(1, events)), 1);
  return {
    openMs: round(openMs, 1),
    indexedEvents: events,
    streams,
    rssBytes: after.rss - before.rss,
    rssPerMillionEventsMiB: perMillion(after.rss - before.rss),
    heapPerMillionEventsMiB: perMillion(after.heapUsed - before.heapUsed + after.arrayBuffers - before.arrayBuffers),
    usedCheckpoint: backend.recovery.usedCheckpoint,
    scannedBytes: backend.recovery.scannedBytes,
  };
}

function runReopenProbe(dir: string): Promise<ReopenFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--reopen-probe', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as ReopenFigures) : reject(new Error(`reopen probe exited with ${code}`))));
  });
}

// ------------------------------------------------------------------------------------------------

export async function run(options: BenchOptions): Promise<object> {
  const backendName = (typeof options.flags.backend === 'string' ? options.flags.backend : 'log') as BackendName;
  const open = backends[backendName];
  if (!open) throw new Error(`--backend must be one of ${Object.keys(backends).join(', ')}`);
  const seconds = Number(options.flags.seconds ?? 2);
  const rounds = Number(options.flags.rounds ?? 3);
  const totalEvents = Number(options.flags.events ?? (backendName === 'redis' ? 200_000 : 1_000_000));
  const withPeers = options.flags['no-peers'] !== true;
  const root = fs.mkdtempSync(join(tmpdir(), 'telltale-bench-'));
  const log = options.log;
  const contenders: Contender[] = [];
  // What a failed run must still remove (a Redis store's keys live outside `root`).
  const leftovers: BenchStore[] = [];
  const errors: Record<string, string> = {};
  try {
    log(`store bench: backend ${backendName}, events of ~${EVENT_BYTES} bytes, ${rounds} rounds of ${seconds}s per append case, ${totalEvents} events for reads and reopen, in ${root}`);
    const main = await open(join(root, 'telltale'), options.flags);
    leftovers.push(main);
    contenders.push(storeContender('telltale', main));
    if (withPeers && backendName === 'redis') {
      const { rawRedisPeer } = await import('./redis-baseline.js');
      contenders.push(rawRedisPeer(redisUrl(options.flags), benchEvent));
    } else if (withPeers) {
      contenders.push(rawContender(root, 'grow'));
      contenders.push(rawContender(root, 'fill-ahead'));
      contenders.push(rawContender(root, 'preallocated'));
      for (const [name, make] of [['sqlite', () => sqliteContender(root)], ['postgres', () => postgresContender()]] as const) {
        try {
          contenders.push(await make());
        } catch (e) {
          errors[name] = String(e);
          log(`  ${name}: not measured: ${String(e)}`);
        }
      }
    }
    // Rounds alternate between contenders, so a change in the machine's load hits all of them.
    const batched = new Map<string, Rate[]>();
    const concurrent = new Map<string, LatencyRate[]>();
    for (let r = 0; r < rounds; r++) {
      for (const c of contenders) {
        const result = withCpu(await measured(() => c.batched(seconds), main.serverCpuSeconds));
        batched.set(c.name, [...(batched.get(c.name) ?? []), result]);
        log(`  round ${r + 1}: ${c.name} append, 1 writer, batches of 100: ${result.eventsPerSec} events/s, ${result.cpuMicrosPerEvent} µs CPU/event${serverCpuText(result)}`);
      }
      for (const c of contenders) {
        const result = withCpu(await measured(() => c.concurrent(seconds), main.serverCpuSeconds));
        concurrent.set(c.name, [...(concurrent.get(c.name) ?? []), result]);
        log(`  round ${r + 1}: ${c.name} append, 100 writers of 1 event: ${result.eventsPerSec} events/s, p99 ${result.p99Ms} ms, ${result.cpuMicrosPerEvent} µs CPU/event${serverCpuText(result)}`);
      }
    }
    await contenders[0]!.close();

    const bigDir = join(root, 'telltale-1m');
    const opened = await open(bigDir, options.flags);
    leftovers.push(opened);
    const big = opened.store;
    const loaded = await populate(big, { events: totalEvents, batch: 1000, streams: 1000, longStream: 10_000 });
    log(`  loaded ${loaded.events} events in commits of 1000: ${loaded.eventsPerSec} events/s`);
    const readAllRuns: Rate[] = [];
    for (let k = 0; k < 3; k++) readAllRuns.push(withCpu(await measured(() => readAllRate(big), opened.serverCpuSeconds)));
    log(`  readAll: ${readAllRuns.map((x) => x.eventsPerSec).join(' / ')} events/s`);
    const readStream = median([await readStreamRate(big, 'bench-long'), await readStreamRate(big, 'bench-long'), await readStreamRate(big, 'bench-long')]);
    log(`  readStream of ${readStream.streamEvents} events: ${readStream.eventsPerSec} events/s`);
    const memory = opened.memoryPerEvent ? await opened.memoryPerEvent(loaded.events) : undefined;
    if (memory) log(`  memory: ${JSON.stringify(memory)}`);
    await big.close();
    const reopen = backendName === 'log' ? await runReopenProbe(bigDir) : undefined;
    if (reopen) log(`  reopen of ${reopen.indexedEvents} events: ${reopen.openMs} ms, RSS ${reopen.rssPerMillionEventsMiB} MiB per million indexed events`);
    await opened.drop();

    const peerReadEvents = Math.min(totalEvents, 200_000);
    const peerReads: Record<string, Rate> = {};
    for (const c of contenders.slice(1)) {
      if (!c.readAll) continue;
      try {
        peerReads[c.name] = await c.readAll(peerReadEvents);
        log(`  ${c.name} readAll of ${peerReads[c.name]!.events} rows: ${peerReads[c.name]!.eventsPerSec} rows/s`);
      } catch (e) {
        errors[`${c.name}.readAll`] = String(e);
      }
    }

    const summary = (name: string) => ({
      appendBatched100: batched.has(name) ? median(batched.get(name)!) : undefined,
      append100Writers: concurrent.has(name) ? median(concurrent.get(name)!) : undefined,
      readAll: peerReads[name],
    });
    const telltale = {
      ...summary('telltale'),
      bulkLoad: loaded,
      readAll: median(readAllRuns),
      readStream10k: readStream,
      ...(reopen ? { reopen } : {}),
      ...(memory ? { memory } : {}),
    };
    const peers = Object.fromEntries(contenders.slice(1).map((c) => [c.name, summary(c.name)]));
    const ratio = (a: { eventsPerSec: number } | undefined, b: { eventsPerSec: number } | undefined) =>
      a && b && b.eventsPerSec > 0 ? round(a.eventsPerSec / b.eventsPerSec, 2) : null;
    const ratios = Object.fromEntries(
      (['appendBatched100', 'append100Writers', 'readAll'] as const).map((k) => [
        k,
        Object.fromEntries(Object.entries(peers).map(([name, p]) => [`vs ${name}`, ratio(telltale[k], p[k])])),
      ]),
    );
    return {
      backend: backendName,
      eventBytes: EVENT_BYTES,
      telltale,
      peers,
      ratios,
      ...(Object.keys(errors).length > 0 ? { errors } : {}),
      targets:
        backendName === 'redis'
          ? { appendBatched100: '≥ 0.7 of the raw Lua baseline (issue 7)', append100Writers: '≥ 50k events/s', readAll: '≥ 500k events/s' }
          : {
              appendBatched100: '≥ 0.8 of the raw probe doing the same writes as the log (rawProbeFillingAhead: zeros written ahead, records over them), ahead of SQLite, ≥ 2× PostgreSQL; beside it rawProbe (the file grows with each write: the issue\'s probe, the log before it preallocated) and rawProbePreallocated (a file allocated once and written round: no growth, no zero-filling, a bound)',
              append100Writers: '≥ 0.6 of raw probe, p99 ≤ 10 ms',
              readAll: '≥ 1M events/s',
              reopen: '< 1 s for 1M events',
            },
    };
  } finally {
    for (const c of contenders.slice(1)) await c.close().catch(() => undefined);
    for (const l of leftovers) await l.drop().catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--reopen-probe' && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await reopenProbe(process.argv[3]!);
  process.stdout.write(JSON.stringify(figures));
}
