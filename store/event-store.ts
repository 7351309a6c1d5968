// `EventStore` is the one implementation of the `Store` port. It validates arguments and
// lifecycle once, encodes events, applies stream metadata on reads, resolves links and runs
// subscriptions; the backend below it only keeps records and decides appends atomically.
import { randomUUID } from 'node:crypto';
import type { PreparedEvent, PreparedWrite, StorageBackend, StoredRecord, WriteOutcome } from './backend.js';
import {
  EventTooLargeError,
  InvalidArgumentError,
  StoreClosedError,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedRevisionError,
} from './errors.js';
import { compileFilter } from './event-filter.js';
import { metadataEvent, metadataToJson, parseMetadataJson, SOFT_DELETED_TB } from './metadata.js';
import { PageEvents } from './page-events.js';
import { StoredEvent } from './recorded-event.js';
import { normalizeUuid } from './uuid.js';
import {
  assertValidStreamName,
  isMetastream,
  LINK_EVENT_TYPE,
  METADATA_EVENT_TYPE,
  metastreamOf,
  TOMBSTONE_EVENT_TYPE,
  TOMBSTONE_REVISION,
} from './stream-name.js';
import { CatchUpSubscription, type Checkpoint } from './subscription.js';
import type {
  AppendOptions,
  AppendResult,
  DeleteOptions,
  DeleteResult,
  EventData,
  ExpectedRevision,
  ReadAllOptions,
  ReadAllPage,
  ReadStreamOptions,
  RecordedEvent,
  ScavengeResult,
  Store,
  StoreSupports,
  StreamInfo,
  StreamMetadata,
  StreamMetadataResult,
  StreamWrite,
  SubscribeToAllOptions,
  SubscribeToStreamOptions,
  Subscription,
} from './types.js';

export interface EventStoreOptions {
  /**
   * Largest event accepted, data and metadata together, in bytes; Event Store's default
   * append limit. @defaultValue 1048576
   */
  readonly maxEventBytes?: number;
  /** Longest event type, in characters. @defaultValue 256 */
  readonly maxEventTypeLength?: number;
  /** Wall clock for `$maxAge`; tests pass a controlled one. @defaultValue Date.now */
  readonly clock?: () => number;
  /** Records per backend read. @defaultValue 512 */
  readonly readPageSize?: number;
}

const LINK_DATA = /^(\d+)@(.+)$/s;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = new Uint8Array();
/** Data of an event given none: an empty JSON object. */
const EMPTY_JSON: Uint8Array = Buffer.from('{}');

/** What stream metadata hides from stream reads. */
interface Visibility {
  readonly minRevision: bigint;
  readonly minCreated: number;
}

export class EventStore implements Store {
  readonly supports: StoreSupports;
  readonly #backend: StorageBackend;
  readonly #maxEventBytes: number;
  readonly #maxTypeLength: number;
  readonly #clock: () => number;
  readonly #pageSize: number;
  readonly #subscriptions = new Set<Subscription>();
  /** Writes and scavenges not yet settled; `close()` waits until it is back to 0. */
  #inFlight = 0;
  #drained: (() => void) | undefined;
  #closed = false;

  constructor(backend: StorageBackend, options: EventStoreOptions = {}) {
    this.#backend = backend;
    this.supports = backend.supports;
    this.#maxEventBytes = options.maxEventBytes ?? 1024 * 1024;
    this.#maxTypeLength = options.maxEventTypeLength ?? 256;
    this.#clock = options.clock ?? Date.now;
    this.#pageSize = options.readPageSize ?? 512;
  }

  /** The backend, for tests and tools that check storage itself (never for semantics). */
  get backend(): StorageBackend {
    return this.#backend;
  }

