// `telltale query FILE`: a one-time projection over history; prints its result when it completes.
import type { Command } from 'commander';
import { parseFrom } from '../arguments.js';
import { connectionOptions, jsonOption, withConnection, type ConnectionFlags, type JsonFlag } from '../connect.js';
import type { CliContext } from '../context.js';
import { toJson } from '../output.js';
import { loadRuleFile } from '../rule-file.js';
import { QueryFaultError } from '../query-fault.js';
import { UsageError } from '../usage-error.js';

interface QueryFlags extends ConnectionFlags, JsonFlag {
  from?: bigint | 'start' | 'end';
}

export function registerQuery(program: Command, ctx: CliContext): void {
  const command = program
    .command('query')
    .description('run a projection once over history and print its result')
    .argument('<file>', 'the projection (.js)')
    .option('--from <position>', 'start at this $all position instead of the beginning', parseFrom)
    .addHelpText(
      'after',
      `
Examples:
  $ telltale query count-by-type.js
  $ telltale query count-by-type.js --db ./telltale-data --json`,
    );
  connectionOptions(command);
  jsonOption(command);
  command.action(async (file: string, flags: QueryFlags) => {
    if (flags.from === 'end') throw new UsageError('--from end leaves nothing to query; give a position or start');
    const rule = await loadRuleFile(file);
    const from = typeof flags.from === 'bigint' ? flags.from : undefined;
    let result: unknown;
    try {
      ({ result } = await withConnection(flags, (c) => c.projections.query(rule.source, from !== undefined ? { from } : {})));
    } catch (e) {
      throw e instanceof QueryFaultError ? e.located(file) : e;
    }
    ctx.output.out(flags.json ? `${toJson(result ?? null)}\n` : `${toJson(result ?? null, true)}\n`);
  });
}
