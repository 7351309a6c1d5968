// Where one store's data lives in Redis. Every key of a store starts with the hash tag `{prefix}`,
// so in Redis Cluster the whole store is in ONE slot: the commit script touches the position
// counter, the `$all` log and every written stream's keys at once, and a script's keys must share
// a slot. (docs/redis.md weighs this against per-stream tags.) The same layout is used on a single
// server, so a store's keys can be moved between the two without rewriting them.
//
//   {p}:head        string  the last position handed out (positions start at 1: a stream entry id must exceed 0-0)
//   {p}:layout      string  the layout of the store's keys and bodies, 2 (set by the first commit)
//   {p}:all         stream  the `$all` log: one entry per run of a write's events, id `0-<last position of the run>`,
//                           fields r (first revision) and b (the body, store/redis/record-codec.ts)
//   {p}:s:<stream>  list    the stream's positions, index = revision (the tombstone is not listed)
//   {p}:i:<stream>  hash    event id (16 raw bytes) → revision, for idempotent appends with `any`; and the
//                           stream's state: n = event count, t = tombstone position, d = 1 while soft-deleted
//   {p}:all:scavenge stream $all being rebuilt by a scavenge, {p}:scavenge-lock its lock
//   {p}:commits     channel (sharded pub/sub) the new head after each commit
//
// Layout 1, the backend's first version, had one `$all` entry per event and a `{p}:x:<stream>` state
// hash; a store written with it has no `{p}:layout` and is refused on open (to move one: export its
// streams with the earlier build, import them with this one).
import { InvalidArgumentError } from '../errors.js';

export const DEFAULT_PREFIX = 'telltale';

export class KeyLayout {
  readonly tag: string;
  readonly head: string;
  readonly all: string;
  readonly layout: string;
  readonly rebuild: string;
  readonly scavengeLock: string;
  readonly channel: string;

  constructor(readonly prefix: string = DEFAULT_PREFIX) {
    if (prefix.length === 0 || /[{}\s]/.test(prefix)) {
      throw new InvalidArgumentError(`Redis key prefix ${JSON.stringify(prefix)} must be non-empty, without braces or spaces`);
    }
    this.tag = `{${prefix}}`;
    this.head = `${this.tag}:head`;
    this.all = `${this.tag}:all`;
    this.layout = `${this.tag}:layout`;
    this.rebuild = `${this.tag}:all:scavenge`;
    this.scavengeLock = `${this.tag}:scavenge-lock`;
    this.channel = `${this.tag}:commits`;
  }

  positions(streamId: string): string {
    return `${this.tag}:s:${streamId}`;
  }

  ids(streamId: string): string {
    return `${this.tag}:i:${streamId}`;
  }

  /** A pattern matching every key of the store (for tools and tests that drop a store). */
  get pattern(): string {
    return `${this.tag.replace(/[[\]*?\\]/g, '\\$&')}:*`;
  }
}
