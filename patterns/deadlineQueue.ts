/**
 * Event-time deadlines as plain JSON: `[time, key, time, key, …]`, sorted by time from `head`.
 * Deadlines mostly arrive in time order, so inserting searches from the tail and usually appends;
 * popping moves `head` and compacts now and then instead of shifting the array every time.
 */
export interface DeadlineQueue {
  q: Array<number | string>;
  h: number;
}

export function newDeadlineQueue(): DeadlineQueue {
  return { q: [], h: 0 };
}

export function addDeadline(dq: DeadlineQueue, time: number, key: string): void {
  const q = dq.q;
  let i = q.length;
  while (i > dq.h && (q[i - 2] as number) > time) i -= 2;
  if (i === q.length) q.push(time, key);
  else q.splice(i, 0, time, key);
}

/** Calls `fire(key, time)` for every deadline at or before `now`, in time order. */
export function popDeadlines(dq: DeadlineQueue, now: number, fire: (key: string, time: number) => void): void {
  const q = dq.q;
  while (dq.h < q.length && (q[dq.h] as number) <= now) {
    const time = q[dq.h] as number;
    const key = q[dq.h + 1] as string;
    dq.h += 2;
    fire(key, time);
  }
  if (dq.h > 1024 && dq.h * 2 > dq.q.length) {
    dq.q = dq.q.slice(dq.h);
    dq.h = 0;
  }
}
