// `npm run bench -- http [--json] [--duration S] [--connections N] [--store memory:|file:DIR] [--only ping,single,batch,read,head,longpoll,store] [--client wrk|autocannon] [--compare autocannon|none] [--profile DIR]`
//
// The HTTP API under load over keep-alive connections, against a server running in a child
// process (so the load generator does not share its event loop):
//   - single-event appends (a fresh event id per request, spread over 64 streams),
//   - batched appends (20 events per request),
//   - cached page reads (a full page behind the head: immutable, cacheable for a year),
//   - head page reads (the newest 20 events: not immutable, so served from a kept render only
//     while the stream's last event and metadata are unchanged, which the server checks per request),
//   - long-poll subscribers waiting at the head of a stream while a writer appends,
// and, in the same run, an empty route (the HTTP stack's ceiling on this machine) and the store's own append rate for the same events through the Node API,
// so the figures come with the ratio of HTTP to in-process.
//
// The load comes from wrk when it is on PATH (a C client, about half autocannon's CPU per
// request), else from autocannon, and the JSON says which (`client`, and `clientNote` when wrk was
// missing). With wrk leading, each scenario is measured again with autocannon right after
// (`autocannon` in each scenario's figures), which is what the figures before wrk were taken with.
// The load generator runs on the same cores as the server, so every scenario also reports CPU time
// per request in the server process and in the load generator: throughput swings with the
// machine's load, CPU per request much less, and 1e6 / µs is what one core would sustain.
// `--profile DIR` runs the server under --cpu-prof (the profile is written when it stops).
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { eventBody, EVENTS_JSON, runLoad, wrkOnPath, type Load, type LoadClient, type LoadFigures } from './http-load.js';
import type { BenchOptions } from './main.js';

