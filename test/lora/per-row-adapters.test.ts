/**
 * A different LoRA adapter per sequence in one batch (Transformer.setAdapters + SequenceChunk.adapter, generateBatch
 * `adapters`): every sequence gets exactly what it gets running alone under its adapter.
 */
import { describe, expect, it } from 'vitest';
import { generateBatch, generateText } from '../../src/generate/generate.ts';
import { LoraAdapter } from '../../src/lora/adapter.ts';
import { resolveLoraConfig, type LoraConfig } from '../../src/lora/config.ts';
import { initLoraWeights } from '../../src/lora/host-weights.ts';
import { Transformer, type SequenceChunk } from '../../src/inference/transformer.ts';
import { loadModelDir } from '../../runtime-node/model-dir.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, freshSeed, rng, TOL } from '../harness/numerics.ts';
import { sharedPath } from '../harness/shared.ts';
import { stepCapturingLogits } from '../harness/step.ts';
import { LLAMA_GQA, loadTinyModel } from '../train/tiny-model.ts';

const LORAS: LoraConfig[] = [
  { targets: ['q_proj', 'v_proj', 'gate_proj'], rank: 2, alpha: 3 },
  { targets: ['k_proj', 'o_proj', 'up_proj', 'down_proj'], rank: 5, alpha: 4 },
  { targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], rank: 3, alpha: 7, rsLora: true },
];

describe('per-sequence LoRA adapters at inference', () => {
  it('each entry of a mixed step has the logits of its sequence run alone under its adapter (prefill, chunks, decode)', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const r = rng(seed);
    const config = { ...LLAMA_GQA, numLayers: 2 };
    const { weights } = await loadTinyModel(ctx, config, 'BF16', r);
    const adapters = LORAS.map((l, i) => LoraAdapter.upload(ctx, config, initLoraWeights(config, resolveLoraConfig(l), { seed: seed + i, b: 'random' })));
    const model = new Transformer(ctx, config, weights, { matmul: 'f32', prefillChunk: 6 });
    const V = config.vocabSize;
    const step = stepCapturingLogits;
    try {
      // Sequences under adapters 1, -1 (base), 0, 2, 0: prompts of 3, 9 (chunked), 1, 4, 2 tokens, then 3 decode steps.
      const which = [1, -1, 0, 2, 0];
      const prompts = [3, 9, 1, 4, 2].map((n) => Array.from({ length: n }, () => Math.floor(r() * V)));
      model.setAdapters(adapters);
      const cache = model.createCache(16, which.length);
      const history: number[][][] = which.map(() => []);
      let entries: SequenceChunk[] = prompts.map((ids, slot) => ({ slot, ids, adapter: which[slot] }));
      const seqs = prompts.map((p) => [...p]);
      for (let s = 0; s < 4; s++) {
        const { tokens, rows } = await step(model, cache, entries);
        rows.forEach((row, e) => {
          history[e]!.push(Array.from(row));
        });
        entries = entries.map((e, i) => ({ ...e, ids: [tokens[i]!] }));
        tokens.forEach((t, i) => {
          seqs[i]!.push(t);
        });
      }
      // Alone: each sequence under its adapter (setAdapter), whole sequence forward, compared at every step's position.
      for (const [i, g] of which.entries()) {
        model.setAdapter(g >= 0 ? adapters[g]! : null);
        const full = await model.logits({ ids: seqs[i]!.slice(0, -1) });
        history[i]!.forEach((row, s) => {
          expectClose(row, full[prompts[i]!.length - 1 + s]!, TOL.f32, `sequence ${i} (adapter ${g}) step ${s} (seed ${seed})`);
        });
      }
      cache.dispose();
      expect(() => model.setAdapters(adapters, 3)).toThrow(/defaultAdapter 3/);
      model.setAdapters(adapters);
      const c2 = model.createCache(4, 1);
      await expect(step(model, c2, [{ slot: 0, ids: [1], adapter: 5 }])).rejects.toThrow(/asks for adapter 5; 3 set/);
      c2.dispose();
    } finally {
      model.dispose();
      for (const a of adapters) a.dispose();
      weights.dispose();
    }
  });

  it('generateBatch with an adapter per prompt equals generateText of each prompt under its adapter (stories260K)', async () => {
    const ctx = await testContext();
    const model = await loadModelDir(ctx, sharedPath('models/stories260K'), { matmul: 'f32' });
    const { transformer, tokenizer, config } = model;
    const seed = freshSeed();
    const adapters = LORAS.map((l, i) => LoraAdapter.upload(ctx, config, initLoraWeights(config, resolveLoraConfig(l), { seed: seed + i, b: 'random' })));
    try {
      transformer.setAdapters(adapters);
      const prompts = ['Once upon a time', 'Lily', 'The dog', 'Once upon a time', 'Tom had'].map((p) => tokenizer.encode(p));
      const which = [2, 0, -1, 1, 0];
      const opts = { maxNewTokens: 10, temperature: 0.9, seed, stopIds: [] };
      const batch = await generateBatch(transformer, tokenizer, { ...opts, prompts, adapters: which, maxBatch: 3 });
      for (const [i, promptIds] of prompts.entries()) {
        const alone = await generateText(transformer, tokenizer, { ...opts, promptIds, stream: i, adapter: which[i] });
        expect(batch[i], `prompt ${i} adapter ${which[i]} (seed ${seed})`).toEqual(alone);
      }
      // The adapters matter: the same prompt under adapters 2 and 1 (prompts 0 and 3) on one stream differs from the base.
      const base = await generateText(transformer, tokenizer, { ...opts, promptIds: prompts[0]!, stream: 0, adapter: -1 });
      expect(base.ids).not.toEqual(batch[0]!.ids);
    } finally {
      transformer.setAdapter(null);
      for (const a of adapters) a.dispose();
      model.dispose();
    }
  });
});
