// export writes JSON Lines, import reads them back: ids and revisions kept, so importing the same
// file again writes nothing; a malformed line stops the import before anything is written.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from '../support/chai.js';
import { jsonLines, startServer, telltale, tempDir } from './cli-process.js';

const lines = (events: object[]) => events.map((e) => JSON.stringify(e)).join('\n') + '\n';

describe('import and export', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let source: string;
  before(async () => {
    dir = await tempDir();
    source = join(dir.path, 'source');
    for (let i = 0; i < 3; i++) {
      const r = await telltale(['append', `order-${i % 2}`, '--type', 'OrderPlaced', '--data', JSON.stringify({ n: i }), '--metadata', '{"$correlationId":"c-1"}', '--db', source]);
      expect(r.code, r.stderr).to.equal(0);
    }
  });
  after(async () => dir.remove());

  it("exports '$all' as one event a line, in the documented shape, with nothing else on stdout", async () => {
    const r = await telltale(['export', '$all', '--db', source]);
    expect(r.code, r.stderr).to.equal(0);
    const events = jsonLines(r.stdout);
    expect(events.map((e) => `${e.revision}@${e.streamId}`)).to.deep.equal(['0@order-0', '0@order-1', '1@order-0']);
    const [first] = events;
    expect(Object.keys(first!)).to.deep.equal(['streamId', 'id', 'type', 'data', 'metadata', 'revision', 'position', 'created']);
    expect(first).to.deep.include({ type: 'OrderPlaced', data: { n: 0 }, metadata: { $correlationId: 'c-1' } });
    // piped: no progress bar, no summary
    expect(r.stderr).to.equal('');
  });

  it('exports one stream to a file with --output, and says so with --json', async () => {
    const file = join(dir.path, 'order-0.jsonl');
    const r = await telltale(['export', 'order-0', '--output', file, '--json', '--db', source]);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout)).to.include({ stream: 'order-0', events: 2, output: file });
    expect(jsonLines(await readFile(file, 'utf8')).map((e) => e.revision)).to.deep.equal([0, 1]);
  });

  it('imports an export into another directory with the same ids, and a second import writes nothing', async () => {
    const file = join(dir.path, 'all.jsonl');
    await writeFile(file, (await telltale(['export', '$all', '--db', source])).stdout);
    const target = join(dir.path, 'target');
    const first = await telltale(['import', file, '--db', target, '--json']);
    expect(first.code, first.stderr).to.equal(0);
    expect(JSON.parse(first.stdout)).to.include({ events: 3, streams: 2, written: 3, alreadyPresent: 0 });
    const again = await telltale(['import', file, '--db', target, '--json']);
    expect(again.code, again.stderr).to.equal(0);
    expect(JSON.parse(again.stdout)).to.include({ written: 0, alreadyPresent: 3 });
    const copy = jsonLines((await telltale(['export', '$all', '--db', target])).stdout);
    const original = jsonLines(await readFile(file, 'utf8'));
    expect(copy.map((e) => [e.streamId, e.id, e.type, e.revision, e.data, e.metadata])).to.deep.equal(original.map((e) => [e.streamId, e.id, e.type, e.revision, e.data, e.metadata]));
  });

  it('imports from standard input with -', async () => {
    const input = lines([{ streamId: 'piped-1', type: 'A', data: { x: 1 } }, { streamId: 'piped-1', type: 'B' }]);
    const target = join(dir.path, 'stdin-target');
    const r = await telltale(['import', '-', '--db', target], { input });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('Imported 2 events into 1 streams from <stdin>');
    // Lines without ids get ids from their place and text: the same input again writes nothing.
    const again = await telltale(['import', '-', '--db', target, '--json'], { input });
    expect(JSON.parse(again.stdout)).to.include({ written: 0, alreadyPresent: 2 });
  });

  it('names every malformed line with its number and writes nothing at all', async () => {
    const file = join(dir.path, 'bad.jsonl');
    await writeFile(file, `${JSON.stringify({ streamId: 'ok-1', type: 'A', data: {} })}\n{"streamId": "ok-1", "type":\n\n${JSON.stringify({ streamId: 'ok-1' })}\n${JSON.stringify({ streamId: 'ok-1', type: 'A', id: 'nope' })}\n`);
    const target = join(dir.path, 'bad-target');
    const r = await telltale(['import', file, '--db', target]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('3 malformed lines; nothing was imported');
    expect(r.stderr).to.include(`${file}:2: not valid JSON`);
    expect(r.stderr).to.include(`${file}:4: "type" is missing`);
    expect(r.stderr).to.include(`${file}:5: "id" must be a UUID`);
    const read = await telltale(['read', 'ok-1', '--db', target]);
    expect(read.code).to.equal(1);
    expect(read.stderr).to.include('not found');
  });

  it('reports a missing file (exit 1) and a malformed line as JSON with --json', async () => {
    const missing = await telltale(['import', join(dir.path, 'nope.jsonl'), '--db', join(dir.path, 'x')]);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.include('does not exist');
    const file = join(dir.path, 'bad2.jsonl');
    await writeFile(file, '[1,2]\n');
    const r = await telltale(['import', file, '--db', join(dir.path, 'x'), '--json']);
    expect(r.code).to.equal(1);
    const error = JSON.parse(r.stderr) as { error: { code: string; message: string } };
    expect(error.error.code).to.equal('invalid-argument');
    expect(error.error.message).to.include(`${file}:1: expected a JSON object`);
  });

  it('refuses to import over different events at the same revisions, and says how to append instead', async () => {
    const file = join(dir.path, 'order-0.jsonl');
    const other = join(dir.path, 'other');
    await telltale(['append', 'order-0', '--type', 'Unrelated', '--data', '{}', '--db', other]);
    const r = await telltale(['import', file, '--db', other]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include(':1: ');
    expect(r.stderr).to.include('--no-revisions');
    const appended = await telltale(['import', file, '--db', other, '--no-revisions', '--json']);
    expect(appended.code, appended.stderr).to.equal(0);
    expect(JSON.parse(appended.stdout)).to.include({ written: 2 });
  });

  describe('through a server', () => {
    let server: Awaited<ReturnType<typeof startServer>>;
    before(async () => {
      server = await startServer(['--db', join(dir.path, 'served')]);
    });
    after(async () => server?.stop());

    it('imports a file and exports the same events back; a second import changes nothing', async () => {
      const file = join(dir.path, 'all.jsonl');
      const first = await telltale(['import', file, '--server', server.url, '--json']);
      expect(first.code, first.stderr).to.equal(0);
      expect(JSON.parse(first.stdout)).to.include({ events: 3, accepted: 3 });
      expect((await telltale(['import', file, '--server', server.url])).code).to.equal(0);
      const exported = jsonLines((await telltale(['export', '$all', '--server', server.url])).stdout);
      const original = jsonLines(await readFile(file, 'utf8'));
      expect(exported.map((e) => [e.streamId, e.id, e.revision, e.data])).to.deep.equal(original.map((e) => [e.streamId, e.id, e.revision, e.data]));
    });
  });
});
