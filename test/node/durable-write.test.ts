/** runtime-node/durable-write.ts: atomic files and directories (content, replacement, no temp files left, failure keeps the old). */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createFileExclusive,
  removeTempSiblings,
  StagedDir,
  tempSibling,
  tempSiblingPid,
  writeDirAtomic,
  writeFileAtomic,
  writeFileAtomicSync,
} from '../../runtime-node/durable-write.ts';

describe('durable writes', () => {
  const root = mkdtempSync(join(tmpdir(), 'seal-durable-write-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const fresh = (name: string) => {
    const dir = join(root, name);
    mkdirSync(dir);
    return dir;
  };

  it('writes a new file, replaces an existing one, and leaves no temporary file', async () => {
    const dir = fresh('file');
    const path = join(dir, 'report.json');
    await writeFileAtomic(path, 'first\n');
    expect(readFileSync(path, 'utf8')).toBe('first\n');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(path)]).toEqual([1, 2, 3]);
    await writeFileAtomic(path, async (handle) => {
      await handle.write('streamed ');
      await handle.write('in parts');
    });
    expect(readFileSync(path, 'utf8')).toBe('streamed in parts');
    expect(readdirSync(dir)).toEqual(['report.json']);
  });

  it('the synchronous file write: new, replaced, no temporary file; into a missing directory it throws and creates nothing', () => {
    const dir = fresh('file-sync');
    const path = join(dir, 'bench.json');
    writeFileAtomicSync(path, '{"complete":false}\n');
    expect(readFileSync(path, 'utf8')).toBe('{"complete":false}\n');
    writeFileAtomicSync(path, new Uint8Array([7]));
    expect([...readFileSync(path)]).toEqual([7]);
    expect(readdirSync(dir)).toEqual(['bench.json']);
    expect(() => writeFileAtomicSync(join(dir, 'missing', 'x'), 'x')).toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual(['bench.json']);
  });

  it('a file write that fails midway leaves the old content and no temporary file', async () => {
    const dir = fresh('file-fail');
    const path = join(dir, 'config.json');
    await writeFileAtomic(path, 'old');
    await expect(
      writeFileAtomic(path, async (handle) => {
        await handle.write('half of the new');
        throw new Error('disk on fire');
      }),
    ).rejects.toThrow('disk on fire');
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['config.json']);
    // Into a directory that does not exist: the error, and nothing created.
    await expect(writeFileAtomic(join(dir, 'missing', 'x'), 'x')).rejects.toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual(['config.json']);
  });

  it('writes a directory as a whole, replacing an existing one entirely (no old file survives beside new ones)', async () => {
    const parent = fresh('dir');
    const target = join(parent, 'adapter');
    await writeDirAtomic(target, async (d) => {
      writeFileSync(join(d, 'a.txt'), 'old a');
      writeFileSync(join(d, 'only-old.txt'), 'old');
    });
    expect(readdirSync(target).sort()).toEqual(['a.txt', 'only-old.txt']);
    await writeDirAtomic(target, async (d) => {
      writeFileSync(join(d, 'a.txt'), 'new a');
      mkdirSync(join(d, 'init'));
      writeFileSync(join(d, 'init', 'b.txt'), 'new b');
    });
    expect(readdirSync(target).sort()).toEqual(['a.txt', 'init']);
    expect(readFileSync(join(target, 'a.txt'), 'utf8')).toBe('new a');
    expect(readFileSync(join(target, 'init', 'b.txt'), 'utf8')).toBe('new b');
    expect(readdirSync(parent), 'no temporary or set-aside directory left').toEqual(['adapter']);
  });

  it('a directory write that fails midway leaves the old directory untouched and no temporary directory', async () => {
    const parent = fresh('dir-fail');
    const target = join(parent, 'model');
    await writeDirAtomic(target, async (d) => writeFileSync(join(d, 'weights'), 'old weights'));
    await expect(
      writeDirAtomic(target, async (d) => {
        writeFileSync(join(d, 'weights'), 'new weights');
        throw new Error('interrupted');
      }),
    ).rejects.toThrow('interrupted');
    expect(readdirSync(target)).toEqual(['weights']);
    expect(readFileSync(join(target, 'weights'), 'utf8')).toBe('old weights');
    expect(readdirSync(parent)).toEqual(['model']);
    // A new target that fails is never created.
    await expect(writeDirAtomic(join(parent, 'new'), async () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(existsSync(join(parent, 'new'))).toBe(false);
  });

  it('a staged directory is invisible at its target until committed, and discard removes it', async () => {
    const parent = fresh('staged');
    const target = join(parent, 'out');
    const staged = await StagedDir.create(target);
    writeFileSync(join(staged.path, 'loss.jsonl'), '{"step":1}\n');
    expect(existsSync(target)).toBe(false);
    await staged.commit();
    expect(readFileSync(join(target, 'loss.jsonl'), 'utf8')).toBe('{"step":1}\n');
    await expect(staged.commit()).rejects.toThrow(/already committed/);
    const second = await StagedDir.create(target);
    writeFileSync(join(second.path, 'loss.jsonl'), 'other');
    await second.discard();
    expect(readdirSync(parent)).toEqual(['out']);
    expect(readFileSync(join(target, 'loss.jsonl'), 'utf8')).toBe('{"step":1}\n');
  });

  it('createFileExclusive: only the first of many racing creators gets the file, which always holds its whole content', async () => {
    const dir = fresh('exclusive');
    const path = join(dir, 'run.lock');
    const contents = Array.from({ length: 8 }, (_, i) => `holder ${i} ${'x'.repeat(4096)}\n`);
    const got = await Promise.all(contents.map((c) => createFileExclusive(path, c)));
    expect(got.filter(Boolean).length).toBe(1);
    expect(readFileSync(path, 'utf8')).toBe(contents[got.indexOf(true)]);
    expect(await createFileExclusive(path, 'later')).toBe(false);
    expect(readdirSync(dir), 'no temporary sibling left').toEqual(['run.lock']);
  });

  it('temporary names carry the pid; removeTempSiblings removes only those not kept', async () => {
    const parent = fresh('siblings');
    const target = join(parent, 'x');
    const mine = tempSibling(target);
    expect(tempSiblingPid(target, mine.slice(parent.length + 1))).toBe(process.pid);
    expect(tempSiblingPid(target, 'x')).toBeNull();
    expect(tempSiblingPid(target, '.xy.tmp-1-0123abcd')).toBeNull();
    mkdirSync(mine);
    mkdirSync(join(parent, '.x.old-1-0123abcd'));
    writeFileSync(join(parent, 'x'), 'kept');
    expect(await removeTempSiblings(target, (pid) => pid === process.pid)).toEqual(['.x.old-1-0123abcd']);
    expect(readdirSync(parent).sort()).toEqual([mine.slice(parent.length + 1), 'x'].sort());
    await removeTempSiblings(target);
    expect(readdirSync(parent)).toEqual(['x']);
  });
});
