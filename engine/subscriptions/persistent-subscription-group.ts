// One persistent subscription group (competing consumers) on one stream, as Event Store runs it
// (shared/reference/eventstore-semantics.md §5.4):
//
// - A reader follows the stream from the last checkpoint with a catch-up subscription, keeping at
//   most `bufferSize` messages read ahead and not yet dispatched (backpressure on the reader).
// - Messages are dispatched to connected consumers with free capacity, chosen by the strategy;
//   a dispatched message is outstanding until acked, nacked or timed out. Delivery is
//   at-least-once: a timeout or a retry nack sends it again, to whichever consumer is next.
// - After `maxRetryCount` retries (or a `park` nack) a message is parked: a `$>` link to it is
//   appended to `$persistentsubscription-{stream}::{group}-parked`. `replayParked` delivers parked
//   messages again, ahead of new ones, and truncates the parked stream past them.
// - The checkpoint is the highest event number below which every message read from the stream
//   is finished (acked, skipped or parked), so it "stays at the lowest outstanding message".
//   Replayed parked messages never move it (Event Store bugs #500/#1890).
//
// It uses the Store port only. Time comes from an injected clock; timers are unref'd.
import { randomUUID } from 'node:crypto';
import { isTelltaleError } from '../../store/errors.js';
import type { RecordedEvent, Store, Subscription } from '../../store/types.js';
import type { PersistentSubscriptionSettings } from './settings.js';

export type NackAction = 'park' | 'retry' | 'skip' | 'stop';

export interface PersistentMessage {
  /** The id to ack or nack: the delivered event's id. */
  readonly id: string;
  readonly event: RecordedEvent;
  /** How many times it was delivered before this time. */
  readonly retryCount: number;
}

export interface GroupLogger {
  (line: string): void;
}

export interface ConsumerOptions {
  readonly name: string;
  /** Most messages in flight (dispatched, not finished) at once. */
  readonly capacity: number;
  /** Disconnect the consumer when it has not taken messages for this long. @defaultValue never */
  readonly idleTimeoutMs?: number;
  /** Called when messages were added to the consumer's inbox (push-style consumers). */
  readonly onMessages?: () => void;
  readonly user?: string;
}

interface Tracked {
  readonly id: string;
  readonly event: RecordedEvent;
  retryCount: number;
  /** The event number in the subscribed stream; undefined for a replayed parked message. */
  readonly sourceRevision: bigint | undefined;
  consumer: PersistentConsumer | undefined;
  deadline: number;
  taken: boolean;
}

export type GroupStatus = 'Live' | 'CatchingUp' | 'Starting' | 'Stopped' | 'Faulted';

export class PersistentConsumer {
  readonly name: string;
  readonly user: string | undefined;
  capacity: number;
  readonly connectedAt: number;
  /** Dispatched to this consumer and not yet taken by it. */
  readonly inbox: Tracked[] = [];
  inFlight = 0;
  totalItems = 0;
  lastSeen: number;
  closed = false;
  readonly idleTimeoutMs: number | undefined;
  onMessages: (() => void) | undefined;
  readonly #group: PersistentSubscriptionGroup;

  constructor(group: PersistentSubscriptionGroup, options: ConsumerOptions, now: number) {
    this.#group = group;
    this.name = options.name;
    this.user = options.user;
    this.capacity = options.capacity;
    this.idleTimeoutMs = options.idleTimeoutMs;
    this.onMessages = options.onMessages;
    this.connectedAt = now;
    this.lastSeen = now;
  }

  get freeSlots(): number {
    return Math.max(0, this.capacity - this.inFlight);
  }

  /** Takes up to `max` messages dispatched to this consumer; they stay outstanding until acked. */
  take(max: number): PersistentMessage[] {
    this.lastSeen = this.#group.now();
    this.#group.pump();
    const taken = this.inbox.splice(0, Math.max(0, max));
    for (const t of taken) t.taken = true;
    return taken.map((t) => ({ id: t.id, event: t.event, retryCount: t.retryCount }));
  }

