// The CLI's side of Telltale's HTTP API, which follows Event Store's (shared/reference/
// eventstore-semantics.md §2 streams, §1.18 projections): appends as
// `application/vnd.eventstore.events+json` batches, reads as JSON Atom feeds walked by their
// links, long polling for `tail`. HTTP failures become Telltale errors here and nowhere else.
import { expectedVersionNumber } from '../store/expected-revision.js';
import { randomUUID } from 'node:crypto';
import {
  BackendUnavailableError,
  StreamDeletedError,
  StreamNotFoundError,
  TelltaleError,
  WrongExpectedRevisionError,
  type TelltaleErrorCode,
} from '../store/errors.js';
import type { EventData, ExpectedRevision } from '../store/types.js';
import {
  ALL,
  type AppendOutcome,
  type CliEvent,
  type Connection,
  type DeployOptions,
  type FollowOptions,
  type LogsOptions,
  type ProjectionLogLine,
  type QueryFrom,
  type MetadataOutcome,
  type ProjectionAdmin,
  type RawMetadata,
  type ReadOptions,
  type StreamSummary,
} from './connection.js';
import { QueryFaultError } from './query-fault.js';

export interface HttpClientOptions {
  /** Base URL, e.g. http://127.0.0.1:2113 */
  readonly url: string;
  /** `user:password` for HTTP basic auth. */
  readonly credentials?: string;
  /** Entries per Atom page. @defaultValue 100 */
  readonly pageSize?: number;
  /** Seconds a `tail` request waits for new events. @defaultValue 10 */
  readonly longPollSeconds?: number;
}

interface AtomLink {
  readonly uri: string;
  readonly relation: string;
}

interface AtomEntry {
  readonly eventId?: string;
  readonly eventType?: string;
  readonly eventNumber?: number | string;
  readonly streamId?: string;
  readonly isJson?: boolean;
  readonly data?: unknown;
  readonly metaData?: unknown;
  readonly updated?: string;
  readonly position?: number | string;
  readonly positionEventNumber?: number | string;
  readonly positionStreamId?: string;
}

interface AtomFeed {
  readonly links?: readonly AtomLink[];
  readonly entries?: readonly AtomEntry[];
}

interface RequestOptions {
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
  readonly signal?: AbortSignal;
  readonly notFound?: () => TelltaleError;
  /** Builds the error of a wrong expected revision from the server's current version. */
  readonly wrongRevision?: (actual: bigint) => TelltaleError;
  readonly redirect?: 'manual';
}

/** Event Store's default administrator; see `request`. */
const DEFAULT_CREDENTIALS = 'admin:changeit';

const KNOWN_CODES = [
  'wrong-expected-revision', 'stream-not-found', 'stream-deleted', 'invalid-argument', 'invalid-stream-name', 'invalid-event',
  'event-too-large', 'invalid-metadata', 'store-closed', 'store-locked', 'corrupt-log', 'unsupported', 'access-denied',
  'not-authenticated', 'not-found', 'conflict', 'projection-faulted', 'projection-invalid', 'backend-unavailable', 'timeout',
] as const satisfies readonly TelltaleErrorCode[];

const ATOM = 'application/vnd.eventstore.atom+json';
const EVENTS = 'application/vnd.eventstore.events+json';


/** Event Store's `$all` position in URLs: 16 hex digits of commit then 16 of prepare position. */
export function allPositionToken(position: bigint): string {
  const hex = position.toString(16).padStart(16, '0');
  return `${hex}${hex}`;
}

function toBigInt(value: number | string | undefined): bigint | undefined {
  if (value === undefined || value === null) return undefined;
  try {
    return BigInt(value);
  } catch {
    return undefined;
  }
}

