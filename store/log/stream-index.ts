// The in-memory index of the log backend: for every stream, the position of each revision, kept
// in one growable Float64Array (8 bytes per event, about 10.7 with the 1.5× growth slack; Event
// Store's PTable entry is 24). Positions are byte offsets below 2^53 (8 PiB of log), exact in a
// float64. A scavenged event's entry becomes -1 (a hole), so revisions keep their places.
//
// The index holds only durable records: readers look up positions here and never see a commit
// whose bytes are not yet on disk. It is checkpointed to `index.tti` (see `serializeIndex`) so an
// open reads the checkpoint and only the log written after it (DESIGN decision 5).
import { isSoftDeleteMarker } from '../metadata.js';
import { isMetastream, streamOfMetastream } from '../stream-name.js';
import { crc32 } from './crc32.js';

export const HOLE = -1;

export class StreamEntry {
  positions: Float64Array;
  /** Revisions 0 .. count-1 have an entry (a position, or HOLE once scavenged). */
  count = 0;
  /** Position of the tombstone, or -1. */
  tombstone = -1;
  /** The current metadata's `$tb` is the soft-delete marker. */
  softDeleted = false;

  constructor(capacity = 2) {
    this.positions = new Float64Array(capacity);
  }

  set(revision: number, position: number): void {
    if (revision >= this.positions.length) {
      const grown = new Float64Array(Math.max(revision + 1, Math.ceil(this.positions.length * 1.5) + 2));
      grown.set(this.positions.subarray(0, this.count));
      this.positions = grown;
    }
    // A scavenged log can skip revisions; the gap stays a hole.
    if (revision > this.count) this.positions.fill(HOLE, this.count, revision);
    this.positions[revision] = position;
    if (revision >= this.count) this.count = revision + 1;
  }

  /** The position of a revision, or HOLE. */
  at(revision: number): number {
    return revision < this.count ? this.positions[revision]! : HOLE;
  }
}

export class StreamIndex {
  readonly streams = new Map<string, StreamEntry>();

  get(streamId: string): StreamEntry | undefined {
    return this.streams.get(streamId);
  }

  entry(streamId: string): StreamEntry {
    let entry = this.streams.get(streamId);
    if (entry === undefined) {
      entry = new StreamEntry();
      this.streams.set(streamId, entry);
    }
    return entry;
  }

  /** Records one durable record; `revision` -1 is a tombstone. `data` matters for metastreams only. */
  apply(streamId: string, revision: number, position: number, data: Uint8Array | undefined): void {
    const entry = this.entry(streamId);
    if (revision < 0) entry.tombstone = position;
    else entry.set(revision, position);
    if (data !== undefined && isMetastream(streamId)) this.entry(streamOfMetastream(streamId)).softDeleted = isSoftDeleteMarker(data);
  }

  /** Number of indexed events (holes included). */
  size(): number {
    let n = 0;
    for (const e of this.streams.values()) n += e.count;
    return n;
  }
}

/** What an index checkpoint says about one segment, so a stale checkpoint is recognised. */
export interface SegmentCheckpoint {
  readonly start: number;
  readonly generation: number;
  /** File size when the checkpoint was taken; sealed segments must still have it. */
  readonly size: number;
  /** Sparse map of record starts: logical positions and file offsets. */
  readonly samplesLogical: readonly number[];
  readonly samplesPhysical: readonly number[];
}

export interface IndexCheckpoint {
  /** The log up to here (exclusive) is in the index; the open scans from here. */
  readonly position: number;
  readonly lastRecordPosition: number;
  readonly segments: readonly SegmentCheckpoint[];
  readonly index: StreamIndex;
}

const MAGIC = 'TTINDEX1';
const VERSION = 1;

/**
 * The checkpoint file: a header, the segments with their sparse maps, every stream's name,
 * flags and positions, and a CRC-32 of it all. Written to a temporary file, fsynced and renamed
 * over the last one, so a crash leaves either checkpoint whole; a bad one is rebuilt from the log.
 */
