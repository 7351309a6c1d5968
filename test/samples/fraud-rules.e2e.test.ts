// Every fraud sample rule passes its fixtures through the built `telltale test`, as a rule
// author's CI runs them: a positive case, a negative one, the edge of the window and events out of
// order, each a given.jsonl and the alerts it must raise (expect.jsonl, empty when none).
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { expect } from '../support/chai.js';
import { telltale } from '../cli/cli-process.js';
import { fixtureCases, ruleFiles } from './fixture-cases.js';

const REQUIRED_CASES = ['positive', 'negative', 'window-edge', 'out-of-order'];

describe('samples/fraud rules through telltale test', function () {
  this.timeout(60_000);
  const cases = fixtureCases('fraud');

  it('has the four fixture cases for every rule', () => {
    const rules = ruleFiles('fraud').map((f) => basename(f, '.js'));
    expect(rules).to.have.length(14);
    for (const rule of rules) {
      const names = cases.filter((c) => c.rule === rule).map((c) => c.name);
      expect(names, rule).to.include.members(REQUIRED_CASES);
    }
  });

  for (const c of cases) {
    it(`${c.rule}: ${c.name}`, async () => {
      expect(existsSync(c.given) && existsSync(c.expect), `${c.given} and ${c.expect}`).to.equal(true);
      const r = await telltale(['test', c.ruleFile, '--given', c.given, '--expect', c.expect]);
      expect(r.code, `${r.stdout}\n${r.stderr}`).to.equal(0);
      expect(r.stdout).to.include('PASS');
    });
  }
});
