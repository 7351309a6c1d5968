// Runs a rule or projection in this process over given events, with a virtual clock and no server:
// the given events go into a memory store, each stamped with its own `created` time (the clock
// reads that time while it is appended), then the projection runs over them in engine/ exactly as
// a server runs it, and what it emitted and its partition states are read back.
import { ProjectionManager } from '../engine/projections/projection-manager.js';
import { isTelltaleError, TelltaleError } from '../store/errors.js';
import { openStore } from '../store/index.js';
import type { ProjectionMode } from './connection.js';
import type { EventLine } from './event-lines.js';
import type { RuleFile } from './rule-file.js';
import { RuleFaultError, type EmittedEvent, type PartitionState, type RuleRun } from './rule-test.js';

/** Given events without a `created` time follow the previous one by a millisecond, from here. */
const VIRTUAL_EPOCH = Date.UTC(2000, 0, 1);

/** Streams the engine writes for itself, not events a rule emitted. */
const ENGINE_STREAMS = /^\$(\$|projections-|ce-|et-|bc-|category-|streams$)/;

export interface LocalRunOptions {
  readonly name?: string;
  readonly mode?: ProjectionMode;
  /** Where the given events came from, for messages. */
  readonly givenFile: string;
}

export async function runRuleLocally(rule: RuleFile, given: readonly EventLine[], options: LocalRunOptions): Promise<RuleRun> {
  let now = VIRTUAL_EPOCH;
  const clock = () => now;
  const store = await openStore('memory:', { clock });
  const manager = new ProjectionManager(store, { clock });
  const name = options.name ?? (rule.name.replace(/[^A-Za-z0-9_.-]/g, '-') || 'rule');
  try {
    await manager.start();
    const byPosition = new Map<bigint, EventLine>();
    let lastGiven = -1n;
    for (const line of given) {
      now = line.created !== undefined ? Date.parse(line.created) : now + 1;
      const r = await store.appendToStream(line.streamId, [line.event], { expectedRevision: 'any' });
      byPosition.set(r.position, line);
      lastGiven = r.position;
    }
    try {
      await manager.create(name, rule.source, { mode: options.mode ?? 'continuous', emit: true, enabled: true, checkpoints: true });
    } catch (e) {
      throw located(e, rule, byPosition, options.givenFile);
    }
    // Past every given event, then past whatever it emitted in turn (a fromAll rule sees its own output).
    let status = await manager.whenProcessed(name, lastGiven < 0n ? undefined : lastGiven);
    for (let head = await store.headPosition(); status.status === 'Running'; ) {
      status = await manager.whenProcessed(name);
      const next = await store.headPosition();
      if (next === head) break;
      head = next;
    }
    if (status.status === 'Faulted' && status.lastError !== undefined) {
      const f = status.lastError;
      throw new RuleFaultError(faultMessage(rule, f.message, f.line, f.column, f.position, byPosition, options.givenFile));
    }
    const emitted: EmittedEvent[] = [];
    const partitions = new Set<string>();
    const prefix = `$projections-${name}-`;
    for await (const e of store.readAll({})) {
      if (e.streamId.startsWith(prefix) && e.streamId.endsWith('-checkpoint')) {
        const key = e.streamId.slice(prefix.length, -'-checkpoint'.length);
        if (key !== '') partitions.add(key); // '' is the root checkpoint, $projections-{name}-checkpoint
      }
      // A checkpoint that changed many partitions keeps their states in pages of [key, state] pairs.
      if (e.streamId === `${prefix}states` && Array.isArray(e.data)) {
        for (const entry of e.data as unknown[]) if (Array.isArray(entry) && typeof entry[0] === 'string') partitions.add(entry[0]);
      }
      if (e.position <= lastGiven || ENGINE_STREAMS.test(e.streamId)) continue;
      const metadata = { ...e.metadata };
      emitted.push({ streamId: e.streamId, type: e.type, data: e.isJson ? e.data : binaryData(e.dataBytes), ...(Object.keys(metadata).length > 0 ? { metadata } : {}) });
    }
    const states: PartitionState[] = [];
    const root = await manager.state(name);
    if (root !== undefined) states.push({ partition: '', state: root });
    for (const key of [...partitions].sort()) states.push({ partition: key, state: await manager.state(name, key) });
    return { emitted, states };
  } finally {
    await manager.close().catch(() => undefined);
    await store.close();
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Data that is not JSON as Event Store writes it: a link (`$>`) is the text `N@stream`, so it is
 * shown as that text; bytes that are not UTF-8 text stay bytes.
 */
function binaryData(bytes: Uint8Array): unknown {
  try {
    return utf8.decode(bytes);
  } catch {
    return bytes;
  }
}

function givenLine(position: string | undefined, byPosition: ReadonlyMap<bigint, EventLine>): EventLine | undefined {
  if (position === undefined || !/^\d+$/.test(position)) return undefined;
  return byPosition.get(BigInt(position));
}

function faultMessage(
  rule: RuleFile,
  message: string,
  line: number | undefined,
  column: number | undefined,
  position: string | undefined,
  byPosition: ReadonlyMap<bigint, EventLine>,
  givenFile: string,
): string {
  const where = line !== undefined ? `${rule.path}:${line}${column !== undefined ? `:${column}` : ''}` : rule.path;
  const event = givenLine(position, byPosition);
  const during = event
    ? ` (while handling ${givenFile}:${event.line}, a ${event.event.type} on ${event.streamId})`
    : position !== undefined
      ? ` (while handling the event at ${position})`
      : '';
  return `${where}: ${message}${during}`;
}

/** A definition the engine refuses (a wrong chain, a throw while defining) names the file. */
function located(e: unknown, rule: RuleFile, byPosition: ReadonlyMap<bigint, EventLine>, givenFile: string): unknown {
  if (!isTelltaleError(e)) return e;
  const facts = e as { line?: number; column?: number; position?: bigint };
  if (e.code === 'projection-faulted') {
    return new RuleFaultError(faultMessage(rule, e.message, facts.line, facts.column, facts.position?.toString(), byPosition, givenFile));
  }
  if (e.code === 'projection-invalid') {
    const where = facts.line !== undefined ? `${rule.path}:${facts.line}${facts.column !== undefined ? `:${facts.column}` : ''}` : rule.path;
    return new TelltaleError('projection-invalid', `${where}: ${e.message}`, { cause: e });
  }
  return e;
}
