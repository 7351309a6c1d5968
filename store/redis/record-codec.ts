// Events' bytes in Redis (layout 2). A write's events are stored together: each entry of the `$all`
// Redis stream holds a run of one stream's events with consecutive positions and revisions, at most
// MAX_ENTRY_EVENTS of them (a bigger write takes several entries). Storing runs instead of single
// events is what makes `$all` cheap to read and write: one XADD per run, and a readAll page is a
// few large replies that decode by offset instead of five RESP values per event. (Kafka stores
// record batches for the same reason; an offset still names one record.)
//
// Entry id `0-<last position of the run>`: `XRANGE all 0-<p> + COUNT 1` is the entry holding
// position p, whose first position is its last minus its event count plus one. (Ids with the first
// position in the other half, `<last>-<first>`, cost 15 bytes more per single-event entry: the
// stream's radix tree keys stop sharing a prefix.) Fields: `r`, the first revision (decimal; a
// tombstone's run is its single event at Int64.MaxValue), and `b`, the body:
//
//   offset      size  field
//   0           1     layout (2)
//   1           8     created, milliseconds since the epoch, float64 big-endian (one per commit)
//   9           2     stream name length S (u16 BE), then S bytes of UTF-8
//   11+S        4     event count N (u32 BE)
//   15+S        16·N  the events' ids, each the UUID's 16 raw bytes (the scripts read them here)
//   15+S+16·N   …     N records: length L (u32 BE) of what follows, flags (bit 0 = data is JSON),
//                     type length T (u16 BE) and T bytes, metadata length M (u32 BE) and M bytes,
//                     then the data (the rest of the L bytes)
//
// The stream name and commit time are stored once per run; payloads exist only here (per-stream
// lists hold positions, the id index holds revisions). The commit script builds the same layout for
// the metadata it writes when a soft-deleted stream is recreated (scripts.ts `buildBody`), and the
// scavenger cuts runs out of bodies (`sliceBody`); keep the three in step.
import type { PreparedEvent, StoredRecord } from '../backend.js';
import { dataBound, metadataBound, writeData, writeMetadata } from '../payload-bytes.js';

export const LAYOUT = 2;
/** Events per `$all` entry at most: bounds what a read fetches beyond the page it was asked for. */
export const MAX_ENTRY_EVENTS = 128;

const FLAG_JSON = 1;
const TOMBSTONE_REVISION = 9223372036854775807n;
const TOMBSTONE_TEXT = '9223372036854775807';

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function uuidText(b: Buffer, at: number): string {
  return (
    HEX[b[at]!]! + HEX[b[at + 1]!]! + HEX[b[at + 2]!]! + HEX[b[at + 3]!]! + '-' +
    HEX[b[at + 4]!]! + HEX[b[at + 5]!]! + '-' + HEX[b[at + 6]!]! + HEX[b[at + 7]!]! + '-' +
    HEX[b[at + 8]!]! + HEX[b[at + 9]!]! + '-' +
    HEX[b[at + 10]!]! + HEX[b[at + 11]!]! + HEX[b[at + 12]!]! + HEX[b[at + 13]!]! + HEX[b[at + 14]!]! + HEX[b[at + 15]!]!
  );
}

/**
 * The bodies of one write: `events` split into runs of at most MAX_ENTRY_EVENTS, each a complete
 * body. An empty write has none.
 */
export function encodeWrite(streamId: string, events: readonly PreparedEvent[], created: number): Buffer[] {
  const bodies: Buffer[] = [];
  const streamBytes = nameBytes(streamId);
  for (let from = 0; from < events.length; from += MAX_ENTRY_EVENTS) {
    const to = Math.min(events.length, from + MAX_ENTRY_EVENTS);
    const body = Buffer.allocUnsafe(runBytes(streamBytes, events, from, to));
    bodies.push(body.subarray(0, writeRun(body, 0, streamId, streamBytes, events, from, to, created)));
  }
  return bodies;
}

