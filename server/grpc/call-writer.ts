// Writing to a server-streaming or bidirectional call with backpressure: a write waits for
// 'drain' when grpc-js's buffer is full, and reports when the call is gone (cancelled by the
// client, or closed), so that readers and subscriptions stop instead of buffering for nobody.
import type { Writable } from 'node:stream';

export class CallWriter<T> {
  readonly #call: Writable;
  #gone = false;
  #wake: (() => void) | undefined;

  constructor(call: Writable & { on(event: 'cancelled', listener: () => void): unknown }) {
    this.#call = call;
    const gone = () => {
      this.#gone = true;
      this.#wake?.();
    };
    call.on('cancelled', gone);
    call.on('close', gone);
    call.on('drain', () => this.#wake?.());
  }

  /** Whether the call can still be written to. */
  get open(): boolean {
    return !this.#gone && !this.#call.writableEnded && !this.#call.destroyed;
  }

  /** Writes one message; false when the call is gone. Waits while the transport's buffer is full. */
  async write(message: T): Promise<boolean> {
    if (!this.open) return false;
    if (this.#call.write(message)) return true;
    while (this.open && this.#call.writableNeedDrain) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
    return this.open;
  }

  /** Resolves when the call is gone (cancelled or closed). */
  whenGone(): Promise<void> {
    if (this.#gone) return Promise.resolve();
    return new Promise((resolve) => {
      this.#call.once('close', () => resolve());
      (this.#call as unknown as { once(e: 'cancelled', l: () => void): void }).once('cancelled', () => resolve());
    });
  }
}
