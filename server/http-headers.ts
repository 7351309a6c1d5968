// Event Store's request headers, read in both spellings: KurrentDB's `Kurrent-*` and the legacy
// `ES-*` it still accepts (shared/reference/eventstore-semantics.md §2.1, §2.5). Each getter
// returns the parsed value or throws an InvalidArgumentError naming the header, which the server
// answers with 400 and writes nothing.
import type { IncomingHttpHeaders } from 'node:http';
import { InvalidArgumentError } from '../store/errors.js';
import type { ExpectedRevision } from '../store/types.js';

interface HeaderNames {
  readonly kurrent: string;
  readonly es: string;
  readonly kurrentShown: string;
  readonly esShown: string;
}
const NAMES = new Map<string, HeaderNames>();

/** Both spellings of `name`, lower-cased once per name rather than per request. */
function namesOf(name: string): HeaderNames {
  let names = NAMES.get(name);
  if (names === undefined) {
    names = { kurrent: `kurrent-${name}`.toLowerCase(), es: `es-${name}`.toLowerCase(), kurrentShown: `Kurrent-${name}`, esShown: `ES-${name}` };
    NAMES.set(name, names);
  }
  return names;
}

export function header(headers: IncomingHttpHeaders, name: string): { value: string; name: string } | undefined {
  const names = namesOf(name);
  let raw = headers[names.kurrent];
  let shown = names.kurrentShown;
  if (raw === undefined) {
    raw = headers[names.es];
    if (raw === undefined) return undefined;
    shown = names.esShown;
  }
  return { value: Array.isArray(raw) ? raw.join(',') : raw, name: shown };
}

function wrongFormat(name: string, value: string, expected: string): InvalidArgumentError {
  return new InvalidArgumentError(`${name} header in wrong format: ${JSON.stringify(value)} (${expected})`);
}

/** `-2` any (the default), `-1` no stream, `-4` stream exists, `n ≥ 0` the last event number. */
export function expectedVersion(headers: IncomingHttpHeaders): ExpectedRevision {
  const h = header(headers, 'ExpectedVersion');
  if (h === undefined) return 'any';
  const text = h.value.trim();
  if (!/^-?\d{1,19}$/.test(text)) throw wrongFormat(h.name, h.value, 'an integer ≥ -4');
  const n = BigInt(text);
  if (n > 9223372036854775807n) throw wrongFormat(h.name, h.value, 'an integer ≥ -4');
  if (n >= 0n) return n;
  switch (n) {
    case -1n:
      return 'no_stream';
    case -2n:
      return 'any';
    case -4n:
      return 'stream_exists';
    default:
      throw wrongFormat(h.name, h.value, '-1 no stream, -2 any, -4 stream exists, or an event number');
  }
}

function bool(headers: IncomingHttpHeaders, name: string, fallback: boolean): boolean {
  const h = header(headers, name);
  if (h === undefined) return fallback;
  const v = h.value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw wrongFormat(h.name, h.value, 'True or False');
}

export const hardDelete = (headers: IncomingHttpHeaders): boolean => bool(headers, 'HardDelete', false);
export const resolveLinkTos = (headers: IncomingHttpHeaders, fallback: boolean): boolean => bool(headers, 'ResolveLinkTos', fallback);
export const requireLeader = (headers: IncomingHttpHeaders): boolean => bool(headers, 'RequireLeader', false) || bool(headers, 'RequireMaster', false);

/** Seconds to wait for new events on an empty forward read; undefined when not asked. Capped. */
export function longPollSeconds(headers: IncomingHttpHeaders, max: number): number | undefined {
  const h = header(headers, 'LongPoll');
  if (h === undefined) return undefined;
  const text = h.value.trim();
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1) throw wrongFormat(h.name, h.value, 'a number of seconds ≥ 1');
  return Math.min(Number(text), max);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EMPTY_GUID = '00000000-0000-0000-0000-000000000000';

/** Whether `id` is a GUID Event Store accepts as an event id (not the empty GUID). */
export function isEventId(id: unknown): id is string {
  return typeof id === 'string' && UUID.test(id) && id !== EMPTY_GUID;
}

/** The event id header, undefined when absent; 400 when malformed or the empty GUID. */
export function eventIdHeader(headers: IncomingHttpHeaders): string | undefined {
  const h = header(headers, 'EventId');
  if (h === undefined) return undefined;
  const v = h.value.trim();
  if (!isEventId(v)) throw wrongFormat(h.name, h.value, 'a non-empty GUID');
  return v.toLowerCase();
}

export function eventTypeHeader(headers: IncomingHttpHeaders): string | undefined {
  const h = header(headers, 'EventType');
  if (h === undefined) return undefined;
  const v = h.value.trim();
  return v.length === 0 ? undefined : v;
}
