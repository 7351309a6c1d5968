// The card charges and the 3-step rule that bench/pattern.ts, its memory child
// (bench/pattern-memory.ts) and its end-to-end case (bench/pattern-projection.ts) share, so every
// figure of the pattern benchmark is about the same rule over the same kind of traffic.
import { pattern, type PatternBuilder } from '../patterns/index.js';

export interface Charge {
  id: string;
  type: string;
  time: number;
  data: { card: string; amount: number };
}

/** Event time of the first charge, ms. */
export const T0 = 1_700_000_000_000;

/** mulberry32: a small seeded PRNG so every run sees the same stream. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 20% small (1), 50% medium (50), 10% large (900), 20% other (200). */
export function amountFor(r: number): number {
  return r < 0.2 ? 1 : r < 0.7 ? 50 : r < 0.8 ? 900 : 200;
}

/** `n` charges over `keys` cards chosen at random, `perSecond` of them per second of event time. */
export function charges(n: number, keys: number, perSecond: number, seed = 42): Charge[] {
  const rnd = prng(seed);
  const cards = Array.from({ length: keys }, (_, i) => `card-${i}`);
  const out: Charge[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const amount = amountFor(rnd());
    out[i] = { id: `e-${i}`, type: 'Charge', time: T0 + Math.floor((i * 1000) / perSecond), data: { card: cards[Math.floor(rnd() * keys)] as string, amount } };
  }
  return out;
}

/** Small, then medium, then large, on one card, within 10 minutes (relaxed contiguity). */
export const threeStep = (): PatternBuilder<Charge> => pattern<Charge>('small-medium-large')
  .keyBy((e) => e.data.card)
  .eventTime((e) => e.time)
  .eventId((e) => e.id)
  .begin('small', (e) => e.data.amount < 2)
  .followedBy('medium', (e) => e.data.amount >= 2 && e.data.amount <= 100)
  .followedBy('large', (e) => e.data.amount > 500)
  .within('10m');
