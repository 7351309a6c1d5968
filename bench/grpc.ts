// `npm run bench -- grpc [--json] [--duration S] [--concurrency N] [--batch N] [--store memory:|file:DIR] [--only single,batch,read] [--profile DIR]`
//
// Event Store's gRPC API against a server in a child process (so the load generators do not share
// its event loop; `--profile DIR` runs it under --cpu-prof), driven by the official Node client
// (@eventstore/db-client) and by a minimal raw HTTP/2 BatchAppend client, and in the same run the
// same work over the HTTP API (autocannon, keep-alive) and straight on a store in this process:
//   - single-event appends at the same concurrency (gRPC vs HTTP),
//   - batched appends (gRPC vs the store's own appendToStream rate),
//   - reading one long stream forwards (gRPC vs HTTP pages vs the store).
// Every scenario also reports CPU time per operation in the server and in the load generator,
// which the load of a shared machine disturbs far less than throughput does.
// The server runs without authentication (`insecure`), so both protocols go in plain text with no
// credential check: the figures compare the protocols, not TLS.
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { connect as connectHttp2, type ClientHttp2Session } from 'node:http2';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { EventStoreDBClient, jsonEvent } from '@eventstore/db-client';
import type { BenchOptions } from './main.js';
import { ProtoReader, ProtoWriter } from '../server/grpc/codec.js';

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
 * A minimal BatchAppend client over node:http2 (the same shape as the official client: one
 * connection, one BatchAppend call, every append a `BatchAppendReq` with a fresh correlation id and
 * `is_final`), encoding with our own writer. It costs a fraction of the official client per append,
 * so it shows what the server sustains when the load generator is not the limit.
 */
