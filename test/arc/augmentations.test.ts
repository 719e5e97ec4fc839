import { describe, expect, it } from 'vitest';
import {
  applyGridAugmentation,
  applyToGrid,
  applyToProblem,
  ArcRng,
  augmentationLabel,
  augmentationsFor,
  augmentProblem,
  AugmentationInverseError,
  BASIC_AUGMENTATIONS,
  chain,
  CHAIN_AUGMENTATIONS,
  flip,
  gridKey,
  increaseHeight,
  increaseResolution,
  increaseWidth,
  inverseAugmentation,
  invertGrid,
  invertGridAugmentation,
  invertProblem,
  permuteColors,
  permuteExamples,
  problemKey,
  randomTranslate,
  reflect,
  repeat,
  REPEAT_AUGMENTATIONS,
  rotate,
  SIZE_AUGMENTATIONS,
  transpose,
  type AppliedAugmentation,
  type Augmentation,
  type GridAugmentation,
} from '../../src/domains/arc/index.ts';
import { freshSeed, rng } from '../harness/numerics.ts';
import { randomGrid, randomProblem } from './helpers.ts';

const G = [
  [1, 2, 3],
  [4, 5, 6],
];
const GRID_AUGMENTATIONS: GridAugmentation[] = [
  rotate(90),
  rotate(180),
  rotate(270),
  flip(0),
  flip(1),
  transpose(),
  reflect(0, false),
  reflect(0, true),
  reflect(1, false),
  reflect(1, true),
  increaseResolution(2),
  increaseResolution(3),
  increaseHeight(2),
  increaseWidth(3),
  repeat(0, 2),
  repeat(1, 3),
  repeat(2, 2),
];
/** Every augmentation a recipe can name: the four groups plus colour and example permutations and a long chain. */
const ALL_AUGMENTATIONS: Augmentation[] = [
  ...GRID_AUGMENTATIONS,
  ...augmentationsFor({ basic: true, size: true, chain: true, repeat: true }),
  permuteColors(),
  permuteExamples(),
  chain(randomTranslate(), permuteColors(), reflect(1, true), permuteExamples(), rotate(270)),
];

