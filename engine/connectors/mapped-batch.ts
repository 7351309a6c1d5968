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
import { kafkaMetadataText, toKafkaRecord } from './kafka-record.js';
import type { RecordMapper, RejectionReason } from './record-mapping.js';

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
    this.buf.set(value, this.at);
    this.at += value.length;
  }
}

/**
 * Maps kafkajs's messages of one partition and writes them as a batch, straight from each mapping
 * to the buffer (no record objects in between), the `$kafka` metadata written as text: the fetch
 * thread's part of ingest. `mapper` must map `asBytes` without `coordinates`; the batch reads back
 * as `mapMessages` with a mapper that has them would give.
 */
export function encodeMappedMessages(mapper: RecordMapper, topic: string, partition: number, messages: readonly KafkaMessage[]): ArrayBuffer {
  // Usually enough; the writer grows otherwise (long dead-letter texts).
  let estimate = 4;
  for (const m of messages) estimate += FIXED_BYTES + 320 + (m.value?.length ?? 0) + 3 * (m.key?.length ?? 0);
  const w = new BatchWriter(estimate);
  w.at = 4;
  let lastType: string | undefined;
  for (let i = 0; i < messages.length; i++) {
    const record = toKafkaRecord(topic, partition, messages[i]!);
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
    const t = sameType ? 0 : w.text(event.type, 'utf8');
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
    const streamId = buf.toString('utf8', p, p + s);
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
