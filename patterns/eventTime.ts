/** The earliest time JavaScript dates can express; the "no watermark yet" value, because JSON
 * cannot hold -Infinity and rule state must survive JSON round trips. */
export const MIN_TIME = -8_640_000_000_000_000;

/** Reads an event's time when the caller gave none: `time`, `timestamp` or `created`, as ms or a
 * date string (ISO 8601). Throws a TypeError when there is none, rather than guessing a clock. */
export function defaultEventTime(event: unknown): number {
  const e = event as { time?: unknown; timestamp?: unknown; created?: unknown } | null;
  const raw = e?.time ?? e?.timestamp ?? e?.created;
  if (typeof raw === 'number') return raw;
  if (typeof raw === 'string') {
    const ms = Date.parse(raw);
    if (!Number.isNaN(ms)) return ms;
  }
  if (raw instanceof Date) return raw.getTime();
  throw new TypeError('event has no time: pass one to advance(), or declare eventTime(fn) on the rule');
}

/** `event.eventId ?? event.id`, or undefined (the rule then reports the event's ordinal). */
export function defaultEventId(event: unknown): string | number | undefined {
  const e = event as { eventId?: unknown; id?: unknown } | null;
  const id = e?.eventId ?? e?.id;
  return typeof id === 'string' || typeof id === 'number' ? id : undefined;
}

/**
 * Inserts into a time-sorted buffer of `[time, ordinal, event]`, after every entry with the same
 * time, so ties keep arrival order and a replay re-orders exactly like the live run did.
 */
export function insertByTime<T>(buffer: Array<[number, number, T]>, entry: [number, number, T]): void {
  let lo = 0;
  let hi = buffer.length;
  const t = entry[0];
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((buffer[mid] as [number, number, T])[0] <= t) lo = mid + 1;
    else hi = mid;
  }
  buffer.splice(lo, 0, entry);
}
