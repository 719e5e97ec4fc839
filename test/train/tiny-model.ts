/** Tiny random Llama / Qwen2 checkpoints, LoRA adapters and packed batches for the LoRA training tests. */
import type { GpuContext } from '../../src/gpu/context.ts';
import type { LoraHostWeights } from '../../src/lora/host-weights.ts';
import { memorySource } from '../../src/model/byte-source.ts';
import { expectedWeights, type ModelConfig } from '../../src/model/config.ts';
import { parseSafetensorsHeader, readTensorF32 } from '../../src/model/safetensors.ts';
import { writeSafetensors } from '../../src/model/safetensors-writer.ts';
import { loadWeights, type ModelWeights } from '../../src/model/weights.ts';
import { packTrainingSequences, type PackedTrainBatch } from '../../src/train/batch.ts';
import { randn } from '../harness/numerics.ts';
import type { RefLora } from '../ref/lora-transformer.ts';
import type { Weights } from '../ref/transformer.ts';

/** A tiny tied-embedding Llama (GQA 5:1): the base the other tiny configs vary. */
export const TINY_LLAMA: ModelConfig = {
  architecture: 'llama',
  hiddenSize: 30,
  intermediateSize: 45,
  numLayers: 2,
  numHeads: 5,
  numKvHeads: 1,
  headDim: 6,
  vocabSize: 37,
  rmsNormEps: 1e-6,
  ropeTheta: 10000,
  ropeScaling: null,
  tieWordEmbeddings: true,
  attentionBias: false,
  maxPositionEmbeddings: 256,
  bosTokenId: null,
  eosTokenIds: [],
};

/**
 * GQA (9 query heads on 3 KV heads), llama3 rope_scaling, untied head. No size is a multiple of 4, so every
 * matmul takes its scalar (non-vec4) loads; QWEN2 below has multiples of 4 and takes the vec4 ones.
 */
export const LLAMA_GQA: ModelConfig = {
  ...TINY_LLAMA,
  hiddenSize: 34,
  intermediateSize: 50,
  numHeads: 9,
  numKvHeads: 3,
  headDim: 6,
  vocabSize: 41,
  tieWordEmbeddings: false,
  ropeTheta: 500000,
  ropeScaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 },
};

/** Qwen2: q/k/v biases, tied embeddings, rope_theta 1e6. */
export const QWEN2: ModelConfig = {
  ...TINY_LLAMA,
  architecture: 'qwen2',
  attentionBias: true,
  hiddenSize: 32,
  intermediateSize: 44,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 8,
  ropeTheta: 1e6,
};

export type CheckpointDType = 'F32' | 'BF16' | 'F16';

/** A random checkpoint as .safetensors bytes (norm weights near 1, projections N(0, 0.3²)). */
export function randomCheckpoint(config: ModelConfig, dtype: CheckpointDType, r: () => number): Uint8Array {
  const entries = expectedWeights(config).map(({ name, shape }) => {
    const numel = shape.reduce((a, b) => a * b, 1);
    const isNorm = name.endsWith('norm.weight');
    const scale = isNorm ? 0.2 : name.endsWith('.bias') ? 0.5 : name.includes('embed') || name.startsWith('lm_head') ? 1 : 0.3;
    const data = randn(numel, r, scale).map((x) => (isNorm ? x + 1 : x));
    return { name, dtype, shape, data };
  });
  return writeSafetensors(entries);
}

/** The checkpoint on the GPU, and the same (16-bit rounded) values on the host for the f64 references. */
export async function loadTinyModel(
  ctx: GpuContext,
  config: ModelConfig,
  dtype: CheckpointDType,
  r: () => number,
): Promise<{ weights: ModelWeights; ref: Weights }> {
  const source = memorySource(randomCheckpoint(config, dtype, r), 'tiny.safetensors');
  const header = await parseSafetensorsHeader(source);
  const ref: Weights = new Map();
  for (const name of header.tensors.keys()) ref.set(name, await readTensorF32(source, header, name));
  return { weights: await loadWeights(ctx, config, source, header), ref };
}

/** The f64 reference's view of host LoRA weights (copies, so finite differences can perturb them). */
export function refLora(host: LoraHostWeights): RefLora {
  return {
    rank: host.config.rank,
    scale: host.config.scale,
    modules: new Map(host.modules.map((m) => [m.path, { a: Float64Array.from(m.a), b: Float64Array.from(m.b) }])),
  };
}

export interface BatchOptions {
  /** Probability that a label is masked (-100) beyond the sequences' last tokens. */
  maskProb?: number;
  /** Give unmasked positions random weights in (0.25, 1.75] instead of 1. */
  fractionalWeights?: boolean;
}

/** Random sequences of the given lengths packed into one batch, with masked labels. */
export function randomBatch(r: () => number, lengths: readonly number[], vocab: number, opts: BatchOptions = {}): PackedTrainBatch {
  const sequences = lengths.map((n) => {
    const ids = Array.from({ length: n }, () => Math.floor(r() * vocab));
    const labels = ids.map((id) => (r() < (opts.maskProb ?? 0) ? -100 : id));
    return { ids, labels };
  });
  const batch = packTrainingSequences(sequences);
  const weights = Array.from(batch.weights, (w) => (w !== 0 && opts.fractionalWeights ? 0.25 + 1.5 * r() : w));
  return { ...batch, weights };
}
