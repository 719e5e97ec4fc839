/**
 * The ARC augmentations of the reference (`arclib/augmenters.py`), each with an exact inverse, and the four groups a
 * self-edit can enable.
 *
 * Three layers:
 *   GridAugmentation     deterministic, the same map for every grid (rotations, flips, transpose, reflections,
 *                        resolution/height/width scaling, repeats);
 *   Augmentation         what a TTT recipe names: a grid augmentation, RandomTranslateXY, a chain, PermuteColors or
 *                        PermuteExamples. Applying it to a problem makes its random draws;
 *   AppliedAugmentation  an augmentation with its draws made (shifts, colour map, example order): applying it is
 *                        deterministic, and invertGrid / invertProblem undo it exactly.
 *
 * Augmentations transform every grid of a problem: demo inputs and outputs, the test input and (when known) the test
 * output. Semantics follow the reference:
 *   rotate(a)            np.rot90 a/90 times (counter-clockwise); inverse rotate(360 - a)
 *   flip(0) / flip(1)    np.flipud / np.fliplr; self-inverse. transpose: self-inverse
 *   reflect(axis, rev)   [orig, flipped] (rev: [flipped, orig]) along axis, doubling that side
 *   increase-*           np.repeat by factor on both axes / axis 0 (height) / axis 1 (width)
 *   repeat(axis, n)      tile n times vertically (0), horizontally (1), both (2)
 *   random-translate     np.roll by (sx, sy), sx uniform in [0, min(4, H)), sy in [0, min(4, W)), the input's shift
 *                        and the output's shift drawn separately but identical for every example of the problem (the
 *                        reference gives each example a copy of the generator). Like the reference, drawing does not
 *                        advance the caller's generator: every problem augmented from one generator state gets the
 *                        same draws. Draws are integers in [0, 12) reduced modulo min(4, side), exactly uniform.
 *   chain                the steps in order, with one generator
 *   permute-colors       a bijection of colours fixing 0, drawn as the reference does (below)
 *   permute-examples     a uniformly random order of the demonstrations (the test query stays)
 * Size-changing augmentations are not bijections: their inverse accepts exactly the grids they can produce and throws
 * AugmentationInverseError for any other (a model's answer of the wrong shape, say).
 */
import { ARC_COLORS, type ArcExample, type ArcProblem, type ArcQuery, type Grid } from './grid.ts';
import type { ArcRng } from './rng.ts';

export type GridAugmentation =
  | { readonly kind: 'rotate'; readonly angle: 90 | 180 | 270 }
  | { readonly kind: 'flip'; readonly axis: 0 | 1 }
  | { readonly kind: 'transpose' }
  | { readonly kind: 'reflect'; readonly axis: 0 | 1; readonly reverse: boolean }
  | { readonly kind: 'increase-resolution'; readonly factor: number }
  | { readonly kind: 'increase-height'; readonly factor: number }
  | { readonly kind: 'increase-width'; readonly factor: number }
  | { readonly kind: 'repeat'; readonly axis: 0 | 1 | 2; readonly n: number };

export type Augmentation =
  | GridAugmentation
  | { readonly kind: 'random-translate' }
  | { readonly kind: 'chain'; readonly steps: readonly Augmentation[] }
  | { readonly kind: 'permute-colors' }
  | { readonly kind: 'permute-examples' };

/** The draws of one random translation: [row draw, column draw] for inputs and for outputs, each in [0, 12). */
export interface TranslateDraws {
  readonly input: readonly [number, number];
  readonly output: readonly [number, number];
}

export type AppliedAugmentation =
  | GridAugmentation
  | ({ readonly kind: 'translate' } & TranslateDraws)
  /** map[c] is the new colour of colour c: a permutation of 0..9 with map[0] = 0. */
  | { readonly kind: 'colors'; readonly map: readonly number[] }
  /** The new demos are the old ones in this order: demos'[i] = demos[order[i]]. */
  | { readonly kind: 'examples'; readonly order: readonly number[] }
  | { readonly kind: 'chain'; readonly steps: readonly AppliedAugmentation[] };

