// Projection management at Event Store's URLs (shared/reference/eventstore-semantics.md §1.18),
// over the engine's ProjectionManager. Reading status, state and results needs a signed-in user;
// creating, changing and deleting needs `$ops` or `$admins`.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ProjectionManager, ProjectionStatus } from '../engine/index.js';
import { parseStartFrom, type StartFrom } from '../engine/projections/start-position.js';
import { num } from './atom-feed.js';
import { badRequest } from './http-error.js';
import { longPollSeconds } from './http-headers.js';
import { baseUrl, requireAuthenticated, requireOps, sendJson, type ServerContext } from './server-context.js';

type Params = Record<string, string | undefined>;
export type ProjectionsPort = ProjectionManager;

const MODES = { transient: 'transient', onetime: 'one-time', continuous: 'continuous' } as const;
const ES_MODE = { transient: 'Transient', 'one-time': 'OneTime', continuous: 'Continuous' } as const;
const NAME = /^[^\u0000-\u001f/]{1,256}$/;

function flag(query: Params, key: string, fallback: boolean): boolean {
  const v = query[key];
  if (v === undefined || v === '') return fallback;
  const lower = v.toLowerCase();
  if (lower === 'true' || lower === 'yes' || lower === '1') return true;
  if (lower === 'false' || lower === 'no' || lower === '0') return false;
  throw badRequest(`${key} must be true or false, got ${JSON.stringify(v)}`);
}

function projectionName(value: string | undefined): string {
  if (value === undefined || !NAME.test(value)) throw badRequest(`Invalid projection name ${JSON.stringify(value)}`);
  return value;
}

/**
 * Telltale's `from` on `POST /projections/transient` (Event Store has none): a `$all` position,
 * inclusive, or an ISO 8601 time (the first event stored at or after it; UTC unless it says).
 */
function startFrom(value: string): StartFrom {
  const from = parseStartFrom(value);
  if (from === undefined) throw badRequest(`from must be a $all position (e.g. 1024) or an ISO 8601 time (e.g. 2026-05-01T12:00:00Z), got ${JSON.stringify(value)}`);
  return from;
}

/** A JSON object body: parsed by the JSON parser, or text (curl -d sends a form) parsed here. */
function jsonBody(req: FastifyRequest): unknown {
  const body = req.body;
  if (typeof body !== 'string' && !Buffer.isBuffer(body)) return body;
  try {
    return JSON.parse(body.toString());
  } catch (e) {
    throw badRequest(`The request body is not valid JSON: ${(e as Error).message}`);
  }
}

function queryText(req: FastifyRequest): string {
  const body = req.body;
  const text = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : undefined;
  if (text === undefined || text.trim() === '') throw badRequest('The request body must be the projection\'s query (JavaScript source)');
  return text;
}

/** Event Store's statistics shape, with Telltale's extra figures (rate, lag, event time) alongside. */
export function projectionJson(base: string, s: ProjectionStatus): Record<string, unknown> {
  const url = `${base}/projection/${encodeURIComponent(s.name)}`;
  return {
    name: s.name,
    effectiveName: s.name,
    mode: ES_MODE[s.mode],
    status: s.status === 'Running' || s.status === 'Faulted' || s.status === 'Completed' ? s.status : s.enabled ? s.status : 'Stopped',
    enabled: s.enabled,
    stateReason: s.lastError?.message ?? '',
    lastError: s.lastError,
    position: s.position ?? '',
    progress: s.status === 'Completed' ? 100 : -1,
    eventsProcessedAfterRestart: s.eventsProcessed,
    eventsPerSecond: s.rate,
    lag: s.lag === undefined ? undefined : num(s.lag),
    partitionsCached: s.partitionsCached,
    emitEnabled: s.emitEnabled,
    epoch: s.epoch,
    version: s.version,
    kind: s.kind,
    eventTime: s.eventTime,
    writesInProgress: 0,
    readsInProgress: 0,
    bufferedEvents: 0,
    statusUrl: url,
    stateUrl: `${url}/state`,
    resultUrl: `${url}/result`,
    queryUrl: `${url}/query?config=yes`,
    enableCommandUrl: `${url}/command/enable`,
    disableCommandUrl: `${url}/command/disable`,
  };
}

function sendValue(reply: FastifyReply, value: unknown): FastifyReply {
  // No state yet is an empty body, as in Event Store.
  if (value === undefined) return reply.code(200).type('application/json; charset=utf-8').send('');
  return sendJson(reply, 200, value);
}

