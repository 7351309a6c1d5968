// One writer per data directory (DESIGN decision 4). The lock is a file created with O_EXCL
// holding the owner's pid. A lock left by a process that died (a crash, a SIGKILL) is stale: we
// see the pid is gone (`process.kill(pid, 0)` answers ESRCH on every platform Node runs on) and
// take the lock over. A pid reused by an unrelated process after a crash makes the lock look
// held; the error names the pid so an operator can check it and remove the file.
import { openSync, writeSync, closeSync, readFileSync, unlinkSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { StoreLockedError } from '../errors.js';

export const LOCK_FILE_NAME = 'LOCK';

export class LockFile {
  private constructor(readonly path: string) {}

  /** Takes the lock on `directory` or throws `StoreLockedError` naming the holder. */
  static acquire(directory: string): LockFile {
    const path = join(directory, LOCK_FILE_NAME);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(path, 'wx');
        try {
          writeSync(fd, `${process.pid}\n`);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        return new LockFile(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const holder = readHolder(path);
      if (holder !== undefined && isAlive(holder)) throw new StoreLockedError(directory, holder);
      // Stale (or half-written by a process that died creating it): check again just before
      // removing, so two openers breaking the same stale lock do not remove each other's.
      if (readHolder(path) !== holder) continue;
      try {
        unlinkSync(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    throw new StoreLockedError(directory, readHolder(path));
  }

  release(): void {
    try {
      if (readHolder(this.path) === process.pid) unlinkSync(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

function readHolder(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
