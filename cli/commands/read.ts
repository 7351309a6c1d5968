// `telltale read STREAM|'$all'`: history, forwards or backwards. `--json` prints one event per
// line (JSON Lines, the same shape `export` writes), so large reads stream.
import type { Command } from 'commander';
import { parseCount, parseFrom } from '../arguments.js';
import { connectionOptions, jsonOption, withConnection, type ConnectionFlags, type JsonFlag } from '../connect.js';
import type { CliContext } from '../context.js';
import { eventLine, humanEventLine, toJson } from '../output.js';

interface ReadFlags extends ConnectionFlags, JsonFlag {
  from?: bigint | 'start' | 'end';
  backwards?: boolean;
  max?: number;
  system?: boolean;
}

export function registerRead(program: Command, ctx: CliContext): void {
  const command = program
    .command('read')
    .description("read a stream, or the whole log with '$all'")
    .argument('<stream>', "a stream, or '$all' (quote it for your shell)")
    .option('--from <n>', 'first revision (stream) or position ($all) to read, or start / end; inclusive', parseFrom)
    .option('--backwards', 'newest first')
    .option('--max <n>', 'read at most n events', parseCount)
    .option('--no-system', "with '$all': leave out events of $-streams (metadata, projection outputs)")
    .addHelpText(
      'after',
      `
Examples:
  $ telltale read orders-42
  $ telltale read orders-42 --backwards --max 1          # the last event
  $ telltale read '$all' --from 0 --max 100 --json       # JSON Lines, one event a line
  $ telltale read orders-42 --db ./telltale-data         # no server: straight on the data directory`,
    );
  connectionOptions(command);
  jsonOption(command);
  command.action(async (stream: string, flags: ReadFlags) => {
    let count = 0;
    await withConnection(flags, async (c) => {
      for await (const e of c.read(stream, {
        ...(flags.from !== undefined ? { from: flags.from } : {}),
        backwards: flags.backwards === true,
        ...(flags.max !== undefined ? { maxCount: flags.max } : {}),
        excludeSystemStreams: flags.system === false,
      })) {
        count++;
        ctx.output.out(flags.json ? `${toJson(eventLine(e))}\n` : `${humanEventLine(e)}\n`);
      }
    });
    if (!flags.json && count === 0) ctx.output.err(`No events in ${stream}${flags.from !== undefined ? ` from ${String(flags.from)}` : ''}\n`);
  });
}
