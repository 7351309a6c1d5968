// `npm run bench -- grpc [--json] [--rounds N] [--duration S] [--warmup S] [--concurrency N] [--batch N] [--store memory:|file:DIR] [--only single,batch,read] [--profile DIR] [--server-build DIR]`
//
// Event Store's gRPC API against a server in a child process (so that load generators and server
// do not share an event loop, and each process's CPU time is its own; `--profile DIR` runs the
// server under --cpu-prof), driven by the official Node client (@eventstore/db-client) and, as a
// separate peer, by a lean raw HTTP/2 client of the same RPC; in the same run the same work over
// the HTTP API (autocannon, keep-alive) and straight on a store in this process:
//   - single-event appends at the same concurrency (gRPC vs HTTP),
//   - batched appends (gRPC vs the store's own appendToStream rate),
//   - reading one long stream forwards (gRPC vs HTTP pages vs the store).
// Every append peer gets a fresh server (an empty store: a memory store that grew through the
// peers before would slow the later ones), warmed up before it is measured, and the peers take
// turns going first from round to round. Figures are medians over `--rounds`, ratios the medians
// of each round's own ratio. Every peer also reports CPU time per operation in the server and in
// the load generator: a shared machine's load moves throughput far more than it moves CPU time,
// and 1e6 / µs is the rate one core would sustain.
// The server runs without authentication (`insecure`), so both protocols go in plain text with no
// credential check: the figures compare the protocols, not TLS. `--server-build DIR` runs the
// server from another build's output directory (its bench/grpc.js), for before/after figures
// from one bench.
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { connect as connectHttp2, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { EventStoreDBClient, jsonEvent } from '@eventstore/db-client';
import type { BenchOptions } from './main.js';
import { ProtoReader, ProtoWriter } from '../server/grpc/codec.js';
import type { Store } from '../store/types.js';

const STREAMS = 64;
const EVENTS_JSON = 'application/vnd.eventstore.events+json';

function payload(): Record<string, unknown> {
  return { orderId: randomUUID(), amount: 42.5, currency: 'EUR', lines: 3 };
}

/** Runs `work` in `concurrency` loops for `seconds`; returns how many ran and how many per second. */
async function loops(concurrency: number, seconds: number, work: (loop: number, n: number) => Promise<unknown>): Promise<{ done: number; perSec: number }> {
  const end = Date.now() + seconds * 1000;
  let done = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, loop) => {
      for (let n = 0; Date.now() < end; n++) {
        await work(loop, n);
        done++;
      }
    }),
  );
  return { done, perSec: done / (Number(process.hrtime.bigint() - started) / 1e9) };
}

/**
 * A lean BatchAppend client over node:http2, the same shape as the official client (one
 * connection, one BatchAppend call, every append a `BatchAppendReq` with a fresh correlation id,
 * its options and `is_final`), encoding with our own writer and writing what a turn of the event
 * loop produced in one write. It costs a fraction of the official client per append, so it shows
 * what the server sustains when the load generator is not the limit.
 */
class RawBatchAppender {
  readonly #session: ClientHttp2Session;
  readonly #call: ClientHttp2Stream;
  readonly #waiting = new Map<string, (ok: boolean) => void>();
  #pending: Buffer = Buffer.alloc(0);
  #out: ProtoWriter | undefined;

  constructor(port: number) {
    this.#session = connectHttp2(`http://127.0.0.1:${port}`);
    this.#session.on('error', () => {});
    this.#call = this.#session.request({ ':method': 'POST', ':path': '/event_store.client.streams.Streams/BatchAppend', 'content-type': 'application/grpc', te: 'trailers' });
    this.#call.on('data', (chunk: Buffer) => this.#receive(chunk));
    this.#call.on('error', () => {});
  }

