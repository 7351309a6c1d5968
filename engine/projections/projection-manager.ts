// Management of projections from Node: create, update (redeploy), enable, disable, reset, delete,
// status, state and result per partition. Definitions are persisted as Event Store persists them
// (§1.11): `$ProjectionCreated`/`$ProjectionDeleted` in `$projections-$all` and a
// `$ProjectionUpdated` per change in `$projections-{name}`, so projections survive a restart and
// resume from their checkpoints. Transient projections are never persisted.
import { StreamNotFoundError } from '../../store/errors.js';
import type { RecordedEvent, Store } from '../../store/types.js';
import { systemClock, type Clock } from './clock.js';
import { ProjectionExistsError, ProjectionInvalidError, ProjectionNotFoundError } from './errors.js';
import { compileProjection, IsolateProcessor } from './processor.js';
import { ProjectionRunner, type ProjectionFault, type ProjectionMode, type ProjectionRunStatus, type RunnerLogger } from './projection-runner.js';
import {
  checkpointStream,
  definitionStream,
  PROJECTION_CREATED_TYPE,
  PROJECTION_DELETED_TYPE,
  PROJECTION_UPDATED_TYPE,
  REGISTRY_STREAM,
  resultStream,
} from './projection-streams.js';
import type { SandboxLimits } from './sandbox.js';
import { definitionProblem, readerOf } from './source-definition.js';
import { isSystemProjection, SYSTEM_PROJECTIONS, systemProcessorFactory } from './system-projections.js';

export interface ProjectionManagerOptions {
  /**
   * Run the standard projections ($by_category, $by_event_type, $by_correlation_id,
   * $stream_by_category, $streams). Event Store creates them stopped; Telltale runs them unless
   * this is false (or a name is listed), so `fromCategory` works out of the box. The choice is
   * made when they are first created; later `enable`/`disable` calls are persisted.
   * @defaultValue true
   */
  readonly systemProjections?: boolean | readonly string[];
  /** Processing time for rates. @defaultValue the wall clock */
  readonly clock?: Clock;
  readonly logger?: RunnerLogger;
  /** Isolate limits for every user projection (per-projection overrides in `create`). */
  readonly limits?: Partial<SandboxLimits>;
  /** Largest batch handed to a projection at once. @defaultValue 1000 */
  readonly maxBatch?: number;
}

export interface CreateProjectionOptions {
  /** @defaultValue 'continuous' */
  readonly mode?: ProjectionMode;
  /** Whether emit/linkTo/copyTo/linkStreamTo may write (Event Store's `emit`). @defaultValue false */
  readonly emit?: boolean;
  /** Start right away. @defaultValue true */
  readonly enabled?: boolean;
  /** One-time projections only: write checkpoints (continuous ones always do). @defaultValue false */
  readonly checkpoints?: boolean;
  readonly limits?: Partial<SandboxLimits>;
}

export interface UpdateProjectionOptions {
  readonly emit?: boolean;
  /** Start from scratch with the new definition instead of resuming from the checkpoint. @defaultValue false */
  readonly resetState?: boolean;
}

export interface DeleteProjectionOptions {
  readonly deleteCheckpointStream?: boolean;
  /** Soft-deletes the result stream (Event Store's `deleteStateStream`). */
  readonly deleteStateStream?: boolean;
}

export interface ProjectionStatus {
  readonly name: string;
  readonly mode: ProjectionMode;
  readonly kind: 'js' | 'system';
  readonly enabled: boolean;
  readonly status: ProjectionRunStatus;
  /** Where it has processed up to: a `$all` position, or `revision@stream` for one-stream sources. */
  readonly position: string | undefined;
  readonly eventsProcessed: number;
  /** Events per second, measured on the injected clock. */
  readonly rate: number;
  /** How far behind: `$all` positions (bytes in the log backend) or stream revisions between the last event and `position`. */
  readonly lag: bigint | undefined;
  readonly lastError: ProjectionFault | undefined;
  readonly partitionsCached: number;
  readonly emitEnabled: boolean;
  readonly epoch: number;
  readonly version: number;
  readonly eventTime: { readonly watermark: number | undefined; readonly maxEventTime: number | undefined; readonly timers: number };
}

/** The `$ProjectionUpdated` body, with Event Store's PersistedState field names. */
interface PersistedProjection {
  HandlerType: string;
  Query: string;
  Mode: ProjectionMode;
  Enabled: boolean;
  Deleted: boolean;
  EmitEnabled: boolean;
  CheckpointsDisabled: boolean;
  Epoch: number;
  Version: number;
  Limits?: Partial<SandboxLimits>;
}

