import { describe, expect, it } from 'vitest';
import { memorySource } from '../../src/model/byte-source.ts';
import { parseModelConfig, type ModelConfig } from '../../src/model/config.ts';
import { parseSafetensorsHeader, readTensorF32 } from '../../src/model/safetensors.ts';
import { writeSafetensors } from '../../src/model/safetensors-writer.ts';
import { packSequences, Transformer } from '../../src/inference/transformer.ts';
import { loadWeights } from '../../src/model/weights.ts';
import { fileSource, readJsonFile } from '../../runtime-node/file-source.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, freshSeed, randn, rng, TOL } from '../harness/numerics.ts';
import { TINY_LLAMA } from '../train/tiny-model.ts';
import { referenceGreedy, referenceLogits, type Weights } from '../ref/transformer.ts';

const STORIES = new URL('../../../shared/models/stories260K', import.meta.url).pathname;
/** BOS + "Once upon a time, there was a dog named" (test/model/reference.test.ts checks the tokenizer gives these). */
const PROMPT = [1, 403, 407, 261, 378, 432, 383, 286, 261, 400, 428, 395];

async function loadStories() {
  const ctx = await testContext();
  const config = parseModelConfig(await readJsonFile(`${STORIES}/config.json`));
  const source = fileSource(`${STORIES}/model.safetensors`);
  const header = await parseSafetensorsHeader(source);
  const ref: Weights = new Map();
  for (const name of header.tensors.keys()) ref.set(name, await readTensorF32(source, header, name));
  const weights = await loadWeights(ctx, config, source, header);
  return { ctx, config, ref, weights, model: new Transformer(ctx, config, weights, { matmul: 'f32' }) };
}

/** Every row of the GPU logits within tol (NMSE) of the f64 reference; returns the worst row's NMSE. */
function expectLogitsClose(got: ArrayLike<number>[], want: ArrayLike<number>[], tol: number, what: string): number {
  expect(got.length, `${what}: rows`).toBe(want.length);
  return Math.max(...got.map((row, i) => expectClose(row, want[i]!, tol, `${what} row ${i}`)));
}

type StDType = 'F32' | 'BF16' | 'F16';

/** Random weights for a config, in the given dtype; returns the safetensors bytes and the (rounded) reference weights. */
function randomModel(config: ModelConfig, dtype: StDType, r: () => number) {
  const { hiddenSize: h, intermediateSize: ff, headDim: d, numHeads: nh, numKvHeads: nkv, vocabSize: v } = config;
  const tensors = new Map<string, { dtype: StDType; shape: number[]; data: Float32Array }>();
  const add = (name: string, shape: number[], scale: number, offset = 0) => {
    const data = randn(
      shape.reduce((a, b) => a * b, 1),
      r,
      scale,
    ).map((x) => x + offset);
    tensors.set(name, { dtype, shape, data });
  };
  add('model.embed_tokens.weight', [v, h], 1);
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [h], 0.2, 1);
    add(`${p}.post_attention_layernorm.weight`, [h], 0.2, 1);
    add(`${p}.self_attn.q_proj.weight`, [nh * d, h], 0.3);
    add(`${p}.self_attn.k_proj.weight`, [nkv * d, h], 0.3);
    add(`${p}.self_attn.v_proj.weight`, [nkv * d, h], 0.3);
    if (config.attentionBias) {
      add(`${p}.self_attn.q_proj.bias`, [nh * d], 0.5);
      add(`${p}.self_attn.k_proj.bias`, [nkv * d], 0.5);
      add(`${p}.self_attn.v_proj.bias`, [nkv * d], 0.5);
    }
    add(`${p}.self_attn.o_proj.weight`, [h, nh * d], 0.3);
    add(`${p}.mlp.gate_proj.weight`, [ff, h], 0.3);
    add(`${p}.mlp.up_proj.weight`, [ff, h], 0.3);
    add(`${p}.mlp.down_proj.weight`, [h, ff], 0.3);
  }
  add('model.norm.weight', [h], 0.2, 1);
  if (!config.tieWordEmbeddings) add('lm_head.weight', [v, h], 0.5);
  const bytes = writeSafetensors([...tensors].map(([name, t]) => ({ name, ...t })));
  return { bytes, tensors };
}

async function tinyModel(config: ModelConfig, dtype: StDType, seed: number) {
  const ctx = await testContext();
  const { bytes } = randomModel(config, dtype, rng(seed));
  const source = memorySource(bytes, 'tiny.safetensors');
  const header = await parseSafetensorsHeader(source);
  // The reference reads the same (rounded) values back through the f32 reader.
  const ref: Weights = new Map();
  for (const name of header.tensors.keys()) ref.set(name, await readTensorF32(source, header, name));
  const weights = await loadWeights(ctx, config, source, header);
  return { ctx, ref, weights, model: new Transformer(ctx, config, weights, { matmul: 'f32' }) };
}

const QWEN2: ModelConfig = {
  ...TINY_LLAMA,
  architecture: 'qwen2',
  attentionBias: true,
  hiddenSize: 36,
  numHeads: 6,
  numKvHeads: 2,
  headDim: 6,
  ropeTheta: 1e6,
};
/** rope_scaling llama3, untied head, head_dim (10) != hidden / heads (33 / 3). */
const LLAMA3: ModelConfig = {
  ...TINY_LLAMA,
  hiddenSize: 33,
  numHeads: 3,
  numKvHeads: 1,
  headDim: 10,
  tieWordEmbeddings: false,
  ropeTheta: 500000,
  ropeScaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 },
};

