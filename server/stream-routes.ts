// Event Store's stream API over HTTP (shared/reference/eventstore-semantics.md §2.2–§2.8):
// appends (event batches, single JSON or binary events with the 307 idempotent redirect), stream
// and `$all` feeds paged both ways with long polling, single events, metadata, soft and hard
// delete, with Event Store's status codes and caching headers.
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StreamNotFoundError, StreamDeletedError, InvalidArgumentError } from '../store/errors.js';
import { ALL_STREAM, isMetastream, metastreamOf, METADATA_EVENT_TYPE } from '../store/stream-name.js';
import type { EventData, EventFilter, RecordedEvent, StreamMetadata } from '../store/types.js';
import type { Principal } from '../store/acl.js';
import { SETTINGS_STREAM } from '../store/acl.js';
import { entryJson, FEED_PAGE_SIZE, feedJson, formatPosition, parseAllPosition, parseEmbed, representationHash, streamUrl, type Embed, type FeedLink } from './atom-feed.js';
import { badRequest, unsupportedMediaType } from './http-error.js';
import { EntryCache } from './entry-cache.js';
import { PageCache, type CachedPage } from './page-cache.js';
import type { ServerMetrics } from './metrics.js';
import { eventIdHeader, eventTypeHeader, expectedVersion, hardDelete, isEventId, longPollSeconds, resolveLinkTos } from './http-headers.js';
import { atomTypeFor, authorize, baseUrl, baseUrlFor, negotiateAtom, streamParam, type AtomType, type ServerContext } from './server-context.js';

const BATCH_TYPES = new Set(['application/vnd.eventstore.events+json', 'application/vnd.kurrent.events+json']);
const YEAR = 'max-age=31536000';
const NO_CACHE = 'max-age=0, no-cache, must-revalidate';
const MAX_COUNT = 4096;

type Params = Record<string, string | undefined>;

/** A stream page as a read asks for it. */
interface PageRead {
  readonly streamId: string;
  readonly from: bigint | 'head';
  readonly direction: 'backwards' | 'forwards';
  readonly count: number;
  /** Asked as the stream's own URL (`/streams/{stream}`), whose self link differs. */
  readonly isHead: boolean;
  /** The ETag suffix of the media type, embed level and link resolution asked for. */
  readonly representation: string;
}

/**
 * Stream page reads answered from a kept render before fastify routes them: a page that was
 * rendered once (an immutable page, or the head page while its stream is quiet) then costs the
 * checks that decide it still holds and the socket write, without fastify's routing, request and
 * reply objects and hooks, which cost a fifth of the server's CPU per kept page.
 */
export interface KeptPageReads {
  /**
   * Takes a GET that may be a kept page read by a principal `principalOf` knows without a password
   * check (false: not one; the caller hands it to fastify now). Once taken, it is answered from the
   * kept page or, when that does not hold (a miss, a deleted stream, an error), handed to
   * `fallback`, the fastify handler.
   */
  serve(req: IncomingMessage, res: ServerResponse, principalOf: (authorization: string | undefined) => Principal | undefined, fallback: () => void): boolean;
}

/**
 * The page URLs the routes below serve with `readPage`: `/streams/{s}`, `/streams/{s}/{n}/{count}`,
 * `/streams/{s}/{n}/backward|forward/{count}`, with at most `?embed=`. A stream name with a
 * percent-escape (which fastify decodes) or any other query goes through fastify.
 */
