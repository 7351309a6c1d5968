// The Redis store measured against its physical limit on the same Redis, in the same run: a raw
// baseline writes the same entries with a minimal Lua script (a counter and one XADD per run of a
// write's events, as the store lays them out; no checks, no indexes) and reads them back with bare
// XRANGE pages. bench/store.ts calls these for
// `--backend redis`; `node dist/bench/redis-baseline.js [redis-url]` runs them alone.
//
// Cases (ratios are Telltale ÷ baseline from the same run):
//   batched append      one writer, batches of `batch` events to one stream each
//   concurrent writers  `writers` writers appending single events to their own streams
//   readAll             the whole log read forwards
//   memory per event    MEMORY USAGE over every key of the store ÷ events
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { PreparedEvent } from '../store/backend.js';
import { openStore, type EventData, type EventStore, type Store } from '../store/index.js';
import { KeyLayout } from '../store/redis/key-layout.js';
import { encodeWrite, MAX_ENTRY_EVENTS, runLength } from '../store/redis/record-codec.js';

export interface RedisBenchOptions {
  /** @defaultValue `redis://127.0.0.1:6379` */
  readonly url?: string;
  /** Events per batched-append run. @defaultValue 50000 */
  readonly events?: number;
  /** @defaultValue 100 */
  readonly batch?: number;
  /** @defaultValue 100 */
  readonly writers?: number;
  /** Runs per case; the median is reported. @defaultValue 5 */
  readonly runs?: number;
  readonly log?: (line: string) => void;
}

// The same entries the store writes (a run of a write's events per entry, record-codec.ts), with
// nothing else: a counter and one XADD per run. ARGV: event count and body of each run.
const RAW_APPEND = `local h = tonumber(redis.call('GET', KEYS[1]) or '0')
for i = 1, #ARGV, 2 do
  local n = tonumber(ARGV[i])
  redis.call('XADD', KEYS[2], string.format('0-%d', h + n), 'r', '0', 'b', ARGV[i + 1])
  h = h + n
end
redis.call('SET', KEYS[1], h)
return h`;

/** The raw script's arguments for one write: the same bodies the store would send. */
function rawArgs(streamId: string, events: readonly EventData[], now: number): (string | Buffer)[] {
  const args: (string | Buffer)[] = [];
  encodeWrite(streamId, events.map(prepared), now).forEach((body, i) => args.push(String(Math.min(MAX_ENTRY_EVENTS, events.length - i * MAX_ENTRY_EVENTS)), body));
  return args;
}

/** The event every case writes: a typical small business event (~190 bytes of JSON). */
export function benchEvent(i: number): EventData {
  return {
    id: randomUUID(),
    type: 'OrderPlaced',
    data: { orderId: `order-${i}`, customer: `c-${i % 1000}`, total: 42.5, currency: 'EUR', items: [{ sku: 'sku-1', qty: 2 }], note: 'x'.repeat(40) },
    metadata: { $correlationId: `corr-${i}` },
  };
}

const enc = new TextEncoder();

