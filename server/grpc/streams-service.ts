// `event_store.client.streams.Streams`: Read (stream and `$all` reads in both directions, and
// catch-up subscriptions), Append, BatchAppend, Delete and Tombstone, over the Store port
// (shared/reference/eventstore-semantics.md §3.2, §5.2, §5.3). Access is checked with the same
// ACL rule as the HTTP API.
import { randomUUID } from 'node:crypto';
import { ALL_STREAM } from '../../store/stream-name.js';
import { InvalidArgumentError, isTelltaleError, WrongExpectedRevisionError } from '../../store/errors.js';
import type { Principal } from '../../store/acl.js';
import type { EventData, EventFilter, ExpectedRevision, RecordedEvent, Subscription } from '../../store/types.js';
import { authorize, GrpcFailure, principalOf, toGrpcFailure, unary, type GrpcContext } from './call-context.js';
import { CallWriter } from './call-writer.js';
import { correlationKey, decodeAppendReq, decodeBatchAppendReq, writeAppendResp, writeBatchAppendResp, writeReadEvent, type AppendOutcome, type AppendRequest, type BatchAppendRequest, type BatchAppendResult, type ProposedEvent } from './codec.js';
import type { ServiceDefinition, ServiceImplementation } from './grpc-server.js';
import { anyPb, emptyPb, sharedPb, statusPb, streamsPb } from './protocol.js';
import type { MethodDefinition, ServerCall } from './server-call.js';
import { status } from './status.js';
import { expectedRevisionOf, streamIdentifier, streamNameOf, u64 } from './wire.js';

type ReadReq = InstanceType<typeof streamsPb.ReadReq>;
type ReadResp = InstanceType<typeof streamsPb.ReadResp>;
type FilterOptions = InstanceType<typeof streamsPb.ReadReq.Options.FilterOptions>;

/** Largest append (all its events' data and metadata), as Event Store's `MaxAppendSize` bounds it. */
export const MAX_APPEND_SIZE = 16 * 1024 * 1024;
/** Event Store's default search window for filtered reads and subscriptions. */
const DEFAULT_FILTER_WINDOW = 32;

const { ReadResp } = streamsPb;
const ReadDirection = streamsPb.ReadReq.Options.ReadDirection;

/**
 * The Streams service definition with the hot requests on the hand-written codec (codec.ts):
 * Append and BatchAppend requests decode straight into proposed events. (Their responses, and
 * every event a read sends, are written by the codec straight into the call's buffer.)
 */
export function streamsDefinition(generated: ServiceDefinition): ServiceDefinition {
  const method = (name: string): MethodDefinition => {
    const m = generated[name];
    if (m === undefined) throw new TypeError(`The Streams service has no ${name}`);
    return m;
  };
  return {
    ...generated,
    append: { ...method('append'), requestDeserialize: decodeAppendReq },
    batchAppend: { ...method('batchAppend'), requestDeserialize: decodeBatchAppendReq },
  };
}

/** A UTF-8 byte order mark, which a JSON text may start with. */
const hasBom = (b: Buffer) => b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;

/**
 * A proposed message as the store takes it. JSON data is parsed (the store keeps JSON as JSON);
 * data that says it is JSON but is not is kept as bytes, as Event Store keeps what it is given.
 */
export function eventDataOf(m: ProposedEvent): EventData {
  const { type, contentType } = m;
  if (type === undefined || type === '' || contentType === undefined) {
    const missing = [type === undefined || type === '' ? 'type' : undefined, contentType === undefined ? 'content-type' : undefined].filter((k) => k !== undefined);
    throw new GrpcFailure(status.INVALID_ARGUMENT, `Missing required metadata properties: ${missing.join(', ')}`, {
      exception: 'missing-required-metadata-property',
      'required-metadata-properties': 'type,content-type',
    });
  }
  const bytes = m.data;
  const custom = m.customMetadata;
  let data: unknown;
  if (contentType === 'application/json') {
    try {
      data = bytes.length === 0 ? {} : JSON.parse(bytes.toString('utf8', hasBom(bytes) ? 3 : 0));
    } catch {
      data = undefined;
    }
  }
  // Bytes are copied out of the request: views would keep whole HTTP/2 chunks alive in a store that holds on to them.
  if (data === undefined) data = Buffer.from(bytes);
  return { id: m.id ?? randomUUID(), type, data, metadata: custom.length > 0 ? Buffer.from(custom) : undefined };
}

