// The dependency direction of shared/DESIGN.md, checked rather than hoped for: patterns/ is
// plain code bundled into isolates, engine/ sees the Store port but no backend, store/ knows
// nothing above it, and only cli/ and server/ wire parts together.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { expect } from './support/chai.js';

const root = process.cwd();

function sources(folder: string): string[] {
  const dir = join(root, folder);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(relative(root, path));
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every module specifier a file imports or re-exports, statically or dynamically. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers: string[] = [];
  for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm)) {
    specifiers.push((m[1] ?? m[2] ?? m[3])!);
  }
  return specifiers;
}

function violations(folder: string, allowed: (specifier: string, target: string | undefined) => boolean): string[] {
  const found: string[] = [];
  for (const file of sources(folder)) {
    for (const spec of importsOf(file)) {
      const target = spec.startsWith('.') ? relative(root, resolve(dirname(file), spec)) : undefined;
      if (!allowed(spec, target)) found.push(`${relative(root, file)} imports ${spec}`);
    }
  }
  return found;
}

describe('dependency direction', () => {
  it('patterns/ imports nothing of ours outside patterns/ and no Node API', () => {
    expect(violations('patterns', (spec, target) => (target ? target.startsWith('patterns') : spec === 'luxon'))).to.deep.equal([]);
  });

  it('store/ imports nothing from engine/, patterns/, server/ or cli/', () => {
    expect(violations('store', (_spec, target) => !target || target.startsWith('store'))).to.deep.equal([]);
  });

  it('engine/ uses the Store port, never a concrete backend, the server or the CLI', () => {
    const backend = /^store\/(log|redis|memory)\/|^store\/(open-store|index)\.js$/;
    expect(
      violations('engine', (_spec, target) => !target || ((target.startsWith('engine') || target.startsWith('store') || target.startsWith('patterns')) && !backend.test(target))),
    ).to.deep.equal([]);
  });

  it('server/ never imports the CLI', () => {
    expect(violations('server', (_spec, target) => !target || !target.startsWith('cli'))).to.deep.equal([]);
  });
});