interface Managed {
  readonly name: string;
  persisted: PersistedProjection;
  id: number;
  runner: ProjectionRunner;
  /** Serialises management operations on one projection. */
  lock: Promise<unknown>;
}

const silentLogger: RunnerLogger = { debug() {}, warn() {} };

export class ProjectionManager {
  readonly #store: Store;
  readonly #options: ProjectionManagerOptions;
  readonly #clock: Clock;
  readonly #logger: RunnerLogger;
  readonly #projections = new Map<string, Managed>();
  #started = false;
  #nextId = 1;

  constructor(store: Store, options: ProjectionManagerOptions = {}) {
    this.#store = store;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Loads persisted projections, creates the system projections on first start, starts what is enabled. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const names: string[] = [];
    for (const e of await this.#read(REGISTRY_STREAM)) {
      const name = e.data as string;
      if (e.type === PROJECTION_CREATED_TYPE && !names.includes(name)) names.push(name);
      if (e.type === PROJECTION_DELETED_TYPE) names.splice(names.indexOf(name) >>> 0, names.includes(name) ? 1 : 0);
    }
    for (const name of names) {
      const events = await this.#read(definitionStream(name));
      const last = events.at(-1);
      if (last === undefined) continue;
      const persisted = last.data as PersistedProjection;
      if (persisted.Deleted) continue;
      this.#add(name, persisted);
    }
    const wanted = this.#options.systemProjections ?? true;
    for (const name of SYSTEM_PROJECTIONS) {
      if (this.#projections.has(name)) continue;
      const enabled = wanted === true || (Array.isArray(wanted) && wanted.includes(name));
      const persisted: PersistedProjection = {
        HandlerType: `native:${name}`,
        Query: '',
        Mode: 'continuous',
        Enabled: enabled,
        Deleted: false,
        EmitEnabled: true,
        CheckpointsDisabled: false,
        Epoch: 0,
        Version: 0,
      };
      await this.#persist(name, persisted, true);
      this.#add(name, persisted);
    }
    await Promise.all([...this.#projections.values()].filter((m) => m.persisted.Enabled).map((m) => m.runner.start()));
  }

  /** Creates a projection and (unless `enabled: false`) starts it. Throws `ProjectionInvalidError` for a bad script. */
  async create(name: string, query: string, options: CreateProjectionOptions = {}): Promise<void> {
    this.#assertStarted();
    assertName(name);
    if (this.#projections.has(name)) throw new ProjectionExistsError(name);
    await this.#check(name, query, options.limits);
    const mode = options.mode ?? 'continuous';
    const persisted: PersistedProjection = {
      HandlerType: 'JS',
      Query: query,
      Mode: mode,
      Enabled: options.enabled ?? true,
      Deleted: false,
      EmitEnabled: options.emit ?? false,
      CheckpointsDisabled: mode === 'continuous' ? false : !(options.checkpoints ?? false),
      Epoch: 0,
      Version: 0,
      ...(options.limits ? { Limits: options.limits } : {}),
    };
    if (mode !== 'transient') await this.#persist(name, persisted, true);
    const managed = this.#add(name, persisted);
    if (persisted.Enabled) await managed.runner.start();
  }

  /** Redeploys a changed definition; it resumes from its checkpoint unless `resetState`. */
  async update(name: string, query: string, options: UpdateProjectionOptions = {}): Promise<void> {
    const m = this.#get(name);
    this.#assertUserProjection(m);
    await this.#check(name, query, m.persisted.Limits);
    await this.#serial(m, async () => {
      await m.runner.dispose();
      m.persisted = {
        ...m.persisted,
        Query: query,
        EmitEnabled: options.emit ?? m.persisted.EmitEnabled,
        Version: m.persisted.Version + 1,
        Epoch: options.resetState ? m.persisted.Epoch + 1 : m.persisted.Epoch,
      };
      await this.#persist(name, m.persisted);
      m.runner = this.#runner(name, m.persisted, m.id);
      if (m.persisted.Enabled) await m.runner.start();
    });
  }

  async enable(name: string): Promise<void> {
    const m = this.#get(name);
    await this.#serial(m, async () => {
      if (!m.persisted.Enabled) {
        m.persisted = { ...m.persisted, Enabled: true };
        await this.#persist(name, m.persisted);
      }
      if (m.runner.status === 'Faulted' || m.runner.status === 'Completed') {
        await m.runner.dispose();
        m.runner = this.#runner(name, m.persisted, m.id);
      }
      await m.runner.start();
    });
  }

