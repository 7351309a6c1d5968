import { parseDuration, type DurationInput } from './duration.js';
import { PatternRuntime, type PatternState, type PatternOutput, type WatermarkOutput } from './patternRuntime.js';

/** How a step relates to the step before it (or, inside a loop, to the previous iteration).
 * - `strict`: the very next event of the key (Flink `next`, Siddhi `,`).
 * - `relaxed`: the first matching event later on; non-matching events in between are skipped
 *   (Flink `followedBy`, Esper `->`).
 * - `any`: every matching event later on, each starting its own branch (Flink `followedByAny`). */
export type Contiguity = 'strict' | 'relaxed' | 'any';

/** What a condition sees about events already captured by the partial match. Values are the
 * compact captures (see {@link CapturedEvent}), not the original events. */
export interface MatchSoFar {
  /** First event captured by `step`, or undefined. */
  first(step: string): CapturedEvent | undefined;
  /** Last event captured by `step`, or undefined. */
  last(step: string): CapturedEvent | undefined;
  /** Every event captured by `step`, in order. */
  all(step: string): CapturedEvent[];
  /** How many events `step` has captured. */
  count(step: string): number;
  /** Event time of the first event of the match. */
  readonly startTime: number;
  /** The previous event captured by the match (any step), or undefined. */
  previous(): CapturedEvent | undefined;
}

/** A step condition. `match` gives the events captured so far in this partial match. */
export type Condition<E> = (event: E, match: MatchSoFar) => boolean;

/** What a match keeps of each event it captures: its id, its event time, and the fields the
 * rule asked to {@link PatternBuilder.remember}. Keeping only this (not the event) is what keeps a
 * partial match small (see docs/patterns.md, "Memory"). */
export interface CapturedEvent {
  readonly id: string | number;
  readonly time: number;
  readonly [field: string]: unknown;
}

export interface StepNode<E = any> {
  readonly kind: 'step';
  readonly name: string;
  /** Contiguity to the previous step (ignored on the first step). */
  readonly contiguity: Contiguity;
  readonly where: readonly Condition<E>[];
  /** Alternatives or-ed with `where` (`.or(...)`). */
  readonly orWhere: readonly Condition<E>[];
  /** Events the step takes when it is present (>= 1). */
  readonly min: number;
  /** Infinity for `oneOrMore` / `timesOrMore`. */
  readonly max: number;
  /** The step may be skipped altogether (`optional()`). */
  readonly optional: boolean;
  /** Contiguity between iterations of a loop: relaxed unless `consecutive()` / `allowCombinations()`. */
  readonly loopContiguity: Contiguity;
  /** Prefer staying in the loop when an event could also start the next step. */
  readonly greedy: boolean;
}

export interface NegationNode<E = any> {
  readonly kind: 'notNext' | 'notFollowedBy';
  readonly name: string;
  readonly where: readonly Condition<E>[];
  readonly orWhere: readonly Condition<E>[];
}

export type PatternNode<E = any> = StepNode<E> | NegationNode<E>;

/** After a match, which other partial matches are thrown away (Flink's AfterMatchSkipStrategy). */
export type SkipStrategy =
  | { readonly kind: 'noSkip' }
  | { readonly kind: 'skipToNext' }
  | { readonly kind: 'skipPastLastEvent' }
  | { readonly kind: 'skipToFirst'; readonly step: string }
  | { readonly kind: 'skipToLast'; readonly step: string };

export const noSkip = (): SkipStrategy => ({ kind: 'noSkip' });
export const skipToNext = (): SkipStrategy => ({ kind: 'skipToNext' });
export const skipPastLastEvent = (): SkipStrategy => ({ kind: 'skipPastLastEvent' });
export const skipToFirst = (step: string): SkipStrategy => ({ kind: 'skipToFirst', step });
export const skipToLast = (step: string): SkipStrategy => ({ kind: 'skipToLast', step });

/** Bounds on the state a rule may hold, and what happens past them. */
export interface PatternLimits {
  /** Open partial matches per key; past it the oldest is dropped and counted. @defaultValue 1000 */
  readonly maxPartialMatchesPerKey: number;
  /** Open partial matches over all keys; past it new partial matches are refused and counted. @defaultValue 1_000_000 */
  readonly maxPartialMatches: number;
  /** A key with no event for this long (event time) is evicted with its partial matches. @defaultValue null (never) */
  readonly idleKeyTimeout: number | null;
}

