// Hand-written protobuf for the hot messages of `event_store.client.streams.Streams`: the
// requests of Append and BatchAppend (decoded straight into what the store takes), their
// responses, and the `ReadResp` that carries each event of a read or subscription. google-protobuf's
// generated classes build a JS object per field and a map per event; these write and read the wire
// format directly. Field numbers are the generated code's (`@eventstore/db-client/generated/
// streams_pb.js`, `shared_pb.js`), and the output is byte for byte what the generated classes
// produce for the same message (test/grpc/codec.unit.test.ts checks both directions). Every other
// message still goes through the generated classes.
import { InvalidArgumentError } from '../../store/errors.js';
import type { ExpectedRevision, RecordedEvent } from '../../store/types.js';

const VARINT = 0;
const FIXED64 = 1;
const BYTES = 2;
const FIXED32 = 5;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const TWO_32 = 0x1_0000_0000;

// ---------------------------------------------------------------------------------------------
// Writing

/** A growable buffer with protobuf's primitives. Nested messages reserve one length byte and move their body when it needs more. */
export class ProtoWriter {
  #buf: Buffer;
  #pos = 0;

  constructor(size = 256) {
    this.#buf = Buffer.allocUnsafe(size);
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    // All of it: a nested message's body may lie past the current position (see #lengthBefore).
    const bigger = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + n));
    this.#buf.copy(bigger);
    this.#buf = bigger;
  }

  /** An unsigned integer below 2^53. */
  varint(n: number): void {
    this.#ensure(10);
    const buf = this.#buf;
    let pos = this.#pos;
    while (n >= 0x80) {
      buf[pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    buf[pos++] = n;
    this.#pos = pos;
  }

  /** A 64-bit value given as its two unsigned 32-bit halves (negative int64s are 10 bytes). */
  #varint64(lo: number, hi: number): void {
    this.#ensure(10);
    const buf = this.#buf;
    let pos = this.#pos;
    while (hi !== 0 || lo >= 0x80) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi = hi >>> 7;
    }
    buf[pos++] = lo;
    this.#pos = pos;
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  /** A uint64 field; zero is written too (oneof members are written whatever their value). */
  uint64(field: number, value: bigint | number): void {
    this.tag(field, VARINT);
    if (typeof value === 'number' || value <= 9007199254740991n) this.varint(Number(value));
    else this.#varint64(Number(value & 0xffffffffn), Number((value >> 32n) & 0xffffffffn));
  }

  /** An int64 field from its 64 bits (two's complement halves). */
  int64Bits(field: number, lo: number, hi: number): void {
    this.tag(field, VARINT);
    this.#varint64(lo >>> 0, hi >>> 0);
  }

  bool(field: number, value: boolean): void {
    this.tag(field, VARINT);
    this.varint(value ? 1 : 0);
  }

  bytes(field: number, value: Uint8Array): void {
    this.tag(field, BYTES);
    this.varint(value.length);
    this.raw(value);
  }

  string(field: number, value: string): void {
    this.tag(field, BYTES);
    // Reserve for the longest UTF-8 encoding, then write the length in front.
    const max = value.length * 3;
    this.#ensure(max + 10);
    const lengthAt = this.#pos;
    const lengthBytes = max < 0x80 ? 1 : max < 0x4000 ? 2 : max < 0x200000 ? 3 : max < 0x10000000 ? 4 : 5;
    const written = this.#buf.write(value, lengthAt + lengthBytes, 'utf8');
    this.#pos = lengthAt;
    this.#lengthBefore(lengthAt + lengthBytes, written, lengthBytes);
  }

  /** An empty message (`Empty`, a oneof case with no fields). */
  empty(field: number): void {
    this.tag(field, BYTES);
    this.varint(0);
  }

  raw(value: Uint8Array): void {
    this.#ensure(value.length);
    this.#buf.set(value, this.#pos);
    this.#pos += value.length;
  }

  /** A nested message: `write` fills its body. */
  message(field: number, write: (w: this) => void): void {
    this.tag(field, BYTES);
    this.#ensure(1);
    const bodyAt = ++this.#pos;
    write(this);
    const length = this.#pos - bodyAt;
    this.#pos = bodyAt - 1;
    this.#lengthBefore(bodyAt, length, 1);
  }

  /** Writes `length` as a varint at the current position, where `reserved` bytes were kept, moving the body at `bodyAt` if needed. */
  #lengthBefore(bodyAt: number, length: number, reserved: number): void {
    const needed = length < 0x80 ? 1 : length < 0x4000 ? 2 : length < 0x200000 ? 3 : length < 0x10000000 ? 4 : 5;
    const start = this.#pos;
    if (needed !== reserved) {
      this.#ensure(needed - reserved + (bodyAt - start) + length);
      this.#buf.copyWithin(start + needed, bodyAt, bodyAt + length);
    }
    this.varint(length);
    this.#pos = start + needed + length;
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#pos;
  }

  /**
   * Starts a gRPC length-prefixed message (not compressed; the length is filled in by
   * `endFrame`). Returns where the prefix is.
   */
  beginFrame(): number {
    this.#ensure(5);
    const at = this.#pos;
    this.#buf[at] = 0;
    this.#pos = at + 5;
    return at;
  }

  /** Ends the message begun at `at`: its length goes into the prefix. */
  endFrame(at: number): void {
    this.#buf.writeUInt32BE(this.#pos - at - 5, at + 1);
  }

  /** The bytes written (a view of this writer's buffer). */
  finish(): Buffer {
    return this.#buf.subarray(0, this.#pos);
  }
}