class RawBatchAppender {
  readonly #session: ClientHttp2Session;
  readonly #call;
  readonly #waiting = new Map<string, (ok: boolean) => void>();
  #pending: Buffer = Buffer.alloc(0);

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
        if (tag === ((1 << 3) | 2)) key = Buffer.from(r.bytes()).toString('latin1');
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
    const w = new ProtoWriter(128 + events.length * 200);
    const correlation = new ProtoWriter(48);
    correlation.string(2, randomUUID());
    const key = correlation.finish();
    w.bytes(1, key);
    w.message(2, (o) => {
      o.message(1, (id) => id.bytes(3, Buffer.from(stream)));
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
    const body = w.finish();
    const frame = Buffer.allocUnsafe(5 + body.length);
    frame[0] = 0;
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    return new Promise((resolve, reject) => {
      this.#waiting.set(key.toString('latin1'), (ok) => (ok ? resolve() : reject(new Error('append failed'))));
      this.#call.write(frame);
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

function startChild(storeUrl: string, profileDir: string | undefined): Promise<{ child: ChildProcess; url: string; port: number }> {
  const execArgv = ['--no-node-snapshot', ...(profileDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])];
  const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, TELLTALE_BENCH_GRPC_CHILD: storeUrl }, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, ...(m as { url: string; port: number }) }));
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
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

/**
 * CPU time per operation in the server process and in this (load-generating) process. On a
 * machine shared with other work, throughput swings with the load; CPU time per operation does
 * not (much), and 1e6 / µs is the rate one core would sustain.
 */
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

export async function run(options: BenchOptions): Promise<object> {
  const duration = Number(options.flags.duration ?? 5);
  const concurrency = Number(options.flags.concurrency ?? 32);
  const batch = Number(options.flags.batch ?? 100);
  const storeUrl = typeof options.flags.store === 'string' ? options.flags.store : 'memory:';
  const readEvents = Number(options.flags['read-events'] ?? 20_000);
  const profileDir = typeof options.flags.profile === 'string' ? options.flags.profile : undefined;
  const only = typeof options.flags.only === 'string' ? new Set(options.flags.only.split(',')) : undefined;
  const runs = (name: string) => only === undefined || only.has(name);
  const { child, url, port } = await startChild(storeUrl, profileDir);
  const client = EventStoreDBClient.connectionString(`esdb://127.0.0.1:${port}?tls=false`);
  const { openStore } = await import('../store/index.js');
  const store = await openStore(storeUrl === 'memory:' ? 'memory:' : `${storeUrl}-inproc`);
  const figures: Record<string, unknown> = { settings: { store: storeUrl, concurrency, batch, duration, readEvents } };
  try {
    options.log(`server ${url} on ${storeUrl}; concurrency ${concurrency}, batches of ${batch}, ${duration}s per scenario`);
    await client.appendToStream('warm-up', jsonEvent({ type: 'WarmUp', data: {} }));

    if (runs('single')) {
      options.log('gRPC single-event appends…');
      const grpc = await costed(child, (r) => r.done, () => loops(concurrency, duration, (loop) => client.appendToStream(`grpc-single-${loop % STREAMS}`, jsonEvent({ type: 'OrderPlaced', data: payload() }))));

      options.log('gRPC single-event appends, raw HTTP/2 load generator…');
      const raw = new RawBatchAppender(port);
      const grpcRaw = await costed(child, (r) => r.done, () => loops(concurrency, duration, (loop) => raw.append(`grpc-raw-${loop % STREAMS}`, [{ id: randomUUID(), type: 'OrderPlaced', data: payload() }])));
      raw.close();

      options.log('HTTP single-event appends…');
      let i = 0;
      const http = await costed(
        child,
        (r) => r.requests.total,
        () =>
          autocannon({
            url,
            connections: concurrency,
            duration,
            pipelining: 1,
            requests: [
              {
                method: 'POST',
                headers: { 'content-type': EVENTS_JSON },
                setupRequest: (req) => ({ ...req, path: `/streams/http-single-${i++ % STREAMS}`, body: JSON.stringify([{ eventId: randomUUID(), eventType: 'OrderPlaced', data: payload() }]) }),
              },
            ],
          }),
      );
      const httpSingle = http.result.requests.average;
      figures.appendsSingleEventPerSec = {
        grpc: round(grpc.result.perSec),
        http: round(httpSingle),
        ratioGrpcToHttp: ratio(grpc.result.perSec, httpSingle),
        grpcRawLoadGenerator: round(grpcRaw.result.perSec),
        ratioGrpcRawToHttp: ratio(grpcRaw.result.perSec, httpSingle),
        httpErrors: http.result.errors + http.result.non2xx,
        serverCpuUsPerAppend: { grpc: grpc.serverCpuUsPerOp, grpcRaw: grpcRaw.serverCpuUsPerOp, http: http.serverCpuUsPerOp },
        serverCpuRatioHttpToGrpc: ratio(http.serverCpuUsPerOp, grpc.serverCpuUsPerOp),
        loadGeneratorCpuUsPerAppend: { officialClient: grpc.clientCpuUsPerOp, rawHttp2: grpcRaw.clientCpuUsPerOp, autocannon: http.clientCpuUsPerOp },
        oneCoreCeilingPerSec: {
          grpcServer: round(1e6 / grpc.serverCpuUsPerOp),
          grpcServerRaw: round(1e6 / grpcRaw.serverCpuUsPerOp),
          httpServer: round(1e6 / http.serverCpuUsPerOp),
          officialClient: round(1e6 / grpc.clientCpuUsPerOp),
          autocannon: round(1e6 / http.clientCpuUsPerOp),
        },
      };
    }

    if (runs('batch')) {
      options.log(`gRPC appends of ${batch} events…`);
      const grpc = await costed(child, (r) => r.done * batch, () =>
        loops(concurrency, duration, (loop) =>
          client.appendToStream(
            `grpc-batch-${loop % STREAMS}`,
            Array.from({ length: batch }, () => jsonEvent({ type: 'OrderPlaced', data: payload() })),
          ),
        ),
      );

      options.log(`gRPC appends of ${batch} events, raw HTTP/2 load generator…`);
      const raw = new RawBatchAppender(port);
      const grpcRaw = await costed(child, (r) => r.done * batch, () =>
        loops(concurrency, duration, (loop) =>
          raw.append(
            `grpc-raw-batch-${loop % STREAMS}`,
            Array.from({ length: batch }, () => ({ id: randomUUID(), type: 'OrderPlaced', data: payload() })),
          ),
        ),
      );
      raw.close();

      options.log(`store appends of ${batch} events (in process)…`);
      const stored = await costed(child, (r) => r.done * batch, () =>
        loops(concurrency, duration, (loop) =>
          store.appendToStream(
            `store-batch-${loop % STREAMS}`,
            Array.from({ length: batch }, () => ({ id: randomUUID(), type: 'OrderPlaced', data: payload() })),
          ),
        ),
      );
      figures.appendsBatchedEventsPerSec = {
        grpc: round(grpc.result.perSec * batch),
        store: round(stored.result.perSec * batch),
        ratioGrpcToStore: ratio(grpc.result.perSec, stored.result.perSec),
        grpcRawLoadGenerator: round(grpcRaw.result.perSec * batch),
        ratioGrpcRawToStore: ratio(grpcRaw.result.perSec, stored.result.perSec),
        cpuUsPerEvent: { grpcServer: grpc.serverCpuUsPerOp, grpcServerRaw: grpcRaw.serverCpuUsPerOp, officialClient: grpc.clientCpuUsPerOp, rawHttp2: grpcRaw.clientCpuUsPerOp, storeInProcess: stored.clientCpuUsPerOp },
        serverCpuRatioStoreToGrpc: ratio(stored.clientCpuUsPerOp, grpc.serverCpuUsPerOp),
        oneCoreCeilingEventsPerSec: { grpcServer: round(1e6 / grpc.serverCpuUsPerOp), officialClient: round(1e6 / grpc.clientCpuUsPerOp), rawHttp2: round(1e6 / grpcRaw.clientCpuUsPerOp), store: round(1e6 / stored.clientCpuUsPerOp) },
      };
    }

    if (runs('read')) {
      options.log(`reading a stream of ${readEvents} events…`);
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
      const grpcRead = await costed(child, () => readEvents, () =>
        timed(async () => {
          let n = 0;
          for await (const _ of client.readStream('read-me')) n++;
          return n;
        }),
      );
      const httpRead = await costed(child, () => readEvents, () =>
        timed(async () => {
          let n = 0;
          for (let from = 0; from < readEvents; from += 100) {
            const page = JSON.parse(await getText(url, `/streams/read-me/${from}/forward/100?embed=body`)) as { entries: unknown[] };
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
    }
    const single = figures.appendsSingleEventPerSec as { grpc: number; http: number } | undefined;
    const batched = figures.appendsBatchedEventsPerSec as { grpc: number; store: number } | undefined;
    figures.targets = {
      ...(single ? { grpcSingleAtLeast3xHttp: single.grpc >= 3 * single.http } : {}),
      ...(batched ? { grpcBatchedAtLeastHalfStore: batched.grpc >= 0.5 * batched.store } : {}),
    };
    return figures;
  } finally {
    await client.dispose();
    await store.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
  }
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
