// The `telltale` command. `main(argv)` builds the commander program, runs one command and answers
// its exit code: 0 ok, 1 error (a Telltale error's code through `errorStatus`), 2 usage (a bad
// flag, a missing argument). bin/telltale.js imports this file, which then runs main on
// process.argv; importing it from anywhere else only defines `main`.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { errorStatus, isTelltaleError } from '../store/errors.js';
import { registerAppend } from './commands/append.js';
import { registerBench } from './commands/bench.js';
import { registerDelete } from './commands/delete.js';
import { registerDemo } from './commands/demo.js';
import { registerEval } from './commands/eval.js';
import { registerExport } from './commands/export.js';
import { registerImport } from './commands/import.js';
import { registerIngest } from './commands/ingest.js';
import { registerMeta } from './commands/meta.js';
import { registerProjection } from './commands/projection.js';
import { registerQuery } from './commands/query.js';
import { registerRead } from './commands/read.js';
import { registerServe } from './commands/serve.js';
import { registerSink } from './commands/sink.js';
import { registerStreams } from './commands/streams.js';
import { registerTail } from './commands/tail.js';
import { registerTest } from './commands/test.js';
import { registerWorker } from './commands/worker.js';
import type { CliContext } from './context.js';
import { processOutput, toJson, type Output } from './output.js';
import { NotAvailableError, UsageError } from './usage-error.js';

const VERSION = '0.1.0';

export function createProgram(ctx: CliContext, json = false): Command {
  // With --json, commander's own usage messages are reported by `main` as one JSON object instead.
  const output = {
    writeOut: (s: string) => ctx.output.out(s),
    writeErr: (s: string) => ctx.output.err(s),
    outputError: (s: string, write: (s: string) => void) => {
      if (!json) write(s);
    },
  };
  const program = new Command('telltale')
    .description('An event store and complex event processing engine: durable streams, projections, pattern rules.')
    .version(VERSION, '-V, --version')
    .showHelpAfterError(json ? false : '(run with --help for usage)')
    .showSuggestionAfterError(true)
    .configureOutput(output)
    .exitOverride()
    .addHelpText(
      'after',
      `
Where commands go: a running server (--server URL, env TELLTALE_URL, default http://127.0.0.1:2113),
or straight to a data directory with no server (--db DIR).

Quick start:
  $ telltale serve &                                            # API and dashboard on :2113
  $ telltale append orders-1 --type OrderPlaced --data '{"total": 25}'
  $ telltale read orders-1
  $ telltale tail '$all'                                        # follow everything live
  $ telltale test rules/big-after-tiny.js --given given.jsonl --expect expected.jsonl
  $ telltale projection deploy rules/big-after-tiny.js --enable
  $ telltale export '$all' > backup.jsonl && telltale import backup.jsonl --db ./restored

Exit codes: 0 ok, 1 error, 2 usage. Add --json to any command for output scripts can read.
Full guide: docs/cli.md`,
    );
  registerServe(program, ctx);
  registerAppend(program, ctx);
  registerRead(program, ctx);
  registerTail(program, ctx);
  registerDelete(program, ctx);
  registerMeta(program, ctx);
  registerStreams(program, ctx);
  registerProjection(program, ctx);
  registerQuery(program, ctx);
  registerTest(program, ctx);
  registerImport(program, ctx);
  registerExport(program, ctx);
  registerIngest(program, ctx);
  registerSink(program, ctx);
  registerWorker(program, ctx);
  registerBench(program, ctx);
  registerEval(program, ctx);
  registerDemo(program, ctx);
  // Every subcommand reports through main, and says how to get help after a mistake.
  const configure = (c: Command) => {
    c.exitOverride().showHelpAfterError(json ? false : '(run with --help for usage)').configureOutput(output);
    c.commands.forEach(configure);
  };
  program.commands.forEach(configure);
  return program;
}

function wantsJson(argv: readonly string[]): boolean {
  return argv.includes('--json');
}

/** Runs one command; never throws. */
export async function main(argv: readonly string[], output: Output = processOutput): Promise<number> {
  const ctx: CliContext = { output, argv, exitCode: 0 };
  const program = createProgram(ctx, wantsJson(argv));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ctx.exitCode;
  } catch (e) {
    return report(e, ctx, wantsJson(argv));
  }
}

function report(e: unknown, ctx: CliContext, json: boolean): number {
  const fail = (code: string, message: string, exit: number) => {
    ctx.output.err(json ? `${toJson({ error: { code, message } })}\n` : `telltale: ${message}\n`);
    return exit;
  };
  if (e instanceof CommanderError) {
    // Help and --version end in a "success" CommanderError; commander has printed them already.
    if (e.exitCode === 0) return 0;
    // commander prints its own usage errors before throwing (except with --json); an
    // InvalidArgumentError thrown by a command's action (a bad value found later) has not been printed.
    if (json || (e.code === 'commander.invalidArgument' && !/^error:/.test(e.message))) return fail('usage', e.message.replace(/^error: /, ''), 2);
    return 2;
  }
  if (e instanceof UsageError) return fail('usage', `${e.message} (see --help)`, 2);
  if (e instanceof NotAvailableError) return fail('not-available', e.message, 1);
  if (isTelltaleError(e)) return fail(e.code, e.message, errorStatus(e.code).exit);
  const err = e instanceof Error ? e : new Error(String(e));
  const detail = process.env.TELLTALE_DEBUG ? err.stack ?? err.message : err.message;
  return fail('internal', `unexpected error: ${detail}${process.env.TELLTALE_DEBUG ? '' : ' (set TELLTALE_DEBUG=1 for the stack)'}`, 1);
}

/** True when this module is the program being run: imported by bin/telltale.js, or run directly. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    const real = realpathSync(script);
    const self = fileURLToPath(import.meta.url);
    return real === self || /[\\/]bin[\\/]telltale(\.js)?$/.test(real);
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  // `telltale read '$all' | head`: the reader went away; stop quietly, as Unix tools do.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  const code = await main(process.argv.slice(2));
  // Let the process end by itself (isolated-vm can crash when process.exit tears down its threads
  // mid-way); whatever handle a library leaves open (a keep-alive socket, stdin) must not keep it
  // alive for long, though: long-running commands (serve, tail) resolve only once they have shut down.
  process.exitCode = code;
  setTimeout(() => process.exit(code), 2000).unref();
}
