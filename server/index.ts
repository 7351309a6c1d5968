// The HTTP API server: `createServer({ store, host, port, auth })`.
export { createServer, type ServerOptions, type ServerAuthOptions, type ServerAddress, type TelltaleServer } from './create-server.js';
export { Users, hashPassword, verifyPassword, DEFAULT_PASSWORD, type UserDetails, type NewUser } from './users.js';
export { ServerMetrics } from './metrics.js';