describe('grid augmentations (numpy semantics)', () => {
  it('match hand-computed numpy results on a 2x3 grid', () => {
    const expected: [GridAugmentation, number[][]][] = [
      [
        rotate(90),
        [
          [3, 6],
          [2, 5],
          [1, 4],
        ],
      ],
      [
        rotate(180),
        [
          [6, 5, 4],
          [3, 2, 1],
        ],
      ],
      [
        rotate(270),
        [
          [4, 1],
          [5, 2],
          [6, 3],
        ],
      ],
      [
        flip(0),
        [
          [4, 5, 6],
          [1, 2, 3],
        ],
      ],
      [
        flip(1),
        [
          [3, 2, 1],
          [6, 5, 4],
        ],
      ],
      [
        transpose(),
        [
          [1, 4],
          [2, 5],
          [3, 6],
        ],
      ],
      [
        reflect(0, false),
        [
          [1, 2, 3],
          [4, 5, 6],
          [4, 5, 6],
          [1, 2, 3],
        ],
      ],
      [
        reflect(0, true),
        [
          [4, 5, 6],
          [1, 2, 3],
          [1, 2, 3],
          [4, 5, 6],
        ],
      ],
      [
        reflect(1, false),
        [
          [1, 2, 3, 3, 2, 1],
          [4, 5, 6, 6, 5, 4],
        ],
      ],
      [
        reflect(1, true),
        [
          [3, 2, 1, 1, 2, 3],
          [6, 5, 4, 4, 5, 6],
        ],
      ],
      [
        increaseResolution(2),
        [
          [1, 1, 2, 2, 3, 3],
          [1, 1, 2, 2, 3, 3],
          [4, 4, 5, 5, 6, 6],
          [4, 4, 5, 5, 6, 6],
        ],
      ],
      [
        increaseHeight(2),
        [
          [1, 2, 3],
          [1, 2, 3],
          [4, 5, 6],
          [4, 5, 6],
        ],
      ],
      [
        increaseWidth(2),
        [
          [1, 1, 2, 2, 3, 3],
          [4, 4, 5, 5, 6, 6],
        ],
      ],
      [
        repeat(0, 2),
        [
          [1, 2, 3],
          [4, 5, 6],
          [1, 2, 3],
          [4, 5, 6],
        ],
      ],
      [
        repeat(1, 2),
        [
          [1, 2, 3, 1, 2, 3],
          [4, 5, 6, 4, 5, 6],
        ],
      ],
      [
        repeat(2, 2),
        [
          [1, 2, 3, 1, 2, 3],
          [4, 5, 6, 4, 5, 6],
          [1, 2, 3, 1, 2, 3],
          [4, 5, 6, 4, 5, 6],
        ],
      ],
    ];
    for (const [aug, want] of expected) expect(applyGridAugmentation(aug, G), augmentationLabel(aug)).toEqual(want);
    expect(G).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
  });

  it('translate rolls like np.roll, input and output by their own draws modulo min(4, side)', () => {
    const t: AppliedAugmentation = { kind: 'translate', input: [1, 2], output: [4, 11] };
    expect(applyToGrid(t, G, 'input')).toEqual([
      [5, 6, 4],
      [2, 3, 1],
    ]); // np.roll(G, (1, 2), axis=(0, 1))
    expect(applyToGrid(t, G, 'output')).toEqual([
      [2, 3, 1],
      [5, 6, 4],
    ]); // shifts (4 % 2, 11 % 3) = (0, 2)
  });

  it('has the reference names, which label the voting categories', () => {
    expect(ALL_AUGMENTATIONS.slice(0, 10).map(augmentationLabel)).toEqual([
      'Rotate(90)',
      'Rotate(180)',
      'Rotate(270)',
      'Flip(0)',
      'Flip(1)',
      'Transpose()',
      'Reflect(0, reverse=False)',
      'Reflect(0, reverse=True)',
      'Reflect(1, reverse=False)',
      'Reflect(1, reverse=True)',
    ]);
    expect(CHAIN_AUGMENTATIONS.map(augmentationLabel)[0]).toBe('Chain([Rotate(90), IncreaseResolution(2)])');
    expect([rotate(90), rotate(180), rotate(270), flip(0), flip(1), transpose()].map((a) => augmentationLabel(inverseAugmentation(a)!))).toEqual([
      'Rotate(270)',
      'Rotate(180)',
      'Rotate(90)',
      'Flip(0)',
      'Flip(1)',
      'Transpose()',
    ]);
    expect(inverseAugmentation(increaseResolution(2))).toBeNull();
  });

  it('invert exactly on random grids', () => {
    const seed = freshSeed();
    const r = rng(seed);
    for (let i = 0; i < 200; i++) {
      const g = randomGrid(r, 12, 12);
      for (const aug of GRID_AUGMENTATIONS) {
        expect(gridKey(invertGridAugmentation(aug, applyGridAugmentation(aug, g))), `seed ${seed}, ${augmentationLabel(aug)}`).toBe(gridKey(g));
      }
    }
  });

  it('size-changing inverses refuse grids the augmentation cannot produce', () => {
    expect(() => invertGridAugmentation(increaseResolution(2), [[1, 1, 2]])).toThrow(/height \(1\) is not a multiple of 2/);
    expect(() =>
      invertGridAugmentation(increaseResolution(2), [
        [1, 1],
        [1, 2],
      ]),
    ).toThrow(AugmentationInverseError);
    expect(() => invertGridAugmentation(increaseHeight(2), [[1], [2]])).toThrow(/2-cell blocks are not uniform/);
    expect(() => invertGridAugmentation(increaseWidth(2), [[1, 2, 3]])).toThrow(/width \(3\)/);
    expect(() => invertGridAugmentation(reflect(0, false), [[1], [2]])).toThrow(/halves are not mirror images/);
    expect(() => invertGridAugmentation(repeat(1, 2), [[1, 2, 1, 3]])).toThrow(/tiles differ/);
    expect(invertGridAugmentation(reflect(1, true), [[2, 1, 1, 2]])).toEqual([[1, 2]]);
  });
});