  #receive(chunk: Buffer): void {
    let buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    while (buf.length >= 5) {
      const length = buf.readUInt32BE(1);
      if (buf.length < 5 + length) break;
      const r = new ProtoReader(buf, 5, 5 + length);
      let key = '';
      let ok = false;
      while (!r.done) {
        const tag = r.varint();
        if (tag === ((1 << 3) | 2)) key = r.bytes().toString('latin1');
        else {
          if (tag === ((3 << 3) | 2)) ok = true;
          r.skip(tag & 7);
        }
      }
      this.#waiting.get(key)?.(ok);
      this.#waiting.delete(key);
      buf = buf.subarray(5 + length);
    }
    this.#pending = buf;
  }

  append(stream: string, events: ReadonlyArray<{ id: string; type: string; data: unknown }>): Promise<void> {
    if (this.#out === undefined) {
      this.#out = new ProtoWriter(1024);
      process.nextTick(() => {
        const out = this.#out!;
        this.#out = undefined;
        this.#call.write(out.finish());
      });
    }
    const w = this.#out;
    const frame = w.beginFrame();
    const correlation = new ProtoWriter(48);
    correlation.string(2, randomUUID());
    const key = correlation.finish();
    w.bytes(1, key);
    w.message(2, (o) => {
      o.message(1, (id) => id.string(3, stream));
      o.empty(4);
    });
    for (const e of events) {
      w.message(3, (m) => {
        m.message(1, (id) => id.string(2, e.id));
        for (const [k, v] of [['content-type', 'application/json'], ['type', e.type]] as const) {
          m.message(2, (entry) => {
            entry.string(1, k);
            entry.string(2, v);
          });
        }
        m.bytes(4, Buffer.from(JSON.stringify(e.data)));
      });
    }
    w.bool(4, true);
    w.endFrame(frame);
    return new Promise((resolve, reject) => {
      this.#waiting.set(key.toString('latin1'), (ok) => (ok ? resolve() : reject(new Error('append failed'))));
    });
  }

  close(): void {
    this.#call.end();
    this.#session.close();
  }
}

function getText(url: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { headers: { accept: 'application/vnd.eventstore.atom+json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('error', reject);
    req.end();
  });
}

interface Child {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
}

/** Set by `--server-build`: the build whose server the children run. */
let serverScript = fileURLToPath(import.meta.url);

function startChild(storeUrl: string, profileDir: string | undefined): Promise<Child> {
  const execArgv = ['--no-node-snapshot', ...(profileDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])];
  const child = fork(serverScript, [], { env: { ...process.env, TELLTALE_BENCH_GRPC_CHILD: storeUrl }, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, ...(m as { url: string; port: number }) }));
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
}

async function stopChild({ child }: Child): Promise<void> {
  const exited = new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
  child.kill('SIGTERM');
  await exited;
}

/** The server process's CPU time so far (user + system), in microseconds. */
function serverCpu(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve((m as { cpu: number }).cpu));
    child.send('cpu');
  });
}

const ownCpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** CPU time per operation in the server process and in this (load-generating) process. */
interface Cost {
  readonly serverCpuUsPerOp: number;
  readonly clientCpuUsPerOp: number;
}
async function costed<T>(child: ChildProcess, ops: (result: T) => number, work: () => Promise<T>): Promise<{ result: T } & Cost> {
  const server0 = await serverCpu(child);
  const client0 = ownCpu();
  const result = await work();
  const client1 = ownCpu();
  const server1 = await serverCpu(child);
  const n = ops(result);
  return { result, serverCpuUsPerOp: round2((server1 - server0) / n), clientCpuUsPerOp: round2((client1 - client0) / n) };
}

const round2 = (n: number) => Math.round(n * 100) / 100;
const round = (n: number) => Math.round(n);
const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
/** The peers in turn: round r starts with peer r mod n. */
const rotated = <T>(list: readonly T[], r: number) => list.map((_, i) => list[(i + r) % list.length]!);
const load = () => round2(loadavg()[0]!);

/** One peer's measurement: its rate and CPU per operation (per event for batches). */
interface Measured {
  readonly perSec: number;
  readonly serverCpuUs: number;
  readonly clientCpuUs: number;
}

