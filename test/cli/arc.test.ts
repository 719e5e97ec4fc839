/** `seal arc show` / `seal arc dataset`: the built CLI on the real ARC files in ../shared/data/arc. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { augmentationsFor, buildTttDataset, loadArcDataset, parseSelfEdit } from '../../src/domains/arc/index.ts';
import { expectCleanFailure, sealWithEnv } from '../harness/cli.ts';
import { sharedPath } from '../harness/shared.ts';

const ARC = sharedPath('data/arc');
const EVAL = join(ARC, 'arc-agi_evaluation_challenges.json');

const seal = (...args: string[]) => sealWithEnv({ SEAL_ARC_DATA: ARC }, 'arc', ...args);

const EDIT = JSON.stringify({
  data_generation: { use_basic_augmentations: true, use_size_augmentations: false, use_chain_augmentations: false, use_repeat_augmentations: false },
  training: { strategy: 'train_using_all_tokens', learning_rate: 1e-4, num_train_epochs: 3 },
});

describe('seal arc (CLI)', () => {
  it('show prints the self-edit request and one solving prompt per test input', () => {
    const r = seal('show', '--task', 'b1fc8b8e');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/task b1fc8b8e from .*: \d+ train examples, 2 test input\(s\)/);
    expect(r.stdout).toContain('=== self-edit request ===');
    expect(r.stdout).toContain('=== solve b1fc8b8e-0 ===');
    expect(r.stdout).toContain('=== solve b1fc8b8e-1 ===');
  });

  it('dataset prints the example count the library builds, and --dump writes them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'seal-arc-'));
    try {
      const dump = join(dir, 'examples.jsonl');
      const r = seal('dataset', '--task', '6150a2bd', '--self-edit', EDIT, '--data', EVAL.replace('evaluation', 'training'), '--dump', dump);
      expect(r.code, r.stderr).toBe(0);
      const data = loadArcDataset({ challenges: readFileSync(EVAL.replace('evaluation', 'training'), 'utf8'), taskIds: ['6150a2bd'] });
      const parsed = parseSelfEdit(EDIT);
      if (!parsed.ok) throw new Error(parsed.reason);
      const want = buildTttDataset(data.tasks[0]!.train, augmentationsFor(parsed.edit.augmentations)).examples.length;
      expect(r.stdout).toContain(`task 6150a2bd: ${want} TTT examples`);
      expect(r.stdout).toMatch(/leave-1-out: /);
      expect(r.stdout).toMatch(/training: \d+ optimizer steps, 3 epoch\(s\)/);
      expect(readFileSync(dump, 'utf8').trim().split('\n').length).toBe(want);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('bad input fails with one clear line', () => {
    const bad = (args: string[], code: number, message: RegExp) => expectCleanFailure(seal(...args), code, message);
    bad(['show', '--task', 'nope1234'], 2, /task nope1234 is in none of/);
    bad(['dataset', '--task', '6150a2bd', '--self-edit', '{"training": 1}'], 2, /--self-edit: /);
    bad(['dataset', '--task', '6150a2bd'], 2, /--self-edit is required/);
    bad(['frobnicate'], 2, /unknown arc subcommand 'frobnicate'/);
  });
});
