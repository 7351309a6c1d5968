// The Redis backend: a store shared by every process that points at the same Redis (or Redis
// Cluster) and key prefix. Layout in store/redis/key-layout.ts, bytes in record-codec.ts, the
// append decision in scripts.ts; docs/redis.md is the operator's view.
//
// Commits are group-committed: while one commit script is in flight, later commits queue and go to
// Redis together in the next script call, where each is still decided and written atomically on
// its own. One round trip then carries the appends of many concurrent writers.
//
// Failures: the command connection never queues or re-sends a command across a reconnect (an
// append must not be applied behind the caller's back after it was told it failed), so a cut or a
// restart fails the commands in flight with `BackendUnavailableError`, and new ones fail fast
// until ioredis has reconnected on its own. Commit notifications come over sharded pub/sub on a
// second connection; when it (re)subscribes, listeners are woken, so subscriptions read again from
// their cursor and see whatever was committed while they could not hear.
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
import { isSoftDeleteMarker } from '../metadata.js';
import { isMetastream, metastreamOf } from '../stream-name.js';
import { KeyLayout } from './key-layout.js';
import { decodeEntries, decodeRecord, encodeBody, uuidBytes } from './record-codec.js';
import { translateRedisError } from './redis-errors.js';
import type { RedisLocation } from './redis-url.js';
import { COMMIT_SCRIPT, READ_STREAM_SCRIPT, SCAVENGE_SCRIPT, STREAM_STATE_SCRIPT, WRITE_METASTREAM, WRITE_TOMBSTONE } from './scripts.js';

type Client = Redis | Cluster;
type Arg = string | Buffer;

/** The scripts, as ioredis defines them on a client (`numkeys` first). */
interface ScriptCommands {
  telltaleCommitBuffer(numkeys: number, ...args: Arg[]): Promise<number[][]>;
  telltaleReadStreamBuffer(numkeys: number, ...args: Arg[]): Promise<Buffer[]>;
  telltaleStreamState(numkeys: number, ...args: Arg[]): Promise<number[]>;
  telltaleScavenge(numkeys: number, ...args: Arg[]): Promise<number>;
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
}

/** A group of commits stops growing past this many body bytes (one script call's arguments). */
const MAX_GROUP_BYTES = 4 * 1024 * 1024;
const MAX_U64 = 18446744073709551615n;
const MAX_LUA_INTEGER = 9007199254740991n;

export class RedisBackend implements StorageBackend {
  readonly supports: BackendSupports;
  readonly #client: Client & ScriptCommands;
  readonly #subscriber: Client | undefined;
  readonly #keys: KeyLayout;
  readonly #clock: () => number;
  readonly #maxGroup: number;
  readonly #listeners = new Set<() => void>();
  readonly #queue: PendingCommit[] = [];
  #committing = false;
  #closed = false;

  private constructor(client: Client, subscriber: Client | undefined, keys: KeyLayout, durable: boolean, options: RedisBackendOptions) {
    this.#client = client as Client & ScriptCommands;
    this.#subscriber = subscriber;
    this.#keys = keys;
    this.#clock = options.clock ?? Date.now;
    this.#maxGroup = options.maxGroupCommits ?? 256;
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
    client.defineCommand('telltaleScavenge', { lua: SCAVENGE_SCRIPT });
    try {
      await client.connect();
      const version = await serverVersion(client);
      if (version[0]! < 7) throw new UnsupportedError(`Redis ${version.join('.')} at ${where} is too old: the store needs Redis 7.0 or newer (sharded pub/sub, script flags)`);
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
      if (this.#closed) return;
      subscriber.ssubscribe(channel).then(
        () => this.#signal(),
        () => undefined,
      );
    });
    await subscriber.connect();
    await subscriber.ssubscribe(channel);
  }

  #signal(): void {
    for (const listener of this.#listeners) listener();
  }

