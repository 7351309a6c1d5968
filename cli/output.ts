// How the CLI prints: human lines on a terminal or a pipe, JSON for scripts (`--json`). bigints
// become JSON numbers while they fit in a double exactly, strings beyond; bytes become base64.
import type { CliEvent } from './connection.js';

/** Writes to stdout/stderr; tests and `main(argv)` callers may swap them. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export const processOutput: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value.toString();
  }
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value;
}

export function toJson(value: unknown, pretty = false): string {
  return JSON.stringify(value, jsonReplacer, pretty ? 2 : undefined);
}

/**
 * The JSON Lines shape of an event (docs/cli.md, "Event lines"): `import` reads it back.
 * A non-JSON event carries its bytes as base64 in `dataBase64` instead of `data`.
 */
export function eventLine(e: CliEvent): Record<string, unknown> {
  const line: Record<string, unknown> = { streamId: e.streamId, id: e.id, type: e.type };
  if (e.isJson) line.data = e.data;
  else line.dataBase64 = Buffer.from(e.data instanceof Uint8Array ? e.data : new Uint8Array()).toString('base64');
  line.metadata = e.metadata;
  line.revision = e.revision;
  if (e.position !== undefined) line.position = e.position;
  if (e.created !== undefined) line.created = e.created.toISOString();
  return line;
}

/** One line a person reads: `3@orders-1  OrderPlaced  2026-…Z  {"total":3}`. */
export function humanEventLine(e: CliEvent): string {
  const bytes = e.data instanceof Uint8Array ? e.data : new Uint8Array();
  // A link event's data is text ("N@stream"): show where it points.
  const data = e.isJson ? toJson(e.data) : e.type === '$>' ? `-> ${Buffer.from(bytes).toString('utf8')}` : `<${bytes.byteLength} bytes>`;
  const when = e.created ? `  ${e.created.toISOString()}` : '';
  const meta = Object.keys(e.metadata).length > 0 ? `  meta=${toJson(e.metadata)}` : '';
  return `${e.revision}@${e.streamId}  ${e.type}${when}  ${data}${meta}`;
}

/** A plain table: columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}