describe('GPU transformer', () => {
  it('stories260K logits equal the f64 reference', async () => {
    const { config, ref, weights, model } = await loadStories();
    const got = await model.logits({ ids: PROMPT });
    const worst = expectLogitsClose(got, referenceLogits(config, ref, PROMPT), TOL.f32, 'stories260K logits');
    console.log(`stories260K logits: worst row NMSE ${worst.toExponential(2)}`);
    model.dispose();
    weights.dispose();
  });

  it('stories260K with the fastest matmul kernels stays within the 16-bit tolerance', async () => {
    const { ctx, config, ref, weights } = await loadStories();
    const model = new Transformer(ctx, config, weights); // 'auto': may round activations to f16 (shader-f16 devices)
    const ids = [...PROMPT, ...PROMPT, ...PROMPT]; // 36 rows: over the skinny kernel's limit, so the tiled kernels run
    const worst = expectLogitsClose(await model.logits({ ids }), referenceLogits(config, ref, ids), TOL.half, 'stories260K auto logits');
    console.log(`stories260K logits, matmul 'auto' (${ctx.features.shaderF16 ? 'shader-f16' : 'f32'} device): worst row NMSE ${worst.toExponential(2)}`);
    expect(await model.generate(PROMPT, 30)).toEqual(referenceGreedy(config, ref, PROMPT, 30));
    model.dispose();
    weights.dispose();
  });

  it('stories260K greedy generate with the KV cache gives the reference continuation', async () => {
    const { config, ref, weights, model } = await loadStories();
    const want = referenceGreedy(config, ref, PROMPT, 30);
    expect(await model.generate(PROMPT, 30)).toEqual(want);
    model.dispose();
    weights.dispose();
  });

  it('a packed batch of two prompts equals each prompt alone', async () => {
    const { config, ref, weights, model } = await loadStories();
    const a = PROMPT,
      b = [1, 403, 407, 261, 378, 9, 17];
    const packed = await model.logits(packSequences([a, b]));
    const alone = [...(await model.logits({ ids: a })), ...(await model.logits({ ids: b }))];
    packed.forEach((row, i) => {
      expectClose(row, alone[i]!, TOL.f32, `packed row ${i} vs alone`);
    });
    expectLogitsClose(packed.slice(a.length), referenceLogits(config, ref, b), TOL.f32, 'second prompt vs reference');
    model.dispose();
    weights.dispose();
  });

  it('KV-cache prefill and decode logits equal the full-prefix forward at each step', async () => {
    const { weights, model } = await loadStories();
    const seq = [...PROMPT, 261, 400, 9, 33, 17];
    const full = await model.logits({ ids: seq });
    const cache = model.createCache(seq.length);
    expectClose(await model.prefill(cache, PROMPT), full[PROMPT.length - 1]!, TOL.f32, 'prefill last row');
    for (let i = PROMPT.length; i < seq.length; i++) {
      expectClose(await model.decode(cache, seq[i]!), full[i]!, TOL.f32, `decode position ${i}`);
    }
    expect(cache.length).toBe(seq.length);
    await expect(model.decode(cache, 5)).rejects.toThrow(/1 more token\(s\) after 17 exceed the cache's 17 positions/);
    await expect(model.prefill(cache, [1])).rejects.toThrow(/already holds 17 positions/);
    cache.dispose();
    model.dispose();
    weights.dispose();
  });

  for (const [name, config, dtype] of [
    ['Qwen2 with q/k/v biases, bf16', QWEN2, 'BF16'],
    ['Llama rope_scaling llama3, untied head, head_dim != hidden/heads, f16', LLAMA3, 'F16'],
    ['Llama llama3, f32', LLAMA3, 'F32'],
  ] as const) {
    it(`tiny random ${name}: logits equal the reference, KV decode equals the full forward`, async () => {
      const seed = freshSeed();
      const { ref, weights, model } = await tinyModel(config, dtype, seed);
      const r = rng(seed + 1);
      const ids = Array.from({ length: 41 }, () => Math.floor(r() * config.vocabSize));
      const want = referenceLogits(config, ref, ids);
      const worst = expectLogitsClose(await model.logits({ ids }), want, TOL.f32, `${name} (seed ${seed})`);
      console.log(`${name}: worst row NMSE ${worst.toExponential(2)}`);
      for (const [dt, t] of weights.tensors) expect(t.dtype, dt).toBe(dtype.toLowerCase());
      const cache = model.createCache(ids.length);
      expectClose(await model.prefill(cache, ids.slice(0, 33)), want[32]!, TOL.f32, `prefill (seed ${seed})`);
      for (let i = 33; i < ids.length; i++) expectClose(await model.decode(cache, ids[i]!), want[i]!, TOL.f32, `decode ${i} (seed ${seed})`);
      cache.dispose();
      model.dispose();
      weights.dispose();
    });
  }

  it('rejects bad token ids and missing weights with clear errors', async () => {
    const ctx = await testContext();
    const { bytes } = randomModel(TINY_LLAMA, 'F32', rng(1));
    const source = memorySource(bytes, 'tiny.safetensors');
    const header = await parseSafetensorsHeader(source);
    await expect(loadWeights(ctx, { ...TINY_LLAMA, tieWordEmbeddings: false }, source, header)).rejects.toThrow(/missing lm_head\.weight/);
    const weights = await loadWeights(ctx, TINY_LLAMA, source, header);
    const model = new Transformer(ctx, TINY_LLAMA, weights);
    expect(() => model.forward({ ids: [3, 37] })).toThrow(/token id 37 outside \[0, 37\)/);
    expect(() => model.forward({ ids: [3, 4], positions: [0] })).toThrow(/2 ids but 1 positions/);
    model.dispose();
    weights.dispose();
  });
});