function prepared(e: EventData): PreparedEvent {
  return { id: e.id!, type: e.type, isJson: true, data: enc.encode(JSON.stringify(e.data)), metadata: enc.encode(JSON.stringify(e.metadata)) };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function prefix(): string {
  return `bench-${randomUUID().slice(0, 8)}`;
}

async function drop(admin: Redis, keys: KeyLayout): Promise<void> {
  let cursor = '0';
  do {
    const [next, found] = await admin.scan(cursor, 'MATCH', keys.pattern, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) await admin.unlink(...found);
  } while (cursor !== '0');
}

function rawClient(url: string): Redis & { rawAppend(numkeys: number, ...args: (string | Buffer)[]): Promise<number> } {
  const client = new Redis(url.replace(/\?.*$/, ''));
  client.defineCommand('rawAppend', { lua: RAW_APPEND });
  return client as Redis & { rawAppend(numkeys: number, ...args: (string | Buffer)[]): Promise<number> };
}

/** Raw baseline: `total` events in batches of `batch`, one script call per batch, one at a time. */
export async function rawBatchedAppend(url: string, total: number, batch: number): Promise<number> {
  const client = rawClient(url);
  const keys = new KeyLayout(prefix());
  const batches = Array.from({ length: total / batch }, (_, b) => Array.from({ length: batch }, (_, i) => benchEvent(b * batch + i)));
  // Serialising the events is part of writing them, for the baseline as for the store.
  const started = process.hrtime.bigint();
  for (const events of batches) {
    const now = Date.now();
    await client.rawAppend(2, keys.head, keys.all, ...rawArgs('raw-stream', events, now));
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await drop(client, keys);
  client.disconnect();
  return total / seconds;
}

/** Raw baseline: `writers` concurrent writers, one event per script call. */
export async function rawConcurrentWriters(url: string, writers: number, perWriter: number): Promise<number> {
  const client = rawClient(url);
  const keys = new KeyLayout(prefix());
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; i < perWriter; i++) await client.rawAppend(2, keys.head, keys.all, ...rawArgs(`raw-${w}`, [benchEvent(i)], Date.now()));
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await drop(client, keys);
  client.disconnect();
  return (writers * perWriter) / seconds;
}

/** Raw baseline for reads: the store's `$all` read with bare XRANGE pages of 512 entries, nothing decoded. */
export async function rawReadAll(url: string, keys: KeyLayout): Promise<number> {
  const client = new Redis(url.replace(/\?.*$/, ''));
  const started = process.hrtime.bigint();
  const count = await rawReadPages(client, keys);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  client.disconnect();
  return count / seconds;
}

/** Reads a whole `$all` with bare XRANGE pages of 512 entries; returns how many events it held. */
async function rawReadPages(client: Redis, keys: KeyLayout): Promise<number> {
  let count = 0;
  let from = '-';
  for (;;) {
    const page = (await client.xrangeBuffer(keys.all, from, '+', 'COUNT', 512)) as unknown as [Buffer, Buffer[]][];
    if (page.length === 0) break;
    for (const [, fields] of page) count += runLength(fields[3]!);
    from = `(${page[page.length - 1]![0].toString('latin1')}`;
  }
  return count;
}

/** Rates in the shape bench/store.ts reports them. */
export interface RawRate {
  readonly events: number;
  readonly seconds: number;
  readonly eventsPerSec: number;
}

const rawRate = (events: number, ms: number): RawRate => ({ events, seconds: Math.round(ms) / 1000, eventsPerSec: Math.round((events * 1000) / ms) });

function latencyPercentiles(values: number[]): { p50Ms: number; p99Ms: number } {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { p50Ms: round(at(0.5)), p99Ms: round(at(0.99)) };
}

/**
 * The raw baseline as a peer of `npm run bench -- store --backend redis`: the store benchmark's own
 * events (`makeEvent`), timed cases like the store's, on a key prefix of its own that `close` drops.
 */
export function rawRedisPeer(url: string, makeEvent: (i: number) => EventData) {
  const client = rawClient(url);
  const keys = new KeyLayout(prefix());
  let n = 0;
  let round = 0;
  const append = (streamId: string, events: readonly EventData[]) => {
    const now = Date.now();
    return client.rawAppend(2, keys.head, keys.all, ...rawArgs(streamId, events, now));
  };
  return {
    name: 'redisRaw',
    async batched(seconds: number): Promise<RawRate> {
      const start = performance.now();
      const from = n;
      while (performance.now() - start < seconds * 1000) {
        await append(`batched-${(n / 100) % 100}`, Array.from({ length: 100 }, (_, i) => makeEvent(n + i)));
        n += 100;
      }
      return rawRate(n - from, performance.now() - start);
    },
    async concurrent(seconds: number): Promise<RawRate & { p50Ms: number; p99Ms: number }> {
      const latencies: number[] = [];
      const start = performance.now();
      const end = start + seconds * 1000;
      const r = round++;
      await Promise.all(
        Array.from({ length: 100 }, async (_, w) => {
          for (let i = 0; performance.now() < end; i++) {
            const t = performance.now();
            await append(`concurrent-${r}-${w}`, [makeEvent(i)]);
            latencies.push(performance.now() - t);
          }
        }),
      );
      return { ...rawRate(latencies.length, performance.now() - start), ...latencyPercentiles(latencies) };
    },
    /** Bulk-loads `events` in scripts of 1000 (streams round-robin), then reads them back with bare XRANGE pages. */
    async readAll(events: number): Promise<RawRate> {
      const bulk = new KeyLayout(prefix());
      for (let k = 0; k < events; k += 1000) {
        const now = Date.now();
        const batch = Array.from({ length: Math.min(1000, events - k) }, (_, i) => makeEvent(k + i));
        await client.rawAppend(2, bulk.head, bulk.all, ...rawArgs(`bulk-${(k / 1000) % 1000}`, batch, now));
      }
      const started = performance.now();
      const count = await rawReadPages(client, bulk);
      const ms = performance.now() - started;
      await drop(client, bulk);
      return rawRate(count, ms);
    },
    async close(): Promise<void> {
      await drop(client, keys);
      client.disconnect();
    },
  };
}

async function openBenchStore(url: string): Promise<{ store: Store & EventStore; keys: KeyLayout }> {
  const p = prefix();
  const store = await openStore(`${url}${url.includes('?') ? '&' : '?'}prefix=${p}`);
  return { store, keys: new KeyLayout(p) };
}

/** The store: `total` events in batches of `batch` to one stream, one append at a time. */
export async function storeBatchedAppend(url: string, total: number, batch: number): Promise<number> {
  const { store, keys } = await openBenchStore(url);
  const batches = Array.from({ length: total / batch }, (_, b) => Array.from({ length: batch }, (_, i) => benchEvent(b * batch + i)));
  const started = process.hrtime.bigint();
  for (const events of batches) await store.appendToStream('bench-stream', events);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await store.close();
  const admin = new Redis(url.replace(/\?.*$/, ''));
  await drop(admin, keys);
  admin.disconnect();
  return total / seconds;
}

/** The store: `writers` concurrent writers appending single events to their own streams. */
export async function storeConcurrentWriters(url: string, writers: number, perWriter: number): Promise<number> {
  const { store, keys } = await openBenchStore(url);
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; i < perWriter; i++) await store.appendToStream(`writer-${w}`, [benchEvent(i)]);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await store.close();
  const admin = new Redis(url.replace(/\?.*$/, ''));
  await drop(admin, keys);
  admin.disconnect();
  return (writers * perWriter) / seconds;
}

