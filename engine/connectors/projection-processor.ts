// Deployed JS rules (Event Store-style projections, with the patterns/ library) as a worker's
// `PartitionProcessor`: for each Kafka partition a worker owns, each rule runs in its own isolate
// (the projection runtime's `IsolateProcessor`), and the partition's checkpointed state holds, per
// rule, what a projection checkpoint holds — the root (or shared) state, the partition states of a
// `foreachStream`/`partitionBy` rule, the timers, the watermark and the latest event time.
//
// Every Kafka batch is one projection batch ending in a flush, so the state handed back is always
// complete and the outputs of a batch are exactly what the rules emitted for it. Emitted and linked
// events become worker outputs caused by the event being handled when they were emitted; the
// worker gives them ids derived from that record, so a replay from a checkpoint writes nothing twice.
//
// The isolate keeps the state between batches; it is rebuilt from the checkpoint whenever the state
// it is handed is not the one it produced last (a partition that moved here, a commit that failed).
import { InvalidArgumentError } from '../../store/errors.js';
import type { RecordedEvent } from '../../store/types.js';
import type { BatchItem } from '../projections/batch-encoder.js';
import { ProjectionFaultedError } from '../projections/errors.js';
import { compileProjection, IsolateProcessor, type Processor } from '../projections/processor.js';
import { PROJECTION_PREFIX } from '../projections/projection-streams.js';
import type { BatchOutput, RestoredState, SandboxLimits } from '../projections/sandbox.js';
import { definitionProblem, isPartitioned, wantedEventTypes, type SourceDefinition } from '../projections/source-definition.js';
import type { PartitionProcessor, ProcessResult, WorkerEvent, WorkerOutput } from './kafka-worker.js';

/** A rule to run: its name (outputs and state are kept under it) and its script. */
export interface ProjectionRule {
  readonly name: string;
  readonly source: string;
}

/** One rule's state in one Kafka partition: what a projection checkpoint holds. */
export interface RuleCheckpoint {
  root?: unknown;
  shared?: unknown;
  rootResult?: string | null;
  /** Partition states of a `foreachStream()` / `partitionBy()` rule, by partition key. */
  parts: Record<string, unknown>;
  timers: [number, string][];
  wm?: number;
  maxT?: number;
}

/** A Kafka partition's state: one checkpoint per rule, by rule name. */
export type ProjectionPartitionState = Record<string, RuleCheckpoint>;

export interface ProjectionProcessorOptions {
  readonly rules: readonly ProjectionRule[];
  /** Isolate limits (memory, batch time, partition cache). */
  readonly limits?: Partial<SandboxLimits>;
}

export interface ProjectionPartitionProcessor extends PartitionProcessor<ProjectionPartitionState> {
  /** Each rule's declared sources and handlers, as the runtime compiled them. */
  readonly definitions: ReadonlyMap<string, SourceDefinition>;
  /** Frees the isolates of a partition this worker no longer owns. */
  release(partition: number): void;
  /** Frees every isolate. */
  dispose(): void;
}

interface Compiled {
  readonly rule: ProjectionRule;
  readonly definition: SourceDefinition;
  readonly partitioned: boolean;
  /** Whether an event goes to this rule at all (its source and the event types it handles). */
  readonly accepts: (e: WorkerEvent) => boolean;
}

/** One rule in one Kafka partition: its isolate, and the state object it last produced. */
interface Slot {
  readonly processor: Processor;
  owner: ProjectionPartitionState;
}