const KEPT_PAGE_URL = /^\/streams\/([^/?%#]+)(?:\/(head|\d{1,19})(?:\/(backward|forward))?\/(\d{1,9}))?(?:\?embed=([A-Za-z]+))?$/;

/** Content-Type header → its media type, for the few headers clients send; bounded. */
const MEDIA_TYPES = new Map<string, string>();

function mediaType(req: FastifyRequest): string {
  const header = req.headers['content-type'];
  if (header === undefined) return '';
  let type = MEDIA_TYPES.get(header);
  if (type === undefined) {
    type = header.split(';')[0]!.trim().toLowerCase();
    if (MEDIA_TYPES.size >= 256) MEDIA_TYPES.clear();
    MEDIA_TYPES.set(header, type);
  }
  return type;
}

function parseCount(text: string | undefined): number {
  if (text === undefined || !/^\d{1,9}$/.test(text) || Number(text) < 1) throw badRequest(`count must be a positive integer, got ${JSON.stringify(text)}`);
  const n = Number(text);
  if (n > MAX_COUNT) throw badRequest(`count must be at most ${MAX_COUNT}, got ${n}`);
  return n;
}

function parseEventNumber(text: string | undefined): bigint | 'head' {
  if (text === 'head') return 'head';
  if (text === undefined || !/^\d{1,19}$/.test(text) || BigInt(text) > 9223372036854775806n) throw badRequest(`event must be 'head' or an event number ≥ 0, got ${JSON.stringify(text)}`);
  return BigInt(text);
}

function eventFromBatchItem(item: unknown, index: number): EventData {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) throw badRequest(`Event ${index} must be a JSON object with eventId, eventType and data`);
  const e = item as Record<string, unknown>;
  if (!isEventId(e.eventId)) throw badRequest(`Event ${index}: eventId must be a non-empty GUID, got ${JSON.stringify(e.eventId)}`);
  if (typeof e.eventType !== 'string' || e.eventType.length === 0) throw badRequest(`Event ${index}: eventType must be a non-empty string`);
  const metadata = e.metadata ?? e.metaData;
  if (metadata !== undefined && metadata !== null && (typeof metadata !== 'object' || Array.isArray(metadata))) {
    throw badRequest(`Event ${index}: metadata must be a JSON object`);
  }
  return { id: e.eventId, type: e.eventType, data: e.data === undefined ? {} : e.data, metadata: metadata ?? undefined };
}

/** The events of an append request, or a redirect when a single event has no id. */
function requestEvents(req: FastifyRequest, idFromPath: string | undefined): EventData[] | { redirect: true } {
  const type = mediaType(req);
  if (type === '') throw unsupportedMediaType('A Content-Type is required: application/vnd.eventstore.events+json, application/json or application/octet-stream');
  if (BATCH_TYPES.has(type)) {
    if (!Array.isArray(req.body)) throw badRequest(`${type} must be a JSON array of events`);
    if (req.body.length === 0) throw badRequest('The batch has no events');
    return req.body.map(eventFromBatchItem);
  }
  if (type !== 'application/json' && type !== 'application/octet-stream') {
    throw unsupportedMediaType(`Cannot append ${type}: send application/vnd.eventstore.events+json, application/vnd.kurrent.events+json, application/json or application/octet-stream`);
  }
  const eventType = eventTypeHeader(req.headers);
  if (eventType === undefined) throw badRequest('Must include an event type with the request either in body or as Kurrent-EventType header.');
  const id = idFromPath ?? eventIdHeader(req.headers);
  if (id === undefined) return { redirect: true };
  if (type === 'application/octet-stream') {
    const body = req.body;
    return [{ id, type: eventType, data: body instanceof Uint8Array ? new Uint8Array(body) : new Uint8Array() }];
  }
  return [{ id, type: eventType, data: req.body === undefined ? {} : req.body }];
}

function cacheControl(immutable: boolean, isPublic: boolean, maxAge: number | undefined): string {
  if (immutable) return `${YEAR}, ${isPublic ? 'public' : 'private'}`;
  return maxAge !== undefined ? `max-age=${maxAge}` : NO_CACHE;
}

async function collect(iterable: AsyncIterable<RecordedEvent>): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const e of iterable) out.push(e);
  return out;
}

/** Where an event sits in the stream being read (a resolved link's own number). */
const placeOf = (e: RecordedEvent): bigint => e.link?.revision ?? e.revision;
const positionOf = (e: RecordedEvent): bigint => e.link?.position ?? e.position;

/**
 * Waits until the stream (or `$all`) has an event after `after`, the timeout passes, the client
 * goes away or the server closes. Returns whether something arrived.
 */
async function waitForEvents(ctx: ServerContext, req: FastifyRequest, target: { stream: string; after: bigint } | { all: true; after: bigint }, seconds: number): Promise<boolean> {
  const from = target.after < 0n ? 'start' : target.after;
  const subscription = 'all' in target ? ctx.store.subscribeToAll({ fromPosition: from }) : ctx.store.subscribeToStream(target.stream, { fromRevision: from });
  const iterator = subscription[Symbol.asyncIterator]();
  let timer: NodeJS.Timeout | undefined;
  let onClose: (() => void) | undefined;
  ctx.metrics.longPollsWaiting++;
  try {
    const stop = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), seconds * 1000);
      onClose = () => resolve(false);
      req.raw.socket.once('close', onClose);
      ctx.closing.addEventListener('abort', onClose, { once: true });
    });
    return await Promise.race([iterator.next().then((r) => r.done !== true, () => false), stop]);
  } finally {
    ctx.metrics.longPollsWaiting--;
    clearTimeout(timer);
    if (onClose) {
      req.raw.socket.off('close', onClose);
      ctx.closing.removeEventListener('abort', onClose);
    }
    await subscription.close();
  }
}

function notModified(req: { headers: IncomingHttpHeaders }, etag: string): boolean {
  const header = req.headers['if-none-match'];
  if (header === undefined) return false;
  return header.split(',').some((t) => t.trim() === etag || t.trim() === `W/${etag}`);
}

const ATOM_TYPES: readonly AtomType[] = ['application/vnd.eventstore.atom+json', 'application/vnd.kurrent.atom+json', 'application/json'];
const EMBEDS: readonly Embed[] = ['none', 'content', 'rich', 'body', 'prettybody', 'tryharder'];

/** The ETag suffix of each representation (media type, embed level, link resolution of a stream page), computed once. */
const REPRESENTATIONS = new Map<AtomType, Map<Embed, readonly [string, string]>>(
  ATOM_TYPES.map((type) => [type, new Map(EMBEDS.map((embed) => [embed, [representationHash(`${type}|${embed}|false`), representationHash(`${type}|${embed}|true`)] as const]))]),
);

