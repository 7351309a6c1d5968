#!/usr/bin/env node
// Runs the compiled mocha suites by tier (unit, int, e2e; all three when none is named) and ends
// with one plain summary line, "tests: N passed, N failed, N skipped", that CI reads.
// It exits non-zero when a test fails or when no test ran at all.
// isolated-vm needs --no-node-snapshot on Node 20, so the suites run in a child node that has it.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const allTiers = ['unit', 'int', 'e2e'];
const args = process.argv.slice(2);
const tiers = args.filter((a) => allTiers.includes(a));
const grep = args.find((a) => !allTiers.includes(a));
const wanted = tiers.length > 0 ? tiers : allTiers;

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

const testRoot = join(root, 'dist', 'test');
const files = walk(testRoot)
  .filter((f) => wanted.some((t) => f.endsWith(`.${t}.test.js`)))
  .filter((f) => !grep || relative(testRoot, f).includes(grep))
  .sort((a, b) => wanted.indexOf(a.split('.').at(-3)) - wanted.indexOf(b.split('.').at(-3)) || a.localeCompare(b));

if (files.length === 0) {
  console.error(`no test files for tiers ${wanted.join(', ')}${grep ? ` matching ${grep}` : ''}; did the build run?`);
  console.log('tests: 0 passed, 0 failed');
  process.exit(1);
}

const child = spawnSync(
  process.execPath,
  ['--no-node-snapshot', '--enable-source-maps', join(root, 'scripts', 'mocha-run.js'), ...files],
  { stdio: 'inherit', cwd: root, env: process.env },
);
process.exit(child.status ?? 1);