  commit(writes: readonly PreparedWrite[]): Promise<WriteOutcome[]> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ writes, created: this.#clock(), resolve, reject });
      if (!this.#committing) this.#flush();
    });
  }

  /** Sends the queued commits as one script call, then the commits that queued meanwhile. */
  #flush(): void {
    const group: PendingCommit[] = [];
    let bytes = 0;
    while (this.#queue.length > 0 && group.length < this.#maxGroup && (group.length === 0 || bytes < MAX_GROUP_BYTES)) {
      const next = this.#queue.shift()!;
      group.push(next);
      for (const w of next.writes) for (const e of w.events) bytes += e.data.length + e.metadata.length + 64;
    }
    if (group.length === 0) {
      this.#committing = false;
      return;
    }
    this.#committing = true;
    let keys: string[];
    let args: Arg[];
    try {
      [keys, args] = this.#commitArguments(group);
    } catch (e) {
      for (const c of group) c.reject(e);
      this.#flush();
      return;
    }
    this.#client.telltaleCommitBuffer(keys.length, ...keys, ...args).then(
      (results) => {
        let wrote = false;
        group.forEach((c, i) => {
          const outcomes = decodeOutcomes(results[i]!);
          if (outcomes.some((o) => o.kind === 'written')) wrote = true;
          c.resolve(outcomes);
        });
        if (wrote) this.#signal();
        this.#flush();
      },
      (e: unknown) => {
        const error = translateRedisError(e, 'committing an append', true);
        for (const c of group) c.reject(error);
        this.#flush();
      },
    );
  }

  #commitArguments(group: readonly PendingCommit[]): [string[], Arg[]] {
    const keys = [this.#keys.head, this.#keys.all];
    const args: Arg[] = [this.#keys.channel, String(group.length)];
    for (const commit of group) {
      args.push(String(commit.created), String(commit.writes.length));
      for (const write of commit.writes) {
        keys.push(...this.#keys.writeKeys(write.streamId));
        const meta = isMetastream(write.streamId);
        const flags = (write.tombstone === true ? WRITE_TOMBSTONE : 0) | (meta ? WRITE_METASTREAM : 0);
        const recreatable = !meta && write.tombstone !== true;
        args.push(
          encodeExpected(write.expected),
          String(flags),
          recreatable ? uuidBytes(randomUUID()) : '',
          recreatable ? metastreamOf(write.streamId) : '',
          String(write.events.length),
        );
        for (const event of write.events) {
          args.push(encodeBody(write.streamId, event, commit.created));
          if (meta) args.push(isSoftDeleteMarker(event.data) ? '1' : '0');
        }
      }
    }
    return [keys, args];
  }

  async streamState(streamId: string): Promise<StreamState> {
    const [count, tombstoned, softDeleted, metaCount] = await this.#run('reading a stream state', () =>
      this.#client.telltaleStreamState(3, this.#keys.positions(streamId), this.#keys.state(streamId), this.#keys.positions(metastreamOf(streamId))),
    );
    return { lastRevision: BigInt(count!) - 1n, tombstoned: tombstoned === 1, softDeleted: softDeleted === 1, metadataExists: metaCount! > 0 };
  }

  async readStream(request: BackendReadStreamRequest): Promise<StoredRecord[]> {
    const from = request.fromRevision > MAX_LUA_INTEGER ? MAX_LUA_INTEGER : request.fromRevision;
    const reply = await this.#run('reading a stream', () =>
      this.#client.telltaleReadStreamBuffer(
        3,
        this.#keys.positions(request.streamId),
        this.#keys.state(request.streamId),
        this.#keys.all,
        String(from),
        request.direction === 'forwards' ? 'f' : 'b',
        String(request.limit),
      ),
    );
    const out: StoredRecord[] = [];
    for (let i = 0; i < reply.length; i += 3) out.push(decodeRecord(BigInt(reply[i]!.toString('latin1')), reply[i + 1]!, reply[i + 2]!));
    return out;
  }

  async readAll(request: BackendReadAllRequest): Promise<StoredRecord[]> {
    const from = request.fromPosition > MAX_U64 ? undefined : `0-${request.fromPosition}`;
    const entries = await this.#run('reading $all', () =>
      request.direction === 'forwards'
        ? from === undefined
          ? Promise.resolve([])
          : this.#client.xrangeBuffer(this.#keys.all, from, '+', 'COUNT', request.limit)
        : this.#client.xrevrangeBuffer(this.#keys.all, from ?? '+', '-', 'COUNT', request.limit),
    );
    return decodeEntries(entries as unknown as [Buffer, Buffer[]][]);
  }

  async headPosition(): Promise<bigint> {
    const head = await this.#run('reading the head position', () => this.#client.get(this.#keys.head));
    return head === null ? 1n : BigInt(head) + 1n;
  }

  onCommit(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Removes the records the plan drops with XDEL. Redis frees an entry's bytes when every entry of
   * its stream node (about 100 entries or 4 KiB) is deleted, so memory comes back in node-sized
   * steps; positions and the per-stream lists stay, as in the memory backend.
   */
  async scavenge(plan: ScavengePlan): Promise<{ eventsRemoved: number; bytesReclaimed: number }> {
    let eventsRemoved = 0;
    let bytesReclaimed = 0;
    let cursor = 0n;
    for (;;) {
      const page = await this.readAll({ fromPosition: cursor, direction: 'forwards', limit: 1000 });
      if (page.length === 0) break;
      const drop = page.filter((r) => !plan.keep(r));
      if (drop.length > 0) {
        eventsRemoved += await this.#run('scavenging', () =>
          this.#client.telltaleScavenge(1, this.#keys.all, ...drop.map((r) => r.position.toString())),
        );
        for (const r of drop) bytesReclaimed += r.data.length + r.metadata.length;
      }
      cursor = page[page.length - 1]!.position + 1n;
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

function encodeExpected(expected: PreparedWrite['expected']): string {
  switch (expected) {
    case 'any':
      return 'a';
    case 'no_stream':
      return 'n';
    case 'stream_exists':
      return 'e';
    default:
      return expected.toString();
  }
}

function decodeOutcomes(flat: readonly number[]): WriteOutcome[] {
  const out: WriteOutcome[] = [];
  for (let i = 0; i < flat.length; i += 3) {
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
