// The arguments of one call of the commit script (scripts.ts), for a group of commits. Each write
// travels as a small binary header and its bodies, each commit as a header: three arguments for a
// single-event append, where decimal fields and per-stream keys took eleven. Every argument costs
// on both sides (ioredis writes it, Redis parses it and makes a Lua string of it), and a group of
// a hundred concurrent single-event appends is mostly arguments.
//
//   ARGV[1]  the store's hash tag `{prefix}`
//   ARGV[2]  commit count
//   per commit: header = created ms (f64 BE), write count (u32 BE)
//   per write:  header = flags (u8), exact expected revision (f64 BE, 0 unless the kind is exact),
//               event count (u32 BE), the stream name (UTF-8, the rest);
//               then its bodies (record-codec.ts `encodeWrite`), ceil(count / MAX_ENTRY_EVENTS) of them
import type { PreparedWrite } from '../backend.js';
import { isSoftDeleteMarker } from '../metadata.js';
import { isMetastream } from '../stream-name.js';
import { encodeWrite } from './record-codec.js';

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

export function commitArguments(tag: string, commits: readonly GroupedCommit[]): (string | Buffer)[] {
  const args: (string | Buffer)[] = [tag, String(commits.length)];
  for (const commit of commits) {
    const header = Buffer.allocUnsafe(12);
    header.writeDoubleBE(commit.created, 0);
    header.writeUInt32BE(commit.writes.length, 8);
    args.push(header);
    for (const write of commit.writes) {
      args.push(writeHeader(write));
      for (const body of encodeWrite(write.streamId, write.events, commit.created)) args.push(body);
    }
  }
  return args;
}

function writeHeader(write: PreparedWrite): Buffer {
  const streamBytes = Buffer.byteLength(write.streamId, 'utf8');
  const header = Buffer.allocUnsafe(13 + streamBytes);
  let flags: number;
  let revision = 0;
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
      // Revisions stay below 2^53 (the script counts in Lua numbers); a larger one cannot match.
      revision = Number(write.expected);
  }
  if (write.tombstone === true) flags |= WRITE_TOMBSTONE;
  if (isMetastream(write.streamId)) {
    flags |= WRITE_METASTREAM;
    const last = write.events[write.events.length - 1];
    if (last !== undefined && isSoftDeleteMarker(last.data)) flags |= WRITE_SOFT_DELETES;
  }
  header[0] = flags;
  header.writeDoubleBE(revision, 1);
  header.writeUInt32BE(write.events.length, 9);
  header.write(write.streamId, 13, 'utf8');
  return header;
}
