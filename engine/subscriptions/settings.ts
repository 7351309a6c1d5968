// A persistent subscription group's settings, with the defaults of Event Store's HTTP
// `SubscriptionConfigData` (shared/reference/eventstore-semantics.md §2.10).
import { InvalidArgumentError } from '../../store/errors.js';

export type ConsumerStrategy = 'RoundRobin' | 'DispatchToSingle' | 'Pinned' | 'PinnedByCorrelation';
export const CONSUMER_STRATEGIES: readonly ConsumerStrategy[] = ['RoundRobin', 'DispatchToSingle', 'Pinned', 'PinnedByCorrelation'];

export interface PersistentSubscriptionSettings {
  /** Resolve `$>` links before delivery (needed for `$ce-` and other projection streams). @defaultValue false */
  readonly resolveLinktos: boolean;
  /** First event number delivered; -1 means only events appended after the group starts. @defaultValue 0 */
  readonly startFrom: bigint;
  readonly extraStatistics: boolean;
  /** A delivered, unacknowledged message is retried after this long. @defaultValue 10000 */
  readonly messageTimeoutMilliseconds: number;
  /** Retries before a message is parked. @defaultValue 10 */
  readonly maxRetryCount: number;
  readonly checkPointAfterMilliseconds: number;
  readonly minCheckPointCount: number;
  readonly maxCheckPointCount: number;
  /** 0 means unlimited. @defaultValue 10 */
  readonly maxSubscriberCount: number;
  readonly liveBufferSize: number;
  readonly readBatchSize: number;
  /** Messages read ahead from the stream and not yet delivered. @defaultValue 500 */
  readonly bufferSize: number;
  readonly namedConsumerStrategy: ConsumerStrategy;
}

export const DEFAULT_SUBSCRIPTION_SETTINGS: PersistentSubscriptionSettings = Object.freeze({
  resolveLinktos: false,
  startFrom: 0n,
  extraStatistics: false,
  messageTimeoutMilliseconds: 10_000,
  maxRetryCount: 10,
  checkPointAfterMilliseconds: 1_000,
  minCheckPointCount: 10,
  maxCheckPointCount: 500,
  maxSubscriberCount: 10,
  liveBufferSize: 500,
  readBatchSize: 20,
  bufferSize: 500,
  namedConsumerStrategy: 'RoundRobin',
});

type Raw = Record<string, unknown>;

function integer(raw: Raw, key: string, min: number, fallback: number): number {
  const value = raw[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidArgumentError(`Subscription setting ${key} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function boolean(raw: Raw, key: string, fallback: boolean): boolean {
  const value = raw[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw new InvalidArgumentError(`Subscription setting ${key} must be true or false`);
  return value;
}

/**
 * Reads settings from a JSON body (Event Store's field names), filling gaps from `base`.
 * Unknown fields are rejected so that a typo does not silently keep a default.
 */
export function parseSubscriptionSettings(body: unknown, base: PersistentSubscriptionSettings = DEFAULT_SUBSCRIPTION_SETTINGS): PersistentSubscriptionSettings {
  if (body === undefined || body === null || body === '') return base;
  if (typeof body !== 'object' || Array.isArray(body)) throw new InvalidArgumentError('Subscription settings must be a JSON object');
  const raw = body as Raw;
  const known = new Set([...Object.keys(DEFAULT_SUBSCRIPTION_SETTINGS), 'resolveLinkTos', 'startPosition', 'checkPointAfter', 'messageTimeout']);
  for (const key of Object.keys(raw)) {
    if (!known.has(key)) throw new InvalidArgumentError(`Unknown subscription setting '${key}'`);
  }
  let startFrom = base.startFrom;
  const start = raw.startFrom;
  if (start !== undefined && start !== null) {
    if (typeof start === 'number' && Number.isSafeInteger(start) && start >= -1) startFrom = BigInt(start);
    else if (typeof start === 'string' && /^(-1|\d{1,19})$/.test(start)) startFrom = BigInt(start);
    else throw new InvalidArgumentError(`Subscription setting startFrom must be an event number or -1 (the end), got ${JSON.stringify(start)}`);
  }
  const strategy = raw.namedConsumerStrategy ?? base.namedConsumerStrategy;
  if (typeof strategy !== 'string' || !(CONSUMER_STRATEGIES as readonly string[]).includes(strategy)) {
    throw new InvalidArgumentError(`namedConsumerStrategy must be one of ${CONSUMER_STRATEGIES.join(', ')}, got ${JSON.stringify(strategy)}`);
  }
  const settings: PersistentSubscriptionSettings = {
    resolveLinktos: boolean(raw, raw.resolveLinktos !== undefined ? 'resolveLinktos' : 'resolveLinkTos', base.resolveLinktos),
    startFrom,
    extraStatistics: boolean(raw, 'extraStatistics', base.extraStatistics),
    messageTimeoutMilliseconds: integer(raw, 'messageTimeoutMilliseconds', 1, base.messageTimeoutMilliseconds),
    maxRetryCount: integer(raw, 'maxRetryCount', 0, base.maxRetryCount),
    checkPointAfterMilliseconds: integer(raw, 'checkPointAfterMilliseconds', 1, base.checkPointAfterMilliseconds),
    minCheckPointCount: integer(raw, 'minCheckPointCount', 0, base.minCheckPointCount),
    maxCheckPointCount: integer(raw, 'maxCheckPointCount', 1, base.maxCheckPointCount),
    maxSubscriberCount: integer(raw, 'maxSubscriberCount', 0, base.maxSubscriberCount),
    liveBufferSize: integer(raw, 'liveBufferSize', 1, base.liveBufferSize),
    readBatchSize: integer(raw, 'readBatchSize', 1, base.readBatchSize),
    bufferSize: integer(raw, 'bufferSize', 1, base.bufferSize),
    namedConsumerStrategy: strategy as ConsumerStrategy,
  };
  if (settings.minCheckPointCount > settings.maxCheckPointCount) {
    throw new InvalidArgumentError('minCheckPointCount must not exceed maxCheckPointCount');
  }
  return settings;
}

/** The settings as JSON (bigints as numbers, as Event Store shows them). */
export function subscriptionSettingsJson(settings: PersistentSubscriptionSettings): Record<string, unknown> {
  return { ...settings, startFrom: Number(settings.startFrom) };
}
