/** Shared steps of the multi-adapter LoraModel tests: K adapters on a tiny model, interleaved sequences, one adapter's share. */
import { expect } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.ts';
import { LoraAdapter } from '../../src/lora/adapter.ts';
import { resolveLoraConfig, type LoraConfig } from '../../src/lora/config.ts';
import { initLoraWeights } from '../../src/lora/host-weights.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import { packTrainingSequences, type PackedTrainBatch, type TrainBatch } from '../../src/train/batch.ts';
import { LoraModel, type BaseWeights, type LoraModelOptions } from '../../src/train/lora-model.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, nmse, rng, TOL } from '../harness/numerics.ts';
import { loraGradRef, type RefLora } from '../ref/lora-transformer.ts';
import { expectGradsClose, gpuStep, readGrads, relErr } from './lora-helpers.ts';
import { loadTinyModel, refLora, type CheckpointDType } from './tiny-model.ts';

/**
 * Three adapters with different targets, alpha (one rsLora) and the given ranks, overlapping on some projections.
 * Tests pick ranks all of one kind (multiples of 4 or not) with the model's sizes, so vector loads are on or off
 * throughout and the file compiles few kernel variants.
 */
export function threeAdapters(ranks: readonly [number, number, number]): LoraConfig[] {
  return [
    { targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], rank: ranks[0], alpha: 5 },
    { targets: ['q_proj', 'v_proj', 'down_proj'], rank: ranks[1], alpha: 8 },
    { targets: ['k_proj', 'o_proj', 'up_proj'], rank: ranks[2], alpha: 3, rsLora: true },
  ];
}

/** Sequence lengths and their adapters, interleaved; every adapter has over 32 rows, so alone or together the same (tiled) kernels run. */
export const INTERLEAVED = { lengths: [19, 6, 23, 1, 12, 13, 20, 15], adapters: [0, 1, 2, 0, 1, 2, 1, 0] } as const;

/** A tiny model with one adapter per config (B random), on the GPU and as f64 references. */
export async function setupAdapters(config: ModelConfig, dtype: CheckpointDType, loras: readonly LoraConfig[], seed: number) {
  const ctx = await testContext();
  const { weights, ref } = await loadTinyModel(ctx, config, dtype, rng(seed));
  const hosts = loras.map((l, g) => initLoraWeights(config, resolveLoraConfig(l), { seed: seed + 101 * (g + 1), b: 'random' }));
  const adapters = hosts.map((h) => LoraAdapter.upload(ctx, config, h));
  const refs: RefLora[] = hosts.map(refLora);
  return { ctx, weights, ref, adapters, refs };
}

/**
 * Random sequences of the given lengths, each for the given adapter, packed in that (interleaved) order, with
 * masked labels and fractional weights.
 */
export function multiAdapterBatch(r: () => number, lengths: readonly number[], adapters: readonly number[], vocab: number): PackedTrainBatch {
  const sequences = lengths.map((n, s) => {
    const ids = Array.from({ length: n }, () => Math.floor(r() * vocab));
    return { ids, labels: ids.map((id) => (r() < 0.25 ? -100 : id)), adapter: adapters[s]! };
  });
  const batch = packTrainingSequences(sequences);
  return { ...batch, weights: batch.weights.map((w) => (w !== 0 ? 0.25 + 1.5 * r() : 0)) };
}

/** The sequences of one adapter alone, in their order, as their own batch (what training that adapter alone sees). */
export function adapterShare(batch: PackedTrainBatch, adapter: number): PackedTrainBatch {
  const out: PackedTrainBatch = { ids: [], targets: [], weights: [], positions: [], seqStart: [], adapters: [] };
  const newIndex = new Map<number, number>();
  batch.ids.forEach((id, t) => {
    if (batch.adapters![t] !== adapter) return;
    newIndex.set(t, out.ids.length);
    out.ids.push(id);
    out.targets.push(batch.targets[t]!);
    out.weights.push(batch.weights[t]!);
    out.positions.push(batch.positions[t]!);
    out.seqStart.push(newIndex.get(batch.seqStart[t]!)!);
    out.adapters!.push(0);
  });
  return out;
}

