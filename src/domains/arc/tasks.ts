/**
 * ARC tasks from the Kaggle-format files (ARC Prize 2024):
 *   challenges: { task_id: { "train": [{ "input": grid, "output": grid }, ...], "test": [{ "input": grid }, ...] } }
 *   solutions:  { task_id: [grid, ...] }   one grid per test input
 * given as text or as parsed JSON. Everything is validated; errors name the source, the task, the pair and what is
 * wrong. Like the reference (Task.read_tasks_from_dict) a task with k test inputs becomes k test tasks named
 * "<id>-0" ... "<id>-(k-1)", sharing the train examples; a task is solved only when all of them are.
 *
 * Task selection is an explicit list of ids (never a seeded shuffle that drops some): every listed id must exist, and
 * a task that cannot be used is kept out with its reason in `excluded`, never dropped silently.
 */
import { ARC_MAX_SIDE, copyGrid, describe, gridProblem, type ArcExample, type Grid } from './grid.ts';

/** A malformed challenges or solutions file, or a task list that does not resolve; the message says where. */
export class ArcDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArcDataError';
  }
}

/** One task of a challenges file. */
export interface ArcChallenge {
  readonly train: readonly ArcExample[];
  readonly testInputs: readonly Grid[];
  /** Test outputs written in the challenges file itself (the original ARC repository's format); else null. */
  readonly testOutputs: readonly Grid[] | null;
}

/** One test input of a task: what is trained, prompted, voted and scored as a unit. */
export interface ArcTestTask {
  /** "<taskId>-<testIndex>", the reference's Task.name. */
  readonly name: string;
  readonly taskId: string;
  readonly testIndex: number;
  /** How many test inputs the task has (all must be right for the task to count as solved). */
  readonly testCount: number;
  readonly train: readonly ArcExample[];
  readonly testInput: Grid;
  /** The solution, when a solutions file (or the challenge itself) gives it; null otherwise. */
  readonly testOutput: Grid | null;
}

export interface ArcDataset {
  /** Where the tasks came from (for messages and records). */
  readonly source: string;
  /** Usable task ids, in the requested (or file) order. */
  readonly taskIds: readonly string[];
  /** One test task per test input of each usable task, grouped by task in taskIds order. */
  readonly tasks: readonly ArcTestTask[];
  /** Tasks that were asked for (or present, without a list) but cannot be used, and why. */
  readonly excluded: readonly { readonly taskId: string; readonly reason: string }[];
  /** Whether every usable task has its solutions (so the set can be scored). */
  readonly hasSolutions: boolean;
}

export interface LoadArcOptions {
  /** The challenges file: its text, or its parsed JSON. */
  challenges: unknown;
  /** The solutions file (text or parsed JSON), if scoring is wanted. */
  solutions?: unknown;
  /** Use exactly these task ids, in this order (each must be in the challenges). Default: every task in file order. */
  taskIds?: readonly string[];
  /** Names the files in messages; default "challenges" / "solutions". */
  challengesSource?: string;
  solutionsSource?: string;
}

/**
 * Loads a task set: validates both files, resolves the id list, splits tasks into test tasks. Throws ArcDataError
 * for malformed files, a solutions entry whose count does not match the task's test inputs, and listed ids that are
 * missing or repeated. Kept out with a reason (`excluded`): a task with no train examples (nothing to demonstrate or
 * train on) and, when solutions are given, a task that has none.
 */
