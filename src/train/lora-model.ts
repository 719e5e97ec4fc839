/**
 * The LoRA training graph of a Llama / Qwen2 model: for a packed batch, the forward (keeping what the backward
 * needs), the mean cross-entropy over unmasked targets, and the backward through the frozen base into dA and dB
 * of every adapted projection. One step is recorded into one command recorder and submitted once; only the loss
 * (a few floats) is read back.
 *
 * Memory: the residual stream entering every layer is kept ([L + 1] x [T, H]). Without recomputation every
 * layer's activations are kept too; with it (per-layer activation checkpointing) one set of activations is
 * shared: the backward re-runs each layer's forward from its saved input just before that layer's backward.
 * Both give bit-identical gradients (the same kernels on the same inputs). All tensors of a step come from an
 * arena returned to the pool when the step is submitted; the model itself owns only its RoPE table.
 */
import type { GpuContext } from '../gpu/context.ts';
import type { CommandRecorder } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { LoraAdapter, LoraTensors } from '../lora/adapter.ts';
import type { ModelConfig } from '../model/config.ts';
import { embeddingForward } from '../ops/embedding.ts';
import { ropeInverseFrequencies } from '../ops/rope.ts';
import { Arena } from './arena.ts';
import { prepareBatch, type PreparedBatch, type TrainBatch } from './batch.ts';
import {
  allocBackwardScratch, allocLayerActivations, recordLayerBackward, recordLayerForward,
  type BaseWeights, type LayerActivations, type LayerInputs,
} from './decoder-layer.ts';
import { batchLoss, headChunkRows, recordHeadLoss, recordLogits, type HeadLoss } from './lm-head-loss.ts';

export type { BaseWeights } from './decoder-layer.ts';

export interface LoraModelOptions {
  /** Keep only each layer's input and recompute the layer in the backward. Default false. */
  recompute?: boolean;
  /** Byte budget of one chunk of logits in the loss (default 256 MiB, capped by the device's binding size). */
  headChunkBytes?: number;
}

export interface LossOptions {
  /**
   * The sum of weights the mean loss divides by; default this batch's. Pass the total over all micro-batches
   * of an optimizer step so that accumulated gradients are those of one mean over every token.
   */
  denominator?: number;
}

export interface GradientOptions extends LossOptions {
  /** Add into the gradients (accumulation over micro-batches) instead of overwriting them. Default false. */
  accumulate?: boolean;
}

export interface LossResult {
  /** sum(w·loss) / denominator over this batch, computed on the GPU in f32 and combined in f64. */
  loss: number;
  /** This batch's sum of weights (unmasked targets when weights are 0/1). */
  weightSum: number;
  tokens: number;
}

/** Token ids of a forward without targets (logits). */
export interface TokenBatch {
  ids: ArrayLike<number>;
  positions?: ArrayLike<number>;
  seqStart?: ArrayLike<number>;
}

export class LoraModel {
  private readonly invFreq: Tensor;
  private rec: CommandRecorder;
  private disposed = false;

  constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    readonly weights: BaseWeights,
    /** null runs the base model alone (loss and logits only). */
    readonly adapter: LoraAdapter | null,
    readonly options: LoraModelOptions = {},
  ) {
    const budget = options.headChunkBytes ?? 256 * 2 ** 20;
    if (!(budget > 0) || !Number.isFinite(budget)) throw new RangeError(`LoraModel: headChunkBytes must be a positive number, got ${budget}`);
    this.invFreq = ctx.upload('f32', [config.headDim / 2], ropeInverseFrequencies(config), 'rope.invFreq');
    this.rec = ctx.recorder();
  }

  /**
   * One forward + backward: writes (or, with accumulate, adds) d(loss)/dA and d(loss)/dB of every adapted
   * projection into `grads` (from adapter.zerosLike()), and returns the loss.
   */
  async lossAndGradients(batch: TrainBatch, grads: LoraTensors, opts: GradientOptions = {}): Promise<LossResult> {
    const adapter = this.adapter;
    if (!adapter) throw new Error('LoraModel.lossAndGradients: the model has no adapter to train');
    const sameModules = grads.modules.length === adapter.modules.length && grads.modules.every((m, i) => m.path === adapter.modules[i]!.path);
    if (!sameModules || grads.rank !== adapter.config.rank) throw new Error('LoraModel.lossAndGradients: grads are not shaped like the adapter (use adapter.zerosLike())');
    const b = this.prepare(batch);
    const denominator = this.denominator(b, opts);
    const L = this.config.numLayers;
    return this.run(b, (rec, arena, inp) => {
      const recompute = this.options.recompute ?? false;
      const { xs, acts } = this.recordForward(rec, arena, inp, b, recompute ? 'keep-inputs' : 'keep-all');
      const scratch = allocBackwardScratch(arena, inp);
      const head = recordHeadLoss(rec, arena, inp, this.headArgs(b, arena, xs[L]!, denominator, scratch.g));
      const proj = recompute ? arena.empty('f32', [b.tokens, this.config.hiddenSize], 'recomputed projection') : null;
      for (let l = L - 1; l >= 0; l--) {
        // With recompute, acts[l] is the one shared set: refill it with layer l's activations first (the last
        // layer's are still there from the forward).
        if (proj && l < L - 1) recordLayerForward(rec, inp, l, xs[l]!, acts[l]!, { proj, xOut: null });
        recordLayerBackward(rec, inp, l, xs[l]!, acts[l]!, scratch, { grads, accumulateGrads: opts.accumulate ?? false, needInputGrad: l > 0 });
      }
      return head;
    });
  }

  /** The loss alone (evaluation): a forward that keeps no activations. */
  async loss(batch: TrainBatch, opts: LossOptions = {}): Promise<LossResult> {
    const b = this.prepare(batch);
    const denominator = this.denominator(b, opts);
    return this.run(b, (rec, arena, inp) => {
      const { xs } = this.recordForward(rec, arena, inp, b, 'eval');
      return recordHeadLoss(rec, arena, inp, this.headArgs(b, arena, xs[this.config.numLayers]!, denominator));
    });
  }

  /** Logits [T, vocab] of every position, one Float32Array per row (tests, evaluation of small batches). */
  async logits(batch: TokenBatch): Promise<Float32Array[]> {
    this.check();
    const T = batch.ids.length;
    const b = prepareBatch({ ...batch, targets: new Int32Array(T).fill(-100) }, this.config.vocabSize);
    const V = this.config.vocabSize;
    const arena = new Arena(this.ctx);
    let out: Tensor | null = null;
    try {
      const inp = this.inputs(arena, b);
      const { xs } = this.recordForward(this.rec, arena, inp, b, 'eval');
      out = this.ctx.empty('f32', [T, V], 'logits');
      recordLogits(this.rec, arena, inp, xs[this.config.numLayers]!, out);
      this.rec.submit();
      const read = this.ctx.readF32(out);
      arena.free();
      const flat = await read;
      return Array.from({ length: T }, (_, r) => flat.subarray(r * V, (r + 1) * V));
    } catch (e) {
      this.resetRecorder();
      throw e;
    } finally {
      arena.free();
      this.ctx.free(out);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.ctx.free(this.invFreq);
    this.rec.dispose();
    this.disposed = true;
  }

  private check(): void {
    if (this.disposed) throw new Error('LoraModel used after dispose()');
  }

  private prepare(batch: TrainBatch): PreparedBatch {
    this.check();
    return prepareBatch(batch, this.config.vocabSize);
  }

  private denominator(b: PreparedBatch, opts: LossOptions): number {
    const d = opts.denominator ?? b.weightSum;
    if (!(d >= 0) || !Number.isFinite(d)) throw new RangeError(`LoraModel: denominator must be a finite number >= 0, got ${d}`);
    if (d === 0 && b.weightSum > 0) throw new RangeError('LoraModel: denominator is 0 but the batch has weighted targets');
    return d;
  }

  /** Records a step, submits it and reads back the loss; every tensor of the step is freed. */
  private async run(
    b: PreparedBatch,
    record: (rec: CommandRecorder, arena: Arena, inp: LayerInputs) => { chunkLosses: Tensor; chunkWeights: number[] },
  ): Promise<LossResult> {
    const arena = new Arena(this.ctx);
    try {
      const { chunkLosses, chunkWeights } = record(this.rec, arena, this.inputs(arena, b));
      this.rec.submit();
      const read = this.ctx.readF32(chunkLosses); // the copy is queued now, so the arena can go back to the pool
      arena.free();
      return { loss: batchLoss(await read, chunkWeights), weightSum: b.weightSum, tokens: b.tokens };
    } catch (e) {
      this.resetRecorder();
      throw e;
    } finally {
      arena.free();
    }
  }

  /** A recording that failed half-way must not be submitted with the next step. */
  private resetRecorder(): void {
    this.rec.dispose();
    this.rec = this.ctx.recorder();
  }

  private inputs(arena: Arena, b: PreparedBatch): LayerInputs {
    return {
      config: this.config,
      weights: this.weights,
      adapter: this.adapter,
      tokens: b.tokens,
      positions: arena.upload('u32', [b.tokens], b.positions, 'positions'),
      seqStart: arena.upload('u32', [b.tokens], b.seqStart, 'seqStart'),
      invFreq: this.invFreq,
    };
  }

  private headArgs(b: PreparedBatch, arena: Arena, hidden: Tensor, denominator: number, dHidden?: Tensor): HeadLoss {
    const maxBinding = this.ctx.limits.maxStorageBufferBindingSize ?? 128 * 2 ** 20;
    const budget = Math.min(this.options.headChunkBytes ?? 256 * 2 ** 20, maxBinding);
    return {
      hidden,
      targets: arena.upload('u32', [b.tokens], b.targets, 'targets'),
      weights: arena.upload('f32', [b.tokens], b.weights, 'loss weights'),
      hostWeights: b.weights,
      denominator,
      chunkRows: headChunkRows(b.tokens, this.config.vocabSize, budget),
      dHidden,
    };
  }

  /**
   * Embedding and every layer's forward. Returns the residual stream entering each layer and the final one
   * (xs[0..L]) and each layer's activations: its own set with 'keep-all', else one shared set (holding the last
   * layer's values when the forward is done). 'eval' keeps no layer inputs either: xs alternates two buffers.
   */
  private recordForward(rec: CommandRecorder, arena: Arena, inp: LayerInputs, b: PreparedBatch, save: 'keep-all' | 'keep-inputs' | 'eval') {
    const { hiddenSize: H, numLayers: L, vocabSize: V } = this.config;
    const T = b.tokens;
    const keepActivations = save === 'keep-all';
    const buffers = Array.from({ length: save === 'eval' ? 2 : L + 1 }, (_, l) => arena.empty('f32', [T, H], `residual ${l}`));
    const xs = Array.from({ length: L + 1 }, (_, l) => buffers[l % buffers.length]!);
    const ids = arena.upload('u32', [T], b.ids, 'ids');
    embeddingForward(rec, { table: this.weights.get('model.embed_tokens.weight'), ids, out: xs[0]!, tokens: T, dim: H, vocab: V });
    const proj = arena.empty('f32', [T, H], 'projection');
    const shared = keepActivations ? null : allocLayerActivations(arena, inp, 'layer');
    const acts: LayerActivations[] = [];
    for (let l = 0; l < L; l++) {
      acts.push(shared ?? allocLayerActivations(arena, inp, `layer ${l}`));
      recordLayerForward(rec, inp, l, xs[l]!, acts[l]!, { proj, xOut: xs[l + 1]! });
    }
    return { xs, acts };
  }
}
