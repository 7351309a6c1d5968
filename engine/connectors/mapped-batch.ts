// What ingest commits: records mapped to events (or dead letters), and the binary form in which a
// fetched batch of them crosses from the fetch thread to the committing thread. One ArrayBuffer per
// batch is transferred, not copied, and reading it back costs a few slices per record: the
// committing thread, which also runs the store, never sees kafkajs's message objects.
//
// A batch is a count (u32) and then, per record:
//   u32 offset low, u32 offset high, u8 flags (1 has metadata, 2 same type as the record before),
//   u8 rejection reason (0 none, else 1 + index in REASONS), u16 stream bytes, u16 type bytes,
//   u8 id bytes, u32 data bytes, u32 metadata bytes, f64 timestamp, then stream, type, id, data,
//   metadata.
// Data is always JSON text (a value is serialised once, in the fetch thread).
import type { KafkaMessage } from 'kafkajs';
import type { EventData } from '../../store/types.js';
import { MAX_STREAM_NAME_BYTES } from '../../store/stream-name.js';
import { isJsonText } from './json-text.js';
import { kafkaEventId, kafkaMetadataText, toKafkaRecord } from './kafka-record.js';
import type { DirectMapping, DirectPart, RecordMapper, RejectionReason } from './record-mapping.js';

/**
 * A record mapped for ingest: the event to append (or the dead letter) — the record itself, so a
 * batch of them costs one object per record — with the stream it goes to and its offset.
 */
export interface IngestRecord extends EventData {
  readonly offset: bigint;
  readonly streamId: string;
  /** Why the record was dead-lettered; undefined when it became an event. */
  readonly rejected: RejectionReason | undefined;
  /** UTF-8 JSON text, the event's or the dead letter's. */
  readonly data: Uint8Array;
  /** The record's timestamp (ms). */
  readonly timestamp: number;
}

const REASONS: readonly RejectionReason[] = ['no-value', 'not-json', 'too-large', 'missing-field', 'invalid-stream-name', 'invalid-event-type'];
const FLAG_METADATA = 1;
const FLAG_SAME_TYPE = 2;
const FIXED_BYTES = 4 + 4 + 1 + 1 + 2 + 2 + 1 + 4 + 4 + 8;
const TWO_32 = 2 ** 32;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
/** Below this a high word makes an offset a safe integer as a number. */
const SAFE_HIGH = 2 ** 21;

/** Maps kafkajs's messages of one partition, on the thread that fetched them. */
export function mapMessages(mapper: RecordMapper, topic: string, partition: number, messages: readonly KafkaMessage[]): IngestRecord[] {
  const out = new Array<IngestRecord>(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const record = toKafkaRecord(topic, partition, messages[i]!);
    const mapped = mapper.map(record);
    const { id, type, data, metadata } = mapped.event;
    // Data is JSON bytes in every ingest record, as it is after crossing from the fetch thread.
    const bytes = data instanceof Uint8Array ? data : Buffer.from(JSON.stringify(data), 'utf8');
    // One literal shape for every record (as decodeMappedBatch builds them): spreads would make
    // objects of many shapes, and every loop over them slower.
    out[i] = { id, type, data: bytes, isJson: true, metadata, offset: record.offset, streamId: mapped.streamId, rejected: mapped.kind === 'rejected' ? mapped.reason : undefined, timestamp: record.timestamp };
  }
  return out;
}

