// Scoring rules against labelled traffic. An alert is *own* when it points at an injected case of
// its rule (one of the case's events among the events that matched, or the same key within the
// case's time span), *cross* when it points at fraud injected for another rule (a real fraud, just
// not the kind this rule is named for), and a *false positive* otherwise. A case is detected when
// at least one of its rule's alerts points at it.
//   precision = (own + cross) / alerts        recall = detected cases / injected cases
//   delay     = event time of the event whose arrival made the rule fire − the time the case
//               became detectable (its last event; the deadline for an absence)
import type { FraudCase, FraudRule, GeneratedEvent } from './traffic.js';

export interface ObservedAlert {
  readonly key: string;
  /** Every event id named in the alert's steps. */
  readonly eventIds: readonly string[];
  readonly start: number | undefined;
  readonly end: number | undefined;
  /** Event time of the event being processed when the alert was emitted. */
  readonly firedAt: number | undefined;
}

export interface RuleScore {
  readonly rule: string;
  readonly cases: number;
  readonly alerts: number;
  readonly own: number;
  readonly cross: number;
  readonly falsePositives: number;
  readonly detected: number;
  readonly precision: number | null;
  readonly recall: number | null;
  /** Seconds of event time, over detected cases. */
  readonly delaySeconds: { readonly median: number | null; readonly p95: number | null; readonly max: number | null };
  /** Traffic events per second of wall time the rule's projection took over the whole traffic. */
  readonly eventsPerSecond: number;
  readonly elapsedMs: number;
  /** A few undetected case ids and false-positive alerts, to look into. */
  readonly missedCases: readonly string[];
  readonly falsePositiveSamples: readonly ObservedAlert[];
}

const quantile = (sorted: readonly number[], q: number): number | null => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);

export function scoreRule(rule: FraudRule, alerts: readonly ObservedAlert[], cases: readonly FraudCase[], labelOf: ReadonlyMap<string, GeneratedEvent>, run: { elapsedMs: number; events: number }): RuleScore {
  const mine = cases.filter((c) => c.rule === rule);
  const byId = new Map(mine.map((c) => [c.caseId, c]));
  const byKey = new Map<string, FraudCase[]>();
  for (const c of mine) byKey.set(c.key, [...(byKey.get(c.key) ?? []), c]);
  const firstDetection = new Map<string, number>();
  let own = 0;
  let cross = 0;
  const falsePositives: ObservedAlert[] = [];
  for (const a of alerts) {
    const hits = new Set<string>();
    let otherFraud = false;
    for (const id of a.eventIds) {
      const label = labelOf.get(id)?.metadata?.fraudLabel;
      if (label === undefined) continue;
      if (label.rule === rule) hits.add(label.caseId);
      else otherFraud = true;
    }
    // Rules that name only a window's first and last events are matched on key and time.
    for (const c of byKey.get(a.key) ?? []) {
      if (a.start !== undefined && a.end !== undefined && c.start <= a.end && c.detectableAt >= a.start) hits.add(c.caseId);
    }
    if (hits.size > 0) {
      own++;
      for (const caseId of hits) {
        const c = byId.get(caseId)!;
        const delay = (a.firedAt ?? Number.NaN) - c.detectableAt;
        const seen = firstDetection.get(caseId);
        if (seen === undefined || delay < seen) firstDetection.set(caseId, delay);
      }
    } else if (otherFraud) cross++;
    else falsePositives.push(a);
  }
  const delays = [...firstDetection.values()].filter((d) => Number.isFinite(d)).map((d) => d / 1000).sort((x, y) => x - y);
  return {
    rule,
    cases: mine.length,
    alerts: alerts.length,
    own,
    cross,
    falsePositives: falsePositives.length,
    detected: firstDetection.size,
    precision: alerts.length === 0 ? null : (own + cross) / alerts.length,
    recall: mine.length === 0 ? null : firstDetection.size / mine.length,
    delaySeconds: { median: quantile(delays, 0.5), p95: quantile(delays, 0.95), max: delays.length ? delays[delays.length - 1]! : null },
    eventsPerSecond: run.elapsedMs > 0 ? Math.round((run.events / run.elapsedMs) * 1000) : 0,
    elapsedMs: Math.round(run.elapsedMs),
    missedCases: mine.filter((c) => !firstDetection.has(c.caseId)).slice(0, 5).map((c) => c.caseId),
    falsePositiveSamples: falsePositives.slice(0, 3),
  };
}

/** The ids an alert names: every `id` under `data.steps`. */
export function alertEventIds(data: unknown): string[] {
  const steps = (data as { steps?: Record<string, { id?: unknown }[]> } | null)?.steps;
  if (steps === undefined || steps === null || typeof steps !== 'object') return [];
  return Object.values(steps).flatMap((list) => (Array.isArray(list) ? list.map((x) => x?.id).filter((id): id is string => typeof id === 'string') : []));
}
