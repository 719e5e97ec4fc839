/**
 * C[M,N] = alpha · op(A) · op(B) + bias + (C if accumulate), with f32 accumulation: the one product behind linear layers,
 * their backward passes and LoRA:
 *   Y = X·Wᵀ (HF weight [out,in]: transB) · dX = dY·W · dW = dYᵀ·X (transA) · y += s·(x·Aᵀ)·Bᵀ (accumulate, alpha).
 * A is f32 activations; B is f32, bf16 or f16; C is f32. Any operand may sit inside a larger tensor at an element offset
 * (A also with its own row stride), so a row range of a packed batch or a column slice is an operand without a copy.
 * Four kernels:
 *   skinny           few rows of C (decode): each weight is read once, reduction over K inside a workgroup
 *   portable         register-blocked, shared-memory tiled kernel in plain WGSL
 *   f16              the same kernel with f16 workgroup tiles (shader-f16); activations rounded to f16
 *   subgroup-matrix  tensor cores through Dawn's chromium-experimental-subgroup-matrix (f16 operands, f32 results)
 */
import type { SubgroupMatrixConfig } from '../gpu/capabilities.ts';
import type { GpuContext } from '../gpu/context.ts';
import type { CommandRecorder, Param } from '../gpu/recorder.ts';
import { fold1d } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Defines } from '../gpu/wgsl.ts';
import { absMaxScaleOf, absMaxScratch } from './abs-max-scale.ts';
import { ceilDiv, expectDtype, expectNumel, expectShape } from './common.ts';

export type MatmulKernel = 'skinny' | 'portable' | 'f16' | 'subgroup-matrix';
export type MatmulVariant = 'auto' | MatmulKernel;

export interface MatmulArgs {
  /** f32, [M,K], or [K,M] with transA. */
  a: Tensor;
  /** f32 | bf16 | f16, [K,N], or [N,K] with transB. */
  b: Tensor;
  /** f32 [M,N], or [M, cRowStride] with cRowStride; read first when accumulate. Must not share a buffer with the inputs. */
  c: Tensor;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  /** Scales the product (not the bias or the accumulated C). Default 1. */
  alpha?: number;
  /** C += … instead of C = …. Default false. */
  accumulate?: boolean;
  /** [N] (or [cRowStride]), f32 | bf16 | f16, added to every row; read at the same columns as C. */
  bias?: Tensor;
  /**
   * Row stride of C in elements (default N): C is [M, cRowStride] and the product fills its columns
   * [cColumn, cColumn + N), leaving the others untouched. A weight split into row blocks (src/model/weight-ops.ts)
   * writes each block's output columns this way, with no scratch buffer or copy.
   */
  cRowStride?: number;
  /** First column of C written (default 0); see cRowStride. */
  cColumn?: number;
  /**
   * Operands inside larger tensors, as element counts (not binding offsets, which need 256-byte alignment):
   * A's storage element (row, col) is a[aOffset + row·aRowStride + col], B's is b[bOffset + row·(its row
   * length) + col], and C's (m, n) is c[cOffset + m·cRowStride + cColumn + n] (the bias stays indexed by
   * column). A row range of a packed batch (one LoRA adapter's rows; the reduction rows of a dW product) is
   * an offset; a column slice of A (dY's columns of one block of a split weight) is an offset plus a row
   * stride. The tensors are then only checked to contain every element addressed. Defaults 0.
   */
  aOffset?: number;
  /** Row stride of A's storage in elements (default its row length: K, or M with transA). */
  aRowStride?: number;
  bOffset?: number;
  cOffset?: number;
  /** Which kernel; 'auto' (default) picks by shape and device features (see matmulVariant). */
  variant?: MatmulVariant;
  /**
   * For the kernels that round A to f16 (f16, subgroup-matrix): first find the power of two s that brings max|A|
   * into [2^14, 2^15) (src/ops/abs-max-scale.ts, two small dispatches), stage A·s and scale the product by 1/s,
   * so A far outside f16's range (gradients of a mean loss, ~1e-6 and below; activation outliers) keeps f16's
   * precision instead of flushing to zero or overflowing. The exact kernels (skinny, portable) ignore it.
   * Default false.
   */
  scaleA?: boolean;
  /**
   * With scaleA: A's (s, 1/s) already computed (absMaxScaleOf) over a region holding every element of A this
   * product reads, used instead of scanning A again, so an operand several products share is scanned once. A
   * superset is fine: the scale only has to bring A's largest value into f16's range.
   */
  aScale?: Tensor;
  /** Block size of the tiled kernels (portable, f16); 'auto' (default) takes large blocks unless the grid would be small. */
  tile?: 'auto' | 'large' | 'small';
  /**
   * A wrong result on purpose, for checking that a self-test catches one (seal doctor's SEAL_DOCTOR_FAULT):
   * 'drop-last-k' reads op(A)[m, K-1] as zero in every kernel's vector loads of A (shaders/matmul_io.wgsl), as an
   * off-by-one in a K bound would. Never set outside such checks.
   */
  fault?: 'drop-last-k';
}

