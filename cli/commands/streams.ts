// `telltale streams`: every stream in the log, with how many events it holds. It walks the log
// (`$all`), so it takes as long as a read of everything.
import type { Command } from 'commander';
import { connectionOptions, jsonOption, withConnection, type ConnectionFlags, type JsonFlag } from '../connect.js';
import type { CliContext } from '../context.js';
import { table, toJson } from '../output.js';

interface StreamsFlags extends ConnectionFlags, JsonFlag {
  system?: boolean;
}

export function registerStreams(program: Command, ctx: CliContext): void {
  const command = program
    .command('streams')
    .description('list the streams, with their event counts')
    .option('--system', 'include $-streams (metastreams, projection outputs, indexes)')
    .addHelpText(
      'after',
      `
Examples:
  $ telltale streams
  $ telltale streams --json | jq '.[] | select(.events > 100)'`,
    );
  connectionOptions(command);
  jsonOption(command);
  command.action(async (flags: StreamsFlags) => {
    const streams = await withConnection(flags, (c) => c.listStreams({ includeSystem: flags.system === true }));
    if (flags.json) {
      ctx.output.out(`${toJson(streams)}\n`);
      return;
    }
    if (streams.length === 0) {
      ctx.output.err('No streams yet. Append one with: telltale append STREAM --type T --data JSON\n');
      return;
    }
    ctx.output.out(
      table(
        ['STREAM', 'EVENTS', 'LAST REVISION', 'STATE'],
        streams.map((s) => [s.streamId, String(s.events), s.lastRevision >= 9223372036854775807n ? 'tombstone' : String(s.lastRevision), s.deleted ? 'deleted' : 'live']),
      ),
    );
  });
}
