// The streams a projection writes, named as Event Store names them (ProjectionNamesBuilder,
// shared/reference/eventstore-semantics.md §1.12), its checkpoint tags (§1.13), and the ids of
// emitted events.
import { createHash } from 'node:crypto';

export const REGISTRY_STREAM = '$projections-$all';
export const PROJECTION_PREFIX = '$projections-';

/** The engine's own streams and their metastreams (`$$$projections-…`, e.g. a checkpoint stream's `$maxCount`). */
export function isBookkeepingStream(streamId: string): boolean {
  return streamId.startsWith(PROJECTION_PREFIX) || (streamId.startsWith('$$') && streamId.startsWith(PROJECTION_PREFIX, 2));
}

export const definitionStream = (name: string): string => `$projections-${name}`;
export const checkpointStream = (name: string): string => `$projections-${name}-checkpoint`;
export const partitionCheckpointStream = (name: string, partition: string): string => `$projections-${name}-${partition}-checkpoint`;
export const resultStream = (name: string): string => `$projections-${name}-result`;
/** Telltale: partition states of checkpoints that changed many partitions, a page per event. */
export const statePagesStream = (name: string): string => `$projections-${name}-states`;
/**
 * Telltale: a checkpoint too large for one event (a rule holding many keys' partial matches in one
 * state) as chunks of its JSON bytes; the checkpoint event names the chunks it consists of.
 */
export const checkpointChunksStream = (name: string): string => `$projections-${name}-checkpoint-chunks`;
/** The partition catalogue: a `$partition` event (data: the key) for each partition when it gets its first state. */
export const partitionsStream = (name: string): string => `$projections-${name}-partitions`;
export const partitionResultStream = (name: string, partition: string, pattern: string | null): string =>
  pattern === null ? `$projections-${name}-${partition}-result` : pattern.replace(/\{0\}/g, partition);

export const CHECKPOINT_TYPE = '$ProjectionCheckpoint';
export const PARTITION_CHECKPOINT_TYPE = '$Checkpoint';
export const STATE_PAGE_TYPE = '$ProjectionStatePage';
export const CHECKPOINT_CHUNK_TYPE = '$ProjectionCheckpointChunk';
export const PARTITION_TYPE = '$partition';
export const PROJECTION_UPDATED_TYPE = '$ProjectionUpdated';
export const PROJECTION_CREATED_TYPE = '$ProjectionCreated';
export const PROJECTION_DELETED_TYPE = '$ProjectionDeleted';

/** Where a projection has read up to: a `$all` position, or a revision of its one source stream. */
export type ReadPoint = { readonly kind: 'all'; readonly position: bigint } | { readonly kind: 'stream'; readonly streamId: string; readonly revision: bigint };

/** The checkpoint tag as Event Store writes it: `$c`/`$p` for `$all`, `$s` for a stream. */
export function checkpointTag(point: ReadPoint, version: string): Record<string, unknown> {
  if (point.kind === 'all') return { $v: version, $c: Number(point.position), $p: Number(point.position) };
  return { $v: version, $s: { [point.streamId]: Number(point.revision) } };
}

/** The order of two checkpoint tags of one projection and epoch: the `$all` position, or the revision of its one stream. */
export function tagOrder(tag: Record<string, unknown> | undefined): number {
  const point = readPointOf(tag);
  if (point === undefined) return -1;
  return Number(point.kind === 'all' ? point.position : point.revision);
}

export function readPointOf(tag: Record<string, unknown> | undefined): ReadPoint | undefined {
  if (!tag) return undefined;
  if (typeof tag.$c === 'number') return { kind: 'all', position: BigInt(tag.$c) };
  const s = tag.$s;
  if (s !== null && typeof s === 'object') {
    const [streamId, revision] = Object.entries(s as Record<string, unknown>)[0] ?? [];
    if (typeof streamId === 'string' && typeof revision === 'number') return { kind: 'stream', streamId, revision: BigInt(revision) };
  }
  return undefined;
}

/**
 * Ids of emitted events, derived from (projection, epoch, source position, index), so that
 * reprocessing an event after a crash produces the same ids and the store's idempotent append
 * writes nothing twice. UUID version 5 layout: the first 48 bits are the SHA-1 of the projection
 * and epoch (computed once), then the index (12 bits) and the source position (62 bits), which is
 * unique per projection for any position below 2^62 and up to 4096 outputs per event; beyond that
 * the whole tuple is hashed.
 */
export class EmittedEventIds {
  readonly #prefix: string;
  readonly #seed: string;
  /** The id's text as bytes, the prefix and dashes written once: each id fills in its 21 digits. */
  readonly #text: Buffer & { latin1Slice(start: number, end: number): string };

  constructor(projection: string, epoch: number) {
    this.#seed = `${projection}\u0000${epoch}`;
    const h = createHash('sha1').update(this.#seed).digest('hex');
    this.#prefix = `${h.slice(0, 8)}-${h.slice(8, 12)}-5`;
    this.#text = Buffer.from(`${this.#prefix}000-8000-000000000000`, 'latin1') as Buffer & { latin1Slice(start: number, end: number): string };
  }

  id(position: bigint, index: number): string {
    if (index < 0x1000 && position >= 0n && position < 1n << 53n) return this.idAt(Number(position), index);
    return this.#slowId(position, index);
  }

  /**
   * `id` for a position below 2^53 given as a number: the same digits as the bigint branch, in
   * Number arithmetic (exact below 2^53) written digit by digit into one buffer, which costs a
   * fraction of the BigInt shifts and of building the text from pieces: a linking projection
   * makes an id per event.
   */
  idAt(p: number, index: number): string {
    if (index >= 0x1000 || !(p >= 0 && p <= Number.MAX_SAFE_INTEGER)) return this.#slowId(BigInt(p), index);
    const b = this.#text;
    const high = Math.floor(p / 0x1000000000000);
    const clock = 0x8000 | (high & 0x3fff);
    const node = p - high * 0x1000000000000;
    b[15] = HEX[(index >> 8) & 15]!;
    b[16] = HEX[(index >> 4) & 15]!;
    b[17] = HEX[index & 15]!;
    b[19] = HEX[clock >> 12]!;
    b[20] = HEX[(clock >> 8) & 15]!;
    b[21] = HEX[(clock >> 4) & 15]!;
    b[22] = HEX[clock & 15]!;
    let lo = node % 0x1000000;
    let hi = (node - lo) / 0x1000000;
    for (let i = 35; i >= 30; i--, lo >>= 4) b[i] = HEX[lo & 15]!;
    for (let i = 29; i >= 24; i--, hi >>= 4) b[i] = HEX[hi & 15]!;
    return b.latin1Slice(0, 36);
  }

  #slowId(position: bigint, index: number): string {
    if (index < 0x1000 && position >= 0n && position < 1n << 62n) {
      const clock = 0x8000n | ((position >> 48n) & 0x3fffn);
      const node = position & 0xffffffffffffn;
      return `${this.#prefix}${index.toString(16).padStart(3, '0')}-${clock.toString(16)}-${node.toString(16).padStart(12, '0')}`;
    }
    const h = createHash('sha1').update(`${this.#seed}\u0000${position}\u0000${index}`).digest('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
  }
}

/** Lower-case hex digits as character codes. */
const HEX = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
