// The Redis backend: a store shared by every process that points at the same Redis (or Redis
// Cluster) and key prefix. Layout in store/redis/key-layout.ts, bytes in record-codec.ts, the
// append decision in scripts.ts; docs/redis.md is the operator's view.
//
// Commits are group-committed: while commit scripts are in flight (two at most by default), later
// commits queue and go to Redis together in the next script call, where each is still decided and
// written atomically on its own. One round trip then carries the appends of many concurrent
// writers; Redis runs the calls in the order they were sent. A write's events
// travel and are stored as runs (record-codec.ts), so the script does a handful of commands per
// write, not per event.
//
// Failures: the command connection never queues or re-sends a command across a reconnect (an
// append must not be applied behind the caller's back after it was told it failed), so a cut or a
// restart fails the commands in flight with `BackendUnavailableError`, and new ones fail fast
// until ioredis has reconnected on its own. Commit notifications come over sharded pub/sub on a
// second connection, subscribed once the store has a listener; when it (re)subscribes, listeners
// are woken, so subscriptions read again from their cursor and see whatever was committed while
// they could not hear.
import { randomUUID } from 'node:crypto';
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import type {
  BackendReadAllRequest,
  BackendReadStreamRequest,
  BackendSupports,
  PreparedWrite,
  ScavengePlan,
  StorageBackend,
  StoredRecord,
  StreamState,
  WriteOutcome,
} from '../backend.js';
import { BackendUnavailableError, UnsupportedError } from '../errors.js';
import { metastreamOf, TOMBSTONE_REVISION } from '../stream-name.js';
import { commitArguments } from './commit-arguments.js';
import { KeyLayout } from './key-layout.js';
import { decodeEntries, decodeRun, decodeWholeRun, LAYOUT, lastPositionOf, Run, sliceBody, type Entry } from './record-codec.js';
import { translateRedisError } from './redis-errors.js';
import type { RedisLocation } from './redis-url.js';
import { COMMIT_SCRIPT, READ_STREAM_SCRIPT, SCAVENGE_COPY_SCRIPT, STREAM_STATE_SCRIPT } from './scripts.js';

type Client = Redis | Cluster;
type Arg = string | Buffer;

/** The scripts, as ioredis defines them on a client (`numkeys` first). */
interface ScriptCommands {
  telltaleCommitBuffer(numkeys: number, ...args: Arg[]): Promise<number[]>;
  telltaleReadStreamBuffer(numkeys: number, ...args: Arg[]): Promise<Buffer[]>;
  telltaleStreamState(numkeys: number, ...args: Arg[]): Promise<number[]>;
  telltaleScavengeCopy(numkeys: number, ...args: Arg[]): Promise<number>;
}

interface PendingCommit {
  readonly writes: readonly PreparedWrite[];
  readonly created: number;
  readonly resolve: (outcomes: WriteOutcome[]) => void;
  readonly reject: (error: unknown) => void;
}

export interface RedisBackendOptions {
  readonly clock?: () => number;
  /** Commits sent in one script call at most. @defaultValue 256 */
  readonly maxGroupCommits?: number;
  /**
   * Commit script calls in flight at once. With two, Redis finds the next group waiting when it
   * has answered one, instead of idling while the client reads the reply and sends the next.
   * @defaultValue 2
   */
  readonly maxCallsInFlight?: number;

}

/** A group of commits stops growing past this many body bytes (one script call's arguments). */
const MAX_GROUP_BYTES = 4 * 1024 * 1024;
const MAX_U64 = 18446744073709551615n;
const MAX_LUA_INTEGER = 9007199254740991n;
/** `$all` entries a scavenge copies per script call. */
const SCAVENGE_PAGE = 256;

