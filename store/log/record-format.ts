// The on-disk record: one event, framed so that a torn or flipped byte is always noticed.
//
//   off  size  field (little-endian)
//   0    4     length L of the whole record, both length fields included
//   4    1     kind (1 = event)
//   5    1     flags: 1 data is JSON, 2 first record of a commit, 4 last record of a commit
//   6    2     stream name length S (UTF-8 bytes)
//   8    2     event type length T (UTF-8 bytes)
//   10   2     reserved, 0
//   12   4     data length D
//   16   4     metadata length M
//   20   8     position: the record's own offset in the logical log (u64)
//   28   8     revision in its stream (u64; Int64.MaxValue for a tombstone)
//   36   8     created, milliseconds since the epoch (f64)
//   44   16    event id (UUID bytes)
//   60   S+T+D+M  stream name, type, data, metadata
//   L-8  4     CRC-32 of bytes [0, L-8)
//   L-4  4     length L again, so a reader can also walk backwards and a flipped length is caught
//
// A commit (one `commit(writes)` call, possibly several streams) is the run of records from one
// flagged "first" to the next flagged "last", written contiguously by one write call. On open, a
// run without its "last" record at the end of the log is a torn commit and is cut back as a
// whole, so a crash never exposes part of a batch. The position is stored in the record (not
// only implied by its offset) so that a scavenged segment can copy kept records verbatim,
// checksums and all, and still say where each one stands in the logical log.
import type { PreparedEvent, StoredRecord, StoredRecordRaw } from '../backend.js';
import { TOMBSTONE_REVISION } from '../stream-name.js';
import { crc32 } from './crc32.js';
import { writeUuidBytes } from '../uuid.js';
import { dataBound, metadataBound, writeData, writeMetadata } from '../payload-bytes.js';

export const RECORD_KIND_EVENT = 1;
export const FLAG_JSON = 1;
export const FLAG_COMMIT_FIRST = 2;
export const FLAG_COMMIT_LAST = 4;
export const RECORD_HEADER_BYTES = 60;
/** Where a record's 16 id bytes start. */
export const RECORD_ID_OFFSET = 44;
export const RECORD_OVERHEAD_BYTES = RECORD_HEADER_BYTES + 8;
/** No record is larger; a length field above it is corruption, not a big event. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

const TWO_32 = 2 ** 32;
const TOMBSTONE_HIGH = 0x7fffffff;

/** One event to write: its stream, revision and prepared bytes (a `PlannedRecord` is one). */
export interface RecordInput {
  readonly streamId: string;
  /** Revision; `TOMBSTONE_REVISION` for a tombstone. */
  readonly revision: bigint;
  readonly event: PreparedEvent;
}

/**
 * Writes a stream name or event type as UTF-8 at `at`; returns its byte length. Names are short
 * and nearly always ASCII, which a loop copies faster than a call into Buffer#write (two per record).
 */
function writeName(out: Buffer, name: string, at: number): number {
  const n = name.length;
  if (n > 64) return out.write(name, at, 'utf8');
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x80) return out.write(name, at, 'utf8');
    out[at + i] = c;
  }
  return n;
}

/** UTF-8 length of a name, as `writeName` writes it. */
function nameBytes(name: string): number {
  const n = name.length;
  if (n > 64) return Buffer.byteLength(name);
  for (let i = 0; i < n; i++) if (name.charCodeAt(i) >= 0x80) return Buffer.byteLength(name);
  return n;
}

/** A record's exact encoded size (payloads given as text are encoded to bytes to be measured). */
export function recordLength(input: RecordInput): number {
  return RECORD_OVERHEAD_BYTES + nameBytes(input.streamId) + nameBytes(input.event.type) + input.event.data.length + input.event.metadata.length;
}

/**
 * An upper bound of the bytes `encodeCommit` writes for `inputs` (exact when every payload is
 * bytes). Text payloads are written straight into the commit's buffer, so their UTF-8 length is
 * learnt while writing them rather than measured first.
 */
export function commitBound(inputs: readonly RecordInput[]): number {
  let total = 0;
  let stream = '';
  let streamBytes = 0;
  let type = '';
  let typeBytes = 0;
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i]!;
    const event = input.event;
    if (input.streamId !== stream) {
      stream = input.streamId;
      streamBytes = nameBytes(stream);
    }
    if (event.type !== type) {
      type = event.type;
      typeBytes = nameBytes(type);
    }
    total += RECORD_OVERHEAD_BYTES + streamBytes + typeBytes + dataBound(event) + metadataBound(event);
  }
  return total;
}

