// Rendered Atom entries, kept per event, embed level and base URL. An event never changes once
// written, and neither does its entry: a head page polled again, or a page of `$all`, is then
// mostly a join of kept texts instead of twenty renders. Bounded by characters, oldest out.
//
// Resolved links are not kept: what a `$>` event shows depends on its target, which a delete or a
// truncation can take away later.
import { entryJson, type Embed } from './atom-feed.js';
import type { RecordedEvent } from '../store/types.js';

interface Slot {
  readonly text: string;
  /** The insertion count when this entry was last moved to the young end. */
  touched: number;
}

export class EntryCache {
  readonly #entries = new Map<string, Slot>();
  readonly #maxChars: number;
  #chars = 0;
  #inserts = 0;

  constructor(maxChars: number) {
    this.#maxChars = maxChars;
  }

  /** The entry's JSON text, as `entryJson(base, e, embed)` writes it. */
  text(base: string, e: RecordedEvent, embed: Embed): string {
    if (this.#maxChars <= 0 || e.link !== undefined || e.type === '$>') return entryJson(base, e, embed);
    const key = `${embed}\n${e.revision}\n${e.streamId}\n${base}`;
    const slot = this.#entries.get(key);
    if (slot !== undefined) {
      // Moved only from the older half, as in PageCache: hot entries stay, and are rarely moved.
      if (this.#inserts - slot.touched > this.#entries.size / 2) {
        this.#entries.delete(key);
        slot.touched = ++this.#inserts;
        this.#entries.set(key, slot);
      }
      return slot.text;
    }
    const text = entryJson(base, e, embed);
    if (text.length > this.#maxChars / 64) return text;
    this.#entries.set(key, { text, touched: ++this.#inserts });
    this.#chars += text.length + key.length;
    for (const [k, s] of this.#entries) {
      if (this.#chars <= this.#maxChars) break;
      this.#entries.delete(k);
      this.#chars -= s.text.length + k.length;
    }
    return text;
  }
}