  /** Stops after writing a checkpoint. */
  async disable(name: string): Promise<void> {
    const m = this.#get(name);
    await this.#serial(m, async () => {
      await m.runner.dispose();
      if (m.persisted.Enabled) {
        m.persisted = { ...m.persisted, Enabled: false };
        await this.#persist(name, m.persisted);
      }
    });
  }

  /**
   * Starts over from the beginning: a new epoch, so the old checkpoint and partition states are
   * ignored and emitted events get new ids. Emitted streams are not deleted (as in Event Store
   * without `trackemittedstreams`).
   */
  async reset(name: string): Promise<void> {
    const m = this.#get(name);
    await this.#serial(m, async () => {
      await m.runner.dispose();
      m.persisted = { ...m.persisted, Epoch: m.persisted.Epoch + 1 };
      if (m.persisted.Mode !== 'transient') await this.#persist(name, m.persisted);
      m.runner = this.#runner(name, m.persisted, m.id);
      if (m.persisted.Enabled) await m.runner.start();
    });
  }

  async delete(name: string, options: DeleteProjectionOptions = {}): Promise<void> {
    const m = this.#get(name);
    this.#assertUserProjection(m);
    await this.#serial(m, async () => {
      await m.runner.dispose();
      if (m.persisted.Mode !== 'transient') {
        m.persisted = { ...m.persisted, Enabled: false, Deleted: true };
        await this.#persist(name, m.persisted);
        await this.#store.appendToStream(REGISTRY_STREAM, [{ type: PROJECTION_DELETED_TYPE, data: name }]);
        if (options.deleteCheckpointStream) await this.#softDelete(checkpointStream(name));
        if (options.deleteStateStream) await this.#softDelete(m.runner.definition?.resultStreamName ?? resultStream(name));
      }
      this.#projections.delete(name);
    });
  }

  list(): ProjectionStatus[] {
    return [...this.#projections.keys()].map((name) => this.status(name));
  }

  status(name: string): ProjectionStatus {
    const m = this.#get(name);
    const r = m.runner;
    const point = r.settledPoint ?? r.point;
    return {
      name,
      mode: m.persisted.Mode,
      kind: isSystemProjection(name) && m.persisted.HandlerType.startsWith('native:') ? 'system' : 'js',
      enabled: m.persisted.Enabled,
      status: r.status,
      position: point === undefined ? undefined : point.kind === 'all' ? point.position.toString() : `${point.revision}@${point.streamId}`,
      eventsProcessed: r.eventsProcessed,
      rate: r.rate,
      lag: undefined,
      lastError: r.fault,
      partitionsCached: r.partitionsCached,
      emitEnabled: m.persisted.EmitEnabled,
      epoch: m.persisted.Epoch,
      version: m.persisted.Version,
      eventTime: r.eventTime,
    };
  }

  /** Status with `lag`, which needs the store's head. */
  async statistics(name: string): Promise<ProjectionStatus> {
    const s = this.status(name);
    const runner = this.#get(name).runner;
    const point = runner.settledPoint ?? runner.point;
    let lag: bigint | undefined;
    if (point?.kind === 'all') lag = (await this.#lastPosition()) - point.position;
    else if (point?.kind === 'stream') lag = (await this.#store.getStreamInfo(point.streamId)).lastRevision - point.revision;
    return { ...s, lag: lag !== undefined && lag < 0n ? 0n : lag };
  }

  /** The state of the root partition, or of `partition`. Undefined when it has none yet. */
  async state(name: string, partition = ''): Promise<unknown> {
    return (await this.#get(name).runner.state(partition))?.state;
  }

  /** The result (transformBy/filterBy applied to the state), or the state when there are none. */
  async result(name: string, partition = ''): Promise<unknown> {
    return (await this.#get(name).runner.state(partition))?.result;
  }

  /** The query text of a projection. */
  query(name: string): string {
    return this.#get(name).persisted.Query;
  }

  /**
   * Resolves once the projection has read past `position` (its store's head when omitted) and
   * committed, or has stopped, completed or faulted: tests await progress instead of sleeping.
   */
  async whenProcessed(name: string, position?: bigint): Promise<ProjectionStatus> {
    const m = this.#get(name);
    const definition = m.runner.definition;
    const reader = definition === undefined ? undefined : readerOf(definition);
    if (reader?.kind === 'stream') {
      // A stream a system projection writes ($ce-, $et-, $bc-, $category-, $streams) is complete
      // only once that projection has caught up with the log, so wait for it first.
      const feeder = feedingProjection(reader.streamId);
      const system = feeder === undefined ? undefined : this.#projections.get(feeder);
      if (feeder !== undefined && system?.runner.status === 'Running') {
        await this.whenProcessed(feeder, position);
      }
      // A one-stream source is measured in that stream's revisions.
      const target = (await this.#store.getStreamInfo(reader.streamId)).lastRevision;
      await m.runner.whenever((r) => {
        const p = r.settledPoint;
        return target < 0n ? r.idle : p?.kind === 'stream' && p.revision >= target;
      });
      return this.status(name);
    }
    const target = position ?? (await this.#lastPosition());
    await m.runner.whenever((r) => {
      const p = r.settledPoint;
      return p?.kind === 'all' && p.position >= target;
    });
    return this.status(name);
  }

  /** The position of the last event in the store (positions are not dense: the log's are byte offsets). */
  async #lastPosition(): Promise<bigint> {
    for await (const e of this.#store.readAll({ fromPosition: 'end', direction: 'backwards', maxCount: 1 })) return e.position;
    return -1n;
  }

  /** Resolves when `until` holds for the projection's status (checked after each commit). */
  async when(name: string, until: (s: ProjectionStatus) => boolean): Promise<ProjectionStatus> {
    const m = this.#get(name);
    await m.runner.whenever(() => until(this.status(name)));
    return this.status(name);
  }

  /** Stops every projection (writing checkpoints) and frees their isolates. */
  async close(): Promise<void> {
    await Promise.all([...this.#projections.values()].map((m) => this.#serial(m, () => m.runner.dispose())));
  }

  #add(name: string, persisted: PersistedProjection): Managed {
    const id = this.#nextId++;
    const managed: Managed = { name, persisted, id, runner: this.#runner(name, persisted, id), lock: Promise.resolve() };
    this.#projections.set(name, managed);
    return managed;
  }

  #runner(name: string, p: PersistedProjection, id: number): ProjectionRunner {
    const factory = p.HandlerType.startsWith('native:') && isSystemProjection(name) ? systemProcessorFactory(name) : IsolateProcessor.factory(p.Query, { ...this.#options.limits, ...p.Limits });
    return new ProjectionRunner(
      {
        name,
        mode: p.Mode,
        emitEnabled: p.EmitEnabled,
        checkpointsEnabled: !p.CheckpointsDisabled,
        epoch: p.Epoch,
        version: p.Version,
        id,
        maxBatch: this.#options.maxBatch ?? 1000,
      },
      this.#store,
      factory,
      this.#clock,
      this.#logger,
    );
  }

  async #check(name: string, query: string, limits: Partial<SandboxLimits> | undefined): Promise<void> {
    if (typeof query !== 'string') throw new TypeError('A projection query must be a string');
    const definition = await compileProjection(name, query, { ...this.#options.limits, ...limits });
    const problem = definitionProblem(definition);
    if (problem !== undefined) throw new ProjectionInvalidError(name, problem);
  }

  async #persist(name: string, p: PersistedProjection, created = false): Promise<void> {
    if (created) await this.#store.appendToStream(REGISTRY_STREAM, [{ type: PROJECTION_CREATED_TYPE, data: name }]);
    await this.#store.appendToStream(definitionStream(name), [{ type: PROJECTION_UPDATED_TYPE, data: p }]);
  }

  async #softDelete(stream: string): Promise<void> {
    try {
      await this.#store.deleteStream(stream);
    } catch (err) {
      if (!(err instanceof StreamNotFoundError) && (err as { code?: string }).code !== 'wrong-expected-revision') throw err;
    }
  }

  async #read(stream: string): Promise<RecordedEvent[]> {
    const out: RecordedEvent[] = [];
    try {
      for await (const e of this.#store.readStream(stream)) out.push(e);
    } catch (err) {
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
    return out;
  }

  #get(name: string): Managed {
    const m = this.#projections.get(name);
    if (m === undefined) throw new ProjectionNotFoundError(name);
    return m;
  }

  #assertStarted(): void {
    if (!this.#started) throw new TypeError('Call ProjectionManager.start() first');
  }

  #assertUserProjection(m: Managed): void {
    if (m.persisted.HandlerType.startsWith('native:')) throw new ProjectionInvalidError(m.name, `'${m.name}' is a system projection: it can be enabled, disabled or reset, not changed or deleted`);
  }

  #serial<T>(m: Managed, fn: () => Promise<T>): Promise<T> {
    const run = m.lock.then(fn, fn);
    m.lock = run.catch(() => undefined);
    return run;
  }
}

function assertName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || /[\u0000-\u001f]/.test(name)) throw new TypeError('A projection needs a non-empty name without control characters');
}

/** The system projection that writes a stream, if one does. */
function feedingProjection(streamId: string): string | undefined {
  if (streamId.startsWith('$ce-')) return '$by_category';
  if (streamId.startsWith('$et-')) return '$by_event_type';
  if (streamId.startsWith('$bc-')) return '$by_correlation_id';
  if (streamId.startsWith('$category-')) return '$stream_by_category';
  if (streamId === '$streams') return '$streams';
  return undefined;
}
