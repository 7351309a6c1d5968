// `event_store.client.persistent_subscriptions.PersistentSubscriptions` over the server's own
// persistent subscription groups (engine/subscriptions), shared with the HTTP API: Create,
// Update, Delete, Read (bidirectional: confirmation, then events pushed as the group dispatches
// them to this consumer; acks and nacks come back on the same call), GetInfo, ReplayParked, List.
// Groups on `$all` are not implemented and not advertised (§3.3, §5.4).
import { randomUUID } from 'node:crypto';
import type { NackAction, PersistentConsumer, PersistentMessage, PersistentSubscriptionGroup } from '../../engine/subscriptions/index.js';
import type { GroupInfo } from '../../engine/subscriptions/persistent-subscription-group.js';
import { InvalidArgumentError, UnsupportedError } from '../../store/errors.js';
import { authorize, GrpcFailure, principalOf, requireOps, toGrpcFailure, unary, type GrpcContext } from './call-context.js';
import { CallWriter } from './call-writer.js';
import type { ServiceImplementation } from './grpc-server.js';
import type { ServerCall } from './server-call.js';
import { status } from './status.js';
import { persistentPb, sharedPb } from './protocol.js';
import { writePersistentReadEvent, type ProtoWriter } from './codec.js';
import { streamNameOf, uuidOf } from './wire.js';

type ReadReq = InstanceType<typeof persistentPb.ReadReq>;
type ReadResp = InstanceType<typeof persistentPb.ReadResp>;
type CreateSettings = InstanceType<typeof persistentPb.CreateReq.Settings> | InstanceType<typeof persistentPb.UpdateReq.Settings>;
type StreamOptions = InstanceType<typeof persistentPb.CreateReq.StreamOptions> | InstanceType<typeof persistentPb.UpdateReq.StreamOptions>;

const { ReadResp, SubscriptionInfo } = persistentPb;
const NACK: Record<number, NackAction | undefined> = {
  [persistentPb.ReadReq.Nack.Action.PARK]: 'park',
  [persistentPb.ReadReq.Nack.Action.RETRY]: 'retry',
  [persistentPb.ReadReq.Nack.Action.SKIP]: 'skip',
  [persistentPb.ReadReq.Nack.Action.STOP]: 'stop',
  [persistentPb.ReadReq.Nack.Action.UNKNOWN]: 'retry',
};
const STRATEGY: Record<number, string> = {
  [persistentPb.CreateReq.ConsumerStrategy.DISPATCHTOSINGLE]: 'DispatchToSingle',
  [persistentPb.CreateReq.ConsumerStrategy.ROUNDROBIN]: 'RoundRobin',
  [persistentPb.CreateReq.ConsumerStrategy.PINNED]: 'Pinned',
};
const TICKS_PER_MS = 10_000;

function allUnsupported(): never {
  throw new UnsupportedError('Persistent subscriptions to $all are not supported by Telltale; subscribe a group to a stream (for example a $ce- or $et- stream)');
}

