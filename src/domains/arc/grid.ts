/**
 * ARC grids and examples: a grid is a rectangular list of rows of colours 0-9, at least 1x1 (ARC tasks stay within
 * 30x30; augmented grids may grow and are filtered by the callers that care). Grids are treated as immutable values:
 * every function here returns new arrays.
 */

export type Grid = readonly (readonly number[])[];

/** One input/output pair. */
export interface ArcExample {
  readonly input: Grid;
  readonly output: Grid;
}

/** The query of a problem: its input, and its output when known (training data) or absent (inference). */
export interface ArcQuery {
  readonly input: Grid;
  readonly output?: Grid;
}

/**
 * What one prompt shows the model: demonstration pairs and a test query. TTT examples and inference queries are both
 * problems (the reference's `Task` with one test example).
 */
export interface ArcProblem {
  readonly demos: readonly ArcExample[];
  readonly test: ArcQuery;
}

export const ARC_COLORS = 10;
/** The largest side of an ARC grid. */
export const ARC_MAX_SIDE = 30;

export function gridHeight(grid: Grid): number {
  return grid.length;
}

export function gridWidth(grid: Grid): number {
  return grid[0]?.length ?? 0;
}

export function gridsEqual(a: Grid, b: Grid): boolean {
  if (a.length !== b.length) return false;
  for (let r = 0; r < a.length; r++) {
    const x = a[r]!;
    const y = b[r]!;
    if (x.length !== y.length) return false;
    for (let c = 0; c < x.length; c++) if (x[c] !== y[c]) return false;
  }
  return true;
}

/** A string that identifies a grid by shape and contents (dedupe and vote keys). */
export function gridKey(grid: Grid): string {
  return `${gridHeight(grid)}x${gridWidth(grid)}:${grid.map((row) => row.join('')).join('')}`;
}

export function exampleKey(example: ArcQuery): string {
  return `${gridKey(example.input)}>${example.output ? gridKey(example.output) : '?'}`;
}

/** Identifies a problem by its demos (in order) and its query: equal keys, equal problems. */
export function problemKey(problem: ArcProblem): string {
  return `${problem.demos.map(exampleKey).join(';')}|${exampleKey(problem.test)}`;
}

/** Every grid of a problem (demo inputs and outputs, test input and output when present). */
export function problemGrids(problem: ArcProblem): Grid[] {
  const grids: Grid[] = [];
  for (const d of problem.demos) grids.push(d.input, d.output);
  grids.push(problem.test.input);
  if (problem.test.output) grids.push(problem.test.output);
  return grids;
}

/** The largest height and width over every grid of a problem (the reference's Task.max_height / max_width). */
export function problemMaxSides(problem: ArcProblem): { height: number; width: number } {
  let height = 0;
  let width = 0;
  for (const g of problemGrids(problem)) {
    height = Math.max(height, gridHeight(g));
    width = Math.max(width, gridWidth(g));
  }
  return { height, width };
}

/** Why `value` is not a grid of colours 0-9 (rectangular, at least 1x1, at most maxSide per side), or null if it is. */
export function gridProblem(value: unknown, maxSide = ARC_MAX_SIDE): string | null {
  if (!Array.isArray(value)) return `expected a grid (a list of rows), got ${describe(value)}`;
  if (value.length === 0) return 'the grid has no rows';
  if (value.length > maxSide) return `the grid has ${value.length} rows; ARC grids have at most ${maxSide}`;
  let width = -1;
  for (let r = 0; r < value.length; r++) {
    const row: unknown = value[r];
    if (!Array.isArray(row)) return `row ${r} is not a list of colours (got ${describe(row)})`;
    if (row.length === 0) return `row ${r} is empty`;
    if (width < 0) width = row.length;
    else if (row.length !== width) return `row ${r} has ${row.length} cells but row 0 has ${width} (grids are rectangular)`;
    for (let c = 0; c < row.length; c++) {
      const v: unknown = row[c];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 9) return `cell [${r}][${c}] is ${describe(v)}, not a colour 0-9`;
    }
  }
  if (width > maxSide) return `the grid has ${width} columns; ARC grids have at most ${maxSide}`;
  return null;
}

export function isGrid(value: unknown, maxSide = ARC_MAX_SIDE): value is Grid {
  return gridProblem(value, maxSide) === null;
}

/** A copy of a validated grid (so later changes to the source cannot reach it). */
export function copyGrid(grid: Grid): Grid {
  return grid.map((row) => row.slice());
}

/** Short JSON of a value for error messages. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(value) ?? String(value);
  } catch {
    s = String(value);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
