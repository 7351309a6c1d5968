// The fixtures of a sample area: samples/<area>/<rule>.js with
// samples/<area>/fixtures/<rule>/<case>/{given,expect}.jsonl, one case per folder.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { repoRoot } from '../cli/cli-process.js';

export interface FixtureCase {
  readonly rule: string;
  readonly ruleFile: string;
  readonly name: string;
  readonly given: string;
  readonly expect: string;
}

/** Every rule file of the area (its .js files at the top level). */
export function ruleFiles(area: string): string[] {
  const dir = join(repoRoot, 'samples', area);
  return readdirSync(dir).filter((f) => f.endsWith('.js')).sort().map((f) => join(dir, f));
}

export function fixtureCases(area: string): FixtureCase[] {
  const cases: FixtureCase[] = [];
  for (const ruleFile of ruleFiles(area)) {
    const rule = basename(ruleFile, '.js');
    const dir = join(repoRoot, 'samples', area, 'fixtures', rule);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      const caseDir = join(dir, name);
      if (!statSync(caseDir).isDirectory()) continue;
      cases.push({ rule, ruleFile, name, given: join(caseDir, 'given.jsonl'), expect: join(caseDir, 'expect.jsonl') });
    }
  }
  return cases;
}
