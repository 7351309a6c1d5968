import { parseDuration, type DurationInput } from './duration.js';
import type { CapturedEvent } from './pattern.js';

/** Anything that runs like a rule: a pattern, a window rule, a chain rule. */
export interface RunnableRule<E, S> {
  initialState(): S;
  advance(state: NoInfer<S>, event: E, eventTime?: number): object;
  onWatermark(state: NoInfer<S>, watermark: number): object;
}

/** Expected match: step name → event ids, in order. */
export type ExpectedMatch = Record<string, Array<string | number>>;

/** Thrown when a specification does not hold; the message shows expected and actual. */
export class RuleSpecificationError extends Error {
  override readonly name = 'RuleSpecificationError';
  constructor(message: string, readonly expected: unknown, readonly actual: unknown) {
    super(message);
  }
}

interface Collected {
  matches: Array<{ steps: Record<string, CapturedEvent[]>; key: string; provenAt?: number }>;
  timeouts: Array<{ steps: Record<string, CapturedEvent[]>; key: string; waitingFor: string }>;
  results: unknown[];
  alerts: unknown[];
  late: unknown[];
}

function ids(steps: Record<string, CapturedEvent[]>): ExpectedMatch {
  const out: ExpectedMatch = {};
  for (const [name, events] of Object.entries(steps)) out[name] = events.map((e) => e.id);
  return out;
}

const show = (v: unknown): string => JSON.stringify(v);

/**
 * Given/when/then for rules, with a virtual clock: event time comes from the events (or
 * `at`), and `whenTimePasses` moves the watermark, so time-based rules test deterministically.
 * The rule state goes through JSON between steps, as the engine stores it.
 *
 * @example
 * specify(rule)
 *   .given(charge('c1', 1, 0), charge('c1', 1, 60_000))
 *   .when(charge('c1', 900, 120_000))
 *   .thenMatched({ small: ['e1', 'e2'], large: ['e3'] });
 */
export class RuleSpecification<E, S> {
  private state: S;
  private clock = -Infinity;
  private current: Collected = { matches: [], timeouts: [], results: [], alerts: [], late: [] };

  constructor(private readonly rule: RunnableRule<E, S>, private readonly options: { roundTripState: boolean }) {
    this.state = rule.initialState();
  }

  private roundTrip(): void {
    if (this.options.roundTripState) this.state = JSON.parse(JSON.stringify(this.state)) as S;
  }

  private collect(out: object): void {
    const o = out as Partial<Record<keyof Collected, unknown[]>>;
    for (const k of ['matches', 'timeouts', 'results', 'alerts', 'late'] as const) {
      const items = o[k];
      if (Array.isArray(items)) (this.current[k] as unknown[]).push(...items);
    }
  }

  private feed(events: Array<E | TimedEvent<E>>): void {
    for (const item of events) {
      const timed = item instanceof TimedEvent ? item : null;
      const event = timed ? timed.event : (item as E);
      const out = this.rule.advance(this.state, event, timed?.time);
      this.state = (out as { state: S }).state;
      // The virtual clock follows event time: the explicit time, else the rule's own max time.
      const t = timed?.time ?? (this.state as { maxT?: number }).maxT;
      if (typeof t === 'number' && t > this.clock) this.clock = t;
      this.collect(out);
      this.roundTrip();
    }
  }

  /** Events that happened before; their outputs are not checked. */
  given(...events: Array<E | TimedEvent<E>>): this {
    this.feed(events);
    this.current = { matches: [], timeouts: [], results: [], alerts: [], late: [] };
    return this;
  }

  /** The events under test; `then…` checks what they (and later time) produced. */
  when(...events: Array<E | TimedEvent<E>>): this {
    this.current = { matches: [], timeouts: [], results: [], alerts: [], late: [] };
    this.feed(events);
    return this;
  }

  /** Moves the watermark to an absolute event time. */
  whenWatermarkReaches(time: number): this {
    const out = this.rule.onWatermark(this.state, time);
    this.state = (out as { state: S }).state;
    if (time > this.clock) this.clock = time;
    this.collect(out);
    this.roundTrip();
    return this;
  }

  /** Moves the watermark `d` past the latest event time seen (the virtual clock). */
  whenTimePasses(d: DurationInput): this {
    const base = this.clock === -Infinity ? 0 : this.clock;
    return this.whenWatermarkReaches(base + parseDuration(d));
  }

  /** Exactly these matches, in this order (step → event ids). */
  thenMatched(...expected: ExpectedMatch[]): this {
    const actual = this.current.matches.map((m) => ids(m.steps));
    if (show(actual) !== show(expected)) {
      throw new RuleSpecificationError(`expected matches ${show(expected)}\n     but got ${show(actual)}`, expected, actual);
    }
    return this;
  }

  /** No match at all. */
  thenNothingMatched(): this {
    return this.thenMatched();
  }

  /** Exactly these timed-out partial matches (step → event ids), in order. */
  thenTimedOut(...expected: ExpectedMatch[]): this {
    const actual = this.current.timeouts.map((m) => ids(m.steps));
    if (show(actual) !== show(expected)) {
      throw new RuleSpecificationError(`expected timeouts ${show(expected)}\n     but got ${show(actual)}`, expected, actual);
    }
    return this;
  }

  /** Exactly `n` late events. */
  thenLate(n: number): this {
    if (this.current.late.length !== n) throw new RuleSpecificationError(`expected ${n} late events, got ${this.current.late.length}`, n, this.current.late.length);
    return this;
  }

  /** Window results or chain alerts: each expected object must match (as a subset of fields) the
   * output at the same index, and the counts must agree. */
  thenEmitted(...expected: object[]): this {
    const actual = [...this.current.results, ...this.current.alerts];
    const ok = actual.length === expected.length && expected.every((e, i) => isSubset(e, actual[i]));
    if (!ok) throw new RuleSpecificationError(`expected outputs ${show(expected)}\n     but got ${show(actual)}`, expected, actual);
    return this;
  }

  /** Everything the `when` phase produced, for checks of your own. */
  get outputs(): Readonly<Collected> {
    return this.current;
  }

  /** The rule state now (after its JSON round trip). */
  get currentState(): S {
    return this.state;
  }
}

function isSubset(expected: unknown, actual: unknown): boolean {
  if (expected === null || typeof expected !== 'object') {
    if (typeof expected === 'number' && typeof actual === 'number') return Math.abs(expected - actual) <= 1e-9 * Math.max(1, Math.abs(expected));
    return expected === actual;
  }
  if (actual === null || typeof actual !== 'object') return false;
  if (Array.isArray(expected)) return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => isSubset(e, actual[i]));
  return Object.entries(expected).every(([k, v]) => isSubset(v, (actual as Record<string, unknown>)[k]));
}

/** An event placed at an explicit event time on the virtual clock. */
export class TimedEvent<E> {
  constructor(readonly time: number, readonly event: E) {}
}

/** Places `event` at `time` (ms, or a duration from 0 such as `'90s'`). */
export function at<E>(time: number | string, event: E): TimedEvent<E> {
  return new TimedEvent(typeof time === 'number' ? time : parseDuration(time), event);
}

/** Starts a specification of `rule`. */
export function specify<E, S>(rule: RunnableRule<E, S>, options: { roundTripState?: boolean } = {}): RuleSpecification<E, S> {
  return new RuleSpecification(rule, { roundTripState: options.roundTripState ?? true });
}