  close(): void {
    this.#group.disconnect(this);
  }
}

export interface ConsumerInfo {
  readonly connectionName: string;
  readonly username: string | undefined;
  readonly availableSlots: number;
  readonly inFlightMessages: number;
  readonly totalItems: number;
}

export interface GroupInfo {
  readonly eventStreamId: string;
  readonly groupName: string;
  readonly status: GroupStatus;
  readonly statusReason: string | undefined;
  readonly totalItemsProcessed: number;
  readonly lastProcessedEventNumber: number;
  readonly lastKnownEventNumber: number;
  readonly lastCheckpointedEventNumber: number;
  readonly readBufferCount: number;
  readonly retryBufferCount: number;
  readonly totalInFlightMessages: number;
  readonly outstandingMessagesCount: number;
  readonly parkedMessageCount: number;
  readonly totalDelivered: number;
  readonly totalParked: number;
  readonly totalRetried: number;
  readonly connections: readonly ConsumerInfo[];
}

export function checkpointStreamOf(stream: string, group: string): string {
  return `$persistentsubscription-${stream}::${group}-checkpoint`;
}

export function parkedStreamOf(stream: string, group: string): string {
  return `$persistentsubscription-${stream}::${group}-parked`;
}

export class TooManySubscribersError extends Error {}

const BUCKETS = 1024;

function bucketOf(key: string): number {
  // FNV-1a: stable across restarts, so a stream keeps its consumer while the set of consumers does.
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % BUCKETS;
}

export class PersistentSubscriptionGroup {
  readonly stream: string;
  readonly group: string;
  readonly settings: PersistentSubscriptionSettings;
  readonly #store: Store;
  readonly #clock: () => number;
  readonly #log: GroupLogger;

  #status: GroupStatus = 'Starting';
  #statusReason: string | undefined;
  #subscription: Subscription | undefined;
  #reader: Promise<void> | undefined;
  #ticker: NodeJS.Timeout | undefined;
  #stopped = false;

  readonly #consumers: PersistentConsumer[] = [];
  #roundRobin = 0;
  /** Read from the stream, not yet dispatched. */
  #buffer: Tracked[] = [];
  /** Retries and replayed parked messages: dispatched before the buffer. */
  #retries: Tracked[] = [];
  readonly #outstanding = new Map<string, Tracked>();
  #room: (() => void) | undefined;

  // Checkpoint bookkeeping: revisions in read order, those finished, and the resulting checkpoint.
  #sequence: bigint[] = [];
  #sequenceHead = 0;
  readonly #finished = new Set<bigint>();
  #checkpoint: bigint | undefined;
  #writtenCheckpoint: bigint | undefined;
  #sinceCheckpoint = 0;
  #lastCheckpointAt = 0;
  #checkpointing: Promise<void> | undefined;
  #parking = new Set<Promise<void>>();

  #lastKnown = -1n;
  #processed = 0;
  #delivered = 0;
  #parked = 0;
  #retried = 0;

  constructor(store: Store, stream: string, group: string, settings: PersistentSubscriptionSettings, options: { clock?: () => number; log?: GroupLogger } = {}) {
    this.#store = store;
    this.stream = stream;
    this.group = group;
    this.settings = settings;
    this.#clock = options.clock ?? Date.now;
    this.#log = options.log ?? (() => {});
  }

  get checkpointStream(): string {
    return checkpointStreamOf(this.stream, this.group);
  }

  get parkedStream(): string {
    return parkedStreamOf(this.stream, this.group);
  }

  get status(): GroupStatus {
    return this.#status;
  }

  now(): number {
    return this.#clock();
  }

