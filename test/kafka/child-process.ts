// A connector running in a child process that reports JSON lines on stdout, so tests can wait for
// what it says and SIGKILL it at a chosen moment.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export class ReportingChild {
  readonly lines: Record<string, unknown>[] = [];
  readonly exited: Promise<number | null>;
  readonly #child: ChildProcess;
  #stderr = '';
  #wake: (() => void)[] = [];

  /** Runs `fixtures/{fixture}.js`, or with `script`, that file (e.g. the built bin/telltale.js). */
  constructor(fixture: string, args: readonly string[], script = fileURLToPath(new URL(`./fixtures/${fixture}.js`, import.meta.url))) {
    this.#child = spawn(process.execPath, ['--no-node-snapshot', '--enable-source-maps', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buffered = '';
    this.#child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim()) this.lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      for (const w of this.#wake.splice(0)) w();
    });
    this.#child.stderr!.on('data', (chunk: Buffer) => {
      this.#stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) => this.#child.once('exit', (code) => {
      resolve(code);
      for (const w of this.#wake.splice(0)) w();
    }));
  }

  get stderr(): string {
    return this.#stderr;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Resolves when a reported line satisfies `match`; fails if the child exits first. */
  async waitFor(what: string, match: (lines: readonly Record<string, unknown>[]) => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!match(this.lines)) {
      if (!this.running) throw new Error(`the child exited before ${what}; stderr:\n${this.#stderr}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}; stderr:\n${this.#stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.#wake.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  commits(): number {
    return this.lines.filter((l) => 'nextOffset' in l).length;
  }

  kill(signal: NodeJS.Signals): void {
    this.#child.kill(signal);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }
}
