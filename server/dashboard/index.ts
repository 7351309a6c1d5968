// The dashboard: the page at `/` and the few JSON endpoints it needs that the Event Store API
// does not have (a searchable stream list, a stream's events as plain JSON, correlation graphs,
// rule descriptions, one live feed of rates, alerts and projection health). It is a fastify plugin
// the server registers with `app.register(import('./dashboard/index.js'), { ctx, projections })`;
// authentication and errors are the server's (its hooks and error handler apply here too).
// Reads check the same ACLs as the streams API; admin actions go to the API's own routes.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ProjectionManager, ProjectionStatus } from '../../engine/index.js';
import { isAdmin, isOps } from '../../store/acl.js';
import { ALL_STREAM } from '../../store/stream-name.js';
import type { RecordedEvent } from '../../store/types.js';
import { HttpError, badRequest } from '../http-error.js';
import { authorize, requireAuthenticated, sendJson, streamParam, type ServerContext } from '../server-context.js';
import { correlationGraph } from './correlation-graph.js';
import { describeRules } from './rule-descriptions.js';
import { registerStaticFiles } from './static-files.js';
import { StoreActivity, type AlertSummary } from './store-activity.js';

export interface DashboardOptions {
  readonly ctx: ServerContext;
  /** The projection runtime, when the server has one; without it the projection views are empty. */
  readonly projections?: ProjectionManager | undefined;
}

type Query = Record<string, string | undefined>;

const TICK_MS = 1000;
/** Most events one page of a stream shows. */
const MAX_PAGE = 200;

function intParam(query: Query, key: string, fallback: number, max: number): number {
  const text = query[key];
  if (text === undefined || text === '') return fallback;
  if (!/^\d{1,9}$/.test(text)) throw badRequest(`${key} must be a whole number, got ${JSON.stringify(text)}`);
  return Math.min(Number(text), max);
}

/** A projection's figures in the shape the page reads (bigints as strings). */
export function projectionSummary(s: ProjectionStatus): Record<string, unknown> {
  return {
    name: s.name,
    kind: s.kind,
    mode: s.mode,
    enabled: s.enabled,
    status: s.status,
    position: s.position ?? null,
    eventsProcessed: s.eventsProcessed,
    rate: s.rate,
    lag: s.lag === undefined ? null : s.lag.toString(),
    lastError: s.lastError ?? null,
    partitionsCached: s.partitionsCached,
    emitEnabled: s.emitEnabled,
    version: s.version,
    epoch: s.epoch,
  };
}

async function allProjections(projections: ProjectionManager | undefined): Promise<Record<string, unknown>[]> {
  if (projections === undefined) return [];
  const all = await Promise.all(projections.list().map((p) => projections.statistics(p.name).catch(() => p)));
  return all.map(projectionSummary);
}

function eventJson(e: RecordedEvent): Record<string, unknown> {
  return {
    streamId: e.streamId,
    revision: e.revision.toString(),
    position: e.position.toString(),
    id: e.id,
    type: e.type,
    created: e.created.toISOString(),
    isJson: e.isJson,
    data: e.isJson ? e.data : Buffer.from(e.dataBytes).toString('utf8'),
    metadata: e.metadata,
    ...(e.link ? { link: { streamId: e.link.streamId, revision: e.link.revision.toString() } } : {}),
  };
}

