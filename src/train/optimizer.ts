/**
 * AdamW over every A and B of a LoRA adapter, with global gradient-norm clipping, as HF Trainer runs
 * torch.optim.AdamW after torch.nn.utils.clip_grad_norm_(max_grad_norm): the norm is taken over all adapter
 * gradients together, the clip scale stays on the GPU (adamw reads it), and one step is one submission.
 * Moments are f32 tensors shaped like the parameters, zero before the first step. Parameters, gradients and
 * moments share one storage layout (LoraTensors.chunks()), so the norm and the update are one dispatch per
 * storage chunk, not per tensor: AdamW is elementwise with one set of hyperparameters, and the zero gaps
 * between tensors neither change the norm nor move.
 */
import type { GpuContext } from '../gpu/context.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { LoraAdapter, LoraTensors } from '../lora/adapter.ts';
import { adamwStep } from '../ops/adamw.ts';
import { gradNorm, gradNormPartials } from '../ops/grad-norm.ts';

export interface AdamWConfig {
  /** Default 0.9, 0.999, 1e-8 and 0: torch's and HF TrainingArguments' defaults. */
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Clip the global gradient norm to this (HF's max_grad_norm, default 1.0); null: no clipping. */
  maxGradNorm?: number | null;
}

export interface OptimizerStepResult {
  /** The global gradient norm before clipping (what HF logs as grad_norm). */
  gradNorm: number;
  /** The 1-based step just taken. */
  step: number;
}

export class LoraOptimizer {
  readonly m: LoraTensors;
  readonly v: LoraTensors;
  private readonly partials: Tensor;
  private readonly norm: Tensor;
  private readonly clipScale: Tensor;
  private readonly hyper: Required<AdamWConfig>;
  private steps = 0;
  private disposed = false;

  constructor(
    private readonly ctx: GpuContext,
    private readonly adapter: LoraAdapter,
    config: AdamWConfig = {},
  ) {
    this.hyper = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1.0, ...config };
    const max = this.hyper.maxGradNorm;
    if (max !== null && !(max > 0 && Number.isFinite(max)))
      throw new RangeError(`LoraOptimizer: maxGradNorm must be a finite positive number or null, got ${max}`);
    this.m = adapter.zerosLike('adamw m');
    this.v = adapter.zerosLike('adamw v');
    this.partials = ctx.empty('f32', [gradNormPartials(this.m.chunks())], 'grad-norm partials');
    this.norm = ctx.empty('f32', [1], 'grad norm');
    this.clipScale = ctx.empty('f32', [1], 'clip scale');
  }

  /** Steps taken so far. */
  get step(): number {
    return this.steps;
  }

  /**
   * One AdamW step of every adapter parameter with learning rate `lr` (the schedule's value for this step) from
   * `grads` (shaped like the adapter), clipped by the global norm first. Reads back only the norm.
   */
  async update(grads: LoraTensors, lr: number): Promise<OptimizerStepResult> {
    if (this.disposed) throw new Error('LoraOptimizer used after dispose()');
    if (!grads.sameLayout(this.adapter.params)) {
      throw new Error('LoraOptimizer.update: grads are not shaped like the adapter (use adapter.zerosLike())');
    }
    const params = this.adapter.params.chunks();
    const gradList = grads.chunks();
    const step = this.steps + 1;
    const { beta1, beta2, eps, weightDecay, maxGradNorm } = this.hyper;
    const ms = this.m.chunks(),
      vs = this.v.chunks();
    const rec = this.ctx.recorder();
    try {
      const clip = maxGradNorm !== null;
      gradNorm(rec, { grads: gradList, partials: this.partials, norm: this.norm, ...(clip ? { clipScale: this.clipScale, maxNorm: maxGradNorm } : {}) });
      params.forEach((param, i) => {
        adamwStep(rec, {
          lr,
          beta1,
          beta2,
          eps,
          weightDecay,
          step,
          param,
          grad: gradList[i]!,
          m: ms[i]!,
          v: vs[i]!,
          clipScale: clip ? this.clipScale : undefined,
        });
      });
      rec.submit();
    } finally {
      rec.dispose();
    }
    this.steps = step;
    const norm = (await this.ctx.readF32(this.norm))[0]!;
    return { gradNorm: norm, step };
  }

  /** Back to step 0 with zero moments (a fresh run on the same adapter). */
  reset(): void {
    for (const t of [...this.m.chunks(), ...this.v.chunks()]) this.ctx.fill(t, 0);
    this.steps = 0;
  }

  dispose(): void {
    if (this.disposed) return;
    this.m.dispose();
    this.v.dispose();
    this.ctx.free(this.partials, this.norm, this.clipScale);
    this.disposed = true;
  }
}
