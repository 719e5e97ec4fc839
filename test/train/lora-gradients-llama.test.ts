/**
 * GPU LoRA gradients of all seven projection types against the f64 reference on a tiny Llama with GQA (9 query
 * heads on 3 KV heads), llama3 rope_scaling and an untied head, in f32 and f16 weights (see lora-helpers.ts).
 */
import { describe, it } from 'vitest';
import { LORA_TARGETS } from '../../src/lora/config.ts';
import { freshSeed } from '../harness/numerics.ts';
import { checkGradientsAgainstReference } from './lora-helpers.ts';
import { LLAMA_GQA } from './tiny-model.ts';

describe('LoRA gradients on the GPU: Llama', () => {
  it('f32 weights, r = 3: loss, dA and dB equal the f64 reference, with and without recomputation', async () => {
    await checkGradientsAgainstReference('Llama GQA f32', LLAMA_GQA, 'F32', { targets: [...LORA_TARGETS], rank: 3, alpha: 5 }, freshSeed());
  });

  it('f16 weights, rsLora: loss, dA and dB equal the f64 reference, with and without recomputation', async () => {
    await checkGradientsAgainstReference(
      'Llama GQA f16 rsLora',
      LLAMA_GQA,
      'F16',
      { targets: [...LORA_TARGETS], rank: 3, alpha: 5, rsLora: true },
      freshSeed(),
    );
  });
});