/**
 * Encodes one commit's records into `out` at `offset`, the first at logical `position`, pushing
 * each record's position onto `positions`; returns the offset after the last record. `out` must
 * have `commitBound(inputs)` bytes free from `offset`.
 */
export function encodeCommit(inputs: readonly RecordInput[], out: Buffer, offset: number, position: number, created: number, positions: number[]): number {
  let at = offset;
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i]!;
    const event = input.event;
    let flags = event.isJson ? FLAG_JSON : 0;
    if (i === 0) flags |= FLAG_COMMIT_FIRST;
    if (i === inputs.length - 1) flags |= FLAG_COMMIT_LAST;
    out[at + 4] = RECORD_KIND_EVENT;
    out[at + 5] = flags;
    let p = at + RECORD_HEADER_BYTES;
    const s = writeName(out, input.streamId, p);
    p += s;
    const t = writeName(out, event.type, p);
    p += t;
    const d = writeData(out, p, event);
    p += d;
    const m = writeMetadata(out, p, event);
    p += m;
    const length = p + 8 - at;
    out.writeUInt32LE(length, at);
    out.writeUInt16LE(s, at + 6);
    out.writeUInt16LE(t, at + 8);
    out.writeUInt16LE(0, at + 10);
    out.writeUInt32LE(d, at + 12);
    out.writeUInt32LE(m, at + 16);
    writeU64(out, at + 20, position + (at - offset));
    if (input.revision === TOMBSTONE_REVISION) {
      out.writeUInt32LE(0xffffffff, at + 28);
      out.writeUInt32LE(TOMBSTONE_HIGH, at + 32);
    } else writeU64(out, at + 28, Number(input.revision));
    out.writeDoubleLE(created, at + 36);
    writeUuid(out, at + RECORD_ID_OFFSET, event.id);
    out.writeUInt32LE(crc32(out, at, p), p);
    out.writeUInt32LE(length, p + 4);
    positions.push(position + (at - offset));
    at += length;
  }
  return at;
}

/** Writes a UUID's 16 bytes from its text (validated by EventStore: 8-4-4-4-12 hex digits). */
function writeUuid(out: Buffer, at: number, id: string): void {
  if (!writeUuidBytes(id, out, at)) throw new TypeError(`Not a UUID: ${id}`);
}

function writeU64(out: Buffer, at: number, value: number): void {
  out.writeUInt32LE(value % TWO_32, at);
  out.writeUInt32LE(Math.floor(value / TWO_32), at + 4);
}

export function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * TWO_32;
}

/** What a reader finds at an offset. */
export const enum Frame {
  /** The bytes end before the record does (a torn tail, or a read that must fetch more). */
  Incomplete = -1,
  /** Not a whole, valid record: a bad length, a mismatched trailer or checksum, an unknown kind. */
  Bad = -2,
}

/**
 * The length of the valid record at `at` in `buf[.., end)`, or `Frame.Incomplete` / `Frame.Bad`.
 * `verify` false skips the checksum (the length fields and kind are still checked).
 */
export function checkRecord(buf: Buffer, at: number, end: number, verify = true): number {
  if (end - at < 4) return Frame.Incomplete;
  const length = buf.readUInt32LE(at);
  if (length < RECORD_OVERHEAD_BYTES || length > MAX_RECORD_BYTES) return Frame.Bad;
  if (end - at < length) return Frame.Incomplete;
  if (buf[at + 4] !== RECORD_KIND_EVENT || buf.readUInt32LE(at + length - 4) !== length) return Frame.Bad;
  const s = buf.readUInt16LE(at + 6);
  const t = buf.readUInt16LE(at + 8);
  if (RECORD_OVERHEAD_BYTES + s + t + buf.readUInt32LE(at + 12) + buf.readUInt32LE(at + 16) !== length) return Frame.Bad;
  if (verify && crc32(buf, at, at + length - 8) !== buf.readUInt32LE(at + length - 8)) return Frame.Bad;
  return length;
}

export function recordPosition(buf: Buffer, at: number): number {
  return readU64(buf, at + 20);
}

export function recordFlags(buf: Buffer, at: number): number {
  return buf[at + 5]!;
}

