// `telltale projection deploy|list|status|state|result|enable|disable|reset|delete|logs`: manage
// projections (rules are projections) on a server, or on a store opened here (--db/--store).
import type { Command } from 'commander';
import { choice } from '../arguments.js';
import { connectionOptions, jsonOption, withConnection, type ConnectionFlags, type JsonFlag } from '../connect.js';
import type { ProjectionLogLine, ProjectionMode } from '../connection.js';
import { PROJECTION_LOG_LIMIT } from '../../engine/projections/projection-log.js';
import type { CliContext } from '../context.js';
import { table, toJson } from '../output.js';
import { loadRuleFile } from '../rule-file.js';

interface DeployFlags extends ConnectionFlags, JsonFlag {
  name?: string;
  mode: ProjectionMode;
  enable?: boolean;
  emit?: boolean;
}

interface NameFlags extends ConnectionFlags, JsonFlag {
  partition?: string;
}

interface LogsFlags extends ConnectionFlags, JsonFlag {
  follow?: boolean;
}

const MODES = ['continuous', 'one-time', 'transient'] as const;

function str(value: unknown): string {
  if (value === undefined || value === null) return '';
  return typeof value === 'object' ? toJson(value) : String(value);
}

export function registerProjection(program: Command, ctx: CliContext): void {
  const projection = program
    .command('projection')
    .description('deploy and manage projections and rules')
    .addHelpText(
      'after',
      `
Examples:
  $ telltale projection deploy samples/fraud/card-testing.js --enable
  $ telltale projection list
  $ telltale projection status card-testing --json
  $ telltale projection state card-testing --partition card-7
  $ telltale projection disable card-testing && telltale projection reset card-testing
  $ telltale projection logs card-testing --follow`,
    );

  const deploy = projection
    .command('deploy')
    .description('create a projection from a JS file, or update it when one of that name exists')
    .argument('<file>', 'the projection or rule file (.js)')
    .option('--name <name>', 'projection name (default: the file name without .js)')
    .option('--mode <mode>', 'continuous, one-time or transient', choice(MODES), 'continuous' as ProjectionMode)
    .option('--enable', 'start it now (otherwise it is created stopped)')
    .option('--no-emit', 'forbid emit()/linkTo() (on by default: rules emit their alerts)');
  connectionOptions(deploy);
  jsonOption(deploy);
  deploy.action(async (file: string, flags: DeployFlags) => {
    const rule = await loadRuleFile(file);
    const name = flags.name ?? rule.name;
    const result = await withConnection(flags, (c) =>
      c.projections.deploy({ name, query: rule.source, mode: flags.mode, enable: flags.enable === true, emit: flags.emit !== false }),
    );
    if (flags.json) ctx.output.out(`${toJson({ ...result, mode: flags.mode, enabled: flags.enable === true })}\n`);
    else {
      const state = flags.enable ? 'running' : 'stopped; start it with `telltale projection enable ' + name + '`';
      ctx.output.out(`${result.created ? 'Deployed' : 'Updated'} ${flags.mode} projection ${name} from ${file} (${state})\n`);
    }
  });

  const list = projection.command('list').description('list projections with status, mode and progress');
  connectionOptions(list);
  jsonOption(list);
  list.action(async (flags: NameFlags) => {
    const all = await withConnection(flags, (c) => c.projections.list());
    if (flags.json) {
      ctx.output.out(`${toJson(all)}\n`);
      return;
    }
    if (all.length === 0) {
      ctx.output.err('No projections. Deploy one with: telltale projection deploy FILE.js --enable\n');
      return;
    }
    ctx.output.out(
      table(
        ['NAME', 'STATUS', 'MODE', 'PROGRESS', 'EVENTS', 'REASON'],
        all.map((p) => [str(p.name ?? p.effectiveName), str(p.status), str(p.mode), typeof p.progress === 'number' && p.progress >= 0 ? `${p.progress}%` : '', str(p.eventsProcessedAfterRestart ?? p.eventsProcessed), str(p.stateReason)]),
      ),
    );
  });

  const single = (
    verb: string,
    description: string,
    run: (c: Parameters<Parameters<typeof withConnection>[1]>[0], name: string, flags: NameFlags) => Promise<unknown>,
    human: (name: string, value: unknown) => string,
    extra?: (cmd: Command) => void,
  ) => {
    const cmd = projection.command(verb).description(description).argument('<name>', 'the projection');
    extra?.(cmd);
    connectionOptions(cmd);
    jsonOption(cmd);
    cmd.action(async (name: string, flags: NameFlags) => {
      const value = await withConnection(flags, (c) => run(c, name, flags));
      ctx.output.out(flags.json ? `${toJson(value ?? { name, ok: true })}\n` : human(name, value));
    });
  };

  single('status', 'show status, position, rate and last error', (c, n) => c.projections.status(n), (_n, v) => {
    const s = v as Record<string, unknown>;
    return Object.entries(s).map(([k, val]) => `${k.padEnd(32)} ${str(val)}`).join('\n') + '\n';
  });
  single('state', 'show the state (of one partition with --partition)', (c, n, f) => c.projections.state(n, f.partition), (_n, v) => `${toJson(v ?? null, true)}\n`, (cmd) =>
    cmd.option('--partition <key>', 'the partition key (for foreachStream: the stream id)'),
  );
  single('result', 'show the result (after transformBy/filterBy)', (c, n, f) => c.projections.result(n, f.partition), (_n, v) => `${toJson(v ?? null, true)}\n`, (cmd) =>
    cmd.option('--partition <key>', 'the partition key'),
  );
  for (const verb of ['enable', 'disable', 'reset'] as const) {
    const what = { enable: 'start (or resume from its checkpoint)', disable: 'stop, writing a checkpoint', reset: 'clear its state and checkpoint and start over from the beginning' }[verb];
    single(verb, what, async (c, n) => c.projections.command(n, verb), (n) => `${{ enable: 'Enabled', disable: 'Disabled', reset: 'Reset' }[verb]} ${n}\n`);
  }
  single('delete', 'delete it, with its checkpoint and state streams', async (c, n) => c.projections.delete(n), (n) => `Deleted projection ${n}\n`);
  const logs = projection
    .command('logs')
    .description('show what it logged with log() and its faults, with their times')
    .argument('<name>', 'the projection')
    .option('--follow', 'keep printing new lines as they come (Ctrl-C stops)')
    .addHelpText(
      'after',
      `
Lines are kept in memory by the process running the projection (the server, or with --db this
command), the last ${PROJECTION_LOG_LIMIT} per projection. --json prints one JSON object per line:
{"seq":1,"time":"…","kind":"log"|"fault","message":"…","line":…,"column":…,"position":"…"}.

Examples:
  $ telltale projection logs card-testing
  $ telltale projection logs card-testing --follow --json`,
    );
  connectionOptions(logs);
  jsonOption(logs);
  logs.action(async (name: string, flags: LogsFlags) => {
    const print = (lines: readonly ProjectionLogLine[]) => {
      for (const l of lines) ctx.output.out(flags.json ? `${toJson(l)}\n` : `${logLine(l)}\n`);
    };
    await withConnection(flags, async (c) => {
      const first = await c.projections.logs(name);
      print(first);
      if (first.length === 0 && !flags.json && !flags.follow) ctx.output.err(`No log lines for ${name}: it has not called log() or faulted since ${c.describe} started running it\n`);
      if (!flags.follow) return;
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        let after = first.at(-1)?.seq ?? 0;
        while (!stop.signal.aborted) {
          // A long poll: the server answers as soon as there is a line, or empty after the wait.
          const next = await c.projections.logs(name, { after, waitSeconds: FOLLOW_WAIT_SECONDS, signal: stop.signal }).catch((e: unknown) => {
            if (stop.signal.aborted) return [];
            throw e;
          });
          print(next);
          after = next.at(-1)?.seq ?? after;
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
  });
}

/** How long one follow request waits for a new line before asking again. */
const FOLLOW_WAIT_SECONDS = 10;

/** `2026-05-01T12:00:00.000Z  log    message` / `…  FAULT  message (line 3:7, at position 77)` */
function logLine(l: ProjectionLogLine): string {
  if (l.kind === 'log') return `${l.time}  log    ${l.message}`;
  const where = [l.line !== undefined ? `line ${l.line}${l.column !== undefined ? `:${l.column}` : ''}` : '', l.position !== undefined ? `at position ${l.position}` : ''].filter((w) => w !== '');
  return `${l.time}  FAULT  ${l.message}${where.length > 0 ? ` (${where.join(', ')})` : ''}`;
}
