// The one place kafkajs is configured and its errors become Telltale errors. Connectors take a
// broker list (and optionally TLS/SASL settings for a real cluster) and an injected logger;
// kafkajs's own log lines are routed to that logger, never to the console.
import { Kafka, logLevel, type KafkaConfig, type LogEntry } from 'kafkajs';
import { BackendUnavailableError, InvalidArgumentError, isTelltaleError } from '../../store/errors.js';

export interface ConnectorLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: ConnectorLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** How to reach a cluster: the bootstrap brokers and, for a secured cluster, kafkajs's TLS/SASL settings. */
export interface KafkaConnection {
  /** `host:port` bootstrap servers. */
  readonly brokers: readonly string[];
  /** @defaultValue `'telltale'` */
  readonly clientId?: string;
  readonly ssl?: KafkaConfig['ssl'];
  readonly sasl?: KafkaConfig['sasl'];
  readonly logger?: ConnectorLogger;
}

/** A Kafka error that reached Telltale: the broker or network failed, or refused a request. */
export class KafkaConnectorError extends BackendUnavailableError {
  /** kafkajs's error name, e.g. `KafkaJSConnectionError`, and whether kafkajs deemed it retriable. */
  readonly kafkaError: string;
  readonly retriable: boolean;
  constructor(operation: string, cause: Error) {
    super(`Kafka ${operation} failed: ${cause.message}`, { cause });
    this.kafkaError = cause.name;
    // kafkajs's error classes are not named exports of its CommonJS module; `retriable` is on all of them.
    this.retriable = (cause as { retriable?: unknown }).retriable === true;
  }
}

/** Telltale errors pass through; kafkajs and other errors are wrapped with the operation named. */
export function translateKafkaError(operation: string, e: unknown): Error {
  if (isTelltaleError(e) || e instanceof TypeError) return e as Error;
  return new KafkaConnectorError(operation, e instanceof Error ? e : new Error(String(e)));
}

export function createKafka(connection: KafkaConnection): Kafka {
  const brokers = [...(connection.brokers ?? [])].map((b) => String(b).trim()).filter((b) => b.length > 0);
  if (brokers.length === 0) throw new InvalidArgumentError('At least one Kafka broker (host:port) is required');
  const logger = connection.logger ?? silentLogger;
  return new Kafka({
    clientId: connection.clientId ?? 'telltale',
    brokers,
    ssl: connection.ssl,
    sasl: connection.sasl,
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...fields } = entry.log;
      const line = `kafkajs ${entry.namespace}: ${message}`;
      // A heartbeat answered "rebalancing" is how every rebalance starts, not an error.
      const routine = typeof fields.error === 'string' && /rebalancing/i.test(fields.error);
      if (entry.level === logLevel.ERROR && !routine) logger.error(line, fields);
      else if (routine) logger.info(line, fields);
      else if (entry.level === logLevel.WARN) logger.warn(line, fields);
      else logger.info(line, fields);
    },
  });
}

export function requireText(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidArgumentError(`${name} must be a non-empty string`);
  return value;
}