/** The compiled, immutable description of a sequence rule. Functions are kept as functions;
 * {@link PatternBuilder.explain} prints them as source text. */
export interface PatternDescription<E = any> {
  readonly kind: 'pattern';
  readonly name: string;
  readonly nodes: readonly PatternNode<E>[];
  /** Max span first→last event, ms, exclusive (a match must end strictly before start + within). */
  readonly within: number | null;
  readonly skip: SkipStrategy;
  readonly keyBy: ((event: E) => string | number) | null;
  readonly eventTime: ((event: E) => number) | null;
  readonly eventId: ((event: E) => string | number | undefined) | null;
  readonly remember: ((event: E) => Record<string, unknown>) | null;
  readonly allowedLateness: number;
  readonly limits: PatternLimits;
  /** Whether partial matches that run past `within` are returned in `timeouts`. @defaultValue 'report' */
  readonly onTimeout: 'report' | 'discard';
}

const DEFAULT_LIMITS: PatternLimits = { maxPartialMatchesPerKey: 1000, maxPartialMatches: 1_000_000, idleKeyTimeout: null };

function describe(fn: Function): string {
  return fn.toString().replace(/\s+/g, ' ');
}

/**
 * Builds a sequence rule. Every method returns a new builder; a builder is also the compiled
 * rule: it can be explained, and it runs (`advance`, `onWatermark`, `matcher`).
 *
 * @example
 * const rule = pattern('small-then-large')
 *   .keyBy((e) => e.data.card)
 *   .begin('small', (e) => e.data.amount < 2).times(3)
 *   .followedBy('large', (e) => e.data.amount > 500)
 *   .within('10m');
 */
export class PatternBuilder<E = any> {
  private runtimeCache: PatternRuntime<E> | undefined;

  constructor(readonly description: PatternDescription<E>) {
    Object.freeze(description);
  }

  private with(patch: Partial<PatternDescription<E>>): PatternBuilder<E> {
    return new PatternBuilder<E>({ ...this.description, ...patch });
  }

  private lastStep(method: string): StepNode<E> {
    const last = this.description.nodes.at(-1);
    if (!last || last.kind !== 'step') throw new TypeError(`${method}() must follow a step (begin/next/followedBy/followedByAny)`);
    return last;
  }

  private replaceLast(node: PatternNode<E>): PatternBuilder<E> {
    return this.with({ nodes: [...this.description.nodes.slice(0, -1), Object.freeze(node)] });
  }

  private addStep(name: string, contiguity: Contiguity, condition: Condition<E> | undefined): PatternBuilder<E> {
    const step: StepNode<E> = Object.freeze({
      kind: 'step',
      name,
      contiguity,
      where: condition ? [condition] : [],
      orWhere: [],
      min: 1,
      max: 1,
      optional: false,
      loopContiguity: 'relaxed',
      greedy: false,
    });
    return this.with({ nodes: [...this.description.nodes, step] });
  }

  // ---- keys, time, identity ----

  /** Evaluate the rule separately per key (card, account, IP…). */
  keyBy(fn: (event: E) => string | number): PatternBuilder<E> {
    return this.with({ keyBy: fn });
  }
  /** Where an event's time comes from when `advance` is not given one. Default: `event.time`,
   * `event.timestamp` or `event.created` (number of ms, or a date string). */
  eventTime(fn: (event: E) => number): PatternBuilder<E> {
    return this.with({ eventTime: fn });
  }
  /** The id a match reports for an event. Default: `event.eventId ?? event.id`, else the event's
   * ordinal in the rule's input (0, 1, 2…). */
  eventId(fn: (event: E) => string | number | undefined): PatternBuilder<E> {
    return this.with({ eventId: fn });
  }
  /** Fields kept with each captured event, for conditions on earlier events and for the alert. */
  remember(fn: (event: E) => Record<string, unknown>): PatternBuilder<E> {
    return this.with({ remember: fn });
  }
  /** Accept events up to this much older than the newest seen; they are re-ordered by event time.
   * Older ones are late: counted and returned, never matched. @defaultValue 0 */
  allowedLateness(d: DurationInput): PatternBuilder<E> {
    return this.with({ allowedLateness: parseDuration(d) });
  }
  /** Bound the rule's state. */
  limits(limits: Partial<Omit<PatternLimits, 'idleKeyTimeout'>> & { idleKeyTimeout?: DurationInput | null }): PatternBuilder<E> {
    const idle = limits.idleKeyTimeout === undefined ? this.description.limits.idleKeyTimeout
      : limits.idleKeyTimeout === null ? null : parseDuration(limits.idleKeyTimeout);
    return this.with({ limits: { ...this.description.limits, ...limits, idleKeyTimeout: idle } });
  }