export function loadArcDataset(options: LoadArcOptions): ArcDataset {
  const challengesSource = options.challengesSource ?? 'challenges';
  const solutionsSource = options.solutionsSource ?? 'solutions';
  const challenges = parseArcChallenges(options.challenges, challengesSource);
  const solutions = options.solutions === undefined ? null : parseArcSolutions(options.solutions, solutionsSource);

  const ids = options.taskIds ? resolveTaskIds(options.taskIds, challenges, challengesSource) : [...challenges.keys()];
  const taskIds: string[] = [];
  const tasks: ArcTestTask[] = [];
  const excluded: { taskId: string; reason: string }[] = [];
  for (const taskId of ids) {
    const challenge = challenges.get(taskId)!;
    let outputs: readonly Grid[] | null = challenge.testOutputs;
    if (solutions) {
      const solved = solutions.get(taskId);
      if (!solved) {
        excluded.push({ taskId, reason: `${solutionsSource} has no entry for this task, so it cannot be scored` });
        continue;
      }
      if (solved.length !== challenge.testInputs.length) {
        throw new ArcDataError(
          `${solutionsSource}: task "${taskId}" has ${solved.length} solution grid(s) but ${challengesSource} gives it ${challenge.testInputs.length} test input(s)`,
        );
      }
      outputs = solved;
    }
    if (challenge.train.length === 0) {
      excluded.push({ taskId, reason: 'the task has no train examples (nothing to demonstrate or train on)' });
      continue;
    }
    taskIds.push(taskId);
    challenge.testInputs.forEach((testInput, testIndex) => {
      tasks.push({
        name: `${taskId}-${testIndex}`,
        taskId,
        testIndex,
        testCount: challenge.testInputs.length,
        train: challenge.train,
        testInput,
        testOutput: outputs ? outputs[testIndex]! : null,
      });
    });
  }
  return {
    source: challengesSource,
    taskIds,
    tasks,
    excluded,
    hasSolutions: tasks.every((t) => t.testOutput !== null),
  };
}

function resolveTaskIds(list: readonly string[], challenges: ReadonlyMap<string, ArcChallenge>, source: string): string[] {
  if (!Array.isArray(list)) throw new ArcDataError(`taskIds must be a list of task id strings, got ${describe(list)}`);
  const seen = new Set<string>();
  const repeated: string[] = [];
  const missing: string[] = [];
  for (const id of list) {
    if (typeof id !== 'string') throw new ArcDataError(`taskIds must be strings, got ${describe(id)}`);
    if (seen.has(id)) repeated.push(id);
    seen.add(id);
    if (!challenges.has(id)) missing.push(id);
  }
  if (missing.length > 0)
    throw new ArcDataError(
      `${source} has no task ${missing.map((m) => `"${m}"`).join(', ')} (of ${list.length} listed; the file has ${challenges.size} tasks)`,
    );
  if (repeated.length > 0) throw new ArcDataError(`taskIds lists ${repeated.map((m) => `"${m}"`).join(', ')} more than once`);
  return [...list];
}

/**
 * Parses and validates a challenges file (text or parsed JSON) into tasks in file order. For text, the order is the
 * file's; for an already-parsed object it is the object's key order (JavaScript lists integer-like keys such as
 * "59341089" first), so pass text, or an explicit id list, where the order matters.
 */
export function parseArcChallenges(data: unknown, source = 'challenges'): Map<string, ArcChallenge> {
  const { value, order } = readJson(data, source);
  const root = expectObject(value, source, 'the file must be a JSON object mapping task ids to tasks');
  const tasks = new Map<string, ArcChallenge>();
  for (const taskId of order ?? Object.keys(root)) {
    const where = `${source}: task "${taskId}"`;
    const task = expectObject(root[taskId], where, 'expected {"train": [...], "test": [...]}');
    for (const key of ['train', 'test']) {
      if (!(key in task)) throw new ArcDataError(`${where}: missing "${key}" (expected {"train": [...], "test": [...]})`);
      if (!Array.isArray(task[key])) throw new ArcDataError(`${where}: "${key}" must be a list, got ${describe(task[key])}`);
    }
    const trainList = task.train as unknown[];
    const testList = task.test as unknown[];
    if (testList.length === 0) throw new ArcDataError(`${where}: "test" is empty (a task needs at least one test input)`);
    const train = trainList.map((pair, i) => {
      const p = expectObject(pair, `${where} train[${i}]`, 'expected {"input": grid, "output": grid}');
      return { input: readGrid(p.input, `${where} train[${i}].input`), output: readGrid(p.output, `${where} train[${i}].output`) };
    });
    const withOutput = testList.map((t, i) => 'output' in expectObject(t, `${where} test[${i}]`, 'expected {"input": grid}'));
    if (withOutput.some((w) => w !== withOutput[0])) throw new ArcDataError(`${where}: some test entries have an "output" and some do not`);
    const testInputs = testList.map((t, i) => readGrid((t as Record<string, unknown>).input, `${where} test[${i}].input`));
    const testOutputs = withOutput[0] ? testList.map((t, i) => readGrid((t as Record<string, unknown>).output, `${where} test[${i}].output`)) : null;
    tasks.set(taskId, { train, testInputs, testOutputs });
  }
  return tasks;
}