/** Compiles the rules (a script that does not compile or declares an impossible source is refused here). */
export async function createProjectionProcessor(options: ProjectionProcessorOptions): Promise<ProjectionPartitionProcessor> {
  if (!Array.isArray(options.rules) || options.rules.length === 0) throw new InvalidArgumentError('At least one rule is required');
  const limits = options.limits ?? {};
  const names = new Set<string>();
  const compiled: Compiled[] = [];
  for (const rule of options.rules) {
    if (typeof rule.name !== 'string' || rule.name.length === 0) throw new InvalidArgumentError('A rule needs a name');
    if (names.has(rule.name)) throw new InvalidArgumentError(`Two rules are named '${rule.name}'`);
    names.add(rule.name);
    const definition = await compileProjection(rule.name, rule.source, limits);
    const problem = definitionProblem(definition);
    if (problem !== undefined) throw new InvalidArgumentError(`Rule '${rule.name}': ${problem}`);
    compiled.push({ rule, definition, partitioned: isPartitioned(definition), accepts: acceptor(definition) });
  }
  const slots = new Map<string, Slot>();
  const slotKey = (partition: number, rule: string) => `${partition}\u0000${rule}`;

  const slotFor = async (partition: number, c: Compiled, state: ProjectionPartitionState): Promise<Slot> => {
    const key = slotKey(partition, c.rule.name);
    const existing = slots.get(key);
    if (existing !== undefined && existing.owner === state) return existing;
    existing?.processor.dispose();
    slots.delete(key);
    const checkpoint = (state[c.rule.name] ??= { parts: {}, timers: [] });
    const slot: Slot = {
      owner: state,
      processor: (
        await IsolateProcessor.factory(c.rule.source, limits)({
          name: c.rule.name,
          // Partition states the isolate does not hold come from the checkpoint (it asks once per batch).
          loader: async (keys) => {
            const parts = slot.owner[c.rule.name]?.parts ?? {};
            const out: Record<string, { s: unknown } | null> = {};
            for (const k of keys) out[k] = Object.prototype.hasOwnProperty.call(parts, k) ? { s: parts[k] } : null;
            return out;
          },
        })
      ).processor,
    };
    try {
      await slot.processor.restore(restoredFrom(checkpoint, c), true);
    } catch (e) {
      slot.processor.dispose();
      throw e;
    }
    slots.set(key, slot);
    return slot;
  };

  const runRule = async (partition: number, c: Compiled, state: ProjectionPartitionState, events: readonly WorkerEvent[]): Promise<WorkerOutput[]> => {
    const chosen: WorkerEvent[] = [];
    for (const e of events) if (c.accepts(e)) chosen.push(e);
    if (chosen.length === 0) return [];
    const slot = await slotFor(partition, c, state);
    const items = chosen.map(toBatchItem);
    let out: BatchOutput;
    try {
      out = await slot.processor.process(items, true);
    } catch (e) {
      // A timeout or an out-of-memory disposed the isolate: the next batch builds a new one.
      slots.delete(slotKey(partition, c.rule.name));
      throw e;
    }
    if (out.fault !== undefined) {
      slots.delete(slotKey(partition, c.rule.name));
      slot.processor.dispose();
      const cause = chosen[out.fault.index];
      throw new ProjectionFaultedError(
        c.rule.name,
        `${out.fault.message}${cause === undefined ? '' : ` (Kafka partition ${cause.partition}, offset ${cause.offset})`}`,
        { line: out.fault.line ?? undefined, column: out.fault.column ?? undefined },
      );
    }
    const checkpoint = state[c.rule.name]!;
    const flush = out.flush;
    if (flush !== undefined) {
      if (flush.root !== undefined) {
        checkpoint.root = flush.rootJson === undefined ? flush.root[0] : (JSON.parse(flush.rootJson) as unknown);
        if (flush.root.length === 2) checkpoint.rootResult = flush.root[1];
      }
      if (flush.shared !== undefined) checkpoint.shared = flush.shared;
      for (const part of flush.parts) checkpoint.parts[part[0]] = part[1];
      checkpoint.timers = [...flush.timers];
      checkpoint.wm = flush.wm;
      checkpoint.maxT = flush.maxT;
    }
    const outputs: WorkerOutput[] = [];
    for (const [stream, type, data, metadata, kind, index] of out.emits) {
      if (stream.startsWith(PROJECTION_PREFIX) || stream.startsWith('$$')) {
        throw new ProjectionFaultedError(c.rule.name, `Cannot emit to '${stream}': projection bookkeeping streams and metastreams are written by the engine only`);
      }
      const causedBy = chosen[index];
      if (causedBy === undefined) throw new ProjectionFaultedError(c.rule.name, 'internal: an emitted event without the event that caused it');
      outputs.push({
        streamId: stream,
        type,
        // Links ($>, $@) and raw copies are text, as the runtime writes them.
        data: kind === 'r' ? Buffer.from(String(data)) : data,
        ...(metadata === null ? {} : { metadata }),
        causedBy,
      });
    }
    return outputs;
  };

  return {
    definitions: new Map(compiled.map((c) => [c.rule.name, c.definition])),
    initialState: () => ({}),
    async process(state, events, partition): Promise<ProcessResult<ProjectionPartitionState>> {
      // The rules run concurrently, each in its own isolate; outputs keep the rules' order.
      const perRule = await Promise.all(compiled.map((c) => runRule(partition, c, state, events)));
      return { state, outputs: perRule.flat() };
    },
    release(partition) {
      for (const c of compiled) {
        const key = slotKey(partition, c.rule.name);
        slots.get(key)?.processor.dispose();
        slots.delete(key);
      }
    },
    dispose() {
      for (const slot of slots.values()) slot.processor.dispose();
      slots.clear();
    },
  };
}