/**
 * Room for the body of `events[from..to)` for a stream name of `streamBytes` bytes: exact when the
 * payloads are bytes, an upper bound (three bytes per UTF-16 unit) for JSON text, which `writeRun`
 * writes straight into the body and measures as it goes.
 */
export function runBytes(streamBytes: number, events: readonly PreparedEvent[], from: number, to: number): number {
  let size = 15 + streamBytes + 16 * (to - from);
  for (let k = from; k < to; k++) {
    const e = events[k]!;
    size +=
      4 + 1 + 2 + typeBytes(e.type) + 4 + metadataBound(e) + dataBound(e);
  }
  return size;
}

// Batches mostly repeat one type: remember the last one measured.
let lastType = '';
let lastTypeBytes = 0;

function typeBytes(type: string): number {
  if (type !== lastType) {
    lastTypeBytes = nameBytes(type);
    lastType = type;
  }
  return lastTypeBytes;
}

/** Writes the body of `events[from..to)` into `out` at `at` (runBytes says how long); returns where it ends. */
export function writeRun(out: Buffer, at: number, streamId: string, streamBytes: number, events: readonly PreparedEvent[], from: number, to: number, created: number): number {
  const n = to - from;
  out[at] = LAYOUT;
  out.writeDoubleBE(created, at + 1);
  out.writeUInt16BE(streamBytes, at + 9);
  writeName(out, streamId, at + 11, streamBytes);
  at += 11 + streamBytes;
  out.writeUInt32BE(n, at);
  at += 4;
  for (let k = from; k < to; k++) {
    writeUuid(out, events[k]!.id, at);
    at += 16;
  }
  for (let k = from; k < to; k++) {
    const e = events[k]!;
    const t = typeBytes(e.type);
    const start = at;
    out[at + 4] = e.isJson ? FLAG_JSON : 0;
    out.writeUInt16BE(t, at + 5);
    writeName(out, e.type, at + 7, t);
    at += 7 + t;
    const m = writeMetadata(out, at + 4, e);
    out.writeUInt32BE(m, at);
    at += 4 + m;
    at += writeData(out, at, e);
    out.writeUInt32BE(at - start - 4, start);
  }
  return at;
}

/** The UTF-8 length of a stream name or type: a short ASCII one is counted without a call into the runtime. */
export function nameBytes(s: string): number {
  return s.length <= SHORT_NAME && isAscii(s) ? s.length : Buffer.byteLength(s, 'utf8');
}

/**
 * Writes a stream name or type that is `bytes` long in UTF-8 at `at`. A short ASCII one (its UTF-8
 * length is its length only then) is copied char by char: for names of a few dozen bytes that is
 * a third of the cost of `Buffer#write`, and every write copies its stream name twice.
 */
export function writeName(out: Buffer, s: string, at: number, bytes: number): void {
  if (bytes === s.length && bytes <= SHORT_NAME) {
    for (let i = 0; i < bytes; i++) out[at + i] = s.charCodeAt(i);
  } else {
    out.write(s, at, bytes, 'utf8');
  }
}

const SHORT_NAME = 64;

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

const HEX_VALUE = (() => {
  const table = new Uint8Array(128);
  for (let i = 0; i < 10; i++) table[48 + i] = i;
  for (let i = 0; i < 6; i++) table[65 + i] = table[97 + i] = 10 + i;
  return table;
})();

function hexPair(id: string, i: number): number {
  return (HEX_VALUE[id.charCodeAt(i)]! << 4) | HEX_VALUE[id.charCodeAt(i + 1)]!;
}

