/** The model shapes the kernel benchmark runs: the projections of the two models the SEAL paper uses. */
import { LLAMA_3_2_1B_CONFIG } from '../src/model/reference-configs.ts';

export interface ModelShape {
  name: string;
  hidden: number;
  intermediate: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
}

export const LLAMA_3_2_1B: ModelShape = { name: 'Llama-3.2-1B', hidden: 2048, intermediate: 8192, heads: 32, kvHeads: 8, headDim: 64, vocab: 128256 };
export const QWEN_2_5_7B: ModelShape = { name: 'Qwen2.5-7B', hidden: 3584, intermediate: 18944, heads: 28, kvHeads: 4, headDim: 128, vocab: 152064 };

/** (name, out features N, in features K) of every linear layer of a decoder block, plus the LM head. */
export function projections(m: ModelShape): [string, number, number][] {
  return [
    ['q_proj', m.heads * m.headDim, m.hidden],
    ['k_proj', m.kvHeads * m.headDim, m.hidden],
    ['o_proj', m.hidden, m.heads * m.headDim],
    ['gate_proj', m.intermediate, m.hidden],
    ['down_proj', m.hidden, m.intermediate],
    ['lm_head', m.vocab, m.hidden],
  ];
}

/** The models' config.json (architecture, RoPE, norms, tying) as published, for random-weight models at the real shape. */
export const HF_CONFIGS: Record<string, Record<string, unknown>> = {
  [LLAMA_3_2_1B.name]: { ...LLAMA_3_2_1B_CONFIG },
  [QWEN_2_5_7B.name]: {
    architectures: ['Qwen2ForCausalLM'],
    hidden_size: 3584,
    intermediate_size: 18944,
    num_hidden_layers: 28,
    num_attention_heads: 28,
    num_key_value_heads: 4,
    vocab_size: 152064,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    tie_word_embeddings: false,
    max_position_embeddings: 131072,
    bos_token_id: 151643,
    eos_token_id: 151643,
  },
};
