/**
 * LoraModel with K = 3 adapters on a tiny Llama (f32 weights, GQA, llama3 rope scaling, untied head): each adapter
 * equals training it alone (see multi-adapter-helpers.ts), and the rest of the multi-adapter API: per-adapter
 * denominators and accumulation, an adapter absent from a batch, logits and eval losses in the caller's row
 * order, clear errors. No size here is a multiple of 4 (ranks 3, 5, 2 too): every matmul takes scalar loads,
 * which keeps the kernel variants, and so the cold compile time, down.
 */
import { describe, expect, it } from 'vitest';
import { packTrainingSequences } from '../../src/train/batch.ts';
import { LoraModel } from '../../src/train/lora-model.ts';
import { expectClose, freshSeed, rng, TOL } from '../harness/numerics.ts';
import { loraGradRef, loraLogitsRef } from '../ref/lora-transformer.ts';
import { expectGradsClose, readGrads, relErr } from './lora-helpers.ts';
import { adapterShare, checkThreeAdapters, disposeAll, INTERLEAVED, multiAdapterBatch, setupAdapters, threeAdapters } from './multi-adapter-helpers.ts';
import { LLAMA_GQA } from './tiny-model.ts';

const RANKS = [3, 5, 2] as const;
const V = LLAMA_GQA.vocabSize;

