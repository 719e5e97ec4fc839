import { describe, expect, it } from 'vitest';
import {
  ArcDataError,
  groupByTaskId,
  loadArcDataset,
  parseArcChallenges,
  parseArcSolutions,
  SEAL_1B_EVAL_TASK_IDS,
  SEAL_1B_REFERENCE_SCORED_EVAL_TASK_IDS,
  SEAL_1B_REFERENCE_SCORED_TRAINING_TASK_IDS,
  SEAL_1B_TRAINING_TASK_IDS,
} from '../../src/domains/arc/index.ts';
import { arcFile, FILES, TASK_6150A2BD } from './helpers.ts';

const pair = (v: number) => ({ input: [[v]], output: [[v, v]] });

describe('the ARC files in ../shared/data/arc', () => {
  it('load with the counts of docs/reference/seal-arc.md §1.1', () => {
    const sets: [string, string, number, number, number][] = [
      [FILES.trainingChallenges, FILES.trainingSolutions, 400, 416, 1302],
      [FILES.evaluationChallenges, FILES.evaluationSolutions, 400, 419, 1363],
      [FILES.training1BChallenges, FILES.training1BSolutions, 12, 13, 42],
      [FILES.eval1BChallenges, FILES.eval1BSolutions, 10, 11, 35],
    ];
    for (const [c, s, tasks, tests, trainExamples] of sets) {
      const data = loadArcDataset({ challenges: arcFile(c), solutions: arcFile(s), challengesSource: c, solutionsSource: s });
      expect(data.taskIds, c).toHaveLength(tasks);
      expect(data.tasks, c).toHaveLength(tests);
      expect(data.excluded, c).toEqual([]);
      expect(data.hasSolutions).toBe(true);
      expect(
        [...groupByTaskId(data.tasks).values()].reduce((n, t) => n + t[0]!.train.length, 0),
        c,
      ).toBe(trainExamples);
    }
  });

  it('resolve the SEAL 1B subsets in the full files and the filtered files, in file order', () => {
    const training = loadArcDataset({
      challenges: arcFile(FILES.trainingChallenges),
      solutions: arcFile(FILES.trainingSolutions),
      taskIds: SEAL_1B_TRAINING_TASK_IDS,
    });
    expect(training.taskIds).toEqual(SEAL_1B_TRAINING_TASK_IDS);
    expect(training.tasks.map((t) => t.name).slice(0, 3)).toEqual(['44f52bb0-0', '44f52bb0-1', '4be741c5-0']);
    const filtered = loadArcDataset({ challenges: arcFile(FILES.training1BChallenges), solutions: arcFile(FILES.training1BSolutions) });
    expect(filtered.taskIds).toEqual(SEAL_1B_TRAINING_TASK_IDS);
    expect(filtered.tasks).toEqual(training.tasks);

    // 59341089 is integer-like: JSON.parse lists it first, the file (and the loader) second.
    const evalSet = loadArcDataset({ challenges: arcFile(FILES.eval1BChallenges), solutions: arcFile(FILES.eval1BSolutions) });
    expect(evalSet.taskIds).toEqual(SEAL_1B_EVAL_TASK_IDS);
    expect(Object.keys(JSON.parse(arcFile(FILES.eval1BChallenges)))[0]).toBe('59341089');
    const evalFull = loadArcDataset({
      challenges: arcFile(FILES.evaluationChallenges),
      solutions: arcFile(FILES.evaluationSolutions),
      taskIds: SEAL_1B_EVAL_TASK_IDS,
    });
    expect(evalFull.tasks).toEqual(evalSet.tasks);
    expect(evalSet.tasks.filter((t) => t.testCount === 2).map((t) => t.name)).toEqual(['b1fc8b8e-0', 'b1fc8b8e-1']);

    for (const ids of [SEAL_1B_REFERENCE_SCORED_TRAINING_TASK_IDS, SEAL_1B_REFERENCE_SCORED_EVAL_TASK_IDS]) {
      expect(ids.every((id) => SEAL_1B_TRAINING_TASK_IDS.includes(id) || SEAL_1B_EVAL_TASK_IDS.includes(id))).toBe(true);
    }
  });

  it('split a task into one test task per test input, with the solution', () => {
    const data = loadArcDataset({ challenges: arcFile(FILES.training1BChallenges), solutions: arcFile(FILES.training1BSolutions), taskIds: ['6150a2bd'] });
    expect(data.tasks).toEqual([{ name: '6150a2bd-0', taskId: '6150a2bd', testIndex: 0, testCount: 1, ...TASK_6150A2BD }]);
  });
});

