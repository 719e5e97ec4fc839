/** Shared steps of the GPU LoRA training tests: set up a tiny model with an adapter, run one step, compare gradients. */
import { expect } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.ts';
import { LoraAdapter, type LoraTensors } from '../../src/lora/adapter.ts';
import { resolveLoraConfig, type LoraConfig } from '../../src/lora/config.ts';
import { initLoraWeights } from '../../src/lora/host-weights.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import type { TrainBatch } from '../../src/train/batch.ts';
import { LoraModel, type BaseWeights, type LoraModelOptions } from '../../src/train/lora-model.ts';
import { testContext } from '../harness/context.ts';
import { expectClose, rng, TOL } from '../harness/numerics.ts';
import { loraGradRef } from '../ref/lora-transformer.ts';
import { loadTinyModel, randomBatch, refLora, type CheckpointDType } from './tiny-model.ts';

/** A tiny model with an adapter (B random unless PEFT's zeros are asked for), on the GPU and as f64 reference. */
export async function setup(config: ModelConfig, dtype: CheckpointDType, lora: LoraConfig, seed: number, b: 'zeros' | 'random' = 'random') {
  const ctx = await testContext();
  const { weights, ref } = await loadTinyModel(ctx, config, dtype, rng(seed));
  const host = initLoraWeights(config, resolveLoraConfig(lora), { seed, b });
  const adapter = LoraAdapter.upload(ctx, config, host);
  return { ctx, weights, ref, adapter, refLora: refLora(host) };
}

export type HostGrads = Map<string, { a: Float32Array; b: Float32Array }>;

/** GPU gradients by module path. */
export async function readGrads(grads: LoraTensors): Promise<HostGrads> {
  const values = await grads.read();
  return new Map(grads.modules.map((m, i) => [m.path, values[i]!]));
}

/** Every module's dA and dB within TOL.f32 (NMSE) of the f64 gradient; returns the worst NMSE. */
export function expectGradsClose(got: HostGrads, want: Map<string, { a: Float64Array; b: Float64Array }>, what: string): number {
  expect([...got.keys()]).toEqual([...want.keys()]);
  let worst = 0;
  for (const [path, w] of want) {
    const g = got.get(path)!;
    worst = Math.max(worst, expectClose(g.a, w.a, TOL.f32, `${what}: ${path} dA`), expectClose(g.b, w.b, TOL.f32, `${what}: ${path} dB`));
  }
  return worst;
}

/** One lossAndGradients on a fresh LoraModel, gradients poisoned first (every one must be written). */
export async function gpuStep(
  ctx: GpuContext,
  config: ModelConfig,
  weights: BaseWeights,
  adapter: LoraAdapter,
  batch: TrainBatch,
  options: LoraModelOptions = {},
) {
  const model = new LoraModel(ctx, config, weights, adapter, options);
  const grads = adapter.zerosLike();
  for (const t of grads.list()) ctx.fill(t);
  try {
    const result = await model.lossAndGradients(batch, grads);
    return { ...result, grads: await readGrads(grads) };
  } finally {
    grads.dispose();
    model.dispose();
  }
}

export const relErr = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

/**
 * Loss, dA and dB of every adapted projection against the f64 reference on a packed batch of 49 tokens (over
 * the skinny kernel's 32 rows, so the tiled kernel runs too; a 1-token sequence has no target) with masked
 * labels and fractional weights, with and without recomputation (which must be bit-identical).
 */
export async function checkGradientsAgainstReference(name: string, config: ModelConfig, dtype: CheckpointDType, lora: LoraConfig, seed: number): Promise<void> {
  const { ctx, weights, ref, adapter, refLora: refAdapter } = await setup(config, dtype, lora, seed);
  const batch = randomBatch(rng(seed + 1), [19, 1, 23, 6], config.vocabSize, { maskProb: 0.25, fractionalWeights: true });
  const want = loraGradRef(config, ref, refAdapter, batch);
  const plain = await gpuStep(ctx, config, weights, adapter, batch);
  const recomputed = await gpuStep(ctx, config, weights, adapter, batch, { recompute: true });
  expect(relErr(plain.loss, want.loss), `loss ${plain.loss} vs ${want.loss} (seed ${seed})`).toBeLessThan(1e-5);
  const worst = expectGradsClose(plain.grads, want.grads, `${name} (seed ${seed})`);
  for (const [path, g] of plain.grads) {
    const r = recomputed.grads.get(path)!;
    expect(r.a, `recompute ${path} dA bit-identical (seed ${seed})`).toEqual(g.a);
    expect(r.b, `recompute ${path} dB bit-identical (seed ${seed})`).toEqual(g.b);
  }
  expect(recomputed.loss).toBe(plain.loss);
  console.log(
    `${name}: loss rel. error ${relErr(plain.loss, want.loss).toExponential(2)}, worst dA/dB NMSE ${worst.toExponential(2)} over ${want.grads.size} modules`,
  );
  adapter.dispose();
  weights.dispose();
}
