// Encodes a batch of events as the two JSON texts the prelude parses: one array of headers built by
// string concatenation, and one array of bodies built by copying the stored JSON bytes into one
// buffer and decoding it once. That keeps the host's per-event cost (what the benchmark's ratio to a
// plain-Node fold measures) to a few field reads and one byte copy; the parsing happens in the
// isolate, on its own thread.
//
// A JSON body goes in as its raw bytes: the Store port writes `isJson` data only through
// JSON.stringify, so it is valid JSON and cannot break the framing. If the isolate ever fails to
// parse a batch anyway, the runner re-encodes it with `safe` set, which re-serialises each body.
import type { StoredRecord, StoredRecordRaw } from '../../store/backend.js';
import type { RecordedEvent } from '../../store/types.js';

/** A stream deletion seen on the reader, delivered to `$deleted` handlers. */
export interface DeletionNotice {
  readonly deleted: 'soft' | 'hard';
  readonly streamId: string;
  readonly position: bigint;
}

export type BatchItem = RecordedEvent | DeletionNotice;

export function isDeletionNotice(item: BatchItem): item is DeletionNotice {
  return (item as DeletionNotice).deleted !== undefined;
}

/**
 * The stored record of an event read from a backend that offers `StoredRecordRaw` (the log), when
 * the event is that record itself (not a resolved link): where its payload lies, and its revision
 * and position as numbers, read without a view, a BigInt or a Date.
 */
export function rawRecordOf(item: BatchItem): (StoredRecord & StoredRecordRaw) | undefined {
  const r = (item as { record?: StoredRecord }).record;
  if (r === undefined || (r as Partial<StoredRecordRaw>).raw === undefined || (item as RecordedEvent).link !== undefined) return undefined;
  return r as StoredRecord & StoredRecordRaw;
}

/**
 * The two texts of a batch: `headers` is `[[stream, revision, type, id, position, created, kind,
 * bodyEnd, metadata?, linkMetadata?, originalStream?, rawBody?], …]`, `bodies` the JSON bodies
 * joined by commas. When `ascii`, `bodyEnd` is a character offset into `bodies`, so the isolate
 * parses a body only when a handler reads it. `created` is null when it is the previous header's.
 */
export interface EncodedBatch {
  readonly headers: string;
  /** Null when the batch goes without bodies (`BatchEncoder.bodies` gives them later). */
  readonly bodies: string | null;
  readonly ascii: boolean;
}

/** Header kinds: 1 JSON body, 0 raw body (in the header), 2 empty JSON body, 3 hard delete, 4 soft delete. */
const decoder = new TextDecoder();
const NULL = Buffer.from('null');
const COMMA = 0x2c;
const OPEN = 0x5b;
const CLOSE = 0x5d;
const QUOTE = 0x22;
const ZERO = 0x30;
const MINUS = 0x2d;
/** `00` to `99` as character codes, two per number. */
const DIGIT_PAIRS = Uint8Array.from({ length: 200 }, (_, i) => ZERO + (i & 1 ? (i >> 1) % 10 : Math.floor((i >> 1) / 10)));

/** Node's direct slice decoders and writers, which skip `toString`'s encoding dispatch on this hot path. */
interface FastBuffer extends Buffer {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number, length: number): number;
  utf8Write(s: string, offset: number): number;
}

/**
 * A growable byte buffer the headers and bodies are written into: both texts are built as bytes
 * and decoded once per batch, so the host allocates no string per event (header text by string
 * concatenation cost as much as reading the event; the ropes it made also had to be flattened
 * when handed to the isolate).
 */
class ByteText {
  buf = Buffer.allocUnsafe(1 << 20) as FastBuffer;
  len = 0;
  /** Every byte written so far is ASCII (so byte offsets are character offsets). */
  ascii = true;

  reset(): void {
    this.len = 0;
    this.ascii = true;
  }

  byte(b: number): void {
    if (this.len + 1 > this.buf.length) this.#grow(1);
    this.buf[this.len++] = b;
  }

