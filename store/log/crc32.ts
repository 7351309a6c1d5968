// CRC-32 (IEEE 802.3, the polynomial zlib, gzip and PNG use) over a byte range. Node ships a
// native one as `zlib.crc32` from 20.15 / 22.2. A call into it costs about 200 ns before the
// first byte (argument checks and the C++ call) and then ~0.2 ns a byte; a table-driven
// (slicing-by-16) JavaScript loop costs ~0.6 ns a byte and nothing up front. Records are
// mostly a few hundred bytes, so ranges under `NATIVE_FROM` bytes take the JavaScript loop and
// longer ones the native call (measured crossover ~340 bytes on a 2 vCPU EPYC, Node 20). Where
// `zlib.crc32` is missing (Node 20 before 20.15) the loop does all of it. Both give the same
// values, so a log written by one Node reads under the other. CRC-32C would catch the same torn
// and flipped bytes; we take the polynomial Node accelerates.
import * as zlib from 'node:zlib';

type NativeCrc32 = (data: Uint8Array, value?: number) => number;
const native = (zlib as unknown as { crc32?: NativeCrc32 }).crc32;

/** Ranges from this many bytes on go to the native CRC when there is one. */
const NATIVE_FROM = 320;

/** Sixteen 256-entry tables: table k advances the CRC of a byte by k more zero bytes. */
const TABLES = (() => {
  const t = new Int32Array(16 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 16; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
})();

/** The JavaScript CRC (slicing-by-16), exported so tests can check it against the native one. */
export function crc32Table(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const t = TABLES;
  let crc = -1;
  let i = start;
  for (; i + 16 <= end; i += 16) {
    const a = crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    crc =
      t[3840 + (a & 0xff)]! ^ t[3584 + ((a >>> 8) & 0xff)]! ^ t[3328 + ((a >>> 16) & 0xff)]! ^ t[3072 + (a >>> 24)]! ^
      t[2816 + bytes[i + 4]!]! ^ t[2560 + bytes[i + 5]!]! ^ t[2304 + bytes[i + 6]!]! ^ t[2048 + bytes[i + 7]!]! ^
      t[1792 + bytes[i + 8]!]! ^ t[1536 + bytes[i + 9]!]! ^ t[1280 + bytes[i + 10]!]! ^ t[1024 + bytes[i + 11]!]! ^
      t[768 + bytes[i + 12]!]! ^ t[512 + bytes[i + 13]!]! ^ t[256 + bytes[i + 14]!]! ^ t[bytes[i + 15]!]!;
  }
  for (; i < end; i++) crc = t[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** CRC-32 of `bytes[start, end)`. */
export const crc32: (bytes: Uint8Array, start?: number, end?: number) => number = native
  ? (bytes, start = 0, end = bytes.length) =>
      end - start < NATIVE_FROM
        ? crc32Table(bytes, start, end)
        : // A plain Uint8Array view is cheaper to make than Buffer#subarray's FastBuffer.
          native(start === 0 && end === bytes.length ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset + start, end - start)) >>> 0
  : crc32Table;

/** The native CRC alone (undefined without one), for tests comparing both. */
export const crc32Native: ((bytes: Uint8Array) => number) | undefined = native ? (bytes) => native(bytes) >>> 0 : undefined;
