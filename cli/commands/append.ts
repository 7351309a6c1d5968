// `telltale append STREAM --type T --data JSON|@file`: one event, with optimistic concurrency.
import type { Command } from 'commander';
import { jsonArgument, parseExpectedRevision, parseUuid } from '../arguments.js';
import { connectionOptions, jsonOption, withConnection, type ConnectionFlags, type JsonFlag } from '../connect.js';
import type { CliContext } from '../context.js';
import { toJson } from '../output.js';
import { UsageError } from '../usage-error.js';
import type { ExpectedRevision } from '../../store/types.js';

interface AppendFlags extends ConnectionFlags, JsonFlag {
  type: string;
  data: string;
  metadata?: string;
  expectedRevision: ExpectedRevision;
  id?: string;
}

export function registerAppend(program: Command, ctx: CliContext): void {
  const command = program
    .command('append')
    .description('append one event to a stream')
    .argument('<stream>', 'the stream, e.g. orders-42')
    .requiredOption('--type <type>', 'the event type, e.g. OrderPlaced')
    .requiredOption('--data <json|@file>', 'the event data: inline JSON, or @file.json')
    .option('--metadata <json|@file>', 'event metadata ($correlationId, $causationId, …): inline JSON or @file.json')
    .option('--expected-revision <rev>', 'any, no_stream, stream_exists or the revision the stream must be at', parseExpectedRevision, 'any' as ExpectedRevision)
    .option('--id <uuid>', 'the event id; appending the same id again at the same place is a no-op', parseUuid)
    .addHelpText(
      'after',
      `
Examples:
  $ telltale append orders-42 --type OrderPlaced --data '{"total": 25}'
  $ telltale append orders-42 --type OrderPaid --data @paid.json --expected-revision 0
  $ telltale append card-7 --type Charge --data '{"amount": 3}' --metadata '{"$correlationId": "c-1"}' --db ./telltale-data`,
    );
  connectionOptions(command);
  jsonOption(command);
  command.action(async (stream: string, flags: AppendFlags) => {
    if (flags.type.trim() === '') throw new UsageError('--type must not be empty');
    const data = await jsonArgument(flags.data, '--data');
    const metadata = flags.metadata !== undefined ? await jsonArgument(flags.metadata, '--metadata') : undefined;
    if (metadata !== undefined && (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))) {
      throw new UsageError('--metadata must be a JSON object, e.g. {"$correlationId": "c-1"}');
    }
    const id = flags.id ?? crypto.randomUUID();
    const result = await withConnection(flags, (c) =>
      c.append(stream, [{ id, type: flags.type, data, ...(metadata !== undefined ? { metadata } : {}) }], flags.expectedRevision),
    );
    if (flags.json) {
      ctx.output.out(`${toJson({ streamId: stream, id, revision: result.firstRevision, nextExpectedRevision: result.nextExpectedRevision, position: result.position, idempotent: result.idempotent })}\n`);
    } else {
      const note = result.idempotent ? ' (already there: nothing written)' : '';
      const where = result.position !== undefined ? ` at position ${result.position}` : '';
      ctx.output.out(`Appended ${flags.type} ${id} to ${stream} as revision ${result.firstRevision}${where}${note}\n`);
    }
  });
}
