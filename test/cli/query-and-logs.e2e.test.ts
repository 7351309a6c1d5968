// `telltale query FILE --from …` (a $all position or a time) and `telltale projection logs NAME`
// (log() lines and faults, --json, --follow), on a data directory and through a server, as a user
// runs them.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from '../support/chai.js';
import { jsonLines, start, startServer, telltale, tempDir } from './cli-process.js';

const COLLECT = `fromAll().when({
  $init: function () { return { seen: [] }; },
  Charge: function (s, e) { s.seen.push(e.data.amount); return s; }
});
`;

const COLLECT_CARD_1 = `fromStream('card-1').when({
  $init: function () { return { seen: [] }; },
  Charge: function (s, e) { s.seen.push(e.data.amount); return s; }
});
`;

const CHATTY = `fromStream('chat').when({
  Said: function (s, e) { log('said', e.data.n); },
  Boom: function (s, e) {
    throw new Error('boom at ' + e.data.n);
  }
});
`;

interface Charge {
  readonly position: number;
  readonly created: string;
  readonly amount: number;
}

describe('query --from and projection logs', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const file = (name: string) => join(dir.path, name);
  before(async () => {
    dir = await tempDir();
    await writeFile(file('collect.js'), COLLECT);
    await writeFile(file('collect-card-1.js'), COLLECT_CARD_1);
    await writeFile(file('chatty.js'), CHATTY);
  });
  after(async () => dir.remove());

  /** Appends charges of 1, 2 and 3 to card-1, card-2, card-1 and answers them as `read '$all'` prints them. */
  const charges = async (target: string[]): Promise<Charge[]> => {
    for (const [card, amount] of [['1', 1], ['2', 2], ['1', 3]] as const) {
      const r = await telltale(['append', `card-${card}`, '--type', 'Charge', '--data', JSON.stringify({ amount }), ...target]);
      expect(r.code, r.stderr).to.equal(0);
    }
    const read = await telltale(['read', '$all', '--json', ...target]);
    expect(read.code, read.stderr).to.equal(0);
    return jsonLines(read.stdout)
      .filter((e) => e.type === 'Charge')
      .map((e) => ({ position: e.position as number, created: e.created as string, amount: (e.data as { amount: number }).amount }));
  };

  const query = async (script: string, from: string, target: string[]): Promise<unknown> => {
    const r = await telltale(['query', file(script), '--from', from, '--json', ...target]);
    expect(r.code, r.stderr).to.equal(0);
    return JSON.parse(r.stdout);
  };

  /** The query's expectations, the same whether it runs here or on a server. */
  const itStartsWhereAsked = (target: () => string[], given: () => Charge[]) => {
    it('starts at a $all position, the event there included', async () => {
      const [first, second] = given();
      expect(await query('collect.js', String(second!.position), target())).to.deep.equal({ seen: [2, 3] });
      expect(await query('collect.js', String(first!.position), target())).to.deep.equal({ seen: [1, 2, 3] });
      expect(await query('collect.js', 'start', target())).to.deep.equal({ seen: [1, 2, 3] });
    });

    it('starts at the first event stored at or after an ISO 8601 time', async () => {
      const third = given()[2]!;
      const expected = given().filter((c) => c.created >= third.created).map((c) => c.amount);
      expect(await query('collect.js', third.created, target())).to.deep.equal({ seen: expected });
      expect(await query('collect.js', '2000-01-01', target())).to.deep.equal({ seen: [1, 2, 3] });
      expect(await query('collect.js', '2999-01-01T00:00:00+02:00', target())).to.deep.equal({ seen: [] });
    });

    it('starts a fromStream query at the first event of its stream at or after the position', async () => {
      const second = given()[1]!;
      expect(await query('collect-card-1.js', String(second.position), target())).to.deep.equal({ seen: [3] });
    });
  };

  describe('on a data directory (--db)', () => {
    let db: string;
    let given: Charge[];
    before(async () => {
      db = file('data');
      given = await charges(['--db', db]);
    });

    itStartsWhereAsked(() => ['--db', db], () => given);

    it('refuses a --from that is neither a position nor a time: usage error, exit 2', async () => {
      for (const from of ['yesterday', '-5', '2026-02-30', 'end']) {
        const r = await telltale(['query', file('collect.js'), '--from', from, '--db', db]);
        expect(r.code, `${from}: ${r.stderr}`).to.equal(2);
        expect(r.stderr, from).to.include("option '--from <position|time>' argument");
        expect(r.stderr, from).to.include('expected start, a $all position (e.g. 1024');
      }
      const json = await telltale(['query', file('collect.js'), '--from', 'soon', '--db', db, '--json']);
      expect(json.code).to.equal(2);
      expect(JSON.parse(json.stderr)).to.nested.include({ 'error.code': 'usage' });
    });

    it('shows what the projection logged and its fault while this command runs it', async () => {
      for (const [type, n] of [['Said', 1], ['Boom', 2]] as const) {
        await telltale(['append', 'chat', '--type', type, '--data', JSON.stringify({ n }), '--db', db]);
      }
      const deploy = await telltale(['projection', 'deploy', file('chatty.js'), '--enable', '--db', db]);
      expect(deploy.code, deploy.stderr).to.equal(0);
      const r = await telltale(['projection', 'logs', 'chatty', '--db', db, '--json']);
      expect(r.code, r.stderr).to.equal(0);
      expect(jsonLines(r.stdout).map((l) => [l.kind, l.message])).to.deep.equal([['log', 'said 1'], ['fault', 'boom at 2']]);
    });
  });

  describe('through a server (--server)', () => {
    let server: Awaited<ReturnType<typeof startServer>>;
    let target: string[];
    let given: Charge[];
    before(async () => {
      server = await startServer(['--db', file('served')]);
      target = ['--server', server.url];
      given = await charges(target);
    });
    after(async () => server?.stop());

    itStartsWhereAsked(() => target, () => given);

    it('shows what the projection logged and the fault that stopped it, with times, line and position', async () => {
      await telltale(['append', 'chat', '--type', 'Said', '--data', '{"n":1}', ...target]);
      const deploy = await telltale(['projection', 'deploy', file('chatty.js'), '--enable', ...target]);
      expect(deploy.code, deploy.stderr).to.equal(0);
      await telltale(['append', 'chat', '--type', 'Boom', '--data', '{"n":2}', ...target]);
      let lines: Record<string, unknown>[] = [];
      for (let i = 0; i < 100 && !lines.some((l) => l.kind === 'fault'); i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100));
        const r = await telltale(['projection', 'logs', 'chatty', '--json', ...target]);
        expect(r.code, r.stderr).to.equal(0);
        lines = jsonLines(r.stdout);
      }
      expect(lines.map((l) => [l.seq, l.kind, l.message])).to.deep.equal([[1, 'log', 'said 1'], [2, 'fault', 'boom at 2']]);
      const status = JSON.parse((await telltale(['projection', 'status', 'chatty', '--json', ...target])).stdout) as { lastError: { position: string } };
      expect(lines[1]).to.include({ line: 4, position: status.lastError.position });
      const human = await telltale(['projection', 'logs', 'chatty', ...target]);
      expect(human.stdout).to.match(/^\d{4}-\d{2}-\d{2}T[\d:.]+Z {2}log {4}said 1$/m);
      expect(human.stdout).to.match(/^\d{4}-\d{2}-\d{2}T[\d:.]+Z {2}FAULT {2}boom at 2 \(line 4:\d+, at position \d+\)$/m);
      const missing = await telltale(['projection', 'logs', 'nope', ...target]);
      expect(missing.code).to.equal(1);
      expect(missing.stderr).to.include("No projection named 'nope'");
    });

    it('follows the log with --follow until Ctrl-C', async () => {
      await writeFile(file('follower.js'), `fromStream('talk').when({ Said: function (s, e) { log('heard', e.data.n); } });\n`);
      const deploy = await telltale(['projection', 'deploy', file('follower.js'), '--enable', ...target]);
      expect(deploy.code, deploy.stderr).to.equal(0);
      await telltale(['append', 'talk', '--type', 'Said', '--data', '{"n":1}', ...target]);
      const following = start(['projection', 'logs', 'follower', '--follow', '--json', ...target]);
      try {
        // What is there already, then what comes while it follows.
        await following.waitFor(/"message":"heard 1"/);
        await telltale(['append', 'talk', '--type', 'Said', '--data', '{"n":2}', ...target]);
        await following.waitFor(/"message":"heard 2"/);
        expect(jsonLines(following.stdout()).map((l) => [l.seq, l.message])).to.deep.equal([[1, 'heard 1'], [2, 'heard 2']]);
      } finally {
        expect(await following.stop('SIGINT')).to.equal(0);
      }
    });
  });
});
