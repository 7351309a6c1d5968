// The flags the Kafka commands (`ingest kafka`, `sink kafka`, `worker`) share, defined once: the
// broker and topic, the store in this process that holds their checkpoints, how a record becomes
// an event, where a new consumer group starts; and the few steps every one of them takes before
// and after its run (brokers parsed, store opened, wait for Ctrl-C).
import { Option, type Command } from 'commander';
import { parseCount } from './arguments.js';
import { directStoreUrl, type ConnectionFlags, type JsonFlag } from './connect.js';
import { openCliStore } from './store-connection.js';
import { UsageError } from './usage-error.js';
import type { Store } from '../store/types.js';

export interface KafkaFlags extends ConnectionFlags, JsonFlag {
  brokers: string;
  topic: string;
}

/** How a record becomes an event: `--stream`, `--type`, `--data`. */
export interface RecordMappingFlags {
  stream: string;
  type: string;
  data?: string;
}

/** Where a consumer group reads: `--group`, `--from-latest`, `--max-records`. */
export interface ConsumerFlags {
  group?: string;
  fromLatest?: boolean;
  maxRecords?: number;
}

/** `--brokers` and `--topic`, the topic described for this command. */
export function kafkaOptions(command: Command, topic: string): Command {
  return command.requiredOption('--brokers <host:port,…>', 'Kafka bootstrap servers').requiredOption('--topic <topic>', topic);
}

/** `--db`, `--store` and `--json`, each described for this command (they end its option list). */
export function kafkaStoreOptions(command: Command, describe: { db: string; store: string; json: string }): Command {
  return command
    .addOption(new Option('--db <dir>', describe.db).conflicts('store'))
    .option('--store <url>', describe.store)
    .option('--json', describe.json);
}

/** `--stream`, `--type`, `--data`: the record mapping of ingest and worker. */
export function recordMappingOptions(command: Command): Command {
  return command
    .requiredOption('--stream <template>', "the stream of each record, e.g. 'payments-{key}' or 'card-{data.cardId}'")
    .requiredOption('--type <template>', "the event type: '{headers.type}', '{data.kind}' or a constant")
    .option('--data <path>', "the part of the JSON value that becomes the data (default: all of it), e.g. 'data.payload'");
}

/** `--group`, `--from-latest`, `--max-records`, with this command's default group. */
export function consumerOptions(command: Command, defaultGroup: string): Command {
  return command
    .option('--group <id>', `consumer group (default ${defaultGroup})`)
    .option('--from-latest', 'a new group starts at the end of the topic instead of the beginning')
    .option('--max-records <n>', 'most records per atomic commit', parseCount);
}

/** The mapping option of engine/connectors from the flags. */
export function recordMapping(flags: RecordMappingFlags): { stream: string; type: string; data?: string } {
  return { stream: flags.stream, type: flags.type, ...(flags.data !== undefined ? { data: flags.data } : {}) };
}

/** The consumer settings of engine/connectors from the flags. */
export function consumerSettings(flags: ConsumerFlags): { groupId?: string; fromBeginning: boolean; maxRecordsPerCommit?: number } {
  return {
    ...(flags.group !== undefined ? { groupId: flags.group } : {}),
    fromBeginning: flags.fromLatest !== true,
    ...(flags.maxRecords !== undefined ? { maxRecordsPerCommit: flags.maxRecords } : {}),
  };
}

/**
 * The broker list and the store URL of `--db`/`--store`, with a way to open that store; a usage
 * error (exit 2) when either is missing. `needsStore` says why this command needs a store here.
 */
export function kafkaTarget(flags: KafkaFlags, needsStore: string): { brokers: string[]; storeUrl: string; openStore(): Promise<Store> } {
  const storeUrl = directStoreUrl(flags);
  if (storeUrl === undefined) throw new UsageError(needsStore);
  const brokers = flags.brokers.split(',').map((b) => b.trim()).filter((b) => b !== '');
  if (brokers.length === 0) throw new UsageError('--brokers needs at least one host:port');
  return { brokers, storeUrl, openStore: () => openCliStore(storeUrl, flags.db !== undefined ? `--db ${flags.db}` : `--store ${storeUrl}`) };
}

/** Resolves on Ctrl-C (SIGINT) or SIGTERM, or when `done` settles; answers `done`'s failure, if any. */
export async function untilStopped(done?: Promise<unknown>): Promise<unknown> {
  let failure: unknown;
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    done?.then(stop, (e: unknown) => {
      failure = e;
      stop();
    });
  });
  return failure;
}
