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

// ---- the same JSON, written as text ----
//
// A page is rendered once per request when it cannot be kept (the head page, `$all`, a page not
// yet full). Building entry objects and handing them to JSON.stringify was most of that request's
// CPU, so the text is written directly here. Every function below yields exactly the bytes
// JSON.stringify gives for its object counterpart (same keys, same order, same omissions); the unit
// test holds them to that for every embed level.

/** A JSON string literal. Links are built from percent-encoded names and a checked Host, so they need no escaping. */
const str = JSON.stringify as (value: string) => string;

/** `,"key":value` for a defined value, nothing for undefined (as JSON.stringify omits it). */
function prop(key: string, value: unknown): string {
  return value === undefined ? '' : `,"${key}":${JSON.stringify(value)}`;
}

function bigintJson(n: bigint): string {
  const v = num(n);
  return typeof v === 'number' ? String(v) : `"${v}"`;
}

/** `JSON.stringify(entry(base, e, embed))`, without the object. */
export function entryJson(base: string, e: RecordedEvent, embed: Embed): string {
  const url = `${streamUrl(base, e.streamId)}/${e.revision}`;
  const revision = bigintJson(e.revision);
  let out = `{"title":${str(`${e.revision}@${e.streamId}`)},"id":"${url}","updated":"${e.created.toISOString()}","author":{"name":"EventStore"},"summary":${str(e.type)}`;
  const level = LEVEL[embed];
  if (level === LEVEL.content || level >= LEVEL.tryharder) {
    out += `,"content":{"eventStreamId":${str(e.streamId)},"eventNumber":${revision},"eventType":${str(e.type)},"eventId":${str(e.id)}${prop('data', contentData(e))}${prop('metadata', e.metadataBytes.length > 0 ? json(e.metadataBytes) : '')}}`;
  }
  if (level >= LEVEL.rich) {
    const position = e.link ?? e;
    out += `,"eventId":${str(e.id)},"eventType":${str(e.type)},"eventNumber":${revision}`;
    if (level >= LEVEL.body) {
      if (level >= LEVEL.prettybody) out += prop('data', contentData(e));
      else out += `,"data":${str(e.isJson ? decoder.decode(e.dataBytes) : Buffer.from(e.dataBytes).toString('base64'))}`;
      if (e.metadataBytes.length > 0) out += prop('metaData', level >= LEVEL.prettybody ? json(e.metadataBytes) : decoder.decode(e.metadataBytes));
      if (e.link !== undefined && e.link.metadataBytes.length > 0) out += `,"linkMetaData":${str(decoder.decode(e.link.metadataBytes))}`;
    }
    const linkMeta = e.link !== undefined && e.link.metadataBytes.length > 0;
    out += `,"streamId":${str(e.streamId)},"isJson":${e.isJson},"isMetaData":${e.metadataBytes.length > 0},"isLinkMetaData":${linkMeta},"positionEventNumber":${bigintJson(position.revision)},"positionStreamId":${str(position.streamId)},"position":"${formatPosition(position.position)}"`;
  }
  return `${out},"links":[{"uri":"${url}","relation":"edit"},{"uri":"${url}","relation":"alternate"}]}`;
}

/** A feed's fields before its entries, in the order Event Store (and `Feed`) has them. */
export interface FeedHead {
  readonly title: string;
  readonly id: string;
  readonly updated: string;
  readonly streamId?: string;
  readonly headOfStream: boolean;
  readonly selfUrl: string;
  readonly eTag: string;
  readonly links: readonly FeedLink[];
}

/** `JSON.stringify(feed)` for a feed with these fields and entries already written by `entryJson`. */
export function feedJson(head: FeedHead, entries: readonly string[]): string {
  let links = '';
  for (const link of head.links) links += `${links === '' ? '' : ','}{"uri":${str(link.uri)},"relation":"${link.relation}"}`;
  return (
    `{"title":${str(head.title)},"id":${str(head.id)},"updated":"${head.updated}"${head.streamId === undefined ? '' : `,"streamId":${str(head.streamId)}`}` +
    `,"author":{"name":"EventStore"},"headOfStream":${head.headOfStream},"selfUrl":${str(head.selfUrl)},"eTag":${str(head.eTag)},"links":[${links}],"entries":[${entries.join(',')}]}`
  );
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
