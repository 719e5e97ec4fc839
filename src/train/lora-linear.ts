/**
 * A frozen HF Linear with the LoRA of the adapters whose rows pass through it, forward and backward, from the
 * matmul op alone:
 *   forward   y = x·Wᵀ (+ bias) + s_g·u·B_gᵀ,  u = x·A_gᵀ                 (u of every row kept for dB)
 *   backward  dB_g = s_g·dyᵀ·u,  e = dy·B_g,  dA_g = s_g·eᵀ·x,  dx = dy·W + s_g·e·A_g
 * with g the adapter of each row (src/lora/grouped-lora.ts: per-adapter row segments). The base weight may be
 * stored whole or as row blocks (over the storage binding limit): the forward runs one matmul per block into
 * its columns of y (weight-ops linear), and dx = dy·W sums the blocks' dy[:, block columns]·W_block.
 * Every product runs in exact f32 by default ('skinny' for few output rows, else 'portable'), or with precision
 * 'mixed' in the device's fastest kernel (see TrainingPrecision). No atomics anywhere, so results are
 * deterministic either way.
 */
import type { CommandRecorder } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { LoraPair } from '../lora/adapter.ts';
import { groupedLoraBackward, groupedLoraForward, type GroupedLora } from '../lora/grouped-lora.ts';
import { weightBlocks, type WeightRef } from '../model/split-weight.ts';
import { linear } from '../model/weight-ops.ts';
import { absMaxScaleOf } from '../ops/abs-max-scale.ts';
import { exactKernel, matmul, matmulVariant, type MatmulArgs } from '../ops/matmul.ts';

/**
 * How the training step's matmuls run: the frozen base's products (the forward's x·Wᵀ and the backward's dy·W,
 * the LM head's included: nearly all of a step's FLOPs) and the LoRA products (x·Aᵀ, u·Bᵀ, dB, e, dA and their
 * part of dx: at rank 128 on five projections, a sixth of them, which f32 kernels would leave the slowest part):
 *   'f32'    exact f32 kernels (default): gradients equal the f64 reference to f32 rounding.
 *   'mixed'  the device's fastest kernel ('auto': tensor cores through subgroup matrices, else f16 tiles, else
 *            the f32 one), its A operand scaled by a power of two into f16's range (MatmulArgs.scaleA: dy of a
 *            mean loss is ~1e-6, below f16's normals), f32 accumulation. Like PyTorch's autocast (which also
 *            runs PEFT's LoRA products in bf16), operands are rounded to 16 bits (f16 here, 11 bits of
 *            mantissa); the LoRA weights and their gradients are stored in f32, and attention, norms, the loss
 *            and AdamW stay f32.
 */
export type TrainingPrecision = 'f32' | 'mixed';
export const TRAINING_PRECISIONS: readonly TrainingPrecision[] = ['f32', 'mixed'];

/**
 * With precision 'mixed', records the scale of the [rows, cols] operand `x` into `scale` (absMaxScaleOf) and
 * returns it, for every product that reads x to share; otherwise (or without a scratch tensor) undefined.
 */
export function inputScale(
  rec: CommandRecorder,
  precision: TrainingPrecision,
  x: Tensor,
  rows: number,
  cols: number,
  scale: Tensor | undefined,
): Tensor | undefined {
  // Only the kernels that round A use a scale ('auto' picks the exact skinny one for few rows, or no f16 kernel exists).
  const kernel = matmulVariant(rec.ctx, { M: rows, N: cols, K: cols, variant: 'auto' });
  if (precision !== 'mixed' || !scale || kernel === 'skinny' || kernel === 'portable') return undefined;
  absMaxScaleOf(rec, { a: x, rows, cols }, scale);
  return scale;
}

/** Kernel choice of a training product with M rows of C. */
export function trainingProduct(precision: TrainingPrecision, M: number): Pick<MatmulArgs, 'variant' | 'scaleA'> {
  return precision === 'mixed' ? { variant: 'auto', scaleA: true } : { variant: exactKernel(M) };
}

export interface LoraLinear {
  /** Base weight [out, in], f32 / bf16 / f16, frozen; whole or as row blocks. */
  w: WeightRef;
  /** Base bias [out], frozen. */
  bias?: Tensor;
  inFeatures: number;
  outFeatures: number;
  /** The LoRA segments of this projection, when some row's adapter adapts it. */
  lora?: GroupedLora;
  /** How its products run. */
  precision: TrainingPrecision;
}

