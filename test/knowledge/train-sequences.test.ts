/**
 * Training sequences from a completion (docs/reference/seal-knowledge.md §2.3), every rule on constructed
 * completions, in both modes. The `compat` expectations are the reference's own results: worked from its
 * build_train_sequences (split_newlines=True) and checked by running that Python function on these exact inputs.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSquadDataset, trainingSequences, type TrainingSequenceOptions } from '../../src/domains/knowledge/index.ts';
import { sharedPath } from '../harness/shared.ts';

const PASSAGE = { title: 'T', context: '  The passage. \n' };
const END = 'T\nThe passage.';

const compat = (completion: string, options: TrainingSequenceOptions = {}) => trainingSequences(PASSAGE, completion, { ...options, compat: true });
const fixed = (completion: string, options: TrainingSequenceOptions = {}) => trainingSequences(PASSAGE, completion, options);
/** Both modes give `pieces`, each prefixed by the title, then the stripped passage. */
const both = (completion: string, pieces: string[]) => {
  const want = [...pieces.map((p) => `T\n${p}`), END];
  expect(compat(completion)).toEqual(want);
  expect(fixed(completion)).toEqual(want);
};

describe('training sequences: the rules both modes share', () => {
  it('one sequence per non-empty line, each prefixed by the title, the stripped passage last', () => {
    both('1. A\n2. B\n\n3. C', ['1. A', '2. B', '3. C']);
  });

  it('a first line followed by a line starting with "1." is a preamble and is dropped', () => {
    both('Sure, here are:\n1. A\n2. B', ['1. A', '2. B']);
  });

  it('the first line is kept when the second does not start with "1."', () => {
    both('Intro\nA\nB', ['Intro', 'A', 'B']);
  });

  it('the preamble rule looks only at the second line: "1. A" before "1. B" is dropped too', () => {
    both('1. A\n1. B', ['1. B']);
  });

  it('--- separates segments; a completion of only --- is kept whole', () => {
    both('A\n---\nB', ['A', 'B']);
    both('---', ['---']);
  });

  it('an empty or blank completion trains on the passage alone', () => {
    both('', []);
    both(' \n\t ', []);
  });

  it("lines and whitespace follow Python's splitlines() and strip()", () => {
    // \r, U+2028, U+0085, \v, U+001C and \r\n all end a line in Python.
    both('A\rB\u2028C\u0085D\u000bE\u001cF\r\nG', ['A', 'B', 'C', 'D', 'E', 'F', 'G']);
    // U+001F is whitespace to Python's strip() (not to JavaScript's trim()); U+FEFF is the reverse.
    both('\u001fA\u001f\n\ufeffB', ['A', '\ufeffB']);
  });
});

