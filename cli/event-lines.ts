// The JSON Lines format of `import`, `export`, `read --json` and `test --given`: one event a line,
//   {"streamId":"orders-1","id":"<uuid>","type":"OrderPlaced","data":{…},"metadata":{…},
//    "revision":0,"position":123,"created":"2026-…Z"}
// streamId and type are required; data defaults to {}; a binary event has `dataBase64` instead of
// `data`; revision, position and created are written by export and ignored by import (the target
// numbers events itself unless import keeps revisions). A line without an id gets one derived from
// its line number and text, so importing the same file twice still writes nothing the second time.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { assertValidStreamName } from '../store/stream-name.js';
import { InvalidArgumentError, isTelltaleError } from '../store/errors.js';
import type { EventData } from '../store/types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface EventLine {
  readonly line: number;
  readonly streamId: string;
  readonly event: EventData & { readonly id: string };
  /** As exported; import ignores them. */
  readonly revision?: bigint;
  readonly position?: bigint;
  readonly created?: string;
}

export class BadLineError extends InvalidArgumentError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
  }
}

/** A UUID made from the line's place and text (RFC 9562 version 8: custom, hash-based). */
function derivedId(line: number, text: string): string {
  const h = createHash('sha256').update(`${line}\n${text}`).digest('hex');
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function optionalInteger(value: unknown, field: string, fail: (reason: string) => never): bigint | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === 'string' && /^\d+$/.test(value)) return BigInt(value);
  return fail(`"${field}" must be a non-negative integer`);
}

/** Parses one line; throws `BadLineError` naming the file and line. */
export function parseEventLine(text: string, line: number, file: string): EventLine {
  const fail = (reason: string): never => {
    throw new BadLineError(file, line, reason);
  };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return fail(`not valid JSON (${(e as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail('expected a JSON object with streamId, type and data');
  const o = value as Record<string, unknown>;
  if (typeof o.streamId !== 'string') return fail('"streamId" is missing or not a string');
  try {
    assertValidStreamName(o.streamId);
  } catch (e) {
    if (isTelltaleError(e)) return fail(e.message);
    throw e;
  }
  if (typeof o.type !== 'string' || o.type === '') return fail('"type" is missing or empty');
  if (o.id !== undefined && (typeof o.id !== 'string' || !UUID.test(o.id))) return fail(`"id" must be a UUID, got ${JSON.stringify(o.id)}`);
  if (o.metadata !== undefined && o.metadata !== null && (typeof o.metadata !== 'object' || Array.isArray(o.metadata))) {
    return fail('"metadata" must be a JSON object');
  }
  let data: unknown = o.data ?? {};
  if (o.dataBase64 !== undefined) {
    if (o.data !== undefined) return fail('give "data" or "dataBase64", not both');
    if (typeof o.dataBase64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(o.dataBase64)) return fail('"dataBase64" must be base64 text');
    data = new Uint8Array(Buffer.from(o.dataBase64, 'base64'));
  }
  if (o.created !== undefined && (typeof o.created !== 'string' || Number.isNaN(Date.parse(o.created)))) {
    return fail('"created" must be an ISO 8601 date');
  }
  const revision = optionalInteger(o.revision, 'revision', fail);
  const position = optionalInteger(o.position, 'position', fail);
  const id = typeof o.id === 'string' ? o.id.toLowerCase() : derivedId(line, text);
  const metadata = o.metadata === null ? undefined : o.metadata;
  return {
    line,
    streamId: o.streamId,
    event: { id, type: o.type, data, ...(metadata !== undefined ? { metadata } : {}) },
    ...(revision !== undefined ? { revision } : {}),
    ...(position !== undefined ? { position } : {}),
    ...(typeof o.created === 'string' ? { created: o.created } : {}),
  };
}

/** The non-blank lines of a file with their 1-based numbers. */
export async function* readRawLines(path: string): AsyncIterable<{ line: number; text: string }> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  for await (const text of lines) {
    n++;
    if (text.trim() !== '') yield { line: n, text };
  }
}

/** Every event line of a file in order; a bad line throws `BadLineError`. */
export async function* readEventLines(path: string, label = path): AsyncIterable<EventLine> {
  for await (const { line, text } of readRawLines(path)) yield parseEventLine(text, line, label);
}
