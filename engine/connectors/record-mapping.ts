// How a Kafka record becomes an event: a stream-name template, an event-type template, which part
// of the JSON value is the data, and where records that cannot be mapped go. A record is either
// mapped or rejected with a reason — never dropped — so ingestion can continue past bad input
// while the dead-letter stream keeps everything needed to replay it by hand.
import { InvalidArgumentError } from '../../store/errors.js';
import { assertValidStreamName, isMetastream } from '../../store/stream-name.js';
import type { EventData } from '../../store/types.js';
import { compileTemplate, pathValue, renderTemplate, type FieldTemplate } from './field-template.js';
import { isUtf8 } from 'node:buffer';
import { isJsonText } from './json-text.js';
import { coordinatesOf, kafkaEventId, kafkaMetadataBytes, keyTextOf, nameBasedUuid, textOrNull, type KafkaRecord } from './kafka-record.js';

/** What a template over a Kafka record may name. */
const RECORD_ROOTS = ['key', 'topic', 'partition', 'offset', 'timestamp', 'headers', 'data'] as const;
/** A dead-letter stream's name cannot depend on the value: the value may be what is wrong. */
const DEAD_LETTER_ROOTS = ['key', 'topic', 'partition', 'headers'] as const;

export interface KafkaIngestMapping {
  /** The stream each record goes to, e.g. `payments-{key}` or `card-{data.cardId}`. */
  readonly stream: string;
  /** The event type: a header (`{headers.type}`), a field (`{data.kind}`) or a constant (`Payment`). */
  readonly type: string;
  /** The part of the JSON value that becomes the event's data. @defaultValue `'data'` (all of it) */
  readonly data?: string;
  /** Larger values are dead-lettered. @defaultValue 1000000 (below the store's 1 MiB event limit) */
  readonly maxRecordBytes?: number;
  /** Where rejected records go; may use `{topic}`, `{partition}`, `{key}`, `{headers.x}`. @defaultValue `'$kafka-deadletter-{topic}'` */
  readonly deadLetterStream?: string;
}

export type RejectionReason = 'no-value' | 'not-json' | 'too-large' | 'missing-field' | 'invalid-stream-name' | 'invalid-event-type';

/** The event type of dead-letter events. */
export const REJECTED_RECORD_TYPE = 'KafkaRecordRejected';
/** How much of a rejected value the dead-letter event keeps. */
export const DEAD_LETTER_VALUE_BYTES = 64 * 1024;
/** The store's limit on an event type's length. */
const MAX_TYPE_LENGTH = 256;

export type MappedRecord =
  | { readonly kind: 'event'; readonly streamId: string; readonly event: EventData }
  | { readonly kind: 'rejected'; readonly streamId: string; readonly reason: RejectionReason; readonly event: EventData };

export interface RecordMapper {
  map(record: KafkaRecord): MappedRecord;
  /**
   * Set when the mapping can be applied to a record's bytes without making a record first (see
   * `DirectMapping`): mapped `asBytes`, without `coordinates`, from templates over the key, the
   * headers, the topic and the partition only.
   */
  readonly direct?: DirectMapping;
}

/** A template part the batch encoder writes straight from kafkajs's message. */
export type DirectPart =
  | { readonly kind: 'text'; readonly bytes: Buffer }
  | { readonly kind: 'key' }
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'topic' }
  | { readonly kind: 'partition' };

/**
 * What the batch encoder (mapped-batch.ts) needs to map a record byte for byte as `map` would,
 * for records whose value is JSON text and whose fields are printable ASCII — the usual case; any
 * other record goes through `map`. Literal text parts are printable ASCII too.
 */
export interface DirectMapping {
  readonly stream: readonly DirectPart[];
  readonly type: readonly DirectPart[];
  readonly maxRecordBytes: number;
  /** Longest event type, in characters. */
  readonly maxTypeLength: number;
}

export interface CompileMappingOptions {
  /**
   * Events for a store rather than for code: when the data is the whole value, it stays the JSON
   * bytes the record carried (`isJson: true`, checked but neither parsed nor serialised again
   * unless a template reads a field of it), and the `$kafka` metadata is JSON bytes as well.
   * Otherwise data and metadata are values. @defaultValue false
   */
  readonly asBytes?: boolean;
  /** Whether events carry the `$kafka` coordinates as metadata (a caller may write them itself). @defaultValue true */
  readonly coordinates?: boolean;
}

