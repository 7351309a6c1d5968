// `telltale serve`: opens the store, starts the projection runtime and the HTTP API (+ dashboard),
// and shuts all of it down cleanly on Ctrl-C (SIGINT) or SIGTERM: the server stops accepting and
// finishes in-flight requests, projections write their checkpoints, then the store closes.
import { Option, type Command } from 'commander';
import { parsePort } from '../arguments.js';
import type { CliContext } from '../context.js';
import { toJson } from '../output.js';
import { openCliStore } from '../store-connection.js';
import { UsageError } from '../usage-error.js';

interface ServeFlags {
  db?: string;
  store?: string;
  port: number;
  host: string;
  insecure?: boolean;
  systemProjections?: boolean;
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
    .option('--insecure', 'no authentication and no ACLs: every caller is an administrator (local use only)')
    .option('--no-system-projections', 'do not run $by_category, $by_event_type, … (fromCategory then sees nothing)')
    .option('--json', 'print one JSON line with the addresses once listening')
    .addHelpText(
      'after',
      `
Users: admin starts with Event Store's default password 'changeit', and while it has it the server
listens on 127.0.0.1 only. Set TELLTALE_ADMIN_PASSWORD (and TELLTALE_OPS_PASSWORD) on first start
to listen beyond loopback. The CLI tries admin:changeit when you give no --user.

Examples:
  $ telltale serve                                  # ./telltale-data, http://127.0.0.1:2113
  $ TELLTALE_ADMIN_PASSWORD=s3cret telltale serve --db /var/lib/telltale --host 0.0.0.0
  $ telltale serve --store memory: --port 0 --json  # throwaway store on a free port
  $ telltale serve --store redis://127.0.0.1:6379`,
    )
    .action(async (flags: ServeFlags) => {
      if (flags.db === '') throw new UsageError('--db needs a directory');
      const storeUrl = flags.store ?? `file:${flags.db ?? DEFAULT_DATA_DIR}`;
      const log = (line: string) => ctx.output.err(`${line}\n`);
      // Loaded here, not at start-up: every other command starts faster without fastify and isolated-vm.
      const [{ ProjectionManager }, { createServer }] = await Promise.all([import('../../engine/index.js'), import('../../server/index.js')]);
      const store = await openCliStore(storeUrl, flags.db !== undefined ? `--db ${flags.db}` : flags.store !== undefined ? `--store ${flags.store}` : `the default data directory ${DEFAULT_DATA_DIR}`);
      const projections = new ProjectionManager(store, {
        systemProjections: flags.systemProjections !== false,
        logger: { debug: () => undefined, warn: (message, fields) => log(`projections: ${message}${fields ? ` ${toJson(fields)}` : ''}`) },
      });
      // The server serves the projection API over the manager, and stops it when it closes.
      const server = createServer({ store, projections, host: flags.host, port: flags.port, auth: { insecure: flags.insecure === true }, log });
      let stopping: Promise<void> | undefined;
      const shutdown = () =>
        (stopping ??= (async () => {
          log('shutting down: finishing requests, checkpointing projections, closing the store');
          try {
            await server.close();
          } catch (e) {
            log(`server close: ${(e as Error).message}`);
            await projections.close().catch((inner: unknown) => log(`projections close: ${(inner as Error).message}`));
          }
          await store.close();
        })());
      try {
        await projections.start();
        const address = await server.listen();
        const dashboard = await hasDashboard(address.url);
        if (flags.json) {
          ctx.output.out(`${toJson({ api: address.url, dashboard: dashboard ? `${address.url}/` : null, store: storeUrl, pid: process.pid })}\n`);
        } else {
          ctx.output.out(`Telltale is running (store ${storeUrl})\n`);
          ctx.output.out(`  HTTP API   ${address.url}\n`);
          ctx.output.out(dashboard ? `  Dashboard  ${address.url}/\n` : '  Dashboard  not in this build\n');
          ctx.output.out('Press Ctrl-C to stop.\n');
        }
      } catch (e) {
        await shutdown();
        throw e;
      }
      await new Promise<void>((resolve) => {
        const onSignal = (signal: NodeJS.Signals) => {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          // A second Ctrl-C while shutting down leaves at once.
          process.once('SIGINT', () => process.exit(130));
          log(`${signal} received`);
          void shutdown().then(resolve, (e: unknown) => {
            log(`shutdown failed: ${(e as Error).message}`);
            ctx.exitCode = 1;
            resolve();
          });
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      });
      if (!flags.json) ctx.output.out('Stopped.\n');
    });
}

/** Whether the server answers `/` with a page (the dashboard ships separately). */
async function hasDashboard(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/`, { headers: { Accept: 'text/html' }, signal: AbortSignal.timeout(2000) });
    await response.arrayBuffer();
    return response.ok && (response.headers.get('content-type') ?? '').includes('text/html');
  } catch {
    return false;
  }
}
