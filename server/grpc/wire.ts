// Conversions between the protocol's shapes and ours: stream identifiers (UTF-8 bytes), UUIDs
// (a string, or two signed 64-bit halves), `created` as .NET ticks since the Unix epoch (what the
// clients divide by 10,000 to get milliseconds), positions and expected revisions, for the messages
// that still go through the generated classes (events are written by codec.ts).
import { randomUUID } from 'node:crypto';
import { InvalidArgumentError } from '../../store/errors.js';
import type { ExpectedRevision } from '../../store/types.js';
import { sharedPb } from './protocol.js';

type Uuid = InstanceType<typeof sharedPb.UUID>;
type StreamIdentifier = InstanceType<typeof sharedPb.StreamIdentifier>;

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();
/** 100 ns ticks per millisecond. */
const TICKS_PER_MS = 10_000n;

export function streamNameOf(identifier: StreamIdentifier | undefined): string {
  if (identifier === undefined) throw new InvalidArgumentError('A stream identifier is required', 'invalid-stream-name');
  try {
    return decoder.decode(identifier.getStreamName_asU8());
  } catch {
    throw new InvalidArgumentError('The stream name is not valid UTF-8', 'invalid-stream-name');
  }
}

export function streamIdentifier(name: string): StreamIdentifier {
  const id = new sharedPb.StreamIdentifier();
  id.setStreamName(encoder.encode(name));
  return id;
}

const HEX = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A UUID in either encoding, as a lowercase string; undefined when absent. */
export function uuidOf(uuid: Uuid | undefined): string | undefined {
  if (uuid === undefined) return undefined;
  if (uuid.hasString()) {
    const text = uuid.getString();
    if (!HEX.test(text)) throw new InvalidArgumentError(`Not a UUID: ${JSON.stringify(text)}`, 'invalid-event');
    return text.toLowerCase();
  }
  const structured = uuid.getStructured();
  if (structured === undefined) return undefined;
  const most = BigInt.asUintN(64, BigInt(structured.getMostSignificantBits())).toString(16).padStart(16, '0');
  const least = BigInt.asUintN(64, BigInt(structured.getLeastSignificantBits())).toString(16).padStart(16, '0');
  return `${most.slice(0, 8)}-${most.slice(8, 12)}-${most.slice(12)}-${least.slice(0, 4)}-${least.slice(4)}`;
}

export function uuidMessage(id: string, asString: boolean): Uuid {
  const uuid = new sharedPb.UUID();
  if (asString) {
    uuid.setString(id);
    return uuid;
  }
  const hex = id.replace(/-/g, '');
  const structured = new sharedPb.UUID.Structured();
  structured.setMostSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(0, 16)}`)).toString());
  structured.setLeastSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(16)}`)).toString());
  uuid.setStructured(structured);
  return uuid;
}

export function newUuidMessage(asString = true): Uuid {
  return uuidMessage(randomUUID(), asString);
}

export function ticksOf(date: Date): string {
  return (BigInt(date.getTime()) * TICKS_PER_MS).toString();
}

/** A u64 sent as a decimal string (the generated code keeps 64-bit integers as strings). */
export function u64(text: string, what: string): bigint {
  if (!/^\d{1,20}$/.test(text)) throw new InvalidArgumentError(`${what} must be an unsigned integer, got ${JSON.stringify(text)}`);
  return BigInt(text);
}

/** The oneof every write request carries: revision, no_stream, any or stream_exists. */
export interface ExpectedRevisionOneof {
  hasRevision?(): boolean;
  getRevision?(): string;
  hasNoStream(): boolean;
  hasAny(): boolean;
  hasStreamExists(): boolean;
}

export function expectedRevisionOf(options: ExpectedRevisionOneof, revision?: () => string | undefined): ExpectedRevision {
  const exact = revision !== undefined ? revision() : options.hasRevision?.() === true ? options.getRevision!() : undefined;
  if (exact !== undefined) return u64(exact, 'The expected revision');
  if (options.hasNoStream()) return 'no_stream';
  if (options.hasStreamExists()) return 'stream_exists';
  return 'any';
}
