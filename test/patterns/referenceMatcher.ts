// A brute-force reference for sequence rules, written from the declarative definition in
// docs/patterns.md ("Semantics, precisely") rather than from the NFA: it enumerates every
// assignment of events to steps and keeps those the definition allows, then applies the skip
// strategy by replaying emission order. Slow on purpose; only for short random streams.

export type Mode = 'strict' | 'relaxed' | 'any';

export interface RefStep {
  name: string;
  test: (e: RefEvent, first: RefEvent | undefined) => boolean;
  min: number;
  max: number;
  optional: boolean;
  enter: Mode;
  loop: Mode;
  greedy: boolean;
}

export interface RefNegation {
  kind: 'notNext' | 'notFollowedBy';
  test: (e: RefEvent, first: RefEvent | undefined) => boolean;
}

export interface RefPattern {
  steps: RefStep[];
  /** negations[i]: the negations between step i and step i + 1 (or trailing, for the last). */
  negations: RefNegation[][];
  within: number | null;
  skip: { kind: 'noSkip' | 'skipToNext' | 'skipPastLastEvent' } | { kind: 'skipToFirst' | 'skipToLast'; step: string };
}

export interface RefEvent {
  id: number;
  key: string;
  k: string;
  v: number;
  t: number;
}

/** A match as [event index in the key's stream, step index] pairs. */
type Caps = Array<[number, number]>;

export interface RefMatch {
  key: string;
  steps: Record<string, number[]>;
}

export function referenceMatches(p: RefPattern, events: RefEvent[]): RefMatch[] {
  const byKey = new Map<string, RefEvent[]>();
  for (const e of events) {
    if (!byKey.has(e.key)) byKey.set(e.key, []);
    byKey.get(e.key)!.push(e);
  }
  const out: RefMatch[] = [];
  for (const [key, evs] of byKey) {
    for (const caps of matchesForKey(p, evs)) {
      const steps: Record<string, number[]> = {};
      for (const [i, s] of caps) (steps[p.steps[s]!.name] ??= []).push(evs[i]!.id);
      out.push({ key, steps });
    }
  }
  return out;
}

