/**
 * Whether a model fits a device, and the memory-saving settings the engine runs it with, decided before any weight
 * is downloaded (from config.json and the files' sizes). Only settings the engine implements:
 *   recompute       SftOptions.recompute (per-layer activation recomputation in training);
 *   precision       SftOptions.precision 'mixed' (16-bit operands for the frozen base's products) with shader-f16,
 *                   else 'f32';
 *   matmul          TransformerOptions.matmul 'auto' (may round activations to f16) with shader-f16, else 'f32';
 *   TTT batch       the ARC TTT batch size (2, the reference's; 1 when memory is short);
 *   TTT rank        the LoRA rank of TTT (128, the reference's; capped when memory is short);
 *   maxPassTokens   SftOptions.maxPassTokens (a long micro-batch runs as several passes; same result).
 * Weights stay in the checkpoint's dtype (bf16 / f16 checkpoints are 16-bit on the GPU already).
 *
 * Fit: a weight too big for one storage binding is split into row blocks (src/model/split-weight.ts), which works
 * unless one row exceeds the binding limit; that, and an estimate of the loop's memory above what the device
 * likely has, refuse the model, naming the limit and the amount. WebGPU does not tell a device's memory: the
 * estimate is compared with navigator.deviceMemory (the machine's RAM in GiB, at most 8: a lower bound; integrated
 * GPUs share it), or a size the caller passes; without either, only the binding limit is checked.
 */
import { expectedWeights, type ModelConfig } from '../../src/model/config.ts';
import { activationBytes } from '../../src/train/sft.ts';
import type { MemoryPlan } from './api.ts';

export interface DeviceFacts {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  shaderF16: boolean;
  /** Bytes of memory the device likely has (null: unknown). */
  memoryBytes: number | null;
}

export interface FitVerdict {
  params: number;
  /** Bytes per weight on the GPU (the checkpoint's dtype). */
  bytesPerParam: number;
  estimatedGpuBytes: number;
  fits: boolean;
  reason?: string;
  plan: MemoryPlan;
}

/** The TTT LoRA targets (the ARC default: q, v, gate, up, down). */
const TTT_TARGETS = ['q_proj', 'v_proj', 'gate_proj', 'up_proj', 'down_proj'];
/** Tokens of a long ARC TTT example (the 1B set's are ~1300 with the Llama-3.2 template). */
const EXAMPLE_TOKENS = 2048;
/** Sequences and positions of the KV cache when scoring (11 queries of ~800 tokens for a typical task). */
const SCORING_SLOTS = 8;
const SCORING_POSITIONS = 2048;
/** Recompute when one pass's activations would exceed this (trainSft's 'auto' threshold). */
const RECOMPUTE_ABOVE_BYTES = 512 * 2 ** 20;