/** What a proposed event counts against the append size limit. */
const sizeOf = (m: ProposedEvent) => m.data.length + m.customMetadata.length;

function filterOf(f: FilterOptions): { filter: EventFilter; interval: number } {
  const filter: { -readonly [K in keyof EventFilter]: EventFilter[K] } = {};
  const stream = f.getStreamIdentifier();
  const type = f.getEventType();
  if (stream !== undefined) {
    if (stream.getRegex() !== '') filter.streamNameRegex = stream.getRegex();
    else if (stream.getPrefixList().length > 0) filter.streamNamePrefix = stream.getPrefixList();
  }
  if (type !== undefined) {
    if (type.getRegex() !== '') filter.eventTypeRegex = type.getRegex();
    else if (type.getPrefixList().length > 0) filter.eventTypePrefix = type.getPrefixList();
  }
  const window = f.hasMax() && f.getMax() > 0 ? f.getMax() : DEFAULT_FILTER_WINDOW;
  const multiplier = Math.max(1, f.getCheckpointintervalmultiplier());
  return { filter, interval: window * multiplier };
}

function checkpointResponse(position: bigint): ReadResp {
  const checkpoint = new ReadResp.Checkpoint();
  checkpoint.setCommitPosition(position.toString());
  checkpoint.setPreparePosition(position.toString());
  const resp = new ReadResp();
  resp.setCheckpoint(checkpoint);
  return resp;
}

function positionOf(message: { getCommitPosition(): string } | undefined): bigint {
  if (message === undefined) throw new InvalidArgumentError('A position is required');
  return u64(message.getCommitPosition(), 'The commit position');
}

