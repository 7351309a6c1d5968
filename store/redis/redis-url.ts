// Store URLs for Redis:
//   redis://[user:password@]host[:port][/db][?options]     one server (or a primary behind a proxy)
//   rediss://…                                             the same over TLS
//   redis+cluster://host:port[,host:port…][?options]       Redis Cluster, seeded from these nodes
// options: prefix (key namespace, default `telltale`), commandTimeout (ms, default 10000),
// connectTimeout (ms, default 10000).
import { InvalidArgumentError } from '../errors.js';
import { DEFAULT_PREFIX } from './key-layout.js';

export interface RedisLocation {
  readonly cluster: boolean;
  readonly tls: boolean;
  readonly nodes: readonly { host: string; port: number }[];
  readonly username?: string;
  readonly password?: string;
  readonly db: number;
  readonly prefix: string;
  readonly commandTimeout: number;
  readonly connectTimeout: number;
}

const KNOWN_OPTIONS = new Set(['prefix', 'commandTimeout', 'connectTimeout']);

export function parseRedisUrl(url: string): RedisLocation {
  const match = /^(redis|rediss|redis\+cluster|rediss\+cluster):\/\/(?:([^@/?]*)@)?([^/?]*)(?:\/(\d*))?(?:\?(.*))?$/i.exec(url);
  if (!match) throw new InvalidArgumentError(`Not a Redis store URL: '${url}' (use redis://host:port or redis+cluster://host:port,host:port)`);
  const scheme = match[1]!.toLowerCase();
  const cluster = scheme.endsWith('+cluster');
  const nodes = (match[3] || '127.0.0.1:6379').split(',').map((node) => {
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(node.trim());
    if (!m) throw new InvalidArgumentError(`Bad Redis node '${node}' in '${url}'`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2] ?? 6379) };
  });
  if (!cluster && nodes.length > 1) throw new InvalidArgumentError(`'${url}' names several nodes; use redis+cluster:// for Redis Cluster`);
  const params = new URLSearchParams(match[5] ?? '');
  for (const key of params.keys()) {
    if (!KNOWN_OPTIONS.has(key)) throw new InvalidArgumentError(`Unknown Redis store option '${key}' (known: ${[...KNOWN_OPTIONS].join(', ')})`);
  }
  const number = (key: string, fallback: number) => {
    const text = params.get(key);
    if (text === null) return fallback;
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value <= 0) throw new InvalidArgumentError(`Redis store option ${key} must be a positive integer, got '${text}'`);
    return value;
  };
  const [user, password] = match[2] === undefined ? [] : match[2].split(':', 2).map(decodeURIComponent);
  const db = match[4] ? Number(match[4]) : 0;
  if (cluster && db !== 0) throw new InvalidArgumentError('Redis Cluster has only database 0');
  return {
    cluster,
    tls: scheme.startsWith('rediss'),
    nodes,
    ...(user ? { username: user } : {}),
    ...(password !== undefined ? { password } : {}),
    db,
    prefix: params.get('prefix') ?? DEFAULT_PREFIX,
    commandTimeout: number('commandTimeout', 10_000),
    connectTimeout: number('connectTimeout', 10_000),
  };
}
