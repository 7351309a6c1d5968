// `$all` filters as Event Store defines them: prefix lists ORed with ordinal `startsWith`,
// unanchored regular expressions, and the option to drop system events (`$`-typed).
import { InvalidArgumentError } from './errors.js';
import type { EventFilter } from './types.js';

export type FilterPredicate = (streamId: string, eventType: string) => boolean;

/** Event Store always leaves these out of `$all` reads, filtered or not. */
const ALWAYS_HIDDEN = /^\$persistentsubscription-\$all::.*-(checkpoint|parked)$|^\$epoch-information$/;

function toRegExp(value: RegExp | string, what: string): RegExp {
  // A global or sticky RegExp keeps state between `test` calls; the filter must not.
  if (value instanceof RegExp) return new RegExp(value.source, value.flags.replace(/[gy]/g, ''));
  if (typeof value !== 'string') throw new InvalidArgumentError(`${what} must be a string or RegExp`);
  try {
    return new RegExp(value);
  } catch (e) {
    throw new InvalidArgumentError(`${what} is not a valid regular expression: ${(e as Error).message}`);
  }
}

function prefixList(value: readonly string[], what: string): readonly string[] {
  if (!Array.isArray(value) || value.some((p) => typeof p !== 'string')) {
    throw new InvalidArgumentError(`${what} must be a list of strings`);
  }
  return value;
}

function alwaysHidden(streamId: string): boolean {
  return streamId.charCodeAt(0) === 0x24 /* $ */ && ALWAYS_HIDDEN.test(streamId);
}

export function compileFilter(filter: EventFilter | undefined): FilterPredicate {
  if (filter === undefined) return (streamId) => !alwaysHidden(streamId);
  if (filter === null || typeof filter !== 'object') throw new InvalidArgumentError('filter must be an object');
  const streamPrefix = filter.streamNamePrefix && prefixList(filter.streamNamePrefix, 'filter.streamNamePrefix');
  const typePrefix = filter.eventTypePrefix && prefixList(filter.eventTypePrefix, 'filter.eventTypePrefix');
  const streamRegex = filter.streamNameRegex !== undefined ? toRegExp(filter.streamNameRegex, 'filter.streamNameRegex') : undefined;
  const typeRegex = filter.eventTypeRegex !== undefined ? toRegExp(filter.eventTypeRegex, 'filter.eventTypeRegex') : undefined;
  const excludeSystem = filter.excludeSystemEvents === true;
  return (streamId, eventType) => {
    if (alwaysHidden(streamId)) return false;
    if (excludeSystem && eventType.startsWith('$')) return false;
    if (streamPrefix && !streamPrefix.some((p) => streamId.startsWith(p))) return false;
    if (typePrefix && !typePrefix.some((p) => eventType.startsWith(p))) return false;
    if (streamRegex && !streamRegex.test(streamId)) return false;
    if (typeRegex && !typeRegex.test(eventType)) return false;
    return true;
  };
}
