// A projection's configuration as Event Store serves it at `GET|PUT /projection/{name}/config`
// (ProjectionsController's ProjectionConfigData; shared/reference/eventstore-semantics.md §1.13,
// §1.18), and the one check of a change to it. Which settings the runtime honours, and why the
// others cannot be, is in HONOURED and docs/projections.md.
import { InvalidArgumentError } from '../../store/errors.js';

export interface ProjectionConfig {
  /** emit/linkTo/copyTo/linkStreamTo may write; otherwise they fault the projection. Honoured. */
  readonly emitEnabled: boolean;
  /** Always false: emitted streams are not tracked (as in Event Store's engine v2). */
  readonly trackEmittedStreams: boolean;
  /** Not honoured: a checkpoint is written with every flush. @defaultValue 0 */
  readonly checkpointAfterMs: number;
  /** The isolate flushes (a checkpoint commit) after this many handled events; JS projections. @defaultValue 4000 */
  readonly checkpointHandledThreshold: number;
  /** Not honoured: the read point passed by filtered-out events is recorded with the next checkpoint. @defaultValue 10000000 */
  readonly checkpointUnhandledBytesThreshold: number;
  /** Not honoured: the read-ahead queue holds four batches. @defaultValue 5000 */
  readonly pendingEventsThreshold: number;
  /** Not honoured: a flush's emitted events, states and checkpoint are one atomic commit, never split. @defaultValue 500 */
  readonly maxWriteBatchLength: number;
  /** Not honoured: commits go one at a time, in order (0 means unbounded in Event Store). @defaultValue 0 */
  readonly maxAllowedWritesInFlight: number;
  /** Not honoured: the isolate's time limit is per batch (`limits.batchTimeoutMs`), not per handler call. @defaultValue null */
  readonly projectionExecutionTimeout: number | null;
}

/** Event Store's defaults (ProjectionConsts). */
export const DEFAULT_PROJECTION_CONFIG: ProjectionConfig = {
  emitEnabled: false,
  trackEmittedStreams: false,
  checkpointAfterMs: 0,
  checkpointHandledThreshold: 4000,
  checkpointUnhandledBytesThreshold: 10_000_000,
  pendingEventsThreshold: 5000,
  maxWriteBatchLength: 500,
  maxAllowedWritesInFlight: 0,
  projectionExecutionTimeout: null,
};

/** The settings the runtime applies; the others are kept and served back, for Event Store's tools. */
export const HONOURED: readonly (keyof ProjectionConfig)[] = ['emitEnabled', 'trackEmittedStreams', 'checkpointHandledThreshold'];

type Rule = { readonly type: 'boolean' } | { readonly type: 'integer'; readonly min: number; readonly nullable?: boolean };

const RULES: { readonly [K in keyof ProjectionConfig]: Rule } = {
  emitEnabled: { type: 'boolean' },
  trackEmittedStreams: { type: 'boolean' },
  checkpointAfterMs: { type: 'integer', min: 0 },
  checkpointHandledThreshold: { type: 'integer', min: 1 },
  checkpointUnhandledBytesThreshold: { type: 'integer', min: 0 },
  pendingEventsThreshold: { type: 'integer', min: 0 },
  maxWriteBatchLength: { type: 'integer', min: 0 },
  maxAllowedWritesInFlight: { type: 'integer', min: 0 },
  projectionExecutionTimeout: { type: 'integer', min: 1, nullable: true },
};

const KEYS = Object.keys(RULES) as (keyof ProjectionConfig)[];

/**
 * Checks a change (a JSON object with some of the keys): an unknown key, a value of the wrong type
 * or out of range, or a setting the runtime cannot have is an `InvalidArgumentError` naming it.
 * Keys left out keep their values (Event Store would reset them to 0).
 */