export function registerProjectionRoutes(app: FastifyInstance, ctx: ServerContext, projections: ProjectionManager): void {
  app.get('/projections/:filter', async (req, reply) => {
    requireAuthenticated(req);
    const filter = (req.params as Params).filter;
    const all = await Promise.all(projections.list().map((p) => projections.statistics(p.name)));
    const keep = (s: ProjectionStatus): boolean => {
      switch (filter) {
        case 'any':
          return true;
        case 'all-non-transient':
          return s.mode !== 'transient';
        case 'transient':
          return s.mode === 'transient';
        case 'onetime':
          return s.mode === 'one-time';
        case 'continuous':
          return s.mode === 'continuous';
        default:
          throw badRequest(`List projections with any, all-non-transient, transient, onetime or continuous, got ${JSON.stringify(filter)}`);
      }
    };
    const base = baseUrl(ctx, req);
    return sendJson(reply, 200, { projections: all.filter(keep).map((s) => projectionJson(base, s)) });
  });

  app.post('/projections/:mode', async (req, reply) => {
    const modeText = (req.params as Params).mode ?? '';
    const mode = MODES[modeText as keyof typeof MODES];
    if (mode === undefined) throw badRequest(`Create projections at /projections/transient, /projections/onetime or /projections/continuous, not ${JSON.stringify(modeText)}`);
    requireOps(req, 'create projections on');
    const query = req.query as Params;
    const name = projectionName(query.name);
    const type = (query.type ?? 'JS').toUpperCase();
    if (type !== 'JS') throw badRequest(`Only JS projections are supported, got type=${query.type}`);
    const emit = flag(query, 'emit', false);
    if (query.from !== undefined && mode !== 'transient') throw badRequest('from is for transient projections (queries) only: POST /projections/transient?from=…');
    const from = query.from === undefined || query.from === '' ? undefined : startFrom(query.from);
    await projections.create(name, queryText(req), {
      mode,
      emit,
      enabled: flag(query, 'enabled', true),
      checkpoints: mode === 'continuous' ? true : flag(query, 'checkpoints', false),
      ...(from !== undefined ? { from } : {}),
    });
    reply.raw.statusMessage = 'Created';
    return sendJson(reply.header('location', `${baseUrl(ctx, req)}/projection/${encodeURIComponent(name)}`), 201, { name });
  });

  app.get('/projection/:name', async (req, reply) => {
    requireAuthenticated(req);
    const name = projectionName((req.params as Params).name);
    return sendJson(reply, 200, projectionJson(baseUrl(ctx, req), await projections.statistics(name)));
  });

  app.get('/projection/:name/statistics', async (req, reply) => {
    requireAuthenticated(req);
    const name = projectionName((req.params as Params).name);
    return sendJson(reply, 200, { projections: [projectionJson(baseUrl(ctx, req), await projections.statistics(name))] });
  });

  for (const what of ['state', 'result'] as const) {
    app.get(`/projection/:name/${what}`, async (req, reply) => {
      requireAuthenticated(req);
      const name = projectionName((req.params as Params).name);
      const partition = (req.query as Params).partition ?? '';
      return sendValue(reply, what === 'state' ? await projections.state(name, partition) : await projections.result(name, partition));
    });
  }

  app.get('/projection/:name/query', async (req, reply) => {
    requireAuthenticated(req);
    const name = projectionName((req.params as Params).name);
    const text = projections.query(name);
    if ((req.query as Params).config === 'yes') {
      const s = projections.status(name);
      return sendJson(reply, 200, { name, query: text, type: 'JS', emitEnabled: s.emitEnabled, mode: ES_MODE[s.mode] });
    }
    return reply.code(200).type('text/plain; charset=utf-8').send(text);
  });

  app.put('/projection/:name/query', async (req, reply) => {
    requireOps(req, 'update projections on');
    const name = projectionName((req.params as Params).name);
    const query = req.query as Params;
    const emit = query.emit === undefined ? undefined : flag(query, 'emit', false);
    await projections.update(name, queryText(req), emit === undefined ? {} : { emit });
    return sendJson(reply, 200, { name });
  });

  app.get('/projection/:name/config', async (req, reply) => {
    requireAuthenticated(req);
    const name = projectionName((req.params as Params).name);
    return sendJson(reply, 200, projections.config(name));
  });

  // Event Store's UpdateConfig: only while stopped or faulted (409 otherwise); keys left out keep their values.
  app.put('/projection/:name/config', async (req, reply) => {
    requireOps(req, 'configure projections on');
    const name = projectionName((req.params as Params).name);
    return sendJson(reply, 200, await projections.updateConfig(name, jsonBody(req) as Parameters<ProjectionManager['updateConfig']>[1]));
  });

  // Telltale: what the projection wrote with log() and its faults (Event Store sends them to its
  // server log). `after=SEQ` answers only newer entries; with `Kurrent-LongPoll: N` (or ES-LongPoll)
  // an empty answer waits up to N seconds for one.
  app.get('/projection/:name/logs', async (req, reply) => {
    requireAuthenticated(req);
    const name = projectionName((req.params as Params).name);
    const raw = (req.query as Params).after;
    if (raw !== undefined && !/^\d{1,15}$/.test(raw)) throw badRequest(`after must be an entry's seq (a whole number), got ${JSON.stringify(raw)}`);
    const after = raw === undefined ? 0 : Number(raw);
    let logs = projections.logs(name, after);
    const wait = logs.length === 0 ? longPollSeconds(req.headers, ctx.longPollMaxSeconds) : undefined;
    if (wait !== undefined) {
      const done = new AbortController();
      const stop = () => done.abort();
      const timer = setTimeout(stop, wait * 1000);
      req.raw.socket.once('close', stop);
      ctx.closing.addEventListener('abort', stop, { once: true });
      try {
        await projections.whenLogged(name, after, done.signal);
      } finally {
        clearTimeout(timer);
        req.raw.socket.off('close', stop);
        ctx.closing.removeEventListener('abort', stop);
      }
      logs = projections.logs(name, after);
    }
    return sendJson(reply, 200, { name, logs });
  });

  app.post('/projection/:name/command/:command', async (req, reply) => {
    requireOps(req, 'control projections on');
    const { name: rawName, command } = req.params as Params;
    const name = projectionName(rawName);
    switch (command) {
      case 'enable':
        await projections.enable(name);
        break;
      case 'disable':
      case 'abort':
        await projections.disable(name);
        break;
      case 'reset':
        await projections.reset(name);
        break;
      default:
        throw badRequest(`Projection commands are enable, disable, reset and abort, not ${JSON.stringify(command)}`);
    }
    return sendJson(reply, 200, { name, command });
  });

  app.delete('/projection/:name', async (req, reply) => {
    requireOps(req, 'delete projections on');
    const name = projectionName((req.params as Params).name);
    const query = req.query as Params;
    await projections.delete(name, { deleteCheckpointStream: flag(query, 'deleteCheckpointStream', false), deleteStateStream: flag(query, 'deleteStateStream', false) });
    return sendJson(reply, 200, { name });
  });
}

