// `telltale tail STREAM|'$all'`: the last few events, then new ones as they are appended, until
// Ctrl-C (like `tail -f`). A stream that does not exist yet is waited for.
import type { Command } from 'commander';
import { parseFrom } from '../arguments.js';
import { connect, connectionOptions, jsonOption, type ConnectionFlags, type JsonFlag } from '../connect.js';
import { ALL } from '../connection.js';
import type { CliContext } from '../context.js';
import { eventLine, humanEventLine, toJson } from '../output.js';
import { isTelltaleError } from '../../store/errors.js';
import { StoreConnection } from '../store-connection.js';
import { InvalidArgumentError as CommanderInvalidArgument } from 'commander';

interface TailFlags extends ConnectionFlags, JsonFlag {
  last: number;
  system?: boolean;
  after?: bigint | 'start' | 'end';
}

function parseLast(value: string): number {
  if (!/^\d+$/.test(value)) throw new CommanderInvalidArgument('expected a whole number (0 for only new events)');
  return Number(value);
}

export function registerTail(program: Command, ctx: CliContext): void {
  const command = program
    .command('tail')
    .description('print the last events of a stream, then follow new ones live (Ctrl-C stops)')
    .argument('<stream>', "a stream, or '$all'")
    .option('-n, --last <n>', 'how many past events to show first', parseLast, 10)
    .option('--after <n>', 'instead of --last: follow from after this revision/position, or start', parseFrom)
    .option('--no-system', "with '$all': leave out events of $-streams (indexes, checkpoints)")
    .addHelpText(
      'after',
      `
Examples:
  $ telltale tail orders-42
  $ telltale tail '$all' -n 0 --json      # only new events, as JSON Lines
  $ telltale tail '$all' --no-system      # your events only, no index or checkpoint traffic
  $ telltale tail alerts --after start    # everything, then live`,
    );
  connectionOptions(command);
  jsonOption(command);
  command.action(async (stream: string, flags: TailFlags) => {
    const connection = await connect(flags);
    const abort = new AbortController();
    const stop = () => abort.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const print = (e: Parameters<typeof humanEventLine>[0]) => {
      if (flags.system === false && e.streamId.startsWith('$')) return;
      ctx.output.out(flags.json ? `${toJson(eventLine(e))}\n` : `${humanEventLine(e)}\n`);
    };
    try {
      if (connection instanceof StoreConnection && !connection.store.supports.shared) {
        ctx.output.err(`Note: ${connection.describe} is opened by this process alone, so only history shows; follow a running server with --server.\n`);
      }
      let after: bigint | 'start' | 'end' = flags.after ?? 'end';
      if (flags.after === undefined && flags.last > 0) {
        const recent = [];
        try {
          for await (const e of connection.read(stream, { backwards: true, maxCount: flags.last, excludeSystemStreams: flags.system === false })) recent.push(e);
        } catch (e) {
          if (!isTelltaleError(e, 'stream-not-found') && !isTelltaleError(e, 'not-found')) throw e;
        }
        recent.reverse().forEach(print);
        const newest = recent.at(-1);
        if (newest !== undefined) {
          if (stream === ALL && newest.position === undefined) after = 'end';
          else after = stream === ALL ? newest.position! : newest.revision;
        }
      }
      for await (const e of connection.follow(stream, { after, signal: abort.signal })) {
        print(e);
        if (abort.signal.aborted) break;
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await connection.close();
    }
  });
}
