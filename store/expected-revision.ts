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

export async function decideAppend(
  state: StreamState,
  expected: ExpectedRevision,
  ids: readonly string[],
  lookup: StreamIdLookup,
): Promise<AppendDecision> {
  const last = state.lastRevision;
  const wrong: AppendDecision = { kind: 'wrong-expected-revision', actual: last };
  if (state.tombstoned) return { kind: 'stream-deleted' };

  if (state.softDeleted) {
    if (expected === 'stream_exists') return { kind: 'stream-deleted' };
    if (expected === 'any' || expected === 'no_stream' || expected === last) return { kind: 'write', recreate: true };
    return wrong;
  }

  if (last < 0n) {
    if (expected === 'any' || expected === 'no_stream') return { kind: 'write', recreate: false };
    if (expected === 'stream_exists' && state.metadataExists) return { kind: 'write', recreate: false };
    return wrong;
  }

  if (expected === 'any' || expected === 'stream_exists') {
    const first = ids[0];
    if (first === undefined) return { kind: 'write', recreate: false };
    const at = await lookup.revisionOf(first);
    if (at === undefined) return { kind: 'write', recreate: false };
    return (await idsStandAt(at, ids, lookup)) ? idempotent(at, ids.length) : wrong;
  }

  const exact = expected === 'no_stream' ? -1n : expected;
  if (exact === last) return { kind: 'write', recreate: false };
  if (exact > last || ids.length === 0) return wrong;
  return (await idsStandAt(exact + 1n, ids, lookup)) ? idempotent(exact + 1n, ids.length) : wrong;
}

async function idsStandAt(from: bigint, ids: readonly string[], lookup: StreamIdLookup): Promise<boolean> {
  const stored = await lookup.idsFrom(from, ids.length);
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
