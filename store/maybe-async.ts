// Code that is synchronous almost always and asynchronous sometimes: deciding an append needs
// the disk only for an idempotent retry whose ids are no longer in memory, yet an `async`
// function pays promises and microtask turns on every call. Such code is written once, as a
// generator that yields each value that may be a promise; `drive` runs it synchronously while
// the values are plain and switches to awaiting at the first promise.

export type MaybePromise<T> = T | Promise<T>;

export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** Runs `steps` to completion: synchronously when every yielded value is plain, else as a promise. */
export function drive<T>(steps: Generator<unknown, T, unknown>): MaybePromise<T> {
  let step = steps.next();
  while (!step.done) {
    if (isPromiseLike(step.value)) return finish(steps, step.value);
    step = steps.next(step.value);
  }
  return step.value;
}

async function finish<T>(steps: Generator<unknown, T, unknown>, pending: PromiseLike<unknown>): Promise<T> {
  let step: IteratorResult<unknown, T>;
  try {
    step = steps.next(await pending);
  } catch (e) {
    step = steps.throw(e);
  }
  while (!step.done) {
    try {
      step = steps.next(await step.value);
    } catch (e) {
      step = steps.throw(e);
    }
  }
  return step.value;
}
