// Rendered immutable pages (full pages behind the head, which Event Store lets clients cache for a
// year), kept so that re-reading one costs a lookup instead of a read and a render. Bounded by
// bytes, least recently used first out. Keys carry the stream's metadata revision, so a metadata
// write (a new $maxCount, an ACL, a soft delete) makes every older page of that stream a miss.
export interface CachedPage {
  /** Encoded once: each hit then writes bytes, with no per-request UTF-8 encoding. */
  readonly body: Buffer;
  readonly etag: string;
  readonly cacheControl: string;
  readonly events: number;
}

export class PageCache {
  readonly #pages = new Map<string, CachedPage>();
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get(key: string): CachedPage | undefined {
    const page = this.#pages.get(key);
    if (page === undefined) return undefined;
    this.#pages.delete(key);
    this.#pages.set(key, page);
    return page;
  }

  set(key: string, page: CachedPage): void {
    if (this.#maxBytes <= 0 || page.body.length > this.#maxBytes / 4) return;
    const old = this.#pages.get(key);
    if (old !== undefined) {
      this.#bytes -= old.body.length;
      this.#pages.delete(key);
    }
    this.#pages.set(key, page);
    this.#bytes += page.body.length;
    for (const [k, p] of this.#pages) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#pages.delete(k);
      this.#bytes -= p.body.length;
    }
  }
}
