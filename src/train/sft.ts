/**
 * LoRA supervised fine-tuning: one or more jobs (an adapter, its examples and its hyperparameters), trained in the
 * same passes over one frozen base model. Each job's result is that of training it alone.
 *
 * Per job, HF Trainer semantics: every epoch visits the examples in a fresh seeded order (seed, epoch); a
 * micro-batch is `batchSize` whole examples packed back to back (no padding: pad tokens never reach the loss nor
 * the compute); an optimizer step accumulates `gradAccum` micro-batches (the epoch's last step takes what is
 * left); AdamW with global-norm clipping (LoraOptimizer); the learning rate follows schedule.ts.
 *
 * Loss normalisation: the loss of a step is the mean over every trained token of all its micro-batches (each
 * micro-batch's sum divided by the step's total, HF's num_items_in_batch semantics since transformers 4.46). So a
 * step of G micro-batches of B examples equals one batch of G·B examples, a long example weighs by its tokens as
 * in a packed batch, and how a step is cut into GPU passes (maxPassTokens) does not change the result.
 *
 * The loop runs in ticks: each tick takes the next pass (a packed micro-batch, or a part of one) of every active
 * job and runs them together through runPasses(): ONE forward and backward over the frozen base with every job's
 * sequences packed side by side, each row carrying its job's adapter (LoraModel with K adapters). A job's
 * gradients and loss depend only on its own rows, so each result equals training that job alone (up to f32
 * summation order: ~1e-12 NMSE). A step whose
 * loss is not finite stops the run with SftDivergedError (HF would go on training on NaNs).
 */
import type { GpuContext } from '../gpu/context.ts';
import type { LoraAdapter, LoraTensors } from '../lora/adapter.ts';
import { mulberry32, streamState } from '../util/rng.ts';
import type { ModelConfig } from '../model/config.ts';
import { IGNORE_INDEX, packTrainingSequences, type PackedTrainBatch, type TrainSequence } from './batch.ts';
import { LoraModel, type BaseWeights, type LossResult } from './lora-model.ts';
import { LoraOptimizer } from './optimizer.ts';
import type { TrainingPrecision } from './lora-linear.ts';
import { checkSchedule, learningRate, LR_SCHEDULES, type LrSchedule, type ScheduleConfig } from './schedule.ts';

export interface SftHyperparameters {
  /** Peak learning rate (>= 0). */
  lr: number;
  /** Passes over the examples; default 1. Ignored when maxSteps is set. */
  epochs?: number;
  /** Train exactly this many optimizer steps (going through as many epochs as that takes), as HF's max_steps. */
  maxSteps?: number | null;
  /** Examples per micro-batch; default 1. */
  batchSize?: number;
  /** Micro-batches per optimizer step; default 1. */
  gradAccum?: number;
  /** Default 'linear' (HF's default). */
  schedule?: LrSchedule;
  /** Optimizer steps of linear warmup; default 0. */
  warmupSteps?: number;
  /** AdamW decoupled weight decay; default 0. */
  weightDecay?: number;
  /** Clip the global gradient norm to this; null: no clipping. Default 1.0 (HF's max_grad_norm). */
  gradClip?: number | null;
  /** AdamW betas and eps; default 0.9, 0.999, 1e-8. */
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Seed of the example order; default 0. */
  seed?: number;
  /** Visit examples in a seeded random order each epoch (default true), else in the given order. */
  shuffle?: boolean;
}

export interface SftJob {
  adapter: LoraAdapter;
  /** Tokenized examples: ids and HF labels (sft-data.ts makes them). */
  examples: readonly TrainSequence[];
  hyper: SftHyperparameters;
}

export interface SftStepInfo {
  /** Index of the job in the list given to trainSft. */
  job: number;
  /** 1-based optimizer step of this job. */
  step: number;
  totalSteps: number;
  /** Epochs done after this step, fractional (HF's logged epoch). */
  epoch: number;
  /** Mean loss over the step's trained tokens. */
  loss: number;
  /** Learning rate this step used. */
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Tokens the step ran (forward and backward), and those that carried loss. */
  tokens: number;
  trainedTokens: number;
  /** tokens / seconds this job's passes and update took. */
  tokensPerSecond: number;
}

