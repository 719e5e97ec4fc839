import { describe, expect, it } from 'vitest';
import { kaggleSubmission, loadArcDataset, passAt2, scoreTasks, type Grid } from '../../src/domains/arc/index.ts';
import { arcFile, FILES } from './helpers.ts';

const data = loadArcDataset({ challenges: arcFile(FILES.eval1BChallenges), solutions: arcFile(FILES.eval1BSolutions) });
const solution = (name: string) => data.tasks.find((t) => t.name === name)!.testOutput!;
const WRONG: Grid = [[0]];

describe('scoring', () => {
  it('pass@2: either attempt may be right', () => {
    const s = solution('59341089-0');
    expect(passAt2([s, WRONG], s)).toBe(true);
    expect(passAt2([WRONG, s], s)).toBe(true);
    expect(passAt2([WRONG, WRONG], s)).toBe(false);
    expect(passAt2([s.slice(0, -1), WRONG], s)).toBe(false);
    expect(() => passAt2([WRONG, WRONG, s], s)).toThrow(/at most 2 attempts/);
  });

  it('a multi-test task is solved only when all its test inputs are right (b1fc8b8e)', () => {
    const tasks = data.tasks.filter((t) => t.taskId === 'b1fc8b8e' || t.taskId === 'c7d4e6ad');
    const both = scoreTasks(tasks, { 'b1fc8b8e-0': [WRONG, solution('b1fc8b8e-0')], 'b1fc8b8e-1': [solution('b1fc8b8e-1')], 'c7d4e6ad-0': [WRONG, WRONG] });
    expect(both.tasks.map((t) => [t.taskId, t.correct])).toEqual([
      ['b1fc8b8e', true],
      ['c7d4e6ad', false],
    ]);
    expect([both.solved, both.taskCount, both.testsCorrect, both.testCount, both.accuracy]).toEqual([1, 2, 2, 3, 0.5]);

    const oneWrong = scoreTasks(
      tasks,
      new Map([
        ['b1fc8b8e-0', [solution('b1fc8b8e-0')]],
        ['b1fc8b8e-1', [WRONG, WRONG]],
      ]),
    );
    expect(oneWrong.tasks[0]).toEqual({
      taskId: 'b1fc8b8e',
      correct: false,
      tests: [
        { name: 'b1fc8b8e-0', testIndex: 0, submitted: true, correct: true },
        { name: 'b1fc8b8e-1', testIndex: 1, submitted: true, correct: false },
      ],
    });
    const missing = scoreTasks(tasks, { 'b1fc8b8e-0': [solution('b1fc8b8e-0')] });
    expect(missing.tasks[0]!.correct).toBe(false);
    expect(missing.tasks[0]!.tests[1]).toEqual({ name: 'b1fc8b8e-1', testIndex: 1, submitted: false, correct: false });
  });

  it('scores the whole 1B evaluation set and refuses what it cannot score', () => {
    const all = Object.fromEntries(data.tasks.map((t) => [t.name, [t.testOutput!]]));
    expect(scoreTasks(data.tasks, all)).toMatchObject({ solved: 10, taskCount: 10, testsCorrect: 11, testCount: 11, accuracy: 1 });
    expect(() =>
      scoreTasks(
        data.tasks.filter((t) => t.name !== 'b1fc8b8e-1'),
        all,
      ),
    ).toThrow(/b1fc8b8e has 2 test inputs but 1 are in the list/);
    const unsolved = loadArcDataset({ challenges: arcFile(FILES.eval1BChallenges), taskIds: ['59341089'] });
    expect(() => scoreTasks(unsolved.tasks, {})).toThrow(/59341089-0 has no solution to score against/);
  });

  it('writes the Kaggle submission format', () => {
    const tasks = data.tasks.filter((t) => t.taskId === 'b1fc8b8e');
    expect(kaggleSubmission(tasks, { 'b1fc8b8e-1': [[[1]], [[2]]] })).toEqual({
      b1fc8b8e: [
        { attempt_1: [[0]], attempt_2: [[0]] },
        { attempt_1: [[1]], attempt_2: [[2]] },
      ],
    });
  });
});