/** Which grid of an example a grid is: random translations shift inputs and outputs differently. */
export type GridRole = 'input' | 'output';

/** A grid that no application of the augmentation can produce was given to its inverse. */
export class AugmentationInverseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AugmentationInverseError';
  }
}

// ---- constructors and the reference's names ------------------------------------------------------------------------

export const rotate = (angle: 90 | 180 | 270): GridAugmentation => ({ kind: 'rotate', angle });
export const flip = (axis: 0 | 1): GridAugmentation => ({ kind: 'flip', axis });
export const transpose = (): GridAugmentation => ({ kind: 'transpose' });
export const reflect = (axis: 0 | 1, reverse: boolean): GridAugmentation => ({ kind: 'reflect', axis, reverse });
export const increaseResolution = (factor: number): GridAugmentation => ({ kind: 'increase-resolution', factor: checkFactor(factor) });
export const increaseHeight = (factor: number): GridAugmentation => ({ kind: 'increase-height', factor: checkFactor(factor) });
export const increaseWidth = (factor: number): GridAugmentation => ({ kind: 'increase-width', factor: checkFactor(factor) });
export const repeat = (axis: 0 | 1 | 2, n: number): GridAugmentation => ({ kind: 'repeat', axis, n: checkFactor(n) });
export const randomTranslate = (): Augmentation => ({ kind: 'random-translate' });
export const chain = (...steps: Augmentation[]): Augmentation => ({ kind: 'chain', steps });
export const permuteColors = (): Augmentation => ({ kind: 'permute-colors' });
export const permuteExamples = (): Augmentation => ({ kind: 'permute-examples' });

function checkFactor(f: number): number {
  if (!Number.isSafeInteger(f) || f < 2) throw new RangeError(`augmentation factor must be an integer >= 2, got ${f}`);
  return f;
}

/** The reference's str() of an augmenter ("Rotate(90)", "Chain([Flip(0), IncreaseResolution(2)])", ...). */
export function augmentationLabel(aug: Augmentation | AppliedAugmentation): string {
  switch (aug.kind) {
    case 'rotate':
      return `Rotate(${aug.angle})`;
    case 'flip':
      return `Flip(${aug.axis})`;
    case 'transpose':
      return 'Transpose()';
    case 'reflect':
      return `Reflect(${aug.axis}, reverse=${aug.reverse ? 'True' : 'False'})`;
    case 'increase-resolution':
      return `IncreaseResolution(${aug.factor})`;
    case 'increase-height':
      return `IncreaseHeight(${aug.factor})`;
    case 'increase-width':
      return `IncreaseWidth(${aug.factor})`;
    case 'repeat':
      return `Repeat(${aug.axis}, ${aug.n})`;
    case 'random-translate':
      return 'RandomTranslateXY()';
    case 'translate':
      return `RandomTranslateXY(input=${aug.input.join(',')}, output=${aug.output.join(',')})`;
    case 'chain':
      return `Chain([${aug.steps.map(augmentationLabel).join(', ')}])`;
    case 'permute-colors':
      return 'PermuteColors()';
    case 'colors':
      return `PermuteColors(${aug.map.join('')})`;
    case 'permute-examples':
      return 'PermuteExamples()';
    case 'examples':
      return `PermuteExamples(${aug.order.join(',')})`;
  }
}

// ---- the four groups a self-edit toggles (self-edit.get_augmenters) ---------------------------------------------------

export const AUGMENTATION_GROUPS = ['basic', 'size', 'chain', 'repeat'] as const;
export type AugmentationGroup = (typeof AUGMENTATION_GROUPS)[number];
export type AugmentationChoice = Readonly<Record<AugmentationGroup, boolean>>;

