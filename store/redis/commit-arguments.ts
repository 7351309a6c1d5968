// The arguments of one call of the commit script (scripts.ts) for a group of commits: the store's
// hash tag and ONE packed string. A group of a hundred concurrent single-event appends used to be
// hundreds of arguments, and each costs on both sides (ioredis frames it, Redis parses it into a
// string object and then a Lua string); packed, the client writes one buffer and the script reads
// it with struct.unpack, a call per write and per body.
//
//   u32 BE  commit count, then per commit:
//     f64 BE  created, milliseconds since the epoch
//     u32 BE  write count, then per write:
//       u8      flags (below)
//       f64 BE  the exact expected revision (0 unless the kind is exact)
//       u32 BE  event count N
//       u16 BE  stream name length, then the name (UTF-8)
//       then ceil(N / MAX_ENTRY_EVENTS) bodies (record-codec.ts), each as u32 BE length + bytes
import type { PreparedWrite } from '../backend.js';
import { isSoftDeleteMarker } from '../metadata.js';
import { isMetastream } from '../stream-name.js';
import { MAX_ENTRY_EVENTS, nameBytes, runBytes, writeName, writeRun } from './record-codec.js';

/** Bits 0-1 of a write's flags: the kind of expected revision. */
export const EXPECT_REVISION = 0;
export const EXPECT_ANY = 1;
export const EXPECT_NO_STREAM = 2;
export const EXPECT_STREAM_EXISTS = 3;
export const WRITE_TOMBSTONE = 4;
export const WRITE_METASTREAM = 8;
/** A metastream write whose last event's `$tb` marks the stream deleted. */
export const WRITE_SOFT_DELETES = 16;

export interface GroupedCommit {
  readonly created: number;
  readonly writes: readonly PreparedWrite[];
}

export function commitArguments(tag: string, commits: readonly GroupedCommit[]): [string, Buffer] {
  let size = 4;
  const streamBytes: number[] = [];
  for (const commit of commits) {
    size += 12;
    for (const write of commit.writes) {
      const sb = nameBytes(write.streamId);
      streamBytes.push(sb);
      size += 15 + sb;
      for (let from = 0; from < write.events.length; from += MAX_ENTRY_EVENTS) {
        size += 4 + runBytes(sb, write.events, from, Math.min(write.events.length, from + MAX_ENTRY_EVENTS));
      }
    }
  }
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(commits.length, 0);
  let at = 4;
  let w = 0;
  for (const commit of commits) {
    out.writeDoubleBE(commit.created, at);
    out.writeUInt32BE(commit.writes.length, at + 8);
    at += 12;
    for (const write of commit.writes) {
      const sb = streamBytes[w++]!;
      out[at] = flagsOf(write);
      out.writeDoubleBE(expectedRevision(write), at + 1);
      out.writeUInt32BE(write.events.length, at + 9);
      out.writeUInt16BE(sb, at + 13);
      writeName(out, write.streamId, at + 15, sb);
      at += 15 + sb;
      for (let from = 0; from < write.events.length; from += MAX_ENTRY_EVENTS) {
        const end = writeRun(out, at + 4, write.streamId, sb, write.events, from, Math.min(write.events.length, from + MAX_ENTRY_EVENTS), commit.created);
        out.writeUInt32BE(end - at - 4, at);
        at = end;
      }
    }
  }
  // `runBytes` is an upper bound for payloads given as JSON text: send only what was written.
  return [tag, at === out.length ? out : out.subarray(0, at)];
}

function flagsOf(write: PreparedWrite): number {
  let flags: number;
  switch (write.expected) {
    case 'any':
      flags = EXPECT_ANY;
      break;
    case 'no_stream':
      flags = EXPECT_NO_STREAM;
      break;
    case 'stream_exists':
      flags = EXPECT_STREAM_EXISTS;
      break;
    default:
      flags = EXPECT_REVISION;
  }
  if (write.tombstone === true) flags |= WRITE_TOMBSTONE;
  if (isMetastream(write.streamId)) {
    flags |= WRITE_METASTREAM;
    const last = write.events[write.events.length - 1];
    if (last !== undefined && isSoftDeleteMarker(last.data)) flags |= WRITE_SOFT_DELETES;
  }
  return flags;
}

/** Revisions stay below 2^53 (the script counts in Lua numbers); a larger one cannot match. */
function expectedRevision(write: PreparedWrite): number {
  return typeof write.expected === 'bigint' ? Number(write.expected) : 0;
}
