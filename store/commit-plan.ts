// Planning a commit for a backend that decides appends in its own process (memory, log): every
// write is decided against the stream's state; when all pass, the plan lists the records to write,
// with revisions assigned and the metadata rewrite of any recreated (soft-deleted) stream added.
// The backend then assigns positions and persists the plan as one atomic unit. The Redis backend
// does the same inside a server-side script.
import { randomUUID } from 'node:crypto';
import type { PreparedEvent, PreparedWrite, StreamState, WriteOutcome } from './backend.js';
import { decideAppend, type AppendDecision, type StreamIdLookup } from './expected-revision.js';
import { isPromiseLike, type MaybePromise } from './maybe-async.js';
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

/**
 * Plans a commit; synchronous unless the view answers with a promise (an id read back from disk,
 * metadata of a recreated stream), in which case the rest of the plan continues when it settles.
 * Plain functions rather than a generator driven step by step: this runs once per append.
 */
export function planCommit(writes: readonly PreparedWrite[], view: CommitView): MaybePromise<CommitPlan> {
  return new Planner(writes, view).from(0);
}

class Planner {
  readonly #writes: readonly PreparedWrite[];
  readonly #view: CommitView;
  readonly #outcomes: WriteOutcome[];
  readonly #records: PlannedRecord[] = [];
  readonly #known: (WriteOutcome | undefined)[];
  readonly #lastRevisions: bigint[];
  #failed = false;

  constructor(writes: readonly PreparedWrite[], view: CommitView) {
    this.#writes = writes;
    this.#view = view;
    this.#outcomes = new Array<WriteOutcome>(writes.length);
    this.#known = new Array<WriteOutcome | undefined>(writes.length);
    this.#lastRevisions = new Array<bigint>(writes.length);
  }

  /** Plans the writes from `index` on. */
  from(index: number): MaybePromise<CommitPlan> {
    for (let i = index; i < this.#writes.length; i++) {
      const step = this.#write(i);
      if (step !== undefined) return step.then(() => this.from(i + 1));
    }
    if (this.#failed) return { ok: false, outcomes: this.#outcomes };
    return { ok: true, records: this.#records, known: this.#known, lastRevisions: this.#lastRevisions };
  }

  /** Plans write `index`: undefined when done, or a promise when the view made it wait. */
  #write(index: number): Promise<void> | undefined {
    const write = this.#writes[index]!;
    const state = this.#view.streamState(write.streamId);
    if (isPromiseLike(state)) return Promise.resolve(state).then((s) => this.#decide(index, s));
    return this.#decide(index, state);
  }

  #decide(index: number, state: StreamState): Promise<void> | undefined {
    const write = this.#writes[index]!;
    const events = write.events;
    const ids = events.length === 1 ? [events[0]!.id] : events.map((e) => e.id);
    const decision = decideAppend(state, write.expected, ids, this.#view.lookup(write.streamId));
    if (isPromiseLike(decision)) return Promise.resolve(decision).then((d) => this.#take(index, state, d));
    return this.#take(index, state, decision);
  }

  #take(index: number, state: StreamState, decision: AppendDecision): Promise<void> | undefined {
    const write = this.#writes[index]!;
    switch (decision.kind) {
      case 'wrong-expected-revision':
      case 'stream-deleted':
        this.#failed = true;
        this.#outcomes[index] = decision;
        this.#known[index] = decision;
        this.#lastRevisions[index] = state.lastRevision;
        return undefined;
      case 'idempotent': {
        // The position is filled in by the backend, which knows where the last event stands.
        const outcome: WriteOutcome = { kind: 'idempotent', lastRevision: decision.lastRevision, position: -1n };
        this.#outcomes[index] = outcome;
        this.#known[index] = outcome;
        this.#lastRevisions[index] = decision.lastRevision;
        return undefined;
      }
      case 'write': {
        let revision = state.lastRevision;
        for (const event of write.events) {
          if (write.tombstone === true) {
            this.#records.push({ streamId: write.streamId, revision: TOMBSTONE_REVISION, event, write: index });
          } else {
            revision += 1n;
            this.#records.push({ streamId: write.streamId, revision, event, write: index });
          }
        }
        this.#outcomes[index] = { kind: 'written', lastRevision: revision, position: -1n };
        this.#known[index] = undefined;
        this.#lastRevisions[index] = revision;
        return decision.recreate ? this.#recreate(write.streamId, state.lastRevision) : undefined;
      }
    }
  }

  /** A soft-deleted stream written again: its metadata is rewritten so the old events stay hidden. */
  async #recreate(streamId: string, lastRevision: bigint): Promise<void> {
    const metastream = metastreamOf(streamId);
    const metaState = await this.#view.streamState(metastream);
    const current = await this.#view.lastMetadata(metastream);
    this.#records.push({
      streamId: metastream,
      revision: metaState.lastRevision + 1n,
      event: recreatedMetadata(current, lastRevision, randomUUID()),
      write: -1,
    });
  }
}