function representationOf(type: AtomType, embed: Embed, resolve: boolean): string {
  return REPRESENTATIONS.get(type)!.get(embed)![resolve ? 1 : 0];
}

/**
 * Answers with a kept page on Node's response: 304 when the client has it, else its bytes, with
 * the status and headers fastify wrote for the render it keeps, in the same order (a test holds
 * them to it), and `connection: close` once the server is closing (what the onRequest hook puts
 * on a reply). Fastify's send pipeline (header bookkeeping, serialisation checks, onSend dispatch)
 * costs more than the lookup that found the page. Returns the status, for the response metrics.
 */
function writeKept(req: { headers: IncomingHttpHeaders }, res: ServerResponse, page: CachedPage, metricsOf: { metrics: ServerMetrics; started: number; closing: AbortSignal }): number {
  const closing = metricsOf.closing.aborted;
  if (notModified(req, page.etag)) {
    const headers = ['etag', page.etag, 'cache-control', page.cacheControl, 'vary', 'Accept'];
    if (closing) headers.push('connection', 'close');
    res.writeHead(304, headers);
    res.end();
    return 304;
  }
  const { metrics } = metricsOf;
  metrics.readRequests++;
  metrics.readEvents += page.events;
  metrics.readLatency.observe((performance.now() - metricsOf.started) / 1e3);
  const headers = ['cache-control', page.cacheControl, 'etag', page.etag, 'vary', 'Accept', 'content-type', page.contentType, 'content-length', String(page.body.length)];
  if (closing) headers.push('connection', 'close');
  res.writeHead(200, headers);
  res.end(page.body);
  return 200;
}

/** `writeKept` for a request that came through fastify; its onResponse hooks (the response metrics) still run on a hijacked reply. */
function sendKept(req: FastifyRequest, reply: FastifyReply, page: CachedPage, metricsOf: { metrics: ServerMetrics; started: number; closing: AbortSignal }): undefined {
  reply.hijack();
  writeKept(req, reply.raw, page, metricsOf);
  return undefined;
}

function sendFeed(reply: FastifyReply, type: AtomType, feed: string, etag: string, cache: string): FastifyReply {
  return reply.code(200).header('cache-control', cache).header('etag', etag).header('vary', 'Accept').type(`${type}; charset=utf-8`).send(feed);
}

