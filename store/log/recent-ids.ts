// The last N event ids written, for idempotent retries: `revisionOf(id)` must answer in O(1) on
// every append, and the table is touched once per event written, so it is the hottest structure
// on the write path. A JS Map of id strings costs a string hash, an entry object and a deletion
// tombstone per event (about a tenth of the append CPU when measured); here the ids live as four
// 32-bit words in typed arrays, a ring gives the eviction order, and an open-addressing table
// (linear probing, backward-shift deletion, so no tombstones) finds them.

/** Writes a UUID's 16 bytes, as four big-endian 32-bit words, into `out[at..at+4)`; false when `id` is not 8-4-4-4-12 hex. */
export function uuidWords(id: string, out: Uint32Array, at: number): boolean {
  if (id.length !== 36) return false;
  let word = 0;
  let digits = 0;
  let k = at;
  for (let i = 0; i < 36; i++) {
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (id.charCodeAt(i) !== 45) return false;
      continue;
    }
    const v = HEX[id.charCodeAt(i)] ?? -1;
    if (v < 0) return false;
    word = (word << 4) | v;
    if (++digits === 8) {
      out[k++] = word >>> 0;
      word = 0;
      digits = 0;
    }
  }
  return true;
}

const HEX = (() => {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < 10; i++) table[48 + i] = i;
  for (let i = 0; i < 6; i++) {
    table[65 + i] = 10 + i;
    table[97 + i] = 10 + i;
  }
  return table;
})();

export class RecentIds {
  readonly capacity: number;
  /** Ring of remembered ids: words, stream and revision per slot. */
  readonly #words: Uint32Array;
  readonly #streams: (string | undefined)[];
  readonly #revisions: Float64Array;
  #next = 0;
  /** Open-addressing table of slot + 1 (0 = empty), a power of two at least twice the capacity. */
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
    this.#table = new Int32Array(this.capacity > 0 ? size : 0);
    this.#mask = size - 1;
  }

  /** Remembers `id` at `revision` of `streamId`, forgetting the oldest id beyond the capacity. */
  remember(id: string, streamId: string, revision: number): void {
    if (this.capacity === 0) return;
    const slot = this.#next;
    this.#next = slot + 1 === this.capacity ? 0 : slot + 1;
    if (this.#streams[slot] !== undefined) this.#forget(slot);
    const w = this.#words;
    if (!uuidWords(id, w, slot * 4)) return;
    this.#streams[slot] = streamId;
    this.#revisions[slot] = revision;
    // An id written again (to another stream) answers with its newest write.
    const found = this.#find(w, slot * 4);
    if (found >= 0) this.#table[found] = slot + 1;
    else this.#table[-found - 1] = slot + 1;
  }

  /** The revision `id` was written at in `streamId`, if it is among the remembered ids. */
  revisionOf(id: string, streamId: string): number | undefined {
    if (this.capacity === 0 || !uuidWords(id, this.#probe, 0)) return undefined;
    const found = this.#find(this.#probe, 0);
    if (found < 0) return undefined;
    const slot = this.#table[found]! - 1;
    return this.#streams[slot] === streamId ? this.#revisions[slot] : undefined;
  }

  /** The table index holding the id at `key[at..at+4)`, or -(free index) - 1 when absent. */
  #find(key: Uint32Array, at: number): number {
    const a = key[at]!;
    const b = key[at + 1]!;
    const c = key[at + 2]!;
    const d = key[at + 3]!;
    const table = this.#table;
    const w = this.#words;
    let i = hash(a, b, c, d) & this.#mask;
    for (;;) {
      const entry = table[i]!;
      if (entry === 0) return -i - 1;
      const o = (entry - 1) * 4;
      if (w[o] === a && w[o + 1] === b && w[o + 2] === c && w[o + 3] === d) return i;
      i = (i + 1) & this.#mask;
    }
  }

  /** Drops `slot` from the table if the table still points at it (a newer write of the same id may). */
  #forget(slot: number): void {
    this.#streams[slot] = undefined;
    const table = this.#table;
    const mask = this.#mask;
    const found = this.#find(this.#words, slot * 4);
    if (found < 0 || table[found] !== slot + 1) return;
    // Backward-shift deletion: move later entries of the probe run into the hole when their home allows.
    let hole = found;
    let i = (hole + 1) & mask;
    for (;;) {
      const entry = table[i]!;
      if (entry === 0) break;
      const o = (entry - 1) * 4;
      const home = hash(this.#words[o]!, this.#words[o + 1]!, this.#words[o + 2]!, this.#words[o + 3]!) & mask;
      // The entry may fill the hole if its home is not cyclically within (hole, i].
      if ((i > hole && (home <= hole || home > i)) || (i < hole && home <= hole && home > i)) {
        table[hole] = entry;
        hole = i;
      }
      i = (i + 1) & mask;
    }
    table[hole] = 0;
  }
}

function hash(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ b ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ c ^ (h >>> 13), 0x27d4eb2f);
  h = Math.imul(h ^ d ^ (h >>> 16), 0x165667b1);
  return (h ^ (h >>> 15)) >>> 0;
}