/** A UUID (`event_store.client.UUID`): the string case, or two int64 halves (`structured`). */
function writeUuid(w: ProtoWriter, field: number, id: string, asString: boolean): void {
  w.message(field, (u) => {
    if (asString) {
      u.string(2, id);
      return;
    }
    const hex = id.length === 36 ? id.slice(0, 8) + id.slice(9, 13) + id.slice(14, 18) + id.slice(19, 23) + id.slice(24) : id;
    const mostHi = parseInt(hex.slice(0, 8), 16);
    const mostLo = parseInt(hex.slice(8, 16), 16);
    const leastHi = parseInt(hex.slice(16, 24), 16);
    const leastLo = parseInt(hex.slice(24, 32), 16);
    u.message(1, (s) => {
      if (mostHi !== 0 || mostLo !== 0) s.int64Bits(1, mostLo, mostHi);
      if (leastHi !== 0 || leastLo !== 0) s.int64Bits(2, leastLo, leastHi);
    });
  });
}

const nameBytes = new Map<string, Buffer>();
/** A stream name's UTF-8 bytes, cached for the names a server sees over and over. */
function streamNameBytes(name: string): Buffer {
  let bytes = nameBytes.get(name);
  if (bytes === undefined) {
    bytes = Buffer.from(name, 'utf8');
    if (nameBytes.size >= 10_000) nameBytes.clear();
    nameBytes.set(name, bytes);
  }
  return bytes;
}

/** `ReadResp.ReadEvent.RecordedEvent` fields: id, stream, revision, positions, metadata map (sorted keys, as jspb writes maps), custom metadata, data. */
function writeRecordedEvent(w: ProtoWriter, e: RecordedEvent, uuidAsString: boolean): void {
  writeUuid(w, 1, e.id, uuidAsString);
  const name = streamNameBytes(e.streamId);
  w.message(2, (s) => {
    if (name.length > 0) s.bytes(3, name);
  });
  if (e.revision !== 0n) w.uint64(3, e.revision);
  if (e.position !== 0n) {
    w.uint64(4, e.position);
    w.uint64(5, e.position);
  }
  const entry = (key: string, value: string) =>
    w.message(6, (m) => {
      m.string(1, key);
      m.string(2, value);
    });
  entry('content-type', e.isJson ? 'application/json' : 'application/octet-stream');
  entry('created', `${e.created.getTime()}0000`);
  entry('type', e.type);
  if (e.metadataBytes.length > 0) w.bytes(7, e.metadataBytes);
  if (e.dataBytes.length > 0) w.bytes(8, e.dataBytes);
}

/** `ReadResp { event: ReadEvent { event, link?, commit_position } }` for one event of a read or subscription. */
export function writeReadEvent(w: ProtoWriter, e: RecordedEvent, uuidAsString: boolean): void {
  w.message(1, (r) => {
    r.message(1, (m) => writeRecordedEvent(m, e, uuidAsString));
    if (e.link !== undefined) {
      const link = e.link;
      r.message(2, (m) => writeRecordedEvent(m, link, uuidAsString));
    }
    r.uint64(3, (e.link ?? e).position);
  });
}

/**
 * `persistent_subscriptions.ReadResp { event: ReadEvent { event, link?, commit_position, retry_count } }`
 * for one message a persistent subscription delivers (its RecordedEvent has the Streams one's fields).
 */