export interface SftOptions {
  /**
   * Per-layer activation recomputation (identical gradients, less memory, ~1/3 more compute). Default 'auto':
   * on when the largest pass's activations would be big (see activationBytes).
   */
  recompute?: boolean | 'auto';
  /**
   * Most tokens in one GPU pass: a micro-batch with more is run as several passes of whole examples (gradients
   * accumulate; the result is the same). Default: no limit.
   */
  maxPassTokens?: number;
  /** Byte budget of one chunk of the LM head's logits (LoraModelOptions.headChunkBytes). */
  headChunkBytes?: number;
  /** How the frozen base's products run: exact 'f32' (default) or 'mixed' (16-bit operands; TrainingPrecision). */
  precision?: TrainingPrecision;
  /** Called after every optimizer step of every job (awaited). */
  onStep?: (info: SftStepInfo) => void | Promise<void>;
  /**
   * Stops training before the next pass: the call rejects with the signal's reason (an AbortError) and frees what
   * it allocated; the adapters keep the steps done so far (callers throw them away).
   */
  signal?: AbortSignal;
}

export interface SftJobResult {
  steps: number;
  /** Epochs done (fractional). */
  epochs: number;
  /** Loss of every step. */
  losses: number[];
  /** Tokens run, in all. */
  tokens: number;
  /** Seconds spent on this job's passes and updates. */
  seconds: number;
}

/** Training diverged: a step's loss is not finite (too high a learning rate, usually). */
export class SftDivergedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SftDivergedError';
  }
}

/** Beyond this many bytes of estimated activations per pass, 'auto' recomputes. */
const RECOMPUTE_ABOVE_BYTES = 512 * 2 ** 20;

/** A rough f32 size of the activations one layer keeps per token, times tokens and layers. */
export function activationBytes(config: ModelConfig, tokens: number): number {
  const perToken = 6 * config.hiddenSize + 2 * config.numHeads * config.headDim + 3 * config.intermediateSize;
  return 4 * tokens * config.numLayers * perToken;
}

/** Hyperparameters with defaults filled in, checked. */
export type ResolvedSftHyperparameters = Required<Omit<SftHyperparameters, 'maxSteps' | 'gradClip'>> & { maxSteps: number | null; gradClip: number | null };

export function resolveSftHyperparameters(h: SftHyperparameters, where = 'SFT'): ResolvedSftHyperparameters {
  const fail = (what: string): never => {
    throw new RangeError(`${where}: ${what}`);
  };
  const r: ResolvedSftHyperparameters = {
    lr: h.lr,
    epochs: h.epochs ?? 1,
    maxSteps: h.maxSteps ?? null,
    batchSize: h.batchSize ?? 1,
    gradAccum: h.gradAccum ?? 1,
    schedule: h.schedule ?? 'linear',
    warmupSteps: h.warmupSteps ?? 0,
    weightDecay: h.weightDecay ?? 0,
    gradClip: h.gradClip === undefined ? 1.0 : h.gradClip,
    beta1: h.beta1 ?? 0.9,
    beta2: h.beta2 ?? 0.999,
    eps: h.eps ?? 1e-8,
    seed: h.seed ?? 0,
    shuffle: h.shuffle ?? true,
  };
  const int = (v: number, min: number) => Number.isSafeInteger(v) && v >= min;
  if (!(typeof r.lr === 'number' && r.lr >= 0 && Number.isFinite(r.lr))) fail(`lr must be a finite number >= 0, got ${r.lr}`);
  if (!int(r.epochs, 0)) fail(`epochs must be an integer >= 0, got ${r.epochs}`);
  if (r.maxSteps !== null && !int(r.maxSteps, 1)) fail(`maxSteps must be a positive integer (or null), got ${r.maxSteps}`);
  if (!int(r.batchSize, 1)) fail(`batchSize must be a positive integer, got ${r.batchSize}`);
  if (!int(r.gradAccum, 1)) fail(`gradAccum must be a positive integer, got ${r.gradAccum}`);
  if (!(LR_SCHEDULES as readonly string[]).includes(r.schedule)) fail(`schedule must be one of ${LR_SCHEDULES.join(', ')}, got ${JSON.stringify(r.schedule)}`);
  if (!int(r.warmupSteps, 0)) fail(`warmupSteps must be an integer >= 0, got ${r.warmupSteps}`);
  if (!(r.weightDecay >= 0 && Number.isFinite(r.weightDecay))) fail(`weightDecay must be a finite number >= 0, got ${r.weightDecay}`);
  if (r.gradClip !== null && !(r.gradClip > 0 && Number.isFinite(r.gradClip)))
    fail(`gradClip must be a finite number > 0 (or null: no clipping), got ${r.gradClip}`);
  if (!(r.beta1 >= 0 && r.beta1 < 1) || !(r.beta2 >= 0 && r.beta2 < 1)) fail(`betas must be in [0, 1), got (${r.beta1}, ${r.beta2})`);
  if (!(r.eps > 0 && Number.isFinite(r.eps))) fail(`eps must be a finite number > 0, got ${r.eps}`);
  if (!int(r.seed, 0)) fail(`seed must be a non-negative integer, got ${r.seed}`);
  return r;
}

