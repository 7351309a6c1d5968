// The bytes of emitted and linked events' payloads — a link's `N@stream`, the causation metadata
// every emitted event carries — written into shared chunks, one view per payload. A linking
// projection makes two payloads per event; `Buffer.from` for each cost a call into the encoder and
// a slice of Node's pool apiece, and their objects wait for the checkpoint that writes them.
//
// A chunk is never written again once handed out: the store may keep the views it was given (the
// memory backend stores them as they are), so a full chunk is left to those views.

const CHUNK_BYTES = 64 * 1024;

const CAUSED_BY = Buffer.from('{"$causedBy":"');
const CAUSATION_ID = Buffer.from('","$causationId":"');
const CORRELATION_ID = Buffer.from('","$correlationId":"');
const END = Buffer.from('"}');
const UUID_CHARS = 36;
/** The causation text of a 36-character id, the id's places left as zeros. */
const CAUSATION_TEMPLATE = Buffer.concat([CAUSED_BY, Buffer.alloc(UUID_CHARS), CAUSATION_ID, Buffer.alloc(UUID_CHARS), CORRELATION_ID, Buffer.alloc(UUID_CHARS), END]);

/** Copies `bytes` into `out` at `at` by a loop (short constants: a native call costs more); returns the end. */
function put(out: Buffer, at: number, bytes: Buffer): number {
  for (let i = 0; i < bytes.length; i++) out[at + i] = bytes[i]!;
  return at + bytes.length;
}

export class PayloadArena {
  #chunk: Buffer = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  #at = 0;

  /** Room for `n` bytes at `#at`, in a new chunk when the current one is short of it. */
  #room(n: number): Buffer {
    if (this.#at + n > this.#chunk.length) {
      this.#chunk = Buffer.allocUnsafeSlow(Math.max(CHUNK_BYTES, n));
      this.#at = 0;
    }
    return this.#chunk;
  }

  /** The bytes of `s` when it is all ASCII (a loop, no native call); undefined otherwise (the caller encodes it). */
  ascii(s: string): Uint8Array | undefined {
    const n = s.length;
    const chunk = this.#room(n);
    const start = this.#at;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return undefined;
      chunk[start + i] = c;
    }
    this.#at = start + n;
    return this.#view(start, start + n);
  }

  /** `#chunk[start, end)` as a plain `Uint8Array`, which is cheaper to make than `Buffer#subarray`'s FastBuffer. */
  #view(start: number, end: number): Uint8Array {
    const chunk = this.#chunk;
    return new Uint8Array(chunk.buffer, chunk.byteOffset + start, end - start);
  }

  /**
   * `{"$causedBy":id,"$causationId":id,"$correlationId":id}` as JSON bytes, the same bytes
   * `JSON.stringify` gives, for an id that needs no escaping (a stored event id: a lower-case UUID).
   */
  causation(id: string): Uint8Array {
    const n = id.length;
    if (n === UUID_CHARS) {
      // A UUID (every stored id): the template's bytes in one typed-array copy, then each of the
      // id's characters written to its three places in one pass (a linking projection makes one
      // of these per event; byte loops over the constants and two re-reads of the id cost twice this).
      const chunk = this.#room(CAUSATION_TEMPLATE.length);
      const start = this.#at;
      chunk.set(CAUSATION_TEMPLATE, start);
      const a = start + CAUSED_BY.length;
      const b = a + UUID_CHARS + CAUSATION_ID.length;
      const c = b + UUID_CHARS + CORRELATION_ID.length;
      for (let i = 0; i < UUID_CHARS; i++) {
        const ch = id.charCodeAt(i);
        chunk[a + i] = ch;
        chunk[b + i] = ch;
        chunk[c + i] = ch;
      }
      this.#at = start + CAUSATION_TEMPLATE.length;
      return this.#view(start, this.#at);
    }
    const chunk = this.#room(CAUSED_BY.length + CAUSATION_ID.length + CORRELATION_ID.length + END.length + 3 * n);
    const start = this.#at;
    let at = put(chunk, start, CAUSED_BY);
    const first = at;
    for (let i = 0; i < n; i++) chunk[at + i] = id.charCodeAt(i);
    at = put(chunk, at + n, CAUSATION_ID);
    for (let i = 0; i < n; i++) chunk[at + i] = chunk[first + i]!;
    at = put(chunk, at + n, CORRELATION_ID);
    for (let i = 0; i < n; i++) chunk[at + i] = chunk[first + i]!;
    at = put(chunk, at + n, END);
    this.#at = at;
    return this.#view(start, at);
  }
}
