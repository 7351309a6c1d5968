// `telltale eval fraud [--seed N] [--events N] [--json]`: scores the sample fraud rules
// (samples/fraud/*.js) against generated traffic with labelled fraud (samples/generator). The
// traffic goes into a memory store on a virtual clock and each rule runs over it as a projection in
// engine/, the runtime `telltale test` and `serve` use; then its alerts are matched with the
// injected cases: precision, recall, detection delay (event time) and throughput per rule.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { parseCount } from '../arguments.js';
import type { CliContext } from '../context.js';
import { table, toJson } from '../output.js';
import { UsageError } from '../usage-error.js';
import { alertEventIds, scoreRule, type ObservedAlert, type RuleScore } from '../../samples/generator/evaluation.js';
import { EVENTS_PER_CUSTOMER_DAY, FRAUD_RULES, generateTraffic, type FraudRule, type GeneratedEvent } from '../../samples/generator/traffic.js';

interface EvalFlags {
  seed: number;
  events: number;
  days: number;
  casesPerRule: number;
  rules: string;
  only?: string;
  out?: string;
  json?: boolean;
}

/** samples/<area> in the repository (dist/cli/commands → the repository root). */
export function samplesDir(area: string): string {
  return fileURLToPath(new URL(`../../../samples/${area}/`, import.meta.url));
}

const parseSeed = (v: string): number => {
  if (!/^\d+$/.test(v)) throw new UsageError('--seed takes a whole number');
  return Number(v);
};

