// `telltale delete STREAM [--hard]`: soft delete (the stream can be written again, its numbering
// continues) or hard delete (a tombstone: the name can never be used again), as in Event Store.
import type { Command } from 'commander';
import { parseExpectedRevision } from '../arguments.js';
import { connectionOptions, jsonOption, withConnection, type ConnectionFlags, type JsonFlag } from '../connect.js';
import type { CliContext } from '../context.js';
import { toJson } from '../output.js';
import type { ExpectedRevision } from '../../store/types.js';

interface DeleteFlags extends ConnectionFlags, JsonFlag {
  hard?: boolean;
  expectedRevision: ExpectedRevision;
}

export function registerDelete(program: Command, ctx: CliContext): void {
  const command = program
    .command('delete')
    .description('delete a stream (soft by default; --hard tombstones it for good)')
    .argument('<stream>', 'the stream to delete')
    .option('--hard', 'tombstone: the stream can never be written or read again')
    .option('--expected-revision <rev>', 'only delete if the stream is at this revision (any, stream_exists, N)', parseExpectedRevision, 'any' as ExpectedRevision)
    .addHelpText(
      'after',
      `
Examples:
  $ telltale delete orders-42
  $ telltale delete orders-42 --hard --expected-revision 7`,
    );
  connectionOptions(command);
  jsonOption(command);
  command.action(async (stream: string, flags: DeleteFlags) => {
    await withConnection(flags, (c) => c.delete(stream, { hard: flags.hard === true, expectedRevision: flags.expectedRevision }));
    if (flags.json) ctx.output.out(`${toJson({ streamId: stream, deleted: flags.hard ? 'hard' : 'soft' })}\n`);
    else ctx.output.out(flags.hard ? `Tombstoned ${stream}: it can never be used again\n` : `Deleted ${stream} (soft: appending to it again recreates it)\n`);
  });
}
