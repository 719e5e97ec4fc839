/**
 * `npm run bench -- census`: what one steady-state step of each case asks of the GPU, counted (GpuContext.counters),
 * not timed: dispatches, submits, host waits, bind groups / pipelines / buffers created, bytes moved, and the host
 * milliseconds spent recording. Counts do not depend on how fast the device is, so a CPU adapter gives the numbers
 * a GPU will see, as long as the model has the real structure.
 *
 * The model is a random-weight bf16 checkpoint with the real structure (layer count, attention and KV heads, LoRA
 * targets and rank, tied or untied head, attention bias) and shrunk widths (CENSUS_WIDTHS: hidden, intermediate,
 * head dimension, vocabulary), which no count depends on, given two things the widths would otherwise change:
 *   - the LM head of the real vocabulary is stored whole, as on a GPU whose storage binding limit holds it (an H100:
 *     Llama-3.2-1B's head is 525 MB); a 128 MiB limit (lavapipe) would split it into row blocks, one dispatch each;
 *   - the SFT loss runs its LM head in as many row chunks as the real sequence length and vocabulary give with the
 *     default 256 MiB logits budget (LoraModel's headChunkBytes is set so), whatever the census's shorter sequences.
 * Decode steps run as generateBatch runs them (pipelined: step t + 1 recorded and submitted from step t's tokens
 * on the GPU, then step t's tokens read back), with the greedy chooser; prefill is one 512-token prompt into an
 * empty cache; an SFT step is bench sft's (forward, backward, clipping and AdamW of every adapter, losses read back).
 * Each case runs WARMUP_STEPS steps first (pipelines compiled, pool and caches filled), then counts one.
 */
import type { GpuCounts } from '../src/gpu/counters.ts';
import type { GpuContext } from '../src/gpu/context.ts';
import { CommandRecorder, type Dispatch } from '../src/gpu/recorder.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import { Transformer, type SequenceChunk, type TokenChooser } from '../src/inference/transformer.ts';
import { LoraAdapter } from '../src/lora/adapter.ts';
import { loraParameterCount, resolveLoraConfig, type LoraTarget } from '../src/lora/config.ts';
import { initLoraWeights } from '../src/lora/host-weights.ts';
import { expectedWeights, parseModelConfig, type ModelConfig } from '../src/model/config.ts';
import type { KvCache } from '../src/model/kv-cache.ts';
import { syntheticCheckpoint } from '../src/model/synthetic-checkpoint.ts';
import { loadWeights, type ModelWeights } from '../src/model/weights.ts';
import { argmax } from '../src/ops/sampling.ts';
import { HEAD_CHUNK_ALIGN, headChunkRows } from '../src/train/lm-head-loss.ts';
import type { TrainingPrecision } from '../src/train/lora-linear.ts';
import { HF_CONFIGS } from './shapes.ts';
import { randomSequences, SFT_SETUPS, SftRunner } from './sft.ts';
import { now } from './timing.ts';

export const CENSUS_SCHEMA = 'seal-census/1';

export const CENSUS_CASES = ['decode-b1', 'decode-b1-k5', 'decode-b32', 'prefill-512', 'sft-f32-k1', 'sft-mixed-k1', 'sft-mixed-k5'] as const;
export type CensusCaseName = (typeof CENSUS_CASES)[number];

/** The widths the census builds every model at (HF config keys); everything else is the real config's. */
export const CENSUS_WIDTHS = { hidden_size: 256, intermediate_size: 1024, head_dim: 16, vocab_size: 4096 } as const;

/** Steps run before the counted one. */
export const WARMUP_STEPS = 2;
/** Tokens in each sequence's cache before decode steps are counted (no count depends on it). */
const DECODE_CONTEXT = 32;
/** LoraModel's default logits budget per head chunk. */
const DEFAULT_HEAD_CHUNK_BYTES = 256 * 2 ** 20;

/** One model as the census builds it. */
export interface CensusModel {
  name: string;
  /** The real model's HF config: weight bytes per token are computed from it. */
  real: Record<string, unknown>;
  /** The HF config the census builds (the real one with shrunk widths). */
  census: Record<string, unknown>;
  /** LoRA targets, rank and alpha of the adapter cases (bench sft's setup). */
  lora: { targets: LoraTarget[]; rank: number; alpha: number };
  /** Tokens per adapter per SFT step: the real setup's and the census's (one sequence each). */
  sftTokens: { real: number; census: number };
}

/**
 * Tokens per adapter of the census's SFT steps: 1/8 of bench sft's sequence (Llama-3.2-1B: 2048), or near it where
 * that cannot reproduce the real head chunk count at K = 1 and 5 (Qwen2.5-7B: 512 tokens are 2 chunks, 5 x 512 are
 * 7; 64 tokens would be 1 and 5, 80 are 2 and 7).
 */
