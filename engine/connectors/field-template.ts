// Templates such as `payments-{key}` or `card-{data.cardId}`: literal text with `{path}` fields,
// compiled once and rendered per record or event. The path's first segment names a source the
// caller resolves (`key`, `headers.x`, `data.a.b`, `stream`, …); `{{` and `}}` are literal braces.
// A field that is missing, null, or not a scalar cannot name a stream, so rendering reports it
// instead of writing `undefined` into a stream name.
import { InvalidArgumentError } from '../../store/errors.js';

export type TemplatePart = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'field'; readonly path: readonly string[] };

export interface FieldTemplate {
  readonly source: string;
  readonly parts: readonly TemplatePart[];
  /** The first segments of every field's path, e.g. `['key', 'data']`: what rendering needs. */
  readonly roots: ReadonlySet<string>;
}

/** What rendering returns when a field has no usable value. */
export interface MissingField {
  readonly missing: string;
}

export function compileTemplate(source: string, allowedRoots: readonly string[]): FieldTemplate {
  if (typeof source !== 'string' || source.length === 0) throw new InvalidArgumentError('A template must be a non-empty string');
  const parts: TemplatePart[] = [];
  let text = '';
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if ((c === '{' || c === '}') && source[i + 1] === c) {
      text += c;
      i++;
      continue;
    }
    if (c === '}') throw new InvalidArgumentError(`Template '${source}' has an unmatched '}' at ${i} (write '}}' for a literal one)`);
    if (c !== '{') {
      text += c;
      continue;
    }
    const end = source.indexOf('}', i);
    if (end < 0) throw new InvalidArgumentError(`Template '${source}' has an unclosed '{' at ${i}`);
    const path = source.slice(i + 1, end).trim().split('.');
    if (path.some((segment) => segment.length === 0)) throw new InvalidArgumentError(`Template '${source}' has an empty field at ${i}`);
    if (!allowedRoots.includes(path[0]!)) {
      throw new InvalidArgumentError(`Template '${source}' uses {${path.join('.')}}; fields start with one of: ${allowedRoots.join(', ')}`);
    }
    if (text) parts.push({ kind: 'text', text });
    text = '';
    parts.push({ kind: 'field', path });
    i = end;
  }
  if (text) parts.push({ kind: 'text', text });
  const roots = new Set(parts.flatMap((p) => (p.kind === 'field' ? [p.path[0]!] : [])));
  return { source, parts, roots };
}

/** Follows a path below an already resolved root value. */
export function pathValue(root: unknown, path: readonly string[], from = 1): unknown {
  let value = root;
  for (let i = from; i < path.length; i++) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[path[i]!];
  }
  return value;
}

/**
 * Renders the template; `resolve(path)` gives a field's value. Strings, finite numbers, booleans
 * and bigints render as text; anything else is a missing field.
 */
export function renderTemplate(template: FieldTemplate, resolve: (path: readonly string[]) => unknown): string | MissingField {
  let out = '';
  for (const part of template.parts) {
    if (part.kind === 'text') {
      out += part.text;
      continue;
    }
    const value = resolve(part.path);
    if (typeof value === 'string') out += value;
    else if ((typeof value === 'number' && Number.isFinite(value)) || typeof value === 'boolean' || typeof value === 'bigint') out += String(value);
    else return { missing: part.path.join('.') };
  }
  return out;
}
