// `telltale test`: what a rule did with recorded events, compared with what its author expected.
// The expectation file is JSON Lines too (docs/cli.md, "Expectations"):
//   {"streamId":"alerts-card-7","type":"CardTesting","data":{…}}   an emitted event, in order
//   {"state":{…}}  or  {"partition":"card-7","state":{…}}           the final state of a partition
// An emitted event is compared on the fields the expectation gives (metadata: only its keys), so
// ids and timestamps need not be spelled out.
import { diffLines } from 'diff';
import { TelltaleError } from '../store/errors.js';
import { BadLineError } from './event-lines.js';
import { toJson } from './output.js';

export interface EmittedEvent {
  readonly streamId: string;
  readonly type: string;
  readonly data: unknown;
  readonly metadata?: Record<string, unknown>;
}

export interface PartitionState {
  /** '' for the root partition. */
  readonly partition: string;
  readonly state: unknown;
}

export interface RuleRun {
  readonly emitted: readonly EmittedEvent[];
  readonly states: readonly PartitionState[];
}

export type Expectation = { kind: 'emitted'; line: number; event: EmittedEvent } | { kind: 'state'; line: number; partition: string; state: unknown };

export function parseExpectation(text: string, line: number, file: string): Expectation {
  const fail = (reason: string): never => {
    throw new BadLineError(file, line, reason);
  };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return fail(`not valid JSON (${(e as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail('expected a JSON object: an emitted event or {"state": …}');
  const o = value as Record<string, unknown>;
  if ('state' in o) {
    if (o.partition !== undefined && typeof o.partition !== 'string') return fail('"partition" must be a string');
    return { kind: 'state', line, partition: (o.partition as string | undefined) ?? '', state: o.state };
  }
  if (typeof o.streamId !== 'string' || typeof o.type !== 'string') return fail('an emitted event needs "streamId" and "type" (or give {"state": …})');
  if (o.metadata !== undefined && (o.metadata === null || typeof o.metadata !== 'object' || Array.isArray(o.metadata))) return fail('"metadata" must be an object');
  return {
    kind: 'emitted',
    line,
    event: { streamId: o.streamId, type: o.type, data: o.data, ...(o.metadata !== undefined ? { metadata: o.metadata as Record<string, unknown> } : {}) },
  };
}

/** Key order must not make a difference: objects are printed with sorted keys. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
  }
  return value;
}

function emittedLine(e: EmittedEvent, like?: EmittedEvent): string {
  const shown: Record<string, unknown> = { streamId: e.streamId, type: e.type };
  if (like === undefined || like.data !== undefined) shown.data = e.data;
  if (like?.metadata !== undefined) {
    shown.metadata = Object.fromEntries(Object.keys(like.metadata).map((k) => [k, e.metadata?.[k]]));
  }
  return toJson(canonical(shown));
}

export interface Comparison {
  readonly ok: boolean;
  /** A unified-style diff: `-` expected, `+` actual. Empty when ok. */
  readonly diff: string;
}

export function compareRun(run: RuleRun, expectations: readonly Expectation[]): Comparison {
  const expectedEmitted = expectations.filter((x): x is Extract<Expectation, { kind: 'emitted' }> => x.kind === 'emitted');
  const expectedStates = expectations.filter((x): x is Extract<Expectation, { kind: 'state' }> => x.kind === 'state');
  const expectedText: string[] = [];
  const actualText: string[] = [];
  expectedEmitted.forEach((x) => expectedText.push(`emit ${emittedLine(x.event, x.event)}`));
  run.emitted.forEach((e, i) => actualText.push(`emit ${emittedLine(e, expectedEmitted[i]?.event ?? expectedEmitted[0]?.event)}`));
  for (const x of expectedStates) {
    const actual = run.states.find((s) => s.partition === x.partition);
    const label = x.partition === '' ? 'state' : `state[${x.partition}]`;
    expectedText.push(`${label} ${toJson(canonical(x.state))}`);
    actualText.push(`${label} ${actual === undefined ? '<no such partition>' : toJson(canonical(actual.state))}`);
  }
  const a = expectedText.map((l) => `${l}\n`).join('');
  const b = actualText.map((l) => `${l}\n`).join('');
  if (a === b) return { ok: true, diff: '' };
  const out: string[] = [];
  for (const part of diffLines(a, b)) {
    const prefix = part.added ? '+ ' : part.removed ? '- ' : '  ';
    for (const l of part.value.replace(/\n$/, '').split('\n')) out.push(`${prefix}${l}`);
  }
  return { ok: false, diff: out.join('\n') + '\n' };
}

/** A rule that threw while handling an event: where in the file, and which event. */
export class RuleFaultError extends TelltaleError {
  constructor(message: string) {
    super('projection-faulted', message);
  }
}