  // ---- steps ----

  /** The first step. */
  begin(name: string, condition?: Condition<E>): PatternBuilder<E> {
    if (this.description.nodes.length > 0) throw new TypeError(`begin() must come first; "${name}" follows "${this.description.nodes.at(-1)?.name}"`);
    return this.addStep(name, 'relaxed', condition);
  }
  /** A step that must be the very next event of the key (strict contiguity). */
  next(name: string, condition?: Condition<E>): PatternBuilder<E> {
    this.requireStart('next');
    return this.addStep(name, 'strict', condition);
  }
  /** A step that may come later; events in between that do not match are skipped (relaxed). */
  followedBy(name: string, condition?: Condition<E>): PatternBuilder<E> {
    this.requireStart('followedBy');
    return this.addStep(name, 'relaxed', condition);
  }
  /** Like followedBy, but every later matching event makes its own match (non-deterministic relaxed). */
  followedByAny(name: string, condition?: Condition<E>): PatternBuilder<E> {
    this.requireStart('followedByAny');
    return this.addStep(name, 'any', condition);
  }
  /** The event right after the previous step must not match `condition`. */
  notNext(name: string, condition: Condition<E>): PatternBuilder<E> {
    return this.addNegation('notNext', name, condition);
  }
  /** No event matching `condition` may come between the previous step and the next one; at the
   * end of a rule with `within`, this is absence ("no payment within 30 minutes"), fired by the
   * watermark. */
  notFollowedBy(name: string, condition: Condition<E>): PatternBuilder<E> {
    return this.addNegation('notFollowedBy', name, condition);
  }

  private requireStart(method: string): void {
    if (this.description.nodes.length === 0) throw new TypeError(`${method}() needs begin() first`);
  }

  private addNegation(kind: 'notNext' | 'notFollowedBy', name: string, condition: Condition<E>): PatternBuilder<E> {
    const prev = this.description.nodes.at(-1);
    if (!prev) throw new TypeError(`a rule cannot begin with ${kind}()`);
    if (prev.kind !== 'step') throw new TypeError(`${kind}("${name}") cannot follow another negation ("${prev.name}")`);
    if (prev.optional) throw new TypeError(`${kind}("${name}") cannot follow the optional step "${prev.name}"`);
    if (prev.min !== prev.max) throw new TypeError(`${kind}("${name}") must follow a step with a fixed count; "${prev.name}" repeats ${prev.min}..${prev.max}`);
    const node: NegationNode<E> = Object.freeze({ kind, name, where: [condition], orWhere: [] });
    return this.with({ nodes: [...this.description.nodes, node] });
  }

  // ---- conditions ----

  /** Adds a condition to the last step or negation (all conditions must hold). */
  where(condition: Condition<E>): PatternBuilder<E> {
    const last = this.description.nodes.at(-1);
    if (!last) throw new TypeError('where() needs a step first');
    return this.replaceLast({ ...last, where: [...last.where, condition] });
  }
  /** An alternative condition for the last step or negation (either suffices). */
  or(condition: Condition<E>): PatternBuilder<E> {
    const last = this.description.nodes.at(-1);
    if (!last) throw new TypeError('or() needs a step first');
    return this.replaceLast({ ...last, orWhere: [...last.orWhere, condition] });
  }

  // ---- quantifiers ----

