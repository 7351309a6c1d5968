// The five standard projections (shared/reference/eventstore-semantics.md §1.17), native as in
// Event Store (`native:…Standard.*`), run by the same runner as user projections so their links
// and checkpoints are written in one commit too.
//
// Telltale differs from Event Store in two ways, both documented in docs/projections.md:
// - they run by default (Event Store creates them stopped, so `fromCategory` silently sees nothing
//   on a fresh database); `ProjectionManager` options or `disable()` turn them off;
// - they skip the engine's own `$projections-…` streams, so checkpoints are never indexed.
import { isSoftDeleteMarker } from '../../store/metadata.js';
import { LINK_EVENT_TYPE, METADATA_EVENT_TYPE, TOMBSTONE_EVENT_TYPE, TOMBSTONE_REVISION } from '../../store/stream-name.js';
import type { RecordedEvent } from '../../store/types.js';
import { isDeletionNotice, type BatchItem } from './batch-encoder.js';
import type { Processor, ProcessorFactory } from './processor.js';
import { isBookkeepingStream } from './projection-streams.js';
import type { BatchOutput } from './sandbox.js';
import type { SourceDefinition } from './source-definition.js';

export const SYSTEM_PROJECTIONS = ['$streams', '$stream_by_category', '$by_category', '$by_event_type', '$by_correlation_id'] as const;
export type SystemProjectionName = (typeof SYSTEM_PROJECTIONS)[number];

const MIN_TIME = -8_640_000_000_000_000;

/** Event Store's category rule (`first` + `-` by default): the text before the separator. */
export function categoryOf(streamId: string, separator = '-', which: 'first' | 'last' = 'first'): string | undefined {
  if (streamId.startsWith('$')) return undefined;
  const at = which === 'first' ? streamId.indexOf(separator) : streamId.lastIndexOf(separator);
  return at > 0 ? streamId.slice(0, at) : undefined;
}

type Emit = BatchOutput['emits'][number];

interface Indexer {
  accept(e: RecordedEvent): boolean;
  index(e: RecordedEvent, i: number, out: Emit[]): void;
}

const link = (e: RecordedEvent): string => `${e.revision}@${e.streamId}`;
const isOwn = isBookkeepingStream;

function deletionOf(e: RecordedEvent): string | undefined {
  if (e.type === TOMBSTONE_EVENT_TYPE && e.revision === TOMBSTONE_REVISION) return e.streamId;
  if (e.type === METADATA_EVENT_TYPE && e.streamId.startsWith('$$') && isSoftDeleteMarker(e.dataBytes)) return e.streamId.slice(2);
  return undefined;
}

const indexers: Record<SystemProjectionName, Indexer> = {
  $by_category: {
    accept: (e) => !e.streamId.startsWith('$') || (e.streamId.startsWith('$$') && !e.streamId.startsWith('$$$')),
    index(e, i, out) {
      const deleted = deletionOf(e);
      if (deleted !== undefined) {
        const category = categoryOf(deleted);
        // A deletion is linked with `$deleted` and the original stream, as Event Store's
        // EmittedLinkToWithRecategorization does, so foreachStream over a category sees it.
        if (category !== undefined) out.push([`$ce-${category}`, LINK_EVENT_TYPE, link(e), { $deleted: -1, $o: deleted }, 'r', i]);
        return;
      }
      const category = categoryOf(e.streamId);
      if (category === undefined) return;
      // For a link the target is the link's own body.
      const target = e.type === LINK_EVENT_TYPE ? Buffer.from(e.dataBytes).toString('utf8') : link(e);
      out.push([`$ce-${category}`, LINK_EVENT_TYPE, target, null, 'r', i]);
    },
  },
  $by_event_type: {
    accept: (e) => e.type !== LINK_EVENT_TYPE && !isOwn(e.streamId),
    index(e, i, out) {
      if (e.type === TOMBSTONE_EVENT_TYPE && e.revision === TOMBSTONE_REVISION) {
        out.push(['$et-$deleted', LINK_EVENT_TYPE, link(e), { $deleted: -1 }, 'r', i]);
        return;
      }
      out.push([`$et-${e.type}`, LINK_EVENT_TYPE, link(e), null, 'r', i]);
    },
  },
  $by_correlation_id: {
    accept: (e) => e.type !== LINK_EVENT_TYPE && !isOwn(e.streamId) && e.metadataBytes.length > 0,
    index(e, i, out) {
      const id = e.metadata.$correlationId;
      if (typeof id !== 'string' || id.length === 0) return;
      out.push([`$bc-${id}`, LINK_EVENT_TYPE, link(e), { $eventTimestamp: e.created.toISOString() }, 'r', i]);
    },
  },
  $stream_by_category: {
    accept: (e) => e.revision === 0n && !e.streamId.startsWith('$'),
    index(e, i, out) {
      const category = categoryOf(e.streamId);
      if (category !== undefined) out.push([`$category-${category}`, '$@', e.streamId, null, 'r', i]);
    },
  },
  $streams: {
    accept: (e) => e.revision === 0n && !isOwn(e.streamId) && !e.streamId.startsWith('$$'),
    index(e, i, out) {
      out.push(['$streams', LINK_EVENT_TYPE, link(e), null, 'r', i]);
    },
  },
};

const systemDefinition: SourceDefinition = {
  allStreams: true,
  categories: [],
  streams: [],
  allEvents: true,
  events: [],
  byStreams: false,
  byCustomPartitions: false,
  definesFold: true,
  definesStateTransform: false,
  producesResults: false,
  handlesDeletedNotifications: false,
  handlesTimers: false,
  hasCreated: false,
  includeLinks: true,
  reorderEvents: false,
  processingLag: 0,
  isBiState: false,
  resultStreamName: null,
  partitionResultStreamNamePattern: null,
  eventTimeField: null,
  allowedLateness: 0,
  sourceCalls: 1,
};

class SystemProcessor implements Processor {
  readonly native = true;
  readonly accept: (e: RecordedEvent) => boolean;
  readonly #indexer: Indexer;
  #handledSinceFlush = 0;

  constructor(indexer: Indexer) {
    this.#indexer = indexer;
    this.accept = indexer.accept;
  }

  async restore(): Promise<void> {}

  async process(items: readonly BatchItem[], flush: boolean): Promise<BatchOutput> {
    const emits: Emit[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (!isDeletionNotice(item)) this.#indexer.index(item, i, emits);
    }
    this.#handledSinceFlush += items.length;
    const out: BatchOutput = { n: items.length, h: items.length, emits, logs: [], cached: 0 };
    if (!flush && emits.length === 0 && this.#handledSinceFlush < 4000) return out;
    this.#handledSinceFlush = 0;
    return { ...out, flush: { parts: [], timers: [], wm: MIN_TIME, maxT: MIN_TIME } };
  }

  async state(): Promise<{ s: unknown } | undefined> {
    return undefined;
  }

  dispose(): void {}
}

export function systemProcessorFactory(name: SystemProjectionName): ProcessorFactory {
  return async () => ({ processor: new SystemProcessor(indexers[name]), definition: systemDefinition });
}

export function isSystemProjection(name: string): name is SystemProjectionName {
  return (SYSTEM_PROJECTIONS as readonly string[]).includes(name);
}
