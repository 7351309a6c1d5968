// `telltale sink kafka`: publishes the events of chosen streams (alerts, projection results) to a
// Kafka topic until Ctrl-C, keyed, at least once with no gap (engine/connectors' sink: the
// checkpoint moves only after Kafka acknowledged, every message carries its event id in a header).
import type { Command } from 'commander';
import { parseCount } from '../arguments.js';
import type { CliContext } from '../context.js';
import { kafkaOptions, kafkaStoreOptions, kafkaTarget, untilStopped, type KafkaFlags } from '../kafka-flags.js';
import { toJson } from '../output.js';
import { UsageError } from '../usage-error.js';

interface SinkFlags extends KafkaFlags {
  streams?: string[];
  streamRegex?: string;
  types?: string[];
  key?: string;
  name?: string;
  maxBatch?: number;
}

export function registerSink(program: Command, ctx: CliContext): void {
  const sink = program.command('sink').description('publish events to elsewhere (Kafka)');
  const command = sink.command('kafka').description('publish the events of chosen streams to a Kafka topic until Ctrl-C, at least once, with no gap');
  kafkaOptions(command, 'the topic to publish to');
  command
    .option('--streams <prefix...>', "publish events of streams starting with these prefixes, e.g. 'alerts-'")
    .option('--stream-regex <regex>', 'publish events of streams whose name matches')
    .option('--types <prefix...>', 'only events whose type starts with these prefixes')
    .option('--key <template>', "the message key: '{stream}' (default), '{data.cardId}', '{metadata.$correlationId}'")
    .option('--name <name>', 'names the checkpoint $kafka-sink-NAME (default: the topic)')
    .option('--max-batch <n>', 'most events per produce request', parseCount);
  kafkaStoreOptions(command, {
    db: 'the data directory to read (no server may hold it)',
    store: 'the store to read: file:DIR, redis://host:port (shared with a server), memory:',
    json: 'print the final figures as JSON',
  });
  command
    .addHelpText(
      'after',
      `
Messages carry the event's data as value and headers telltale-event-id, telltale-event-type,
telltale-stream, telltale-revision, telltale-position, content-type. A crash may re-send the last
batch: consumers deduplicate on telltale-event-id. See docs/kafka.md.

Examples:
  $ telltale sink kafka --brokers 127.0.0.1:9092 --topic fraud-alerts --streams alerts- --store redis://127.0.0.1:6379`,
    )
    .action(async (flags: SinkFlags) => {
      const { brokers, storeUrl, openStore } = kafkaTarget(flags, 'sink kafka reads a store in this process: give --db DIR or --store URL');
      if (flags.streams === undefined && flags.streamRegex === undefined && flags.types === undefined) {
        throw new UsageError('say what to publish: --streams PREFIX…, --stream-regex or --types PREFIX…');
      }
      const { startKafkaSink } = await import('../../engine/connectors/index.js');
      const store = await openStore();
      const log = (line: string) => ctx.output.err(`${line}\n`);
      try {
        const running = await startKafkaSink({
          store,
          brokers,
          topic: flags.topic,
          filter: {
            ...(flags.streams !== undefined ? { streamNamePrefix: flags.streams } : {}),
            ...(flags.streamRegex !== undefined ? { streamNameRegex: flags.streamRegex } : {}),
            ...(flags.types !== undefined ? { eventTypePrefix: flags.types } : {}),
          },
          ...(flags.key !== undefined ? { key: flags.key } : {}),
          ...(flags.name !== undefined ? { name: flags.name } : {}),
          ...(flags.maxBatch !== undefined ? { maxBatch: flags.maxBatch } : {}),
        });
        if (!flags.json) log(`Publishing to ${flags.topic} on ${brokers.join(',')} from ${storeUrl}. Ctrl-C stops.`);
        const timer = flags.json ? undefined : setInterval(() => log(`  ${running.published()} published, at position ${running.position()}`), 2000);
        const failure = await untilStopped(running.done);
        clearInterval(timer);
        await running.stop();
        if (failure !== undefined) throw failure;
        if (flags.json) ctx.output.out(`${toJson({ topic: flags.topic, published: running.published(), position: String(running.position()) })}\n`);
        else log(`Stopped: ${running.published()} published`);
      } finally {
        await store.close();
      }
    });
}
