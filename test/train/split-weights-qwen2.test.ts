/**
 * LoRA training over split base weights (see split-weights-llama.test.ts) on a tiny Qwen2: bf16 blocks, q/k/v biases
 * read at their block's columns, the tied embedding split once and used as embedding and head, three adapters.
 */
import { describe, expect, it } from 'vitest';
import { testContext } from '../harness/context.ts';
import { freshSeed, rng } from '../harness/numerics.ts';
import { loraGradRef } from '../ref/lora-transformer.ts';
import { expectGradsClose, relErr } from './lora-helpers.ts';
import { adapterShare, disposeAll, multiAdapterBatch, multiStep, setupAdapters, threeAdapters } from './multi-adapter-helpers.ts';
import { expectSplit, loadBoth } from './split-weights-helpers.ts';
import { QWEN2 } from './tiny-model.ts';

describe('LoRA training over split base weights: Qwen2', () => {
  it('bf16, tied head, biases: three adapters in one pass over split weights give the f64 reference losses and gradients', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const config = QWEN2;
    // 900-byte blocks: 14 rows of 64 bytes (embedding, q/k/v/o/gate/up), 10 of 88 (down); uneven blocks.
    const { whole, split, ref } = await loadBoth(ctx, config, 'BF16', seed, 900);
    expectSplit(config, split);
    const { weights, adapters, refs } = await setupAdapters(config, 'BF16', threeAdapters([4, 8, 12]), seed);
    // Every adapter has over 32 rows, so its products take the tiled kernel, as the base's do (fewer variants to compile).
    const batch = multiAdapterBatch(rng(seed + 1), [19, 34, 33, 15, 20], [2, 0, 1, 2, 0], config.vocabSize);
    // Compared with the f64 reference rather than a run on the whole weights: one set of kernels to compile.
    const { results, grads } = await multiStep(ctx, config, split, adapters, batch, { recompute: true });
    let worst = 0;
    for (let g = 0; g < 3; g++) {
      const share = adapterShare(batch, g);
      const want = loraGradRef(config, ref, refs[g]!, share);
      expect(results[g]!.tokens).toBe(share.ids.length);
      expect(relErr(results[g]!.loss, want.loss), `adapter ${g} loss over split weights vs reference (seed ${seed})`).toBeLessThan(1e-5);
      worst = Math.max(worst, expectGradsClose(grads[g]!, want.grads, `adapter ${g} over split weights (seed ${seed})`));
    }
    console.log(`Qwen2 split into 900-byte blocks, 3 adapters: worst dA/dB NMSE vs f64 ${worst.toExponential(2)}`);
    disposeAll(ctx, ...adapters, weights, whole, split);
  });
});