export default async function dashboard(app: FastifyInstance, options: DashboardOptions): Promise<void> {
  const { ctx, projections } = options;
  const activity = new StoreActivity(ctx.store, ctx.log);
  app.addHook('onClose', async () => activity.close());

  registerStaticFiles(app);

  // A 401 with `WWW-Authenticate: Basic` makes a browser open its own password prompt over the
  // page, even for fetch(); the page has its own sign-in form, so its endpoints leave it out.
  app.addHook('onSend', async (req, reply) => {
    if (req.url.startsWith('/dashboard/api/')) reply.removeHeader('www-authenticate');
  });

  /** Who is asking, and what the page may offer them. Anonymous callers get 200 with `authenticated: false`. */
  app.get('/dashboard/api/session', async (req, reply) => {
    const p = req.principal;
    const authenticated = p.anonymous !== true;
    const readAll = await ctx.access.allowed(p, ALL_STREAM, 'read');
    return sendJson(reply, 200, {
      authenticated,
      authRequired: !(authenticated && p.name === '$system'),
      user: authenticated ? p.name : null,
      groups: p.groups,
      admin: isAdmin(p),
      ops: isOps(p),
      readAll,
      projections: projections !== undefined,
    });
  });

  /** What the overview starts from: the last five minutes of rates, the newest alerts, projections. */
  app.get('/dashboard/api/overview', async (req, reply) => {
    requireAuthenticated(req);
    await activity.ready();
    const visible = alertFilter(req);
    const alerts: AlertSummary[] = [];
    for (const a of activity.recentAlerts()) if (await visible(a)) alerts.push(a);
    return sendJson(reply, 200, { rates: activity.rates(), alerts, head: activity.head.toString(), projections: await allProjections(projections) });
  });

  /**
   * The live feed (server-sent events): `tick` each second with the latest per-second counts and
   * every projection's figures, and `alert` as each alert is committed. A client that loses it
   * (the server restarted) reconnects and reloads the overview.
   */
  app.get('/dashboard/api/live', async (req, reply) => {
    requireAuthenticated(req);
    await activity.ready();
    const visible = alertFilter(req);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('retry: 1000\n\n');
    ctx.metrics.liveFeeds++;
    const write = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    const tick = async () => {
      write('tick', { rates: activity.rates(5), head: activity.head.toString(), projections: await allProjections(projections) });
    };
    const timer = setInterval(() => void tick().catch(() => undefined), TICK_MS);
    const unsubscribe = activity.onAlert((a) => {
      void visible(a).then((ok) => ok && write('alert', a), () => undefined);
    });
    void tick().catch(() => undefined);
    const stop = () => {
      clearInterval(timer);
      unsubscribe();
      req.raw.off('close', stop);
      ctx.closing.removeEventListener('abort', stop);
      ctx.metrics.liveFeeds--;
      res.end();
    };
    req.raw.once('close', stop);
    ctx.closing.addEventListener('abort', stop, { once: true });
  });

  /** A page of streams, newest written first, optionally filtered by a substring of the name. */
  app.get('/dashboard/api/streams', async (req, reply) => {
    await authorize(ctx, req, ALL_STREAM, 'read');
    await activity.ready();
    const q = req.query as Query;
    const started = performance.now();
    const page = activity.catalog.query({
      search: q.q ?? '',
      system: q.system === 'true' || q.system === '1',
      offset: intParam(q, 'offset', 0, 1e9),
      limit: intParam(q, 'limit', 50, 500),
    });
    return sendJson(reply, 200, {
      total: page.total,
      offset: page.offset,
      tookMs: Math.round((performance.now() - started) * 100) / 100,
      streams: page.streams.map((s) => ({
        name: s.name,
        lastRevision: s.lastRevision.toString(),
        lastPosition: s.lastPosition.toString(),
        lastType: s.lastType,
        lastWritten: s.lastWritten.toISOString(),
      })),
    });
  });

  /** A stream's events, newest first, from `before` (a revision, exclusive) or the end. */
  app.get('/dashboard/api/streams/:stream/events', async (req, reply) => {
    const streamId = streamParam((req.params as Query).stream);
    await authorize(ctx, req, streamId, 'read');
    const q = req.query as Query;
    const limit = intParam(q, 'limit', 20, MAX_PAGE);
    const before = q.before === undefined || q.before === '' ? undefined : BigInt(intParam(q, 'before', 0, 1e9));
    if (before === 0n) return sendJson(reply, 200, { streamId, events: [] });
    const events = [];
    for await (const e of ctx.store.readStream(streamId, { direction: 'backwards', fromRevision: before === undefined ? 'end' : before - 1n, maxCount: limit, resolveLinks: true })) {
      events.push(eventJson(e));
    }
    return sendJson(reply, 200, { streamId, events });
  });

  /** One event, by stream and revision, with its data and metadata. */
  app.get('/dashboard/api/streams/:stream/events/:revision', async (req, reply) => {
    const params = req.params as Query;
    const streamId = streamParam(params.stream);
    await authorize(ctx, req, streamId, 'read');
    const revision = BigInt(intParam(params, 'revision', 0, Number.MAX_SAFE_INTEGER));
    for await (const e of ctx.store.readStream(streamId, { fromRevision: revision, maxCount: 1, resolveLinks: true })) {
      if (e.revision === revision || e.link?.revision === revision) return sendJson(reply, 200, eventJson(e));
    }
    throw new HttpError(404, 'not-found', `Stream '${streamId}' has no event ${revision}`);
  });

  /** The events sharing a `$correlationId`, with causation edges. */
  app.get('/dashboard/api/correlation/:id', async (req, reply) => {
    await authorize(ctx, req, ALL_STREAM, 'read');
    const id = (req.params as Query).id ?? '';
    if (id === '' || id.length > 1024) throw badRequest('A correlation id is 1 to 1024 characters');
    return sendJson(reply, 200, await correlationGraph(ctx.store, id));
  });

  /** The rules a projection defines, as their `explain()` descriptions. */
  app.get('/dashboard/api/projections/:name/rules', async (req, reply) => {
    requireAuthenticated(req);
    const name = (req.params as Query).name ?? '';
    if (projections === undefined) throw new HttpError(404, 'not-found', 'This server runs no projections');
    const status = projections.status(name);
    if (status.kind === 'system') return sendJson(reply, 200, { name, rules: [] });
    return sendJson(reply, 200, { name, ...(await describeRules(name, projections.query(name))) });
  });

  /** The partitions a projection has written state for (its `-{partition}-checkpoint` streams). */
  app.get('/dashboard/api/projections/:name/partitions', async (req, reply) => {
    requireAuthenticated(req);
    const name = (req.params as Query).name ?? '';
    if (projections === undefined) throw new HttpError(404, 'not-found', 'This server runs no projections');
    projections.status(name);
    await activity.ready();
    const prefix = `$projections-${name}-`;
    const partitions = activity.catalog
      .withPrefix(prefix, 1001)
      .map((s) => s.name)
      .filter((s) => s.endsWith('-checkpoint') && s !== `${prefix}checkpoint`)
      .map((s) => s.slice(prefix.length, -'-checkpoint'.length));
    return sendJson(reply, 200, { name, partitions: partitions.slice(0, 1000), more: partitions.length > 1000 });
  });

  /** Alerts in streams the caller may not read are not shown to them. */
  function alertFilter(req: FastifyRequest): (a: AlertSummary) => Promise<boolean> {
    const known = new Map<string, Promise<boolean>>();
    return (a) => {
      let ok = known.get(a.streamId);
      if (ok === undefined) {
        ok = ctx.access.allowed(req.principal, a.streamId, 'read').catch(() => false);
        if (known.size < 1000) known.set(a.streamId, ok);
      }
      return ok;
    };
  }
}

