// Runs a child process that prints `ready`, then `progress …` lines every few milliseconds while it
// works, then `done`; SIGKILLs it after `killAfter` progress lines. Counting the child's own
// progress (not a wall-clock delay) lands the kill mid-run however fast or loaded the machine is.
import { spawn } from 'node:child_process';

export function runKillableChild(script: string, args: readonly string[], killAfter: number | undefined): Promise<'done' | 'killed'> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--no-node-snapshot', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let progress = 0;
    p.stdout.on('data', (d: Buffer) => {
      const text = d.toString();
      out += text;
      progress += text.split('progress ').length - 1;
      if (killAfter !== undefined && progress >= killAfter && p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    });
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve('killed');
      else if (code === 0 && out.includes('done')) resolve('done');
      else reject(new Error(`child exited with ${code ?? signal}: ${err}`));
    });
  });
}