const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** Parameters of the checkpoint (from the config's tensor shapes). */
export function parameterCount(config: ModelConfig): number {
  return expectedWeights(config).reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
}

/** f32 bytes of one TTT candidate's LoRA state: weights, gradients and AdamW's two moments. */
function loraBytes(config: ModelConfig, rank: number): number {
  const { hiddenSize: h, intermediateSize: ff, headDim: d, numHeads, numKvHeads } = config;
  const dims: Record<string, [number, number]> = {
    q_proj: [h, numHeads * d],
    v_proj: [h, numKvHeads * d],
    gate_proj: [h, ff],
    up_proj: [h, ff],
    down_proj: [ff, h],
  };
  const perLayer = TTT_TARGETS.reduce((n, t) => n + rank * (dims[t]![0] + dims[t]![1]), 0);
  return 4 * 4 * perLayer * config.numLayers;
}

interface Setting {
  rank: number;
  batch: number;
  recompute: boolean;
}

/** Estimated GPU bytes of the loop: weights, one candidate's LoRA state, training activations, the scoring KV cache. */
function estimate(config: ModelConfig, weightBytes: number, s: Setting): number {
  const tokens = s.batch * Math.min(EXAMPLE_TOKENS, config.maxPositionEmbeddings);
  const activations = s.recompute ? (2 * activationBytes(config, tokens)) / config.numLayers : activationBytes(config, tokens);
  const positions = Math.min(SCORING_POSITIONS, config.maxPositionEmbeddings);
  const kv = 2 * config.numLayers * config.numKvHeads * config.headDim * 4 * positions * SCORING_SLOTS;
  return weightBytes + loraBytes(config, s.rank) + activations + kv;
}

/** The most generous setting first; each next one saves memory. */
function settingsToTry(): Setting[] {
  const out: Setting[] = [
    { rank: 128, batch: 2, recompute: false },
    { rank: 128, batch: 2, recompute: true },
    { rank: 128, batch: 1, recompute: true },
  ];
  for (const rank of [64, 32, 16, 8]) out.push({ rank, batch: 1, recompute: true });
  return out;
}

/**
 * Whether `config` (with `weightBytes` of weights) fits the device, and the memory plan for it. Never throws for a
 * model that does not fit: `fits` is false and `reason` says which limit and by how much.
 */
export function checkFit(config: ModelConfig, weightBytes: number, device: DeviceFacts): FitVerdict {
  const params = parameterCount(config);
  const bytesPerParam = params > 0 ? Math.max(2, Math.round(weightBytes / params)) : 4;
  const binding = Math.min(device.maxStorageBufferBindingSize, device.maxBufferSize);

  // One row of a weight must fit a binding: the split into row blocks cannot go below a row.
  let widest = { name: '', rowBytes: 0 };
  for (const w of expectedWeights(config)) {
    const rowBytes = w.shape.slice(1).reduce((a, b) => a * b, 1) * bytesPerParam;
    if (rowBytes > widest.rowBytes) widest = { name: w.name, rowBytes };
  }

  const tries = settingsToTry();
  const chosen = device.memoryBytes === null ? tries[0]! : (tries.find((s) => estimate(config, weightBytes, s) <= device.memoryBytes!) ?? tries.at(-1)!);
  const estimatedGpuBytes = estimate(config, weightBytes, chosen);
  const plan = memoryPlan(config, weightBytes, device, chosen);

  let reason: string | undefined;
  if (widest.rowBytes > binding) {
    const limit = binding === device.maxStorageBufferBindingSize ? 'maxStorageBufferBindingSize' : 'maxBufferSize';
    reason =
      `one row of ${widest.name} takes ${widest.rowBytes} bytes, over this device's ${limit} of ${binding} bytes by ${widest.rowBytes - binding}: ` +
      'a weight is split into blocks of whole rows, so this model cannot be loaded here';
  } else if (device.memoryBytes !== null && estimatedGpuBytes > device.memoryBytes) {
    reason =
      `the SEAL loop needs about ${gib(estimatedGpuBytes)} (${gib(weightBytes)} of weights) even with every memory saving (LoRA rank ${chosen.rank}, batch 1, recompute), ` +
      `over the ~${gib(device.memoryBytes)} this device likely has by ${gib(estimatedGpuBytes - device.memoryBytes)}: use a smaller model`;
  }
  return { params, bytesPerParam, estimatedGpuBytes, fits: reason === undefined, ...(reason ? { reason } : {}), plan };
}

function memoryPlan(config: ModelConfig, weightBytes: number, device: DeviceFacts, s: Setting): MemoryPlan {
  const memory = device.memoryBytes === null ? 'device memory unknown' : `~${gib(device.memoryBytes)} of device memory`;
  const need = (x: Setting) => gib(estimate(config, weightBytes, x));
  const generous = settingsToTry()[0]!;
  const tokens = s.batch * Math.min(EXAMPLE_TOKENS, config.maxPositionEmbeddings);
  const activations = activationBytes(config, tokens);
  const recompute = s.recompute || activations > RECOMPUTE_ABOVE_BYTES;
  return {
    recompute: {
      value: recompute,
      reason: recompute
        ? `a training pass of ${tokens} tokens keeps ${mib(activations)} of activations; recomputing each layer keeps one layer's (${memory})`
        : `a training pass of ${tokens} tokens keeps ${mib(activations)} of activations, which fits (${memory})`,
    },
    precision: device.shaderF16
      ? { value: 'mixed', reason: "shader-f16: the frozen base's products in training take 16-bit operands (seal arc --precision mixed)" }
      : { value: 'f32', reason: 'no shader-f16 on this device: training runs in f32' },
    matmul: device.shaderF16
      ? { value: 'auto', reason: 'shader-f16: inference may round activations to f16 on the fastest kernels' }
      : { value: 'f32', reason: 'no shader-f16 on this device: inference runs in f32' },
    tttBatchSize: {
      value: s.batch,
      reason: s.batch === generous.batch ? 'the reference TTT batch (2)' : `batch 2 needs ~${need({ ...s, batch: 2 })}, over ${memory}: 1 example per step`,
    },
    tttRank: {
      value: s.rank,
      reason:
        s.rank === generous.rank
          ? `the reference TTT rank (128): ${mib(loraBytes(config, 128))} of LoRA state per candidate`
          : `rank 128 needs ~${need({ ...s, rank: 128 })}, over ${memory}: rank capped at ${s.rank} (${mib(loraBytes(config, s.rank))} per candidate)`,
    },
    maxPassTokens: recompute
      ? { value: Math.min(EXAMPLE_TOKENS, config.maxPositionEmbeddings), reason: 'a micro-batch runs one example per pass at most, to keep a pass small' }
      : { value: null, reason: 'a micro-batch runs in one pass' },
  };
}

/** What the browser says the device likely has (navigator.deviceMemory, GiB, capped at 8 by browsers), or null. */
export function likelyDeviceMemory(): number | null {
  const gb = (globalThis.navigator as (Navigator & { deviceMemory?: number }) | undefined)?.deviceMemory;
  return typeof gb === 'number' && gb > 0 ? gb * 2 ** 30 : null;
}
