/**
 * The f64 LoRA reference itself: its forward equals the plain reference transformer (per sequence of a packed
 * batch, and with merged weights W + s·B·A), and its hand-written reverse-mode gradient equals central finite
 * differences of its loss for A and B of every projection type.
 */
import { describe, expect, it } from 'vitest';
import { resolveLoraConfig, LORA_TARGETS } from '../../src/lora/config.ts';
import { initLoraWeights } from '../../src/lora/host-weights.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import { memorySource } from '../../src/model/byte-source.ts';
import { parseSafetensorsHeader, readTensorF32 } from '../../src/model/safetensors.ts';
import { checkGradient, expectClose, freshSeed, rng, sampleCoords } from '../harness/numerics.ts';
import { loraGradRef, loraLogitsRef, loraLossRef, mergeLoraRef } from '../ref/lora-transformer.ts';
import { referenceLogits, type Weights } from '../ref/transformer.ts';
import { LLAMA_GQA, QWEN2, randomBatch, randomCheckpoint, refLora } from './tiny-model.ts';

async function hostModel(config: ModelConfig, seed: number): Promise<Weights> {
  const source = memorySource(randomCheckpoint(config, 'F32', rng(seed)), 'tiny.safetensors');
  const header = await parseSafetensorsHeader(source);
  const ref: Weights = new Map();
  for (const name of header.tensors.keys()) ref.set(name, await readTensorF32(source, header, name));
  return ref;
}

const CASES: [string, ModelConfig][] = [
  ['Llama GQA + llama3 rope_scaling, untied', LLAMA_GQA],
  ['Qwen2 with q/k/v biases', QWEN2],
];

describe('f64 LoRA reference', () => {
  for (const [name, config] of CASES) {
    it(`${name}: the base forward of a packed batch equals the reference transformer per sequence, and LoRA equals merged weights`, async () => {
      const seed = freshSeed();
      const weights = await hostModel(config, seed);
      const r = rng(seed + 1);
      const batch = randomBatch(r, [7, 1, 9], config.vocabSize);
      const V = config.vocabSize;
      const base = loraLogitsRef(config, weights, null, batch);
      let at = 0;
      for (const len of [7, 1, 9]) {
        const want = referenceLogits(config, weights, Array.from(batch.ids).slice(at, at + len));
        // 1e-12, not ~0: this reference rounds RoPE angles to f32 as PyTorch (and the GPU) do; referenceLogits keeps them in f64.
        want.forEach((row, i) => {
          expectClose(base.subarray((at + i) * V, (at + i + 1) * V), row, 1e-12, `${name} base row ${at + i} (seed ${seed})`);
        });
        at += len;
      }
      const lora = refLora(initLoraWeights(config, resolveLoraConfig({ targets: [...LORA_TARGETS], rank: 3, alpha: 5 }), { seed, b: 'random' }));
      const withLora = loraLogitsRef(config, weights, lora, batch);
      expectClose(withLora, loraLogitsRef(config, mergeLoraRef(weights, lora), null, batch), 1e-24, `${name} LoRA vs merged (seed ${seed})`);
      expect(
        withLora.some((v, i) => Math.abs(v - base[i]!) > 1e-3),
        'the adapter changes the logits',
      ).toBe(true);
    });

    it(`${name}: the hand-written gradient of every A and B equals central finite differences`, async () => {
      const seed = freshSeed();
      const weights = await hostModel(config, seed);
      const r = rng(seed + 1);
      const batch = randomBatch(r, [6, 1, 8], config.vocabSize, { maskProb: 0.3, fractionalWeights: true });
      const lora = refLora(initLoraWeights(config, resolveLoraConfig({ targets: [...LORA_TARGETS], rank: 3, alpha: 5, rsLora: true }), { seed, b: 'random' }));
      const denominator = 7.5; // a caller's total over micro-batches, not this batch's sum
      const { loss, grads } = loraGradRef(config, weights, lora, batch, denominator);
      expect(loss).toBeCloseTo(loraLossRef(config, weights, lora, batch, denominator), 12);
      const f = () => loraLossRef(config, weights, lora, batch, denominator);
      let worst = 0;
      for (const [path, m] of lora.modules) {
        const g = grads.get(path)!;
        for (const [which, x, an] of [
          ['A', m.a, g.a],
          ['B', m.b, g.b],
        ] as const) {
          const err = checkGradient(f, x, an, { what: `${name} ${path} ${which} (seed ${seed})`, coords: sampleCoords(x.length, 10, r), eps: 1e-5 });
          worst = Math.max(worst, err);
        }
      }
      console.log(`${name}: f64 LoRA gradient vs finite differences, worst relative error ${worst.toExponential(2)} over ${lora.modules.size} modules`);
    });
  }
});
