// Starts the real HTTP server on a free port over a memory store, as the e2e suites use it, and
// gives them plain fetch helpers with or without credentials.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type ServerOptions, type TelltaleServer } from '../../server/index.js';
import { openStore, type Store } from '../../store/index.js';

export const ADMIN_PASSWORD = 'e2e-admin-secret';

export interface Running {
  readonly url: string;
  readonly store: Store;
  readonly server: TelltaleServer;
  readonly logs: string[];
  /** Stops the server and closes the store. */
  stop(): Promise<void>;
}

/**
 * The store the suites run on: memory by default; `TELLTALE_E2E_STORE=file` runs them on the log
 * store in a temporary directory.
 */
export async function openTestStore(): Promise<Store> {
  if (process.env.TELLTALE_E2E_STORE !== 'file') return openStore('memory:');
  const dir = await mkdtemp(join(tmpdir(), 'telltale-e2e-'));
  const store = await openStore(`file:${dir}`);
  const close = store.close.bind(store);
  return Object.assign(store, { close: async () => { await close(); await rm(dir, { recursive: true, force: true }); } });
}

export async function startServer(options: Partial<ServerOptions> = {}): Promise<Running> {
  const store = options.store ?? (await openTestStore());
  const logs: string[] = [];
  const server = createServer({ host: '127.0.0.1', port: 0, auth: { adminPassword: ADMIN_PASSWORD }, log: (l) => logs.push(l), ...options, store });
  const address = await server.listen();
  return {
    url: address.url,
    store,
    server,
    logs,
    async stop() {
      await server.close();
      await store.close();
    },
  };
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export const ADMIN = basic('admin', ADMIN_PASSWORD);

export interface Call {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
  /** Authorization header value; `null` sends none. @defaultValue admin */
  readonly auth?: string | null;
  readonly redirect?: RequestInit['redirect'];
}

export async function call(url: string, path: string, c: Call = {}): Promise<Response> {
  const headers: Record<string, string> = { ...(c.headers ?? {}) };
  const auth = c.auth === undefined ? ADMIN : c.auth;
  if (auth !== null) headers.authorization = auth;
  let body: RequestInit['body'];
  if (c.body !== undefined) body = typeof c.body === 'string' || c.body instanceof Uint8Array ? (c.body as string) : JSON.stringify(c.body);
  return fetch(`${url}${path}`, { method: c.method ?? (body === undefined ? 'GET' : 'POST'), headers, body, redirect: c.redirect ?? 'manual' });
}

export function batch(...types: string[]): Array<{ eventId: string; eventType: string; data: unknown }> {
  return types.map((t, i) => ({ eventId: randomUUID(), eventType: t, data: { i } }));
}

export const EVENTS_JSON = 'application/vnd.eventstore.events+json';
export const ATOM = 'application/vnd.eventstore.atom+json';

export async function appendBatch(url: string, stream: string, events: unknown[], headers: Record<string, string> = {}, auth?: string | null): Promise<Response> {
  return call(url, `/streams/${encodeURIComponent(stream)}`, { method: 'POST', headers: { 'content-type': EVENTS_JSON, ...headers }, body: events, auth });
}

export async function feed(url: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const r = await call(url, path, { headers: { accept: ATOM, ...headers } });
  const text = await r.text();
  return { status: r.status, headers: r.headers, body: text.length > 0 ? JSON.parse(text) : undefined };
}

export function link(body: { links: Array<{ uri: string; relation: string }> }, relation: string): string | undefined {
  return body.links.find((l) => l.relation === relation)?.uri;
}

/** Every stream's revisions are contiguous and `$all` positions strictly increase. */
export async function checkConsistency(store: Store): Promise<{ events: number; streams: number }> {
  let last = -1n;
  const revisions = new Map<string, bigint[]>();
  let events = 0;
  for await (const e of store.readAll()) {
    if (e.position <= last) throw new Error(`$all position ${e.position} after ${last}`);
    last = e.position;
    events++;
    if (e.revision === 9223372036854775807n) continue;
    const list = revisions.get(e.streamId) ?? [];
    list.push(e.revision);
    revisions.set(e.streamId, list);
  }
  for (const [stream, list] of revisions) {
    list.forEach((r, i) => {
      if (r !== BigInt(i)) throw new Error(`stream ${stream}: revision ${r} at index ${i}`);
    });
  }
  return { events, streams: revisions.size };
}
