// Runs the built `telltale` binary as a user does: `node bin/telltale.js …` in a child process,
// with its own working directory and environment, and answers what it printed and its exit code.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(process.cwd());
export const bin = join(repoRoot, 'bin', 'telltale.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly input?: string;
  readonly env?: Record<string, string | undefined>;
  readonly timeoutMs?: number;
}

function environment(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  // The user's TELLTALE_URL/TELLTALE_USER must not leak into a test.
  const env: NodeJS.ProcessEnv = { ...process.env, TELLTALE_URL: undefined, TELLTALE_USER: undefined, NO_COLOR: '1', ...extra };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return env;
}

export function telltale(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: options.cwd ?? repoRoot, env: environment(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`telltale ${args.join(' ')} did not finish in ${options.timeoutMs ?? 30_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A long-running `telltale` (serve, tail), with a way to wait for output and to stop it. */
export interface Running {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function start(args: readonly string[], options: RunOptions = {}): Running {
  const child = spawn(process.execPath, [bin, ...args], { cwd: options.cwd ?? repoRoot, env: environment(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  const notify = () => waiters.splice(0).forEach((w) => w());
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    notify();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    notify();
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => {
    notify();
    r(code);
  }));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    async waitFor(pattern, timeoutMs = 45_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = pattern.exec(out);
        if (m) return m;
        if (child.exitCode !== null) throw new Error(`telltale ${args.join(' ')} exited (${child.exitCode}) before printing ${pattern}\nstdout: ${out}\nstderr: ${err}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}\nstdout: ${out}\nstderr: ${err}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
    async stop(signal = 'SIGINT') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export async function tempDir(): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'telltale-cli-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A TCP port nothing listens on (it was free a moment ago). */
export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePromise(port));
    });
  });
}

/** Parses JSON Lines output. */
export function jsonLines(text: string): Record<string, unknown>[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** `telltale serve` on a free port; answers its URL and a way to stop it with Ctrl-C. */
export async function startServer(storeArgs: readonly string[], options: RunOptions = {}): Promise<{ url: string; process: Running; stop(): Promise<number | null> }> {
  const serving = start(['serve', ...storeArgs, '--port', '0', '--json'], options);
  const m = await serving.waitFor(/^(\{.*"api".*\})$/m);
  const { api } = JSON.parse(m[1]!) as { api: string };
  return { url: api, process: serving, stop: () => serving.stop('SIGINT') };
}
