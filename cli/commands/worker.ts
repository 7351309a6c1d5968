// `telltale worker`: one member of a scale-out deployment. It joins a Kafka consumer group over a
// keyed topic and runs the given rule files (projections, with the patterns/ library) for the
// partitions it owns, with each partition's rule state checkpointed in a shared store together with
// the alerts the rules emit. Run the same command on several machines: the group spreads the
// partitions, and when a worker dies the others resume its partitions from the checkpoints.
import type { Command } from 'commander';
import { parseCount } from '../arguments.js';
import type { CliContext } from '../context.js';
import {
  consumerOptions,
  consumerSettings,
  kafkaOptions,
  kafkaStoreOptions,
  kafkaTarget,
  recordMapping,
  recordMappingOptions,
  untilStopped,
  type ConsumerFlags,
  type KafkaFlags,
  type RecordMappingFlags,
} from '../kafka-flags.js';
import { toJson } from '../output.js';
import { loadRuleFile } from '../rule-file.js';

interface WorkerFlags extends KafkaFlags, RecordMappingFlags, ConsumerFlags {
  name: string;
  rule: string[];
  ingest?: boolean;
  sessionTimeout?: number;
}

export function registerWorker(program: Command, ctx: CliContext): void {
  const command = program.command('worker').description('run rules over a keyed Kafka topic as one member of a consumer group, state in a shared store');
  kafkaOptions(command, 'the keyed topic to read');
  command
    .requiredOption('--name <name>', 'the deployment: the same on every worker (names checkpoints and output ids)')
    .requiredOption('--rule <file...>', 'rule (projection) files to run');
  recordMappingOptions(command);
  consumerOptions(command, 'telltale-worker-NAME');
  command
    .option('--ingest', 'also store the input events in their streams')
    .option('--session-timeout <ms>', 'how soon a dead worker’s partitions move (default 10000)', parseCount);
  kafkaStoreOptions(command, {
    db: 'a data directory (one worker only: a directory cannot be shared)',
    store: 'the shared store: redis://host:port[/db][?prefix=…] (or file:DIR, memory: for one worker)',
    json: 'report as JSON lines on stdout: {"joined":[…]}, {"partition":p,"nextOffset":"n","records":k}',
  });
  command
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
      const { brokers, openStore } = kafkaTarget(flags, 'worker keeps its checkpoints in a store: give --store redis://… (shared by every worker) or --db DIR');
      const files = await Promise.all(flags.rule.map((path) => loadRuleFile(path)));
      const { startKafkaWorker, createProjectionProcessor } = await import('../../engine/connectors/index.js');
      const processor = await createProjectionProcessor({ rules: files.map((f) => ({ name: f.name, source: f.source })) });
      const store = await openStore();
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
          ...consumerSettings(flags),
          mapping: recordMapping(flags),
          processor,
          ingest: flags.ingest === true,
          sessionTimeoutMs: flags.sessionTimeout ?? 10_000,
          heartbeatIntervalMs: Math.max(100, Math.floor((flags.sessionTimeout ?? 10_000) / 10)),
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
        await untilStopped();
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
