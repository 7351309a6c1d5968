/**
 * Event-time deadlines as plain JSON: a binary min-heap by time, stored flat as
 * `[time, key, time, key, …]`. Deterministic: the same operations give the same order, so a
 * replay (or a state restored from JSON) fires deadlines exactly as the live run did.
 */
export interface DeadlineQueue {
  q: Array<number | string>;
}

export function newDeadlineQueue(): DeadlineQueue {
  return { q: [] };
}

const timeAt = (q: Array<number | string>, i: number): number => q[2 * i] as number;

function swap(q: Array<number | string>, i: number, j: number): void {
  const t = q[2 * i] as number, k = q[2 * i + 1] as string;
  q[2 * i] = q[2 * j] as number;
  q[2 * i + 1] = q[2 * j + 1] as string;
  q[2 * j] = t;
  q[2 * j + 1] = k;
}

export function addDeadline(dq: DeadlineQueue, time: number, key: string): void {
  const q = dq.q;
  q.push(time, key);
  let i = q.length / 2 - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (timeAt(q, parent) <= time) break;
    swap(q, i, parent);
    i = parent;
  }
}

function popMin(q: Array<number | string>): void {
  const n = q.length / 2 - 1;
  q[0] = q[2 * n] as number;
  q[1] = q[2 * n + 1] as string;
  q.length = 2 * n;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1, r = l + 1;
    let m = i;
    if (l < n && timeAt(q, l) < timeAt(q, m)) m = l;
    if (r < n && timeAt(q, r) < timeAt(q, m)) m = r;
    if (m === i) return;
    swap(q, i, m);
    i = m;
  }
}

/** Calls `fire(key, time)` for every deadline at or before `now`, earliest first. */
export function popDeadlines(dq: DeadlineQueue, now: number, fire: (key: string, time: number) => void): void {
  const q = dq.q;
  while (q.length > 0 && (q[0] as number) <= now) {
    const time = q[0] as number;
    const key = q[1] as string;
    popMin(q);
    fire(key, time);
  }
}
