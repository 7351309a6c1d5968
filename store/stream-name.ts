// Stream naming as Event Store has it: `$`-prefixed streams are system streams, `$$<stream>` is the
// metastream of `<stream>` (and itself a system stream), `$all` is the log and not a stream.
import { InvalidArgumentError } from './errors.js';

/** Longest stream name accepted, in UTF-8 bytes. */
export const MAX_STREAM_NAME_BYTES = 1024;

export const ALL_STREAM = '$all';
export const METADATA_EVENT_TYPE = '$metadata';
export const TOMBSTONE_EVENT_TYPE = '$streamDeleted';
export const LINK_EVENT_TYPE = '$>';

/** Event Store writes a tombstone at Int64.MaxValue; so do we. */
export const TOMBSTONE_REVISION = 9223372036854775807n;

export function isSystemStream(streamId: string): boolean {
  return streamId.startsWith('$');
}

export function isMetastream(streamId: string): boolean {
  return streamId.startsWith('$$');
}

export function metastreamOf(streamId: string): string {
  return `$$${streamId}`;
}

/** The stream a metastream describes. */
export function streamOfMetastream(metastreamId: string): string {
  return metastreamId.slice(2);
}

/** Throws `InvalidArgumentError` (code `invalid-stream-name`) for a name no stream may have. */
export function assertValidStreamName(streamId: unknown): asserts streamId is string {
  if (typeof streamId !== 'string') {
    throw new InvalidArgumentError(`Stream name must be a string, got ${typeof streamId}`, 'invalid-stream-name');
  }
  if (streamId.length === 0) throw new InvalidArgumentError('Stream name must not be empty', 'invalid-stream-name');
  if (streamId === ALL_STREAM || streamId === '$$' || streamId === `$$${ALL_STREAM}`) {
    throw new InvalidArgumentError(`'${streamId}' is not a stream that can be written or read this way`, 'invalid-stream-name');
  }
  const bytes = Buffer.byteLength(streamId, 'utf8');
  if (bytes > MAX_STREAM_NAME_BYTES) {
    throw new InvalidArgumentError(
      `Stream name is ${bytes} bytes long; the limit is ${MAX_STREAM_NAME_BYTES}`,
      'invalid-stream-name',
    );
  }
  // Control characters break the HTTP API's URLs, JSON Lines exports and log lines.
  // eslint-disable-next-line no-control-regex -- the point is to find control characters
  if (/[\u0000-\u001f\u007f]/.test(streamId)) {
    throw new InvalidArgumentError(`Stream name ${JSON.stringify(streamId)} contains a control character`, 'invalid-stream-name');
  }
}
