// The sample rules pass their own fixtures through `telltale test`, as a rule author's CI runs
// them: samples/<area>/<rule>.js with samples/<area>/fixtures/<rule>/<case>/{given,expect}.jsonl.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from '../support/chai.js';
import { repoRoot, telltale } from './cli-process.js';

interface Case {
  readonly rule: string;
  readonly dir: string;
}

function sampleCases(): Case[] {
  const samples = join(repoRoot, 'samples');
  if (!existsSync(samples)) return [];
  const cases: Case[] = [];
  for (const area of readdirSync(samples)) {
    const fixtures = join(samples, area, 'fixtures');
    if (!existsSync(fixtures)) continue;
    for (const rule of readdirSync(fixtures)) {
      const file = join(samples, area, `${rule}.js`);
      if (!existsSync(file)) continue;
      for (const name of readdirSync(join(fixtures, rule))) {
        const dir = join(fixtures, rule, name);
        if (statSync(dir).isDirectory() && existsSync(join(dir, 'given.jsonl')) && existsSync(join(dir, 'expect.jsonl'))) cases.push({ rule: file, dir });
      }
    }
  }
  return cases;
}

describe('sample rules through telltale test', () => {
  for (const c of sampleCases()) {
    it(`${c.rule.slice(repoRoot.length + 1)}: ${c.dir.split('/').slice(-1)[0]}`, async () => {
      const r = await telltale(['test', c.rule, '--given', join(c.dir, 'given.jsonl'), '--expect', join(c.dir, 'expect.jsonl')]);
      expect(r.code, `${r.stdout}\n${r.stderr}`).to.equal(0);
      expect(r.stdout).to.include('PASS');
    });
  }
});