  appendToStream(streamId: string, events: readonly EventData[], options: AppendOptions = {}): Promise<AppendResult> {
    let prepared: PreparedWrite;
    try {
      this.#assertOpen();
      prepared = this.#prepareWrite({ streamId, events, expectedRevision: options.expectedRevision });
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#commit([prepared], firstResult);
  }

  appendToStreams(writes: readonly StreamWrite[]): Promise<AppendResult[]> {
    let prepared: PreparedWrite[];
    try {
      this.#assertOpen();
      if (!Array.isArray(writes) || writes.length === 0) throw new InvalidArgumentError('appendToStreams needs at least one write');
      prepared = writes.map((w) => this.#prepareWrite(w));
      if (prepared.length > 1) {
        const seen = new Set<string>();
        for (const w of prepared) {
          if (seen.has(w.streamId)) throw new InvalidArgumentError(`Stream '${w.streamId}' appears twice in one commit`);
          seen.add(w.streamId);
        }
      }
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#commit(prepared, allResults);
  }

  /** Commits prepared writes and answers with `results` of their outcomes; `close()` waits for every commit still unanswered. */
  #commit<T>(prepared: PreparedWrite[], results: (prepared: PreparedWrite[], outcomes: WriteOutcome[]) => T): Promise<T> {
    let pending: Promise<WriteOutcome[]>;
    try {
      pending = this.#backend.commit(prepared);
    } catch (e) {
      return Promise.reject(e);
    }
    this.#inFlight++;
    return pending.then(
      (outcomes) => {
        this.#settled();
        return results(prepared, outcomes);
      },
      (e: unknown) => {
        this.#settled();
        throw e;
      },
    );
  }

  async *readStream(streamId: string, options: ReadStreamOptions = {}): AsyncGenerator<RecordedEvent> {
    this.#assertOpen();
    assertValidStreamName(streamId);
    const direction = parseDirection(options.direction);
    let remaining = parseMaxCount(options.maxCount);
    const from = parseRevision(options.fromRevision, direction === 'forwards' ? 'start' : 'end', 'fromRevision');
    const state = await this.#backend.streamState(streamId);
    if (state.tombstoned) throw new StreamDeletedError(streamId);
    if (state.lastRevision < 0n || state.softDeleted) throw new StreamNotFoundError(streamId);
    const visible = await this.#visibility(streamId, state.lastRevision);
    const last = state.lastRevision;
    let cursor = from === 'start' ? 0n : from === 'end' ? last : from;
    if (direction === 'forwards' && cursor < visible.minRevision) cursor = visible.minRevision;
    if (direction === 'backwards' && cursor > last) cursor = last;
    while (remaining > 0) {
      if (direction === 'forwards' ? cursor > last : cursor < visible.minRevision) return;
      const page = await this.#backend.readStream({ streamId, fromRevision: cursor, direction, limit: this.#pageSize });
      if (page.length === 0) return;
      for (const record of page) {
        if (record.revision === TOMBSTONE_REVISION) continue;
        if (record.revision < visible.minRevision || record.revision > last) continue;
        if (record.created < visible.minCreated) continue;
        yield options.resolveLinks === true ? await this.#resolve(record) : new StoredEvent(record);
        if (--remaining === 0) return;
      }
      const tail = page[page.length - 1]!.revision;
      cursor = direction === 'forwards' ? tail + 1n : tail - 1n;
    }
  }

  readAll(options: ReadAllOptions = {}): AsyncIterableIterator<RecordedEvent> {
    return new PageEvents(this.readAllPages(options));
  }

  async *readAllPages(options: ReadAllOptions = {}): AsyncGenerator<ReadAllPage> {
    this.#assertOpen();
    const direction = parseDirection(options.direction);
    let remaining = parseMaxCount(options.maxCount);
    const accept = compileFilter(options.filter);
    const from = parsePosition(options.fromPosition, direction === 'forwards' ? 'start' : 'end', 'fromPosition');
    const head = await this.#backend.headPosition();
    let cursor = from === 'start' ? 0n : from === 'end' ? (direction === 'forwards' ? head : head - 1n) : from;
    while (remaining > 0 && cursor >= 0n) {
      const page = await this.#backend.readAll({ fromPosition: cursor, direction, limit: this.#pageSize });
      if (page.length === 0) return;
      const events: RecordedEvent[] = [];
      let last = page[page.length - 1]!.position;
      for (const record of page) {
        if (!accept(record.streamId, record.type)) continue;
        events.push(options.resolveLinks === true ? await this.#resolve(record) : new StoredEvent(record));
        if (--remaining === 0) {
          last = record.position;
          break;
        }
      }
      yield { events, lastPosition: last };
      cursor = direction === 'forwards' ? last + 1n : last - 1n;
    }
  }

  async deleteStream(streamId: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    this.#assertOpen();
    assertValidStreamName(streamId);
    const expected = parseExpected(options.expectedRevision);
    const current = await this.getStreamMetadata(streamId);
    const json = metadataToJson({ ...current.metadata, truncateBefore: SOFT_DELETED_TB });
    // Event Store refuses to delete a stream that has neither events nor metadata.
    const check: PreparedWrite = { streamId, expected: expected === 'any' ? 'stream_exists' : expected, events: [] };
    const meta: PreparedWrite = { streamId: metastreamOf(streamId), expected: 'any', events: [metadataEvent(randomUUID(), json)] };
    const [, metaResult] = await this.#commit([check, meta], allResults);
    return { position: metaResult!.position };
  }

  async tombstoneStream(streamId: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    this.#assertOpen();
    assertValidStreamName(streamId);
    const expected = parseExpected(options.expectedRevision);
    const tombstone: PreparedEvent = { id: randomUUID(), type: TOMBSTONE_EVENT_TYPE, isJson: true, data: encoder.encode('{}'), metadata: EMPTY };
    const [result] = await this.#commit([{ streamId, expected, events: [tombstone], tombstone: true }], allResults);
    return { position: result!.position };
  }

  async getStreamMetadata(streamId: string): Promise<StreamMetadataResult> {
    this.#assertOpen();
    assertValidStreamName(streamId);
    const record = await this.#lastMetadataRecord(streamId);
    if (record === undefined) return { streamId, metadata: {}, metastreamRevision: undefined };
    return { streamId, metadata: parseMetadataJson(decoder.decode(record.data)), metastreamRevision: record.revision };
  }

  async setStreamMetadata(streamId: string, metadata: StreamMetadata, options: AppendOptions = {}): Promise<AppendResult> {
    this.#assertOpen();
    assertValidStreamName(streamId);
    if (isMetastream(streamId)) throw new InvalidArgumentError(`'${streamId}' is a metastream; it has no metadata of its own`, 'invalid-metadata');
    const write: PreparedWrite = {
      streamId: metastreamOf(streamId),
      expected: parseExpected(options.expectedRevision),
      events: [metadataEvent(randomUUID(), metadataToJson(metadata))],
    };
    const [result] = await this.#commit([write], allResults);
    return result!;
  }

  async getStreamInfo(streamId: string): Promise<StreamInfo> {
    this.#assertOpen();
    assertValidStreamName(streamId);
    const state = await this.#backend.streamState(streamId);
    return { streamId, lastRevision: state.lastRevision, softDeleted: state.softDeleted, tombstoned: state.tombstoned };
  }

  subscribeToStream(streamId: string, options: SubscribeToStreamOptions = {}): Subscription {
    this.#assertOpen();
    assertValidStreamName(streamId);
    const from = parseRevision(options.fromRevision, 'start', 'fromRevision');
    const resolve = options.resolveLinks === true;
    const subscription = new CatchUpSubscription<bigint>({
      backend: this.#backend,
      hooks: options,
      start: async () => {
        if (from === 'start') return -1n;
        if (from === 'end') return (await this.#backend.streamState(streamId)).lastRevision;
        return from;
      },
      readPage: async (after) => {
        const state = await this.#backend.streamState(streamId);
        if (state.tombstoned) throw new StreamDeletedError(streamId);
        const page = await this.#backend.readStream({ streamId, fromRevision: after + 1n, direction: 'forwards', limit: this.#pageSize });
        const visible = page.length === 0 ? undefined : await this.#visibility(streamId, state.lastRevision);
        const events: RecordedEvent[] = [];
        for (const r of page) {
          if (r.revision === TOMBSTONE_REVISION) throw new StreamDeletedError(streamId);
          if (visible && (r.revision < visible.minRevision || r.created < visible.minCreated)) continue;
          events.push(resolve ? await this.#resolve(r) : new StoredEvent(r));
        }
        return { items: events, next: page.length > 0 ? page[page.length - 1]!.revision : after, full: page.length === this.#pageSize };
      },
      onClose: (s) => this.#subscriptions.delete(s),
    });
    this.#subscriptions.add(subscription);
    return subscription;
  }

  subscribeToAll(options: SubscribeToAllOptions = {}): Subscription {
    this.#assertOpen();
    const from = parsePosition(options.fromPosition, 'start', 'fromPosition');
    const accept = compileFilter(options.filter);
    const resolve = options.resolveLinks === true;
    const interval = options.checkpointInterval ?? 32;
    if (!Number.isSafeInteger(interval) || interval < 1) throw new InvalidArgumentError('checkpointInterval must be a positive integer');
    let considered = 0;
    const subscription = new CatchUpSubscription<bigint>({
      backend: this.#backend,
      hooks: options,
      start: async () => (from === 'start' ? -1n : from === 'end' ? (await this.#backend.headPosition()) - 1n : from),
      readPage: async (after) => {
        const page = await this.#backend.readAll({ fromPosition: after + 1n, direction: 'forwards', limit: this.#pageSize });
        const items: (RecordedEvent | Checkpoint)[] = [];
        for (const r of page) {
          if (accept(r.streamId, r.type)) items.push(resolve ? await this.#resolve(r) : new StoredEvent(r));
          if (++considered % interval === 0) items.push({ checkpoint: r.position });
        }
        return { items, next: page.length > 0 ? page[page.length - 1]!.position : after, full: page.length === this.#pageSize };
      },
      onClose: (s) => this.#subscriptions.delete(s),
    });
    this.#subscriptions.add(subscription);
    return subscription;
  }

  headPosition(): Promise<bigint> {
    this.#assertOpen();
    return this.#backend.headPosition();
  }

  /**
   * Reclaims the space of events no read can see any more: events of tombstoned and deleted
   * streams, events before `$tb`, beyond `$maxCount` or older than `$maxAge`, and superseded
   * metadata. The last event of each stream stays, so its revision survives; kept events keep
   * their positions.
   */
  async scavenge(): Promise<ScavengeResult> {
    this.#assertOpen();
    const scavenge = this.#backend.scavenge?.bind(this.#backend);
    if (!scavenge) return { eventsRemoved: 0, bytesReclaimed: 0 };
    const tombstoned = new Set<string>();
    const lastMetadata = new Map<string, bigint>();
    for await (const e of this.readAll({ filter: { streamNamePrefix: ['$$'] } })) lastMetadata.set(e.streamId, e.revision);
    for await (const e of this.readAll({ filter: { eventTypePrefix: [TOMBSTONE_EVENT_TYPE] } })) {
      if (e.revision === TOMBSTONE_REVISION) tombstoned.add(e.streamId);
    }
    const rules = new Map<string, Visibility & { last: bigint }>();
    for (const metastream of lastMetadata.keys()) {
      const streamId = metastream.slice(2);
      const state = await this.#backend.streamState(streamId);
      rules.set(streamId, { ...(await this.#visibility(streamId, state.lastRevision)), last: state.lastRevision });
    }
    return this.#track(
      scavenge({
        keep: (r) => {
          if (tombstoned.has(r.streamId)) return r.revision === TOMBSTONE_REVISION;
          if (r.streamId.startsWith('$$')) return lastMetadata.get(r.streamId) === r.revision;
          const rule = rules.get(r.streamId);
          if (rule === undefined || r.revision === rule.last) return true;
          return r.revision >= rule.minRevision && r.created >= rule.minCreated;
        },
      }),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#subscriptions].map((s) => s.close()));
    if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#drained = resolve));
    await this.#backend.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError();
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#inFlight++;
    const settled = () => this.#settled();
    promise.then(settled, settled);
    return promise;
  }

  #settled(): void {
    if (--this.#inFlight === 0 && this.#drained !== undefined) {
      this.#drained();
      this.#drained = undefined;
    }
  }

  async #lastMetadataRecord(streamId: string): Promise<StoredRecord | undefined> {
    const metastream = metastreamOf(streamId);
    const state = await this.#backend.streamState(metastream);
    if (state.lastRevision < 0n) return undefined;
    const [record] = await this.#backend.readStream({ streamId: metastream, fromRevision: state.lastRevision, direction: 'backwards', limit: 1 });
    return record;
  }

  async #visibility(streamId: string, lastRevision: bigint): Promise<Visibility> {
    if (isMetastream(streamId)) return { minRevision: 0n, minCreated: -Infinity };
    const record = await this.#lastMetadataRecord(streamId);
    if (record === undefined) return { minRevision: 0n, minCreated: -Infinity };
    let metadata: StreamMetadata;
    try {
      metadata = parseMetadataJson(decoder.decode(record.data));
    } catch {
      return { minRevision: 0n, minCreated: -Infinity };
    }
    let minRevision = metadata.truncateBefore ?? 0n;
    if (metadata.maxCount !== undefined) {
      const byCount = lastRevision - BigInt(metadata.maxCount) + 1n;
      if (byCount > minRevision) minRevision = byCount;
    }
    const minCreated = metadata.maxAge !== undefined ? this.#clock() - metadata.maxAge * 1000 : -Infinity;
    return { minRevision, minCreated };
  }

  /** The event, or for a `$>` link its target with the link attached, when the target is still visible. */
  async #resolve(record: StoredRecord): Promise<RecordedEvent> {
    if (record.type !== LINK_EVENT_TYPE) return new StoredEvent(record);
    const link = new StoredEvent(record);
    const match = LINK_DATA.exec(linkText(record.data));
    if (!match) return link;
    const revision = BigInt(match[1]!);
    const target = match[2]!;
    const state = await this.#backend.streamState(target);
    // Links to deleted, truncated or expired events stay in place but do not resolve.
    if (state.tombstoned || state.softDeleted || revision > state.lastRevision) return link;
    const visible = await this.#visibility(target, state.lastRevision);
    if (revision < visible.minRevision) return link;
    const [resolved] = await this.#backend.readStream({ streamId: target, fromRevision: revision, direction: 'forwards', limit: 1 });
    if (resolved === undefined || resolved.revision !== revision || resolved.created < visible.minCreated) return link;
    return new StoredEvent(resolved, link);
  }

  #prepareWrite(write: StreamWrite): PreparedWrite {
    if (write === null || typeof write !== 'object') throw new InvalidArgumentError('Each write must be an object');
    assertValidStreamName(write.streamId);
    const expected = parseExpected(write.expectedRevision);
    if (!Array.isArray(write.events)) throw new InvalidArgumentError('events must be an array', 'invalid-event');
    const events = new Array<PreparedEvent>(write.events.length);
    for (let i = 0; i < events.length; i++) events[i] = this.#prepareEvent(write.events[i]!, i);
    if (events.length > 1 && events.length <= 8) {
      // A few ids (a Kafka commit's writes hold one or two each): compared pairwise, no Set to build.
      for (let i = 1; i < events.length; i++) {
        for (let j = 0; j < i; j++) {
          if (events[i]!.id === events[j]!.id) throw new InvalidArgumentError(`Event ${i} repeats the id ${events[i]!.id} within one append`, 'invalid-event');
        }
      }
    } else if (events.length > 8) {
      const ids = new Array<string>(events.length);
      for (let i = 0; i < events.length; i++) ids[i] = events[i]!.id;
      // One Set built from the array (a single native pass); only a batch with a repeat is walked to name it.
      if (new Set(ids).size !== ids.length) {
        const seen = new Set<string>();
        for (let i = 0; i < ids.length; i++) {
          if (seen.has(ids[i]!)) throw new InvalidArgumentError(`Event ${i} repeats the id ${ids[i]} within one append`, 'invalid-event');
          seen.add(ids[i]!);
        }
      }
    }
    if (isMetastream(write.streamId)) {
      for (const e of events) {
        if (e.type !== METADATA_EVENT_TYPE) {
          throw new InvalidArgumentError(`Metastream '${write.streamId}' accepts only '${METADATA_EVENT_TYPE}' events, got '${e.type}'`, 'invalid-metadata');
        }
        parseMetadataJson(decoder.decode(e.data));
      }
    }
    return { streamId: write.streamId, expected, events };
  }

  #prepareEvent(event: EventData, index: number): PreparedEvent {
    if (event === null || typeof event !== 'object') throw new InvalidArgumentError(`Event ${index} must be an object`, 'invalid-event');
    if (typeof event.type !== 'string' || event.type.length === 0) {
      throw new InvalidArgumentError(`Event ${index} needs a non-empty string 'type'`, 'invalid-event');
    }
    if (event.type.length > this.#maxTypeLength) {
      throw new InvalidArgumentError(`Event ${index} has a type of ${event.type.length} characters; the limit is ${this.#maxTypeLength}`, 'invalid-event');
    }
    const id = event.id === undefined ? randomUUID() : typeof event.id === 'string' ? normalizeUuid(event.id) : undefined;
    if (id === undefined) throw new InvalidArgumentError(`Event ${index} has an id that is not a UUID: ${JSON.stringify(event.id)}`, 'invalid-event');
    const data = event.data === undefined ? EMPTY_JSON : event.data instanceof Uint8Array ? event.data : jsonText(event.data, index, 'data');
    let metadata: Uint8Array | string = EMPTY;
    if (event.metadata !== undefined && event.metadata !== null) {
      if (event.metadata instanceof Uint8Array) metadata = event.metadata;
      else if (typeof event.metadata === 'object' && !Array.isArray(event.metadata)) metadata = jsonText(event.metadata, index, 'metadata');
      else throw new InvalidArgumentError(`Event ${index} metadata must be a JSON object or bytes`, 'invalid-event');
    }
    // Text takes at most three UTF-8 bytes per UTF-16 unit: measured exactly only when that bound is over the limit.
    if (boundOf(data) + boundOf(metadata) > this.#maxEventBytes) {
      const size = bytesOf(data) + bytesOf(metadata);
      if (size > this.#maxEventBytes) throw new EventTooLargeError(size, this.#maxEventBytes);
    }
    return new ValuesEvent(id, event.type, !(event.data instanceof Uint8Array) || event.isJson === true, data, metadata);
  }
}

/** Link data is `N@stream`, as raw text or (when a client sent it as JSON) a JSON string. */
function linkText(bytes: Uint8Array): string {
  const text = decoder.decode(bytes);
  if (!text.startsWith('"')) return text;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'string' ? parsed : text;
  } catch {
    return text;
  }
}

/**
 * A prepared event whose data or metadata was given as a value: kept as the JSON text it was
 * serialised to, and encoded to bytes only if a backend asks for them (the log writes the text
 * straight into its commit buffer: one copy instead of an allocation and two copies).
 */
class ValuesEvent implements PreparedEvent {
  readonly dataText: string | undefined;
  readonly metadataText: string | undefined;
  // Plain (TypeScript-private) fields: one of these is built per event appended, and `#` fields
  // cost more to initialise.
  private dataBytes: Uint8Array | undefined;
  private metadataBytes: Uint8Array | undefined;

  constructor(
    readonly id: string,
    readonly type: string,
    readonly isJson: boolean,
    data: Uint8Array | string,
    metadata: Uint8Array | string,
  ) {
    const dataIsText = typeof data === 'string';
    this.dataText = dataIsText ? data : undefined;
    this.dataBytes = dataIsText ? undefined : data;
    const metadataIsText = typeof metadata === 'string';
    this.metadataText = metadataIsText ? metadata : undefined;
    this.metadataBytes = metadataIsText ? undefined : metadata;
  }

  get data(): Uint8Array {
    return (this.dataBytes ??= Buffer.from(this.dataText!, 'utf8'));
  }

  get metadata(): Uint8Array {
    return (this.metadataBytes ??= Buffer.from(this.metadataText!, 'utf8'));
  }
}

function boundOf(payload: Uint8Array | string): number {
  return typeof payload === 'string' ? payload.length * 3 : payload.length;
}

function bytesOf(payload: Uint8Array | string): number {
  return typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.length;
}

/** A payload given as a value, as JSON text. */
function jsonText(value: unknown, index: number, field: 'data' | 'metadata'): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (e) {
    throw new InvalidArgumentError(`Event ${index} ${field} is not serialisable as JSON: ${(e as Error).message}`, 'invalid-event');
  }
  if (json === undefined) throw new InvalidArgumentError(`Event ${index} ${field} is not a JSON value (${typeof value})`, 'invalid-event');
  return json;
}

/** The results of a commit's writes (module functions, so a commit allocates no closure for them). */
function allResults(prepared: PreparedWrite[], outcomes: WriteOutcome[]): AppendResult[] {
  return outcomes.map((o, i) => toAppendResult(prepared[i]!, o));
}

function firstResult(prepared: PreparedWrite[], outcomes: WriteOutcome[]): AppendResult {
  return toAppendResult(prepared[0]!, outcomes[0]!);
}

function toAppendResult(write: PreparedWrite, outcome: WriteOutcome): AppendResult {
  switch (outcome.kind) {
    case 'written':
      return { nextExpectedRevision: outcome.lastRevision, position: outcome.position, idempotent: false };
    case 'idempotent':
      return { nextExpectedRevision: outcome.lastRevision, position: outcome.position, idempotent: true };
    case 'wrong-expected-revision':
      throw new WrongExpectedRevisionError(write.streamId, write.expected, outcome.actual);
    case 'stream-deleted':
      throw new StreamDeletedError(write.streamId);
  }
}

export function parseExpected(value: unknown): ExpectedRevision {
  if (value === undefined) return 'any';
  if (value === 'any' || value === 'no_stream' || value === 'stream_exists') return value;
  if (typeof value === 'bigint' && value >= 0n) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw new InvalidArgumentError(
    `Invalid expected revision ${typeof value === 'bigint' ? `${value}n` : JSON.stringify(value)}: use 'any', 'no_stream', 'stream_exists' or a revision ≥ 0`,
  );
}

function parseDirection(value: unknown): 'forwards' | 'backwards' {
  if (value === undefined || value === 'forwards') return 'forwards';
  if (value === 'backwards') return 'backwards';
  throw new InvalidArgumentError(`direction must be 'forwards' or 'backwards', got ${JSON.stringify(value)}`);
}

/** A count as a number: counting down a bigint per event costs an allocation per event. */
function parseMaxCount(value: unknown): number {
  if (value === undefined) return Number.MAX_SAFE_INTEGER;
  if (typeof value === 'bigint' && value >= 0n) return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  throw new InvalidArgumentError(`maxCount must be a non-negative integer, got ${String(value)}`);
}

function parseRevision(value: unknown, fallback: 'start' | 'end', what: string): 'start' | 'end' | bigint {
  if (value === undefined) return fallback;
  if (value === 'start' || value === 'end') return value;
  if (typeof value === 'bigint' && value >= 0n) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw new InvalidArgumentError(`${what} must be 'start', 'end' or a non-negative integer, got ${String(value)}`);
}

const parsePosition = parseRevision;
