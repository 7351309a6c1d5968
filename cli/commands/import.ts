// `telltale import FILE.jsonl|-`: appends the events of a JSON Lines file (the format `export`
// writes; cli/event-lines.ts). All or nothing for bad input: the whole file is checked first and a
// malformed line stops the import before anything is written, naming its line. Standard input is
// spooled to a temporary file so it can be checked the same way. Event ids are kept, so importing
// a file again writes nothing twice (Event Store's idempotent appends).
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { parseCount } from '../arguments.js';
import { connectionOptions, jsonOption, withConnection, type ConnectionFlags, type JsonFlag } from '../connect.js';
import type { Connection } from '../connection.js';
import type { CliContext } from '../context.js';
import { BadLineError, parseEventLine, readEventLines, readRawLines, type EventLine } from '../event-lines.js';
import { toJson } from '../output.js';
import { progressBar } from '../progress.js';
import { InvalidArgumentError, isTelltaleError, TelltaleError } from '../../store/errors.js';
import type { ExpectedRevision } from '../../store/types.js';

interface ImportFlags extends ConnectionFlags, JsonFlag {
  batch: number;
  revisions?: boolean;
  progress?: boolean;
}

/**
 * What became of the events: written, found already in place (a re-import), or, through a server
 * (whose HTTP API does not say which of the two), accepted.
 */
interface ImportCounts {
  readonly written: number;
  readonly alreadyPresent: number;
  readonly accepted: number;
}

/** At most this many bad lines are listed; the count says how many more there were. */
const MAX_LISTED = 10;

async function checkFile(path: string, label: string): Promise<{ events: number; streams: number }> {
  const bad: BadLineError[] = [];
  let badCount = 0;
  let events = 0;
  const streams = new Set<string>();
  for await (const { line, text } of readRawLines(path)) {
    try {
      streams.add(parseEventLine(text, line, label).streamId);
      events++;
    } catch (e) {
      if (!(e instanceof BadLineError)) throw e;
      badCount++;
      if (bad.length < MAX_LISTED) bad.push(e);
    }
  }
  if (badCount > 0) {
    const more = badCount > bad.length ? `\n  … and ${badCount - bad.length} more` : '';
    throw new InvalidArgumentError(
      `${badCount} malformed line${badCount === 1 ? '' : 's'}; nothing was imported:\n${bad.map((b) => `  ${b.message}`).join('\n')}${more}`,
    );
  }
  return { events, streams: streams.size };
}

export function registerImport(program: Command, ctx: CliContext): void {
  const command = program
    .command('import')
    .description('append the events of a JSON Lines file (checked as a whole first; ids kept, so re-importing is a no-op)')
    .argument('<file>', "a .jsonl file, or - for standard input")
    .option('--batch <n>', 'events per append', parseCount, 500)
    .option('--no-revisions', 'append after whatever the target streams hold, instead of at the revisions the lines give')
    .option('--no-progress', 'no progress bar even on a terminal')
    .addHelpText(
      'after',
      `
Each line is one event: {"streamId":"orders-1","id":"<uuid>","type":"OrderPlaced","data":{…},"metadata":{…}}
A line's revision (as export writes it) is where the event goes: importing the same file twice finds
the events in place and writes nothing. position and created are informational. See docs/cli.md.

Examples:
  $ telltale import backup.jsonl
  $ telltale export '$all' --server http://old:2113 | telltale import - --server http://new:2113
  $ telltale import events.jsonl --db ./telltale-data --json`,
    );
  connectionOptions(command);
  jsonOption(command);
  command.action(async (file: string, flags: ImportFlags) => {
    let path = file;
    let label = file;
    let spool: string | undefined;
    try {
      if (file === '-') {
        spool = await mkdtemp(join(tmpdir(), 'telltale-import-'));
        path = join(spool, 'stdin.jsonl');
        label = '<stdin>';
        await pipeline(process.stdin, createWriteStream(path));
      } else {
        const info = await stat(file).catch(() => undefined);
        if (info === undefined) throw new TelltaleError('not-found', `The file '${file}' does not exist`);
        if (info.isDirectory()) throw new InvalidArgumentError(`'${file}' is a directory; give a .jsonl file`);
      }
      const checked = await checkFile(path, label);
      const started = Date.now();
      const result = await withConnection(flags, (c) => importLines(c, path, label, checked.events, flags, !flags.json && flags.progress !== false));
      const seconds = (Date.now() - started) / 1000;
      const summary = { file: label, events: checked.events, streams: checked.streams, ...result, seconds };
      if (flags.json) ctx.output.out(`${toJson(summary)}\n`);
      else {
        const skipped = result.alreadyPresent > 0 ? ` (${result.alreadyPresent} were already there)` : '';
        ctx.output.out(`Imported ${checked.events} events into ${checked.streams} streams from ${label} in ${seconds.toFixed(1)}s${skipped}\n`);
      }
    } finally {
      if (spool !== undefined) await rm(spool, { recursive: true, force: true });
    }
  });
}

