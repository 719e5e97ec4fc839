import { describe, expect, it } from 'vitest';
import {
  answerText,
  applyGridAugmentation,
  buildInferencePlan,
  collectPredictions,
  decodeAnswer,
  formatGrid,
  gridKey,
  IDENTITY,
  loadArcDataset,
  problemKey,
  vote,
  type ChatTokenCounter,
  type InferenceQuery,
} from '../../src/domains/arc/index.ts';
import { arcFile, FILES, TASK_6150A2BD } from './helpers.ts';

const task = { name: '6150a2bd-0', ...TASK_6150A2BD };
/** The text a perfect model writes for a query: the solution under the query's transform. */
const perfectAnswer = (q: InferenceQuery, solution = TASK_6150A2BD.testOutput) =>
  answerText(q.transform ? applyGridAugmentation(q.transform, solution) : solution);

describe('augmented inference plan', () => {
  it('queries leave-one-out subsets, their example orders and five transforms (7 for a 2-example task)', () => {
    const plan = buildInferencePlan(task);
    expect(plan.valid).toBe(true);
    expect(plan.includeN).toEqual([1]);
    // Two subsets of one demo (a single order each), then Transpose, Flip(0), Flip(1), Rotate(90), Rotate(180).
    expect(plan.queries.map((q) => [q.inverter, q.demoIndices])).toEqual([
      [IDENTITY, [1]],
      [IDENTITY, [0]],
      ['Transpose()', expect.any(Array)],
      ['Flip(0)', expect.any(Array)],
      ['Flip(1)', expect.any(Array)],
      ['Rotate(270)', expect.any(Array)],
      ['Rotate(180)', expect.any(Array)],
    ]);
    expect(plan.queries.map((q) => q.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const rot = plan.queries[5]!;
    expect(rot.messages[1]).toEqual({ role: 'user', content: `${formatGrid(applyGridAugmentation(rot.transform!, TASK_6150A2BD.testInput))} ->` });
    expect(new Set(plan.queries.map((q) => problemKey(q.problem))).size).toBe(7);
  });

  it('never shows the solution and is deterministic for a seed', () => {
    const plan = buildInferencePlan({ ...task, testOutput: TASK_6150A2BD.testOutput } as typeof task);
    for (const q of plan.queries) {
      expect(q.problem.test.output).toBeUndefined();
      expect(q.messages.map((m) => m.role)).toEqual(['system', 'user']);
      // (The Rotate(180) query's input is the solution: this task's rule is a half turn.)
      if (q.transform === null) expect(q.messages.some((m) => m.content.includes(formatGrid(TASK_6150A2BD.testOutput)))).toBe(false);
    }
    expect(buildInferencePlan(task)).toEqual(plan);
  });

  it('queries about 17 problems for a 4-example task', () => {
    const data = loadArcDataset({ challenges: arcFile(FILES.eval1BChallenges), taskIds: ['903d1b4a'] });
    const plan = buildInferencePlan(data.tasks[0]!);
    // 4 subsets of 3 demos, each in up to 3 orders (a permutation equal to one already there is dropped), + 5.
    expect(plan.queries.length).toBeGreaterThanOrEqual(4 + 5);
    expect(plan.queries.length).toBeLessThanOrEqual(12 + 5);
    expect(plan.queries.filter((q) => q.inverter === IDENTITY).every((q) => q.demoIndices.length === 3)).toBe(true);
  });

  it('maps every answer back through the inverse transform, so a perfect model votes for the solution', () => {
    const plan = buildInferencePlan(task);
    const { predictions, failures } = collectPredictions(
      plan,
      plan.queries.map((q) => perfectAnswer(q)),
    );
    expect(failures).toEqual([]);
    expect(predictions.every((p) => gridKey(p.grid) === gridKey(TASK_6150A2BD.testOutput))).toBe(true);
    expect(vote(predictions).attempts[0]).toEqual(TASK_6150A2BD.testOutput);
  });

  it('keeps unreadable answers with their reason', () => {
    const plan = buildInferencePlan(task);
    expect(decodeAnswer(plan.queries[0]!, 'I think [[1 2]]')).toEqual({ ok: false, reason: 'text before the grid: "I think [[1 2]]"' });
    const outputs = plan.queries.map((q, i) => (i === 0 ? ['[[1 2]\n [3]]#', perfectAnswer(q)] : perfectAnswer(q)));
    const { predictions, failures } = collectPredictions(plan, outputs);
    expect(predictions).toHaveLength(7);
    expect(failures).toEqual([{ query: 0, text: '[[1 2]\n [3]]#', reason: 'row 1 has 1 cells but row 0 has 2' }]);
    expect(() => collectPredictions(plan, [])).toThrow(/0 outputs for 7 queries/);
  });

  it('drops queries at or over the token limit, adds leave-n + 1 when none is left, and says when nothing fits', () => {
    // 100 tokens per demo line plus 100: the one-demo queries count 200, the zero-demo ones 100.
    const count: ChatTokenCounter = (m) => 100 * (1 + m[0]!.content.split('\n').filter((l) => l.endsWith(']]#')).length);
    expect(buildInferencePlan(task, { countTokens: count, maxTokens: 201 }).queries).toHaveLength(7);
    const retried = buildInferencePlan(task, { countTokens: count, maxTokens: 200 });
    expect(retried.valid).toBe(true);
    expect(retried.includeN).toEqual([1, 2]);
    expect(retried.overTokenLimit).toBe(7);
    expect(retried.queries.every((q) => q.leaveN === 2 && q.problem.demos.length === 0 && q.tokens === 100)).toBe(true);
    expect(retried.queries).toHaveLength(6);
    const none = buildInferencePlan(task, { countTokens: count, maxTokens: 100 });
    expect([none.valid, none.queries.length, none.reason]).toEqual([false, 0, 'no query fits in 100 tokens (leave-n 1, 2; 13 over the limit)']);
  });
});
