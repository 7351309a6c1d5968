// The whole optimistic-concurrency and idempotency rule in one pure function, called by every
// backend under its write lock (the Redis backend runs a port of it in Lua). It reproduces Event
// Store's `CheckCommit` (shared/reference/eventstore-semantics.md §4):
// - a tombstoned stream rejects everything;
// - an exact expected revision behind the stream is an idempotent retry only when the batch's ids
//   stand, position by position, right after it; otherwise the revision is wrong;
// - with `any` / `stream_exists`, a batch whose first id is already in the stream is a retry when
//   the rest follow it in order (best effort, as in Event Store: the id lookup may be bounded);
// - a partial overlap is an error, never a half-written batch;
// - appending to a soft-deleted stream recreates it and its numbering continues.
import type { StreamState } from './backend.js';
import { isPromiseLike, type MaybePromise } from './maybe-async.js';
import type { ExpectedRevision } from './types.js';

export type AppendDecision =
  | { readonly kind: 'write'; readonly recreate: boolean }
  | { readonly kind: 'idempotent'; readonly firstRevision: bigint; readonly lastRevision: bigint }
  | { readonly kind: 'wrong-expected-revision'; readonly actual: bigint }
  | { readonly kind: 'stream-deleted' };

/** How the decision looks at ids already in the stream; backends answer from memory or disk. */
export interface StreamIdLookup {
  /** Ids of the events at `fromRevision`, `fromRevision + 1`, …, at most `count`, stopping at the stream's end. */
  idsFrom(fromRevision: bigint, count: number): readonly string[] | Promise<readonly string[]>;
  /** The revision of the event with this id in this stream, when the backend still knows it. */
  revisionOf(id: string): bigint | undefined | Promise<bigint | undefined>;
}

/**
 * Decides an append against the stream's state. Synchronous unless the lookup answers with a
 * promise (ids read back from disk for a retry), so the common append is decided without one;
 * written as plain functions rather than a generator because this runs once per append and a
 * generator's object, register file and step results were a fifth of the append's allocations.
 */
export function decideAppend(state: StreamState, expected: ExpectedRevision, ids: readonly string[], lookup: StreamIdLookup): MaybePromise<AppendDecision> {
  const last = state.lastRevision;
  if (state.tombstoned) return STREAM_DELETED;

  if (state.softDeleted) {
    if (expected === 'stream_exists') return STREAM_DELETED;
    if (expected === 'any' || expected === 'no_stream' || expected === last) return WRITE_RECREATE;
    return wrong(last);
  }

  if (last < 0n) {
    if (expected === 'any' || expected === 'no_stream') return WRITE;
    if (expected === 'stream_exists' && state.metadataExists) return WRITE;
    return wrong(last);
  }

  if (expected === 'any' || expected === 'stream_exists') {
    const first = ids[0];
    if (first === undefined) return WRITE;
    const at = lookup.revisionOf(first);
    if (isPromiseLike(at)) return Promise.resolve(at).then((found) => (found === undefined ? WRITE : retryFrom(found, ids, last, lookup)));
    return at === undefined ? WRITE : retryFrom(at, ids, last, lookup);
  }

  const exact = expected === 'no_stream' ? -1n : expected;
  if (exact === last) return WRITE;
  if (exact > last || ids.length === 0) return wrong(last);
  return retryFrom(exact + 1n, ids, last, lookup);
}

const WRITE: AppendDecision = { kind: 'write', recreate: false };
const WRITE_RECREATE: AppendDecision = { kind: 'write', recreate: true };
const STREAM_DELETED: AppendDecision = { kind: 'stream-deleted' };

function wrong(actual: bigint): AppendDecision {
  return { kind: 'wrong-expected-revision', actual };
}

/** An idempotent retry when the batch's ids stand in the stream from `from` on, in order; else the expected revision was wrong. */
function retryFrom(from: bigint, ids: readonly string[], last: bigint, lookup: StreamIdLookup): MaybePromise<AppendDecision> {
  const stored = lookup.idsFrom(from, ids.length);
  if (isPromiseLike(stored)) return Promise.resolve(stored).then((s) => judgeRetry(s, from, ids, last));
  return judgeRetry(stored, from, ids, last);
}

function judgeRetry(stored: readonly string[], from: bigint, ids: readonly string[], last: bigint): AppendDecision {
  return stored.length === ids.length && stored.every((id, i) => id === ids[i]) ? idempotent(from, ids.length) : wrong(last);
}

function idempotent(first: bigint, count: number): AppendDecision {
  return { kind: 'idempotent', firstRevision: first, lastRevision: first + BigInt(count) - 1n };
}

/**
 * The number Event Store's wire protocols use for an expected revision: -2 any, -1 no stream,
 * -4 stream exists, else the revision (HTTP `ES-ExpectedVersion`, gRPC trailers).
 */
export function expectedVersionNumber(expected: ExpectedRevision): string {
  switch (expected) {
    case 'any':
      return '-2';
    case 'no_stream':
      return '-1';
    case 'stream_exists':
      return '-4';
    default:
      return expected.toString();
  }
}
