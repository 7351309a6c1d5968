// The memory backend: everything in arrays and maps, nothing durable. For tests and transient
// use; it must still behave exactly like the durable backends (the conformance suite is run
// against it too). A record's position is its index in the log array; scavenging leaves holes,
// so positions handed out stay valid.
import type {
  BackendReadAllRequest,
  BackendReadStreamRequest,
  BackendSupports,
  PreparedWrite,
  ScavengePlan,
  StorageBackend,
  StoredRecord,
  StreamState,
  WriteOutcome,
} from '../backend.js';
import type { StreamIdLookup } from '../expected-revision.js';
import { planCommit } from '../commit-plan.js';
import { isSoftDeleteMarker } from '../metadata.js';
import { isMetastream, streamOfMetastream, TOMBSTONE_REVISION } from '../stream-name.js';

interface MemoryStream {
  /** Positions of the stream's records by revision (undefined once scavenged). */
  readonly positions: (number | undefined)[];
  readonly ids: Map<string, bigint>;
  tombstonePosition: number | undefined;
  softDeleted: boolean;
}

const NEW_STREAM: StreamState = { lastRevision: -1n, tombstoned: false, softDeleted: false, metadataExists: false };

export class MemoryBackend implements StorageBackend {
  readonly supports: BackendSupports = { durable: false, shared: false, scavenge: true };
  readonly #log: (StoredRecord | undefined)[] = [];
  readonly #streams = new Map<string, MemoryStream>();
  readonly #listeners = new Set<() => void>();
  readonly #clock: () => number;
  #lock: Promise<unknown> = Promise.resolve();

  constructor(options: { clock?: () => number } = {}) {
    this.#clock = options.clock ?? Date.now;
  }

  commit(writes: readonly PreparedWrite[]): Promise<WriteOutcome[]> {
    const run = this.#lock.then(() => this.#commit(writes));
    this.#lock = run.catch(() => undefined);
    return run;
  }