/** use_basic_augmentations: 11 augmenters. */
export const BASIC_AUGMENTATIONS: readonly Augmentation[] = [
  rotate(90),
  rotate(270),
  rotate(180),
  flip(0),
  flip(1),
  reflect(0, true),
  reflect(1, true),
  reflect(0, false),
  reflect(1, false),
  randomTranslate(),
  transpose(),
];
/** use_size_augmentations: 3. */
export const SIZE_AUGMENTATIONS: readonly Augmentation[] = [increaseResolution(2), increaseHeight(2), increaseWidth(2)];
/** use_chain_augmentations: 6, each a geometric transform then doubled resolution. */
export const CHAIN_AUGMENTATIONS: readonly Augmentation[] = [rotate(90), rotate(270), rotate(180), flip(0), flip(1), transpose()].map((g) =>
  chain(g, increaseResolution(2)),
);
/** use_repeat_augmentations: 3. */
export const REPEAT_AUGMENTATIONS: readonly Augmentation[] = [repeat(0, 2), repeat(1, 2), repeat(2, 2)];

const GROUP_MEMBERS: Record<AugmentationGroup, readonly Augmentation[]> = {
  basic: BASIC_AUGMENTATIONS,
  size: SIZE_AUGMENTATIONS,
  chain: CHAIN_AUGMENTATIONS,
  repeat: REPEAT_AUGMENTATIONS,
};

/** The augmenters of the chosen groups, in the reference's order: basic, size, chain, repeat (0 to 23). */
export function augmentationsFor(choice: AugmentationChoice): Augmentation[] {
  return AUGMENTATION_GROUPS.flatMap((g) => (choice[g] ? GROUP_MEMBERS[g] : []));
}

// ---- grid primitives ---------------------------------------------------------------------------------------------------

const rows = (g: Grid) => g.length;
const cols = (g: Grid) => g[0]?.length ?? 0;

/** np.rot90(g, k=1): counter-clockwise; out[i][j] = g[j][W-1-i]. */
function rot90(g: Grid): Grid {
  const h = rows(g);
  const w = cols(g);
  return Array.from({ length: w }, (_, i) => Array.from({ length: h }, (_, j) => g[j]![w - 1 - i]!));
}
const flipUd = (g: Grid): Grid =>
  g
    .slice()
    .reverse()
    .map((r) => r.slice());
const flipLr = (g: Grid): Grid => g.map((r) => r.slice().reverse());
const transposeGrid = (g: Grid): Grid => Array.from({ length: cols(g) }, (_, i) => g.map((r) => r[i]!));
const stackRows = (a: Grid, b: Grid): Grid => [...a, ...b].map((r) => r.slice());
const stackCols = (a: Grid, b: Grid): Grid => a.map((r, i) => [...r, ...b[i]!]);
const repeatEachRow = (g: Grid, f: number): Grid => g.flatMap((r) => Array.from({ length: f }, () => r.slice()));
const repeatEachCol = (g: Grid, f: number): Grid => g.map((r) => r.flatMap((v) => Array<number>(f).fill(v)));
const tileRows = (g: Grid, n: number): Grid =>
  Array.from({ length: n }, () => g)
    .flat()
    .map((r) => r.slice());
const tileCols = (g: Grid, n: number): Grid => g.map((r) => Array.from({ length: n }, () => r).flat());
/** np.roll(g, (dr, dc), axis=(0, 1)): cell (i, j) moves to ((i + dr) mod H, (j + dc) mod W). */
function roll(g: Grid, dr: number, dc: number): Grid {
  const h = rows(g);
  const w = cols(g);
  const mod = (a: number, m: number) => ((a % m) + m) % m;
  return Array.from({ length: h }, (_, i) => Array.from({ length: w }, (_, j) => g[mod(i - dr, h)]![mod(j - dc, w)]!));
}
const sameGrid = (a: Grid, b: Grid) => a.length === b.length && a.every((r, i) => r.length === b[i]!.length && r.every((v, j) => v === b[i]![j]));