/**
 * Fills a store with `total` events over `streams` streams, then reads `$all` through the store and
 * raw, and measures the bytes Redis holds per event.
 */
export async function storeReadAllAndMemory(
  url: string,
  total: number,
  streams: number,
): Promise<{ storeEventsPerSecond: number; rawEventsPerSecond: number; bytesPerEvent: number; bodyBytesPerEvent: number; breakdown: Record<string, number> }> {
  const { store, keys } = await openBenchStore(url);
  const batch = 100;
  for (let b = 0; b < total / batch; b++) {
    await store.appendToStream(`stream-${b % streams}`, Array.from({ length: batch }, (_, i) => benchEvent(b * batch + i)));
  }
  let count = 0;
  const started = process.hrtime.bigint();
  for await (const _ of store.readAll()) count++;
  const storeEventsPerSecond = count / (Number(process.hrtime.bigint() - started) / 1e9);
  const rawEventsPerSecond = await rawReadAll(url, keys);
  await store.close();

  const admin = new Redis(url.replace(/\?.*$/, ''));
  const { bytesPerEvent, breakdown } = await memoryPerEvent(admin, keys, total);
  const bodyBytesPerEvent = Math.round(encodeWrite('stream-0', Array.from({ length: 100 }, (_, i) => prepared(benchEvent(i))), 0)[0]!.length / 10) / 10;
  await drop(admin, keys);
  admin.disconnect();
  return { storeEventsPerSecond, rawEventsPerSecond, bytesPerEvent, bodyBytesPerEvent, breakdown };
}