  /** Exactly `n` events, or between `min` and `max` events, for the last step. */
  times(min: number, max: number = min): PatternBuilder<E> {
    const step = this.lastStep('times');
    if (!Number.isInteger(min) || min < 1 || !(max === Infinity || Number.isInteger(max)) || max < min) {
      throw new TypeError(`times(${min}, ${max}) on "${step.name}": need integers 1 <= min <= max`);
    }
    return this.replaceLast({ ...step, min, max });
  }
  /** At least `n` events. */
  timesOrMore(n: number): PatternBuilder<E> {
    return this.times(n, Infinity);
  }
  /** One or more events. */
  oneOrMore(): PatternBuilder<E> {
    return this.times(1, Infinity);
  }
  /** The last step may be absent. */
  optional(): PatternBuilder<E> {
    const step = this.lastStep('optional');
    return this.replaceLast({ ...step, optional: true });
  }
  /** For a repeating step: when an event could also start the next step, keep it in the loop only. */
  greedy(): PatternBuilder<E> {
    const step = this.lastStep('greedy');
    if (step.max === 1) throw new TypeError(`greedy() on "${step.name}" needs a repeating step (times/oneOrMore)`);
    return this.replaceLast({ ...step, greedy: true });
  }
  /** For a repeating step: its events must follow each other with nothing in between (strict). */
  consecutive(): PatternBuilder<E> {
    const step = this.lastStep('consecutive');
    if (step.max === 1) throw new TypeError(`consecutive() on "${step.name}" needs a repeating step (times/oneOrMore)`);
    return this.replaceLast({ ...step, loopContiguity: 'strict' });
  }
  /** For a repeating step: every combination of matching events (non-deterministic relaxed); beware 2^n. */
  allowCombinations(): PatternBuilder<E> {
    const step = this.lastStep('allowCombinations');
    if (step.max === 1) throw new TypeError(`allowCombinations() on "${step.name}" needs a repeating step (times/oneOrMore)`);
    return this.replaceLast({ ...step, loopContiguity: 'any' });
  }

  // ---- whole-rule options ----

  /** The whole match must span less than `d` (first event to last, event time). */
  within(d: DurationInput): PatternBuilder<E> {
    const ms = parseDuration(d);
    if (ms <= 0) throw new TypeError('within() needs a positive duration');
    return this.with({ within: ms });
  }
  /** `'discard'` drops partial matches that run past `within` without building a timeout output
   * for each (they are still counted in `state.counts.timedOut`). @defaultValue 'report' */
  onTimeout(what: 'report' | 'discard'): PatternBuilder<E> {
    return this.with({ onTimeout: what });
  }
  /** After-match skip strategy. @defaultValue noSkip() */
  afterMatch(strategy: SkipStrategy): PatternBuilder<E> {
    return this.with({ skip: strategy });
  }

  // ---- running ----

  /** Validated runtime; built once per builder. */
  get runtime(): PatternRuntime<E> {
    this.runtimeCache ??= new PatternRuntime<E>(validate(this.description));
    return this.runtimeCache;
  }

  /** A fresh, empty, JSON-serialisable rule state. */
  initialState(): PatternState {
    return this.runtime.initialState();
  }

  /** Feeds one event. Mutates and returns `state` (plain JSON data); `eventTime` overrides the
   * rule's `eventTime` extractor. Arrays in the output are fresh per call unless empty. */
  advance(state: PatternState | undefined | null, event: E, eventTime?: number): PatternOutput<E> {
    return this.runtime.advance(state ?? this.runtime.initialState(), event, eventTime);
  }

  /** Feeds a batch of events in order (what a projection handler gets); outputs are concatenated. */
  advanceBatch(state: PatternState | undefined | null, events: readonly E[], eventTimes?: readonly number[]): PatternOutput<E> {
    return this.runtime.advanceBatch(state ?? this.runtime.initialState(), events, eventTimes);
  }

  /** Moves event time forward without an event: fires absence matches and within-timeouts. */
  onWatermark(state: PatternState | undefined | null, watermark: number): WatermarkOutput {
    return this.runtime.onWatermark(state ?? this.runtime.initialState(), watermark);
  }

  /** A matcher bound to one state (fresh, or restored from JSON): handy outside projections. */
  matcher(state?: PatternState | null): PatternMatcher<E> {
    return new PatternMatcher<E>(this.runtime, state ?? this.runtime.initialState());
  }

