// A catch-up subscription over any cursor (a stream revision or a `$all` position). It reads
// history page by page from the cursor, and once a page comes back short it is live: it waits for
// the backend's commit signal and reads again from the same cursor. Because every delivery comes
// from a read after the cursor, there is no gap and no duplicate however appends race with it, and
// a slow consumer costs one page of memory: it simply reads history until it catches up again.
import type { StorageBackend } from './backend.js';
import { isTelltaleError } from './errors.js';
import type { RecordedEvent, Subscription, SubscriptionHooks } from './types.js';

/** A filtered `$all` page reports how far it has looked, between the events it delivers. */
export interface Checkpoint {
  readonly checkpoint: bigint;
}

export interface CatchUpSource<C> {
  readonly backend: StorageBackend;
  readonly hooks: SubscriptionHooks & { readonly onCheckpoint?: (position: bigint) => void | Promise<void> };
  /** The cursor to start after (exclusive). */
  start(): Promise<C>;
  /** Events after the cursor, the new cursor, and whether the page was full (more may be waiting). */
  readPage(after: C): Promise<{ items: (RecordedEvent | Checkpoint)[]; next: C; full: boolean }>;
  onClose(subscription: Subscription): void;
}

/** How long a subscription waits before reading again after its backend was unavailable. */
const RETRY_UNAVAILABLE_MS = 250;

export class CatchUpSubscription<C> implements Subscription {
  #closed = false;
  #live = false;
  #signalled = false;
  #wake: (() => void) | undefined;
  #iterating = false;
  readonly #source: CatchUpSource<C>;

  constructor(source: CatchUpSource<C>) {
    this.#source = source;
  }

  get isLive(): boolean {
    return this.#live;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake?.();
    this.#source.onClose(this);
  }

  [Symbol.asyncIterator](): AsyncIterator<RecordedEvent> {
    if (this.#iterating) throw new TypeError('A subscription can be iterated only once');
    this.#iterating = true;
    return this.#run();
  }

  async *#run(): AsyncGenerator<RecordedEvent> {
    const unsubscribe = this.#source.backend.onCommit(() => {
      this.#signalled = true;
      this.#wake?.();
    });
    try {
      let cursor: C = await this.#source.start();
      while (!this.#closed) {
        this.#signalled = false;
        let page: Awaited<ReturnType<CatchUpSource<C>['readPage']>>;
        try {
          page = await this.#source.readPage(cursor);
        } catch (e) {
          // A shared backend can be briefly out of reach (Redis restarting, a connection cut). The
          // cursor has not moved, so reading again from it once the backend is back loses and
          // repeats nothing: wait for its signal (it signals on reconnect) or a short delay.
          if (!isTelltaleError(e, 'backend-unavailable')) throw e;
          await this.#waitForSignal(RETRY_UNAVAILABLE_MS);
          continue;
        }
        cursor = page.next;
        for (const item of page.items) {
          if (this.#closed) return;
          // A checkpoint is reported only once the consumer has handled every event before it,
          // so a subscriber that stores it and crashes resumes without losing one.
          if ('checkpoint' in item) await this.#source.hooks.onCheckpoint?.(item.checkpoint);
          else yield item;
        }
        if (page.full) {
          if (this.#live) {
            this.#live = false;
            this.#source.hooks.onFellBehind?.();
          }
          continue;
        }
        if (!this.#live) {
          this.#live = true;
          this.#source.hooks.onCaughtUp?.();
        }
        await this.#waitForSignal();
      }
    } finally {
      unsubscribe();
      await this.close();
    }
  }

  /** Waits for a commit signal (or close), unless one came since the last read; at most `timeoutMs`. */
  async #waitForSignal(timeoutMs?: number): Promise<void> {
    if (this.#signalled || this.#closed) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      if (timeoutMs !== undefined) timer = setTimeout(resolve, timeoutMs);
    });
    clearTimeout(timer);
    this.#wake = undefined;
  }
}
