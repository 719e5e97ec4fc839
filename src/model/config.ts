/**
 * HF config.json → a typed ModelConfig for the architectures this engine runs (Llama, Qwen2), and a check that a
 * checkpoint's tensors match it. Everything is validated up front so a wrong or unsupported model fails with one
 * clear message instead of a shape error deep inside a kernel.
 */
import { ropeInverseFrequencies, type RopeScaling } from '../ops/rope.ts';
import type { SafetensorsHeader } from './safetensors.ts';

export type Architecture = 'llama' | 'qwen2';

/** HF `architectures[0]` → our architecture. */
export const SUPPORTED_ARCHITECTURES: Record<string, Architecture> = {
  LlamaForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2',
};

export interface ModelConfig {
  architecture: Architecture;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** HF's rope_scaling object as is, or null for plain RoPE. */
  ropeScaling: RopeScaling | null;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (always for Qwen2; never for the Llama configs supported here). */
  attentionBias: boolean;
  maxPositionEmbeddings: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

/**
 * Parses a HF config.json object. `generationConfig` (generation_config.json), when given, overrides the EOS ids:
 * HF's generate() uses its list (e.g. Llama-3 Instruct stops on <|eot_id|> too, which config.json does not list).
 */
export function parseModelConfig(json: unknown, generationConfig?: unknown): ModelConfig {
  const fail = (what: string): never => {
    throw new Error(`model config: ${what}`);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('config.json is not a JSON object');
  const c = json as Record<string, unknown>;

  const archName = Array.isArray(c.architectures) ? c.architectures[0] : undefined;
  const supported = Object.keys(SUPPORTED_ARCHITECTURES).join(', ');
  if (typeof archName !== 'string') fail(`config.architectures is missing; supported architectures: ${supported}`);
  const architecture = SUPPORTED_ARCHITECTURES[archName as string];
  if (!architecture) fail(`unsupported architecture '${archName}'; supported architectures: ${supported}`);

  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) fail(`${key} must be a positive integer, got ${JSON.stringify(c[key])}`);
    return v as number;
  };
  const positive = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) fail(`${key} must be a positive number, got ${JSON.stringify(c[key])}`);
    return v as number;
  };

  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) fail(`num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  if (c.head_dim == null && hiddenSize % numHeads !== 0)
    fail(`hidden_size (${hiddenSize}) is not divisible by num_attention_heads (${numHeads}) and head_dim is not given`);
  const headDim = int('head_dim', hiddenSize / numHeads);

  // Variants whose extra weights or masks the engine does not implement: refuse them rather than run them wrong.
  const act = c.hidden_act ?? 'silu';
  if (act !== 'silu') fail(`hidden_act '${String(act)}' is not supported (only silu)`);
  if (architecture === 'llama' && c.attention_bias === true) fail('Llama attention_bias=true (biased q/k/v/o projections) is not supported');
  if (c.mlp_bias === true) fail('mlp_bias=true is not supported');
  if (architecture === 'qwen2' && c.use_sliding_window === true) fail('Qwen2 use_sliding_window=true is not supported');

  const ropeScaling = (c.rope_scaling ?? null) as RopeScaling | null;
  if (ropeScaling !== null && (typeof ropeScaling !== 'object' || Array.isArray(ropeScaling)))
    fail(`rope_scaling must be an object or null, got ${JSON.stringify(ropeScaling)}`);
  const ropeTheta = positive('rope_theta', 10000);
  try {
    ropeInverseFrequencies({ headDim, ropeTheta, ropeScaling }); // validates rope type and parameters now, not at load
  } catch (e) {
    fail((e as Error).message);
  }

  const tokenIds = (v: unknown, key: string): number[] => {
    const ids = v == null ? [] : Array.isArray(v) ? v : [v];
    if (!ids.every((id) => typeof id === 'number' && Number.isSafeInteger(id) && id >= 0))
      fail(`${key} must be a token id or a list of them, got ${JSON.stringify(v)}`);
    return ids as number[];
  };
  const bos = tokenIds(c.bos_token_id, 'bos_token_id');
  let eosTokenIds = tokenIds(c.eos_token_id, 'eos_token_id');
  if (generationConfig != null) {
    const g = generationConfig as Record<string, unknown>;
    if (g.eos_token_id != null) eosTokenIds = tokenIds(g.eos_token_id, 'generation_config eos_token_id');
  }

  return {
    architecture: architecture as Architecture,
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: int('vocab_size'),
    rmsNormEps: positive('rms_norm_eps', 1e-6),
    ropeTheta,
    ropeScaling,
    tieWordEmbeddings: c.tie_word_embeddings === true, // LlamaConfig and Qwen2Config default to untied
    attentionBias: architecture === 'qwen2',
    maxPositionEmbeddings: int('max_position_embeddings', architecture === 'qwen2' ? 32768 : 2048), // HF class defaults
    bosTokenId: bos[0] ?? null,
    eosTokenIds: [...new Set(eosTokenIds)],
  };
}

export interface ExpectedWeight {
  name: string;
  shape: number[];
}

/** Every tensor a checkpoint must hold for this config, with HF names and [out, in] Linear shapes. */
export function expectedWeights(cfg: ModelConfig): ExpectedWeight[] {
  const { hiddenSize: h, intermediateSize: ff, headDim: d, numHeads, numKvHeads, vocabSize } = cfg;
  const out: ExpectedWeight[] = [{ name: 'model.embed_tokens.weight', shape: [vocabSize, h] }];
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `model.layers.${i}`;
    out.push(
      { name: `${p}.input_layernorm.weight`, shape: [h] },
      { name: `${p}.self_attn.q_proj.weight`, shape: [numHeads * d, h] },
      { name: `${p}.self_attn.k_proj.weight`, shape: [numKvHeads * d, h] },
      { name: `${p}.self_attn.v_proj.weight`, shape: [numKvHeads * d, h] },
    );
    if (cfg.attentionBias) {
      out.push(
        { name: `${p}.self_attn.q_proj.bias`, shape: [numHeads * d] },
        { name: `${p}.self_attn.k_proj.bias`, shape: [numKvHeads * d] },
        { name: `${p}.self_attn.v_proj.bias`, shape: [numKvHeads * d] },
      );
    }
    out.push(
      { name: `${p}.self_attn.o_proj.weight`, shape: [h, numHeads * d] },
      { name: `${p}.post_attention_layernorm.weight`, shape: [h] },
      { name: `${p}.mlp.gate_proj.weight`, shape: [ff, h] },
      { name: `${p}.mlp.up_proj.weight`, shape: [ff, h] },
      { name: `${p}.mlp.down_proj.weight`, shape: [h, ff] },
    );
  }
  out.push({ name: 'model.norm.weight', shape: [h] });
  if (!cfg.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [vocabSize, h] });
  return out;
}

const FLOAT_DTYPES = new Set(['F32', 'F16', 'BF16']);

/**
 * Checks that the checkpoint (one header, or the shards of a sharded model) holds every expected tensor with the
 * expected shape and a float dtype; throws one error listing every problem. Extra tensors are allowed.
 */
export function checkWeights(cfg: ModelConfig, headers: SafetensorsHeader | SafetensorsHeader[]): void {
  const shards = Array.isArray(headers) ? headers : [headers];
  const problems: string[] = [];
  for (const { name, shape } of expectedWeights(cfg)) {
    const found = shards.map((s) => s.tensors.get(name)).find((t) => t !== undefined);
    if (!found) {
      problems.push(`missing ${name} [${shape.join(', ')}]`);
    } else if (found.shape.length !== shape.length || found.shape.some((n, i) => n !== shape[i])) {
      problems.push(`${name}: shape [${found.shape.join(', ')}], config expects [${shape.join(', ')}]`);
    } else if (!FLOAT_DTYPES.has(found.dtype)) {
      problems.push(`${name}: dtype ${found.dtype}, expected F32, F16 or BF16`);
    }
  }
  if (problems.length > 0) {
    const files = shards.map((s) => s.file).join(', ');
    throw new Error(
      `weights in ${files} do not match the ${cfg.architecture} config (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n  ${problems.join('\n  ')}`,
    );
  }
}
