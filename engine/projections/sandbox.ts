// One projection's isolate: the patterns/ bundle, the prelude and the user's script evaluated in
// a fresh V8 isolate with a memory limit, then batches in as JSON text and results out as JSON
// text, one call per batch. Async calls run on isolated-vm's own threads, so several projections
// use several cores while the host thread keeps reading the store.
//
// Every isolated-vm error becomes a `ProjectionFaultedError` here (STYLE habit 5), with the user's
// line number when V8 gave one. After a timeout or an out-of-memory the isolate is disposed.
import { readFileSync, existsSync } from 'node:fs';
import type { EncodedBatch } from './batch-encoder.js';
import { ProjectionFaultedError, ProjectionInvalidError } from './errors.js';
import ivm, { type IsolatedVM } from './ivm.js';
import { prelude } from './prelude.js';
import type { SourceDefinition } from './source-definition.js';

export interface SandboxLimits {
  /** Isolate heap limit in MiB. @defaultValue 128 */
  readonly memoryLimitMiB: number;
  /** Wall time one batch may take inside the isolate, in ms. @defaultValue 2000 */
  readonly batchTimeoutMs: number;
  /** Time the script may take to define the projection, in ms (Event Store: 500). @defaultValue 500 */
  readonly compileTimeoutMs: number;
  /**
   * Partition states kept inside the isolate (an LRU); the rest are loaded from their checkpoint
   * streams on demand. The same default as Event Store V2's MaxPartitionStateCacheSize.
   * @defaultValue 100000
   */
  readonly partitionCacheSize: number;
  /** A flush (checkpoint) after this many handled events (Event Store: 4000). @defaultValue 4000 */
  readonly checkpointHandledThreshold: number;
  /** A flush when this many partitions are dirty. @defaultValue 10000 */
  readonly maxDirtyPartitions: number;
  /**
   * A root state of 256 KiB of JSON or more is handed over to the host (and checkpointed) less
   * often than every `checkpointHandledThreshold` events: after at least its JSON length divided by
   * this many handled events, so flushes cost on average at most this many bytes of state per
   * handled event. Event Store checkpoints a state of any size every threshold; a rule's state of
   * many MBs (README's one-state form) made that nearly all of a projection's cost, each byte
   * serialised in the isolate, copied, written, fsynced and read back at ~50 ns. Emitted events,
   * which the host holds until the next checkpoint, force a flush after as many of them, but no
   * more than 8 × `checkpointHandledThreshold`, and a caught-up projection still flushes at once.
   * 0 turns the policy off. @defaultValue 64
   */
  readonly checkpointStateBytesPerEvent: number;
}

export const defaultSandboxLimits: SandboxLimits = {
  memoryLimitMiB: 128,
  batchTimeoutMs: 2000,
  compileTimeoutMs: 500,
  partitionCacheSize: 100000,
  checkpointHandledThreshold: 4000,
  maxDirtyPartitions: 10000,
  checkpointStateBytesPerEvent: 64,
};

/** What the isolate answers for one batch (the prelude's `process`). */
export interface BatchOutput {
  readonly n: number;
  readonly h: number;
  /** [stream, type, data, metadata, kind ('e' JSON | 'r' raw text), index of the source event in the batch] */
  readonly emits: readonly [string, string, unknown, Record<string, unknown> | null, 'e' | 'r', number][];
  readonly logs: readonly string[];
  readonly fault?: { message: string; index: number; line: number | null; column: number | null; stack: string | null };
  readonly flush?: FlushOutput;
  readonly reencode?: boolean;
  readonly cached: number;
  /** A handler read `eventId` in this batch. */
  readonly ids?: boolean;
  /** A handler read an event body in this batch (the next batch goes with bodies). */
  readonly bodies?: boolean;
}