function parseMaybeJson(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** An entry's `$all` position: 32 hex digits (commit, prepare), or a plain number. */
function parsePosition(value: number | string | undefined): bigint | undefined {
  if (typeof value === 'string' && /^[0-9a-f]{32}$/i.test(value)) return BigInt(`0x${value.slice(0, 16)}`);
  return toBigInt(value);
}

function entryToEvent(entry: AtomEntry): CliEvent {
  const isJson = entry.isJson !== false;
  const rawMeta = parseMaybeJson(entry.metaData);
  // embed=body carries JSON data as text, and binary data as base64.
  const data = isJson ? parseMaybeJson(entry.data ?? {}) : new Uint8Array(Buffer.from(typeof entry.data === 'string' ? entry.data : '', 'base64'));
  const position = parsePosition(entry.position);
  return {
    streamId: entry.streamId ?? entry.positionStreamId ?? '',
    id: entry.eventId ?? '',
    type: entry.eventType ?? '',
    revision: toBigInt(entry.eventNumber) ?? -1n,
    ...(position !== undefined ? { position } : {}),
    ...(entry.updated ? { created: new Date(entry.updated) } : {}),
    isJson,
    data,
    metadata: rawMeta !== null && typeof rawMeta === 'object' && !Array.isArray(rawMeta) ? (rawMeta as Record<string, unknown>) : {},
  };
}

function link(feed: AtomFeed, relation: string): string | undefined {
  return feed.links?.find((l) => l.relation === relation)?.uri;
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

export class HttpClient implements Connection {
  readonly describe: string;
  readonly projections: ProjectionAdmin;
  readonly #base: string;
  readonly #auth: string | undefined;
  readonly #pageSize: number;
  readonly #longPoll: number;
  #defaultAuth: string | undefined;

  constructor(options: HttpClientOptions) {
    this.#base = options.url.replace(/\/+$/, '');
    this.#auth = options.credentials ? `Basic ${Buffer.from(options.credentials).toString('base64')}` : undefined;
    this.#pageSize = options.pageSize ?? 100;
    this.#longPoll = options.longPollSeconds ?? 10;
    this.describe = `server ${this.#base}`;
    this.projections = new HttpProjectionAdmin(this);
  }

  /** One request; network failures and error statuses become Telltale errors. */
  async request(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<Response> {
    const url = path.startsWith('http') ? path : `${this.#base}${path}`;
    const headers: Record<string, string> = { ...options.headers };
    const auth = this.#auth ?? this.#defaultAuth;
    if (auth) headers.Authorization = auth;
    let response: Response;
    try {
      response = await fetch(url, { method, headers, body: options.body, signal: options.signal, redirect: options.redirect ?? 'follow' });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (e as Error).message;
      throw new BackendUnavailableError(
        `Cannot reach a Telltale server at ${this.#base} (${why}). ` +
          'Start one with `telltale serve`, point to yours with --server URL (or TELLTALE_URL), ' +
          'or work on a data directory without a server with --db DIR.',
        { cause: e },
      );
    }
    if (response.status === 401 && this.#auth === undefined && this.#defaultAuth === undefined) {
      // No credentials given: try Event Store's default administrator once. A server still on that
      // well-known password listens on loopback only, so this is the out-of-the-box local setup.
      await response.arrayBuffer();
      this.#defaultAuth = `Basic ${Buffer.from(DEFAULT_CREDENTIALS).toString('base64')}`;
      try {
        return await this.request(method, path, options);
      } catch (e) {
        if (e instanceof TelltaleError && e.code === 'not-authenticated') this.#defaultAuth = undefined;
        throw e;
      }
    }
    if (response.ok || (options.redirect === 'manual' && response.status >= 300 && response.status < 400)) return response;
    throw await this.#errorOf(response, options);
  }

  async #errorOf(response: Response, options: RequestOptions): Promise<TelltaleError> {
    const text = (await response.text().catch(() => '')).trim();
    let detail = text;
    let serverCode: string | undefined;
    try {
      const body = JSON.parse(text) as { message?: string; error?: string };
      detail = body.message ?? body.error ?? text;
      serverCode = body.error;
    } catch {
      // a plain-text body is the message itself
    }
    const reason = detail || response.statusText;
    const current = response.headers.get('kurrent-currentversion') ?? response.headers.get('es-currentversion');
    if (current !== null && options.wrongRevision && /^-?\d+$/.test(current)) return options.wrongRevision(BigInt(current));
    if (response.status === 404 && /^No route for/.test(detail)) {
      // The server runs, but without this part of the API (e.g. projections in a build without them).
      return new TelltaleError('unsupported', `The server at ${this.#base} does not offer this: ${detail}. Use a server that serves it, or --db DIR on its data directory while it is stopped.`);
    }
    if (response.status === 404 && options.notFound) return options.notFound();
    if (serverCode !== undefined && (KNOWN_CODES as readonly string[]).includes(serverCode)) {
      const code = serverCode as TelltaleErrorCode;
      if (code === 'not-authenticated') return new TelltaleError(code, `${reason}; pass --user NAME:PASSWORD (or set TELLTALE_USER)`);
      return new TelltaleError(code, reason);
    }
    const code = ((): TelltaleErrorCode => {
      switch (response.status) {
        case 400:
          return 'invalid-argument';
        case 401:
          return 'not-authenticated';
        case 403:
          return 'access-denied';
        case 404:
          return 'not-found';
        case 409:
          return 'conflict';
        case 410:
          return 'stream-deleted';
        case 413:
          return 'event-too-large';
        case 501:
          return 'unsupported';
        case 503:
          return 'backend-unavailable';
        case 504:
          return 'timeout';
        default:
          return 'backend-unavailable';
      }
    })();
    if (response.status === 401) {
      return new TelltaleError(code, `The server asks for credentials (${reason}); pass --user NAME:PASSWORD or set TELLTALE_USER`);
    }
    return new TelltaleError(code, `Server answered ${response.status}: ${reason}`);
  }

  async append(streamId: string, events: readonly EventData[], expectedRevision: ExpectedRevision): Promise<AppendOutcome> {
    if (events.some((e) => e.data instanceof Uint8Array)) return this.#appendBinary(streamId, events, expectedRevision);
    const body = events.map((e) => ({
      eventId: e.id ?? randomUUID(),
      eventType: e.type,
      data: e.data ?? {},
      ...(e.metadata !== undefined ? { metadata: e.metadata } : {}),
    }));
    const response = await this.request('POST', `/streams/${encodeURIComponent(streamId)}`, {
      headers: { 'Content-Type': EVENTS, 'ES-ExpectedVersion': expectedVersionNumber(expectedRevision), Accept: 'application/json' },
      body: JSON.stringify(body),
      wrongRevision: (actual) => new WrongExpectedRevisionError(streamId, expectedRevision, actual),
    });
    // 201 with Location: {base}/streams/{stream}/{firstEventNumber}
    const location = response.headers.get('location') ?? '';
    const first = toBigInt(/\/(\d+)$/.exec(location)?.[1]) ?? -1n;
    const position = toBigInt(response.headers.get('kurrent-position') ?? response.headers.get('es-position') ?? undefined);
    await response.arrayBuffer();
    return {
      streamId,
      firstRevision: first,
      nextExpectedRevision: first < 0n ? -1n : first + BigInt(events.length) - 1n,
      ...(position !== undefined ? { position } : {}),
    };
  }

  /**
   * A batch with binary data cannot travel as an events+json batch: Event Store takes a binary
   * event alone, as application/octet-stream with its type and id in headers (and no metadata).
   * The events go one by one, each expecting the revision the previous one made.
   */
  async #appendBinary(streamId: string, events: readonly EventData[], expectedRevision: ExpectedRevision): Promise<AppendOutcome> {
    let expected = expectedRevision;
    let first: bigint | undefined;
    let last: AppendOutcome | undefined;
    for (const e of events) {
      const id = e.id ?? randomUUID();
      const single: AppendOutcome =
        e.data instanceof Uint8Array
          ? await this.#postOctets(streamId, id, e.type, e.data, expected)
          : await this.append(streamId, [{ ...e, id }], expected);
      first ??= single.firstRevision;
      last = single;
      expected = single.nextExpectedRevision;
    }
    return { streamId, firstRevision: first ?? -1n, nextExpectedRevision: last?.nextExpectedRevision ?? -1n };
  }

  async #postOctets(streamId: string, id: string, type: string, data: Uint8Array, expected: ExpectedRevision): Promise<AppendOutcome> {
    const response = await this.request('POST', `/streams/${encodeURIComponent(streamId)}`, {
      headers: { 'Content-Type': 'application/octet-stream', 'ES-EventType': type, 'ES-EventId': id, 'ES-ExpectedVersion': expectedVersionNumber(expected) },
      body: Buffer.from(data),
      wrongRevision: (actual) => new WrongExpectedRevisionError(streamId, expected, actual),
    });
    const revision = toBigInt(/\/(\d+)$/.exec(response.headers.get('location') ?? '')?.[1]) ?? -1n;
    await response.arrayBuffer();
    return { streamId, firstRevision: revision, nextExpectedRevision: revision };
  }

  /** The first page of a read: where the walk starts. */
  #startPath(streamId: string, options: ReadOptions): string {
    const stream = encodeURIComponent(streamId);
    const backwards = options.backwards === true;
    const from = options.from ?? (backwards ? 'end' : 'start');
    const n = this.#pageSize;
    const token = (v: bigint) => (streamId === ALL ? allPositionToken(v) : v.toString());
    if (backwards) return from === 'end' ? `/streams/${stream}/head/backward/${n}` : `/streams/${stream}/${token(from === 'start' ? 0n : from)}/backward/${n}`;
    const start = from === 'start' ? 0n : from;
    if (start === 'end') return `/streams/${stream}/head/backward/1`;
    return `/streams/${stream}/${token(start)}/forward/${n}`;
  }

  async #page(path: string, streamId: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<AtomFeed> {
    const url = new URL(path, `${this.#base}/`);
    url.searchParams.set('embed', 'body');
    const response = await this.request('GET', url.toString(), {
      headers: { Accept: ATOM, ...headers },
      signal,
      notFound: () => new StreamNotFoundError(streamId),
    });
    return (await response.json()) as AtomFeed;
  }

  async *read(streamId: string, options: ReadOptions): AsyncIterable<CliEvent> {
    const backwards = options.backwards === true;
    let remaining = options.maxCount ?? Infinity;
    if (!backwards && options.from === 'end') return;
    let path: string | undefined = this.#startPath(streamId, options);
    while (path !== undefined && remaining > 0) {
      const feed = await this.#page(path, streamId);
      const entries = feed.entries ?? [];
      if (entries.length === 0) return;
      // Atom pages list the newest entry first.
      const ordered = backwards ? entries : [...entries].reverse();
      for (const entry of ordered) {
        const event = entryToEvent(entry);
        if (options.excludeSystemStreams && event.streamId.startsWith('$')) continue;
        yield event;
        if (--remaining <= 0) return;
      }
      path = link(feed, backwards ? 'next' : 'previous');
    }
  }

  /**
   * Walks the feed forwards through `previous` links, long-polling at the live end (Event Store's
   * way of subscribing over HTTP). Start points here are exclusive while the URLs' are inclusive,
   * so what was already delivered (by revision, or by position on `$all`) is skipped.
   */
  async *follow(streamId: string, options: FollowOptions): AsyncIterable<CliEvent> {
    const { signal } = options;
    const stream = encodeURIComponent(streamId);
    const isAll = streamId === ALL;
    const forwardFrom = (point: bigint) => `/streams/${stream}/${isAll ? allPositionToken(point) : point.toString()}/forward/${this.#pageSize}`;
    let delivered: bigint | undefined = typeof options.after === 'bigint' ? options.after : undefined;
    let path: string | undefined =
      options.after === 'start' ? forwardFrom(0n) : typeof options.after === 'bigint' ? forwardFrom(isAll ? options.after : options.after + 1n) : undefined;
    while (!signal.aborted) {
      try {
        if (path === undefined) {
          // "Now": the head page's `previous` link reads forward from just after the head.
          const head = await this.#page(`/streams/${stream}/head/backward/1`, streamId, {}, signal);
          const top = head.entries?.[0];
          path = link(head, 'previous') ?? (top === undefined ? forwardFrom(0n) : undefined);
          if (path === undefined) throw new TelltaleError('unsupported', `The server gave no forward link from the head of ${streamId}; cannot follow it`);
        }
        const feed = await this.#page(path, streamId, { 'ES-LongPoll': String(this.#longPoll) }, signal);
        const entries = [...(feed.entries ?? [])].reverse();
        for (const entry of entries) {
          const event = entryToEvent(entry);
          const point = isAll ? event.position : event.revision;
          if (delivered !== undefined && point !== undefined && point <= delivered) continue;
          if (point !== undefined) delivered = point;
          yield event;
        }
        const previous = link(feed, 'previous');
        if (previous !== undefined) path = previous;
        else if (delivered !== undefined) path = forwardFrom(isAll ? delivered : delivered + 1n);
        // An empty page before the long poll ran out (or a server without long polling): pace the polls.
        if (entries.length === 0) await delay(500, signal);
      } catch (e) {
        if (signal.aborted) return;
        if (e instanceof StreamNotFoundError) {
          // Not there yet: wait for its first event, as `tail -F` waits for a file.
          path = forwardFrom(0n);
          await delay(1000, signal);
          continue;
        }
        throw e;
      }
    }
  }

  async delete(streamId: string, options: { hard: boolean; expectedRevision: ExpectedRevision }): Promise<void> {
    const response = await this.request('DELETE', `/streams/${encodeURIComponent(streamId)}`, {
      headers: { 'ES-HardDelete': options.hard ? 'true' : 'false', 'ES-ExpectedVersion': expectedVersionNumber(options.expectedRevision) },
      notFound: () => new StreamNotFoundError(streamId),
      wrongRevision: (actual) => new WrongExpectedRevisionError(streamId, options.expectedRevision, actual),
    });
    await response.arrayBuffer();
  }

  async getMetadata(streamId: string): Promise<MetadataOutcome> {
    let response: Response;
    try {
      response = await this.request('GET', `/streams/${encodeURIComponent(streamId)}/metadata`, { headers: { Accept: 'application/json' } });
    } catch (e) {
      // No metadata was ever written: Event Store answers 404 or an empty document.
      if (e instanceof TelltaleError && e.code === 'not-found') return { streamId, metadata: {} };
      throw e;
    }
    const text = await response.text();
    if (text.trim() === '') return { streamId, metadata: {} };
    const body = JSON.parse(text) as Record<string, unknown>;
    // Either the metadata itself, or an entry carrying it in `data` (embed=body style).
    if (body && typeof body === 'object' && 'data' in body && ('eventType' in body || 'eventNumber' in body)) {
      const revision = toBigInt(body.eventNumber as number | string | undefined);
      return { streamId, metadata: (parseMaybeJson(body.data) ?? {}) as RawMetadata, ...(revision !== undefined ? { metastreamRevision: revision } : {}) };
    }
    return { streamId, metadata: body };
  }

  async setMetadata(streamId: string, metadata: RawMetadata): Promise<MetadataOutcome> {
    const response = await this.request('POST', `/streams/${encodeURIComponent(streamId)}/metadata`, {
      headers: { 'Content-Type': EVENTS, Accept: 'application/json' },
      body: JSON.stringify([{ eventId: randomUUID(), eventType: '$user-updated', data: metadata }]),
    });
    const first = toBigInt(/\/(\d+)$/.exec(response.headers.get('location') ?? '')?.[1]);
    await response.arrayBuffer();
    return { streamId, metadata, ...(first !== undefined ? { metastreamRevision: first } : {}) };
  }

  async listStreams(options: { includeSystem: boolean }): Promise<StreamSummary[]> {
    // Event Store has no "list streams" call; the log itself is the catalogue.
    const seen = new Map<string, { events: number; lastRevision: bigint; deleted: boolean }>();
    for await (const e of this.read(ALL, {})) {
      if (!options.includeSystem && e.streamId.startsWith('$')) continue;
      const s = seen.get(e.streamId) ?? { events: 0, lastRevision: -1n, deleted: false };
      s.events++;
      if (e.revision > s.lastRevision) s.lastRevision = e.revision;
      seen.set(e.streamId, s);
    }
    // Deleted streams still show in $all until scavenged; ask each one's head.
    const summaries: StreamSummary[] = [];
    for (const [streamId, s] of seen) {
      let deleted = false;
      try {
        const r = await this.request('GET', `/streams/${encodeURIComponent(streamId)}/head/backward/1`, { headers: { Accept: ATOM } });
        await r.arrayBuffer();
      } catch (e) {
        if (e instanceof TelltaleError && (e.code === 'not-found' || e.code === 'stream-deleted')) deleted = true;
        else throw e;
      }
      summaries.push({ streamId, events: s.events, lastRevision: s.lastRevision, deleted });
    }
    return summaries.sort((a, b) => a.streamId.localeCompare(b.streamId));
  }

  async close(): Promise<void> {
    // fetch keeps no state of ours
  }
}

