#!/usr/bin/env node
// Bundles the CEP library (patterns/index.ts) into one plain script that every projection isolate
// evaluates before the user's code (engine/projections/sandbox.ts). The isolate has no module
// loader and no Node APIs, so the library becomes an IIFE that sets the global `telltale`; the
// prelude then also exposes each export as a global of its own. Run by `npm run build`.
import { build } from 'esbuild';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = join(root, 'patterns', 'index.ts');
const outfile = join(root, 'dist', 'engine', 'patterns.bundle.js');
mkdirSync(dirname(outfile), { recursive: true });

if (!existsSync(entry)) {
  // Without the library the isolate still runs projections; `telltale` is then an empty object.
  writeFileSync(outfile, 'var telltale = {};\n');
  console.error(`build-isolate-bundle: ${entry} not found; wrote an empty library`);
} else {
  await build({
    entryPoints: [entry],
    bundle: true,
    format: 'iife',
    globalName: 'telltale',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: 'es2022',
    outfile,
    legalComments: 'none',
    logLevel: 'warning',
  });
}
