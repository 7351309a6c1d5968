// What every route module gets: the store and the parts wired around it, plus the few request
// helpers they share (base URL, content negotiation, access checks). Routes translate requests
// into calls on these; they hold no business logic of their own.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PersistentSubscriptions } from '../engine/subscriptions/index.js';
import type { AccessDecisions } from './access-decisions.js';
import type { Principal, StreamAccess, StreamAction } from '../store/acl.js';
import { isAdmin, isOps, AccessDeniedError, NotAuthenticatedError } from '../store/acl.js';
import { InvalidArgumentError } from '../store/errors.js';
import { ALL_STREAM, assertValidStreamName } from '../store/stream-name.js';
import type { Store } from '../store/types.js';
import { notAcceptable } from './http-error.js';
import type { ServerMetrics } from './metrics.js';
import type { Users } from './users.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
}

export interface ServerContext {
  readonly store: Store;
  readonly access: StreamAccess;
  /** `access` with grants kept per principal and stream; what the HTTP routes check through. */
  readonly decisions: AccessDecisions;
  readonly users: Users;
  readonly metrics: ServerMetrics;
  readonly subscriptions: PersistentSubscriptions;
  /** Aborted when the server starts closing: long polls and live feeds end. */
  readonly closing: AbortSignal;
  readonly longPollMaxSeconds: number;
  readonly log: (line: string) => void;
  /** `http://host:port` of the bound socket, for links when a request has no usable Host. */
  boundUrl(): string;
}

const HOST = /^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/** Host header → base URL, for the few hosts clients use; bounded so odd Host headers cannot grow it. */
const BASES = new Map<string, string>();
const MAX_BASES = 256;

/** The base of absolute links: the Host the client used (when it is a plain host[:port]). */
export function baseUrl(ctx: ServerContext, req: FastifyRequest): string {
  return baseUrlFor(ctx, req.headers.host);
}

/** `baseUrl` from the Host header itself (for requests answered before fastify sees them). */
export function baseUrlFor(ctx: ServerContext, host: string | undefined): string {
  if (host === undefined) return ctx.boundUrl();
  const known = BASES.get(host);
  if (known !== undefined) return known;
  if (!HOST.test(host)) return ctx.boundUrl();
  const base = `http://${host}`;
  if (BASES.size >= MAX_BASES) BASES.clear();
  BASES.set(host, base);
  return base;
}

/** A stream name from a URL: a valid stream name that is also safe to put back into URLs. */
export function streamParam(value: unknown, allowAll = false): string {
  if (typeof value !== 'string') throw new InvalidArgumentError('Missing stream name', 'invalid-stream-name');
  if (allowAll && value === ALL_STREAM) return value;
  // `.` and `..` would be rewritten by every URL normaliser between the client and us.
  if (value === '.' || value === '..') throw new InvalidArgumentError(`Invalid stream name ${JSON.stringify(value)}`, 'invalid-stream-name');
  assertValidStreamName(value);
  return value;
}

export type AtomType = 'application/vnd.eventstore.atom+json' | 'application/vnd.kurrent.atom+json' | 'application/json';

/**
 * The JSON media type to answer with. XML and HTML are not served (406): Telltale speaks only
 * JSON Atom. `?format=json` overrides the Accept header, as in Event Store.
 */
export function negotiateAtom(req: FastifyRequest): AtomType {
  const format = (req.query as Record<string, unknown> | undefined)?.format;
  if (format !== undefined) {
    if (format === 'json') return 'application/vnd.eventstore.atom+json';
    throw notAcceptable(`format=${String(format)} is not served; use format=json`);
  }
  const accept = req.headers.accept;
  const type = atomTypeFor(accept);
  if (type === null) throw notAcceptable(`Cannot answer with ${accept}: Telltale serves application/vnd.eventstore.atom+json, application/vnd.kurrent.atom+json and application/json`);
  return type;
}

/** The JSON media type to answer an Accept header with (no `?format`); null when none of ours is acceptable (406). */
export function atomTypeFor(accept: string | undefined): AtomType | null {
  if (accept === undefined || accept === '') return 'application/vnd.eventstore.atom+json';
  // Clients send the same few Accept headers over and over: decide each once.
  let type = NEGOTIATED.get(accept);
  if (type === undefined) {
    type = negotiate(accept);
    if (NEGOTIATED.size >= MAX_NEGOTIATED) NEGOTIATED.clear();
    NEGOTIATED.set(accept, type);
  }
  return type;
}

const NEGOTIATED = new Map<string, AtomType | null>();
const MAX_NEGOTIATED = 256;

/** The type to answer an Accept header with; null when none of ours is acceptable. */
function negotiate(accept: string): AtomType | null {
  const types = accept.split(',').map((part) => part.split(';')[0]!.trim().toLowerCase());
  for (const t of types) {
    if (t === 'application/vnd.kurrent.atom+json') return t;
    if (t === 'application/vnd.eventstore.atom+json') return t;
    if (t === 'application/json') return t;
  }
  if (types.some((t) => t === '*/*' || t === 'application/*' || t === 'text/html' || t === 'text/plain' || t.endsWith('+json'))) {
    return 'application/vnd.eventstore.atom+json';
  }
  return null;
}

/** Undefined (no promise to wait for) when a kept grant answers; else settles as `StreamAccess.check`. */
export function authorize(ctx: ServerContext, req: FastifyRequest, streamId: string, action: StreamAction): Promise<void> | undefined {
  return ctx.decisions.check(req.principal, streamId, action);
}

function requireAuthenticated(req: FastifyRequest): void {
  if (req.principal.anonymous === true) throw new NotAuthenticatedError();
}

export function requireAdmin(req: FastifyRequest, what: string): void {
  requireAuthenticated(req);
  if (!isAdmin(req.principal)) throw new AccessDeniedError(req.principal.name, what, 'the server');
}

export function requireOps(req: FastifyRequest, what: string): void {
  requireAuthenticated(req);
  if (!isOps(req.principal)) throw new AccessDeniedError(req.principal.name, what, 'the server');
}

export { requireAuthenticated };

export function sendJson(reply: FastifyReply, status: number, body: unknown, type = 'application/json'): FastifyReply {
  return reply.code(status).type(`${type}; charset=utf-8`).send(JSON.stringify(body));
}
