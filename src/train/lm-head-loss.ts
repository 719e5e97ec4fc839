/**
 * Final norm, LM head and cross-entropy over the batch, in chunks of rows so the logits never exceed a byte
 * budget (8k tokens x 152k vocab would be 5 GB): per chunk, logits = n·Headᵀ, then the fused cross-entropy
 * turns them into dlogits in place, then dn = dlogits·Head. The mean over all unmasked tokens is assembled from
 * the chunk means: chunk c's gradient is scaled by S_c / S (S_c its weight sum, S the batch's), and its mean
 * loss is weighted the same way on the host.
 */
import type { CommandRecorder } from '../gpu/recorder.ts';
import { Tensor } from '../gpu/tensor.ts';
import { crossEntropyForward, crossEntropyFused } from '../ops/cross-entropy.ts';
import { rmsnormBackward, rmsnormForward } from '../ops/rmsnorm.ts';
import type { Arena } from './arena.ts';
import type { LayerInputs } from './decoder-layer.ts';
import { exactMatmul } from './lora-linear.ts';

/** Chunk row counts are multiples of this, so row offsets of [T, *] f32 views are 256-byte aligned (any binding offset alignment). */
export const HEAD_CHUNK_ALIGN = 64;
/** f32 per chunk-loss slot: one 256-byte slot each keeps every slot a valid binding offset. */
const LOSS_SLOT = 64;

/** Rows per head chunk for a logits byte budget (at least HEAD_CHUNK_ALIGN rows, at most T). */
export function headChunkRows(tokens: number, vocab: number, budgetBytes: number): number {
  const fit = Math.floor(budgetBytes / (vocab * 4) / HEAD_CHUNK_ALIGN) * HEAD_CHUNK_ALIGN;
  return Math.min(tokens, Math.max(HEAD_CHUNK_ALIGN, fit));
}

export interface HeadLoss {
  /** The final residual stream [T, H]. */
  hidden: Tensor;
  targets: Tensor; // [T] u32
  weights: Tensor; // [T] f32
  /** Host copy of the weights: the per-chunk sums S_c. */
  hostWeights: Float32Array;
  /** S of the mean loss (the batch's weight sum, or a caller's total over several micro-batches). */
  denominator: number;
  chunkRows: number;
  /** 'grad': also write dL/d(hidden) into dHidden. */
  dHidden?: Tensor;
}

export interface HeadLossResult {
  /** Chunk c's mean loss at element c * LOSS_SLOT. */
  chunkLosses: Tensor;
  /** The weight S_c / S of each chunk's mean in the batch loss. */
  chunkWeights: number[];
}

/** Combines the chunk means (read back from chunkLosses) into the batch loss. */
export function batchLoss(chunkLosses: Float32Array, chunkWeights: readonly number[]): number {
  return chunkWeights.reduce((sum, w, c) => sum + (w === 0 ? 0 : w * chunkLosses[c * LOSS_SLOT]!), 0);
}

export function recordHeadLoss(rec: CommandRecorder, arena: Arena, inp: LayerInputs, a: HeadLoss): HeadLossResult {
  const { hiddenSize: H, vocabSize: V, rmsNormEps: eps } = inp.config;
  const T = inp.tokens;
  const head = inp.weights.lmHead;
  const normWeight = inp.weights.get('model.norm.weight');
  const chunks = Math.ceil(T / a.chunkRows);
  const n = arena.empty('f32', [T, H], 'final norm');
  const rstd = arena.empty('f32', [T], 'final rstd');
  const logits = arena.empty('f32', [a.chunkRows, V], 'logits chunk');
  const losses = arena.empty('f32', [T], 'token losses');
  const chunkLosses = arena.empty('f32', [chunks * LOSS_SLOT], 'chunk losses');
  const stats = a.dHidden ? null : arena.empty('f32', [T, 2], 'cross-entropy stats');
  const dn = a.dHidden ? arena.empty('f32', [T, H], 'grad final norm') : null;
  const view = (t: Tensor, first: number, shape: number[], perRow: number) => new Tensor(t.buffer, t.dtype, shape, t.byteOffset + first * perRow * 4);

  rmsnormForward(rec, { x: a.hidden, weight: normWeight, y: n, rstd, rows: T, dim: H, eps });
  const chunkWeights: number[] = [];
  for (let c = 0; c < chunks; c++) {
    const r0 = c * a.chunkRows;
    const R = Math.min(a.chunkRows, T - r0);
    let sum = 0;
    for (let t = r0; t < r0 + R; t++) sum += a.hostWeights[t]!;
    const weight = a.denominator > 0 ? sum / a.denominator : 0;
    chunkWeights.push(weight);
    const rows = {
      logits: new Tensor(logits.buffer, 'f32', [R, V], logits.byteOffset),
      targets: view(a.targets, r0, [R], 1),
      mask: view(a.weights, r0, [R], 1),
      rows: R,
      vocab: V,
    };
    const lossOut = { losses: view(losses, r0, [R], 1), loss: view(chunkLosses, c * LOSS_SLOT, [1], 1) };
    exactMatmul(rec, { a: view(n, r0, [R, H], H), b: head, c: rows.logits, M: R, N: V, K: H, transB: true });
    if (!dn) {
      crossEntropyForward(rec, { ...rows, ...lossOut, stats: view(stats!, r0, [R, 2], 2) });
      continue;
    }
    crossEntropyFused(rec, { ...rows, ...lossOut, dlogits: 'in-place', dLoss: weight });
    exactMatmul(rec, { a: rows.logits, b: head, c: view(dn, r0, [R, H], H), M: R, N: H, K: V });
  }
  if (dn) rmsnormBackward(rec, { x: a.hidden, weight: normWeight, rstd, dy: dn, dx: a.dHidden!, rows: T, dim: H });
  return { chunkLosses, chunkWeights };
}

/** Logits [T, V] of the final residual stream (evaluation and tests; one matmul, so T·V·4 bytes must fit a binding). */
export function recordLogits(rec: CommandRecorder, arena: Arena, inp: LayerInputs, hidden: Tensor, logits: Tensor): void {
  const { hiddenSize: H, vocabSize: V, rmsNormEps: eps } = inp.config;
  const T = inp.tokens;
  const n = arena.empty('f32', [T, H], 'final norm');
  const rstd = arena.empty('f32', [T], 'final rstd');
  rmsnormForward(rec, { x: hidden, weight: inp.weights.get('model.norm.weight'), y: n, rstd, rows: T, dim: H, eps });
  exactMatmul(rec, { a: n, b: inp.weights.lmHead, c: logits, M: T, N: V, K: H, transB: true });
}