describe('LoraModel with several adapters in the same passes: Llama', () => {
  it('each of 3 adapters (ranks 3, 5, 2) equals training it alone, with and without recomputation', async () => {
    await checkThreeAdapters('Llama GQA f32', LLAMA_GQA, 'F32', RANKS, freshSeed());
  });

  it('per-adapter denominators and accumulation over two micro-batches, an adapter absent from one of them, logits and losses', async () => {
    const seed = freshSeed();
    const { ctx, weights, ref, adapters, refs } = await setupAdapters(LLAMA_GQA, 'F32', threeAdapters(RANKS), seed);
    const r = rng(seed + 1);
    const whole = multiAdapterBatch(r, INTERLEAVED.lengths, INTERLEAVED.adapters, V);
    // Micro-batch 1: sequences 0, 1, 3, 4 (adapters 0 and 1; adapter 2 absent); micro-batch 2: the other four.
    // Each adapter's gradient accumulates to that of its mean over both (its own denominator).
    const seqOf = (t: number) => whole.seqStart.slice(0, t + 1).filter((s, i) => s === i).length - 1;
    const pick = (keep: (seq: number) => boolean) => {
      const rows = whole.ids.map((_, t) => t).filter((t) => keep(seqOf(t)));
      const index = new Map(rows.map((t, i) => [t, i]));
      return {
        ids: rows.map((t) => whole.ids[t]!),
        targets: rows.map((t) => whole.targets[t]!),
        weights: rows.map((t) => whole.weights[t]!),
        positions: rows.map((t) => whole.positions[t]!),
        seqStart: rows.map((t) => index.get(whole.seqStart[t]!)!),
        adapters: rows.map((t) => whole.adapters![t]!),
      };
    };
    const inFirst = (s: number) => s < 6 && INTERLEAVED.adapters[s] !== 2;
    const first = pick(inFirst),
      second = pick((s) => !inFirst(s));
    const totals = [0, 1, 2].map((g) => adapterShare(whole, g).weights.reduce((a, b) => a + b, 0));
    const model = new LoraModel(ctx, LLAMA_GQA, weights, adapters);
    const grads = adapters.map((a) => a.zerosLike());
    for (const g of grads) for (const t of g.list()) ctx.fill(t);
    const l1 = await model.lossAndGradients(first, grads, { denominator: totals });
    expect(l1[2]).toEqual({ loss: 0, weightSum: 0, tokens: 0 });
    const l2 = await model.lossAndGradients(second, grads, { denominator: totals, accumulate: true });
    for (let g = 0; g < 3; g++) {
      const want = loraGradRef(LLAMA_GQA, ref, refs[g]!, adapterShare(whole, g));
      expect(relErr(l1[g]!.loss + l2[g]!.loss, want.loss), `adapter ${g}: summed micro-batch losses (seed ${seed})`).toBeLessThan(1e-5);
      expectGradsClose(await readGrads(grads[g]!), want.grads, `adapter ${g} accumulated; absent from one micro-batch: ${g === 2} (seed ${seed})`);
    }
    // Logits come back in the caller's row order; losses() gives each adapter's eval loss.
    const logits = await model.logits({ ids: whole.ids, seqStart: whole.seqStart, adapters: whole.adapters });
    const losses = await model.losses(whole);
    for (let g = 0; g < 3; g++) {
      const share = adapterShare(whole, g);
      const rows = whole.ids.map((_, t) => t).filter((t) => whole.adapters![t] === g);
      expectClose(
        rows.flatMap((t) => [...logits[t]!]),
        loraLogitsRef(LLAMA_GQA, ref, refs[g]!, share),
        TOL.f32,
        `adapter ${g} logits (seed ${seed})`,
      );
      expect(relErr(losses[g]!.loss, loraGradRef(LLAMA_GQA, ref, refs[g]!, share).loss), `adapter ${g} eval loss (seed ${seed})`).toBeLessThan(1e-5);
    }
    disposeAll(ctx, model, ...grads, ...adapters, weights);
  });

  it('rejects bad adapter indices, mixed adapters in a sequence, and mismatched gradient sets with clear errors', async () => {
    const seed = freshSeed();
    const { ctx, weights, adapters } = await setupAdapters(LLAMA_GQA, 'F32', threeAdapters(RANKS), seed);
    const model = new LoraModel(ctx, LLAMA_GQA, weights, adapters);
    const grads = adapters.map((a) => a.zerosLike());
    // No masked labels: both sequences have weighted targets.
    const ok = packTrainingSequences([
      { ids: [1, 7, 3, 9], adapter: 0 },
      { ids: [4, 2, 8], adapter: 2 },
    ]);
    await expect(model.lossAndGradients({ ...ok, adapters: [0, 0, 0, 0, 3, 3, 3] }, grads)).rejects.toThrow(/adapters\[4\] = 3 is outside \[0, 3\)/);
    await expect(model.lossAndGradients({ ...ok, adapters: [0, 0, 1, 0, 2, 2, 2] }, grads)).rejects.toThrow(
      /adapters\[2\] = 1 but the sequence starting at 0 has adapter 0/,
    );
    await expect(model.lossAndGradients(ok, grads[0]!)).rejects.toThrow(/one gradient set for 3 adapters/);
    await expect(model.lossAndGradients(ok, [grads[0]!, grads[2]!, grads[1]!])).rejects.toThrow(/grads\[1\] are not shaped like the adapter/);
    await expect(model.lossAndGradients(ok, grads, { denominator: 4 })).rejects.toThrow(/one denominator for 3 adapters/);
    await expect(model.lossAndGradients(ok, grads, { denominator: [1, 1] })).rejects.toThrow(/2 denominators for 3 adapters/);
    await expect(model.lossAndGradients(ok, grads, { denominator: [1, 1, 0] })).rejects.toThrow(
      /denominator of adapter 2 is 0 but the batch has weighted targets/,
    );
    await expect(model.loss(ok)).rejects.toThrow(/has 3 adapters; use losses\(\)/);
    expect(() => new LoraModel(ctx, { ...LLAMA_GQA, numLayers: 1 }, weights, adapters)).toThrow(/adapter 0 has model\.layers\.1\.self_attn\.q_proj/);
    const [l0, , l2] = await model.lossAndGradients(ok, grads);
    expect(l0!.tokens + l2!.tokens).toBe(7);
    disposeAll(ctx, model, ...grads, ...adapters, weights);
  });
});
