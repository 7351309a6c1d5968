// Management of projections from Node: create, update (redeploy), enable, disable, reset, delete,
// status, state and result per partition. Definitions are persisted as Event Store persists them
// (§1.11): `$ProjectionCreated`/`$ProjectionDeleted` in `$projections-$all` and a
// `$ProjectionUpdated` per change in `$projections-{name}`, so projections survive a restart and
// resume from their checkpoints. Transient projections are never persisted.
import { StreamNotFoundError } from '../../store/errors.js';
import type { RecordedEvent, Store } from '../../store/types.js';
import { systemClock, type Clock } from './clock.js';
import { ProjectionExistsError, ProjectionInvalidError, ProjectionNotFoundError, ProjectionNotStoppedError } from './errors.js';
import { compileProjection, IsolateProcessor } from './processor.js';
import { checkConfigChange, configOf, DEFAULT_PROJECTION_CONFIG, withConfigChange, type PersistedConfig, type ProjectionConfig } from './projection-config.js';
import { ProjectionLog, type ProjectionLogEntry } from './projection-log.js';
import { ProjectionRunner, type ProjectionFault, type ProjectionMode, type ProjectionRunStatus, type RunnerLogger } from './projection-runner.js';
import {
  checkpointStream,
  definitionStream,
  PARTITION_TYPE,
  partitionsStream,
  PROJECTION_CREATED_TYPE,
  PROJECTION_DELETED_TYPE,
  PROJECTION_UPDATED_TYPE,
  REGISTRY_STREAM,
  resultStream,
} from './projection-streams.js';
import { defaultSandboxLimits, type SandboxLimits } from './sandbox.js';
import { definitionProblem, readerOf } from './source-definition.js';
import { readPointBefore, type StartFrom } from './start-position.js';
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
  /**
   * Transient projections (queries) only: start at this `$all` position (inclusive), or at the
   * first event stored at or after this time, instead of the beginning. @defaultValue the beginning
   */
  readonly from?: StartFrom;
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
interface PersistedProjection extends PersistedConfig {
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
  /** A query's start (transient projections). */
  readonly from: StartFrom | undefined;
  /**
   * Disabled after its runner faulted or completed: Event Store then reports it Stopped
   * (ManagedProjection.StopUnlessPreparedOrLoaded), and `enable` starts a fresh runner.
   */
  stoppedAfterEnd: boolean;
  /** The config changed while stopped: `enable` starts a runner built with the new one. */
  reconfigured: boolean;
}

const silentLogger: RunnerLogger = { debug() {}, warn() {} };

export class ProjectionManager {
  readonly #store: Store;
  readonly #options: ProjectionManagerOptions;
  readonly #clock: Clock;
  readonly #logger: RunnerLogger;
  readonly #projections = new Map<string, Managed>();
  readonly #log: ProjectionLog;
  #started = false;
  #nextId = 1;

