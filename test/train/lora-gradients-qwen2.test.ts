/**
 * GPU LoRA gradients against the f64 reference on a tiny Qwen2 (q/k/v biases, tied embeddings) in bf16 weights:
 * all seven projection types, and PEFT's initialisation (B = 0) on Qwen2's default targets q_proj, v_proj.
 */
import { describe, expect, it } from 'vitest';
import { LORA_TARGETS } from '../../src/lora/config.ts';
import { freshSeed, rng } from '../harness/numerics.ts';
import { loraGradRef } from '../ref/lora-transformer.ts';
import { checkGradientsAgainstReference, expectGradsClose, gpuStep, setup } from './lora-helpers.ts';
import { QWEN2, randomBatch } from './tiny-model.ts';

describe('LoRA gradients on the GPU: Qwen2', () => {
  it('bf16 weights, r = 4: loss, dA and dB equal the f64 reference, with and without recomputation', async () => {
    await checkGradientsAgainstReference('Qwen2 bf16', QWEN2, 'BF16', { targets: [...LORA_TARGETS], rank: 4, alpha: 7 }, freshSeed());
  });

  it('PEFT initialisation (B = 0) on q_proj and v_proj: dA is exactly 0, dB matches the reference', async () => {
    const seed = freshSeed();
    const { ctx, weights, ref, adapter, refLora } = await setup(QWEN2, 'BF16', { targets: ['v_proj', 'q_proj'], rank: 4, alpha: 16 }, seed, 'zeros');
    expect(adapter.modules.map((m) => m.path)).toEqual([0, 1].flatMap((l) => [`model.layers.${l}.self_attn.q_proj`, `model.layers.${l}.self_attn.v_proj`]));
    const batch = randomBatch(rng(seed + 1), [12, 9, 17], QWEN2.vocabSize, { maskProb: 0.2 });
    const want = loraGradRef(QWEN2, ref, refLora, batch);
    const got = await gpuStep(ctx, QWEN2, weights, adapter, batch, { recompute: true });
    for (const g of got.grads.values()) expect(g.a.every((v) => v === 0)).toBe(true);
    expectGradsClose(got.grads, want.grads, `PEFT init (seed ${seed})`);
    adapter.dispose();
    weights.dispose();
  });
});
