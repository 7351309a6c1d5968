// `npm run bench -- http [--json] [--duration S] [--connections N] [--store memory:|file:DIR]`
//
// The HTTP API under load, measured with autocannon over keep-alive connections against a server
// running in a child process (so the load generator does not share its event loop):
//   - single-event appends (a fresh event id per request, spread over 64 streams),
//   - batched appends (20 events per request),
//   - cached page reads (a full page behind the head: immutable, cacheable for a year),
//   - long-poll subscribers waiting at the head of a stream while a writer appends,
// and, in the same run, an empty route (the HTTP stack's ceiling on this machine) and the store's own append rate for the same events through the Node API,
// so the figures come with the ratio of HTTP to in-process.
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type { BenchOptions } from './main.js';

const PASSWORD = 'bench-password';
const AUTH = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`;
const EVENTS_JSON = 'application/vnd.eventstore.events+json';
const STREAMS = 64;

interface Figures {
  readonly requestsPerSec: number;
  readonly eventsPerSec: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  readonly non2xx: number;
  readonly errors: number;
}

function eventBody(n: number): string {
  const events = [];
  for (let i = 0; i < n; i++) events.push({ eventId: randomUUID(), eventType: 'OrderPlaced', data: { orderId: randomUUID(), amount: 42.5, currency: 'EUR', lines: 3 } });
  return JSON.stringify(events);
}

async function cannon(url: string, options: { connections: number; duration: number; method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: () => string; path: (i: number) => string; eventsPerRequest: number }): Promise<Figures> {
  let i = 0;
  const result = await autocannon({
    url,
    connections: options.connections,
    duration: options.duration,
    pipelining: 1,
    requests: [
      {
        method: options.method ?? 'GET',
        headers: { authorization: AUTH, ...(options.headers ?? {}) },
        setupRequest: (req) => {
          const n = i++;
          return { ...req, path: options.path(n), ...(options.body ? { body: options.body() } : {}) };
        },
      },
    ],
  });
  const rps = result.requests.average;
  return {
    requestsPerSec: Math.round(rps),
    eventsPerSec: Math.round(rps * options.eventsPerRequest),
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

function post(url: string, path: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: 'POST', headers: { authorization: AUTH, 'content-type': EVENTS_JSON, 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function getJson(url: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { headers: { authorization: AUTH, accept: 'application/vnd.eventstore.atom+json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') }));
    });
    req.on('error', reject);
    req.end();
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Subscribers long-poll the head of one stream; a writer appends at a steady rate; we time delivery. */
async function longPoll(url: string, subscribers: number, seconds: number, ratePerSec: number): Promise<object> {
  const stream = `longpoll-${randomUUID()}`;
  await post(url, `/streams/${stream}`, JSON.stringify([{ eventId: randomUUID(), eventType: 'Start', data: { t: Date.now() } }]));
  const latencies: number[] = [];
  let delivered = 0;
  let stop = false;
  const clients = Array.from({ length: subscribers }, async () => {
    let next = 1;
    while (!stop) {
      const { status, body } = await getJson(url, `/streams/${stream}/${next}/forward/20?embed=body`, { 'ES-LongPoll': '5' });
      if (status !== 200) throw new Error(`long poll answered ${status}`);
      const now = Date.now();
      for (const e of body.entries as Array<{ data: string; eventNumber: number }>) {
        latencies.push(now - (JSON.parse(e.data) as { t: number }).t);
        delivered++;
        next = Math.max(next, e.eventNumber + 1);
      }
    }
  });
  // Let every subscriber reach its wait before writing.
  await new Promise((r) => setTimeout(r, 500));
  const end = Date.now() + seconds * 1000;
  let written = 0;
  while (Date.now() < end) {
    await post(url, `/streams/${stream}`, JSON.stringify([{ eventId: randomUUID(), eventType: 'Tick', data: { t: Date.now() } }]));
    written++;
    await new Promise((r) => setTimeout(r, 1000 / ratePerSec));
  }
  await new Promise((r) => setTimeout(r, 500));
  stop = true;
  await post(url, `/streams/${stream}`, JSON.stringify([{ eventId: randomUUID(), eventType: 'Stop', data: { t: Date.now() } }]));
  await Promise.all(clients);
  latencies.sort((a, b) => a - b);
  return {
    subscribers,
    eventsWritten: written,
    deliveries: delivered,
    expectedDeliveries: (written + 1) * subscribers,
    deliveryLatencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] ?? 0 },
  };
}

/** The same events appended in-process by as many concurrent writers as HTTP connections. */
async function storeRate(storeUrl: string, writers: number, seconds: number, perAppend: number): Promise<number> {
  const { openStore } = await import('../store/index.js');
  const store = await openStore(storeUrl === 'memory:' ? 'memory:' : `${storeUrl}-direct-${process.pid}`);
  let n = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      while (Date.now() < end) {
        const events = (JSON.parse(eventBody(perAppend)) as Array<{ eventId: string; eventType: string; data: unknown }>).map((e) => ({ id: e.eventId, type: e.eventType, data: e.data }));
        await store.appendToStream(`bench-${w % STREAMS}`, events);
        n += perAppend;
      }
    }),
  );
  await store.close();
  return Math.round(n / seconds);
}

function startChild(storeUrl: string): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, TELLTALE_BENCH_HTTP_CHILD: storeUrl }, execArgv: ['--no-node-snapshot'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, url: (m as { url: string }).url }));
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
}

export async function run(options: BenchOptions): Promise<object> {
  const duration = Number(options.flags.duration ?? 10);
  const connections = Number(options.flags.connections ?? 64);
  const storeUrl = typeof options.flags.store === 'string' ? options.flags.store : 'memory:';
  const { child, url } = await startChild(storeUrl);
  try {
    options.log(`server ${url} on ${storeUrl}; ${connections} connections, ${duration}s per scenario`);
    // Warm up: the first request pays for the password check (scrypt) and JIT.
    await cannon(url, { connections: 8, duration: 1, method: 'POST', headers: { 'content-type': EVENTS_JSON }, body: () => eventBody(1), path: (i) => `/streams/warmup-${i % 8}`, eventsPerRequest: 1 });
    // The HTTP stack's own ceiling on this machine: a route that does nothing, same connections.
    options.log('empty route (/ping)…');
    const ping = await cannon(url, { connections, duration: Math.min(duration, 5), path: () => '/ping', eventsPerRequest: 0 });
    options.log(`  ${ping.requestsPerSec}/s`);
    options.log('single-event appends…');
    const single = await cannon(url, { connections, duration, method: 'POST', headers: { 'content-type': EVENTS_JSON }, body: () => eventBody(1), path: (i) => `/streams/bench-${i % STREAMS}`, eventsPerRequest: 1 });
    options.log(`  ${single.requestsPerSec}/s p99 ${single.latencyMs.p99} ms`);
    options.log('batched appends (20 events)…');
    const batched = await cannon(url, { connections, duration, method: 'POST', headers: { 'content-type': EVENTS_JSON }, body: () => eventBody(20), path: (i) => `/streams/batch-${i % STREAMS}`, eventsPerRequest: 20 });
    options.log(`  ${batched.eventsPerSec} events/s`);
    options.log('cached page reads…');
    const reads = await cannon(url, { connections, duration, headers: { accept: 'application/vnd.eventstore.atom+json' }, path: (i) => `/streams/bench-${i % STREAMS}/0/forward/20`, eventsPerRequest: 20 });
    options.log(`  ${reads.requestsPerSec}/s p99 ${reads.latencyMs.p99} ms`);
    options.log('long-poll subscribers…');
    const polls = await longPoll(url, 200, Math.min(duration, 5), 50);
    options.log('store appends in-process (same events, same concurrency)…');
    const storeSingle = await storeRate(storeUrl, connections, Math.min(duration, 5), 1);
    const storeBatched = await storeRate(storeUrl, connections, Math.min(duration, 5), 20);
    return {
      store: storeUrl,
      connections,
      durationSeconds: duration,
      pingCeiling: { requestsPerSec: ping.requestsPerSec, latencyMs: ping.latencyMs },
      singleAppends: single,
      batchedAppends: { ...batched, eventsPerRequest: 20 },
      cachedPageReads: reads,
      longPoll: polls,
      storeInProcess: { singleAppendsPerSec: storeSingle, batchedEventsPerSec: storeBatched },
      ratios: {
        httpToStoreSingle: Number((single.eventsPerSec / storeSingle).toFixed(3)),
        httpToStoreBatched: Number((batched.eventsPerSec / storeBatched).toFixed(3)),
        appendsToPing: Number((single.requestsPerSec / ping.requestsPerSec).toFixed(3)),
        pageReadsToPing: Number((reads.requestsPerSec / ping.requestsPerSec).toFixed(3)),
      },
      targets: {
        singleAppendsPerSec: { target: 20_000, met: single.requestsPerSec >= 20_000 },
        pageReadsPerSec: { target: 30_000, met: reads.requestsPerSec >= 30_000 },
        appendP99Ms: { target: 20, met: single.latencyMs.p99 <= 20 },
      },
    };
  } finally {
    child.kill('SIGTERM');
  }
}

// The child: a server on a free port, address sent to the parent, graceful stop on SIGTERM.
if (process.env.TELLTALE_BENCH_HTTP_CHILD !== undefined && process.send !== undefined) {
  const storeUrl = process.env.TELLTALE_BENCH_HTTP_CHILD;
  const { openStore } = await import('../store/index.js');
  const { createServer } = await import('../server/index.js');
  const store = await openStore(storeUrl);
  const server = createServer({ store, host: '127.0.0.1', port: 0, auth: { adminPassword: PASSWORD }, log: () => {} });
  const address = await server.listen();
  process.send({ url: address.url });
  process.once('SIGTERM', () => {
    void server.close().then(() => store.close()).then(() => process.exit(0));
  });
}