/** What a fresh isolate is restored from, as the projection runner restores a checkpoint. */
function restoredFrom(c: RuleCheckpoint, compiled: Compiled): RestoredState | undefined {
  if (c.root === undefined && c.shared === undefined && c.timers.length === 0 && c.wm === undefined) return undefined;
  return {
    root: compiled.partitioned ? undefined : c.root,
    shared: c.shared,
    rootResult: c.rootResult,
    timers: c.timers,
    ...(typeof c.wm === 'number' ? { wm: c.wm } : {}),
    ...(typeof c.maxT === 'number' ? { maxT: c.maxT } : {}),
  };
}

/** The rule's source (all, categories, streams) and the event types its handlers take. */
function acceptor(d: SourceDefinition): (e: WorkerEvent) => boolean {
  const types = wantedEventTypes(d);
  const typeSet = types === undefined ? undefined : new Set(types);
  const categories = new Set(d.categories);
  const streams = new Set(d.streams);
  const fromSource = d.allStreams
    ? () => true
    : categories.size > 0
      ? (e: WorkerEvent) => {
          const dash = e.streamId.indexOf('-');
          return e.streamId[0] !== '$' && dash > 0 && categories.has(e.streamId.slice(0, dash));
        }
      : (e: WorkerEvent) => streams.has(e.streamId);
  return typeSet === undefined ? fromSource : (e) => typeSet.has(e.type) && fromSource(e);
}

/**
 * A worker event as the runtime's batch encoder reads an event. The stream revision and the `$all`
 * position a stored event would have are not known here: both are the record's Kafka offset.
 */
function toBatchItem(e: WorkerEvent): BatchItem {
  // An event that carries its JSON bytes is not parsed here: the isolate parses the bodies it reads.
  const metadataBytes = e.metadataBytes ?? Buffer.from(JSON.stringify(e.metadata));
  const dataBytes = e.dataBytes ?? Buffer.from(JSON.stringify(e.data ?? null));
  const event: RecordedEvent = {
    streamId: e.streamId,
    revision: e.offset,
    position: e.offset,
    id: e.id,
    type: e.type,
    isJson: true,
    get data() {
      return e.data;
    },
    get metadata() {
      return e.metadata as Record<string, unknown>;
    },
    dataBytes,
    metadataBytes,
    created: new Date(e.timestamp),
  };
  return event;
}
