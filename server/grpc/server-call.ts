// One gRPC call on one HTTP/2 stream: the length-prefixed messages the client sends, decoded
// straight from the DATA chunks Node hands us (a message inside one chunk is decoded from a view of
// it, without a copy), and the messages we send, written into one buffer per turn of the event
// loop and handed to the stream in one write (many BatchAppend responses that complete together
// become one DATA frame), then the status as trailers, or as a trailers-only response when no
// message was sent (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md).
import { EventEmitter } from 'node:events';
import { constants as http2, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { gunzipSync, inflateSync } from 'node:zlib';
import { ProtoWriter } from './codec.js';
import { GrpcFailure } from './grpc-failure.js';
import { status, type Status } from './status.js';

/** A method as the generated service definitions describe it (`*_grpc_pb.js`), or as we override it. */
export interface MethodDefinition {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestDeserialize: (bytes: Buffer) => unknown;
  readonly responseSerialize: (value: never) => Uint8Array;
}

/** What the call needs from its server. */
export interface CallSettings {
  /** Largest message accepted, after decompression. */
  readonly maxMessageBytes: number;
  /** Turns a request that does not decode into the status the client gets. */
  readonly translateDecodeError: (e: unknown) => GrpcFailure;
}

const RESPONSE_HEADERS: OutgoingHttpHeaders = {
  ':status': 200,
  'content-type': 'application/grpc+proto',
  'grpc-accept-encoding': 'identity,deflate,gzip',
};
const OK_TRAILERS: OutgoingHttpHeaders = { 'grpc-status': '0' };
const WITH_TRAILERS = { waitForTrailers: true, sendDate: false } as const;
const TRAILERS_ONLY = { endStream: true, sendDate: false } as const;
/** Above this many buffered bytes a writer is asked to wait for 'drain'. */
const HIGH_WATER_MARK = 64 * 1024;
/** Start size of a turn's output buffer; it grows by doubling. */
const OUTPUT_START_BYTES = 1024;

/**
 * `grpc-message` is percent-encoded: bytes outside printable ASCII, and `%` itself (the clients
 * decode it with decodeURIComponent).
 */
function encodeMessage(text: string): string {
  return /^[\x20-\x24\x26-\x7e]*$/.test(text) ? text : text.replace(/[^\x20-\x24\x26-\x7e]+|%/g, (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`));
}

function statusHeaders(code: Status, message: string, metadata: Readonly<Record<string, string>>): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = { 'grpc-status': String(code) };
  if (message !== '') headers['grpc-message'] = encodeMessage(message);
  for (const key in metadata) {
    const name = key.toLowerCase();
    // Reserved and pseudo headers cannot be overridden by a failure's metadata.
    if (name.startsWith(':') || name.startsWith('grpc-') || name === 'content-type') continue;
    headers[name] = metadata[key];
  }
  return headers;
}

/** Answers a stream that never became a call (unknown method, wrong content type). */
export function respondWithStatus(stream: ServerHttp2Stream, code: Status, message: string): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond({ ...RESPONSE_HEADERS, ...statusHeaders(code, message, {}) }, TRAILERS_ONLY);
  if (!stream.readableEnded) stream.close(http2.NGHTTP2_NO_ERROR);
}

/**
 * A call, server side. Events: `data` (a decoded request message, for client-streaming and
 * bidirectional methods), `end` (the client finished sending), `drain` (writes may go on),
 * `cancelled` (the client went away or the deadline passed before the call ended), `close`.
 */
export class ServerCall<Req = unknown, Res = unknown> extends EventEmitter {
  /** The request of a unary or server-streaming call (set before the handler runs). */
  request!: Req;
  readonly headers: IncomingHttpHeaders;
  readonly #stream: ServerHttp2Stream;
  readonly #method: MethodDefinition;
  readonly #settings: CallSettings;
  /** This turn's outgoing messages, framed; undefined when there are none. */
  #out: ProtoWriter | undefined;
  #flushScheduled = false;
  #headersSent = false;
  /** The status is decided (sent or about to be): nothing more is written or read. */
  #finished = false;
  #cancelled = false;
  #trailers: OutgoingHttpHeaders = OK_TRAILERS;
  #deadline: NodeJS.Timeout | undefined;
  /** Received bytes of a message not yet complete. */
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** The pending message's length once its 5-byte prefix is in; -1 before. */
  #pendingLength = -1;
  #requests = 0;
  #onRequest: (() => void) | undefined;
  readonly #flush = () => this.#flushNow();
  readonly #sendTrailers = () => {
    this.#stream.sendTrailers(this.#trailers);
    this.#stopReading();
  };

  constructor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, method: MethodDefinition, settings: CallSettings) {
    super();
    this.#stream = stream;
    this.headers = headers;
    this.#method = method;
    this.#settings = settings;
  }

  /** One request header's value (the first, if sent more than once). */
  header(name: string): string | undefined {
    const value = this.headers[name];
    return Array.isArray(value) ? value[0] : value;
  }

  /** Whether the call still takes writes: neither ended nor cancelled. */
  get open(): boolean {
    return !this.#finished && !this.#cancelled;
  }

  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** Whether a writer should wait for 'drain' before writing more. */
  get needsDrain(): boolean {
    return (this.#out !== undefined && this.#out.length >= HIGH_WATER_MARK) || this.#stream.writableNeedDrain;
  }

  /** Sends a message through the method's serialiser. False when the call is gone or a writer should wait for 'drain'. */
  write(message: Res): boolean {
    if (!this.open) return false;
    const bytes = (this.#method.responseSerialize as (value: Res) => Uint8Array)(message);
    const w = this.#output();
    const at = w.beginFrame();
    w.raw(bytes);
    w.endFrame(at);
    return !this.needsDrain;
  }

  /** Sends a message that `encode` writes straight into the outgoing buffer (codec.ts). */
  writeWith(encode: (w: ProtoWriter) => void): boolean {
    if (!this.open) return false;
    const w = this.#output();
    const at = w.beginFrame();
    encode(w);
    w.endFrame(at);
    return !this.needsDrain;
  }

  /** Stops taking request messages from the client (HTTP/2 flow control then holds it back) until `resumeRequests`. */
  pauseRequests(): void {
    this.#stream.pause();
  }

  resumeRequests(): void {
    if (this.#stream.isPaused()) this.#stream.resume();
  }

  /** Ends the call with status OK after the messages written so far. */
  end(): void {
    this.#finish(status.OK, '', {});
  }

  /** Ends the call with a failure's status, message and trailers, after the messages written so far. */
  fail(failure: GrpcFailure): void {
    this.#finish(failure.code, failure.message, failure.trailers);
  }

  #output(): ProtoWriter {
    if (this.#out === undefined) {
      this.#out = new ProtoWriter(OUTPUT_START_BYTES);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        // After every promise already settling in this turn, so that responses completing together go out together.
        process.nextTick(this.#flush);
      }
    }
    return this.#out;
  }

  #respond(): void {
    if (this.#headersSent) return;
    this.#headersSent = true;
    this.#stream.respond(RESPONSE_HEADERS, WITH_TRAILERS);
    this.#stream.once('wantTrailers', this.#sendTrailers);
  }

  #flushNow(): void {
    this.#flushScheduled = false;
    const out = this.#out;
    if (out === undefined || this.#finished || this.#cancelled || this.#stream.destroyed) return;
    this.#out = undefined;
    this.#respond();
    this.#stream.write(out.finish());
  }

  #finish(code: Status, message: string, metadata: Readonly<Record<string, string>>): void {
    if (this.#finished || this.#cancelled) return;
    this.#finished = true;
    this.#stopDeadline();
    this.#pending = [];
    const stream = this.#stream;
    if (stream.destroyed) return;
    const trailers = code === status.OK && message === '' && Object.keys(metadata).length === 0 ? OK_TRAILERS : statusHeaders(code, message, metadata);
    const out = this.#out;
    this.#out = undefined;
    if (!this.#headersSent && out === undefined) {
      this.#headersSent = true;
      stream.respond({ ...RESPONSE_HEADERS, ...trailers }, TRAILERS_ONLY);
      this.#stopReading();
      return;
    }
    this.#trailers = trailers;
    this.#respond();
    if (out !== undefined) stream.end(out.finish());
    else stream.end();
  }

  // -------------------------------------------------------------------------------------------
  // Driven by the server

  /** Runs `start` when the one request of a unary or server-streaming call is in. */
  onRequest(start: () => void): void {
    this.#onRequest = start;
  }

  /** Fails the call with DEADLINE_EXCEEDED after `ms`, as the client's `grpc-timeout` asks. */
  setDeadline(ms: number): void {
    this.#deadline = setTimeout(() => {
      this.#deadline = undefined;
      if (!this.open) return;
      this.fail(new GrpcFailure(status.DEADLINE_EXCEEDED, 'Deadline exceeded'));
      // Handlers stop as for a client that went away.
      this.#cancelled = true;
      this.emit('cancelled');
    }, ms);
    this.#deadline.unref();
  }

  #stopDeadline(): void {
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    this.#deadline = undefined;
  }

  /** A DATA chunk from the client: every complete message in it is decoded and delivered. */
  receive(chunk: Buffer): void {
    if (this.#finished || this.#cancelled) return;
    if (this.#pending.length > 0) {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      if (this.#pendingLength < 0) {
        if (this.#pendingBytes < 5) return;
        const head = Buffer.concat(this.#pending, this.#pendingBytes);
        this.#pending = [head];
        this.#pendingLength = head.readUInt32BE(1);
        if (!this.#acceptable(this.#pendingLength)) return;
      }
      if (this.#pendingBytes < 5 + this.#pendingLength) return;
      chunk = Buffer.concat(this.#pending, this.#pendingBytes);
      this.#pending = [];
      this.#pendingBytes = 0;
      this.#pendingLength = -1;
    }
    let pos = 0;
    const end = chunk.length;
    while (end - pos >= 5) {
      const length = chunk.readUInt32BE(pos + 1);
      if (!this.#acceptable(length)) return;
      if (end - pos - 5 < length) break;
      const compressed = chunk[pos] !== 0;
      const start = pos + 5;
      pos = start + length;
      this.#deliver(chunk.subarray(start, pos), compressed);
      if (this.#finished || this.#cancelled) return;
    }
    if (pos < end) {
      const rest = pos === 0 ? chunk : chunk.subarray(pos);
      this.#pending = [rest];
      this.#pendingBytes = rest.length;
      this.#pendingLength = rest.length >= 5 ? rest.readUInt32BE(1) : -1;
    }
  }

  /**
   * After the status, a client still sending is told to stop (RST_STREAM with NO_ERROR, sent once
   * the response is out), as gRPC servers do; otherwise its side of the stream stays open.
   */
  #stopReading(): void {
    if (!this.#stream.readableEnded && !this.#stream.destroyed) this.#stream.close(http2.NGHTTP2_NO_ERROR);
  }

  #acceptable(length: number): boolean {
    if (length <= this.#settings.maxMessageBytes) return true;
    this.fail(new GrpcFailure(status.RESOURCE_EXHAUSTED, `Received message larger than max (${length} vs. ${this.#settings.maxMessageBytes})`));
    return false;
  }

  #deliver(bytes: Buffer, compressed: boolean): void {
    let request: Req;
    try {
      if (compressed) bytes = this.#decompress(bytes);
      request = this.#method.requestDeserialize(bytes) as Req;
    } catch (e) {
      this.fail(e instanceof GrpcFailure ? e : this.#settings.translateDecodeError(e));
      return;
    }
    this.#requests++;
    if (this.#method.requestStream) {
      this.emit('data', request);
      return;
    }
    if (this.#requests > 1) {
      this.fail(new GrpcFailure(status.UNIMPLEMENTED, `Received a second request message for the unary-request method ${this.#method.path}`));
      return;
    }
    this.request = request;
  }

  #decompress(bytes: Buffer): Buffer {
    const encoding = this.header('grpc-encoding');
    const options = { maxOutputLength: this.#settings.maxMessageBytes };
    try {
      if (encoding === 'gzip') return gunzipSync(bytes, options);
      if (encoding === 'deflate') return inflateSync(bytes, options);
    } catch (e) {
      throw new GrpcFailure(status.INTERNAL, `Received a message that does not decompress with ${encoding}: ${(e as Error).message}`);
    }
    throw new GrpcFailure(status.UNIMPLEMENTED, `Received a compressed message with grpc-encoding ${encoding ?? '(none)'}, which this server does not support`);
  }

  /** The client finished sending. */
  receiveEnd(): void {
    if (this.#finished || this.#cancelled) return;
    if (this.#pendingBytes > 0) {
      this.fail(new GrpcFailure(status.INTERNAL, 'The request ended inside a message'));
      return;
    }
    if (this.#method.requestStream) {
      this.emit('end');
      return;
    }
    if (this.#requests === 0) {
      this.fail(new GrpcFailure(status.UNIMPLEMENTED, `Received no request message for the unary-request method ${this.#method.path}`));
      return;
    }
    const start = this.#onRequest;
    this.#onRequest = undefined;
    start?.();
  }

  /** The stream closed: a call that had not ended was cancelled by the client (or its connection). */
  closed(): void {
    this.#stopDeadline();
    this.#cancel();
    this.emit('close');
  }

  #cancel(): void {
    if (this.#finished || this.#cancelled) return;
    this.#cancelled = true;
    this.#out = undefined;
    this.#pending = [];
    this.emit('cancelled');
  }
}
