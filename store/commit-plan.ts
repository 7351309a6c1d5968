// Planning a commit for a backend that decides appends in its own process (memory, log): every
// write is decided against the stream's state; when all pass, the plan lists the records to write,
// with revisions assigned and the metadata rewrite of any recreated (soft-deleted) stream added.
// The backend then assigns positions and persists the plan as one atomic unit. The Redis backend
// does the same inside a server-side script.
import { randomUUID } from 'node:crypto';
import type { PreparedEvent, PreparedWrite, StreamState, WriteOutcome } from './backend.js';
import { decideAppend, type StreamIdLookup } from './expected-revision.js';
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

export async function planCommit(writes: readonly PreparedWrite[], view: CommitView): Promise<CommitPlan> {
  const outcomes: WriteOutcome[] = [];
  const records: PlannedRecord[] = [];
  const known: (WriteOutcome | undefined)[] = [];
  const lastRevisions: bigint[] = [];
  let failed = false;
  for (const [index, write] of writes.entries()) {
    const state = await view.streamState(write.streamId);
    const ids = write.events.map((e) => e.id);
    const decision = await decideAppend(state, write.expected, ids, view.lookup(write.streamId));
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
          const metaState = await view.streamState(metastream);
          const current = await view.lastMetadata(metastream);
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