export class RedisBackend implements StorageBackend {
  readonly supports: BackendSupports;
  readonly #client: Client & ScriptCommands;
  readonly #subscriber: Client | undefined;
  readonly #keys: KeyLayout;
  readonly #clock: () => number;
  readonly #maxGroup: number;
  readonly #listeners = new Set<() => void>();
  readonly #queue: PendingCommit[] = [];
  /** Script calls in flight, and the commits they carry. */
  #inFlight = 0;
  #inFlightCommits = 0;
  /** The group size concurrent writers settle into (see #flush). */
  #target = 1;
  readonly #depth: number;
  #closed = false;
  /** Whether the commit channel is wanted (a listener came): see #hear. */
  #hearing = false;

  private constructor(client: Client, subscriber: Client | undefined, keys: KeyLayout, durable: boolean, options: RedisBackendOptions) {
    this.#client = client as Client & ScriptCommands;
    this.#subscriber = subscriber;
    this.#keys = keys;
    this.#clock = options.clock ?? Date.now;
    this.#maxGroup = options.maxGroupCommits ?? 256;
    this.#depth = Math.max(1, options.maxCallsInFlight ?? 2);
    this.supports = { durable, shared: true, scavenge: true };
  }

  /** Connects, checks the server, and subscribes to commit notifications. */
  static async open(location: RedisLocation, options: RedisBackendOptions = {}): Promise<RedisBackend> {
    const { Redis, Cluster } = await import('ioredis');
    const keys = new KeyLayout(location.prefix);
    const where = location.nodes.map((n) => `${n.host}:${n.port}`).join(',');
    const connection: RedisOptions = {
      ...(location.username !== undefined ? { username: location.username } : {}),
      ...(location.password !== undefined ? { password: location.password } : {}),
      ...(location.tls ? { tls: {} } : {}),
      db: location.db,
      connectTimeout: location.connectTimeout,
      commandTimeout: location.commandTimeout,
      // Fail fast and never replay: see the header.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (times) => Math.min(times * 50, 1000),
      lazyConnect: true,
    };
    let client: Client;
    let subscriber: Client | undefined;
    if (location.cluster) {
      const clusterOptions: ClusterOptions = {
        redisOptions: connection,
        enableOfflineQueue: false,
        shardedSubscribers: true,
        clusterRetryStrategy: (times) => Math.min(times * 100, 2000),
        clusterNodeRetryStrategy: (times) => Math.min(times * 100, 2000),
        lazyConnect: true,
      };
      client = new Cluster(location.nodes.map((n) => ({ host: n.host, port: n.port })), clusterOptions);
    } else {
      client = new Redis({ ...connection, host: location.nodes[0]!.host, port: location.nodes[0]!.port });
      subscriber = new Redis({
        ...connection,
        host: location.nodes[0]!.host,
        port: location.nodes[0]!.port,
        commandTimeout: undefined,
        autoResubscribe: false,
        enableOfflineQueue: true,
        connectionName: 'telltale-commits',
      });
    }
    // ioredis reports every failed reconnection attempt as an 'error' event; the state that
    // matters reaches callers as BackendUnavailableError on their commands.
    client.on('error', () => undefined);
    subscriber?.on('error', () => undefined);
    client.defineCommand('telltaleCommit', { lua: COMMIT_SCRIPT });
    client.defineCommand('telltaleReadStream', { lua: READ_STREAM_SCRIPT, readOnly: true });
    client.defineCommand('telltaleStreamState', { lua: STREAM_STATE_SCRIPT, readOnly: true });
    client.defineCommand('telltaleScavengeCopy', { lua: SCAVENGE_COPY_SCRIPT });
    try {
      await client.connect();
      const version = await serverVersion(client);
      if (version[0]! < 7) throw new UnsupportedError(`Redis ${version.join('.')} at ${where} is too old: the store needs Redis 7.0 or newer (sharded pub/sub, script flags)`);
      await checkLayout(client, keys, where);
      const durable = await appendFsyncAlways(client);
      const backend = new RedisBackend(client, subscriber, keys, durable, options);
      await backend.#listen();
      return backend;
    } catch (e) {
      client.disconnect();
      subscriber?.disconnect();
      if (e instanceof UnsupportedError) throw e;
      throw new BackendUnavailableError(`Cannot open the Redis store at ${where}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** The key layout, for tools and tests that inspect or drop a store's keys. */
  get keys(): KeyLayout {
    return this.#keys;
  }

  /** The command connection (tests use it to measure memory and to cut connections). */
  get client(): Client {
    return this.#client;
  }

  async #listen(): Promise<void> {
    const channel = this.#keys.channel;
    if (this.#subscriber === undefined) {
      const cluster = this.#client as Cluster;
      cluster.on('smessage', (from: string) => {
        if (from === channel) this.#signal();
      });
      // A node reconnected or the topology moved: a notification may have been missed.
      cluster.on('ready', () => this.#signal());
      cluster.on('subscribersReady', () => this.#signal());
      await cluster.ssubscribe(channel);
      return;
    }
    const subscriber = this.#subscriber as Redis;
    subscriber.on('smessage', (from: string) => {
      if (from === channel) this.#signal();
    });
    // Resubscribe ourselves, and wake listeners only once the server has confirmed it: from then on
    // no commit can slip between their next read and our next notification.
    subscriber.on('ready', () => {
      if (!this.#closed && this.#hearing) this.#subscribe(subscriber);
    });
    await subscriber.connect();
  }

  /**
   * Subscribes to the commit channel when the first listener comes (a subscription), not at open:
   * a store that only writes would otherwise be sent every commit of every process on the store,
   * its own included, one message per script call, which Redis writes to one more socket and this
   * process reads and discards. A cluster's sharded subscribers subscribe at open (#listen).
   */
  #hear(): void {
    this.#hearing = true;
    const subscriber = this.#subscriber as Redis | undefined;
    // Not ready: the 'ready' handler subscribes once the connection is (back) up.
    if (subscriber !== undefined && subscriber.status === 'ready') this.#subscribe(subscriber);
  }

  #subscribe(subscriber: Redis): void {
    subscriber.ssubscribe(this.#keys.channel).then(
      () => this.#signal(),
      () => undefined,
    );
  }

  #signal(): void {
    for (const listener of this.#listeners) listener();
  }

  commit(writes: readonly PreparedWrite[]): Promise<WriteOutcome[]> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ writes, created: this.#clock(), resolve, reject });
      if (this.#inFlight === 0 || (this.#inFlight < this.#depth && this.#queue.length >= this.#target)) this.#flush();
    });
  }

  /**
   * Sends queued commits as script calls, up to `#depth` calls in flight.
   *
   * `answered` is the size of the group whose reply has just come in: its writers usually come
   * straight back with their next commits. The commits in flight, waiting and just answered are
   * the writers there are; groups aim at an equal share of them for each call in flight plus one
   * for the client to prepare, so concurrent writers settle into groups of equal size that Redis
   * and the client work on in turn. Sending everything waiting would keep whatever split the first
   * commit made: 100 writers alternated groups of 1 and 99, so Redis and the client mostly waited
   * for each other. With a call in flight, a group smaller than its share waits for more commits
   * (a reply or enough commits sends it); with none in flight, whatever waits goes.
   */
  #flush(answered = 0): void {
    if (answered > 0) this.#target = Math.max(1, Math.ceil((this.#inFlightCommits + this.#queue.length + answered) / (this.#depth + 1)));
    while (this.#queue.length > 0 && this.#inFlight < this.#depth) {
      if (this.#inFlight > 0 && this.#queue.length < this.#target) break;
      const want = this.#inFlight === 0 && answered === 0 ? this.#queue.length : this.#target;
      let take = 0;
      let bytes = 0;
      while (take < this.#queue.length && take < want && take < this.#maxGroup && (take === 0 || bytes < MAX_GROUP_BYTES)) {
        // A size estimate (JSON text counted in characters), so no payload is encoded to bytes just to be measured.
        for (const w of this.#queue[take]!.writes) for (const e of w.events) bytes += (e.dataText?.length ?? e.data.length) + (e.metadataText?.length ?? e.metadata.length) + 64;
        take++;
      }
      this.#send(this.#queue.splice(0, take));
    }
  }

  /** One group as one script call; each commit in it is still decided and written on its own. */
  #send(group: PendingCommit[]): void {
    let args: [string, Buffer];
    try {
      args = commitArguments(this.#keys.tag, group);
    } catch (e) {
      for (const c of group) c.reject(e);
      return;
    }
    this.#inFlight++;
    this.#inFlightCommits += group.length;
    this.#client.telltaleCommitBuffer(2, this.#keys.head, this.#keys.all, ...args).then(
      (results) => {
        this.#inFlight--;
        this.#inFlightCommits -= group.length;
        let wrote = false;
        let at = 0;
        group.forEach((c) => {
          const from = at;
          at += 3 * c.writes.length;
          try {
            const outcomes = decodeOutcomes(results, from, c.writes.length);
            if (outcomes.some((o) => o.kind === 'written')) wrote = true;
            c.resolve(outcomes);
          } catch (e) {
            // A reply this code cannot read must fail its commit, not stall the queue behind it.
            c.reject(e);
          }
        });
        if (wrote) this.#signal();
        this.#flush(group.length);
      },
      (e: unknown) => {
        this.#inFlight--;
        this.#inFlightCommits -= group.length;
        const error = translateRedisError(e, 'committing an append', true);
        for (const c of group) c.reject(error);
        this.#flush(group.length);
      },
    );
  }

  async streamState(streamId: string): Promise<StreamState> {
    const [count, tombstoned, softDeleted, metaExists] = await this.#run('reading a stream state', () =>
      this.#client.telltaleStreamState(2, this.#keys.ids(streamId), this.#keys.ids(metastreamOf(streamId))),
    );
    return { lastRevision: BigInt(count!) - 1n, tombstoned: tombstoned === 1, softDeleted: softDeleted === 1, metadataExists: metaExists === 1 };
  }

  async readStream(request: BackendReadStreamRequest): Promise<StoredRecord[]> {
    const from = request.fromRevision > MAX_LUA_INTEGER ? MAX_LUA_INTEGER : request.fromRevision;
    const reply = await this.#run('reading a stream', () =>
      this.#client.telltaleReadStreamBuffer(
        1,
        this.#keys.all,
        this.#keys.tag,
        request.streamId,
        String(from),
        request.direction === 'forwards' ? 'f' : 'b',
        String(request.limit),
      ),
    );
    const out: StoredRecord[] = [];
    for (let i = 0; i < reply.length; i += 5) {
      decodeRun(new Run(reply[i]!, reply[i + 1]!, reply[i + 2]!), reply[i + 3] as unknown as number, reply[i + 4] as unknown as number, out);
    }
    return out;
  }

