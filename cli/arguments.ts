// Parsers for flag values. A value that cannot be what the flag wants is a usage error (exit 2,
// through commander's InvalidArgumentError); a file named with `@file` that is missing or holds bad
// JSON is an input error (exit 1), reported with the file's name.
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError as CommanderInvalidArgument } from 'commander';
import { parseStartFrom } from '../engine/projections/start-position.js';
import { TelltaleError, InvalidArgumentError } from '../store/errors.js';
import type { ExpectedRevision } from '../store/types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function parseExpectedRevision(value: string): ExpectedRevision {
  if (value === 'any' || value === 'no_stream' || value === 'stream_exists') return value;
  if (/^\d+$/.test(value)) return BigInt(value);
  throw new CommanderInvalidArgument('use any, no_stream, stream_exists or a revision number (0, 1, …)');
}

export function parseUuid(value: string): string {
  if (!UUID.test(value)) throw new CommanderInvalidArgument('an event id must be a UUID, e.g. 3f0c2b1e-8d4a-4c1b-9a57-2f1d7e6b9c10');
  return value.toLowerCase();
}

export function parseCount(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new CommanderInvalidArgument('expected a whole number of at least 1');
  }
  return Number(value);
}

export function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new CommanderInvalidArgument('expected a port number, 0 to 65535');
  return n;
}

/** `--from`: a revision/position number, or start / end. */
export function parseFrom(value: string): bigint | 'start' | 'end' {
  if (value === 'start' || value === 'end') return value;
  if (/^\d+$/.test(value)) return BigInt(value);
  throw new CommanderInvalidArgument('expected start, end or a number');
}

/** `query --from`: start, a `$all` position, or an ISO 8601 date or time (UTC unless it names an offset). */
export function parseQueryFrom(value: string): bigint | Date | 'start' {
  if (value === 'start') return value;
  const from = parseStartFrom(value);
  if (from === undefined) {
    throw new CommanderInvalidArgument('expected start, a $all position (e.g. 1024, as `read \'$all\' --json` prints them) or an ISO 8601 time (e.g. 2026-05-01T12:00:00Z or 2026-05-01)');
  }
  return from;
}

export function parseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CommanderInvalidArgument('expected a URL such as http://127.0.0.1:2113');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CommanderInvalidArgument('the server URL must be http:// or https://');
  return value.replace(/\/+$/, '');
}

export function choice<T extends string>(allowed: readonly T[]): (value: string) => T {
  return (value) => {
    if ((allowed as readonly string[]).includes(value)) return value as T;
    throw new CommanderInvalidArgument(`expected one of ${allowed.join(', ')}`);
  };
}

/** Reads a file a user named; a missing file says which. */
export async function readUserFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TelltaleError('not-found', `${what} '${path}' does not exist`);
    if (code === 'EISDIR') throw new InvalidArgumentError(`${what} '${path}' is a directory, not a file`);
    throw new TelltaleError('invalid-argument', `Cannot read ${what} '${path}': ${(e as Error).message}`, { cause: e });
  }
}

/** `--data`/`--metadata`/`--set`: inline JSON, or `@file` for JSON read from a file. */
export async function jsonArgument(value: string, flag: string): Promise<unknown> {
  if (value.startsWith('@')) {
    const path = value.slice(1);
    const text = await readUserFile(path, `The file given to ${flag}`);
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new InvalidArgumentError(`The file given to ${flag} ('${path}') is not valid JSON: ${(e as Error).message}`);
    }
  }
  try {
    return JSON.parse(value);
  } catch (e) {
    throw new CommanderInvalidArgument(`${flag} is not valid JSON (${(e as Error).message}); quote it for your shell, e.g. ${flag} '{"amount": 5}', or use ${flag} @file.json`);
  }
}
