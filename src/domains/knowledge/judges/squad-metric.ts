/**
 * The official SQuAD v1.1 metric (evaluate-v1.1.py: normalize_answer, exact_match_score, f1_score,
 * metric_max_over_ground_truths), written from its definition:
 *
 *   normalize(s) = white_space_fix(remove_articles(remove_punc(lower(s))))
 *     lower:            Python's str.lower (full Unicode lower-casing; JavaScript's toLowerCase is the same mapping)
 *     remove_punc:      drop every character of Python's string.punctuation (the 32 ASCII punctuation characters)
 *     remove_articles:  re.sub(r'\b(a|an|the)\b', ' ', text) with Python 3's Unicode word boundaries
 *     white_space_fix:  ' '.join(text.split()), split at Python's str.isspace characters
 *   EM = normalize(prediction) == normalize(gold)
 *   F1 over the normalized tokens: common = the multiset intersection; 0 when nothing is in common, else
 *     2·P·R/(P + R) with P = common/|prediction tokens|, R = common/|gold tokens|
 *   With several gold answers, EM and F1 are each the maximum over them.
 */
import { pythonSplit, pythonWordRegex } from './python-text.ts';

/** Python's string.punctuation. */
const ASCII_PUNCTUATION = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');

/** r'\b(a|an|the)\b', replaced by a space everywhere. */
const ARTICLES = pythonWordRegex('a|an|the', 'g');

/** SQuAD's normalize_answer. */
export function normalizeAnswer(text: string): string {
  const lower = text.toLowerCase();
  let noPunctuation = '';
  for (const ch of lower) if (!ASCII_PUNCTUATION.has(ch)) noPunctuation += ch;
  return pythonSplit(noPunctuation.replace(ARTICLES, ' ')).join(' ');
}

/** SQuAD's exact_match_score, as 0 or 1. */
export function exactMatch(prediction: string, gold: string): number {
  return normalizeAnswer(prediction) === normalizeAnswer(gold) ? 1 : 0;
}

/** SQuAD's f1_score. */
export function tokenF1(prediction: string, gold: string): number {
  const predicted = pythonSplit(normalizeAnswer(prediction));
  const expected = pythonSplit(normalizeAnswer(gold));
  const left = new Map<string, number>();
  for (const t of expected) left.set(t, (left.get(t) ?? 0) + 1);
  let common = 0;
  for (const t of predicted) {
    const n = left.get(t) ?? 0;
    if (n > 0) {
      common++;
      left.set(t, n - 1);
    }
  }
  if (common === 0) return 0;
  const precision = common / predicted.length;
  const recall = common / expected.length;
  return (2 * precision * recall) / (precision + recall);
}

export interface SquadScore {
  /** 0 or 1. */
  em: number;
  f1: number;
}

/** EM and F1 of a prediction, each the maximum over the gold answers (metric_max_over_ground_truths). */
export function squadScore(prediction: string, golds: readonly string[]): SquadScore {
  if (golds.length === 0) throw new RangeError('squadScore: no gold answer');
  let em = 0;
  let f1 = 0;
  for (const gold of golds) {
    em = Math.max(em, exactMatch(prediction, gold));
    f1 = Math.max(f1, tokenF1(prediction, gold));
  }
  return { em, f1 };
}
