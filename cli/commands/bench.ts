// `telltale bench store|projection|pattern|http [--json] [flags…]`: runs bench/main.ts, which
// prints one JSON report. Benchmarks are not shipped in the npm package (dist/bench is left out),
// so an installed telltale says so instead of failing on a missing module.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { NotAvailableError } from '../usage-error.js';
import { choice } from '../arguments.js';

const benches = ['store', 'projection', 'pattern', 'http', 'kafka', 'grpc'] as const;

export function registerBench(program: Command, ctx: CliContext): void {
  program
    .command('bench')
    .description('run a benchmark and print its figures (JSON with --json)')
    .argument('<name>', benches.join(' | '), choice(benches))
    .option('--json', 'one JSON object on stdout')
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .helpOption('-h, --help', 'show help')
    .addHelpText(
      'after',
      `
Flags after the name go to the benchmark (e.g. --backend memory|log|redis).

Examples:
  $ telltale bench store --json
  $ telltale bench projection --json > projection.json`,
    )
    .action(async (name: string) => {
      let bench: { main(argv: string[]): Promise<number> };
      try {
        // Resolved at run time: dist/bench is not part of the published package.
        const specifier = new URL('../../bench/main.js', import.meta.url).href;
        bench = (await import(specifier)) as typeof bench;
      } catch {
        throw new NotAvailableError('Benchmarks are not part of this installation; run them from a clone of the repository: npm run bench -- ' + name);
      }
      // Everything after the benchmark's name goes to it untouched.
      const at = ctx.argv.indexOf('bench');
      const after = ctx.argv.slice(at + 1);
      const named = after.indexOf(name);
      const rest = [...after.slice(0, named), ...after.slice(named + 1)];
      ctx.exitCode = await bench.main([name, ...rest]);
    });
}
