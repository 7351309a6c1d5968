// The events that share a `$correlationId`, as nodes, and who caused whom (`$causationId`), as
// edges: what the correlation view draws. The `$by_correlation_id` system projection indexes them
// in `$bc-{id}`; when that stream is missing (the projection is off, or behind) the newest part of
// `$all` is scanned instead, up to a bound, and the answer says it may be partial.
import { StreamNotFoundError } from '../../store/errors.js';
import type { RecordedEvent, Store } from '../../store/types.js';

/** Events scanned backwards in `$all` when there is no `$bc-` stream. */
const SCAN_LIMIT = 200_000;
/** Most events drawn; a correlation larger than this is cut (and says so). */
const NODE_LIMIT = 2_000;

export interface GraphNode {
  readonly id: string;
  readonly streamId: string;
  readonly revision: string;
  readonly position: string;
  readonly type: string;
  readonly created: string;
  readonly causationId: string | null;
}

export interface CorrelationGraph {
  readonly correlationId: string;
  readonly nodes: readonly GraphNode[];
  /** `[cause, effect]` event ids; only between events in `nodes`. */
  readonly edges: ReadonlyArray<readonly [string, string]>;
  /** Where the events came from: the index stream, or a bounded scan of `$all`. */
  readonly source: 'index' | 'scan';
  /** True when the bound was reached: older events of this correlation may be missing. */
  readonly partial: boolean;
}

function nodeOf(e: RecordedEvent): GraphNode {
  const causation = e.metadata.$causationId;
  return {
    id: e.id,
    streamId: e.streamId,
    revision: e.revision.toString(),
    position: e.position.toString(),
    type: e.type,
    created: e.created.toISOString(),
    causationId: typeof causation === 'string' && causation !== '' ? causation : null,
  };
}

async function fromIndex(store: Store, correlationId: string): Promise<GraphNode[] | undefined> {
  const nodes: GraphNode[] = [];
  try {
    for await (const e of store.readStream(`$bc-${correlationId}`, { resolveLinks: true, maxCount: NODE_LIMIT + 1 })) {
      // A link whose target was deleted resolves to the link itself.
      if (e.link === undefined) continue;
      nodes.push(nodeOf(e));
    }
  } catch (err) {
    if (err instanceof StreamNotFoundError || (err as { code?: string }).code === 'stream-deleted') return undefined;
    throw err;
  }
  return nodes.length === 0 ? undefined : nodes;
}

export async function correlationGraph(store: Store, correlationId: string): Promise<CorrelationGraph> {
  let nodes = await fromIndex(store, correlationId);
  let source: CorrelationGraph['source'] = 'index';
  let partial = false;
  if (nodes === undefined) {
    source = 'scan';
    nodes = [];
    let scanned = 0;
    for await (const e of store.readAll({ direction: 'backwards', maxCount: SCAN_LIMIT, filter: { excludeSystemEvents: true } })) {
      scanned++;
      if (e.streamId.startsWith('$')) continue;
      // The event that starts a correlation often carries its own id as the correlation id, or none.
      if (e.metadata.$correlationId === correlationId || e.id === correlationId) nodes.push(nodeOf(e));
    }
    partial = scanned >= SCAN_LIMIT;
    nodes.reverse();
  }
  if (nodes.length > NODE_LIMIT) {
    nodes = nodes.slice(0, NODE_LIMIT);
    partial = true;
  }
  const ids = new Set(nodes.map((n) => n.id));
  const edges: Array<readonly [string, string]> = [];
  for (const n of nodes) if (n.causationId !== null && n.causationId !== n.id && ids.has(n.causationId)) edges.push([n.causationId, n.id]);
  return { correlationId, nodes, edges, source, partial };
}
