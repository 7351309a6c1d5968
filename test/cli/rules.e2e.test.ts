// Rule authors' loop: `telltale test` a rule against recorded events (virtual clock, no server),
// then deploy it and watch it, or run a one-time `query`. Faults name the file, line and column
// and the event being handled.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from '../support/chai.js';
import { startServer, telltale, tempDir } from './cli-process.js';

const jsonl = (items: object[]) => items.map((i) => JSON.stringify(i)).join('\n') + '\n';

const BIG_CHARGE = `// Counts charges per card; a charge over 100 raises an alert.
fromAll()
  .partitionBy(function (e) { return e.data.card; })
  .when({
    $init: function () { return { count: 0, total: 0 }; },
    Charge: function (s, e) {
      s.count += 1;
      s.total += e.data.amount;
      if (e.data.amount > 100) emit('alerts-' + e.data.card, 'BigCharge', { card: e.data.card, amount: e.data.amount });
    }
  });
`;

const THROWS = `fromAll().when({
  Charge: function (s, e) {
    if (e.data.amount > 100) {
      throw new Error('amount too big: ' + e.data.amount);
    }
    return s;
  }
});
`;

const COUNTER = `fromAll().when({
  $init: function () { return { count: 0 }; },
  Charge: function (s) { s.count += 1; return s; }
});
`;

const GIVEN = [
  { streamId: 'card-1', type: 'Charge', data: { card: '1', amount: 3 }, created: '2026-01-01T10:00:00Z' },
  { streamId: 'card-1', type: 'Charge', data: { card: '1', amount: 500 }, created: '2026-01-01T10:01:00Z' },
  { streamId: 'card-2', type: 'Charge', data: { card: '2', amount: 7 }, created: '2026-01-01T10:02:00Z' },
];