/** A growable buffer for one batch; its ArrayBuffer is what is transferred. */
class BatchWriter {
  buf: Buffer;
  at = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafeSlow(size);
  }
  ensure(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }
  text(value: string, encoding: 'utf8' | 'latin1'): number {
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    this.ensure(encoding === 'utf8' ? 3 * value.length : value.length);
    const n = this.buf.write(value, this.at, encoding);
    this.at += n;
    return n;
  }
  bytes(value: Uint8Array): void {
    this.ensure(value.length);
    const n = value.length;
    // A loop beats \`set\`'s call for the short fields most records have.
    if (n <= 48) {
      const { buf } = this;
      let at = this.at;
      for (let i = 0; i < n; i++) buf[at++] = value[i]!;
    } else this.buf.set(value, this.at);
    this.at += n;
  }
  /** Copies bytes that are printable ASCII; false, with the writer where it was, for any other byte. */
  printable(value: Uint8Array): boolean {
    const n = value.length;
    this.ensure(n);
    const { buf } = this;
    let at = this.at;
    for (let i = 0; i < n; i++) {
      const c = value[i]!;
      if (c < 0x20 || c > 0x7e) return false;
      buf[at++] = c;
    }
    this.at = at;
    return true;
  }
  /** Whether bytes are printable ASCII that JSON.stringify writes as they are (no quote, no backslash). */
  isPlainJsonText(value: Uint8Array): boolean {
    for (let i = 0; i < value.length; i++) {
      const c = value[i]!;
      if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
    }
    return true;
  }
  /** Text known to be one byte per character; the caller has ensured room. */
  latin1(value: string): void {
    const { buf } = this;
    let at = this.at;
    for (let i = 0; i < value.length; i++) buf[at++] = value.charCodeAt(i);
    this.at = at;
  }
  /** Forgets what was written from `at` on; false, for the caller to return. */
  dropFrom(at: number): false {
    this.at = at;
    return false;
  }
  /** Whether the `length` bytes at `a` and at `b` are the same. */
  same(a: number, b: number, length: number): boolean {
    const { buf } = this;
    for (let i = 0; i < length; i++) if (buf[a + i] !== buf[b + i]) return false;
    return true;
  }
  byte(value: number): void {
    this.buf[this.at++] = value;
  }
  /** A number below 2^48 as 12 lower-case hex digits; the caller has ensured room. */
  hex12(value: number): void {
    const { buf } = this;
    let n = value;
    for (let i = this.at + 11; i >= this.at; i--) {
      const q = Math.floor(n / 16);
      buf[i] = HEX_DIGITS[n - q * 16]!;
      n = q;
    }
    this.at += 12;
  }
}

/** The parts of a direct template with the batch's topic and partition resolved to text. */
type BatchPart = { readonly kind: 'text'; readonly bytes: Buffer } | { readonly kind: 'key' } | { readonly kind: 'header'; readonly name: string };

/** What the direct path needs for one batch (one topic and partition). */
interface DirectBatch {
  readonly stream: readonly BatchPart[];
  readonly type: readonly BatchPart[];
  readonly maxRecordBytes: number;
  readonly maxTypeLength: number;
  /** The first 24 characters of every id in the partition (see `kafkaEventId`). */
  readonly idPrefix: Buffer;
  /** `{"$kafka":{"topic":…,"partition":…,"offset":"`, as `kafkaMetadataText` starts. */
  readonly metadataPrefix: Buffer;
}

const isPrintableAscii = (text: string): boolean => /^[\x20-\x7e]*$/.test(text);
const TIMESTAMP_TEXT = Buffer.from('","timestamp":', 'latin1');
const KEY_TEXT = Buffer.from(',"key":', 'latin1');
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
const MAX_48 = 2 ** 48;
/** Kafka offsets as kafkajs gives them: decimal, no leading zeros; 15 digits stay exact as numbers. */
const PLAIN_OFFSET = /^(?:0|[1-9]\d{0,14})$/;
/** Timestamps as kafkajs gives them, in the form String() gives a number (so `$kafka` can hold the text). */
const PLAIN_TIMESTAMP = /^(?:0|-?[1-9]\d{0,15})$/;

function directBatch(direct: DirectMapping | undefined, topic: string, partition: number): DirectBatch | undefined {
  if (direct === undefined || !isPrintableAscii(topic)) return undefined;
  const resolve = (parts: readonly DirectPart[]): BatchPart[] =>
    parts.map((p) => (p.kind === 'topic' ? { kind: 'text', bytes: Buffer.from(topic, 'latin1') } : p.kind === 'partition' ? { kind: 'text', bytes: Buffer.from(String(partition), 'latin1') } : p));
  const metadata = kafkaMetadataText({ topic, partition, offset: 0n, key: null, value: null, headers: {}, timestamp: 0 });
  return {
    stream: resolve(direct.stream),
    type: resolve(direct.type),
    maxRecordBytes: direct.maxRecordBytes,
    maxTypeLength: direct.maxTypeLength,
    idPrefix: Buffer.from(kafkaEventId(topic, partition, 0n).slice(0, 24), 'latin1'),
    metadataPrefix: Buffer.from(metadata.slice(0, metadata.indexOf('"offset":"') + 10), 'utf8'),
  };
}