/** The settings as the group manager takes them (Event Store's HTTP field names). */
function settingsBody(settings: CreateSettings | undefined, stream: StreamOptions | undefined): Record<string, unknown> {
  if (settings === undefined) throw new InvalidArgumentError('Persistent subscription settings are required');
  const body: Record<string, unknown> = {
    resolveLinktos: settings.getResolveLinks(),
    extraStatistics: settings.getExtraStatistics(),
    maxRetryCount: settings.getMaxRetryCount(),
    minCheckPointCount: settings.getMinCheckpointCount(),
    maxCheckPointCount: settings.getMaxCheckpointCount(),
    maxSubscriberCount: settings.getMaxSubscriberCount(),
    liveBufferSize: settings.getLiveBufferSize(),
    readBatchSize: settings.getReadBatchSize(),
    bufferSize: settings.getHistoryBufferSize(),
  };
  if (settings.hasMessageTimeoutMs()) body.messageTimeoutMilliseconds = settings.getMessageTimeoutMs();
  else if (settings.hasMessageTimeoutTicks()) body.messageTimeoutMilliseconds = Math.round(Number(settings.getMessageTimeoutTicks()) / TICKS_PER_MS);
  if (settings.hasCheckpointAfterMs()) body.checkPointAfterMilliseconds = settings.getCheckpointAfterMs();
  else if (settings.hasCheckpointAfterTicks()) body.checkPointAfterMilliseconds = Math.round(Number(settings.getCheckpointAfterTicks()) / TICKS_PER_MS);
  const named = 'getConsumerStrategy' in settings ? settings.getConsumerStrategy() : '';
  body.namedConsumerStrategy = named !== '' ? named : (STRATEGY[settings.getNamedConsumerStrategy()] ?? 'RoundRobin');
  if (stream !== undefined) {
    if (stream.hasRevision()) body.startFrom = stream.getRevision();
    else if (stream.hasEnd()) body.startFrom = -1;
    else body.startFrom = 0;
  }
  // Zero means "not set" on the wire; leave those to the defaults rather than refuse them.
  for (const key of ['liveBufferSize', 'readBatchSize', 'bufferSize', 'maxCheckPointCount', 'messageTimeoutMilliseconds', 'checkPointAfterMilliseconds']) {
    if (body[key] === 0) delete body[key];
  }
  return body;
}

function infoMessage(info: GroupInfo, group: PersistentSubscriptionGroup): InstanceType<typeof SubscriptionInfo> {
  const s = group.settings;
  const m = new SubscriptionInfo();
  m.setEventSource(info.eventStreamId);
  m.setGroupName(info.groupName);
  m.setStatus(info.status);
  m.setAveragePerSecond(0);
  m.setTotalItems(String(info.totalItemsProcessed));
  m.setCountSinceLastMeasurement('0');
  m.setLastCheckpointedEventPosition(info.lastCheckpointedEventNumber < 0 ? '' : String(info.lastCheckpointedEventNumber));
  m.setLastKnownEventPosition(info.lastKnownEventNumber < 0 ? '' : String(info.lastKnownEventNumber));
  m.setResolveLinkTos(s.resolveLinktos);
  m.setStartFrom(String(s.startFrom));
  m.setMessageTimeoutMilliseconds(s.messageTimeoutMilliseconds);
  m.setExtraStatistics(s.extraStatistics);
  m.setMaxRetryCount(s.maxRetryCount);
  m.setLiveBufferSize(s.liveBufferSize);
  m.setBufferSize(s.bufferSize);
  m.setReadBatchSize(s.readBatchSize);
  m.setCheckPointAfterMilliseconds(s.checkPointAfterMilliseconds);
  m.setMinCheckPointCount(s.minCheckPointCount);
  m.setMaxCheckPointCount(s.maxCheckPointCount);
  m.setReadBufferCount(info.readBufferCount);
  m.setLiveBufferCount('0');
  m.setRetryBufferCount(info.retryBufferCount);
  m.setTotalInFlightMessages(info.totalInFlightMessages);
  m.setOutstandingMessagesCount(info.outstandingMessagesCount);
  m.setNamedConsumerStrategy(s.namedConsumerStrategy);
  m.setMaxSubscriberCount(s.maxSubscriberCount);
  m.setParkedMessageCount(String(info.parkedMessageCount));
  for (const c of info.connections) {
    const conn = new SubscriptionInfo.ConnectionInfo();
    conn.setFrom(c.connectionName);
    conn.setUsername(c.username ?? '');
    conn.setAverageItemsPerSecond(0);
    conn.setTotalItems(String(c.totalItems));
    conn.setCountSinceLastMeasurement('0');
    conn.setAvailableSlots(c.availableSlots);
    conn.setInFlightMessages(c.inFlightMessages);
    conn.setConnectionName(c.connectionName);
    m.addConnections(conn);
  }
  return m;
}