  bytes(b: Uint8Array): void {
    if (this.len + b.length > this.buf.length) this.#grow(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** `null`, written byte by byte: two per header (id and created), where a native `set` of 4 bytes costs more. */
  null(): void {
    if (this.len + 4 > this.buf.length) this.#grow(4);
    const buf = this.buf;
    const at = this.len;
    buf[at] = 0x6e;
    buf[at + 1] = 0x75;
    buf[at + 2] = 0x6c;
    buf[at + 3] = 0x6c;
    this.len = at + 4;
  }

  /** `source[start, end)`, copied without a view of it. */
  range(source: Buffer, start: number, end: number): void {
    if (this.len + end - start > this.buf.length) this.#grow(end - start);
    this.len += source.copy(this.buf, this.len, start, end);
  }

  /**
   * A non-negative safe integer, or any number through its string form. Three of them per header
   * (revision, position, body end) made this the encoder's hottest loop: the length comes from
   * comparisons and the digits two at a time, so a 9-digit position costs 4 divisions, not 17.
   */
  number(n: number): void {
    if (n >= 0 && n <= 0x7fffffff && (n | 0) === n) {
      const digits = n < 100000 ? (n < 100 ? (n < 10 ? 1 : 2) : n < 1000 ? 3 : n < 10000 ? 4 : 5) : n < 10000000 ? (n < 1000000 ? 6 : 7) : n < 100000000 ? 8 : n < 1000000000 ? 9 : 10;
      if (this.len + digits > this.buf.length) this.#grow(digits);
      let at = this.len + digits;
      this.len = at;
      const buf = this.buf;
      let x = n;
      while (x >= 100) {
        const q = (x / 100) | 0;
        const pair = (x - q * 100) << 1;
        buf[--at] = DIGIT_PAIRS[pair + 1]!;
        buf[--at] = DIGIT_PAIRS[pair]!;
        x = q;
      }
      if (x >= 10) {
        buf[--at] = DIGIT_PAIRS[(x << 1) + 1]!;
        buf[--at] = DIGIT_PAIRS[x << 1]!;
      } else buf[--at] = ZERO + x;
      return;
    }
    this.ascii8(Number.isFinite(n) ? String(n) : 'null');
  }

  /** A string known to be printable ASCII without quotes or backslashes (numbers, UUIDs), written without a native call. */
  ascii8(s: string): void {
    const n = s.length;
    if (this.len + n > this.buf.length) this.#grow(n);
    const buf = this.buf;
    let at = this.len;
    for (let i = 0; i < n; i++) buf[at++] = s.charCodeAt(i);
    this.len = at;
  }

  /** ASCII text as it is (JSON punctuation, numbers, ids). */
  text(s: string): void {
    if (this.len + s.length * 3 > this.buf.length) this.#grow(s.length * 3);
    const n = this.buf.utf8Write(s, this.len);
    if (n !== s.length) this.ascii = false;
    this.len += n;
  }

  /** A string as a JSON string literal; printable ASCII is copied in the check loop itself. */
  quoted(s: string): void {
    const n = s.length;
    if (this.len + n + 2 > this.buf.length) this.#grow(n + 2);
    const buf = this.buf;
    let at = this.len;
    buf[at++] = QUOTE;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c > 0x7e || c === QUOTE || c === 0x5c) {
        this.text(JSON.stringify(s));
        return;
      }
      buf[at++] = c;
    }
    buf[at++] = QUOTE;
    this.len = at;
  }

  /** The text; `ascii` is also found out for bytes copied in unchecked (a UTF-8 decode is cheaper than a check per byte). */
  toString(): string {
    if (this.ascii) {
      const text = this.buf.utf8Slice(0, this.len);
      this.ascii = text.length === this.len;
      return text;
    }
    return this.buf.utf8Slice(0, this.len);
  }

  #grow(n: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n)) as FastBuffer;
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
}

export class BatchEncoder {
  readonly #headers = new ByteText();
  readonly #bodies = new ByteText();