/** Writes an 8-4-4-4-12 UUID's 16 bytes at `at` (`EventStore` has checked it), unrolled: it runs per event. */
function writeUuid(out: Buffer, id: string, at: number): void {
  out[at] = hexPair(id, 0);
  out[at + 1] = hexPair(id, 2);
  out[at + 2] = hexPair(id, 4);
  out[at + 3] = hexPair(id, 6);
  out[at + 4] = hexPair(id, 9);
  out[at + 5] = hexPair(id, 11);
  out[at + 6] = hexPair(id, 14);
  out[at + 7] = hexPair(id, 16);
  out[at + 8] = hexPair(id, 19);
  out[at + 9] = hexPair(id, 21);
  out[at + 10] = hexPair(id, 24);
  out[at + 11] = hexPair(id, 26);
  out[at + 12] = hexPair(id, 28);
  out[at + 13] = hexPair(id, 30);
  out[at + 14] = hexPair(id, 32);
  out[at + 15] = hexPair(id, 34);
}

/** An entry of `$all` as XRANGE returns it: `[id, ['r', first revision, 'b', body]]`. */
export type Entry = [Buffer, Buffer[]];

/** One `$all` entry, parsed: what every record of its run shares. */
export class Run {
  readonly streamId: string;
  readonly created: number;
  readonly count: number;
  readonly firstPosition: number;
  readonly lastPosition: number;
  /** The first revision, or -1 for a tombstone. */
  readonly firstRevision: number;
  /** Where the ids start. */
  readonly idsAt: number;
  /** Where the first record starts. */
  readonly recordsAt: number;

  constructor(
    id: Buffer | string,
    revision: Buffer | string,
    readonly body: Buffer,
  ) {
    if (body[0] !== LAYOUT) throw new Error(`A Redis store entry has layout ${body[0]}, expected ${LAYOUT}`);
    this.created = body.readDoubleBE(1);
    const s = body.readUInt16BE(9);
    this.streamId = body.toString('utf8', 11, 11 + s);
    this.count = body.readUInt32BE(11 + s);
    this.idsAt = 15 + s;
    this.recordsAt = this.idsAt + 16 * this.count;
    this.lastPosition = lastPositionOf(id);
    this.firstPosition = this.lastPosition - this.count + 1;
    const r = typeof revision === 'string' ? revision : revision.toString('latin1');
    this.firstRevision = r === TOMBSTONE_TEXT ? -1 : Number(r);
  }

  static of(entry: Entry): Run {
    return new Run(entry[0], entry[1][1]!, entry[1][3]!);
  }
}

/** The event count of a body. */
export function runLength(body: Buffer): number {
  return body.readUInt32BE(11 + body.readUInt16BE(9));
}

/** A stored event read lazily from its run's body: a page pays only for the fields its reader uses. */
class RunRecord implements StoredRecord {
  readonly #run: Run;
  readonly #index: number;
  /** Offset of the record's length field. */
  readonly #at: number;

  constructor(run: Run, index: number, at: number) {
    this.#run = run;
    this.#index = index;
    this.#at = at;
  }