  async readAll(request: BackendReadAllRequest): Promise<StoredRecord[]> {
    if (request.limit <= 0) return [];
    return this.#run('reading $all', () =>
      request.direction === 'forwards' ? this.#readAllForwards(request.fromPosition, request.limit) : this.#readAllBackwards(request.fromPosition, request.limit),
    );
  }

  /**
   * A page of `$all` from `from` on. Each round trip asks for two things at once: the entries whose
   * last position falls in the `limit` positions from `from` (they hold at most `limit` records),
   * and the first entry past them, which may hold the rest of the page. Only positions freed by a
   * scavenge make it take another round.
   */
  async #readAllForwards(from: bigint, limit: number): Promise<StoredRecord[]> {
    const out: StoredRecord[] = [];
    let cursor = from;
    while (out.length < limit && cursor <= MAX_U64) {
      let end = cursor + BigInt(limit - out.length) - 1n;
      if (end > MAX_U64) end = MAX_U64;
      const [window, after] = await Promise.all([
        this.#client.xrangeBuffer(this.#keys.all, `0-${cursor}`, `0-${end}`) as unknown as Promise<Entry[]>,
        end < MAX_U64 ? (this.#client.xrangeBuffer(this.#keys.all, `0-${end + 1n}`, '+', 'COUNT', 1) as unknown as Promise<Entry[]>) : Promise.resolve([] as Entry[]),
      ]);
      // Positions are below 2^53 (the scripts count them in Lua numbers), so `cursor` is exact here.
      decodeEntries(window, Number(cursor), limit, out);
      if (after.length === 0) break;
      decodeEntries(after, Number(cursor), limit, out);
      cursor = BigInt(lastPositionOf(after[0]![0])) + 1n;
    }
    return out;
  }

  /** A page of `$all` backwards from `from`: the entry holding `from`, then entries before it. */
  async #readAllBackwards(from: bigint, limit: number): Promise<StoredRecord[]> {
    const out: StoredRecord[] = [];
    let cursor = from > MAX_U64 ? MAX_U64 : from;
    while (out.length < limit && cursor >= 1n) {
      let low = cursor - BigInt(limit - out.length) + 1n;
      if (low < 1n) low = 1n;
      const [holder, window] = await Promise.all([
        cursor < MAX_U64 ? (this.#client.xrangeBuffer(this.#keys.all, `0-${cursor + 1n}`, '+', 'COUNT', 1) as unknown as Promise<Entry[]>) : Promise.resolve([] as Entry[]),
        this.#client.xrevrangeBuffer(this.#keys.all, `0-${cursor}`, `0-${low}`) as unknown as Promise<Entry[]>,
      ]);
      const top = Number(cursor);
      const h = holder[0];
      if (h !== undefined) {
        const run = Run.of(h);
        if (run.firstPosition <= top) decodeRun(run, top - run.firstPosition, 0, out, limit);
      }
      let lowest = Number(low);
      for (const entry of window) {
        if (out.length >= limit) break;
        const run = Run.of(entry);
        decodeRun(run, run.count - 1, 0, out, limit);
        lowest = Math.min(lowest, run.firstPosition);
      }
      if (out.length >= limit || lowest <= 1) break;
      if (window.length === 0) {
        // A gap left by a scavenge: jump to the next entry below it.
        const [below] = (await this.#client.xrevrangeBuffer(this.#keys.all, `(0-${low}`, '-', 'COUNT', 1)) as unknown as Entry[];
        if (below === undefined) break;
        cursor = BigInt(lastPositionOf(below[0]));
      } else {
        cursor = BigInt(lowest) - 1n;
      }
    }
    return out;
  }

  async headPosition(): Promise<bigint> {
    const head = await this.#run('reading the head position', () => this.#client.get(this.#keys.head));
    return head === null ? 1n : BigInt(head) + 1n;
  }

  onCommit(listener: () => void): () => void {
    this.#listeners.add(listener);
    if (!this.#hearing) this.#hear();
    return () => this.#listeners.delete(listener);
  }

  /**
   * Rebuilds `$all` without the records the plan drops, then swaps the rebuilt stream in: an entry
   * cannot be rewritten in place (XADD only appends), and a stream's memory is freed only when
   * whole nodes empty. An entry whose run loses some events is replaced by the runs that remain, at
   * their own positions. Pages of entries are judged here and copied by a script, under a lock that
   * keeps a second scavenge out; commits carry on meanwhile (the last call copies what they added).
   * Memory peaks at the live records twice over while the rebuilt stream grows.
   */
  async scavenge(plan: ScavengePlan): Promise<{ eventsRemoved: number; bytesReclaimed: number }> {
    const keys = this.#keys;
    const token = randomUUID();
    const locked = await this.#run('scavenging', () => this.#client.set(keys.scavengeLock, token, 'PX', 60_000, 'NX'));
    if (locked !== 'OK') throw new BackendUnavailableError(`Another scavenge of the Redis store ${keys.tag} is running; try again when it has finished`);
    let eventsRemoved = 0;
    let bytesReclaimed = 0;
    try {
      await this.#run('scavenging', () => this.#client.del(keys.rebuild));
      let start = '-';
      for (;;) {
        const page = (await this.#run('scavenging', () => this.#client.xrangeBuffer(keys.all, start, '+', 'COUNT', SCAVENGE_PAGE))) as unknown as Entry[];
        if (page.length === 0) break;
        const replacements: Arg[] = [];
        for (const entry of page) {
          const [id, fields] = entry;
          const records = decodeWholeRun(entry);
          const keep = records.map((r) => plan.keep(r));
          if (keep.every(Boolean)) continue;
          const runs: Arg[] = [];
          for (let k = 0; k < records.length; k++) {
            if (!keep[k]) {
              eventsRemoved++;
              bytesReclaimed += records[k]!.data.length + records[k]!.metadata.length;
              continue;
            }
            let to = k;
            while (to + 1 < records.length && keep[to + 1]) to++;
            const first = records[k]!;
            runs.push(`0-${records[to]!.position}`, first.revision === TOMBSTONE_REVISION ? fields[1]! : String(first.revision), sliceBody(fields[3]!, k, to));
            k = to;
          }
          replacements.push(id, String(runs.length / 3), ...runs);
        }
        const last = page[page.length - 1]![0].toString('latin1');
        await this.#run('scavenging', () => this.#client.telltaleScavengeCopy(3, keys.all, keys.rebuild, keys.scavengeLock, token, start, last, ...replacements));
        start = `(${last}`;
      }
      // Whatever was committed since the last page, then the swap.
      await this.#run('scavenging', () => this.#client.telltaleScavengeCopy(3, keys.all, keys.rebuild, keys.scavengeLock, token, start, '+'));
    } catch (e) {
      await this.#client.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1], KEYS[2]) end", 2, keys.scavengeLock, keys.rebuild, token).catch(() => undefined);
      throw e;
    }
    return { eventsRemoved, bytesReclaimed };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    await Promise.all([quit(this.#client), this.#subscriber ? quit(this.#subscriber) : undefined]);
  }

  async #run<T>(what: string, command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (e) {
      throw translateRedisError(e, what);
    }
  }
}

/** The outcomes of `count` writes from `from` on in the commit script's flat reply (scripts.ts). */
function decodeOutcomes(flat: readonly number[], from: number, count: number): WriteOutcome[] {
  // A script bug, not an outage (redis-errors.ts passes those on unchanged too).
  if (!Array.isArray(flat) || flat.length < from + 3 * count) throw new Error(`The Redis commit script answered ${String(flat?.length)} values where ${from + 3 * count} were due`);
  const out: WriteOutcome[] = [];
  for (let i = from; i < from + 3 * count; i += 3) {
    const lastRevision = BigInt(flat[i + 1]!);
    const position = BigInt(flat[i + 2]!);
    switch (flat[i]) {
      case 1:
        out.push({ kind: 'written', lastRevision, position });
        break;
      case 2:
        out.push({ kind: 'idempotent', lastRevision, position });
        break;
      case 3:
        out.push({ kind: 'wrong-expected-revision', actual: lastRevision });
        break;
      default:
        out.push({ kind: 'stream-deleted' });
    }
  }
  return out;
}

/** Refuses a store whose keys another layout wrote (key-layout.ts). */
async function checkLayout(client: Client, keys: KeyLayout, where: string): Promise<void> {
  const [head, layout] = await client.mget(keys.head, keys.layout);
  if (head !== null && layout !== String(LAYOUT)) {
    throw new UnsupportedError(
      `The Redis store ${keys.tag} at ${where} was written by an earlier Telltale (key layout ${layout ?? 1}, this one reads ${LAYOUT}); export its streams with that version and import them into a new prefix`,
    );
  }
}

async function serverVersion(client: Client): Promise<number[]> {
  const info = await client.info('server');
  const text = /redis_version:([\d.]+)/.exec(info)?.[1] ?? '0';
  return text.split('.').map(Number);
}

/** Whether an acknowledged append survives a crash of the Redis server too: AOF with fsync on every write. */
async function appendFsyncAlways(client: Client): Promise<boolean> {
  try {
    const [, appendonly] = (await client.config('GET', 'appendonly')) as string[];
    const [, fsync] = (await client.config('GET', 'appendfsync')) as string[];
    return appendonly === 'yes' && fsync === 'always';
  } catch {
    // CONFIG is often disabled on managed Redis: we cannot tell, so we do not claim it.
    return false;
  }
}

async function quit(client: Client): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