const CENSUS_SFT_TOKENS: Record<string, number> = { 'Llama-3.2-1B': 256, 'Qwen2.5-7B': 80 };

/** A model of bench/shapes.ts at the census widths. */
export function censusModel(name: string, o: { layers?: number } = {}): CensusModel {
  const key = Object.keys(HF_CONFIGS).find((k) => k.toLowerCase() === name.toLowerCase());
  const setup = key ? SFT_SETUPS[key] : undefined;
  if (!key || !setup) throw new Error(`--models: unknown model '${name}' (available: ${Object.keys(SFT_SETUPS).join(', ')})`);
  const real = HF_CONFIGS[key]!;
  const layers = o.layers ?? (real.num_hidden_layers as number);
  return {
    name: key,
    real: { ...real, num_hidden_layers: layers },
    census: { ...real, ...CENSUS_WIDTHS, num_hidden_layers: layers },
    lora: { targets: setup.targets, rank: setup.rank, alpha: setup.alpha },
    sftTokens: { real: setup.seqLen, census: CENSUS_SFT_TOKENS[key] ?? Math.max(HEAD_CHUNK_ALIGN, setup.seqLen / 8) },
  };
}

export interface CensusCase extends GpuCounts {
  model: string;
  name: CensusCaseName;
  layers: number;
  /** Sequences (decode), prompt tokens (prefill) or tokens over all adapters (SFT) in the step. */
  rows: number;
  adapters: number;
  /**
   * Decode only: bytes of weights one step reads (every base weight once, the embedding rows it gathers, each
   * adapter used), at the real widths and dtypes (bf16 base, f32 LoRA), over the sequences it decodes.
   */
  weightBytesPerToken?: number;
  /** SFT only: LM-head row chunks of the loss, in the census and at the real sequence length and vocabulary. */
  headChunks?: { census: number; real: number };
  /** The step's dispatches per shader (recorded, counted apart from the counters: they sum to `dispatches`). */
  dispatchesByKernel: Record<string, number>;
  /** Wall-clock milliseconds of the counted step on this device (the GPU's work included; not a speed figure). */
  stepMs: number;
}

export interface CensusOptions {
  cases: readonly CensusCaseName[];
  log: (line: string) => void;
  /** Called with each case as it is counted. */
  onCase?: (c: CensusCase) => void;
}

/** Every weight's bytes at `config`'s widths in bf16, as the census's checkpoints store them. */
function baseWeightBytes(config: ModelConfig): { all: number; embedding: number } {
  let all = 0;
  let embedding = 0;
  for (const w of expectedWeights(config)) {
    const bytes = 2 * w.shape.reduce((a, b) => a * b, 1);
    all += bytes;
    if (w.name === 'model.embed_tokens.weight') embedding = bytes;
  }
  return { all, embedding };
}

/**
 * Weight bytes one decode step of `rows` sequences reads: every weight once, except that an untied embedding table
 * is only gathered from (one row per sequence); plus the LoRA A and B (f32) of each of `adapters` adapters.
 */
export function decodeWeightBytes(config: ModelConfig, rows: number, lora: { targets: LoraTarget[]; rank: number } | null, adapters: number): number {
  const { all, embedding } = baseWeightBytes(config);
  const gathered = rows * config.hiddenSize * 2;
  const base = all - (config.tieWordEmbeddings ? 0 : embedding) + gathered;
  return base + (lora && adapters ? adapters * 4 * loraParameterCount(config, lora) : 0);
}

/** Head chunks of a loss over `tokens` tokens with LoraModel's chunk rows for `budget` bytes of logits. */
function headChunkCount(tokens: number, vocab: number, budget: number): number {
  return Math.ceil(tokens / headChunkRows(tokens, vocab, budget));
}

/**
 * A logits budget under which the census's loss over `tokens` tokens runs in the chunk count closest to the real
 * shape's (`realChunks`): chunk rows are multiples of HEAD_CHUNK_ALIGN, so not every count can be matched.
 */
function censusHeadBudget(tokens: number, vocab: number, realChunks: number): number {
  let best = HEAD_CHUNK_ALIGN;
  for (let rows = HEAD_CHUNK_ALIGN; rows < tokens + HEAD_CHUNK_ALIGN; rows += HEAD_CHUNK_ALIGN) {
    if (Math.abs(Math.ceil(tokens / rows) - realChunks) < Math.abs(Math.ceil(tokens / best) - realChunks)) best = rows;
  }
  return best * vocab * 4;
}

