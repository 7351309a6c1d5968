// Stream metadata: the JSON Event Store keeps in the last `$metadata` event of `$$<stream>`,
// converted to and from the `StreamMetadata` shape of the API, validated on every write.
import type { PreparedEvent } from './backend.js';
import { InvalidArgumentError } from './errors.js';
import { METADATA_EVENT_TYPE, TOMBSTONE_REVISION } from './stream-name.js';
import type { StreamAcl, StreamMetadata } from './types.js';

/** `$tb` at Int64.MaxValue marks a soft-deleted stream. */
export const SOFT_DELETED_TB = TOMBSTONE_REVISION;

const ACL_KEYS: ReadonlyArray<[wire: string, api: keyof StreamAcl]> = [
  ['$r', 'readRoles'],
  ['$w', 'writeRoles'],
  ['$d', 'deleteRoles'],
  ['$mr', 'metaReadRoles'],
  ['$mw', 'metaWriteRoles'],
];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function invalid(message: string): never {
  throw new InvalidArgumentError(message, 'invalid-metadata');
}

function positiveInteger(value: unknown, key: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    invalid(`Metadata ${key} must be an integer of at least 1, got ${JSON.stringify(value)}`);
  }
  return value;
}

function roles(value: unknown, key: string): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  return invalid(`Metadata $acl.${key} must be a role name or a list of role names`);
}

/**
 * Parses a metastream event's JSON into `StreamMetadata`, validating reserved keys.
 * `$tb` is read from the text itself, because Int64.MaxValue does not survive a JS number.
 */
export function parseMetadataJson(text: string): StreamMetadata {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return invalid(`Stream metadata is not valid JSON: ${(e as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) invalid('Stream metadata must be a JSON object');
  const obj = raw as Record<string, unknown>;
  const custom: Record<string, unknown> = {};
  let result: { -readonly [K in keyof StreamMetadata]: StreamMetadata[K] } = {};
  for (const [key, value] of Object.entries(obj)) {
    switch (key) {
      case '$maxAge':
        result.maxAge = positiveInteger(value, key);
        break;
      case '$maxCount':
        result.maxCount = positiveInteger(value, key);
        break;
      case '$cacheControl':
        result.cacheControl = positiveInteger(value, key);
        break;
      case '$tb': {
        const literal = /"\$tb"\s*:\s*(\d+)\s*[,}]/.exec(text)?.[1];
        if (typeof value !== 'number' || value < 0 || literal === undefined) {
          invalid(`Metadata $tb must be a non-negative integer, got ${JSON.stringify(value)}`);
        }
        result.truncateBefore = BigInt(literal);
        break;
      }
      case '$acl': {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) invalid('Metadata $acl must be an object');
        const acl: Record<string, string[]> = {};
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
          const entry = ACL_KEYS.find(([wire]) => wire === k);
          if (!entry) invalid(`Metadata $acl has an unknown key '${k}' (allowed: ${ACL_KEYS.map(([w]) => w).join(', ')})`);
          acl[entry[1]] = roles(v, k);
        }
        result.acl = acl;
        break;
      }
      default:
        if (key.startsWith('$') && key !== '$tmp') {
          // Event Store ignores unknown reserved keys; we keep them as custom so nothing is lost.
        }
        custom[key] = value;
    }
  }
  if (Object.keys(custom).length > 0) result = { ...result, custom };
  return result;
}

/** Validates API-shaped metadata and renders it as the JSON Event Store stores. */
export function metadataToJson(metadata: StreamMetadata): string {
  if (metadata === null || typeof metadata !== 'object') invalid('Stream metadata must be an object');
  const parts: string[] = [];
  const put = (key: string, json: string) => parts.push(`${JSON.stringify(key)}:${json}`);
  const known = new Set(['maxAge', 'maxCount', 'truncateBefore', 'cacheControl', 'acl', 'custom']);
  for (const key of Object.keys(metadata)) {
    if (!known.has(key)) invalid(`Unknown stream metadata field '${key}'; put user keys under 'custom'`);
  }
  if (metadata.maxAge !== undefined) put('$maxAge', String(positiveInteger(metadata.maxAge, 'maxAge')));
  if (metadata.maxCount !== undefined) put('$maxCount', String(positiveInteger(metadata.maxCount, 'maxCount')));
  if (metadata.truncateBefore !== undefined) {
    const tb = metadata.truncateBefore;
    if (typeof tb !== 'bigint' || tb < 0n || tb > SOFT_DELETED_TB) invalid('Metadata truncateBefore must be a non-negative bigint');
    put('$tb', tb.toString());
  }
  if (metadata.cacheControl !== undefined) put('$cacheControl', String(positiveInteger(metadata.cacheControl, 'cacheControl')));
  if (metadata.acl !== undefined) {
    const acl: Record<string, string[]> = {};
    for (const [wire, api] of ACL_KEYS) {
      const value = metadata.acl[api];
      if (value !== undefined) acl[wire] = roles(value, wire);
    }
    put('$acl', JSON.stringify(acl));
  }
  for (const [key, value] of Object.entries(metadata.custom ?? {})) {
    if (key.startsWith('$')) invalid(`Custom metadata key '${key}' must not start with '$'`);
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch (e) {
      invalid(`Custom metadata '${key}' is not serialisable: ${(e as Error).message}`);
    }
    if (json === undefined) invalid(`Custom metadata '${key}' is not a JSON value`);
    put(key, json);
  }
  return `{${parts.join(',')}}`;
}

export function metadataEvent(id: string, json: string): PreparedEvent {
  return { id, type: METADATA_EVENT_TYPE, isJson: true, data: encoder.encode(json), metadata: new Uint8Array() };
}

/** Whether metastream bytes mark their stream as soft-deleted. */
export function isSoftDeleteMarker(bytes: Uint8Array): boolean {
  try {
    return parseMetadataJson(decoder.decode(bytes)).truncateBefore === SOFT_DELETED_TB;
  } catch {
    return false;
  }
}

/**
 * The metadata written when a soft-deleted stream is appended to again: every other key kept,
 * `$tb` moved to the first new revision so the deleted events stay invisible (Event Store's
 * `SoftUndeleteRawMeta`).
 */
export function recreatedMetadata(current: Uint8Array | undefined, lastRevision: bigint, id: string): PreparedEvent {
  let metadata: StreamMetadata = {};
  if (current !== undefined) {
    try {
      metadata = parseMetadataJson(decoder.decode(current));
    } catch {
      metadata = {};
    }
  }
  return metadataEvent(id, metadataToJson({ ...metadata, truncateBefore: lastRevision + 1n }));
}