/** The revision as a number; -1 for a tombstone (callers index arrays with it). */
export function recordRevisionNumber(buf: Buffer, at: number): number {
  const high = buf.readUInt32LE(at + 32);
  if (high === TOMBSTONE_HIGH && buf.readUInt32LE(at + 28) === 0xffffffff) return -1;
  return buf.readUInt32LE(at + 28) + high * TWO_32;
}

export function recordStreamId(buf: Buffer, at: number): string {
  return buf.toString('utf8', at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + buf.readUInt16LE(at + 6));
}

export function recordId(buf: Buffer, at: number): string {
  const h = buf.toString('hex', at + RECORD_ID_OFFSET, at + RECORD_ID_OFFSET + 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The data bytes of the record at `at` (a view into `buf`). */
export function recordData(buf: Buffer, at: number): Buffer {
  const p = at + RECORD_HEADER_BYTES + buf.readUInt16LE(at + 6) + buf.readUInt16LE(at + 8);
  return buf.subarray(p, p + buf.readUInt32LE(at + 12));
}

/** Node's direct slice decoders, which skip `toString`'s encoding dispatch on this hot path. */
interface FastSlices {
  utf8Slice(start: number, end: number): string;
}

/**
 * A stored record read from a buffer. The stream name and type are decoded at once (filters
 * need them); everything else is decoded on first use from the read buffer, so a `$all` reader
 * that looks at a few fields pays for those only. Payloads are views into the read buffer.
 */
export class LogRecord implements StoredRecord, StoredRecordRaw {
  readonly streamId: string;
  readonly type: string;
  private readonly buf: Buffer;
  private readonly at: number;
  private cachedId: string | undefined = undefined;
  private cachedData: Uint8Array | undefined = undefined;
  private cachedMetadata: Uint8Array | undefined = undefined;
  private cachedPosition: bigint | undefined = undefined;

  constructor(buf: Buffer, at: number) {
    this.buf = buf;
    this.at = at;
    const s = buf.readUInt16LE(at + 6);
    const p = at + RECORD_HEADER_BYTES;
    const slices = buf as unknown as FastSlices;
    this.streamId = slices.utf8Slice(p, p + s);
    this.type = slices.utf8Slice(p + s, p + s + buf.readUInt16LE(at + 8));
  }

  get position(): bigint {
    return (this.cachedPosition ??= BigInt(readU64(this.buf, this.at + 20)));
  }

  get revision(): bigint {
    const revision = recordRevisionNumber(this.buf, this.at);
    return revision < 0 ? TOMBSTONE_REVISION : BigInt(revision);
  }

  get created(): number {
    return this.buf.readDoubleLE(this.at + 36);
  }

  get isJson(): boolean {
    return (this.buf[this.at + 5]! & FLAG_JSON) !== 0;
  }

  get id(): string {
    return (this.cachedId ??= recordId(this.buf, this.at));
  }

  get data(): Uint8Array {
    if (this.cachedData === undefined) {
      const p = this.#payloadStart();
      this.cachedData = new Uint8Array(this.buf.buffer, this.buf.byteOffset + p, this.buf.readUInt32LE(this.at + 12));
    }
    return this.cachedData;
  }

  get metadata(): Uint8Array {
    if (this.cachedMetadata === undefined) {
      const p = this.#payloadStart() + this.buf.readUInt32LE(this.at + 12);
      this.cachedMetadata = new Uint8Array(this.buf.buffer, this.buf.byteOffset + p, this.buf.readUInt32LE(this.at + 16));
    }
    return this.cachedMetadata;
  }

  get raw(): Buffer {
    return this.buf;
  }

  get dataAt(): number {
    return this.#payloadStart();
  }

  get dataLength(): number {
    return this.buf.readUInt32LE(this.at + 12);
  }

  get metadataLength(): number {
    return this.buf.readUInt32LE(this.at + 16);
  }

  get revisionNumber(): number {
    const revision = recordRevisionNumber(this.buf, this.at);
    return revision < 0 ? TOMBSTONE_REVISION_NUMBER : revision;
  }

  get positionNumber(): number {
    return readU64(this.buf, this.at + 20);
  }

  #payloadStart(): number {
    return this.at + RECORD_HEADER_BYTES + this.buf.readUInt16LE(this.at + 6) + this.buf.readUInt16LE(this.at + 8);
  }
}

const TOMBSTONE_REVISION_NUMBER = Number(TOMBSTONE_REVISION);