export function registerStreamRoutes(app: FastifyInstance, ctx: ServerContext, options: { pageCacheBytes: number }): KeptPageReads {
  const { store, metrics } = ctx;
  const pages = new PageCache(options.pageCacheBytes);
  // The latest render of pages that are not immutable yet, each valid while its stream's last event is the same.
  const recentPages = new PageCache(options.pageCacheBytes / 4);
  // Entry texts are a quarter of the budget of whole pages: a page is twenty of them and more.
  const entries = new EntryCache(options.pageCacheBytes / 4);

  // Hot paths send and resolve to nothing: resolving to the reply (a thenable) costs fastify
  // extra turns of the microtask queue per request.
  async function append(req: FastifyRequest, reply: FastifyReply, streamId: string, idFromPath?: string): Promise<void> {
    const started = performance.now();
    try {
      const expected = expectedVersion(req.headers);
      const events = requestEvents(req, idFromPath);
      if ('redirect' in events) {
        const location = `${streamUrl(baseUrl(ctx, req), streamId)}/incoming/${randomUUID()}`;
        reply.code(307).header('location', location).type('text/plain; charset=utf-8').send('Forwarding to idempotent URI');
        return;
      }
      const pending = authorize(ctx, req, streamId, 'write');
      if (pending !== undefined) await pending;
      const result = await store.appendToStream(streamId, events, { expectedRevision: expected });
      if (streamId === SETTINGS_STREAM) ctx.access.settingsChanged();
      if (streamId === SETTINGS_STREAM || isMetastream(streamId)) ctx.decisions.invalidate();
      const first = result.nextExpectedRevision - BigInt(events.length) + 1n;
      metrics.appendRequests++;
      metrics.appendedEvents += events.length;
      metrics.appendLatency.observe((performance.now() - started) / 1e3);
      reply.raw.statusMessage = 'Created';
      reply.code(201).header('location', `${streamUrl(baseUrl(ctx, req), streamId)}/${first}`).send();
    } catch (e) {
      metrics.appendFailures++;
      throw e;
    }
  }

  app.post('/streams/:stream', (req, reply) => append(req, reply, streamParam((req.params as Params).stream)));

  app.post('/streams/:stream/incoming/:guid', async (req, reply) => {
    const { stream, guid } = req.params as Params;
    if (!isEventId(guid)) throw badRequest(`The idempotent URI needs a GUID, got ${JSON.stringify(guid)}`);
    return append(req, reply, streamParam(stream), guid.toLowerCase());
  });

  // Event Store redirects a trailing slash, keeping the verb.
  app.route({
    method: ['GET', 'POST', 'DELETE'],
    url: '/streams/:stream/',
    handler: async (req, reply) => {
      const stream = streamParam((req.params as Params).stream, true);
      return reply.code(301).header('location', streamUrl(baseUrl(ctx, req), stream)).header('cache-control', `${YEAR}, public`).send();
    },
  });

  app.delete('/streams/:stream', async (req, reply) => {
    const streamId = streamParam((req.params as Params).stream);
    const expected = expectedVersion(req.headers);
    const hard = hardDelete(req.headers);
    await authorize(ctx, req, streamId, 'delete');
    if (hard) await store.tombstoneStream(streamId, { expectedRevision: expected });
    else await store.deleteStream(streamId, { expectedRevision: expected });
    ctx.decisions.invalidate();
    metrics.deletes++;
    reply.raw.statusMessage = 'Stream deleted';
    return reply.code(204).send();
  });

  // ---- reads ----

  /**
   * The keys of a page's kept renders: `cacheKey` for an immutable page (none for the head, which
   * is never immutable), `recentKey` for the latest render of one that is not yet. Keys carry the
   * stream's metadata revision, so a metadata write (a new ACL, $maxCount, a soft delete) makes every
   * older render of that stream a miss. Pages of a stream with $maxAge change as time passes, so
   * they are never kept.
   */
  function pageKeys(read: PageRead, base: string, metadata: StreamMetadata, metastreamRevision: bigint | undefined): { cacheKey?: string; recentKey?: string } {
    if (metadata.maxAge !== undefined) return {};
    const pageKey = `${base}\n${read.streamId}\n${read.from}\n${read.direction}\n${read.count}\n${read.representation}\n${metastreamRevision ?? -1n}`;
    return { cacheKey: read.from === 'head' ? undefined : pageKey, recentKey: `${pageKey}\n${read.isHead}` };
  }

  /** The kept render that answers a page as the stream stands now (its last event is `last`), if any. */
  function keptPage(cacheKey: string | undefined, recentKey: string | undefined, last: bigint, metadata: StreamMetadata): CachedPage | undefined {
    const cached = cacheKey === undefined ? undefined : pages.get(cacheKey);
    // With $maxCount, a kept page holds only while the stream's growth has not truncated its oldest event away.
    if (cached !== undefined && (metadata.maxCount === undefined || cached.oldest > last - BigInt(metadata.maxCount))) return cached;
    // A page that can still change (the head page, mostly) is the same page while the stream has not moved.
    const recent = recentKey === undefined ? undefined : recentPages.get(recentKey);
    if (recent !== undefined && recent.last === last) return recent;
    return undefined;
  }

  async function readPage(req: FastifyRequest, reply: FastifyReply, streamId: string, from: bigint | 'head', direction: 'backwards' | 'forwards', count: number, isHead: boolean): Promise<FastifyReply | undefined> {
    const type = negotiateAtom(req);
    const query = req.query as Params;
    const embed = parseEmbed(query.embed, 'none');
    if (streamId === ALL_STREAM) return readAllPage(req, reply, type, embed, from, direction, count, isHead);
    const resolve = resolveLinkTos(req.headers, !isMetastream(streamId));
    const longPoll = direction === 'forwards' || isHead ? longPollSeconds(req.headers, ctx.longPollMaxSeconds) : undefined;
    const pending = authorize(ctx, req, streamId, 'read');
    if (pending !== undefined) await pending;
    const started = performance.now();
    let info = await store.getStreamInfo(streamId);
    if (info.tombstoned) throw new StreamDeletedError(streamId);
    if (info.lastRevision < 0n || info.softDeleted) throw new StreamNotFoundError(streamId);
    // A long poll waits only when the page would hold nothing new.
    if (longPoll !== undefined) {
      const wantedAfter = direction === 'forwards' && from !== 'head' ? from - 1n : undefined;
      if (wantedAfter !== undefined && wantedAfter >= info.lastRevision) {
        if (await waitForEvents(ctx, req, { stream: streamId, after: info.lastRevision }, longPoll)) info = await store.getStreamInfo(streamId);
      }
    }
    const last = info.lastRevision;
    const base = baseUrl(ctx, req);
    const representation = representationOf(type, embed, resolve);
    const { metadata, metastreamRevision } = await store.getStreamMetadata(streamId);
    const { cacheKey, recentKey } = pageKeys({ streamId, from, direction, count, isHead, representation }, base, metadata, metastreamRevision);
    const kept = keptPage(cacheKey, recentKey, last, metadata);
    if (kept !== undefined) return sendKept(req, reply, kept, { metrics, started, closing: ctx.closing });
    const url = streamUrl(base, streamId);
    let etag = `"${last};${representation}"`;
    const start = from === 'head' ? last : from;
    const events = await collect(store.readStream(streamId, { fromRevision: start, direction, maxCount: count, resolveLinks: resolve }));
    if (direction === 'forwards') events.reverse();
    const newest = events[0] !== undefined ? placeOf(events[0]) : undefined;
    const oldest = events.length > 0 ? placeOf(events[events.length - 1]!) : undefined;
    const headOfStream = newest === undefined ? start >= last || direction === 'backwards' : newest >= last;
    const reachedStart = direction === 'backwards' ? events.length < count || oldest === 0n : start === 0n || oldest === 0n;
    const links: FeedLink[] = [
      { uri: isHead ? url : `${url}/${from}/${direction === 'backwards' ? 'backward' : 'forward'}/${count}`, relation: 'self' },
      { uri: `${url}/head/backward/${count}`, relation: 'first' },
    ];
    if (!reachedStart) links.push({ uri: `${url}/0/forward/${count}`, relation: 'last' });
    if (direction === 'backwards' && !reachedStart && oldest !== undefined) links.push({ uri: `${url}/${oldest - 1n}/backward/${count}`, relation: 'next' });
    if (direction === 'forwards' && start > 0n) links.push({ uri: `${url}/${start - 1n}/backward/${count}`, relation: 'next' });
    const previousFrom = newest !== undefined ? newest + 1n : direction === 'forwards' ? start : start + 1n;
    links.push({ uri: `${url}/${previousFrom}/forward/${count}`, relation: 'previous' }, { uri: `${url}/metadata`, relation: 'metadata' });
    const immutable = !headOfStream && events.length === count;
    // An immutable page's ETag names its own newest event, so it stays valid while the stream grows.
    if (immutable && newest !== undefined) etag = `"${newest};${representation}"`;
    const cache = cacheControl(immutable, immutable && (await ctx.access.publiclyReadable(streamId)), metadata.cacheControl);
    if (notModified(req, etag)) return reply.code(304).header('etag', etag).header('cache-control', cache).header('vary', 'Accept').send();
    metrics.readRequests++;
    metrics.readEvents += events.length;
    const feed = feedJson(
      { title: `Event stream '${streamId}'`, id: url, updated: (events[0]?.created ?? new Date()).toISOString(), streamId, headOfStream, selfUrl: links[0]!.uri, eTag: etag, links },
      events.map((e) => entries.text(base, e, embed)),
    );
    metrics.readLatency.observe((performance.now() - started) / 1e3);
    if (immutable && cacheKey !== undefined && oldest !== undefined) {
      const body = Buffer.from(feed);
      const contentType = `${type}; charset=utf-8`;
      pages.set(cacheKey, { body, etag, cacheControl: cache, contentType, events: events.length, oldest });
      return reply.code(200).header('cache-control', cache).header('etag', etag).header('vary', 'Accept').type(contentType).send(body);
    }
    // Not kept: an empty page (its `updated` is now), and a page of resolved links (their targets can go away).
    if (recentKey !== undefined && oldest !== undefined && !events.some((e) => e.type === '$>' || e.link !== undefined)) {
      const body = Buffer.from(feed);
      const contentType = `${type}; charset=utf-8`;
      recentPages.set(recentKey, { body, etag, cacheControl: cache, contentType, events: events.length, oldest, last });
      return reply.code(200).header('cache-control', cache).header('etag', etag).header('vary', 'Accept').type(contentType).send(body);
    }
    return sendFeed(reply, type, feed, etag, cache);
  }

  async function readAllPage(req: FastifyRequest, reply: FastifyReply, type: AtomType, embed: Embed, from: bigint | 'head', direction: 'backwards' | 'forwards', count: number, isHead: boolean, filtered?: { filter: EventFilter; query: string }): Promise<FastifyReply> {
    const resolve = resolveLinkTos(req.headers, false);
    const longPoll = direction === 'forwards' || isHead ? longPollSeconds(req.headers, ctx.longPollMaxSeconds) : undefined;
    await authorize(ctx, req, ALL_STREAM, 'read');
    const started = performance.now();
    let head = await store.headPosition();
    const read = (start: bigint | 'end') => collect(store.readAll({ fromPosition: start, direction, maxCount: count, resolveLinks: resolve, filter: filtered?.filter }));
    const start = from === 'head' ? (direction === 'backwards' ? 'end' : head) : from;
    let events = await read(start);
    // Positions are not contiguous (byte offsets in the log), so "nothing new" is an empty read.
    if (events.length === 0 && longPoll !== undefined && direction === 'forwards' && typeof start === 'bigint') {
      if (await waitForEvents(ctx, req, { all: true, after: start - 1n }, longPoll)) {
        head = await store.headPosition();
        events = await read(start);
      }
    }
    const base = baseUrl(ctx, req);
    const url = `${streamUrl(base, ALL_STREAM)}${filtered === undefined ? '' : '/filtered'}`;
    const q = filtered === undefined ? '' : `?${filtered.query}`;
    const etag = `"${head};${representationHash(`${type}|${embed}|${resolve}|${q}`)}"`;
    if (direction === 'forwards') events.reverse();
    const newest = events[0] !== undefined ? positionOf(events[0]) : undefined;
    const oldest = events.length > 0 ? positionOf(events[events.length - 1]!) : undefined;
    const headOfStream = newest === undefined ? direction === 'backwards' || (typeof start === 'bigint' && start >= head) : newest >= head - 1n || events.length < count;
    const reachedStart = direction === 'backwards' ? events.length < count : start === 0n;
    const zero = formatPosition(0n);
    const links: FeedLink[] = [
      { uri: isHead ? `${url}${q}` : `${url}/${from === 'head' ? 'head' : formatPosition(from)}/${direction === 'backwards' ? 'backward' : 'forward'}/${count}${q}`, relation: 'self' },
      { uri: `${url}/head/backward/${count}${q}`, relation: 'first' },
    ];
    if (!reachedStart) links.push({ uri: `${url}/${zero}/forward/${count}${q}`, relation: 'last' });
    if (direction === 'backwards' && !reachedStart && oldest !== undefined && oldest > 0n) links.push({ uri: `${url}/${formatPosition(oldest - 1n)}/backward/${count}${q}`, relation: 'next' });
    if (direction === 'forwards' && typeof start === 'bigint' && start > 0n) links.push({ uri: `${url}/${formatPosition(start - 1n)}/backward/${count}${q}`, relation: 'next' });
    const previousFrom = newest !== undefined ? newest + 1n : typeof start === 'bigint' ? start : head;
    links.push({ uri: `${url}/${formatPosition(previousFrom)}/forward/${count}${q}`, relation: 'previous' }, { uri: `${streamUrl(base, ALL_STREAM)}/metadata`, relation: 'metadata' });
    const immutable = !headOfStream && events.length === count;
    const cache = cacheControl(immutable, false, undefined);
    if (notModified(req, etag)) return reply.code(304).header('etag', etag).header('cache-control', cache).header('vary', 'Accept').send();
    metrics.readRequests++;
    metrics.readEvents += events.length;
    const feed = feedJson(
      { title: 'All events', id: url, updated: (events[0]?.created ?? new Date()).toISOString(), headOfStream, selfUrl: links[0]!.uri, eTag: etag, links },
      events.map((e) => entries.text(base, e, embed)),
    );
    metrics.readLatency.observe((performance.now() - started) / 1e3);
    return sendFeed(reply, type, feed, etag, cache);
  }

  /** `context=streamid|eventtype&type=prefix|regex&data=…&exclude-system-events=true`, as Event Store takes them. */
  function allFilter(req: FastifyRequest): { filter: EventFilter; query: string } {
    const q = req.query as Params;
    const context = (q.context ?? 'streamid').toLowerCase();
    const kind = (q.type ?? 'prefix').toLowerCase();
    const data = q.data ?? '';
    const exclude = q['exclude-system-events'];
    if (context !== 'streamid' && context !== 'eventtype') throw badRequest(`context must be streamid or eventtype, got ${JSON.stringify(q.context)}`);
    if (kind !== 'prefix' && kind !== 'regex') throw badRequest(`type must be prefix or regex, got ${JSON.stringify(q.type)}`);
    if (exclude !== undefined && exclude !== 'true' && exclude !== 'false') throw badRequest('exclude-system-events must be true or false');
    const filter: { -readonly [K in keyof EventFilter]: EventFilter[K] } = {};
    if (data !== '') {
      if (kind === 'prefix') {
        const prefixes = data.split(',').filter((p) => p.length > 0);
        if (context === 'streamid') filter.streamNamePrefix = prefixes;
        else filter.eventTypePrefix = prefixes;
      } else {
        try {
          new RegExp(data);
        } catch (e) {
          throw badRequest(`data is not a valid regular expression: ${(e as Error).message}`);
        }
        if (context === 'streamid') filter.streamNameRegex = data;
        else filter.eventTypeRegex = data;
      }
    } else if (exclude !== 'true') throw badRequest('A filtered read needs data= (prefixes or a regex) or exclude-system-events=true');
    if (exclude === 'true') filter.excludeSystemEvents = true;
    const query = new URLSearchParams({ context, type: kind, data, ...(exclude === 'true' ? { 'exclude-system-events': 'true' } : {}) }).toString();
    return { filter, query };
  }

  function allOnly(stream: string | undefined): void {
    if (streamParam(stream, true) !== ALL_STREAM) throw badRequest('Filtered reads are only for $all: /streams/$all/filtered');
  }

  app.get('/streams/:stream/filtered', async (req, reply) => {
    allOnly((req.params as Params).stream);
    const query = req.query as Params;
    return readAllPage(req, reply, negotiateAtom(req), parseEmbed(query.embed, 'none'), 'head', 'backwards', FEED_PAGE_SIZE, true, allFilter(req));
  });
  for (const dir of ['', '/backward', '/forward'] as const) {
    app.get(`/streams/:stream/filtered/:event${dir}/:count`, async (req, reply) => {
      const { stream, event, count } = req.params as Params;
      allOnly(stream);
      const query = req.query as Params;
      return readAllPage(req, reply, negotiateAtom(req), parseEmbed(query.embed, 'none'), allFrom(event), dir === '/forward' ? 'forwards' : 'backwards', parseCount(count), false, allFilter(req));
    });
  }

  function allFrom(text: string | undefined): bigint | 'head' {
    return parseAllPosition(text ?? '');
  }

  app.get('/streams/:stream', (req, reply) => {
    const streamId = streamParam((req.params as Params).stream, true);
    return readPage(req, reply, streamId, 'head', 'backwards', FEED_PAGE_SIZE, true);
  });

  app.get('/streams/:stream/:event', async (req, reply) => {
    const { stream, event } = req.params as Params;
    const streamId = streamParam(stream, true);
    if (streamId === ALL_STREAM) {
      if (event === 'head') return readPage(req, reply, streamId, 'head', 'backwards', FEED_PAGE_SIZE, true);
      throw badRequest('Read single events of $all through their stream; page $all with /streams/$all/{position}/{backward|forward}/{count}');
    }
    return readEvent(req, reply, streamId, parseEventNumber(event));
  });

  app.get('/streams/:stream/:event/:count', (req, reply) => {
    const { stream, event, count } = req.params as Params;
    const streamId = streamParam(stream, true);
    const from = streamId === ALL_STREAM ? allFrom(event) : parseEventNumber(event);
    return readPage(req, reply, streamId, from, 'backwards', parseCount(count), false);
  });

  for (const dir of ['backward', 'forward'] as const) {
    app.get(`/streams/:stream/:event/${dir}/:count`, (req, reply) => {
      const { stream, event, count } = req.params as Params;
      const streamId = streamParam(stream, true);
      const from = streamId === ALL_STREAM ? allFrom(event) : parseEventNumber(event);
      return readPage(req, reply, streamId, from, dir === 'backward' ? 'backwards' : 'forwards', parseCount(count), false);
    });
  }

  async function readEvent(req: FastifyRequest, reply: FastifyReply, streamId: string, number: bigint | 'head'): Promise<FastifyReply> {
    const type = negotiateAtom(req);
    const query = req.query as Params;
    const embed = parseEmbed(query.embed, 'tryharder');
    const resolve = resolveLinkTos(req.headers, !isMetastream(streamId));
    await authorize(ctx, req, streamId, 'read');
    const info = await store.getStreamInfo(streamId);
    if (info.tombstoned) throw new StreamDeletedError(streamId);
    if (info.lastRevision < 0n || info.softDeleted) throw new StreamNotFoundError(streamId);
    const options = number === 'head' ? ({ direction: 'backwards', maxCount: 1 } as const) : ({ fromRevision: number, maxCount: 1 } as const);
    const [event] = await collect(store.readStream(streamId, { ...options, resolveLinks: resolve }));
    if (event === undefined || (number !== 'head' && placeOf(event) !== number)) {
      return reply.code(404).type('application/json; charset=utf-8').send(JSON.stringify({ error: 'not-found', message: `Event ${String(number)} of stream '${streamId}' not found` }));
    }
    // A link whose target is gone (deleted, truncated, expired) is a 404, as in Event Store.
    if (resolve && event.type === '$>' && event.link === undefined) {
      return reply.code(404).type('application/json; charset=utf-8').send(JSON.stringify({ error: 'not-found', message: `The event linked from ${String(placeOf(event))}@${streamId} no longer exists` }));
    }
    const etag = `"${placeOf(event)};${representationHash(`${type}|${embed}|${resolve}|event`)}"`;
    const cache = number === 'head' ? NO_CACHE : cacheControl(true, await ctx.access.publiclyReadable(streamId), undefined);
    if (notModified(req, etag)) return reply.code(304).header('etag', etag).header('cache-control', cache).header('vary', 'Accept').send();
    metrics.readRequests++;
    metrics.readEvents++;
    reply.header('cache-control', cache).header('etag', etag).header('vary', 'Accept');
    if (type === 'application/json') {
      // Event Store answers `application/json` with the event's data itself.
      if (!event.isJson) return reply.code(200).type('application/octet-stream').send(Buffer.from(event.dataBytes));
      return reply.code(200).type('application/json; charset=utf-8').send(Buffer.from(event.dataBytes));
    }
    return reply.code(200).type(`${type}; charset=utf-8`).send(entryJson(baseUrl(ctx, req), event, embed));
  }

  // ---- metadata ----

  function metadataStream(value: string | undefined): string {
    const streamId = streamParam(value);
    if (isMetastream(streamId)) throw new InvalidArgumentError(`Invalid stream name '${streamId}': address the metadata of a stream as /streams/{stream}/metadata`, 'invalid-stream-name');
    return streamId;
  }

  app.get('/streams/:stream/metadata', async (req, reply) => {
    const streamId = metadataStream((req.params as Params).stream);
    const type = negotiateAtom(req);
    await authorize(ctx, req, metastreamOf(streamId), 'read');
    const meta = metastreamOf(streamId);
    const info = await store.getStreamInfo(meta);
    const [event] = info.lastRevision < 0n ? [] : await collect(store.readStream(meta, { direction: 'backwards', maxCount: 1 }));
    metrics.readRequests++;
    reply.header('cache-control', NO_CACHE).header('vary', 'Accept');
    if (type === 'application/json' || event === undefined) {
      return reply.code(200).type('application/json; charset=utf-8').send(event === undefined ? '{}' : Buffer.from(event.dataBytes));
    }
    return reply.code(200).type(`${type}; charset=utf-8`).send(entryJson(baseUrl(ctx, req), event, 'tryharder'));
  });

  app.post('/streams/:stream/metadata', async (req, reply) => {
    const streamId = metadataStream((req.params as Params).stream);
    const expected = expectedVersion(req.headers);
    const type = mediaType(req);
    let event: EventData;
    if (BATCH_TYPES.has(type)) {
      if (!Array.isArray(req.body) || req.body.length !== 1) throw badRequest('Stream metadata is written as a batch of exactly one event');
      const item = eventFromBatchItem(req.body[0], 0);
      event = { id: item.id, type: METADATA_EVENT_TYPE, data: item.data };
    } else if (type === 'application/json') {
      event = { id: eventIdHeader(req.headers) ?? randomUUID(), type: METADATA_EVENT_TYPE, data: req.body };
    } else {
      throw unsupportedMediaType('Stream metadata is JSON: send application/json or application/vnd.eventstore.events+json');
    }
    if (event.data === null || typeof event.data !== 'object' || Array.isArray(event.data)) throw badRequest('Stream metadata must be a JSON object');
    await authorize(ctx, req, metastreamOf(streamId), 'write');
    const result = await store.appendToStream(metastreamOf(streamId), [event], { expectedRevision: expected });
    ctx.decisions.invalidate();
    metrics.appendRequests++;
    metrics.appendedEvents++;
    reply.raw.statusMessage = 'Created';
    return reply.code(201).header('location', `${streamUrl(baseUrl(ctx, req), metastreamOf(streamId))}/${result.nextExpectedRevision}`).send();
  });

  // ---- kept pages, before fastify ----

  /** The stream page a GET asks for, when it is one `answerKept` may answer; undefined sends it through fastify. */
  function keptReadOf(req: IncomingMessage): (PageRead & { readonly base: string; readonly longPoll: number | undefined }) | undefined {
    const match = KEPT_PAGE_URL.exec(req.url ?? '');
    if (match === null) return undefined;
    const [, name, event, dir, countText, embedText] = match;
    const headers = req.headers;
    // A GET with a body goes the whole way, as does anything fastify would parse differently.
    if (headers['content-length'] !== undefined || headers['transfer-encoding'] !== undefined) return undefined;
    const type = atomTypeFor(headers.accept);
    if (type === null) return undefined;
    // Whatever these refuse, the route refuses again through fastify, with its 400 and message.
    try {
      const streamId = streamParam(name, true);
      if (streamId === ALL_STREAM) return undefined;
      const isHead = event === undefined;
      const from = isHead ? 'head' : parseEventNumber(event);
      const direction = dir === 'forward' ? 'forwards' : 'backwards';
      const count = isHead ? FEED_PAGE_SIZE : parseCount(countText);
      const embed = parseEmbed(embedText, 'none');
      const resolve = resolveLinkTos(headers, !isMetastream(streamId));
      const longPoll = direction === 'forwards' || isHead ? longPollSeconds(headers, ctx.longPollMaxSeconds) : undefined;
      return { streamId, from, direction, count, isHead, representation: representationOf(type, embed, resolve), base: baseUrlFor(ctx, headers.host), longPoll };
    } catch {
      return undefined;
    }
  }

  /**
   * Answers from a kept render after the same store checks `readPage` makes (the stream exists and
   * is not deleted, its metadata revision, $maxCount, a long poll that would wait); resolves false
   * when it did not answer, and the request then goes through fastify, which does it all again.
   */
  async function answerKept(req: IncomingMessage, res: ServerResponse, read: PageRead & { readonly base: string; readonly longPoll: number | undefined }): Promise<boolean> {
    const started = performance.now();
    const info = await store.getStreamInfo(read.streamId);
    if (info.tombstoned || info.lastRevision < 0n || info.softDeleted) return false;
    if (read.longPoll !== undefined && read.direction === 'forwards' && read.from !== 'head' && read.from - 1n >= info.lastRevision) return false;
    const { metadata, metastreamRevision } = await store.getStreamMetadata(read.streamId);
    const { cacheKey, recentKey } = pageKeys(read, read.base, metadata, metastreamRevision);
    const page = keptPage(cacheKey, recentKey, info.lastRevision, metadata);
    if (page === undefined) return false;
    metrics.response(writeKept(req, res, page, { metrics, started, closing: ctx.closing }));
    return true;
  }

  return {
    serve(req, res, principalOf, fallback) {
      const read = keptReadOf(req);
      if (read === undefined) return false;
      // Authentication and the ACL are checked per request, as on every route: only a cached
      // principal with a kept grant is answered here; anyone else goes through fastify, where the
      // onRequest hook and `authorize` decide.
      const principal = principalOf(req.headers.authorization);
      if (principal === undefined || !ctx.decisions.granted(principal, read.streamId, 'read')) return false;
      // A store that fails here fails again on the full path, which answers with the error.
      answerKept(req, res, read).then(
        (answered) => {
          if (!answered) fallback();
        },
        () => fallback(),
      );
      return true;
    },
  };
}
