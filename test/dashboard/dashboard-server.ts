// A real server for the dashboard tests: the HTTP API with the projection runtime over a memory
// store, on a free port, restartable on the same port and store (to test reconnecting).
import { ProjectionManager } from '../../engine/index.js';
import { createServer, type ServerAuthOptions, type TelltaleServer } from '../../server/index.js';
import { openStore, type Store } from '../../store/index.js';

export interface DashboardServer {
  readonly url: string;
  readonly port: number;
  readonly store: Store;
  projections: ProjectionManager;
  server: TelltaleServer;
  /** Stops the server and the projections, keeps the store, and starts both again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startDashboardServer(options: { auth?: ServerAuthOptions; systemProjections?: boolean; store?: Store } = {}): Promise<DashboardServer> {
  const store = options.store ?? (await openStore('memory:'));
  const auth = options.auth ?? { insecure: true };
  const log = () => undefined;
  async function boot(port: number): Promise<{ server: TelltaleServer; projections: ProjectionManager; port: number }> {
    const projections = new ProjectionManager(store, { systemProjections: options.systemProjections ?? true });
    await projections.start();
    const server = createServer({ store, projections, host: '127.0.0.1', port, auth, log });
    const address = await server.listen();
    return { server, projections, port: address.port };
  }
  let running = await boot(0);
  const port = running.port;
  const handle: DashboardServer = {
    url: `http://127.0.0.1:${port}`,
    port,
    store,
    projections: running.projections,
    server: running.server,
    async restart() {
      await running.server.close();
      running = await boot(port);
      handle.projections = running.projections;
      handle.server = running.server;
    },
    async stop() {
      await running.server.close();
      await store.close();
    },
  };
  return handle;
}
