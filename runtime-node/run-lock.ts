/** run.lock: one process at a time in a run directory (the lock file itself is lock-file.ts, shared with the hub). */
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { LockFile, mtimeMs, pidAlive, readHeldLock, removeLockIfUnchanged } from './lock-file.ts';
import { RunDirError } from './run-layout.ts';

/** Another live process holds the directory's lock. */
export class RunLockedError extends RunDirError {
  constructor(message: string) {
    super(message);
    this.name = 'RunLockedError';
  }
}

/**
 * run.lock: created with O_EXCL so one process at a time runs in the directory. The holder refreshes the file's
 * mtime (heartbeat) and removes it when done, or at exit. A lock left by a dead process is broken with a warning: at
 * once when its pid no longer runs on this host, after `staleMs` without a heartbeat when it was taken on another
 * host (a shared file system). A live holder is an error naming it.
 */
export class RunLock {
  private readonly onExit = () => this.release();

  private constructor(private readonly file: LockFile) {
    process.once('exit', this.onExit);
  }

  static async acquire(path: string, options: { staleMs?: number; warn: (message: string) => void }): Promise<RunLock> {
    const staleMs = options.staleMs ?? 10 * 60_000;
    for (let attempt = 0; ; attempt++) {
      const file = await LockFile.tryCreate(path, Math.max(1000, Math.min(60_000, staleMs / 4)));
      if (file) return new RunLock(file);
      if (attempt >= 3) throw new RunLockedError(`could not take the lock ${path}: other processes keep taking it; choose another --run directory`);
      await RunLock.breakIfStale(path, staleMs, options.warn);
    }
  }

  /** Throws RunLockedError for a live holder; removes a stale lock (with a warning). */
  private static async breakIfStale(path: string, staleMs: number, warn: (message: string) => void): Promise<void> {
    const held = await readHeldLock(path);
    if (!held) return; // released meanwhile
    const quietMs = Date.now() - (await mtimeMs(path));
    const who = held.holder ? `${held.who} (since ${held.holder.started})` : held.who;
    const sameHost = held.holder !== null && held.holder.host === hostname();
    const dead = sameHost ? held.deadOnThisHost || (await exitsSoon(held.holder?.pid)) : quietMs > staleMs;
    if (!dead) {
      throw new RunLockedError(
        `the run directory ${dirname(path)} is in use by ${who}: two processes cannot run in one directory. ` +
          `Wait for it to finish, or choose another --run directory${sameHost ? '' : `; if that process is gone, delete ${path}`}`,
      );
    }
    if (await removeLockIfUnchanged(path, held.text)) {
      warn(`removed the stale lock ${path}: ${who} ${sameHost ? 'no longer runs' : `showed no heartbeat for ${Math.round(quietMs / 1000)} s`}`);
    }
  }

  release(): void {
    process.removeListener('exit', this.onExit);
    this.file.release();
  }
}

/**
 * Whether a live holder on this host exits within a moment. The CLI runs a command in a child of bin/seal.mjs that
 * kills itself when its parent dies, so right after a `kill -9` of the parent its child may still hold the lock for a
 * few milliseconds: a resume started at once must wait for it, not fail.
 */
async function exitsSoon(pid: number | undefined, graceMs = 3000): Promise<boolean> {
  if (pid === undefined) return false;
  for (const end = Date.now() + graceMs; Date.now() < end; ) {
    await new Promise((r) => setTimeout(r, 50));
    if (!pidAlive(pid)) return true;
  }
  return false;
}
