/** SQuAD data files (docs/reference/seal-knowledge.md §2.1): the real files parse; broken ones say what is wrong. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KnowledgeDataError, parseSquadDataset } from '../../src/domains/knowledge/index.ts';
import { sharedPath } from '../harness/shared.ts';

const read = (relative: string) => readFileSync(sharedPath(relative), 'utf8');
const EXAMPLE = new URL('../../examples/data/squad/gpt4_1_synthetic_val_first20.json', import.meta.url);

function failure(data: unknown): string {
  try {
    parseSquadDataset(data, 'f.json');
  } catch (e) {
    expect(e).toBeInstanceOf(KnowledgeDataError);
    return (e as Error).message;
  }
  throw new Error('expected a KnowledgeDataError');
}

const GOOD = { title: 'T', context: 'C', questions: [{ question: 'Q?', answer: 'A' }] };

describe('SQuAD passages', () => {
  it('reads squad_val.json: 2067 passages, 10570 questions, ids = file positions', () => {
    const data = parseSquadDataset(read('data/squad/squad_val.json'), 'squad_val.json');
    expect(data.passages.length).toBe(2067);
    expect(data.passages.reduce((n, p) => n + p.questions.length, 0)).toBe(10570);
    expect(data.passages.every((p, i) => p.id === i && p.completions.length === 0)).toBe(true);
    expect(data.passages[0]!.title).toBe('Super Bowl 50');
    expect(data.passages[0]!.questions[0]).toEqual({ question: 'Which NFL team represented the AFC at Super Bowl 50?', answer: 'Denver Broncos' });
  });

  it("reads the GPT-4.1 file with its completions (200 x 5, 974 questions), and the examples' 20-passage slice of it", () => {
    const data = parseSquadDataset(read('data/squad/gpt4_1_synthetic_val.json'));
    expect(data.passages.length).toBe(200);
    expect(data.passages.reduce((n, p) => n + p.questions.length, 0)).toBe(974);
    expect(data.passages.every((p) => p.completions.length === 5)).toBe(true);
    const slice = parseSquadDataset(readFileSync(EXAMPLE, 'utf8'));
    expect(slice.passages).toEqual(data.passages.slice(0, 20));
  });

  it('rejects what is not a list of passages', () => {
    expect(failure('{"title": ')).toMatch(/^f\.json is not valid JSON: /);
    expect(failure({ title: 'T' })).toMatch(/^f\.json must be a JSON list of passages .*got an object/);
    expect(failure([])).toBe('f.json holds no passages (an empty list)');
  });

  it('lists every problem with its passage id and field', () => {
    const message = failure([
      GOOD,
      'text',
      { title: '', context: 'C', questions: [{ question: 'Q?', answer: 'A' }] },
      { title: 'T', context: 7, questions: [] },
      { title: 'T', context: 'C', questions: [{ question: 'Q?' }, 3] },
      { ...GOOD, completions: ['a', 1] },
    ]);
    expect(message.split('\n')).toEqual([
      'f.json: 7 problem(s) in its passages:',
      'passage 1 is the string "text", not an object {"title", "context", "questions"}',
      'passage 2: "title" must be a non-empty string, got an empty one',
      'passage 3: "context" must be a non-empty string, got the number 7',
      'passage 3: "questions" must be a non-empty list of {"question", "answer"} (they are how the passage is scored), got an empty list',
      'passage 4: question 0: "answer" must be a non-empty string, got nothing (missing)',
      'passage 4: question 1 is the number 3, not an object {"question", "answer"}',
      'passage 5: "completions" must be a list of strings (the passage\'s self-edits), got the number 1 at index 1',
    ]);
  });

  it('lists at most 20 problems and counts the rest', () => {
    const message = failure(Array.from({ length: 25 }, () => ({ ...GOOD, title: 1 })));
    const lines = message.split('\n');
    expect(lines[0]).toBe('f.json: 25 problem(s) in its passages:');
    expect(lines.length).toBe(22);
    expect(lines[21]).toBe('... and 5 more');
  });
});
