// `npm run bench -- <name> [--json] [--backend memory|log|redis] [...]`: runs one benchmark module
// (bench/<name>.ts, which exports `run(options)`) and prints its figures. Benchmarks are never
// asserted in tests; they print JSON so figures can be compared run to run and side by side
// with the peers measured in the same run.
import { cpus, totalmem } from 'node:os';

export interface BenchOptions {
  readonly json: boolean;
  /** Flags after the benchmark's name, e.g. `--backend redis` → { backend: 'redis' }. */
  readonly flags: Readonly<Record<string, string | true>>;
  /** Progress lines go here (stderr), so stdout stays one JSON object. */
  log(line: string): void;
}

export type BenchModule = { run(options: BenchOptions): Promise<object> };

/** Each name is a module bench/<name>.ts exporting `run`. */
const benches = ['store', 'projection', 'pattern', 'http', 'kafka', 'grpc'] as const;

async function load(name: string): Promise<BenchModule> {
  return (await import(new URL(`./${name}.js`, import.meta.url).href)) as BenchModule;
}

export function machine(): object {
  const cpu = cpus();
  return { node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpu.length, cpuModel: cpu[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30) };
}

function parseFlags(args: string[]): Record<string, string | true> {
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) continue;
    const [key, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    const next = args[i + 1];
    if (inline !== undefined) flags[key] = inline;
    else if (next !== undefined && !next.startsWith('--')) flags[key] = args[++i]!;
    else flags[key] = true;
  }
  return flags;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || !(benches as readonly string[]).includes(name)) {
    process.stderr.write(`usage: npm run bench -- <${benches.join('|')}> [--json]\n`);
    return 2;
  }
  const flags = parseFlags(rest);
  const json = flags.json === true;
  let module: BenchModule;
  try {
    module = await load(name);
  } catch (e) {
    process.stderr.write(`benchmark '${name}' is not available: ${(e as Error).message}\n`);
    return 1;
  }
  const result = await module.run({ json, flags, log: (line) => process.stderr.write(`${line}\n`) });
  const report = { benchmark: name, machine: machine(), ...result };
  process.stdout.write(json ? `${JSON.stringify(report)}\n` : `${JSON.stringify(report, null, 2)}\n`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
