// The events of a sequence of pages, one at a time, for `for await`. `readAll` is read a page at a
// time; handing its events out through an async generator's `yield` costs about 200 ns an event
// (each step its own promise, queue entry and resumption), a fifth of what reading an event from
// the log costs. This iterator hands out the events of a page already read as resolved promises,
// about 80 ns an event, and fetches the next page only when the last one is used up.

export interface EventPage<T> {
  readonly events: readonly T[];
}

export class PageEvents<T> implements AsyncIterableIterator<T> {
  readonly #pages: AsyncIterator<EventPage<T>>;
  #events: readonly T[] = [];
  #next = 0;
  /** The page being fetched: a `next()` called before it arrives waits for it, so events keep their order. */
  #fetching: Promise<unknown> | undefined;
  #done = false;

  constructor(pages: AsyncIterator<EventPage<T>>) {
    this.#pages = pages;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.#fetching !== undefined) return this.#fetching.then(() => this.next());
    if (this.#next < this.#events.length) return Promise.resolve({ value: this.#events[this.#next++] as T, done: false });
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    const fetching = this.#pages.next().then(
      (r) => {
        this.#fetching = undefined;
        if (r.done === true) this.#done = true;
        else {
          this.#events = r.value.events;
          this.#next = 0;
        }
      },
      (e: unknown) => {
        this.#fetching = undefined;
        this.#done = true;
        throw e;
      },
    );
    this.#fetching = fetching.catch(() => undefined);
    return fetching.then(() => this.next());
  }

  /** Ends the iteration early (`break` in a `for await`), letting the page source close too. */
  async return(): Promise<IteratorResult<T, undefined>> {
    const fetching = this.#fetching;
    this.#done = true;
    this.#events = [];
    this.#next = 0;
    if (fetching !== undefined) await fetching;
    await this.#pages.return?.();
    return { value: undefined, done: true };
  }
}
