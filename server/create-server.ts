// `createServer`: the HTTP API (Event Store compatible), live feeds, metrics and persistent
// subscriptions over one Store. It wires the parts together and translates errors in one place;
// the routes live in their own modules.
import { setMaxListeners } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerFactory } from 'fastify';
import { PersistentSubscriptions, TooManySubscribersError } from '../engine/subscriptions/index.js';
import { ANONYMOUS, NotAuthenticatedError, StreamAccess, SYSTEM, type Principal } from '../store/acl.js';
import { errorStatus, isTelltaleError, WrongExpectedRevisionError } from '../store/errors.js';
import type { Store } from '../store/types.js';
import { AccessDecisions } from './access-decisions.js';
import { registerFeedRoutes } from './feed-routes.js';
import { createGrpcApi, type GrpcOptions } from './grpc/grpc-api.js';
import { HttpError, badRequest, unsupportedMediaType } from './http-error.js';
import { ServerMetrics } from './metrics.js';
import type { ServerContext } from './server-context.js';
import { projectionMetrics, registerProjectionRoutes, type ProjectionsPort } from './projection-routes.js';
import { registerStreamRoutes, type KeptPageReads } from './stream-routes.js';
import { registerSubscriptionRoutes } from './subscription-routes.js';
import { registerUserRoutes } from './user-routes.js';
import { Users } from './users.js';

export interface ServerAuthOptions {
  /**
   * Password for `admin` on first start (or to replace the well-known default later).
   * @defaultValue the `TELLTALE_ADMIN_PASSWORD` environment variable
   */
  readonly adminPassword?: string;
  /** Creates `ops` (group `$ops`) on first start. @defaultValue `TELLTALE_OPS_PASSWORD` */
  readonly opsPassword?: string;
  /** No authentication and no ACLs: every caller is an administrator. Only for local tests. @defaultValue false */
  readonly insecure?: boolean;
  /** Unauthenticated callers may do what `$all` may in an ACL. @defaultValue false */
  readonly allowAnonymous?: boolean;
}

export interface ServerOptions {
  readonly store: Store;
  /**
   * The projection runtime, already started; its routes, live status feed and metrics are served
   * only when given, and `close()` stops it (projections write their checkpoints).
   */
  readonly projections?: ProjectionsPort;
  /** @defaultValue '127.0.0.1' */
  readonly host?: string;
  /** 0 picks a free port. @defaultValue 2113 */
  readonly port?: number;
  readonly auth?: ServerAuthOptions;
  /** Largest request body, in bytes; more is refused with 413. @defaultValue 16 MiB */
  readonly bodyLimit?: number;
  /** Longest LongPoll honoured, in seconds. @defaultValue 60 */
  readonly longPollMaxSeconds?: number;
  /** How long `close()` waits for in-flight requests before cutting connections. @defaultValue 10000 */
  readonly shutdownTimeoutMs?: number;
  /**
   * Memory for rendered immutable pages, plus a quarter of it for rendered entries (0 turns both
   * caches off). @defaultValue 64 MiB
   */
  readonly pageCacheBytes?: number;
  /** Close the store in `close()`. @defaultValue false (whoever opened it closes it) */
  readonly closeStore?: boolean;
  /** Where the server says what it does (start, bind address, warnings). @defaultValue stderr */
  readonly log?: (line: string) => void;
  /**
   * Serve Event Store's gRPC API on the same port (h2c, and TLS when a key and certificate are
   * given here or in TELLTALE_TLS_KEY_FILE / TELLTALE_TLS_CERT_FILE); see docs/grpc.md.
   * @defaultValue true
   */
  readonly grpc?: boolean | GrpcOptions;
}

export interface ServerAddress {
  readonly host: string;
  readonly port: number;
  /** `http://host:port` */
  readonly url: string;
}

export interface TelltaleServer {
  /** Bootstraps users, starts persistent subscriptions, then binds. */
  listen(): Promise<ServerAddress>;
  /** Stops accepting, finishes in-flight requests (appends included), checkpoints subscriptions, closes. */
  close(): Promise<void>;
  readonly address: ServerAddress | undefined;
  /** The fastify instance, for injecting requests in tests and adding routes. */
  readonly app: FastifyInstance;
  readonly subscriptions: PersistentSubscriptions;
  readonly metrics: ServerMetrics;
}

