/**
 * ARC tasks and self-edits as the page sees them (plain JSON, api.ts) and as the ARC domain takes them: tasks go
 * through the same loader and validation as the CLI's (src/domains/arc/tasks.ts), so a broken task gets the same
 * message; a self-edit card's JSON is the schema's own format, parsed and clamped as a sampled one.
 */
import { ArcDataError, loadArcDataset, type ArcDataset } from '../../src/domains/arc/tasks.ts';
import { parseSelfEdit, selfEditJson, type SelfEdit } from '../../src/domains/arc/self-edit.ts';
import type { SelfEditLimits } from '../../src/domains/arc/settings.ts';
import type { ArcTaskView, GridJson, SelfEditJson } from './api.ts';

const grid = (g: readonly (readonly number[])[]): GridJson => g.map((row) => [...row]);

/** Every task of a loaded dataset as views (test outputs where the dataset has them). */
export function taskViews(dataset: ArcDataset): ArcTaskView[] {
  return dataset.taskIds.map((id) => {
    const tests = dataset.tasks.filter((t) => t.taskId === id);
    return {
      id,
      train: tests[0]!.train.map((e) => ({ input: grid(e.input), output: grid(e.output) })),
      test: tests.map((t) => ({ input: grid(t.testInput), output: t.testOutput ? grid(t.testOutput) : null })),
    };
  });
}

/** Loads a challenges file (and its solutions) as the CLI does, refusing tasks that cannot be used. */
export function loadTaskViews(challenges: string, solutions: string | null, ids?: readonly string[]): ArcTaskView[] {
  const dataset = loadArcDataset({
    challenges,
    ...(solutions !== null ? { solutions } : {}),
    ...(ids ? { taskIds: ids } : {}),
  });
  if (dataset.excluded.length > 0) {
    throw new ArcDataError(`${dataset.excluded.length} task(s) cannot be used: ${dataset.excluded.map((e) => `${e.taskId} (${e.reason})`).join('; ')}`);
  }
  if (dataset.taskIds.length === 0) throw new ArcDataError('challenges holds no task');
  return taskViews(dataset);
}

/**
 * A pasted task: one task ({"train": [...], "test": [{"input": ..., "output": ...}]}, the original ARC format, the
 * solutions in the test entries) or a challenges file holding one task. Named `id` (default "pasted").
 */
export function parseTaskJson(json: string, id = 'pasted'): ArcTaskView {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    throw new ArcDataError(`pasted task: not valid JSON (${(e as Error).message})`);
  }
  const single = typeof value === 'object' && value !== null && !Array.isArray(value) && ('train' in value || 'test' in value);
  const challenges = single ? { [id]: value } : value;
  const dataset = loadArcDataset({ challenges, challengesSource: 'pasted task' });
  if (dataset.taskIds.length !== 1 || dataset.excluded.length > 0) {
    const why = dataset.excluded[0]?.reason ?? `it holds ${dataset.taskIds.length} tasks; paste one`;
    throw new ArcDataError(`pasted task: ${why}`);
  }
  return taskViews(dataset)[0]!;
}

/** The dataset of some task views (for the ARC domain); every test input needs its solution to be scored. */
export function datasetOf(tasks: readonly ArcTaskView[]): ArcDataset {
  const challenges: Record<string, unknown> = {};
  const solutions: Record<string, unknown> = {};
  for (const t of tasks) {
    if (t.test.some((x) => x.output === null)) throw new ArcDataError(`task ${t.id} has a test input without its solution: scoring needs every test output`);
    challenges[t.id] = { train: t.train, test: t.test.map((x) => ({ input: x.input })) };
    solutions[t.id] = t.test.map((x) => x.output);
  }
  return loadArcDataset({ challenges, solutions, taskIds: tasks.map((t) => t.id) });
}

/** A card's self-edit, validated (clamped values recorded by the domain when it runs). */
export function selfEditOf(json: SelfEditJson, limits?: SelfEditLimits): SelfEdit {
  const parsed = parseSelfEdit(JSON.stringify(json), limits);
  if (!parsed.ok) throw new Error(`invalid self-edit: ${parsed.reason}`);
  return parsed.edit;
}

/** A self-edit in the schema's field names. */
export function selfEditView(edit: SelfEdit): SelfEditJson {
  return JSON.parse(selfEditJson(edit)) as SelfEditJson;
}
