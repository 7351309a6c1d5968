// Rendered immutable pages (full pages behind the head, which Event Store lets clients cache for a
// year), kept so that re-reading one costs a lookup instead of a read and a render. Bounded by
// bytes, least recently used first out. Keys carry the stream's metadata revision, so a metadata
// write (a new $maxCount, an ACL, a soft delete) makes every older page of that stream a miss.
export interface CachedPage {
  /** Encoded once: each hit then writes bytes, with no per-request UTF-8 encoding. */
  readonly body: Buffer;
  readonly etag: string;
  readonly cacheControl: string;
  /** The Content-Type it was rendered for (the media type is part of the key). */
  readonly contentType: string;
  readonly events: number;
  /** The oldest event number on the page: with $maxCount, the page holds while that is still visible. */
  readonly oldest: bigint;
  /** For a page that is not immutable: the stream's last event number it was rendered at. */
  readonly last?: bigint;
}

interface Slot {
  readonly page: CachedPage;
  /** The insertion count when this page was last moved to the young end. */
  touched: number;
}

export class PageCache {
  readonly #pages = new Map<string, Slot>();
  readonly #maxBytes: number;
  #bytes = 0;
  #inserts = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get(key: string): CachedPage | undefined {
    const slot = this.#pages.get(key);
    if (slot === undefined) return undefined;
    // Map order is the recency order. Moving a page on every hit costs a delete and an insert per
    // read; moving it only once it is in the older half keeps hot pages from being evicted just
    // as well, and a page read over and over is moved rarely.
    if (this.#inserts - slot.touched > this.#pages.size / 2) {
      this.#pages.delete(key);
      slot.touched = ++this.#inserts;
      this.#pages.set(key, slot);
    }
    return slot.page;
  }

  set(key: string, page: CachedPage): void {
    if (this.#maxBytes <= 0 || page.body.length > this.#maxBytes / 4) return;
    const old = this.#pages.get(key);
    if (old !== undefined) {
      this.#bytes -= old.page.body.length;
      this.#pages.delete(key);
    }
    this.#pages.set(key, { page, touched: ++this.#inserts });
    this.#bytes += page.body.length;
    for (const [k, p] of this.#pages) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#pages.delete(k);
      this.#bytes -= p.page.body.length;
    }
  }
}
