#!/usr/bin/env node
// The traffic generator as a command:
//   node dist/samples/generator/main.js --seed 7 --days 3 --customers 2000 --out traffic.jsonl
//   node dist/samples/generator/main.js --events 50000 --out - | telltale import -
//   node dist/samples/generator/main.js --server http://127.0.0.1:2113
//   node dist/samples/generator/main.js --kafka 127.0.0.1:9092 --topic bank-events
// It prints what it made (events, injected cases per rule) on stderr.
import { parseArgs } from 'node:util';
import { httpSink, jsonLinesSink, kafkaSink, type EventSink } from './sinks.js';
import { EVENTS_PER_CUSTOMER_DAY, generateTraffic } from './traffic.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    days: { type: 'string', default: '3' },
    customers: { type: 'string' },
    events: { type: 'string' },
    'cases-per-rule': { type: 'string', default: '25' },
    out: { type: 'string' },
    server: { type: 'string' },
    credentials: { type: 'string' },
    kafka: { type: 'string' },
    topic: { type: 'string', default: 'bank-events' },
    help: { type: 'boolean' },
  },
});

if (values.help) {
  process.stdout.write('usage: main.js [--seed N] [--days N] [--customers N | --events N] [--cases-per-rule N] (--out FILE|- | --server URL [--credentials user:pass] | --kafka BROKERS [--topic T])\n');
  process.exit(0);
}

const days = Number(values.days);
const customers = values.customers !== undefined ? Number(values.customers) : values.events !== undefined ? Math.max(10, Math.round(Number(values.events) / (EVENTS_PER_CUSTOMER_DAY * days))) : 2000;
const traffic = generateTraffic({ seed: Number(values.seed), days, customers, casesPerRule: Number(values['cases-per-rule']) });

let sink: EventSink;
if (values.server !== undefined) sink = httpSink({ url: values.server, ...(values.credentials ? { credentials: values.credentials } : {}) });
else if (values.kafka !== undefined) sink = await kafkaSink({ brokers: values.kafka.split(','), topic: values.topic });
else sink = jsonLinesSink(values.out ?? '-');

for (let i = 0; i < traffic.events.length; i += 1000) await sink.write(traffic.events.slice(i, i + 1000));
await sink.close();
const perRule = new Map<string, number>();
for (const c of traffic.cases) perRule.set(c.rule, (perRule.get(c.rule) ?? 0) + 1);
process.stderr.write(`${traffic.events.length} events from ${customers} customers over ${days} days (seed ${values.seed}); injected cases: ${[...perRule].map(([r, n]) => `${r} ${n}`).join(', ')}\n`);
