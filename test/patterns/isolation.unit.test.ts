// patterns/ is bundled into projection isolates: it must be plain, deterministic JavaScript.
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { buildSync } from 'esbuild';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = join(root, 'patterns');

describe('patterns/ isolation', () => {
  const sources = readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => [f, readFileSync(join(dir, f), 'utf8')] as const);
  it('imports only its own files and luxon', () => {
    for (const [file, text] of sources) {
      for (const m of text.matchAll(/from '([^']+)'/g)) expect(m[1], file).to.match(/^(\.\/[\w]+\.js|luxon)$/);
    }
  });
  it('reads no clock, no randomness, no timers', () => {
    for (const [file, text] of sources) {
      expect(text, file).not.to.match(/Date\.now|new Date\(\)|Math\.random|setTimeout|setInterval|performance\.|process\./);
    }
  });
  it('bundles for a neutral platform (no Node built-ins)', () => {
    const out = buildSync({ entryPoints: [join(dir, 'index.ts')], bundle: true, platform: 'neutral', format: 'esm', write: false, mainFields: ['module', 'main'] });
    expect(out.errors).to.deep.equal([]);
    expect(out.outputFiles[0]?.text.length).to.be.greaterThan(10_000);
  });
});
