// Planning a commit for a backend that decides appends in its own process (memory, log): every
// write is decided against the stream's state; when all pass, the plan lists the records to write,
// with revisions assigned and the metadata rewrite of any recreated (soft-deleted) stream added.
// The backend then assigns positions and persists the plan as one atomic unit. The Redis backend
// does the same inside a server-side script.
import { randomUUID } from 'node:crypto';
import type { PreparedEvent, PreparedWrite, StreamState, WriteOutcome } from './backend.js';
import { decideAppendSteps, type StreamIdLookup } from './expected-revision.js';
import { drive, type MaybePromise } from './maybe-async.js';
import { recreatedMetadata } from './metadata.js';
import { metastreamOf, TOMBSTONE_REVISION } from './stream-name.js';

/** What a backend lets the planner see; answered under the backend's write lock. */
export interface CommitView {
  streamState(streamId: string): StreamState | Promise<StreamState>;
  lookup(streamId: string): StreamIdLookup;
  /** Data of the last event of a metastream, if any. */
  lastMetadata(metastreamId: string): Uint8Array | undefined | Promise<Uint8Array | undefined>;
}

export interface PlannedRecord {
  readonly streamId: string;
  readonly revision: bigint;
  readonly event: PreparedEvent;
  /** Index of the write this record belongs to, or -1 for a metadata rewrite the planner added. */
  readonly write: number;
}

export type CommitPlan =
  | { readonly ok: false; readonly outcomes: WriteOutcome[] }
  | {
      readonly ok: true;
      /** Records to write, in order. */
      readonly records: PlannedRecord[];
      /**
       * Per write: undefined when its records are in `records` (the backend fills in positions),
       * or the outcome already known (an idempotent retry, which writes nothing).
       */
      readonly known: (WriteOutcome | undefined)[];
      /** Per write: the stream's last revision after the commit. */
      readonly lastRevisions: bigint[];
    };

/** Plans a commit; synchronous unless the view answers with a promise (see store/maybe-async.ts). */
export function planCommit(writes: readonly PreparedWrite[], view: CommitView): MaybePromise<CommitPlan> {
  return drive(planSteps(writes, view));
}

function* planSteps(writes: readonly PreparedWrite[], view: CommitView): Generator<unknown, CommitPlan, unknown> {
  const outcomes: WriteOutcome[] = [];
  const records: PlannedRecord[] = [];
  const known: (WriteOutcome | undefined)[] = [];
  const lastRevisions: bigint[] = [];
  let failed = false;
  for (let index = 0; index < writes.length; index++) {
    const write = writes[index]!;
    const state = (yield view.streamState(write.streamId)) as StreamState;
    const ids = write.events.map((e) => e.id);
    const decision = yield* decideAppendSteps(state, write.expected, ids, view.lookup(write.streamId));
    switch (decision.kind) {
      case 'wrong-expected-revision':
      case 'stream-deleted':
        failed = true;
        outcomes.push(decision);
        known.push(decision);
        lastRevisions.push(state.lastRevision);
        continue;
      case 'idempotent': {
        // The position is filled in by the backend, which knows where the last event stands.
        const outcome: WriteOutcome = { kind: 'idempotent', lastRevision: decision.lastRevision, position: -1n };
        outcomes.push(outcome);
        known.push(outcome);
        lastRevisions.push(decision.lastRevision);
        continue;
      }
      case 'write': {
        let revision = state.lastRevision;
        for (const event of write.events) {
          if (write.tombstone === true) {
            records.push({ streamId: write.streamId, revision: TOMBSTONE_REVISION, event, write: index });
          } else {
            revision += 1n;
            records.push({ streamId: write.streamId, revision, event, write: index });
          }
        }
        if (decision.recreate) {
          const metastream = metastreamOf(write.streamId);
          const metaState = (yield view.streamState(metastream)) as StreamState;
          const current = (yield view.lastMetadata(metastream)) as Uint8Array | undefined;
          records.push({
            streamId: metastream,
            revision: metaState.lastRevision + 1n,
            event: recreatedMetadata(current, state.lastRevision, randomUUID()),
            write: -1,
          });
        }
        outcomes.push({ kind: 'written', lastRevision: revision, position: -1n });
        known.push(undefined);
        lastRevisions.push(revision);
      }
    }
  }
  if (failed) return { ok: false, outcomes };
  return { ok: true, records, known, lastRevisions };
}
