/**
 * LoraModel beyond the gradients: logits and eval loss against the f64 reference, a chunked LM head, gradient
 * accumulation over micro-batches, determinism, no leaked tensors, and clear errors. One model shape and rank
 * throughout, so the file compiles few kernels.
 */
import { describe, expect, it } from 'vitest';
import { LoraAdapter } from '../../src/lora/adapter.ts';
import { LORA_TARGETS, type LoraConfig } from '../../src/lora/config.ts';
import { LoraModel } from '../../src/train/lora-model.ts';
import { expectClose, freshSeed, rng, TOL } from '../harness/numerics.ts';
import { loraGradRef, loraLogitsRef } from '../ref/lora-transformer.ts';
import { expectGradsClose, gpuStep, readGrads, relErr, setup } from './lora-helpers.ts';
import { LLAMA_GQA, randomBatch } from './tiny-model.ts';

const ALL: LoraConfig = { targets: [...LORA_TARGETS], rank: 3, alpha: 5 };
const V = LLAMA_GQA.vocabSize;

describe('LoraModel', () => {
  it('logits and loss() equal the reference; a chunked LM head gives the same loss and gradients', async () => {
    const seed = freshSeed();
    const { ctx, weights, ref, adapter, refLora } = await setup(LLAMA_GQA, 'F32', { ...ALL, targets: ['o_proj', 'up_proj', 'k_proj'] }, seed);
    // 150 tokens: three head chunks of at most 64 rows at the smallest budget.
    const batch = randomBatch(rng(seed + 1), [70, 41, 39], V, { maskProb: 0.3 });
    const model = new LoraModel(ctx, LLAMA_GQA, weights, adapter);
    const logits = await model.logits({ ids: batch.ids, seqStart: batch.seqStart });
    expect(logits.length).toBe(150);
    expect(logits[0]!.length).toBe(V);
    expectClose(
      logits.flatMap((row) => [...row]),
      loraLogitsRef(LLAMA_GQA, ref, refLora, batch),
      TOL.f32,
      `logits (seed ${seed})`,
    );
    const want = loraGradRef(LLAMA_GQA, ref, refLora, batch);
    const evalLoss = await model.loss(batch);
    expect(relErr(evalLoss.loss, want.loss), `eval loss (seed ${seed})`).toBeLessThan(1e-5);
    expect(evalLoss.tokens).toBe(150);
    expect(evalLoss.weightSum).toBe(batch.weights.reduce((a, b) => a + b, 0));
    model.dispose();
    const chunked = await gpuStep(ctx, LLAMA_GQA, weights, adapter, batch, { headChunkBytes: 1 });
    expect(relErr(chunked.loss, want.loss), `chunked loss (seed ${seed})`).toBeLessThan(1e-5);
    expectGradsClose(chunked.grads, want.grads, `chunked head (seed ${seed})`);
    adapter.dispose();
    weights.dispose();
  });

  it('accumulating two micro-batches over a shared denominator equals one step on the whole batch', async () => {
    const seed = freshSeed();
    const { ctx, weights, ref, adapter, refLora } = await setup(LLAMA_GQA, 'F32', { ...ALL, targets: ['gate_proj', 'down_proj', 'q_proj'] }, seed);
    const r = rng(seed + 1);
    const first = randomBatch(r, [10, 7], V, { maskProb: 0.2 });
    const second = randomBatch(r, [13], V, { maskProb: 0.2 });
    const total = [...first.weights, ...second.weights].reduce((a, b) => a + b, 0);
    const model = new LoraModel(ctx, LLAMA_GQA, weights, adapter, { recompute: true });
    const grads = adapter.zerosLike();
    const l1 = await model.lossAndGradients(first, grads, { denominator: total });
    const l2 = await model.lossAndGradients(second, grads, { denominator: total, accumulate: true });
    const whole = {
      ids: [...first.ids, ...second.ids],
      targets: [...first.targets, ...second.targets],
      weights: [...first.weights, ...second.weights],
      positions: [...first.positions, ...second.positions],
      seqStart: [...first.seqStart, ...second.seqStart.map((s) => s + first.ids.length)],
    };
    const want = loraGradRef(LLAMA_GQA, ref, refLora, whole);
    expect(relErr(l1.loss + l2.loss, want.loss), `summed micro-batch losses (seed ${seed})`).toBeLessThan(1e-5);
    expectGradsClose(await readGrads(grads), want.grads, `accumulated (seed ${seed})`);
    grads.dispose();
    model.dispose();
    adapter.dispose();
    weights.dispose();
  });

  it('is deterministic and frees every tensor it allocates', async () => {
    const seed = freshSeed();
    const { ctx, weights, adapter } = await setup(LLAMA_GQA, 'F32', ALL, seed);
    const batch = randomBatch(rng(seed + 1), [30, 11], V, { maskProb: 0.2 });
    const first = await gpuStep(ctx, LLAMA_GQA, weights, adapter, batch, { recompute: true });
    ctx.pool.trim();
    const live = ctx.pool.allocatedBytes; // after trim: only the buffers still held
    const second = await gpuStep(ctx, LLAMA_GQA, weights, adapter, batch, { recompute: true });
    const third = await gpuStep(ctx, LLAMA_GQA, weights, adapter, batch);
    ctx.pool.trim();
    expect(ctx.pool.allocatedBytes, 'bytes held after three more steps').toBe(live);
    expect(second.loss).toBe(first.loss);
    expect(third.loss).toBe(first.loss);
    for (const [path, g] of first.grads) {
      expect(second.grads.get(path)!.a).toEqual(g.a);
      expect(third.grads.get(path)!.b).toEqual(g.b);
    }
    adapter.dispose();
    weights.dispose();
  });

  it('rejects bad batches and mismatched gradients with clear errors, and still works afterwards', async () => {
    const seed = freshSeed();
    const { ctx, weights, adapter } = await setup(LLAMA_GQA, 'F32', ALL, seed);
    const model = new LoraModel(ctx, LLAMA_GQA, weights, adapter);
    const grads = adapter.zerosLike();
    const ok = randomBatch(rng(seed), [4, 3], V);
    await expect(model.lossAndGradients({ ...ok, ids: [...ok.ids.slice(0, 6), 41] }, grads)).rejects.toThrow(/ids\[6\] = 41 is outside \[0, 41\)/);
    await expect(model.lossAndGradients({ ...ok, targets: [...ok.targets.slice(0, 6), 99] }, grads)).rejects.toThrow(
      /targets\[6\] = 99 is outside \[0, 41\) \(use -100/,
    );
    await expect(model.lossAndGradients({ ...ok, seqStart: [0, 0, 0, 0, 4, 5, 4] }, grads)).rejects.toThrow(
      /seqStart\[6\] = 4: sequences must be packed back to back/,
    );
    await expect(model.lossAndGradients({ ...ok, weights: [1, 1, -1, 1, 1, 1, 1] }, grads)).rejects.toThrow(/weights\[2\] = -1/);
    await expect(model.lossAndGradients({ ...ok, targets: ok.targets.slice(1) }, grads)).rejects.toThrow(/7 ids but 6 targets/);
    await expect(model.lossAndGradients(ok, grads, { denominator: 0 })).rejects.toThrow(/denominator is 0 but the batch has weighted targets/);
    const other = LoraAdapter.create(ctx, LLAMA_GQA, { ...ALL, targets: ['q_proj'] }, { seed: 1 });
    const wrong = other.zerosLike();
    await expect(model.lossAndGradients(ok, wrong)).rejects.toThrow(/grads are not shaped like the adapter/);
    const base = new LoraModel(ctx, LLAMA_GQA, weights, null);
    await expect(base.lossAndGradients(ok, grads)).rejects.toThrow(/no adapter to train/);
    const { loss } = await model.lossAndGradients(ok, grads);
    expect(Number.isFinite(loss) && loss > 0).toBe(true);
    for (const x of [wrong, other, grads, model, base, adapter, weights]) x.dispose();
    await expect(model.logits({ ids: [1] })).rejects.toThrow(/used after dispose/);
  });
});