const MODE_PATH = { continuous: 'continuous', 'one-time': 'onetime', transient: 'transient' } as const;

class HttpProjectionAdmin implements ProjectionAdmin {
  constructor(readonly http: HttpClient) {}

  #notFound(name: string): () => TelltaleError {
    return () => new TelltaleError('not-found', `No projection named '${name}'; \`telltale projection list\` shows those deployed`);
  }

  async #json(method: string, path: string, name?: string, body?: string): Promise<unknown> {
    const response = await this.http.request(method, path, {
      headers: { Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': 'application/javascript' } : {}) },
      ...(body !== undefined ? { body } : {}),
      ...(name !== undefined ? { notFound: this.#notFound(name) } : {}),
    });
    const text = await response.text();
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }

  async deploy(options: DeployOptions): Promise<{ name: string; created: boolean }> {
    const params = new URLSearchParams({ name: options.name, type: 'JS', enabled: String(options.enable), emit: String(options.emit) });
    if (options.mode !== 'transient') params.set('checkpoints', 'true');
    try {
      await this.#json('POST', `/projections/${MODE_PATH[options.mode]}?${params}`, undefined, options.query);
      return { name: options.name, created: true };
    } catch (e) {
      if (!(e instanceof TelltaleError && e.code === 'conflict')) throw e;
    }
    // Already there: redeploy the new definition, as Event Store's "update query" does.
    const update = new URLSearchParams({ type: 'JS', emit: String(options.emit) });
    await this.#json('PUT', `/projection/${encodeURIComponent(options.name)}/query?${update}`, options.name, options.query);
    if (options.enable) await this.command(options.name, 'enable');
    return { name: options.name, created: false };
  }

  async list(): Promise<Record<string, unknown>[]> {
    const body = (await this.#json('GET', '/projections/any')) as { projections?: Record<string, unknown>[] } | Record<string, unknown>[] | undefined;
    if (Array.isArray(body)) return body;
    return body?.projections ?? [];
  }

  async status(name: string): Promise<Record<string, unknown>> {
    return ((await this.#json('GET', `/projection/${encodeURIComponent(name)}`, name)) ?? {}) as Record<string, unknown>;
  }

  async state(name: string, partition?: string): Promise<unknown> {
    const q = partition !== undefined ? `?${new URLSearchParams({ partition })}` : '';
    return this.#json('GET', `/projection/${encodeURIComponent(name)}/state${q}`, name);
  }

  async result(name: string, partition?: string): Promise<unknown> {
    const q = partition !== undefined ? `?${new URLSearchParams({ partition })}` : '';
    return this.#json('GET', `/projection/${encodeURIComponent(name)}/result${q}`, name);
  }

  async command(name: string, command: 'enable' | 'disable' | 'reset'): Promise<void> {
    await this.#json('POST', `/projection/${encodeURIComponent(name)}/command/${command}`, name);
  }

  async delete(name: string): Promise<void> {
    const q = new URLSearchParams({ deleteCheckpointStream: 'true', deleteStateStream: 'true', deleteEmittedStreams: 'false' });
    await this.#json('DELETE', `/projection/${encodeURIComponent(name)}?${q}`, name);
  }

  async logs(name: string, options: LogsOptions = {}): Promise<ProjectionLogLine[]> {
    const q = options.after !== undefined && options.after > 0 ? `?${new URLSearchParams({ after: String(options.after) })}` : '';
    const response = await this.http.request('GET', `/projection/${encodeURIComponent(name)}/logs${q}`, {
      headers: { Accept: 'application/json', ...(options.waitSeconds !== undefined ? { 'Kurrent-LongPoll': String(options.waitSeconds) } : {}) },
      notFound: this.#notFound(name),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
    });
    const body = (await response.json()) as { logs?: ProjectionLogLine[] };
    return body.logs ?? [];
  }

  async query(query: string, options: { from?: QueryFrom }): Promise<{ result: unknown; status: Record<string, unknown> }> {
    const name = `query-${randomUUID()}`;
    // `from` is Telltale's: Event Store starts every query at the beginning.
    const params = new URLSearchParams({ name, type: 'JS', enabled: 'true', emit: 'false' });
    if (options.from !== undefined) params.set('from', options.from instanceof Date ? options.from.toISOString() : options.from.toString());
    await this.#json('POST', `/projections/transient?${params}`, undefined, query);
    try {
      for (;;) {
        const status = await this.status(name);
        const s = String(status.status ?? '');
        if (/faulted/i.test(s)) {
          const f = (status.lastError ?? {}) as { message?: string; line?: number; column?: number; position?: string };
          throw new QueryFaultError(f.message ?? String(status.stateReason ?? s), f.line, f.column, f.position);
        }
        if (/completed/i.test(s)) return { result: await this.result(name), status };
        await delay(200);
      }
    } finally {
      await this.delete(name).catch(() => undefined);
    }
  }
}
