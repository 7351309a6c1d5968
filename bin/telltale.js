#!/usr/bin/env node
// The `telltale` command. isolated-vm needs Node to run with --no-node-snapshot (Node 20 and later),
// and a flag cannot be added to a running process, so when it is missing this file runs itself
// again in a child Node that has it: same Node binary, same flags, same arguments, inherited stdio.
// The parent forwards SIGINT and SIGTERM to the child and leaves with the child's exit code, or
// by the same signal that ended the child. Then the compiled CLI (dist/cli/main.js) is imported and
// runs from process.argv.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const FLAG = '--no-node-snapshot';
// Set in the child, so that a Node that drops the flag cannot make this re-spawn forever.
const CHILD_MARK = 'TELLTALE_NO_SNAPSHOT_CHILD';

function snapshotDisabled() {
  return process.execArgv.includes(FLAG) || (process.env.NODE_OPTIONS ?? '').split(/\s+/).includes(FLAG);
}

function respawn() {
  const child = spawn(process.execPath, [...process.execArgv, FLAG, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, [CHILD_MARK]: '1' },
  });
  const forward = (signal) => {
    // A Ctrl-C on a terminal reaches both processes; the child decides what a signal means.
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  const signals = ['SIGINT', 'SIGTERM'];
  for (const s of signals) process.on(s, forward);
  child.once('error', (err) => {
    process.stderr.write(`telltale: could not start ${process.execPath}: ${err.message}\n`);
    process.exit(1);
  });
  child.once('exit', (code, signal) => {
    for (const s of signals) process.off(s, forward);
    if (signal) {
      // Leave the way the child left, so a shell sees 128+N.
      process.kill(process.pid, signal);
      // Signals that cannot end this process on this platform: fall back to the shell's convention.
      setTimeout(() => process.exit(128 + (signalNumber(signal) ?? 0)), 100).unref();
      return;
    }
    process.exit(code ?? 1);
  });
}

function signalNumber(signal) {
  return { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 }[signal];
}

if (!snapshotDisabled() && process.env[CHILD_MARK] !== '1') {
  respawn();
} else {
  const main = new URL('../dist/cli/main.js', import.meta.url);
  if (!existsSync(main)) {
    process.stderr.write('telltale: the CLI is not built yet\n');
    process.exit(1);
  }
  await import(main.href);
}
