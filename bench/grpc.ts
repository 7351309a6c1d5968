// `npm run bench -- grpc [--json] [--duration S] [--concurrency N] [--batch N] [--store memory:|file:DIR]`
//
// Event Store's gRPC API through the official Node client (@eventstore/db-client), against a
// server in a child process (so the load generator does not share its event loop), and in the
// same run the same work over the HTTP API (autocannon, keep-alive) and straight on a store in
// this process:
//   - single-event appends at the same concurrency (gRPC vs HTTP),
//   - batched appends (gRPC vs the store's own appendToStream rate),
//   - reading one long stream forwards (gRPC vs HTTP pages vs the store).
// The server runs without authentication (`insecure`), so both protocols go in plain text with no
// credential check: the figures compare the protocols, not TLS.
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { EventStoreDBClient, jsonEvent } from '@eventstore/db-client';
import type { BenchOptions } from './main.js';

const STREAMS = 64;
const EVENTS_JSON = 'application/vnd.eventstore.events+json';

function payload(): Record<string, unknown> {
  return { orderId: randomUUID(), amount: 42.5, currency: 'EUR', lines: 3 };
}

/** Runs `work` in `concurrency` loops for `seconds`; returns operations per second. */
async function loops(concurrency: number, seconds: number, work: (loop: number, n: number) => Promise<unknown>): Promise<number> {
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
  return done / (Number(process.hrtime.bigint() - started) / 1e9);
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

function startChild(storeUrl: string): Promise<{ child: ChildProcess; url: string; port: number }> {
  const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, TELLTALE_BENCH_GRPC_CHILD: storeUrl }, execArgv: ['--no-node-snapshot'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, ...(m as { url: string; port: number }) }));
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
}

const round = (n: number) => Math.round(n);
const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;

export async function run(options: BenchOptions): Promise<object> {
  const duration = Number(options.flags.duration ?? 5);
  const concurrency = Number(options.flags.concurrency ?? 32);
  const batch = Number(options.flags.batch ?? 100);
  const storeUrl = typeof options.flags.store === 'string' ? options.flags.store : 'memory:';
  const readEvents = Number(options.flags['read-events'] ?? 20_000);
  const { child, url, port } = await startChild(storeUrl);
  const client = EventStoreDBClient.connectionString(`esdb://127.0.0.1:${port}?tls=false`);
  const { openStore } = await import('../store/index.js');
  const store = await openStore(storeUrl === 'memory:' ? 'memory:' : `${storeUrl}-inproc`);
  try {
    options.log(`server ${url} on ${storeUrl}; concurrency ${concurrency}, batches of ${batch}, ${duration}s per scenario`);
    await client.appendToStream('warm-up', jsonEvent({ type: 'WarmUp', data: {} }));

    options.log('gRPC single-event appends…');
    const grpcSingle = await loops(concurrency, duration, (loop) => client.appendToStream(`grpc-single-${loop % STREAMS}`, jsonEvent({ type: 'OrderPlaced', data: payload() })));

    options.log('HTTP single-event appends…');
    let i = 0;
    const http = await autocannon({
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
    });
    const httpSingle = http.requests.average;

    options.log(`gRPC appends of ${batch} events…`);
    const grpcBatches = await loops(concurrency, duration, (loop) =>
      client.appendToStream(
        `grpc-batch-${loop % STREAMS}`,
        Array.from({ length: batch }, () => jsonEvent({ type: 'OrderPlaced', data: payload() })),
      ),
    );

    options.log(`store appends of ${batch} events (in process)…`);
    const storeBatches = await loops(concurrency, duration, (loop) =>
      store.appendToStream(
        `store-batch-${loop % STREAMS}`,
        Array.from({ length: batch }, () => ({ id: randomUUID(), type: 'OrderPlaced', data: payload() })),
      ),
    );

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
    const grpcRead = await timed(async () => {
      let n = 0;
      for await (const _ of client.readStream('read-me')) n++;
      return n;
    });
    const httpRead = await timed(async () => {
      let n = 0;
      for (let from = 0; from < readEvents; from += 100) {
        const page = JSON.parse(await getText(url, `/streams/read-me/${from}/forward/100?embed=body`)) as { entries: unknown[] };
        n += page.entries.length;
      }
      return n;
    });
    const storeRead = await timed(async () => {
      let n = 0;
      for await (const _ of store.readStream('read-me')) n++;
      return n;
    });

    const figures = {
      settings: { store: storeUrl, concurrency, batch, duration, readEvents },
      appendsSingleEventPerSec: { grpc: round(grpcSingle), http: round(httpSingle), ratioGrpcToHttp: ratio(grpcSingle, httpSingle), httpErrors: http.errors + http.non2xx },
      appendsBatchedEventsPerSec: { grpc: round(grpcBatches * batch), store: round(storeBatches * batch), ratioGrpcToStore: ratio(grpcBatches, storeBatches) },
      readStreamEventsPerSec: { grpc: round(grpcRead), http: round(httpRead), store: round(storeRead), ratioGrpcToHttp: ratio(grpcRead, httpRead), ratioGrpcToStore: ratio(grpcRead, storeRead) },
      targets: { grpcSingleAtLeast3xHttp: grpcSingle >= 3 * httpSingle, grpcBatchedAtLeastHalfStore: grpcBatches >= 0.5 * storeBatches },
    };
    return figures;
  } finally {
    await client.dispose();
    await store.close();
    child.kill('SIGTERM');
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
  process.once('SIGTERM', () => {
    void server.close().then(() => store.close()).then(() => process.exit(0));
  });
}
