// `telltale sink kafka`: publishes the events of chosen streams (alerts, projection results) to a
// Kafka topic until Ctrl-C, keyed, at least once with no gap (engine/connectors' sink: the
// checkpoint moves only after Kafka acknowledged, every message carries its event id in a header).
import { Option, type Command } from 'commander';
import { parseCount } from '../arguments.js';
import { directStoreUrl, type ConnectionFlags, type JsonFlag } from '../connect.js';
import type { CliContext } from '../context.js';
import { toJson } from '../output.js';
import { openCliStore } from '../store-connection.js';
import { UsageError } from '../usage-error.js';

interface SinkFlags extends ConnectionFlags, JsonFlag {
  brokers: string;
  topic: string;
  streams?: string[];
  streamRegex?: string;
  types?: string[];
  key?: string;
  name?: string;
  maxBatch?: number;
}

export function registerSink(program: Command, ctx: CliContext): void {
  const sink = program.command('sink').description('publish events to elsewhere (Kafka)');
  sink
    .command('kafka')
    .description('publish the events of chosen streams to a Kafka topic until Ctrl-C, at least once, with no gap')
    .requiredOption('--brokers <host:port,…>', 'Kafka bootstrap servers')
    .requiredOption('--topic <topic>', 'the topic to publish to')
    .option('--streams <prefix...>', "publish events of streams starting with these prefixes, e.g. 'alerts-'")
    .option('--stream-regex <regex>', 'publish events of streams whose name matches')
    .option('--types <prefix...>', 'only events whose type starts with these prefixes')
    .option('--key <template>', "the message key: '{stream}' (default), '{data.cardId}', '{metadata.$correlationId}'")
    .option('--name <name>', 'names the checkpoint $kafka-sink-NAME (default: the topic)')
    .option('--max-batch <n>', 'most events per produce request', parseCount)
    .addOption(new Option('--db <dir>', 'the data directory to read (no server may hold it)').conflicts('store'))
    .option('--store <url>', 'the store to read: file:DIR, redis://host:port (shared with a server), memory:')
    .option('--json', 'print the final figures as JSON')
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
      const storeUrl = directStoreUrl(flags);
      if (storeUrl === undefined) throw new UsageError('sink kafka reads a store in this process: give --db DIR or --store URL');
      const brokers = flags.brokers.split(',').map((b) => b.trim()).filter((b) => b !== '');
      if (brokers.length === 0) throw new UsageError('--brokers needs at least one host:port');
      if (flags.streams === undefined && flags.streamRegex === undefined && flags.types === undefined) {
        throw new UsageError('say what to publish: --streams PREFIX…, --stream-regex or --types PREFIX…');
      }
      const { startKafkaSink } = await import('../../engine/connectors/index.js');
      const store = await openCliStore(storeUrl, flags.db !== undefined ? `--db ${flags.db}` : `--store ${storeUrl}`);
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
        let failure: unknown;
        await new Promise<void>((resolve) => {
          const stop = () => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            resolve();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
          running.done.then(stop, (e: unknown) => {
            failure = e;
            stop();
          });
        });
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
