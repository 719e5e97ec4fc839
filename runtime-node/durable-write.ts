/**
 * The one way seal writes files that must survive a crash whole: every writer in the project (adapters, run files,
 * merged models, bench JSON, hub downloads) goes through here.
 *
 * - A file: written to a temporary sibling (same directory, so the rename stays on one file system), fsync'd, renamed
 *   over the target, and the directory fsync'd. Readers see the old content or the new, never a mix; after a crash
 *   the rename is either on disk with the whole new content behind it, or not at all.
 * - A directory: every file written into a temporary sibling directory (StagedDir), each file and directory fsync'd,
 *   then renamed into place. An existing target is moved aside, the new one renamed in, the parent fsync'd and the
 *   old one removed, so readers see the old whole or the new whole (or, after a crash between the two renames, the
 *   old one under its aside name), never old and new files mixed.
 *
 * Temporary names are `.<name>.tmp-<pid>-<random>` (and `.<name>.old-<pid>-<random>` for a replaced directory):
 * hidden, tied to the target, and carrying the writer's pid so leftovers of a dead process can be told apart.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { link, lstat, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

type TempKind = 'tmp' | 'old';

/** A fresh temporary sibling name of `path` (see the file comment). */
export function tempSibling(path: string, kind: TempKind = 'tmp'): string {
  return join(dirname(path), `.${basename(path)}.${kind}-${process.pid}-${randomUUID().slice(0, 8)}`);
}

/** The pid a temporary sibling name of `path` carries, or null when `entry` is not one. */
export function tempSiblingPid(path: string, entry: string): number | null {
  const prefix = `.${basename(path)}.`;
  if (!entry.startsWith(prefix)) return null;
  const m = /^(?:tmp|old)-(\d+)-[0-9a-z]+$/.exec(entry.slice(prefix.length));
  return m ? Number(m[1]) : null;
}

/** Removes the temporary siblings of `path` that `keep(pid)` does not protect (default: all); returns their names. */
export async function removeTempSiblings(path: string, keep: (pid: number) => boolean = () => false): Promise<string[]> {
  const parent = dirname(resolve(path));
  if (!existsSync(parent)) return [];
  const removed: string[] = [];
  for (const entry of await readdir(parent)) {
    const pid = tempSiblingPid(path, entry);
    if (pid === null || keep(pid)) continue;
    await rm(join(parent, entry), { recursive: true, force: true });
    removed.push(entry);
  }
  return removed;
}

/** fsync of a directory: makes the names created, renamed or removed in it durable. */
export async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(dir, 'r');
  } catch {
    return; // Some platforms cannot open a directory for syncing; the renames are still atomic there.
  }
  try {
    await handle.sync();
  } catch {
    // Likewise: a directory that cannot be fsync'd (some file systems) still got its atomic rename.
  } finally {
    await handle.close();
  }
}

/** fsync of a regular file (a symlink is followed: its target's bytes are synced). */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync of every file and directory under `dir` (children first), then `dir` itself. */
async function syncTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await syncTree(path);
    else if (entry.isFile()) await syncFile(path);
  }
  await syncDir(dir);
}

/**
 * Publishes a finished file or symlink `temp` as `target`: fsync'd, renamed over it, the directory fsync'd. `temp`
 * must be in `target`'s directory. On failure `temp` is removed and `target` is as it was.
 */