async function importLines(
  connection: Connection,
  path: string,
  label: string,
  total: number,
  flags: ImportFlags,
  showProgress: boolean,
): Promise<ImportCounts> {
  const bar = progressBar('import', { total, enabled: showProgress });
  let done = 0;
  let written = 0;
  let alreadyPresent = 0;
  /** Appends a server acknowledged without saying whether they were already there. */
  let accepted = 0;
  /** Lines keep their revisions unless told not to: the expected revision of their batch. */
  const expectedFor = (line: EventLine): ExpectedRevision =>
    flags.revisions === false || line.revision === undefined ? 'any' : line.revision === 0n ? 'no_stream' : line.revision - 1n;
  /**
   * Ids already in a stream, for lines that carry no revision: a store remembers recent ids only
   * (Event Store's best effort), so the import looks for itself, once per stream it touches.
   */
  const idsBefore = new Map<string, Set<string>>();
  const existingIds = async (streamId: string): Promise<Set<string>> => {
    let ids = idsBefore.get(streamId);
    if (ids === undefined) {
      ids = new Set();
      try {
        for await (const e of connection.read(streamId, {})) ids.add(e.id);
      } catch (e) {
        if (!isTelltaleError(e, 'stream-not-found') && !isTelltaleError(e, 'not-found')) throw e;
      }
      idsBefore.set(streamId, ids);
    }
    return ids;
  };
  const flushRun = async (run: EventLine[]) => {
    if (run.length === 0) return;
    let lines = run;
    if (expectedFor(lines[0]!) === 'any') {
      const ids = await existingIds(lines[0]!.streamId);
      const fresh = lines.filter((l) => !ids.has(l.event.id));
      alreadyPresent += lines.length - fresh.length;
      done += lines.length - fresh.length;
      lines = fresh;
      if (lines.length === 0) return bar.update(done);
    }
    const first = lines[0]!;
    const expected = expectedFor(first);
    try {
      const r = await connection.append(first.streamId, lines.map((l) => l.event), expected);
      if (r.idempotent === undefined) accepted += lines.length;
      else if (r.idempotent) alreadyPresent += lines.length;
      else written += lines.length;
    } catch (e) {
      if (!isTelltaleError(e, 'wrong-expected-revision') || expected !== 'any' || lines.length === 1) throw located(e, first, label, expected !== 'any');
      // With 'any', part of the batch is already there (a file that grew since the last import):
      // the store refuses a partial overlap as a whole, so go event by event.
      for (const l of lines) {
        try {
          const r = await connection.append(l.streamId, [l.event], 'any');
          if (r.idempotent === undefined) accepted++;
          else if (r.idempotent) alreadyPresent++;
          else written++;
        } catch (inner) {
          throw located(inner, l, label, false);
        }
      }
    }
    done += lines.length;
    bar.update(done);
  };
  /**
   * Lines interleaving several streams (a `$all` export) go as one multi-stream commit while each
   * stream shows up in one run only, so the log keeps the file's order and a durable store syncs
   * once per batch rather than once per line. A commit the store refuses (an event already there,
   * another history) is retried run by run, which finds what is in place and names a bad line.
   */
  let runs: EventLine[][] = [];
  let size = 0;
  const flush = async () => {
    const pending = runs;
    runs = [];
    size = 0;
    if (pending.length === 1) return flushRun(pending[0]!);
    if (pending.length === 0) return;
    try {
      const results = await connection.appendMany!(pending.map((run) => ({ streamId: run[0]!.streamId, events: run.map((l) => l.event), expectedRevision: expectedFor(run[0]!) })));
      results.forEach((r, i) => {
        const n = pending[i]!.length;
        if (r.idempotent) alreadyPresent += n;
        else written += n;
        done += n;
      });
      bar.update(done);
    } catch (e) {
      if (!isTelltaleError(e, 'wrong-expected-revision') && !isTelltaleError(e, 'stream-deleted')) throw e;
      for (const run of pending) await flushRun(run);
    }
  };
  try {
    for await (const line of readEventLines(path, label)) {
      const run = runs.at(-1);
      const last = run?.at(-1);
      const continues =
        last !== undefined &&
        last.streamId === line.streamId &&
        (expectedFor(line) === 'any') === (expectedFor(last) === 'any') &&
        (line.revision === undefined || last.revision === undefined || line.revision === last.revision + 1n);
      // A new stream may join the batch only with revisions (exact, so a retry is safe) and when
      // the target can commit several streams at once.
      const joins =
        !continues &&
        connection.appendMany !== undefined &&
        expectedFor(line) !== 'any' &&
        runs.every((r) => r[0]!.streamId !== line.streamId && expectedFor(r[0]!) !== 'any');
      if (size >= flags.batch || (!continues && !joins)) await flush();
      if (continues && runs.length > 0) runs.at(-1)!.push(line);
      else runs.push([line]);
      size++;
    }
    await flush();
  } finally {
    bar.stop();
  }
  return { written, alreadyPresent, accepted };
}

/** A store error during import names the line that caused it, and what is already written. */
function located(e: unknown, line: EventLine, label: string, byRevision: boolean): unknown {
  if (!(e instanceof TelltaleError)) return e;
  const hint =
    byRevision && e.code === 'wrong-expected-revision'
      ? ` The line says revision ${line.revision}, so the target's ${line.streamId} holds other events than the file's. ` +
        'To append them after whatever is there, import with --no-revisions (then a second import skips events only as far as the store still knows their ids).'
      : ' Events before this line are imported; fix the cause and run the import again (what is there is not written twice).';
  return new TelltaleError(e.code, `${label}:${line.line}: ${e.message}.${hint}`, { cause: e });
}