const KEEP_ALIVE_TIMEOUT_MS = 30_000;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;

function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: code, message });
}

export function createServer(options: ServerOptions): TelltaleServer {
  const store = options.store;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const insecure = options.auth?.insecure === true;
  const metrics = new ServerMetrics();
  const access = new StreamAccess(store, { allowAnonymous: options.auth?.allowAnonymous === true });
  const users = new Users(store);
  const subscriptions = new PersistentSubscriptions(store, { log });
  const closing = new AbortController();
  // Every long poll and live feed listens for shutdown.
  setMaxListeners(0, closing.signal);
  let address: ServerAddress | undefined;
  const sockets = new Set<Socket>();

  // Stream page reads that a kept render answers are served before fastify (see KeptPageReads);
  // set once the stream routes are registered.
  let keptPages: KeptPageReads | undefined;
  const serverFactory: FastifyServerFactory = (handler) => {
    const server = createHttpServer((req, res) => {
      if (keptPages !== undefined && req.method === 'GET' && !closing.signal.aborted && keptPages.serve(req, res, knownPrincipal, () => handler(req, res))) return;
      handler(req, res);
    });
    // What fastify sets on a server it makes itself (it leaves a factory's alone).
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    server.requestTimeout = 0;
    server.setTimeout(0);
    return server;
  };

  const app = Fastify({
    serverFactory,
    logger: false,
    bodyLimit: options.bodyLimit ?? 16 * 1024 * 1024,
    // Stream names may be up to 1024 UTF-8 bytes, percent-encoded in the path.
    routerOptions: { maxParamLength: 4096 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
  });

  const ctx: ServerContext = {
    store,
    access,
    decisions: new AccessDecisions(access),
    users,
    metrics,
    subscriptions,
    closing: closing.signal,
    longPollMaxSeconds: options.longPollMaxSeconds ?? 60,
    log,
    boundUrl: () => address?.url ?? `http://${options.host ?? '127.0.0.1'}:${options.port ?? 2113}`,
  };

  const grpc = options.grpc === false ? undefined : createGrpcApi({ ...ctx, closing: closing.signal, projections: options.projections, insecure, address: () => ({ host: address?.host ?? '127.0.0.1', port: address?.port ?? 2113 }) }, options.grpc === true ? {} : options.grpc);

  // ---- bodies: JSON only, parsed here so that every mistake gets the same clear 400 ----
  app.removeAllContentTypeParsers();
  const jsonTypes = ['application/json', 'application/vnd.eventstore.events+json', 'application/vnd.kurrent.events+json'];
  app.addContentTypeParser(jsonTypes, { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    try {
      done(null, JSON.parse(text));
    } catch (e) {
      // Told apart only on failure, so a good body is not scanned twice.
      if (text.trim() === '') return done(badRequest('The request body is empty; send JSON'), undefined);
      done(badRequest(`The request body is not valid JSON: ${(e as Error).message}`), undefined);
    }
  });
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.addContentTypeParser(['application/xml', 'text/xml', 'application/vnd.eventstore.events+xml', 'application/vnd.kurrent.events+xml', 'application/atom+xml'], (_req, _payload, done) =>
    done(unsupportedMediaType('XML bodies are not supported: send application/vnd.eventstore.events+json or application/json'), undefined),
  );
  // Projection queries are JavaScript source; curl's --data-binary sends them as a form.
  app.addContentTypeParser(['text/plain', 'application/javascript', 'text/javascript', 'application/x-www-form-urlencoded'], { parseAs: 'string' }, (_req, body, done) => done(null, body));

  // ---- authentication: every request gets a principal before routing decisions ----
  app.decorateRequest('principal', null as unknown as Principal);
  /** Who sends `header`, when that is known without a password check (undefined: `users.authenticate` decides). */
  function knownPrincipal(header: string | undefined): Principal | undefined {
    if (insecure) return SYSTEM;
    if (header === undefined) return ANONYMOUS;
    return users.authenticated(header);
  }
  // Callback hooks rather than async ones: a client that keeps sending the same credentials is
  // answered from the authentication cache without a promise per request.
  app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
    if (closing.signal.aborted) reply.header('connection', 'close');
    const header = req.headers.authorization;
    const known = knownPrincipal(header);
    if (known !== undefined || header === undefined) {
      req.principal = known ?? ANONYMOUS;
      return done();
    }
    req.principal = ANONYMOUS;
    users.authenticate(header).then(
      (principal) => {
        req.principal = principal;
        done();
      },
      (e: unknown) => done(e as Error),
    );
  });
  app.addHook('onResponse', (_req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    metrics.response(reply.statusCode);
    done();
  });

  app.setErrorHandler((error: FastifyError | Error, req, reply) => {
    if (isTelltaleError(error)) {
      const status = errorStatus(error.code).http;
      if (error instanceof WrongExpectedRevisionError) {
        const current = error.actual.toString();
        reply.header('kurrent-currentversion', current).header('es-currentversion', current);
        reply.raw.statusMessage = 'Wrong expected EventNumber';
      } else if (error.code === 'stream-deleted') {
        reply.raw.statusMessage = req.method === 'GET' ? 'Deleted' : 'Stream deleted';
      } else if (error.code === 'not-authenticated') {
        reply.header('www-authenticate', 'Basic realm="Telltale", charset="UTF-8"');
      } else if (error.code === 'event-too-large') {
        reply.raw.statusMessage = 'Too large events received';
      }
      return reply.code(status).type('application/json; charset=utf-8').send(errorBody(error.code, error.message));
    }
    if (error instanceof HttpError) return reply.code(error.statusCode).type('application/json; charset=utf-8').send(errorBody(error.code, error.message));
    if (error instanceof TooManySubscribersError) return reply.code(409).type('application/json; charset=utf-8').send(errorBody('conflict', error.message));
    const status = (error as FastifyError).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const code = (error as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'body-too-large' : status === 415 ? 'unsupported-media-type' : 'bad-request';
      const message = code === 'body-too-large' ? `The request body is larger than the limit of ${options.bodyLimit ?? 16 * 1024 * 1024} bytes` : error.message;
      return reply.code(status).type('application/json; charset=utf-8').send(errorBody(code, message));
    }
    log(`error handling ${req.method} ${req.url}: ${(error as Error).stack ?? String(error)}`);
    return reply.code(500).type('application/json; charset=utf-8').send(errorBody('internal', 'Internal server error; see the server log'));
  });

  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).type('application/json; charset=utf-8').send(errorBody('not-found', `No route for ${req.method} ${req.url.split('?')[0]}`));
  });

  // ---- routes ----
  app.get('/ping', async () => ({ text: 'Ping request successfully handled' }));
  app.get('/info', async () => ({ esVersion: '24.0.0-telltale', state: 'leader', features: { projections: options.projections !== undefined, userManagement: !insecure, atomPub: true } }));
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(await metrics.render()));
  metrics.addSource(() => subscriptionMetrics(subscriptions));
  metrics.addSource(() => backendMetrics(store));

  keptPages = registerStreamRoutes(app, ctx, { pageCacheBytes: options.pageCacheBytes ?? 64 * 1024 * 1024 });
  registerSubscriptionRoutes(app, ctx);
  registerUserRoutes(app, ctx, { insecure });
  registerFeedRoutes(app, ctx, options.projections);
  if (options.projections !== undefined) {
    registerProjectionRoutes(app, ctx, options.projections);
    const projections = options.projections;
    metrics.addSource(() => projectionMetrics(projections));
  }
  void app.register(import('./dashboard/index.js'), { ctx, projections: options.projections }); // the page at / and its JSON (server/dashboard)

  async function listen(): Promise<ServerAddress> {
    let host = options.host ?? '127.0.0.1';
    if (!insecure) {
      const { adminHasDefaultPassword, created } = await users.bootstrap({
        adminPassword: options.auth?.adminPassword ?? process.env.TELLTALE_ADMIN_PASSWORD,
        opsPassword: options.auth?.opsPassword ?? process.env.TELLTALE_OPS_PASSWORD,
      });
      if (created.length > 0) log(`created user${created.length > 1 ? 's' : ''} ${created.join(', ')}`);
      if (adminHasDefaultPassword) {
        if (!LOOPBACK.test(host)) {
          log(
            `admin still has the well-known default password, so the server listens on 127.0.0.1 only instead of ${host}. ` +
              'Set TELLTALE_ADMIN_PASSWORD (or change the password with POST /users/admin/command/change-password) and restart to listen beyond loopback.',
          );
          host = '127.0.0.1';
        } else {
          log("admin has the default password 'changeit'; the server listens on loopback only until it is changed");
        }
      }
    } else {
      log('authentication is OFF (insecure): every caller is an administrator');
    }
    await subscriptions.start();
    grpc?.shareWith(app.server);
    app.server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    await app.listen({ host, port: options.port ?? 2113 });
    const bound = app.server.address() as AddressInfo;
    const shownHost = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
    address = { host: bound.address, port: bound.port, url: `http://${shownHost}:${bound.port}` };
    log(`telltale HTTP API listening on ${address.url}`);
    return address;
  }

  let closed: Promise<void> | undefined;
  function close(): Promise<void> {
    closed ??= (async () => {
      closing.abort();
      await grpc?.close();
      // Past the deadline every socket goes, including ones Node no longer counts as HTTP
      // connections (a hijacked live feed).
      const timer = setTimeout(() => {
        app.server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      }, options.shutdownTimeoutMs ?? 10_000);
      timer.unref();
      try {
        await app.close();
      } finally {
        clearTimeout(timer);
      }
      await subscriptions.stop();
      await options.projections?.close();
      if (options.closeStore === true) await store.close();
    })();
    return closed;
  }

  return {
    listen,
    close,
    get address() {
      return address;
    },
    app,
    subscriptions,
    metrics,
  };
}