export function registerEval(program: Command, ctx: CliContext): void {
  const command = program.command('eval').description('score sample rules against generated, labelled traffic');
  command
    .command('fraud')
    .description('run every fraud sample rule over generated traffic; print precision, recall, detection delay and throughput per rule')
    .option('--seed <n>', 'seed of the traffic generator (the same seed gives the same traffic)', parseSeed, 1)
    .option('--events <n>', 'about how many events to generate', parseCount, 50_000)
    .option('--days <n>', 'days of traffic', parseCount, 3)
    .option('--cases-per-rule <n>', 'fraud cases injected per rule', parseCount, 25)
    .option('--rules <dir>', 'directory of rule files', samplesDir('fraud'))
    .option('--only <rules>', 'comma-separated rule names')
    .option('--out <file.json>', 'also write the report as JSON to this file')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ telltale eval fraud                          # 50,000 events over 3 days, seed 1
  $ telltale eval fraud --seed 7 --events 200000 --out eval.json
  $ telltale eval fraud --only small-then-large,auth-velocity --json

precision = alerts pointing at injected fraud / alerts; recall = injected cases alerted / cases;
delay = event time of the event that made the rule fire - the time the case became detectable.`,
    )
    .action(async (flags: EvalFlags) => {
      const only = flags.only?.split(',').map((s) => s.trim()).filter((s) => s !== '');
      for (const r of only ?? []) if (!(FRAUD_RULES as readonly string[]).includes(r)) throw new UsageError(`--only: no rule named ${r} (rules: ${FRAUD_RULES.join(', ')})`);
      const files = (await readdir(flags.rules)).filter((f) => f.endsWith('.js')).sort();
      const rules = files.map((f) => basename(f, '.js')).filter((r): r is FraudRule => (FRAUD_RULES as readonly string[]).includes(r) && (only === undefined || only.includes(r)));
      if (rules.length === 0) throw new UsageError(`no fraud rules found in ${flags.rules}`);

      const customers = Math.max(10, Math.round(flags.events / (EVENTS_PER_CUSTOMER_DAY * flags.days)));
      const traffic = generateTraffic({ seed: flags.seed, days: flags.days, customers, casesPerRule: flags.casesPerRule });
      const progress = (line: string) => {
        if (!flags.json) ctx.output.err(`${line}\n`);
      };
      progress(`generated ${traffic.events.length} events (${customers} customers, ${flags.days} days, seed ${flags.seed}) with ${traffic.cases.length} fraud cases`);

      const [{ ProjectionManager }, { openStore }] = await Promise.all([import('../../engine/projections/projection-manager.js'), import('../../store/index.js')]);
      let now = traffic.start;
      const clock = () => now;
      const store = await openStore('memory:', { clock });
      const manager = new ProjectionManager(store, { clock, systemProjections: false });
      const byId = new Map<string, GeneratedEvent>();
      const scores: RuleScore[] = [];
      try {
        let last = -1n;
        for (const e of traffic.events) {
          now = e.deliverAt;
          byId.set(e.id, e);
          const r = await store.appendToStream(e.streamId, [{ id: e.id, type: e.type, data: e.data, ...(e.metadata ? { metadata: e.metadata } : {}) }], { expectedRevision: 'any' });
          last = r.position;
        }
        await manager.start();
        for (const rule of rules) {
          const source = await readFile(join(flags.rules, `${rule}.js`), 'utf8');
          const began = performance.now();
          await manager.create(rule, source, { mode: 'continuous', emit: true, enabled: true });
          const status = await manager.whenProcessed(rule, last);
          const elapsedMs = performance.now() - began;
          if (status.status === 'Faulted') throw new Error(`${rule} faulted: ${status.lastError?.message ?? 'unknown'}`);
          await manager.disable(rule);
          const alerts: ObservedAlert[] = [];
          try {
            for await (const a of store.readStream(`alerts-${rule}`, {})) {
              const data = a.data as { key?: unknown; start?: unknown; end?: unknown; provenAt?: unknown };
              const cause = byId.get(String(a.metadata.$causationId ?? ''));
              alerts.push({
                key: String(data.key),
                eventIds: alertEventIds(data),
                start: typeof data.start === 'number' ? data.start : undefined,
                end: typeof data.end === 'number' ? data.end : typeof data.provenAt === 'number' ? data.provenAt : undefined,
                firedAt: cause?.time,
              });
            }
          } catch (e) {
            if ((e as { code?: string }).code !== 'stream-not-found') throw e;
          }
          const score = scoreRule(rule, alerts, traffic.cases, byId, { elapsedMs, events: traffic.events.length });
          scores.push(score);
          progress(`  ${rule}: ${score.alerts} alerts, precision ${fmt(score.precision)}, recall ${fmt(score.recall)}`);
        }
      } finally {
        await manager.close().catch(() => undefined);
        await store.close();
      }
      const report = { seed: flags.seed, events: traffic.events.length, customers, days: flags.days, casesPerRule: flags.casesPerRule, rules: scores };
      if (flags.out !== undefined) await writeFile(flags.out, `${toJson(report, true)}\n`);
      if (flags.json) {
        ctx.output.out(`${toJson(report)}\n`);
        return;
      }
      ctx.output.out(`\n${evaluationTable(scores)}`);
      const weak = scores.filter((s) => (s.precision ?? 1) < 0.95 || (s.recall ?? 1) < 0.95);
      ctx.output.out(weak.length === 0 ? 'Every rule at precision and recall >= 0.95.\n' : `Below 0.95: ${weak.map((s) => s.rule).join(', ')} (see docs/evaluation.md).\n`);
    });
}

const fmt = (x: number | null): string => (x === null ? '-' : x.toFixed(3));
const secs = (x: number | null): string => (x === null ? '-' : x < 120 ? `${x.toFixed(0)} s` : `${(x / 60).toFixed(1)} min`);

export function evaluationTable(scores: readonly RuleScore[]): string {
  return table(
    ['rule', 'cases', 'alerts', 'own', 'cross', 'FP', 'precision', 'recall', 'delay p50', 'delay p95', 'events/s'],
    scores.map((s) => [s.rule, String(s.cases), String(s.alerts), String(s.own), String(s.cross), String(s.falsePositives), fmt(s.precision), fmt(s.recall), secs(s.delaySeconds.median), secs(s.delaySeconds.p95), String(s.eventsPerSecond)]),
  );
}
