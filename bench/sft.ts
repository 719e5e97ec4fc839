/**
 * `npm run bench -- sft`: LoRA SFT speed on random-weight bf16 models at the real Llama-3.2-1B and Qwen2.5-7B
 * shapes (nothing downloaded), with K adapters trained at once. Each case times full optimizer steps (forward,
 * backward, global-norm clip and AdamW, wall clock: every step reads back its loss and gradient norm, so it ends
 * synchronized) after a warm-up step, and reports real (non-padding) tokens/s, achieved TFLOP/s (sft-flops.ts),
 * the fraction of the device's peak, the matmul kernels the step ran, and peak GPU memory.
 *
 * K > 1 adapters, each with its own batch of sequences and its own AdamW, in one of two modes:
 *   fused       one LoraModel over all K adapters: every pass runs the base once over all K batches' rows and
 *               each adapter's LoRA products on its own rows (src/lora/grouped-lora.ts)
 *   sequential  K single-adapter steps one after another, what bench/peers/peft_sft.py does with PEFT (whose
 *               mixed-adapter batches are inference-only)
 * Both compute the same FLOPs (everything is linear in the rows but attention, which is per sequence anyway).
 * The cases are plain JSON (`--print-cases`) so the peer replays the same configs, LoRA settings and batch shapes.
 */
import type { GpuContext } from '../src/gpu/context.ts';
import { LoraAdapter, type LoraTensors } from '../src/lora/adapter.ts';
import { resolveLoraConfig, type LoraTarget } from '../src/lora/config.ts';
import { initLoraWeights } from '../src/lora/host-weights.ts';
import type { TrainingPrecision } from '../src/train/lora-linear.ts';
import { parseModelConfig, type ModelConfig } from '../src/model/config.ts';
import { syntheticCheckpoint } from '../src/model/synthetic-checkpoint.ts';
import { loadWeights, type ModelWeights } from '../src/model/weights.ts';
import { packTrainingSequences, type PackedTrainBatch, type TrainSequence } from '../src/train/batch.ts';
import { LoraModel } from '../src/train/lora-model.ts';
import { LoraOptimizer } from '../src/train/optimizer.ts';
import { devicePeak } from './peaks.ts';
import { censusMatmuls, matmulFlops, sftStepFlops, type MatmulCensus, type SftFlops } from './sft-flops.ts';
import { HF_CONFIGS } from './shapes.ts';
import { now } from './timing.ts';

/** The LoRA setup and sequence length benchmarked per model (issue 4): PEFT's alpha = 2·rank convention. */
export const SFT_SETUPS: Record<string, { targets: LoraTarget[]; rank: number; alpha: number; seqLen: number }> = {
  'Llama-3.2-1B': { targets: ['q_proj', 'v_proj', 'gate_proj', 'up_proj', 'down_proj'], rank: 128, alpha: 256, seqLen: 2048 },
  'Qwen2.5-7B': { targets: ['q_proj', 'v_proj'], rank: 32, alpha: 64, seqLen: 512 },
};

/** HF config keys `--shape` may override (a smaller model of the same architecture, for CPU adapters). */
const SHAPE_KEYS = ['hidden_size', 'intermediate_size', 'num_attention_heads', 'num_key_value_heads', 'head_dim', 'vocab_size'];

/** `--shape hidden_size=256,intermediate_size=1024,...` → HF config overrides. */
export function parseShape(spec: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [key, value, extra] = item.split('=');
    const n = Number(value);
    if (extra !== undefined || !key || !SHAPE_KEYS.includes(key) || !Number.isInteger(n) || n < 1) {
      throw new Error(`--shape: '${item}' is not KEY=positive integer with KEY one of ${SHAPE_KEYS.join(', ')}`);
    }
    out[key] = n;
  }
  return out;
}

/** How a step trains its adapters: 'single' is K = 1. */
export type AdapterMode = 'single' | 'fused' | 'sequential';

/** One benchmarked configuration: all the peer needs to run the same step. */
export interface SftCase {
  model: string;
  /** The HF config.json of the model benchmarked (layers and shape overrides applied). */
  hfConfig: Record<string, unknown>;
  lora: { targets: LoraTarget[]; rank: number; alpha: number; dropout: 0 };
  seqLen: number;
  /** Sequences per adapter per step, one per row, no padding. */
  sequencesPerAdapter: number;
  adapters: number;
  mode: AdapterMode;
  recompute: boolean;
  /** How the frozen base's matmuls run: exact 'f32' (the portable path) or 'mixed' (16-bit operands, fastest kernel). */
  precision: TrainingPrecision;
  /** Timed steps (after one warm-up step). */
  steps: number;
  learningRate: number;
  maxGradNorm: number;
}

