// Telltale's complex event processing library. Plain, deterministic TypeScript: no Node APIs, no
// clock, no randomness, so it bundles into a projection isolate and replays give the same alerts.
export { parseDuration, type DurationInput } from './duration.js';
export { MIN_TIME } from './eventTime.js';
export {
  pattern,
  PatternBuilder,
  PatternMatcher,
  noSkip,
  skipToNext,
  skipPastLastEvent,
  skipToFirst,
  skipToLast,
  type Contiguity,
  type Condition,
  type MatchSoFar,
  type CapturedEvent,
  type StepNode,
  type NegationNode,
  type PatternNode,
  type SkipStrategy,
  type PatternLimits,
  type PatternDescription,
  type ExplainedPattern,
} from './pattern.js';
export type { PatternState, PatternMatch, TimedOutMatch, PatternOutput, WatermarkOutput, PatternCounters } from './patternRuntime.js';
export { specify, at, RuleSpecification, RuleSpecificationError, TimedEvent, type RunnableRule, type ExpectedMatch } from './ruleSpecification.js';
export { windowed, WindowBuilder, type WindowSpec, type EmitMode, type WindowDescription, type WindowResult, type WindowState, type WindowOutput } from './windowRule.js';
export { count, sum, avg, min, max, stddev, distinctCount, percentile, ema, last, type AggregateNode } from './aggregates.js';
export { newSketch, sketchAdd, sketchMerge, sketchQuantile, type PercentileSketch } from './percentileSketch.js';
export { causationGraph, fanOutRule, sagaRule, causationLinks, correlationIdOf, CausationGraph, type CausationGraphState, type CausationGraphOptions, type CausationLinks, type FanOutAlert } from './causationGraph.js';
