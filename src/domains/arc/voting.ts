/**
 * The reference's vote of many predictions for one test input into two attempts (arclib/voting.py), exactly, with
 * one change: where the reference's choice depends on Python's set order or numpy's sort kind (equal counts), ours
 * takes the grid that appeared first. With distinct counts the results are the same.
 *
 *   top3(outputs): the most frequent output, the second and the third; when fewer than three distinct outputs exist
 *     the missing places are filled with the row-wise majority grid, else the column-wise one (so a place may repeat
 *     another): second := row if row != most else col, when second == most; third := row if row is neither most nor
 *     second else col, when third is one of them.
 *   rowMajority: the most common shape; for each row index, the most common row of that width among the outputs
 *     that have such a row. Column-wise: the same on transposed outputs, transposed back.
 *   vote: group predictions by inverter category ("identity" for untransformed queries) plus "all"; take top3 of
 *     each of "all", "identity", "Transpose()", "Flip(0)", "Flip(1)", "Rotate(180)", "Rotate(270)" that is present
 *     (a "Rotate(90)" category only votes through "all") and pool them, repeats included; (C1, C2, C3) = top3 of the
 *     pool; if C2 and C3 are equally frequent in the pool, C2 is replaced by C3 unless C2 is strictly more frequent
 *     among the identity predictions (no identity predictions: C2 stays). Attempts: (C1, C2).
 * No prediction at all gives the reference's placeholder attempts [[0]] and [[0]], flagged and with the reason.
 */
import { gridKey, type Grid } from './grid.ts';
import { IDENTITY } from './inference-plan.ts';

/** The categories that vote, in order (the inverse of each inference transform; "all" is every prediction). */
export const VOTE_CATEGORIES = ['all', IDENTITY, 'Transpose()', 'Flip(0)', 'Flip(1)', 'Rotate(180)', 'Rotate(270)'] as const;

export interface VoteInput {
  readonly grid: Grid;
  /** The category: IDENTITY or the inverse transform's label. */
  readonly inverter: string;
}

export interface VoteResult {
  readonly attempts: readonly [Grid, Grid];
  /** True when there was nothing to vote on and the attempts are the [[0]] placeholders. */
  readonly fallback: boolean;
  readonly reason: string | null;
  /** The pooled category candidates (for inspection). */
  readonly candidates: readonly Grid[];
}

const PLACEHOLDER: Grid = [[0]];

export function vote(predictions: readonly VoteInput[]): VoteResult {
  if (predictions.length === 0) {
    return {
      attempts: [PLACEHOLDER, PLACEHOLDER],
      fallback: true,
      reason: 'no prediction to vote on (no query was answered with a readable grid)',
      candidates: [],
    };
  }
  const byCategory = new Map<string, Grid[]>();
  for (const p of predictions) {
    const list = byCategory.get(p.inverter);
    if (list) list.push(p.grid);
    else byCategory.set(p.inverter, [p.grid]);
  }
  const all = [...byCategory.values()].flat();
  const groups = new Map<string, Grid[]>([['all', all], ...byCategory]);

  const candidates: Grid[] = [];
  for (const category of VOTE_CATEGORIES) {
    const outputs = groups.get(category);
    if (outputs) candidates.push(...topThree(outputs)!);
  }
  const [c1, c2, c3] = topThree(candidates)!;
  const count = (list: readonly Grid[], g: Grid) => {
    const key = gridKey(g);
    return list.filter((x) => gridKey(x) === key).length;
  };
  let second = c2;
  const identity = byCategory.get(IDENTITY);
  if (count(candidates, c2) === count(candidates, c3) && identity) {
    if (!(count(identity, c2) > count(identity, c3))) second = c3;
  }
  return { attempts: [c1, second], fallback: false, reason: null, candidates };
}

/** Every distinct predicted grid with how many predictions gave it, most first (ties: first to appear): what the vote saw. */
export function tallyVotes(predictions: readonly VoteInput[]): { grid: Grid; count: number }[] {
  const tally = new Map<string, { grid: Grid; count: number }>();
  for (const p of predictions) {
    const key = gridKey(p.grid);
    const t = tally.get(key);
    if (t) t.count++;
    else tally.set(key, { grid: p.grid, count: 1 });
  }
  // Map order is first appearance, and sort is stable.
  return [...tally.values()].sort((a, b) => b.count - a.count);
}

/** The reference's get_all_type_of_votingsv2: [most, second, third] (places filled as described above); null if empty. */
export function topThree(outputs: readonly Grid[]): [Grid, Grid, Grid] | null {
  if (outputs.length === 0) return null;
  const ranked = rankByCount(outputs);
  const most = ranked[0]!;
  let second = ranked[1] ?? most;
  let third = ranked[2] ?? most;
  const row = majorityGrid(outputs, false);
  const col = majorityGrid(outputs, true);
  const same = (a: Grid, b: Grid) => gridKey(a) === gridKey(b);
  if (same(second, most)) second = !same(row, most) ? row : col;
  if (same(third, most) || same(third, second)) third = !same(row, most) && !same(row, second) ? row : col;
  return [most, second, third];
}

/** Distinct grids by count, most frequent first; equal counts keep the order of first appearance. */
function rankByCount(outputs: readonly Grid[]): Grid[] {
  const tally = new Map<string, { grid: Grid; count: number; first: number }>();
  outputs.forEach((g, i) => {
    const key = gridKey(g);
    const t = tally.get(key);
    if (t) t.count++;
    else tally.set(key, { grid: g, count: 1, first: i });
  });
  return [...tally.values()].sort((a, b) => b.count - a.count || a.first - b.first).map((t) => t.grid);
}

/** The most common value of a list by key; ties: the first to appear. */
function mostCommon<T>(items: readonly T[], key: (t: T) => string): T {
  const counts = new Map<string, { item: T; count: number; first: number }>();
  items.forEach((item, i) => {
    const k = key(item);
    const c = counts.get(k);
    if (c) c.count++;
    else counts.set(k, { item, count: 1, first: i });
  });
  let best: { item: T; count: number; first: number } | null = null;
  for (const c of counts.values()) if (!best || c.count > best.count) best = c;
  return best!.item;
}

const transposeGrid = (g: Grid): Grid => Array.from({ length: g[0]!.length }, (_, j) => g.map((r) => r[j]!));

/** The reference's row_base_majority_voting (transpose: column-wise). */
export function majorityGrid(outputs: readonly Grid[], transpose: boolean): Grid {
  const grids = transpose ? outputs.map(transposeGrid) : outputs;
  const [height, width] = mostCommon(
    grids.map((g) => [g.length, g[0]!.length] as const),
    (s) => `${s[0]}x${s[1]}`,
  );
  const result: number[][] = [];
  for (let r = 0; r < height; r++) {
    const rows = grids.filter((g) => g.length > r && g[r]!.length === width).map((g) => g[r]!);
    result.push(mostCommon(rows, (row) => row.join(',')).slice());
  }
  return transpose ? transposeGrid(result) : result;
}
