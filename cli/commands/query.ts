// `telltale query FILE`: a one-time projection over history; prints its result when it completes.
import type { Command } from 'commander';
import { parseQueryFrom } from '../arguments.js';
import { connectionOptions, jsonOption, withConnection, type ConnectionFlags, type JsonFlag } from '../connect.js';
import type { CliContext } from '../context.js';
import { toJson } from '../output.js';
import { loadRuleFile } from '../rule-file.js';
import { QueryFaultError } from '../query-fault.js';

interface QueryFlags extends ConnectionFlags, JsonFlag {
  from?: bigint | Date | 'start';
}

export function registerQuery(program: Command, ctx: CliContext): void {
  const command = program
    .command('query')
    .description('run a projection once over history and print its result')
    .argument('<file>', 'the projection (.js)')
    .option('--from <position|time>', 'start at this $all position (inclusive), or at the first event stored at or after an ISO 8601 time, instead of the beginning', parseQueryFrom)
    .addHelpText(
      'after',
      `
--from takes a $all commit position, as \`telltale read '$all' --json\` prints them in "position"
(the event there is included), or an ISO 8601 date or time: 2026-05-01, 2026-05-01T12:00:00Z,
2026-05-01T14:00+02:00 (UTC when it names no offset); the query then starts at the first event
stored at or after it. A fromStream/fromCategory query starts at the first event of its stream at
or after that point.

Examples:
  $ telltale query count-by-type.js
  $ telltale query count-by-type.js --db ./telltale-data --json
  $ telltale query count-by-type.js --from 1024
  $ telltale query count-by-type.js --from 2026-05-01T00:00:00Z`,
    );
  connectionOptions(command);
  jsonOption(command);
  command.action(async (file: string, flags: QueryFlags) => {
    const rule = await loadRuleFile(file);
    const from = flags.from === 'start' ? undefined : flags.from;
    let result: unknown;
    try {
      ({ result } = await withConnection(flags, (c) => c.projections.query(rule.source, from !== undefined ? { from } : {})));
    } catch (e) {
      throw e instanceof QueryFaultError ? e.located(file) : e;
    }
    ctx.output.out(flags.json ? `${toJson(result ?? null)}\n` : `${toJson(result ?? null, true)}\n`);
  });
}
