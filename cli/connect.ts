// The flags that choose what a command works on, and the one function that turns them into a
// `Connection`: `--db DIR` or `--store URL` open a store here; otherwise the command talks to a
// server (`--server URL`, else TELLTALE_URL, else http://127.0.0.1:2113).
import { Option, type Command } from 'commander';
import type { Connection } from './connection.js';
import { HttpClient } from './http-client.js';
import { openCliStore, StoreConnection } from './store-connection.js';
import { parseUrl } from './arguments.js';
import { UsageError } from './usage-error.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:2113';

export interface ConnectionFlags {
  readonly server?: string;
  readonly db?: string;
  readonly store?: string;
  readonly user?: string;
}

export interface JsonFlag {
  readonly json?: boolean;
}

/** Adds --server / --db / --store / --user to a command. */
export function connectionOptions(command: Command): Command {
  return command
    .addOption(new Option('--server <url>', 'a running Telltale server (env TELLTALE_URL)').argParser(parseUrl))
    .addOption(new Option('--db <dir>', 'work straight on a data directory, with no server').conflicts(['server', 'store']))
    .addOption(new Option('--store <url>', 'work straight on a store: memory:, file:DIR, redis://host:port').conflicts(['server']))
    .addOption(new Option('--user <name:password>', 'HTTP basic credentials for --server (env TELLTALE_USER)'));
}

export function jsonOption(command: Command): Command {
  return command.option('--json', 'print JSON for scripts');
}

/** The store URL of `--db` / `--store`, or undefined to use a server. */
export function directStoreUrl(flags: ConnectionFlags): string | undefined {
  if (flags.db !== undefined) {
    if (flags.db === '') throw new UsageError('--db needs a directory');
    return `file:${flags.db}`;
  }
  return flags.store;
}

export function serverUrl(flags: ConnectionFlags): string {
  if (flags.server !== undefined) return flags.server;
  const env = process.env.TELLTALE_URL;
  if (env !== undefined && env !== '') {
    try {
      return parseUrl(env);
    } catch {
      throw new UsageError(`TELLTALE_URL is not a server URL: '${env}' (expected e.g. ${DEFAULT_SERVER})`);
    }
  }
  return DEFAULT_SERVER;
}

export async function connect(flags: ConnectionFlags): Promise<Connection> {
  const storeUrl = directStoreUrl(flags);
  if (storeUrl !== undefined) {
    const store = await openCliStore(storeUrl, flags.db !== undefined ? `--db ${flags.db}` : `--store ${storeUrl}`);
    // The projection runtime (isolated-vm) loads only when a command works on a store here.
    const { directProjections } = await import('./direct-projections.js');
    return new StoreConnection(store, storeUrl, directProjections(store));
  }
  const credentials = flags.user ?? process.env.TELLTALE_USER;
  if (credentials !== undefined && !credentials.includes(':')) throw new UsageError('--user takes NAME:PASSWORD');
  return new HttpClient({ url: serverUrl(flags), ...(credentials ? { credentials } : {}) });
}

/** Runs `body` with a connection and closes it whatever happens. */
export async function withConnection<T>(flags: ConnectionFlags, body: (c: Connection) => Promise<T>): Promise<T> {
  const connection = await connect(flags);
  try {
    return await body(connection);
  } finally {
    await connection.close();
  }
}
