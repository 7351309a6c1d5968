// `telltale demo fraud|monitoring`: a server with an embedded store (wired as `telltale serve`
// wires it), the sample rules deployed as projections, and generated traffic fed to it over the
// HTTP API at a steady rate, so alerts arrive on the dashboard within seconds. `--duration` stops
// it after a while (for tests and recordings); Ctrl-C stops it otherwise.
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Option, type Command } from 'commander';
import { choice, parseCount, parsePort } from '../arguments.js';
import type { CliContext } from '../context.js';
import { toJson } from '../output.js';
import { openCliStore } from '../store-connection.js';
import { samplesDir } from './eval.js';
import { generateMonitoring } from '../../samples/generator/monitoring.js';
import { httpSink } from '../../samples/generator/sinks.js';
import { generateTraffic, type GeneratedEvent } from '../../samples/generator/traffic.js';

const areas = ['fraud', 'monitoring'] as const;
type Area = (typeof areas)[number];

interface DemoFlags {
  db?: string;
  store?: string;
  port: number;
  host: string;
  rate?: number;
  duration?: number;
  seed: number;
  json?: boolean;
}

const DAY = 86_400_000;

/** Endless traffic for an area: simulated days (fraud) or hours (monitoring), one after another. */
function* traffic(area: Area, seed: number): Generator<GeneratedEvent> {
  const today = Math.floor(Date.now() / DAY) * DAY;
  for (let block = 0; ; block++) {
    if (area === 'fraud') {
      yield* generateTraffic({ seed: seed + block, customers: 2000, days: 1, start: today + block * DAY, casesPerRule: 25 }).events;
    } else {
      yield* generateMonitoring({ seed: seed + block, start: today + block * 3_600_000, minutes: 60 });
    }
  }
}

