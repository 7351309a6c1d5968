// The page's files: its own (server/dashboard/public, plain ES modules, served as written) and the
// few library files it imports from node_modules, by a fixed name each. Nothing else on disk is
// reachable: names are matched against a pattern or a table, never joined into a path as given.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { HttpError } from '../http-error.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** URL name → package and file inside it. */
const VENDOR: Record<string, readonly [string, string]> = {
  'uplot.js': ['uplot', 'dist/uPlot.esm.js'],
  'uplot.css': ['uplot', 'dist/uPlot.min.css'],
  'cytoscape.js': ['cytoscape', 'dist/cytoscape.esm.min.mjs'],
  'cytoscape-dagre.js': ['cytoscape-dagre', 'dist/cytoscape-dagre.min.mjs'],
};

const here = dirname(fileURLToPath(import.meta.url));

/** server/dashboard/public, whether this module runs from the source tree or from dist/. */
function publicDir(): string {
  for (const dir of [join(here, 'public'), join(here, '..', '..', '..', 'server', 'dashboard', 'public')]) {
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  throw new Error(`dashboard: server/dashboard/public not found near ${here}`);
}

/** The installed package's folder, looked up the way Node resolves packages (walking up). */
function packageDir(name: string): string | undefined {
  for (let dir = here; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

function notFound(what: string): HttpError {
  return new HttpError(404, 'not-found', `No dashboard file ${what}`);
}

async function send(reply: FastifyReply, file: string, cache: string): Promise<FastifyReply> {
  const ext = file.slice(file.lastIndexOf('.'));
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    throw notFound(file);
  }
  return reply
    .code(200)
    .header('cache-control', cache)
    .header('x-content-type-options', 'nosniff')
    .type(TYPES[ext] ?? 'application/octet-stream')
    .send(body);
}

const PAGE_FILE = /^[a-z0-9][a-z0-9-]*\.(?:js|css|svg|png|html)$/;

export function registerStaticFiles(app: FastifyInstance): void {
  const root = publicDir();
  const index = join(root, 'index.html');
  app.get('/', async (_req, reply) => send(reply, index, 'no-cache'));
  app.get('/dashboard', async (_req, reply) => reply.redirect('/', 302));
  app.get('/dashboard/app/:file', async (req, reply) => {
    const file = (req.params as { file: string }).file;
    if (!PAGE_FILE.test(file)) throw notFound(file);
    return send(reply, join(root, file), 'no-cache');
  });
  app.get('/dashboard/vendor/:file', async (req, reply) => {
    const name = (req.params as { file: string }).file;
    const entry = VENDOR[name];
    const dir = entry === undefined ? undefined : packageDir(entry[0]);
    if (entry === undefined || dir === undefined) throw notFound(name);
    return send(reply, join(dir, entry[1]), 'public, max-age=3600');
  });
}