/** A header's bytes as `toKafkaRecord` would keep them; undefined when the direct path cannot tell. */
function headerBytes(message: KafkaMessage, name: string): Uint8Array | undefined {
  const headers = message.headers;
  if (headers === undefined || !Object.hasOwn(headers, name)) return undefined;
  const raw = headers[name];
  const value = Array.isArray(raw) ? raw[0] : raw;
  return value instanceof Uint8Array ? value : undefined;
}

/**
 * Writes template parts at the writer's end; false (with whatever was written left for the caller
 * to drop) when a field is absent, is not printable ASCII, or the text would exceed `limit` bytes.
 * Printable ASCII is its own UTF-8 and holds no control character, so the text is what rendering
 * the template would give, and is a valid stream name or type as far as characters go.
 */
function writeParts(w: BatchWriter, parts: readonly BatchPart[], message: KafkaMessage, limit: number): boolean {
  const start = w.at;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part.kind === 'text') {
      if (w.at - start + part.bytes.length > limit) return false;
      w.bytes(part.bytes);
      continue;
    }
    const bytes = part.kind === 'key' ? message.key : headerBytes(message, part.name);
    if (bytes === null || bytes === undefined || w.at - start + bytes.length > limit || !w.printable(bytes)) return false;
  }
  return true;
}

/**
 * Maps and writes one record without a record object, a mapped object or an intermediate string
 * per field: the template texts, the id and the `$kafka` metadata are written as bytes straight
 * from kafkajs's message. Returns false, having written nothing, for any record it cannot map to
 * an event exactly as `RecordMapper.map` would (that one then maps it): a value that is absent,
 * too large or not JSON text, a field that is absent or not printable ASCII, a stream name or type
 * the store would refuse, an offset or timestamp out of the usual range.
 */
function writeDirect(w: BatchWriter, b: DirectBatch, message: KafkaMessage, sameTypeAs: { at: number; length: number }): boolean {
  const value = message.value;
  if (value === null || value === undefined || value.length > b.maxRecordBytes) return false;
  const offsetText = message.offset;
  if (!PLAIN_OFFSET.test(offsetText)) return false;
  const offset = Number(offsetText);
  const timestampText = message.timestamp;
  const timestamp = Number(timestampText);
  if (offset >= MAX_48 || !PLAIN_TIMESTAMP.test(timestampText) || !Number.isSafeInteger(timestamp)) return false;
  const key = message.key ?? null;
  if (key !== null && !w.isPlainJsonText(key)) return false;
  if (!isJsonText(value)) return false;
  const head = w.at;
  w.ensure(FIXED_BYTES);
  w.at += FIXED_BYTES;
  const streamAt = w.at;
  if (!writeParts(w, b.stream, message, MAX_STREAM_NAME_BYTES)) return w.dropFrom(head);
  const s = w.at - streamAt;
  const { buf } = w;
  // What `streamNameProblem` refuses besides characters and length: empty, `$all`, metastreams.
  if (s === 0 || (s >= 2 && buf[streamAt] === 0x24 && buf[streamAt + 1] === 0x24) || (s === 4 && buf.toString('latin1', streamAt, streamAt + 4) === '$all')) return w.dropFrom(head);
  const typeAt = w.at;
  if (!writeParts(w, b.type, message, b.maxTypeLength)) return w.dropFrom(head);
  let t = w.at - typeAt;
  if (t === 0) return w.dropFrom(head);
  let flags = FLAG_METADATA;
  if (t === sameTypeAs.length && w.same(sameTypeAs.at, typeAt, t)) {
    flags |= FLAG_SAME_TYPE;
    w.at = typeAt;
    t = 0;
  } else {
    sameTypeAs.at = typeAt;
    sameTypeAs.length = t;
  }
  // The id: the partition's prefix, then the offset as 12 hex digits.
  w.ensure(36 + value.length + b.metadataPrefix.length + offsetText.length + timestampText.length + 32 + (key?.length ?? 0));
  w.bytes(b.idPrefix);
  w.hex12(offset);
  const dataAt = w.at;
  w.bytes(value);
  const metadataAt = w.at;
  w.bytes(b.metadataPrefix);
  w.latin1(offsetText);
  w.bytes(TIMESTAMP_TEXT);
  w.latin1(timestampText);
  w.bytes(KEY_TEXT);
  if (key === null) w.latin1('null');
  else {
    w.byte(0x22);
    w.bytes(key);
    w.byte(0x22);
  }
  w.byte(0x7d);
  w.byte(0x7d);
  const out = w.buf;
  out.writeUInt32LE(offset % TWO_32, head);
  out.writeUInt32LE(Math.floor(offset / TWO_32), head + 4);
  out[head + 8] = flags;
  out[head + 9] = 0;
  out.writeUInt16LE(s, head + 10);
  out.writeUInt16LE(t, head + 12);
  out[head + 14] = 36;
  out.writeUInt32LE(metadataAt - dataAt, head + 15);
  out.writeUInt32LE(w.at - metadataAt, head + 19);
  out.writeDoubleLE(timestamp, head + 23);
  return true;
}

