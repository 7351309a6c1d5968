// `telltale export STREAM|'$all' [> FILE.jsonl]`: every event as a JSON Lines line (the format
// `import` reads). `$all` leaves out `$`-streams unless --system: those are metadata, indexes and
// projection outputs that the target rebuilds itself. A progress bar goes to stderr when that is a
// terminal; the data goes to stdout (or --output FILE).
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Command } from 'commander';
import { parseFrom } from '../arguments.js';
import { connectionOptions, jsonOption, withConnection, type ConnectionFlags, type JsonFlag } from '../connect.js';
import { ALL } from '../connection.js';
import type { CliContext } from '../context.js';
import { eventLine, toJson } from '../output.js';
import { progressBar } from '../progress.js';
import { StoreConnection } from '../store-connection.js';

interface ExportFlags extends ConnectionFlags, JsonFlag {
  output?: string;
  from?: bigint | 'start' | 'end';
  system?: boolean;
  progress?: boolean;
}

export function registerExport(program: Command, ctx: CliContext): void {
  const command = program
    .command('export')
    .description("write a stream or the whole log ('$all') as JSON Lines, one event a line")
    .argument('<stream>', "a stream, or '$all'")
    .option('-o, --output <file>', 'write to a file instead of standard output')
    .option('--from <n>', 'first revision (stream) or position ($all)', parseFrom)
    .option('--system', "with '$all': include $-streams too")
    .option('--no-progress', 'no progress bar even on a terminal')
    .addHelpText(
      'after',
      `
Examples:
  $ telltale export '$all' > backup.jsonl
  $ telltale export orders-42 -o orders-42.jsonl --db ./telltale-data
  $ telltale export '$all' | telltale import - --server http://other:2113`,
    );
  connectionOptions(command);
  jsonOption(command);
  command.action(async (stream: string, flags: ExportFlags) => {
    const file: WriteStream | undefined = flags.output !== undefined ? createWriteStream(flags.output) : undefined;
    if (file) await once(file, 'open');
    const write = async (text: string) => {
      const sink = file ?? process.stdout;
      if (!sink.write(text)) await once(sink, 'drain');
    };
    let count = 0;
    const started = Date.now();
    await withConnection(flags, async (c) => {
      // The total, for the ETA: a stream's length, or the log's size in bytes on a local store.
      let total: number | undefined;
      let byPosition = false;
      if (stream === ALL && c instanceof StoreConnection) {
        total = Number(await c.store.headPosition());
        byPosition = true;
      } else if (stream !== ALL) {
        for await (const last of c.read(stream, { backwards: true, maxCount: 1 })) total = Number(last.revision) + 1;
      }
      const bar = progressBar('export', { ...(total !== undefined ? { total } : {}), enabled: flags.progress !== false && (file !== undefined || !process.stdout.isTTY), unit: byPosition ? 'bytes' : 'events' });
      try {
        for await (const e of c.read(stream, { ...(flags.from !== undefined ? { from: flags.from } : {}), excludeSystemStreams: stream === ALL && flags.system !== true })) {
          await write(`${toJson(eventLine(e))}\n`);
          count++;
          if (count % 100 === 0) bar.update(byPosition && e.position !== undefined ? Number(e.position) : stream === ALL ? count : Number(e.revision) + 1);
        }
        if (total !== undefined) bar.update(total);
      } finally {
        bar.stop();
      }
    });
    if (file) {
      file.end();
      await once(file, 'close');
    }
    const summary = { stream, events: count, seconds: (Date.now() - started) / 1000, ...(flags.output !== undefined ? { output: flags.output } : {}) };
    // stdout carries the data unless --output: the summary then goes to stderr.
    if (flags.json) (file ? ctx.output.out : ctx.output.err)(`${toJson(summary)}\n`);
    else if (file || process.stderr.isTTY) ctx.output.err(`Exported ${count} events from ${stream}${flags.output !== undefined ? ` to ${flags.output}` : ''}\n`);
  });
}
