/** Passage selection: explicit ids, ranges, their mixtures and the named lists, on the real files. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KnowledgeDataError, parseSquadDataset, selectPassages, type SquadDataset } from '../../src/domains/knowledge/index.ts';
import { sharedPath } from '../harness/shared.ts';

const load = (relative: string) => parseSquadDataset(readFileSync(sharedPath(relative), 'utf8'), relative.split('/').pop());
const squadVal = load('data/squad/squad_val.json');
const gpt4 = load('data/squad/gpt4_1_synthetic_val.json');
const slice = parseSquadDataset(readFileSync(new URL('../../examples/data/squad/gpt4_1_synthetic_val_first20.json', import.meta.url), 'utf8'), 'first20.json');

function failure(spec: string, data: SquadDataset): string {
  try {
    selectPassages(spec, data);
  } catch (e) {
    expect(e).toBeInstanceOf(KnowledgeDataError);
    return (e as Error).message;
  }
  throw new Error(`expected '${spec}' to fail`);
}

describe('passage selection', () => {
  it('ids, ranges and their mixtures, in the order written', () => {
    expect(selectPassages('0,3,7', slice)).toEqual([0, 3, 7]);
    expect(selectPassages('0-4', slice)).toEqual([0, 1, 2, 3, 4]);
    expect(selectPassages(' 9 , 2-4,0 ', slice)).toEqual([9, 2, 3, 4, 0]);
    expect(selectPassages('5-5,19', slice)).toEqual([5, 19]);
    expect(selectPassages('0-49', squadVal)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it("'eval' finds the paper's 200 passages wherever they are: by content, in file order", () => {
    // The ids in squad_val.json, found here by matching the GPT-4.1 file's records (the paper's evaluation set).
    const byText = new Map(squadVal.passages.map((p) => [`${p.title}\n${p.context}`, p.id]));
    const expected = gpt4.passages.map((p) => byText.get(`${p.title}\n${p.context}`)!).sort((a, b) => a - b);
    expect(expected.length).toBe(200);
    expect(selectPassages('eval', squadVal)).toEqual(expected);
    expect(selectPassages('eval', gpt4)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(selectPassages('eval', slice)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it("'train' is every passage outside them", () => {
    const train = selectPassages('train', squadVal);
    expect(train.length).toBe(1867);
    const evalIds = new Set(selectPassages('eval', squadVal));
    expect(train.some((id) => evalIds.has(id))).toBe(false);
    expect(selectPassages('train,eval', squadVal).sort((a, b) => a - b)).toEqual(Array.from({ length: 2067 }, (_, i) => i));
  });

  it('says what is wrong and how to write it', () => {
    expect(failure('', slice)).toMatch(/^the passage selection is empty: write comma-separated ids \(0,3,7\), ranges \(0-49\) or list names \(eval, train\)$/);
    expect(failure('0,x', slice)).toMatch(/^'x' in passage selection '0,x' is not an id, a range or a list name: write/);
    expect(failure('1,,2', slice)).toMatch(/^'' in passage selection/);
    expect(failure('-3', slice)).toMatch(/^'-3' in passage selection/);
    expect(failure('9-2', slice)).toBe("passage range '9-2' runs backwards: write it as 2-9");
    expect(failure('20', slice)).toBe('passage 20 is not in first20.json: it has 20 passages, ids 0-19');
    expect(failure('15-25', slice)).toBe("passage range '15-25' goes past the end of first20.json: it has 20 passages, ids 0-19");
    expect(failure('0-3,2', slice)).toBe("passage 2 is selected twice (by '0-3' and by '2')");
    expect(failure('eval,7', slice)).toBe("passage 7 is selected twice (by 'eval' and by '7')");
    expect(failure('train', gpt4)).toMatch(
      /^'train' \(the passages of the data file outside the 200 evaluation passages\) selects nothing in gpt4_1_synthetic_val\.json: every passage/,
    );
    const other = parseSquadDataset([{ title: 'T', context: 'C', questions: [{ question: 'Q', answer: 'A' }] }], 'mine.json');
    expect(failure('eval', other)).toMatch(
      /^'eval' \(the SEAL paper's 200 evaluation passages .*\) selects nothing in mine\.json: none of its passages is one of them$/,
    );
  });
});
