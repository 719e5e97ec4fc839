/** The model shapes the kernel benchmark runs: the projections of the two models the SEAL paper uses. */
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
