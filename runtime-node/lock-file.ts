/**
 * Lock files shared by the download lock (hub-lock.ts) and the run-directory lock (run-lock.ts): created whole and
 * exclusively (durable-write.ts's createFileExclusive) so exactly one process holds one, holding the holder's
 * identity as JSON; the holder refreshes the file's mtime (a heartbeat) and removes it on release only if it is still
 * its own. What counts as stale, and what a waiter does meanwhile, is the caller's policy.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { link, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { clearInterval, setInterval } from 'node:timers';
import { createFileExclusive } from './durable-write.ts';

/** Who holds a lock. `nonce` tells this lock from a later one at the same path. */
export interface LockHolder {
  pid: number;
  host: string;
  /** When it was taken (ISO time or ms since the epoch: informational). */
  started: string | number;
  nonce: string;
}

/** Whether a pid runs on this host (EPERM: alive, someone else's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A file's mtime in ms, 0 when it does not exist. */
export async function mtimeMs(path: string): Promise<number> {
  return stat(path).then(
    (s) => s.mtimeMs,
    () => 0,
  );
}

/** A lock someone else holds, as read from its file (holder null: not a lock of ours, or one being written where hard links are missing). */
export interface HeldLock {
  text: string;
  holder: LockHolder | null;
  /** "pid 42 on host" or "another process". */
  who: string;
  /** True when its holder's pid is known to be dead on this host. */
  deadOnThisHost: boolean;
}

/** Reads a held lock; null when it was released meanwhile. */
export async function readHeldLock(path: string): Promise<HeldLock | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return null;
  }
  let holder: LockHolder | null = null;
  try {
    holder = JSON.parse(text) as LockHolder;
  } catch {
    // Not a lock of ours (or, without hard links, one not yet written): only its age can make it stale.
  }
  return {
    text,
    holder,
    who: holder ? `pid ${holder.pid} on ${holder.host}` : 'another process',
    deadOnThisHost: holder !== null && holder.host === hostname() && !pidAlive(holder.pid),
  };
}

/**
 * Removes a stale lock whose content was `seen`, atomically against another waiter doing the same: rename it aside,
 * and if what was moved is a newer, live lock (someone broke the stale one first and took it), put that back.
 */
export async function removeLockIfUnchanged(path: string, seen: string): Promise<boolean> {
  const aside = `${path}.stale-${process.pid}-${randomUUID()}`;
  try {
    await rename(path, aside);
  } catch {
    return false; // gone already
  }
  const moved = await readFile(aside, 'utf8').catch(() => null);
  const stale = moved === seen;
  if (!stale) await link(aside, path).catch(() => {});
  await rm(aside, { force: true });
  return stale;
}

/** A lock this process holds. */
export class LockFile {
  private released = false;

  private constructor(
    readonly path: string,
    private readonly text: string,
    private readonly heartbeat: ReturnType<typeof setInterval>,
  ) {}

  /** Creates the lock file exclusively, with a heartbeat every `heartbeatMs`; null when it exists already. */
  static async tryCreate(path: string, heartbeatMs: number, started: string | number = new Date().toISOString()): Promise<LockFile | null> {
    const mine: LockHolder = { pid: process.pid, host: hostname(), started, nonce: randomUUID() };
    const text = `${JSON.stringify(mine)}\n`;
    if (!(await createFileExclusive(path, text))) return null;
    const heartbeat = setInterval(() => {
      const now = new Date();
      utimes(path, now, now).catch(() => {});
    }, heartbeatMs);
    heartbeat.unref();
    return new LockFile(path, text, heartbeat);
  }

  /** Stops the heartbeat and removes the lock if it is still this one (synchronous: usable at process exit). */
  release(): void {
    if (this.released) return;
    this.released = true;
    clearInterval(this.heartbeat);
    try {
      if (readFileSync(this.path, 'utf8') === this.text) rmSync(this.path, { force: true });
    } catch {
      // Already gone.
    }
  }
}
