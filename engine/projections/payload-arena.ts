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
  ascii(s: string): Buffer | undefined {
    const n = s.length;
    const chunk = this.#room(n);
    const start = this.#at;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return undefined;
      chunk[start + i] = c;
    }
    this.#at = start + n;
    return chunk.subarray(start, start + n);
  }

  /**
   * `{"$causedBy":id,"$causationId":id,"$correlationId":id}` as JSON bytes, the same bytes
   * `JSON.stringify` gives, for an id that needs no escaping (a stored event id: a lower-case UUID).
   */
  causation(id: string): Buffer {
    const n = id.length;
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
    return chunk.subarray(start, at);
  }
}
