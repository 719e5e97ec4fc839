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
 *
 * Many adapters at once: K independent adapters (each its own rank, targets and alpha) train in the same passes
 * over the frozen base. Every sequence of a batch names its adapter; the batch is regrouped so each adapter's
 * sequences are one segment of rows, the base runs once over all rows, each adapter's LoRA products run on its
 * segment (src/lora/grouped-lora.ts), and each adapter's loss is the mean over its own tokens with its own
 * denominator. Each adapter's loss and gradients equal training it alone on its sequences.
 *
 * Base weights over the storage binding limit (an embedding or LM head of a real vocabulary) are stored as row
 * blocks: the embedding, every projection and the head run per block, forward and backward.
 */
import type { GpuContext } from '../gpu/context.ts';
import type { CommandRecorder } from '../gpu/recorder.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { LoraTensors, type LoraAdapter } from '../lora/adapter.ts';
import { projectionShape } from '../lora/config.ts';
import type { ModelConfig } from '../model/config.ts';
import { embed } from '../model/weight-ops.ts';
import { ropeInverseFrequencies } from '../ops/rope.ts';
import { Arena } from '../gpu/arena.ts';
import { prepareBatch, type PreparedBatch, type TrainBatch } from './batch.ts';
import {
  allocBackwardScratch,
  allocLayerActivations,
  recordLayerBackward,
  recordLayerForward,
  type BaseWeights,
  type LayerActivations,
  type LayerInputs,
} from './decoder-layer.ts';
import { headChunkRows, recordHeadLoss, recordLogits, type HeadLoss } from './lm-head-loss.ts';
import { TRAINING_PRECISIONS, type TrainingPrecision } from './lora-linear.ts';

export type { BaseWeights } from './decoder-layer.ts';

export interface LoraModelOptions {
  /** Keep only each layer's input and recompute the layer in the backward. Default false. */
  recompute?: boolean;
  /** Byte budget of one chunk of logits in the loss (default 256 MiB, capped by the device's binding size). */
  headChunkBytes?: number;
  /** How the frozen base's products run: exact 'f32' (default) or 'mixed' (see TrainingPrecision). */
  precision?: TrainingPrecision;
}

export interface LossOptions {
  /**
   * The sum of weights the mean loss divides by; default this batch's. Pass the total over all micro-batches
   * of an optimizer step so that accumulated gradients are those of one mean over every token. With several
   * adapters, one per adapter (an array indexed like the adapters; a missing entry takes the default).
   */
  denominator?: number | readonly (number | undefined)[];
}

export interface GradientOptions extends LossOptions {
  /**
   * Add into the gradients (accumulation over micro-batches) instead of overwriting them: for every adapter, or
   * per adapter. Default false. An adapter with no rows in the batch gets zero gradients, or keeps them when
   * accumulating.
   */
  accumulate?: boolean | readonly boolean[];
}

export interface LossResult {
  /** sum(w·loss) / denominator over this batch (over one adapter's tokens), from the GPU's f32 token losses summed in f64. */
  loss: number;
  /** This batch's sum of weights (unmasked targets when weights are 0/1); one adapter's with several. */
  weightSum: number;
  tokens: number;
}

/** Token ids of a forward without targets (logits). */
export interface TokenBatch {
  ids: ArrayLike<number>;
  positions?: ArrayLike<number>;
  seqStart?: ArrayLike<number>;
  /** Each token's adapter index (several adapters); default 0. */
  adapters?: ArrayLike<number>;
}

export class LoraModel {
  /** The adapters by index: a batch row's adapter index picks one. Empty for the base model alone. */
  readonly adapters: readonly LoraAdapter[];
  /** The model's one adapter (null for the base model alone, and with several adapters: see `adapters`). */
  readonly adapter: LoraAdapter | null;
  private readonly invFreq: Tensor;
  private rec: CommandRecorder;
  private disposed = false;

  constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    readonly weights: BaseWeights,
    /** One adapter, several (trained in the same passes, each on its own sequences), or null for the base model alone. */
    adapters: LoraAdapter | readonly LoraAdapter[] | null,
    readonly options: LoraModelOptions = {},
  ) {
    this.adapters = adapters === null ? [] : isAdapterList(adapters) ? [...adapters] : [adapters];
    this.adapter = this.adapters.length === 1 ? this.adapters[0]! : null;
    for (const [g, a] of this.adapters.entries()) checkAdapterFits(config, a, g);
    const budget = options.headChunkBytes ?? 256 * 2 ** 20;
    if (!(budget > 0) || !Number.isFinite(budget)) throw new RangeError(`LoraModel: headChunkBytes must be a positive number, got ${budget}`);
    if (options.precision !== undefined && !TRAINING_PRECISIONS.includes(options.precision)) {
      throw new RangeError(`LoraModel: precision must be one of ${TRAINING_PRECISIONS.join(', ')}, got '${String(options.precision)}'`);
    }
    this.invFreq = ctx.upload('f32', [config.headDim / 2], ropeInverseFrequencies(config), 'rope.invFreq');
    this.rec = ctx.recorder();
  }

  /**
   * One forward + backward: writes (or, with accumulate, adds) d(loss)/dA and d(loss)/dB of every adapted
   * projection into `grads` (from adapter.zerosLike()), and returns the loss. With several adapters, pass one
   * gradient set per adapter (in adapter order): each receives the gradient of its own adapter's mean loss,
   * and the result has one loss per adapter.
   */
  async lossAndGradients(batch: TrainBatch, grads: LoraTensors, opts?: GradientOptions): Promise<LossResult>;
  async lossAndGradients(batch: TrainBatch, grads: readonly LoraTensors[], opts?: GradientOptions): Promise<LossResult[]>;
  async lossAndGradients(batch: TrainBatch, grads: LoraTensors | readonly LoraTensors[], opts: GradientOptions = {}): Promise<LossResult | LossResult[]> {
    const K = this.adapters.length;
    if (!K) throw new Error('LoraModel.lossAndGradients: the model has no adapter to train');
    const single = grads instanceof LoraTensors;
    const list = single ? [grads] : [...grads];
    if (list.length !== K) {
      throw new Error(
        `LoraModel.lossAndGradients: ${single ? 'one gradient set' : `${list.length} gradient sets`} for ${K} adapters (pass one per adapter, in adapter order)`,
      );
    }
    list.forEach((g, i) => {
      const adapter = this.adapters[i]!;
      const sameModules = g.modules.length === adapter.modules.length && g.modules.every((m, j) => m.path === adapter.modules[j]!.path);
      if (!sameModules || g.rank !== adapter.config.rank) {
        throw new Error(`LoraModel.lossAndGradients: grads${single ? '' : `[${i}]`} are not shaped like the adapter (use adapter.zerosLike())`);
      }
    });
    const b = this.prepare(batch);
    const denominators = this.denominators(b, opts);
    const accumulate = perAdapter(opts.accumulate ?? false, K, 'accumulate');
    const L = this.config.numLayers;
    const results = await this.run(b, denominators, (rec, arena, inp) => {
      // An adapter without rows has nothing recorded for it: its gradients are zero.
      list.forEach((g, i) => {
        if (b.adapterTokens[i] === 0 && !accumulate[i]) for (const t of g.chunks()) rec.clear(t);
      });
      const recompute = this.options.recompute ?? false;
      const { xs, acts } = this.recordForward(rec, arena, inp, b, recompute ? 'keep-inputs' : 'keep-all');
      const scratch = allocBackwardScratch(arena, inp);
      const head = recordHeadLoss(rec, arena, inp, this.headArgs(b, arena, xs[L]!, denominators, scratch.g));
      const proj = recompute ? arena.empty('f32', [b.tokens, this.config.hiddenSize], 'recomputed projection') : null;
      for (let l = L - 1; l >= 0; l--) {
        // With recompute, acts[l] is the one shared set: refill it with layer l's activations first (the last
        // layer's are still there from the forward).
        if (proj && l < L - 1) recordLayerForward(rec, inp, l, xs[l]!, acts[l]!, { proj, xOut: null });
        recordLayerBackward(rec, inp, l, xs[l]!, acts[l]!, scratch, { grads: list, accumulateGrads: accumulate, needInputGrad: l > 0 });
      }
      return head;
    });
    return single ? results[0]! : results;
  }

  /** The loss alone (evaluation): a forward that keeps no activations. One adapter (or none); see losses(). */
  async loss(batch: TrainBatch, opts: LossOptions = {}): Promise<LossResult> {
    if (this.adapters.length > 1) throw new Error(`LoraModel.loss: the model has ${this.adapters.length} adapters; use losses() for one loss per adapter`);
    return (await this.losses(batch, opts))[0]!;
  }

  /** The loss of each adapter over its own tokens (the base model's alone when there is no adapter). */
  async losses(batch: TrainBatch, opts: LossOptions = {}): Promise<LossResult[]> {
    const b = this.prepare(batch);
    const denominators = this.denominators(b, opts);
    return this.run(b, denominators, (rec, arena, inp) => {
      const { xs } = this.recordForward(rec, arena, inp, b, 'eval');
      return recordHeadLoss(rec, arena, inp, this.headArgs(b, arena, xs[this.config.numLayers]!, denominators));
    });
  }

  /** Logits [T, vocab] of every position, one Float32Array per row in the batch's order (tests, evaluation of small batches). */
  async logits(batch: TokenBatch): Promise<Float32Array[]> {
    this.check();
    const T = batch.ids.length;
    const b = prepareBatch({ ...batch, targets: new Int32Array(T).fill(-100) }, this.config.vocabSize, this.groups);
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
      const rows: Float32Array[] = new Array(T);
      for (let r = 0; r < T; r++) rows[b.sourceRow[r]!] = flat.subarray(r * V, (r + 1) * V);
      return rows;
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

  /** Adapter indices a batch may use: one per adapter (index 0 for the base model alone). */
  private get groups(): number {
    return Math.max(1, this.adapters.length);
  }

  private check(): void {
    if (this.disposed) throw new Error('LoraModel used after dispose()');
  }

  private prepare(batch: TrainBatch): PreparedBatch {
    this.check();
    return prepareBatch(batch, this.config.vocabSize, this.groups);
  }

  /** Each adapter's denominator: the caller's, or its own weight sum in this batch. */
  private denominators(b: PreparedBatch, opts: LossOptions): number[] {
    const given = opts.denominator;
    if (typeof given === 'number' && this.groups > 1) {
      throw new RangeError(`LoraModel: one denominator for ${this.groups} adapters; pass one per adapter (an array)`);
    }
    if (given !== undefined && typeof given !== 'number' && given.length !== this.groups) {
      throw new RangeError(`LoraModel: ${given.length} denominators for ${this.groups} adapter${this.groups > 1 ? 's' : ''}`);
    }
    return b.adapterWeightSums.map((sum, g) => {
      const d = (typeof given === 'number' ? given : given?.[g]) ?? sum;
      const which = this.groups > 1 ? ` of adapter ${g}` : '';
      if (!(d >= 0) || !Number.isFinite(d)) throw new RangeError(`LoraModel: denominator${which} must be a finite number >= 0, got ${d}`);
      if (d === 0 && sum > 0) throw new RangeError(`LoraModel: denominator${which} is 0 but the batch has weighted targets`);
      return d;
    });
  }

  /** Records a step, submits it and reads back the token losses; every tensor of the step is freed. */
  private async run(
    b: PreparedBatch,
    denominators: readonly number[],
    record: (rec: CommandRecorder, arena: Arena, inp: LayerInputs) => { losses: Tensor },
  ): Promise<LossResult[]> {
    const arena = new Arena(this.ctx);
    try {
      const { losses } = record(this.rec, arena, this.inputs(arena, b));
      this.rec.submit();
      const read = this.ctx.readF32(losses); // the copy is queued now, so the arena can go back to the pool
      arena.free();
      const tokenLosses = await read;
      const sums = new Array<number>(this.groups).fill(0);
      for (let t = 0; t < b.tokens; t++) if (b.weights[t]! > 0) sums[b.adapters[t]!]! += b.weights[t]! * tokenLosses[t]!;
      return sums.map((sum, g) => ({
        loss: denominators[g]! > 0 ? sum / denominators[g]! : 0,
        weightSum: b.adapterWeightSums[g]!,
        tokens: b.adapterTokens[g]!,
      }));
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
      adapters: this.adapters,
      runs: b.runs,
      tokens: b.tokens,
      positions: arena.upload('u32', [b.tokens], b.positions, 'positions'),
      seqStart: arena.upload('u32', [b.tokens], b.seqStart, 'seqStart'),
      invFreq: this.invFreq,
      precision: this.options.precision ?? 'f32',
    };
  }

  /** The head's inputs: each token's weight divided by its adapter's denominator, so one pass serves every mean. */
  private headArgs(b: PreparedBatch, arena: Arena, hidden: Tensor, denominators: readonly number[], dHidden?: Tensor): HeadLoss {
    const maxBinding = this.ctx.limits.maxStorageBufferBindingSize ?? 128 * 2 ** 20;
    const budget = Math.min(this.options.headChunkBytes ?? 256 * 2 ** 20, maxBinding);
    const scaled = new Float32Array(b.tokens);
    for (let t = 0; t < b.tokens; t++) {
      const d = denominators[b.adapters[t]!]!;
      scaled[t] = d > 0 ? b.weights[t]! / d : 0;
    }
    return {
      hidden,
      targets: arena.upload('u32', [b.tokens], b.targets, 'targets'),
      weights: arena.upload('f32', [b.tokens], scaled, 'scaled loss weights'),
      hostWeights: scaled,
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
    const { hiddenSize: H, numLayers: L } = this.config;
    const T = b.tokens;
    const keepActivations = save === 'keep-all';
    const buffers = Array.from({ length: save === 'eval' ? 2 : L + 1 }, (_, l) => arena.empty('f32', [T, H], `residual ${l}`));
    const xs = Array.from({ length: L + 1 }, (_, l) => buffers[l % buffers.length]!);
    const ids = arena.upload('u32', [T], b.ids, 'ids');
    embed(rec, { table: this.weights.ref('model.embed_tokens.weight'), ids, out: xs[0]!, tokens: T, dim: H });
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

function isAdapterList(a: LoraAdapter | readonly LoraAdapter[]): a is readonly LoraAdapter[] {
  return Array.isArray(a);
}

/** A boolean for every adapter, or one per adapter. */
function perAdapter(v: boolean | readonly boolean[], K: number, name: string): boolean[] {
  if (typeof v === 'boolean') return new Array<boolean>(K).fill(v);
  if (v.length !== K) throw new RangeError(`LoraModel: ${v.length} ${name} flags for ${K} adapters`);
  return [...v];
}

/** An adapter must have been made for this model's shape. */
function checkAdapterFits(config: ModelConfig, adapter: LoraAdapter, index: number): void {
  for (const m of adapter.modules) {
    const want = projectionShape(config, m.target);
    if (m.layer >= config.numLayers || m.inFeatures !== want.inFeatures || m.outFeatures !== want.outFeatures) {
      throw new RangeError(
        `LoraModel: adapter ${index} has ${m.path} [${m.outFeatures}, ${m.inFeatures}], which this model (${config.numLayers} layers, [${want.outFeatures}, ${want.inFeatures}]) does not`,
      );
    }
  }
}