describe('malformed files and task lists', () => {
  const err = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(ArcDataError);
      return (e as Error).message;
    }
    throw new Error('expected an ArcDataError');
  };

  it('name the file, the task, the pair and what is wrong', () => {
    const base = { train: [pair(1)], test: [{ input: [[1]] }] };
    expect(err(() => parseArcChallenges('{"a": ', 'c.json'))).toMatch(/^c\.json: not valid JSON/);
    expect(err(() => parseArcChallenges([], 'c.json'))).toMatch(/^c\.json: the file must be a JSON object/);
    expect(err(() => parseArcChallenges({ t1: { test: [] } }, 'c.json'))).toBe('c.json: task "t1": missing "train" (expected {"train": [...], "test": [...]})');
    expect(err(() => parseArcChallenges({ t1: { train: [], test: [] } }))).toMatch(/task "t1": "test" is empty/);
    expect(err(() => parseArcChallenges({ t1: { ...base, train: [pair(1), { input: [[1, 2], [3]], output: [[1]] }] } }))).toBe(
      'challenges: task "t1" train[1].input: row 1 has 1 cells but row 0 has 2 (grids are rectangular)',
    );
    expect(err(() => parseArcChallenges({ t1: { ...base, train: [{ input: [[1]], output: [[1, 10]] }] } }))).toBe(
      'challenges: task "t1" train[0].output: cell [0][1] is 10, not a colour 0-9',
    );
    expect(err(() => parseArcChallenges({ t1: { ...base, train: [{ input: [[1]] }] } }))).toBe('challenges: task "t1" train[0].output: missing');
    expect(err(() => parseArcChallenges({ t1: { ...base, test: [{ input: Array(31).fill([1]) }] } }))).toMatch(
      /test\[0\]\.input: the grid has 31 rows; ARC grids have at most 30/,
    );
    expect(err(() => parseArcChallenges({ t1: { ...base, test: [{ input: [] }] } }))).toMatch(/test\[0\]\.input: the grid has no rows/);
    expect(err(() => parseArcChallenges({ t1: { ...base, test: ['x'] } }))).toMatch(/test\[0\]: expected \{"input": grid\}/);
    expect(err(() => parseArcSolutions({ t1: [[[1]], [[1, 'a']]] }, 's.json'))).toBe('s.json: task "t1" [1]: cell [0][1] is "a", not a colour 0-9');
    expect(err(() => parseArcSolutions({ t1: [] }, 's.json'))).toMatch(/task "t1": expected a non-empty list of grids/);
  });

  it('refuse task lists that do not resolve and solutions that do not match', () => {
    const challenges = { a: { train: [pair(1)], test: [{ input: [[1]] }] }, b: { train: [pair(2)], test: [{ input: [[2]] }, { input: [[3]] }] } };
    expect(err(() => loadArcDataset({ challenges, taskIds: ['a', 'zz', 'yy'] }))).toBe('challenges has no task "zz", "yy" (of 3 listed; the file has 2 tasks)');
    expect(err(() => loadArcDataset({ challenges, taskIds: ['a', 'a'] }))).toBe('taskIds lists "a" more than once');
    expect(err(() => loadArcDataset({ challenges, solutions: { a: [[[1]]], b: [[[2]]] } }))).toBe(
      'solutions: task "b" has 1 solution grid(s) but challenges gives it 2 test input(s)',
    );
  });

  it('keep unusable tasks out with their reason, never silently', () => {
    const challenges = {
      a: { train: [pair(1)], test: [{ input: [[1]] }] },
      b: { train: [], test: [{ input: [[2]] }] },
      c: { train: [pair(3)], test: [{ input: [[3]] }] },
    };
    const data = loadArcDataset({ challenges, solutions: { a: [[[1, 1]]], b: [[[2]]] }, solutionsSource: 's.json' });
    expect(data.taskIds).toEqual(['a']);
    expect(data.excluded).toEqual([
      { taskId: 'b', reason: 'the task has no train examples (nothing to demonstrate or train on)' },
      { taskId: 'c', reason: 's.json has no entry for this task, so it cannot be scored' },
    ]);
    const noSolutions = loadArcDataset({ challenges, taskIds: ['c', 'a'] });
    expect(noSolutions.tasks.map((t) => [t.name, t.testOutput])).toEqual([
      ['c-0', null],
      ['a-0', null],
    ]);
    expect(noSolutions.hasSolutions).toBe(false);
  });

  it('reads test outputs written in the challenges file (the original ARC format)', () => {
    const data = loadArcDataset({ challenges: JSON.stringify({ a: { train: [pair(1)], test: [{ input: [[1]], output: [[1, 1]] }] } }) });
    expect(data.tasks[0]!.testOutput).toEqual([[1, 1]]);
    expect(err(() => parseArcChallenges({ a: { train: [pair(1)], test: [{ input: [[1]], output: [[1]] }, { input: [[2]] }] } }))).toMatch(
      /some test entries have an "output"/,
    );
  });
});