export interface FlushOutput {
  /** [state] or [state, resultText|null] when the result changed; the state is null when `rootJson` has it. */
  readonly root?: [unknown] | [unknown, string | null];
  /** The root state as the isolate's JSON text: kept as text, so a state of MBs is never parsed and serialised again on the host. */
  readonly rootJson?: string;
  readonly shared?: unknown;
  /** The changed partitions; with `pages`, only those whose result changed. */
  readonly parts: readonly ([string, unknown] | [string, unknown, string | null])[];
  /**
   * The changed partitions' states as the text of state pages (`[[key, state], …]`), when the
   * flush changed more partitions than the `pages` limits of `process` allow as `parts`.
   */
  readonly pages?: readonly StatePageText[];
  readonly timers: readonly [number, string][];
  readonly wm: number;
  readonly maxT: number;
  /** Partitions given their first state since the last flush, for the partition catalogue. */
  readonly created?: readonly string[];
}

/** One state page: its partitions, and its JSON text `[[key, state], …]` as stored. */
export interface StatePageText {
  readonly keys: readonly string[];
  readonly json: string;
}

/** When a flush's states come as page texts (`FlushOutput.pages`): above `above` changed partitions, pages of at most `chars` characters. */
export interface PageLimits {
  readonly above: number;
  readonly chars: number;
}

/** What a checkpoint gives back to a fresh isolate. */
export interface RestoredState {
  readonly root?: unknown;
  readonly shared?: unknown;
  readonly rootResult?: string | null;
  readonly timers?: readonly [number, string][];
  readonly wm?: number;
  readonly maxT?: number;
}

/** The JSON array of event ids of batch `seq`, for a batch sent without them (`BatchEncoder.ids`). */
export type BatchIds = (seq: number) => string;

/**
 * The bodies of batch `seq`, for a batch sent without them (`BatchEncoder.bodies`): `A` (all ASCII,
 * so header offsets are character offsets) or `U`, then the text; `''` once the host has dropped
 * the batch. `safe` re-serialises each body.
 */
export type BatchBodies = (seq: number, safe: boolean) => string;

/**
 * Loads partition states the isolate asks for: key → {s: state, r: last result text} or null.
 * `batch` is the sequence number of the batch asking (1 for the first `process` call).
 */
export type PartitionLoader = (keys: string[], batch?: number) => Promise<Record<string, { s: unknown; r?: string | null } | null>>;

let bundleSource: string | undefined;

/** The patterns/ library as one script (built by scripts/build-isolate-bundle.js). */
export function isolateBundleSource(): string {
  if (bundleSource === undefined) {
    const file = new URL('../patterns.bundle.js', import.meta.url);
    bundleSource = existsSync(file) ? readFileSync(file, 'utf8') : 'var telltale = {};';
  }
  return bundleSource;
}

/** Exposes each export of the bundle as a global too, so rules read `pattern('x')…`. */
const EXPOSE_LIBRARY = `(function (g) {
  var lib = g.telltale;
  if (!lib || typeof lib !== 'object') return;
  Object.keys(lib).forEach(function (k) {
    if (!(k in g)) Object.defineProperty(g, k, { value: lib[k], writable: true, configurable: true, enumerable: false });
  });
})(globalThis);`;

export class ProjectionSandbox {
  readonly #name: string;
  readonly #limits: SandboxLimits;
  readonly #isolate: IsolatedVM.Isolate;
  #context: IsolatedVM.Context | undefined;
  #process:
    | IsolatedVM.Reference<(headers: string, bodies: string | null, ascii: boolean, flush: boolean, seq: number, withIds: boolean, pagesAbove?: number, pageChars?: number) => string>
    | undefined;
  #getState: IsolatedVM.Reference<(key: string) => string | null> | undefined;
  #progress: IsolatedVM.Reference<() => number> | undefined;
  #filename: string;

  private constructor(name: string, limits: SandboxLimits) {
    this.#name = name;
    this.#limits = limits;
    this.#filename = `${name}.js`;
    this.#isolate = new ivm.Isolate({ memoryLimit: limits.memoryLimitMiB });
  }