/** The stream named by an options message that has `stream_identifier` or `all`. */
function streamOf(options: { hasAll(): boolean; getStreamIdentifier(): InstanceType<typeof sharedPb.StreamIdentifier> | undefined }): string {
  if (options.hasAll()) allUnsupported();
  return streamNameOf(options.getStreamIdentifier());
}

export function persistentSubscriptionsService(ctx: GrpcContext): ServiceImplementation {
  const { subscriptions } = ctx;

  function read(call: ServerCall<ReadReq, ReadResp>): void {
    const writer = new CallWriter<ReadResp>(call);
    let consumer: PersistentConsumer | undefined;
    let group: PersistentSubscriptionGroup | undefined;
    let uuidAsString = false;
    // The clients ack a resolved link by the link's id; the group knows the message by its event's.
    const byLinkId = new Map<string, string>();
    let pushing = false;
    const fail = (e: unknown) => {
      consumer?.close();
      call.fail(toGrpcFailure(e, ctx.log));
    };

    const push = async () => {
      if (pushing) return;
      pushing = true;
      try {
        while (consumer !== undefined && writer.open) {
          if (consumer.closed) {
            throw new GrpcFailure(status.CANCELLED, `Subscription group ${group?.stream}::${group?.group} was dropped (updated, deleted or the server is stopping)`, {
              exception: 'persistent-subscription-dropped',
              'stream-name': group?.stream ?? '',
              'group-name': group?.group ?? '',
            });
          }
          const messages = consumer.take(consumer.inbox.length);
          if (messages.length === 0) break;
          for (const m of messages) if (!(await writer.writeWith(eventMessage(m)))) return;
        }
      } catch (e) {
        fail(e);
      } finally {
        pushing = false;
      }
      if (consumer !== undefined && writer.open && (consumer.inbox.length > 0 || consumer.closed)) void push();
    };

    /** The message's `ReadResp`, written by the codec straight into the call's buffer. */
    const eventMessage = (m: PersistentMessage) => {
      if (m.event.link !== undefined) byLinkId.set(m.event.link.id, m.id);
      return (w: ProtoWriter) => writePersistentReadEvent(w, m.event, m.retryCount, uuidAsString);
    };

    const ids = (list: Array<InstanceType<typeof sharedPb.UUID>>): string[] =>
      list.map((u) => {
        const id = uuidOf(u) ?? '';
        const target = byLinkId.get(id);
        if (target !== undefined) byLinkId.delete(id);
        return target ?? id;
      });

    const start = async (req: ReadReq) => {
      const options = req.getOptions()!;
      const principal = await principalOf(ctx, call);
      const stream = streamOf(options);
      const groupName = options.getGroupName();
      await authorize(ctx, principal, stream, 'read');
      group = subscriptions.get(stream, groupName);
      uuidAsString = options.getUuidOption()?.hasString() === true;
      const name = call.header('connection-name') || randomUUID();
      consumer = group.connect({ name: `grpc-${name}-${randomUUID()}`, capacity: Math.max(1, options.getBufferSize() || 10), user: principal.name, onMessages: () => void push() });
      const confirmation = new ReadResp.SubscriptionConfirmation();
      confirmation.setSubscriptionId(`${stream}::${groupName}`);
      const resp = new ReadResp();
      resp.setSubscriptionConfirmation(confirmation);
      await writer.write(resp);
      const stop = () => consumer?.close();
      ctx.closing.addEventListener('abort', stop, { once: true });
      void writer.whenGone().then(() => {
        ctx.closing.removeEventListener('abort', stop);
        stop();
      });
      void push();
    };

    let starting: Promise<void> | undefined;
    call.on('data', (req: ReadReq) => {
      if (req.hasOptions()) {
        if (starting !== undefined) return;
        starting = start(req).catch(fail);
        return;
      }
      void (starting ?? Promise.resolve()).then(() => {
        if (group === undefined) return;
        if (req.hasAck()) group.ack(ids(req.getAck()!.getIdsList()));
        else if (req.hasNack()) {
          const nack = req.getNack()!;
          group.nack(ids(nack.getIdsList()), NACK[nack.getAction()] ?? 'retry', nack.getReason() || 'nacked');
        }
      });
    });
    call.on('cancelled', () => consumer?.close());
    call.on('end', () => {
      consumer?.close();
      call.end();
    });
  }

  return {
    create: unary(ctx, async (request: InstanceType<typeof persistentPb.CreateReq>, principal) => {
      const options = request.getOptions();
      if (options === undefined) throw new InvalidArgumentError('CreateReq needs options');
      if (options.hasAll()) allUnsupported();
      const streamOptions = options.getStream();
      const stream = streamNameOf(streamOptions?.getStreamIdentifier() ?? options.getStreamIdentifier());
      requireOps(principal, 'create persistent subscriptions on');
      await subscriptions.create(stream, options.getGroupName(), settingsBody(options.getSettings(), streamOptions), principal.name);
      return new persistentPb.CreateResp();
    }),
    update: unary(ctx, async (request: InstanceType<typeof persistentPb.UpdateReq>, principal) => {
      const options = request.getOptions();
      if (options === undefined) throw new InvalidArgumentError('UpdateReq needs options');
      if (options.hasAll()) allUnsupported();
      const streamOptions = options.getStream();
      const stream = streamNameOf(streamOptions?.getStreamIdentifier() ?? options.getStreamIdentifier());
      requireOps(principal, 'update persistent subscriptions on');
      await subscriptions.update(stream, options.getGroupName(), settingsBody(options.getSettings(), streamOptions), principal.name);
      return new persistentPb.UpdateResp();
    }),
    delete: unary(ctx, async (request: InstanceType<typeof persistentPb.DeleteReq>, principal) => {
      const options = request.getOptions();
      if (options === undefined) throw new InvalidArgumentError('DeleteReq needs options');
      const stream = streamOf(options);
      requireOps(principal, 'delete persistent subscriptions on');
      await subscriptions.delete(stream, options.getGroupName(), principal.name);
      return new persistentPb.DeleteResp();
    }),
    read,
    getInfo: unary(ctx, async (request: InstanceType<typeof persistentPb.GetInfoReq>, principal) => {
      const options = request.getOptions();
      if (options === undefined) throw new InvalidArgumentError('GetInfoReq needs options');
      const stream = streamOf(options);
      await authorize(ctx, principal, stream, 'read');
      const group = subscriptions.get(stream, options.getGroupName());
      const resp = new persistentPb.GetInfoResp();
      resp.setSubscriptionInfo(infoMessage(await group.info(), group));
      return resp;
    }),
    replayParked: unary(ctx, async (request: InstanceType<typeof persistentPb.ReplayParkedReq>, principal) => {
      const options = request.getOptions();
      if (options === undefined) throw new InvalidArgumentError('ReplayParkedReq needs options');
      const stream = streamOf(options);
      requireOps(principal, 'replay parked messages of');
      const group = subscriptions.get(stream, options.getGroupName());
      await group.replayParked(options.hasStopAt() ? Number(options.getStopAt()) : undefined);
      return new persistentPb.ReplayParkedResp();
    }),
    list: unary(ctx, async (request: InstanceType<typeof persistentPb.ListReq>, principal) => {
      requireOps(principal, 'list persistent subscriptions on');
      const options = request.getOptions();
      const forStream = options?.getListForStream();
      let stream: string | undefined;
      if (forStream !== undefined) {
        if (forStream.hasAll()) allUnsupported();
        stream = streamNameOf(forStream.getStream());
      }
      const groups = subscriptions.list(stream);
      if (stream !== undefined && groups.length === 0) {
        throw new GrpcFailure(status.NOT_FOUND, `No subscription groups on stream '${stream}'`, { exception: 'persistent-subscription-does-not-exist', 'stream-name': stream, 'group-name': '' });
      }
      const resp = new persistentPb.ListResp();
      resp.setSubscriptionsList(await Promise.all(groups.map(async (g) => infoMessage(await g.info(), g))));
      return resp;
    }),
  };
}