/** Stream names a mapper has checked lately; most topics map to a bounded set of streams. */
const STREAM_NAMES_KEPT = 50_000;

export function compileMapping(mapping: KafkaIngestMapping, options: CompileMappingOptions = {}): RecordMapper {
  if (mapping === null || typeof mapping !== 'object') throw new InvalidArgumentError('A Kafka ingest mapping is required');
  const stream = compileTemplate(mapping.stream, RECORD_ROOTS);
  const type = compileTemplate(mapping.type, RECORD_ROOTS);
  const dataPath = (mapping.data ?? 'data').split('.');
  if (dataPath[0] !== 'data' || dataPath.some((s) => s.length === 0)) {
    throw new InvalidArgumentError(`mapping.data must be 'data' or a path below it such as 'data.payload', got '${mapping.data}'`);
  }
  const maxBytes = mapping.maxRecordBytes ?? 1_000_000;
  if (!Number.isInteger(maxBytes) || maxBytes <= 0) throw new InvalidArgumentError('mapping.maxRecordBytes must be a positive integer');
  const deadLetter = compileTemplate(mapping.deadLetterStream ?? '$kafka-deadletter-{topic}', DEAD_LETTER_ROOTS);
  const asBytes = options.asBytes === true;
  const coordinates = options.coordinates !== false;
  const wholeValue = dataPath.length === 1;
  // The value is parsed only when a template reads a field of it or the data is a part of it.
  const needsValue = !wholeValue || stream.roots.has('data') || type.roots.has('data');
  const validStreams = new Set<string>();

  const reject = (record: KafkaRecord, reason: RejectionReason, message: string): MappedRecord => ({
    kind: 'rejected',
    streamId: deadLetterStreamOf(deadLetter, record),
    reason,
    event: rejectedEvent(record, reason, message),
  });

  return {
    direct: asBytes && !coordinates && !needsValue ? directMapping(stream, type, maxBytes) : undefined,
    map(record) {
      if (record.value === null) return reject(record, 'no-value', 'The record has no value (a tombstone?)');
      if (record.value.length > maxBytes) {
        return reject(record, 'too-large', `The value is ${record.value.length} bytes; the limit is ${maxBytes}`);
      }
      let value: unknown;
      // The record's bytes as the event's data, when they are valid UTF-8 JSON text.
      let jsonBytes: Buffer | undefined;
      if (asBytes && !needsValue && isJsonText(record.value)) jsonBytes = record.value;
      else {
        try {
          value = JSON.parse(record.value.toString('utf8'));
        } catch (e) {
          return reject(record, 'not-json', `The value is not JSON: ${(e as Error).message}`);
        }
        // Text that parsed is JSON; invalid UTF-8 in it was read as U+FFFD, so such bytes are not stored as they came.
        if (asBytes && wholeValue && isUtf8(record.value)) jsonBytes = record.value;
      }
      const resolve = (path: readonly string[]) => resolveRecordField(record, value, path);
      const streamId = renderTemplate(stream, resolve);
      if (typeof streamId !== 'string') return reject(record, 'missing-field', `The stream template '${stream.source}' needs {${streamId.missing}}`);
      const eventType = renderTemplate(type, resolve);
      if (typeof eventType !== 'string') return reject(record, 'missing-field', `The type template '${type.source}' needs {${eventType.missing}}`);
      const data = jsonBytes ?? pathValue(value, dataPath);
      if (data === undefined) return reject(record, 'missing-field', `The value has no ${dataPath.join('.')}`);
      if (!validStreams.has(streamId)) {
        const invalidStream = streamNameProblem(streamId);
        if (invalidStream) return reject(record, 'invalid-stream-name', invalidStream);
        if (validStreams.size >= STREAM_NAMES_KEPT) validStreams.clear();
        validStreams.add(streamId);
      }
      if (eventType.length === 0 || eventType.length > MAX_TYPE_LENGTH) {
        return reject(record, 'invalid-event-type', `The event type must be 1 to ${MAX_TYPE_LENGTH} characters, got ${eventType.length}`);
      }
      const id = kafkaEventId(record.topic, record.partition, record.offset);
      return {
        kind: 'event',
        streamId,
        event: asBytes
          ? { id, type: eventType, data, isJson: true, metadata: coordinates ? kafkaMetadataBytes(record) : undefined }
          : { id, type: eventType, data, metadata: coordinates ? { $kafka: coordinatesOf(record) } : undefined },
      };
    },
  };
}

