// What the dashboard watches in the store: one `$all` subscription, opened on the first dashboard
// request (a server nobody watches pays nothing), that catches up from the start and then stays
// live. It feeds the stream catalog, the per-second counts of events in and alerts out, and the
// newest alerts. Counting by each event's own commit time means the rate chart shows the last few
// minutes of history as soon as the page opens, not only what happened since.
import type { RecordedEvent, Store, Subscription } from '../../store/types.js';
import { StreamCatalog } from './stream-catalog.js';

/** Seconds of per-second counts kept for the charts. */
export const RATE_WINDOW_SECONDS = 300;
/** Newest alerts kept for a page that opens. */
const RECENT_ALERTS = 50;

/**
 * An alert is an event in a stream of the `alerts` category (`alerts`, `alerts-fraud`, …) or an
 * event whose type ends in `Alert`. Rules emit them with `emit('alerts-…', 'XAlert', match)`.
 */
export function isAlert(streamId: string, type: string): boolean {
  return streamId === 'alerts' || streamId.startsWith('alerts-') || (type.endsWith('Alert') && !streamId.startsWith('$'));
}

export interface RateSample {
  /** Unix time, seconds. */
  readonly t: number;
  readonly events: number;
  readonly alerts: number;
}

export interface AlertSummary {
  readonly streamId: string;
  readonly revision: string;
  readonly position: string;
  readonly id: string;
  readonly type: string;
  readonly created: string;
  readonly data: unknown;
  readonly metadata: Record<string, unknown>;
}

export function alertSummary(e: RecordedEvent): AlertSummary {
  return {
    streamId: e.streamId,
    revision: e.revision.toString(),
    position: e.position.toString(),
    id: e.id,
    type: e.type,
    created: e.created.toISOString(),
    data: e.isJson ? e.data : Buffer.from(e.dataBytes).toString('utf8'),
    metadata: e.metadata,
  };
}

export class StoreActivity {
  readonly catalog = new StreamCatalog();
  readonly #store: Store;
  readonly #log: (line: string) => void;
  /** Ring of per-second counts, indexed by second modulo the window. */
  readonly #seconds = new Array<{ t: number; events: number; alerts: number }>(RATE_WINDOW_SECONDS);
  readonly #recentAlerts: AlertSummary[] = [];
  readonly #alertListeners = new Set<(alert: AlertSummary) => void>();
  #subscription: Subscription | undefined;
  #ready: Promise<void> | undefined;
  #live = false;
  #closed = false;
  #head = -1n;

  constructor(store: Store, log: (line: string) => void) {
    this.#store = store;
    this.#log = log;
  }

  /** Starts watching (once) and resolves when the catalog has caught up with the store. */
  ready(): Promise<void> {
    this.#ready ??= new Promise<void>((resolve) => this.#run('start', resolve));
    return this.#ready;
  }

  get live(): boolean {
    return this.#live;
  }

  /** The position of the last event seen. */
  get head(): bigint {
    return this.#head;
  }

  /** Per-second counts for the last `seconds` whole seconds, oldest first (gaps are zeros). */
  rates(seconds = RATE_WINDOW_SECONDS, now = Date.now()): RateSample[] {
    const end = Math.floor(now / 1000);
    const out: RateSample[] = [];
    for (let t = end - Math.min(seconds, RATE_WINDOW_SECONDS) + 1; t <= end; t++) {
      const slot = this.#seconds[t % RATE_WINDOW_SECONDS];
      out.push(slot !== undefined && slot.t === t ? { t, events: slot.events, alerts: slot.alerts } : { t, events: 0, alerts: 0 });
    }
    return out;
  }

  /** Newest first. */
  recentAlerts(): readonly AlertSummary[] {
    return this.#recentAlerts;
  }

  /** Calls `listener` for each alert committed from now on; returns the unsubscribe function. */
  onAlert(listener: (alert: AlertSummary) => void): () => void {
    this.#alertListeners.add(listener);
    return () => this.#alertListeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#subscription?.close();
  }

  #run(from: bigint | 'start', caughtUp: () => void): void {
    if (this.#closed) return caughtUp();
    const subscription = this.#store.subscribeToAll({
      fromPosition: from,
      onCaughtUp: () => {
        this.#live = true;
        caughtUp();
      },
    });
    this.#subscription = subscription;
    void (async () => {
      try {
        for await (const e of subscription) this.#seen(e);
        // A store that was empty never reports catching up before it closes.
        caughtUp();
      } catch (err) {
        if (this.#closed) return caughtUp();
        // The store went away or the feed broke: say so, and resume where we were.
        this.#log(`dashboard: $all feed stopped (${(err as Error).message}); resuming in 1 s`);
        setTimeout(() => this.#run(this.#head < 0n ? 'start' : this.#head, caughtUp), 1000).unref();
      }
    })();
  }

  #seen(e: RecordedEvent): void {
    this.#head = e.position;
    this.catalog.written(e.streamId, e.revision, e.position, e.type, e.created);
    if (e.streamId.charCodeAt(0) === 36 /* $ */) return;
    const alert = isAlert(e.streamId, e.type);
    const t = Math.floor(e.created.getTime() / 1000);
    if (t > Math.floor(Date.now() / 1000) - RATE_WINDOW_SECONDS) {
      const index = t % RATE_WINDOW_SECONDS;
      let slot = this.#seconds[index];
      if (slot === undefined || slot.t !== t) this.#seconds[index] = slot = { t, events: 0, alerts: 0 };
      if (alert) slot.alerts++;
      else slot.events++;
    }
    if (!alert) return;
    const summary = alertSummary(e);
    this.#recentAlerts.unshift(summary);
    if (this.#recentAlerts.length > RECENT_ALERTS) this.#recentAlerts.length = RECENT_ALERTS;
    if (this.#live) for (const listener of this.#alertListeners) listener(summary);
  }
}