/** Parses and validates a solutions file (text or parsed JSON): task id -> one grid per test input. */
export function parseArcSolutions(data: unknown, source = 'solutions'): Map<string, Grid[]> {
  const { value, order } = readJson(data, source);
  const root = expectObject(value, source, 'the file must be a JSON object mapping task ids to lists of grids');
  const solutions = new Map<string, Grid[]>();
  for (const taskId of order ?? Object.keys(root)) {
    const where = `${source}: task "${taskId}"`;
    const list = root[taskId];
    if (!Array.isArray(list) || list.length === 0)
      throw new ArcDataError(`${where}: expected a non-empty list of grids (one per test input), got ${describe(list)}`);
    solutions.set(
      taskId,
      list.map((g, i) => readGrid(g, `${where} [${i}]`)),
    );
  }
  return solutions;
}

function readGrid(value: unknown, where: string): Grid {
  if (value === undefined) throw new ArcDataError(`${where}: missing`);
  const problem = gridProblem(value, ARC_MAX_SIDE);
  if (problem) throw new ArcDataError(`${where}: ${problem}`);
  return copyGrid(value as Grid);
}

function expectObject(value: unknown, where: string, expected: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ArcDataError(`${where}: ${expected}, got ${describe(value)}`);
  return value as Record<string, unknown>;
}

/** Parses text (recording its top-level key order) or passes parsed JSON through. */
function readJson(data: unknown, source: string): { value: unknown; order: string[] | null } {
  if (typeof data !== 'string') return { value: data, order: null };
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch (e) {
    throw new ArcDataError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  return { value, order: typeof value === 'object' && value !== null && !Array.isArray(value) ? topLevelKeys(data) : null };
}

/**
 * The keys of a JSON object text's top level, in the order written (JSON.parse loses it for integer-like keys).
 * Only called on text JSON.parse accepted, so it just tracks strings and nesting. Repeated keys keep their first place.
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (!seen.has(key)) keys.push(key);
        seen.add(key);
        expectKey = false;
      }
      i = j;
    } else if (ch === '{' || ch === '[') {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (ch === '}' || ch === ']') {
      depth--;
    } else if (ch === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}

/** The test tasks of each task id, in order. */
export function groupByTaskId(tasks: readonly ArcTestTask[]): Map<string, ArcTestTask[]> {
  const groups = new Map<string, ArcTestTask[]>();
  for (const t of tasks) {
    const g = groups.get(t.taskId);
    if (g) g.push(t);
    else groups.set(t.taskId, [t]);
  }
  return groups;
}

/** The hand-picked task lists of the SEAL paper's Llama-3.2-1B experiments (few-shot/data/filter_dataset.py), file order. */
export const SEAL_1B_TRAINING_TASK_IDS: readonly string[] = [
  '44f52bb0',
  '4be741c5',
  '5582e5ca',
  '5614dbcf',
  '5bd6f4ac',
  '6150a2bd',
  '67e8384a',
  '6d0aefbc',
  '6e02f1e3',
  '8be77c9e',
  '8d5021e8',
  '8e1813be',
];
export const SEAL_1B_EVAL_TASK_IDS: readonly string[] = [
  '358ba94e',
  '59341089',
  '66e6c45b',
  '68b67ca3',
  '903d1b4a',
  'af24b4cc',
  'b1fc8b8e',
  'bc4146bd',
  'c7d4e6ad',
  'ce8d95cc',
];
/**
 * The tasks the reference pipeline really scored (its n_tasks / num_examples slicing and seeded shuffle, replayed in
 * docs/reference/seal-arc.md §1.1): 10 training tasks (5bd6f4ac and 8e1813be never score) and 8 evaluation tasks
 * (ce8d95cc among them, although the reference never trained an adapter for it). For parity runs; a better experiment
 * scores the whole lists above.
 */
export const SEAL_1B_REFERENCE_SCORED_TRAINING_TASK_IDS: readonly string[] = [
  '6150a2bd',
  '8d5021e8',
  '5614dbcf',
  '8be77c9e',
  '4be741c5',
  '6d0aefbc',
  '44f52bb0',
  '67e8384a',
  '6e02f1e3',
  '5582e5ca',
];
export const SEAL_1B_REFERENCE_SCORED_EVAL_TASK_IDS: readonly string[] = [
  '903d1b4a',
  'c7d4e6ad',
  '66e6c45b',
  'ce8d95cc',
  'b1fc8b8e',
  '59341089',
  'bc4146bd',
  '68b67ca3',
];