/** Up to this many rows of C, 'auto' takes the skinny kernel. */
export const SKINNY_MAX_M = 32;

/** The exact-f32 kernel for M rows of C ('auto' may round activations to f16): skinny for few rows, else the tiled one. */
export function exactKernel(M: number): MatmulKernel {
  return M <= SKINNY_MAX_M ? 'skinny' : 'portable';
}

/** Floating-point operations of one product (multiply and add counted separately). */
export function matmulFlops(M: number, N: number, K: number): number {
  return 2 * M * N * K;
}

interface Tile {
  BM: number;
  BN: number;
  BK: number;
  TM: number;
  TN: number;
}

/** Tiled-kernel geometries (256 invocations each). Large tiles reuse operands best; small ones keep a GPU busy on small grids. */
const TILES: Record<'portable' | 'f16', { large: Tile; small: Tile }> = {
  portable: { large: { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8 }, small: { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 } },
  // f16 tiles take half the workgroup memory, so K advances twice as far per barrier pair.
  f16: { large: { BM: 128, BN: 128, BK: 32, TM: 8, TN: 8 }, small: { BM: 64, BN: 64, BK: 32, TM: 4, TN: 4 } },
};
/** Below this many large-tile workgroups the grid would leave much of a GPU idle: use small tiles. */
const MIN_LARGE_GRID = 128;

const SKINNY_COLS = { transB: 8, plain: 32 };

/** Subgroups per workgroup, fixed in matmul_subgroup_matrix.wgsl (4 down M x 2 across N, each 2 x 4 fragments). */
const SGM_SUBGROUPS = 8;

interface SubgroupMatrixPlan {
  config: SubgroupMatrixConfig;
  subgroupSize: number;
}

