// `telltale serve`: opens the store, starts the projection runtime and the HTTP API + dashboard,
// and shuts all of it down cleanly on Ctrl-C (SIGINT) or SIGTERM.
import { Option, type Command } from 'commander';
import { parsePort } from '../arguments.js';
import type { CliContext } from '../context.js';
import { openCliStore } from '../store-connection.js';
import { NotAvailableError, UsageError } from '../usage-error.js';
import { toJson } from '../output.js';

interface ServeFlags {
  db?: string;
  store?: string;
  port: number;
  host: string;
  json?: boolean;
}

export const DEFAULT_DATA_DIR = './telltale-data';

export function registerServe(program: Command, ctx: CliContext): void {
  program
    .command('serve')
    .description('run the server: HTTP API and dashboard over an embedded (or shared) store')
    .addOption(new Option('--db <dir>', `data directory of the embedded store (default ${DEFAULT_DATA_DIR})`).conflicts('store'))
    .option('--store <url>', 'memory:, file:DIR or redis://host:port')
    .option('--port <port>', 'HTTP port (0 picks a free one)', parsePort, 2113)
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--json', 'print one JSON line with the addresses once listening')
    .addHelpText(
      'after',
      `
Examples:
  $ telltale serve                                  # ./telltale-data, http://127.0.0.1:2113
  $ telltale serve --db /var/lib/telltale --host 0.0.0.0
  $ telltale serve --store memory: --port 0 --json  # throwaway store on a free port
  $ telltale serve --store redis://127.0.0.1:6379`,
    )
    .action(async (flags: ServeFlags) => {
      if (flags.db === '') throw new UsageError('--db needs a directory');
      const storeUrl = flags.store ?? `file:${flags.db ?? DEFAULT_DATA_DIR}`;
      // The server module is looked for before the store is opened, so nothing is created for nothing.
      let server: unknown;
      try {
        server = await import(new URL('../../server/index.js', import.meta.url).href);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
      }
      if (server === undefined) {
        throw new NotAvailableError('The HTTP server (server/) is not part of this build yet, so `telltale serve` cannot start. Use --db DIR with the other commands meanwhile.');
      }
      const store = await openCliStore(storeUrl, flags.db !== undefined ? `--db ${flags.db}` : `--store ${storeUrl}`);
      await store.close();
      ctx.output.out(flags.json ? `${toJson({ store: storeUrl })}\n` : '');
      throw new NotAvailableError('serve: the server module is present but not wired into the CLI yet');
    });
}
