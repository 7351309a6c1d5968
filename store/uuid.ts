// UUID text, checked and parsed by hand: on the append path a case-insensitive regular
// expression per event id cost more than the rest of the event's validation together.

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

/**
 * Writes a UUID's 16 bytes into `out` at `at`, straight from its text; false (and some bytes
 * written) when `id` is not 8-4-4-4-12 hex digits.
 */
export function writeUuidBytes(id: string, out: Uint8Array, at: number): boolean {
  if (id.length !== 36) return false;
  let k = at;
  for (let i = 0; i < 36; i += 2) {
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (id.charCodeAt(i) !== 45) return false;
      i--;
      continue;
    }
    const hi = HEX[id.charCodeAt(i)] ?? -1;
    const lo = HEX[id.charCodeAt(i + 1)] ?? -1;
    if ((hi | lo) < 0) return false;
    out[k++] = (hi << 4) | lo;
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

/** The lower-case text of a UUID (8-4-4-4-12 hex digits, either case), or undefined when `id` is not one. */
export function normalizeUuid(id: string): string | undefined {
  if (id.length !== 36) return undefined;
  let upper = false;
  for (let i = 0; i < 36; i++) {
    const c = id.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 45) return undefined;
    } else if ((HEX[c] ?? -1) < 0) return undefined;
    else if (c >= 65 && c <= 70) upper = true;
  }
  return upper ? id.toLowerCase() : id;
}