/** The subgroup-matrix configuration this device would use, or why there is none. */
export function subgroupMatrixPlan(ctx: GpuContext): SubgroupMatrixPlan | string {
  if (!ctx.features.subgroupMatrix) return 'no chromium-experimental-subgroup-matrix feature';
  if (!ctx.features.shaderF16) return 'no shader-f16 feature (the fragments are f16)';
  if (!ctx.features.subgroups) return 'no subgroups feature';
  const subgroupSize = ctx.caps.subgroupMaxSize;
  if (!subgroupSize) return 'the adapter does not report its subgroup size';
  const candidates = ctx.caps.subgroupMatrixConfigs.filter(
    (c) => c.componentType === 'f16' && c.resultComponentType === 'f32' && c.K % 4 === 0 && c.M >= 4 && c.N >= 4,
  );
  if (!candidates.length) return 'no f16 -> f32 subgroup-matrix configuration';
  // Prefer 16x16x16 (NVIDIA, AMD), then the largest fragment.
  const is16 = (c: SubgroupMatrixConfig) => Number(c.M === 16 && c.N === 16 && c.K === 16);
  candidates.sort((x, y) => is16(y) - is16(x) || y.M * y.N * y.K - x.M * x.N * x.K);
  const invocations = SGM_SUBGROUPS * subgroupSize;
  for (const config of candidates) {
    if (invocations > (ctx.limits.maxComputeInvocationsPerWorkgroup ?? 256) || invocations > (ctx.limits.maxComputeWorkgroupSizeX ?? 256)) {
      return `a workgroup of ${SGM_SUBGROUPS} subgroups of ${subgroupSize} exceeds this device's invocation limits`;
    }
    if (subgroupMatrixStorageBytes(config) <= (ctx.limits.maxComputeWorkgroupStorageSize ?? 16384)) return { config, subgroupSize };
  }
  return 'the subgroup-matrix tiles do not fit in workgroup memory';
}

/** Workgroup memory of matmul_subgroup_matrix.wgsl for a config (mirrors its array sizes). */
function subgroupMatrixStorageBytes({ M, N, K }: SubgroupMatrixConfig): number {
  const BM = 8 * M,
    BN = 8 * N,
    BK = 2 * K;
  const aTile = BM * (BK + 8) + BK,
    bTile = BK * (BN + 8) + BN,
    stage = SGM_SUBGROUPS * M * (N + 4) + N;
  return 2 * aTile + 2 * bTile + 4 * stage;
}

function unsupported(variant: MatmulKernel, why: string): Error {
  return new Error(`matmul: variant '${variant}' is not supported by this device (${why})`);
}

/** The kernel a call would run: the requested variant, or for 'auto' the fastest one this device and shape allow. */
export function matmulVariant(ctx: GpuContext, args: Pick<MatmulArgs, 'M' | 'N' | 'K' | 'variant'>): MatmulKernel {
  const v = args.variant ?? 'auto';
  if (v === 'f16' && !ctx.features.shaderF16) throw unsupported('f16', 'no shader-f16 feature');
  if (v === 'subgroup-matrix') {
    const plan = subgroupMatrixPlan(ctx);
    if (typeof plan === 'string') throw unsupported('subgroup-matrix', plan);
  }
  if (v !== 'auto') {
    if (!['skinny', 'portable', 'f16', 'subgroup-matrix'].includes(v)) throw new TypeError(`matmul: unknown variant '${String(v)}'`);
    return v;
  }
  if (args.M <= SKINNY_MAX_M) return 'skinny';
  if (typeof subgroupMatrixPlan(ctx) !== 'string') return 'subgroup-matrix';
  return ctx.features.shaderF16 ? 'f16' : 'portable';
}

/**
 * A 2-D tensor must have exactly the storage shape; other ranks (e.g. [batch, T, D] activations) only the element
 * count. An operand addressed by offset or stride must only contain every element it is read or written at.
 */
function expectMatrix(name: string, t: Tensor, rows: number, cols: number, at?: { offset: number; stride: number }): void {
  if (at) {
    const end = rows === 0 || cols === 0 ? 0 : at.offset + (rows - 1) * at.stride + cols;
    if (end > t.numel) {
      throw new RangeError(
        `${name}: [${rows}, ${cols}] at element offset ${at.offset} with row stride ${at.stride} reaches element ${end}, past the ${t.numel} of the tensor`,
      );
    }
  } else if (t.shape.length === 2) expectShape(name, t, [rows, cols]);
  else expectNumel(name, t, rows * cols);
}

function expectCount(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new RangeError(`matmul: ${name} must be a non-negative integer, got ${v}`);
}

