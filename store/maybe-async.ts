// Code that is synchronous almost always and asynchronous sometimes: deciding an append needs
// the disk only for an idempotent retry whose ids are no longer in memory, yet an `async`
// function pays promises and microtask turns on every call. Such code takes and returns
// `MaybePromise`s, checks each value with `isPromiseLike`, and continues with `.then` only on the
// rare path where a value really is a promise (see store/commit-plan.ts).

export type MaybePromise<T> = T | Promise<T>;

export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