  get streamId(): string {
    return this.#run.streamId;
  }
  get revision(): bigint {
    const first = this.#run.firstRevision;
    return first < 0 ? TOMBSTONE_REVISION : BigInt(first + this.#index);
  }
  get position(): bigint {
    return BigInt(this.#run.firstPosition + this.#index);
  }
  get id(): string {
    return uuidText(this.#run.body, this.#run.idsAt + 16 * this.#index);
  }
  get type(): string {
    const b = this.#run.body;
    return typeAt(b, this.#at + 7, b.readUInt16BE(this.#at + 5));
  }
  get isJson(): boolean {
    return (this.#run.body[this.#at + 4]! & FLAG_JSON) !== 0;
  }
  get metadata(): Uint8Array {
    const b = this.#run.body;
    const m = this.#at + 7 + b.readUInt16BE(this.#at + 5);
    return b.subarray(m + 4, m + 4 + b.readUInt32BE(m));
  }
  get data(): Uint8Array {
    const b = this.#run.body;
    const m = this.#at + 7 + b.readUInt16BE(this.#at + 5);
    return b.subarray(m + 4 + b.readUInt32BE(m), this.#at + 4 + b.readUInt32BE(this.#at));
  }
  get created(): number {
    return this.#run.created;
  }
}

// Event types repeat, and a filter reads every record's type: a small direct-mapped cache of
// decoded types saves a native call and a string per record (the bytes are compared in place).
const TYPE_SLOTS = 64;
const typeBytesCache: (Uint8Array | undefined)[] = new Array(TYPE_SLOTS);
const typeTextCache: string[] = new Array(TYPE_SLOTS);

function typeAt(b: Buffer, at: number, length: number): string {
  if (length === 0 || length > 64) return b.toString('utf8', at, at + length);
  const slot = (length * 31 + b[at]! * 7 + b[at + length - 1]! * 3 + b[at + (length >> 1)]!) & (TYPE_SLOTS - 1);
  const cached = typeBytesCache[slot];
  if (cached !== undefined && cached.length === length) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (cached[i] !== b[at + i]) {
        same = false;
        break;
      }
    }
    if (same) return typeTextCache[slot]!;
  }
  const text = b.toString('utf8', at, at + length);
  typeBytesCache[slot] = Uint8Array.prototype.slice.call(b, at, at + length);
  typeTextCache[slot] = text;
  return text;
}

/** The position in an entry id, `0-<last position of the run>`. */
export function lastPositionOf(id: Buffer | string): number {
  return Number((typeof id === 'string' ? id : id.toString('latin1')).slice(2));
}

/**
 * Decodes records `from`..`to` (inclusive indexes into the run; `to < from` walks backwards) onto
 * `out`. Stops early once `out` holds `limit` records.
 */
export function decodeRun(run: Run, from: number, to: number, out: StoredRecord[], limit = Infinity): void {
  const body = run.body;
  if (to >= from) {
    let at = run.recordsAt;
    for (let k = 0; k < from; k++) at += 4 + body.readUInt32BE(at);
    for (let k = from; k <= to && out.length < limit; k++) {
      out.push(new RunRecord(run, k, at));
      at += 4 + body.readUInt32BE(at);
    }
    return;
  }
  const offsets = recordOffsets(run, from);
  for (let k = from; k >= to && out.length < limit; k--) out.push(new RunRecord(run, k, offsets[k]!));
}

/** Offsets of records 0..upTo of a run. */
function recordOffsets(run: Run, upTo: number): number[] {
  const offsets = new Array<number>(upTo + 1);
  let at = run.recordsAt;
  for (let k = 0; k <= upTo; k++) {
    offsets[k] = at;
    at += 4 + run.body.readUInt32BE(at);
  }
  return offsets;
}

/** Decodes a forwards XRANGE reply of `$all` entries from position `from` on, until `out` holds `limit` records. */
export function decodeEntries(entries: readonly Entry[], from: number, limit: number, out: StoredRecord[]): void {
  for (let i = 0; i < entries.length && out.length < limit; i++) {
    const run = Run.of(entries[i]!);
    decodeRun(run, Math.max(0, from - run.firstPosition), run.count - 1, out, limit);
  }
}

/** Every record of an entry, for the scavenger. */
export function decodeWholeRun(entry: Entry): StoredRecord[] {
  const out: StoredRecord[] = [];
  const run = Run.of(entry);
  decodeRun(run, 0, run.count - 1, out);
  return out;
}

/**
 * A body holding only records `from`..`to` (inclusive) of `body`: what the scavenger writes in place
 * of an entry when it drops some of its events.
 */
export function sliceBody(body: Buffer, from: number, to: number): Buffer {
  const s = body.readUInt16BE(9);
  const count = body.readUInt32BE(11 + s);
  const idsAt = 15 + s;
  let at = idsAt + 16 * count;
  let start = 0;
  for (let k = 0; k <= to; k++) {
    if (k === from) start = at;
    at += 4 + body.readUInt32BE(at);
  }
  const n = to - from + 1;
  const header = Buffer.allocUnsafe(15 + s);
  body.copy(header, 0, 0, 11 + s);
  header.writeUInt32BE(n, 11 + s);
  return Buffer.concat([header, body.subarray(idsAt + 16 * from, idsAt + 16 * (to + 1)), body.subarray(start, at)]);
}