describe('training sequences: question-answer completions', () => {
  const numbered = 'What is X?\nAnswer 1: Y\nQuestion 2: What is Z?\nAnswer 2: W';

  it('compat: "Answer N:" is not an answer marker, so every question and answer is its own sequence (the defect)', () => {
    expect(compat(numbered)).toEqual(['T\nWhat is X?', 'T\nAnswer 1: Y', 'T\nQuestion 2: What is Z?', 'T\nAnswer 2: W', END]);
    // The prompt does not matter to the reference.
    expect(compat(numbered, { prompt: 'self-qa' })).toEqual(compat(numbered));
  });

  it('fixed: each question stays with its answer; a self-qa completion gets back its "Question 1: "', () => {
    expect(fixed(numbered, { prompt: 'self-qa' })).toEqual(['T\nQuestion 1: What is X?\nAnswer 1: Y', 'T\nQuestion 2: What is Z?\nAnswer 2: W', END]);
    // From another prompt the first pair is not known to continue "Question 1: ".
    expect(fixed(numbered)).toEqual(['T\nWhat is X?\nAnswer 1: Y', 'T\nQuestion 2: What is Z?\nAnswer 2: W', END]);
  });

  it('both: with "Answer:" the reference pairs them too, prefixing "Question 1: " to the first', () => {
    const c = 'What is X?\nAnswer: Y\n\nQuestion 2: What is Z?\nAnswer: W\n';
    const want = ['T\nQuestion 1: What is X?\nAnswer: Y', 'T\nQuestion 2: What is Z?\nAnswer: W', END];
    expect(compat(c)).toEqual(want);
    expect(fixed(c, { prompt: 'self-qa' })).toEqual(want);
  });

  it('compat keeps the newline that ends every pair but the last; fixed strips it', () => {
    const c = 'Question 1: A?\nAnswer: a\n\nQuestion 2: B?\nAnswer: b\n\nQuestion 3: C?\nAnswer: c';
    expect(compat(c)).toEqual(['T\nQuestion 1: A?\nAnswer: a\n', 'T\nQuestion 2: B?\nAnswer: b\n', 'T\nQuestion 3: C?\nAnswer: c', END]);
    expect(fixed(c)).toEqual(['T\nQuestion 1: A?\nAnswer: a', 'T\nQuestion 2: B?\nAnswer: b', 'T\nQuestion 3: C?\nAnswer: c', END]);
    // A self-qa completion that already starts with its first question gets no second "Question 1: ".
    expect(fixed(c, { prompt: 'self-qa' })).toEqual(fixed(c));
  });

  it('compat makes a preamble a question; fixed keeps it as it is', () => {
    const c = 'Here are questions.\nQuestion 1: A?\nAnswer: a';
    expect(compat(c)).toEqual(['T\nQuestion 1: Here are questions.', 'T\nQuestion 1: A?\nAnswer: a', END]);
    expect(fixed(c)).toEqual(['T\nHere are questions.', 'T\nQuestion 1: A?\nAnswer: a', END]);
  });

  it('compat leaves --- inside the pairs; fixed splits on it', () => {
    const c = 'Question 1: A?\nAnswer: a\n---\nQuestion 2: B?\nAnswer: b';
    expect(compat(c)).toEqual(['T\nQuestion 1: A?\nAnswer: a\n---', 'T\nQuestion 2: B?\nAnswer: b', END]);
    expect(fixed(c)).toEqual(['T\nQuestion 1: A?\nAnswer: a', 'T\nQuestion 2: B?\nAnswer: b', END]);
  });

  it('fixed: a markdown question starts a new pair', () => {
    const c = '**Question 1:** A?\n**Answer 1:** a\n**Question 2:** B?\n**Answer 2:** b';
    expect(compat(c)).toEqual(['T\n**Question 1:** A?', 'T\n**Answer 1:** a', 'T\n**Question 2:** B?', 'T\n**Answer 2:** b', END]);
    expect(fixed(c)).toEqual(['T\n**Question 1:** A?\n**Answer 1:** a', 'T\n**Question 2:** B?\n**Answer 2:** b', END]);
  });

  it('fixed: a single self-qa pair (no "Question N:" written by the model) is one sequence', () => {
    const c = 'What is X?\nAnswer: Y';
    expect(compat(c)).toEqual(['T\nWhat is X?', 'T\nAnswer: Y', END]);
    expect(fixed(c, { prompt: 'self-qa' })).toEqual(['T\nQuestion 1: What is X?\nAnswer: Y', END]);
    expect(fixed('', { prompt: 'self-qa' })).toEqual([END]);
  });

  it("compat: Python's \\d and \\s (any Unicode digit; U+0085 is a space)", () => {
    expect(compat('Question \u0663: A?\nAnswer: a\nQuestion 4: B?\nAnswer: b')).toEqual([
      'T\nQuestion \u0663: A?\nAnswer: a',
      'T\nQuestion 4: B?\nAnswer: b',
      END,
    ]);
    expect(compat('Question\u00851: A?\nAnswer: a')).toEqual(['T\nQuestion\u00851: A?\nAnswer: a', END]);
  });
});

describe("training sequences of the reference's GPT-4.1 completions", () => {
  const data = parseSquadDataset(readFileSync(sharedPath('data/squad/gpt4_1_synthetic_val.json'), 'utf8'), 'gpt4_1_synthetic_val.json');

  it("compat gives the reference's counts: 15.2 sequences per passage (median 14) for the first completion; 15023 for all 1000", () => {
    const first = data.passages.map((p) => trainingSequences(p, p.completions[0]!, { compat: true }).length).sort((a, b) => a - b);
    expect((first.reduce((a, b) => a + b, 0) / first.length).toFixed(1)).toBe('15.2');
    expect((first[99]! + first[100]!) / 2).toBe(14);
    const all = data.passages.flatMap((p) => p.completions.map((c) => trainingSequences(p, c, { compat: true }).length));
    expect(all.length).toBe(1000);
    expect(all.reduce((a, b) => a + b, 0)).toBe(15023);
  });

  it('the fixed mode changes nothing for these implication lists', () => {
    const differ = data.passages.filter((p) =>
      p.completions.some((c) => JSON.stringify(trainingSequences(p, c)) !== JSON.stringify(trainingSequences(p, c, { compat: true }))),
    );
    expect(differ.map((p) => p.id)).toEqual([]);
  });
});
