// Writing to a server-streaming or bidirectional call with backpressure: a write waits for
// 'drain' when the call's buffer is full, and reports when the call is gone (cancelled by the
// client, or ended), so that readers and subscriptions stop instead of buffering for nobody.
import type { ProtoWriter } from './codec.js';
import type { ServerCall } from './server-call.js';

export class CallWriter<T> {
  readonly #call: ServerCall<unknown, T>;
  #wake: (() => void) | undefined;

  constructor(call: ServerCall<unknown, T>) {
    this.#call = call;
    const wake = () => this.#wake?.();
    call.on('cancelled', wake);
    call.on('close', wake);
    call.on('drain', wake);
  }

  /** Whether the call can still be written to. */
  get open(): boolean {
    return this.#call.open;
  }

  /** Writes one message; false when the call is gone. Waits while the transport's buffer is full. */
  async write(message: T): Promise<boolean> {
    if (this.#call.write(message)) return true;
    return this.#drained();
  }

  /** Writes one message that `encode` writes into the call's buffer (codec.ts); as `write`. */
  async writeWith(encode: (w: ProtoWriter) => void): Promise<boolean> {
    if (this.#call.writeWith(encode)) return true;
    return this.#drained();
  }

  async #drained(): Promise<boolean> {
    while (this.open && this.#call.needsDrain) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
    return this.open;
  }

  /** Resolves when the call is gone (cancelled or closed). */
  whenGone(): Promise<void> {
    if (this.#call.cancelled) return Promise.resolve();
    return new Promise((resolve) => {
      this.#call.once('close', () => resolve());
      this.#call.once('cancelled', () => resolve());
    });
  }
}