  /** Loads the checkpoint and starts following the stream. */
  async start(): Promise<void> {
    this.#checkpoint = await this.#loadCheckpoint();
    this.#writtenCheckpoint = this.#checkpoint;
    this.#lastCheckpointAt = this.#clock();
    let from: bigint | 'start' | 'end';
    if (this.#checkpoint !== undefined) from = this.#checkpoint;
    else if (this.settings.startFrom < 0n) {
      // "From the end" is fixed at the first start, so a restart does not skip what came meanwhile.
      const info = await this.#store.getStreamInfo(this.stream);
      from = info.lastRevision;
      this.#checkpoint = from;
    } else from = this.settings.startFrom === 0n ? 'start' : this.settings.startFrom - 1n;
    if (typeof from === 'bigint' && from < 0n) from = 'start';
    this.#status = 'CatchingUp';
    this.#subscription = this.#store.subscribeToStream(this.stream, {
      fromRevision: from,
      resolveLinks: this.settings.resolveLinktos,
      onCaughtUp: () => {
        if (this.#status === 'CatchingUp') this.#status = 'Live';
      },
      onFellBehind: () => {
        if (this.#status === 'Live') this.#status = 'CatchingUp';
      },
    });
    this.#reader = this.#read(this.#subscription);
    const tick = Math.max(10, Math.min(1000, Math.floor(this.settings.messageTimeoutMilliseconds / 4), this.settings.checkPointAfterMilliseconds));
    this.#ticker = setInterval(() => this.#tick(), tick);
    this.#ticker.unref();
  }

  async #loadCheckpoint(): Promise<bigint | undefined> {
    try {
      for await (const e of this.#store.readStream(this.checkpointStream, { direction: 'backwards', maxCount: 1 })) {
        const text = new TextDecoder().decode(e.dataBytes).trim();
        return /^-?\d+$/.test(text) ? BigInt(text) : undefined;
      }
    } catch (e) {
      if (isTelltaleError(e, 'stream-not-found') || isTelltaleError(e, 'stream-deleted')) return undefined;
      throw e;
    }
    return undefined;
  }