interface StepCount {
  counts: GpuCounts;
  dispatchesByKernel: Record<string, number>;
  stepMs: number;
}

/**
 * Counts what `step` asks of the device, after WARMUP_STEPS runs of it; and, apart from the counters, the dispatches
 * it records per shader (every recorder's dispatch() is watched during the counted step).
 */
async function countStep(ctx: GpuContext, step: () => Promise<void>): Promise<StepCount> {
  for (let i = 0; i < WARMUP_STEPS; i++) await step();
  const dispatchesByKernel: Record<string, number> = {};
  const dispatch = CommandRecorder.prototype.dispatch;
  CommandRecorder.prototype.dispatch = function (this: CommandRecorder, d: Dispatch) {
    const [x, y = 1, z = 1] = d.workgroups;
    if (x * y * z > 0) dispatchesByKernel[d.kernel.shader] = (dispatchesByKernel[d.kernel.shader] ?? 0) + 1;
    return dispatch.call(this, d);
  };
  try {
    const before = ctx.counters.snapshot();
    const t = now();
    await step();
    const stepMs = now() - t;
    return { counts: ctx.counters.since(before), dispatchesByKernel, stepMs };
  } finally {
    CommandRecorder.prototype.dispatch = dispatch;
  }
}

/** Greedy next tokens, as generateBatch chooses them at temperature 0. */
function greedy(vocab: number): TokenChooser {
  return (rec, logits, tokens) => argmax(rec, { logits, tokens, rows: tokens.numel, vocab });
}

/** Pipelined decode steps of `rows` sequences (sequence i under adapter i when there are adapters). */
async function decodeCase(ctx: GpuContext, model: Transformer, rows: number, adapters: number): Promise<StepCount> {
  const V = model.config.vocabSize;
  const choose = greedy(V);
  const adapterOf = (slot: number) => (adapters ? slot % adapters : -1);
  const cache: KvCache = model.createCache(DECODE_CONTEXT + WARMUP_STEPS + 3, rows);
  let tokens: Tensor | null = null;
  let read: Promise<unknown> | null = null;
  try {
    const prompts: SequenceChunk[] = Array.from({ length: rows }, (_, slot) => ({
      slot,
      ids: randomSequences(1, DECODE_CONTEXT, V, slot)[0]!.ids,
      adapter: adapterOf(slot),
    }));
    const first = await model.stepBatch(cache, prompts, choose);
    const entries = (ids: (slot: number) => number): SequenceChunk[] =>
      Array.from({ length: rows }, (_, slot) => ({ slot, ids: [ids(slot)], adapter: adapterOf(slot) }));
    tokens = model.launchStep(
      cache,
      entries((slot) => first[slot]!),
      choose,
    );
    read = ctx.read(tokens);
    // One step as generateBatch runs it: submit the next step from this one's tokens on the GPU, then read these.
    return await countStep(ctx, async () => {
      const next = model.launchStep(
        cache,
        entries(() => 0),
        choose,
        tokens!,
      );
      await read;
      ctx.free(tokens);
      tokens = next;
      read = ctx.read(tokens);
    });
  } finally {
    await read?.catch(() => undefined);
    ctx.free(tokens);
    cache.dispose();
  }
}

/** One prompt of `tokens` tokens into an empty cache, its next token chosen and read back. */
async function prefillCase(ctx: GpuContext, model: Transformer, tokens: number): Promise<StepCount> {
  const V = model.config.vocabSize;
  const cache = model.createCache(tokens + 1, 1);
  const ids = randomSequences(1, tokens, V, 7)[0]!.ids;
  try {
    return await countStep(ctx, async () => {
      cache.reset();
      await model.stepBatch(cache, [{ slot: 0, ids }], greedy(V));
    });
  } finally {
    cache.dispose();
  }
}

/** One SFT optimizer step of `adapters` adapters (fused when several), as bench sft runs it. */
async function sftCase(
  ctx: GpuContext,
  m: CensusModel,
  config: ModelConfig,
  weights: ModelWeights,
  precision: TrainingPrecision,
  adapters: number,
): Promise<StepCount & { headChunks: { census: number; real: number } }> {
  const realVocab = parseModelConfig(m.real).vocabSize;
  const tokens = adapters * m.sftTokens.census;
  const real = headChunkCount(adapters * m.sftTokens.real, realVocab, DEFAULT_HEAD_CHUNK_BYTES);
  const headChunkBytes = censusHeadBudget(tokens, config.vocabSize, real);
  const runner = new SftRunner(ctx, config, weights, {
    lora: { ...m.lora, dropout: 0 },
    seqLen: m.sftTokens.census,
    sequencesPerAdapter: 1,
    adapters,
    mode: adapters === 1 ? 'single' : 'fused',
    recompute: false,
    precision,
    learningRate: 1e-4,
    maxGradNorm: 1,
    headChunkBytes,
  });
  try {
    const r = await countStep(ctx, async () => {
      await runner.step();
    });
    return { ...r, headChunks: { census: headChunkCount(tokens, config.vocabSize, headChunkBytes), real } };
  } finally {
    runner.dispose();
  }
}