const PASSWORD = 'bench-password';
const AUTH = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`;
const STREAMS = 64;

/**
 * Untimed reads before a read scenario is measured, as the appends get above. Without them the
 * first read scenario of a run pays for compiling the read path, for growing the young generation
 * and, after the append scenarios, for the collector promoting their events (the first scavenges of
 * the read phase took 15–36 ms each), and measured 1.5–9 µs more server CPU per request than the
 * same reads run again later in the same run.
 */
async function warmUp(client: LoadClient, load: Load): Promise<void> {
  await runLoad(client, load);
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
async function storeRate(storeUrl: string, writers: number, seconds: number, perAppend: number): Promise<{ perSec: number; appends: number }> {
  const { openStore } = await import('../store/index.js');
  const directUrl = storeUrl === 'memory:' ? 'memory:' : `${storeUrl}-direct-${process.pid}`;
  const store = await openStore(directUrl);
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
  // The in-process peer's data directory is the bench's own: nothing of it is wanted afterwards.
  if (directUrl.startsWith('file:')) await rm(directUrl.slice('file:'.length), { recursive: true, force: true });
  return { perSec: Math.round(n / seconds), appends: n / perAppend };
}

function startChild(storeUrl: string, profileDir: string | undefined): Promise<{ child: ChildProcess; url: string }> {
  const execArgv = ['--no-node-snapshot', ...(profileDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])];
  const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, TELLTALE_BENCH_HTTP_CHILD: storeUrl }, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, url: (m as { url: string }).url }));
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
}

/** The server process's CPU time so far (user + system, and system alone), in microseconds, and its answers outside 2xx. */
function serverCpu(child: ChildProcess): Promise<{ cpu: number; system: number; non2xx: number }> {
  return new Promise((resolve) => {
    const onMessage = (m: unknown) => {
      if (typeof m !== 'object' || m === null || !('cpu' in m)) return;
      child.off('message', onMessage);
      resolve(m as { cpu: number; system: number; non2xx: number });
    };
    child.on('message', onMessage);
    child.send('cpu');
  });
}

function ownCpu(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

interface Costed {
  /** The load generator that drove this measurement. */
  readonly client: LoadClient;
  readonly requestsPerSec: number;
  readonly requests: number;
  readonly eventsPerSec: number;
  readonly latencyMs: LoadFigures['latencyMs'];
  /** Answers outside 2xx, counted by the load generator (wrk on GETs: above 399): none is expected. */
  readonly non2xx: number;
  /** Answers outside 2xx, counted by the server (its response metrics): none is expected. */
  readonly serverNon2xx: number;
  readonly errors: number;
  /** Server CPU time (user + system) per request, µs. */
  readonly serverCpuUsPerRequest: number;
  /** The part of it spent in the kernel (socket reads and writes, mostly), µs. */
  readonly serverSystemCpuUsPerRequest: number;
  /** The load generator's CPU time per request, µs: what it takes from the shared cores. */
  readonly clientCpuUsPerRequest: number;
  /** Requests/s one core would sustain at the server's CPU cost: 1e6 / serverCpuUsPerRequest. */
  readonly serverOneCoreRequestsPerSec: number;
  /** Share of the CPU used during the run that the load generator took. */
  readonly clientCpuShare: number;
}

/** Drives `load` with `client` and adds what it cost in CPU, per request, in the server and in the load generator. */
async function costed(child: ChildProcess, client: LoadClient, load: Load, eventsPerRequest: number): Promise<Costed> {
  const server0 = await serverCpu(child);
  const figures = await runLoad(client, load);
  const server1 = await serverCpu(child);
  const n = Math.max(1, figures.requests);
  const server = (server1.cpu - server0.cpu) / n;
  const clientUs = figures.clientCpuUs / n;
  const { clientCpuUs: _, ...rest } = figures;
  return {
    client,
    ...rest,
    eventsPerSec: Math.round(figures.requestsPerSec * eventsPerRequest),
    serverNon2xx: server1.non2xx - server0.non2xx,
    serverCpuUsPerRequest: round1(server),
    serverSystemCpuUsPerRequest: round1((server1.system - server0.system) / n),
    clientCpuUsPerRequest: round1(clientUs),
    serverOneCoreRequestsPerSec: Math.round(1e6 / server),
    clientCpuShare: Number((clientUs / (clientUs + server)).toFixed(2)),
  };
}

/** Which generator drives the load: `--client`, else wrk when it is on PATH, else autocannon (with the reason). */
function chooseClient(flag: string | true | undefined): { client: LoadClient; note?: string } {
  if (flag === 'wrk') {
    if (!wrkOnPath()) throw new Error('--client wrk: no wrk on PATH (on Debian or Ubuntu: apt-get install wrk)');
    return { client: 'wrk' };
  }
  if (flag === 'autocannon') return { client: 'autocannon' };
  if (flag !== undefined) throw new Error(`--client must be wrk or autocannon, got ${String(flag)}`);
  if (wrkOnPath()) return { client: 'wrk' };
  return { client: 'autocannon', note: 'wrk is not on PATH, so autocannon (Node, in the bench process) drove the load; it costs ~2× more CPU per request than wrk, taken from the cores the server runs on. apt-get install wrk for the cheaper client.' };
}

export async function run(options: BenchOptions): Promise<object> {
  const duration = Number(options.flags.duration ?? 10);
  const connections = Number(options.flags.connections ?? 64);
  const storeUrl = typeof options.flags.store === 'string' ? options.flags.store : 'memory:';
  const profileDir = typeof options.flags.profile === 'string' ? options.flags.profile : undefined;
  const only = typeof options.flags.only === 'string' ? new Set(options.flags.only.split(',')) : undefined;
  const runs = (name: string) => only === undefined || only.has(name);
  const { client, note } = chooseClient(options.flags.client);
  // With wrk leading, each scenario is measured with autocannon too, right after, so the figures
  // stay comparable with those taken before wrk was used (`--compare none` skips it).
  if (options.flags.compare !== undefined && options.flags.compare !== 'none' && options.flags.compare !== 'autocannon') throw new Error(`--compare must be autocannon or none, got ${String(options.flags.compare)}`);
  const compare = client === 'wrk' && options.flags.compare !== 'none';
  const { child, url } = await startChild(storeUrl, profileDir);
  try {
    options.log(`server ${url} on ${storeUrl}; ${connections} connections, ${duration}s per scenario; load from ${client}${compare ? ', then autocannon for comparison' : ''}`);
    const read = (paths: readonly string[], seconds: number): Load => ({ url, connections, durationSeconds: seconds, headers: { authorization: AUTH, accept: 'application/vnd.eventstore.atom+json' }, requests: { kind: 'paths', paths } });
    const appends = (streamPrefix: string, eventsPerRequest: number, seconds: number, conns = connections): Load => ({ url, connections: conns, durationSeconds: seconds, headers: { authorization: AUTH }, requests: { kind: 'appends', streamPrefix, streams: STREAMS, eventsPerRequest } });
    /** The scenario with the leading client, then (when comparing) with autocannon, reported under `autocannon`. */
    const measure = async (label: string, load: Load, eventsPerRequest: number): Promise<Costed & { autocannon?: Costed }> => {
      const line = (c: Costed) =>
        `  ${c.client}: ${c.requestsPerSec}/s${eventsPerRequest > 1 ? ` (${c.eventsPerSec} events/s)` : ''} p99 ${c.latencyMs.p99} ms${c.non2xx + c.serverNon2xx + c.errors > 0 ? ` NON-2XX ${c.non2xx} (server: ${c.serverNon2xx}) ERRORS ${c.errors}` : ''}; CPU per request: server ${c.serverCpuUsPerRequest} µs (kernel ${c.serverSystemCpuUsPerRequest}), ${c.client} ${c.clientCpuUsPerRequest} µs`;
      options.log(`${label}…`);
      const lead = await costed(child, client, load, eventsPerRequest);
      options.log(line(lead));
      if (!compare) return lead;
      const other = await costed(child, 'autocannon', load, eventsPerRequest);
      options.log(line(other));
      return { ...lead, autocannon: other };
    };
    // Warm up: the first request pays for the password check (scrypt) and JIT.
    await runLoad(client, appends('warmup-', 1, 1, 8));
    const figures: Record<string, unknown> = { client, ...(note !== undefined ? { clientNote: note } : {}), store: storeUrl, connections, durationSeconds: duration };
    const ratios: Record<string, number> = {};
    const targets: Record<string, { target: number; met: boolean }> = {};
    const ratio = (a: number, b: number) => Number((a / b).toFixed(3));
    // The HTTP stack's own ceiling on this machine: a route that does nothing, same connections.
    let ping: Costed | undefined;
    if (runs('ping')) {
      await warmUp(client, read(['/ping'], 2));
      ping = await measure('empty route (/ping)', read(['/ping'], Math.min(duration, 5)), 0);
      figures.pingCeiling = ping;
    }
    let single: Costed | undefined;
    if (runs('single')) {
      single = await measure('single-event appends', appends('bench-', 1, duration), 1);
      figures.singleAppends = single;
      if (ping !== undefined) ratios.appendsToPing = ratio(single.requestsPerSec, ping.requestsPerSec);
      targets.singleAppendsPerSec = { target: 20_000, met: single.requestsPerSec >= 20_000 };
      targets.appendP99Ms = { target: 20, met: single.latencyMs.p99 <= 20 };
    }
    let batched: Costed | undefined;
    if (runs('batch')) {
      batched = await measure('batched appends (20 events)', appends('batch-', 20, duration), 20);
      figures.batchedAppends = { ...batched, eventsPerRequest: 20 };
    }
    if (runs('read')) {
      // Pages of their own streams (40 events each, so events 0–19 are a full page behind the head).
      for (let s = 0; s < STREAMS; s++) for (let k = 0; k < 2; k++) await post(url, `/streams/read-${s}`, eventBody(20));
      const paths = Array.from({ length: STREAMS }, (_, s) => `/streams/read-${s}/0/forward/20`);
      await warmUp(client, read(paths, 2));
      const reads = await measure('cached page reads', read(paths, duration), 20);
      figures.cachedPageReads = reads;
      if (ping !== undefined) ratios.pageReadsToPing = ratio(reads.requestsPerSec, ping.requestsPerSec);
      targets.pageReadsPerSec = { target: 30_000, met: reads.requestsPerSec >= 30_000 };
    }
    if (runs('head')) {
      // The head page of a stream is never immutable (no-cache): the server keeps its latest render
      // only while the stream's last event and metadata stay the same, checking the store per request.
      if (!runs('read')) for (let s = 0; s < STREAMS; s++) for (let k = 0; k < 2; k++) await post(url, `/streams/read-${s}`, eventBody(20));
      const paths = Array.from({ length: STREAMS }, (_, s) => `/streams/read-${s}`);
      await warmUp(client, read(paths, 2));
      figures.headPageReads = await measure('head page reads (not immutable, kept while the stream is quiet)', read(paths, Math.min(duration, 5)), 20);
    }
    if (runs('longpoll')) {
      options.log('long-poll subscribers…');
      figures.longPoll = await longPoll(url, 200, Math.min(duration, 5), 50);
    }
    if (runs('store')) {
      options.log('store appends in-process (same events, same concurrency)…');
      const storeSeconds = Math.min(duration, 5);
      const cpu0 = ownCpu();
      const storeSingleRun = await storeRate(storeUrl, connections, storeSeconds, 1);
      const cpu1 = ownCpu();
      const storeBatchedRun = await storeRate(storeUrl, connections, storeSeconds, 20);
      const cpu2 = ownCpu();
      const storeSingle = storeSingleRun.perSec;
      const storeBatched = storeBatchedRun.perSec;
      const storeCpuPerSingle = (cpu1 - cpu0) / storeSingleRun.appends;
      figures.storeInProcess = {
        singleAppendsPerSec: storeSingle,
        batchedEventsPerSec: storeBatched,
        // Event bodies are made the same way as the HTTP ones (JSON text, parsed), so this includes that cost.
        cpuUsPerSingleAppend: round1(storeCpuPerSingle),
        cpuUsPerBatchOf20: round1((cpu2 - cpu1) / storeBatchedRun.appends),
      };
      if (single !== undefined) {
        ratios.httpToStoreSingle = ratio(single.eventsPerSec, storeSingle);
        ratios.serverCpuHttpToStoreSingle = ratio(single.serverCpuUsPerRequest, storeCpuPerSingle);
      }
      if (batched !== undefined) ratios.httpToStoreBatched = ratio(batched.eventsPerSec, storeBatched);
    }
    return { ...figures, ratios, targets };
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    // A profiled server writes its profile on the way out.
    await exited;
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
  process.on('message', (m) => {
    if (m !== 'cpu') return;
    const u = process.cpuUsage();
    let non2xx = 0;
    for (const [status, n] of server.metrics.responses) if (status < 200 || status > 299) non2xx += n;
    process.send!({ cpu: u.user + u.system, system: u.system, non2xx });
  });
  process.once('SIGTERM', () => {
    void server.close().then(() => store.close()).then(() => process.exit(0));
  });
}
