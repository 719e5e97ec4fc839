/**
 * The download lock of one blob: `<blob>.lock`, lock-file.ts's lock (O_EXCL, holder's identity, heartbeat) with the
 * rules of downloads: waiters poll, and break a lock whose pid is dead on this host or that shows no sign of life
 * (heartbeat or .incomplete growth) for `staleMs`.
 */
import { LockFile, mtimeMs, readHeldLock, removeLockIfUnchanged } from './lock-file.ts';

export interface BlobLockOptions {
  /** True once the blob exists: waiting ends without downloading. */
  finished: () => boolean;
  /** The holder's partial download: its growth is a sign of life (and the waiter's progress). */
  incomplete: string;
  staleMs: number;
  /** Called on each poll while another live process holds the lock (`holder`: "pid 42 on host"). */
  onWait: (holder: string) => Promise<void>;
  warn: (message: string) => void;
}

const LOCK_POLL_MS = 100;

/** Takes the blob's lock: the lock, or null when the blob was finished (by another process) before or while waiting. */
export async function acquireBlobLock(path: string, options: BlobLockOptions): Promise<LockFile | null> {
  for (;;) {
    if (options.finished()) return null;
    const lock = await LockFile.tryCreate(path, Math.max(10, options.staleMs / 4), Date.now());
    if (!lock) {
      await waitOrBreak(path, options);
      continue;
    }
    // The previous holder may have finished between our check and our create.
    if (options.finished()) {
      lock.release();
      return null;
    }
    return lock;
  }
}

/** One poll of a lock held by someone else: break it when stale, else report the wait and sleep. */
async function waitOrBreak(path: string, options: BlobLockOptions): Promise<void> {
  const held = await readHeldLock(path);
  if (!held) return; // released meanwhile
  const quietMs = Date.now() - Math.max(await mtimeMs(path), await mtimeMs(options.incomplete));
  const reason = held.deadOnThisHost
    ? `${held.who} no longer runs`
    : quietMs > options.staleMs
      ? `${held.who} showed no progress for ${(quietMs / 1000).toFixed(1)} s`
      : null;
  if (reason !== null) {
    if (await removeLockIfUnchanged(path, held.text)) options.warn(`broke the stale download lock ${path}: ${reason}`);
    return;
  }
  await options.onWait(held.who);
  await new Promise((ok) => setTimeout(ok, LOCK_POLL_MS));
}