export function writePersistentReadEvent(w: ProtoWriter, e: RecordedEvent, retryCount: number, uuidAsString: boolean): void {
  w.message(1, (r) => {
    r.message(1, (m) => writeRecordedEvent(m, e, uuidAsString));
    if (e.link !== undefined) {
      const link = e.link;
      r.message(2, (m) => writeRecordedEvent(m, link, uuidAsString));
    }
    r.uint64(3, (e.link ?? e).position);
    r.tag(5, VARINT);
    r.varint(retryCount);
  });
}

/** `writeReadEvent` into a buffer of its own. */
export function encodeReadEvent(e: RecordedEvent, uuidAsString: boolean): Buffer {
  const w = new ProtoWriter(256 + e.dataBytes.length + e.metadataBytes.length);
  writeReadEvent(w, e, uuidAsString);
  return w.finish();
}

/** The outcome of an append as both responses carry it. */
export type AppendOutcome =
  | { readonly kind: 'success'; readonly nextExpectedRevision: bigint; readonly position: bigint }
  | { readonly kind: 'wrong-expected-version'; readonly expected: ExpectedRevision; readonly actual: bigint };

/** `Success`: current_revision or no_stream, then position { commit, prepare } or no_position. */
function writeSuccess(w: ProtoWriter, nextExpectedRevision: bigint, position: bigint): void {
  if (nextExpectedRevision < 0n) {
    w.empty(2);
    w.empty(4);
    return;
  }
  w.uint64(1, nextExpectedRevision);
  w.message(3, (p) => {
    if (position !== 0n) {
      p.uint64(1, position);
      p.uint64(2, position);
    }
  });
}

/** `AppendResp` into a buffer of its own. */
export function encodeAppendResp(outcome: AppendOutcome): Buffer {
  const w = new ProtoWriter(64);
  writeAppendResp(w, outcome);
  return w.finish();
}

/** `AppendResp`: success, or wrong_expected_version with the current and expected revision (the 20.6 fields left out). */
export function writeAppendResp(w: ProtoWriter, outcome: AppendOutcome): void {
  if (outcome.kind === 'success') {
    w.message(1, (s) => writeSuccess(s, outcome.nextExpectedRevision, outcome.position));
  } else {
    w.message(2, (m) => {
      if (outcome.actual >= 0n) m.uint64(6, outcome.actual);
      else m.empty(7);
      const expected = outcome.expected;
      if (typeof expected === 'bigint') m.uint64(8, expected);
      else if (expected === 'any') m.empty(9);
      else if (expected === 'stream_exists') m.empty(10);
      else m.empty(11);
    });
  }
}

/**
 * `BatchAppendResp`: the request's correlation id and stream identifier echoed as they came (their
 * encoded bytes), then success or an error (`google.rpc.Status`, already encoded), then the
 * expected position the request gave.
 */
export function encodeBatchAppendResp(
  correlation: Uint8Array | undefined,
  result: BatchAppendResult,
  identifier: Uint8Array | undefined,
  expected: ExpectedRevision,
): Buffer {
  const w = new ProtoWriter(96);
  writeBatchAppendResp(w, correlation, result, identifier, expected);
  return w.finish();
}

/** What a BatchAppend response reports: the append's result, or its failure as an encoded `google.rpc.Status`. */
export type BatchAppendResult = { readonly success: { readonly nextExpectedRevision: bigint; readonly position: bigint } } | { readonly error: Uint8Array };

export function writeBatchAppendResp(w: ProtoWriter, correlation: Uint8Array | undefined, result: BatchAppendResult, identifier: Uint8Array | undefined, expected: ExpectedRevision): void {
  if (correlation !== undefined) {
    w.tag(1, BYTES);
    w.varint(correlation.length);
    w.raw(correlation);
  }
  if ('error' in result) w.bytes(2, result.error);
  else w.message(3, (s) => writeSuccess(s, result.success.nextExpectedRevision, result.success.position));
  if (identifier !== undefined) w.bytes(4, identifier);
  if (typeof expected === 'bigint') w.uint64(5, expected);
  else if (expected === 'no_stream') w.empty(6);
  else if (expected === 'stream_exists') w.empty(8);
  else w.empty(7);
}

// ---------------------------------------------------------------------------------------------
// Reading
//
// One cursor per request: a nested message narrows it (`enter`) and widens it back (`leave`), so
// decoding a request allocates no reader per field; strings are sliced from the request's buffer,
// and the metadata keys and content types the clients send are compared as bytes, not decoded.

