// append, read, tail, delete, meta and streams, as a user runs them: straight on a data directory
// (--db) and against a running server (--server), with the same results either way.
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KeyLayout } from '../../store/redis/key-layout.js';
import { expect } from '../support/chai.js';
import { requireService } from '../support/services.js';
import { jsonLines, start, startServer, telltale, tempDir } from './cli-process.js';

interface Target {
  readonly name: string;
  /** The flags that point a command at this target. */
  flags(): string[];
}

function describeStreamCommands(target: Target): void {
  const run = (...args: string[]) => telltale([...args, ...target.flags()]);

  it('appends an event and prints its revision; --json gives revision and id', async () => {
    const first = await run('append', 'orders-1', '--type', 'OrderPlaced', '--data', '{"total":25}');
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.match(/Appended OrderPlaced [0-9a-f-]{36} to orders-1 as revision 0/);
    const second = await run('append', 'orders-1', '--type', 'OrderPaid', '--data', '{"total":25}', '--expected-revision', '0', '--json');
    expect(second.code, second.stderr).to.equal(0);
    const result = JSON.parse(second.stdout) as Record<string, unknown>;
    expect(result).to.include({ streamId: 'orders-1', revision: 1, nextExpectedRevision: 1 });
    expect(result.id).to.match(/^[0-9a-f-]{36}$/);
  });

  it('reads data and metadata given as @file, and keeps a given --id', async () => {
    const dir = await tempDir();
    try {
      await writeFile(join(dir.path, 'data.json'), '{"amount": 3}');
      await writeFile(join(dir.path, 'meta.json'), '{"$correlationId": "c-1"}');
      const id = '3f0c2b1e-8d4a-4c1b-9a57-2f1d7e6b9c10';
      const r = await run('append', 'card-7', '--type', 'Charge', '--data', `@${join(dir.path, 'data.json')}`, '--metadata', `@${join(dir.path, 'meta.json')}`, '--id', id);
      expect(r.code, r.stderr).to.equal(0);
      const read = await run('read', 'card-7', '--json');
      const [event] = jsonLines(read.stdout);
      expect(event).to.deep.include({ streamId: 'card-7', id, type: 'Charge', data: { amount: 3 }, revision: 0 });
      expect(event!.metadata).to.deep.include({ $correlationId: 'c-1' });
    } finally {
      await dir.remove();
    }
  });

  it('refuses a wrong expected revision with exit 1 and both revisions in the message', async () => {
    const r = await run('append', 'orders-1', '--type', 'X', '--data', '{}', '--expected-revision', '7');
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.include("Wrong expected revision for stream 'orders-1'");
    expect(r.stderr).to.include('actual 1');
  });

  it('reads a stream forwards, backwards, from a revision and at most --max events', async () => {
    const all = await run('read', 'orders-1');
    expect(all.code, all.stderr).to.equal(0);
    expect(all.stdout.trim().split('\n').map((l) => l.split('  ')[0])).to.deep.equal(['0@orders-1', '1@orders-1']);
    const last = await run('read', 'orders-1', '--backwards', '--max', '1', '--json');
    expect(jsonLines(last.stdout).map((e) => e.revision)).to.deep.equal([1]);
    const from = await run('read', 'orders-1', '--from', '1', '--json');
    expect(jsonLines(from.stdout).map((e) => e.type)).to.deep.equal(['OrderPaid']);
  });

  it("reads '$all' with positions, and leaves $-streams out with --no-system", async () => {
    const r = await run('read', '$all', '--no-system', '--json');
    expect(r.code, r.stderr).to.equal(0);
    const events = jsonLines(r.stdout);
    expect(events.map((e) => `${e.revision}@${e.streamId}`)).to.include.members(['0@orders-1', '1@orders-1', '0@card-7']);
    expect(events.every((e) => typeof e.position === 'number')).to.equal(true);
    expect(events.some((e) => String(e.streamId).startsWith('$'))).to.equal(false);
  });

  it('says a missing stream is not found (exit 1)', async () => {
    const r = await run('read', 'no-such-stream');
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include("'no-such-stream' not found");
  });

  it('lists streams with their event counts', async () => {
    const r = await run('streams', '--json');
    expect(r.code, r.stderr).to.equal(0);
    const streams = JSON.parse(r.stdout) as { streamId: string; events: number; lastRevision: number; deleted: boolean }[];
    expect(streams).to.deep.include({ streamId: 'orders-1', events: 2, lastRevision: 1, deleted: false });
    const table = await run('streams');
    expect(table.stdout).to.match(/^STREAM\s+EVENTS/);
    expect(table.stdout).to.match(/orders-1\s+2\s+1\s+live/);
  });

  it('sets and shows stream metadata in Event Store JSON', async () => {
    const set = await run('meta', 'orders-1', '--set', '{"$maxCount": 100, "owner": "billing"}');
    expect(set.code, set.stderr).to.equal(0);
    const shown = await run('meta', 'orders-1', '--json');
    expect(JSON.parse(shown.stdout)).to.deep.include({ streamId: 'orders-1', metadata: { $maxCount: 100, owner: 'billing' } });
    const bad = await run('meta', 'orders-1', '--set', '{"$maxCount": -1}');
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.include('$maxCount');
  });

  it('soft-deletes a stream (reads then find nothing), and hard-deletes one for good', async () => {
    const created = await run('append', 'temp-1', '--type', 'T', '--data', '{}');
    expect(created.code, created.stderr).to.equal(0);
    const soft = await run('delete', 'temp-1', '--json');
    expect(soft.code, soft.stderr).to.equal(0);
    expect(JSON.parse(soft.stdout)).to.deep.equal({ streamId: 'temp-1', deleted: 'soft' });
    expect((await run('read', 'temp-1')).code).to.equal(1);
    const second = await run('append', 'temp-2', '--type', 'T', '--data', '{}');
    expect(second.code, second.stderr).to.equal(0);
    const hard = await run('delete', 'temp-2', '--hard');
    expect(hard.code, hard.stderr).to.equal(0);
    const again = await run('append', 'temp-2', '--type', 'T', '--data', '{}');
    expect(again.code).to.equal(1);
    expect(again.stderr).to.include('deleted');
  });
}

