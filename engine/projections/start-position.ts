// Where a query (a transient projection) starts when it is not to read all of history: a `$all`
// position, or a time resolved to the first event stored at or after it. Event Store has no such
// option (a projection always starts at the beginning; #1955 and #1911 ask for one, §6 of
// shared/reference/eventstore-semantics.md), so Telltale defines it in the terms Event Store users
// already read positions in: the `$all` commit position, inclusive, as `read '$all' --from` takes it.
import { StreamNotFoundError } from '../../store/errors.js';
import type { Store } from '../../store/types.js';
import type { ReadPoint } from './projection-streams.js';
import type { ReaderKind } from './source-definition.js';

/** A `$all` position (inclusive), or a time: the first event stored at or after it. */
export type StartFrom = bigint | Date;

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * `1024` (a `$all` position) or an ISO 8601 date or time (`2026-05-01`, `2026-05-01T12:00:00Z`,
 * `2026-05-01T14:00+02:00`; UTC when it names no offset); undefined for anything else. (Parsed
 * here rather than with luxon, which would cost every CLI command its load time.)
 */
export function parseStartFrom(text: string): StartFrom | undefined {
  if (/^\d{1,20}$/.test(text)) return BigInt(text);
  const m = ISO_TIME.exec(text);
  if (m === null) return undefined;
  const [, y, mo, d, h = '00', mi = '00', sec = '00', fraction = '', zone = 'Z'] = m as unknown as string[];
  const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  // Date rolls 2026-02-30 over into March: a day that does not exist is refused instead.
  if (day.getUTCFullYear() !== Number(y) || day.getUTCMonth() !== Number(mo) - 1 || day.getUTCDate() !== Number(d)) return undefined;
  if (Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59) return undefined;
  const offset = zone.toUpperCase() === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(-2)}`;
  const time = new Date(`${y}-${mo}-${d}T${h}:${mi}:${sec}${fraction.slice(0, 4)}${offset}`);
  return Number.isNaN(time.getTime()) ? undefined : time;
}

/**
 * The read point (exclusive, as runners keep them) just before `from` for a projection reading
 * `reader`; undefined for "from the beginning". A one-stream source (`fromStream`, `fromCategory`'s
 * `$ce-` stream) starts at its first event whose event, links resolved, is at or after the position.
 */
export async function readPointBefore(store: Store, reader: ReaderKind, from: StartFrom): Promise<ReadPoint | undefined> {
  const position = from instanceof Date ? await positionAtTime(store, from) : from;
  if (position <= 0n) return undefined;
  if (reader.kind !== 'stream') return { kind: 'all', position: position - 1n };
  let last = -1n;
  try {
    for await (const e of store.readStream(reader.streamId, { resolveLinks: true })) {
      const revision = (e.link ?? e).revision;
      if (e.position >= position) return revision === 0n ? undefined : { kind: 'stream', streamId: reader.streamId, revision: revision - 1n };
      last = revision;
    }
  } catch (err) {
    if (err instanceof StreamNotFoundError) return undefined;
    throw err;
  }
  // Nothing in the stream is that recent: start after its last event.
  return last < 0n ? undefined : { kind: 'stream', streamId: reader.streamId, revision: last };
}

/**
 * The `$all` position of the first event stored at or after `time` (its `created` timestamp), or
 * just past the last event when none is. A linear read: stored timestamps follow append order
 * only as far as the clock does, so the first such event is found by reading, not by seeking.
 */
export async function positionAtTime(store: Store, time: Date): Promise<bigint> {
  const at = time.getTime();
  let last = -1n;
  for await (const page of store.readAllPages({})) {
    for (const e of page.events) if (e.created.getTime() >= at) return e.position;
    last = page.lastPosition;
  }
  return last + 1n;
}