export function registerDemo(program: Command, ctx: CliContext): void {
  program
    .command('demo')
    .description('start a server with the sample rules deployed and generated traffic flowing in; watch alerts on the dashboard')
    .argument('<area>', areas.join(' | '), choice(areas))
    .addOption(new Option('--db <dir>', 'data directory (default: a new temporary directory)').conflicts('store'))
    .option('--store <url>', 'memory:, file:DIR or redis://host:port')
    .option('--port <port>', 'HTTP port (0 picks a free one)', parsePort, 2113)
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--rate <events/s>', 'events fed per second (default: fraud 100, monitoring 36)', parseCount)
    .option('--duration <seconds>', 'stop after this many seconds (default: run until Ctrl-C)', parseCount)
    .option('--seed <n>', 'seed of the traffic generator', (v) => Number.parseInt(v, 10), 1)
    .option('--json', 'print one JSON line with the addresses once running, and one with the totals at the end')
    .addHelpText(
      'after',
      `
Traffic time runs faster than the clock: at the default rate a simulated day of card, login and
transfer traffic (2,000 customers, 25 injected cases of each fraud) passes in about three minutes;
rules judge by the events' own times (data.at), so their windows are simulated minutes and hours.

Examples:
  $ telltale demo fraud                       # then open http://127.0.0.1:2113/ (admin / changeit)
  $ telltale demo monitoring --rate 72        # two simulated minutes a second
  $ telltale demo fraud --port 0 --duration 30 --json`,
    )
    .action(async (area: Area, flags: DemoFlags) => {
      const log = (line: string) => ctx.output.err(`${line}\n`);
      const db = flags.store === undefined ? (flags.db ?? (await mkdtemp(join(tmpdir(), `telltale-demo-${area}-`)))) : undefined;
      const storeUrl = flags.store ?? `file:${db}`;
      const [{ ProjectionManager }, { createServer }] = await Promise.all([import('../../engine/index.js'), import('../../server/index.js')]);
      const store = await openCliStore(storeUrl, flags.store !== undefined ? `--store ${flags.store}` : `--db ${db}`);
      const projections = new ProjectionManager(store, {
        logger: { debug: () => undefined, warn: (message, fields) => log(`projections: ${message}${fields ? ` ${toJson(fields)}` : ''}`) },
      });
      const server = createServer({ store, projections, host: flags.host, port: flags.port, auth: { insecure: false }, log });
      let stopping: Promise<void> | undefined;
      const shutdown = () =>
        (stopping ??= (async () => {
          try {
            await server.close();
          } catch (e) {
            log(`server close: ${(e as Error).message}`);
            await projections.close().catch(() => undefined);
          }
          await store.close();
        })());
      let sent = 0;
      let alerts = 0;
      let stop = false;
      try {
        await projections.start();
        const address = await server.listen();
        // Deploy (or, on a --db used before, keep) every rule of the area.
        const dir = samplesDir(area);
        const files = (await readdir(dir)).filter((f) => f.endsWith('.js')).sort();
        const existing = new Set(projections.list().map((p) => p.name));
        for (const f of files) {
          const name = basename(f, '.js');
          if (!existing.has(name)) await projections.create(name, await readFile(join(dir, f), 'utf8'), { mode: 'continuous', emit: true, enabled: true });
        }
        const rate = flags.rate ?? (area === 'fraud' ? 100 : 36);
        if (flags.json) {
          ctx.output.out(`${toJson({ api: address.url, dashboard: `${address.url}/`, store: storeUrl, rules: files.length, rate })}\n`);
        } else {
          ctx.output.out(`Telltale demo: ${area} (store ${storeUrl})\n`);
          ctx.output.out(`  Dashboard  ${address.url}/   (user admin, password changeit)\n`);
          ctx.output.out(`  HTTP API   ${address.url}\n`);
          ctx.output.out(`  Rules      ${files.length} from ${dir}, deployed as projections\n`);
          ctx.output.out(`  Traffic    ${rate} events/s over the HTTP API${flags.duration ? `, for ${flags.duration} s` : ''}; Ctrl-C to stop\n`);
        }
        // Alerts as they are written, on the terminal too.
        const feed = store.subscribeToAll({ fromPosition: 'end' });
        const watching = (async () => {
          for await (const e of feed) {
            if (!e.streamId.startsWith('alerts-')) continue;
            alerts++;
            if (!flags.json && alerts <= 200) {
              const d = e.data as { reason?: unknown; key?: unknown };
              ctx.output.out(`  alert  ${e.type.replace(/Alert$/, '')}  ${String(d.key ?? '')}  ${String(d.reason ?? '')}\n`);
              if (alerts === 200) ctx.output.out('  (more alerts on the dashboard)\n');
            }
          }
        })();
        const sink = httpSink({ url: address.url });
        const source = traffic(area, flags.seed);
        const onSignal = () => {
          stop = true;
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        const began = Date.now();
        const ends = flags.duration === undefined ? Infinity : began + flags.duration * 1000;
        const tick = 200;
        // At most a second's worth of traffic per write: on a machine too busy to keep the rate,
        // the demo sends less instead of piling up a backlog that runs past --duration.
        const most = Math.max(1, Math.ceil(rate));
        let skipped = 0;
        while (!stop && Date.now() < ends) {
          let due = Math.floor(((Date.now() - began) / 1000) * rate) - sent - skipped;
          if (due > most) {
            skipped += due - most;
            due = most;
          }
          const batch: GeneratedEvent[] = [];
          for (let i = 0; i < due; i++) batch.push(source.next().value as GeneratedEvent);
          if (batch.length > 0) {
            await sink.write(batch);
            sent += batch.length;
          }
          await new Promise((r) => setTimeout(r, tick));
        }
        if (skipped > 0) log(`traffic fell behind: ${sent} events sent in ${((Date.now() - began) / 1000).toFixed(0)} s, below ${rate} events/s (the machine is busy)`);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        // Let the rules finish what was sent, so the totals include it.
        await Promise.race([Promise.all(projections.list().filter((p) => p.kind === 'js').map((p) => projections.whenProcessed(p.name))), new Promise((r) => setTimeout(r, 5000))]);
        await feed.close();
        await watching.catch(() => undefined);
      } finally {
        await shutdown();
      }
      if (flags.json) ctx.output.out(`${toJson({ sent, alerts })}\n`);
      else ctx.output.out(`Stopped: ${sent} events sent, ${alerts} alerts raised.${db !== undefined && flags.db === undefined ? ` Data kept in ${db}` : ''}\n`);
    });
}