export function streamsService(ctx: GrpcContext): ServiceImplementation {
  const { store } = ctx;

  async function read(call: ServerCall<ReadReq, ReadResp>): Promise<void> {
    const writer = new CallWriter<ReadResp>(call);
    const options = call.request.getOptions();
    if (options === undefined) throw new InvalidArgumentError('ReadReq needs options');
    const principal = await principalOf(ctx, call);
    const uuidAsString = options.getUuidOption()?.hasString() === true;
    const backwards = options.getReadDirection() === ReadDirection.BACKWARDS;
    const resolveLinks = options.getResolveLinks();
    const subscribe = options.hasSubscription();
    const maxCount = options.hasCount() ? u64(options.getCount(), 'count') : BigInt(Number.MAX_SAFE_INTEGER);
    const filtered = options.hasFilter() ? filterOf(options.getFilter()!) : undefined;

    if (options.hasStream()) {
      const streamOptions = options.getStream()!;
      const streamId = streamNameOf(streamOptions.getStreamIdentifier());
      await authorize(ctx, principal, streamId, 'read');
      if (subscribe) {
        const from = streamOptions.hasRevision() ? u64(streamOptions.getRevision(), 'revision') : streamOptions.hasEnd() ? 'end' : 'start';
        const info = await store.getStreamInfo(streamId);
        if (info.tombstoned) throw new GrpcFailure(status.FAILED_PRECONDITION, `Stream '${streamId}' is deleted`, { exception: 'stream-deleted', 'stream-name': streamId });
        await runSubscription(call, writer, (hooks) => store.subscribeToStream(streamId, { fromRevision: from, resolveLinks, ...hooks }), uuidAsString);
        return;
      }
      let from: bigint | 'start' | 'end' = streamOptions.hasRevision() ? u64(streamOptions.getRevision(), 'revision') : streamOptions.hasEnd() ? 'end' : 'start';
      // Forwards from the end is past the last event: nothing, though the stream must exist.
      const pastTheEnd = !backwards && from === 'end';
      if (pastTheEnd) from = 'start';
      try {
        let n = 0n;
        for await (const e of store.readStream(streamId, { fromRevision: from, direction: backwards ? 'backwards' : 'forwards', maxCount: pastTheEnd ? 1 : maxCount, resolveLinks })) {
          if (pastTheEnd || n++ >= maxCount) break;
          if (!(await writer.writeWith((w) => writeReadEvent(w, e, uuidAsString)))) return;
        }
      } catch (e) {
        if (!isTelltaleError(e, 'stream-not-found')) throw e;
        const notFound = new ReadResp.StreamNotFound();
        notFound.setStreamIdentifier(streamIdentifier(streamId));
        const resp = new ReadResp();
        resp.setStreamNotFound(notFound);
        await writer.write(resp);
      }
      call.end();
      return;
    }

    if (!options.hasAll()) throw new InvalidArgumentError('ReadReq options name neither a stream nor $all');
    const allOptions = options.getAll()!;
    await authorize(ctx, principal, ALL_STREAM, 'read');
    const at = allOptions.hasPosition() ? positionOf(allOptions.getPosition()) : allOptions.hasEnd() ? 'end' : 'start';
    if (subscribe) {
      await runSubscription(
        call,
        writer,
        (hooks) =>
          store.subscribeToAll({
            fromPosition: at,
            resolveLinks,
            ...hooks,
            ...(filtered !== undefined ? { filter: filtered.filter, checkpointInterval: filtered.interval, onCheckpoint: async (p: bigint) => void (await writer.write(checkpointResponse(p))) } : {}),
          }),
        uuidAsString,
      );
      return;
    }
    // Backwards from a position reads what lies before it, as Event Store's log reader does.
    let from: bigint | 'start' | 'end' = at;
    if (backwards && typeof at === 'bigint') from = at - 1n;
    if (!(backwards && typeof from === 'bigint' && from < 0n) && !(!backwards && at === 'end')) {
      for await (const e of store.readAll({ fromPosition: from, direction: backwards ? 'backwards' : 'forwards', maxCount, resolveLinks, ...(filtered ? { filter: filtered.filter } : {}) })) {
        if (!(await writer.writeWith((w) => writeReadEvent(w, e, uuidAsString)))) return;
      }
    }
    call.end();
  }

  /**
   * A catch-up subscription: `confirmation` first, then history, `caught_up`, live events (and
   * `fell_behind` when a slow consumer drops back to history). It ends when the client cancels
   * or the server closes.
   */
  async function runSubscription(
    call: ServerCall<ReadReq, ReadResp>,
    writer: CallWriter<ReadResp>,
    open: (hooks: { onCaughtUp: () => void; onFellBehind: () => void }) => Subscription,
    uuidAsString: boolean,
  ): Promise<void> {
    const confirmation = new ReadResp.SubscriptionConfirmation();
    confirmation.setSubscriptionId(randomUUID());
    const confirm = new ReadResp();
    confirm.setConfirmation(confirmation);
    if (!(await writer.write(confirm))) return;
    const subscription = open({
      onCaughtUp: () => {
        const resp = new ReadResp();
        resp.setCaughtUp(new ReadResp.CaughtUp());
        void writer.write(resp);
      },
      onFellBehind: () => {
        const resp = new ReadResp();
        resp.setFellBehind(new ReadResp.FellBehind());
        void writer.write(resp);
      },
    });
    const stop = () => void subscription.close();
    ctx.closing.addEventListener('abort', stop);
    void writer.whenGone().then(stop);
    try {
      for await (const e of subscription) {
        if (!(await writer.writeWith((w) => writeReadEvent(w, e, uuidAsString)))) break;
      }
    } finally {
      ctx.closing.removeEventListener('abort', stop);
      await subscription.close();
    }
    if (writer.open) call.end();
  }

  async function appendEvents(principal: Principal, streamId: string, expected: ExpectedRevision, events: EventData[]) {
    await authorize(ctx, principal, streamId, 'write');
    return store.appendToStream(streamId, events, { expectedRevision: expected });
  }

  /**
   * Append: a client-streamed append (options, then one request per event) committed as one
   * append when the client finishes sending. The response is written by the codec.
   */
  function append(call: ServerCall<AppendRequest, never>): void {
    const principal = principalOf(ctx, call);
    principal.catch(() => {});
    let streamId: string | undefined;
    let expected: ExpectedRevision = 'any';
    const events: EventData[] = [];
    let size = 0;
    let failed: unknown;
    call.on('data', (req: AppendRequest) => {
      if (failed !== undefined) return;
      try {
        if (req.options !== undefined) {
          streamId = req.options.streamName;
          expected = req.options.expected;
        } else if (req.proposed !== undefined) {
          size += sizeOf(req.proposed);
          if (size > MAX_APPEND_SIZE) throw appendTooLarge();
          events.push(eventDataOf(req.proposed));
        }
      } catch (e) {
        failed = e;
      }
    });
    call.on('end', () => {
      (async (): Promise<AppendOutcome> => {
        if (failed !== undefined) throw failed;
        if (streamId === undefined) throw new InvalidArgumentError('The first AppendReq must carry options');
        try {
          const result = await appendEvents(await principal, streamId, expected, events);
          return { kind: 'success', nextExpectedRevision: result.nextExpectedRevision, position: result.position };
        } catch (e) {
          // Event Store answers a failed concurrency check in the response, not as an error.
          if (!(e instanceof WrongExpectedRevisionError)) throw e;
          return { kind: 'wrong-expected-version', expected: e.expected, actual: e.actual };
        }
      })().then(
        (outcome) => {
          call.writeWith((w) => writeAppendResp(w, outcome));
          call.end();
        },
        (e: unknown) => call.fail(toGrpcFailure(e, ctx.log)),
      );
    });
  }

  /**
   * BatchAppend: one long-lived bidirectional call per client connection; each append is a run of
   * requests with one correlation id (options on the first, `is_final` on the last) and gets one
   * response with that id. Appends of one call run concurrently (none waits for another), so the
   * store's group commit batches them.
   */
  function batchAppend(call: ServerCall<BatchAppendRequest, never>): void {
    // Known once the credentials are checked; appends before that wait for the check.
    const principalChecked = principalOf(ctx, call);
    let principal: Principal | undefined;
    principalChecked.then(
      (p) => (principal = p),
      () => {},
    );
    interface Pending {
      streamId: string | undefined;
      identifier: Uint8Array | undefined;
      expected: ExpectedRevision;
      events: EventData[];
      size: number;
      failed: unknown;
    }
    const pending = new Map<string, Pending>();
    let inFlight = 0;
    let ended = false;
    const maybeEnd = () => {
      if (ended && inFlight === 0) call.end();
    };
    const respond = (correlation: Uint8Array | undefined, current: Pending, result: BatchAppendResult) => {
      inFlight--;
      // A client that does not read its responses gets no more appends taken from it until it does.
      if (!call.writeWith((w) => writeBatchAppendResp(w, correlation, result, current.identifier, current.expected)) && call.open) call.pauseRequests();
      maybeEnd();
    };
    call.on('drain', () => call.resumeRequests());
    call.on('data', (req: BatchAppendRequest) => {
      const correlation = req.correlation;
      let current: Pending | undefined;
      // A one-request append (the usual case) is neither looked up nor kept.
      const key = req.isFinal && pending.size === 0 ? undefined : correlationKey(correlation);
      if (key !== undefined) current = pending.get(key);
      if (current === undefined) {
        current = { streamId: undefined, identifier: undefined, expected: 'any', events: [], size: 0, failed: undefined };
        if (!req.isFinal) pending.set(key!, current);
      }
      try {
        if (req.options !== undefined) {
          current.identifier = req.options.identifier;
          current.streamId = req.options.streamName;
          current.expected = req.options.expected;
        }
        if (current.failed === undefined) {
          for (const m of req.proposed) {
            current.size += sizeOf(m);
            if (current.size > MAX_APPEND_SIZE) throw appendTooLarge();
            current.events.push(eventDataOf(m));
          }
        }
      } catch (e) {
        current.failed ??= e;
      }
      if (!req.isFinal) return;
      if (key !== undefined) pending.delete(key);
      inFlight++;
      const done = current;
      const fail = (e: unknown) => respond(correlation, done, { error: batchError(e, ctx.log).serializeBinary() });
      if (done.failed !== undefined) return fail(done.failed);
      if (done.streamId === undefined) return fail(new InvalidArgumentError('The first BatchAppendReq of an append must carry options'));
      const streamId = done.streamId;
      // Appends of one call run concurrently (none waits for another), so the store's group commit batches them.
      (principal !== undefined ? appendEvents(principal, streamId, done.expected, done.events) : principalChecked.then((p) => appendEvents(p, streamId, done.expected, done.events))).then(
        (result) => respond(correlation, done, { success: result }),
        fail,
      );
    });
    call.on('end', () => {
      ended = true;
      maybeEnd();
    });
  }

  async function remove(kind: 'delete' | 'tombstone', request: InstanceType<typeof streamsPb.DeleteReq> | InstanceType<typeof streamsPb.TombstoneReq>, principal: Principal) {
    const options = request.getOptions();
    if (options === undefined) throw new InvalidArgumentError(`${kind} needs options`);
    const streamId = streamNameOf(options.getStreamIdentifier());
    const expected = expectedRevisionOf(options);
    await authorize(ctx, principal, streamId, 'delete');
    const result = kind === 'delete' ? await store.deleteStream(streamId, { expectedRevision: expected }) : await store.tombstoneStream(streamId, { expectedRevision: expected });
    return result.position;
  }

  return {
    read: (call: ServerCall<ReadReq, ReadResp>) => {
      read(call).catch((e: unknown) => call.fail(toGrpcFailure(e, ctx.log)));
    },
    append,
    batchAppend,
    delete: unary(ctx, async (request: InstanceType<typeof streamsPb.DeleteReq>, principal) => {
      const position = await remove('delete', request, principal);
      const resp = new streamsPb.DeleteResp();
      const p = new streamsPb.DeleteResp.Position();
      p.setCommitPosition(position.toString());
      p.setPreparePosition(position.toString());
      resp.setPosition(p);
      return resp;
    }),
    tombstone: unary(ctx, async (request: InstanceType<typeof streamsPb.TombstoneReq>, principal) => {
      const position = await remove('tombstone', request, principal);
      const resp = new streamsPb.TombstoneResp();
      const p = new streamsPb.TombstoneResp.Position();
      p.setCommitPosition(position.toString());
      p.setPreparePosition(position.toString());
      resp.setPosition(p);
      return resp;
    }),
  };
}

