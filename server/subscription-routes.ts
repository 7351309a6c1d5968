// Persistent subscriptions over HTTP at Event Store's URLs (shared/reference/eventstore-semantics.md
// §2.10). The group logic is in engine/subscriptions; these routes only translate.
//
// Consumers: Event Store's HTTP reads have no consumer identity. A read with `?consumer=NAME` (or
// a `Kurrent-ConsumerName` header) is a named consumer that stays connected between reads, so the
// group's strategy (RoundRobin, DispatchToSingle, Pinned) decides which messages it gets; it may
// hold as many unacknowledged messages as the count of its last read, and is dropped after three
// message timeouts without a read. A read without a name behaves as Event Store's: it takes the
// next messages there are.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { newConsumerName, type NackAction, type PersistentConsumer, type PersistentMessage, type PersistentSubscriptionGroup } from '../engine/subscriptions/index.js';
import { subscriptionSettingsJson } from '../engine/subscriptions/settings.js';
import { entry, parseEmbed, streamUrl, type Embed } from './atom-feed.js';
import { badRequest, notAcceptable } from './http-error.js';
import { header, longPollSeconds } from './http-headers.js';
import { authorize, baseUrl, requireOps, sendJson, streamParam, type ServerContext } from './server-context.js';

type Params = Record<string, string | undefined>;

const COMPETING_TYPES = ['application/vnd.eventstore.competingatom+json', 'application/vnd.kurrent.competingatom+json', 'application/json'];
const NACK_ACTIONS: Record<string, NackAction> = { park: 'park', retry: 'retry', skip: 'skip', stop: 'stop' };

function negotiateCompeting(req: FastifyRequest): string {
  const accept = req.headers.accept;
  if (accept === undefined || accept === '') return COMPETING_TYPES[0]!;
  const types = accept.split(',').map((p) => p.split(';')[0]!.trim().toLowerCase());
  for (const t of types) if (COMPETING_TYPES.includes(t)) return t;
  if (types.some((t) => t === '*/*' || t === 'application/*' || t.endsWith('+json'))) return COMPETING_TYPES[0]!;
  throw notAcceptable(`Cannot answer with ${accept}: use application/vnd.eventstore.competingatom+json or application/json`);
}