/**
 * Maps kafkajs's messages of one partition and writes them as a batch, straight from each mapping
 * to the buffer (no record objects in between), the `$kafka` metadata written as text: the fetch
 * thread's part of ingest. `mapper` must map `asBytes` without `coordinates`; the batch reads back
 * as `mapMessages` with a mapper that has them would give. When the mapper offers a direct mapping,
 * records it covers (nearly all, usually) are written from the message's bytes without `map`.
 */
export function encodeMappedMessages(mapper: RecordMapper, topic: string, partition: number, messages: readonly KafkaMessage[]): ArrayBuffer {
  // Usually enough; the writer grows otherwise (long dead-letter texts).
  let estimate = 4;
  for (const m of messages) estimate += FIXED_BYTES + 320 + (m.value?.length ?? 0) + 3 * (m.key?.length ?? 0);
  const w = new BatchWriter(estimate);
  w.at = 4;
  const direct = directBatch(mapper.direct, topic, partition);
  // The last type written in full, as a string (records `map` wrote) or as bytes in the buffer.
  let lastType: string | undefined;
  const lastTypeBytes = { at: 0, length: -1 };
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    if (direct !== undefined && writeDirect(w, direct, message, lastTypeBytes)) {
      lastType = undefined;
      continue;
    }
    const record = toKafkaRecord(topic, partition, message);
    const mapped = mapper.map(record);
    const event = mapped.event;
    w.ensure(FIXED_BYTES);
    const head = w.at;
    const { buf } = w;
    const offset = record.offset;
    if (offset <= MAX_SAFE) {
      const n = Number(offset);
      buf.writeUInt32LE(n % TWO_32, head);
      buf.writeUInt32LE(Math.floor(n / TWO_32), head + 4);
    } else {
      buf.writeUInt32LE(Number(offset & 0xffffffffn), head);
      buf.writeUInt32LE(Number(offset >> 32n), head + 4);
    }
    const rejected = mapped.kind === 'rejected';
    const sameType = event.type === lastType;
    lastType = event.type;
    buf[head + 8] = (rejected ? 0 : FLAG_METADATA) | (sameType ? FLAG_SAME_TYPE : 0);
    buf[head + 9] = rejected ? 1 + REASONS.indexOf(mapped.reason) : 0;
    w.at += FIXED_BYTES;
    const s = w.text(mapped.streamId, 'utf8');
    const typeAt = w.at;
    const t = sameType ? 0 : w.text(event.type, 'utf8');
    if (!sameType) {
      lastTypeBytes.at = typeAt;
      lastTypeBytes.length = t;
    }
    const id = event.id === undefined ? 0 : w.text(event.id, 'latin1');
    const dataStart = w.at;
    const data = event.data ?? {};
    if (data instanceof Uint8Array) w.bytes(data);
    else w.text(JSON.stringify(data), 'utf8');
    const d = w.at - dataStart;
    const m = rejected ? 0 : w.text(kafkaMetadataText(record), 'utf8');
    // The writer may have grown: the header is written through the current buffer.
    const out = w.buf;
    out.writeUInt16LE(s, head + 10);
    out.writeUInt16LE(t, head + 12);
    out[head + 14] = id;
    out.writeUInt32LE(d, head + 15);
    out.writeUInt32LE(m, head + 19);
    out.writeDoubleLE(record.timestamp, head + 23);
  }
  w.buf.writeUInt32LE(messages.length, 0);
  // The whole allocation is transferred; what follows the records is never read.
  return w.buf.buffer as ArrayBuffer;
}

