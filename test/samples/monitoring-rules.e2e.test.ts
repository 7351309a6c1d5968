// The monitoring samples (Event Store's TemperatureMeasured example) pass their fixtures through
// the built `telltale test`: per-zone and per-server link streams, per-zone statistics, a zone
// running hot for five minutes and a server that stops reporting.
import { basename } from 'node:path';
import { expect } from '../support/chai.js';
import { telltale } from '../cli/cli-process.js';
import { fixtureCases, ruleFiles } from './fixture-cases.js';

describe('samples/monitoring rules through telltale test', function () {
  this.timeout(60_000);
  const cases = fixtureCases('monitoring');

  it('has positive, negative and out-of-order cases for every rule, and a window-edge case for the timed ones', () => {
    for (const rule of ruleFiles('monitoring').map((f) => basename(f, '.js'))) {
      const names = cases.filter((c) => c.rule === rule).map((c) => c.name);
      expect(names, rule).to.include.members(['positive', 'negative', 'out-of-order']);
      if (!rule.startsWith('temperatures-by-')) expect(names, rule).to.include('window-edge');
    }
  });

  for (const c of cases) {
    it(`${c.rule}: ${c.name}`, async () => {
      const r = await telltale(['test', c.ruleFile, '--given', c.given, '--expect', c.expect]);
      expect(r.code, `${r.stdout}\n${r.stderr}`).to.equal(0);
      expect(r.stdout).to.include('PASS');
    });
  }
});