/** `MEMORY USAGE` over every key of a store, per event, by part of the layout. */
export async function memoryPerEvent(admin: Redis, keys: KeyLayout, events: number): Promise<{ bytesPerEvent: number; breakdown: Record<string, number> }> {
  const breakdown: Record<string, number> = { all: 0, streamPositions: 0, idIndexes: 0, other: 0 };
  let cursor = '0';
  do {
    const [next, found] = await admin.scan(cursor, 'MATCH', keys.pattern, 'COUNT', 1000);
    cursor = next;
    for (const key of found) {
      const bytes = Number(await admin.memory('USAGE', key, 'SAMPLES', 0));
      const part = key === keys.all ? 'all' : key.startsWith(`${keys.tag}:s:`) ? 'streamPositions' : key.startsWith(`${keys.tag}:i:`) ? 'idIndexes' : 'other';
      breakdown[part]! += bytes;
    }
  } while (cursor !== '0');
  for (const k of Object.keys(breakdown)) breakdown[k] = Math.round((breakdown[k]! / events) * 10) / 10;
  return { bytesPerEvent: Math.round(Object.values(breakdown).reduce((a, b) => a + b, 0) * 10) / 10, breakdown };
}

/** CPU seconds the Redis server's main thread has used (all of it on servers before 6.2). */
export async function serverCpuSeconds(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  const main = field('used_cpu_user_main_thread') + field('used_cpu_sys_main_thread');
  return Number.isNaN(main) ? field('used_cpu_user') + field('used_cpu_sys') : main;
}

/** Drops every key of a store (a benchmark's, when it is done). */
export async function dropStore(url: string, keys: KeyLayout): Promise<void> {
  const admin = new Redis(url.replace(/\?.*$/, ''));
  try {
    await drop(admin, keys);
  } finally {
    admin.disconnect();
  }
}

/** Every case, `runs` times each, medians and ratios. */
export async function runRedisCases(options: RedisBenchOptions = {}): Promise<object> {
  const url = options.url ?? 'redis://127.0.0.1:6379';
  const total = options.events ?? 50_000;
  const batch = options.batch ?? 100;
  const writers = options.writers ?? 100;
  const runs = options.runs ?? 5;
  const log = options.log ?? (() => undefined);
  const samples: Record<string, number[]> = { batchedStore: [], batchedRaw: [], writersStore: [], writersRaw: [], readAllStore: [], readAllRaw: [] };
  let memory: Awaited<ReturnType<typeof storeReadAllAndMemory>> | undefined;
  for (let run = 0; run < runs; run++) {
    samples.batchedRaw!.push(await rawBatchedAppend(url, total, batch));
    samples.batchedStore!.push(await storeBatchedAppend(url, total, batch));
    samples.writersRaw!.push(await rawConcurrentWriters(url, writers, 200));
    samples.writersStore!.push(await storeConcurrentWriters(url, writers, 200));
    memory = await storeReadAllAndMemory(url, 100_000, 1000);
    samples.readAllStore!.push(memory.storeEventsPerSecond);
    samples.readAllRaw!.push(memory.rawEventsPerSecond);
    log(`redis run ${run + 1}/${runs}: ${Object.entries(samples).map(([k, v]) => `${k} ${Math.round(v.at(-1)!)}`).join(', ')}`);
  }
  const m = (k: string) => Math.round(median(samples[k]!));
  return {
    backend: 'redis',
    url: url.replace(/\/\/[^@]*@/, '//'),
    runs,
    batchedAppend: { batch, eventsPerSecond: m('batchedStore'), rawEventsPerSecond: m('batchedRaw'), ratio: round(m('batchedStore') / m('batchedRaw')) },
    concurrentWriters: { writers, eventsPerSecond: m('writersStore'), rawEventsPerSecond: m('writersRaw'), ratio: round(m('writersStore') / m('writersRaw')) },
    readAll: { events: 100_000, eventsPerSecond: m('readAllStore'), rawEventsPerSecond: m('readAllRaw'), ratio: round(m('readAllStore') / m('readAllRaw')) },
    memory: { bytesPerEvent: memory?.bytesPerEvent, bodyBytesPerEvent: memory?.bodyBytesPerEvent, breakdownPerEvent: memory?.breakdown },
  };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { machine } = await import('./main.js');
  const result = await runRedisCases({ url: process.argv[2], runs: Number(process.env.RUNS ?? 5), log: (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(`${JSON.stringify({ benchmark: 'store', machine: machine(), ...result }, null, 2)}\n`);
}
