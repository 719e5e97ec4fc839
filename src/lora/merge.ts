/**
 * Merging a LoRA adapter into its base: W' = W + s·B·A for every adapted projection, computed on the GPU in exact
 * f32 (W widened exactly from its checkpoint dtype, the product by the f32 matmul kernels). A merged weight is
 * f32 and gets its own row blocks (an f32 copy of a 16-bit weight is twice its size, so the base's blocks do not
 * carry over); the base weights are read, never changed.
 *
 * Per block of merged rows [r0, r0 + n):  out = gather(W, rows r0..r0+n-1)   (the embedding gather widens W to f32
 * exactly, whole or split)  then  out += s·B[r0 : r0+n]·A  (matmul, accumulate, alpha = s).
 */
import type { GpuContext } from '../gpu/context.ts';
import type { CommandRecorder } from '../gpu/recorder.ts';
import { Tensor } from '../gpu/tensor.ts';
import { exactKernel, matmul } from '../ops/matmul.ts';
import type { ModelConfig } from '../model/config.ts';
import { allocateBlocks, deviceBindingLimit, planRowBlocks, SplitTensor, type RowRange, type WeightBlock, type WeightRef } from '../model/split-weight.ts';
import { embed } from '../model/weight-ops.ts';
import { ModelWeights } from '../model/weights.ts';
import type { LoraAdapter, LoraPair } from './adapter.ts';
import { checkAdapterFits } from './inference.ts';

/** Tensors a recorded merge needs until its submission is queued. */
export type Scratch = Tensor[];

/**
 * Records out [rows, in] f32 = W[rowStart : rowStart + rows] + s·B[rowStart : rowStart + rows]·A. `base` is the
 * projection's weight [out, in] (whole or row blocks, any dtype). Returns scratch tensors to free once submitted.
 */
export function recordMergedRows(rec: CommandRecorder, base: WeightRef, pair: LoraPair, scale: number, range: RowRange, out: Tensor): Scratch {
  const ctx = rec.ctx;
  const [outF, inF] = base.shape as [number, number];
  const rank = pair.a.shape[0]!;
  const { rowStart, rows } = range;
  if (pair.a.shape[1] !== inF || pair.b.shape[0] !== outF || pair.b.shape[1] !== rank) {
    throw new RangeError(`LoRA merge: A [${pair.a.shape.join(', ')}] and B [${pair.b.shape.join(', ')}] do not fit the weight [${outF}, ${inF}]`);
  }
  if (rowStart < 0 || rows < 1 || rowStart + rows > outF) throw new RangeError(`LoRA merge: rows [${rowStart}, ${rowStart + rows}) outside [0, ${outF})`);
  if (out.dtype !== 'f32' || out.numel !== rows * inF) throw new RangeError(`LoRA merge: out must be f32 [${rows}, ${inF}]`);
  const scratch: Scratch = [];
  try {
    const ids = ctx.upload(
      'u32',
      [rows],
      Uint32Array.from({ length: rows }, (_, i) => rowStart + i),
      'merge rows',
    );
    scratch.push(ids);
    embed(rec, { table: base, ids, out, tokens: rows, dim: inF });
    let b = pair.b;
    if (rows !== outF) {
      // A binding must start on a 256-byte boundary, a row of B need not: copy the rows instead of binding a view.
      b = ctx.empty('f32', [rows, rank], 'merge B rows');
      scratch.push(b);
      rec.copy(new Tensor(pair.b.buffer, 'f32', [rows, rank], pair.b.byteOffset + rowStart * rank * 4), b, rows * rank * 4);
    }
    matmul(rec, { a: b, b: pair.a, c: out, M: rows, N: inF, K: rank, alpha: scale, accumulate: true, variant: exactKernel(rows) });
  } catch (e) {
    ctx.free(...scratch);
    throw e;
  }
  return scratch;
}

/** Model weights sharing the base's tensors except the merged ones; dispose() frees only what the merge made. */
class MergedModelWeights extends ModelWeights {
  constructor(
    private readonly gpu: GpuContext,
    tensors: Map<string, WeightRef>,
    tied: boolean,
    private readonly owned: WeightBlock[],
  ) {
    super(gpu, tensors, tied);
  }

  override dispose(): void {
    this.gpu.free(...this.owned.map((b) => b.tensor));
    this.owned.length = 0;
    this.tensors.clear();
  }
}

export interface MergeOptions {
  /** Largest merged row block in bytes (default and upper bound: the device's binding limit); tests set it small. */
  maxBindingBytes?: number;
}

/**
 * The base weights with the adapter merged in, on the GPU: every adapted projection becomes an f32 W + s·B·A (exact:
 * no rounding back to the checkpoint's 16-bit dtype, so a merged Transformer equals the unmerged adapter to f32
 * precision). Other tensors are the base's own, shared: dispose() of the result frees only the merged tensors,
 * and the base weights must outlive it. Usable at once (the work is queued).
 */
export function mergeAdapterWeights(
  ctx: GpuContext,
  config: ModelConfig,
  weights: ModelWeights,
  adapter: LoraAdapter,
  options: MergeOptions = {},
): ModelWeights {
  checkAdapterFits(config, adapter);
  const limit = Math.min(options.maxBindingBytes ?? Infinity, deviceBindingLimit(ctx));
  const tensors = new Map(weights.tensors);
  const owned: WeightBlock[] = [];
  const rec = ctx.recorder();
  const scratch: Tensor[] = [];
  try {
    for (const m of adapter.modules) {
      const name = `${m.path}.weight`;
      const base = weights.ref(name);
      const shape = [m.outFeatures, m.inFeatures];
      const plan = planRowBlocks(name, 'f32', shape, limit);
      const blocks = allocateBlocks(ctx, `${name} (merged)`, 'f32', shape, plan);
      owned.push(...blocks);
      for (const block of blocks) scratch.push(...recordMergedRows(rec, base, adapter.get(m.layer, m.target)!, adapter.scale, block, block.tensor));
      tensors.set(name, blocks.length === 1 ? blocks[0]!.tensor : new SplitTensor(name, 'f32', shape, blocks, limit));
    }
    rec.submit();
  } catch (e) {
    ctx.free(...owned.map((b) => b.tensor));
    throw e;
  } finally {
    ctx.free(...scratch);
    rec.dispose();
  }
  return new MergedModelWeights(ctx, tensors, weights.lmHeadName !== 'lm_head.weight', owned);
}
