// What the runner drives: the user's projection in its isolate, or a native system projection.
// Both take batches and answer with the prelude's output shape, so checkpoints, emitted events and
// exactly-once are handled once, in the runner.
import type { RecordedEvent } from '../../store/types.js';
import { BatchEncoder, type BatchItem } from './batch-encoder.js';
import { ProjectionInvalidError } from './errors.js';
import { defaultSandboxLimits, ProjectionSandbox, type BatchOutput, type PageLimits, type PartitionLoader, type RestoredState, type SandboxLimits } from './sandbox.js';
import type { SourceDefinition } from './source-definition.js';

export interface Processor {
  /** Native processors write their outputs as they are (no causation metadata). */
  readonly native: boolean;
  /** Replaces the host pre-filter (system projections decide themselves what they index). */
  readonly accept?: (e: RecordedEvent) => boolean;
  restore(state: RestoredState | undefined, emitEnabled: boolean): Promise<void>;
  /** With `pages`, a flush that changed many partitions may answer their states as page texts (`FlushOutput.pages`). */
  process(items: readonly BatchItem[], flush: boolean, pages?: PageLimits): Promise<BatchOutput>;
  state(partition: string): Promise<{ s: unknown; r?: string | null } | undefined>;
  dispose(): void;
}

export interface ProcessorContext {
  readonly name: string;
  readonly loader: PartitionLoader;
}

export type ProcessorFactory = (context: ProcessorContext) => Promise<{ processor: Processor; definition: SourceDefinition }>;

/** A user projection: its script in its own isolate. */
export class IsolateProcessor implements Processor {
  readonly native = false;
  readonly #sandbox: ProjectionSandbox;
  readonly #encoder = new BatchEncoder();

  constructor(sandbox: ProjectionSandbox) {
    this.#sandbox = sandbox;
  }

  static factory(query: string, limits: Partial<SandboxLimits> = {}): ProcessorFactory {
    return async ({ name, loader }) => {
      let processor: IsolateProcessor | undefined;
      const ids = (seq: number): string => (processor === undefined ? 'null' : processor.#idsOf(seq));
      const bodies = (seq: number, safe: boolean): string => (processor === undefined ? '' : processor.#bodiesOf(seq, safe));
      const { sandbox, definition } = await ProjectionSandbox.create(name, query, { ...defaultSandboxLimits, ...limits }, loader, ids, bodies);
      processor = new IsolateProcessor(sandbox);
      return { processor, definition };
    };
  }

  /**
   * Event ids go with a batch only while handlers read them: the isolate reports whether a batch
   * read `eventId`, and the next batches go without ids until one does (it then asks for the ids
   * of its batch in one round trip). Decoding ids was a quarter of the host's cost per event.
   */
  #withIds = true;
  /**
   * Bodies go with a batch only when handlers read them: a batch that read none makes the next go
   * without, and a handler that then reads one fetches its batch's bodies in one round trip (and
   * the next batches carry them again). Copying bodies into the isolate was the host's largest
   * cost per event for projections that never read them (a count by type, a linkTo).
   */
  #withBodies = true;
  #seq = 0;
  /**
   * Batches the isolate may still ask ids or bodies of: every batch handed and not yet answered,
   * and the last `KEPT_ANSWERED` answered ones (for an event a handler keeps past its batch).
   * Only those: every batch kept here outlives a young-generation collection or two, so each one
   * held makes scavenges copy and promote its events (a fixed 18 batches kept up to 18k events).
   */
  readonly #recent = new Map<number, readonly BatchItem[]>();

  #idsOf(seq: number): string {
    const items = this.#recent.get(seq);
    return items === undefined ? 'null' : this.#encoder.ids(items);
  }

  #bodiesOf(seq: number, safe: boolean): string {
    const items = this.#recent.get(seq);
    if (items === undefined) return '';
    const { bodies, ascii } = this.#encoder.bodies(items, safe);
    return (ascii ? 'A' : 'U') + bodies;
  }

  restore(state: RestoredState | undefined, emitEnabled: boolean): Promise<void> {
    return this.#sandbox.restore(state, emitEnabled);
  }

  async process(items: readonly BatchItem[], flush: boolean, pages?: PageLimits): Promise<BatchOutput> {
    const seq = ++this.#seq;
    const withIds = this.#withIds;
    this.#recent.set(seq, items);
    let out = await this.#sandbox.process(this.#encoder.encode(items, false, withIds, this.#withBodies), flush, seq, withIds, pages);
    if (out.reencode === true) out = await this.#sandbox.process(this.#encoder.encode(items, true, withIds), flush, seq, withIds, pages);
    // The isolate answers batches in order: the ones before this that are still kept are done.
    this.#recent.delete(seq - KEPT_ANSWERED);
    if (items.length > 0) {
      this.#withIds = out.ids === true;
      this.#withBodies = out.bodies === true;
    }
    return out;
  }

  state(partition: string): Promise<{ s: unknown; r?: string | null } | undefined> {
    return this.#sandbox.state(partition);
  }

  dispose(): void {
    this.#sandbox.dispose();
  }
}

/** Answered batches whose ids and bodies stay available to events kept past their batch. */
const KEPT_ANSWERED = 2;

/** Checks a script without running it against events: its definition, or the error. */
export async function compileProjection(name: string, query: string, limits: Partial<SandboxLimits> = {}): Promise<SourceDefinition> {
  const { sandbox, definition } = await ProjectionSandbox.create(name, query, { ...defaultSandboxLimits, ...limits }, async () => ({}));
  sandbox.dispose();
  return definition;
}

export { ProjectionInvalidError };