  /**
   * `withIds` false leaves every event id out (`null`): decoding the stored UUID costs the host
   * more than the rest of the header, and most projections never read `eventId`. The isolate asks
   * for `ids(items)` when a handler does.
   *
   * `withBodies` false leaves the bodies out (`bodies` is null) but writes the same headers, body
   * offsets included: a projection whose handlers read only the envelope (a count by type, a
   * linkTo) then costs the host no body copy, and the isolate no transfer of it. The isolate asks
   * for `bodies(items)` when a handler reads one. `safe` always writes them.
   */
  encode(items: readonly BatchItem[], safe = false, withIds = true, withBodies = true): EncodedBatch {
    const h = this.#headers;
    const b = this.#bodies;
    const bodies = withBodies || safe;
    h.reset();
    b.reset();
    this.#bodyLen = 0;
    this.#previousCreated = NaN;
    h.byte(OPEN);
    for (let i = 0; i < items.length; i++) {
      if (i > 0) {
        h.byte(COMMA);
        if (bodies) b.byte(COMMA);
        else this.#bodyLen++;
      }
      const item = items[i]!;
      if (isDeletionNotice(item)) {
        if (bodies) b.bytes(NULL);
        else this.#bodyLen += NULL.length;
        h.text(`[${JSON.stringify(item.streamId)},-1,"",null,${Number(item.position)},0,${item.deleted === 'soft' ? 4 : 3},${bodies ? b.len : this.#bodyLen}]`);
        this.#previousCreated = 0;
        continue;
      }
      this.#event(item, safe, withIds, bodies);
    }
    h.byte(CLOSE);
    return bodies ? { headers: h.toString(), bodies: b.toString(), ascii: b.ascii } : { headers: h.toString(), bodies: null, ascii: true };
  }

  /** The bodies of a batch encoded without them, as `encode` would have written them (`safe` re-serialises each). */
  bodies(items: readonly BatchItem[], safe = false): { bodies: string; ascii: boolean } {
    const b = this.#bodies;
    b.reset();
    for (let i = 0; i < items.length; i++) {
      if (i > 0) b.byte(COMMA);
      const item = items[i]!;
      if (isDeletionNotice(item)) {
        b.bytes(NULL);
        continue;
      }
      const r = (item as { record?: StoredRecord }).record;
      const data = r?.data ?? item.dataBytes;
      if ((r?.isJson ?? item.isJson) && !isBlank(data)) b.bytes(safe ? Buffer.from(safeJson(data)) : data);
      else b.bytes(NULL);
    }
    return { bodies: b.toString(), ascii: b.ascii };
  }

  /** Where the bodies text would end so far, when the bodies are not written. */
  #bodyLen = 0;