/** A cursor over one message's bytes (a Buffer, so strings are sliced from it without a copy). */
export class ProtoReader {
  readonly buf: Buffer;
  pos: number;
  end: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
    this.end = end;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** An unsigned varint below 2^53 (larger ones lose precision; use `uint64`). */
  varint(): number {
    const buf = this.buf;
    let pos = this.pos;
    if (pos < this.end) {
      const b = buf[pos]!;
      // Tags and short lengths: one byte.
      if (b < 0x80) {
        this.pos = pos + 1;
        return b;
      }
    }
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= this.end) throw truncated();
      const b = buf[pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) {
        this.pos = pos;
        return result;
      }
      scale *= 0x80;
    }
    throw new InvalidArgumentError('Malformed protobuf: a varint longer than 10 bytes');
  }

  /** A varint as its 64 bits: [low 32, high 32], unsigned. */
  varint64(): [number, number] {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw truncated();
      const b = buf[this.pos++]!;
      if (shift < 28) lo |= (b & 0x7f) << shift;
      else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >>> 4;
      } else hi |= (b & 0x7f) << (shift - 32);
      if (b < 0x80) return [lo >>> 0, hi >>> 0];
      shift += 7;
    }
    throw new InvalidArgumentError('Malformed protobuf: a varint longer than 10 bytes');
  }

  uint64(): bigint {
    const [lo, hi] = this.varint64();
    return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** A length-delimited field's extent: [start, end) within `buf`. */
  span(): [number, number] {
    const start = this.#spanEnd();
    const end = this.pos;
    return [start, end];
  }

  /** Skips a length-delimited field, leaving `pos` at its end; returns its start. */
  #spanEnd(): number {
    const length = this.varint();
    const start = this.pos;
    const end = start + length;
    if (end > this.end) throw truncated();
    this.pos = end;
    return start;
  }

  /** A length-delimited field's bytes (a view, not a copy). */
  bytes(): Buffer {
    const start = this.#spanEnd();
    return this.buf.subarray(start, this.pos);
  }

  /** A length-delimited field as UTF-8 text (malformed sequences become U+FFFD, as the generated classes read them). */
  string(): string {
    const start = this.#spanEnd();
    return this.buf.toString('utf8', start, this.pos);
  }

  /**
   * An event type: the same text as the last one decoded is not decoded again (a batch is mostly
   * events of one or a few types).
   */
  type(): string {
    const start = this.#spanEnd();
    const end = this.pos;
    const last = lastType;
    const length = end - start;
    if (last !== undefined && last.bytes.length === length) {
      const buf = this.buf;
      let i = 0;
      while (i < length && buf[start + i] === last.bytes[i]) i++;
      if (i === length) return last.text;
    }
    const text = this.buf.toString('utf8', start, end);
    // Long types are decoded every time rather than kept.
    if (length <= 256) lastType = { bytes: Buffer.from(this.buf.subarray(start, end)), text };
    return text;
  }

  /** Whether the length-delimited field here holds exactly `expected`; skips it either way. */
  equals(expected: Uint8Array): boolean {
    const start = this.#spanEnd();
    const length = this.pos - start;
    if (length !== expected.length) return false;
    const buf = this.buf;
    for (let i = 0; i < length; i++) if (buf[start + i] !== expected[i]) return false;
    return true;
  }

  /** Narrows the cursor to the nested message here; returns the outer end, for `leave`. */
  enter(): number {
    const length = this.varint();
    const end = this.pos + length;
    if (end > this.end) throw truncated();
    const outer = this.end;
    this.end = end;
    return outer;
  }

  /** Moves past the nested message entered and widens the cursor back to `outer`. */
  leave(outer: number): void {
    this.pos = this.end;
    this.end = outer;
  }

  skip(wire: number): void {
    switch (wire) {
      case VARINT:
        this.varint64();
        return;
      case FIXED64:
        this.pos += 8;
        break;
      case BYTES:
        this.#spanEnd();
        return;
      case FIXED32:
        this.pos += 4;
        break;
      default:
        throw new InvalidArgumentError(`Malformed protobuf: wire type ${wire}`);
    }
    if (this.pos > this.end) throw truncated();
  }
}