describe('rules: test, deploy, query', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const file = (name: string) => join(dir.path, name);
  before(async () => {
    dir = await tempDir();
    await writeFile(file('big-charge.js'), BIG_CHARGE);
    await writeFile(file('throws.js'), THROWS);
    await writeFile(file('counter.js'), COUNTER);
    await writeFile(file('syntax.js'), 'fromAll().when({\n  Charge: function (s, e) {\n    return s +* 1;\n  }\n});\n');
    await writeFile(file('given.jsonl'), jsonl(GIVEN));
    await writeFile(
      file('expected.jsonl'),
      jsonl([
        { streamId: 'alerts-1', type: 'BigCharge', data: { card: '1', amount: 500 } },
        { partition: '1', state: { count: 2, total: 503 } },
        { partition: '2', state: { total: 7, count: 1 } },
      ]),
    );
    await writeFile(
      file('wrong.jsonl'),
      jsonl([
        { streamId: 'alerts-1', type: 'BigCharge', data: { card: '1', amount: 400 } },
        { partition: '1', state: { count: 2, total: 503 } },
      ]),
    );
  });
  after(async () => dir.remove());

  describe('telltale test', () => {
    it('prints what the rule emitted and its final states, and PASS when they match the expectation', async () => {
      const r = await telltale(['test', file('big-charge.js'), '--given', file('given.jsonl'), '--expect', file('expected.jsonl')]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.include('3 events in, 1 emitted');
      expect(r.stdout).to.include('emit alerts-1 BigCharge {"card":"1","amount":500}');
      expect(r.stdout).to.include('state[1] {"count":2,"total":503}');
      expect(r.stdout).to.include('PASS');
    });

    it('exits 1 with a readable diff (- expected, + actual) when the rule does something else', async () => {
      const r = await telltale(['test', file('big-charge.js'), '--given', file('given.jsonl'), '--expect', file('wrong.jsonl')]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.include('FAIL');
      expect(r.stderr).to.include('- emit {"data":{"amount":400,"card":"1"},"streamId":"alerts-1","type":"BigCharge"}');
      expect(r.stderr).to.include('+ emit {"data":{"amount":500,"card":"1"},"streamId":"alerts-1","type":"BigCharge"}');
      expect(r.stderr).to.include('  state[1] {"count":2,"total":503}');
    });

    it('gives the run and the verdict as JSON with --json', async () => {
      const r = await telltale(['test', file('big-charge.js'), '--given', file('given.jsonl'), '--expect', file('wrong.jsonl'), '--json']);
      expect(r.code).to.equal(1);
      const out = JSON.parse(r.stdout) as { pass: boolean; emitted: { streamId: string; metadata: Record<string, unknown> }[]; states: { partition: string }[]; diff: string };
      expect(out.pass).to.equal(false);
      expect(out.emitted.map((e) => e.streamId)).to.deep.equal(['alerts-1']);
      expect(out.emitted[0]!.metadata).to.have.property('$causationId');
      expect(out.states.map((s) => s.partition)).to.include.members(['1', '2']);
      expect(out.diff).to.include('+ emit');
    });

    it('names the file, line and column of a throw and the given event that caused it', async () => {
      const r = await telltale(['test', file('throws.js'), '--given', file('given.jsonl')]);
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).to.include(`${file('throws.js')}:4:`);
      expect(r.stderr).to.include('amount too big: 500');
      expect(r.stderr).to.include(`${file('given.jsonl')}:2`);
    });

    it('names the file, line and column of a syntax error, with the line and a caret', async () => {
      const r = await telltale(['test', file('syntax.js'), '--given', file('given.jsonl')]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.include(`${file('syntax.js')}:3:15: SyntaxError`);
      expect(r.stderr).to.include('return s +* 1;');
      expect(r.stderr).to.match(/\n\s+\^/);
    });

    it('reports a missing rule file, a missing --given file and a malformed given line', async () => {
      const noRule = await telltale(['test', file('nope.js'), '--given', file('given.jsonl')]);
      expect(noRule.code).to.equal(1);
      expect(noRule.stderr).to.include('does not exist');
      const noGiven = await telltale(['test', file('counter.js'), '--given', file('nope.jsonl')]);
      expect(noGiven.code).to.equal(1);
      expect(noGiven.stderr).to.include('does not exist');
      await writeFile(file('bad-given.jsonl'), `${JSON.stringify(GIVEN[0])}\n{"streamId":\n`);
      const bad = await telltale(['test', file('counter.js'), '--given', file('bad-given.jsonl')]);
      expect(bad.code).to.equal(1);
      expect(bad.stderr).to.include(`${file('bad-given.jsonl')}:2: not valid JSON`);
      const missingFlag = await telltale(['test', file('counter.js')]);
      expect(missingFlag.code).to.equal(2);
    });
  });

  describe('projections on a data directory (--db)', () => {
    let db: string;
    before(async () => {
      db = file('data');
      const r = await telltale(['import', file('given.jsonl'), '--db', db]);
      expect(r.code, r.stderr).to.equal(0);
    });

    it('deploys a rule, which then processes the log; list, status, state and result show it', async () => {
      const deploy = await telltale(['projection', 'deploy', file('counter.js'), '--enable', '--db', db, '--json']);
      expect(deploy.code, deploy.stderr).to.equal(0);
      expect(JSON.parse(deploy.stdout)).to.include({ name: 'counter', created: true, enabled: true });
      const list = await telltale(['projection', 'list', '--db', db, '--json']);
      expect((JSON.parse(list.stdout) as { name: string }[]).map((p) => p.name)).to.include('counter');
      const table = await telltale(['projection', 'list', '--db', db]);
      expect(table.stdout).to.match(/counter\s+Running\s+continuous/);
      const status = await telltale(['projection', 'status', 'counter', '--db', db, '--json']);
      expect(JSON.parse(status.stdout)).to.include({ name: 'counter', status: 'Running', eventsProcessed: 3 });
      const state = await telltale(['projection', 'state', 'counter', '--db', db, '--json']);
      expect(JSON.parse(state.stdout)).to.deep.equal({ count: 3 });
      await telltale(['append', 'card-3', '--type', 'Charge', '--data', '{"card":"3","amount":1}', '--db', db]);
      const result = await telltale(['projection', 'result', 'counter', '--db', db, '--json']);
      expect(JSON.parse(result.stdout)).to.deep.equal({ count: 4 });
    });

    it('redeploys an existing name as an update, and disables, resets and deletes it', async () => {
      const again = await telltale(['projection', 'deploy', file('counter.js'), '--db', db]);
      expect(again.code, again.stderr).to.equal(0);
      expect(again.stdout).to.include('Updated');
      for (const verb of ['disable', 'reset', 'delete']) {
        const r = await telltale(['projection', verb, 'counter', '--db', db]);
        expect(r.code, `${verb}: ${r.stderr}`).to.equal(0);
      }
      const gone = await telltale(['projection', 'status', 'counter', '--db', db]);
      expect(gone.code).to.equal(1);
      expect(gone.stderr).to.include('not found');
    });

    it('refuses to deploy a file with a syntax error, naming its line and column', async () => {
      const r = await telltale(['projection', 'deploy', file('syntax.js'), '--db', db]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.include(`${file('syntax.js')}:3:15`);
    });

    it('runs a one-time query over history and prints its result', async () => {
      const r = await telltale(['query', file('counter.js'), '--db', db, '--json']);
      expect(r.code, r.stderr).to.equal(0);
      expect(JSON.parse(r.stdout)).to.deep.equal({ count: 4 });
    });

    it('reports a query that throws with its file, line and the event position', async () => {
      const r = await telltale(['query', file('throws.js'), '--db', db]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.match(new RegExp(`${file('throws.js').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:\\d+: amount too big: 500 \\(while handling the event at position \\d+\\)`));
    });
  });

  describe('projections against a server', () => {
    let server: Awaited<ReturnType<typeof startServer>>;
    before(async () => {
      server = await startServer(['--db', file('served')]);
    });
    after(async () => server?.stop());

    it('deploys a rule through the server, which runs it; list, status and state show it', async () => {
      const imported = await telltale(['import', file('given.jsonl'), '--server', server.url]);
      expect(imported.code, imported.stderr).to.equal(0);
      const deploy = await telltale(['projection', 'deploy', file('counter.js'), '--enable', '--server', server.url]);
      expect(deploy.code, deploy.stderr).to.equal(0);
      expect(deploy.stdout).to.include('Deployed continuous projection counter');
      const list = await telltale(['projection', 'list', '--server', server.url, '--json']);
      expect(list.code, list.stderr).to.equal(0);
      expect((JSON.parse(list.stdout) as { name: string }[]).map((p) => p.name)).to.include('counter');
      let state: unknown;
      for (let i = 0; i < 50; i++) {
        state = JSON.parse((await telltale(['projection', 'state', 'counter', '--server', server.url, '--json'])).stdout);
        if ((state as { count?: number } | null)?.count === 3) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(state).to.deep.equal({ count: 3 });
      const status = await telltale(['projection', 'status', 'counter', '--server', server.url, '--json']);
      expect(JSON.parse(status.stdout)).to.include({ name: 'counter', status: 'Running' });
      for (const verb of ['disable', 'reset', 'delete']) {
        const r = await telltale(['projection', verb, 'counter', '--server', server.url]);
        expect(r.code, `${verb}: ${r.stderr}`).to.equal(0);
      }
      const gone = await telltale(['projection', 'status', 'counter', '--server', server.url]);
      expect(gone.code).to.equal(1);
      expect(gone.stderr).to.include("No projection named 'counter'");
    });

    it('runs a query through the server, and names the line of a query that throws', async () => {
      const r = await telltale(['query', file('counter.js'), '--server', server.url, '--json']);
      expect(r.code, r.stderr).to.equal(0);
      expect(JSON.parse(r.stdout)).to.deep.equal({ count: 3 });
      const bad = await telltale(['query', file('throws.js'), '--server', server.url]);
      expect(bad.code).to.equal(1);
      expect(bad.stderr).to.include(`${file('throws.js')}:4:`);
      expect(bad.stderr).to.include('amount too big: 500');
    });
  });
});
