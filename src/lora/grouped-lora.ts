/**
 * Many LoRA adapters over one packed batch: every row carries an adapter index g, and a projection computes
 *   forward   y[r] += s_g · (x[r]·A_gᵀ)·B_gᵀ
 *   backward  dx[r] += s_g · (dy[r]·B_g)·A_g,   dA_g = s_g · Σ_{r of g} (dy[r]·B_g)ᵀ x[r],   dB_g = s_g · Σ_{r of g} dy[r]ᵀ (x[r]·A_gᵀ)
 * (one adapter everywhere is plain LoRA; a row with no adapter gets none).
 *
 * Design: the rows are taken as runs of one adapter (a training batch is ordered so each adapter's sequences
 * are one contiguous segment; a generation step should order its rows the same way), and each run's products
 * are ordinary matmuls on that run, addressed by element offsets (matmul's aOffset / bOffset / cOffset: a row
 * range of x, y, dy and dx, and for dA and dB a row range of the reduction dimension). Why not one kernel that
 * looks up each row's adapter:
 *   - exact and deterministic: a run's LoRA products are the very matmuls that training its adapter alone
 *     issues (same kernel, shapes and summation order), with no atomics and no per-row scatter;
 *   - each adapter keeps its own rank, targets, scale and tensors (no packing of K adapters into one buffer,
 *     no padding every rank to the largest);
 *   - the base projection, the costly part, stays one matmul over all rows; the LoRA products are thin
 *     (rank-wide) and together do the FLOPs of one adapter over all rows, in K times as many (small) dispatches.
 * u = x·A_gᵀ of every run lives in one flat buffer, run after run ([rows, rank] each, starting on 4-element
 * boundaries so vector loads stay available); the backward's e = dy·B_g uses the same layout.
 *
 * Use: runs = adapterRuns(rowAdapterIndex) once per pass; per projection, plan = planGroupedLora(runs, in, out,
 * adapterWeights(adapters, layer, target)) (undefined when no run's adapter adapts it); after the base linear,
 * groupedLoraForward(rec, plan, { x, y, u }) with u of groupedLoraScratchSize(runs, rank of each adapter) elements
 * (enough for every projection). Training keeps u per projection and calls groupedLoraBackward.
 */
import type { CommandRecorder } from '../gpu/recorder.ts';
import { shapeString, type Tensor } from '../gpu/tensor.ts';
import { exactKernel, matmul, type MatmulArgs } from '../ops/matmul.ts';
import type { LoraAdapter, LoraPair } from './adapter.ts';
import type { LoraTarget } from './config.ts';

/** Rows [rowStart, rowStart + rows) of a packed batch that use adapter `adapter`. */
export interface AdapterRun {
  adapter: number;
  rowStart: number;
  rows: number;
}

/** The maximal runs of equal adapter index; rows with a negative index (no adapter) belong to no run. */
export function adapterRuns(rowAdapters: ArrayLike<number>): AdapterRun[] {
  const runs: AdapterRun[] = [];
  for (let r = 0; r < rowAdapters.length; r++) {
    const g = rowAdapters[r]!;
    if (!Number.isInteger(g)) throw new RangeError(`adapterRuns: row ${r} has adapter index ${g}, not an integer`);
    if (g < 0) continue;
    const last = runs[runs.length - 1];
    if (last && last.adapter === g && last.rowStart + last.rows === r) last.rows++;
    else runs.push({ adapter: g, rowStart: r, rows: 1 });
  }
  return runs;
}

/** One adapter's pair on one projection. */
export interface LoraWeights {
  a: Tensor; // [rank, in] f32
  b: Tensor; // [out, rank] f32
  rank: number;
  scale: number;
}

/** The pair of a projection for each adapter of a list (undefined where that adapter does not adapt it). */
export function adapterWeights(adapters: readonly LoraAdapter[], layer: number, target: LoraTarget): (adapter: number) => LoraWeights | undefined {
  return (g) => {
    const adapter = adapters[g];
    if (!adapter) throw new RangeError(`grouped LoRA: adapter index ${g} is outside the ${adapters.length} adapters`);
    const pair = adapter.get(layer, target);
    return pair && { ...pair, rank: adapter.config.rank, scale: adapter.scale };
  };
}