export interface LinearInputGrad {
  /** [M, N] f32: dL/dy. */
  dy: Tensor;
  /** [N, K] weight, whole or as row blocks. */
  weight: WeightRef;
  /** [M, K] f32: receives (or, with accumulate, adds) dL/dx = dy·W. */
  dx: Tensor;
  M: number;
  accumulate: boolean;
  precision: TrainingPrecision;
  /** dy's scale (mixed precision), when already computed; each block's product otherwise scans its slice. */
  dyScale?: Tensor;
}

/**
 * dx = dy·W (exact f32 unless precision 'mixed'). For W stored as row blocks (output rows [n0, n0 + nb) each), dy·W is the sum over blocks
 * of dy[:, n0 : n0 + nb]·W_block: each block's product reads its column slice of dy in place (matmul's aOffset
 * and aRowStride) and adds into dx, so no block ever needs a binding over the limit and nothing is copied.
 */
export function linearInputGrad(rec: CommandRecorder, a: LinearInputGrad): void {
  const [N, K] = a.weight.shape as [number, number];
  const blocks = weightBlocks(a.weight);
  blocks.forEach((block, j) => {
    const slice = blocks.length > 1 ? { aOffset: block.rowStart, aRowStride: N } : {};
    matmul(rec, {
      a: a.dy,
      ...slice,
      b: block.tensor,
      c: a.dx,
      M: a.M,
      N: K,
      K: block.rows,
      accumulate: a.accumulate || j > 0,
      ...trainingProduct(a.precision, a.M),
      aScale: a.dyScale,
    });
  });
}

export interface LoraLinearForward {
  x: Tensor; // [T, in]
  /** [T, out]; not written when skipBase. */
  y: Tensor;
  /** The projection's shared u buffer (lora.uSize elements), written when the projection is adapted. */
  u?: Tensor;
  tokens: number;
  /** Only compute u (the recomputation in the backward needs u, not y). */
  skipBase?: boolean;
  /** x's scale (mixed precision; inputScale): one scan of x shared by every product that reads it. */
  xScale?: Tensor;
}

export function loraLinearForward(rec: CommandRecorder, lin: LoraLinear, a: LoraLinearForward): void {
  const T = a.tokens;
  if (!a.skipBase) linear(rec, { x: a.x, weight: lin.w, y: a.y, M: T, bias: lin.bias, ...trainingProduct(lin.precision, T), aScale: a.xScale });
  if (!lin.lora) return;
  if (!a.u) throw new Error('loraLinearForward: an adapted projection needs its u buffer');
  groupedLoraForward(rec, lin.lora, { x: a.x, y: a.skipBase ? null : a.y, u: a.u, product: (M) => trainingProduct(lin.precision, M), xScale: a.xScale });
}

export interface LoraLinearBackward {
  dy: Tensor; // [T, out]
  x: Tensor; // [T, in], the forward's input
  /** The forward's u (adapted projections). */
  u?: Tensor;
  /** [T, in]: 'write' overwrites it with dL/dx, 'add' adds dL/dx to it, 'none' skips it (nothing upstream needs it). */
  dx: Tensor | null;
  dxMode: 'write' | 'add' | 'none';
  /** dA [r, in] and dB [out, r] of this projection, per adapter index (adapted projections). */
  grads: readonly (LoraPair | undefined)[];
  /** Add into grads (gradient accumulation) instead of overwriting them: for all adapters, or per adapter. */
  accumulateGrads: boolean | readonly boolean[];
  /** Scratch for e = dy·B (at least lora.uSize elements). */
  e?: Tensor;
  /** [2] f32 scratch for dy's scale (mixed precision): dy is scanned once for dx, dB and e. */
  dyScale?: Tensor;
  tokens: number;
}

export function loraLinearBackward(rec: CommandRecorder, lin: LoraLinear, a: LoraLinearBackward): void {
  const wantDx = a.dxMode !== 'none';
  if (wantDx && !a.dx) throw new Error(`loraLinearBackward: dxMode '${a.dxMode}' needs dx`);
  const dyScale = inputScale(rec, lin.precision, a.dy, a.tokens, lin.outFeatures, a.dyScale);
  if (wantDx) linearInputGrad(rec, { dy: a.dy, weight: lin.w, dx: a.dx!, M: a.tokens, accumulate: a.dxMode === 'add', precision: lin.precision, dyScale });
  if (!lin.lora) return;
  if (!a.u || !a.e) throw new Error('loraLinearBackward: an adapted projection needs u and the e scratch');
  groupedLoraBackward(rec, lin.lora, {
    dy: a.dy,
    x: a.x,
    u: a.u,
    e: a.e,
    dx: wantDx ? a.dx : null,
    grads: a.grads,
    accumulate: a.accumulateGrads,
    product: (M) => trainingProduct(lin.precision, M),
    dyScale,
  });
}
