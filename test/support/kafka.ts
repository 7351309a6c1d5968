// The Kafka cluster that integration tests talk to: KAFKA_BROKERS (comma-separated host:port list)
// when set, otherwise the single-node broker that `bash scripts/kafka.sh start` runs on
// 127.0.0.1:9092. Suites that need it call `await requireKafka(this)` in their `before` hook.
import { requireService } from './services.js';

export const kafkaBrokers: string[] = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092')
  .split(',')
  .map((b) => b.trim())
  .filter((b) => b.length > 0);

/** Splits "host:port" or "[ipv6]:port"; the port defaults to Kafka's 9092. */
export function parseBroker(broker: string): { host: string; port: number } {
  const bracketed = /^\[(.+)\](?::(\d+))?$/.exec(broker);
  if (bracketed?.[1]) return { host: bracketed[1], port: Number(bracketed[2] ?? 9092) };
  const colons = broker.split(':').length - 1;
  if (colons !== 1) return { host: broker, port: 9092 }; // a bare name, or a bare IPv6 address
  const [host = '', port = ''] = broker.split(':');
  if (!host || !/^\d+$/.test(port)) throw new Error(`not a Kafka broker address: ${broker}`);
  return { host, port: Number(port) };
}

/** Runs the suite when the first broker answers; fails it under CI, skips it elsewhere. */
export async function requireKafka(ctx: Mocha.Context): Promise<void> {
  const first = kafkaBrokers[0];
  if (!first) throw new Error('KAFKA_BROKERS is set but names no broker');
  const { host, port } = parseBroker(first);
  await requireService(ctx, {
    name: 'Kafka',
    host,
    port,
    howToEnable: process.env.KAFKA_BROKERS
      ? `check the cluster in KAFKA_BROKERS (${process.env.KAFKA_BROKERS}), or unset it and run \`bash scripts/kafka.sh start\``
      : 'run `bash scripts/kafka.sh start` (or set KAFKA_BROKERS to a cluster of your own)',
  });
}