export async function moveIntoPlace(temp: string, target: string): Promise<void> {
  try {
    if ((await lstat(temp)).isFile()) await syncFile(temp);
    await rename(temp, target);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
  await syncDir(dirname(target));
}

/** What to write: the bytes, or a function that writes them to an open handle. */
export type FileContent = string | Uint8Array | ((handle: FileHandle) => Promise<void>);

/** Writes a file so that readers and crashes see the old or the new content, never a mix (see the file comment). */
export async function writeFileAtomic(path: string, content: FileContent): Promise<void> {
  const target = resolve(path);
  const temp = tempSibling(target);
  try {
    const handle = await open(temp, 'wx');
    try {
      if (typeof content === 'function') await content(handle);
      else await handle.writeFile(content);
    } finally {
      await handle.close();
    }
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
  await moveIntoPlace(temp, target);
}

/**
 * Creates the file `path` holding `content` only if nothing is there, never visible half-written (lock files): the
 * content is written to a temporary sibling and fsync'd, hard-linked to `path` (atomic, and fails if it exists),
 * then the sibling is removed and the directory fsync'd. False when `path` exists. On a file system without hard
 * links, an exclusive create and write instead (visible while being written).
 */
export async function createFileExclusive(path: string, content: string): Promise<boolean> {
  const target = resolve(path);
  const temp = tempSibling(target);
  const exists = (e: unknown) => (e as NodeJS.ErrnoException).code === 'EEXIST';
  try {
    await writeSynced(temp, content, 'wx');
    try {
      await link(temp, target);
    } catch (e) {
      if (exists(e)) return false;
      if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes((e as NodeJS.ErrnoException).code ?? '')) throw e;
      try {
        await writeSynced(target, content, 'wx');
      } catch (e2) {
        if (exists(e2)) return false;
        throw e2;
      }
    }
  } finally {
    await rm(temp, { force: true });
  }
  await syncDir(dirname(target));
  return true;
}

/** Opens `path` with `flag`, writes `content` and fsyncs it. */
async function writeSynced(path: string, content: string, flag: string): Promise<void> {
  const handle = await open(path, flag);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * writeFileAtomic for callers that must not yield before the file is on disk (the bench's report after each case, so
 * a process killed right after it prints a result keeps that result).
 */
export function writeFileAtomicSync(path: string, content: string | Uint8Array): void {
  const target = resolve(path);
  const temp = tempSibling(target);
  try {
    const fd = openSync(temp, 'wx');
    try {
      writeFileSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
  } catch (e) {
    rmSync(temp, { force: true });
    throw e;
  }
  try {
    const fd = openSync(dirname(target), 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // As in syncDir: a directory that cannot be fsync'd still got its atomic rename.
  }
}

/**
 * A directory being built beside its target: write into `path`, then `commit()` puts it in place as a whole, or
 * `discard()` removes it. Until committed, it is removed at process exit too (an interrupt, an uncaught error), so a
 * failed run leaves only the old target behind.
 */
export class StagedDir {
  private state: 'open' | 'committed' | 'discarded' = 'open';
  private readonly onExit = () => rmSync(this.path, { recursive: true, force: true });

  private constructor(
    /** The final directory. */
    readonly target: string,
    /** The temporary directory to write into. */
    readonly path: string,
  ) {
    process.once('exit', this.onExit);
  }

  /** Creates an empty temporary sibling of `target` (and `target`'s parent when missing). */
  static async create(target: string): Promise<StagedDir> {
    const abs = resolve(target);
    await mkdir(dirname(abs), { recursive: true });
    const temp = tempSibling(abs);
    await mkdir(temp);
    return new StagedDir(abs, temp);
  }

  /**
   * Syncs everything written, then renames the directory into place; an existing target (file or directory) is
   * replaced as described in the file comment.
   */
  async commit(): Promise<void> {
    if (this.state !== 'open') throw new Error(`${this.target}: the staged directory was already ${this.state}`);
    await syncTree(this.path);
    const parent = dirname(this.target);
    let aside: string | null = null;
    if (existsSync(this.target)) {
      aside = tempSibling(this.target, 'old');
      await rename(this.target, aside);
    }
    try {
      await rename(this.path, this.target);
    } catch (e) {
      if (aside !== null) await rename(aside, this.target);
      throw e;
    }
    this.settle('committed');
    await syncDir(parent);
    if (aside !== null) {
      await rm(aside, { recursive: true, force: true });
      await syncDir(parent);
    }
  }

  /** Removes the temporary directory; the target is untouched. Safe to call after commit (then it does nothing). */
  async discard(): Promise<void> {
    if (this.state !== 'open') return;
    this.settle('discarded');
    await rm(this.path, { recursive: true, force: true });
  }

  private settle(state: 'committed' | 'discarded'): void {
    this.state = state;
    process.removeListener('exit', this.onExit);
  }
}

/** Writes the directory `target` as a whole: `fill` writes into a StagedDir, committed when it returns, discarded when it throws. */
export async function writeDirAtomic(target: string, fill: (dir: string) => Promise<void>): Promise<void> {
  const staged = await StagedDir.create(target);
  try {
    await fill(staged.path);
    await staged.commit();
  } finally {
    await staged.discard();
  }
}