function subscriptionMetrics(subscriptions: PersistentSubscriptions): string[] {
  const groups = subscriptions.list();
  const families: Array<[string, string, 'counter' | 'gauge', (c: ReturnType<(typeof groups)[number]['counters']>) => number]> = [
    ['telltale_persistent_delivered_total', 'Messages delivered to consumers (retries included).', 'counter', (c) => c.delivered],
    ['telltale_persistent_processed_total', 'Messages acked, skipped or parked.', 'counter', (c) => c.processed],
    ['telltale_persistent_parked_total', 'Messages parked.', 'counter', (c) => c.parked],
    ['telltale_persistent_retried_total', 'Messages retried (nack retry or timeout).', 'counter', (c) => c.retried],
    ['telltale_persistent_outstanding', 'Messages delivered and not yet acked.', 'gauge', (c) => c.outstanding],
    ['telltale_persistent_buffered', 'Messages read and waiting for a consumer.', 'gauge', (c) => c.buffered],
  ];
  const lines: string[] = [];
  for (const [name, help, type, pick] of families) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const g of groups) lines.push(`${name}{stream=${JSON.stringify(g.stream)},group=${JSON.stringify(g.group)}} ${pick(g.counters())}`);
  }
  return lines;
}

/** A backend that reports its own figures (fsync count and time) exposes `stats()`. */
interface BackendStats {
  readonly fsyncs?: number;
  readonly fsyncSeconds?: number;
  readonly commits?: number;
}

function backendMetrics(store: Store): string[] {
  const backend = (store as { backend?: { stats?: () => BackendStats } }).backend;
  const stats = typeof backend?.stats === 'function' ? backend.stats() : undefined;
  if (stats === undefined) return [];
  const lines: string[] = [];
  if (stats.fsyncs !== undefined) lines.push('# HELP telltale_store_fsyncs_total fsync calls by the store.', '# TYPE telltale_store_fsyncs_total counter', `telltale_store_fsyncs_total ${stats.fsyncs}`);
  if (stats.fsyncSeconds !== undefined) {
    lines.push('# HELP telltale_store_fsync_seconds_total Time spent in fsync.', '# TYPE telltale_store_fsync_seconds_total counter', `telltale_store_fsync_seconds_total ${stats.fsyncSeconds}`);
  }
  if (stats.commits !== undefined) lines.push('# HELP telltale_store_commits_total Group commits.', '# TYPE telltale_store_commits_total counter', `telltale_store_commits_total ${stats.commits}`);
  return lines;
}

export { NotAuthenticatedError, type Principal };
