// The CLI working straight on a store, with no server: `--db DIR` (the embedded log engine in DIR)
// or `--store URL` (any store `openStore` knows: memory:, file:DIR, redis://…). Everything goes
// through the `Store` port, as a server would.
import { isTelltaleError, StoreLockedError, TelltaleError } from '../store/errors.js';
import { metadataToJson, parseMetadataJson } from '../store/metadata.js';
import { openStore } from '../store/index.js';
import type { EventData, ExpectedRevision, RecordedEvent, Store } from '../store/types.js';
import {
  ALL,
  type AppendOutcome,
  type CliEvent,
  type Connection,
  type FollowOptions,
  type MetadataOutcome,
  type RawMetadata,
  type ReadOptions,
  type StreamSummary,
} from './connection.js';
import type { DirectProjections } from './direct-projections.js';
import { NotAvailableError } from './usage-error.js';

export function recordedToCli(e: RecordedEvent): CliEvent {
  return {
    streamId: e.streamId,
    id: e.id,
    type: e.type,
    revision: e.revision,
    position: e.position,
    created: e.created,
    isJson: e.isJson,
    data: e.isJson ? e.data : e.dataBytes,
    metadata: e.metadata,
  };
}

/** Opens the store a `--db`/`--store` flag names, with errors that say what to do. */
export async function openCliStore(url: string, what: string): Promise<Store> {
  try {
    return await openStore(url);
  } catch (e) {
    if (e instanceof StoreLockedError) {
      throw new TelltaleError(
        'store-locked',
        `${e.message}. A server is probably running on it: talk to that server with --server URL instead of ${what}, or stop it first.`,
        { cause: e },
      );
    }
    if (isTelltaleError(e, 'invalid-argument') && /^Unknown store/.test(e.message)) {
      const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1] ?? 'file';
      throw new NotAvailableError(
        `${what} needs the '${scheme}:' store backend, which is not part of this build yet (${e.message}). ` +
          'Use --store memory: for a throwaway store, or --server URL to work through a running server.',
      );
    }
    throw e;
  }
}

export class StoreConnection implements Connection {
  readonly describe: string;
  readonly projections: DirectProjections;

  constructor(
    readonly store: Store,
    url: string,
    projections: DirectProjections,
  ) {
    this.describe = `store ${url}`;
    this.projections = projections;
  }

  async append(streamId: string, events: readonly EventData[], expectedRevision: ExpectedRevision): Promise<AppendOutcome> {
    const result = await this.store.appendToStream(streamId, events, { expectedRevision });
    return {
      streamId,
      firstRevision: result.nextExpectedRevision - BigInt(events.length) + 1n,
      nextExpectedRevision: result.nextExpectedRevision,
      position: result.position,
      idempotent: result.idempotent,
    };
  }

  async appendMany(writes: readonly { streamId: string; events: readonly EventData[]; expectedRevision: ExpectedRevision }[]): Promise<AppendOutcome[]> {
    const results = await this.store.appendToStreams(writes);
    return results.map((r, i) => ({
      streamId: writes[i]!.streamId,
      firstRevision: r.nextExpectedRevision - BigInt(writes[i]!.events.length) + 1n,
      nextExpectedRevision: r.nextExpectedRevision,
      position: r.position,
      idempotent: r.idempotent,
    }));
  }

  async *read(streamId: string, options: ReadOptions): AsyncIterable<CliEvent> {
    const direction = options.backwards ? 'backwards' : 'forwards';
    if (streamId === ALL) {
      const events = this.store.readAll({
        direction,
        ...(options.from !== undefined ? { fromPosition: options.from } : {}),
        ...(options.maxCount !== undefined && !options.excludeSystemStreams ? { maxCount: options.maxCount } : {}),
        ...(options.excludeSystemStreams ? { filter: { streamNameRegex: '^[^$]' } } : {}),
      });
      let remaining = options.maxCount ?? Infinity;
      for await (const e of events) {
        yield recordedToCli(e);
        if (--remaining <= 0) return;
      }
      return;
    }
    for await (const e of this.store.readStream(streamId, {
      direction,
      ...(options.from !== undefined ? { fromRevision: options.from } : {}),
      ...(options.maxCount !== undefined ? { maxCount: options.maxCount } : {}),
    })) {
      yield recordedToCli(e);
    }
  }

  async *follow(streamId: string, options: FollowOptions): AsyncIterable<CliEvent> {
    const subscription =
      streamId === ALL
        ? this.store.subscribeToAll({ fromPosition: options.after })
        : this.store.subscribeToStream(streamId, { fromRevision: options.after });
    const stop = () => void subscription.close();
    options.signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const e of subscription) yield recordedToCli(e);
    } finally {
      options.signal.removeEventListener('abort', stop);
      await subscription.close();
    }
  }

  async delete(streamId: string, options: { hard: boolean; expectedRevision: ExpectedRevision }): Promise<void> {
    if (options.hard) await this.store.tombstoneStream(streamId, { expectedRevision: options.expectedRevision });
    else await this.store.deleteStream(streamId, { expectedRevision: options.expectedRevision });
  }

  async getMetadata(streamId: string): Promise<MetadataOutcome> {
    const result = await this.store.getStreamMetadata(streamId);
    return {
      streamId,
      metadata: JSON.parse(metadataToJson(result.metadata)) as RawMetadata,
      ...(result.metastreamRevision !== undefined ? { metastreamRevision: result.metastreamRevision } : {}),
    };
  }

  async setMetadata(streamId: string, metadata: RawMetadata): Promise<MetadataOutcome> {
    const result = await this.store.setStreamMetadata(streamId, parseMetadataJson(JSON.stringify(metadata)));
    return { streamId, metadata, metastreamRevision: result.nextExpectedRevision };
  }

  async listStreams(options: { includeSystem: boolean }): Promise<StreamSummary[]> {
    const counts = new Map<string, number>();
    for await (const e of this.store.readAll({})) {
      if (!options.includeSystem && e.streamId.startsWith('$')) continue;
      counts.set(e.streamId, (counts.get(e.streamId) ?? 0) + 1);
    }
    const summaries: StreamSummary[] = [];
    for (const [streamId, events] of counts) {
      const info = await this.store.getStreamInfo(streamId);
      summaries.push({ streamId, events, lastRevision: info.lastRevision, deleted: info.softDeleted || info.tombstoned });
    }
    return summaries.sort((a, b) => a.streamId.localeCompare(b.streamId));
  }

  async close(): Promise<void> {
    try {
      await this.projections.close();
    } finally {
      await this.store.close();
    }
  }
}
