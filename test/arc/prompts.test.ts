import { describe, expect, it } from 'vitest';
import { selfEditPrompt, SOLVE_INSTRUCTION, solveConversation, solvePrompt } from '../../src/domains/arc/index.ts';
import { TASK_6150A2BD } from './helpers.ts';

const problem = { demos: TASK_6150A2BD.train, test: { input: TASK_6150A2BD.testInput, output: TASK_6150A2BD.testOutput } };

describe('ARC prompts', () => {
  it('solve messages have the reference structure and grid text (docs/reference/seal-arc.md §1.4), trimmed', () => {
    const [system, user, assistant] = solveConversation(problem);
    expect(system).toEqual({
      role: 'system',
      content:
        `${SOLVE_INSTRUCTION}\n` +
        '[[3 3 8]\n [3 7 0]\n [5 0 0]] -> [[0 0 5]\n [0 7 3]\n [8 3 3]]#\n' +
        '[[5 5 2]\n [1 0 0]\n [0 0 0]] -> [[0 0 0]\n [0 0 1]\n [2 5 5]]#',
    });
    expect(user).toEqual({ role: 'user', content: '[[6 3 5]\n [6 8 0]\n [4 0 0]] ->' });
    expect(assistant).toEqual({ role: 'assistant', content: '[[0 0 4]\n [0 8 6]\n [5 3 6]]#' });
    expect(solvePrompt(problem)).toEqual([system, user]);
  });

  it('are in our own wording, carry no date, and work with zero demonstrations', () => {
    const [system] = solvePrompt({ demos: [], test: { input: [[1]] } });
    expect(system!.content).toBe(SOLVE_INSTRUCTION);
    expect(SOLVE_INSTRUCTION).not.toMatch(/Figure out the underlying transformation|Today|20\d\d/);
    expect(() => solveConversation({ demos: [], test: { input: [[1]] } })).toThrow(/no test output/);
    expect(solvePrompt(problem, { instruction: 'Solve.' })[0]!.content.startsWith('Solve.\n[[3 3 8]')).toBe(true);
  });

  it('the self-edit request shows only the train examples, as rows of space-separated colours', () => {
    const [system, user] = selfEditPrompt(TASK_6150A2BD.train);
    expect(system!.role).toBe('system');
    expect(user!.role).toBe('user');
    expect(
      user!.content.startsWith(
        'Input:\n3 3 8\n3 7 0\n5 0 0\n\nOutput:\n0 0 5\n0 7 3\n8 3 3\n\nInput:\n5 5 2\n1 0 0\n0 0 0\n\nOutput:\n0 0 0\n0 0 1\n2 5 5\n\n------\n\n',
      ),
    ).toBe(true);
    expect(user!.content).not.toContain('6 3 5');
    for (const key of [
      'use_basic_augmentations',
      'use_size_augmentations',
      'use_chain_augmentations',
      'use_repeat_augmentations',
      'train_using_all_tokens',
      'train_using_output_tokens',
      'learning_rate',
      'num_train_epochs',
    ]) {
      expect(user!.content).toContain(key);
    }
    expect(user!.content).not.toMatch(/You are configuring a model training pipeline/);
  });
});