/** Applies a deterministic grid augmentation. */
export function applyGridAugmentation(aug: GridAugmentation, grid: Grid): Grid {
  switch (aug.kind) {
    case 'rotate': {
      let g = grid;
      for (let k = 0; k < aug.angle / 90; k++) g = rot90(g);
      return g;
    }
    case 'flip':
      return aug.axis === 0 ? flipUd(grid) : flipLr(grid);
    case 'transpose':
      return transposeGrid(grid);
    case 'reflect': {
      const flipped = aug.axis === 0 ? flipUd(grid) : flipLr(grid);
      const [first, second] = aug.reverse ? [flipped, grid] : [grid, flipped];
      return aug.axis === 0 ? stackRows(first, second) : stackCols(first, second);
    }
    case 'increase-resolution':
      return repeatEachCol(repeatEachRow(grid, aug.factor), aug.factor);
    case 'increase-height':
      return repeatEachRow(grid, aug.factor);
    case 'increase-width':
      return repeatEachCol(grid, aug.factor);
    case 'repeat':
      if (aug.axis === 0) return tileRows(grid, aug.n);
      if (aug.axis === 1) return tileCols(grid, aug.n);
      return tileCols(tileRows(grid, aug.n), aug.n);
  }
}

/** The grid a grid augmentation maps to `grid`; throws AugmentationInverseError when there is none. */
export function invertGridAugmentation(aug: GridAugmentation, grid: Grid): Grid {
  switch (aug.kind) {
    case 'rotate':
      return applyGridAugmentation(rotate((360 - aug.angle) as 90 | 180 | 270), grid);
    case 'flip':
    case 'transpose':
      return applyGridAugmentation(aug, grid);
    default:
      break;
  }
  const h = rows(grid);
  const w = cols(grid);
  const needDivisible = (side: number, by: number, what: string) => {
    if (side % by !== 0)
      throw new AugmentationInverseError(`${augmentationLabel(aug)} cannot produce a ${h}x${w} grid: its ${what} (${side}) is not a multiple of ${by}`);
  };
  let source: Grid;
  switch (aug.kind) {
    case 'reflect': {
      const side = aug.axis === 0 ? h : w;
      needDivisible(side, 2, aug.axis === 0 ? 'height' : 'width');
      const half = side / 2;
      const keepSecond = aug.reverse;
      source =
        aug.axis === 0
          ? grid.slice(keepSecond ? half : 0, keepSecond ? h : half).map((r) => r.slice())
          : grid.map((r) => r.slice(keepSecond ? half : 0, keepSecond ? w : half));
      break;
    }
    case 'increase-resolution':
      needDivisible(h, aug.factor, 'height');
      needDivisible(w, aug.factor, 'width');
      source = grid.filter((_, i) => i % aug.factor === 0).map((r) => r.filter((_, j) => j % aug.factor === 0));
      break;
    case 'increase-height':
      needDivisible(h, aug.factor, 'height');
      source = grid.filter((_, i) => i % aug.factor === 0).map((r) => r.slice());
      break;
    case 'increase-width':
      needDivisible(w, aug.factor, 'width');
      source = grid.map((r) => r.filter((_, j) => j % aug.factor === 0));
      break;
    case 'repeat': {
      const byRows = aug.axis === 0 || aug.axis === 2;
      const byCols = aug.axis === 1 || aug.axis === 2;
      if (byRows) needDivisible(h, aug.n, 'height');
      if (byCols) needDivisible(w, aug.n, 'width');
      source = grid.slice(0, byRows ? h / aug.n : h).map((r) => r.slice(0, byCols ? w / aug.n : w));
      break;
    }
  }
  if (!sameGrid(applyGridAugmentation(aug, source), grid)) {
    throw new AugmentationInverseError(`the ${h}x${w} grid is not an output of ${augmentationLabel(aug)} (${describeStructure(aug)})`);
  }
  return source;
}

function describeStructure(aug: GridAugmentation): string {
  switch (aug.kind) {
    case 'reflect':
      return 'its two halves are not mirror images';
    case 'repeat':
      return 'its tiles differ';
    case 'increase-resolution':
    case 'increase-height':
    case 'increase-width':
      return `its ${aug.factor}-cell blocks are not uniform`;
    default:
      return 'it differs';
  }
}

// ---- random draws ------------------------------------------------------------------------------------------------------

/** Translation draws are integers in [0, TRANSLATE_DRAWS), reduced modulo min(4, side) (12 = lcm(1, 2, 3, 4)). */
export const TRANSLATE_DRAWS = 12;

