import { parseDuration, type DurationInput } from './duration.js';
import { MIN_TIME, defaultEventId, defaultEventTime } from './eventTime.js';
import { addDeadline, newDeadlineQueue, popDeadlines, type DeadlineQueue } from './deadlineQueue.js';
import { pattern, type PatternBuilder, type Condition } from './pattern.js';

/** `[causationId | null, correlationId | null, time, type]` */
type GraphNode = [string | null, string | null, number, string];

/** Who caused what, by `$causationId` / `$correlationId` metadata: plain JSON, kept for
 * `retain` of event time (older nodes are forgotten, their ids reported as unknown). */
export interface CausationGraphState {
  v: 1;
  wm: number;
  nodes: Record<string, GraphNode>;
  /** Event id → ids of the events it caused. */
  children: Record<string, string[]>;
  /** Correlation id → ids of its events. */
  correlated: Record<string, string[]>;
  dq: DeadlineQueue;
  /** Events held now. */
  size: number;
  counts: { added: number; forgotten: number; refused: number };
}

export interface CausationLinks {
  id: string;
  causationId: string | null;
  correlationId: string | null;
  type: string;
  time: number;
}

/** Reads Event Store style metadata (`$causationId`, `$correlationId`) from an object or a JSON string. */
export function causationLinks(event: unknown, time?: number): CausationLinks {
  const e = event as { metadata?: unknown; eventType?: unknown; type?: unknown } | null;
  let meta = e?.metadata;
  if (typeof meta === 'string') {
    try { meta = JSON.parse(meta); } catch { meta = null; }
  }
  const m = (meta ?? {}) as { $causationId?: unknown; $correlationId?: unknown };
  const id = defaultEventId(event);
  if (id === undefined) throw new TypeError('causation graph: event has no id (eventId or id)');
  return {
    id: String(id),
    causationId: m.$causationId == null ? null : String(m.$causationId),
    correlationId: m.$correlationId == null ? null : String(m.$correlationId),
    type: String(e?.eventType ?? e?.type ?? ''),
    time: time ?? defaultEventTime(event),
  };
}

export interface CausationGraphOptions {
  /** How long (event time) an event stays in the graph. @defaultValue '1d' */
  retain?: DurationInput;
  /** Most events held; past it new ones are refused and counted. @defaultValue 100_000 */
  maxNodes?: number;
}

export interface FanOutAlert {
  readonly kind: 'fanOut';
  readonly rule: string;
  /** The event whose direct consequences passed the limit. */
  readonly eventId: string;
  readonly children: number;
  readonly childIds: string[];
  readonly correlationId: string | null;
}

/** A causation/correlation graph with queries, and a fan-out rule over it. */
export class CausationGraph {
  private readonly retain: number;
  private readonly maxNodes: number;
  constructor(readonly name: string, options: CausationGraphOptions = {}, private readonly fanOutLimit: number | null = null) {
    this.retain = parseDuration(options.retain ?? '1d');
    this.maxNodes = options.maxNodes ?? 100_000;
  }

  initialState(): CausationGraphState {
    return { v: 1, wm: MIN_TIME, nodes: Object.create(null), children: Object.create(null), correlated: Object.create(null), dq: newDeadlineQueue(), size: 0, counts: { added: 0, forgotten: 0, refused: 0 } };
  }

  private hydrate(s: CausationGraphState): void {
    if (Object.getPrototypeOf(s.nodes) !== null) {
      s.nodes = Object.assign(Object.create(null), s.nodes);
      s.children = Object.assign(Object.create(null), s.children);
      s.correlated = Object.assign(Object.create(null), s.correlated);
    }
  }

  /** Adds an event; returns fan-out alerts when this graph was made by {@link fanOutRule}. */
  advance(state: CausationGraphState, event: unknown, eventTime?: number): { state: CausationGraphState; alerts: FanOutAlert[] } {
    this.hydrate(state);
    const l = causationLinks(event, eventTime);
    const alerts: FanOutAlert[] = [];
    if (l.time - this.retain > state.wm) this.forget(state, l.time - this.retain);
    if (state.nodes[l.id] !== undefined) return { state, alerts }; // idempotent: a replayed event is not counted twice
    if (state.size >= this.maxNodes) { state.counts.refused++; return { state, alerts }; }
    state.nodes[l.id] = [l.causationId, l.correlationId, l.time, l.type];
    state.size++;
    state.counts.added++;
    addDeadline(state.dq, l.time + this.retain, l.id);
    if (l.causationId !== null) {
      const kids = (state.children[l.causationId] ??= []);
      kids.push(l.id);
      if (this.fanOutLimit !== null && kids.length === this.fanOutLimit + 1) {
        alerts.push({ kind: 'fanOut', rule: this.name, eventId: l.causationId, children: kids.length, childIds: [...kids], correlationId: l.correlationId });
      }
    }
    if (l.correlationId !== null) (state.correlated[l.correlationId] ??= []).push(l.id);
    return { state, alerts };
  }

