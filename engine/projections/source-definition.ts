// What a projection's script declares, as the prelude's definition scope collects it (Event
// Store's `QuerySourcesDefinition`), and the checks Event Store's ReaderStrategy makes before a
// projection may start, with its messages (shared/reference/eventstore-semantics.md §1.2).

export interface SourceDefinition {
  readonly allStreams: boolean;
  readonly categories: readonly string[];
  readonly streams: readonly string[];
  readonly allEvents: boolean;
  readonly events: readonly string[];
  readonly byStreams: boolean;
  readonly byCustomPartitions: boolean;
  readonly definesFold: boolean;
  readonly definesStateTransform: boolean;
  readonly producesResults: boolean;
  readonly handlesDeletedNotifications: boolean;
  /** Telltale: a `$timer` handler, fired when the watermark passes a requested deadline. */
  readonly handlesTimers: boolean;
  readonly hasCreated: boolean;
  readonly includeLinks: boolean;
  readonly reorderEvents: boolean;
  readonly processingLag: number;
  readonly isBiState: boolean;
  readonly resultStreamName: string | null;
  readonly partitionResultStreamNamePattern: string | null;
  /** Telltale: a dotted path into the body giving the event time; the stored timestamp otherwise. */
  readonly eventTimeField: string | null;
  /** Telltale: watermark = max event time − allowed lateness (ms). */
  readonly allowedLateness: number;
  readonly sourceCalls: number;
}

/** How the runner reads the definition's events. */
export type ReaderKind =
  | { readonly kind: 'all' }
  | { readonly kind: 'stream'; readonly streamId: string }
  | { readonly kind: 'streams'; readonly streamIds: readonly string[] };

/** Returns Event Store's message for a definition it would refuse, or undefined. */
export function definitionProblem(d: SourceDefinition): string | undefined {
  const hasStreams = d.streams.length > 0;
  const hasCategories = d.categories.length > 0;
  // A script without when() handles every event (Jint's NoWhen).
  const allEvents = d.allEvents || !d.definesFold;
  if (!d.allStreams && !hasCategories && !hasStreams) return 'None of streams and categories are included';
  if (!allEvents && d.events.length === 0 && !d.handlesDeletedNotifications && !d.handlesTimers) return 'None of events are included';
  if (hasStreams && hasCategories) return 'Streams and categories cannot be included in a filter at the same time';
  if (d.allStreams && (hasCategories || hasStreams)) return 'Both FromAll and specific categories/streams cannot be set';
  if (d.byStreams && hasStreams) return 'foreachStream projections are not supported on stream based sources';
  if (d.reorderEvents) {
    if (d.allStreams) return 'Event reordering cannot be used with fromAll()';
    if (!(hasStreams && d.streams.length > 1)) return 'Event reordering is only available in fromStreams([]) projections';
    if (d.processingLag < 50) return 'Event reordering requires processing lag at least of 50ms';
  }
  if (d.handlesDeletedNotifications && !d.byStreams) return 'Deleted stream notifications are only supported with foreachStream()';
  if (d.handlesDeletedNotifications && d.isBiState) return 'Cannot handle deletes in bi-state projections';
  if (d.sourceCalls > 1) return 'Only one source (fromAll, fromStream, fromStreams, fromCategory) may be defined';
  return undefined;
}

export function readerOf(d: SourceDefinition): ReaderKind {
  if (d.allStreams) return { kind: 'all' };
  if (d.categories.length === 1) return { kind: 'stream', streamId: `$ce-${d.categories[0]!}` };
  if (d.streams.length === 1) return { kind: 'stream', streamId: d.streams[0]! };
  return { kind: 'streams', streamIds: d.streams };
}

/** The event types the handlers want, or undefined for all (`$any`, or no when()). */
export function wantedEventTypes(d: SourceDefinition): readonly string[] | undefined {
  if (d.allEvents || !d.definesFold) return undefined;
  return d.events;
}

export function isPartitioned(d: SourceDefinition): boolean {
  return d.byStreams || d.byCustomPartitions;
}
