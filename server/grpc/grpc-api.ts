// Event Store's gRPC API, served beside the HTTP API on the same port (or on a port of its own):
// the services the official clients call, implemented over the same store, users, ACLs,
// persistent subscription groups and projections as the HTTP routes. See docs/grpc.md.
import { readFileSync } from 'node:fs';
import type { Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { isTelltaleError } from '../../store/errors.js';
import { GrpcFailure, toGrpcFailure, type GrpcContext } from './call-context.js';
import { gossipService, serverFeaturesService } from './cluster-services.js';
import { GrpcServer, type ServiceDefinition, type ServiceImplementation } from './grpc-server.js';
import { persistentSubscriptionsService } from './persistent-subscriptions-service.js';
import { projectionsService } from './projections-service.js';
import { services } from './protocol.js';
import { shareHttpPort } from './shared-port.js';
import { status } from './status.js';
import { streamsDefinition, streamsService } from './streams-service.js';
import { usersService } from './users-service.js';

export type { GrpcContext } from './call-context.js';

export interface GrpcOptions {
  /**
   * PEM key and certificate: TLS connections on the same port are then decrypted here and HTTP/2
   * ones served by gRPC (the official clients send credentials only over TLS).
   * @defaultValue read from the files named by TELLTALE_TLS_KEY_FILE and TELLTALE_TLS_CERT_FILE, if set
   */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
}

function tlsFromEnvironment(): GrpcOptions['tls'] {
  const keyFile = process.env.TELLTALE_TLS_KEY_FILE;
  const certFile = process.env.TELLTALE_TLS_CERT_FILE;
  if (keyFile === undefined || certFile === undefined || keyFile === '' || certFile === '') return undefined;
  return { key: readFileSync(keyFile), cert: readFileSync(certFile) };
}

export interface GrpcApi {
  /** Takes over the HTTP/2 connections `server` accepts (the HTTP API keeps the others). */
  shareWith(server: NetServer): void;
  /** Cancels open calls (subscriptions end) and closes the HTTP/2 sessions. */
  close(): Promise<void>;
}

/** The official clients send messages of up to 17 MiB and accept as much. */
const MAX_MESSAGE_BYTES = 17 * 1024 * 1024;

export function createGrpcApi(ctx: GrpcContext, options: GrpcOptions = {}): GrpcApi {
  const tls = options.tls ?? tlsFromEnvironment();
  const server = new GrpcServer({
    maxMessageBytes: MAX_MESSAGE_BYTES,
    translate: (e) => toGrpcFailure(e, ctx.log),
    // The caller sent bytes that are not the request: our decoders say why (INVALID_ARGUMENT), and so does the generated code.
    translateDecodeError: (e) => (isTelltaleError(e) ? toGrpcFailure(e, ctx.log) : new GrpcFailure(status.INVALID_ARGUMENT, `The request could not be decoded: ${(e as Error)?.message ?? String(e)}`)),
  });
  const served: Array<{ definition: ServiceDefinition; implementation: ServiceImplementation }> = [
    { definition: streamsDefinition(services.streams), implementation: streamsService(ctx) },
    { definition: services.persistentSubscriptions, implementation: persistentSubscriptionsService(ctx) },
    { definition: services.users, implementation: usersService(ctx) },
    { definition: services.gossip, implementation: gossipService(ctx) },
  ];
  if (ctx.projections !== undefined) served.push({ definition: services.projections, implementation: projectionsService(ctx, ctx.projections) });
  for (const { definition, implementation } of served) server.addService(definition, implementation);
  server.addService(services.serverFeatures, serverFeaturesService(served));

  const undo: Array<() => void> = [];
  return {
    shareWith(http: NetServer) {
      undo.push(shareHttpPort(http, { onHttp2: (socket: Duplex) => server.injectConnection(socket), ...(tls !== undefined ? { tls } : {}) }));
    },
    async close() {
      for (const u of undo.splice(0)) u();
      server.close();
    },
  };
}
