// Registers the Redis schemes with `openStore`: redis://, rediss://, redis+cluster://,
// rediss+cluster:// (store/redis/redis-url.ts). ioredis is loaded only when a Redis store is
// opened, so a process that never uses Redis does not pay for it.
import type { StorageBackend } from '../backend.js';
import { registerBackend, type OpenStoreOptions } from '../open-store.js';
import { parseRedisUrl } from './redis-url.js';

export async function openRedisBackend(url: string, options: OpenStoreOptions = {}): Promise<StorageBackend> {
  const location = parseRedisUrl(url);
  const { RedisBackend } = await import('./redis-backend.js');
  return RedisBackend.open(location, { clock: options.clock });
}

for (const scheme of ['redis', 'rediss', 'redis+cluster', 'rediss+cluster']) registerBackend(scheme, openRedisBackend);
