/**
 * Which passages of a data file a run uses: an explicit list (never a seeded shuffle that drops some). A selection is
 * comma-separated items, each
 *   N        one passage id (its index in the data file),
 *   A-B      the ids A to B, both included,
 *   eval     the SEAL paper's 200 evaluation passages that the file holds (eval-passages.ts), in file order,
 *   train    every passage of the file that is not one of them, in file order (training passages for ReST-EM),
 * e.g. `0,3,7`, `0-49`, `0-9,15,20-24`, `eval`. The ids come out in the order written; an id selected twice, an id
 * outside the file and a named list with no passage in the file are errors.
 */
import { PAPER_EVAL_PASSAGES, passageFingerprint } from './eval-passages.ts';
import { KnowledgeDataError, type SquadDataset } from './passages.ts';

/** The named passage lists and what each means. */
export const NAMED_PASSAGE_LISTS = {
  eval: "the SEAL paper's 200 evaluation passages (SQuAD v1.1 dev after the reference's seed-42 shuffle)",
  train: 'the passages of the data file outside the 200 evaluation passages',
} as const;

export type NamedPassageList = keyof typeof NAMED_PASSAGE_LISTS;

export type SelectionItem =
  | { readonly kind: 'range'; readonly first: number; readonly last: number; readonly text: string }
  | { readonly kind: 'named'; readonly name: NamedPassageList; readonly text: string };

const ID = /^\d+$/;
const RANGE = /^(\d+)\s*-\s*(\d+)$/;

/** The items of a selection, checked for form only (KnowledgeDataError says which item is wrong and how to write it). */
export function parsePassageSelection(spec: string): SelectionItem[] {
  const texts = spec.split(',').map((t) => t.trim());
  if (texts.every((t) => t === '')) throw new KnowledgeDataError(`the passage selection is empty: ${SELECTION_FORMS}`);
  return texts.map((text): SelectionItem => {
    if (ID.test(text)) return { kind: 'range', first: toId(text), last: toId(text), text };
    const range = RANGE.exec(text);
    if (range) {
      const first = toId(range[1]!);
      const last = toId(range[2]!);
      if (first > last) throw new KnowledgeDataError(`passage range '${text}' runs backwards: write it as ${last}-${first}`);
      return { kind: 'range', first, last, text };
    }
    if (Object.hasOwn(NAMED_PASSAGE_LISTS, text)) return { kind: 'named', name: text as NamedPassageList, text };
    throw new KnowledgeDataError(`'${text}' in passage selection '${spec}' is not an id, a range or a list name: ${SELECTION_FORMS}`);
  });
}

const SELECTION_FORMS = `write comma-separated ids (0,3,7), ranges (0-49) or list names (${Object.keys(NAMED_PASSAGE_LISTS).join(', ')})`;

function toId(digits: string): number {
  const id = Number(digits);
  if (!Number.isSafeInteger(id)) throw new KnowledgeDataError(`passage id ${digits} is too large`);
  return id;
}

/** The passage ids a selection names in a dataset, in the order written. */
export function selectPassages(spec: string, dataset: SquadDataset): number[] {
  const items = parsePassageSelection(spec);
  const count = dataset.passages.length;
  const chosenBy = new Map<number, string>();
  const ids: number[] = [];
  let evalIds: number[] | null = null;
  for (const item of items) {
    let itemIds: number[];
    if (item.kind === 'range') {
      if (item.last >= count) {
        const what = item.first === item.last ? `passage ${item.first} is not in` : `passage range '${item.text}' goes past the end of`;
        throw new KnowledgeDataError(`${what} ${dataset.source}: it has ${count} passages, ids 0-${count - 1}`);
      }
      itemIds = Array.from({ length: item.last - item.first + 1 }, (_, i) => item.first + i);
    } else {
      evalIds ??= paperEvalIds(dataset);
      const inEval = new Set(evalIds);
      itemIds = item.name === 'eval' ? evalIds : dataset.passages.map((p) => p.id).filter((id) => !inEval.has(id));
      if (!itemIds.length) {
        const why = item.name === 'eval' ? 'none of its passages is one of them' : 'every passage in it is an evaluation passage';
        throw new KnowledgeDataError(`'${item.name}' (${NAMED_PASSAGE_LISTS[item.name]}) selects nothing in ${dataset.source}: ${why}`);
      }
    }
    for (const id of itemIds) {
      const earlier = chosenBy.get(id);
      if (earlier !== undefined) throw new KnowledgeDataError(`passage ${id} is selected twice (by '${earlier}' and by '${item.text}')`);
      chosenBy.set(id, item.text);
      ids.push(id);
    }
  }
  return ids;
}

/** The ids (in file order) of the dataset's passages that are among the paper's evaluation passages. */
export function paperEvalIds(dataset: SquadDataset): number[] {
  const wanted = new Set(PAPER_EVAL_PASSAGES.map(([, fingerprint]) => fingerprint));
  return dataset.passages.filter((p) => wanted.has(passageFingerprint(p))).map((p) => p.id);
}
