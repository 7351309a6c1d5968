// `telltale meta STREAM [--set JSON]`: read or replace a stream's metadata, in Event Store's JSON
// ($maxAge, $maxCount, $tb, $cacheControl, $acl, and your own keys).
import type { Command } from 'commander';
import { jsonArgument } from '../arguments.js';
import { connectionOptions, jsonOption, withConnection, type ConnectionFlags, type JsonFlag } from '../connect.js';
import type { RawMetadata } from '../connection.js';
import type { CliContext } from '../context.js';
import { toJson } from '../output.js';
import { UsageError } from '../usage-error.js';

interface MetaFlags extends ConnectionFlags, JsonFlag {
  set?: string;
}

export function registerMeta(program: Command, ctx: CliContext): void {
  const command = program
    .command('meta')
    .description("show a stream's metadata, or replace it with --set")
    .argument('<stream>', 'the stream')
    .option('--set <json|@file>', 'the new metadata (replaces the old as a whole), inline JSON or @file.json')
    .addHelpText(
      'after',
      `
Examples:
  $ telltale meta orders-42
  $ telltale meta orders-42 --set '{"$maxCount": 1000, "owner": "billing"}'
  $ telltale meta orders-42 --set '{"$acl": {"$r": "$all", "$w": "ops"}}'`,
    );
  connectionOptions(command);
  jsonOption(command);
  command.action(async (stream: string, flags: MetaFlags) => {
    let set: RawMetadata | undefined;
    if (flags.set !== undefined) {
      const value = await jsonArgument(flags.set, '--set');
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError('--set must be a JSON object, e.g. {"$maxCount": 100}');
      set = value as RawMetadata;
    }
    const result = await withConnection(flags, (c) => (set !== undefined ? c.setMetadata(stream, set) : c.getMetadata(stream)));
    if (flags.json) ctx.output.out(`${toJson(result)}\n`);
    else {
      if (set !== undefined) ctx.output.out(`Set the metadata of ${stream}\n`);
      ctx.output.out(`${toJson(result.metadata, true)}\n`);
    }
  });
}
