/**
 * A frozen HF Linear with an optional LoRA adapter, forward and backward, from the matmul op alone:
 *   forward   y = x·Wᵀ (+ bias) + s·u·Bᵀ,  u = x·Aᵀ                 (u [T, r] is kept for dB)
 *   backward  dB = s·dyᵀ·u,  e = dy·B,  dA = s·eᵀ·x,  dx = dy·W + s·e·A
 * Every product runs in exact f32 ('skinny' for few output rows, else 'portable'), never 'auto', which may
 * round activations to f16. No atomics anywhere, so results are deterministic.
 */
import type { CommandRecorder } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { matmul, SKINNY_MAX_M, type MatmulArgs } from '../ops/matmul.ts';

export interface LoraLinear {
  /** Base weight [out, in], f32 / bf16 / f16, frozen. */
  w: Tensor;
  /** Base bias [out], frozen. */
  bias?: Tensor;
  inFeatures: number;
  outFeatures: number;
  /** The adapter of this projection, when it has one. */
  lora?: { a: Tensor; b: Tensor; rank: number; scale: number };
}

/** An exact-f32 matmul: the skinny kernel for few rows of C, the tiled portable kernel otherwise. */
export function exactMatmul(rec: CommandRecorder, args: Omit<MatmulArgs, 'variant'>): void {
  matmul(rec, { ...args, variant: args.M <= SKINNY_MAX_M ? 'skinny' : 'portable' });
}

export interface LoraLinearForward {
  x: Tensor; // [T, in]
  /** [T, out]; not written when skipBase. */
  y: Tensor;
  /** [T, r], written when the projection is adapted. */
  u?: Tensor;
  tokens: number;
  /** Only compute u (the recomputation in the backward needs u, not y). */
  skipBase?: boolean;
}

export function loraLinearForward(rec: CommandRecorder, lin: LoraLinear, a: LoraLinearForward): void {
  const T = a.tokens;
  if (!a.skipBase) {
    exactMatmul(rec, { a: a.x, b: lin.w, c: a.y, M: T, N: lin.outFeatures, K: lin.inFeatures, transB: true, bias: lin.bias });
  }
  if (!lin.lora) return;
  if (!a.u) throw new Error('loraLinearForward: an adapted projection needs u [T, r]');
  const { rank, scale } = lin.lora;
  exactMatmul(rec, { a: a.x, b: lin.lora.a, c: a.u, M: T, N: rank, K: lin.inFeatures, transB: true });
  if (!a.skipBase) exactMatmul(rec, { a: a.u, b: lin.lora.b, c: a.y, M: T, N: lin.outFeatures, K: rank, transB: true, alpha: scale, accumulate: true });
}

export interface LoraLinearBackward {
  dy: Tensor; // [T, out]
  x: Tensor; // [T, in], the forward's input
  /** [T, r], the forward's x·Aᵀ (adapted projections). */
  u?: Tensor;
  /** [T, in]: 'write' overwrites it with dL/dx, 'add' adds dL/dx to it, 'none' skips it (nothing upstream needs it). */
  dx: Tensor | null;
  dxMode: 'write' | 'add' | 'none';
  /** dA [r, in] and dB [out, r] (adapted projections). */
  grads?: { a: Tensor; b: Tensor };
  /** Add into grads (gradient accumulation) instead of overwriting them. */
  accumulateGrads: boolean;
  /** [T, r] scratch for e = dy·B. */
  e?: Tensor;
  tokens: number;
}

export function loraLinearBackward(rec: CommandRecorder, lin: LoraLinear, a: LoraLinearBackward): void {
  const T = a.tokens;
  const { inFeatures: K_in, outFeatures: N_out } = lin;
  const wantDx = a.dxMode !== 'none';
  if (wantDx && !a.dx) throw new Error(`loraLinearBackward: dxMode '${a.dxMode}' needs dx`);
  if (wantDx) exactMatmul(rec, { a: a.dy, b: lin.w, c: a.dx!, M: T, N: K_in, K: N_out, accumulate: a.dxMode === 'add' });
  if (!lin.lora) return;
  if (!a.u || !a.grads || !a.e) throw new Error('loraLinearBackward: an adapted projection needs u, grads and the e scratch');
  const { rank, scale } = lin.lora;
  const acc = a.accumulateGrads;
  exactMatmul(rec, { a: a.dy, b: a.u, c: a.grads.b, M: N_out, N: rank, K: T, transA: true, alpha: scale, accumulate: acc });
  exactMatmul(rec, { a: a.dy, b: lin.lora.b, c: a.e, M: T, N: rank, K: N_out });
  exactMatmul(rec, { a: a.e, b: a.x, c: a.grads.a, M: rank, N: K_in, K: T, transA: true, alpha: scale, accumulate: acc });
  if (wantDx) exactMatmul(rec, { a: a.e, b: lin.lora.a, c: a.dx!, M: T, N: K_in, K: rank, alpha: scale, accumulate: true });
}
