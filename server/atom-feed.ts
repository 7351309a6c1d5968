// Event Store's JSON Atom shapes (shared/reference/eventstore-semantics.md §2.3): feeds of a
// stream or `$all` with head/first/last/next/previous/metadata links, entries newest first, and
// the `embed` levels that add content, rich fields and bodies to each entry.
import { InvalidArgumentError } from '../store/errors.js';
import type { RecordedEvent } from '../store/types.js';

export type Embed = 'none' | 'content' | 'rich' | 'body' | 'prettybody' | 'tryharder';
const EMBEDS: readonly Embed[] = ['none', 'content', 'rich', 'body', 'prettybody', 'tryharder'];
const LEVEL: Record<Embed, number> = { none: 0, content: 1, rich: 2, body: 3, prettybody: 4, tryharder: 5 };

export function parseEmbed(value: unknown, fallback: Embed): Embed {
  if (value === undefined || value === '') return fallback;
  const v = String(value).toLowerCase() as Embed;
  if (!EMBEDS.includes(v)) throw new InvalidArgumentError(`embed must be one of None, Content, Rich, Body, PrettyBody, TryHarder; got ${JSON.stringify(value)}`);
  return v;
}

export const FEED_PAGE_SIZE = 20;
const decoder = new TextDecoder();

/** A bigint as a JSON number when it is exact, else as a string. */
export function num(n: bigint): number | string {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(n) : n.toString();
}

export function streamUrl(base: string, streamId: string): string {
  return `${base}/streams/${encodeURIComponent(streamId)}`;
}

/** `$all` positions are 32 hex digits: commit position then prepare position (the same here). */
export function formatPosition(position: bigint): string {
  const hex = position.toString(16).padStart(16, '0');
  return `${hex}${hex}`;
}

export function parseAllPosition(text: string): bigint | 'head' {
  if (text === 'head') return 'head';
  if (!/^[0-9a-fA-F]{32}$/.test(text)) throw new InvalidArgumentError(`A $all position is 'head' or 32 hex digits (commit then prepare position), got ${JSON.stringify(text)}`);
  return BigInt(`0x${text.slice(0, 16)}`);
}

function json(bytes: Uint8Array): unknown {
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(decoder.decode(bytes)) as unknown;
  } catch {
    return decoder.decode(bytes);
  }
}

/** The event's data as Event Store's `content.data`: parsed JSON, or base64 for a binary event. */
export function contentData(e: RecordedEvent): unknown {
  return e.isJson ? json(e.dataBytes) : Buffer.from(e.dataBytes).toString('base64');
}

export function entry(base: string, e: RecordedEvent, embed: Embed): Record<string, unknown> {
  const url = `${streamUrl(base, e.streamId)}/${e.revision}`;
  const out: Record<string, unknown> = {
    title: `${e.revision}@${e.streamId}`,
    id: url,
    updated: e.created.toISOString(),
    author: { name: 'EventStore' },
    summary: e.type,
  };
  const level = LEVEL[embed];
  if (level === LEVEL.content || level >= LEVEL.tryharder) {
    out.content = {
      eventStreamId: e.streamId,
      eventNumber: num(e.revision),
      eventType: e.type,
      eventId: e.id,
      data: contentData(e),
      metadata: e.metadataBytes.length > 0 ? json(e.metadataBytes) : '',
    };
  }
  if (level >= LEVEL.rich) {
    const position = e.link ?? e;
    out.eventId = e.id;
    out.eventType = e.type;
    out.eventNumber = num(e.revision);
    if (level >= LEVEL.body) {
      if (level >= LEVEL.prettybody) out.data = contentData(e);
      else out.data = e.isJson ? decoder.decode(e.dataBytes) : Buffer.from(e.dataBytes).toString('base64');
      if (e.metadataBytes.length > 0) out.metaData = level >= LEVEL.prettybody ? json(e.metadataBytes) : decoder.decode(e.metadataBytes);
      if (e.link !== undefined && e.link.metadataBytes.length > 0) out.linkMetaData = decoder.decode(e.link.metadataBytes);
    }
    out.streamId = e.streamId;
    out.isJson = e.isJson;
    out.isMetaData = e.metadataBytes.length > 0;
    out.isLinkMetaData = e.link !== undefined && e.link.metadataBytes.length > 0;
    out.positionEventNumber = num(position.revision);
    out.positionStreamId = position.streamId;
    out.position = formatPosition(position.position);
  }
  out.links = [
    { uri: url, relation: 'edit' },
    { uri: url, relation: 'alternate' },
  ];
  return out;
}

export interface FeedLink {
  readonly uri: string;
  readonly relation: string;
}

export interface Feed {
  readonly title: string;
  readonly id: string;
  readonly updated: string;
  readonly streamId?: string;
  readonly author: { readonly name: string };
  readonly headOfStream: boolean;
  readonly selfUrl: string;
  readonly eTag: string;
  readonly links: readonly FeedLink[];
  readonly entries: readonly Record<string, unknown>[];
}

/** A 32-bit FNV-1a of the representation, for ETags that are valid for one media type only. */
export function representationHash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h | 0).toString();
}
