/**
 * LoRA configuration (PEFT semantics) and the geometry of the adapted projections: which linear layers of a
 * Llama / Qwen2 decoder get an adapter, and their [out, in] sizes. An adapted projection computes
 *   y = x·Wᵀ (+ bias) + s·(x·Aᵀ)·Bᵀ,   A [r, in], B [out, r],   s = alpha / r   (rsLora: alpha / sqrt(r)).
 */
import type { ModelConfig } from '../model/config.ts';

/** The projections of a decoder layer that can carry an adapter, in canonical (HF module) order. */
export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

const ATTENTION_TARGETS: ReadonlySet<LoraTarget> = new Set(['q_proj', 'k_proj', 'v_proj', 'o_proj']);

export interface LoraConfig {
  /** Projections to adapt (any order; duplicates are ignored). */
  targets: readonly string[];
  rank: number;
  alpha: number;
  /** Rank-stabilized LoRA: scale alpha / sqrt(r) instead of alpha / r. Default false. */
  rsLora?: boolean;
  /** Must be 0 (or omitted): training here is deterministic and has no dropout. */
  dropout?: number;
}

/** A validated config: targets deduplicated in canonical order, and the scale s. */
export interface ResolvedLoraConfig {
  targets: LoraTarget[];
  rank: number;
  alpha: number;
  rsLora: boolean;
  dropout: 0;
  scale: number;
}

export function isLoraTarget(name: string): name is LoraTarget {
  return (LORA_TARGETS as readonly string[]).includes(name);
}

/** Validates a config; every error names the field, the bad value and what is allowed. */
export function resolveLoraConfig(c: LoraConfig): ResolvedLoraConfig {
  const fail = (what: string): never => {
    throw new Error(`LoRA config: ${what}`);
  };
  if (typeof c !== 'object' || c === null) fail('expected an object { targets, rank, alpha }');
  if (!Array.isArray(c.targets) || c.targets.length === 0) fail(`targets must be a non-empty list of ${LORA_TARGETS.join(', ')}`);
  for (const t of c.targets) {
    if (typeof t !== 'string' || !isLoraTarget(t)) fail(`unknown target module ${JSON.stringify(t)}; supported: ${LORA_TARGETS.join(', ')}`);
  }
  if (!Number.isSafeInteger(c.rank) || c.rank < 1) fail(`rank must be a positive integer, got ${c.rank}`);
  if (typeof c.alpha !== 'number' || !Number.isFinite(c.alpha) || c.alpha <= 0) fail(`alpha must be a finite positive number, got ${c.alpha}`);
  if (c.rsLora !== undefined && typeof c.rsLora !== 'boolean') fail(`rsLora must be a boolean, got ${JSON.stringify(c.rsLora)}`);
  const dropout = c.dropout ?? 0;
  if (dropout !== 0) fail(`dropout ${dropout} is not supported: LoRA training here is deterministic, so dropout must be 0`);
  const rsLora = c.rsLora ?? false;
  return {
    targets: LORA_TARGETS.filter((t) => c.targets.includes(t)),
    rank: c.rank,
    alpha: c.alpha,
    rsLora,
    dropout: 0,
    scale: loraScale(c.alpha, c.rank, rsLora),
  };
}

/** s = alpha / r, or alpha / sqrt(r) for rsLora (PEFT's LoraLayer.update_layer). */
export function loraScale(alpha: number, rank: number, rsLora = false): number {
  return rsLora ? alpha / Math.sqrt(rank) : alpha / rank;
}

/** One adapted projection of one layer. */
export interface LoraModule {
  layer: number;
  target: LoraTarget;
  /** HF module path, e.g. model.layers.3.self_attn.q_proj (its weight is `${path}.weight`). */
  path: string;
  inFeatures: number;
  outFeatures: number;
}

export function loraModulePath(layer: number, target: LoraTarget): string {
  return `model.layers.${layer}.${ATTENTION_TARGETS.has(target) ? 'self_attn' : 'mlp'}.${target}`;
}

/** [out, in] of a projection's HF Linear weight. */
export function projectionShape(model: ModelConfig, target: LoraTarget): { outFeatures: number; inFeatures: number } {
  const { hiddenSize: h, intermediateSize: ff, headDim: d, numHeads, numKvHeads } = model;
  switch (target) {
    case 'q_proj':
      return { outFeatures: numHeads * d, inFeatures: h };
    case 'k_proj':
    case 'v_proj':
      return { outFeatures: numKvHeads * d, inFeatures: h };
    case 'o_proj':
      return { outFeatures: h, inFeatures: numHeads * d };
    case 'gate_proj':
    case 'up_proj':
      return { outFeatures: ff, inFeatures: h };
    case 'down_proj':
      return { outFeatures: h, inFeatures: ff };
  }
}

/** Every adapted projection, layer by layer, targets in canonical order. */
export function loraModules(model: ModelConfig, targets: readonly LoraTarget[]): LoraModule[] {
  const ordered = LORA_TARGETS.filter((t) => targets.includes(t));
  const out: LoraModule[] = [];
  for (let layer = 0; layer < model.numLayers; layer++) {
    for (const target of ordered) out.push({ layer, target, path: loraModulePath(layer, target), ...projectionShape(model, target) });
  }
  return out;
}

/** Trainable parameters: r·(in + out) per adapted projection. */
export function loraParameterCount(model: ModelConfig, config: Pick<ResolvedLoraConfig, 'targets' | 'rank'>): number {
  return loraModules(model, config.targets).reduce((n, m) => n + config.rank * (m.inFeatures + m.outFeatures), 0);
}