/** One GPU pass of a job: whole examples packed together. */
interface PlannedPass {
  examples: number[];
}

/** One optimizer step of a job: its passes (its micro-batches, each cut to maxPassTokens), in order. */
interface PlannedStep {
  passes: PlannedPass[];
  /** Epochs done after this step, fractional. */
  epoch: number;
}

/** A seeded permutation of 0..n-1 for (seed, epoch): Fisher-Yates over the seed's stream for that epoch. */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const next = mulberry32(streamState(seed, epoch));
  for (let i = n - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** Optimizer steps per epoch: ceil(micro-batches / gradAccum), the last step of an epoch taking what is left. */
export function stepsPerEpoch(examples: number, batchSize: number, gradAccum: number): number {
  return Math.ceil(Math.ceil(examples / batchSize) / gradAccum);
}

/** Optimizer steps of a job of `examples` examples: maxSteps, else epochs x steps per epoch. */
export function totalSftSteps(examples: number, h: ResolvedSftHyperparameters): number {
  return h.maxSteps ?? h.epochs * stepsPerEpoch(examples, h.batchSize, h.gradAccum);
}

/** Every optimizer step of a job, with the examples of each pass. */
export function planSftSteps(lengths: readonly number[], h: ResolvedSftHyperparameters, maxPassTokens = Infinity): PlannedStep[] {
  const n = lengths.length;
  if (n === 0) throw new RangeError('planSftSteps: no examples');
  const perEpoch = stepsPerEpoch(n, h.batchSize, h.gradAccum);
  const total = totalSftSteps(n, h);
  const microBatches = Math.ceil(n / h.batchSize);
  const steps: PlannedStep[] = [];
  for (let epoch = 0; steps.length < total; epoch++) {
    const order = h.shuffle ? epochOrder(n, h.seed, epoch) : Array.from({ length: n }, (_, i) => i);
    for (let s = 0; s < perEpoch && steps.length < total; s++) {
      const passes: PlannedPass[] = [];
      const firstMb = s * h.gradAccum;
      const lastMb = Math.min(microBatches, firstMb + h.gradAccum);
      for (let mb = firstMb; mb < lastMb; mb++) {
        passes.push(...splitPasses(order.slice(mb * h.batchSize, (mb + 1) * h.batchSize), lengths, maxPassTokens));
      }
      steps.push({ passes, epoch: epoch + lastMb / microBatches });
    }
  }
  return steps;
}

/** Cuts a micro-batch into passes of whole examples of at most maxTokens each (an example longer gets its own). */
function splitPasses(examples: number[], lengths: readonly number[], maxTokens: number): PlannedPass[] {
  const passes: PlannedPass[] = [];
  let current: number[] = [];
  let tokens = 0;
  for (const e of examples) {
    const len = lengths[e]!;
    if (current.length > 0 && tokens + len > maxTokens) {
      passes.push({ examples: current });
      current = [];
      tokens = 0;
    }
    current.push(e);
    tokens += len;
  }
  if (current.length) passes.push({ examples: current });
  return passes;
}

/** A pass ready to run: the job (its adapter's index), its packed batch, the step's loss denominator. */
interface PassWork {
  job: number;
  batch: PackedTrainBatch;
  denominator: number;
  /** Add into the gradients (every pass of a step but its first). */
  accumulate: boolean;
}

/**
 * Forward + backward of one pass of every given job in a single pass over the frozen base: the jobs' batches are
 * packed side by side, each token tagged with its job's adapter; per-adapter denominators and accumulate flags
 * keep every job's step its own. Adapters of jobs not in `work` (finished) keep their gradients (accumulate).
 * Each job's share of the pass time goes by its share of the tokens.
 */
async function runPasses(
  model: LoraModel,
  grads: readonly LoraTensors[],
  work: readonly PassWork[],
  timings: number[],
  now: () => number,
): Promise<LossResult[]> {
  const merged = {
    ids: [] as number[],
    targets: [] as number[],
    weights: [] as number[],
    positions: [] as number[],
    seqStart: [] as number[],
    adapters: [] as number[],
  };
  const denominator = grads.map(() => 1);
  const accumulate = grads.map(() => true);
  for (const w of work) {
    const offset = merged.ids.length;
    const b = w.batch;
    merged.ids.push(...b.ids);
    merged.targets.push(...b.targets);
    merged.weights.push(...b.weights);
    merged.positions.push(...b.positions);
    merged.seqStart.push(...b.seqStart.map((s) => s + offset));
    merged.adapters.push(...b.ids.map(() => w.job));
    denominator[w.job] = w.denominator;
    accumulate[w.job] = w.accumulate;
  }
  const t0 = now();
  const results = await model.lossAndGradients(merged, [...grads], { denominator, accumulate });
  const ms = now() - t0;
  return work.map((w, i) => {
    timings[i] = (ms * w.batch.ids.length) / merged.ids.length;
    return results[w.job]!;
  });
}

/** A job's state while it trains. */
class JobRun {
  readonly steps: PlannedStep[];
  readonly result: SftJobResult = { steps: 0, epochs: 0, losses: [], tokens: 0, seconds: 0 };
  readonly schedule: ScheduleConfig;
  /** Per example: tokens, and targets that carry loss. */
  private readonly lengths: number[];
  private readonly trained: number[];
  private stepIndex = 0;
  private passIndex = 0;
  private stepLoss = 0;
  private stepSeconds = 0;

  constructor(
    readonly index: number,
    readonly job: SftJob,
    readonly hyper: ResolvedSftHyperparameters,
    readonly grads: LoraTensors,
    readonly optimizer: LoraOptimizer,
    maxPassTokens: number,
  ) {
    this.lengths = job.examples.map((e) => e.ids.length);
    // Example t's label at position i is learned by position i - 1, so label 0 never counts.
    this.trained = job.examples.map((e) => (e.labels ?? e.ids).reduce((n: number, l, i) => n + (i > 0 && l !== IGNORE_INDEX ? 1 : 0), 0));
    this.steps = planSftSteps(this.lengths, hyper, maxPassTokens);
    this.schedule = { schedule: hyper.schedule, lr: hyper.lr, warmupSteps: hyper.warmupSteps, totalSteps: this.steps.length };
    checkSchedule(this.schedule);
  }

  get done(): boolean {
    return this.stepIndex >= this.steps.length;
  }

  private get step(): PlannedStep {
    return this.steps[this.stepIndex]!;
  }

  private sum(of: number[], passes: readonly PlannedPass[]): number {
    return passes.reduce((n, p) => n + p.examples.reduce((m, e) => m + of[e]!, 0), 0);
  }

  nextPass(): PassWork {
    const { passes } = this.step;
    const batch = packTrainingSequences(passes[this.passIndex]!.examples.map((e) => this.job.examples[e]!));
    return { job: this.index, batch, denominator: this.sum(this.trained, passes), accumulate: this.passIndex > 0 };
  }

  /** Takes a finished pass; after the step's last one, runs the optimizer and returns the step's report. */
  async passDone(loss: LossResult, seconds: number, now: () => number): Promise<SftStepInfo | null> {
    this.stepLoss += loss.loss;
    this.stepSeconds += seconds;
    const { passes, epoch } = this.step;
    if (++this.passIndex < passes.length) return null;
    if (!Number.isFinite(this.stepLoss)) {
      throw new SftDivergedError(
        `SFT job ${this.index}: the loss is ${this.stepLoss} at step ${this.stepIndex + 1} of ${this.steps.length} (lr ${this.hyper.lr}); training diverged, try a lower learning rate`,
      );
    }
    const t0 = now();
    const lr = learningRate(this.schedule, this.stepIndex);
    const { gradNorm } = await this.optimizer.update(this.grads, lr);
    this.stepSeconds += (now() - t0) / 1000;
    const tokens = this.sum(this.lengths, passes);
    const info: SftStepInfo = {
      job: this.index,
      step: this.stepIndex + 1,
      totalSteps: this.steps.length,
      epoch,
      loss: this.stepLoss,
      lr,
      gradNorm,
      tokens,
      trainedTokens: this.sum(this.trained, passes),
      tokensPerSecond: this.stepSeconds > 0 ? tokens / this.stepSeconds : 0,
    };
    this.result.steps = info.step;
    this.result.epochs = epoch;
    this.result.losses.push(info.loss);
    this.result.tokens += tokens;
    this.result.seconds += this.stepSeconds;
    this.stepIndex++;
    this.passIndex = 0;
    this.stepLoss = 0;
    this.stepSeconds = 0;
    return info;
  }
}

/** Checks a job's examples against the model: some, each within the context and with something to learn (ids are checked per pass). */
function checkJob(job: SftJob, config: ModelConfig, where: string): void {
  if (!job || typeof job !== 'object' || !job.adapter) throw new TypeError(`${where}: expected { adapter, examples, hyper }`);
  if (!job.examples || job.examples.length === 0) throw new RangeError(`${where}: no training examples`);
  job.examples.forEach((e, i) => {
    const n = e.ids.length;
    if (n < 2) throw new RangeError(`${where}: example ${i} has ${n} token(s); at least 2 are needed to learn anything`);
    if (n > config.maxPositionEmbeddings)
      throw new RangeError(`${where}: example ${i} is ${n} tokens, over the model's ${config.maxPositionEmbeddings} positions`);
    const labels = e.labels ?? e.ids;
    if (labels.length !== n) throw new RangeError(`${where}: example ${i} has ${n} ids but ${labels.length} labels`);
    if (!labels.some((l, t) => t > 0 && l !== IGNORE_INDEX))
      throw new RangeError(`${where}: example ${i} has no trained token (every label after the first is -100)`);
  });
}

/**
 * Trains every job's adapter in place and returns what each run did. Deterministic: the same jobs (adapters
 * initialised from the same seed, same examples and hyperparameters) give the same bits.
 */
export async function trainSft(
  ctx: GpuContext,
  config: ModelConfig,
  weights: BaseWeights,
  jobs: readonly SftJob[],
  options: SftOptions = {},
): Promise<SftJobResult[]> {
  if (!jobs || jobs.length === 0) throw new RangeError('trainSft: no jobs');
  const adapters = new Set(jobs.map((j) => j?.adapter));
  if (adapters.size !== jobs.length) throw new RangeError('trainSft: two jobs share one adapter; give every job its own');
  const maxPassTokens = options.maxPassTokens ?? Infinity;
  if (!(maxPassTokens >= 1)) throw new RangeError(`trainSft: maxPassTokens must be >= 1, got ${maxPassTokens}`);
  const hypers = jobs.map((job, i) => {
    checkJob(job, config, `SFT job ${i}`);
    return resolveSftHyperparameters(job.hyper ?? ({} as SftHyperparameters), `SFT job ${i}`);
  });
  // The most tokens one pass can hold: the batchSize longest examples, cut to maxPassTokens (but never below
  // the longest example, which always runs whole).
  const longestPass = Math.max(
    ...jobs.map((j, i) => {
      const lengths = j.examples.map((e) => e.ids.length).sort((a, b) => b - a);
      const batch = lengths.slice(0, hypers[i]!.batchSize).reduce((a, b) => a + b, 0);
      return Math.min(batch, Math.max(maxPassTokens, lengths[0]!));
    }),
  );
  const recompute =
    options.recompute === 'auto' || options.recompute === undefined ? activationBytes(config, longestPass) > RECOMPUTE_ABOVE_BYTES : options.recompute;
  const now = () => performance.now();

  const runs: JobRun[] = [];
  const owned: { dispose(): void }[] = [];
  try {
    const model = new LoraModel(ctx, config, weights, jobs.length === 1 ? jobs[0]!.adapter : jobs.map((j) => j.adapter), {
      recompute,
      headChunkBytes: options.headChunkBytes,
      precision: options.precision,
    });
    owned.push(model);
    jobs.forEach((job, i) => {
      const h = hypers[i]!;
      const grads = job.adapter.zerosLike('sft grads');
      owned.push(grads);
      const optimizer = new LoraOptimizer(ctx, job.adapter, {
        beta1: h.beta1,
        beta2: h.beta2,
        eps: h.eps,
        weightDecay: h.weightDecay,
        maxGradNorm: h.gradClip,
      });
      owned.push(optimizer);
      runs.push(new JobRun(i, job, h, grads, optimizer, maxPassTokens));
    });
    const timings: number[] = [];
    for (let active = runs.filter((r) => !r.done); active.length > 0; active = active.filter((r) => !r.done)) {
      options.signal?.throwIfAborted();
      const losses = await runPasses(
        model,
        runs.map((r) => r.grads),
        active.map((r) => r.nextPass()),
        timings,
        now,
      );
      for (const [i, run] of active.entries()) {
        const info = await run.passDone(losses[i]!, timings[i]! / 1000, now);
        if (info && options.onStep) await options.onStep(info);
      }
    }
    return runs.map((r) => r.result);
  } finally {
    for (const o of owned.reverse()) o.dispose();
  }
}
