// The last N event ids written, for idempotent retries: `revisionOf(id)` must answer in O(1) on
// every append, and the table is touched once per event written, so it is the hottest structure
// on the write path. A JS Map of id strings costs a string hash, an entry object and a deletion
// tombstone per event (about a tenth of the append CPU when measured); here the ids live as four
// 32-bit words in typed arrays, a ring gives the eviction order, and an open-addressing table
// (linear probing, backward-shift deletion, so no tombstones) finds them.
import { uuidWords } from '../uuid.js';

export class RecentIds {
  readonly capacity: number;
  /** Ring of remembered ids: words, stream and revision per slot. */
  readonly #words: Uint32Array;
  readonly #streams: (string | undefined)[];
  readonly #revisions: Float64Array;
  #next = 0;
  /**
   * Open-addressing table, a power of two of at least twice the capacity, two ints per entry:
   * slot + 1 (0 = empty) and the id's hash. Probes compare hashes before touching the ring, and
   * deletion finds an entry's home from its stored hash, so neither walks the id words.
   */
  readonly #table: Int32Array;
  readonly #mask: number;
  readonly #probe = new Uint32Array(4);

  constructor(capacity: number) {
    this.capacity = Math.max(0, Math.floor(capacity));
    this.#words = new Uint32Array(this.capacity * 4);
    this.#streams = new Array<string | undefined>(this.capacity);
    this.#revisions = new Float64Array(this.capacity);
    let size = 2;
    while (size < this.capacity * 2) size *= 2;
    this.#table = new Int32Array(this.capacity > 0 ? size * 2 : 0);
    this.#mask = size - 1;
  }

  /** Remembers `id` at `revision` of `streamId`, forgetting the oldest id beyond the capacity. */
  remember(id: string, streamId: string, revision: number): void {
    if (this.capacity === 0) return;
    const p = this.#probe;
    if (!uuidWords(id, p, 0)) return;
    this.#insert(p[0]!, p[1]!, p[2]!, p[3]!, streamId, revision);
  }

  /** `remember` for an id already in its 16-byte form (a log record's id field) at `bytes[at, at + 16)`: no text to parse. */
  rememberBytes(bytes: Buffer, at: number, streamId: string, revision: number): void {
    if (this.capacity === 0) return;
    this.#insert(bytes.readUInt32BE(at), bytes.readUInt32BE(at + 4), bytes.readUInt32BE(at + 8), bytes.readUInt32BE(at + 12), streamId, revision);
  }

  #insert(w0: number, w1: number, w2: number, w3: number, streamId: string, revision: number): void {
    const slot = this.#next;
    this.#next = slot + 1 === this.capacity ? 0 : slot + 1;
    if (this.#streams[slot] !== undefined) this.#forget(slot);
    const w = this.#words;
    const o = slot * 4;
    w[o] = w0;
    w[o + 1] = w1;
    w[o + 2] = w2;
    w[o + 3] = w3;
    this.#streams[slot] = streamId;
    this.#revisions[slot] = revision;
    // An id written again (to another stream) answers with its newest write.
    const h = hash(w, o);
    const found = this.#find(w, o, h);
    const i = found >= 0 ? found : -found - 1;
    this.#table[i * 2] = slot + 1;
    this.#table[i * 2 + 1] = h;
  }

  /** The revision `id` was written at in `streamId`, if it is among the remembered ids. */
  revisionOf(id: string, streamId: string): number | undefined {
    if (this.capacity === 0 || !uuidWords(id, this.#probe, 0)) return undefined;
    const found = this.#find(this.#probe, 0, hash(this.#probe, 0));
    if (found < 0) return undefined;
    const slot = this.#table[found * 2]! - 1;
    return this.#streams[slot] === streamId ? this.#revisions[slot] : undefined;
  }

  /** The table index holding the id at `key[at..at+4)` (hash `h`), or -(free index) - 1 when absent. */
  #find(key: Uint32Array, at: number, h: number): number {
    const table = this.#table;
    const w = this.#words;
    const mask = this.#mask;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const entry = table[i * 2]!;
      if (entry === 0) return -i - 1;
      if (table[i * 2 + 1] !== h) continue;
      const o = (entry - 1) * 4;
      if (w[o] === key[at] && w[o + 1] === key[at + 1] && w[o + 2] === key[at + 2] && w[o + 3] === key[at + 3]) return i;
    }
  }

  /** Drops `slot` from the table if the table still points at it (a newer write of the same id may). */
  #forget(slot: number): void {
    this.#streams[slot] = undefined;
    const table = this.#table;
    const mask = this.#mask;
    const found = this.#find(this.#words, slot * 4, hash(this.#words, slot * 4));
    if (found < 0 || table[found * 2] !== slot + 1) return;
    // Backward-shift deletion: move later entries of the probe run into the hole when their home allows.
    let hole = found;
    for (let i = (hole + 1) & mask; table[i * 2] !== 0; i = (i + 1) & mask) {
      const home = table[i * 2 + 1]! & mask;
      // The entry may fill the hole if its home is not cyclically within (hole, i].
      if ((i > hole && (home <= hole || home > i)) || (i < hole && home <= hole && home > i)) {
        table[hole * 2] = table[i * 2]!;
        table[hole * 2 + 1] = table[i * 2 + 1]!;
        hole = i;
      }
    }
    table[hole * 2] = 0;
  }
}

function hash(key: Uint32Array, at: number): number {
  let h = Math.imul(key[at]! ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ key[at + 1]! ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ key[at + 2]! ^ (h >>> 13), 0x27d4eb2f);
  h = Math.imul(h ^ key[at + 3]! ^ (h >>> 16), 0x165667b1);
  return h ^ (h >>> 15);
}