function checkArgs(a: MatmulArgs): void {
  for (const d of ['M', 'N', 'K'] as const) {
    if (!Number.isInteger(a[d]) || a[d] < 0) throw new RangeError(`matmul: ${d} must be a non-negative integer, got ${a[d]}`);
  }
  const { cRowStride: stride = a.N, cColumn: col = 0 } = a;
  if (!Number.isInteger(col) || col < 0) throw new RangeError(`matmul: cColumn must be a non-negative integer, got ${col}`);
  if (!Number.isInteger(stride) || stride < col + a.N) {
    throw new RangeError(`matmul: cRowStride must be an integer >= cColumn + N = ${col + a.N}, got ${stride}`);
  }
  if (a.alpha !== undefined && !Number.isFinite(a.alpha)) throw new RangeError(`matmul: alpha must be finite, got ${a.alpha}`);
  for (const name of ['aOffset', 'aRowStride', 'bOffset', 'cOffset'] as const) expectCount(name, a[name]);
  const aRows = a.transA ? a.K : a.M,
    aCols = a.transA ? a.M : a.K;
  if (a.aRowStride !== undefined && a.aRowStride < aCols) {
    throw new RangeError(`matmul: aRowStride must be >= A's row length ${aCols}, got ${a.aRowStride}`);
  }
  expectDtype('matmul.a', a.a, 'f32');
  expectDtype('matmul.b', a.b, 'f32', 'bf16', 'f16');
  expectDtype('matmul.c', a.c, 'f32');
  const aAt = a.aOffset !== undefined || a.aRowStride !== undefined ? { offset: a.aOffset ?? 0, stride: a.aRowStride ?? aCols } : undefined;
  const bCols = a.transB ? a.K : a.N;
  const bAt = a.bOffset !== undefined ? { offset: a.bOffset, stride: bCols } : undefined;
  const cAt = a.cOffset !== undefined ? { offset: a.cOffset, stride } : undefined;
  expectMatrix(`matmul.a${a.transA ? ' (transA)' : ''}`, a.a, aRows, aCols, aAt);
  expectMatrix(`matmul.b${a.transB ? ' (transB)' : ''}`, a.b, a.transB ? a.N : a.K, bCols, bAt);
  expectMatrix('matmul.c', a.c, a.M, stride, cAt);
  if (a.bias) {
    expectDtype('matmul.bias', a.bias, 'f32', 'bf16', 'f16');
    expectNumel('matmul.bias', a.bias, stride);
  }
  for (const [name, t] of [
    ['a', a.a],
    ['b', a.b],
    ['bias', a.bias],
  ] as const) {
    if (t && t.buffer === a.c.buffer) throw new RangeError(`matmul: c shares a buffer with ${name}; the output must be a separate buffer`);
  }
}

/** Defines describing the operands, shared by every kernel (see shaders/matmul_io.wgsl). */
function operandDefines(a: MatmulArgs): Defines {
  const d: Defines = {};
  const set = (name: string, on: boolean) => {
    if (on) d[name] = true; // only true defines, so equal programs share one cache key
  };
  const aRowLen = a.transA ? a.M : a.K;
  const bRowLen = a.transB ? a.K : a.N;
  const bHalf = a.b.dtype !== 'f32';
  const bVec = bHalf ? 8 : 4;
  // Vector loads need every storage row to start on a vector: row length, stride and offset all multiples of it.
  const aStride = a.aRowStride ?? aRowLen;
  set('TRANS_A', Boolean(a.transA));
  set('TRANS_B', Boolean(a.transB));
  set('A_VEC', aRowLen % 4 === 0 && aStride % 4 === 0 && (a.aOffset ?? 0) % 4 === 0 && a.a.byteOffset % 16 === 0);
  set('B_HALF', bHalf);
  set('B_BF16', a.b.dtype === 'bf16');
  set('B_F16', a.b.dtype === 'f16');
  set('B_VEC', bRowLen % bVec === 0 && (a.bOffset ?? 0) % bVec === 0 && a.b.byteOffset % 16 === 0);
  set('HAS_BIAS', Boolean(a.bias));
  set('BIAS_BF16', a.bias?.dtype === 'bf16');
  set('BIAS_F16', a.bias?.dtype === 'f16');
  set('ACCUMULATE', Boolean(a.accumulate));
  set('FAULT_DROP_LAST_K', a.fault === 'drop-last-k');
  return d;
}