  /** The description as plain JSON (conditions as their source text), for the CLI and dashboard. */
  explain(): ExplainedPattern {
    const d = this.description;
    return {
      kind: 'pattern',
      name: d.name,
      nodes: d.nodes.map((n) => n.kind === 'step'
        ? { kind: 'step', name: n.name, contiguity: n.contiguity, where: n.where.map(describe), or: n.orWhere.map(describe), min: n.min, max: n.max === Infinity ? null : n.max, optional: n.optional, loopContiguity: n.loopContiguity, greedy: n.greedy }
        : { kind: n.kind, name: n.name, where: n.where.map(describe), or: n.orWhere.map(describe) }),
      within: d.within,
      skip: d.skip,
      keyBy: d.keyBy ? describe(d.keyBy) : null,
      allowedLateness: d.allowedLateness,
      limits: d.limits,
      onTimeout: d.onTimeout,
    };
  }

  toJSON(): ExplainedPattern {
    return this.explain();
  }
}

export interface ExplainedPattern {
  kind: 'pattern';
  name: string;
  nodes: Array<
    | { kind: 'step'; name: string; contiguity: Contiguity; where: string[]; or: string[]; min: number; max: number | null; optional: boolean; loopContiguity: Contiguity; greedy: boolean }
    | { kind: 'notNext' | 'notFollowedBy'; name: string; where: string[]; or: string[] }
  >;
  within: number | null;
  skip: SkipStrategy;
  keyBy: string | null;
  allowedLateness: number;
  limits: PatternLimits;
  onTimeout: 'report' | 'discard';
}

/** Starts a sequence rule named `name` (the name is reported with every match). */
export function pattern<E = any>(name: string): PatternBuilder<E> {
  if (!name) throw new TypeError('a pattern needs a name');
  return new PatternBuilder<E>({
    kind: 'pattern',
    name,
    nodes: [],
    within: null,
    skip: { kind: 'noSkip' },
    keyBy: null,
    eventTime: null,
    eventId: null,
    remember: null,
    allowedLateness: 0,
    limits: DEFAULT_LIMITS,
    onTimeout: 'report',
  });
}

/** Checks what can only be checked on the whole rule; throws a TypeError naming the problem. */
function validate<E>(d: PatternDescription<E>): PatternDescription<E> {
  const steps = d.nodes.filter((n): n is StepNode<E> => n.kind === 'step');
  if (steps.length === 0) throw new TypeError(`pattern "${d.name}" has no step`);
  const names = new Set<string>();
  for (const n of d.nodes) {
    if (names.has(n.name)) throw new TypeError(`pattern "${d.name}": step name "${n.name}" is used twice`);
    names.add(n.name);
  }
  const last = d.nodes.at(-1) as PatternNode<E>;
  if (last.kind === 'notNext') throw new TypeError(`pattern "${d.name}" cannot end with notNext("${last.name}"); use notFollowedBy(...).within(...) for absence`);
  if (last.kind === 'notFollowedBy' && d.within === null) throw new TypeError(`pattern "${d.name}" ends with notFollowedBy("${last.name}") and needs within(...) to know when the absence is proven`);
  if (steps.every((s) => s.optional)) throw new TypeError(`pattern "${d.name}": every step is optional, so an empty match would be possible`);
  if (d.skip.kind === 'skipToFirst' || d.skip.kind === 'skipToLast') {
    if (!steps.some((s) => s.name === (d.skip as { step: string }).step)) throw new TypeError(`pattern "${d.name}": ${d.skip.kind}("${d.skip.step}") names no step`);
  }
  if (d.limits.maxPartialMatchesPerKey < 1 || d.limits.maxPartialMatches < 1) throw new TypeError(`pattern "${d.name}": limits must be >= 1`);
  return d;
}

/** A rule and its state together; `state` is what to persist (plain JSON). */
export class PatternMatcher<E = any> {
  constructor(private readonly runtime: PatternRuntime<E>, public state: PatternState) {}

  /** Feeds one event; see {@link PatternBuilder.advance}. */
  push(event: E, eventTime?: number): PatternOutput<E> {
    return this.runtime.advance(this.state, event, eventTime);
  }

  /** Feeds a batch; see {@link PatternBuilder.advanceBatch}. */
  pushBatch(events: readonly E[], eventTimes?: readonly number[]): PatternOutput<E> {
    return this.runtime.advanceBatch(this.state, events, eventTimes);
  }

  /** Moves event time to `watermark`; see {@link PatternBuilder.onWatermark}. */
  watermark(watermark: number): WatermarkOutput {
    return this.runtime.onWatermark(this.state, watermark);
  }

  /** Open partial matches over all keys. */
  get openPartialMatches(): number {
    return this.state.open;
  }
}
