// A Kafka record as the connectors see it, taken out of kafkajs's shapes in one place, and the
// deterministic event ids derived from a record's coordinates. Because an id depends only on
// (topic, partition, offset) — never on when or by whom the record was read — a redelivered record
// gets the id it had the first time, which is what lets the store recognise a retried append.
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { KafkaMessage } from 'kafkajs';

export interface KafkaRecord {
  readonly topic: string;
  readonly partition: number;
  /** Kafka offsets are int64. */
  readonly offset: bigint;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  /** Header values as bytes; a repeated header keeps its first value. */
  readonly headers: Readonly<Record<string, Buffer>>;
  /** Milliseconds since the epoch, as the producer or broker stamped it. */
  readonly timestamp: number;
  /** The key as text, null when there is none or it is not UTF-8; computed once when the record is made. */
  readonly keyText?: string | null;
}

const NO_HEADERS: Readonly<Record<string, Buffer>> = Object.freeze({});

export function toKafkaRecord(topic: string, partition: number, message: KafkaMessage): KafkaRecord {
  // Runs once per record: no Object.entries, no copy when kafkajs's headers are already one Buffer each.
  let headers: Record<string, Buffer> = NO_HEADERS as Record<string, Buffer>;
  const given = message.headers;
  if (given !== undefined) {
    for (const name in given) {
      const raw = given[name];
      const value = Array.isArray(raw) ? raw[0] : raw;
      if (value === undefined) continue;
      if (headers === NO_HEADERS) headers = {};
      headers[name] = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    }
  }
  const key = message.key ?? null;
  return {
    topic,
    partition,
    offset: BigInt(message.offset),
    key,
    value: message.value ?? null,
    headers,
    timestamp: Number(message.timestamp),
    keyText: key === null ? null : textOrNull(key),
  };
}

/**
 * A name-based UUID in the manner of RFC 4122 version 5 (SHA-1 of a namespace and a name, with the
 * version and variant bits set), so ids look like any other event id to Event Store clients.
 */
export function nameBasedUuid(namespace: string, name: string): string {
  const hash = createHash('sha1').update(namespace).update('\u0000').update(name).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.toString('hex', 0, 16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Per (topic, partition): the hashed part of its records' ids, computed once. */
const partitionPrefixes = new Map<string, string>();

/**
 * The id of the event ingested from a record: a function of its coordinates only. The first
 * 80 bits are a SHA-1 of the topic and partition (version 5 and variant bits set, as in a v5
 * UUID); the last 48 bits are the offset. Hashing once per partition instead of once per record
 * keeps ingest off the hash function, and the offset part makes ids within a partition distinct
 * by construction (offsets stay below 2^48 for any real topic).
 */
let lastTopic: string | undefined;
let lastPartition = -1;
let lastPrefix = '';
const MAX_48 = 0xffffffffffffn;

export function kafkaEventId(topic: string, partition: number, offset: bigint): string {
  let prefix: string | undefined;
  if (topic === lastTopic && partition === lastPartition) prefix = lastPrefix;
  else {
    const key = `${topic}\u0000${partition}`;
    prefix = partitionPrefixes.get(key);
    if (prefix === undefined) {
      prefix = nameBasedUuid('telltale:kafka-record', key).slice(0, 24);
      if (partitionPrefixes.size > 10_000) partitionPrefixes.clear();
      partitionPrefixes.set(key, prefix);
    }
    lastTopic = topic;
    lastPartition = partition;
    lastPrefix = prefix;
  }
  // Number arithmetic is exact below 2^48, which is every offset of a real topic.
  const low = offset >= 0n && offset <= MAX_48 ? Number(offset) : Number(offset & MAX_48);
  return prefix + low.toString(16).padStart(12, '0');
}

/** Where a record came from, as kept in an ingested event's metadata (`$kafka`). */
export interface KafkaCoordinates {
  readonly topic: string;
  readonly partition: number;
  /** A decimal string: offsets outgrow JSON's safe integers. */
  readonly offset: string;
  /** The key as text, or base64 when it is not valid UTF-8 (then `keyEncoding` says so). */
  readonly key: string | null;
  readonly keyEncoding?: 'base64';
  readonly timestamp: number;
}

export function coordinatesOf(record: KafkaRecord): KafkaCoordinates {
  const { topic, partition, timestamp } = record;
  const offset = record.offset.toString();
  if (record.key === null) return { topic, partition, offset, timestamp, key: null };
  const text = keyTextOf(record);
  if (text === null) return { topic, partition, offset, timestamp, key: record.key.toString('base64'), keyEncoding: 'base64' };
  return { topic, partition, offset, timestamp, key: text };
}

/** Per (topic, partition): the start of its records' metadata text, up to the offset. */
const metadataPrefixes = new Map<string, string>();

/**
 * `{"$kafka": coordinatesOf(record)}` as UTF-8 JSON bytes, the same text JSON.stringify gives,
 * built without an object or a generic serialiser per record: ingest stores it as the event's
 * metadata.
 */
export function kafkaMetadataBytes(record: KafkaRecord): Buffer {
  return Buffer.from(kafkaMetadataText(record), 'utf8');
}

/** The text of `kafkaMetadataBytes`. */
export function kafkaMetadataText(record: KafkaRecord): string {
  const { topic, partition, timestamp } = record;
  const prefixKey = `${topic}\u0000${partition}`;
  let prefix = metadataPrefixes.get(prefixKey);
  if (prefix === undefined) {
    prefix = `{"$kafka":{"topic":${JSON.stringify(topic)},"partition":${partition},"offset":"`;
    if (metadataPrefixes.size > 10_000) metadataPrefixes.clear();
    metadataPrefixes.set(prefixKey, prefix);
  }
  // JSON writes a non-finite number as null.
  const time = Number.isFinite(timestamp) ? timestamp : 'null';
  let key: string;
  if (record.key === null) key = 'null';
  else {
    const text = keyTextOf(record);
    key = text === null ? `"${record.key.toString('base64')}","keyEncoding":"base64"` : JSON.stringify(text);
  }
  return `${prefix}${record.offset}","timestamp":${time},"key":${key}}}`;
}

/** The record's key as text, or null when it has none or it is not UTF-8. */
export function keyTextOf(record: KafkaRecord): string | null {
  if (record.keyText !== undefined) return record.keyText;
  return record.key === null ? null : textOrNull(record.key);
}

/** The bytes as text when they are valid UTF-8, otherwise null. */
export function textOrNull(bytes: Buffer): string | null {
  const text = bytes.toString('utf8');
  // Decoding replaces every invalid sequence with U+FFFD, so text without one came from valid UTF-8.
  return text.indexOf('\ufffd') < 0 || isUtf8(bytes) ? text : null;
}
