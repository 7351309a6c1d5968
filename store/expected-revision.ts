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
import { drive, type MaybePromise } from './maybe-async.js';
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

export function decideAppend(state: StreamState, expected: ExpectedRevision, ids: readonly string[], lookup: StreamIdLookup): MaybePromise<AppendDecision> {
  return drive(decideAppendSteps(state, expected, ids, lookup));
}

/**
 * `decideAppend` as steps for `drive` (store/maybe-async.ts): it waits only when the lookup
 * does (ids read back from disk), so the common append is decided without a promise.
 */
export function* decideAppendSteps(
  state: StreamState,
  expected: ExpectedRevision,
  ids: readonly string[],
  lookup: StreamIdLookup,
): Generator<unknown, AppendDecision, unknown> {
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
    const at = (yield lookup.revisionOf(first)) as bigint | undefined;
    if (at === undefined) return WRITE;
    return (yield* idsStandAt(at, ids, lookup)) ? idempotent(at, ids.length) : wrong(last);
  }

  const exact = expected === 'no_stream' ? -1n : expected;
  if (exact === last) return WRITE;
  if (exact > last || ids.length === 0) return wrong(last);
  return (yield* idsStandAt(exact + 1n, ids, lookup)) ? idempotent(exact + 1n, ids.length) : wrong(last);
}

const WRITE: AppendDecision = { kind: 'write', recreate: false };
const WRITE_RECREATE: AppendDecision = { kind: 'write', recreate: true };
const STREAM_DELETED: AppendDecision = { kind: 'stream-deleted' };

function wrong(actual: bigint): AppendDecision {
  return { kind: 'wrong-expected-revision', actual };
}

function* idsStandAt(from: bigint, ids: readonly string[], lookup: StreamIdLookup): Generator<unknown, boolean, unknown> {
  const stored = (yield lookup.idsFrom(from, ids.length)) as readonly string[];
  return stored.length === ids.length && stored.every((id, i) => id === ids[i]);
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