  async #commit(writes: readonly PreparedWrite[]): Promise<WriteOutcome[]> {
    const plan = await planCommit(writes, {
      streamState: (id) => this.#state(id),
      lookup: (id) => this.#lookup(id),
      lastMetadata: (id) => {
        const s = this.#streams.get(id);
        const p = s?.positions.at(-1);
        return p === undefined ? undefined : this.#log[p]?.data;
      },
    });
    if (!plan.ok) return plan.outcomes;
    const created = this.#clock();
    const lastPosition = new Map<number, bigint>();
    for (const planned of plan.records) {
      const position = this.#log.length;
      const record: StoredRecord = { streamId: planned.streamId, revision: planned.revision, position: BigInt(position), created, ...pick(planned.event) };
      this.#log.push(record);
      const stream = this.#stream(planned.streamId);
      if (planned.revision === TOMBSTONE_REVISION) stream.tombstonePosition = position;
      else {
        stream.positions.push(position);
        stream.ids.set(record.id, planned.revision);
      }
      if (isMetastream(planned.streamId)) this.#stream(streamOfMetastream(planned.streamId)).softDeleted = isSoftDeleteMarker(record.data);
      lastPosition.set(planned.write, BigInt(position));
    }
    const head = BigInt(this.#log.length - 1);
    const outcomes = writes.map((w, i): WriteOutcome => {
      const known = plan.known[i];
      if (known?.kind === 'idempotent') {
        const p = this.#streams.get(w.streamId)?.positions[Number(known.lastRevision)];
        return { ...known, position: p === undefined ? head : BigInt(p) };
      }
      return { kind: 'written', lastRevision: plan.lastRevisions[i]!, position: lastPosition.get(i) ?? head };
    });
    if (plan.records.length > 0) for (const listener of this.#listeners) listener();
    return outcomes;
  }

  async streamState(streamId: string): Promise<StreamState> {
    return this.#state(streamId);
  }

  async readStream(request: BackendReadStreamRequest): Promise<StoredRecord[]> {
    const stream = this.#streams.get(request.streamId);
    if (!stream) return [];
    const out: StoredRecord[] = [];
    const last = stream.positions.length - 1;
    const forwards = request.direction === 'forwards';
    const from = request.fromRevision > BigInt(last) ? last + 1 : Number(request.fromRevision);
    if (forwards) {
      for (let r = from; r <= last && out.length < request.limit; r++) this.#push(out, stream.positions[r]);
      if (out.length < request.limit && stream.tombstonePosition !== undefined) out.push(this.#log[stream.tombstonePosition]!);
    } else {
      for (let r = Math.min(from, last); r >= 0 && out.length < request.limit; r--) this.#push(out, stream.positions[r]);
    }
    return out;
  }

  #push(out: StoredRecord[], position: number | undefined): void {
    const record = position === undefined ? undefined : this.#log[position];
    if (record) out.push(record);
  }

  async readAll(request: BackendReadAllRequest): Promise<StoredRecord[]> {
    const out: StoredRecord[] = [];
    const step = request.direction === 'forwards' ? 1 : -1;
    let p = Number(request.fromPosition);
    if (p >= this.#log.length) p = request.direction === 'forwards' ? this.#log.length : this.#log.length - 1;
    for (; p >= 0 && p < this.#log.length && out.length < request.limit; p += step) {
      const record = this.#log[p];
      if (record) out.push(record);
    }
    return out;
  }

  async headPosition(): Promise<bigint> {
    return BigInt(this.#log.length);
  }

  onCommit(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async scavenge(plan: ScavengePlan): Promise<{ eventsRemoved: number; bytesReclaimed: number }> {
    const run = this.#lock.then(() => {
      let eventsRemoved = 0;
      let bytesReclaimed = 0;
      for (const [p, record] of this.#log.entries()) {
        if (!record || plan.keep(record)) continue;
        this.#log[p] = undefined;
        const stream = this.#streams.get(record.streamId)!;
        if (record.revision !== TOMBSTONE_REVISION) stream.positions[Number(record.revision)] = undefined;
        eventsRemoved += 1;
        bytesReclaimed += record.data.length + record.metadata.length;
      }
      return { eventsRemoved, bytesReclaimed };
    });
    this.#lock = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }

  #stream(streamId: string): MemoryStream {
    let stream = this.#streams.get(streamId);
    if (!stream) {
      stream = { positions: [], ids: new Map(), tombstonePosition: undefined, softDeleted: false };
      this.#streams.set(streamId, stream);
    }
    return stream;
  }

  #state(streamId: string): StreamState {
    const stream = this.#streams.get(streamId);
    const meta = this.#streams.get(`$$${streamId}`);
    if (!stream && !meta) return NEW_STREAM;
    return {
      lastRevision: BigInt((stream?.positions.length ?? 0) - 1),
      tombstoned: stream?.tombstonePosition !== undefined,
      softDeleted: stream?.softDeleted ?? false,
      metadataExists: (meta?.positions.length ?? 0) > 0,
    };
  }

  #lookup(streamId: string): StreamIdLookup {
    const stream = this.#streams.get(streamId);
    return {
      idsFrom: (from, count) => {
        const ids: string[] = [];
        for (let r = Number(from); stream && r < stream.positions.length && ids.length < count; r++) {
          const p = stream.positions[r];
          // A scavenged event's id is gone; the retry can no longer be recognised, as in Event Store.
          ids.push(p === undefined ? '' : this.#log[p]!.id);
        }
        return ids;
      },
      revisionOf: (id) => stream?.ids.get(id),
    };
  }
}

function pick(e: PreparedWrite['events'][number]): Pick<StoredRecord, 'id' | 'type' | 'isJson' | 'data' | 'metadata'> {
  return { id: e.id, type: e.type, isJson: e.isJson, data: e.data, metadata: e.metadata };
}
