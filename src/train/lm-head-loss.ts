/**
 * Final norm, LM head and cross-entropy over the batch, in chunks of rows so the logits never exceed a byte
 * budget (8k tokens x 152k vocab would be 5 GB): per chunk, logits = n·Headᵀ, then the fused cross-entropy
 * turns them into dlogits in place, then dn = dlogits·Head. The head may be stored as row blocks (a vocab over
 * the storage binding limit): logits fill each block's columns, dn sums the blocks' products (lora-linear.ts).
 *
 * Each token's loss weight reaches the GPU already divided by the denominator of its own mean (w_t / D_g: with
 * several adapters in one batch, each adapter's loss is the mean over its own tokens), so dlogits are
 * (w_t / D_g)·(softmax - onehot) whatever adapters share a chunk: the cross-entropy kernel scales a chunk by
 * dLoss / sum(chunk weights), and dLoss is that very sum. The per-token losses are read back and each mean is
 * summed on the host in f64.
 */
import type { CommandRecorder } from '../gpu/recorder.ts';
import { Tensor } from '../gpu/tensor.ts';
import { linear } from '../model/weight-ops.ts';
import { crossEntropyForward, crossEntropyFused } from '../ops/cross-entropy.ts';
import { rmsnormBackward, rmsnormForward } from '../ops/rmsnorm.ts';
import type { Arena } from '../gpu/arena.ts';
import type { LayerInputs } from './decoder-layer.ts';
import { trainingProduct, linearInputGrad } from './lora-linear.ts';

/** Chunk row counts are multiples of this, so row offsets of [T, *] f32 views are 256-byte aligned (any binding offset alignment). */
export const HEAD_CHUNK_ALIGN = 64;

/** Rows per head chunk for a logits byte budget (at least HEAD_CHUNK_ALIGN rows, at most T). */
export function headChunkRows(tokens: number, vocab: number, budgetBytes: number): number {
  const fit = Math.floor(budgetBytes / (vocab * 4) / HEAD_CHUNK_ALIGN) * HEAD_CHUNK_ALIGN;
  return Math.min(tokens, Math.max(HEAD_CHUNK_ALIGN, fit));
}

export interface HeadLoss {
  /** The final residual stream [T, H]. */
  hidden: Tensor;
  targets: Tensor; // [T] u32
  /** [T] f32: each token's loss weight divided by the denominator of its mean (0: not trained on). */
  weights: Tensor;
  /** Host copy of the weights: each chunk's dLoss is their sum over the chunk. */
  hostWeights: Float32Array;
  chunkRows: number;
  /** 'grad': also write dL/d(hidden) into dHidden. */
  dHidden?: Tensor;
}

export interface HeadLossResult {
  /** [T] f32: each token's cross-entropy (0 where its weight is 0). */
  losses: Tensor;
}

export function recordHeadLoss(rec: CommandRecorder, arena: Arena, inp: LayerInputs, a: HeadLoss): HeadLossResult {
  const { hiddenSize: H, vocabSize: V, rmsNormEps: eps } = inp.config;
  const T = inp.tokens;
  const head = inp.weights.lmHeadRef;
  const normWeight = inp.weights.get('model.norm.weight');
  const chunks = Math.ceil(T / a.chunkRows);
  const n = arena.empty('f32', [T, H], 'final norm');
  const rstd = arena.empty('f32', [T], 'final rstd');
  const logits = arena.empty('f32', [a.chunkRows, V], 'logits chunk');
  const losses = arena.empty('f32', [T], 'token losses');
  const chunkMean = arena.empty('f32', [1], 'chunk mean loss (unused)');
  const stats = a.dHidden ? null : arena.empty('f32', [T, 2], 'cross-entropy stats');
  const dn = a.dHidden ? arena.empty('f32', [T, H], 'grad final norm') : null;
  const view = (t: Tensor, first: number, shape: number[], perRow: number) => new Tensor(t.buffer, t.dtype, shape, t.byteOffset + first * perRow * 4);

  rmsnormForward(rec, { x: a.hidden, weight: normWeight, y: n, rstd, rows: T, dim: H, eps });
  for (let c = 0; c < chunks; c++) {
    const r0 = c * a.chunkRows;
    const R = Math.min(a.chunkRows, T - r0);
    let chunkWeight = 0;
    for (let t = r0; t < r0 + R; t++) chunkWeight += a.hostWeights[t]!;
    const rows = {
      logits: new Tensor(logits.buffer, 'f32', [R, V], logits.byteOffset),
      targets: view(a.targets, r0, [R], 1),
      mask: view(a.weights, r0, [R], 1),
      rows: R,
      vocab: V,
    };
    const lossOut = { losses: view(losses, r0, [R], 1), loss: chunkMean };
    linear(rec, { x: view(n, r0, [R, H], H), weight: head, y: rows.logits, M: R, ...trainingProduct(inp.precision, R) });
    if (!dn) {
      crossEntropyForward(rec, { ...rows, ...lossOut, stats: view(stats!, r0, [R, 2], 2) });
      continue;
    }
    crossEntropyFused(rec, { ...rows, ...lossOut, dlogits: 'in-place', dLoss: chunkWeight });
    linearInputGrad(rec, { dy: rows.logits, weight: head, dx: view(dn, r0, [R, H], H), M: R, accumulate: false, precision: inp.precision });
  }
  if (dn) rmsnormBackward(rec, { x: a.hidden, weight: normWeight, rstd, dy: dn, dx: a.dHidden!, rows: T, dim: H });
  return { losses };
}

/** Logits [T, V] of the final residual stream (evaluation and tests; one matmul, so T·V·4 bytes must fit a binding). */
export function recordLogits(rec: CommandRecorder, arena: Arena, inp: LayerInputs, hidden: Tensor, logits: Tensor): void {
  const { hiddenSize: H, rmsNormEps: eps } = inp.config;
  const T = inp.tokens;
  const n = arena.empty('f32', [T, H], 'final norm');
  const rstd = arena.empty('f32', [T], 'final rstd');
  rmsnormForward(rec, { x: hidden, weight: inp.weights.get('model.norm.weight'), y: n, rstd, rows: T, dim: H, eps });
  linear(rec, { x: n, weight: inp.weights.lmHeadRef, y: logits, M: T, ...trainingProduct(inp.precision, T) });
}
