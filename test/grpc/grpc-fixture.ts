// A real Telltale server (in-process, memory store, projections running) with TLS configured, and
// the official Node client connected to it the way users connect: `esdb://user:pass@localhost:P`
// over TLS (the client sends credentials only over TLS) or `?tls=false` (h2c, anonymous).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EventStoreDBClient } from '@eventstore/db-client';
import { ProjectionManager } from '../../engine/index.js';
import { createServer, type TelltaleServer } from '../../server/index.js';
import { openStore, type Store } from '../../store/index.js';

export const ADMIN_PASSWORD = 'grpc-admin-secret';
const fixtures = fileURLToPath(new URL('../../../test/grpc/fixtures/', import.meta.url));
/** The test CA that signed the server's certificate (test/grpc/fixtures/README.md). */
export const CA_FILE = `${fixtures}ca.crt`;

export interface GrpcRunning {
  readonly port: number;
  readonly url: string;
  readonly store: Store;
  readonly server: TelltaleServer;
  readonly projections: ProjectionManager;
  /** A client signed in as `user` over TLS. */
  client(user?: string, password?: string): EventStoreDBClient;
  /** An anonymous client over h2c (`tls=false`). */
  plainClient(): EventStoreDBClient;
  stop(): Promise<void>;
}

export async function startGrpcServer(): Promise<GrpcRunning> {
  const store = await openStore('memory:');
  const projections = new ProjectionManager(store, { systemProjections: false });
  await projections.start();
  const server = createServer({
    store,
    projections,
    host: '127.0.0.1',
    port: 0,
    auth: { adminPassword: ADMIN_PASSWORD },
    log: () => {},
    grpc: { tls: { key: readFileSync(`${fixtures}server.key`), cert: readFileSync(`${fixtures}server.crt`) } },
  });
  const address = await server.listen();
  const clients: EventStoreDBClient[] = [];
  const keep = (c: EventStoreDBClient) => {
    clients.push(c);
    return c;
  };
  return {
    port: address.port,
    url: address.url,
    store,
    server,
    projections,
    client: (user = 'admin', password = ADMIN_PASSWORD) =>
      keep(EventStoreDBClient.connectionString(`esdb://${user}:${password}@localhost:${address.port}?tls=true&tlsCAFile=${encodeURIComponent(CA_FILE)}`)),
    plainClient: () => keep(EventStoreDBClient.connectionString(`esdb://127.0.0.1:${address.port}?tls=false`)),
    async stop() {
      await Promise.all(clients.map((c) => c.dispose()));
      await server.close();
      await store.close();
    },
  };
}

export { collect, until } from './waiting.js';
