import { describe, expect, it } from 'vitest';
import { formatGrid, formatGridRows, GridFormatError, parseGrid, readGridAnswer } from '../../src/domains/arc/index.ts';
import { freshSeed, rng } from '../harness/numerics.ts';
import { randomGrid } from './helpers.ts';

describe('grid text format (numpy str, byte for byte)', () => {
  it('writes the grids of docs/reference/seal-arc.md §1.4 exactly', () => {
    expect(
      formatGrid([
        [3, 3, 8],
        [3, 7, 0],
        [5, 0, 0],
      ]),
    ).toBe('[[3 3 8]\n [3 7 0]\n [5 0 0]]');
    expect(
      formatGrid([
        [0, 0, 5],
        [0, 7, 3],
        [8, 3, 3],
      ]),
    ).toBe('[[0 0 5]\n [0 7 3]\n [8 3 3]]');
    expect(
      formatGrid([
        [6, 3, 5],
        [6, 8, 0],
        [4, 0, 0],
      ]),
    ).toBe('[[6 3 5]\n [6 8 0]\n [4 0 0]]');
  });

  it('writes single rows, single columns and single cells as numpy does', () => {
    expect(formatGrid([[1, 2, 3]])).toBe('[[1 2 3]]');
    expect(formatGrid([[1], [2]])).toBe('[[1]\n [2]]');
    expect(formatGrid([[5]])).toBe('[[5]]');
    expect(
      formatGrid([
        [9, 0],
        [0, 9],
        [4, 4],
      ]),
    ).toBe('[[9 0]\n [0 9]\n [4 4]]');
  });

  it('keeps a 30x30 grid on 30 lines of at most 63 characters (numpy does not wrap)', () => {
    const grid = Array.from({ length: 30 }, (_, i) => Array.from({ length: 30 }, (_, j) => (i * 30 + j) % 10));
    const lines = formatGrid(grid).split('\n');
    expect(lines).toHaveLength(30);
    expect(Math.max(...lines.map((l) => l.length))).toBe(63);
    expect(lines[0]).toBe(`[[${'0 1 2 3 4 5 6 7 8 9 '.repeat(3).trimEnd()}]`);
    expect(lines[29]!.endsWith(']]')).toBe(true);
  });

  it('refuses grids numpy would wrap or summarise, and non-grids', () => {
    expect(() => formatGrid([Array(37).fill(1)])).toThrow(/outside numpy's plain print format/);
    expect(() => formatGrid(Array.from({ length: 40 }, () => Array(30).fill(1)))).toThrow(GridFormatError);
    expect(() => formatGrid([[1, 2], [3]])).toThrow(/row 1 has 1 cells but row 0 has 2/);
    expect(() => formatGrid([[10]])).toThrow(/not a colour 0-9/);
    expect(() => formatGrid([])).toThrow(/no rows/);
  });

  it('parses back to the same grid for random grids', () => {
    const seed = freshSeed();
    const r = rng(seed);
    for (let i = 0; i < 300; i++) {
      const g = randomGrid(r, 30, 30);
      const text = formatGrid(g);
      expect(parseGrid(text), `seed ${seed}, grid ${i}`).toEqual(g);
      expect(readGridAnswer(`${text}#`), `seed ${seed}, grid ${i}`).toEqual({ ok: true, grid: g, notes: [] });
    }
  });

  it('the strict parser accepts nothing but the exact format', () => {
    for (const bad of ['[[1 2]\n[3 4]]', '[[1  2]\n [3 4]]', '[[1 2]\n [3 4]]\n', ' [[1 2]]', '[[1, 2]]', '[[1 2]\n [3]]', '[[1 12]]', '[1 2]', '']) {
      expect(() => parseGrid(bad), JSON.stringify(bad)).toThrow(GridFormatError);
    }
  });

  it('the tolerant reader accepts the variants a model writes', () => {
    const g = [
      [1, 2],
      [3, 4],
    ];
    for (const text of [
      '[[1 2]\n [3 4]]#',
      '[[1 2]\n [3 4]]',
      '  [[1  2]\n  [3 4]] #<|eot_id|>',
      '[[1, 2], [3, 4]]#',
      '[[1 2] [3 4]]#',
      '1 2\n3 4\n#',
      '[[1 2]\r\n [3 4]]#',
    ]) {
      const r = readGridAnswer(text);
      expect(r.ok && r.grid, JSON.stringify(text)).toEqual(g);
    }
    expect(readGridAnswer('[[1 2]\n [3 4]]')).toEqual({ ok: true, grid: g, notes: ['no "#" end marker'] });
    expect(readGridAnswer('[[1 2]\n [3 4')).toEqual({ ok: true, grid: g, notes: ['no "#" end marker', 'closing brackets missing at the end'] });
  });

  it('the tolerant reader says why a text is not a grid', () => {
    const reason = (text: string) => {
      const r = readGridAnswer(text);
      return r.ok ? 'ok' : r.reason;
    };
    expect(reason('#')).toBe('the answer is empty');
    expect(reason('[[1 2]\n [3]]#')).toBe('row 1 has 1 cells but row 0 has 2');
    expect(reason('[[1 2]\n [3 12]]#')).toBe('row 1 has "12", not a colour 0-9');
    expect(reason('[[1 x]]#')).toBe('row 0 has "x", not a colour 0-9');
    expect(reason('The answer is [[1 2]]#')).toMatch(/^text before the grid/);
    expect(reason('[[1 2]] and more#')).toMatch(/^text after the grid/);
    expect(reason('[[[1]]]#')).toMatch(/nested deeper/);
    expect(reason('[]#')).toMatch(/no rows/);
    expect(reason('[[1 2] x [3 4]]#')).toMatch(/unexpected "x" between rows/);
    expect(reason(`[${Array.from({ length: 31 }, () => '[1]').join(' ')}]#`)).toMatch(/31 rows; ARC grids have at most 30/);
  });

  it('writes the self-edit prompt rows as space-separated colours', () => {
    expect(
      formatGridRows([
        [3, 3, 8],
        [3, 7, 0],
      ]),
    ).toBe('3 3 8\n3 7 0');
  });
});
