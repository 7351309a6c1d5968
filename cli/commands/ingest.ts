// `telltale ingest kafka`: reads a Kafka topic into streams until Ctrl-C, with the exactly-once
// ingest of engine/connectors (one atomic commit per batch with the partition's checkpoint). It
// needs the store in this process (the checkpoint commits with the events), so it works on
// --db/--store: a shared Redis store next to a server, or a data directory no server holds.
import { Option, type Command } from 'commander';
import { parseCount } from '../arguments.js';
import { directStoreUrl, type ConnectionFlags, type JsonFlag } from '../connect.js';
import type { CliContext } from '../context.js';
import { toJson } from '../output.js';
import { openCliStore } from '../store-connection.js';
import { UsageError } from '../usage-error.js';

interface IngestFlags extends ConnectionFlags, JsonFlag {
  brokers: string;
  topic: string;
  stream: string;
  type: string;
  data?: string;
  group?: string;
  fromLatest?: boolean;
  maxRecords?: number;
}

export function registerIngest(program: Command, ctx: CliContext): void {
  const ingest = program.command('ingest').description('read events in from elsewhere (Kafka)');
  ingest
    .command('kafka')
    .description('read a Kafka topic into streams until Ctrl-C, exactly once')
    .requiredOption('--brokers <host:port,…>', 'Kafka bootstrap servers')
    .requiredOption('--topic <topic>', 'the topic to read')
    .requiredOption('--stream <template>', "the stream of each record, e.g. 'payments-{key}' or 'card-{data.cardId}'")
    .requiredOption('--type <template>', "the event type: '{headers.type}', '{data.kind}' or a constant")
    .option('--data <path>', "the part of the JSON value that becomes the data (default: all of it), e.g. 'data.payload'")
    .option('--group <id>', 'consumer group; also names the checkpoints (default telltale-ingest)')
    .option('--from-latest', 'a new group starts at the end of the topic instead of the beginning')
    .option('--max-records <n>', 'records per atomic commit', parseCount)
    .addOption(new Option('--db <dir>', 'the data directory to write to (no server may hold it)').conflicts('store'))
    .option('--store <url>', 'the store to write to: file:DIR, redis://host:port (shared with a server), memory:')
    .option('--json', 'print the final figures as JSON')
    .addHelpText(
      'after',
      `
Templates take {key}, {topic}, {partition}, {offset}, {timestamp}, {headers.NAME}, {data.a.b}.
Records that cannot be mapped go to the dead-letter stream $kafka-deadletter-{topic}. See docs/kafka.md.

Examples:
  $ telltale ingest kafka --brokers 127.0.0.1:9092 --topic payments --stream 'card-{data.cardId}' --type '{headers.type}' --db ./telltale-data
  $ telltale ingest kafka --brokers k1:9092,k2:9092 --topic payments --stream 'payments-{key}' --type PaymentReceived --store redis://redis:6379`,
    )
    .action(async (flags: IngestFlags) => {
      const storeUrl = directStoreUrl(flags);
      if (storeUrl === undefined) throw new UsageError('ingest kafka writes to a store in this process: give --db DIR or --store URL (a shared redis:// store if a server runs too)');
      const brokers = flags.brokers.split(',').map((b) => b.trim()).filter((b) => b !== '');
      if (brokers.length === 0) throw new UsageError('--brokers needs at least one host:port');
      const { startKafkaIngest } = await import('../../engine/connectors/index.js');
      const store = await openCliStore(storeUrl, flags.db !== undefined ? `--db ${flags.db}` : `--store ${storeUrl}`);
      const log = (line: string) => ctx.output.err(`${line}\n`);
      try {
        const running = await startKafkaIngest({
          store,
          brokers,
          topic: flags.topic,
          ...(flags.group !== undefined ? { groupId: flags.group } : {}),
          fromBeginning: flags.fromLatest !== true,
          ...(flags.maxRecords !== undefined ? { maxRecordsPerCommit: flags.maxRecords } : {}),
          mapping: { stream: flags.stream, type: flags.type, ...(flags.data !== undefined ? { data: flags.data } : {}) },
        });
        if (!flags.json) log(`Ingesting ${flags.topic} from ${brokers.join(',')} into ${storeUrl} (group ${running.groupId}). Ctrl-C stops.`);
        const timer = flags.json ? undefined : setInterval(() => {
          const s = running.stats();
          log(`  ${s.records} records, ${s.events} events, ${s.rejected} dead-lettered`);
        }, 2000);
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
        await running.stop();
        const stats = running.stats();
        if (flags.json) ctx.output.out(`${toJson({ topic: flags.topic, groupId: running.groupId, ...stats })}\n`);
        else log(`Stopped: ${stats.records} records, ${stats.events} events, ${stats.rejected} dead-lettered`);
      } finally {
        await store.close();
      }
    });
}