  /**
   * Creates the isolate and runs the definition scope. Throws `ProjectionInvalidError` for a
   * script that does not compile or whose definition fails (with the line number).
   */
  static async create(
    name: string,
    query: string,
    limits: SandboxLimits,
    loader: PartitionLoader,
    ids: BatchIds = () => 'null',
    bodies: BatchBodies = () => '',
  ): Promise<{ sandbox: ProjectionSandbox; definition: SourceDefinition }> {
    const sandbox = new ProjectionSandbox(name, limits);
    try {
      const definition = await sandbox.#define(query, loader, ids, bodies);
      return { sandbox, definition };
    } catch (err) {
      sandbox.dispose();
      throw err;
    }
  }

  get disposed(): boolean {
    return this.#isolate.isDisposed;
  }

  async #define(query: string, loader: PartitionLoader, ids: BatchIds, bodies: BatchBodies): Promise<SourceDefinition> {
    const context = await this.#isolate.createContext();
    this.#context = context;
    const jail = context.global;
    await jail.set(
      '__telltaleHostLoad',
      new ivm.Reference(async (keysJson: string, batch?: number) => JSON.stringify(await loader(JSON.parse(keysJson) as string[], batch))),
    );
    await jail.set('__telltaleHostIds', new ivm.Reference(async (seq: number) => ids(seq)));
    await jail.set('__telltaleHostBodies', new ivm.Reference(async (seq: number, safe: boolean) => bodies(seq, safe)));
    await (await this.#isolate.compileScript(isolateBundleSource(), { filename: 'telltale-patterns.js' })).run(context, { timeout: 5000 });
    await context.eval(EXPOSE_LIBRARY, { timeout: 1000 });
    const config = {
      filename: this.#filename,
      partitionCacheSize: this.#limits.partitionCacheSize,
      checkpointHandledThreshold: this.#limits.checkpointHandledThreshold,
      maxDirtyPartitions: this.#limits.maxDirtyPartitions,
      checkpointStateBytesPerEvent: this.#limits.checkpointStateBytesPerEvent,
    };
    await context.eval(`(${prelude.toString()})(globalThis, ${JSON.stringify(config)});`, { timeout: 1000 });
    // The entry points are taken before the user's script runs, so it cannot replace them.
    this.#process = await context.eval('__telltale.process', { reference: true, timeout: 1000 });
    this.#getState = await context.eval('__telltale.getState', { reference: true, timeout: 1000 });
    this.#progress = await context.eval('__telltale.progress', { reference: true, timeout: 1000 });
    const definition = await context.eval('__telltale.definition', { reference: true, timeout: 1000 });
    let script: IsolatedVM.Script;
    try {
      script = await this.#isolate.compileScript(query, { filename: this.#filename });
    } catch (err) {
      throw this.#invalid(err);
    }
    try {
      await script.run(context, { timeout: this.#limits.compileTimeoutMs });
    } catch (err) {
      throw this.#invalid(err, /timed out/i.test(errorMessage(err)) ? 'Projection script took too long to compile' : undefined);
    }
    const text = (await definition.apply(undefined, [], { timeout: 1000 })) as string;
    return JSON.parse(text) as SourceDefinition;
  }

  /** Restores checkpointed state; `emitEnabled` decides whether emit/linkTo fault. */
  async restore(state: RestoredState | undefined, emitEnabled: boolean): Promise<void> {
    const restore = await this.#context!.eval('__telltale.restore', { reference: true, timeout: 1000 });
    await restore.apply(undefined, [state === undefined ? '' : JSON.stringify(state), emitEnabled], { timeout: this.#limits.batchTimeoutMs });
  }

  /**
   * Runs one batch. A throw in user code comes back in `fault`; a timeout or an out-of-memory is
   * thrown as `ProjectionFaultedError` with `eventIndex` when it could still be asked.
   */
  async process(batch: EncodedBatch, flush: boolean, seq = 0, withIds = true, pages?: PageLimits): Promise<BatchOutput> {
    let text: string;
    try {
      text = (await this.#process!.apply(undefined, [batch.headers, batch.bodies, batch.ascii, flush, seq, withIds, pages?.above, pages?.chars], {
        timeout: this.#limits.batchTimeoutMs,
      })) as string;
    } catch (err) {
      throw await this.#runtimeFault(err);
    }
    // A flush with texts kept as they are (the root state's, then state pages') answers
    // "\n{answer}\n" followed by them, their lengths in the answer (see the prelude's `process`).
    if (text.charCodeAt(0) !== 0x0a) return JSON.parse(text) as BatchOutput;
    const end = text.indexOf('\n', 1);
    type Framed = Omit<FlushOutput, 'pages' | 'rootJson'> & { rootChars?: number; pages?: [string[], number][] };
    const out = JSON.parse(text.slice(1, end)) as Omit<BatchOutput, 'flush'> & { flush: Framed };
    const { rootChars, pages: pageLengths, ...kept } = out.flush;
    let at = end + 1;
    const rootJson = rootChars === undefined ? undefined : text.slice(at, (at += rootChars));
    const texts = pageLengths?.map(([keys, length]): StatePageText => ({ keys, json: text.slice(at, (at += length)) }));
    return { ...out, flush: { ...kept, ...(rootJson === undefined ? {} : { rootJson }), ...(texts === undefined ? {} : { pages: texts }) } };
  }

  /** The state (and last result) of a partition held in the isolate; undefined when not cached. */
  async state(partition: string): Promise<{ s: unknown; r?: string | null } | undefined> {
    if (this.disposed) return undefined;
    const text = (await this.#getState!.apply(undefined, [partition], { timeout: 1000 })) as string | null;
    return text === null ? undefined : (JSON.parse(text) as { s: unknown; r?: string | null });
  }

  dispose(): void {
    if (!this.#isolate.isDisposed) this.#isolate.dispose();
  }

  /** Heap used by the isolate, in bytes. */
  heapUsed(): number {
    if (this.disposed) return 0;
    const h = this.#isolate.getHeapStatisticsSync();
    return h.used_heap_size + h.externally_allocated_size;
  }

  async #runtimeFault(err: unknown): Promise<ProjectionFaultedError> {
    const message = errorMessage(err);
    if (this.#isolate.isDisposed || /memory limit|disposed/i.test(message)) {
      this.dispose();
      return new ProjectionFaultedError(this.#name, `Projection ran out of memory (limit ${this.#limits.memoryLimitMiB} MiB): ${message}`, { cause: err });
    }
    if (/timed out/i.test(message)) {
      let index: number | undefined;
      try {
        index = (await this.#progress!.apply(undefined, [], { timeout: 200 })) as number;
      } catch {
        index = undefined;
      }
      this.dispose();
      return new ProjectionFaultedError(this.#name, `Projection script took too long to execute (batch limit ${this.#limits.batchTimeoutMs} ms)`, {
        cause: err,
        eventIndex: index !== undefined && index >= 0 ? index : undefined,
      });
    }
    this.dispose();
    return new ProjectionFaultedError(this.#name, message, { cause: err, ...lineOf(err, this.#filename) });
  }

  #invalid(err: unknown, message?: string): ProjectionInvalidError {
    return new ProjectionInvalidError(this.#name, message ?? errorMessage(err), { cause: err, ...lineOf(err, this.#filename) });
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** isolated-vm reports a script's errors as "message [file:line:column]" or in the stack. */
function lineOf(err: unknown, filename: string): { line?: number; column?: number } {
  const text = err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err);
  const escaped = filename.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`${escaped}:(\\d+):(\\d+)`).exec(text);
  return m ? { line: Number(m[1]), column: Number(m[2]) } : {};
}
