/** Shared helpers of the ARC domain tests: seeded random grids and problems, and the ARC files in ../shared. */
import { readFileSync } from 'node:fs';
import type { ArcExample, ArcProblem, Grid } from '../../src/domains/arc/index.ts';
import { sharedPath } from '../harness/shared.ts';

/** A random grid with sides in [1, maxH] x [1, maxW] and colours drawn from `colors` (default 0-9). */
export function randomGrid(r: () => number, maxH = 8, maxW = 8, colors = 10): Grid {
  const h = 1 + Math.floor(r() * maxH);
  const w = 1 + Math.floor(r() * maxW);
  return Array.from({ length: h }, () => Array.from({ length: w }, () => Math.floor(r() * colors)));
}

export function randomExample(r: () => number, maxSide = 8): ArcExample {
  return { input: randomGrid(r, maxSide, maxSide), output: randomGrid(r, maxSide, maxSide) };
}

export function randomProblem(r: () => number, demos: number, maxSide = 8): ArcProblem {
  return { demos: Array.from({ length: demos }, () => randomExample(r, maxSide)), test: randomExample(r, maxSide) };
}

/** The text of a file in ../shared/data/arc. */
export function arcFile(name: string): string {
  return readFileSync(sharedPath(`data/arc/${name}`), 'utf8');
}

export const FILES = {
  trainingChallenges: 'arc-agi_training_challenges.json',
  trainingSolutions: 'arc-agi_training_solutions.json',
  evaluationChallenges: 'arc-agi_evaluation_challenges.json',
  evaluationSolutions: 'arc-agi_evaluation_solutions.json',
  training1BChallenges: 'arc-agi_training_challenges_filtered_1B_training_set.json',
  training1BSolutions: 'arc-agi_training_solutions_filtered_1B_training_set.json',
  eval1BChallenges: 'arc-agi_evaluation_challenges_filtered_1B_eval_set.json',
  eval1BSolutions: 'arc-agi_evaluation_solutions_filtered_1B_eval_set.json',
} as const;

/** Task 6150a2bd (1B training set): two 3x3 train pairs, out = in rotated by 180 degrees. */
export const TASK_6150A2BD = {
  train: [
    {
      input: [
        [3, 3, 8],
        [3, 7, 0],
        [5, 0, 0],
      ],
      output: [
        [0, 0, 5],
        [0, 7, 3],
        [8, 3, 3],
      ],
    },
    {
      input: [
        [5, 5, 2],
        [1, 0, 0],
        [0, 0, 0],
      ],
      output: [
        [0, 0, 0],
        [0, 0, 1],
        [2, 5, 5],
      ],
    },
  ],
  testInput: [
    [6, 3, 5],
    [6, 8, 0],
    [4, 0, 0],
  ],
  testOutput: [
    [0, 0, 4],
    [0, 8, 6],
    [5, 3, 6],
  ],
};
