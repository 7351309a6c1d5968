// The front door: help that reads as a guide, exit codes 0 / 1 / 2, and errors that say what to do.
import { expect } from '../support/chai.js';
import { freePort, telltale } from './cli-process.js';

describe('telltale (usage and errors)', () => {
  it('prints a guide with every command, examples and the exit codes on --help', async () => {
    const { code, stdout } = await telltale(['--help']);
    expect(code).to.equal(0);
    for (const command of ['serve', 'append', 'read', 'tail', 'delete', 'meta', 'streams', 'projection', 'query', 'test', 'import', 'export', 'bench']) {
      expect(stdout).to.match(new RegExp(`^\\s+${command}\\b`, 'm'));
    }
    expect(stdout).to.include('Quick start');
    expect(stdout).to.include('Exit codes: 0 ok, 1 error, 2 usage');
  });

  it('shows examples in the help of each command', async () => {
    for (const args of [['append', '--help'], ['read', '--help'], ['import', '--help'], ['projection', 'deploy', '--help'], ['test', '--help'], ['serve', '--help']]) {
      const { code, stdout } = await telltale(args);
      expect(code, args.join(' ')).to.equal(0);
      expect(stdout, args.join(' ')).to.match(/Examples?:|Example|--/);
    }
    const { stdout } = await telltale(['append', '--help']);
    expect(stdout).to.include('$ telltale append orders-42 --type OrderPlaced');
  });

  it('prints its version', async () => {
    const { code, stdout } = await telltale(['--version']);
    expect(code).to.equal(0);
    expect(stdout.trim()).to.match(/^\d+\.\d+\.\d+/);
  });

  it('exits 2 on an unknown command, an unknown flag, a missing argument or a bad flag value', async () => {
    const cases: string[][] = [
      ['frobnicate'],
      ['read', 'orders-1', '--sideways'],
      ['read'],
      ['append', 'orders-1', '--type', 'T'],
      ['append', 'orders-1', '--type', 'T', '--data', '{"a":', '--store', 'memory:'],
      ['append', 'orders-1', '--type', 'T', '--data', '{}', '--expected-revision', 'soon'],
      ['append', 'orders-1', '--type', 'T', '--data', '{}', '--id', 'not-a-uuid'],
      ['read', 'orders-1', '--max', '0'],
      ['read', 'orders-1', '--server', 'ftp://x'],
      ['projection', 'deploy', 'x.js', '--mode', 'sometimes'],
      ['bench', 'everything'],
    ];
    for (const args of cases) {
      const { code, stderr } = await telltale(args);
      expect(code, `telltale ${args.join(' ')}: ${stderr}`).to.equal(2);
      expect(stderr, args.join(' ')).to.not.equal('');
    }
  });

  it('says how to start a server or use --db when the server cannot be reached (exit 1)', async () => {
    const port = await freePort();
    const { code, stderr } = await telltale(['read', 'orders-1', '--server', `http://127.0.0.1:${port}`]);
    expect(code).to.equal(1);
    expect(stderr).to.include(`http://127.0.0.1:${port}`);
    expect(stderr).to.include('telltale serve');
    expect(stderr).to.include('--db DIR');
  });

  it('uses TELLTALE_URL when no --server is given', async () => {
    const port = await freePort();
    const { code, stderr } = await telltale(['streams'], { env: { TELLTALE_URL: `http://127.0.0.1:${port}` } });
    expect(code).to.equal(1);
    expect(stderr).to.include(`127.0.0.1:${port}`);
  });

  it('reports errors as JSON on stderr with --json', async () => {
    const port = await freePort();
    const { code, stdout, stderr } = await telltale(['read', 'orders-1', '--json', '--server', `http://127.0.0.1:${port}`]);
    expect(code).to.equal(1);
    expect(stdout).to.equal('');
    const error = JSON.parse(stderr) as { error: { code: string; message: string } };
    expect(error.error.code).to.equal('backend-unavailable');
    expect(error.error.message).to.include('telltale serve');
  });

  it('reports usage errors as JSON too with --json (exit 2)', async () => {
    const { code, stdout, stderr } = await telltale(['read', '--json']);
    expect(code).to.equal(2);
    expect(stdout).to.equal('');
    expect(JSON.parse(stderr)).to.deep.equal({ error: { code: 'usage', message: "missing required argument 'stream'" } });
  });

  it('names a missing @file given to --data (exit 1)', async () => {
    const { code, stderr } = await telltale(['append', 'orders-1', '--type', 'T', '--data', '@no-such-file.json', '--store', 'memory:']);
    expect(code).to.equal(1);
    expect(stderr).to.include("'no-such-file.json' does not exist");
  });
});

describe('telltale in a pipe', () => {
  it('stops quietly when the reader of its output goes away (| head)', async () => {
    const { spawn } = await import('node:child_process');
    const { bin } = await import('./cli-process.js');
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.stdout.once('data', () => child.stdout.destroy());
      child.once('close', (code) => resolve({ code, stderr }));
    });
    expect(result.stderr).to.not.include('EPIPE');
    expect(result.code).to.equal(0);
  });
});