/** One run's share of a projection's LoRA: its rows, its adapter's pair, and where its u rows start. */
export interface LoraSegment extends AdapterRun, LoraWeights {
  /** Element offset of this run's u = x·Aᵀ ([rows, rank], row-major) in the shared u buffer. */
  uOffset: number;
}

/** The LoRA of one projection over a packed batch. */
export interface GroupedLora {
  inFeatures: number;
  outFeatures: number;
  segments: LoraSegment[];
  /** Elements of the shared u (and e) buffer. */
  uSize: number;
}

/** u rows of each run start on a multiple of this many elements (16 bytes: vector loads stay on). */
const U_ALIGN = 4;

const alignUp = (n: number) => Math.ceil(n / U_ALIGN) * U_ALIGN;

/** Elements of a u buffer that holds every run at its own rank (an upper bound over the projections). */
export function groupedLoraScratchSize(runs: readonly AdapterRun[], rankOf: (adapter: number) => number): number {
  return runs.reduce((n, run) => n + alignUp(run.rows * rankOf(run.adapter)), 0);
}

/** The segments of a projection: the runs whose adapter adapts it. Undefined when none does. */
export function planGroupedLora(
  runs: readonly AdapterRun[],
  inFeatures: number,
  outFeatures: number,
  weightsOf: (adapter: number) => LoraWeights | undefined,
): GroupedLora | undefined {
  const segments: LoraSegment[] = [];
  let uSize = 0;
  for (const run of runs) {
    const w = weightsOf(run.adapter);
    if (!w || run.rows === 0) continue;
    if (w.a.numel !== w.rank * inFeatures || w.b.numel !== outFeatures * w.rank) {
      throw new RangeError(
        `grouped LoRA: adapter ${run.adapter} has A ${shapeString(w.a.shape)} and B ${shapeString(w.b.shape)}, expected [${w.rank}, ${inFeatures}] and [${outFeatures}, ${w.rank}]`,
      );
    }
    segments.push({ ...run, ...w, uOffset: uSize });
    uSize += alignUp(run.rows * w.rank);
  }
  return segments.length ? { inFeatures, outFeatures, segments, uSize } : undefined;
}

/** How a product with M rows of C runs: its kernel, and whether A is scaled into f16's range (MatmulArgs). */
export type ProductKernel = (M: number) => Pick<MatmulArgs, 'variant' | 'scaleA'>;

/** Exact f32 products (the default). */
const exactProduct: ProductKernel = (M) => ({ variant: exactKernel(M) });

function checkRows(what: string, t: Tensor, g: GroupedLora, cols: number): void {
  const last = g.segments[g.segments.length - 1]!;
  if (t.numel < (last.rowStart + last.rows) * cols)
    throw new RangeError(`grouped LoRA: ${what} has ${t.numel} elements, fewer than rows up to ${last.rowStart + last.rows} of ${cols}`);
}

export interface GroupedLoraForward {
  /** [rows, in] f32: the projection's input. */
  x: Tensor;
  /** [rows, out] f32: the base output, added to; null to only compute u (recomputation for the backward). */
  y: Tensor | null;
  /** At least uSize f32: receives u = x·Aᵀ of every segment (kept for the backward when training). */
  u: Tensor;
  /**
   * The kernel of a segment's two products, by their rows of C. Default: exact f32 ('skinny' for up to
   * SKINNY_MAX_M rows, else 'portable'); inference may pass its own choice (e.g. () => ({ variant: 'auto' })).
   */
  product?: ProductKernel;
  /** x's scale when the products scale A (MatmulArgs.aScale: computed once for every segment's x·Aᵀ). */
  xScale?: Tensor;
}