export function disposeAll(ctx: GpuContext, ...xs: { dispose(): void }[]): void {
  for (const x of xs) x.dispose();
  ctx.pool.trim();
}

/** One lossAndGradients with every adapter, gradients poisoned first (every one must be written). */
export async function multiStep(
  ctx: GpuContext,
  config: ModelConfig,
  weights: BaseWeights,
  adapters: readonly LoraAdapter[],
  batch: TrainBatch,
  options: LoraModelOptions = {},
) {
  const model = new LoraModel(ctx, config, weights, adapters, options);
  const grads = adapters.map((a) => a.zerosLike());
  for (const g of grads) for (const t of g.list()) ctx.fill(t);
  try {
    const results = await model.lossAndGradients(batch, grads);
    return { results, grads: await Promise.all(grads.map(readGrads)) };
  } finally {
    for (const g of grads) g.dispose();
    model.dispose();
  }
}

/**
 * K = 3 adapters in one pass over interleaved sequences: each adapter's loss and dA, dB equal training it alone
 * on its own sequences (GPU, to TOL.f32) and the f64 reference; recomputation is bit-identical.
 */
export async function checkThreeAdapters(
  name: string,
  config: ModelConfig,
  dtype: CheckpointDType,
  ranks: readonly [number, number, number],
  seed: number,
): Promise<void> {
  const { ctx, weights, ref, adapters, refs } = await setupAdapters(config, dtype, threeAdapters(ranks), seed);
  const batch = multiAdapterBatch(rng(seed + 1), INTERLEAVED.lengths, INTERLEAVED.adapters, config.vocabSize);
  const multi = await multiStep(ctx, config, weights, adapters, batch);
  const recomputed = await multiStep(ctx, config, weights, adapters, batch, { recompute: true });
  expect(multi.results.length).toBe(3);
  const report: string[] = [];
  for (let g = 0; g < 3; g++) {
    const share = adapterShare(batch, g);
    const alone = await gpuStep(ctx, config, weights, adapters[g]!, share);
    const want = loraGradRef(config, ref, refs[g]!, share);
    const got = multi.results[g]!;
    const what = `${name} adapter ${g} (seed ${seed})`;
    expect(got.tokens, what).toBe(share.ids.length);
    expect(got.weightSum, what).toBe(alone.weightSum);
    expect(relErr(got.loss, alone.loss), `${what}: loss ${got.loss} vs alone ${alone.loss}`).toBeLessThan(1e-5);
    expect(relErr(got.loss, want.loss), `${what}: loss ${got.loss} vs reference ${want.loss}`).toBeLessThan(1e-5);
    const vsRef = expectGradsClose(multi.grads[g]!, want.grads, `${what} vs reference`);
    let vsAlone = 0,
      identical = 0;
    for (const [path, a] of alone.grads) {
      const m = multi.grads[g]!.get(path)!;
      vsAlone = Math.max(
        vsAlone,
        expectClose(m.a, a.a, TOL.f32, `${what}: ${path} dA vs alone`),
        expectClose(m.b, a.b, TOL.f32, `${what}: ${path} dB vs alone`),
      );
      identical += Number(nmse(m.a, a.a) === 0 && nmse(m.b, a.b) === 0);
      const r = recomputed.grads[g]!.get(path)!;
      expect(r.a, `${what}: recompute ${path} dA bit-identical`).toEqual(m.a);
      expect(r.b, `${what}: recompute ${path} dB bit-identical`).toEqual(m.b);
    }
    expect(recomputed.results[g]!.loss).toBe(got.loss);
    report.push(
      `adapter ${g} (r=${ranks[g]}, ${share.ids.length} rows): loss rel. error vs alone ${relErr(got.loss, alone.loss).toExponential(2)}, ` +
        `worst dA/dB NMSE vs alone ${vsAlone.toExponential(2)} (${identical}/${alone.grads.size} modules bit-identical), vs f64 ${vsRef.toExponential(2)}`,
    );
  }
  console.log(`${name}, 3 adapters in one pass:\n  ${report.join('\n  ')}`);
  disposeAll(ctx, ...adapters, weights);
}
