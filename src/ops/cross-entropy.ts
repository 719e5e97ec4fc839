/**
 * Softmax cross-entropy over a vocabulary: per-token losses, their weighted mean as a 1-element tensor (no
 * readback), and dlogits, separately or fused (llm.c's fused_classifier), optionally in place over the logits.
 *
 * Token t has weight w[t] = mask[t] (any non-negative value; 0 ignores it). Targets live on the GPU, so an
 * out-of-range target cannot raise an error here: such a token is ignored (weight 0, loss 0, zero gradient),
 * like PyTorch's ignore_index = -100 (which is out of range as a u32), and nothing is read outside its row.
 */
import type { CommandRecorder, Param } from '../gpu/recorder.ts';
import { fold1d } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Defines } from '../gpu/wgsl.ts';
import { expectDtype, expectNumel } from './common.ts';

const WG = 256;

export interface CrossEntropyRows {
  logits: Tensor; // [rows, vocab] f32
  targets: Tensor; // [rows] u32
  mask: Tensor; // [rows] f32 token weights
  rows: number;
  vocab: number;
}

export interface CrossEntropyForward extends CrossEntropyRows {
  losses: Tensor; // [rows] f32 out: logsumexp - logit[target], 0 for ignored tokens
  stats: Tensor; // [rows, 2] f32 out: (max, log sum exp(x - max)) per row, for crossEntropyBackward
  loss: Tensor; // [1] f32 out: sum(w * losses) / sum(w), 0 when sum(w) == 0
}

/** dlogits go to their own tensor, or overwrite the logits ('in-place'); dLoss defaults to 1. */
export interface CrossEntropyGradOutput {
  dlogits: Tensor | 'in-place';
  dLoss?: Tensor | number; // [1] f32 tensor, or a number
}

export interface CrossEntropyBackward extends CrossEntropyRows, CrossEntropyGradOutput {
  stats: Tensor; // [rows, 2] f32, from crossEntropyForward
}

export interface CrossEntropyFused extends CrossEntropyRows, CrossEntropyGradOutput {
  losses: Tensor; // [rows] f32 out
  loss: Tensor; // [1] f32 out
}

function checkRows(a: CrossEntropyRows): void {
  if (!Number.isInteger(a.rows) || a.rows < 0) throw new RangeError(`cross_entropy: rows must be a non-negative integer, got ${a.rows}`);
  if (!Number.isInteger(a.vocab) || a.vocab < 1) throw new RangeError(`cross_entropy: vocab must be a positive integer, got ${a.vocab}`);
  expectNumel('cross_entropy.logits', a.logits, a.rows * a.vocab);
  expectNumel('cross_entropy.targets', a.targets, a.rows);
  expectNumel('cross_entropy.mask', a.mask, a.rows);
  expectDtype('cross_entropy.logits', a.logits, 'f32');
  expectDtype('cross_entropy.targets', a.targets, 'u32');
  expectDtype('cross_entropy.mask', a.mask, 'f32');
}

function checkRowTensor(name: string, t: Tensor, numel: number): void {
  expectNumel(`cross_entropy.${name}`, t, numel);
  expectDtype(`cross_entropy.${name}`, t, 'f32');
}

/** Bindings, defines and params shared by the GRAD kernels. */
function gradParts(a: CrossEntropyRows & CrossEntropyGradOutput): { defines: Defines; tail: Record<string, Tensor>; dLossScale: number } {
  const defines: Defines = { GRAD: true };
  const tail: Record<string, Tensor> = {};
  if (a.dlogits === 'in-place') defines.IN_PLACE = true;
  else {
    expectNumel('cross_entropy.dlogits', a.dlogits, a.rows * a.vocab);
    expectDtype('cross_entropy.dlogits', a.dlogits, 'f32');
    if (a.dlogits.buffer === a.logits.buffer) {
      throw new RangeError("cross_entropy: dlogits shares the logits' buffer; pass dlogits: 'in-place' to overwrite the logits");
    }
    tail.dlogits = a.dlogits;
  }
  let dLossScale = 1;
  if (typeof a.dLoss === 'number') dLossScale = a.dLoss;
  else if (a.dLoss) {
    expectNumel('cross_entropy.dLoss', a.dLoss, 1);
    expectDtype('cross_entropy.dLoss', a.dLoss, 'f32');
    defines.DLOSS_TENSOR = true;
    tail.dloss = a.dLoss;
  }
  return { defines, tail, dLossScale };
}

const params = (a: CrossEntropyRows, dLossScale = 1): Record<string, Param> => ({
  rows: ['u32', a.rows],
  vocab: ['u32', a.vocab],
  dloss_scale: ['f32', dLossScale],
});

function dispatchMean(rec: CommandRecorder, a: CrossEntropyRows & { losses: Tensor; loss: Tensor }): void {
  expectNumel('cross_entropy.loss', a.loss, 1);
  expectDtype('cross_entropy.loss', a.loss, 'f32');
  rec.dispatch({
    kernel: { shader: 'cross_entropy', defines: { MEAN: true }, constants: { WG } },
    params: params(a),
    bindings: { losses: a.losses, targets: a.targets, mask: a.mask, loss: a.loss },
    workgroups: [1],
    label: 'cross_entropy:mean',
  });
}

/** Per-token losses, per-row stats (logsumexp = max + logsum) and the mean loss. */
export function crossEntropyForward(rec: CommandRecorder, a: CrossEntropyForward): void {
  checkRows(a);
  checkRowTensor('losses', a.losses, a.rows);
  checkRowTensor('stats', a.stats, 2 * a.rows);
  rec.dispatch({
    kernel: { shader: 'cross_entropy', defines: { LOSS: true }, constants: { WG } },
    params: params(a),
    bindings: { logits: a.logits, targets: a.targets, mask: a.mask, losses: a.losses, stats: a.stats },
    workgroups: fold1d(a.rows),
    label: 'cross_entropy:loss',
  });
  dispatchMean(rec, a);
}

/** dlogits = dLoss * w[t] / sum(w) * (softmax(logits[t]) - onehot(target[t])), from the forward's row stats. */
export function crossEntropyBackward(rec: CommandRecorder, a: CrossEntropyBackward): void {
  checkRows(a);
  checkRowTensor('stats', a.stats, 2 * a.rows);
  const { defines, tail, dLossScale } = gradParts(a);
  rec.dispatch({
    kernel: { shader: 'cross_entropy', defines, constants: { WG } },
    params: params(a, dLossScale),
    bindings: { logits: a.logits, targets: a.targets, mask: a.mask, stats: a.stats, ...tail },
    workgroups: fold1d(a.rows),
    label: 'cross_entropy:grad',
  });
}

/** Forward and backward in one pass over the logits (two reads, one write per row), then the mean loss. */
export function crossEntropyFused(rec: CommandRecorder, a: CrossEntropyFused): void {
  checkRows(a);
  checkRowTensor('losses', a.losses, a.rows);
  const { defines, tail, dLossScale } = gradParts(a);
  rec.dispatch({
    kernel: { shader: 'cross_entropy', defines: { ...defines, LOSS: true }, constants: { WG } },
    params: params(a, dLossScale),
    bindings: { logits: a.logits, targets: a.targets, mask: a.mask, losses: a.losses, ...tail },
    workgroups: fold1d(a.rows),
    label: 'cross_entropy:fused',
  });
  dispatchMean(rec, a);
}
