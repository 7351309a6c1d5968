// One event's bytes in Redis. Every event is one entry of the `$all` Redis stream, with two fields:
// `r`, its revision (written by the commit script, which is the only place revisions are known),
// and `b`, the body below, built here. The body is the only copy of the payload; per-stream lists
// hold positions, never payload.
//
//   offset  size  field
//   0       16    event id, the UUID's 16 raw bytes (the commit script reads it for idempotency)
//   16      1     flags: bit 0 = data is JSON
//   17      8     created, milliseconds since the epoch, float64 big-endian
//   25      2     stream name length S (u16 BE), then S bytes of UTF-8
//   27+S    2     event type length T (u16 BE), then T bytes of UTF-8
//   ..      4     metadata length M (u32 BE), then M bytes
//   ..      rest  data
//
// The commit script builds the same layout in Lua for the metadata it rewrites when a soft-deleted
// stream is recreated (store/redis/scripts.ts `buildBody`); keep the two in step.
import type { PreparedEvent, StoredRecord } from '../backend.js';

const FLAG_JSON = 1;
const FIXED = 16 + 1 + 8;

/** The 16 raw bytes of a UUID (`EventStore` has already checked and lower-cased it). */
export function uuidBytes(id: string): Buffer {
  return Buffer.from(id.replace(/-/g, ''), 'hex');
}

function uuidText(body: Buffer): string {
  const h = body.toString('hex', 0, 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function encodeBody(streamId: string, event: PreparedEvent, created: number): Buffer {
  const streamBytes = Buffer.byteLength(streamId, 'utf8');
  const typeBytes = Buffer.byteLength(event.type, 'utf8');
  const size = FIXED + 2 + streamBytes + 2 + typeBytes + 4 + event.metadata.length + event.data.length;
  const body = Buffer.allocUnsafe(size);
  body.write(event.id.replace(/-/g, ''), 0, 16, 'hex');
  body[16] = event.isJson ? FLAG_JSON : 0;
  body.writeDoubleBE(created, 17);
  let at = FIXED;
  body.writeUInt16BE(streamBytes, at);
  at += 2 + body.write(streamId, at + 2, 'utf8');
  body.writeUInt16BE(typeBytes, at);
  at += 2 + body.write(event.type, at + 2, 'utf8');
  body.writeUInt32BE(event.metadata.length, at);
  at += 4;
  body.set(event.metadata, at);
  body.set(event.data, at + event.metadata.length);
  return body;
}

/** A record from its position, its revision (`r`, decimal text) and its body (`b`). */
export function decodeRecord(position: bigint, revision: Buffer | string, body: Buffer): StoredRecord {
  let at = FIXED;
  const streamLength = body.readUInt16BE(at);
  const streamId = body.toString('utf8', at + 2, at + 2 + streamLength);
  at += 2 + streamLength;
  const typeLength = body.readUInt16BE(at);
  const type = body.toString('utf8', at + 2, at + 2 + typeLength);
  at += 2 + typeLength;
  const metadataLength = body.readUInt32BE(at);
  at += 4;
  return {
    streamId,
    revision: BigInt(typeof revision === 'string' ? revision : revision.toString('latin1')),
    position,
    id: uuidText(body),
    type,
    isJson: (body[16]! & FLAG_JSON) !== 0,
    metadata: body.subarray(at, at + metadataLength),
    data: body.subarray(at + metadataLength),
    created: body.readDoubleBE(17),
  };
}

/** The position in a `$all` entry id, `0-<position>`. */
export function positionOfEntryId(id: Buffer | string): bigint {
  const text = typeof id === 'string' ? id : id.toString('latin1');
  return BigInt(text.slice(text.indexOf('-') + 1));
}

/** Decodes an XRANGE/XREVRANGE reply of `$all` entries (`[id, ['r', revision, 'b', body]]`). */
export function decodeEntries(entries: readonly [Buffer, Buffer[]][]): StoredRecord[] {
  const out: StoredRecord[] = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const [id, fields] = entries[i]!;
    out[i] = decodeRecord(positionOfEntryId(id), fields[1]!, fields[3]!);
  }
  return out;
}