function translateShift(grid: Grid, draws: readonly [number, number]): [number, number] {
  return [draws[0] % Math.min(4, rows(grid)), draws[1] % Math.min(4, cols(grid))];
}

/** The colours a problem uses (demos, test input, test output when present), ascending. */
function problemColors(problem: ArcProblem): number[] {
  const seen = new Set<number>();
  const add = (g: Grid) => {
    for (const row of g) for (const v of row) seen.add(v);
  };
  for (const d of problem.demos) {
    add(d.input);
    add(d.output);
  }
  add(problem.test.input);
  if (problem.test.output) add(problem.test.output);
  return [...seen].sort((a, b) => a - b);
}

/**
 * The reference's PermuteColors draw: 0 stays; `remaining` = the unused colours 1-9 (ascending, then shuffled) and
 * `permuted` = a permutation of the used ones. Each used colour c (ascending) not yet mapped takes remaining.pop()
 * while unused colours last, else swaps with p = permuted.pop(): c -> p and p -> c (c leaves `permuted`). The result
 * is completed into a permutation of 0..9 (the colours the task never uses fill the unused targets in order), so its
 * inverse is defined on every grid.
 */
function drawColorMap(problem: ArcProblem, rng: ArcRng): number[] {
  const used = problemColors(problem).filter((c) => c !== 0);
  const usedSet = new Set(used);
  const remaining = rng.shuffle([1, 2, 3, 4, 5, 6, 7, 8, 9].filter((c) => !usedSet.has(c)));
  const permuted = rng.shuffle(used.slice());
  const map = new Map<number, number>([[0, 0]]);
  for (const c of used) {
    if (map.has(c)) continue;
    let target: number;
    if (remaining.length > 0) {
      target = remaining.pop()!;
    } else {
      target = permuted.pop()!;
      map.set(target, c);
      const at = permuted.indexOf(c);
      if (at >= 0) permuted.splice(at, 1);
    }
    map.set(c, target);
  }
  // Only the used colours (and 0) matter to the problem; keep their images and complete to a bijection.
  const full = Array<number>(ARC_COLORS).fill(-1);
  const taken = new Set<number>();
  for (const c of [0, ...used]) {
    const t = map.get(c)!;
    if (taken.has(t)) throw new Error(`internal: colour permutation maps two colours to ${t}`);
    full[c] = t;
    taken.add(t);
  }
  const freeTargets = Array.from({ length: ARC_COLORS }, (_, c) => c).filter((c) => !taken.has(c));
  for (let c = 0; c < ARC_COLORS; c++) if (full[c] === -1) full[c] = freeTargets.shift()!;
  return full;
}

/**
 * Makes the random draws of `aug` for `problem` from `rng` and applies it: the augmented problem and the applied
 * augmentation (which re-applies or inverts deterministically).
 */
export function augmentProblem(aug: Augmentation, problem: ArcProblem, rng: ArcRng): { problem: ArcProblem; applied: AppliedAugmentation } {
  const applied = drawAugmentation(aug, problem, rng);
  return { problem: applyToProblem(applied, problem), applied };
}

function drawAugmentation(aug: Augmentation, problem: ArcProblem, rng: ArcRng): AppliedAugmentation {
  switch (aug.kind) {
    case 'random-translate': {
      const copy = rng.clone();
      const d = () => copy.int(TRANSLATE_DRAWS);
      const input: [number, number] = [d(), d()];
      const output: [number, number] = [d(), d()];
      return { kind: 'translate', input, output };
    }
    case 'permute-colors':
      return { kind: 'colors', map: drawColorMap(problem, rng) };
    case 'permute-examples':
      return { kind: 'examples', order: rng.permutation(problem.demos.length) };
    case 'chain': {
      const steps: AppliedAugmentation[] = [];
      let current = problem;
      for (const step of aug.steps) {
        const a = drawAugmentation(step, current, rng);
        steps.push(a);
        current = applyToProblem(a, current);
      }
      return { kind: 'chain', steps };
    }
    default:
      return aug;
  }
}