describe('task-level augmentations', () => {
  it('every augmentation (groups, chains, colour and example permutations) round-trips on random problems', () => {
    const seed = freshSeed();
    const r = rng(seed);
    const gen = ArcRng.create(seed, 1);
    for (let i = 0; i < 30; i++) {
      const problem = randomProblem(r, Math.floor(r() * 5), 10);
      for (const aug of ALL_AUGMENTATIONS) {
        const { problem: out, applied } = augmentProblem(aug, problem, gen);
        const where = `seed ${seed}, problem ${i}, ${augmentationLabel(applied)}`;
        expect(problemKey(applyToProblem(applied, problem)), where).toBe(problemKey(out));
        expect(problemKey(invertProblem(applied, out)), where).toBe(problemKey(problem));
        expect(gridKey(invertGrid(applied, out.test.output!, 'output')), where).toBe(gridKey(problem.test.output!));
      }
    }
  });

  it('a colour permutation is a bijection that keeps 0 and moves used colours to unused ones first', () => {
    const seed = freshSeed();
    const gen = ArcRng.create(seed, 2);
    const problem = {
      demos: [
        {
          input: [
            [0, 1],
            [2, 0],
          ],
          output: [[2, 1]],
        },
      ],
      test: { input: [[1]], output: [[0]] },
    };
    for (let i = 0; i < 50; i++) {
      const { applied } = augmentProblem(permuteColors(), problem, gen);
      if (applied.kind !== 'colors') throw new Error('expected a colour map');
      expect([...applied.map].sort(), `seed ${seed}`).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(applied.map[0]).toBe(0);
      expect(
        [applied.map[1], applied.map[2]].every((c) => c! >= 3),
        `seed ${seed}: ${applied.map}`,
      ).toBe(true);
    }
    // All nine colours used: the map is made of swaps among them.
    const full = { demos: [{ input: [[1, 2, 3, 4, 5, 6, 7, 8, 9]], output: [[0]] }], test: { input: [[1]] } };
    for (let i = 0; i < 50; i++) {
      const { applied } = augmentProblem(permuteColors(), full, gen);
      if (applied.kind !== 'colors') throw new Error('expected a colour map');
      applied.map.forEach((to, from) => {
        expect(applied.map[to], `seed ${seed}: ${applied.map}`).toBe(from);
      });
    }
  });

  it('random translation draws the same shifts for every example and does not advance the generator', () => {
    const seed = freshSeed();
    const gen = ArcRng.create(seed, 3);
    const problem = randomProblem(rng(seed), 3, 9);
    const before = gen.clone().nextU32();
    const a = augmentProblem(randomTranslate(), problem, gen).applied;
    const b = augmentProblem(randomTranslate(), problem, gen).applied;
    expect(a).toEqual(b);
    expect(gen.nextU32()).toBe(before);
    if (a.kind !== 'translate') throw new Error('expected translate draws');
    for (const d of [...a.input, ...a.output]) expect(d >= 0 && d < 12).toBe(true);
  });

  it('example permutation reorders demos only; draws are deterministic for a seed', () => {
    const problem = randomProblem(rng(7), 4);
    const one = augmentProblem(permuteExamples(), problem, ArcRng.create(11, 5));
    const two = augmentProblem(permuteExamples(), problem, ArcRng.create(11, 5));
    expect(one).toEqual(two);
    expect(one.problem.test).toBe(problem.test);
    expect([...one.problem.demos].map((d) => problemKey({ demos: [], test: d })).sort()).toEqual(
      problem.demos.map((d) => problemKey({ demos: [], test: d })).sort(),
    );
  });

  it('the four self-edit groups have the reference members, in the reference order', () => {
    expect(BASIC_AUGMENTATIONS.map(augmentationLabel)).toEqual([
      'Rotate(90)',
      'Rotate(270)',
      'Rotate(180)',
      'Flip(0)',
      'Flip(1)',
      'Reflect(0, reverse=True)',
      'Reflect(1, reverse=True)',
      'Reflect(0, reverse=False)',
      'Reflect(1, reverse=False)',
      'RandomTranslateXY()',
      'Transpose()',
    ]);
    expect(SIZE_AUGMENTATIONS.map(augmentationLabel)).toEqual(['IncreaseResolution(2)', 'IncreaseHeight(2)', 'IncreaseWidth(2)']);
    expect(CHAIN_AUGMENTATIONS.map(augmentationLabel)).toEqual(
      ['Rotate(90)', 'Rotate(270)', 'Rotate(180)', 'Flip(0)', 'Flip(1)', 'Transpose()'].map((g) => `Chain([${g}, IncreaseResolution(2)])`),
    );
    expect(REPEAT_AUGMENTATIONS.map(augmentationLabel)).toEqual(['Repeat(0, 2)', 'Repeat(1, 2)', 'Repeat(2, 2)']);
    expect(augmentationsFor({ basic: true, size: true, chain: true, repeat: true })).toHaveLength(23);
    expect(augmentationsFor({ basic: false, size: true, chain: false, repeat: true }).map(augmentationLabel)).toEqual([
      'IncreaseResolution(2)',
      'IncreaseHeight(2)',
      'IncreaseWidth(2)',
      'Repeat(0, 2)',
      'Repeat(1, 2)',
      'Repeat(2, 2)',
    ]);
    expect(augmentationsFor({ basic: false, size: false, chain: false, repeat: false })).toEqual([]);
  });

  it('bad factors are refused', () => {
    expect(() => increaseResolution(1)).toThrow(/integer >= 2/);
    expect(() => repeat(0, 1.5)).toThrow(/integer >= 2/);
  });
});

describe('ArcRng', () => {
  it('is deterministic per (seed, stream), uniform enough, and shuffles into permutations', () => {
    const a = ArcRng.create(0, 1);
    const b = ArcRng.create(0, 1);
    const c = ArcRng.create(0, 2);
    const xs = Array.from({ length: 8 }, () => a.nextU32());
    expect(Array.from({ length: 8 }, () => b.nextU32())).toEqual(xs);
    expect(Array.from({ length: 8 }, () => c.nextU32())).not.toEqual(xs);
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) counts[a.int(3)]!++;
    for (const n of counts) expect(n).toBeGreaterThan(850);
    expect(a.permutation(9).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(() => a.int(0)).toThrow(/integer in \[1, 2\^32\]/);
  });
});
