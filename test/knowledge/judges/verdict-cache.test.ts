/** The verdict cache file (runtime-node/verdict-cache.ts): kept across processes, refused when it is not ours. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { JudgeError } from '../../../src/domains/knowledge/judges/judge.ts';
import { FileVerdictCache } from '../../../runtime-node/verdict-cache.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'seal-verdict-cache-'));
  dirs.push(d);
  return d;
}

const KEY = { judge: 'openai:gpt-4.1@https://api.openai.com/v1', question: 'Q', gold: 'G', prediction: 'P' };

describe('FileVerdictCache', () => {
  it('keeps every reply across a reopen, keyed by all four parts', async () => {
    const file = join(tempDir(), 'judge-verdicts.json');
    const cache = FileVerdictCache.open(file);
    expect(cache.size).toBe(0);
    // Many replies in a row: written in the background, at most one rewrite at a time, all there after flush().
    for (let i = 0; i < 50; i++) cache.set({ ...KEY, prediction: `P${i}` }, i % 2 ? 'yes' : 'no');
    cache.set(KEY, 'Yes.');
    await cache.flush();
    const again = FileVerdictCache.open(file);
    expect(again.size).toBe(51);
    expect(again.get(KEY)).toBe('Yes.');
    expect(again.get({ ...KEY, prediction: 'P7' })).toBe('yes');
    for (const part of ['judge', 'question', 'gold', 'prediction'] as const) expect(again.get({ ...KEY, [part]: 'other' })).toBeUndefined();
    // Nothing but the file itself is left in the directory (no temporary siblings).
    expect(readdirSync(join(file, '..'))).toEqual(['judge-verdicts.json']);
    expect(JSON.parse(readFileSync(file, 'utf8')).version).toBe(1);
  });

  it('refuses a file it did not write, saying what to do', () => {
    const dir = tempDir();
    const cases: [string, RegExp][] = [
      ['{not json', /not JSON/],
      ['{"version": 2, "entries": []}', /version 2, expected 1/],
      ['{"version": 1}', /no entries list/],
      ['{"version": 1, "entries": [{"judge": "j", "question": "q", "gold": "g", "prediction": "p"}]}', /entry 0 has no string reply/],
    ];
    for (const [i, [text, why]] of cases.entries()) {
      const file = join(dir, `c${i}.json`);
      writeFileSync(file, text);
      expect(() => FileVerdictCache.open(file)).toThrow(JudgeError);
      expect(() => FileVerdictCache.open(file)).toThrow(why);
      expect(() => FileVerdictCache.open(file)).toThrow(/move it away, or delete it to ask the graders again$/);
    }
  });

  it('a write that fails is reported by flush()', async () => {
    const cache = FileVerdictCache.open(join(tempDir(), 'missing-dir', 'judge-verdicts.json'));
    cache.set(KEY, 'yes');
    await expect(cache.flush()).rejects.toThrow(/^cannot write the verdict cache .*missing-dir.*: ENOENT$/);
    // Reported once; the reply is still served from memory.
    await expect(cache.flush()).resolves.toBeUndefined();
    expect(cache.get(KEY)).toBe('yes');
  });
});