const DECODE_ROWS: Partial<Record<CensusCaseName, { rows: number; adapters: number }>> = {
  'decode-b1': { rows: 1, adapters: 0 },
  'decode-b1-k5': { rows: 5, adapters: 5 },
  'decode-b32': { rows: 32, adapters: 0 },
};
const SFT: Partial<Record<CensusCaseName, { precision: TrainingPrecision; adapters: number }>> = {
  'sft-f32-k1': { precision: 'f32', adapters: 1 },
  'sft-mixed-k1': { precision: 'mixed', adapters: 1 },
  'sft-mixed-k5': { precision: 'mixed', adapters: 5 },
};
const PREFILL_TOKENS = 512;

/** Counts every case of one model (one checkpoint built for all of them). */
export async function censusCases(ctx: GpuContext, m: CensusModel, o: CensusOptions): Promise<CensusCase[]> {
  const config = parseModelConfig(m.census);
  const realConfig = parseModelConfig(m.real);
  const { source, header } = await syntheticCheckpoint(config, { dtype: 'BF16' });
  const weights = await loadWeights(ctx, config, source, header);
  const lora = resolveLoraConfig({ ...m.lora, dropout: 0 });
  const loraAdapters = Array.from({ length: 5 }, (_, k) => LoraAdapter.upload(ctx, config, initLoraWeights(config, lora, { seed: k + 1, b: 'random' })));
  const model = new Transformer(ctx, config, weights);
  const out: CensusCase[] = [];
  try {
    for (const name of o.cases) {
      const common = { model: m.name, name, layers: config.numLayers };
      let c: CensusCase;
      const decode = DECODE_ROWS[name];
      const sft = SFT[name];
      if (decode) {
        model.setAdapters(decode.adapters ? loraAdapters.slice(0, decode.adapters) : []);
        const { counts, ...rest } = await decodeCase(ctx, model, decode.rows, decode.adapters);
        const bytes = decodeWeightBytes(realConfig, decode.rows, m.lora, decode.adapters);
        c = { ...common, rows: decode.rows, adapters: decode.adapters, ...counts, weightBytesPerToken: bytes / decode.rows, ...rest };
      } else if (sft) {
        const { counts, ...rest } = await sftCase(ctx, m, config, weights, sft.precision, sft.adapters);
        c = { ...common, rows: sft.adapters * m.sftTokens.census, adapters: sft.adapters, ...counts, ...rest };
      } else {
        model.setAdapters([]);
        const { counts, ...rest } = await prefillCase(ctx, model, PREFILL_TOKENS);
        c = { ...common, rows: PREFILL_TOKENS, adapters: 0, ...counts, ...rest };
      }
      out.push(c);
      o.onCase?.(c);
      o.log(censusRow(c));
    }
  } finally {
    model.dispose();
    for (const a of loraAdapters) a.dispose();
    weights.dispose();
    ctx.pool.trim();
  }
  return out;
}

const COLUMNS: [string, number, (c: CensusCase) => string][] = [
  ['model', 13, (c) => c.model],
  ['case', 13, (c) => c.name],
  ['dispatches', 10, (c) => String(c.dispatches)],
  ['submits', 7, (c) => String(c.submits)],
  ['waits', 5, (c) => String(c.hostWaits)],
  ['bind groups', 11, (c) => String(c.bindGroupsCreated)],
  ['pipelines', 9, (c) => String(c.pipelinesCreated)],
  ['buffers', 7, (c) => String(c.buffersCreated)],
  ['up KiB', 8, (c) => (c.bytesUploaded / 1024).toFixed(1)],
  ['read KiB', 8, (c) => (c.bytesReadBack / 1024).toFixed(1)],
  ['record ms', 9, (c) => c.recordMs.toFixed(2)],
  ['weight MB/token', 15, (c) => (c.weightBytesPerToken === undefined ? '-' : (c.weightBytesPerToken / 1e6).toFixed(1))],
];

export function censusHeader(): string {
  return COLUMNS.map(([title, width], i) => (i < 2 ? title.padEnd(width) : title.padStart(width))).join('  ');
}

export function censusRow(c: CensusCase): string {
  return COLUMNS.map(([, width, cell], i) => (i < 2 ? cell(c).padEnd(width) : cell(c).padStart(width))).join('  ');
}