function matchesForKey(p: RefPattern, evs: RefEvent[]): Caps[] {
  const n = p.steps.length;
  const last = n - 1;
  const trailing = p.negations[last]!.find((x) => x.kind === 'notFollowedBy') ?? null;
  const W = p.within ?? Infinity;
  const restOptional = (q: number): boolean => p.steps.slice(q + 1).every((s) => s.optional);
  const guarded = (q: number): boolean => p.negations[q]!.length > 0;
  const accepting = (q: number): boolean => restOptional(q) && !guarded(q);
  const proceedFrom = (q: number): number[] => {
    const out: number[] = [];
    for (let r = q + 1; r < n; r++) {
      out.push(r);
      if (!p.steps[r]!.optional) break;
    }
    return out;
  };
  const starts = proceedFrom(-1);
  const firstOf = (caps: Caps): RefEvent | undefined => {
    const c = caps.find(([, s]) => s === 0);
    return c ? evs[c[0]] : undefined;
  };
  const countOf = (caps: Caps): number => {
    const s = caps[caps.length - 1]![1];
    let c = 0;
    for (let i = caps.length - 1; i >= 0 && caps[i]![1] === s; i--) c++;
    return c;
  };
  // Takes the prefix could make on event k: [target step, mode] pairs.
  const takes = (caps: Caps, k: number): Array<[number, Mode]> => {
    const [i, p0] = caps[caps.length - 1]!;
    const step = p.steps[p0]!;
    const c = countOf(caps);
    const adjacent = k === i + 1;
    const e = evs[k]!;
    const first = firstOf(caps);
    const out: Array<[number, Mode]> = [];
    let loopTook = false;
    if (c < step.max && (step.loop !== 'strict' || adjacent) && step.test(e, first)) {
      out.push([p0, step.loop]);
      loopTook = true;
    }
    if (c >= step.min && !(step.greedy && loopTook)) {
      for (const q of proceedFrom(p0)) {
        const s = p.steps[q]!;
        if ((s.enter !== 'strict' || adjacent) && s.test(e, first)) out.push([q, s.enter]);
      }
    }
    return out;
  };
  const killed = (caps: Caps, k: number): boolean => {
    const [i, p0] = caps[caps.length - 1]!;
    const step = p.steps[p0]!;
    if (countOf(caps) < step.max) return false;
    const first = firstOf(caps);
    for (const neg of p.negations[p0]!) {
      if (neg.kind === 'notNext' && k === i + 1 && neg.test(evs[k]!, first)) return true;
      if (neg.kind === 'notFollowedBy' && neg.test(evs[k]!, first)) return true;
    }
    return false;
  };
  const hasFuture = (caps: Caps): boolean => {
    const [, p0] = caps[caps.length - 1]!;
    const step = p.steps[p0]!;
    const c = countOf(caps);
    if (c < step.max && step.loop !== 'strict') return true;
    if (c >= step.min) return proceedFrom(p0).some((q) => p.steps[q]!.enter !== 'strict');
    return false;
  };
  // The prefix lives through event k without taking it.
  const survives = (caps: Caps, k: number): boolean => {
    if (killed(caps, k)) return false;
    if (takes(caps, k).some(([, mode]) => mode !== 'any')) return false;
    return hasFuture(caps);
  };
  const isPendingAbsence = (caps: Caps): boolean => trailing !== null && caps[caps.length - 1]![1] === last && countOf(caps) === p.steps[last]!.max;

  // [caps, emission event index or Infinity for absence]
  const found: Array<{ caps: Caps; at: number }> = [];
  const extend = (caps: Caps): void => {
    const [i] = caps[caps.length - 1]!;
    const start = evs[caps[0]![0]]!.t;
    if (isPendingAbsence(caps)) {
      for (let k = i + 1; k < evs.length && evs[k]!.t < start + W; k++) if (trailing!.test(evs[k]!, firstOf(caps))) return;
      found.push({ caps, at: Infinity });
      return;
    }
    for (let j = i + 1; j < evs.length; j++) {
      if (evs[j]!.t - start >= W) break;
      if (j > i + 1 && !survives(caps, j - 1)) break;
      if (killed(caps, j)) break;
      for (const [q] of takes(caps, j)) {
        const next: Caps = [...caps, [j, q]];
        const c = countOf(next);
        if (c >= p.steps[q]!.min && accepting(q)) found.push({ caps: next, at: j });
        extend(next);
      }
    }
  };
  for (let j = 0; j < evs.length; j++) {
    for (const q of starts) {
      if (!p.steps[q]!.test(evs[j]!, undefined)) continue;
      const caps: Caps = [[j, q]];
      if (p.steps[q]!.min <= 1 && accepting(q)) found.push({ caps, at: j });
      extend(caps);
    }
  }
  const lex = (a: Caps, b: Caps): number => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const d = a[i]![0] - b[i]![0] || a[i]![1] - b[i]![1];
      if (d !== 0) return d;
    }
    return a.length - b.length;
  };
  found.sort((a, b) => a.at - b.at || lex(a.caps, b.caps));
  if (p.skip.kind === 'noSkip') return found.map((f) => f.caps);

  const bound = (m: Caps): number => {
    switch (p.skip.kind) {
      case 'skipToNext': return m[0]![0] + 1;
      case 'skipPastLastEvent': return m[m.length - 1]![0] + 1;
      case 'skipToFirst':
      case 'skipToLast': {
        const s = p.steps.findIndex((x) => x.name === (p.skip as { step: string }).step);
        const hits = m.filter(([, q]) => q === s);
        if (hits.length === 0) return -Infinity;
        return (p.skip.kind === 'skipToFirst' ? hits[0]! : hits[hits.length - 1]!)[0];
      }
      default: return -Infinity;
    }
  };
  // Replays emission: at each event, matches in order; each emitted one raises the bound under
  // which partial matches alive after that event (start <= event < last) are discarded.
  const emitted: Caps[] = [];
  const finalBound = new Map<number, number>();
  let group = -1;
  let running = -Infinity;
  for (const f of found) {
    if (f.at !== group) {
      if (group >= 0) finalBound.set(group, running);
      group = f.at;
      running = -Infinity;
    }
    const start = f.caps[0]![0];
    const lastIdx = f.caps[f.caps.length - 1]![0];
    let pruned = start < running;
    for (const [j, b] of finalBound) if (start <= j && j < lastIdx && start < b) pruned = true;
    if (pruned) continue;
    emitted.push(f.caps);
    running = Math.max(running, bound(f.caps));
  }
  return emitted;
}
