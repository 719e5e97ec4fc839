import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { parseModelConfig, type ModelConfig } from '../../src/model/config.ts';
import { parseSafetensorsHeader, readTensorF32 } from '../../src/model/safetensors.ts';
import { fileSource, readJsonFile } from '../../runtime-node/file-source.ts';
import { freshSeed, randn, rng } from '../harness/numerics.ts';
import { referenceGreedy, referenceLogits, type Weights } from '../ref/transformer.ts';
import { sharedPath } from '../harness/shared.ts';

const STORIES = sharedPath('models/stories260K');

async function loadStories() {
  const cfg = parseModelConfig(await readJsonFile(`${STORIES}/config.json`));
  const src = fileSource(`${STORIES}/model.safetensors`);
  const header = await parseSafetensorsHeader(src);
  const weights: Weights = new Map();
  for (const name of header.tensors.keys()) weights.set(name, await readTensorF32(src, header, name));
  const tokenizer = new Tokenizer(
    (await readJsonFile(`${STORIES}/tokenizer.json`)) as object,
    (await readJsonFile(`${STORIES}/tokenizer_config.json`)) as object,
  );
  return { cfg, weights, tokenizer };
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('f64 reference transformer', () => {
  it('stories260K greedy-decodes the known continuation', async () => {
    const { cfg, weights, tokenizer } = await loadStories();
    const ids = tokenizer.encode('Once upon a time, there was a dog named').ids;
    expect(ids[0]).toBe(1); // the tokenizer adds BOS
    expect(ids).toEqual([1, 403, 407, 261, 378, 432, 383, 286, 261, 400, 428, 395]);
    const generated = referenceGreedy(cfg, weights, ids, 30);
    // Decode prompt + continuation and cut the prompt off: decoding the continuation alone would drop its
    // leading space (the SentencePiece decoder strips the first token's '▁').
    const opts = { skip_special_tokens: true };
    const prompt = tokenizer.decode(ids, opts);
    const full = tokenizer.decode([...ids, ...generated], opts);
    expect(full.startsWith(prompt)).toBe(true);
    const text = full.slice(prompt.length);
    expect(text.startsWith(' Max. Max loved to play'), `continuation was ${JSON.stringify(text)}`).toBe(true);
    expect(text).toMatch(/^ Max\. Max loved to play with his toys/);
  });

  it('stories260K from BOS alone tells the llama2.c sample story', async () => {
    const { cfg, weights, tokenizer } = await loadStories();
    const text = tokenizer.decode(referenceGreedy(cfg, weights, [1], 16), { skip_special_tokens: true });
    expect(text).toMatch(/^Once upon a time, there was a little girl named Lily/);
  });

  it('is causal: logits of a prefix do not depend on later tokens', async () => {
    const { cfg, weights } = await loadStories();
    const a = referenceLogits(cfg, weights, [1, 403, 407, 261, 378]);
    const b = referenceLogits(cfg, weights, [1, 403, 407, 9, 17]);
    for (let i = 0; i < 3; i++) expect(maxAbsDiff(a[i]!, b[i]!)).toBe(0);
    expect(maxAbsDiff(a[4]!, b[4]!)).toBeGreaterThan(1e-3);
  });

  it('qwen2 q/k/v bias and untied head paths (random tiny model, odd head counts)', () => {
    const seed = freshSeed();
    const r = rng(seed);
    const llama: ModelConfig = {
      architecture: 'llama',
      hiddenSize: 30,
      intermediateSize: 17,
      numLayers: 2,
      numHeads: 5,
      numKvHeads: 1,
      headDim: 6,
      vocabSize: 23,
      rmsNormEps: 1e-6,
      ropeTheta: 1e6,
      ropeScaling: null,
      tieWordEmbeddings: true,
      attentionBias: false,
      maxPositionEmbeddings: 64,
      bosTokenId: null,
      eosTokenIds: [],
    };
    const weights: Weights = new Map();
    const add = (name: string, n: number, scale = 0.3) => weights.set(name, randn(n, r, scale));
    const { hiddenSize: h, intermediateSize: ff, headDim: d, numHeads: nh, numKvHeads: nkv, vocabSize: v } = llama;
    add('model.embed_tokens.weight', v * h, 1);
    for (let l = 0; l < llama.numLayers; l++) {
      const p = `model.layers.${l}`;
      add(`${p}.input_layernorm.weight`, h, 1);
      add(`${p}.post_attention_layernorm.weight`, h, 1);
      add(`${p}.self_attn.q_proj.weight`, nh * d * h);
      add(`${p}.self_attn.k_proj.weight`, nkv * d * h);
      add(`${p}.self_attn.v_proj.weight`, nkv * d * h);
      add(`${p}.self_attn.o_proj.weight`, h * nh * d);
      add(`${p}.mlp.gate_proj.weight`, ff * h);
      add(`${p}.mlp.up_proj.weight`, ff * h);
      add(`${p}.mlp.down_proj.weight`, h * ff);
    }
    add('model.norm.weight', h, 1);
    const ids = [3, 0, 22, 7, 7, 11];
    const base = referenceLogits(llama, weights, ids);

    // Untied head holding a copy of the embedding gives the same logits.
    weights.set('lm_head.weight', weights.get('model.embed_tokens.weight')!.slice());
    const untied = referenceLogits({ ...llama, tieWordEmbeddings: false }, weights, ids);
    base.forEach((row, i) => {
      expect(maxAbsDiff(row, untied[i]!), `untied head (seed ${seed})`).toBe(0);
    });

    // Qwen2 with zero q/k/v biases is the Llama model; a nonzero k bias changes it.
    const qwen: ModelConfig = { ...llama, architecture: 'qwen2', attentionBias: true };
    for (let l = 0; l < llama.numLayers; l++) {
      weights.set(`model.layers.${l}.self_attn.q_proj.bias`, new Float64Array(nh * d));
      weights.set(`model.layers.${l}.self_attn.k_proj.bias`, new Float64Array(nkv * d));
      weights.set(`model.layers.${l}.self_attn.v_proj.bias`, new Float64Array(nkv * d));
    }
    const zeroBias = referenceLogits(qwen, weights, ids);
    base.forEach((row, i) => {
      expect(maxAbsDiff(row, zeroBias[i]!), `zero bias (seed ${seed})`).toBe(0);
    });
    weights.set('model.layers.1.self_attn.v_proj.bias', randn(nkv * d, r));
    const biased = referenceLogits(qwen, weights, ids);
    expect(maxAbsDiff(base[5]!, biased[5]!), `v bias has an effect (seed ${seed})`).toBeGreaterThan(1e-3);

    expect(() => referenceLogits(llama, weights, [23])).toThrow(/token id 23 outside \[0, 23\)/);
    weights.delete('model.norm.weight');
    expect(() => referenceLogits(llama, weights, ids)).toThrow(/missing weight model\.norm\.weight/);
  });
});
