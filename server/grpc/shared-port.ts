// gRPC and the HTTP API on one port, as Event Store serves both on 2113: every accepted socket is
// looked at before the HTTP/1.1 parser sees it.
//
// - A connection that opens with the HTTP/2 client preface (`PRI * HTTP/2.0…`, which no HTTP/1.1
//   request can start with) is h2c with prior knowledge, what `esdb://…?tls=false` clients speak:
//   it goes to the gRPC server.
// - When TLS is configured, a connection that opens with a TLS handshake record (0x16) is
//   decrypted here; ALPN `h2` goes to the gRPC server, anything else to the HTTP API (HTTPS).
//   The official clients send credentials only over TLS, so this is how they authenticate.
// - Anything else goes, untouched, to the listeners the HTTP server had.
import type { Server, Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type SecureContextOptions } from 'node:tls';
import { Duplex } from 'node:stream';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n');
const TLS_HANDSHAKE = 0x16;

type ConnectionListener = (socket: Duplex) => void;

export interface SharedPortOptions {
  /** Receives HTTP/2 connections (plain, or already decrypted). */
  readonly onHttp2: (socket: Duplex) => void;
  /** Key and certificate for TLS on the same port. @defaultValue no TLS */
  readonly tls?: SecureContextOptions;
}

/** Routes the connections `server` accepts as described above. Returns a function that undoes it. */
export function shareHttpPort(server: Server, options: SharedPortOptions): () => void {
  const original = server.listeners('connection') as ConnectionListener[];
  server.removeAllListeners('connection');
  // A TLS server that never listens: it is handed connections and does the handshake (and the
  // bookkeeping that HTTP/2 sessions rely on) exactly as for its own.
  const tls =
    options.tls === undefined
      ? undefined
      : createTlsServer({ ...options.tls, ALPNProtocols: ['h2', 'http/1.1'] }, (secure: TLSSocket) => {
          if (secure.alpnProtocol === 'h2') options.onHttp2(secure);
          else toHttp1(secure);
        }).on('tlsClientError', (_e, secure: TLSSocket) => secure.destroy());
  const toHttp1 = (socket: Duplex) => {
    for (const listener of original) listener.call(server, socket);
  };
  // Connections that have not yet said which protocol they speak belong to no server that could
  // close them (an HTTP client's spare keep-alive connection may never send a byte), so undoing
  // the routing closes them, or the HTTP server's close() would wait for them forever.
  const undecided = new Set<Socket>();
  const route = (socket: Socket) => {
    undecided.add(socket);
    socket.once('close', () => undecided.delete(socket));
    let seen: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, PREFACE.length);
      const h2 = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
      // A preface split over packets: wait for the rest before deciding.
      if (h2 && n < PREFACE.length) return;
      socket.off('data', onData);
      socket.off('error', onEarlyError);
      undecided.delete(socket);
      if (tls !== undefined && !h2 && seen[0] === TLS_HANDSHAKE) {
        tls.emit('connection', streamOf(socket, seen));
        return;
      }
      socket.pause();
      socket.unshift(seen);
      if (h2) {
        options.onHttp2(socket);
      } else {
        toHttp1(socket);
        // The HTTP parser reads what was put back as ordinary 'data' once the socket flows.
        process.nextTick(() => socket.resume());
      }
    };
    // Until a protocol owns the socket, a reset by the peer is nobody's business but ours.
    const onEarlyError = () => socket.destroy();
    socket.on('error', onEarlyError);
    socket.on('data', onData);
  };
  server.on('connection', route);
  return () => {
    server.off('connection', route);
    for (const listener of original) server.on('connection', listener);
    for (const socket of undecided) socket.destroy();
    undecided.clear();
  };
}

/**
 * The socket as a plain duplex stream that starts with the bytes already read. TLS over a
 * net.Socket would read from its handle and miss them; over a plain stream it reads what we give.
 */
function streamOf(socket: Socket, head: Buffer): Duplex {
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end();
      callback();
    },
    destroy(error, callback) {
      socket.destroy(error ?? undefined);
      callback(error);
    },
  });
  stream.push(head);
  socket.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.on('end', () => stream.push(null));
  socket.on('error', (e) => stream.destroy(e));
  socket.on('close', () => stream.destroy());
  return stream;
}