/** Printable ASCII, the characters a direct part may hold. */
function isPrintableAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function directParts(template: FieldTemplate): DirectPart[] | undefined {
  const parts: DirectPart[] = [];
  for (const part of template.parts) {
    if (part.kind === 'text') {
      if (!isPrintableAscii(part.text)) return undefined;
      parts.push({ kind: 'text', bytes: Buffer.from(part.text, 'latin1') });
      continue;
    }
    const [root, name] = part.path;
    if (root === 'key' && part.path.length === 1) parts.push({ kind: 'key' });
    else if (root === 'headers' && part.path.length === 2) parts.push({ kind: 'header', name: name! });
    else if (root === 'topic' && part.path.length === 1) parts.push({ kind: 'topic' });
    else if (root === 'partition' && part.path.length === 1) parts.push({ kind: 'partition' });
    else return undefined;
  }
  return parts;
}

function directMapping(stream: FieldTemplate, type: FieldTemplate, maxRecordBytes: number): DirectMapping | undefined {
  const streamParts = directParts(stream);
  const typeParts = directParts(type);
  return streamParts && typeParts ? { stream: streamParts, type: typeParts, maxRecordBytes, maxTypeLength: MAX_TYPE_LENGTH } : undefined;
}

function resolveRecordField(record: KafkaRecord, value: unknown, path: readonly string[]): unknown {
  switch (path[0]) {
    case 'data':
      return pathValue(value, path);
    case 'key':
      return path.length === 1 ? keyTextOf(record) ?? undefined : undefined;
    case 'headers': {
      const header = path.length === 2 ? record.headers[path[1]!] : undefined;
      return header === undefined ? undefined : textOrNull(header) ?? undefined;
    }
    case 'topic':
      return path.length === 1 ? record.topic : undefined;
    case 'partition':
      return path.length === 1 ? record.partition : undefined;
    case 'offset':
      return path.length === 1 ? record.offset : undefined;
    case 'timestamp':
      return path.length === 1 ? record.timestamp : undefined;
    default:
      return undefined;
  }
}

function streamNameProblem(streamId: string): string | undefined {
  if (isMetastream(streamId)) return `'${streamId}' is a metastream`;
  try {
    assertValidStreamName(streamId);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

function deadLetterStreamOf(template: FieldTemplate, record: KafkaRecord): string {
  const name = renderTemplate(template, (path) => resolveRecordField(record, undefined, path));
  // A dead-letter name that cannot be rendered (the key it uses is absent) falls back to the
  // default, so a rejected record always has somewhere to go.
  return typeof name === 'string' && streamNameProblem(name) === undefined ? name : `$kafka-deadletter-${record.topic}`;
}

function rejectedEvent(record: KafkaRecord, reason: RejectionReason, message: string): EventData {
  const value = record.value;
  const kept = value === null ? null : value.subarray(0, DEAD_LETTER_VALUE_BYTES);
  // A cut may split a UTF-8 sequence, so only a whole value is offered as text.
  const text = kept !== null && kept.length === value?.length ? textOrNull(kept) : null;
  const headers: Record<string, string> = {};
  const binaryHeaders: string[] = [];
  for (const [name, bytes] of Object.entries(record.headers)) {
    const asText = textOrNull(bytes);
    if (asText === null) binaryHeaders.push(name);
    headers[name] = asText ?? bytes.toString('base64');
  }
  return {
    id: nameBasedUuid('telltale:kafka-rejected', `${record.topic}\u0000${record.partition}\u0000${record.offset}`),
    type: REJECTED_RECORD_TYPE,
    data: {
      reason,
      message,
      ...coordinatesOf(record),
      headers,
      ...(binaryHeaders.length > 0 ? { base64Headers: binaryHeaders } : {}),
      value: kept === null ? null : text ?? kept.toString('base64'),
      valueEncoding: kept === null ? null : text === null ? 'base64' : 'utf8',
      valueBytes: value?.length ?? 0,
      truncated: kept !== null && value !== null && kept.length < value.length,
    },
  };
}