/**
 * Records C = alpha·op(A)·op(B) (+ bias) (+ C), into columns [cColumn, cColumn + N) of C when cRowStride is given,
 * with operands at element offsets (aOffset, bOffset, cOffset) and A's rows aRowStride apart when given.
 */
export function matmul(rec: CommandRecorder, args: MatmulArgs): void {
  checkArgs(args);
  const ctx = rec.ctx;
  const kernel = matmulVariant(ctx, args);
  const { M, N, K } = args;
  if (M === 0 || N === 0) return;
  const defines = operandDefines(args);
  const params: Record<string, Param> = {
    M: ['u32', M],
    N: ['u32', N],
    K: ['u32', K],
    alpha: ['f32', args.alpha ?? 1],
    c_stride: ['u32', args.cRowStride ?? N],
    c_col: ['u32', args.cColumn ?? 0],
    a_offset: ['u32', args.aOffset ?? 0],
    a_stride: ['u32', args.aRowStride ?? (args.transA ? M : K)],
    b_offset: ['u32', args.bOffset ?? 0],
    c_offset: ['u32', args.cOffset ?? 0],
  };
  const bindings: Record<string, Tensor> = { a: args.a, b: args.b, c: args.c, ...(args.bias ? { bias: args.bias } : {}) };
  const label = `matmul ${kernel} ${M}x${N}x${K}`;
  if (args.scaleA && (kernel === 'f16' || kernel === 'subgroup-matrix') && K > 0) {
    let scale = args.aScale;
    if (!scale) {
      scale = absMaxScratch(ctx).scale;
      const aCols = args.transA ? M : K;
      absMaxScaleOf(rec, { a: args.a, rows: args.transA ? K : M, cols: aCols, offset: args.aOffset ?? 0, stride: args.aRowStride ?? aCols }, scale);
    }
    Object.assign(defines, { A_SCALED: true, A_SCALE_BINDING: Object.keys(bindings).length + 1 });
    bindings.a_scale = scale;
  }

  if (kernel === 'skinny') {
    const cols = args.transB ? SKINNY_COLS.transB : SKINNY_COLS.plain;
    rec.dispatch({ kernel: { shader: 'matmul_skinny', defines }, params, bindings, workgroups: fold1d(ceilDiv(N, cols)), label });
    return;
  }
  if (kernel === 'subgroup-matrix') {
    const plan = subgroupMatrixPlan(ctx) as SubgroupMatrixPlan;
    const { M: FM, N: FN, K: FK } = plan.config;
    rec.dispatch({
      kernel: { shader: 'matmul_subgroup_matrix', defines: { ...defines, FM, FN, FK, SG: plan.subgroupSize } },
      params,
      bindings,
      workgroups: [ceilDiv(N, 8 * FN), ceilDiv(M, 8 * FM)],
      label,
    });
    return;
  }
  const tiles = TILES[kernel];
  const tile = args.tile ?? 'auto';
  const large = tile === 'auto' ? ceilDiv(M, tiles.large.BM) * ceilDiv(N, tiles.large.BN) >= MIN_LARGE_GRID : tile === 'large';
  const t = large ? tiles.large : tiles.small;
  rec.dispatch({
    kernel: { shader: kernel === 'f16' ? 'matmul_f16' : 'matmul', defines: { ...defines, STAGE: kernel === 'f16' ? 'f16' : 'f32', ...t } },
    params,
    bindings,
    workgroups: [ceilDiv(N, t.BN), ceilDiv(M, t.BM)],
    label,
  });
}
