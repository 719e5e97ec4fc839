/**
 * LoRA training over base weights stored as row blocks (a real vocabulary's embedding or LM head exceeds the
 * storage binding limit): a tiny model forced to split every projection, the embedding and the head (loadWeights
 * maxBindingBytes) gives the loss, logits and LoRA gradients of the same model stored whole, and of the f64
 * reference. The blocks sum dX = dY·W in another order, so the match is to f32 rounding, not bit for bit.
 * Tiny Llama (f32, untied head); split-weights-qwen2.test.ts has bf16, biases and a tied head.
 */
import { describe, expect, it } from 'vitest';
import { LoraModel } from '../../src/train/lora-model.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, freshSeed, rng, TOL } from '../harness/numerics.ts';
import { loraGradRef, loraLogitsRef } from '../ref/lora-transformer.ts';
import { expectGradsClose, gpuStep, relErr } from './lora-helpers.ts';
import { disposeAll, setupAdapters, threeAdapters } from './multi-adapter-helpers.ts';
import { expectSplit, loadBoth } from './split-weights-helpers.ts';
import { LLAMA_GQA, randomBatch } from './tiny-model.ts';

describe('LoRA training over split base weights: Llama', () => {
  it('Llama (f32, untied head): loss, logits and gradients equal the whole weights and the reference, with and without recomputation', async () => {
    const ctx = await testContext();
    const seed = freshSeed();
    const config = LLAMA_GQA;
    // 1500-byte blocks: 11 of the 136-byte rows, so the blocks of every weight start at odd rows.
    const { whole, split, ref } = await loadBoth(ctx, config, 'F32', seed, 1500);
    expectSplit(config, split);
    const { weights, adapters, refs } = await setupAdapters(config, 'F32', [threeAdapters([3, 5, 2])[0]!], seed);
    const adapter = adapters[0]!;
    const batch = randomBatch(rng(seed + 1), [19, 1, 23, 6], config.vocabSize, { maskProb: 0.25, fractionalWeights: true });
    const want = loraGradRef(config, ref, refs[0]!, batch);
    const onWhole = await gpuStep(ctx, config, whole, adapter, batch);
    const onSplit = await gpuStep(ctx, config, split, adapter, batch);
    const recomputed = await gpuStep(ctx, config, split, adapter, batch, { recompute: true });
    expect(relErr(onSplit.loss, onWhole.loss), `loss split vs whole (seed ${seed})`).toBeLessThan(1e-6);
    expect(relErr(onSplit.loss, want.loss), `loss split vs reference (seed ${seed})`).toBeLessThan(1e-5);
    const vsRef = expectGradsClose(onSplit.grads, want.grads, `split vs reference (seed ${seed})`);
    let vsWhole = 0;
    for (const [path, g] of onWhole.grads) {
      const s = onSplit.grads.get(path)!;
      vsWhole = Math.max(
        vsWhole,
        expectClose(s.a, g.a, TOL.f32, `${path} dA split vs whole (seed ${seed})`),
        expectClose(s.b, g.b, TOL.f32, `${path} dB split vs whole (seed ${seed})`),
      );
      expect(recomputed.grads.get(path)!.a, `recompute ${path} dA bit-identical (seed ${seed})`).toEqual(s.a);
    }
    const model = new LoraModel(ctx, config, split, adapter);
    const logits = await model.logits({ ids: batch.ids, seqStart: batch.seqStart });
    expectClose(
      logits.flatMap((row) => [...row]),
      loraLogitsRef(config, ref, refs[0]!, batch),
      TOL.f32,
      `split logits (seed ${seed})`,
    );
    expect(relErr((await model.loss(batch)).loss, want.loss), `split eval loss (seed ${seed})`).toBeLessThan(1e-5);
    console.log(
      `Llama split into 1500-byte blocks: loss rel. error vs whole ${relErr(onSplit.loss, onWhole.loss).toExponential(2)}, worst dA/dB NMSE vs whole ${vsWhole.toExponential(2)}, vs f64 ${vsRef.toExponential(2)}`,
    );
    disposeAll(ctx, model, adapter, weights, whole, split);
  });
});