// ---- applying and inverting applied augmentations ----------------------------------------------------------------------

/** Applies an applied augmentation to one grid playing `role`. Example permutations leave grids unchanged. */
export function applyToGrid(applied: AppliedAugmentation, grid: Grid, role: GridRole): Grid {
  switch (applied.kind) {
    case 'translate': {
      const [dr, dc] = translateShift(grid, role === 'input' ? applied.input : applied.output);
      return roll(grid, dr, dc);
    }
    case 'colors':
      return grid.map((r) => r.map((v) => applied.map[v]!));
    case 'examples':
      return grid.map((r) => r.slice());
    case 'chain':
      return applied.steps.reduce((g, s) => applyToGrid(s, g, role), grid);
    default:
      return applyGridAugmentation(applied, grid);
  }
}

/**
 * The grid that `applied` maps to `grid` in `role` (for a decoded test output: role 'output'). Exact; throws
 * AugmentationInverseError when a size-changing step cannot have produced the grid.
 */
export function invertGrid(applied: AppliedAugmentation, grid: Grid, role: GridRole): Grid {
  switch (applied.kind) {
    case 'translate': {
      const [dr, dc] = translateShift(grid, role === 'input' ? applied.input : applied.output);
      return roll(grid, -dr, -dc);
    }
    case 'colors': {
      const inverse = Array<number>(ARC_COLORS);
      applied.map.forEach((to, from) => {
        inverse[to] = from;
      });
      return grid.map((r) => r.map((v) => inverse[v]!));
    }
    case 'examples':
      return grid.map((r) => r.slice());
    case 'chain':
      return applied.steps.reduceRight((g, s) => invertGrid(s, g, role), grid);
    default:
      return invertGridAugmentation(applied, grid);
  }
}

function mapProblem(problem: ArcProblem, f: (g: Grid, role: GridRole) => Grid): ArcProblem {
  const ex = (e: ArcExample): ArcExample => ({ input: f(e.input, 'input'), output: f(e.output, 'output') });
  const test: ArcQuery = problem.test.output
    ? { input: f(problem.test.input, 'input'), output: f(problem.test.output, 'output') }
    : { input: f(problem.test.input, 'input') };
  return { demos: problem.demos.map(ex), test };
}

/** Applies an applied augmentation to every grid of a problem (and reorders its demos for example permutations). */
export function applyToProblem(applied: AppliedAugmentation, problem: ArcProblem): ArcProblem {
  switch (applied.kind) {
    case 'examples': {
      if (applied.order.length !== problem.demos.length)
        throw new RangeError(`example permutation of ${applied.order.length} demos applied to a problem with ${problem.demos.length}`);
      return { demos: applied.order.map((i) => problem.demos[i]!), test: problem.test };
    }
    case 'chain':
      return applied.steps.reduce((p, s) => applyToProblem(s, p), problem);
    default:
      return mapProblem(problem, (g, role) => applyToGrid(applied, g, role));
  }
}

/** The problem `applied` maps to `problem`: applyToProblem undone exactly (throws AugmentationInverseError if none). */
export function invertProblem(applied: AppliedAugmentation, problem: ArcProblem): ArcProblem {
  switch (applied.kind) {
    case 'examples': {
      const demos: ArcExample[] = Array(problem.demos.length);
      applied.order.forEach((from, to) => {
        demos[from] = problem.demos[to]!;
      });
      return { demos, test: problem.test };
    }
    case 'chain':
      return applied.steps.reduceRight((p, s) => invertProblem(s, p), problem);
    default:
      return mapProblem(problem, (g, role) => invertGrid(applied, g, role));
  }
}

/** The augmentation that undoes a bijective grid augmentation (rotate, flip, transpose); null for the others. */
export function inverseAugmentation(aug: GridAugmentation): GridAugmentation | null {
  switch (aug.kind) {
    case 'rotate':
      return rotate((360 - aug.angle) as 90 | 180 | 270);
    case 'flip':
    case 'transpose':
      return aug;
    default:
      return null;
  }
}
