// Encodes a batch of events as the JSON text the prelude parses, in one pass into one buffer and
// one UTF-8 decode per batch: the host's share of the per-event cost, which is what the
// benchmark's ratio to a plain-Node fold measures.
//
// A JSON body is copied in as raw bytes (no decode, no parse on the host): the Store port writes
// `isJson` data only through JSON.stringify, so it is valid JSON and cannot break the framing. If
// the isolate ever fails to parse a batch anyway, the runner re-encodes it with `safe` set, which
// quotes bodies as strings.
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

const decoder = new TextDecoder();
const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

export class BatchEncoder {
  #buf = Buffer.allocUnsafe(1 << 20);
  #len = 0;
  readonly #quoted = new Map<string, string>();

  encode(items: readonly BatchItem[], safe = false): string {
    this.#len = 0;
    this.#ascii('{"e":[');
    for (let i = 0; i < items.length; i++) {
      if (i > 0) this.#ascii(',');
      const item = items[i]!;
      if (isDeletionNotice(item)) {
        this.#text(`{"x":${item.deleted === 'soft' ? 2 : 1},"s":${JSON.stringify(item.streamId)},"p":${item.position}}`);
        continue;
      }
      this.#event(item, safe);
    }
    this.#ascii(']}');
    return this.#buf.toString('utf8', 0, this.#len);
  }

  #event(e: RecordedEvent, safe: boolean): void {
    const link = e.link;
    this.#text(`{"s":${this.#quote(e.streamId)},"n":${e.revision},"t":${this.#quote(e.type)},"i":"${e.id}","p":${(link ?? e).position},"c":${e.created.getTime()}`);
    const data = e.dataBytes;
    if (e.isJson) {
      if (isBlank(data)) this.#ascii(',"j":1,"e":1,"d":null');
      else if (safe) this.#text(`,"j":1,"d":${safeJson(data)}`);
      else {
        this.#ascii(',"j":1,"d":');
        this.#bytes(data);
      }
    } else {
      this.#text(`,"j":0,"r":${JSON.stringify(decoder.decode(data))}`);
    }
    if (e.metadataBytes.length > 0) this.#text(`,"m":${JSON.stringify(decoder.decode(e.metadataBytes))}`);
    if (link !== undefined && link.metadataBytes.length > 0) {
      this.#text(`,"l":${JSON.stringify(decoder.decode(link.metadataBytes))}`);
      // A recategorised link ($by_category on a deletion) names its original stream in `$o`.
      const original = link.metadata.$o;
      if (typeof original === 'string') this.#text(`,"o":${JSON.stringify(original)}`);
    }
    this.#ascii('}');
  }

  #quote(s: string): string {
    let q = this.#quoted.get(s);
    if (q === undefined) {
      q = JSON.stringify(s);
      if (this.#quoted.size > 10000) this.#quoted.clear();
      this.#quoted.set(s, q);
    }
    return q;
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + n));
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }

  #ascii(s: string): void {
    this.#reserve(s.length);
    this.#len += this.#buf.write(s, this.#len, 'latin1');
  }

  #text(s: string): void {
    this.#reserve(s.length * 3);
    this.#len += this.#buf.write(s, this.#len, 'utf8');
  }

  #bytes(b: Uint8Array): void {
    this.#reserve(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
  }
}

function isBlank(bytes: Uint8Array): boolean {
  // JSON.stringify output never starts with whitespace, so the loop runs only for odd bodies.
  if (bytes.length > 0 && !WHITESPACE.has(bytes[0]!)) return false;
  for (const b of bytes) if (!WHITESPACE.has(b)) return false;
  return true;
}

/** The body re-serialised, or as a JSON string when it is not valid JSON after all. */
function safeJson(bytes: Uint8Array): string {
  const text = decoder.decode(bytes);
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return 'null';
  }
}