export interface SftCaseOptions {
  models: string[];
  layers?: number;
  /** Overrides every model's sequence length. */
  seqLen?: number;
  sequencesPerAdapter: number;
  adapterCounts: number[];
  /** How K > 1 adapters train (each mode is a case of its own). */
  adapterModes: ('fused' | 'sequential')[];
  recompute: boolean;
  /** Each precision is a case of its own. */
  precisions: TrainingPrecision[];
  steps: number;
  shape?: Record<string, number>;
}

export function sftCases(o: SftCaseOptions): SftCase[] {
  const cases: SftCase[] = [];
  for (const model of o.models) {
    const hf = HF_CONFIGS[model];
    const setup = SFT_SETUPS[model];
    if (!hf || !setup) throw new Error(`bench sft: unknown model '${model}' (available: ${Object.keys(SFT_SETUPS).join(', ')})`);
    const hfConfig = { ...hf, ...o.shape, num_hidden_layers: o.layers ?? hf.num_hidden_layers };
    parseModelConfig(hfConfig); // fail early on a bad --shape
    for (const adapters of o.adapterCounts) {
      for (const mode of adapters === 1 ? (['single'] as const) : o.adapterModes) {
        for (const precision of o.precisions)
          cases.push({
            model,
            hfConfig,
            lora: { targets: setup.targets, rank: setup.rank, alpha: setup.alpha, dropout: 0 },
            seqLen: o.seqLen ?? setup.seqLen,
            sequencesPerAdapter: o.sequencesPerAdapter,
            adapters,
            mode,
            recompute: o.recompute,
            precision,
            steps: o.steps,
            learningRate: 1e-4,
            maxGradNorm: 1,
          });
      }
    }
  }
  return cases;
}

export interface SftResult extends SftCase {
  layers: number;
  /** Real tokens per step over all adapters (no padding exists: sequences are packed back to back). */
  tokensPerStep: number;
  stepMs: number[];
  /** Median step time. */
  msPerStep: number;
  tokensPerSecond: number;
  /** Model FLOPs per step (all adapters; recomputation excluded), and its parts for one adapter. */
  flopsPerStep: number;
  flopsPerAdapter: SftFlops;
  /** Model FLOPs per step over the median step time. */
  tflops: number;
  /** Achieved over the device's FP32 (non-tensor) and tensor-core peaks; null for a device bench/peaks.ts lacks. */
  fractionOfFp32Peak: number | null;
  fractionOfTensorPeak: number | null;
  /** The matmuls the warm-up step recorded: FLOPs per kernel (recomputation included when on). */
  matmuls: MatmulCensus;
  /** The census's matmul FLOPs over the formula's (1 when sft-flops.ts counts what the step records). */
  matmulFlopsRecordedOverFormula: number;
  /** Loss of the first adapter at the warm-up step and after the last timed step (finite: the step is real). */
  loss: { first: number; last: number };
  /** Most bytes the buffer pool held during the case, weights included. */
  peakGpuBytes: number;
}

export interface SftBenchOptions extends SftCaseOptions {
  /** Stop timing a case after this many seconds of steps (at least one timed step runs). */
  maxSecondsPerCase: number;
  /** Called with the results so far after each case (the caller saves them: a run cut short keeps its finished cases). */
  onProgress?: (results: SftResult[]) => void;
  log: (line: string) => void;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** `count` sequences of `length` random ids for adapter `adapter` (labels = ids: every token real, no padding). */
export function randomSequences(count: number, length: number, vocab: number, salt: number, adapter = 0): TrainSequence[] {
  return Array.from({ length: count }, (_, s) => ({
    ids: Array.from({ length }, (_, i) => (Math.imul(i + 1, 2654435761) ^ Math.imul(salt * 131 + s + 1, 40503)) >>> 0).map((x) => x % vocab),
    adapter,
  }));
}

/**
 * K adapters (PEFT init with B random, so every gradient is non-trivial) with their own AdamW and their own batch
 * of `sequencesPerAdapter` x `seqLen` random tokens. step() trains each once: all in one pass ('fused'), or one
 * after another ('sequential', taking turns in one gradient buffer).
 */
export class SftRunner {
  readonly adapters: LoraAdapter[] = [];
  private readonly models: LoraModel[] = [];
  private readonly optimizers: LoraOptimizer[] = [];
  private readonly batches: PackedTrainBatch[];
  private readonly grads: LoraTensors[] = [];

  constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    weights: ModelWeights,
    readonly c: Pick<SftCase, 'lora' | 'seqLen' | 'sequencesPerAdapter' | 'adapters' | 'mode' | 'recompute' | 'precision' | 'learningRate' | 'maxGradNorm'> & {
      /** LoraModel's logits budget per LM-head chunk (the census sets it; default LoraModel's). */
      headChunkBytes?: number;
    },
  ) {
    const lora = resolveLoraConfig(c.lora);
    const fused = c.mode === 'fused';
    const modelOptions = { recompute: c.recompute, precision: c.precision, headChunkBytes: c.headChunkBytes };
    if ((c.adapters === 1) !== (c.mode === 'single')) throw new Error(`bench sft: mode '${c.mode}' with ${c.adapters} adapters`);
    try {
      for (let k = 0; k < c.adapters; k++) {
        const adapter = LoraAdapter.upload(ctx, config, initLoraWeights(config, lora, { seed: k + 1, b: 'random' }));
        this.adapters.push(adapter);
        this.optimizers.push(new LoraOptimizer(ctx, adapter, { maxGradNorm: c.maxGradNorm }));
        if (fused || k === 0) this.grads.push(adapter.zerosLike());
        if (!fused) this.models.push(new LoraModel(ctx, config, weights, adapter, modelOptions));
      }
      if (fused) this.models.push(new LoraModel(ctx, config, weights, this.adapters, modelOptions));
      // Fused, a sequence names its adapter; sequentially, each model has one adapter: index 0.
      const sequences = Array.from({ length: c.adapters }, (_, k) => randomSequences(c.sequencesPerAdapter, c.seqLen, config.vocabSize, k, fused ? k : 0));
      this.batches = fused ? [packTrainingSequences(sequences.flat())] : sequences.map((seqs) => packTrainingSequences(seqs));
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  get tokensPerStep(): number {
    return this.batches.reduce((n, b) => n + b.ids.length, 0);
  }

  /** One optimizer step of every adapter; returns each adapter's loss. */
  async step(): Promise<number[]> {
    const lr = this.c.learningRate;
    if (this.c.mode === 'fused') {
      const results = await this.models[0]!.lossAndGradients(this.batches[0]!, this.grads);
      for (let k = 0; k < this.optimizers.length; k++) await this.optimizers[k]!.update(this.grads[k]!, lr);
      return results.map((r) => r.loss);
    }
    const losses: number[] = [];
    for (let k = 0; k < this.models.length; k++) {
      const { loss } = await this.models[k]!.lossAndGradients(this.batches[k]!, this.grads[0]!);
      await this.optimizers[k]!.update(this.grads[0]!, lr);
      losses.push(loss);
    }
    return losses;
  }

  dispose(): void {
    for (const x of [...this.models, ...this.optimizers, ...this.adapters, ...this.grads]) x.dispose();
  }
}

async function runCase(ctx: GpuContext, c: SftCase, config: ModelConfig, weights: ModelWeights, baseBytes: number, o: SftBenchOptions): Promise<SftResult> {
  ctx.pool.trim();
  ctx.pool.peakBytes = ctx.pool.allocatedBytes;
  const runner = new SftRunner(ctx, config, weights, c);
  try {
    const { result: warm, census } = await censusMatmuls(() => runner.step()); // compiles every pipeline
    const stepMs: number[] = [];
    let last = warm;
    const t0 = now();
    while (stepMs.length < c.steps && (stepMs.length === 0 || now() - t0 < o.maxSecondsPerCase * 1e3)) {
      const t = now();
      last = await runner.step();
      stepMs.push(now() - t);
    }
    const flopsPerAdapter = sftStepFlops({ config, lora: c.lora, sequenceLengths: Array(c.sequencesPerAdapter).fill(c.seqLen) });
    const flopsPerStep = flopsPerAdapter.total * c.adapters;
    const msPerStep = median(stepMs);
    const tflops = flopsPerStep / (msPerStep / 1e3) / 1e12;
    const peak = devicePeak(ctx.caps.adapter.description);
    return {
      ...c,
      layers: config.numLayers,
      tokensPerStep: runner.tokensPerStep,
      stepMs,
      msPerStep,
      tokensPerSecond: (runner.tokensPerStep / msPerStep) * 1e3,
      flopsPerStep,
      flopsPerAdapter,
      tflops,
      fractionOfFp32Peak: peak ? tflops / peak.fp32Tflops : null,
      fractionOfTensorPeak: peak ? tflops / peak.tensorTflops : null,
      matmuls: census,
      matmulFlopsRecordedOverFormula: census.flops / (c.adapters * matmulFlops(flopsPerAdapter, c.recompute)),
      loss: { first: warm[0]!, last: last[0]! },
      peakGpuBytes: ctx.pool.peakBytes - baseBytes,
    };
  } finally {
    runner.dispose();
    ctx.pool.trim();
  }
}

/** The kernel that ran most of a step's matmul FLOPs. */
export function mainMatmulKernel(census: MatmulCensus): string {
  return Object.entries(census.byKernel).sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'none';
}

function logResult(r: SftResult, log: (line: string) => void): void {
  // The peak the main kernel can reach: tensor cores for subgroup matrices, the FP32 units otherwise.
  const tensor = mainMatmulKernel(r.matmuls) === 'subgroup-matrix';
  const fraction = tensor ? r.fractionOfTensorPeak : r.fractionOfFp32Peak;
  const pct = (x: number | null) => (x === null ? '' : ` (${(100 * x).toFixed(1)}% of ${tensor ? 'tensor' : 'FP32'} peak)`);
  const mode = r.mode === 'single' ? '' : ` ${r.mode}`;
  log(
    `  K=${r.adapters}${mode} ${r.precision}: ${r.tokensPerStep} tokens/step, ${r.msPerStep.toFixed(1)} ms/step (median of ${r.stepMs.length}), ` +
      `${r.tokensPerSecond.toFixed(1)} tok/s, ${r.tflops.toFixed(2)} TFLOP/s${pct(fraction)}, ` +
      `matmuls: ${mainMatmulKernel(r.matmuls)}, peak ${(r.peakGpuBytes / 2 ** 30).toFixed(2)} GiB, loss ${r.loss.first.toFixed(3)} -> ${r.loss.last.toFixed(3)}`,
  );
}

export async function sftBench(ctx: GpuContext, o: SftBenchOptions): Promise<SftResult[]> {
  const results: SftResult[] = [];
  const cases = sftCases(o);
  for (const model of o.models) {
    const mine = cases.filter((c) => c.model === model);
    const config = parseModelConfig(mine[0]!.hfConfig);
    ctx.pool.trim();
    const baseBytes = ctx.pool.allocatedBytes;
    const t0 = now();
    const { source, header } = await syntheticCheckpoint(config, { dtype: 'BF16' });
    const weights = await loadWeights(ctx, config, source, header);
    await ctx.sync();
    const c0 = mine[0]!;
    o.log(
      `${model}: ${config.numLayers} layers built in ${((now() - t0) / 1e3).toFixed(1)} s; LoRA rank ${c0.lora.rank} on ${c0.lora.targets.join(',')}, ` +
        `${c0.sequencesPerAdapter} x ${c0.seqLen} tokens per adapter, recompute ${c0.recompute ? 'on' : 'off'}`,
    );
    try {
      for (const c of mine) {
        const r = await runCase(ctx, c, config, weights, baseBytes, o);
        results.push(r);
        o.onProgress?.(results);
        logResult(r, o.log);
      }
    } finally {
      weights.dispose();
      ctx.pool.trim();
    }
    for (const precision of o.precisions) {
      const one = results.find((r) => r.model === model && r.adapters === 1 && r.precision === precision);
      if (!one) continue;
      for (const r of results.filter((x) => x.model === model && x.adapters > 1 && x.precision === precision)) {
        o.log(`  K=${r.adapters} step costs ${(r.msPerStep / one.msPerStep).toFixed(2)}x a K=1 step (${r.mode}, ${precision})`);
      }
    }
  }
  return results;
}
