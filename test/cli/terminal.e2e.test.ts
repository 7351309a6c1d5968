// What a person at a terminal sees: a progress bar with rate and ETA on import and export (on a
// TTY only; pipes get none, see import-export), and `bench`, which runs bench/main.ts.
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from '../support/chai.js';
import { bin, telltale, tempDir } from './cli-process.js';

/** Runs a command under a pseudo-terminal (util-linux `script`), so stdout and stderr are TTYs. */
function onTerminal(args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, bin, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd, env: { ...process.env, COLUMNS: '120' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
    child.stdin.end();
  });
}

describe('on a terminal', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    dir = await tempDir();
    const lines = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ streamId: `s-${i % 7}`, type: 'T', data: { i }, revision: Math.floor(i / 7) }));
    await writeFile(join(dir.path, 'events.jsonl'), lines.join('\n') + '\n');
  });
  after(async () => dir.remove());

  it('import shows a progress bar with a count, a rate and an ETA', async () => {
    const r = await onTerminal(['import', 'events.jsonl', '--db', 'data', '--batch', '10'], dir.path);
    expect(r.code, r.output).to.equal(0);
    expect(r.output).to.match(/import \[.*\] \d+% \| \d+\/2000 events \| [\d,]+ events\/s \| ETA/);
    expect(r.output).to.include('Imported 2000 events into 7 streams');
  });

  it('export to a file shows a progress bar; --no-progress shows none', async () => {
    const r = await onTerminal(['export', 's-1', '--output', 'out.jsonl', '--db', 'data'], dir.path);
    expect(r.code, r.output).to.equal(0);
    expect(r.output).to.match(/export \[.*\] \d+%/);
    const quiet = await onTerminal(['export', 's-1', '--output', 'out2.jsonl', '--db', 'data', '--no-progress'], dir.path);
    expect(quiet.code, quiet.output).to.equal(0);
    expect(quiet.output).to.not.match(/export \[/);
  });
});

describe('telltale bench', () => {
  it('runs a benchmark through bench/main.ts and prints its JSON report', async () => {
    const r = await telltale(['bench', 'store', '--json', '--backend', 'memory', '--events', '300', '--seconds', '0.2', '--no-peers'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).to.equal(0);
    const report = JSON.parse(r.stdout) as { benchmark: string; machine: { node: string } };
    expect(report.benchmark).to.equal('store');
    expect(report.machine.node).to.equal(process.version);
  });
});
