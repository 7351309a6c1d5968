// A gRPC server on Node's own HTTP/2 (node:http2), for the connections the shared port hands it.
// It does what the services need and no more: route a stream by its `:path` to a method, frame
// and unframe messages (server-call.ts), honour `grpc-timeout`, answer unknown methods with
// UNIMPLEMENTED, and send statuses as trailers. No interceptors, no per-message promises, no
// object-mode streams between the socket and a handler: a BatchAppend request goes from the DATA
// chunk to the decoder to the store, and its response from the encoder into the one buffer the
// call writes per turn of the event loop.
import { constants, createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { GrpcFailure } from './grpc-failure.js';
import { respondWithStatus, ServerCall, type MethodDefinition } from './server-call.js';
import { status } from './status.js';

/**
 * A method's implementation: it writes its response(s) to the call and ends it, or fails it.
 * (A handler of any request and response types fits; the service definition pairs them.)
 */
export type MethodHandler = (call: ServerCall<never, never>) => void;

export type ServiceDefinition = Readonly<Record<string, MethodDefinition>>;
export type ServiceImplementation = Readonly<Record<string, MethodHandler | undefined>>;

export interface GrpcServerOptions {
  /** Largest message accepted or sent. */
  readonly maxMessageBytes: number;
  /** Turns what a handler throws into a status. */
  readonly translate: (e: unknown) => GrpcFailure;
  /** Turns a request that does not decode into a status. */
  readonly translateDecodeError: (e: unknown) => GrpcFailure;
}

/**
 * Flow-control windows. HTTP/2's default of 64 KiB per stream would hold a client's BatchAppend
 * call (all its appends on one stream) to 64 KiB in flight; a larger window lets many appends
 * arrive, and be committed and answered, per turn of the event loop.
 */
const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
const CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;

/** `grpc-timeout`: an integer of at most 8 digits and a unit (hours, minutes, seconds, milli-, micro-, nanoseconds). */
function timeoutMs(value: string): number | undefined {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return undefined;
  const n = Number(match[1]);
  switch (match[2]) {
    case 'H':
      return n * 3_600_000;
    case 'M':
      return n * 60_000;
    case 'S':
      return n * 1000;
    case 'm':
      return n;
    case 'u':
      return n / 1000;
    default:
      return n / 1_000_000;
  }
}

/** setTimeout takes at most a signed 32-bit number of milliseconds; longer deadlines are no deadline. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class GrpcServer {
  readonly #methods = new Map<string, { definition: MethodDefinition; handler: MethodHandler }>();
  readonly #http2: Http2Server;
  readonly #sessions = new Set<ServerHttp2Session>();
  readonly #options: GrpcServerOptions;
  #closed = false;

  constructor(options: GrpcServerOptions) {
    this.#options = options;
    this.#http2 = createServer({
      settings: { initialWindowSize: STREAM_WINDOW_BYTES, maxHeaderListSize: 64 * 1024 },
      // Node refuses new streams once a session holds this many MiB of unsent or unread frames;
      // flow control already bounds that, and the refusals look like failures to clients.
      maxSessionMemory: 1024,
    });
    this.#http2.on('session', (session: ServerHttp2Session) => this.#session(session));
    this.#http2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => this.#stream(stream, headers));
  }

  /** Serves `implementation`'s methods at the paths `definition` gives them. */
  addService(definition: ServiceDefinition, implementation: ServiceImplementation): void {
    for (const [name, method] of Object.entries(definition)) {
      const handler = implementation[name];
      if (handler !== undefined) this.#methods.set(method.path, { definition: method, handler });
    }
  }

  /** Takes over an HTTP/2 connection (plain, or already decrypted). */
  injectConnection(socket: Duplex): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#http2.emit('connection', socket);
  }

  /** Ends every session now: open calls see their connection go, subscriptions end. */
  close(): void {
    this.#closed = true;
    for (const session of this.#sessions) session.destroy();
    this.#sessions.clear();
  }

  #session(session: ServerHttp2Session): void {
    if (this.#closed) {
      session.destroy();
      return;
    }
    this.#sessions.add(session);
    session.on('close', () => this.#sessions.delete(session));
    // A peer that goes away mid-frame is its own business; the streams it had are cancelled.
    session.on('error', () => {});
    const widen = () => {
      try {
        session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
      } catch {
        // A session already closing keeps the default window.
      }
    };
    if (session.connecting) session.once('connect', widen);
    else widen();
  }

  #stream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', () => {});
    const path = headers[':path'] ?? '';
    const contentType = headers['content-type'] ?? '';
    if (!contentType.startsWith('application/grpc')) {
      if (!stream.headersSent && !stream.destroyed) stream.respond({ ':status': 415 }, { endStream: true });
      if (!stream.readableEnded) stream.close(constants.NGHTTP2_NO_ERROR);
      return;
    }
    const entry = this.#methods.get(path);
    if (entry === undefined) {
      respondWithStatus(stream, status.UNIMPLEMENTED, `The server does not implement the method ${path}`);
      return;
    }
    const { definition, handler } = entry;
    const call = new ServerCall(stream, headers, definition, this.#options);
    const timeout = headers['grpc-timeout'];
    if (typeof timeout === 'string') {
      const ms = timeoutMs(timeout);
      if (ms !== undefined && ms < MAX_TIMER_MS) call.setDeadline(ms);
    }
    stream.on('data', (chunk: Buffer) => call.receive(chunk));
    stream.on('end', () => call.receiveEnd());
    stream.on('drain', () => call.emit('drain'));
    stream.on('close', () => call.closed());
    const start = () => {
      try {
        handler(call as ServerCall<never, never>);
      } catch (e) {
        call.fail(this.#options.translate(e));
      }
    };
    if (definition.requestStream) start();
    else call.onRequest(start);
  }
}
