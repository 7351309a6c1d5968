// Where one store's data lives in Redis. Every key of a store starts with the hash tag `{prefix}`,
// so in Redis Cluster the whole store is in ONE slot: the commit script touches the position
// counter, the `$all` log and every written stream's keys at once, and a script's keys must share
// a slot. (docs/redis.md weighs this against per-stream tags.) The same layout is used on a single
// server, so a store's keys can be moved between the two without rewriting them.
//
//   {p}:head        string  the last position handed out (positions start at 1: a stream entry id must exceed 0-0)
//   {p}:all         stream  the `$all` log: entry id `0-<position>`, fields r (revision), b (body)
//   {p}:s:<stream>  list    the stream's positions, index = revision (the tombstone is not listed)
//   {p}:i:<stream>  hash    event id (16 raw bytes) → revision, for idempotent appends with `any`
//   {p}:x:<stream>  hash    t = tombstone position, d = 1 while soft-deleted; absent for most streams
//   {p}:commits     channel (sharded pub/sub) the new head after each commit
import { InvalidArgumentError } from '../errors.js';
import { metastreamOf, streamOfMetastream, isMetastream } from '../stream-name.js';

export const DEFAULT_PREFIX = 'telltale';

export class KeyLayout {
  readonly tag: string;
  readonly head: string;
  readonly all: string;
  readonly channel: string;

  constructor(readonly prefix: string = DEFAULT_PREFIX) {
    if (prefix.length === 0 || /[{}\s]/.test(prefix)) {
      throw new InvalidArgumentError(`Redis key prefix ${JSON.stringify(prefix)} must be non-empty, without braces or spaces`);
    }
    this.tag = `{${prefix}}`;
    this.head = `${this.tag}:head`;
    this.all = `${this.tag}:all`;
    this.channel = `${this.tag}:commits`;
  }

  positions(streamId: string): string {
    return `${this.tag}:s:${streamId}`;
  }

  ids(streamId: string): string {
    return `${this.tag}:i:${streamId}`;
  }

  state(streamId: string): string {
    return `${this.tag}:x:${streamId}`;
  }

  /** A pattern matching every key of the store (for tools and tests that drop a store). */
  get pattern(): string {
    return `${this.tag.replace(/[[\]*?\\]/g, '\\$&')}:*`;
  }

  /**
   * The six keys the commit script takes for one write to `streamId`: its positions, ids and state,
   * its metastream's positions and ids (a recreation writes there), and the state of the stream a
   * metastream describes (a metadata write may soft-delete or undelete it).
   */
  writeKeys(streamId: string): string[] {
    const meta = metastreamOf(streamId);
    const described = isMetastream(streamId) ? streamOfMetastream(streamId) : streamId;
    return [this.positions(streamId), this.ids(streamId), this.state(streamId), this.positions(meta), this.ids(meta), this.state(described)];
  }
}
