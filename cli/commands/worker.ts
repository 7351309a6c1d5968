// `telltale worker`: one member of a scale-out deployment. It joins a Kafka consumer group over a
// keyed topic and runs the given rule files (projections, with the patterns/ library) for the
// partitions it owns, with each partition's rule state checkpointed in a shared store together with
// the alerts the rules emit. Run the same command on several machines: the group spreads the
// partitions, and when a worker dies the others resume its partitions from the checkpoints.
import { Option, type Command } from 'commander';
import { parseCount } from '../arguments.js';
import { directStoreUrl, type ConnectionFlags, type JsonFlag } from '../connect.js';
import type { CliContext } from '../context.js';
import { toJson } from '../output.js';
import { loadRuleFile } from '../rule-file.js';
import { openCliStore } from '../store-connection.js';
import { UsageError } from '../usage-error.js';

interface WorkerFlags extends ConnectionFlags, JsonFlag {
  brokers: string;
  topic: string;
  name: string;
  group?: string;
  rule: string[];
  stream: string;
  type: string;
  data?: string;
  ingest?: boolean;
  fromLatest?: boolean;
  maxRecords?: number;
  sessionTimeout?: number;
}

export function registerWorker(program: Command, ctx: CliContext): void {
  program
    .command('worker')
    .description('run rules over a keyed Kafka topic as one member of a consumer group, state in a shared store')
    .requiredOption('--brokers <host:port,…>', 'Kafka bootstrap servers')
    .requiredOption('--topic <topic>', 'the keyed topic to read')
    .requiredOption('--name <name>', 'the deployment: the same on every worker (names checkpoints and output ids)')
    .requiredOption('--rule <file...>', 'rule (projection) files to run')
    .requiredOption('--stream <template>', "the stream of each record, e.g. 'payments-{key}' or 'card-{data.cardId}'")
    .requiredOption('--type <template>', "the event type: '{headers.type}', '{data.kind}' or a constant")
    .option('--data <path>', "the part of the JSON value that becomes the data (default: all of it), e.g. 'data.payload'")
    .option('--group <id>', 'consumer group (default telltale-worker-NAME)')
    .option('--ingest', 'also store the input events in their streams')
    .option('--from-latest', 'a new group starts at the end of the topic instead of the beginning')
    .option('--max-records <n>', 'most records per atomic commit', parseCount)
    .option('--session-timeout <ms>', 'how soon a dead worker’s partitions move (default 10000)', parseCount)
    .addOption(new Option('--db <dir>', 'a data directory (one worker only: a directory cannot be shared)').conflicts('store'))
    .option('--store <url>', 'the shared store: redis://host:port[/db][?prefix=…] (or file:DIR, memory: for one worker)')
    .option('--json', 'report as JSON lines on stdout: {"joined":[…]}, {"partition":p,"nextOffset":"n","records":k}')
    .addHelpText(
      'after',
      `
Each rule file is a projection (fromAll/fromCategory/fromStream…, when(), emit(), linkTo(), the
patterns/ library). Rules run per Kafka partition: a keyed topic keeps a key's records in one
partition and in order, so per-key rules see what one process would see. Outputs go to the streams
the rules emit to, with ids derived from --name and the causing record. See docs/kafka.md.

Examples:
  $ telltale worker --brokers k1:9092 --topic payments --name fraud --store redis://redis:6379 \\
      --rule samples/fraud/small-then-large.js samples/fraud/auth-velocity.js --stream 'card-{key}' --type '{headers.type}'`,
    )
    .action(async (flags: WorkerFlags) => {
      const storeUrl = directStoreUrl(flags);
      if (storeUrl === undefined) throw new UsageError('worker keeps its checkpoints in a store: give --store redis://… (shared by every worker) or --db DIR');
      const brokers = flags.brokers.split(',').map((b) => b.trim()).filter((b) => b !== '');
      if (brokers.length === 0) throw new UsageError('--brokers needs at least one host:port');
      const files = await Promise.all(flags.rule.map((path) => loadRuleFile(path)));
      const { startKafkaWorker, createProjectionProcessor } = await import('../../engine/connectors/index.js');
      const processor = await createProjectionProcessor({ rules: files.map((f) => ({ name: f.name, source: f.source })) });
      const store = await openCliStore(storeUrl, flags.db !== undefined ? `--db ${flags.db}` : `--store ${storeUrl}`);
      const say = (line: object) => ctx.output.out(`${toJson(line)}\n`);
      const log = (line: string) => ctx.output.err(`${line}\n`);
      let records = 0;
      let commits = 0;
      try {
        const worker = await startKafkaWorker({
          store,
          brokers,
          topic: flags.topic,
          name: flags.name,
          ...(flags.group !== undefined ? { groupId: flags.group } : {}),
          mapping: { stream: flags.stream, type: flags.type, ...(flags.data !== undefined ? { data: flags.data } : {}) },
          processor,
          ingest: flags.ingest === true,
          fromBeginning: flags.fromLatest !== true,
          sessionTimeoutMs: flags.sessionTimeout ?? 10_000,
          heartbeatIntervalMs: Math.max(100, Math.floor((flags.sessionTimeout ?? 10_000) / 10)),
          ...(flags.maxRecords !== undefined ? { maxRecordsPerCommit: flags.maxRecords } : {}),
          logger: {
            info: (m, f) => (flags.json ? undefined : log(`${m}${f ? ` ${JSON.stringify(f)}` : ''}`)),
            warn: (m, f) => log(`warning: ${m}${f ? ` ${JSON.stringify(f)}` : ''}`),
            error: (m, f) => log(`error: ${m}${f ? ` ${JSON.stringify(f)}` : ''}`),
          },
          onAssign: (partitions) => (flags.json ? say({ joined: partitions }) : undefined),
          onCommit: (p) => {
            records += p.records;
            commits++;
            if (flags.json) say({ partition: p.partition, nextOffset: String(p.nextOffset), records: p.records });
          },
        });
        if (flags.json) say({ started: true, name: flags.name, groupId: worker.groupId, rules: files.map((f) => f.name) });
        else log(`Worker ${flags.name} (group ${worker.groupId}) running ${files.map((f) => f.name).join(', ')} over ${flags.topic}. Ctrl-C stops.`);
        const timer = flags.json ? undefined : setInterval(() => log(`  partitions [${worker.assignment().join(',')}]: ${records} records in ${commits} commits`), 5000);
        await new Promise<void>((resolve) => {
          const stop = () => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            resolve();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        clearInterval(timer);
        await worker.stop();
        if (flags.json) say({ stopped: true, records, commits });
        else log(`Stopped: ${records} records in ${commits} commits`);
      } finally {
        processor.dispose();
        await store.close();
      }
    });
}