/** y[run] += s·(x[run]·Aᵀ)·Bᵀ for every segment, u[run] = x[run]·Aᵀ on the way. */
export function groupedLoraForward(rec: CommandRecorder, g: GroupedLora, f: GroupedLoraForward): void {
  const { inFeatures: K_in, outFeatures: N_out } = g;
  checkRows('x', f.x, g, K_in);
  if (f.y) checkRows('y', f.y, g, N_out);
  if (f.u.numel < g.uSize) throw new RangeError(`grouped LoRA: u has ${f.u.numel} elements, needs ${g.uSize}`);
  const product = f.product ?? exactProduct;
  for (const s of g.segments) {
    matmul(rec, {
      a: f.x,
      aOffset: s.rowStart * K_in,
      b: s.a,
      c: f.u,
      cOffset: s.uOffset,
      M: s.rows,
      N: s.rank,
      K: K_in,
      transB: true,
      ...product(s.rows),
      aScale: f.xScale,
    });
    if (f.y) {
      matmul(rec, {
        a: f.u,
        aOffset: s.uOffset,
        b: s.b,
        c: f.y,
        cOffset: s.rowStart * N_out,
        M: s.rows,
        N: N_out,
        K: s.rank,
        transB: true,
        alpha: s.scale,
        accumulate: true,
        ...product(s.rows),
      });
    }
  }
}

export interface GroupedLoraBackward {
  /** [rows, out] f32: dL/dy. */
  dy: Tensor;
  /** [rows, in] f32 and u (uSize): the forward's input and x·Aᵀ. */
  x: Tensor;
  u: Tensor;
  /** At least uSize f32 of scratch for e = dy·B. */
  e: Tensor;
  /** [rows, in] f32: dL/dx, added to (the base projection's part is already there); null when not needed. */
  dx: Tensor | null;
  /** dA [rank, in] and dB [out, rank] per adapter index; an adapter without them gets no parameter gradient. */
  grads: readonly (LoraPair | undefined)[];
  /** Per adapter (or for all): add into its gradients instead of overwriting them. */
  accumulate: boolean | readonly boolean[];
  /** The kernel of each product, by its rows of C (default exact f32, as GroupedLoraForward.product). */
  product?: ProductKernel;
  /** dy's scale when the products scale A (dB and e both read dy: computed once). */
  dyScale?: Tensor;
}

/**
 * dB_g, dA_g (written, or added to) and dx += s·e·A for every segment. An adapter with several runs has its
 * gradients overwritten by its first run (unless accumulating) and added to by the others.
 */
export function groupedLoraBackward(rec: CommandRecorder, g: GroupedLora, b: GroupedLoraBackward): void {
  const { inFeatures: K_in, outFeatures: N_out } = g;
  checkRows('dy', b.dy, g, N_out);
  checkRows('x', b.x, g, K_in);
  if (b.dx) checkRows('dx', b.dx, g, K_in);
  for (const [name, t] of [
    ['u', b.u],
    ['e', b.e],
  ] as const) {
    if (t.numel < g.uSize) throw new RangeError(`grouped LoRA: ${name} has ${t.numel} elements, needs ${g.uSize}`);
  }
  const written = new Set<number>();
  const product = b.product ?? exactProduct;
  const run = (args: Omit<MatmulArgs, 'variant' | 'scaleA'>) => matmul(rec, { ...args, ...product(args.M) });
  for (const s of g.segments) {
    const grads = b.grads[s.adapter];
    const accumulate = written.has(s.adapter) || (typeof b.accumulate === 'boolean' ? b.accumulate : Boolean(b.accumulate[s.adapter]));
    if (!grads && !b.dx) continue;
    const dyRows = s.rowStart * N_out,
      xRows = s.rowStart * K_in;
    if (grads) {
      run({
        a: b.dy,
        aOffset: dyRows,
        b: b.u,
        bOffset: s.uOffset,
        c: grads.b,
        M: N_out,
        N: s.rank,
        K: s.rows,
        transA: true,
        alpha: s.scale,
        accumulate,
        aScale: b.dyScale,
      });
    }
    run({ a: b.dy, aOffset: dyRows, b: s.b, c: b.e, cOffset: s.uOffset, M: s.rows, N: s.rank, K: N_out, aScale: b.dyScale });
    if (grads) {
      run({ a: b.e, aOffset: s.uOffset, b: b.x, bOffset: xRows, c: grads.a, M: s.rank, N: K_in, K: s.rows, transA: true, alpha: s.scale, accumulate });
      written.add(s.adapter);
    }
    if (b.dx) run({ a: b.e, aOffset: s.uOffset, b: s.a, c: b.dx, cOffset: xRows, M: s.rows, N: K_in, K: s.rank, alpha: s.scale, accumulate: true });
  }
}
