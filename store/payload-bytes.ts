// A prepared event's data and metadata as a backend writes them into a buffer of its own: JSON
// given as a value is still the text `JSON.stringify` made (`dataText` / `metadataText`), written
// straight in as UTF-8; bytes are copied. The buffer is sized by the bounds first, so text is
// measured while it is written rather than before.
import type { PreparedEvent } from './backend.js';

/** Bytes `writeData` may write: exact for bytes, three per UTF-16 unit for text. */
export function dataBound(e: PreparedEvent): number {
  return e.dataText !== undefined ? e.dataText.length * 3 : e.data.length;
}

/** Bytes `writeMetadata` may write, as `dataBound`. */
export function metadataBound(e: PreparedEvent): number {
  return e.metadataText !== undefined ? e.metadataText.length * 3 : e.metadata.length;
}

/** Writes the event's data at `at`; returns its length in bytes. `out` has room by `dataBound`. */
export function writeData(out: Buffer, at: number, e: PreparedEvent): number {
  return e.dataText !== undefined ? writeText(out, at, e.dataText) : copyBytes(out, at, e.data);
}

/** Writes the event's metadata at `at`; returns its length in bytes. */
export function writeMetadata(out: Buffer, at: number, e: PreparedEvent): number {
  return e.metadataText !== undefined ? writeText(out, at, e.metadataText) : copyBytes(out, at, e.metadata);
}

/**
 * Buffer's own UTF-8 writer, without `Buffer#write`'s argument parsing and offset checks (a
 * third of the cost of writing a 100-character payload); `Buffer#write` where it is missing.
 */
const utf8Write = (Buffer.prototype as unknown as { utf8Write?: (this: Buffer, text: string, offset: number, length: number) => number }).utf8Write;

function writeText(out: Buffer, at: number, text: string): number {
  return utf8Write !== undefined ? utf8Write.call(out, text, at, out.length - at) : out.write(text, at);
}

function copyBytes(out: Buffer, at: number, bytes: Uint8Array): number {
  out.set(bytes, at);
  return bytes.length;
}
