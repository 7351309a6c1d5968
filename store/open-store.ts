// `openStore(url)`: the one way to get a Store. The URL picks the backend:
//   memory:            everything in memory, gone when the process ends
//   file:DIR or DIR    the embedded log engine in DIR (durable; one writer per directory)
//   redis://host:port  a shared store on Redis
import { InvalidArgumentError } from './errors.js';
import { EventStore, type EventStoreOptions } from './event-store.js';
import { MemoryBackend } from './memory/memory-backend.js';
import type { StorageBackend } from './backend.js';
import type { Store } from './types.js';

export interface OpenStoreOptions extends EventStoreOptions {
  /**
   * `false` acknowledges appends before fsync: faster, and an acknowledged append can be lost in
   * a crash. Only for data you can rebuild. @defaultValue true
   */
  readonly durable?: boolean;
}

export type BackendOpener = (location: string, options: OpenStoreOptions) => Promise<StorageBackend>;

const openers = new Map<string, BackendOpener>([['memory', async (_location, options) => new MemoryBackend({ clock: options.clock })]]);

/** Backends register themselves by URL scheme; `store/index.ts` imports them all. */
export function registerBackend(scheme: string, opener: BackendOpener): void {
  openers.set(scheme, opener);
}

export function parseStoreUrl(url: string): { scheme: string; location: string } {
  if (typeof url !== 'string' || url.length === 0) throw new InvalidArgumentError('A store URL is required, e.g. memory:, file:./data or redis://127.0.0.1:6379');
  const match = /^([a-z][a-z0-9+.-]*):(.*)$/i.exec(url);
  // A Windows drive letter (C:\data) is a path, not a scheme.
  if (!match || /^[a-z]:[\\/]/i.test(url)) return { scheme: 'file', location: url };
  const scheme = match[1]!.toLowerCase();
  if (scheme === 'file') return { scheme, location: match[2]!.replace(/^\/\/(?=\/)/, '') };
  return { scheme, location: url };
}

export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store & EventStore> {
  const { scheme, location } = parseStoreUrl(url);
  const opener = openers.get(scheme);
  if (!opener) {
    throw new InvalidArgumentError(`Unknown store '${url}': use ${[...openers.keys()].map((s) => `${s}:`).join(', ')}`);
  }
  return new EventStore(await opener(location, options), options);
}
