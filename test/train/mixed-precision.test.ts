/**
 * Training with precision 'mixed': the frozen base's products on the fast kernel that rounds operands to f16
 * (lavapipe offers shader-f16, so the f16-tile kernel runs here; a GPU with subgroup matrices runs tensor cores
 * through the same path). Gradients must stay within the 16-bit gradient tolerances of the f64 reference, also when the
 * backward's dy lies far below f16's normal range, and must really differ from the exact f32 path.
 */
import { describe, expect, it } from 'vitest';
import { CommandRecorder, type Dispatch } from '../../src/gpu/recorder.ts';
import { LORA_TARGETS, type LoraConfig } from '../../src/lora/config.ts';
import { LoraModel } from '../../src/train/lora-model.ts';
import { expectClose, freshSeed, nmse, rng, TOL } from '../harness/numerics.ts';
import { loraGradRef } from '../ref/lora-transformer.ts';
import { expectGradsClose, readGrads, relErr, setup } from './lora-helpers.ts';
import { LLAMA_GQA, QWEN2, randomBatch } from './tiny-model.ts';

const ALL: LoraConfig = { targets: [...LORA_TARGETS], rank: 3, alpha: 5 };

type Grads = Map<string, { a: ArrayLike<number>; b: ArrayLike<number> }>;

/** Every module's dA and dB within TOL.halfMax (NMSE) of the reference's, and the median module within TOL.halfGrad. */
function expectMixedGradsClose(got: Grads, want: Grads, what: string): { median: number; worst: number } {
  expect([...got.keys()]).toEqual([...want.keys()]);
  const errors: number[] = [];
  for (const [path, w] of want) {
    const g = got.get(path)!;
    errors.push(expectClose(g.a, w.a, TOL.halfMax, `${what}: ${path} dA`), expectClose(g.b, w.b, TOL.halfMax, `${what}: ${path} dB`));
  }
  errors.sort((x, y) => x - y);
  const median = errors[errors.length >> 1]!;
  expect(median, `${what}: median module NMSE`).toBeLessThanOrEqual(TOL.halfGrad);
  return { median, worst: errors[errors.length - 1]! };
}

describe("LoRA training, precision 'mixed'", () => {
  for (const [name, config] of [
    ['Llama GQA', LLAMA_GQA],
    ['Qwen2', QWEN2],
  ] as const) {
    it(`${name}: loss and every dA, dB within the 16-bit gradient tolerances of the f64 reference; a mean over ~1e5x more tokens (dy ~1e-8) too`, async () => {
      const seed = freshSeed();
      const { ctx, weights, ref, adapter, refLora } = await setup(config, 'BF16', ALL, seed);
      expect(ctx.features.shaderF16, 'lavapipe offers shader-f16: the mixed path must round here').toBe(true);
      // 150 tokens: over the skinny kernel's 32 rows, so the base's products take the f16 kernel.
      const batch = randomBatch(rng(seed + 1), [70, 41, 39], config.vocabSize, { maskProb: 0.2 });
      const want = loraGradRef(config, ref, refLora, batch);
      const weightSum = batch.weights.reduce((a, b) => a + b, 0);
      const step = async (precision: 'f32' | 'mixed', denominator?: number) => {
        const model = new LoraModel(ctx, config, weights, adapter, { precision });
        const grads = adapter.zerosLike();
        for (const t of grads.list()) ctx.fill(t);
        try {
          const { loss } = await model.lossAndGradients(batch, grads, { denominator });
          return { loss, grads: await readGrads(grads) };
        } finally {
          grads.dispose();
          model.dispose();
        }
      };
      // Count the scans for scales and the products that use them: each projection input (and each dy) is scanned
      // once for every product that reads it, not once per product.
      const counts = { scans: 0, halfProducts: 0 };
      const dispatch = CommandRecorder.prototype.dispatch;
      CommandRecorder.prototype.dispatch = function (this: CommandRecorder, d: Dispatch) {
        if (d.label === 'abs_max_scale:partial') counts.scans++;
        if (d.label?.startsWith('matmul f16') || d.label?.startsWith('matmul subgroup-matrix')) counts.halfProducts++;
        return dispatch.call(this, d);
      };
      let mixed: Awaited<ReturnType<typeof step>>;
      try {
        mixed = await step('mixed');
      } finally {
        CommandRecorder.prototype.dispatch = dispatch;
      }
      expect(counts.scans, JSON.stringify(counts)).toBeGreaterThan(0);
      expect(counts.scans, JSON.stringify(counts)).toBeLessThan(0.6 * counts.halfProducts);
      const exact = await step('f32');
      expect(relErr(mixed.loss, want.loss), `loss (seed ${seed})`).toBeLessThan(1e-3);
      const worst = expectMixedGradsClose(mixed.grads, want.grads, `mixed (seed ${seed})`);
      expectGradsClose(exact.grads, want.grads, `f32 (seed ${seed})`);
      // The mixed path really rounded (else this test would check the f32 path twice).
      const [path, g] = [...mixed.grads][0]!;
      expect(nmse(g.a, exact.grads.get(path)!.a), `${path} dA: mixed differs from f32 (seed ${seed})`).toBeGreaterThan(1e-14);

      // A mean over 1e5 x the batch's weight: dlogits and every dy are ~1e5x smaller, mostly below f16's
      // smallest normal (6e-5) and many below its smallest subnormal; scaled A keeps them.
      const factor = 1e5;
      const tiny = await step('mixed', weightSum * factor);
      const scaledWant = new Map([...want.grads].map(([p, w]) => [p, { a: w.a.map((x) => x / factor), b: w.b.map((x) => x / factor) }]));
      expectMixedGradsClose(tiny.grads, scaledWant, `mixed, mean over ${factor}x the tokens (seed ${seed})`);
      console.log(
        `${name} mixed: loss rel. error ${relErr(mixed.loss, want.loss).toExponential(2)}, dA/dB NMSE median ${worst.median.toExponential(2)}, worst ${worst.worst.toExponential(2)}`,
      );
      adapter.dispose();
      weights.dispose();
    });
  }

  it('rejects an unknown precision', async () => {
    const seed = freshSeed();
    const { ctx, weights, adapter } = await setup(LLAMA_GQA, 'F32', ALL, seed);
    expect(() => new LoraModel(ctx, LLAMA_GQA, weights, adapter, { precision: 'bf16' as never })).toThrow(/precision must be one of f32, mixed, got 'bf16'/);
    adapter.dispose();
    weights.dispose();
  });
});
