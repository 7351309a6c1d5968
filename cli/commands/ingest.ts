// `telltale ingest kafka`: reads a Kafka topic into streams until Ctrl-C, with the exactly-once
// ingest of engine/connectors (one atomic commit per batch with the partition's checkpoint). It
// needs the store in this process (the checkpoint commits with the events), so it works on
// --db/--store: a shared Redis store next to a server, or a data directory no server holds.
import type { Command } from 'commander';
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

interface IngestFlags extends KafkaFlags, RecordMappingFlags, ConsumerFlags {}

export function registerIngest(program: Command, ctx: CliContext): void {
  const ingest = program.command('ingest').description('read events in from elsewhere (Kafka)');
  const command = ingest.command('kafka').description('read a Kafka topic into streams until Ctrl-C, exactly once');
  kafkaOptions(command, 'the topic to read');
  recordMappingOptions(command);
  consumerOptions(command, 'telltale-ingest; it also names the checkpoints');
  kafkaStoreOptions(command, {
    db: 'the data directory to write to (no server may hold it)',
    store: 'the store to write to: file:DIR, redis://host:port (shared with a server), memory:',
    json: 'print the final figures as JSON',
  });
  command
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
      const { brokers, storeUrl, openStore } = kafkaTarget(flags, 'ingest kafka writes to a store in this process: give --db DIR or --store URL (a shared redis:// store if a server runs too)');
      const { startKafkaIngest } = await import('../../engine/connectors/index.js');
      const store = await openStore();
      const log = (line: string) => ctx.output.err(`${line}\n`);
      try {
        const running = await startKafkaIngest({ store, brokers, topic: flags.topic, ...consumerSettings(flags), mapping: recordMapping(flags) });
        if (!flags.json) log(`Ingesting ${flags.topic} from ${brokers.join(',')} into ${storeUrl} (group ${running.groupId}). Ctrl-C stops.`);
        const timer = flags.json ? undefined : setInterval(() => {
          const s = running.stats();
          log(`  ${s.records} records, ${s.events} events, ${s.rejected} dead-lettered`);
        }, 2000);
        await untilStopped();
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