  onWatermark(state: CausationGraphState, watermark: number): { state: CausationGraphState; alerts: FanOutAlert[] } {
    this.hydrate(state);
    if (watermark - this.retain > state.wm) this.forget(state, watermark - this.retain);
    return { state, alerts: [] };
  }

  /** Drops events older than `before` (their own time + retain has passed). */
  private forget(state: CausationGraphState, before: number): void {
    state.wm = before;
    popDeadlines(state.dq, before + this.retain, (id) => {
      const node = state.nodes[id];
      if (!node) return;
      delete state.nodes[id];
      delete state.children[id];
      if (node[1] !== null) {
        const list = state.correlated[node[1]];
        if (list) {
          const i = list.indexOf(id);
          if (i >= 0) list.splice(i, 1);
          if (list.length === 0) delete state.correlated[node[1]];
        }
      }
      state.counts.forgotten++;
      state.size--;
    });
  }

  /** Causes of `id`, nearest first, up to the root or the first forgotten event. */
  ancestors(state: CausationGraphState, id: string): string[] {
    this.hydrate(state);
    const out: string[] = [];
    const seen = new Set<string>([id]);
    let cur = state.nodes[id]?.[0] ?? null;
    while (cur !== null && !seen.has(cur)) {
      out.push(cur);
      seen.add(cur);
      cur = state.nodes[cur]?.[0] ?? null;
    }
    return out;
  }

  /** Everything `id` caused, directly or not, breadth first. */
  descendants(state: CausationGraphState, id: string): string[] {
    this.hydrate(state);
    const out: string[] = [];
    const seen = new Set<string>([id]);
    const queue = [id];
    for (let i = 0; i < queue.length; i++) {
      for (const c of state.children[queue[i] as string] ?? []) {
        if (seen.has(c)) continue;
        seen.add(c);
        out.push(c);
        queue.push(c);
      }
    }
    return out;
  }

  /** Causation steps from the root (0 for an event with no known cause). */
  depth(state: CausationGraphState, id: string): number {
    return this.ancestors(state, id).length;
  }

  /** Direct consequences of `id`. */
  fanOut(state: CausationGraphState, id: string): number {
    this.hydrate(state);
    return state.children[id]?.length ?? 0;
  }

  /** Events sharing `correlationId`, in the order they were added. */
  correlated(state: CausationGraphState, correlationId: string): string[] {
    this.hydrate(state);
    return [...(state.correlated[correlationId] ?? [])];
  }
}

/** A graph to query (ancestors, descendants, depth, fan-out, correlated). */
export function causationGraph(name: string, options?: CausationGraphOptions): CausationGraph {
  return new CausationGraph(name, options);
}

/** Alerts once when one event directly causes more than `limit` events. */
export function fanOutRule(name: string, limit: number, options?: CausationGraphOptions): CausationGraph {
  if (!Number.isInteger(limit) || limit < 1) throw new TypeError('fanOutRule limit must be a positive integer');
  return new CausationGraph(name, options, limit);
}

/** The correlation id of an event (from metadata), as a key for chain rules. */
export function correlationIdOf(event: unknown): string {
  const l = causationLinks(event, 0);
  return l.correlationId ?? l.id;
}

/**
 * A saga that started and did not finish within `within`: a sequence rule keyed by correlation
 * id, `started` not followed by `finished`. Fires from the watermark like any absence rule.
 */
export function sagaRule<E = any>(name: string, spec: { started: Condition<E>; finished: Condition<E>; within: DurationInput }): PatternBuilder<E> {
  return pattern<E>(name)
    .keyBy((e) => correlationIdOf(e))
    .eventTime((e) => defaultEventTime(e))
    .begin('started', spec.started)
    .notFollowedBy('finished', spec.finished)
    .within(spec.within);
}