function appendTooLarge(): GrpcFailure {
  return new GrpcFailure(status.INVALID_ARGUMENT, `The append is larger than ${MAX_APPEND_SIZE} bytes`, { exception: 'maximum-append-size-exceeded', 'maximum-append-size': String(MAX_APPEND_SIZE) });
}

/**
 * A BatchAppend failure travels inside the response as a `google.rpc.Status` whose details name
 * the error by its message type (`event_store.client.WrongExpectedVersion`, …), which is how the
 * clients tell them apart.
 */
function batchError(e: unknown, log: (line: string) => void): InstanceType<typeof statusPb.Status> {
  const s = new statusPb.Status();
  const details = new anyPb.Any();
  if (e instanceof WrongExpectedRevisionError) {
    const wrong = new sharedPb.WrongExpectedVersion();
    if (e.actual >= 0n) wrong.setCurrentStreamRevision(e.actual.toString());
    else wrong.setCurrentNoStream(new emptyPb.Empty());
    if (typeof e.expected === 'bigint') wrong.setExpectedStreamPosition(e.expected.toString());
    else if (e.expected === 'any') wrong.setExpectedAny(new emptyPb.Empty());
    else if (e.expected === 'no_stream') wrong.setExpectedNoStream(new emptyPb.Empty());
    else wrong.setExpectedStreamExists(new emptyPb.Empty());
    details.pack(wrong.serializeBinary(), 'event_store.client.WrongExpectedVersion');
    s.setCode(status.FAILED_PRECONDITION as number);
    s.setMessage(e.message);
    s.setDetails(details);
    return s;
  }
  const failure = toGrpcFailure(e, log);
  s.setCode(failure.code as number);
  s.setMessage(failure.message);
  switch (failure.trailers.exception) {
    case 'stream-deleted': {
      const deleted = new sharedPb.StreamDeleted();
      details.pack(deleted.serializeBinary(), 'event_store.client.StreamDeleted');
      s.setDetails(details);
      break;
    }
    case 'access-denied':
      details.pack(new sharedPb.AccessDenied().serializeBinary(), 'event_store.client.AccessDenied');
      s.setDetails(details);
      break;
    case 'maximum-append-size-exceeded': {
      const exceeded = new sharedPb.MaximumAppendSizeExceeded();
      exceeded.setMaxappendsize(MAX_APPEND_SIZE);
      details.pack(exceeded.serializeBinary(), 'event_store.client.MaximumAppendSizeExceeded');
      s.setDetails(details);
      break;
    }
    default:
      if (failure.code === status.UNAUTHENTICATED) {
        details.pack(new sharedPb.AccessDenied().serializeBinary(), 'event_store.client.AccessDenied');
      } else {
        // Clients report a detail type they do not know with the status message, which says what went wrong.
        const bad = new sharedPb.BadRequest();
        bad.setMessage(failure.message);
        details.pack(bad.serializeBinary(), 'event_store.client.BadRequest');
      }
      s.setDetails(details);
  }
  return s;
}

