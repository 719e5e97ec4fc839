/**
 * The config.json of the models the SEAL paper uses, as published (architecture, RoPE, norms, tying): random-weight
 * models at the real shape (src/model/synthetic-checkpoint.ts) for benchmarks and the browser's timing control.
 */

/** meta-llama/Llama-3.2-1B(-Instruct). */
export const LLAMA_3_2_1B_CONFIG: Readonly<Record<string, unknown>> = Object.freeze({
  architectures: ['LlamaForCausalLM'],
  hidden_size: 2048,
  intermediate_size: 8192,
  num_hidden_layers: 16,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  head_dim: 64,
  vocab_size: 128256,
  rms_norm_eps: 1e-5,
  rope_theta: 500000,
  rope_scaling: { factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  tie_word_embeddings: true,
  max_position_embeddings: 131072,
  bos_token_id: 128000,
  eos_token_id: 128001,
});
