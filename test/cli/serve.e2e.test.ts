// `telltale serve`: says where it listens, serves the API the other commands use, keeps other
// writers off its directory, and stops cleanly on Ctrl-C or SIGTERM with exit code 0.
import { join } from 'node:path';
import { expect } from '../support/chai.js';
import { start, startServer, telltale, tempDir } from './cli-process.js';

describe('telltale serve', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => dir.remove());

  it('prints the API address and the store, answers /ping, and stops on Ctrl-C with exit 0', async () => {
    const serving = start(['serve', '--db', join(dir.path, 'a'), '--port', '0']);
    try {
      await serving.waitFor(/Press Ctrl-C to stop/);
      const url = /HTTP API\s+(http:\/\/\S+)/.exec(serving.stdout())![1]!;
      expect(serving.stdout()).to.include(`store file:${join(dir.path, 'a')}`);
      expect(serving.stdout()).to.include('Ctrl-C');
      const ping = await fetch(`${url}/ping`);
      expect(ping.status).to.equal(200);
    } finally {
      expect(await serving.stop('SIGINT')).to.equal(0);
    }
    expect(serving.stdout()).to.include('Stopped.');
    expect(serving.stderr()).to.include('shutting down');
  });

  it('prints one JSON line with --json and stops on SIGTERM keeping what was appended', async () => {
    const db = join(dir.path, 'b');
    const server = await startServer(['--db', db]);
    expect(server.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    const append = await telltale(['append', 'kept-1', '--type', 'T', '--data', '{"v":1}', '--server', server.url]);
    expect(append.code, append.stderr).to.equal(0);
    expect(await server.process.stop('SIGTERM')).to.equal(0);
    const read = await telltale(['read', 'kept-1', '--db', db, '--json']);
    expect(read.code, read.stderr).to.equal(0);
    expect(read.stdout).to.include('"v":1');
  });

  it('refuses a second server on the same directory, saying it is in use (exit 1)', async () => {
    const db = join(dir.path, 'c');
    const first = await startServer(['--db', db]);
    try {
      const second = await telltale(['serve', '--db', db, '--port', '0']);
      expect(second.code).to.equal(1);
      expect(second.stderr).to.include('in use by another process');
    } finally {
      await first.stop();
    }
  });

  it('runs on a throwaway memory store with --store memory:', async () => {
    const server = await startServer(['--store', 'memory:']);
    try {
      const r = await telltale(['append', 'm-1', '--type', 'T', '--data', '{}', '--server', server.url, '--json']);
      expect(r.code, r.stderr).to.equal(0);
      expect(JSON.parse(r.stdout)).to.include({ revision: 0 });
    } finally {
      expect(await server.stop()).to.equal(0);
    }
  });

  it('exits 2 on a bad port', async () => {
    const r = await telltale(['serve', '--port', 'http']);
    expect(r.code).to.equal(2);
  });
});
