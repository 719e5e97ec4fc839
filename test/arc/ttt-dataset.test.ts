import { describe, expect, it } from 'vitest';
import {
  augmentationsFor,
  buildTttDataset,
  combinations,
  formatGrid,
  loadArcDataset,
  problemKey,
  tttTrainingRows,
  type AugmentationChoice,
  type ChatTokenCounter,
} from '../../src/domains/arc/index.ts';
import { encodeChat, ChatTemplate } from '../../src/text/chat-template.ts';
import { arcFile, FILES, TASK_6150A2BD } from './helpers.ts';
import { LLAMA_DIR, loadDir } from '../text/load.ts';

const training = loadArcDataset({ challenges: arcFile(FILES.training1BChallenges), solutions: arcFile(FILES.training1BSolutions) });
const trainOf = (id: string) => training.tasks.find((t) => t.taskId === id)!.train;
const choice = (groups: string): AugmentationChoice => ({
  basic: groups.includes('basic'),
  size: groups.includes('size'),
  chain: groups.includes('chain'),
  repeat: groups.includes('repeat'),
});

describe('TTT dataset construction', () => {
  /*
   * Counts by hand for 6150a2bd: N = 2 train examples of 3x3 grids, k augmentations.
   *   leave-1: 2 problems (test i, the other example as the one demo); leave-2: 2 problems with 0 demos.
   *   Every augmentation keeps these grids within 30 (at most 6x6) and gives a new problem: 2 + 2k distinct per list.
   *   With k > 0 each gets a colour-permuted copy (new colours, so new problems): 2(2 + 2k) per list, 8 + 8k in all.
   *   With k = 0 only the example order is permuted, and one demo or none has a single order: 2 per list, 4 in all.
   * These are the reference's counts for this task (docs/reference/seal-arc.md §1.7): 4, 96, 32, 56, 32, 120, 192.
   */
  const cases: [string, number, number][] = [
    ['none', 0, 4],
    ['basic', 11, 96],
    ['size', 3, 32],
    ['chain', 6, 56],
    ['repeat', 3, 32],
    ['basic+size', 14, 120],
    ['basic+size+chain+repeat', 23, 192],
  ];
  for (const [groups, k, total] of cases) {
    it(`6150a2bd with ${groups}: ${total} examples (k = ${k})`, () => {
      const augs = augmentationsFor(choice(groups));
      expect(augs).toHaveLength(k);
      const d = buildTttDataset(TASK_6150A2BD.train, augs);
      expect(d.examples).toHaveLength(total);
      expect(d.lists.map((l) => [l.leaveN, l.initial, l.augmented, l.oversize, l.distinct, l.permuted, l.total, l.kept])).toEqual([
        [1, 2, 2 * k, 0, 2 + 2 * k, 2 + 2 * k, total / 2, total / 2],
        [2, 2, 2 * k, 0, 2 + 2 * k, 2 + 2 * k, total / 2, total / 2],
      ]);
      expect(d.capped).toBe(false);
      expect(new Set(d.examples.map((e) => problemKey(e.problem))).size).toBe(total);
      expect(d.examples.filter((e) => e.leaveN === 2).every((e) => e.problem.demos.length === 0)).toBe(true);
    });
  }

  /*
   * Counts by hand for 4be741c5 (3 train examples; grids: ex0 input 14x16, output 1x3; ex1 9x7 -> 3x1; ex2 11x9 ->
   * 4x1), following the rules (src/domains/arc/ttt-dataset.ts, docs/reference/seal-arc.md §1.5 and §1.7):
   *   initial: leave-1 has 3 problems (test i, the other two as demos); leave-2 has 3·2 = 6 (test i, one demo j).
   *   Every problem of leave-1 holds ex0 (as test or demo); in leave-2 four hold it, (test 1, demo 2) and
   *   (test 2, demo 1) do not.
   *   size filter (a side over 30 drops the problem): ex0's 14x16 input doubled in width (IncreaseResolution(2):
   *   28x32, IncreaseWidth(2): 14x32, Repeat(1, 2): 14x32, Repeat(2, 2): 28x32, any Chain([g, IncreaseResolution(2)]):
   *   32x28 or 28x32) is too wide or too high; doubled in height only (28x16) it fits. ex1 and ex2 fit every way
   *   (at most 22x18) and outputs are tiny.
   *   distinct: an augmented problem differs from its initial one (its grids change shape). Within a list, each
   *   (initial problem, augmentation) has its own grid shapes, except the chain augmentations of one problem, which
   *   share shapes in threes (rot90, rot270, transpose: 9x7 -> 14x18; rot180, flip0, flip1: 18x14); two of them
   *   coincide only if a rot180 or a flip fixes every grid, and ex1's and ex2's inputs are not symmetric (checked
   *   below), so all are distinct.
   *   permuted: each distinct problem gets one copy (augmentations chosen: PermuteColors then PermuteExamples).
   *   PermuteColors sends the smallest colour the problem uses to one it does not use (these tasks use at most 6
   *   of the 9), so a copy holds a colour its source lacks and its grid shapes match no other problem of the list
   *   (shapes tell the test example and the augmentation apart; a demo order alone does not): every copy is new,
   *   and the list doubles.
   *   size (k = 3):   leave-1: 9 made, 6 too big (IncreaseResolution, IncreaseWidth of the 3 problems), 3 + 3
   *                   distinct, 12 in all. leave-2: 18 made, 8 too big (2 augmentations x 4 problems with ex0),
   *                   6 + 10 distinct, 32 in all. 44, as the reference's own code counts for this task.
   *   repeat (k = 3): Repeat(0, 2), Repeat(1, 2), Repeat(2, 2) double the same sides as the size group: 44.
   *   chain (k = 6):  leave-1: all 18 too big, 3 distinct, 6 in all. leave-2: 36 made, 24 too big (6 x 4),
   *                   6 + 12 distinct, 36 in all. 42, as the reference's code counts.
   */
  const task4be741c5 = () => trainOf('4be741c5');
  it('4be741c5 (3 examples, a 14x16 grid): the counts derived by hand from the rules', () => {
    const train = task4be741c5();
    expect(train.map((e) => [e.input.length, e.input[0]!.length, e.output.length, e.output[0]!.length])).toEqual([
      [14, 16, 1, 3],
      [9, 7, 3, 1],
      [11, 9, 4, 1],
    ]);
    // The asymmetry the chain count rests on: neither input is fixed by flipud or fliplr (nor by rot180, which is both).
    const flipUd = (g: number[][]) => [...g].reverse();
    const flipLr = (g: number[][]) => g.map((r) => [...r].reverse());
    const rot180 = (g: number[][]) => flipLr(flipUd(g));
    for (const e of train.slice(1)) {
      for (const f of [flipUd, flipLr, rot180]) expect(JSON.stringify(f(e.input as number[][]))).not.toBe(JSON.stringify(e.input));
    }
    // [leaveN, initial, augmented (made), oversize, distinct, permuted, total, kept]
    const counts = (groups: string) => {
      const d = buildTttDataset(train, augmentationsFor(choice(groups)));
      return [d.examples.length, d.lists.map((l) => [l.leaveN, l.initial, l.augmented, l.oversize, l.distinct, l.permuted, l.total, l.kept])];
    };
    const sizeLike = [
      44,
      [
        [1, 3, 9, 6, 6, 6, 12, 12],
        [2, 6, 18, 8, 16, 16, 32, 32],
      ],
    ];
    expect(counts('size')).toEqual(sizeLike);
    expect(counts('repeat')).toEqual(sizeLike);
    expect(counts('chain')).toEqual([
      42,
      [
        [1, 3, 18, 18, 3, 3, 6, 6],
        [2, 6, 36, 24, 18, 18, 36, 36],
      ],
    ]);
  });

  it('leave-one-out and leave-two-out problems follow the rule on a 4-example task', () => {
    const train = trainOf('5bd6f4ac');
    expect(train).toHaveLength(4);
    const d = buildTttDataset(train, []);
    // leave-1: 4 problems of 3 demos; leave-2: 4 x 3 problems of 2 demos, the others in their original order.
    expect(d.lists.map((l) => l.initial)).toEqual([4, 12]);
    expect(d.examples.filter((e) => e.leaveN === 1 && e.recipe.length === 0).map((e) => [e.testIndex, e.demoIndices])).toEqual([
      [0, [1, 2, 3]],
      [1, [0, 2, 3]],
      [2, [0, 1, 3]],
      [3, [0, 1, 2]],
    ]);
    expect(d.examples.filter((e) => e.leaveN === 2 && e.recipe.length === 0).map((e) => `${e.testIndex}:${e.demoIndices.join('')}`)).toEqual([
      '0:23',
      '0:13',
      '0:12',
      '1:23',
      '1:03',
      '1:02',
      '2:13',
      '2:03',
      '2:01',
      '3:12',
      '3:02',
      '3:01',
    ]);
    // Example-permuted copies equal to their original (identity order) are dropped: 4..8 and 12..24 survive.
    const [l1, l2] = d.lists;
    expect(l1!.total).toBeGreaterThanOrEqual(4);
    expect(l1!.total).toBeLessThanOrEqual(8);
    expect(l2!.total).toBeGreaterThanOrEqual(12);
    expect(l2!.total).toBeLessThanOrEqual(24);
    expect(l1!.permuted).toBe(4);
    expect(l2!.permuted).toBe(12);
    expect(d.examples.filter((e) => e.recipe.length === 1).every((e) => /^PermuteExamples\([0-9,]+\)$/.test(e.recipe[0]!))).toBe(true);
    expect(combinations([0, 1, 2, 3], 2)).toEqual([
      [0, 1],
      [0, 2],
      [0, 3],
      [1, 2],
      [1, 3],
      [2, 3],
    ]);
  });

  it('drops augmented problems with a side over 30', () => {
    const big = { input: Array.from({ length: 16 }, () => Array(16).fill(1)), output: [[2]] };
    const d = buildTttDataset([big, { input: [[3]], output: [[4]] }], augmentationsFor(choice('size')));
    // IncreaseResolution(2) and IncreaseHeight(2) / IncreaseWidth(2) make a 32-wide or 32-high grid of any problem
    // that contains the 16x16 input: in each list both problems contain it.
    expect(d.lists.map((l) => [l.augmented, l.oversize])).toEqual([
      [6, 6],
      [6, 3],
    ]);
  });

  it('is deterministic for a seed, and the seed matters', () => {
    const augs = augmentationsFor(choice('basic+chain'));
    const a = buildTttDataset(trainOf('44f52bb0'), augs);
    const b = buildTttDataset(trainOf('44f52bb0'), augs);
    const c = buildTttDataset(trainOf('44f52bb0'), augs, { seed: 1 });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(c.examples.map((e) => problemKey(e.problem))).not.toEqual(a.examples.map((e) => problemKey(e.problem)));
  });

  it('caps 44f52bb0 with all four groups at 250 of 1728 examples (the reference count)', () => {
    const d = buildTttDataset(trainOf('44f52bb0'), augmentationsFor(choice('basic+size+chain+repeat')));
    expect(d.lists.map((l) => [l.initial, l.total])).toEqual([
      [6, 288],
      [30, 1440],
    ]);
    expect(d.beforeCap).toBe(1728);
    expect(d.capped).toBe(true);
    expect(d.examples).toHaveLength(250);
    expect(new Set(d.examples.map((e) => problemKey(e.problem))).size).toBe(250);
    expect(buildTttDataset(trainOf('44f52bb0'), [], { maxExamples: 10 }).examples).toHaveLength(10);
  });

  it('applies the token filter strictly below maxTokens', () => {
    // 100 tokens per demo line ("... ]]#") plus 100: problems with a demo reach 200 and are dropped at maxTokens 200.
    const count: ChatTokenCounter = (messages) => 100 * (1 + messages[0]!.content.split('\n').filter((l) => l.endsWith(']]#')).length);
    const d = buildTttDataset(TASK_6150A2BD.train, [], { countTokens: count, maxTokens: 200 });
    expect(d.lists.map((l) => [l.total, l.overTokenLimit, l.kept])).toEqual([
      [2, 2, 0],
      [2, 0, 2],
    ]);
    expect(d.examples.every((e) => e.tokens === 100)).toBe(true);
    expect(buildTttDataset(TASK_6150A2BD.train, [], { countTokens: count, maxTokens: 201 }).examples).toHaveLength(4);
  });

  it('counts real Llama-3.2 tokens with the chat template (BOS once)', async () => {
    const tokenizer = await loadDir(LLAMA_DIR);
    const template = new ChatTemplate(tokenizer.config);
    const count: ChatTokenCounter = (messages) => encodeChat(tokenizer, messages, { template, addGenerationPrompt: false }).length;
    const d = buildTttDataset(TASK_6150A2BD.train, augmentationsFor(choice('size')), { countTokens: count });
    expect(d.examples).toHaveLength(32);
    for (const e of d.examples) {
      const ids = encodeChat(tokenizer, e.messages, { template, addGenerationPrompt: false });
      expect(e.tokens).toBe(ids.length);
      expect(ids.filter((id) => id === tokenizer.bosId)).toHaveLength(1);
    }
    const rendered = template.render(d.examples[0]!.messages, { addGenerationPrompt: false });
    expect(rendered).toContain('Today Date: 26 Jul 2024');
    expect(rendered.endsWith(`${formatGrid(d.examples[0]!.problem.test.output!)}#<|eot_id|>`)).toBe(true);
  });

  it('gives SFT rows of system, user and assistant messages', () => {
    const d = buildTttDataset(TASK_6150A2BD.train, []);
    const rows = tttTrainingRows(d);
    expect(rows).toHaveLength(4);
    expect(rows[0]!.line).toBe(1);
    expect(rows.every((r) => r.kind === 'messages' && r.messages.map((m) => m.role).join() === 'system,user,assistant')).toBe(true);
  });

  it('refuses bad settings and empty tasks', () => {
    expect(() => buildTttDataset([], [])).toThrow(/no train examples/);
    expect(() => buildTttDataset(TASK_6150A2BD.train, [], { leaveN: [0] })).toThrow(/data\.leaveN/);
    expect(() => buildTttDataset(TASK_6150A2BD.train, [], { maxExamples: 0 })).toThrow(/data\.maxExamples is 0; expected an integer >= 1/);
  });
});