describe('stream commands on a data directory (--db)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => dir.remove());

  describeStreamCommands({ name: 'db', flags: () => ['--db', join(dir.path, 'data')] });

  it('says to use --server when a server holds the directory (exit 1)', async () => {
    const db = join(dir.path, 'held');
    const server = await startServer(['--db', db]);
    try {
      const r = await telltale(['read', 'orders-1', '--db', db]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.include('--server');
    } finally {
      expect(await server.stop()).to.equal(0);
    }
  });
});

describe('stream commands against a server (--server)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    dir = await tempDir();
    server = await startServer(['--db', join(dir.path, 'data')]);
  });
  after(async () => {
    await server?.stop();
    await dir.remove();
  });

  describeStreamCommands({ name: 'server', flags: () => ['--server', server.url] });

  it('tails a stream: the last events, then new ones live, until Ctrl-C', async () => {
    const before = await telltale(['append', 'live-1', '--type', 'Before', '--data', '{"n":0}', '--server', server.url]);
    expect(before.code, before.stderr).to.equal(0);
    const tail = start(['tail', 'live-1', '-n', '1', '--json', '--server', server.url]);
    try {
      await tail.waitFor(/"Before"/);
      await telltale(['append', 'live-1', '--type', 'After', '--data', '{"n":1}', '--server', server.url]);
      await tail.waitFor(/"After"/);
    } finally {
      expect(await tail.stop('SIGINT')).to.equal(0);
    }
    expect(jsonLines(tail.stdout()).map((e) => e.type)).to.deep.equal(['Before', 'After']);
  });

  it("follows '$all' live, leaving out $-streams with --no-system", async () => {
    const first = await telltale(['append', 'live-a', '--type', 'Before', '--data', '{}', '--server', server.url]);
    expect(first.code, first.stderr).to.equal(0);
    const tail = start(['tail', '$all', '-n', '1', '--no-system', '--json', '--server', server.url]);
    try {
      await tail.waitFor(/"live-a"/);
      const second = await telltale(['append', 'live-2', '--type', 'Seen', '--data', '{}', '--server', server.url]);
      expect(second.code, second.stderr).to.equal(0);
      await tail.waitFor(/"live-2"/);
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      await tail.stop('SIGINT');
    }
    // The newest event before it started, then the new one: none twice, no $-stream traffic.
    expect(jsonLines(tail.stdout()).map((e) => `${e.revision}@${e.streamId}`)).to.deep.equal(['0@live-a', '0@live-2']);
  });

  it('reads with TELLTALE_URL instead of --server', async () => {
    const r = await telltale(['read', 'orders-1', '--json'], { env: { TELLTALE_URL: server.url } });
    expect(r.code, r.stderr).to.equal(0);
    expect(jsonLines(r.stdout)).to.have.length(2);
  });

  it('refuses wrong credentials with a hint about --user', async () => {
    const r = await telltale(['read', 'orders-1', '--server', server.url, '--user', 'admin:wrong']);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include('--user');
  });
});

describe('stream commands on a shared Redis store (--store redis://)', () => {
  const host = process.env.REDIS_HOST ?? '127.0.0.1';
  const port = Number(process.env.REDIS_PORT ?? 6379);
  const prefix = `tt-cli-${randomUUID()}`;
  const url = `redis://${host}:${port}?prefix=${prefix}`;
  before(async function () {
    await requireService(this, { name: 'Redis', host, port, howToEnable: 'start a Redis server on 127.0.0.1:6379 (or set REDIS_HOST/REDIS_PORT)' });
  });
  after(async () => {
    const { Redis } = await import('ioredis');
    const admin = new Redis({ host, port, lazyConnect: true });
    try {
      await admin.connect();
      let cursor = '0';
      do {
        const [next, keys] = await admin.scan(cursor, 'MATCH', new KeyLayout(prefix).pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await admin.unlink(...keys);
      } while (cursor !== '0');
    } catch {
      // no Redis: nothing was written
    } finally {
      admin.disconnect();
    }
  });

  describeStreamCommands({ name: 'redis', flags: () => ['--store', url] });

  it('shares the store with a running server: the CLI reads and follows what the server writes', async () => {
    const server = await startServer(['--store', url]);
    const tail = start(['tail', 'shared-1', '-n', '0', '--json', '--store', url]);
    try {
      await new Promise((r) => setTimeout(r, 1500));
      const append = await telltale(['append', 'shared-1', '--type', 'ViaServer', '--data', '{}', '--server', server.url]);
      expect(append.code, append.stderr).to.equal(0);
      await tail.waitFor(/"ViaServer"/);
      const read = await telltale(['read', 'shared-1', '--store', url, '--json']);
      expect(jsonLines(read.stdout).map((e) => e.type)).to.deep.equal(['ViaServer']);
    } finally {
      await tail.stop('SIGINT');
      await server.stop();
    }
  });
});