/** How many records a batch holds, without reading them. */
export function mappedBatchCount(buffer: ArrayBuffer): number {
  return new DataView(buffer).getUint32(0, true);
}

/**
 * Stream names read lately, by a hash of their bytes: a topic maps to a bounded set of streams
 * (one per key, say), so most records name one read before. Handing out that string instead of
 * decoding a new one saves a string per record, and its hash, which V8 keeps with the string, is
 * already known to the maps the fold and the store look it up in. Names that are not ASCII are
 * decoded every time (their length in characters is not their length in bytes).
 */
const KNOWN_STREAMS = 1 << 14;
const knownStreams: (string | undefined)[] = new Array<string | undefined>(KNOWN_STREAMS).fill(undefined);

function streamName(buf: Buffer, at: number, length: number): string {
  let hash = 0x811c9dc5;
  for (let i = at; i < at + length; i++) hash = Math.imul(hash ^ buf[i]!, 0x01000193);
  const slot = (hash >>> 0) & (KNOWN_STREAMS - 1);
  const known = knownStreams[slot];
  if (known !== undefined && known.length === length) {
    let same = true;
    for (let i = 0; i < length && same; i++) same = known.charCodeAt(i) === buf[at + i];
    if (same) return known;
  }
  const name = buf.toString('utf8', at, at + length);
  if (name.length === length) knownStreams[slot] = name;
  return name;
}

/** Reads a batch back; data and metadata are views of `buffer`, which the records keep alive. */
export function decodeMappedBatch(buffer: ArrayBuffer): IngestRecord[] {
  const buf = Buffer.from(buffer);
  const count = buf.readUInt32LE(0);
  const out = new Array<IngestRecord>(count);
  let p = 4;
  let type = '';
  for (let i = 0; i < count; i++) {
    const low = buf.readUInt32LE(p);
    const high = buf.readUInt32LE(p + 4);
    const flags = buf[p + 8]!;
    const reason = buf[p + 9]!;
    const s = buf.readUInt16LE(p + 10);
    const t = buf.readUInt16LE(p + 12);
    const idLength = buf[p + 14]!;
    const d = buf.readUInt32LE(p + 15);
    const m = buf.readUInt32LE(p + 19);
    const timestamp = buf.readDoubleLE(p + 23);
    p += FIXED_BYTES;
    const streamId = streamName(buf, p, s);
    p += s;
    if ((flags & FLAG_SAME_TYPE) === 0) type = buf.toString('utf8', p, p + t);
    p += t;
    const id = idLength === 0 ? undefined : buf.toString('latin1', p, p + idLength);
    p += idLength;
    const data = new Uint8Array(buffer, p, d);
    p += d;
    const metadata = (flags & FLAG_METADATA) === 0 ? undefined : new Uint8Array(buffer, p, m);
    p += m;
    const offset = high < SAFE_HIGH ? BigInt(high * TWO_32 + low) : (BigInt(high) << 32n) | BigInt(low);
    out[i] = { id, type, data, isJson: true, metadata, offset, streamId, rejected: reason === 0 ? undefined : REASONS[reason - 1], timestamp };
  }
  return out;
}
