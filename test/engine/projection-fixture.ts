// Given events, when a projection runs over them, then its states and output streams: the
// fixture every projection specification uses, on a real (memory) store and real isolates.
import { ProjectionManager, type CreateProjectionOptions, type ProjectionManagerOptions, type ProjectionStatus } from '../../engine/index.js';
import { openStore, StreamNotFoundError } from '../../store/index.js';
import type { RecordedEvent, Store } from '../../store/types.js';

export type GivenEvent = readonly [stream: string, type: string, data?: unknown, metadata?: Record<string, unknown>];

export interface Run {
  readonly store: Store;
  readonly manager: ProjectionManager;
  readonly name: string;
  readonly logs: string[];
  status(): ProjectionStatus;
  state(partition?: string): Promise<unknown>;
  result(partition?: string): Promise<unknown>;
  read(stream: string): Promise<RecordedEvent[]>;
  append(...events: GivenEvent[]): Promise<void>;
  /** Waits until the projection has processed everything in the store (or stopped). */
  settle(): Promise<ProjectionStatus>;
  close(): Promise<void>;
}

export async function appendAll(store: Store, events: readonly GivenEvent[]): Promise<void> {
  for (const [stream, type, data, metadata] of events) {
    await store.appendToStream(stream, [{ type, data: data ?? {}, ...(metadata ? { metadata } : {}) }]);
  }
}

export async function readStream(store: Store, stream: string): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  try {
    for await (const e of store.readStream(stream)) out.push(e);
  } catch (err) {
    if (err instanceof StreamNotFoundError) return [];
    throw err;
  }
  return out;
}

export async function project(
  events: readonly GivenEvent[],
  query: string,
  options: CreateProjectionOptions & { manager?: ProjectionManagerOptions; store?: Store } = {},
): Promise<Run> {
  const store = options.store ?? (await openStore('memory:'));
  await appendAll(store, events);
  const logs: string[] = [];
  const manager = new ProjectionManager(store, {
    systemProjections: false,
    logger: { debug: (m) => logs.push(m), warn: () => undefined },
    limits: { batchTimeoutMs: 1000 },
    ...options.manager,
  });
  await manager.start();
  const name = 'p';
  const settle = async (): Promise<ProjectionStatus> => {
    // System projections first: their links are what fromCategory reads.
    for (const s of manager.list()) if (s.name !== name && s.status === 'Running') await manager.whenProcessed(s.name);
    return manager.whenProcessed(name);
  };
  await manager.create(name, query, options);
  const run: Run = {
    store,
    manager,
    name,
    logs,
    status: () => manager.status(name),
    state: (partition) => manager.state(name, partition),
    result: (partition) => manager.result(name, partition),
    read: (stream) => readStream(store, stream),
    append: async (...more) => {
      await appendAll(store, more);
      await settle();
    },
    settle,
    close: async () => {
      await manager.close();
      await store.close();
    },
  };
  await settle();
  return run;
}

/** The projection manager of a test and its store; `restart` replaces the manager (same store unless given). */
export interface ManagerContext {
  store: Store;
  manager: ProjectionManager;
  restart(options?: ProjectionManagerOptions, over?: Store): Promise<void>;
}

/**
 * A fresh memory store and a started `ProjectionManager` (no system projections) for each test of
 * the calling `describe`, closed after it.
 */
export function managerPerTest(): ManagerContext {
  const t = {
    async restart(options: ProjectionManagerOptions = {}, over?: Store): Promise<void> {
      await t.manager.close();
      t.manager = new ProjectionManager(over ?? t.store, { systemProjections: false, ...options });
      await t.manager.start();
    },
  } as ManagerContext;
  beforeEach(async () => {
    t.store = await openStore('memory:');
    t.manager = new ProjectionManager(t.store, { systemProjections: false });
    await t.manager.start();
  });
  afterEach(async () => {
    await t.manager.close();
    await t.store.close();
  });
  return t;
}