function truncated(): InvalidArgumentError {
  return new InvalidArgumentError('Malformed protobuf: a message ends early');
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');
/** The last event type decoded, by its bytes (see `ProtoReader.type`). */
let lastType: { readonly bytes: Buffer; readonly text: string } | undefined;
const ascii = (text: string) => Buffer.from(text, 'latin1');
const TYPE_KEY = ascii('type');
const CONTENT_TYPE_KEY = ascii('content-type');
const JSON_CONTENT_TYPE = 'application/json';
const BINARY_CONTENT_TYPE = 'application/octet-stream';
const JSON_CONTENT_TYPE_BYTES = ascii(JSON_CONTENT_TYPE);
const BINARY_CONTENT_TYPE_BYTES = ascii(BINARY_CONTENT_TYPE);

/**
 * `event_store.client.UUID` at the cursor: the string case as sent (the store checks and
 * lower-cases event ids, in one place for every protocol), the structured case as lowercase
 * text; undefined when neither case is set.
 */
function readUuid(r: ProtoReader): string | undefined {
  const outer = r.enter();
  let id: string | undefined;
  while (!r.done) {
    const tag = r.varint();
    if (tag === ((2 << 3) | BYTES)) id = r.string();
    else if (tag === ((1 << 3) | BYTES)) {
      const inner = r.enter();
      let most: [number, number] = [0, 0];
      let least: [number, number] = [0, 0];
      while (!r.done) {
        const t = r.varint();
        if (t === 8) most = r.varint64();
        else if (t === 16) least = r.varint64();
        else r.skip(t & 7);
      }
      r.leave(inner);
      const m = hex8(most[1]) + hex8(most[0]);
      const l = hex8(least[1]) + hex8(least[0]);
      id = `${m.slice(0, 8)}-${m.slice(8, 12)}-${m.slice(12)}-${l.slice(0, 4)}-${l.slice(4)}`;
    } else r.skip(tag & 7);
  }
  r.leave(outer);
  return id;
}

/** A proposed event as it came: its id (undefined when none was sent), the two required metadata entries, and the data and custom metadata bytes. */
export interface ProposedEvent {
  readonly id: string | undefined;
  readonly type: string | undefined;
  readonly contentType: string | undefined;
  /** A view of the request's bytes. */
  readonly data: Buffer;
  /** A view of the request's bytes; empty when none was sent. */
  readonly customMetadata: Buffer;
}

const EMPTY_BUFFER: Buffer = Buffer.alloc(0);

/** `ProposedMessage` (same fields in Append and BatchAppend): id 1, metadata map 2 (entries: key 1, value 2), custom_metadata 3, data 4. */
function readProposed(r: ProtoReader): ProposedEvent {
  const outer = r.enter();
  let id: string | undefined;
  let type: string | undefined;
  let contentType: string | undefined;
  let data = EMPTY_BUFFER;
  let customMetadata = EMPTY_BUFFER;
  while (!r.done) {
    const tag = r.varint();
    switch (tag) {
      case (1 << 3) | BYTES:
        id = readUuid(r);
        break;
      case (2 << 3) | BYTES: {
        const entry = r.enter();
        // 0: another key, 1: type, 2: content-type
        let key = 0;
        let value: string | undefined;
        while (!r.done) {
          const t = r.varint();
          if (t === ((1 << 3) | BYTES)) {
            const at = r.pos;
            key = r.equals(TYPE_KEY) ? 1 : 0;
            if (key === 0) {
              r.pos = at;
              key = r.equals(CONTENT_TYPE_KEY) ? 2 : 0;
            }
          } else if (t === ((2 << 3) | BYTES)) {
            const at = r.pos;
            if (key === 1) value = r.type();
            // The two content types every client sends are recognised without decoding.
            else if (r.equals(JSON_CONTENT_TYPE_BYTES)) value = JSON_CONTENT_TYPE;
            else {
              r.pos = at;
              if (r.equals(BINARY_CONTENT_TYPE_BYTES)) value = BINARY_CONTENT_TYPE;
              else {
                r.pos = at;
                value = r.string();
              }
            }
          } else r.skip(t & 7);
        }
        r.leave(entry);
        if (key === 1) type = value ?? '';
        else if (key === 2) contentType = value ?? '';
        break;
      }
      case (3 << 3) | BYTES:
        customMetadata = r.bytes();
        break;
      case (4 << 3) | BYTES:
        data = r.bytes();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  r.leave(outer);
  return { id, type, contentType, data, customMetadata };
}

/** Where to append: the stream name, the `StreamIdentifier` message's bytes (echoed in BatchAppend responses) and the expected revision. */
export interface AppendTarget {
  readonly streamName: string;
  readonly identifier: Uint8Array;
  readonly expected: ExpectedRevision;
}

/** `Options` of Append and BatchAppend: stream_identifier 1, then the expected revision oneof: revision 2, no_stream 3, any 4, stream_exists 5. */
function readTarget(r: ProtoReader): AppendTarget {
  const outer = r.enter();
  let identifier: Buffer | undefined;
  let expected: ExpectedRevision = 'any';
  while (!r.done) {
    const tag = r.varint();
    switch (tag) {
      case (1 << 3) | BYTES:
        identifier = r.bytes();
        break;
      case (2 << 3) | VARINT:
        expected = r.uint64();
        break;
      case (3 << 3) | BYTES:
        r.skip(BYTES);
        expected = 'no_stream';
        break;
      case (4 << 3) | BYTES:
        r.skip(BYTES);
        expected = 'any';
        break;
      case (5 << 3) | BYTES:
        r.skip(BYTES);
        expected = 'stream_exists';
        break;
      default:
        r.skip(tag & 7);
    }
  }
  r.leave(outer);
  if (identifier === undefined) throw new InvalidArgumentError('A stream identifier is required', 'invalid-stream-name');
  return { streamName: streamNameIn(identifier), identifier, expected };
}

const streamNames = new Map<string, string>();
/**
 * `StreamIdentifier { bytes stream_name = 3 }`, decoded as strict UTF-8. A server sees the same
 * few identifiers over and over, so they are remembered by their bytes.
 */
function streamNameIn(identifier: Buffer): string {
  const key = identifier.toString('latin1');
  const known = streamNames.get(key);
  if (known !== undefined) return known;
  const s = new ProtoReader(identifier);
  let start = 0;
  let end = 0;
  while (!s.done) {
    const tag = s.varint();
    if (tag === ((3 << 3) | BYTES)) [start, end] = s.span();
    else s.skip(tag & 7);
  }
  let name: string;
  try {
    name = strictUtf8.decode(identifier.subarray(start, end));
  } catch {
    throw new InvalidArgumentError('The stream name is not valid UTF-8', 'invalid-stream-name');
  }
  if (streamNames.size >= 10_000) streamNames.clear();
  streamNames.set(key, name);
  return name;
}

/** `AppendReq`: options (1) or one proposed_message (2). */
export interface AppendRequest {
  readonly options?: AppendTarget;
  readonly proposed?: ProposedEvent;
}

export function decodeAppendReq(bytes: Uint8Array): AppendRequest {
  const r = new ProtoReader(bytes);
  let options: AppendTarget | undefined;
  let proposed: ProposedEvent | undefined;
  while (!r.done) {
    const tag = r.varint();
    if (tag === ((1 << 3) | BYTES)) {
      options = readTarget(r);
      proposed = undefined;
    } else if (tag === ((2 << 3) | BYTES)) {
      proposed = readProposed(r);
      options = undefined;
    } else r.skip(tag & 7);
  }
  return { ...(options !== undefined ? { options } : {}), ...(proposed !== undefined ? { proposed } : {}) };
}

/** `BatchAppendReq`: correlation_id 1 (kept as its bytes, echoed back), options 2, proposed_messages 3 (repeated), is_final 4. */
export interface BatchAppendRequest {
  readonly correlation: Uint8Array | undefined;
  readonly options: AppendTarget | undefined;
  readonly proposed: ProposedEvent[];
  readonly isFinal: boolean;
}

export function decodeBatchAppendReq(bytes: Uint8Array): BatchAppendRequest {
  const r = new ProtoReader(bytes);
  let correlation: Uint8Array | undefined;
  let options: AppendTarget | undefined;
  const proposed: ProposedEvent[] = [];
  let isFinal = false;
  while (!r.done) {
    const tag = r.varint();
    switch (tag) {
      case (1 << 3) | BYTES:
        correlation = r.bytes();
        break;
      case (2 << 3) | BYTES:
        options = readTarget(r);
        break;
      case (3 << 3) | BYTES:
        proposed.push(readProposed(r));
        break;
      case (4 << 3) | VARINT:
        isFinal = r.varint() !== 0;
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return { correlation, options, proposed, isFinal };
}

/** A correlation id's bytes as a map key. */
export function correlationKey(correlation: Uint8Array | undefined): string {
  return correlation === undefined ? '' : Buffer.from(correlation.buffer, correlation.byteOffset, correlation.byteLength).toString('latin1');
}
