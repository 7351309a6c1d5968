// Live feeds for the dashboard as server-sent events: `/feeds/streams/{stream}` and `/feeds/all`
// send each new event as it is committed (from `?from=` or the `Last-Event-ID` a reconnecting
// EventSource sends, else from now). A comment line every 15 s keeps proxies from timing out.
// Access is checked as for reading the stream (`$all` needs `$admins` by default).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ALL_STREAM } from '../store/stream-name.js';
import type { ProjectionManager } from '../engine/index.js';
import type { RecordedEvent, Subscription } from '../store/types.js';
import { contentData, num } from './atom-feed.js';
import { badRequest } from './http-error.js';
import { projectionJson } from './projection-routes.js';
import { authorize, baseUrl, requireAuthenticated, streamParam, type ServerContext } from './server-context.js';

type Params = Record<string, string | undefined>;

const HEARTBEAT_MS = 15_000;

function startFrom(req: FastifyRequest): bigint | 'end' | 'start' {
  const query = req.query as Params;
  const text = query.from ?? (typeof req.headers['last-event-id'] === 'string' ? req.headers['last-event-id'] : undefined);
  if (text === undefined || text === 'end') return 'end';
  if (text === 'start') return 'start';
  if (!/^\d{1,19}$/.test(text)) throw badRequest(`from must be 'start', 'end' or a number (events after it are sent), got ${JSON.stringify(text)}`);
  return BigInt(text);
}

export function sseEvent(e: RecordedEvent, id: bigint): string {
  const payload = {
    streamId: e.streamId,
    eventNumber: num(e.revision),
    position: e.position.toString(),
    eventType: e.type,
    eventId: e.id,
    created: e.created.toISOString(),
    data: contentData(e),
    metadata: e.metadata,
  };
  return `id: ${id}\nevent: event\ndata: ${JSON.stringify(payload)}\n\n`;
}

/** Streams `subscription` to the client until it or the server goes away. */
export async function pipeSse(ctx: ServerContext, req: FastifyRequest, reply: FastifyReply, subscription: Subscription, idOf: (e: RecordedEvent) => bigint): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'close', 'x-accel-buffering': 'no' });
  res.write(': telltale live feed\n\n');
  ctx.metrics.liveFeeds++;
  const stop = () => void subscription.close();
  const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), HEARTBEAT_MS);
  res.once('close', stop);
  ctx.closing.addEventListener('abort', stop, { once: true });
  try {
    for await (const e of subscription) {
      // Backpressure: a slow client makes the subscription wait, and it catches up from the log later.
      if (!res.write(sseEvent(e, idOf(e)))) await new Promise((resolve) => res.once('drain', resolve));
    }
  } catch (e) {
    res.write(`event: error\ndata: ${JSON.stringify({ message: (e as Error).message })}\n\n`);
  } finally {
    clearInterval(heartbeat);
    ctx.metrics.liveFeeds--;
    res.off('close', stop);
    ctx.closing.removeEventListener('abort', stop);
    res.end();
  }
}

const PROJECTION_POLL_MS = 500;

export function registerFeedRoutes(app: FastifyInstance, ctx: ServerContext, projections?: ProjectionManager): void {
  if (projections !== undefined) {
    // Projection status changes (status, enabled, fault) as they happen, after a snapshot of all.
    app.get('/feeds/projections', async (req, reply) => {
      requireAuthenticated(req);
      const base = baseUrl(ctx, req);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'close', 'x-accel-buffering': 'no' });
      ctx.metrics.liveFeeds++;
      const last = new Map<string, string>();
      let beats = 0;
      const tick = () => {
        const seen = new Set<string>();
        for (const s of projections.list()) {
          seen.add(s.name);
          const key = JSON.stringify([s.status, s.enabled, s.lastError?.message]);
          if (last.get(s.name) === key) continue;
          last.set(s.name, key);
          res.write(`event: projection\ndata: ${JSON.stringify(projectionJson(base, s))}\n\n`);
        }
        for (const name of [...last.keys()]) {
          if (seen.has(name)) continue;
          last.delete(name);
          res.write(`event: projection-deleted\ndata: ${JSON.stringify({ name })}\n\n`);
        }
        if (++beats % Math.round(HEARTBEAT_MS / PROJECTION_POLL_MS) === 0) res.write(': heartbeat\n\n');
      };
      tick();
      const timer = setInterval(tick, PROJECTION_POLL_MS);
      let stopped = false;
      const stop = () => {
        if (stopped) return;
        stopped = true;
        clearInterval(timer);
        res.off('close', stop);
        ctx.closing.removeEventListener('abort', stop);
        ctx.metrics.liveFeeds--;
        res.end();
      };
      res.once('close', stop);
      ctx.closing.addEventListener('abort', stop, { once: true });
    });
  }

  app.get('/feeds/all', async (req, reply) => {
    const from = startFrom(req);
    await authorize(ctx, req, ALL_STREAM, 'read');
    const subscription = ctx.store.subscribeToAll({ fromPosition: from });
    await pipeSse(ctx, req, reply, subscription, (e) => e.position);
  });

  app.get('/feeds/streams/:stream', async (req, reply) => {
    const streamId = streamParam((req.params as Params).stream, true);
    if (streamId === ALL_STREAM) return reply.redirect('/feeds/all', 307);
    const from = startFrom(req);
    await authorize(ctx, req, streamId, 'read');
    const subscription = ctx.store.subscribeToStream(streamId, { fromRevision: from });
    await pipeSse(ctx, req, reply, subscription, (e) => e.link?.revision ?? e.revision);
    return reply;
  });
}