export function serializeIndex(checkpoint: IndexCheckpoint): Buffer {
  let size = 8 + 8 + 16 + 8;
  for (const s of checkpoint.segments) size += 32 + 16 * s.samplesLogical.length;
  const names: Buffer[] = [];
  for (const [name, entry] of checkpoint.index.streams) {
    const bytes = Buffer.from(name, 'utf8');
    names.push(bytes);
    size += 8 + pad8(bytes.length) + 16 + 8 * entry.count;
  }
  size += 8 + 8; // stream count, then CRC and end marker
  const out = Buffer.alloc(size);
  let at = out.write(MAGIC, 0, 'latin1');
  at = out.writeUInt32LE(VERSION, at);
  at += 4;
  at = out.writeDoubleLE(checkpoint.position, at);
  at = out.writeDoubleLE(checkpoint.lastRecordPosition, at);
  at = out.writeUInt32LE(checkpoint.segments.length, at);
  at += 4;
  for (const s of checkpoint.segments) {
    at = out.writeDoubleLE(s.start, at);
    at = out.writeDoubleLE(s.generation, at);
    at = out.writeDoubleLE(s.size, at);
    at = out.writeDoubleLE(s.samplesLogical.length, at);
    for (const v of s.samplesLogical) at = out.writeDoubleLE(v, at);
    for (const v of s.samplesPhysical) at = out.writeDoubleLE(v, at);
  }
  at = out.writeUInt32LE(checkpoint.index.streams.size, at);
  at += 4;
  let i = 0;
  for (const entry of checkpoint.index.streams.values()) {
    const name = names[i++]!;
    out.writeUInt32LE(name.length, at);
    out[at + 4] = entry.softDeleted ? 1 : 0;
    at += 8;
    name.copy(out, at);
    at += pad8(name.length);
    at = out.writeDoubleLE(entry.tombstone, at);
    at = out.writeDoubleLE(entry.count, at);
    // Raw little-endian float64s; on a big-endian host this loop is the portable path anyway.
    const positions = entry.positions;
    for (let r = 0; r < entry.count; r++) at = out.writeDoubleLE(positions[r]!, at);
  }
  out.writeUInt32LE(crc32(out, 0, at), at);
  out.write('TTIX', at + 4, 'latin1');
  return out;
}

/** Parses a checkpoint; undefined when it is not a whole, valid one (then the log is rescanned). */
export function deserializeIndex(buf: Buffer): IndexCheckpoint | undefined {
  try {
    if (buf.length < 48 || buf.toString('latin1', 0, 8) !== MAGIC || buf.readUInt32LE(8) !== VERSION) return undefined;
    const end = buf.length - 8;
    if (buf.toString('latin1', end + 4, end + 8) !== 'TTIX' || crc32(buf, 0, end) !== buf.readUInt32LE(end)) return undefined;
    let at = 16;
    const position = buf.readDoubleLE(at);
    const lastRecordPosition = buf.readDoubleLE(at + 8);
    const segmentCount = buf.readUInt32LE(at + 16);
    at += 24;
    const segments: SegmentCheckpoint[] = [];
    for (let s = 0; s < segmentCount; s++) {
      const start = buf.readDoubleLE(at);
      const generation = buf.readDoubleLE(at + 8);
      const size = buf.readDoubleLE(at + 16);
      const n = buf.readDoubleLE(at + 24);
      at += 32;
      const samplesLogical: number[] = new Array<number>(n);
      const samplesPhysical: number[] = new Array<number>(n);
      for (let k = 0; k < n; k++) samplesLogical[k] = buf.readDoubleLE(at + 8 * k);
      at += 8 * n;
      for (let k = 0; k < n; k++) samplesPhysical[k] = buf.readDoubleLE(at + 8 * k);
      at += 8 * n;
      segments.push({ start, generation, size, samplesLogical, samplesPhysical });
    }
    const streamCount = buf.readUInt32LE(at);
    at += 8;
    const index = new StreamIndex();
    for (let s = 0; s < streamCount; s++) {
      const nameLength = buf.readUInt32LE(at);
      const softDeleted = buf[at + 4] === 1;
      at += 8;
      const name = buf.toString('utf8', at, at + nameLength);
      at += pad8(nameLength);
      const entry = new StreamEntry(0);
      entry.tombstone = buf.readDoubleLE(at);
      const count = buf.readDoubleLE(at + 8);
      at += 16;
      const positions = new Float64Array(count);
      for (let r = 0; r < count; r++) positions[r] = buf.readDoubleLE(at + 8 * r);
      at += 8 * count;
      entry.positions = positions;
      entry.count = count;
      entry.softDeleted = softDeleted;
      index.streams.set(name, entry);
    }
    if (at !== end) return undefined;
    return { position, lastRecordPosition, segments, index };
  } catch {
    return undefined;
  }
}

function pad8(n: number): number {
  return (n + 7) & ~7;
}
