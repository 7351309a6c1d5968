// What a command works on: a running server (over its Event Store compatible HTTP API) or a store
// opened in this process (`--db DIR`, `--store URL`). Both sides implement `Connection`, so each
// command is written once; `http-client.ts` and `store-connection.ts` are the two implementations.
import type { ProjectionLogEntry } from '../engine/projections/projection-log.js';
import type { EventData, ExpectedRevision } from '../store/types.js';

/** `$all` is read and followed like a stream, but it is the log, not a stream. */
export const ALL = '$all';

/** An event as the CLI prints, exports and imports it (one JSON Lines line, see docs/cli.md). */
export interface CliEvent {
  readonly streamId: string;
  readonly id: string;
  readonly type: string;
  readonly revision: bigint;
  /** Global position; a server that does not report it leaves it out. */
  readonly position?: bigint;
  readonly created?: Date;
  readonly isJson: boolean;
  /** Parsed JSON when `isJson`, otherwise the raw bytes. */
  readonly data: unknown;
  readonly metadata: Record<string, unknown>;
}

export interface AppendOutcome {
  readonly streamId: string;
  /** Revision of the first event of the batch. */
  readonly firstRevision: bigint;
  /** Revision of the last event now in the stream: the next expected revision. */
  readonly nextExpectedRevision: bigint;
  readonly position?: bigint;
  /** True when every event was already there and nothing was written (known only on --db). */
  readonly idempotent?: boolean;
}

export interface ReadOptions {
  /** Inclusive revision (stream) or position ($all). @defaultValue start forwards, end backwards */
  readonly from?: bigint | 'start' | 'end';
  readonly backwards?: boolean;
  /** @defaultValue unlimited */
  readonly maxCount?: number;
  /** For `$all`: leave out events of `$`-streams. @defaultValue false */
  readonly excludeSystemStreams?: boolean;
}

export interface FollowOptions {
  /** Exclusive: deliver events after this revision/position; 'end' = only new ones. */
  readonly after: bigint | 'start' | 'end';
  /** Stops following (Ctrl-C). */
  readonly signal: AbortSignal;
}

export interface StreamSummary {
  readonly streamId: string;
  /** Events of the stream found in the log (visible or not). */
  readonly events: number;
  readonly lastRevision: bigint;
  readonly deleted: boolean;
}

/** Raw Event Store metadata JSON: `$maxAge`, `$maxCount`, `$tb`, `$cacheControl`, `$acl`, user keys. */
export type RawMetadata = Record<string, unknown>;

export interface MetadataOutcome {
  readonly streamId: string;
  readonly metadata: RawMetadata;
  /** Revision of the metastream's last event; undefined when none was ever set. */
  readonly metastreamRevision?: bigint;
}

export type ProjectionMode = 'continuous' | 'one-time' | 'transient';

export interface DeployOptions {
  readonly name: string;
  readonly query: string;
  readonly mode: ProjectionMode;
  readonly enable: boolean;
  readonly emit: boolean;
}

/** Where a query starts: a `$all` position (inclusive), or the first event stored at or after a time. */
export type QueryFrom = bigint | Date;

/** One line of a projection's log: a `log()` call or a fault (see `GET /projection/{name}/logs`). */
export type ProjectionLogLine = ProjectionLogEntry;

export interface LogsOptions {
  /** Only entries with a higher `seq`. @defaultValue 0 */
  readonly after?: number;
  /** With nothing newer, wait up to this long for an entry (follow mode). */
  readonly waitSeconds?: number;
  readonly signal?: AbortSignal;
}

/** Projection management; every method answers plain JSON values to print. */
export interface ProjectionAdmin {
  deploy(options: DeployOptions): Promise<{ name: string; created: boolean }>;
  list(): Promise<Record<string, unknown>[]>;
  status(name: string): Promise<Record<string, unknown>>;
  state(name: string, partition?: string): Promise<unknown>;
  result(name: string, partition?: string): Promise<unknown>;
  command(name: string, command: 'enable' | 'disable' | 'reset'): Promise<void>;
  delete(name: string): Promise<void>;
  logs(name: string, options?: LogsOptions): Promise<ProjectionLogLine[]>;
  /** Runs a one-time query over history (from `from` when given) and answers its result (and final status). */
  query(query: string, options: { from?: QueryFrom }): Promise<{ result: unknown; status: Record<string, unknown> }>;
}

export interface Connection {
  /** Where commands go, for messages: "server http://…" or "store file:./data". */
  readonly describe: string;
  append(streamId: string, events: readonly EventData[], expectedRevision: ExpectedRevision): Promise<AppendOutcome>;
  /** Several streams in one atomic commit; absent where the target cannot (Event Store's HTTP API). */
  appendMany?(writes: readonly { streamId: string; events: readonly EventData[]; expectedRevision: ExpectedRevision }[]): Promise<AppendOutcome[]>;
  read(streamId: string, options: ReadOptions): AsyncIterable<CliEvent>;
  /** History after `after`, then live events, until the signal aborts. */
  follow(streamId: string, options: FollowOptions): AsyncIterable<CliEvent>;
  delete(streamId: string, options: { hard: boolean; expectedRevision: ExpectedRevision }): Promise<void>;
  getMetadata(streamId: string): Promise<MetadataOutcome>;
  setMetadata(streamId: string, metadata: RawMetadata): Promise<MetadataOutcome>;
  listStreams(options: { includeSystem: boolean }): Promise<StreamSummary[]>;
  readonly projections: ProjectionAdmin;
  close(): Promise<void>;
}
