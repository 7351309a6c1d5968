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
}

export function toKafkaRecord(topic: string, partition: number, message: KafkaMessage): KafkaRecord {
  const headers: Record<string, Buffer> = {};
  for (const [name, raw] of Object.entries(message.headers ?? {})) {
    const value = Array.isArray(raw) ? raw[0] : raw;
    if (value === undefined) continue;
    headers[name] = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  }
  return {
    topic,
    partition,
    offset: BigInt(message.offset),
    key: message.key ?? null,
    value: message.value ?? null,
    headers,
    timestamp: Number(message.timestamp),
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
export function kafkaEventId(topic: string, partition: number, offset: bigint): string {
  const key = `${topic}\u0000${partition}`;
  let prefix = partitionPrefixes.get(key);
  if (prefix === undefined) {
    prefix = nameBasedUuid('telltale:kafka-record', key).slice(0, 24);
    if (partitionPrefixes.size > 10_000) partitionPrefixes.clear();
    partitionPrefixes.set(key, prefix);
  }
  return prefix + (offset & 0xffffffffffffn).toString(16).padStart(12, '0');
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
  const coordinates = { topic: record.topic, partition: record.partition, offset: record.offset.toString(), timestamp: record.timestamp };
  if (record.key === null) return { ...coordinates, key: null };
  const text = textOrNull(record.key);
  return text === null ? { ...coordinates, key: record.key.toString('base64'), keyEncoding: 'base64' } : { ...coordinates, key: text };
}

/** The bytes as text when they are valid UTF-8, otherwise null. */
export function textOrNull(bytes: Buffer): string | null {
  return isUtf8(bytes) ? bytes.toString('utf8') : null;
}
