// Encodes a batch of events as the two JSON texts the prelude parses: one array of headers built by
// string concatenation, and one array of bodies built by copying the stored JSON bytes into one
// buffer and decoding it once. That keeps the host's per-event cost (what the benchmark's ratio to a
// plain-Node fold measures) to a few field reads and one byte copy; the parsing happens in the
// isolate, on its own thread.
//
// A JSON body goes in as its raw bytes: the Store port writes `isJson` data only through
// JSON.stringify, so it is valid JSON and cannot break the framing. If the isolate ever fails to
// parse a batch anyway, the runner re-encodes it with `safe` set, which re-serialises each body.
import type { StoredRecord } from '../../store/backend.js';
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
 * The two texts of a batch: `headers` is `[[stream, revision, type, id, position, created, kind,
 * bodyEnd, metadata?, linkMetadata?, originalStream?, rawBody?], …]`, `bodies` the JSON bodies
 * joined by commas. When `ascii`, `bodyEnd` is a character offset into `bodies`, so the isolate
 * parses a body only when a handler reads it.
 */
export interface EncodedBatch {
  readonly headers: string;
  readonly bodies: string;
  readonly ascii: boolean;
}

/** Header kinds: 1 JSON body, 0 raw body (in the header), 2 empty JSON body, 3 hard delete, 4 soft delete. */
const decoder = new TextDecoder();
const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
const NULL = Buffer.from('null');
const COMMA = 0x2c;

export class BatchEncoder {
  #buf = Buffer.allocUnsafe(1 << 20);
  #len = 0;
  readonly #quoted = new Map<string, string>();

  encode(items: readonly BatchItem[], safe = false): EncodedBatch {
    this.#len = 0;
    let headers = '[';
    for (let i = 0; i < items.length; i++) {
      if (i > 0) {
        headers += ',';
        this.#byte(COMMA);
      }
      const item = items[i]!;
      if (isDeletionNotice(item)) {
        this.#bytes(NULL);
        headers += `[${JSON.stringify(item.streamId)},-1,"",null,${Number(item.position)},0,${item.deleted === 'soft' ? 4 : 3},${this.#len}]`;
        continue;
      }
      headers += this.#event(item, safe);
    }
    headers += ']';
    const bodies = this.#buf.toString('utf8', 0, this.#len);
    // Equal lengths mean every byte was ASCII, so byte offsets are character offsets.
    return { headers, bodies, ascii: bodies.length === this.#len };
  }

  #event(e: RecordedEvent, safe: boolean): string {
    const link = e.link;
    // The store's own event class exposes its raw record: reading it skips the getters and the Date.
    const r = (e as { record?: StoredRecord }).record;
    const stream = r?.streamId ?? e.streamId;
    const data = r?.data ?? e.dataBytes;
    const meta = r?.metadata ?? e.metadataBytes;
    let kind: number;
    let raw = '';
    if (r?.isJson ?? e.isJson) {
      if (isBlank(data)) {
        kind = 2;
        this.#bytes(NULL);
      } else {
        kind = 1;
        if (safe) this.#bytes(Buffer.from(safeJson(data)));
        else this.#bytes(data);
      }
    } else {
      kind = 0;
      raw = `,${JSON.stringify(decoder.decode(data))}`;
      this.#bytes(NULL);
    }
    let header = `[${JSON.stringify(stream)},${Number(r?.revision ?? e.revision)},${this.#quote(r?.type ?? e.type)},"${r?.id ?? e.id}",${Number((link ?? e).position)},${r?.created ?? e.created.getTime()},${kind},${this.#len}`;
    const hasLinkMeta = link !== undefined && link.metadataBytes.length > 0;
    if (meta.length > 0 || hasLinkMeta || kind === 0) header += `,${meta.length > 0 ? JSON.stringify(decoder.decode(meta)) : '""'}`;
    if (hasLinkMeta || kind === 0) {
      header += `,${hasLinkMeta ? JSON.stringify(decoder.decode(link.metadataBytes)) : '""'}`;
      // A recategorised link ($by_category on a deletion) names its original stream in `$o`.
      const original = hasLinkMeta ? link.metadata.$o : undefined;
      header += `,${typeof original === 'string' ? JSON.stringify(original) : 'null'}`;
    }
    return `${header}${raw}]`;
  }

  #quote(s: string): string {
    let q = this.#quoted.get(s);
    if (q === undefined) {
      q = JSON.stringify(s);
      if (this.#quoted.size > 1000) this.#quoted.clear();
      this.#quoted.set(s, q);
    }
    return q;
  }

  #byte(b: number): void {
    if (this.#len + 1 > this.#buf.length) this.#grow(1);
    this.#buf[this.#len++] = b;
  }

  #bytes(b: Uint8Array): void {
    if (this.#len + b.length > this.#buf.length) this.#grow(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
  }

  #grow(n: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + n));
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }
}

function isBlank(bytes: Uint8Array): boolean {
  // JSON.stringify output never starts with whitespace, so the loop runs only for odd bodies.
  if (bytes.length > 0 && !WHITESPACE.has(bytes[0]!)) return false;
  for (const b of bytes) if (!WHITESPACE.has(b)) return false;
  return true;
}

/** The body re-serialised, or null when it is not valid JSON after all. */
function safeJson(bytes: Uint8Array): string {
  try {
    return JSON.stringify(JSON.parse(decoder.decode(bytes)));
  } catch {
    return 'null';
  }
}