export async function run(options: BenchOptions): Promise<object> {
  const duration = Number(options.flags.duration ?? 5);
  const warmup = Number(options.flags.warmup ?? 1);
  const rounds = Number(options.flags.rounds ?? 1);
  const concurrency = Number(options.flags.concurrency ?? 32);
  const batch = Number(options.flags.batch ?? 100);
  const storeUrl = typeof options.flags.store === 'string' ? options.flags.store : 'memory:';
  const readEvents = Number(options.flags['read-events'] ?? 20_000);
  const profileDir = typeof options.flags.profile === 'string' ? options.flags.profile : undefined;
  const only = typeof options.flags.only === 'string' ? new Set(options.flags.only.split(',')) : undefined;
  const runs = (name: string) => only === undefined || only.has(name);
  if (typeof options.flags['server-build'] === 'string') serverScript = join(options.flags['server-build'], 'bench', 'grpc.js');
  const figures: Record<string, unknown> = { settings: { store: storeUrl, concurrency, batch, duration, warmup, rounds, readEvents, server: serverScript } };
  const loadAverage: number[] = [load()];
  const { openStore } = await import('../store/index.js');
  let storeRound = 0;
  // A file store's directory is the server's; each fresh server gets one of its own.
  const serverStore = () => (storeUrl === 'memory:' ? storeUrl : `${storeUrl}-${process.pid}-${storeRound++}`);

  /** A fresh server for one peer: warmed up with `work` for `warmup` seconds, then measured for `duration`; rates and CPU per event. */
  async function onFreshServer(eventsPerAppend: number, prepare: (child: Child) => Promise<{ work: (loop: number) => Promise<unknown>; close: () => Promise<void> | void }>): Promise<Measured> {
    const child = await startChild(serverStore(), profileDir);
    try {
      const { work, close } = await prepare(child);
      try {
        await loops(concurrency, warmup, work);
        const m = await costed(child.child, (r) => r.done * eventsPerAppend, () => loops(concurrency, duration, work));
        return { perSec: m.result.perSec * eventsPerAppend, serverCpuUs: m.serverCpuUsPerOp, clientCpuUs: m.clientCpuUsPerOp };
      } finally {
        await close();
      }
    } finally {
      await stopChild(child);
    }
  }

  const officialClient = (child: Child) => EventStoreDBClient.connectionString(`esdb://127.0.0.1:${child.port}?tls=false`);

  async function officialAppends(eventsPerAppend: number): Promise<Measured> {
    return onFreshServer(eventsPerAppend, async (child) => {
      const client = officialClient(child);
      await client.appendToStream('warm-up', jsonEvent({ type: 'WarmUp', data: {} }));
      const events = () => Array.from({ length: eventsPerAppend }, () => jsonEvent({ type: 'OrderPlaced', data: payload() }));
      return {
        work: (loop) => client.appendToStream(`grpc-${loop % STREAMS}`, eventsPerAppend === 1 ? jsonEvent({ type: 'OrderPlaced', data: payload() }) : events()),
        close: () => client.dispose(),
      };
    });
  }

  async function rawAppends(eventsPerAppend: number): Promise<Measured> {
    return onFreshServer(eventsPerAppend, async (child) => {
      const raw = new RawBatchAppender(child.port);
      return {
        work: (loop) => raw.append(`grpc-raw-${loop % STREAMS}`, Array.from({ length: eventsPerAppend }, () => ({ id: randomUUID(), type: 'OrderPlaced', data: payload() }))),
        close: () => raw.close(),
      };
    });
  }

  async function httpAppends(): Promise<Measured> {
    const child = await startChild(serverStore(), profileDir);
    try {
      let i = 0;
      const cannon = (seconds: number) =>
        autocannon({
          url: child.url,
          connections: concurrency,
          duration: seconds,
          pipelining: 1,
          requests: [
            {
              method: 'POST',
              headers: { 'content-type': EVENTS_JSON },
              setupRequest: (req) => ({ ...req, path: `/streams/http-${i++ % STREAMS}`, body: JSON.stringify([{ eventId: randomUUID(), eventType: 'OrderPlaced', data: payload() }]) }),
            },
          ],
        });
      await cannon(warmup);
      const m = await costed(child.child, (r) => r.requests.total, () => cannon(duration));
      if (m.result.errors + m.result.non2xx > 0) options.log(`HTTP: ${m.result.errors} errors, ${m.result.non2xx} non-2xx responses`);
      return { perSec: m.result.requests.total / duration, serverCpuUs: m.serverCpuUsPerOp, clientCpuUs: m.clientCpuUsPerOp };
    } finally {
      await stopChild(child);
    }
  }

  async function storeAppends(): Promise<Measured> {
    const store: Store = await openStore(storeUrl === 'memory:' ? 'memory:' : `${storeUrl}-inproc-${process.pid}-${storeRound++}`);
    try {
      const work = (loop: number) => store.appendToStream(`store-${loop % STREAMS}`, Array.from({ length: batch }, () => ({ id: randomUUID(), type: 'OrderPlaced', data: payload() })));
      await loops(concurrency, warmup, work);
      const cpu0 = ownCpu();
      const r = await loops(concurrency, duration, work);
      const cpu = ownCpu() - cpu0;
      return { perSec: r.perSec * batch, serverCpuUs: 0, clientCpuUs: round2(cpu / (r.done * batch)) };
    } finally {
      await store.close();
    }
  }

  const singleRounds: Array<Record<'official' | 'raw' | 'http', Measured> & { load: number }> = [];
  const batchRounds: Array<Record<'official' | 'raw' | 'store', Measured> & { load: number }> = [];
  for (let r = 0; r < rounds; r++) {
    if (runs('single')) {
      const got: Partial<Record<'official' | 'raw' | 'http', Measured>> = {};
      for (const peer of rotated(['official', 'raw', 'http'] as const, r)) {
        options.log(`round ${r + 1}/${rounds}: single-event appends, ${peer}…`);
        got[peer] = peer === 'official' ? await officialAppends(1) : peer === 'raw' ? await rawAppends(1) : await httpAppends();
      }
      singleRounds.push({ ...(got as Record<'official' | 'raw' | 'http', Measured>), load: load() });
    }
    if (runs('batch')) {
      const got: Partial<Record<'official' | 'raw' | 'store', Measured>> = {};
      for (const peer of rotated(['official', 'raw', 'store'] as const, r)) {
        options.log(`round ${r + 1}/${rounds}: appends of ${batch} events, ${peer}…`);
        got[peer] = peer === 'official' ? await officialAppends(batch) : peer === 'raw' ? await rawAppends(batch) : await storeAppends();
      }
      batchRounds.push({ ...(got as Record<'official' | 'raw' | 'store', Measured>), load: load() });
    }
    loadAverage.push(load());
  }

  const med = <R,>(list: readonly R[], f: (r: R) => number) => round2(median(list.map(f)));
  if (singleRounds.length > 0) {
    const s = singleRounds;
    const httpRate = med(s, (r) => r.http.perSec);
    const clientUs = med(s, (r) => r.official.clientCpuUs);
    const serverUs = med(s, (r) => r.official.serverCpuUs);
    const target = 3 * httpRate;
    figures.appendsSingleEventPerSec = {
      grpc: round(med(s, (r) => r.official.perSec)),
      http: round(httpRate),
      ratioGrpcToHttp: med(s, (r) => ratio(r.official.perSec, r.http.perSec)),
      grpcRawLoadGenerator: round(med(s, (r) => r.raw.perSec)),
      ratioGrpcRawToHttp: med(s, (r) => ratio(r.raw.perSec, r.http.perSec)),
      serverCpuUsPerAppend: { grpc: serverUs, grpcRaw: med(s, (r) => r.raw.serverCpuUs), http: med(s, (r) => r.http.serverCpuUs) },
      loadGeneratorCpuUsPerAppend: { officialClient: clientUs, rawHttp2: med(s, (r) => r.raw.clientCpuUs), autocannon: med(s, (r) => r.http.clientCpuUs) },
      // The official client runs on one event loop: it can use one core at most, whatever the server costs.
      officialClientLimit: {
        oneCoreCeilingPerSec: round(1e6 / clientUs),
        targetPerSec: round(target),
        clientCoresNeededForTarget: round2((clientUs * target) / 1e6),
        clientAndServerCoresNeededForTarget: round2(((clientUs + serverUs) * target) / 1e6),
        coresAvailable: cpus().length,
      },
      perRound: s.map((r) => ({
        load: r.load,
        grpc: round(r.official.perSec),
        grpcRaw: round(r.raw.perSec),
        http: round(r.http.perSec),
        ratioGrpcToHttp: ratio(r.official.perSec, r.http.perSec),
        ratioGrpcRawToHttp: ratio(r.raw.perSec, r.http.perSec),
        serverCpuUs: { grpc: r.official.serverCpuUs, grpcRaw: r.raw.serverCpuUs, http: r.http.serverCpuUs },
        clientCpuUs: { officialClient: r.official.clientCpuUs, rawHttp2: r.raw.clientCpuUs, autocannon: r.http.clientCpuUs },
      })),
    };
  }
  if (batchRounds.length > 0) {
    const b = batchRounds;
    figures.appendsBatchedEventsPerSec = {
      grpc: round(med(b, (r) => r.official.perSec)),
      store: round(med(b, (r) => r.store.perSec)),
      ratioGrpcToStore: med(b, (r) => ratio(r.official.perSec, r.store.perSec)),
      grpcRawLoadGenerator: round(med(b, (r) => r.raw.perSec)),
      ratioGrpcRawToStore: med(b, (r) => ratio(r.raw.perSec, r.store.perSec)),
      cpuUsPerEvent: {
        grpcServer: med(b, (r) => r.official.serverCpuUs),
        grpcServerRaw: med(b, (r) => r.raw.serverCpuUs),
        officialClient: med(b, (r) => r.official.clientCpuUs),
        rawHttp2: med(b, (r) => r.raw.clientCpuUs),
        storeInProcess: med(b, (r) => r.store.clientCpuUs),
      },
      officialClientLimit: {
        oneCoreCeilingEventsPerSec: round(1e6 / med(b, (r) => r.official.clientCpuUs)),
        targetEventsPerSec: round(0.5 * med(b, (r) => r.store.perSec)),
      },
      perRound: b.map((r) => ({
        load: r.load,
        grpc: round(r.official.perSec),
        grpcRaw: round(r.raw.perSec),
        store: round(r.store.perSec),
        ratioGrpcToStore: ratio(r.official.perSec, r.store.perSec),
        ratioGrpcRawToStore: ratio(r.raw.perSec, r.store.perSec),
        cpuUsPerEvent: { grpcServer: r.official.serverCpuUs, grpcServerRaw: r.raw.serverCpuUs, officialClient: r.official.clientCpuUs, rawHttp2: r.raw.clientCpuUs, storeInProcess: r.store.clientCpuUs },
      })),
    };
  }

  if (runs('read')) {
    options.log(`reading a stream of ${readEvents} events…`);
    const child = await startChild(serverStore(), profileDir);
    const client = officialClient(child);
    const store = await openStore(storeUrl === 'memory:' ? 'memory:' : `${storeUrl}-inproc-${process.pid}-${storeRound++}`);
    try {
      for (let n = 0; n < readEvents; n += 500) {
        const events = Array.from({ length: 500 }, () => jsonEvent({ type: 'OrderPlaced', data: payload() }));
        await client.appendToStream('read-me', events);
        await store.appendToStream('read-me', events.map((e) => ({ id: e.id, type: e.type, data: e.data })));
      }
      const timed = async (work: () => Promise<number>) => {
        const t = process.hrtime.bigint();
        const n = await work();
        return n / (Number(process.hrtime.bigint() - t) / 1e9);
      };
      const grpcRead = await costed(child.child, () => readEvents, () =>
        timed(async () => {
          let n = 0;
          for await (const _ of client.readStream('read-me')) n++;
          return n;
        }),
      );
      const httpRead = await costed(child.child, () => readEvents, () =>
        timed(async () => {
          let n = 0;
          for (let from = 0; from < readEvents; from += 100) {
            const page = JSON.parse(await getText(child.url, `/streams/read-me/${from}/forward/100?embed=body`)) as { entries: unknown[] };
            n += page.entries.length;
          }
          return n;
        }),
      );
      const storeRead = await timed(async () => {
        let n = 0;
        for await (const _ of store.readStream('read-me')) n++;
        return n;
      });
      figures.readStreamEventsPerSec = {
        grpc: round(grpcRead.result),
        http: round(httpRead.result),
        store: round(storeRead),
        ratioGrpcToHttp: ratio(grpcRead.result, httpRead.result),
        ratioGrpcToStore: ratio(grpcRead.result, storeRead),
        serverCpuUsPerEvent: { grpc: grpcRead.serverCpuUsPerOp, http: httpRead.serverCpuUsPerOp },
        clientCpuUsPerEvent: { officialClient: grpcRead.clientCpuUsPerOp, http: httpRead.clientCpuUsPerOp },
      };
    } finally {
      await client.dispose();
      await store.close();
      await stopChild(child);
    }
  }
  const single = figures.appendsSingleEventPerSec as { ratioGrpcToHttp: number; ratioGrpcRawToHttp: number } | undefined;
  const batched = figures.appendsBatchedEventsPerSec as { ratioGrpcToStore: number; ratioGrpcRawToStore: number } | undefined;
  figures.targets = {
    ...(single ? { grpcSingleAtLeast3xHttp: single.ratioGrpcToHttp >= 3, serverAloneSingleAtLeast3xHttp: single.ratioGrpcRawToHttp >= 3 } : {}),
    ...(batched ? { grpcBatchedAtLeastHalfStore: batched.ratioGrpcToStore >= 0.5, serverAloneBatchedAtLeastHalfStore: batched.ratioGrpcRawToStore >= 0.5 } : {}),
  };
  figures.loadAverage = loadAverage;
  return figures;
}

// The child: an insecure server on a free port, address sent to the parent, graceful stop on SIGTERM.
if (process.env.TELLTALE_BENCH_GRPC_CHILD !== undefined && process.send !== undefined) {
  const storeUrl = process.env.TELLTALE_BENCH_GRPC_CHILD;
  const { openStore } = await import('../store/index.js');
  const { createServer } = await import('../server/index.js');
  const store = await openStore(storeUrl);
  const server = createServer({ store, host: '127.0.0.1', port: 0, auth: { insecure: true }, log: () => {} });
  const address = await server.listen();
  process.send({ url: address.url, port: address.port });
  process.on('message', (m) => {
    if (m !== 'cpu') return;
    const u = process.cpuUsage();
    process.send!({ cpu: u.user + u.system });
  });
  process.once('SIGTERM', () => {
    void server.close().then(() => store.close()).then(() => process.exit(0));
  });
}