  async #read(subscription: Subscription): Promise<void> {
    try {
      for await (const event of subscription) {
        const revision = event.link?.revision ?? event.revision;
        this.#lastKnown = revision;
        this.#sequence.push(revision);
        this.#buffer.push({ id: event.id, event, retryCount: 0, sourceRevision: revision, consumer: undefined, deadline: 0, taken: false });
        this.pump();
        while (this.#buffer.length >= this.settings.bufferSize && !this.#stopped) {
          await new Promise<void>((resolve) => (this.#room = resolve));
        }
        if (this.#stopped) return;
      }
    } catch (e) {
      if (this.#stopped) return;
      this.#status = 'Faulted';
      this.#statusReason = (e as Error).message;
      this.#log(`persistent subscription ${this.stream}::${this.group} stopped reading: ${(e as Error).message}`);
    }
  }

  connect(options: ConsumerOptions): PersistentConsumer {
    if (this.#stopped) throw new Error(`Subscription group ${this.stream}::${this.group} is stopped`);
    const max = this.settings.maxSubscriberCount;
    if (max > 0 && this.#consumers.length >= max) {
      throw new TooManySubscribersError(`Subscription group ${this.stream}::${this.group} already has its maximum of ${max} consumers`);
    }
    const consumer = new PersistentConsumer(this, options, this.#clock());
    this.#consumers.push(consumer);
    this.pump();
    return consumer;
  }

  consumer(name: string): PersistentConsumer | undefined {
    return this.#consumers.find((c) => c.name === name);
  }

  /** Messages dispatched to it and not yet taken go back to the front of the queue. */
  disconnect(consumer: PersistentConsumer): void {
    if (consumer.closed) return;
    consumer.closed = true;
    const i = this.#consumers.indexOf(consumer);
    if (i >= 0) this.#consumers.splice(i, 1);
    const returned = consumer.inbox.splice(0);
    for (const t of returned) {
      this.#outstanding.delete(t.id);
      t.consumer = undefined;
    }
    this.#retries.unshift(...returned);
    this.pump();
  }

  /** Dispatches waiting messages to consumers with free slots, as the strategy says. */
  pump(): void {
    if (this.#stopped || this.#consumers.length === 0) return;
    this.#retries = this.#dispatchFrom(this.#retries);
    const before = this.#buffer.length;
    this.#buffer = this.#dispatchFrom(this.#buffer);
    if (this.#buffer.length < before && this.#buffer.length < this.settings.bufferSize) {
      const room = this.#room;
      this.#room = undefined;
      room?.();
    }
  }

  #dispatchFrom(queue: Tracked[]): Tracked[] {
    if (queue.length === 0) return queue;
    const kept: Tracked[] = [];
    let i = 0;
    for (; i < queue.length; i++) {
      if (!this.#consumers.some((c) => c.freeSlots > 0)) break;
      const message = queue[i]!;
      const consumer = this.#choose(message);
      if (consumer === undefined) kept.push(message);
      else this.#dispatch(message, consumer);
    }
    if (kept.length === 0 && i === 0) return queue;
    return i < queue.length ? kept.concat(queue.slice(i)) : kept;
  }

  #choose(message: Tracked): PersistentConsumer | undefined {
    const consumers = this.#consumers;
    switch (this.settings.namedConsumerStrategy) {
      case 'RoundRobin': {
        for (let n = 0; n < consumers.length; n++) {
          const c = consumers[(this.#roundRobin + n) % consumers.length]!;
          if (c.freeSlots > 0) {
            this.#roundRobin = (this.#roundRobin + n + 1) % consumers.length;
            return c;
          }
        }
        return undefined;
      }
      case 'DispatchToSingle':
        return consumers.find((c) => c.freeSlots > 0);
      case 'Pinned':
      case 'PinnedByCorrelation': {
        let key = message.event.streamId;
        if (this.settings.namedConsumerStrategy === 'PinnedByCorrelation') {
          const correlation = message.event.metadata.$correlationId;
          if (typeof correlation === 'string') key = correlation;
        }
        // Buckets are spread over the consumers in connection order; connecting or leaving
        // rebalances them. A full owner keeps its messages waiting, so one key stays on one consumer.
        const owner = consumers[bucketOf(key) % consumers.length]!;
        return owner.freeSlots > 0 ? owner : undefined;
      }
    }
  }

  #dispatch(message: Tracked, consumer: PersistentConsumer): void {
    message.consumer = consumer;
    message.deadline = this.#clock() + this.settings.messageTimeoutMilliseconds;
    message.taken = false;
    consumer.inFlight++;
    consumer.totalItems++;
    consumer.inbox.push(message);
    this.#outstanding.set(message.id, message);
    this.#delivered++;
    consumer.onMessages?.();
  }

  #release(message: Tracked): void {
    this.#outstanding.delete(message.id);
    const consumer = message.consumer;
    if (consumer !== undefined) {
      consumer.inFlight = Math.max(0, consumer.inFlight - 1);
      if (!message.taken) {
        const i = consumer.inbox.indexOf(message);
        if (i >= 0) consumer.inbox.splice(i, 1);
      }
      message.consumer = undefined;
    }
  }

  /** Acknowledges messages by id; unknown ids (already finished, or never sent) are ignored. */
  ack(ids: readonly string[]): number {
    let n = 0;
    for (const id of ids) {
      const message = this.#outstanding.get(id.toLowerCase());
      if (message === undefined) continue;
      this.#release(message);
      this.#finish(message);
      n++;
    }
    this.pump();
    return n;
  }

  nack(ids: readonly string[], action: NackAction, reason = 'nacked'): number {
    let n = 0;
    for (const id of ids) {
      const message = this.#outstanding.get(id.toLowerCase());
      if (message === undefined) continue;
      n++;
      switch (action) {
        case 'skip':
          this.#release(message);
          this.#finish(message);
          break;
        case 'park':
          this.#park(message, reason);
          break;
        case 'retry':
          this.#retry(message);
          break;
        case 'stop': {
          const consumer = message.consumer;
          this.#retry(message);
          consumer?.close();
          break;
        }
      }
    }
    this.pump();
    return n;
  }

  #retry(message: Tracked): void {
    this.#release(message);
    if (message.retryCount >= this.settings.maxRetryCount) {
      this.#park(message, `reached the maximum of ${this.settings.maxRetryCount} retries`);
      return;
    }
    message.retryCount++;
    this.#retried++;
    this.#retries.push(message);
  }

  #park(message: Tracked, reason: string): void {
    this.#release(message);
    const target = message.event;
    const write = this.#store
      .appendToStream(this.parkedStream, [
        { type: '$>', data: `${target.revision}@${target.streamId}`, metadata: { reason, retryCount: message.retryCount, parkedAt: new Date(this.#clock()).toISOString() } },
      ])
      .then(
        () => {
          this.#parked++;
          this.#finish(message);
        },
        (e: unknown) => {
          // Not parked means not finished: deliver it again rather than lose it.
          this.#log(`parking ${message.id} of ${this.stream}::${this.group} failed: ${(e as Error).message}`);
          if (!this.#stopped) this.#retries.push(message);
        },
      );
    this.#parking.add(write);
    void write.finally(() => this.#parking.delete(write));
  }

  #finish(message: Tracked): void {
    this.#processed++;
    if (message.sourceRevision === undefined) return;
    this.#finished.add(message.sourceRevision);
    while (this.#sequenceHead < this.#sequence.length && this.#finished.has(this.#sequence[this.#sequenceHead]!)) {
      const revision = this.#sequence[this.#sequenceHead++]!;
      this.#finished.delete(revision);
      this.#checkpoint = revision;
      this.#sinceCheckpoint++;
    }
    if (this.#sequenceHead > 4096 && this.#sequenceHead * 2 > this.#sequence.length) {
      this.#sequence = this.#sequence.slice(this.#sequenceHead);
      this.#sequenceHead = 0;
    }
    if (this.#sinceCheckpoint >= this.settings.maxCheckPointCount) void this.#writeCheckpoint();
  }

  #tick(): void {
    const now = this.#clock();
    for (const message of [...this.#outstanding.values()]) {
      if (message.deadline <= now) this.#retry(message);
    }
    for (const consumer of [...this.#consumers]) {
      if (consumer.idleTimeoutMs !== undefined && now - consumer.lastSeen > consumer.idleTimeoutMs) this.disconnect(consumer);
    }
    if (this.#sinceCheckpoint > 0 && this.#sinceCheckpoint >= this.settings.minCheckPointCount && now - this.#lastCheckpointAt >= this.settings.checkPointAfterMilliseconds) {
      void this.#writeCheckpoint();
    }
    this.pump();
  }

  /** Writes the checkpoint if it moved; one write at a time. */
  #writeCheckpoint(): Promise<void> {
    if (this.#checkpointing !== undefined) return this.#checkpointing;
    const checkpoint = this.#checkpoint;
    if (checkpoint === undefined || checkpoint === this.#writtenCheckpoint) return Promise.resolve();
    this.#sinceCheckpoint = 0;
    this.#lastCheckpointAt = this.#clock();
    const first = this.#writtenCheckpoint === undefined;
    this.#checkpointing = (async () => {
      try {
        if (first) await this.#store.setStreamMetadata(this.checkpointStream, { maxCount: 1 });
        await this.#store.appendToStream(this.checkpointStream, [{ type: '$SubscriptionCheckpoint', data: Number(checkpoint) }]);
        this.#writtenCheckpoint = checkpoint;
      } catch (e) {
        this.#log(`checkpoint of ${this.stream}::${this.group} failed: ${(e as Error).message}`);
      } finally {
        this.#checkpointing = undefined;
      }
    })();
    return this.#checkpointing;
  }

  /**
   * Delivers parked messages again, before new ones, and truncates the parked stream past them.
   * Returns how many were queued.
   */
  async replayParked(stopAt?: number): Promise<number> {
    const info = await this.#store.getStreamInfo(this.parkedStream);
    if (info.lastRevision < 0n || info.softDeleted || info.tombstoned) return 0;
    const replay: Tracked[] = [];
    let last: bigint | undefined;
    for await (const e of this.#store.readStream(this.parkedStream, { resolveLinks: true, maxCount: stopAt ?? Number.MAX_SAFE_INTEGER })) {
      last = e.link?.revision ?? e.revision;
      // A link whose target was deleted does not resolve; there is nothing to deliver.
      if (e.link === undefined) continue;
      const target = e as RecordedEvent;
      replay.push({ id: target.id, event: target, retryCount: 0, sourceRevision: undefined, consumer: undefined, deadline: 0, taken: false });
    }
    if (last === undefined) return 0;
    const current = await this.#store.getStreamMetadata(this.parkedStream);
    await this.#store.setStreamMetadata(this.parkedStream, { ...current.metadata, truncateBefore: last + 1n });
    this.#retries.push(...replay.filter((m) => !this.#outstanding.has(m.id)));
    this.pump();
    return replay.length;
  }

  async parkedCount(): Promise<number> {
    const info = await this.#store.getStreamInfo(this.parkedStream);
    if (info.lastRevision < 0n || info.softDeleted || info.tombstoned) return 0;
    const tb = (await this.#store.getStreamMetadata(this.parkedStream)).metadata.truncateBefore ?? 0n;
    const n = info.lastRevision + 1n - tb;
    return n > 0n ? Number(n) : 0;
  }

  async info(): Promise<GroupInfo> {
    return {
      eventStreamId: this.stream,
      groupName: this.group,
      status: this.#status,
      statusReason: this.#statusReason,
      totalItemsProcessed: this.#processed,
      lastProcessedEventNumber: this.#checkpoint === undefined ? -1 : Number(this.#checkpoint),
      lastKnownEventNumber: Number(this.#lastKnown),
      lastCheckpointedEventNumber: this.#writtenCheckpoint === undefined ? -1 : Number(this.#writtenCheckpoint),
      readBufferCount: this.#buffer.length,
      retryBufferCount: this.#retries.length,
      totalInFlightMessages: this.#outstanding.size,
      outstandingMessagesCount: this.#outstanding.size,
      parkedMessageCount: await this.parkedCount(),
      totalDelivered: this.#delivered,
      totalParked: this.#parked,
      totalRetried: this.#retried,
      connections: this.#consumers.map((c) => ({
        connectionName: c.name,
        username: c.user,
        availableSlots: c.freeSlots,
        inFlightMessages: c.inFlight,
        totalItems: c.totalItems,
      })),
    };
  }

  /** Counters for metrics, without touching the store. */
  counters(): { delivered: number; processed: number; parked: number; retried: number; outstanding: number; buffered: number } {
    return { delivered: this.#delivered, processed: this.#processed, parked: this.#parked, retried: this.#retried, outstanding: this.#outstanding.size, buffered: this.#buffer.length + this.#retries.length };
  }

  /** Stops reading and dispatching, drops the consumers, waits for parks and writes the checkpoint. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#status = 'Stopped';
    if (this.#ticker !== undefined) clearInterval(this.#ticker);
    const room = this.#room;
    this.#room = undefined;
    room?.();
    for (const c of [...this.#consumers]) {
      c.closed = true;
      c.onMessages?.();
    }
    this.#consumers.length = 0;
    await this.#subscription?.close();
    await this.#reader;
    await Promise.allSettled([...this.#parking]);
    await this.#checkpointing;
    await this.#writeCheckpoint();
  }

  /** Resolves when every message read so far is finished (tests and shutdown use it). */
  get idle(): boolean {
    return this.#outstanding.size === 0 && this.#buffer.length === 0 && this.#retries.length === 0 && this.#parking.size === 0;
  }
}

export const newConsumerName = (): string => `http-${randomUUID()}`;
