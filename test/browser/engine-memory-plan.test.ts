/**
 * The worker engine's fit check and memory plan (runtime-browser/engine/memory-plan.ts), from config.json alone:
 * a tiny model fits anything; without shader-f16 the plan is f32; the Llama-3.2-1B shape is refused where one of its
 * weight rows exceeds the storage binding limit (naming the limit and by how much) or where the loop's estimate
 * exceeds the device's memory, and on a smaller device the plan saves memory (recompute, batch, rank) until it fits.
 */
import { describe, expect, it } from 'vitest';
import { checkFit, parameterCount, type DeviceFacts } from '../../runtime-browser/engine/memory-plan.ts';
import { parseModelConfig } from '../../src/model/config.ts';
import { LLAMA_3_2_1B_CONFIG } from '../../src/model/reference-configs.ts';
import { TINY_LLAMA } from '../train/tiny-model.ts';

const GiB = 2 ** 30;
const LLAMA_1B = parseModelConfig(LLAMA_3_2_1B_CONFIG);
const LLAMA_1B_BYTES = 2_471_645_608; // model.safetensors of Llama-3.2-1B-Instruct (bf16)
const device = (o: Partial<DeviceFacts> = {}): DeviceFacts => ({
  maxBufferSize: 2 * GiB,
  maxStorageBufferBindingSize: 2 * GiB,
  shaderF16: false,
  memoryBytes: null,
  ...o,
});

describe('checkFit', () => {
  it('a tiny model fits; the plan is f32 without shader-f16 and 16-bit with it, each choice with its reason', () => {
    const config = TINY_LLAMA;
    const plain = checkFit(config, 4 * parameterCount(config), device({ memoryBytes: GiB }));
    expect(plain.fits).toBe(true);
    expect(plain.reason).toBeUndefined();
    expect(plain.plan.precision).toMatchObject({ value: 'f32', reason: expect.stringMatching(/no shader-f16/) });
    expect(plain.plan.matmul.value).toBe('f32');
    expect(plain.plan.tttRank.value).toBe(128);
    expect(plain.plan.tttBatchSize.value).toBe(2);
    expect(plain.plan.recompute.value).toBe(false);
    const f16 = checkFit(config, 4 * parameterCount(config), device({ shaderF16: true }));
    expect(f16.plan.precision.value).toBe('mixed');
    expect(f16.plan.matmul.value).toBe('auto');
  });

  it('refuses the 1B shape where one weight row exceeds the storage binding limit, naming the limit and by how much', () => {
    const v = checkFit(LLAMA_1B, LLAMA_1B_BYTES, device({ maxStorageBufferBindingSize: 4096 }));
    expect(v.fits).toBe(false);
    // down_proj's rows are 8192 bf16 values.
    expect(v.reason).toBe(
      "one row of model.layers.0.mlp.down_proj.weight takes 16384 bytes, over this device's maxStorageBufferBindingSize of 4096 bytes by 12288: a weight is split into blocks of whole rows, so this model cannot be loaded here",
    );
    // 128 MiB bindings are plenty: big weights are split into row blocks.
    expect(checkFit(LLAMA_1B, LLAMA_1B_BYTES, device({ maxStorageBufferBindingSize: 128 * 2 ** 20 })).fits).toBe(true);
  });

  it('on less memory the plan recomputes, then cuts the batch and the rank until the estimate fits; below that it refuses', () => {
    const roomy = checkFit(LLAMA_1B, LLAMA_1B_BYTES, device({ memoryBytes: 64 * GiB }));
    expect(roomy.plan.recompute.value).toBe(true); // a 1B pass of 4096 tokens keeps GBs of activations
    expect([roomy.plan.tttRank.value, roomy.plan.tttBatchSize.value]).toEqual([128, 2]);
    const small = checkFit(LLAMA_1B, LLAMA_1B_BYTES, device({ memoryBytes: 5 * GiB }));
    expect(small.fits).toBe(true);
    expect(small.estimatedGpuBytes).toBeLessThanOrEqual(5 * GiB);
    expect(small.plan.tttBatchSize).toMatchObject({ value: 1, reason: expect.stringMatching(/^batch 2 needs ~[\d.]+ GiB, over ~5\.00 GiB/) });
    expect(small.plan.tttRank.value).toBeLessThan(128);
    expect(small.plan.tttRank.reason).toMatch(/^rank 128 needs ~[\d.]+ GiB, over ~5\.00 GiB of device memory: rank capped at \d+/);
    const tiny = checkFit(LLAMA_1B, LLAMA_1B_BYTES, device({ memoryBytes: 3 * GiB }));
    expect(tiny.fits).toBe(false);
    expect(tiny.reason).toMatch(
      /^the SEAL loop needs about [\d.]+ GiB \(2\.30 GiB of weights\) .* over the ~3\.00 GiB this device likely has by [\d.]+ GiB: use a smaller model$/,
    );
  });
});
