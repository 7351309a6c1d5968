// Segment files: the logical log cut into files of about 256 MiB (as Event Store's chunks), each
// named by the logical position of its first byte, `00000000000268435456.seg`. A file starts with a
// 32-byte header; in a segment that was never scavenged (generation 0) a record at logical
// position P sits at file offset HEADER + (P - start), so a position is a direct seek. A
// scavenged segment (generation ≥ 1) keeps only its live records, copied verbatim, so offsets no
// longer follow positions; its sparse map (position → offset every 64 KiB) finds them, and each
// record carries its own position.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { CorruptLogError } from '../errors.js';
import { crc32 } from './crc32.js';

export const SEGMENT_HEADER_BYTES = 32;
const SEGMENT_MAGIC = 'TTLOGSEG';
const SEGMENT_VERSION = 1;
export const SEGMENT_NAME = /^(\d{20})\.seg$/;
/** A sparse-map sample every this many file bytes. */
export const SAMPLE_BYTES = 64 * 1024;

export function segmentFileName(start: number): string {
  return `${String(start).padStart(20, '0')}.seg`;
}

export function segmentHeader(start: number, generation: number): Buffer {
  const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
  header.write(SEGMENT_MAGIC, 0, 'latin1');
  header.writeUInt32LE(SEGMENT_VERSION, 8);
  header.writeUInt32LE(generation, 12);
  header.writeDoubleLE(start, 16);
  header.writeUInt32LE(crc32(header, 0, 24), 24);
  return header;
}

/** Parses a header; throws CorruptLogError when it is not ours or does not match the file name. */
export function parseSegmentHeader(header: Buffer, file: string, expectedStart: number): { generation: number } {
  if (
    header.length < SEGMENT_HEADER_BYTES ||
    header.toString('latin1', 0, 8) !== SEGMENT_MAGIC ||
    crc32(header, 0, 24) !== header.readUInt32LE(24)
  ) {
    throw new CorruptLogError(file, 0, 'not a Telltale segment header');
  }
  if (header.readUInt32LE(8) !== SEGMENT_VERSION) throw new CorruptLogError(file, 0, `unsupported segment version ${header.readUInt32LE(8)}`);
  if (header.readDoubleLE(16) !== expectedStart) throw new CorruptLogError(file, 0, `header says it starts at ${header.readDoubleLE(16)}, the name at ${expectedStart}`);
  return { generation: header.readUInt32LE(12) };
}

export class Segment {
  /** Sparse map: logical positions of record starts and their file offsets, ascending. */
  readonly samplesLogical: number[];
  readonly samplesPhysical: number[];
  /**
   * Bytes the file holds, header included: `size` plus, in the active segment, zeros written
   * ahead of it and made durable (see LogBackend's prefill). Writes below it overwrite blocks the
   * file system has already allocated, so their fdatasync need not commit a new file length.
   */
  allocated: number;
  /** The zero-fill running ahead of `size`, and where it starts; data must not pass `prefillFrom` while it runs. */
  prefilling: Promise<void> | undefined;
  prefillFrom = Infinity;
  #refs = 0;
  #retired = false;

  constructor(
    readonly directory: string,
    readonly start: number,
    readonly generation: number,
    readonly fd: number,
    /** Bytes of records and header: where the next record goes (the file may be longer, see `allocated`). */
    public size: number,
    samplesLogical: number[] = [],
    samplesPhysical: number[] = [],
  ) {
    this.samplesLogical = samplesLogical;
    this.samplesPhysical = samplesPhysical;
    this.allocated = size;
  }

  get file(): string {
    return join(this.directory, segmentFileName(this.start));
  }

  get scavenged(): boolean {
    return this.generation > 0;
  }

  /** File offset of a record at `position`, for a segment never scavenged. */
  physicalOf(position: number): number {
    return SEGMENT_HEADER_BYTES + (position - this.start);
  }

  addSample(logical: number, physical: number): void {
    const last = this.samplesPhysical.length === 0 ? -Infinity : this.samplesPhysical[this.samplesPhysical.length - 1]!;
    if (physical >= last + SAMPLE_BYTES) {
      this.samplesLogical.push(logical);
      this.samplesPhysical.push(physical);
    }
  }

  /** The last sampled record start at or before `position` (the segment's first record when none). */
  floor(position: number): { logical: number; physical: number } {
    const l = this.samplesLogical;
    let lo = 0;
    let hi = l.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (l[mid]! <= position) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return { logical: this.start, physical: SEGMENT_HEADER_BYTES };
    return { logical: l[found]!, physical: this.samplesPhysical[found]! };
  }

  /** Keeps the file open while a read uses it, even if a scavenge replaces the segment meanwhile. */
  acquire(): void {
    this.#refs++;
  }

  release(): void {
    if (--this.#refs === 0 && this.#retired) fs.close(this.fd, () => undefined);
  }

  /** Closes the file once the last reader is done. */
  retire(): void {
    this.#retired = true;
    if (this.#refs === 0) fs.closeSync(this.fd);
  }
}

export function pread(fd: number, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  return new Promise((resolve, reject) => {
    let filled = 0;
    const next = (): void => {
      fs.read(fd, buf, filled, length - filled, position + filled, (error, n) => {
        if (error) return reject(error);
        filled += n;
        if (n === 0 || filled === length) return resolve(filled === length ? buf : buf.subarray(0, filled));
        next();
      });
    };
    next();
  });
}

/**
 * Writes `buffers` contiguously at `position`, synchronously. Handing a write to libuv's thread
 * pool costs more than the copy into the page cache itself (measured here: 30-80 us of main
 * thread per async write against 5-15 us for writeSync of 2-20 KB), and the durable wait is the
 * fdatasync that follows, which stays asynchronous.
 */
export function pwriteSync(fd: number, buffers: readonly Buffer[], position: number): void {
  let total = 0;
  for (const b of buffers) total += b.length;
  let written = fs.writevSync(fd, buffers as Buffer[], position);
  if (written === total) return;
  // A short write (rare on a regular file): write the rest piece by piece.
  const rest = Buffer.concat(buffers as Buffer[]).subarray(written);
  let at = 0;
  while (at < rest.length) {
    const n = fs.writeSync(fd, rest, at, rest.length - at, position + written);
    at += n;
    written += n;
  }
}

export function pwrite(fd: number, buf: Buffer, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let written = 0;
    const next = (): void => {
      fs.write(fd, buf, written, buf.length - written, position + written, (error, n) => {
        if (error) return reject(error);
        written += n;
        if (written === buf.length) resolve();
        else next();
      });
    };
    next();
  });
}

/**
 * Makes written bytes durable. fdatasync on Linux and the BSDs; on macOS, Node's fdatasync is
 * fsync(2), which hands the data to the drive but does not make the drive flush its own cache
 * (that takes fcntl F_FULLFSYNC, which Node does not expose), so on a Mac an acknowledged append
 * survives a process or kernel crash but not necessarily a power cut. On Windows it is
 * FlushFileBuffers, which is a full flush.
 */
export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())));
}

/**
 * Makes a file's creation or rename durable by syncing its directory. Windows cannot open a
 * directory for syncing (and NTFS journals the rename itself), so there it is skipped.
 */
export function syncDirectory(directory: string): void {
  let fd: number;
  try {
    fd = fs.openSync(directory, 'r');
  } catch (e) {
    if (process.platform === 'win32') return;
    throw e;
  }
  try {
    fs.fsyncSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw e;
  } finally {
    fs.closeSync(fd);
  }
}
