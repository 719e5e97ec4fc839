/**
 * Scoring (arclib/eval.py): a test input is right when either of its two attempts equals the solution (pass@2); a
 * task is solved only when every one of its test inputs was submitted and is right (44f52bb0 and b1fc8b8e in the
 * 1B sets have two). Also the Kaggle submission format, {task_id: [{"attempt_1": grid, "attempt_2": grid}, ...]}.
 */
import { gridsEqual, type Grid } from './grid.ts';
import { groupByTaskId, type ArcTestTask } from './tasks.ts';

/** pass@2: whether one of (at most two) attempts equals the solution. */
export function passAt2(attempts: readonly Grid[], solution: Grid): boolean {
  if (attempts.length > 2) throw new RangeError(`pass@2 scores at most 2 attempts, got ${attempts.length}`);
  return attempts.some((a) => gridsEqual(a, solution));
}

export interface TestScore {
  readonly name: string;
  readonly testIndex: number;
  readonly submitted: boolean;
  readonly correct: boolean;
}

export interface TaskScore {
  readonly taskId: string;
  /** All test inputs submitted and right. */
  readonly correct: boolean;
  readonly tests: readonly TestScore[];
}

export interface ScoreSummary {
  readonly tasks: readonly TaskScore[];
  readonly solved: number;
  readonly taskCount: number;
  readonly testsCorrect: number;
  readonly testCount: number;
  /** solved / taskCount (0 for no tasks). */
  readonly accuracy: number;
}

/** Attempts per test task name ("<id>-<k>"). */
export type AttemptsByName = ReadonlyMap<string, readonly Grid[]> | Readonly<Record<string, readonly Grid[]>>;

function attemptsOf(all: AttemptsByName, name: string): readonly Grid[] | undefined {
  return all instanceof Map ? all.get(name) : (all as Readonly<Record<string, readonly Grid[]>>)[name];
}

/**
 * Scores every task of `tasks` (all test inputs of each task must be in the list, with solutions); a test input with
 * no attempts counts as not submitted, so its task is not solved.
 */
export function scoreTasks(tasks: readonly ArcTestTask[], attempts: AttemptsByName): ScoreSummary {
  const scores: TaskScore[] = [];
  for (const [taskId, tests] of groupByTaskId(tasks)) {
    if (tests.length !== tests[0]!.testCount) {
      throw new RangeError(`task ${taskId} has ${tests[0]!.testCount} test inputs but ${tests.length} are in the list; a task is scored on all of them`);
    }
    const testScores = tests.map((t) => {
      if (!t.testOutput) throw new RangeError(`${t.name} has no solution to score against (load the solutions file)`);
      const a = attemptsOf(attempts, t.name);
      return { name: t.name, testIndex: t.testIndex, submitted: a !== undefined, correct: a !== undefined && passAt2(a, t.testOutput) };
    });
    scores.push({ taskId, correct: testScores.every((s) => s.submitted && s.correct), tests: testScores });
  }
  const solved = scores.filter((s) => s.correct).length;
  const allTests = scores.flatMap((s) => s.tests);
  return {
    tasks: scores,
    solved,
    taskCount: scores.length,
    testsCorrect: allTests.filter((t) => t.correct).length,
    testCount: allTests.length,
    accuracy: scores.length === 0 ? 0 : solved / scores.length,
  };
}

export type KaggleSubmission = Record<string, { attempt_1: Grid; attempt_2: Grid }[]>;

/**
 * The Kaggle submission of `tasks`: one entry per test input in order; a test input with no attempts gets the
 * placeholder [[0]] twice, a single attempt is repeated.
 */
export function kaggleSubmission(tasks: readonly ArcTestTask[], attempts: AttemptsByName): KaggleSubmission {
  const out: KaggleSubmission = {};
  for (const [taskId, tests] of groupByTaskId(tasks)) {
    out[taskId] = [...tests]
      .sort((a, b) => a.testIndex - b.testIndex)
      .map((t) => {
        const a = attemptsOf(attempts, t.name) ?? [];
        const first = a[0] ?? [[0]];
        return { attempt_1: first, attempt_2: a[1] ?? first };
      });
  }
  return out;
}