  #event(e: RecordedEvent, safe: boolean, withIds: boolean, bodies: boolean): void {
    const h = this.#headers;
    const b = this.#bodies;
    const link = e.link;
    // The store's own event class exposes its raw record: reading it skips the getters and the Date.
    const r = (e as { record?: StoredRecord }).record;
    // A log record also says where its payload lies: a JSON body with no metadata (the common
    // event) is then copied and numbered without a view, a BigInt or any other object.
    const raw = r !== undefined && (r as Partial<StoredRecordRaw>).raw !== undefined ? (r as StoredRecord & StoredRecordRaw) : undefined;
    if (raw !== undefined && !safe && link === undefined && raw.metadataLength === 0 && raw.isJson) {
      const at = raw.dataAt;
      const end = at + raw.dataLength;
      const kind = isBlankRange(raw.raw, at, end) ? 2 : 1;
      if (!bodies) this.#bodyLen += kind === 1 ? end - at : NULL.length;
      else if (kind === 1) b.range(raw.raw, at, end);
      else b.bytes(NULL);
      this.#header(raw, raw.revisionNumber, raw.positionNumber, kind, withIds, bodies);
      h.byte(CLOSE);
      return;
    }
    const data = r?.data ?? e.dataBytes;
    const meta = r?.metadata ?? e.metadataBytes;
    let kind: number;
    if (r?.isJson ?? e.isJson) kind = isBlank(data) ? 2 : 1;
    else kind = 0;
    if (!bodies) this.#bodyLen += kind === 1 ? data.length : NULL.length;
    else if (kind !== 1) b.bytes(NULL);
    else if (safe) b.bytes(Buffer.from(safeJson(data)));
    else b.bytes(data);
    this.#header(r ?? e, Number(r?.revision ?? e.revision), Number((link ?? e).position), kind, withIds, bodies);
    const hasLinkMeta = link !== undefined && link.metadataBytes.length > 0;
    if (meta.length > 0 || hasLinkMeta || kind === 0) {
      h.byte(COMMA);
      h.text(meta.length > 0 ? JSON.stringify(decoder.decode(meta)) : '""');
    }
    if (hasLinkMeta || kind === 0) {
      h.text(`,${hasLinkMeta ? JSON.stringify(decoder.decode(link.metadataBytes)) : '""'}`);
      // A recategorised link ($by_category on a deletion) names its original stream in `$o`.
      const original = hasLinkMeta ? link.metadata.$o : undefined;
      h.text(`,${typeof original === 'string' ? JSON.stringify(original) : 'null'}`);
    }
    if (kind === 0) h.text(`,${JSON.stringify(decoder.decode(data))}`);
    h.byte(CLOSE);
  }

  /**
   * A header's fields up to the body's end offset: `[stream, revision, type, id, position,
   * created, kind, bodyEnd`. `source` is the stored record when there is one (its id is a stored,
   * lower-case UUID), else the event.
   */
  #header(source: StoredRecord | RecordedEvent, revision: number, position: number, kind: number, withIds: boolean, bodies: boolean): void {
    const h = this.#headers;
    h.byte(OPEN);
    h.quoted(source.streamId);
    h.byte(COMMA);
    h.number(revision);
    h.byte(COMMA);
    h.quoted(source.type);
    h.byte(COMMA);
    // Read once: a log record reads it from its buffer on every access.
    const created = source.created;
    if (!withIds) h.null();
    else if (typeof created === 'number') {
      // A stored id is a lower-case UUID (the store validates and normalises it).
      h.byte(QUOTE);
      h.ascii8(source.id);
      h.byte(QUOTE);
    } else h.quoted(source.id);
    h.byte(COMMA);
    h.number(position);
    h.byte(COMMA);
    this.#created(typeof created === 'number' ? created : created.getTime());
    h.byte(COMMA);
    h.byte(ZERO + kind);
    h.byte(COMMA);
    h.number(bodies ? this.#bodies.len : this.#bodyLen);
  }

  /** The batch's event ids as a JSON array (`null` for deletion notices). */
  ids(items: readonly BatchItem[]): string {
    return JSON.stringify(items.map((item) => (isDeletionNotice(item) ? null : item.id)));
  }

  #lastCreated = NaN;
  #lastCreatedText = '';
  /** The created time of the batch's previous header (NaN before the first). */
  #previousCreated = NaN;

  /**
   * Events of one commit share their timestamp: its digits are made once, and a header whose
   * created time is the previous header's in the batch says so with `null` (the prelude fills it
   * in), so neither side writes or parses the same 13 digits again (a number past 2^31, which
   * V8's JSON parser reads through its slow double path).
   */
  #created(ms: number): void {
    if (ms === this.#previousCreated) {
      this.#headers.null();
      return;
    }
    this.#previousCreated = ms;
    if (ms !== this.#lastCreated) {
      this.#lastCreated = ms;
      this.#lastCreatedText = String(ms);
    }
    this.#headers.ascii8(this.#lastCreatedText);
  }


}

function isBlank(bytes: Uint8Array): boolean {
  // JSON.stringify output never starts with whitespace, so the loop runs only for odd bodies.
  if (bytes.length > 0 && !isWhitespace(bytes[0]!)) return false;
  for (const b of bytes) if (!isWhitespace(b)) return false;
  return true;
}

function isBlankRange(bytes: Buffer, start: number, end: number): boolean {
  if (end > start && !isWhitespace(bytes[start]!)) return false;
  for (let i = start; i < end; i++) if (!isWhitespace(bytes[i]!)) return false;
  return true;
}

function isWhitespace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/** The body re-serialised, or null when it is not valid JSON after all. */
function safeJson(bytes: Uint8Array): string {
  try {
    return JSON.stringify(JSON.parse(decoder.decode(bytes)));
  } catch {
    return 'null';
  }
}
