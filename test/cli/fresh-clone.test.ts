/**
 * The "Done when" on a fresh clone with nothing beside it: a directory in the OS temp dir holding only what a
 * clone plus `npm ci` has (bin/, dist/, package.json and examples/ copied; node_modules/ linked), no ../shared beside
 * it, run with that directory as cwd and SEAL_ARC_DATA unset. `seal generate` tells a story with the embedded
 * stories260K, `seal arc show` finds a task in the embedded ARC subsets, and `seal arc train` on examples/arc-tiny
 * writes its report. Also: no runtime code (src/, runtime-node/, bin/) refers to ../shared.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE } from '../harness/cli.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('a fresh clone with nothing beside it', () => {
  let outer: string;
  let clone: string;

  beforeAll(() => {
    outer = mkdtempSync(join(tmpdir(), 'seal-fresh-'));
    clone = join(outer, 'seal-webgpu');
    mkdirSync(clone);
    // Copies, not links: the CLI locates examples/ from its own file, so a link would find the checkout's.
    for (const entry of ['bin', 'dist', 'examples', 'package.json']) cpSync(join(ROOT, entry), join(clone, entry), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir');
  });
  afterAll(() => rmSync(outer, { recursive: true, force: true }));

  const seal = (...args: string[]) => {
    const env: Record<string, string | undefined> = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' };
    delete env.SEAL_ARC_DATA;
    delete env.SEAL_SHARED;
    const r = spawnSync(NODE, ['bin/seal.mjs', ...args], { cwd: clone, env, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('has no ../shared beside it', () => {
    expect(existsSync(join(clone, '..', 'shared'))).toBe(false);
  });

  it('seal generate tells a story with the embedded model', () => {
    const r = seal('generate', '--model', 'examples/models/stories260K', '--prompt', 'Once upon a time', '--max-new-tokens', '20');
    expect(r.code, r.stderr).toBe(0);
    const story = r.stdout.trim();
    expect(story.startsWith('Once upon a time'), story).toBe(true);
    // 20 new tokens of a 512-piece vocabulary: at least a few more words after the prompt's four.
    expect(story.split(/\s+/).length, story).toBeGreaterThanOrEqual(8);
  });

  it('seal arc show finds a task in the embedded ARC subsets of this copy', () => {
    const r = seal('arc', 'show', '--task', 'af24b4cc');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`task af24b4cc from ${join(clone, 'examples/data/arc/arc-agi_evaluation_challenges_filtered_1B_eval_set.json')}`);
  });

  // The command on one of the four tasks: what a fresh clone must find (model, tasks, solutions beside them) is
  // the same, at a quarter of the time; the loop over several tasks is test/cli/arc-run.test.ts's, and
  // scripts/quickstart.sh runs the full command.
  it('seal arc train on examples/arc-tiny writes its report', () => {
    const run = join(outer, 'R');
    const r = seal(
      'arc',
      'train',
      '--model',
      'examples/models/stories260K',
      '--tasks',
      'examples/arc-tiny/tiny_challenges.json:tiny0001',
      '--run',
      run,
      '--self-edits',
      '2',
      '--ttt-max-steps',
      '5',
      '--answer-max-tokens',
      '8',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(join(run, 'report.html')).size).toBeGreaterThan(0);
    expect(readFileSync(join(run, 'report.html'), 'utf8')).toContain('tiny0001');
  }, 600_000);
});

describe('runtime code', () => {
  it('never refers to ../shared (the data beside a development checkout)', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (/\.(ts|mjs|js)$/.test(name) && readFileSync(path, 'utf8').includes('../shared')) offenders.push(path.slice(ROOT.length));
      }
    };
    for (const dir of ['src', 'runtime-node', 'bin']) walk(join(ROOT, dir));
    expect(offenders).toEqual([]);
  });
});