function parseIds(value: string | undefined): string[] {
  if (value === undefined || value.trim() === '') throw badRequest('ids must list message ids separated by commas');
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function parseAction(value: string | undefined): NackAction {
  const action = NACK_ACTIONS[(value ?? 'retry').toLowerCase()];
  if (action === undefined) throw badRequest(`action must be Park, Retry, Skip or Stop, got ${JSON.stringify(value)}`);
  return action;
}

function groupUrl(base: string, stream: string, group: string): string {
  return `${base}/subscriptions/${encodeURIComponent(stream)}/${encodeURIComponent(group)}`;
}

function groupSummary(base: string, info: Awaited<ReturnType<PersistentSubscriptionGroup['info']>>, group: PersistentSubscriptionGroup): Record<string, unknown> {
  const url = groupUrl(base, info.eventStreamId, info.groupName);
  return {
    links: [{ href: `${url}/info`, rel: 'detail' }],
    eventStreamId: info.eventStreamId,
    groupName: info.groupName,
    parkedMessageUri: `${streamUrl(base, group.parkedStream)}`,
    getMessagesUri: `${url}/1`,
    status: info.status,
    averageItemsPerSecond: 0,
    totalItemsProcessed: info.totalItemsProcessed,
    lastProcessedEventNumber: info.lastProcessedEventNumber,
    lastKnownEventNumber: info.lastKnownEventNumber,
    connectionCount: info.connections.length,
    totalInFlightMessages: info.totalInFlightMessages,
  };
}

export function registerSubscriptionRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { subscriptions } = ctx;

  function names(req: FastifyRequest): { stream: string; group: string } {
    const { stream, group } = req.params as Params;
    const streamId = streamParam(stream, true);
    if (streamId === '$all') throw badRequest('Persistent subscriptions to $all are not available over HTTP (as in Event Store); use a stream');
    if (group === undefined || group.length === 0) throw badRequest('A subscription group name is required');
    return { stream: streamId, group };
  }

  app.put('/subscriptions/:stream/:group', async (req, reply) => {
    const { stream, group } = names(req);
    requireOps(req, 'create persistent subscriptions on');
    await subscriptions.create(stream, group, req.body, req.principal.name);
    reply.raw.statusMessage = 'Created';
    return reply.code(201).header('location', groupUrl(baseUrl(ctx, req), stream, group)).type('application/json; charset=utf-8').send(JSON.stringify({ result: 'Subscription group was created.' }));
  });

  app.post('/subscriptions/:stream/:group', async (req, reply) => {
    const { stream, group } = names(req);
    requireOps(req, 'update persistent subscriptions on');
    await subscriptions.update(stream, group, req.body, req.principal.name);
    return sendJson(reply, 200, { result: 'Subscription group was updated; its consumers were disconnected.' });
  });

  app.delete('/subscriptions/:stream/:group', async (req, reply) => {
    const { stream, group } = names(req);
    requireOps(req, 'delete persistent subscriptions on');
    await subscriptions.delete(stream, group, req.principal.name);
    return sendJson(reply, 200, { result: 'Subscription group was deleted.' });
  });

  app.get('/subscriptions', async (req, reply) => {
    requireOps(req, 'list persistent subscriptions on');
    const query = req.query as Params;
    const offset = query.offset === undefined ? 0 : Number(query.offset);
    const count = query.count === undefined ? Number.MAX_SAFE_INTEGER : Number(query.count);
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(count) || count < 1) throw badRequest('offset must be ≥ 0 and count ≥ 1');
    const base = baseUrl(ctx, req);
    const groups = subscriptions.list().slice(offset, offset + count);
    return sendJson(reply, 200, await Promise.all(groups.map(async (g) => groupSummary(base, await g.info(), g))));
  });

  app.get('/subscriptions/:stream', async (req, reply) => {
    const stream = streamParam((req.params as Params).stream, true);
    requireOps(req, 'list persistent subscriptions on');
    const base = baseUrl(ctx, req);
    return sendJson(reply, 200, await Promise.all(subscriptions.list(stream).map(async (g) => groupSummary(base, await g.info(), g))));
  });

  app.get('/subscriptions/:stream/:group/info', async (req, reply) => {
    const { stream, group } = names(req);
    await authorize(ctx, req, stream, 'read');
    const instance = subscriptions.get(stream, group);
    const info = await instance.info();
    const base = baseUrl(ctx, req);
    return sendJson(reply, 200, { ...groupSummary(base, info, instance), ...info, config: subscriptionSettingsJson(instance.settings) });
  });

  async function read(req: FastifyRequest, reply: FastifyReply, count: number): Promise<FastifyReply> {
    const { stream, group } = names(req);
    const type = negotiateCompeting(req);
    const query = req.query as Params;
    const embed: Embed = parseEmbed(query.embed, 'none');
    const wait = longPollSeconds(req.headers, ctx.longPollMaxSeconds);
    await authorize(ctx, req, stream, 'read');
    const instance = subscriptions.get(stream, group);
    const name = query.consumer ?? header(req.headers, 'ConsumerName')?.value;
    if (name !== undefined && (name.length === 0 || name.length > 256)) throw badRequest('consumer must be 1–256 characters');
    let consumer: PersistentConsumer;
    const transient = name === undefined;
    const existing = name === undefined ? undefined : instance.consumer(name);
    if (existing !== undefined) {
      consumer = existing;
      consumer.capacity = count;
    } else {
      consumer = instance.connect({
        name: name ?? newConsumerName(),
        capacity: count,
        user: req.principal.name,
        idleTimeoutMs: transient ? undefined : instance.settings.messageTimeoutMilliseconds * 3,
      });
    }
    let messages: PersistentMessage[];
    try {
      messages = consumer.take(count);
      if (messages.length === 0 && wait !== undefined && !consumer.closed) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, wait * 1000);
          function done(): void {
            clearTimeout(timer);
            consumer.onMessages = undefined;
            req.raw.socket.off('close', done);
            ctx.closing.removeEventListener('abort', done);
            resolve();
          }
          consumer.onMessages = done;
          req.raw.socket.once('close', done);
          ctx.closing.addEventListener('abort', done, { once: true });
        });
        messages = consumer.closed ? [] : consumer.take(count);
      }
    } finally {
      // A nameless read leaves with what it took; those stay outstanding until acked or timed out.
      if (transient) consumer.close();
    }
    const base = baseUrl(ctx, req);
    const url = groupUrl(base, stream, group);
    const ids = messages.map((m) => m.id).join(',');
    const links = [
      { uri: `${url}/ack?ids=${ids}`, relation: 'ackAll' },
      { uri: `${url}/nack?ids=${ids}`, relation: 'nackAll' },
      { uri: `${url}/${count}`, relation: 'previous' },
      { uri: url, relation: 'self' },
    ];
    const entries = messages.map((m) => {
      const e = entry(base, m.event, embed);
      const entryLinks = (e.links as object[]).concat([
        { uri: `${url}/ack/${m.id}`, relation: 'ack' },
        { uri: `${url}/nack/${m.id}`, relation: 'nack' },
      ]);
      return { ...e, retryCount: m.retryCount, links: entryLinks };
    });
    ctx.metrics.readRequests++;
    ctx.metrics.readEvents += entries.length;
    const feed = {
      title: `All Events Persistent Subscription`,
      id: url,
      updated: new Date().toISOString(),
      author: { name: 'EventStore' },
      headOfStream: false,
      links,
      entries,
    };
    return reply.code(200).header('cache-control', 'max-age=0, no-cache, must-revalidate').type(`${type}; charset=utf-8`).send(JSON.stringify(feed));
  }

  app.get('/subscriptions/:stream/:group', async (req, reply) => read(req, reply, 1));
  app.get('/subscriptions/:stream/:group/:count', async (req, reply) => {
    const text = (req.params as Params).count ?? '';
    if (!/^\d{1,4}$/.test(text) || Number(text) < 1 || Number(text) > 1000) throw badRequest(`count must be an integer from 1 to 1000, got ${JSON.stringify(text)}`);
    return read(req, reply, Number(text));
  });

  async function settle(req: FastifyRequest, reply: FastifyReply, ids: string[], nack: NackAction | undefined): Promise<FastifyReply> {
    const { stream, group } = names(req);
    await authorize(ctx, req, stream, 'read');
    const instance = subscriptions.get(stream, group);
    const n = nack === undefined ? instance.ack(ids) : instance.nack(ids, nack, `nacked by ${req.principal.name}`);
    reply.raw.statusMessage = 'Accepted';
    return sendJson(reply, 202, { settled: n });
  }

  app.post('/subscriptions/:stream/:group/ack/:messageId', async (req, reply) => settle(req, reply, [(req.params as Params).messageId ?? ''], undefined));
  app.post('/subscriptions/:stream/:group/ack', async (req, reply) => settle(req, reply, parseIds((req.query as Params).ids), undefined));
  app.post('/subscriptions/:stream/:group/nack/:messageId', async (req, reply) =>
    settle(req, reply, [(req.params as Params).messageId ?? ''], parseAction((req.query as Params).action)),
  );
  app.post('/subscriptions/:stream/:group/nack', async (req, reply) => settle(req, reply, parseIds((req.query as Params).ids), parseAction((req.query as Params).action)));

  app.post('/subscriptions/:stream/:group/replayParked', async (req, reply) => {
    const { stream, group } = names(req);
    requireOps(req, 'replay parked messages on');
    const stopAtText = (req.query as Params).stopAt;
    if (stopAtText !== undefined && (!/^\d{1,9}$/.test(stopAtText) || Number(stopAtText) < 1)) throw badRequest('stopAt must be a positive integer');
    const replayed = await subscriptions.get(stream, group).replayParked(stopAtText === undefined ? undefined : Number(stopAtText));
    return sendJson(reply, 200, { result: `Replaying ${replayed} parked message${replayed === 1 ? '' : 's'}.`, replayed });
  });

  // Parked messages are a stream; browse them with the stream API.
  app.get('/subscriptions/viewparkedmessages/:stream/:group/:event/:direction/:count', async (req, reply) => {
    const { stream, group } = names(req);
    const { event, direction, count } = req.params as Params;
    if (direction !== 'backward' && direction !== 'forward') throw badRequest('direction must be backward or forward');
    const parked = subscriptions.get(stream, group).parkedStream;
    return reply.code(307).header('location', `${streamUrl(baseUrl(ctx, req), parked)}/${encodeURIComponent(event ?? '0')}/${direction}/${encodeURIComponent(count ?? '20')}`).send();
  });
}