/** Projection figures for /metrics: events processed, rate, lag and status per projection. */
export async function projectionMetrics(projections: ProjectionManager): Promise<string[]> {
  const all = await Promise.all(projections.list().map((p) => projections.statistics(p.name).catch(() => p)));
  const label = (s: ProjectionStatus) => `{projection=${JSON.stringify(s.name)}}`;
  return [
    '# HELP telltale_projection_events_processed_total Events processed since the projection (re)started.',
    '# TYPE telltale_projection_events_processed_total counter',
    ...all.map((s) => `telltale_projection_events_processed_total${label(s)} ${s.eventsProcessed}`),
    '# HELP telltale_projection_events_per_second Processing rate.',
    '# TYPE telltale_projection_events_per_second gauge',
    ...all.map((s) => `telltale_projection_events_per_second${label(s)} ${s.rate}`),
    '# HELP telltale_projection_lag Positions ($all) or events (one-stream sources) between the head and the projection.',
    '# TYPE telltale_projection_lag gauge',
    ...all.filter((s) => s.lag !== undefined).map((s) => `telltale_projection_lag${label(s)} ${s.lag}`),
    '# HELP telltale_projection_running 1 when the projection is running.',
    '# TYPE telltale_projection_running gauge',
    ...all.map((s) => `telltale_projection_running${label(s)} ${s.status === 'Running' ? 1 : 0}`),
    '# HELP telltale_projection_faulted 1 when the projection is faulted.',
    '# TYPE telltale_projection_faulted gauge',
    ...all.map((s) => `telltale_projection_faulted${label(s)} ${s.status === 'Faulted' ? 1 : 0}`),
  ];
}
