/**
 * The grid text format of the ARC prompts, byte for byte the reference's (`str()` of a numpy int array, which the
 * reference calls PythonListGridRepresenter):
 *
 *   [[3 3 8]
 *    [3 7 0]
 *    [5 0 0]]
 *
 * cells separated by one space, rows by "\n " (newline and one space), the whole wrapped in "[[" ... "]]". numpy
 * writes exactly this only while no line passes its 75-character width (grids up to 36 wide) and the array has at
 * most 1000 cells (it summarises bigger ones with "..."); ARC grids (at most 30x30) are always inside, and
 * formatGrid refuses anything outside rather than write a text the reference never produced.
 *
 * Three readers: parseGrid (strict: exactly formatGrid's output, nothing else), readGridAnswer (tolerant, for model
 * output: says why a text is not a grid) and formatGridRows (the plain rows of the self-edit prompt).
 */
import { ARC_MAX_SIDE, gridProblem, type Grid } from './grid.ts';

/** numpy writes a row on one line up to this width (2w + 3 <= 75 columns). */
export const MAX_FORMAT_WIDTH = 36;
/** numpy summarises arrays with more cells than this. */
export const MAX_FORMAT_CELLS = 1000;

/** A text that is not a grid in the expected format; the message says why. */
export class GridFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GridFormatError';
  }
}

/** The numpy text of a grid. */
export function formatGrid(grid: Grid): string {
  const problem = gridProblem(grid, Number.MAX_SAFE_INTEGER);
  if (problem) throw new GridFormatError(`formatGrid: ${problem}`);
  const width = grid[0]!.length;
  if (width > MAX_FORMAT_WIDTH || width * grid.length > MAX_FORMAT_CELLS) {
    throw new GridFormatError(
      `formatGrid: a ${grid.length}x${width} grid is outside numpy's plain print format (at most ${MAX_FORMAT_WIDTH} wide and ${MAX_FORMAT_CELLS} cells); ARC grids are at most 30x30`,
    );
  }
  return `[${grid.map((row) => `[${row.join(' ')}]`).join('\n ')}]`;
}

const STRICT_GRID = /^\[\[\d(?: \d)*\](?:\n \[\d(?: \d)*\])*\]$/;

/** The grid of a text in exactly formatGrid's format; anything else throws GridFormatError saying what differs. */
export function parseGrid(text: string): Grid {
  if (!STRICT_GRID.test(text)) {
    throw new GridFormatError(`not a grid in the numpy format ("[[a b]\\n [c d]]"): ${preview(text)}`);
  }
  const grid = text
    .slice(1, -1)
    .split('\n ')
    .map((line) => line.slice(1, -1).split(' ').map(Number));
  const problem = gridProblem(grid, Number.MAX_SAFE_INTEGER);
  if (problem) throw new GridFormatError(`not a grid: ${problem}: ${preview(text)}`);
  return grid;
}

/** The rows of a grid as lines of space-separated colours (the self-edit prompt's format), no trailing newline. */
export function formatGridRows(grid: Grid): string {
  return grid.map((row) => row.join(' ')).join('\n');
}

export type GridReadResult =
  | { ok: true; grid: Grid /** Tolerated irregularities (missing end marker, unclosed brackets). */; notes: string[] }
  | { ok: false; reason: string };

/**
 * Reads a model's answer as a grid. Accepted: the numpy format, Python lists ("[[1, 2], [3, 4]]"), rows on one line
 * ("[[1 2] [3 4]]"), or bare lines of colours; any whitespace; the text ends at the first "#" (the answer's end
 * marker), and a missing "#" or closing brackets cut off at the end are tolerated (noted). Refused, with the reason:
 * an empty answer, text other than brackets, commas and whitespace around the rows, a cell that is not a single
 * colour 0-9, rows of different lengths, more than maxSide rows or columns (default 30).
 *
 * Stricter than the reference's parse, which reshapes any whitespace-separated integers into (newlines + 1) rows and
 * so also accepts ragged rows (a wrong answer read as some other grid) and integers beyond 9.
 */
export function readGridAnswer(text: string, maxSide: number = ARC_MAX_SIDE): GridReadResult {
  const notes: string[] = [];
  const fail = (reason: string): GridReadResult => ({ ok: false, reason });
  let body = text;
  const end = body.indexOf('#');
  if (end >= 0) body = body.slice(0, end);
  else notes.push('no "#" end marker');
  body = body.trim();
  if (body === '') return fail('the answer is empty');

  let rows: string[];
  if (body.startsWith('[')) {
    const read = bracketRows(body);
    if (typeof read === 'string') return fail(read);
    rows = read.rows;
    if (read.unclosed) notes.push('closing brackets missing at the end');
  } else if (body.includes('[') || body.includes(']')) {
    return fail(`text before the grid: ${preview(body)}`);
  } else {
    rows = body.split('\n');
  }

  const grid: number[][] = [];
  for (let r = 0; r < rows.length; r++) {
    const cells = rows[r]!.split(/[\s,]+/).filter((t) => t !== '');
    if (cells.length === 0) return fail(`row ${r} is empty`);
    const row: number[] = [];
    for (const cell of cells) {
      if (!/^[0-9]$/.test(cell)) return fail(`row ${r} has ${JSON.stringify(cell.length > 12 ? `${cell.slice(0, 12)}...` : cell)}, not a colour 0-9`);
      row.push(Number(cell));
    }
    if (grid.length > 0 && row.length !== grid[0]!.length) return fail(`row ${r} has ${row.length} cells but row 0 has ${grid[0]!.length}`);
    grid.push(row);
  }
  const problem = gridProblem(grid, maxSide);
  if (problem) return fail(problem);
  return { ok: true, grid, notes };
}

/** The rows of "[[...] [...]]" (each innermost bracket pair is a row), or why the text is not such a list. */
function bracketRows(body: string): { rows: string[]; unclosed: boolean } | string {
  const rows: string[] = [];
  let depth = 0;
  let row = '';
  let closedOuter = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (closedOuter) {
      if (!/\s/.test(ch)) return `text after the grid: ${preview(body.slice(i))}`;
      continue;
    }
    if (ch === '[') {
      depth++;
      if (depth > 2) return 'brackets nested deeper than a grid (a list of rows)';
      if (depth === 2) row = '';
    } else if (ch === ']') {
      depth--;
      if (depth === 1) rows.push(row);
      if (depth === 0) {
        if (rows.length === 0) return 'the grid has no rows (expected "[[...]]")';
        closedOuter = true;
      }
    } else if (depth === 2) {
      row += ch;
    } else if (!/[\s,]/.test(ch)) {
      return `unexpected ${JSON.stringify(ch)} between rows at offset ${i}`;
    }
  }
  if (depth === 2) rows.push(row);
  if (rows.length === 0) return 'the grid has no rows (expected "[[...]]")';
  return { rows, unclosed: depth > 0 };
}

function preview(text: string): string {
  const s = JSON.stringify(text);
  return s.length > 80 ? `${s.slice(0, 77)}..."` : s;
}