  constructor(store: Store, options: ProjectionManagerOptions = {}) {
    this.#store = store;
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#log = new ProjectionLog(this.#clock);
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
    if (options.from !== undefined && mode !== 'transient') throw new TypeError('`from` is for transient projections (queries) only');
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
    const managed = this.#add(name, persisted, options.from);
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
      this.#replaceRunner(m);
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
      if (m.runner.status === 'Faulted' || m.runner.status === 'Completed' || m.reconfigured) {
        await m.runner.dispose();
        this.#replaceRunner(m);
      }
      m.stoppedAfterEnd = false;
      await m.runner.start();
    });
  }

  /** Stops after writing a checkpoint. */
  async disable(name: string): Promise<void> {
    const m = this.#get(name);
    await this.#serial(m, async () => {
      // A runner that faulted or completed has nothing left to stop; the projection now reports
      // Stopped, as Event Store's does. (A fault while writing the final checkpoint stays Faulted.)
      if (m.runner.status === 'Faulted' || m.runner.status === 'Completed') m.stoppedAfterEnd = true;
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
      this.#replaceRunner(m);
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
      this.#log.forget(name);
    });
  }

  list(): ProjectionStatus[] {
    return [...this.#projections.keys()].map((name) => this.status(name));
  }

  status(name: string): ProjectionStatus {
    const m = this.#get(name);
    const r = m.runner;
    const point = r.settledPoint ?? r.point;
    const stopped = m.stoppedAfterEnd;
    return {
      name,
      mode: m.persisted.Mode,
      kind: isSystemProjection(name) && m.persisted.HandlerType.startsWith('native:') ? 'system' : 'js',
      enabled: m.persisted.Enabled,
      status: stopped ? 'Stopped' : r.status,
      position: point === undefined ? undefined : point.kind === 'all' ? point.position.toString() : `${point.revision}@${point.streamId}`,
      eventsProcessed: r.eventsProcessed,
      rate: r.rate,
      lag: undefined,
      // Event Store gives the fault's reason only while Faulted; the projection's log keeps it.
      lastError: stopped ? undefined : r.fault,
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

  /**
   * The partitions of a partitioned projection (`partitionBy`, `foreachStream`) in the order they
   * got their first state, from its catalogue stream `$projections-{name}-partitions` as Event
   * Store writes it; only those since its last reset.
   */
  async partitions(name: string): Promise<string[]> {
    const epoch = this.#get(name).persisted.Epoch;
    const out: string[] = [];
    try {
      for await (const e of this.#store.readStream(partitionsStream(name))) {
        if (e.type === PARTITION_TYPE && e.metadata.$e === epoch) out.push(Buffer.from(e.dataBytes).toString());
      }
    } catch (err) {
      if (!(err instanceof StreamNotFoundError)) throw err;
    }
    return out;
  }

  /** The query text of a projection. */
  query(name: string): string {
    return this.#get(name).persisted.Query;
  }

  /** Its configuration, in Event Store's shape (`GET /projection/{name}/config`). */
  config(name: string): ProjectionConfig {
    const p = this.#get(name).persisted;
    return configOf(p, this.#handledThreshold(p));
  }

  /**
   * Changes some of its configuration (`PUT /projection/{name}/config`); keys left out keep their
   * values. As in Event Store the projection must be stopped or faulted (a transient one need
   * not be); the change is persisted and applies from its next `enable`. Throws
   * `InvalidArgumentError` for an unknown key or a bad value, `ProjectionNotStoppedError` while it runs.
   */
  async updateConfig(name: string, change: Partial<ProjectionConfig>): Promise<ProjectionConfig> {
    const m = this.#get(name);
    const c = checkConfigChange(change);
    const native = m.persisted.HandlerType.startsWith('native:');
    if (native && c.checkpointHandledThreshold !== undefined && c.checkpointHandledThreshold !== this.#handledThreshold(m.persisted)) {
      throw new ProjectionInvalidError(name, `'${name}' is a system projection: it checkpoints every ${this.#handledThreshold(m.persisted)} handled events, which cannot be changed`);
    }
    await this.#serial(m, async () => {
      const status = this.status(name).status;
      if (m.persisted.Mode !== 'transient' && status !== 'Stopped' && status !== 'Faulted') throw new ProjectionNotStoppedError(name, status, 'change the config');
      m.persisted = { ...withConfigChange(m.persisted, c), Version: m.persisted.Version + 1 };
      if (m.persisted.Mode !== 'transient') await this.#persist(name, m.persisted);
      m.reconfigured = true;
    });
    return this.config(name);
  }

  /** What it logged with `log()` and its faults, kept in memory, oldest first: entries with `seq` above `after`. */
  logs(name: string, after = 0): ProjectionLogEntry[] {
    this.#get(name);
    return this.#log.entries(name, after);
  }

  /** Resolves once it has a log entry with `seq` above `after`, or the signal aborts (a long poll). */
  async whenLogged(name: string, after: number, signal?: AbortSignal): Promise<void> {
    this.#get(name);
    await this.#log.whenAfter(name, after, signal);
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

  #add(name: string, persisted: PersistedProjection, from?: StartFrom): Managed {
    const id = this.#nextId++;
    const managed: Managed = { name, persisted, id, runner: this.#runner(name, persisted, id, from), lock: Promise.resolve(), from, stoppedAfterEnd: false, reconfigured: false };
    this.#projections.set(name, managed);
    return managed;
  }

  /** A new runner from the persisted definition and config (the old one is disposed or never ran). */
  #replaceRunner(m: Managed): void {
    m.runner = this.#runner(m.name, m.persisted, m.id, m.from);
    m.stoppedAfterEnd = false;
    m.reconfigured = false;
  }

  /** The config's checkpointHandledThreshold, else the limits'; the system projections' native code fixes theirs. */
  #handledThreshold(p: PersistedProjection): number {
    if (p.HandlerType.startsWith('native:')) return DEFAULT_PROJECTION_CONFIG.checkpointHandledThreshold;
    return p.CheckpointHandledThreshold ?? p.Limits?.checkpointHandledThreshold ?? this.#options.limits?.checkpointHandledThreshold ?? defaultSandboxLimits.checkpointHandledThreshold;
  }

  #runner(name: string, p: PersistedProjection, id: number, from?: StartFrom): ProjectionRunner {
    const limits = { ...this.#options.limits, ...p.Limits, ...(p.CheckpointHandledThreshold !== undefined ? { checkpointHandledThreshold: p.CheckpointHandledThreshold } : {}) };
    const factory = p.HandlerType.startsWith('native:') && isSystemProjection(name) ? systemProcessorFactory(name) : IsolateProcessor.factory(p.Query, limits);
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
        ...(from !== undefined ? { startAfter: (reader) => readPointBefore(this.#store, reader, from) } : {}),
      },
      this.#store,
      factory,
      this.#clock,
      this.#log.loggerFor(name, this.#logger),
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