export function checkConfigChange(change: unknown): Partial<ProjectionConfig> {
  if (change === null || typeof change !== 'object' || Array.isArray(change)) {
    throw new InvalidArgumentError(`A projection config is a JSON object with some of: ${KEYS.join(', ')}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(change)) {
    const rule = RULES[key as keyof ProjectionConfig] as Rule | undefined;
    if (rule === undefined) throw new InvalidArgumentError(`Unknown projection config key '${key}'; the keys are ${KEYS.join(', ')}`);
    if (rule.type === 'boolean') {
      if (typeof value !== 'boolean') throw new InvalidArgumentError(`${key} must be true or false, got ${JSON.stringify(value)}`);
    } else if (!(value === null && rule.nullable === true) && (typeof value !== 'number' || !Number.isSafeInteger(value) || value < rule.min)) {
      throw new InvalidArgumentError(`${key} must be a whole number of at least ${rule.min}${rule.nullable ? ' or null' : ''}, got ${JSON.stringify(value)}`);
    }
    out[key] = value;
  }
  if (out.trackEmittedStreams === true) {
    // Event Store's engine v2 refuses it the same way; Telltale never tracked emitted streams.
    throw new InvalidArgumentError('trackEmittedStreams cannot be turned on: Telltale does not track emitted streams (as Event Store\'s engine v2)');
  }
  return out as Partial<ProjectionConfig>;
}

/** The config as the persisted definition holds it (Event Store's PersistedState field names). */
export interface PersistedConfig {
  readonly EmitEnabled: boolean;
  /** Absent: the runtime's limits decide (`checkpointHandledThreshold`, 4000 by default). */
  readonly CheckpointHandledThreshold?: number;
  readonly CheckpointAfterMs?: number;
  readonly CheckpointUnhandledBytesThreshold?: number;
  readonly PendingEventsThreshold?: number;
  readonly MaxWriteBatchLength?: number;
  readonly MaxAllowedWritesInFlight?: number;
  readonly ProjectionExecutionTimeout?: number | null;
}

/** The config served for a persisted definition; `handledThreshold` is the one in force. */
export function configOf(p: PersistedConfig, handledThreshold: number): ProjectionConfig {
  const d = DEFAULT_PROJECTION_CONFIG;
  return {
    emitEnabled: p.EmitEnabled,
    trackEmittedStreams: false,
    checkpointAfterMs: p.CheckpointAfterMs ?? d.checkpointAfterMs,
    checkpointHandledThreshold: handledThreshold,
    checkpointUnhandledBytesThreshold: p.CheckpointUnhandledBytesThreshold ?? d.checkpointUnhandledBytesThreshold,
    pendingEventsThreshold: p.PendingEventsThreshold ?? d.pendingEventsThreshold,
    maxWriteBatchLength: p.MaxWriteBatchLength ?? d.maxWriteBatchLength,
    maxAllowedWritesInFlight: p.MaxAllowedWritesInFlight ?? d.maxAllowedWritesInFlight,
    projectionExecutionTimeout: p.ProjectionExecutionTimeout ?? d.projectionExecutionTimeout,
  };
}

/** The persisted definition with a checked change applied. */
export function withConfigChange<P extends PersistedConfig>(p: P, c: Partial<ProjectionConfig>): P {
  const set = <K extends keyof PersistedConfig>(key: K, value: PersistedConfig[K] | undefined) => (value === undefined ? {} : { [key]: value });
  return {
    ...p,
    ...set('EmitEnabled', c.emitEnabled),
    ...set('CheckpointHandledThreshold', c.checkpointHandledThreshold),
    ...set('CheckpointAfterMs', c.checkpointAfterMs),
    ...set('CheckpointUnhandledBytesThreshold', c.checkpointUnhandledBytesThreshold),
    ...set('PendingEventsThreshold', c.pendingEventsThreshold),
    ...set('MaxWriteBatchLength', c.maxWriteBatchLength),
    ...set('MaxAllowedWritesInFlight', c.maxAllowedWritesInFlight),
    ...set('ProjectionExecutionTimeout', c.projectionExecutionTimeout),
  };
}
